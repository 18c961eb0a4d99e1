"""Novograd: Adam-like momentum with one second moment per parameter tensor (layer-wise normalisation).

Written from the algorithm description (Ginsburg et al., 2019, and the project spec §7.5).
"""

import torch
from torch.optim import Optimizer


class Novograd(Optimizer):
    """Per-layer normalised gradient with momentum; optional grad averaging, AMSGrad and LUC.

    `luc` (layer-wise update clipping) bounds each layer's step to `luc_trust * ||p|| / ||m||`.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.95, 0.98),
        eps: float = 1e-8,
        weight_decay: float = 0,
        grad_averaging: bool = False,
        amsgrad: bool = False,
        luc: bool = False,
        luc_trust: float = 1e-3,
        luc_eps: float = 1e-8,
    ):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, grad_averaging=grad_averaging, amsgrad=amsgrad
        )
        super().__init__(params, defaults)
        # Optimizer-wide switches (not per parameter group).
        self.luc = luc
        self.luc_trust = luc_trust
        self.luc_eps = luc_eps

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter with a gradient; returns `closure()`'s loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise RuntimeError("Sparse gradients are not supported.")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros([], dtype=p.dtype, device=p.device)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = torch.zeros([], dtype=p.dtype, device=p.device)
                state["step"] += 1

                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                norm_sq = grad.pow(2).sum()
                if exp_avg_sq == 0:
                    exp_avg_sq.copy_(norm_sq)
                else:
                    exp_avg_sq.mul_(beta2).add_(norm_sq, alpha=1 - beta2)

                if group["amsgrad"]:
                    max_exp_avg_sq = state["max_exp_avg_sq"]
                    torch.max(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
                    denom = max_exp_avg_sq.sqrt().add_(group["eps"])
                else:
                    denom = exp_avg_sq.sqrt().add_(group["eps"])

                grad.div_(denom)  # in place, as NeMo does: p.grad holds the normalised gradient afterwards
                if group["weight_decay"] != 0:
                    grad.add_(p, alpha=group["weight_decay"])
                if group["grad_averaging"]:
                    grad.mul_(1 - beta1)
                exp_avg.mul_(beta1).add_(grad)

                lr = group["lr"]
                if self.luc:
                    ratio = self.luc_trust * p.norm() / (exp_avg.norm() + self.luc_eps)
                    p.add_(exp_avg, alpha=-float(min(ratio, lr)))
                else:
                    p.add_(exp_avg, alpha=-lr)
        return loss
