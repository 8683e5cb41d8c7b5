"""Runs of a per-frame boolean mask (voice activity, turns): find, bridge, drop, widen."""
from __future__ import annotations

import numpy as np


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of the True runs of a 1-D bool array."""
    d = np.diff(np.concatenate([[0], np.asarray(mask).astype(np.int8), [0]]))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def bridge_gaps(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill False gaps of at most ``max_gap`` frames between two True runs."""
    out = np.asarray(mask, dtype=bool).copy()
    starts, ends = runs(out)
    for a, b in zip(ends[:-1], starts[1:]):
        if b - a <= max_gap:
            out[a:b] = True
    return out


def drop_short(mask: np.ndarray, min_len: int) -> np.ndarray:
    """Clear True runs shorter than ``min_len`` frames."""
    out = np.asarray(mask, dtype=bool).copy()
    for a, b in zip(*runs(out)):
        if b - a < min_len:
            out[a:b] = False
    return out


def dilate(mask: np.ndarray, frames: int) -> np.ndarray:
    """Widen the True runs of a 1-D mask by ``frames`` on each side."""
    padded = np.pad(np.asarray(mask, dtype=np.float32), frames)
    return np.convolve(padded, np.ones(2 * frames + 1), mode="valid") > 0
