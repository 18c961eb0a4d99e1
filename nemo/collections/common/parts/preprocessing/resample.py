"""Band-limited resampling: a Kaiser-windowed sinc interpolator (polyphase for rational ratios).

No librosa/scipy dependency, so results differ from NeMo's librosa/soxr resampling in the last bits,
not in content.
"""

import functools
import math

import numpy as np

_RESAMPLE_WIDTHS = {"kaiser_best": 32, "soxr_vhq": 32, "soxr_hq": 24, "kaiser_fast": 8, "soxr_qq": 8}


def _kaiser_sinc(dist: np.ndarray, cutoff: float, half: int, beta: float = 8.6) -> np.ndarray:
    u = np.clip(dist / (half + 1), -1.0, 1.0)
    return cutoff * np.sinc(cutoff * dist) * np.i0(beta * np.sqrt(1.0 - u * u)) / np.i0(beta)


@functools.lru_cache(maxsize=32)
def _polyphase_bank(up: int, down: int, cutoff: float, half: int) -> np.ndarray:
    """(up, K) filters: row p produces outputs n = p (mod up), whose input position is n*down/up."""
    phases = np.arange(up)
    base = (phases * down) // up
    offsets = np.arange(-half + 1, half + 1)
    bank = np.zeros((up, int(base[-1]) + 2 * half), dtype=np.float32)
    dist = (phases * down / up - base)[:, None] - offsets[None, :]
    cols = base[:, None] + offsets[None, :] + half - 1
    bank[phases[:, None], cols] = _kaiser_sinc(dist, cutoff, half)
    return bank


def _resample_direct(x: np.ndarray, ratio: float, n_out: int, cutoff: float, half: int) -> np.ndarray:
    """Any ratio: evaluate the windowed sinc at each output position (slower; used for odd ratios)."""
    padded = np.concatenate([np.zeros((half, x.shape[1])), x, np.zeros((half + 1, x.shape[1]))])
    offsets = np.arange(-half + 1, half + 1)
    out = np.empty((n_out, x.shape[1]), dtype=np.float64)
    chunk = max(1, 262144 // offsets.size)
    for start in range(0, n_out, chunk):
        pos = np.arange(start, min(n_out, start + chunk)) / ratio
        taps = np.floor(pos).astype(np.int64)[:, None] + offsets[None, :]
        weights = _kaiser_sinc(pos[:, None] - taps, cutoff, half)
        out[start : start + len(pos)] = np.einsum("ck,ckh->ch", weights, padded[taps + half])
    return out


def resample(
    samples: np.ndarray, orig_sr: float, target_sr: float, res_type: str = "soxr_hq", rolloff: float = 0.95
) -> np.ndarray:
    """Resample `samples` (time on axis 0) from `orig_sr` to `target_sr`; length = ceil(n * ratio)."""
    samples = np.asarray(samples)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    if orig_sr == target_sr or samples.shape[0] == 0:
        return samples.astype(np.float32, copy=True)
    ratio = float(target_sr) / float(orig_sr)
    cutoff = min(1.0, ratio) * rolloff  # normalised to the input Nyquist frequency
    half = int(math.ceil(_RESAMPLE_WIDTHS.get(res_type, 16) / cutoff))
    x = samples.astype(np.float32)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    n_in = x.shape[0]
    n_out = int(math.ceil(n_in * ratio))
    up, down = (0, 0)
    if float(orig_sr).is_integer() and float(target_sr).is_integer():
        g = math.gcd(int(orig_sr), int(target_sr))
        up, down = int(target_sr) // g, int(orig_sr) // g
    if 0 < up <= 2000:
        bank = _polyphase_bank(up, down, cutoff, half)  # (up, K)
        frames = -(-n_out // up)
        left = half - 1
        length = max((frames - 1) * down + bank.shape[1], left + n_in)
        out = np.empty((frames * up, x.shape[1]), dtype=np.float32)
        for c in range(x.shape[1]):
            padded = np.zeros(length, dtype=np.float32)
            padded[left : left + n_in] = x[:, c]
            windows = np.lib.stride_tricks.sliding_window_view(padded, bank.shape[1])[::down][:frames]
            # row m, phase p -> output m * up + p; einsum avoids multi-threaded BLAS (slow on busy CPUs)
            out[:, c] = np.einsum("fk,pk->fp", windows, bank).reshape(-1)
        out = out[:n_out]
    else:
        out = _resample_direct(x.astype(np.float64), ratio, n_out, cutoff, half)
    out = np.ascontiguousarray(out, dtype=np.float32)
    return out[:, 0] if squeeze else out
