"""Transducer decoding: encoder output -> Hypotheses with text and (optionally) char/word/segment
timestamps, for RNN-T and TDT models over characters (`RNNTDecoding`) or subwords (`RNNTBPEDecoding`).
"""

import re
from dataclasses import dataclass, field, is_dataclass
from typing import Any, Dict, List, Optional, Set

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from nemo.collections.asr.parts.submodules import rnnt_greedy_decoding as greedy_search
from nemo.collections.asr.parts.submodules.ctc_decoding import supported_punctuation_of
from nemo.collections.asr.parts.submodules.decoding_configs import ConfidenceConfig
from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis, NBestHypotheses
from nemo.collections.asr.parts.utils.timestamp_utils import get_segment_offsets, get_words_offsets
from nemo.core.classes.exceptions import ConfigError

__all__ = ["AbstractRNNTDecoding", "RNNTDecoding", "RNNTBPEDecoding", "RNNTDecodingConfig", "RNNTBPEDecodingConfig"]

_GREEDY = ("greedy", "greedy_batch")
_BEAM = ("beam", "tsd", "alsd", "maes", "malsd_batch", "maes_batch")
_BATCHED_BEAM = ("malsd_batch", "maes_batch")


def _beam_defaults() -> Dict[str, Any]:
    """NeMo's `decoding.beam` defaults (beam_size 4), kept as a plain section so any beam options round-trip."""
    return {
        "beam_size": 4, "search_type": "default", "score_norm": True, "return_best_hypothesis": True,
        "tsd_max_sym_exp_per_step": 50, "alsd_max_target_len": 1.0, "nsc_max_timesteps_expansion": 1,
        "nsc_prefix_alpha": 1, "maes_num_steps": 2, "maes_prefix_alpha": 1, "maes_expansion_gamma": 2.3,
        "maes_expansion_beta": 2, "language_model": None, "softmax_temperature": 1.0, "preserve_alignments": False,
        "ngram_lm_model": None, "ngram_lm_alpha": 0.0, "boosting_tree_alpha": 0.0, "hat_subtract_ilm": False,
        "hat_ilm_weight": 0.0, "max_symbols_per_step": 10, "allow_cuda_graphs": True,
        "blank_lm_score_mode": "lm_weighted_full", "pruning_mode": "late",
    }


@dataclass
class RNNTDecodingConfig:
    """`model.decoding` of transducer models (NeMo's fields)."""

    model_type: str = "rnnt"
    strategy: str = "greedy_batch"
    compute_hypothesis_token_set: bool = False
    preserve_alignments: Optional[bool] = None
    tdt_include_token_duration: Optional[bool] = None
    confidence_cfg: ConfidenceConfig = field(default_factory=ConfidenceConfig)
    fused_batch_size: Optional[int] = None
    compute_timestamps: Optional[bool] = None
    compute_langs: bool = False
    word_seperator: str = " "
    segment_seperators: Optional[List[str]] = field(default_factory=lambda: [".", "!", "?"])
    segment_gap_threshold: Optional[int] = None
    rnnt_timestamp_type: str = "all"
    greedy: greedy_search.GreedyBatchedRNNTInferConfig = field(default_factory=greedy_search.GreedyBatchedRNNTInferConfig)
    beam: Dict[str, Any] = field(default_factory=_beam_defaults)
    temperature: float = 1.0
    durations: Optional[List[int]] = field(default_factory=list)
    big_blank_durations: Optional[List[int]] = field(default_factory=list)
    strip_lang_tags: bool = False
    lang_tag_pattern: Optional[str] = None


@dataclass
class RNNTBPEDecodingConfig(RNNTDecodingConfig):
    """Same fields; used by subword models."""


def merged_decoding_config(decoding_cfg, bpe: bool = False) -> DictConfig:
    """`decoding_cfg` over the structured defaults (a plain, non-struct config: unknown keys are kept)."""
    base = OmegaConf.structured(RNNTBPEDecodingConfig if bpe else RNNTDecodingConfig)
    base = OmegaConf.create(OmegaConf.to_container(base))
    if decoding_cfg is None:
        return base
    if is_dataclass(decoding_cfg):
        decoding_cfg = OmegaConf.structured(decoding_cfg)
    return OmegaConf.merge(base, decoding_cfg)


class AbstractRNNTDecoding:
    """Builds the search named by `strategy` for an RNN-T or TDT model and turns its token ids into text."""

    def __init__(self, decoding_cfg, decoder, joint, blank_id: int, supported_punctuation: Optional[Set] = None):
        if is_dataclass(decoding_cfg):
            decoding_cfg = OmegaConf.structured(decoding_cfg)
        elif isinstance(decoding_cfg, dict):
            decoding_cfg = OmegaConf.create(decoding_cfg)
        self.cfg = decoding_cfg
        self.blank_id = int(blank_id)
        self.supported_punctuation = set(supported_punctuation or ())
        self.num_extra_outputs = joint.num_extra_outputs
        self.big_blank_durations = self.cfg.get("big_blank_durations", None)
        self.durations = self.cfg.get("durations", None)
        self.compute_hypothesis_token_set = self.cfg.get("compute_hypothesis_token_set", False)
        self.compute_langs = self.cfg.get("compute_langs", False)
        self.preserve_alignments = self.cfg.get("preserve_alignments", None)
        self.joint_fused_batch_size = self.cfg.get("fused_batch_size", None)
        self.compute_timestamps = self.cfg.get("compute_timestamps", None)
        self.tdt_include_token_duration = self.cfg.get("tdt_include_token_duration", False)
        self.word_seperator = self.cfg.get("word_seperator", " ")
        self.segment_seperators = self.cfg.get("segment_seperators", [".", "?", "!"])
        self.segment_gap_threshold = self.cfg.get("segment_gap_threshold", None)
        self.strip_lang_tags = bool(self.cfg.get("strip_lang_tags", False))
        pattern = self.cfg.get("lang_tag_pattern", None) or r"<[a-z]{2}(-[A-Z]{2})?>"
        self.lang_tag_pattern = re.compile(pattern)
        self._is_tdt = self.durations is not None and len(self.durations) > 0
        if self._is_tdt and self.blank_id == 0:
            raise ValueError("blank_id must equal len(non_blank_vocabs) for TDT models")
        if self.big_blank_durations is not None and len(self.big_blank_durations) > 0:
            raise ValueError("multi-blank transducers (big_blank_durations) are not supported by this implementation")
        self._space_before_punct = (
            re.compile(r"(\s)(" + "|".join(re.escape(p) for p in sorted(self.supported_punctuation)) + ")")
            if self.supported_punctuation else None
        )
        strategy = self.cfg.get("strategy", "greedy_batch")
        if strategy in _GREEDY:
            section = self.cfg.get("greedy", None) or {}
        elif strategy in _BEAM:
            section = self.cfg.get("beam", None) or {}
        else:
            raise ValueError(f"Unsupported decoding strategy {strategy!r}; allowed: {list(_GREEDY + _BEAM)}")
        if self.preserve_alignments is None:
            self.preserve_alignments = bool(section.get("preserve_alignments", False))
        if self.compute_timestamps is None:
            self.compute_timestamps = bool(section.get("compute_timestamps", False))
        confidence = self.cfg.get("confidence_cfg", None) or {}
        self.preserve_frame_confidence = bool(confidence.get("preserve_frame_confidence", False))
        if self._is_tdt:
            self.tdt_include_token_duration = bool(self.tdt_include_token_duration or self.compute_timestamps)
        self.decoding = self._build_search(strategy, section, decoder, joint)

    def _build_search(self, strategy, section, decoder, joint):
        max_symbols = section.get("max_symbols", None) or section.get("max_symbols_per_step", None)
        common = dict(decoder_model=decoder, joint_model=joint, blank_index=self.blank_id,
                      max_symbols_per_step=max_symbols, preserve_alignments=self.preserve_alignments,
                      preserve_frame_confidence=self.preserve_frame_confidence)
        if strategy in _BATCHED_BEAM:
            return self._build_batched_beam(strategy, section, decoder, joint)
        if section.get("ngram_lm_model", None):
            raise ValueError(f"n-gram LM fusion ({'beam' if strategy in _BEAM else 'greedy'}.ngram_lm_model) is "
                             f"not supported with strategy {strategy!r} here; use strategy 'malsd_batch'")
        if strategy == "greedy":
            if self._is_tdt:
                return greedy_search.GreedyTDTInfer(durations=list(self.durations),
                                             include_duration=self.tdt_include_token_duration, **common)
            return greedy_search.GreedyRNNTInfer(**common)
        if strategy == "greedy_batch":
            if self._is_tdt:
                return greedy_search.GreedyBatchedTDTInfer(durations=list(self.durations),
                                                    include_duration=self.tdt_include_token_duration, **common)
            return greedy_search.GreedyBatchedRNNTInfer(loop_labels=section.get("loop_labels", True), **common)
        return self._build_beam(strategy, section, decoder, joint)

    def _fusion_models(self, section):
        """The n-gram LM (`ngram_lm_model`: ARPA or LM `.nemo`) and boosting tree of `section`, with alphas."""
        from nemo.collections.asr.parts.submodules.ctc_beam_decoding import load_ngram_lm

        models, alphas = [], []
        lm = section.get("ngram_lm_model", None)
        if lm is None:
            lm = getattr(self, "ngram_lm", None)
        if lm is not None:
            models.append(load_ngram_lm(lm, vocab_size=self.blank_id))
            alphas.append(float(section.get("ngram_lm_alpha", 0.0) or 0.0))
        boosting = section.get("boosting_tree", None)
        if boosting is not None:
            from nemo.collections.asr.parts.context_biasing.boosting_graph_batched import (
                GPUBoostingTreeModel,
                boosting_config_is_empty,
            )

            if not boosting_config_is_empty(boosting):
                tokenizer = getattr(self, "tokenizer", None)
                if tokenizer is None:
                    raise ConfigError("decoding.beam.boosting_tree needs the model's tokenizer to spell the phrases")
                models.append(GPUBoostingTreeModel.from_config(boosting, tokenizer=tokenizer))
                alphas.append(float(section.get("boosting_tree_alpha", 0.0) or 0.0))
        return (models, alphas) if models else (None, None)

    def set_ngram_lm(self, lm) -> None:
        """Use `lm` (an NGramGPULanguageModel, e.g. one nested in the ASR model) whenever `decoding.beam` names no
        LM file; rebuilds a batched beam decoder."""
        self.ngram_lm = lm
        if self.cfg.get("strategy", None) in _BATCHED_BEAM:
            self.decoding = self._build_batched_beam(self.cfg.strategy, self.cfg.get("beam", None) or {},
                                                     self.decoding.decoder, self.decoding.joint)

    def _build_batched_beam(self, strategy, section, decoder, joint):
        """`malsd_batch` (RNN-T and TDT) and `maes_batch` (RNN-T) with n-gram LM / boosting-tree fusion; options
        as NeMo reads them."""
        from nemo.collections.asr.parts.submodules.transducer_batched_beam_infer import (
            BeamBatchedRNNTInfer,
            BeamBatchedTDTInfer,
        )

        if strategy == "maes_batch" and self._is_tdt:
            raise ValueError("decoding strategy 'maes_batch' is RNN-T only (as in NeMo); use 'malsd_batch' for TDT")
        if self.preserve_alignments:
            raise ValueError(f"preserve_alignments is not supported with strategy {strategy!r} (as in NeMo)")
        models, alphas = self._fusion_models(section)
        max_symbols = section.get("max_symbols", None)
        if max_symbols is None:
            max_symbols = section.get("max_symbols_per_step", 10)
        kwargs = dict(decoder_model=decoder, joint_model=joint, blank_index=self.blank_id,
                      beam_size=int(section.get("beam_size", 4)), search_type=strategy,
                      max_symbols_per_step=max_symbols, fusion_models=models, fusion_models_alpha=alphas,
                      blank_lm_score_mode=section.get("blank_lm_score_mode", None) or "lm_weighted_full",
                      pruning_mode=section.get("pruning_mode", None) or "late",
                      score_norm=bool(section.get("score_norm", True)),
                      allow_cuda_graphs=bool(section.get("allow_cuda_graphs", True)),
                      return_best_hypothesis=bool(section.get("return_best_hypothesis", True)))
        if self._is_tdt:
            return BeamBatchedTDTInfer(durations=list(self.durations), **kwargs)
        if strategy == "maes_batch":
            kwargs.pop("max_symbols_per_step")
            kwargs.update(maes_num_steps=section.get("maes_num_steps", 2),
                          maes_expansion_beta=section.get("maes_expansion_beta", 2),
                          maes_expansion_gamma=section.get("maes_expansion_gamma", 2.3))
        return BeamBatchedRNNTInfer(**kwargs)

    def _build_beam(self, strategy, section, decoder, joint):
        """Beam strategies live in rnnt_beam_decoding / tdt_beam_decoding when those modules are installed."""
        module_name = "tdt_beam_decoding" if self._is_tdt else "rnnt_beam_decoding"
        class_name = "BeamTDTInfer" if self._is_tdt else "BeamRNNTInfer"
        try:
            import importlib

            module = importlib.import_module(f"nemo.collections.asr.parts.submodules.{module_name}")
            infer_cls = getattr(module, class_name)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"decoding strategy {strategy!r} needs nemo.collections.asr.parts.submodules."
                             f"{module_name}.{class_name}, which is not available here ({e}); use 'greedy_batch' "
                             "or 'greedy'") from e
        search_type = section.get("search_type", "default") if strategy == "beam" else strategy
        kwargs = dict(decoder_model=decoder, joint_model=joint, beam_size=section.get("beam_size", 4),
                      search_type=search_type, score_norm=section.get("score_norm", True),
                      return_best_hypothesis=section.get("return_best_hypothesis", True),
                      preserve_alignments=self.preserve_alignments)
        if self._is_tdt:
            kwargs["durations"] = list(self.durations)
        import inspect

        accepted = inspect.signature(infer_cls.__init__).parameters
        for key in ("tsd_max_sym_exp_per_step", "alsd_max_target_len", "nsc_max_timesteps_expansion",
                    "nsc_prefix_alpha", "maes_num_steps", "maes_prefix_alpha", "maes_expansion_gamma",
                    "maes_expansion_beta", "softmax_temperature", "max_symbols_per_step"):
            if section.get(key, None) is not None and key in accepted:  # options of other search types are skipped
                kwargs[key] = section.get(key)
        return infer_cls(**kwargs)

    # ------------------------------------------------------------------ decode
    def rnnt_decoder_predictions_tensor(
        self,
        encoder_output: torch.Tensor,
        encoded_lengths: torch.Tensor,
        return_hypotheses: bool = False,
        partial_hypotheses: Optional[List[Hypothesis]] = None,
    ):
        """Decode (B, D, T) encoder outputs: Hypotheses with text (+timestamps); n-best lists for beam search."""
        with torch.inference_mode():
            (hypotheses,) = self.decoding(encoder_output=encoder_output, encoded_lengths=encoded_lengths,
                                          partial_hypotheses=partial_hypotheses)
        timestamp_type = self.cfg.get("rnnt_timestamp_type", "all")
        if hypotheses and isinstance(hypotheses[0], NBestHypotheses):
            all_hyps = []
            for nbest in hypotheses:
                decoded = self.decode_hypothesis(nbest.n_best_hypotheses)
                if self.compute_timestamps:
                    decoded = [self.compute_rnnt_timestamps(h, timestamp_type) for h in decoded]
                all_hyps.append(decoded)
            if return_hypotheses:
                return all_hyps
            return [[Hypothesis(h.score, h.y_sequence, h.text) for h in hh] for hh in all_hyps]
        hypotheses = self.decode_hypothesis(hypotheses)
        if self.compute_timestamps:
            hypotheses = [self.compute_rnnt_timestamps(h, timestamp_type) for h in hypotheses]
        if return_hypotheses:
            return hypotheses
        return [Hypothesis(h.score, h.y_sequence, h.text) for h in hypotheses]

    def decode_hypothesis(self, hypotheses_list: List[Hypothesis]) -> List[Hypothesis]:
        """Set `text` (and optionally `tokens`) of each hypothesis from its token ids."""
        for hyp in hypotheses_list:
            ids = hyp.y_sequence.tolist() if isinstance(hyp.y_sequence, torch.Tensor) else list(hyp.y_sequence)
            if self._is_tdt:
                ids = [p for p in ids if p < self.blank_id]
            else:
                ids = [p for p in ids if p != self.blank_id]
            hyp.text = self.decode_tokens_to_str_with_strip_punctuation(ids)
            if self.compute_hypothesis_token_set:
                hyp.tokens = self.decode_ids_to_tokens(ids)
        return hypotheses_list

    def decode_tokens_to_str_with_strip_punctuation(self, tokens: List[int]) -> str:
        """Text of token ids without a space before supported punctuation (and without language tags when asked)."""
        text = self.decode_ids_to_str(tokens)
        if self._space_before_punct is not None:
            text = self._space_before_punct.sub(r"\2", text)
        if self.strip_lang_tags:
            text = self.lang_tag_pattern.sub("", text).strip()
        return text

    def decode_ids_to_str(self, tokens: List[int]) -> str:
        return self.decode_tokens_to_str(self.decode_ids_to_tokens([int(t) for t in tokens]))

    # -------------------------------------------------------------- timestamps
    def compute_rnnt_timestamps(self, hypothesis: Hypothesis, timestamp_type: str = "all") -> Hypothesis:
        """Replace `timestamp` (frame per token) by {timestep, char, word, segment} offsets in frames."""
        if timestamp_type not in ("char", "word", "segment", "all"):
            raise ValueError(f"rnnt_timestamp_type must be char, word, segment or all; got {timestamp_type!r}")
        if isinstance(hypothesis.timestamp, (torch.Tensor, np.ndarray)):  # batched beam search gives numpy
            hypothesis.timestamp = hypothesis.timestamp.tolist()
        if isinstance(hypothesis.token_duration, (torch.Tensor, np.ndarray)):
            hypothesis.token_duration = hypothesis.token_duration.tolist()
        ids = hypothesis.y_sequence.tolist() if isinstance(hypothesis.y_sequence, torch.Tensor) else list(hypothesis.y_sequence)
        if self._is_tdt:
            ends = [s + d for s, d in zip(hypothesis.timestamp, hypothesis.token_duration or [])]
        else:
            ends = [s + 1 for s in hypothesis.timestamp]
        offsets = [(t, s, e) for t, s, e in zip(ids, hypothesis.timestamp, ends) if t != self.blank_id]
        if len(offsets) != len([t for t in ids if t != self.blank_id]):
            raise ValueError(f"token offsets ({len(offsets)}) and tokens ({len(ids)}) differ in number: "
                             "timestamps need the frame (and, for TDT, the duration) of every token")
        char_offsets = [{"char": [self.decode_ids_to_str([t])], "start_offset": s, "end_offset": e}
                        for t, s, e in offsets]
        encoded = [{"char": [self.decode_ids_to_tokens([t])[0]], "start_offset": s, "end_offset": e}
                   for t, s, e in offsets]
        if self._is_tdt and self.supported_punctuation:
            for i, item in enumerate(char_offsets):
                if i > 0 and item["char"][0] in self.supported_punctuation:
                    item["start_offset"] = item["end_offset"] = char_offsets[i - 1]["end_offset"]
                    encoded[i]["start_offset"] = encoded[i]["end_offset"] = item["start_offset"]
        words = None
        if timestamp_type in ("word", "segment", "all"):
            words = get_words_offsets(
                char_offsets=char_offsets, encoded_char_offsets=encoded, decode_tokens_to_str=self.decode_tokens_to_str,
                word_delimiter_char=self.word_seperator, tokenizer_type=self.tokenizer_type,
                supported_punctuation=self.supported_punctuation,
            )
        segments = None
        if timestamp_type in ("segment", "all"):
            segments = get_segment_offsets(words, segment_delimiter_tokens=self.segment_seperators,
                                           supported_punctuation=self.supported_punctuation,
                                           segment_gap_threshold=self.segment_gap_threshold)
        timestamp = {"timestep": list(hypothesis.timestamp)}
        if timestamp_type in ("char", "all"):
            timestamp["char"] = char_offsets
        if words is not None and timestamp_type in ("word", "all"):
            timestamp["word"] = words
        if segments is not None and timestamp_type in ("segment", "all"):
            timestamp["segment"] = segments
        hypothesis.timestamp = timestamp
        return hypothesis

    def update_joint_fused_batch_size(self) -> None:
        """Apply `decoding.fused_batch_size` to the joint (<= 0 turns the fused step off)."""
        if self.joint_fused_batch_size is None:
            return
        joint = self.decoding.joint
        if self.joint_fused_batch_size > 0:
            joint.set_fused_batch_size(self.joint_fused_batch_size)
        else:
            joint.set_fuse_loss_wer(False)

    # ------------------------------------------------------------ subclasses
    @property
    def tokenizer_type(self) -> str:
        raise NotImplementedError

    def decode_tokens_to_str(self, tokens: List[str]) -> str:
        raise NotImplementedError

    def decode_ids_to_tokens(self, tokens: List[int]) -> List[str]:
        raise NotImplementedError


class RNNTDecoding(AbstractRNNTDecoding):
    """Character-vocabulary transducer decoding; blank id = len(vocabulary) (+ extra outputs for non-TDT)."""

    def __init__(self, decoding_cfg, decoder, joint, vocabulary):
        vocabulary = [str(v) for v in vocabulary]
        blank_id = len(vocabulary) + joint.num_extra_outputs
        if decoding_cfg is not None and decoding_cfg.get("model_type", None) == "tdt":
            blank_id = len(vocabulary)
        self.labels_map = dict(enumerate(vocabulary))
        super().__init__(decoding_cfg, decoder, joint, blank_id, supported_punctuation_of(vocabulary))

    @property
    def tokenizer_type(self) -> str:
        return "char"

    def decode_tokens_to_str(self, tokens: List[str]) -> str:
        return "".join(tokens)

    def decode_ids_to_tokens(self, tokens: List[int]) -> List[str]:
        """Characters of the ids below blank (TDT's extra outputs are durations, not extra blanks)."""
        limit = self.blank_id if self._is_tdt else self.blank_id - self.num_extra_outputs
        return [self.labels_map[c] for c in tokens if c < limit]


class RNNTBPEDecoding(AbstractRNNTDecoding):
    """Subword transducer decoding through a tokenizer; blank id = the tokenizer's vocabulary size."""

    def __init__(self, decoding_cfg, decoder, joint, tokenizer):
        self.tokenizer = tokenizer
        inner = getattr(tokenizer, "tokenizer", None)
        blank_id = getattr(inner, "vocab_size", None)
        if not isinstance(blank_id, int):
            blank_id = tokenizer.vocab_size
        punct = getattr(tokenizer, "supported_punctuation", None)
        if punct is None:
            punct = supported_punctuation_of(tokenizer.vocab if hasattr(tokenizer, "vocab") else [])
        super().__init__(decoding_cfg, decoder, joint, blank_id, set(punct))

    @property
    def tokenizer_type(self) -> str:
        vocab = getattr(self.tokenizer, "vocab", None) or []
        return "wpe" if any(str(t).startswith("##") for t in vocab) else "bpe"

    def decode_tokens_to_str(self, tokens: List[str]) -> str:
        return self.tokenizer.tokens_to_text(list(tokens))

    def decode_ids_to_tokens(self, tokens: List[int]) -> List[str]:
        return self.tokenizer.ids_to_tokens([int(t) for t in tokens])
