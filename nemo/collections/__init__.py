"""Collections (asr, nlp, tts). Each is imported only when asked for."""
