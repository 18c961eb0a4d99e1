"""Leading/trailing silence trimming by frame energy (librosa.effects.trim's rule)."""

import numpy as np


def trim_silence(
    samples: np.ndarray, top_db: float = 60.0, frame_length: int = 2048, hop_length: int = 512
) -> np.ndarray:
    """Cut leading/trailing frames quieter than `top_db` below the loudest frame (librosa.effects.trim rule)."""
    mono = samples if samples.ndim == 1 else samples.mean(axis=1)
    if mono.size == 0:
        return samples
    pad = frame_length // 2
    padded = np.pad(mono.astype(np.float64), (pad, pad))
    n_frames = 1 + (padded.size - frame_length) // hop_length
    squares = padded * padded
    if frame_length % hop_length == 0:  # frame energy = sum of whole hop-sized blocks
        per_frame = frame_length // hop_length
        blocks = squares[: (n_frames - 1 + per_frame) * hop_length].reshape(-1, hop_length).sum(axis=1)
        power = np.lib.stride_tricks.sliding_window_view(blocks, per_frame).sum(axis=1)[:n_frames] / frame_length
    else:
        cumulative = np.concatenate([[0.0], np.cumsum(squares)])
        starts = hop_length * np.arange(n_frames)
        power = np.maximum(cumulative[starts + frame_length] - cumulative[starts], 0.0) / frame_length
    ref = power.max()
    if ref <= 0:
        return samples[:0]
    db = 10.0 * np.log10(np.maximum(power, 1e-10) / ref)
    loud = np.flatnonzero(db > -top_db)
    if loud.size == 0:
        return samples[:0]
    start = int(loud[0] * hop_length)
    end = min(mono.size, int((loud[-1] + 1) * hop_length))
    return samples[start:end]
