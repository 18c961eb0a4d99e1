"""Config dataclasses of the translation model, with NeMo's fields and defaults:

    from nemo.collections.nlp.models.machine_translation.mt_enc_dec_config import AAYNBaseConfig
    cfg = AAYNBaseConfig()
    cfg.encoder.num_layers = 8
    cfg.train_ds.tokens_in_batch = 8192
"""

from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple, Union

from omegaconf import MISSING

from nemo.collections.nlp.modules.common.tokenizer_utils import TokenizerConfig
from nemo.core.config.modelPT import ModelConfig, OptimConfig, SchedConfig


@dataclass
class NeMoTransformerConfig:
    hidden_size: int = MISSING
    num_layers: int = MISSING
    inner_size: int = MISSING
    num_attention_heads: int = MISSING
    max_sequence_length: int = 512
    num_token_types: int = 2
    embedding_dropout: float = 0.0
    learn_positional_encodings: bool = False
    ffn_dropout: float = 0.0
    attn_score_dropout: float = 0.0
    attn_layer_dropout: float = 0.0
    hidden_act: str = "relu"
    pre_ln: bool = False
    pre_ln_final_layer_norm: bool = True
    library: str = "nemo"
    model_name: Optional[str] = None
    pretrained: bool = False


@dataclass
class NeMoTransformerEncoderConfig(NeMoTransformerConfig):
    mask_future: bool = False


@dataclass
class NeMoTransformerDecoderConfig(NeMoTransformerConfig):
    r2l: bool = False


@dataclass
class TokenClassifierConfig:
    num_layers: int = 1
    activation: str = "relu"
    log_softmax: bool = True
    dropout: float = 0.0
    use_transformer_init: bool = True


@dataclass
class TranslationDataConfig:
    src_file_name: Optional[Any] = None  # a path or a list of paths
    tgt_file_name: Optional[Any] = None
    use_tarred_dataset: bool = False
    tar_files: Optional[Any] = None
    metadata_file: Optional[Any] = None
    lines_per_dataset_fragment: Optional[int] = 1000000
    num_batches_per_tarfile: Optional[int] = 1000
    shard_strategy: Optional[str] = "scatter"
    tokens_in_batch: int = 512
    clean: bool = False
    max_seq_length: int = 512
    min_seq_length: int = 1
    cache_ids: bool = False
    cache_data_per_node: bool = False
    use_cache: bool = False
    shuffle: bool = False
    num_samples: int = -1
    drop_last: bool = False
    pin_memory: bool = False
    num_workers: int = 8
    reverse_lang_direction: bool = False
    load_from_tarred_dataset: bool = False
    metadata_path: Optional[str] = None
    tar_shuffle_n: int = 100
    n_preproc_jobs: int = -2
    tar_file_prefix: str = "parallel"
    concat_sampling_technique: Optional[str] = "temperature"
    concat_sampling_temperature: Optional[int] = 5
    concat_sampling_probabilities: Optional[List[float]] = None


@dataclass
class MTSchedConfig(SchedConfig):
    name: str = "InverseSquareRootAnnealing"
    warmup_ratio: Optional[float] = None
    last_epoch: int = -1


@dataclass
class MTOptimConfig(OptimConfig):
    name: str = "adam"
    lr: float = 1e-3
    betas: Tuple[float, float] = (0.9, 0.98)
    weight_decay: float = 0.0
    sched: Optional[MTSchedConfig] = field(default_factory=MTSchedConfig)


@dataclass
class EncDecNLPModelConfig(ModelConfig):
    encoder_tokenizer: TokenizerConfig = MISSING
    decoder_tokenizer: TokenizerConfig = MISSING
    encoder: Any = MISSING
    decoder: Any = MISSING
    head: Any = MISSING


def _data(clean: bool, shuffle: bool) -> TranslationDataConfig:
    return TranslationDataConfig(src_file_name=MISSING, tgt_file_name=MISSING, tokens_in_batch=512, clean=clean,
                                 shuffle=shuffle, cache_ids=False, use_cache=False)


@dataclass
class MTEncDecModelConfig(EncDecNLPModelConfig):
    num_val_examples: int = 3
    num_test_examples: int = 3
    max_generation_delta: int = 10
    label_smoothing: Optional[float] = 0.0
    beam_size: int = 4
    len_pen: float = 0.0
    src_language: Any = "en"
    tgt_language: Any = "en"
    find_unused_parameters: Optional[bool] = True
    shared_tokenizer: Optional[bool] = True
    multilingual: Optional[bool] = False
    preproc_out_dir: Optional[str] = None
    validate_input_ids: Optional[bool] = True
    shared_embeddings: bool = False
    encoder_tokenizer: Any = MISSING
    encoder: Any = MISSING
    decoder_tokenizer: Any = MISSING
    decoder: Any = MISSING
    head: TokenClassifierConfig = field(default_factory=lambda: TokenClassifierConfig(log_softmax=True))
    train_ds: Optional[TranslationDataConfig] = field(default_factory=lambda: _data(clean=True, shuffle=True))
    validation_ds: Optional[TranslationDataConfig] = field(default_factory=lambda: _data(clean=False, shuffle=False))
    test_ds: Optional[TranslationDataConfig] = field(default_factory=lambda: _data(clean=False, shuffle=False))
    optim: Optional[OptimConfig] = field(default_factory=MTOptimConfig)


def _aayn_layers(cls):
    return cls(library="nemo", model_name=None, pretrained=False, hidden_size=512, inner_size=2048, num_layers=6,
               num_attention_heads=8, ffn_dropout=0.1, attn_score_dropout=0.1, attn_layer_dropout=0.1)


@dataclass
class AAYNBaseConfig(MTEncDecModelConfig):
    """*Attention is All You Need* base: 6+6 layers, H 512, inner 2048, 8 heads, SentencePiece."""

    encoder_tokenizer: TokenizerConfig = field(default_factory=lambda: TokenizerConfig(library="sentencepiece"))
    decoder_tokenizer: TokenizerConfig = field(default_factory=lambda: TokenizerConfig(library="sentencepiece"))
    encoder: NeMoTransformerEncoderConfig = field(default_factory=lambda: _aayn_layers(NeMoTransformerEncoderConfig))
    decoder: NeMoTransformerConfig = field(default_factory=lambda: _aayn_layers(NeMoTransformerConfig))
