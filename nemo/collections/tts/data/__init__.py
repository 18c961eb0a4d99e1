"""TTS datasets: `TTSDataset` (text + audio + supplementary data) and `VocoderDataset` (audio crops)."""
