"""Blinks: the eyelid closure curve (shared with the corpus targets) and the runtime's
complement to the model's own blinks.

The sampler keeps most of what the model learned but, at the few steps an artist can wait for,
it averages away some brief random events: the default model blinks 5-10 times a minute where
people blink 15-20 times. ``complement_blinks`` keeps every blink the model made and adds
blinks where research puts them (at the person's own turn starts and with large gaze shifts,
then anywhere) until the person blinks at least ``per_minute`` times, never closer than
MIN_GAP_S to another blink.
"""
from __future__ import annotations

import numpy as np

from .channels import (GAZE_PITCH, GAZE_SLICE, GAZE_YAW, HEAD_PITCH, HEAD_SLICE, HEAD_YAW, ROLE_BOTH, ROLE_SPEAKING,
                       channel_index)

# Adults in conversation blink ~15-20 times a minute (Bentivoglio et al. 1997); the corpus's
# people, counted as blink_onsets counts, blink 15.3-16.4 (docs/evaluation/OBJECTIVE.md,
# "Guidance per axis"), so the complement aims at 16 and the models' own extras stay near people's.
NATURAL_PER_MINUTE = 16.0
MIN_GAP_S = 0.7
BLOCK_S = 20.0                  # blinks are topped up per block: an edit moves only nearby ones
CLOSED = 0.5                    # eyeBlink weight above which the eye counts as shut
GAZE_SHIFT_DEG_PER_FRAME = 1.5  # eye-in-world speed of a saccade (> ~40 deg/s at 25 fps)
BLINK_CHANNELS = (channel_index("eyeBlinkLeft"), channel_index("eyeBlinkRight"))


def blink_curve(times: np.ndarray, onsets: list[float], rng: np.random.Generator) -> np.ndarray:
    """Eyelid closure 0..1: close fast (50-80 ms), stay shut 25-40 ms, open slower (90-140 ms):
    165-260 ms in all."""
    out = np.zeros_like(times)
    for t0 in onsets:
        c, h, o = rng.uniform(0.05, 0.08), rng.uniform(0.025, 0.04), rng.uniform(0.09, 0.14)
        amp = rng.uniform(0.92, 1.0)
        a, b = np.searchsorted(times, t0), np.searchsorted(times, t0 + c + h + o + 0.05)
        u = times[a:b] - t0
        close = np.sin(0.5 * np.pi * np.clip(u / c, 0, 1))
        open_ = 1.0 - np.clip((u - c - h) / o, 0, 1) ** 0.8
        v = amp * np.where(u < c, close, np.where(u < c + h, 1.0, np.clip(open_, 0, 1)))
        out[a:b] = np.maximum(out[a:b], v)
    return out


def blink_onsets(closure: np.ndarray, fps: float) -> np.ndarray:
    """Times (s) at which a closure curve (T,) crosses CLOSED upward."""
    shut = closure > CLOSED
    frames = np.flatnonzero(shut[1:] & ~shut[:-1]) + 1
    return np.concatenate([[0.0] if shut[0] else [], frames / fps])


def _event_times(motion: np.ndarray, roles: np.ndarray, fps: float) -> np.ndarray:
    """Moments people tend to blink: own turn starts, then the starts of large gaze shifts."""
    speaking = np.isin(roles, (ROLE_SPEAKING, ROLE_BOTH))
    turn_starts = np.flatnonzero(speaking[1:] & ~speaking[:-1]) + 1
    head, gaze = motion[:, HEAD_SLICE], motion[:, GAZE_SLICE]
    eye_in_world = np.stack([head[:, HEAD_YAW] + gaze[:, GAZE_YAW],          # (yaw, pitch), roughly
                             head[:, HEAD_PITCH] + gaze[:, GAZE_PITCH]], axis=1)
    speed = np.degrees(np.abs(np.diff(eye_in_world, axis=0)).sum(axis=1))
    fast = speed > GAZE_SHIFT_DEG_PER_FRAME
    shift_starts = np.flatnonzero(fast[1:] & ~fast[:-1]) + 1
    return np.concatenate([turn_starts, shift_starts]) / fps


def complement_blinks(motion: np.ndarray, roles: np.ndarray, fps: float, per_minute: float,
                      rng: np.random.Generator, keep_out: np.ndarray | None = None) -> np.ndarray:
    """One person's motion (T, D) with blinks added up to ``per_minute``; roles (T,);
    ``keep_out`` (T,) bool marks frames where no blink may start."""
    return add_blinks(motion, roles, fps, blinks_due(motion.shape[0], fps, per_minute), rng, keep_out)


def add_blinks(motion: np.ndarray, roles: np.ndarray, fps: float, wanted: int,
               rng: np.random.Generator, keep_out: np.ndarray | None = None) -> np.ndarray:
    """complement_blinks with the number of blinks wanted in the span given as a count."""
    n = motion.shape[0]
    duration = n / fps
    closure = motion[:, BLINK_CHANNELS].max(axis=1)
    existing = blink_onsets(closure, fps)
    missing = wanted - len(existing)
    if missing <= 0:
        return motion
    gap = int(round(MIN_GAP_S * fps))
    blocked = np.zeros(n + 1, bool)          # frames too close to a blink to start another
    if keep_out is not None:
        blocked[:n] = keep_out

    def block(frame: int) -> None:
        blocked[max(frame - gap + 1, 0):frame + gap] = True

    for t in existing:
        block(int(round(t * fps)))
    events = _event_times(motion, roles, fps)
    events = rng.permutation(events[rng.random(len(events)) < 0.5])     # about half of them
    anywhere = rng.uniform(0.0, max(duration - 0.3, 0.0), size=8 * missing + 8)
    added = []
    for t in np.concatenate([events, anywhere]):
        if len(added) == missing:
            break
        frame = int(round(t * fps))
        if not blocked[frame]:
            block(frame)
            added.append(frame / fps)
    curve = blink_curve(np.arange(n) / fps, added, rng)
    out = motion.copy()
    for c in BLINK_CHANNELS:
        out[:, c] = np.maximum(out[:, c], curve)
    return out


def block_size(fps: float, block_s: float = BLOCK_S) -> tuple[int, int]:
    """(frames per block, frames of context each side: the minimum gap between blinks)."""
    return max(int(round(block_s * fps)), 1), int(round(MIN_GAP_S * fps))


def blinks_due(frame: int, fps: float, per_minute: float) -> int:
    """Blinks wanted before ``frame``. A block wants blinks_due(end) - blinks_due(start): the
    blocks add up to the rate asked for, where rounding each block's own share would not
    (17 a minute in 20-s blocks is 5.67 a block, rounded to 6: 18 a minute)."""
    return int(round(per_minute * frame / fps / 60.0))


def complement_block(motion: np.ndarray, roles: np.ndarray, lo: int, a: int, b: int, n: int, k: int,
                     fps: float, per_minute: float, seed: tuple) -> np.ndarray:
    """Block k, frames [a, b) of n, with blinks topped up: (b - a, D). ``motion`` and ``roles``
    hold frames [lo, hi) around it (the minimum gap of context on each side, where there is
    one): the neighbours' own blinks count, and added blinks stay half a gap inside the
    block, so that two blocks' never crowd."""
    hi = lo + motion.shape[0]
    gap = block_size(fps)[1]
    keep_out = np.zeros(hi - lo, bool)
    keep_out[:a - lo + (gap // 2 if a > 0 else 0)] = True
    keep_out[b - lo - (gap // 2 if b < n else 0):] = True
    rng = np.random.default_rng([abs(int(s)) for s in seed] + [k])
    wanted = blinks_due(b, fps, per_minute) - blinks_due(a, fps, per_minute)
    part = add_blinks(motion, roles, fps, wanted, rng, keep_out)
    return part[a - lo:b - lo]


def complement_blinks_in_blocks(motion: np.ndarray, roles: np.ndarray, fps: float, per_minute: float,
                                seed: tuple, block_s: float = BLOCK_S) -> np.ndarray:
    """complement_blinks block by block, each block with its own random stream and seeing only
    the motion and roles in and just around it: a corrected turn (same seed) then moves the
    added blinks only where the motion changed, not all over the conversation."""
    n = motion.shape[0]
    size, gap = block_size(fps, block_s)
    out = motion.copy()
    for k, a in enumerate(range(0, n, size)):
        b = min(a + size, n)
        lo, hi = max(a - gap, 0), min(b + gap, n)
        out[a:b] = complement_block(motion[lo:hi], roles[lo:hi], lo, a, b, n, k, fps, per_minute, seed)
    return out
