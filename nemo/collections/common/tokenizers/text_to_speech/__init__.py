"""TTS text front end at NeMo's import path: character and ARPABET phoneme tokenizers, text normalisation."""
