"""CTC decoding: log-probs -> collapsed token ids -> text, with optional timestamps (spec §9.2-§9.3)."""

import re
import unicodedata
from dataclasses import is_dataclass
from typing import Any, Dict, List, Optional, Set

import torch
from omegaconf import DictConfig, OmegaConf

from nemo.collections.asr.parts.submodules import ctc_beam_decoding
from nemo.collections.asr.parts.submodules.ctc_greedy_decoding import GreedyBatchedCTCInfer, GreedyCTCInfer
from nemo.collections.asr.parts.submodules.decoding_configs import (  # noqa: F401
    CTCBPEDecodingConfig,
    CTCDecodingConfig,
)
from nemo.collections.asr.parts.utils.rnnt_utils import Hypothesis, NBestHypotheses

_SUPPORTED_STRATEGIES = ("greedy", "greedy_batch", "beam", "beam_batch")
_BEAM_STRATEGIES = ("beam", "beam_batch")
_KNOWN_STRATEGIES = ("greedy", "greedy_batch", "beam", "pyctcdecode", "flashlight", "wfst", "beam_batch")


def _is_special(token: str) -> bool:
    return (
        (token.startswith("[") and token.endswith("]"))
        or (token.startswith("<") and token.endswith(">"))
        or token.startswith("##")
        or token.startswith("▁")
        or token.strip() == ""
    )


def supported_punctuation_of(vocabulary) -> Set[str]:
    """Unicode punctuation characters occurring in the vocabulary's non-special entries."""
    return {
        ch for token in vocabulary if not _is_special(token) for ch in token if unicodedata.category(ch).startswith("P")
    }


def _as_config(cfg: Any) -> DictConfig:
    """Merge a dict/DictConfig/dataclass over CTCDecodingConfig's defaults."""
    base = OmegaConf.structured(CTCDecodingConfig)
    if cfg is None:
        return base
    if is_dataclass(cfg):
        cfg = OmegaConf.structured(cfg)
    elif not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(cfg)
    return OmegaConf.merge(base, cfg)


class AbstractCTCDecoding:
    """Shared decoding logic; subclasses say how ids become tokens and tokens become text."""

    def __init__(self, decoding_cfg, blank_id: int, supported_punctuation: Optional[Set[str]] = None):
        self.cfg = _as_config(decoding_cfg)
        self.blank_id = blank_id
        self.supported_punctuation = set(supported_punctuation or ())
        self._punct_re = (
            re.compile(r"(\s)(" + "|".join(re.escape(p) for p in sorted(self.supported_punctuation)) + r")")
            if self.supported_punctuation
            else None
        )
        strategy = self.cfg.strategy
        if strategy not in _KNOWN_STRATEGIES:
            raise ValueError(f"Unsupported decoding strategy {strategy!r}; allowed: {list(_KNOWN_STRATEGIES)}")
        if strategy not in _SUPPORTED_STRATEGIES:
            raise ValueError(f"Decoding strategy {strategy!r} is not available in this implementation; "
                             f"use one of {list(_SUPPORTED_STRATEGIES)}")
        greedy = self.cfg.greedy
        section = self.cfg.beam if strategy in _BEAM_STRATEGIES else greedy
        self.preserve_alignments = self.cfg.get("preserve_alignments")
        if self.preserve_alignments is None:
            self.preserve_alignments = bool(section.get("preserve_alignments", False))
        self.compute_timestamps = self.cfg.get("compute_timestamps")
        if self.compute_timestamps is None:
            self.compute_timestamps = bool(section.get("compute_timestamps", False))
        self.batch_dim_index = self.cfg.get("batch_dim_index", 0)
        self.word_seperator = self.cfg.get("word_seperator", " ")
        self.segment_seperators = list(self.cfg.get("segment_seperators") or [])
        self.segment_gap_threshold = self.cfg.get("segment_gap_threshold")
        self.ctc_timestamp_type = self.cfg.get("ctc_timestamp_type", "all")
        if strategy in _BEAM_STRATEGIES:
            self.decoding = self._make_beam_decoding(strategy)
            return
        infer_cls = GreedyCTCInfer if strategy == "greedy" else GreedyBatchedCTCInfer
        self.decoding = infer_cls(
            blank_id=blank_id,
            preserve_alignments=self.preserve_alignments,
            compute_timestamps=self.compute_timestamps,
            preserve_frame_confidence=bool(greedy.get("preserve_frame_confidence", False)),
        )

    def _make_beam_decoding(self, strategy: str):
        """The beam decoder for `cfg.beam`; NeMo's deprecated `beam_alpha`/`kenlm_path` still count."""
        beam = self.cfg.beam
        alpha = beam.get("ngram_lm_alpha", 1.0)
        if beam.get("beam_alpha") is not None:
            alpha = beam.beam_alpha
        lm = beam.get("kenlm_path") if beam.get("kenlm_path") is not None else beam.get("ngram_lm_model")
        if lm is None:
            lm = getattr(self, "ngram_lm", None)
        common = dict(
            beam_size=int(beam.get("beam_size", 1)),
            return_best_hypothesis=bool(beam.get("return_best_hypothesis", True)),
            preserve_alignments=self.preserve_alignments,
            compute_timestamps=self.compute_timestamps,
            ngram_lm_alpha=float(alpha if alpha is not None else 1.0),
            beam_beta=float(beam.get("beam_beta", 0.0)),
            beam_threshold=float(beam.get("beam_threshold", 20.0)),
            ngram_lm_model=lm,
            boosting_tree=beam.get("boosting_tree"),
            boosting_tree_alpha=float(beam.get("boosting_tree_alpha", 0.0) or 0.0),
            tokenizer=self._phrase_tokenizer(),
        )
        if strategy == "beam":
            decoder = ctc_beam_decoding.BeamCTCInfer(blank_id=self.blank_id,
                                                     search_type=beam.get("search_type", "default"), **common)
        else:
            decoder = ctc_beam_decoding.BeamBatchedCTCInfer(blank_index=self.blank_id, **common)
        return decoder

    def _phrase_tokenizer(self):
        """What spells boosting phrases as token ids (`text_to_ids`, `vocab_size`)."""
        return None

    def set_ngram_lm(self, lm) -> None:
        """Use `lm` (an NGramGPULanguageModel, e.g. one nested in the ASR model) for beam search whenever the
        config names no LM file; rebuilds the beam decoder."""
        self.ngram_lm = lm
        if self.cfg.strategy in _BEAM_STRATEGIES:
            self.decoding = self._make_beam_decoding(self.cfg.strategy)

    def ctc_decoder_predictions_tensor(
        self,
        decoder_outputs: torch.Tensor,
        decoder_lengths: Optional[torch.Tensor] = None,
        fold_consecutive: bool = True,
        return_hypotheses: bool = False,
    ) -> List[Hypothesis]:
        """Decode a batch of (B, T, V+1) log-probs (or (B, T) frame labels) into Hypotheses with text."""
        if self.batch_dim_index != 0:
            decoder_outputs = decoder_outputs.transpose(0, 1)
        (hypotheses,) = self.decoding(decoder_output=decoder_outputs, decoder_lengths=decoder_lengths)
        if hypotheses and isinstance(hypotheses[0], NBestHypotheses):
            nbest = [[self.decode_hypothesis(h, fold_consecutive) for h in n.n_best_hypotheses] for n in hypotheses]
            if return_hypotheses or self.compute_timestamps:
                return nbest
            return [[Hypothesis(h.score, h.y_sequence, h.text) for h in hh] for hh in nbest]
        hypotheses = [self.decode_hypothesis(h, fold_consecutive) for h in hypotheses]
        if return_hypotheses or self.compute_timestamps:
            return hypotheses
        return [Hypothesis(h.score, h.y_sequence, h.text) for h in hypotheses]

    def decode_hypothesis(self, hyp: Hypothesis, fold_consecutive: bool = True) -> Hypothesis:
        """Collapse frame labels into tokens, set `text` and (if enabled) `timestamp` offsets.

        Beam hypotheses already hold token ids; their frame labels (for timestamps) are in `alignments[1]`."""
        if isinstance(self.decoding, ctc_beam_decoding.AbstractBeamCTCInfer):
            tokens = hyp.y_sequence.tolist() if isinstance(hyp.y_sequence, torch.Tensor) else list(hyp.y_sequence)
            hyp.text = self._strip_punct_space(self.decode_tokens_to_str(tokens))
            if self.compute_timestamps and hyp.alignments is not None:
                frame_hyp = Hypothesis(score=hyp.score, y_sequence=hyp.alignments[1])
                hyp.timestamp = self.decode_hypothesis_frames(frame_hyp, True).timestamp
            return hyp
        return self.decode_hypothesis_frames(hyp, fold_consecutive)

    def decode_hypothesis_frames(self, hyp: Hypothesis, fold_consecutive: bool = True) -> Hypothesis:
        """`decode_hypothesis` for frame-level labels (greedy output)."""
        frame_labels = hyp.y_sequence.tolist() if isinstance(hyp.y_sequence, torch.Tensor) else list(hyp.y_sequence)
        ids, starts, reps = [], [], []
        previous = self.blank_id
        for t, p in enumerate(frame_labels):
            if not fold_consecutive:
                if p != self.blank_id:
                    ids.append(p), starts.append(t), reps.append(1)
                continue
            if p != self.blank_id and (p != previous or previous == self.blank_id):
                ids.append(p), starts.append(t), reps.append(1)
            elif p == previous and p != self.blank_id and reps:
                reps[-1] += 1
            previous = p
        hyp.text = self._strip_punct_space(self.decode_tokens_to_str(ids))
        if self.compute_timestamps:
            hyp.timestamp = self._timestamps(ids, starts, reps, frame_labels)
        return hyp

    def _strip_punct_space(self, text: str) -> str:
        return self._punct_re.sub(r"\2", text) if self._punct_re is not None else text

    def _timestamps(self, ids, starts, reps, frame_labels) -> Dict[str, Any]:
        """Frame offsets for characters/tokens, words and segments."""
        tokens = self.decode_ids_to_tokens(ids)
        char_offsets = [
            {"char": tok, "start_offset": s, "end_offset": s + r} for tok, s, r in zip(tokens, starts, reps)
        ]
        words = self._word_offsets(char_offsets)
        segments = self._segment_offsets(words)
        out: Dict[str, Any] = {"timestep": [t for t, p in enumerate(frame_labels) if p != self.blank_id]}
        kind = self.ctc_timestamp_type
        if kind in ("all", "char"):
            out["char"] = char_offsets
        if kind in ("all", "word"):
            out["word"] = words
        if kind in ("all", "segment"):
            out["segment"] = segments
        return out

    def _word_offsets(self, char_offsets: List[dict]) -> List[dict]:
        words, current = [], []

        def flush():
            if current:
                text = self._strip_punct_space(self.decode_tokens_to_str_from_tokens([c["char"] for c in current]))
                words.append({"word": text, "start_offset": current[0]["start_offset"],
                              "end_offset": current[-1]["end_offset"]})
                current.clear()

        for item in char_offsets:
            boundary = self._word_boundary(item["char"])
            if boundary == "separator":
                flush()
                continue
            if boundary == "start":
                flush()
            current.append(item)
        flush()
        return words

    def _word_boundary(self, token: str) -> Optional[str]:
        """'separator' for a word-separator token; 'start' for a token that opens a word."""
        return "separator" if token == self.word_seperator else None

    def _segment_offsets(self, words: List[dict]) -> List[dict]:
        segments, current = [], []
        for i, w in enumerate(words):
            gap_break = (
                self.segment_gap_threshold is not None and current
                and w["start_offset"] - current[-1]["end_offset"] >= self.segment_gap_threshold
            )
            if gap_break:
                segments.append(current)
                current = []
            current.append(w)
            if w["word"] and w["word"][-1] in self.segment_seperators:
                segments.append(current)
                current = []
        if current:
            segments.append(current)
        return [
            {"segment": self._strip_punct_space(" ".join(w["word"] for w in seg)), "start_offset": seg[0]["start_offset"],
             "end_offset": seg[-1]["end_offset"]}
            for seg in segments
        ]

    def decode_ids_to_str(self, tokens: List[int]) -> str:
        """Reference text for token ids (no collapsing), with the same punctuation-space rule as
        hypotheses so that WER compares like with like."""
        return self._strip_punct_space(self.decode_tokens_to_str(list(tokens)))

    def decode_tokens_to_str(self, tokens: List[int]) -> str:
        raise NotImplementedError

    def decode_ids_to_tokens(self, tokens: List[int]) -> List[str]:
        raise NotImplementedError

    def decode_tokens_to_str_from_tokens(self, tokens: List[str]) -> str:
        raise NotImplementedError


class _CharPhraseTokenizer:
    """Spells a phrase in a character vocabulary (characters outside it are dropped)."""

    def __init__(self, vocabulary: List[str]):
        self.index = {ch: i for i, ch in enumerate(vocabulary)}
        self.vocab_size = len(vocabulary)

    def text_to_ids(self, text: str) -> List[int]:
        return [self.index[ch] for ch in text if ch in self.index]


class _SubwordPhraseTokenizer:
    """A subword tokenizer seen with the CTC vocabulary size (blank excluded)."""

    def __init__(self, tokenizer, vocab_size: int):
        self.tokenizer, self.vocab_size = tokenizer, vocab_size

    def text_to_ids(self, text: str) -> List[int]:
        return list(self.tokenizer.text_to_ids(text))


class CTCDecoding(AbstractCTCDecoding):
    """Character-vocabulary CTC decoding; blank id = len(vocabulary)."""

    def __init__(self, decoding_cfg, vocabulary):
        vocabulary = [str(v) for v in vocabulary]
        self.vocabulary = vocabulary
        self.labels_map = dict(enumerate(vocabulary))
        super().__init__(decoding_cfg, blank_id=len(vocabulary), supported_punctuation=supported_punctuation_of(vocabulary))

    def decode_tokens_to_str(self, tokens: List[int]) -> str:
        return "".join(self.labels_map[int(c)] for c in tokens if int(c) != self.blank_id and int(c) in self.labels_map)

    def _phrase_tokenizer(self):
        return _CharPhraseTokenizer(self.vocabulary)

    def decode_ids_to_tokens(self, tokens: List[int]) -> List[str]:
        return [self.labels_map[int(c)] for c in tokens if int(c) != self.blank_id and int(c) in self.labels_map]

    def decode_tokens_to_str_from_tokens(self, tokens: List[str]) -> str:
        return "".join(tokens)


class CTCBPEDecoding(AbstractCTCDecoding):
    """Subword CTC decoding through a tokenizer; blank id = the tokenizer's vocabulary size."""

    def __init__(self, decoding_cfg, tokenizer):
        self.tokenizer = tokenizer
        inner = getattr(tokenizer, "tokenizer", None)
        blank_id = getattr(inner, "vocab_size", None)
        if not isinstance(blank_id, int):
            blank_id = tokenizer.vocab_size
        vocab = tokenizer.vocab if hasattr(tokenizer, "vocab") else []
        punct = getattr(tokenizer, "supported_punctuation", None)
        if punct is None:
            punct = supported_punctuation_of(vocab)
        super().__init__(decoding_cfg, blank_id=blank_id, supported_punctuation=set(punct))

    def _phrase_tokenizer(self):
        return _SubwordPhraseTokenizer(self.tokenizer, self.blank_id)

    def decode_tokens_to_str(self, tokens: List[int]) -> str:
        ids = [int(t) for t in tokens if int(t) != self.blank_id]
        return self.tokenizer.tokens_to_text(self.tokenizer.ids_to_tokens(ids)) if ids else ""

    def decode_ids_to_str(self, tokens: List[int]) -> str:
        ids = [int(t) for t in tokens if int(t) != self.blank_id]
        return self._strip_punct_space(self.tokenizer.ids_to_text(ids)) if ids else ""

    def decode_ids_to_tokens(self, tokens: List[int]) -> List[str]:
        return self.tokenizer.ids_to_tokens([int(t) for t in tokens if int(t) != self.blank_id])

    def decode_tokens_to_str_from_tokens(self, tokens: List[str]) -> str:
        return self.tokenizer.tokens_to_text(tokens)

    def _word_boundary(self, token: str) -> Optional[str]:
        return "start" if token.startswith("▁") else None
