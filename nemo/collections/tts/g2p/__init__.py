"""Grapheme-to-phoneme conversion for the TTS text front end."""
