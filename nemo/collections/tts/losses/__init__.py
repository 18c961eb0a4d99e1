"""TTS losses."""
