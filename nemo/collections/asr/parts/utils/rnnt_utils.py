"""Decoding results: `Hypothesis` (one transcript) and `NBestHypotheses` (spec §9.3)."""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

import torch


@dataclass
class Hypothesis:
    """One decoded utterance: score, frame/token ids (`y_sequence`), text and optional extras."""

    score: float
    y_sequence: Union[List[int], torch.Tensor]
    text: Optional[Any] = None
    dec_out: Optional[List[torch.Tensor]] = None
    dec_state: Optional[Any] = None
    timestamp: Union[List[int], torch.Tensor, Dict[str, Any]] = field(default_factory=list)
    alignments: Optional[Any] = None
    frame_confidence: Optional[Any] = None
    token_confidence: Optional[List[float]] = None
    word_confidence: Optional[List[float]] = None
    length: Union[int, torch.Tensor] = 0
    y: Optional[List[torch.Tensor]] = None
    lm_state: Optional[Any] = None
    lm_scores: Optional[torch.Tensor] = None
    ngram_lm_state: Optional[Any] = None
    tokens: Optional[Any] = None
    last_token: Optional[torch.Tensor] = None
    token_duration: Optional[torch.Tensor] = None
    last_frame: Optional[int] = None
    biasing_cfg: Optional[Any] = None
    non_blank_step_confidence_precomputed: Optional[List[float]] = None
    xatt_scores: Optional[List[torch.Tensor]] = None

    @property
    def words(self) -> List[str]:
        """The words of `text` (split on whitespace)."""
        return [] if self.text is None else self.text.split()

    @property
    def non_blank_frame_confidence(self) -> List[float]:
        """Frame confidences of the frames that emitted a token (empty when not recorded)."""
        if self.frame_confidence is None or not isinstance(self.timestamp, (list, torch.Tensor)):
            return []
        frames = self.timestamp.tolist() if isinstance(self.timestamp, torch.Tensor) else self.timestamp
        return [self.frame_confidence[t] for t in frames if t < len(self.frame_confidence)]


@dataclass
class NBestHypotheses:
    """A list of hypotheses for one utterance, best first."""

    n_best_hypotheses: Optional[List[Hypothesis]]
