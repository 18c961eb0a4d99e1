"""TTS helpers: text tokenizers, pitch and alignment-prior extraction, masks, plots."""
