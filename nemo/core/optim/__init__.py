"""Optimizers, learning-rate schedulers and the `cfg.optim` -> (optimizer, scheduler) setup used by ModelPT."""

from nemo.core.optim.lr_scheduler import (
    AVAILABLE_SCHEDULERS,
    CosineAnnealing,
    InverseSquareRootAnnealing,
    NoamAnnealing,
    NoamHoldAnnealing,
    PolynomialDecayAnnealing,
    PolynomialHoldDecayAnnealing,
    SquareAnnealing,
    SquareRootAnnealing,
    T5InverseSquareRootAnnealing,
    WarmupAnnealing,
    WarmupHoldAnnealLinear,
    WarmupHoldAnnealOneMinusSquareRoot,
    WarmupHoldPolicy,
    WarmupPolicy,
    compute_max_steps,
    get_scheduler,
    prepare_lr_scheduler,
    register_scheduler,
)
from nemo.core.optim.novograd import Novograd
from nemo.core.optim.optimizers import AVAILABLE_OPTIMIZERS, get_optimizer, parse_optimizer_args, register_optimizer
from nemo.core.optim.setup import build_param_groups, setup_optimization
