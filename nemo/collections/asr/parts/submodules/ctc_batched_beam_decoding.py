"""Batched CTC beam search over (batch x beam) tensors, with optional n-gram LM and phrase-boosting fusion.

A hypothesis is a label prefix plus the label of its last frame (blank or the prefix's last token), so a prefix
holds at most two beam slots (blank-ending and token-ending), as in NeMo's `beam_batch`. Candidates that reach
the same (prefix, last frame label) are merged before the top-k: by log-sum-exp (default: the beam then scores a
prefix by its total CTC probability over alignments) or by max (Viterbi, NeMo's rule). Fusion models score a
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
        lengths = lengths.to(dev).long()
        ar_k = torch.arange(K, device=dev)
        cols = torch.arange(V, device=dev)
        ac = torch.full((B, K), INACTIVE, device=dev)
        ac[:, 0] = 0.0
        cx = torch.zeros(B, K, device=dev)
        lab = torch.full((B, K), -1, dtype=torch.long, device=dev)
        hsh = torch.zeros(B, K, dtype=torch.long, device=dev)
        phs = torch.zeros(B, K, dtype=torch.long, device=dev)
        ln = torch.zeros(B, K, dtype=torch.long, device=dev)
        fstates, fnext, frow = [], [], None
        if self.fusions:
            for fusion in self.fusions:
                fusion.model.to(dev)
                fstates.append(fusion.model.get_init_states(B * K, bos=True).view(B, K))
            frow, nexts = self._fusion_rows([s.reshape(-1) for s in fstates])
            frow = frow.view(B, K, Vb)
            fnext = [n.view(B, K, Vb) for n in nexts]
        bp_src, bp_tok, bp_lab = [], [], []
        for t in range(T):
            live = t < lengths  # [B]
            act = ac > INACTIVE
            cand_ac = ac[:, :, None] + x[:, t, None, :]  # [B, K, V]
            rep = (cols[None, None, :] == lab[:, :, None]) & (lab[:, :, None] >= 0) & (lab[:, :, None] != Vb)
            ext = (cols[None, None, :] < Vb) & ~rep
            # merge candidates of the two slots of one prefix (blank stays; extensions by the same token)
            same = (hsh[:, :, None] == hsh[:, None, :]) & (ln[:, :, None] == ln[:, None, :])
            same &= act[:, :, None] & act[:, None, :] & (ar_k[None, :, None] != ar_k[None, None, :])
            upper = same & (ar_k[None, :, None] < ar_k[None, None, :])
            has_hi = upper.any(2)
            if bool(has_hi.any()):
                hi = upper.to(torch.int8).argmax(2)
                lower = same & (ar_k[None, :, None] > ar_k[None, None, :])
                has_lo = lower.any(2)
                lo = lower.to(torch.int8).argmax(2)
                ext_hi = ext.gather(1, hi[:, :, None].expand(B, K, V))
                merge = has_hi[:, :, None] & ((cols[None, None, :] == Vb) | (ext & ext_hi))
                partner = cand_ac.gather(1, hi[:, :, None].expand(B, K, V))
                kill = has_lo[:, :, None] & merge.gather(1, lo[:, :, None].expand(B, K, V))
                cand_ac = torch.where(merge, self._combine(cand_ac, partner), cand_ac)
                cand_ac = cand_ac.masked_fill(kill, INACTIVE)
            # a repeat of the last token merges with the parent prefix's extension by that token
            tok_end = act & (lab >= 0) & (lab != Vb)
            parent = (phs[:, :, None] == hsh[:, None, :]) & (ln[:, :, None] == ln[:, None, :] + 1)
            parent &= tok_end[:, :, None] & act[:, None, :] & (lab[:, None, :] != lab[:, :, None])
            if bool(parent.any()):
                idx = lab.clamp(0, V - 1)
                from_parent = cand_ac.transpose(1, 2).gather(1, idx[:, :, None].expand(B, K, K))
                from_parent = from_parent.masked_fill(~parent, INACTIVE)
                got = parent.any(2)
                extra = self._reduce(from_parent, 2)
                own = cand_ac.gather(2, idx[:, :, None]).squeeze(2)
                merged = torch.where(got, self._combine(own, extra), own)
                cand_ac = cand_ac.scatter(2, idx[:, :, None], merged[:, :, None])
                flat_kill = torch.zeros(B, K * V, device=dev)
                target = ar_k[None, None, :] * V + idx[:, :, None]  # [B, i, j] -> slot j, label of i
                flat_kill.scatter_add_(1, target.reshape(B, -1), parent.reshape(B, -1).to(flat_kill.dtype))
                cand_ac = cand_ac.masked_fill(flat_kill.view(B, K, V) > 0, INACTIVE)
            cand_cx = cx[:, :, None].expand(B, K, V)
            if frow is not None or self.beam_beta:
                bonus = torch.zeros(B, K, V, device=dev)
                if frow is not None:
                    bonus[:, :, :Vb] = frow
                bonus = bonus + self.beam_beta
                cand_cx = cand_cx + torch.where(ext, bonus, 0.0)
            total = (cand_ac + cand_cx).view(B, K * V)
            if self.beam_threshold is not None:
                best = total.max(1, keepdim=True).values
                total = total.masked_fill(total < best - self.beam_threshold, INACTIVE)
            top, flat = total.topk(K, dim=1)
            src, c = flat // V, flat % V
            ok = top > INACTIVE
            was_ext = ext.view(B, K * V).gather(1, flat) & ok
            new_ac = cand_ac.view(B, K * V).gather(1, flat).masked_fill(~ok, INACTIVE)
            new_cx = cand_cx.reshape(B, K * V).gather(1, flat)
            prev_h = hsh.gather(1, src)
            n_lab = c
            n_hsh = torch.where(was_ext, _hash_step(prev_h, c), prev_h)
            n_phs = torch.where(was_ext, prev_h, phs.gather(1, src))
            n_ln = ln.gather(1, src) + was_ext.long()
            keep = live[:, None]
            ac = torch.where(keep, new_ac, ac)
            cx = torch.where(keep, new_cx, cx)
            lab = torch.where(keep, n_lab, lab)
            hsh = torch.where(keep, n_hsh, hsh)
            phs = torch.where(keep, n_phs, phs)
            ln = torch.where(keep, n_ln, ln)
            step_src = torch.where(keep, src, ar_k[None, :].expand(B, K))
            bp_src.append(step_src)
            bp_tok.append(torch.where(keep & was_ext, c, -1))
            if keep_alignments:
                bp_lab.append(torch.where(keep, c, -1))
            if self.fusions:
                moved = keep & was_ext
                cpos = c.clamp(0, Vb - 1)
                for i in range(len(self.fusions)):
                    parent_state = fstates[i].gather(1, step_src)
                    stepped = fnext[i].gather(1, step_src[:, :, None].expand(B, K, Vb)).gather(2, cpos[:, :, None])
                    fstates[i] = torch.where(moved, stepped.squeeze(2), parent_state)
                    fnext[i] = fnext[i].gather(1, step_src[:, :, None].expand(B, K, Vb))
                frow = frow.gather(1, step_src[:, :, None].expand(B, K, Vb))
                if bool(moved.any()):
                    sel = moved.view(-1)
                    rows, nexts = self._fusion_rows([s.reshape(-1)[sel] for s in fstates])
                    frow = frow.reshape(B * K, Vb).clone()
                    frow[sel] = rows
                    frow = frow.view(B, K, Vb)
                    for i in range(len(self.fusions)):
                        nf = fnext[i].reshape(B * K, Vb).clone()
                        nf[sel] = nexts[i].to(nf.dtype)
                        fnext[i] = nf.view(B, K, Vb)
        return self._finish(ac, cx, hsh, ln, fstates, bp_src, bp_tok, bp_lab, lengths, keep_alignments)

    def _finish(self, ac, cx, hsh, ln, fstates, bp_src, bp_tok, bp_lab, lengths, keep_alignments) -> BeamSearchResult:
        B, K = ac.shape
        dev = ac.device
        ar_k = torch.arange(K, device=dev)
        act = ac > INACTIVE
        # the blank-ending and token-ending slots of one prefix become one hypothesis
        same = (hsh[:, :, None] == hsh[:, None, :]) & (ln[:, :, None] == ln[:, None, :])
        same &= act[:, :, None] & act[:, None, :]
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
