"""Transducer lattice (RNN-T, TDT, multi-blank) in PyTorch: forward-backward over anti-diagonals with an
analytic gradient, the way NeMo's numba kernels define it (sigma, FastEmit, per-utterance gradient clamping)."""

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch

_NEG_INF = float("-inf")


@dataclass(frozen=True)
class LatticeSpec:
    """The arcs leaving each lattice node (t, u).

    `blank_arcs`: (duration >= 1, token column, duration-logit index or None) -- stay on u, advance t by duration.
    `label_arcs`: (duration >= 0, duration-logit index or None) -- emit target u, advance t by duration.
    `sigma` is subtracted from every token log-prob (logit under-normalisation); `fastemit_lambda` scales the
    gradient of label arcs by (1 + lambda) and the cost by (1 + lambda); `clamp` > 0 clips each utterance's
    token-logit gradient to [-clamp, clamp] before the reduction weights apply.
    """

    blank_arcs: Tuple[Tuple[int, int, Optional[int]], ...]
    label_arcs: Tuple[Tuple[int, Optional[int]], ...]
    sigma: float = 0.0
    fastemit_lambda: float = 0.0
    clamp: float = 0.0

    @property
    def max_duration(self) -> int:
        return max([d for d, _, _ in self.blank_arcs] + [d for d, _ in self.label_arcs])


def rnnt_spec(blank: int, fastemit_lambda: float = 0.0, clamp: float = 0.0, sigma: float = 0.0) -> LatticeSpec:
    """Standard RNN-T: blank advances one frame, a label stays on the frame."""
    return LatticeSpec(((1, blank, None),), ((0, None),), sigma, fastemit_lambda, clamp)


def tdt_spec(blank: int, durations: Sequence[int], sigma: float = 0.0, fastemit_lambda: float = 0.0,
             clamp: float = 0.0) -> LatticeSpec:
    """Token-and-duration transducer: every token (blank included) carries one of `durations`; blank needs >= 1."""
    durations = [int(d) for d in durations]
    if not durations or min(durations) < 0 or max(durations) < 1:
        raise ValueError(f"TDT `durations` must be non-negative integers with at least one >= 1, got {durations}")
    blank_arcs = tuple((d, blank, j) for j, d in enumerate(durations) if d > 0)
    label_arcs = tuple((d, j) for j, d in enumerate(durations))
    return LatticeSpec(blank_arcs, label_arcs, sigma, fastemit_lambda, clamp)


def multiblank_spec(blank: int, big_blank_durations: Sequence[int], sigma: float = 0.0,
                    fastemit_lambda: float = 0.0, clamp: float = 0.0) -> LatticeSpec:
    """Multi-blank transducer: the standard blank (last column) advances 1, big blank i (column blank-1-i) d_i."""
    big = [int(d) for d in big_blank_durations]
    if any(d < 1 for d in big):
        raise ValueError(f"`big_blank_durations` must be positive integers, got {big}")
    blank_arcs = ((1, blank, None),) + tuple((d, blank - 1 - i, None) for i, d in enumerate(big))
    return LatticeSpec(blank_arcs, ((0, None),), sigma, fastemit_lambda, clamp)


def _skew_index(rows: int, cols: int, device) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices mapping anti-diagonal n and column u to row t = n - u (and which are inside [0, rows))."""
    n = torch.arange(rows + cols - 1, device=device)[:, None]
    u = torch.arange(cols, device=device)[None, :]
    t = n - u
    valid = (t >= 0) & (t < rows)
    return t.clamp(0, rows - 1), u.expand_as(t), valid


def _skew(x: torch.Tensor) -> torch.Tensor:
    """(B, R, C) -> (B, R + C - 1, C) with out[:, n, u] = x[:, n - u, u] (-inf outside the grid)."""
    t, u, valid = _skew_index(x.shape[1], x.shape[2], x.device)
    return x[:, t, u].masked_fill(~valid, _NEG_INF)


def _unskew(xs: torch.Tensor, rows: int) -> torch.Tensor:
    """(B, N, C) anti-diagonal layout -> (B, rows, C) with out[:, t, u] = xs[:, t + u, u]."""
    cols = xs.shape[2]
    t = torch.arange(rows, device=xs.device)[:, None]
    u = torch.arange(cols, device=xs.device)[None, :]
    return xs[:, t + u, u.expand(rows, cols)]


def _logsumexp(terms):
    return terms[0] if len(terms) == 1 else torch.logsumexp(torch.stack(terms), dim=0)


class _Lattice:
    """Arc weights on a (B, T + 1, U + 1) grid; row T only holds the terminal node of full-length utterances."""

    def __init__(self, logits, num_durations, targets, input_lengths, target_lengths, spec: LatticeSpec):
        B, T, U1, width = logits.shape
        self.B, self.T, self.U1, self.spec = B, T, U1, spec
        self.num_tokens = width - num_durations
        dev = logits.device
        x = logits[..., : self.num_tokens]
        lse = torch.logsumexp(x, dim=-1)
        self.lse = lse
        y = torch.zeros(B, U1, dtype=torch.long, device=dev)
        if U1 > 1:
            y[:, : U1 - 1] = targets[:, : U1 - 1].clamp(0, x.shape[-1] - 1)
        self.targets = y
        label_lp = x.gather(-1, y[:, None, :, None].expand(B, T, U1, 1)).squeeze(-1) - lse - spec.sigma
        dur_lp = torch.log_softmax(logits[..., self.num_tokens:], dim=-1) if num_durations else None

        t = torch.arange(T + 1, device=dev)[None, :, None]
        u = torch.arange(U1, device=dev)[None, None, :]
        Tb = input_lengths.view(B, 1, 1)
        Ub = target_lengths.view(B, 1, 1)

        def pad_row(w):
            return torch.cat([w, w.new_full((B, 1, U1), _NEG_INF)], dim=1)

        self.blank_w, self.label_w = [], []
        column_lp = {}
        for d, col, j in spec.blank_arcs:
            if col not in column_lp:
                column_lp[col] = x[..., col] - lse - spec.sigma
            w = column_lp[col]
            if j is not None:
                w = w + dur_lp[..., j]
            # a blank lands at most on frame T_b, and on frame T_b only as the final arc (u == U_b)
            bad = (t + d > Tb) | ((t + d == Tb) & (u != Ub)) | (u > Ub)
            self.blank_w.append(pad_row(w).masked_fill(bad, _NEG_INF))
        for d, j in spec.label_arcs:
            w = label_lp if j is None else label_lp + dur_lp[..., j]
            bad = (t + d >= Tb) | (u >= Ub)
            self.label_w.append(pad_row(w).masked_fill(bad, _NEG_INF))
        self.terminal = (t == Tb) & (u == Ub)

    def forward_backward(self):
        """Alphas (B, T+1, U+1), betas (B, T+1+D, U+1) and the log-likelihood per utterance."""
        spec, B, U1 = self.spec, self.B, self.U1
        R = self.T + 1
        blanks = [(d, _skew(w)) for (d, _, _), w in zip(spec.blank_arcs, self.blank_w)]
        labels = [(d, _skew(w)) for (d, _), w in zip(spec.label_arcs, self.label_w)]
        N = R + U1 - 1
        ref = blanks[0][1]

        # alpha: dummy column 0 so a label arc reads column u for destination u + 1
        A = ref.new_full((B, N, U1 + 1), _NEG_INF)
        A[:, 0, 1] = 0.0
        labels_shift = [(d, torch.cat([ref.new_full((B, N, 1), _NEG_INF), w[:, :, : U1 - 1]], dim=2))
                        for d, w in labels]
        for n in range(1, N):
            terms = [A[:, n - d, 1:] + w[:, n - d] for d, w in blanks if n - d >= 0]
            terms += [A[:, n - d - 1, :U1] + w[:, n - d - 1] for d, w in labels_shift if n - d - 1 >= 0]
            if terms:
                A[:, n, 1:] = _logsumexp(terms)
        alpha = _unskew(A[:, :, 1:], R)

        # beta: dummy column U1 and extra diagonals past the grid stay -inf
        dmax = spec.max_duration
        Bt = ref.new_full((B, N + dmax + 2, U1 + 1), _NEG_INF)
        term = _skew(torch.where(self.terminal, 0.0, _NEG_INF).to(ref.dtype))
        for n in range(N - 1, -1, -1):
            terms = [Bt[:, n + d, :U1] + w[:, n] for d, w in blanks]
            terms += [Bt[:, n + d + 1, 1:] + w[:, n] for d, w in labels]
            Bt[:, n, :U1] = torch.maximum(_logsumexp(terms), term[:, n])
        beta = _unskew(Bt[:, :, :U1], R + dmax)

        ll = alpha[self.terminal.expand(B, R, U1)]
        return alpha, beta, ll


class TransducerLatticeLoss(torch.autograd.Function):
    """Per-utterance cost -(1 + lambda) * log P(targets | logits) with NeMo's (FastEmit, clamp) gradient; the last
    `num_durations` logits (TDT) are duration logits, the rest token logits."""

    @staticmethod
    def forward(ctx, logits, num_durations, targets, input_lengths, target_lengths, spec):
        with torch.no_grad():
            lat = _Lattice(logits.detach(), num_durations, targets, input_lengths, target_lengths, spec)
            alpha, beta, ll = lat.forward_backward()
        ctx.spec = spec
        ctx.lattice = lat
        ctx.num_durations = num_durations
        ctx.save_for_backward(logits, alpha, beta, ll)
        return -(1.0 + spec.fastemit_lambda) * ll

    @staticmethod
    def backward(ctx, grad_costs):
        logits, alpha, beta, ll = ctx.saved_tensors
        spec, lat, nd = ctx.spec, ctx.lattice, ctx.num_durations
        B, T, U1, V = lat.B, lat.T, lat.U1, lat.num_tokens
        scale = 1.0 + spec.fastemit_lambda
        with torch.no_grad():
            ll_safe = torch.where(torch.isfinite(ll), ll, torch.zeros_like(ll)).view(B, 1, 1)
            a = alpha[:, :T] - ll_safe
            beta_next_u = torch.cat([beta[:, :, 1:], beta.new_full((B, beta.shape[1], 1), _NEG_INF)], dim=2)

            occ_total = torch.zeros_like(a)
            blank_cols = {}
            dur_occ = logits.new_zeros((B, T, U1, nd)) if nd else None
            for (d, col, j), w in zip(spec.blank_arcs, lat.blank_w):
                occ = torch.exp(a + w[:, :T] + beta[:, d: d + T])
                occ_total += occ
                blank_cols[col] = blank_cols.get(col, 0) + occ
                if j is not None:
                    dur_occ[..., j] += occ
            occ_label = torch.zeros_like(a)
            for (d, j), w in zip(spec.label_arcs, lat.label_w):
                occ = torch.exp(a + w[:, :T] + beta_next_u[:, d: d + T])
                occ_label += occ
                if j is not None:
                    dur_occ[..., j] += occ

            grad = torch.empty_like(logits)
            tok = grad[..., :V]
            tok.copy_(logits[..., :V])  # softmax in place: exp(x - logsumexp)
            tok.sub_(lat.lse.unsqueeze(-1)).exp_()
            tok.mul_((occ_total + scale * occ_label).unsqueeze(-1))
            for col, occ in blank_cols.items():
                tok[..., col] -= occ
            tok.scatter_add_(-1, lat.targets[:, None, :, None].expand(B, T, U1, 1), (-scale * occ_label)[..., None])
            if spec.clamp > 0.0:
                tok.clamp_(-spec.clamp, spec.clamp)
            if nd:
                if any(j is not None for _, _, j in spec.blank_arcs):
                    # d(-log P)/d(duration logit) = p(duration) * (occupancy summed over durations) - occupancy
                    p_dur = torch.softmax(logits[..., V:], dim=-1)
                    grad[..., V:] = p_dur * dur_occ.sum(-1, keepdim=True) - dur_occ
                else:
                    grad[..., V:] = 0.0
            grad.mul_(grad_costs.view(B, 1, 1, 1).to(grad.dtype))
        return grad, None, None, None, None, None


def transducer_loss(logits: torch.Tensor, num_durations: int, targets: torch.Tensor, input_lengths: torch.Tensor,
                    target_lengths: torch.Tensor, spec: LatticeSpec) -> torch.Tensor:
    """Per-utterance transducer costs (B,) for raw or log-softmaxed joint outputs (B, T, U+1, V[+durations])."""
    return TransducerLatticeLoss.apply(logits, int(num_durations), targets.long(), input_lengths.long(),
                                       target_lengths.long(), spec)
