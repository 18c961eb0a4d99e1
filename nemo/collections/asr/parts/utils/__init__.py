"""ASR utilities."""
