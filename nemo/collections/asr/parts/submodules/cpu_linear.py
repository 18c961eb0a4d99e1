"""Linear + Swish for CPU inference through oneDNN's fused matmul (bias and Swish in the same kernel).

The fused kernel is used for `silu=True` without gradients on float32 CPU tensors only (it has no backward; a
separate Swish pass costs ~50% of the matmul at these sizes, while plain linears are no faster through oneDNN);
anywhere else, or with `set_onednn_linear(False)`, it is `F.linear` (+ `F.silu`). Same values to float32 rounding.
"""

from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ["linear", "set_onednn_linear"]

_STATE = {"enabled": hasattr(torch.ops.mkldnn, "_linear_pointwise") and torch.backends.mkldnn.is_available()}


def set_onednn_linear(enabled: bool) -> bool:
    """Turn the fused CPU path on or off; returns the previous setting."""
    previous = _STATE["enabled"]
    _STATE["enabled"] = bool(enabled) and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    return previous


def _fused_ok(x: torch.Tensor, weight: torch.Tensor) -> bool:
    return (_STATE["enabled"] and x.device.type == "cpu" and x.dtype == torch.float32
            and weight.dtype == torch.float32 and not torch.is_grad_enabled() and not torch.jit.is_tracing()
            and not torch.jit.is_scripting() and not torch.onnx.is_in_onnx_export()
            and not torch.is_autocast_enabled("cpu"))  # under autocast F.linear runs in the autocast dtype


def linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None, silu: bool = False
           ) -> torch.Tensor:
    """x @ weight^T + bias, then Swish when `silu`."""
    if silu and _fused_ok(x, weight):
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "swish", [], "")
    y = F.linear(x, weight, bias)
    return F.silu(y) if silu else y
