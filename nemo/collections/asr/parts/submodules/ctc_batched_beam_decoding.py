"""Batched CTC beam search over (batch x beam) tensors, with optional n-gram LM and phrase-boosting fusion.

A hypothesis is a label prefix plus the label of its last frame (blank or the prefix's last token), so a prefix
holds at most two beam slots (blank-ending and token-ending), as in NeMo's `beam_batch`. Candidates that reach
the same (prefix, last frame label) among the top-k are merged: by log-sum-exp (default: the beam then scores a
prefix by its CTC probability summed over its alignments) or by max (Viterbi, NeMo's rule). Fusion models score a
token when it extends the prefix: `alpha * log p_LM(token | prefix) + beam_beta`, and the LM's end-of-sentence
score is added at the end. With beam 1 this is greedy decoding; with a beam as large as the lattice it is exact.
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch

INACTIVE = float("-inf")
_HASH_MULT = 6364136223846793005


def _hash_step(prev: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Rolling 64-bit hash of a prefix extended by `labels` (wrap-around arithmetic)."""
    return prev * _HASH_MULT + 1 + labels


@dataclass
class BeamSearchResult:
    """Hypotheses of a batch, best first: scores [B, K], token ids and their frames, frame labels."""

    scores: torch.Tensor
    tokens: List[List[List[int]]]
    token_frames: List[List[List[int]]]
    frame_labels: Optional[List[List[List[int]]]]
    lengths: torch.Tensor


class _Fusion:
    """One fusion model (n-gram LM or boosting tree) with its weight and whether it scores </s>."""

    def __init__(self, model, alpha: float, score_eos: bool):
        self.model, self.alpha, self.score_eos = model, float(alpha), score_eos


class BatchedBeamCTCComputer:
    """The search itself: (B, T, V+1) log-probs and lengths in, `BeamSearchResult` out."""

    def __init__(
        self,
        blank_index: int,
        beam_size: int,
        beam_beta: float = 0.0,
        beam_threshold: float = 20.0,
        fusion_models: Optional[Sequence] = None,
        fusion_models_alpha: Optional[Sequence[float]] = None,
        fusion_score_eos: Optional[Sequence[bool]] = None,
        recombination: str = "sum",
    ):
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        if recombination not in ("sum", "max"):
            raise ValueError(f"recombination must be 'sum' or 'max', got {recombination!r}")
        self.blank_index = blank_index
        self.beam_size = beam_size
        self.beam_beta = float(beam_beta)
        self.beam_threshold = float(beam_threshold) if beam_threshold is not None else None
        self.recombination = recombination
        models = list(fusion_models or [])
        alphas = list(fusion_models_alpha or [1.0] * len(models))
        eos = list(fusion_score_eos or [True] * len(models))
        self.fusions = [_Fusion(m, a, e) for m, a, e in zip(models, alphas, eos)]

    def _combine(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.logaddexp(a, b) if self.recombination == "sum" else torch.maximum(a, b)

    def _reduce(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        return torch.logsumexp(x, dim) if self.recombination == "sum" else x.max(dim).values

    def _fusion_rows(self, states: List[torch.Tensor]):
        """Weighted next-token scores [N, Vb] summed over fusion models, and each model's next states."""
        rows, nexts = None, []
        for fusion, st in zip(self.fusions, states):
            scores, nxt = fusion.model.advance(st)
            part = fusion.alpha * scores.to(torch.float32)
            rows = part if rows is None else rows + part
            nexts.append(nxt)
        return rows, nexts

    @torch.no_grad()
    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor, keep_alignments: bool = False) -> BeamSearchResult:
        x = log_probs.detach().to(torch.float32)
        B, T, V = x.shape
        Vb = self.blank_index
        if Vb != V - 1:
            raise ValueError(f"beam search expects the blank as the last of {V} classes, got blank id {Vb}")
        K, dev = self.beam_size, x.device
        frames = x.transpose(0, 1).contiguous()  # [T, B, V]
        lengths = lengths.to(dev).long()
        ar_k = torch.arange(K, device=dev)
        cols = torch.arange(V, device=dev)
        nonblank = cols < Vb
        offdiag = ar_k[:, None] != ar_k[None, :]
        eye = ~offdiag
        lower_tri = ar_k[None, :] < ar_k[:, None]  # [i, j]: j comes before i
        unique = -1 - ar_k[None, :].expand(B, K)  # hash stand-ins that match nothing, for empty slots
        identity = ar_k[None, :].expand(B, K)
        ac = torch.full((B, K), INACTIVE, device=dev)
        ac[:, 0] = 0.0
        cx = torch.zeros(B, K, device=dev)
        lab = torch.full((B, K), -1, dtype=torch.long, device=dev)
        hsh = torch.zeros(B, K, dtype=torch.long, device=dev)
        phs = torch.zeros(B, K, dtype=torch.long, device=dev)
        fstates, fnext, frow = [], [], None
        if self.fusions:
            for fusion in self.fusions:
                fusion.model.to(dev)
                fstates.append(fusion.model.get_init_states(B * K, bos=True).view(B, K))
            frow, nexts = self._fusion_rows([s.reshape(-1) for s in fstates])
            frow = frow.view(B, K, Vb)
            fnext = [n.view(B, K, Vb) for n in nexts]
        bonus_cols = None
        bp_src, bp_tok, bp_lab = [], [], []
        max_len = int(lengths.max()) if B else 0
        for t in range(min(T, max_len)):
            live = t < lengths  # [B]
            all_live = bool(live.all())
            ext = nonblank & (cols != lab[:, :, None])  # [B, K, V]: the label extends the prefix
            cand = ac[:, :, None] + frames[t][:, None, :]
            if frow is not None or self.beam_beta:
                if frow is not None:
                    bonus = torch.cat([frow + self.beam_beta, frow.new_zeros(B, K, 1)], 2)
                else:
                    if bonus_cols is None:
                        bonus_cols = torch.where(nonblank, self.beam_beta, 0.0)
                    bonus = bonus_cols
                total = cand + torch.where(ext, bonus, 0.0) + cx[:, :, None]
            else:
                total = cand + cx[:, :, None]
            top, flat_idx = total.view(B, K * V).topk(K, dim=1)
            src = flat_idx // V
            c = flat_idx - src * V
            if self.beam_threshold is not None:
                ok = top >= top[:, :1] - self.beam_threshold  # also drops -inf: every utterance has a live slot
            else:
                ok = top > INACTIVE
            was_ext = ext.view(B, K * V).gather(1, flat_idx) & ok
            new_ac = torch.where(ok, cand.reshape(B, K * V).gather(1, flat_idx), INACTIVE)
            prev_h = hsh.gather(1, src)
            n_hsh = torch.where(was_ext, _hash_step(prev_h, c), prev_h)
            # selected candidates that reach the same (prefix, last-frame label) are one hypothesis: both slots of
            # a prefix staying blank or taking the same token, or a repeat meeting its parent's extension
            key = torch.where(ok, _hash_step(n_hsh, c), unique)
            dup = (key[:, :, None] == key[:, None, :]) & offdiag
            if bool(dup.any()):
                first = ~(dup & lower_tri).any(2)
                pooled = self._reduce(torch.where(dup | eye, new_ac[:, None, :], INACTIVE), 2)
                new_ac = torch.where(first, pooled, INACTIVE)
                ok = ok & first
                was_ext = was_ext & first
            new_cx = cx.gather(1, src)
            if frow is not None or self.beam_beta:
                step_bonus = self.beam_beta
                if frow is not None:
                    step_bonus = frow.reshape(B, K * Vb).gather(1, src * Vb + c.clamp(max=Vb - 1)) + self.beam_beta
                new_cx = new_cx + torch.where(was_ext, step_bonus, 0.0)
            n_phs = torch.where(was_ext, prev_h, phs.gather(1, src))
            n_tok = torch.where(was_ext, c, -1)
            if all_live:
                ac, cx, lab, hsh, phs, step_src = new_ac, new_cx, c, n_hsh, n_phs, src
            else:
                keep = live[:, None]
                ac = torch.where(keep, new_ac, ac)
                cx = torch.where(keep, new_cx, cx)
                lab = torch.where(keep, c, lab)
                hsh = torch.where(keep, n_hsh, hsh)
                phs = torch.where(keep, n_phs, phs)
                step_src = torch.where(keep, src, identity)
                n_tok = torch.where(keep, n_tok, -1)
                was_ext = was_ext & keep
            bp_src.append(step_src)
            bp_tok.append(n_tok)
            if keep_alignments:
                bp_lab.append(c if all_live else torch.where(live[:, None], c, -1))
            if self.fusions:
                cpos = c.clamp(0, Vb - 1)
                gather_idx = step_src[:, :, None].expand(B, K, Vb)
                for i in range(len(self.fusions)):
                    rows_next = fnext[i].gather(1, gather_idx)
                    stepped = rows_next.gather(2, cpos[:, :, None]).squeeze(2)
                    fstates[i] = torch.where(was_ext, stepped, fstates[i].gather(1, step_src))
                    fnext[i] = rows_next
                frow = frow.gather(1, gather_idx)
                if bool(was_ext.any()):
                    sel = was_ext.view(-1)
                    rows, nexts = self._fusion_rows([s.reshape(-1)[sel] for s in fstates])
                    frow = frow.reshape(B * K, Vb).index_put((sel,), rows).view(B, K, Vb)
                    for i in range(len(self.fusions)):
                        fnext[i] = fnext[i].reshape(B * K, Vb).index_put((sel,), nexts[i].to(fnext[i].dtype)).view(B, K, Vb)
        return self._finish(ac, cx, hsh, fstates, bp_src, bp_tok, bp_lab, lengths, keep_alignments)

    def _finish(self, ac, cx, hsh, fstates, bp_src, bp_tok, bp_lab, lengths, keep_alignments) -> BeamSearchResult:
        B, K = ac.shape
        dev = ac.device
        ar_k = torch.arange(K, device=dev)
        act = ac > INACTIVE
        # the blank-ending and token-ending slots of one prefix become one hypothesis
        same = (hsh[:, :, None] == hsh[:, None, :]) & act[:, :, None] & act[:, None, :]
        upper = same & (ar_k[None, :, None] < ar_k[None, None, :])
        lower = same & (ar_k[None, :, None] > ar_k[None, None, :])
        if bool(upper.any()):
            hi = upper.to(torch.int8).argmax(2)
            ac = torch.where(upper.any(2), self._combine(ac, ac.gather(1, hi)), ac)
            ac = ac.masked_fill(lower.any(2), INACTIVE)
        score = ac + cx
        for fusion, st in zip(self.fusions, fstates):
            if fusion.score_eos:
                score = score + fusion.alpha * fusion.model.get_final(st.reshape(-1)).view(B, K).to(score.dtype)
        score = score.masked_fill(ac <= INACTIVE, INACTIVE)
        order = score.argsort(dim=1, descending=True)
        score = score.gather(1, order)
        cur = order
        toks, labs = [], []
        for t in range(len(bp_src) - 1, -1, -1):
            toks.append(bp_tok[t].gather(1, cur))
            if keep_alignments:
                labs.append(bp_lab[t].gather(1, cur))
            cur = bp_src[t].gather(1, cur)
        T = len(bp_src)
        tok_mat = torch.stack(toks[::-1], 0).permute(1, 2, 0).cpu() if T else torch.zeros(B, K, 0, dtype=torch.long)
        tokens, frames, frame_labels = [], [], [] if keep_alignments else None
        lab_mat = torch.stack(labs[::-1], 0).permute(1, 2, 0).cpu() if keep_alignments and T else None
        lengths_cpu = lengths.cpu()
        for b in range(B):
            tb, fb, lb = [], [], []
            for k in range(K):
                row = tok_mat[b, k]
                pos = (row >= 0).nonzero().flatten()
                tb.append(row[pos].tolist())
                fb.append(pos.tolist())
                if keep_alignments:
                    n = int(lengths_cpu[b])
                    lb.append(lab_mat[b, k, :n].tolist() if lab_mat is not None else [])
            tokens.append(tb)
            frames.append(fb)
            if keep_alignments:
                frame_labels.append(lb)
        return BeamSearchResult(score.cpu(), tokens, frames, frame_labels, lengths_cpu)
