"""ASR parts: feature extraction, building blocks, decoding helpers."""
