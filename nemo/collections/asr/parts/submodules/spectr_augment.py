"""SpecAugment and SpecCutout (spec §6.2-§6.3), drawing through a torch.Generator.

`rng` may be None (torch's global RNG, so `torch.manual_seed`/`seed_everything` makes runs
repeat), an int seed, a `torch.Generator`, or a `random.Random` (a seed is drawn from it once).
"""

import random
from typing import Optional, Union

import torch
from torch import nn


def make_generator(rng) -> Optional[torch.Generator]:
    """Turn the `rng` argument into a CPU torch.Generator (None keeps torch's global RNG)."""
    if rng is None:
        return None
    if isinstance(rng, torch.Generator):
        return rng
    if isinstance(rng, random.Random):
        rng = rng.randint(0, 2**63 - 1)
    if isinstance(rng, int):
        return torch.Generator().manual_seed(rng)
    raise TypeError(f"rng must be None, an int seed, a torch.Generator or a random.Random, got {type(rng).__name__}")


def _fill(spec: torch.Tensor, hit: torch.Tensor, value: float) -> torch.Tensor:
    """`spec` with `value` where `hit` (broadcast); multiplies, which is much faster than masked_fill on CPU."""
    out = spec * (~hit).to(spec.dtype)
    return out + hit.to(spec.dtype) * value if value != 0 else out


def _randint(gen, high_inclusive: torch.Tensor, size) -> torch.Tensor:
    """Integers uniform in [0, high] (inclusive, per element of a broadcastable `high`)."""
    u = torch.rand(size, generator=gen)
    return torch.minimum((u * (high_inclusive + 1)).long(), high_inclusive.long())


class SpecCutout(nn.Module):
    """Zero `rect_masks` random rectangles (up to rect_freq x rect_time) per utterance."""

    def __init__(self, rect_masks: int = 0, rect_time: int = 5, rect_freq: int = 20, rng=None):
        super().__init__()
        self.rect_masks = rect_masks
        self.rect_time = rect_time
        self.rect_freq = rect_freq
        self._gen = make_generator(rng)

    @torch.no_grad()
    def forward(self, input_spec: torch.Tensor) -> torch.Tensor:
        batch, n_freq, n_time = input_spec.shape
        shape = (batch, self.rect_masks)
        fx = _randint(self._gen, torch.tensor(max(n_freq - self.rect_freq, 0)), shape)
        ty = _randint(self._gen, torch.tensor(max(n_time - self.rect_time, 0)), shape)
        wx = _randint(self._gen, torch.tensor(self.rect_freq), shape)
        wy = _randint(self._gen, torch.tensor(self.rect_time), shape)
        device = input_spec.device
        fx, ty, wx, wy = (t.to(device) for t in (fx, ty, wx, wy))
        f_idx = torch.arange(n_freq, device=device)[None, None, :]
        t_idx = torch.arange(n_time, device=device)[None, None, :]
        f_in = (f_idx >= fx[..., None]) & (f_idx < (fx + wx)[..., None])  # (B, n, D)
        t_in = (t_idx >= ty[..., None]) & (t_idx < (ty + wy)[..., None])  # (B, n, T)
        rect = (f_in.unsqueeze(-1) & t_in.unsqueeze(-2)).any(dim=1)  # (B, D, T)
        return input_spec * (~rect).to(input_spec.dtype)


class SpecAugment(nn.Module):
    """Random time masks then frequency masks; `time_width` in (0, 1] is a fraction of each length."""

    def __init__(
        self,
        freq_masks: int = 0,
        time_masks: int = 0,
        freq_width: int = 10,
        time_width: Union[int, float] = 10,
        rng=None,
        mask_value: float = 0.0,
        use_vectorized_code: bool = True,
    ):
        super().__init__()
        self._gen = make_generator(rng)
        self.freq_masks = freq_masks
        self.time_masks = time_masks
        self.freq_width = freq_width
        self.time_width = time_width
        self.mask_value = mask_value
        self.use_vectorized_code = use_vectorized_code
        if isinstance(time_width, int):
            self.adaptive_temporal_width = False
        else:
            if time_width > 1.0 or time_width < 0.0:
                raise ValueError("If `time_width` is a float value, must be in range [0, 1]")
            self.adaptive_temporal_width = True

    @torch.no_grad()
    def forward(self, input_spec: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        if self.use_vectorized_code:
            return self._forward_vectorized(input_spec, length)
        return self._forward_legacy(input_spec, length)

    def _forward_vectorized(self, input_spec: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        batch, n_freq, n_time = input_spec.shape
        length = length.detach().to("cpu", torch.float32)
        if self.time_masks > 0:
            if self.adaptive_temporal_width:
                width = torch.clamp(self.time_width * length, max=n_time)[:, None]
            else:
                width = torch.full((batch, 1), float(self.time_width))
            mask_width = (torch.rand(batch, self.time_masks, generator=self._gen) * width).long()
            start = (torch.rand(batch, self.time_masks, generator=self._gen) * (length[:, None] - mask_width)).long()
            input_spec = self._mask_span(input_spec, start, mask_width, axis=2)
        if self.freq_masks > 0:
            mask_width = (torch.rand(batch, self.freq_masks, generator=self._gen) * self.freq_width).long()
            start = (torch.rand(batch, self.freq_masks, generator=self._gen) * (n_freq - mask_width)).long()
            input_spec = self._mask_span(input_spec, start, mask_width, axis=1)
        return input_spec

    def _mask_span(self, spec: torch.Tensor, start: torch.Tensor, width: torch.Tensor, axis: int) -> torch.Tensor:
        """Fill positions start <= i < start + width of any mask along `axis` with mask_value."""
        start, width = start.to(spec.device), width.to(spec.device)
        idx = torch.arange(spec.shape[axis], device=spec.device)[None, None, :]
        hit = ((idx >= start[..., None]) & (idx < (start + width)[..., None])).any(dim=1)  # (B, size)
        hit = hit.unsqueeze(2) if axis == 1 else hit.unsqueeze(1)
        return _fill(spec, hit, self.mask_value)

    def _forward_legacy(self, input_spec: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        batch, n_freq, _ = input_spec.shape
        mask = torch.zeros(input_spec.shape, dtype=torch.bool)
        lengths = [int(v) for v in length.detach().cpu()]

        def randint(high: int) -> int:
            return int(torch.randint(0, max(high, 0) + 1, (1,), generator=self._gen))

        for idx in range(batch):
            for _ in range(self.freq_masks):
                x_left = randint(n_freq - self.freq_width)
                w = randint(self.freq_width)
                mask[idx, x_left : x_left + w, :] = True
            for _ in range(self.time_masks):
                if self.adaptive_temporal_width:
                    max_width = max(1, int(lengths[idx] * self.time_width))
                else:
                    max_width = self.time_width
                y_left = randint(max(1, lengths[idx] - max_width))
                w = randint(max_width)
                mask[idx, :, y_left : y_left + w] = True
        return _fill(input_spec, mask.to(input_spec.device), self.mask_value)
