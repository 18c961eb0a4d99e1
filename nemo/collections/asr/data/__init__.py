"""ASR data: manifest datasets, collate, dataset/loader factories and the espeak-ng corpus synthesiser."""

from nemo.utils.lazy import lazy_exports

_EXPORTS = {
    "AudioToCharDataset": ".audio_to_text",
    "AudioToBPEDataset": ".audio_to_text",
    "_speech_collate_fn": ".audio_to_text",
    "get_char_dataset": ".audio_to_text_dataset",
    "get_bpe_dataset": ".audio_to_text_dataset",
    "get_audio_dataloader": ".audio_to_text_dataset",
    "build_dataloader": ".audio_to_text_dataset",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
