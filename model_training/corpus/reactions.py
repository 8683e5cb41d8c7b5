"""What one person does because of what the other one does: the part of a conversation that
only a model reading its partner can learn (issue #12).

Each person's behaviour is first drawn from the dialogue's timing (behaviour.py, gazeplan.py);
then the listener reacts to the speaker's motion, which the audio does not reveal:
- gaze windows (Bavelas, Coates & Johnson 2002): a speaker's glance at the listener opens a
  short window in which the listener answers, most often with a nod, 0.2-0.5 s after the
  glance begins;
- gaze following (Kendon 1967; Argyle & Cook 1976): a listener who is looking away when the
  speaker's glance arrives looks back within a few hundred milliseconds, so mutual gaze forms
  again; the speaker's glance, not the words, sets when.
- mirroring (Chartrand & Bargh 1999; Louwerse et al. 2012, who found head movements matched
  between partners at lags of about a second): a listener slowly takes on the speaker's head
  tilt as in a mirror, each person with a gain and lag of their own.
Speakers' glances come from their own random gaze plan, and their tilts' sides from their own
random head motion, so the timing and the side are the partner's alone.
"""
from __future__ import annotations

import numpy as np

from .behaviour import DEG, Conversation, lowpass

GLANCE_NOD_P = 0.7              # share of the speaker's glances a listener answers with a nod
NOD_LAG = (0.2, 0.5)            # s after the glance begins
FOLLOW_P = 0.85                 # share of glances a listener looking away follows back
FOLLOW_LAG = (0.15, 0.4)        # s
SACCADE_S = 0.06
MIRROR_GAIN = (0.3, 0.7)        # share of the speaker's tilt the listener takes on
MIRROR_LAG = (0.5, 1.2)         # s
MIRROR_TAU = 0.4                # s: the listener's tilt follows slowly


def glance_onsets(speaker: int, conv: Conversation, at_partner: np.ndarray) -> list[float]:
    """Times the speaker turns their eyes to the listener while holding the floor (not at the
    very start of a turn, where the look is part of taking it)."""
    starts = np.flatnonzero(at_partner[1:] & ~at_partner[:-1]) + 1
    out = []
    for f in starts:
        t = f / conv.fps
        if any(a + 0.5 <= t < b for a, b in conv.floors[speaker]):
            out.append(float(t))
    return out


def answering_nods(glances: list[float], rng: np.random.Generator) -> list[tuple[float, float, float, int]]:
    """(start, amplitude rad, period s, count) of the listener's nods answering glances."""
    nods = []
    for t in glances:
        if rng.random() < GLANCE_NOD_P:
            nods.append((t + rng.uniform(*NOD_LAG), rng.uniform(3.0, 5.5) * DEG, rng.uniform(0.38, 0.55),
                         int(rng.integers(1, 3))))
    return nods


def follow_glances(offset: np.ndarray, at_partner: np.ndarray, glances: list[float], fps: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The listener's gaze offsets (T, 2) and at-partner mask with their aversions cut short at
    the speaker's glances: from a lag after each glance to the end of that aversion, they look
    at the speaker (a quick saccade back)."""
    offset, at_partner = offset.copy(), at_partner.copy()
    n = len(at_partner)
    for t in glances:
        if rng.random() >= FOLLOW_P:
            continue
        a = int(round((t + rng.uniform(*FOLLOW_LAG)) * fps))
        if a >= n or at_partner[a]:
            continue
        b = a
        while b < n and not at_partner[b]:
            b += 1
        ramp = max(1, int(round(SACCADE_S * fps)))
        k = np.arange(b - a)
        offset[a:b] *= np.clip(1.0 - (k + 1) / ramp, 0.0, 1.0)[:, None]
        at_partner[a:b] = k + 1 >= ramp
    return offset, at_partner


def mirror_tilts(rolls: np.ndarray, listening: np.ndarray, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Both people's head rolls (2, T) with the listener's mirroring the speaker's: while
    listening (weights in [0, 1], (2, T)), each adds minus a share of the partner's roll of a
    lag before, smoothed (a tilt to the speaker's right is answered by one to the listener's
    left, as in a mirror). Each person mirrors the partner's own roll, not the mirrored one."""
    out = rolls.copy()
    for p in (0, 1):
        lag = int(round(rng.uniform(*MIRROR_LAG) * fps))
        gain = rng.uniform(*MIRROR_GAIN)
        seen = np.concatenate([np.full(lag, rolls[1 - p, 0]), rolls[1 - p, :len(rolls[1 - p]) - lag]])
        out[p] -= gain * lowpass(seen * listening[p], MIRROR_TAU, fps)
    return out
