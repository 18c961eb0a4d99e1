"""ASRAudioDataMixin: the audio-to-text data path (loaders, then preprocessor -> SpecAugment -> encoder) that CTC,
transducer and hybrid models share."""

import copy
from typing import Dict, Optional, Union

from omegaconf import DictConfig, OmegaConf, open_dict

from nemo.core.neural_types import AudioSignal, LengthsType, NeuralType, SpectrogramType


class ASRAudioDataMixin:
    """Loaders from `train_ds`/`validation_ds`/`test_ds` manifests; each split's config is prepared once.

    Character models read `labels`; subword models set `_BPE = True` and tokenise with `self.tokenizer`.
    """

    _BPE = False

    def _prepare_data_config(self, config, shuffle: bool) -> DictConfig:
        """A copy of `config` with the default shuffle and the model's sample_rate/labels injected."""
        from nemo.collections.asr.data.audio_to_text_dataset import inject_dataloader_value_from_model_config

        config = OmegaConf.create(config) if isinstance(config, dict) else copy.deepcopy(config)
        with open_dict(config):
            if "shuffle" not in config:
                config.shuffle = shuffle
        inject_dataloader_value_from_model_config(self._cfg, config, key="sample_rate")
        inject_dataloader_value_from_model_config(self._cfg, config, key="labels")
        return config

    def _build_dataset(self, config: DictConfig):
        """The character or subword dataset for one prepared data config (None without a manifest)."""
        from nemo.collections.asr.data import audio_to_text_dataset as factory

        ranks = dict(
            local_rank=getattr(self, "local_rank", 0),
            global_rank=getattr(self, "global_rank", 0),
            world_size=self.world_size,
            preprocessor_cfg=self._cfg.get("preprocessor"),
        )
        if self._BPE:
            return factory.get_audio_to_text_bpe_dataset_from_config(config, tokenizer=self.tokenizer, **ranks)
        return factory.get_audio_to_text_char_dataset_from_config(config, **ranks)

    def _dataloader_for(self, dataset, config: DictConfig):
        """The loader over `dataset` with a prepared config's batching options (None without a dataset)."""
        from nemo.collections.asr.data.audio_to_text_dataset import build_dataloader

        return None if dataset is None else build_dataloader(dataset, config, shuffle=config.shuffle)

    def _setup_dataloader_from_config(self, config: Optional[Dict]):
        """A loader for one raw data config, prepared here (shuffle off unless the config says so)."""
        config = self._prepare_data_config(config, shuffle=False)
        return self._dataloader_for(self._build_dataset(config), config)

    def _setup_split(self, name: str, config, shuffle: bool):
        """Prepare `config` once, record it as `cfg.<name>_ds`, and build its loader."""
        config = self._prepare_data_config(config, shuffle=shuffle)
        self._update_dataset_config(dataset_name=name, config=config)
        return self._dataloader_for(self._build_dataset(config), config)

    def setup_training_data(self, train_data_config: Optional[Union[DictConfig, Dict]]):
        """Build the training loader (shuffled unless the config says otherwise)."""
        self._train_dl = self._setup_split("train", train_data_config, shuffle=True)

    def setup_validation_data(self, val_data_config: Optional[Union[DictConfig, Dict]]):
        """Build a validation loader (not shuffled by default)."""
        self._validation_dl = self._setup_split("validation", val_data_config, shuffle=False)

    def setup_test_data(self, test_data_config: Optional[Union[DictConfig, Dict]]):
        """Build a test loader (not shuffled by default)."""
        self._test_dl = self._setup_split("test", test_data_config, shuffle=False)

    def _audio_input_types(self) -> Dict[str, NeuralType]:
        """`forward`'s inputs: raw audio with lengths, or features already computed, with lengths."""
        sample_rate = getattr(self.preprocessor, "_sample_rate", None) if hasattr(self, "preprocessor") else None
        return {
            "input_signal": NeuralType(("B", "T"), AudioSignal(freq=sample_rate), optional=True),
            "input_signal_length": NeuralType(("B",), LengthsType(), optional=True),
            "processed_signal": NeuralType(("B", "D", "T"), SpectrogramType(), optional=True),
            "processed_signal_length": NeuralType(("B",), LengthsType(), optional=True),
        }

    def _encode_audio(self, input_signal=None, input_signal_length=None, processed_signal=None,
                      processed_signal_length=None):
        """Audio (or features) -> preprocessor -> SpecAugment (training only) -> (encoded, encoded_len)."""
        has_input = input_signal is not None and input_signal_length is not None
        has_processed = processed_signal is not None and processed_signal_length is not None
        if has_input == has_processed:
            raise ValueError(f"{self} Arguments ``input_signal`` and ``input_signal_length`` are mutually exclusive "
                             " with ``processed_signal`` and ``processed_signal_len`` arguments.")
        if not has_processed:
            processed_signal, processed_signal_length = self.preprocessor(input_signal=input_signal,
                                                                          length=input_signal_length)
        if self.spec_augmentation is not None and self.training:
            processed_signal = self.spec_augmentation(input_spec=processed_signal, length=processed_signal_length)
        return self.encoder(audio_signal=processed_signal, length=processed_signal_length)
