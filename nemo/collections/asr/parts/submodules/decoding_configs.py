"""Config dataclasses nested in `CTCDecodingConfig`, laid out so the structured default writes the
same `decoding:` block NeMo 3.0 stores in a model's config (see golden quartznet_small_config.yaml).

Only greedy decoding is implemented; the beam/wfst sections are kept so configs round-trip.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class ConfidenceMethodConfig:
    """How per-frame confidence is computed (entropy or max-prob)."""

    name: str = "entropy"
    entropy_type: str = "tsallis"
    alpha: float = 0.33
    entropy_norm: str = "exp"
    temperature: str = "DEPRECATED"


@dataclass
class ConfidenceConfig:
    """Which confidences to keep and how to aggregate them."""

    preserve_frame_confidence: bool = False
    preserve_token_confidence: bool = False
    preserve_word_confidence: bool = False
    exclude_blank: bool = True
    aggregation: str = "min"
    tdt_include_duration: bool = False
    method_cfg: ConfidenceMethodConfig = field(default_factory=ConfidenceMethodConfig)


@dataclass
class BoostingTreeModelConfig:
    """Context-biasing (phrase boosting) settings."""

    model_path: Optional[str] = None
    key_phrases_file: Optional[str] = None
    key_phrases_list: Optional[List[str]] = None
    key_phrase_items_list: Optional[List[Any]] = None
    context_score: float = 1.0
    depth_scaling: float = 2.0
    unk_score: float = 0.0
    final_eos_score: float = 1.0
    score_per_phrase: float = 0.0
    source_lang: str = "en"
    use_triton: bool = True
    uniform_weights: bool = False
    use_bpe_dropout: bool = False
    num_of_transcriptions: int = 5
    bpe_alpha: float = 0.3


@dataclass
class GreedyCTCInferConfig:
    """Greedy (argmax) CTC decoding options."""

    preserve_alignments: bool = False
    compute_timestamps: bool = False
    preserve_frame_confidence: bool = False
    confidence_method_cfg: Optional[ConfidenceMethodConfig] = field(default_factory=ConfidenceMethodConfig)
    ngram_lm_model: Optional[str] = None
    ngram_lm_alpha: float = 0.0
    boosting_tree: BoostingTreeModelConfig = field(default_factory=BoostingTreeModelConfig)
    boosting_tree_alpha: float = 0.0
    allow_cuda_graphs: bool = True


@dataclass
class FlashlightConfig:
    lexicon_path: Optional[str] = None
    boost_path: Optional[str] = None
    beam_size_token: int = 16
    beam_threshold: float = 20.0
    unk_weight: float = float("-inf")
    sil_weight: float = 0.0


@dataclass
class PyCTCDecodeConfig:
    beam_prune_logp: float = -10.0
    token_min_logp: float = -5.0
    prune_history: bool = False
    hotwords: Optional[List[str]] = None
    hotword_weight: float = 10.0


@dataclass
class BeamCTCInferConfig:
    """Beam-search options (kept for config compatibility)."""

    beam_size: int = 4
    search_type: str = "default"
    preserve_alignments: bool = False
    compute_timestamps: bool = False
    return_best_hypothesis: bool = True
    allow_cuda_graphs: bool = True
    beam_alpha: Optional[float] = None
    beam_beta: float = 1.0
    beam_threshold: float = 20.0
    kenlm_path: Optional[str] = None
    ngram_lm_alpha: float = 1.0
    ngram_lm_model: Optional[str] = None
    boosting_tree: BoostingTreeModelConfig = field(default_factory=BoostingTreeModelConfig)
    boosting_tree_alpha: float = 0.0
    flashlight_cfg: Optional[FlashlightConfig] = field(default_factory=FlashlightConfig)
    pyctcdecode_cfg: Optional[PyCTCDecodeConfig] = field(default_factory=PyCTCDecodeConfig)


@dataclass
class WfstCTCInferConfig:
    """WFST decoding options (kept for config compatibility)."""

    beam_size: int = 4
    search_type: str = "riva"
    return_best_hypothesis: bool = True
    preserve_alignments: bool = False
    compute_timestamps: bool = False
    decoding_mode: str = "nbest"
    open_vocabulary_decoding: bool = False
    beam_width: float = 10.0
    lm_weight: float = 1.0
    device: str = "cuda"
    arpa_lm_path: Optional[str] = None
    wfst_lm_path: Optional[str] = None
    riva_decoding_cfg: Optional[Dict[str, Any]] = field(default_factory=dict)


@dataclass
class CTCDecodingConfig:
    """Top-level CTC decoding config (`model.decoding`)."""

    strategy: str = "greedy_batch"
    preserve_alignments: Optional[bool] = None
    compute_timestamps: Optional[bool] = None
    word_seperator: str = " "
    segment_seperators: Optional[List[str]] = field(default_factory=lambda: [".", "!", "?"])
    segment_gap_threshold: Optional[int] = None
    ctc_timestamp_type: str = "all"
    batch_dim_index: int = 0
    greedy: GreedyCTCInferConfig = field(default_factory=GreedyCTCInferConfig)
    beam: BeamCTCInferConfig = field(default_factory=lambda: BeamCTCInferConfig(beam_size=4))
    wfst: WfstCTCInferConfig = field(default_factory=lambda: WfstCTCInferConfig(beam_size=4))
    confidence_cfg: ConfidenceConfig = field(default_factory=ConfidenceConfig)
    temperature: float = 1.0


@dataclass
class CTCBPEDecodingConfig(CTCDecodingConfig):
    """Same fields as CTCDecodingConfig; used by BPE models."""
