"""ASR data: manifest datasets, collate, dataset/loader factories and the espeak-ng corpus synthesiser."""

import importlib

_EXPORTS = {
    "AudioToCharDataset": "audio_to_text",
    "AudioToBPEDataset": "audio_to_text",
    "_speech_collate_fn": "audio_to_text",
    "get_char_dataset": "audio_to_text_dataset",
    "get_bpe_dataset": "audio_to_text_dataset",
    "get_audio_dataloader": "audio_to_text_dataset",
    "build_dataloader": "audio_to_text_dataset",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"nemo.collections.asr.data.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nemo.collections.asr.data' has no attribute '{name}'")
