"""Word/character error rate: corpus helpers and NeMo's torchmetrics `WER` (spec §9.4)."""

from typing import List, Optional, Sequence, Tuple

import torch
from torchmetrics import Metric

from nemo.utils import logging

__all__ = ["WER", "edit_distance", "word_error_rate", "word_error_rate_detail", "word_error_rate_per_utt"]


def _align_counts(hyp: Sequence, ref: Sequence) -> Tuple[int, int, int, int]:
    """Levenshtein alignment of hyp against ref: (distance, insertions, deletions, substitutions)."""
    # Each cell holds (cost, ins, dele, sub); ties prefer substitution, then deletion, then insertion.
    prev = [(j, j, 0, 0) for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        cur = [(i, 0, i, 0)]
        r = ref[i - 1]
        for j in range(1, len(hyp) + 1):
            diag = prev[j - 1]
            if hyp[j - 1] == r:
                best = diag
            else:
                best = (diag[0] + 1, diag[1], diag[2], diag[3] + 1)
            up = prev[j]
            if up[0] + 1 < best[0]:
                best = (up[0] + 1, up[1], up[2] + 1, up[3])
            left = cur[j - 1]
            if left[0] + 1 < best[0]:
                best = (left[0] + 1, left[1] + 1, left[2], left[3])
            cur.append(best)
        prev = cur
    return prev[-1]


def edit_distance(hyp: Sequence, ref: Sequence) -> int:
    """Levenshtein distance between two token sequences."""
    try:
        import editdistance

        return int(editdistance.eval(hyp, ref))
    except ImportError:
        return _align_counts(hyp, ref)[0]


def _tokens(text: str, use_cer: bool) -> List[str]:
    return list(text) if use_cer else text.split()


def word_error_rate(hypotheses: List[str], references: List[str], use_cer: bool = False) -> float:
    """Corpus WER (or CER): total edit distance / total reference tokens; inf with no reference tokens."""
    if len(hypotheses) != len(references):
        raise ValueError(
            f"In word error rate calculation, hypotheses and reference lists must have the same number of "
            f"elements. But I got:{len(hypotheses)} and {len(references)} correspondingly"
        )
    scores = words = 0
    for h, r in zip(hypotheses, references):
        r_list, h_list = _tokens(r, use_cer), _tokens(h, use_cer)
        words += len(r_list)
        scores += edit_distance(h_list, r_list)
    return float(scores) / words if words != 0 else float("inf")


def word_error_rate_detail(
    hypotheses: List[str], references: List[str], use_cer: bool = False
) -> Tuple[float, int, float, float, float]:
    """(wer, reference tokens, insertion rate, deletion rate, substitution rate)."""
    if len(hypotheses) != len(references):
        raise ValueError("hypotheses and references must have the same number of elements")
    words = ins = dels = subs = 0
    for h, r in zip(hypotheses, references):
        r_list, h_list = _tokens(r, use_cer), _tokens(h, use_cer)
        words += len(r_list)
        _, i, d, s = _align_counts(h_list, r_list)
        ins, dels, subs = ins + i, dels + d, subs + s
    if words == 0:
        inf = float("inf")
        return inf, 0, inf, inf, inf
    return (ins + dels + subs) / words, words, ins / words, dels / words, subs / words


def word_error_rate_per_utt(
    hypotheses: List[str], references: List[str], use_cer: bool = False
) -> Tuple[List[float], float]:
    """Per-utterance error rates and the corpus rate."""
    if len(hypotheses) != len(references):
        raise ValueError("hypotheses and references must have the same number of elements")
    per_utt = []
    for h, r in zip(hypotheses, references):
        r_list, h_list = _tokens(r, use_cer), _tokens(h, use_cer)
        dist = edit_distance(h_list, r_list)
        per_utt.append(dist / len(r_list) if r_list else (0.0 if not h_list else float("inf")))
    return per_utt, word_error_rate(hypotheses, references, use_cer=use_cer)


class WER(Metric):
    """Batch WER through a CTC or transducer decoding object (transducers take encoder outputs as
    `predictions`); `compute()` -> (wer, errors, reference words).

    `update` assigns (not accumulates) this batch's counts, as NeMo's metric does.
    """

    full_state_update: bool = True

    def __init__(
        self,
        decoding,
        use_cer: bool = False,
        log_prediction: bool = True,
        fold_consecutive: bool = True,
        batch_dim_index: int = 0,
        dist_sync_on_step: bool = False,
        sync_on_compute: bool = True,
        **kwargs,
    ):
        super().__init__(dist_sync_on_step=dist_sync_on_step, sync_on_compute=sync_on_compute, **kwargs)
        self.decoding = decoding
        self.use_cer = use_cer
        self.log_prediction = log_prediction
        self.fold_consecutive = fold_consecutive
        self.batch_dim_index = batch_dim_index
        self.add_state("scores", default=torch.tensor(0), dist_reduce_fx="sum", persistent=False)
        self.add_state("words", default=torch.tensor(0), dist_reduce_fx="sum", persistent=False)

    def update(
        self,
        predictions: torch.Tensor,
        predictions_lengths: torch.Tensor,
        targets: torch.Tensor,
        targets_lengths: torch.Tensor,
        predictions_mask: Optional[torch.Tensor] = None,
        input_ids: Optional[torch.Tensor] = None,
    ) -> None:
        references = []
        with torch.no_grad():
            tgt_cpu = targets.long().cpu()
            tgt_len_cpu = targets_lengths.long().cpu()
            for i in range(tgt_cpu.shape[self.batch_dim_index]):
                n = int(tgt_len_cpu[i])
                row = tgt_cpu[i] if self.batch_dim_index == 0 else tgt_cpu[:, i]
                references.append(self.decoding.decode_ids_to_str(row[:n].tolist()))
            hypotheses = []
            if predictions.numel() > 0:
                if hasattr(self.decoding, "rnnt_decoder_predictions_tensor"):
                    hyps = self.decoding.rnnt_decoder_predictions_tensor(
                        encoder_output=predictions, encoded_lengths=predictions_lengths
                    )
                else:
                    hyps = self.decoding.ctc_decoder_predictions_tensor(
                        predictions, predictions_lengths, fold_consecutive=self.fold_consecutive
                    )
                hypotheses = [h.text for h in hyps]
        if self.log_prediction and references:
            logging.info("\n")
            logging.info(f"reference:{references[0]}")
            logging.info(f"predicted:{hypotheses[0] if hypotheses else ''}")
        words = scores = 0
        for h, r in zip(hypotheses, references):
            r_list, h_list = _tokens(r, self.use_cer), _tokens(h, self.use_cer)
            words += len(r_list)
            scores += edit_distance(h_list, r_list)
        self.scores = torch.tensor(scores, device=self.scores.device, dtype=self.scores.dtype)
        self.words = torch.tensor(words, device=self.words.device, dtype=self.words.dtype)

    def compute(self):
        scores = self.scores.detach().float()
        words = self.words.detach().float()
        return scores / words, scores, words
