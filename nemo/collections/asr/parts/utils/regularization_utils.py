"""Regularisation helpers shared by ASR encoders."""

from typing import List

__all__ = ["compute_stochastic_depth_drop_probs"]


def compute_stochastic_depth_drop_probs(num_layers: int, stochastic_depth_drop_prob: float = 0.0,
                                        stochastic_depth_mode: str = "linear",
                                        stochastic_depth_start_layer: int = 1) -> List[float]:
    """Per-layer drop probabilities: 0 before `start_layer`, then linear up to (or uniform at) the given value."""
    if not 0 <= stochastic_depth_drop_prob < 1.0:
        raise ValueError(f"stochastic_depth_drop_prob has to be in [0, 1), got {stochastic_depth_drop_prob}")
    if not 1 <= stochastic_depth_start_layer <= num_layers:
        raise ValueError(f"stochastic_depth_start_layer has to be in [1, num layers = {num_layers}], "
                         f"got {stochastic_depth_start_layer}")
    probs = [0.0] * stochastic_depth_start_layer
    remaining = num_layers - stochastic_depth_start_layer
    if remaining > 0:
        if stochastic_depth_mode == "linear":
            probs += [i / remaining * stochastic_depth_drop_prob for i in range(1, remaining + 1)]
        elif stochastic_depth_mode == "uniform":
            probs += [stochastic_depth_drop_prob] * remaining
        else:
            raise ValueError(f'stochastic_depth_mode has to be one of ["linear", "uniform"], '
                             f'got {stochastic_depth_mode!r}')
    return probs
