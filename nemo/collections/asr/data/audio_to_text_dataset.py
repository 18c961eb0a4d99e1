"""Dataset and DataLoader factories that turn NeMo dataset configs (`train_ds`, `validation_ds`, ...) into objects."""

from __future__ import annotations

from typing import Any, Optional

import torch

from nemo.collections.asr.data.audio_to_text import AudioToBPEDataset, AudioToCharDataset
from nemo.collections.asr.parts.preprocessing.perturb import process_augmentations
from nemo.utils import logging

_UNSUPPORTED = ("is_tarred", "use_lhotse", "use_dali", "is_concat", "is_code_switched")


def _get(config, key: str, default: Any = None) -> Any:
    value = config.get(key, default) if hasattr(config, "get") else getattr(config, key, default)
    return default if value is None and default is not None else value


def _check_supported(config) -> None:
    for key in _UNSUPPORTED:
        if _get(config, key, False):
            raise NotImplementedError(f"dataset option '{key}: true' is not supported; use plain manifests")
    if _get(config, "hf_data_cfg") is not None:
        raise NotImplementedError("dataset option 'hf_data_cfg' is not supported; use plain manifests")


def inject_dataloader_value_from_model_config(model_cfg, ds_cfg, key: str) -> None:
    """Copy `model_cfg[key]` (sample_rate, labels) into `ds_cfg` unless the dataset sets a different value."""
    if key not in model_cfg:
        logging.info("Model config has no '%s'; dataset config left unchanged", key)
        return
    model_value = model_cfg[key]
    if key in ds_cfg and ds_cfg[key] is not None and ds_cfg[key] != model_value:
        logging.warning("Dataset '%s'=%s differs from the model's %s; keeping the dataset's value", key, ds_cfg[key], model_value)
        return
    try:
        from omegaconf import open_dict

        with open_dict(ds_cfg):
            ds_cfg[key] = model_value
    except (ImportError, ValueError, AttributeError):
        ds_cfg[key] = model_value


def _common_kwargs(config, augmentor) -> dict:
    return dict(
        manifest_filepath=_get(config, "manifest_filepath"),
        sample_rate=_get(config, "sample_rate"),
        int_values=_get(config, "int_values", False),
        augmentor=augmentor,
        max_duration=_get(config, "max_duration"),
        min_duration=_get(config, "min_duration"),
        max_utts=_get(config, "max_utts", 0),
        trim=_get(config, "trim_silence", False),
        return_sample_id=_get(config, "return_sample_id", False),
        channel_selector=_get(config, "channel_selector"),
    )


def get_char_dataset(config, augmentor=None) -> AudioToCharDataset:
    """`AudioToCharDataset` from a dataset config (keys as in NeMo; `normalize_transcripts` defaults to False)."""
    if _get(config, "sample_rate") is None:
        raise ValueError("dataset config needs 'sample_rate' (usually injected from the model config)")
    return AudioToCharDataset(
        labels=_get(config, "labels"),
        blank_index=_get(config, "blank_index", -1),
        unk_index=_get(config, "unk_index", -1),
        normalize=_get(config, "normalize_transcripts", False),
        parser=_get(config, "parser", "en"),
        **_common_kwargs(config, augmentor),
    )


def get_bpe_dataset(config, tokenizer, augmentor=None) -> AudioToBPEDataset:
    """`AudioToBPEDataset` from a dataset config; `use_start_end_token` defaults to True."""
    if _get(config, "sample_rate") is None:
        raise ValueError("dataset config needs 'sample_rate' (usually injected from the model config)")
    return AudioToBPEDataset(
        tokenizer=tokenizer,
        use_start_end_token=_get(config, "use_start_end_token", True),
        **_common_kwargs(config, augmentor),
    )


def get_audio_to_text_char_dataset_from_config(config, local_rank: int = 0, global_rank: int = 0, world_size: int = 1, preprocessor_cfg=None):
    """Char dataset with its augmentor, or None (with a warning) when `manifest_filepath` is None."""
    _check_supported(config)
    if _get(config, "manifest_filepath") is None:
        logging.warning("Could not load dataset as `manifest_filepath` was None. Provided config : %s", config)
        return None
    augmentor = process_augmentations(_get(config, "augmentor"), global_rank=global_rank, world_size=world_size)
    return get_char_dataset(config, augmentor=augmentor)


def get_audio_to_text_bpe_dataset_from_config(config, local_rank: int = 0, global_rank: int = 0, world_size: int = 1, tokenizer=None, preprocessor_cfg=None):
    """BPE dataset with its augmentor, or None (with a warning) when `manifest_filepath` is None."""
    _check_supported(config)
    if tokenizer is None:
        raise ValueError("a tokenizer is required for a BPE dataset")
    if _get(config, "manifest_filepath") is None:
        logging.warning("Could not load dataset as `manifest_filepath` was None. Provided config : %s", config)
        return None
    augmentor = process_augmentations(_get(config, "augmentor"), global_rank=global_rank, world_size=world_size)
    return get_bpe_dataset(config, tokenizer, augmentor=augmentor)


def build_dataloader(dataset, config, shuffle: Optional[bool] = None) -> torch.utils.data.DataLoader:
    """DataLoader over `dataset` with the config's batch_size, shuffle, num_workers, pin_memory, drop_last."""
    num_workers = int(_get(config, "num_workers", 0))
    if shuffle is None:
        shuffle = bool(_get(config, "shuffle", False))
    if isinstance(dataset, torch.utils.data.IterableDataset):
        shuffle = False
    collate_fn = getattr(dataset, "collate_fn", None)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=int(_get(config, "batch_size", 1)),
        collate_fn=collate_fn,
        drop_last=bool(_get(config, "drop_last", False)),
        shuffle=shuffle,
        num_workers=num_workers,
        pin_memory=bool(_get(config, "pin_memory", False)),
        persistent_workers=bool(_get(config, "persistent_workers", False)) and num_workers > 0,
    )


def get_audio_dataloader(config, tokenizer=None, global_rank: int = 0, world_size: int = 1, shuffle: Optional[bool] = None):
    """Dataset (char, or BPE when `tokenizer` is given) plus its DataLoader; None when there is no manifest."""
    if tokenizer is None:
        dataset = get_audio_to_text_char_dataset_from_config(config, 0, global_rank, world_size)
    else:
        dataset = get_audio_to_text_bpe_dataset_from_config(config, 0, global_rank, world_size, tokenizer=tokenizer)
    if dataset is None:
        return None
    return build_dataloader(dataset, config, shuffle=shuffle)
