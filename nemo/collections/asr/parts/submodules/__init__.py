"""ASR building blocks: Jasper blocks, spectrogram augmentation, CTC decoding."""
