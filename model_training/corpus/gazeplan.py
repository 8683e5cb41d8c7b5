"""Gaze behaviour: where each person looks, by conversational role, and the geometry that
makes "looking at the partner" exact.

A plan is a sequence of episodes (look at the partner's eyes, or away by a yaw/pitch offset
from the partner direction in the rest head frame) joined by saccades; fixational movements
(micro-saccades between the partner's eyes, drift) are added on top. The rest-frame gaze
direction is then expressed in the rotated head (the eyes counter-rotate the head: VOR), which
is the same maths as ``geometry.gaze_toward``, so at-partner frames hit the partner's eye centre.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from model_runtime.geometry import (HeadPose, angles_to_direction, direction_to_angles, head_rotation_of,
                                    partner_in_head_frame)

from .behaviour import DEG, Conversation, Style, smooth_noise

# --- plan ----------------------------------------------------------------------------------

@dataclass
class GazePlan:
    offset: np.ndarray          # (T, 2) yaw/pitch offset from the partner direction (rest frame)
    at_partner: np.ndarray      # (T,) bool
    shifts: list[tuple[float, float]]   # (time, amplitude rad) of gaze shifts


def _lognormal(rng, median, sigma, lo, hi):
    return float(np.clip(median * math.exp(sigma * rng.standard_normal()), lo, hi))


def plan_gaze(p: int, conv: Conversation, partner_yaw: float, rng: np.random.Generator,
              style: Style) -> GazePlan:
    """Episodes of looking at the partner or away, by role; saccadic switches between them."""
    fps, n, dur = conv.fps, conv.num_frames, conv.duration
    own, other = conv.floors[p], conv.floors[1 - p]
    events = sorted({0.0, dur} | {t for a, b in own + other for t in (a, b)})
    # Aversions prefer the side of the rest forward direction (away from the partner side).
    toward_rest = -1.0 if partner_yaw > 0 else 1.0
    bias = 0.5 + 0.3 * min(abs(partner_yaw) / (60 * DEG), 1.0)

    def floor_at(fl, t):
        for a, b in fl:
            if a <= t < b:
                return a, b
        return None

    def away_target(scale_deg):
        side = toward_rest if rng.random() < bias else -toward_rest
        yaw = side * rng.uniform(*scale_deg) * DEG
        if abs(partner_yaw + yaw) > max(abs(partner_yaw), 45 * DEG):
            yaw = -yaw        # not past a partner who is already far to the side
        r = rng.random()
        pitch = (rng.uniform(5, 15) if r < 0.4 else rng.uniform(-4, 4) if r < 0.65
                 else -rng.uniform(5, 18)) * DEG
        return yaw, pitch

    end_look = rng.uniform(0.8, 1.5)     # s before a turn's end the speaker looks back
    episodes = []        # (t0, t1, yaw_off, pitch_off)
    t = 0.0
    while t < dur - 1e-6:
        nxt = min([e for e in events if e > t + 1e-6], default=dur)
        mine = floor_at(own, t)
        theirs = floor_at(other, t)
        if mine is not None:          # speaking
            a, b = mine
            if t - a < 0.05 and (b - a) > 1.0 and rng.random() < min(0.95, 0.8 * style.aversion):
                d = _lognormal(rng, 1.0, 0.45, 0.5, 2.0)
                t1 = min(t + d, b - 0.8)
                if t1 > t + 0.3:
                    episodes.append((t, t1, *away_target((10, 25))))
                    t = t1
                    continue
            if b - t < end_look:      # look back at the listener toward the end of the turn
                if rng.random() < 0.1:  # ... nearly always
                    episodes.append((t, b, *away_target((8, 20))))
                else:
                    episodes.append((t, b, 0.0, 0.0))
                t = b
                continue
            d = _lognormal(rng, 1.3 / style.aversion, 0.5, 0.6, 6.0)
            t1 = min(t + d, b)
            episodes.append((t, t1, 0.0, 0.0))
            t = t1
            if b - t > end_look + 0.5:
                d = _lognormal(rng, 1.5 * style.aversion, 0.5, 0.4, 3.0)
                t1 = min(t + d, b - end_look)
                if t1 > t + 0.3:
                    episodes.append((t, t1, *away_target((8, 22))))
                    t = t1
            continue
        if theirs is not None:        # listening
            a, b = theirs
            d = _lognormal(rng, 2.3, 0.5, 0.8, 8.0)
            t1 = min(t + d, nxt)
            episodes.append((t, t1, 0.0, 0.0))
            t = t1
            if b - t > 1.0:
                d = _lognormal(rng, 0.9, 0.4, 0.3, 1.8)
                t1 = min(t + d, b - 0.6)
                if t1 > t + 0.25:
                    episodes.append((t, t1, *away_target((9, 18))))
                    t = t1
            continue
        # nobody holds the floor: relaxed, occasional glances at the partner
        if rng.random() < 0.45:
            d = _lognormal(rng, 1.5, 0.5, 0.5, 4.0)
            episodes.append((t, min(t + d, nxt), 0.0, 0.0))
        else:
            d = _lognormal(rng, 2.0, 0.5, 0.6, 5.0)
            episodes.append((t, min(t + d, nxt), *away_target((12, 35))))
        t = min(t + d, nxt)

    # render with saccades: main-sequence duration ~ 21 ms + 2.2 ms/deg
    offset = np.zeros((n, 2))
    at = np.zeros(n, bool)
    shifts = []
    prev = np.zeros(2)
    for t0, t1, yo, po in episodes:
        new = np.array([yo, po])
        amp = float(np.hypot(*(new - prev)))
        a = int(math.ceil(t0 * fps - 1e-9))
        b = min(n, int(math.ceil(t1 * fps - 1e-9)))
        if b <= a:
            continue
        if amp > 1e-6:
            shifts.append((t0, amp))
            sd = 0.021 + 0.0022 * amp / DEG
            u = np.clip((conv.times[a:b] - t0) / sd, 0.0, 1.0)
            # frame boundaries: a frame caught mid-saccade shows part of it
            offset[a:b] = prev + (new - prev) * u[:, None]
        else:
            offset[a:b] = new
        at[a:b] = not np.any(new)
        prev = new
    return GazePlan(offset, at, shifts)


def fixational(rng: np.random.Generator, conv: Conversation, at_partner: np.ndarray) -> np.ndarray:
    """(T, 2) fixational eye movements: micro-saccades between the partner's two eyes
    (+-0.9 deg), small steps when looking elsewhere, and slow drift (0.15 deg)."""
    n, fps = conv.num_frames, conv.fps
    out = np.zeros((n, 2))
    t = rng.uniform(0.0, 0.8)
    cur = np.zeros(2)
    side = 1.0
    while t < conv.duration:
        i = int(math.ceil(t * fps))
        if i >= n:
            break
        # both kinds of step are drawn every time, so that where the person looks changes
        # the steps taken there and no later draw (the listener's answers: targets.py)
        flip, on_eyes, elsewhere = rng.random(), rng.uniform((0.4, -0.3), (0.8, 0.2)), rng.normal(0.0, 1.0, 2)
        if at_partner[i]:
            side = -side if flip < 0.7 else side
            cur = np.array([side * on_eyes[0], on_eyes[1]]) * DEG
        else:
            cur = elsewhere * DEG
        out[i:] = cur
        t += rng.uniform(0.35, 1.4)
    drift = np.stack([smooth_noise(rng, n, 0.3, fps), smooth_noise(rng, n, 0.3, fps)], 1)
    return out + 0.15 * DEG * drift



# --- geometry --------------------------------------------------------------------------------

def gaze_in_head(pose_dir_rest: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Cyclopean gaze (T, 2: yaw, pitch) relative to the rotated head that looks along the
    rest-frame directions (T, 3): the same maths as ``geometry.gaze_toward``."""
    rot = head_rotation_of(head).double()
    local = torch.as_tensor(pose_dir_rest, dtype=torch.float64).unsqueeze(-1)
    in_head = (rot.transpose(-1, -2) @ local).squeeze(-1)
    yaw, pitch = direction_to_angles(in_head)
    return np.stack([yaw.numpy(), pitch.numpy()], 1)


def partner_angles(me: HeadPose, partner: HeadPose) -> tuple[np.ndarray, float, float]:
    """Unit direction to the partner's eyes in my rest frame, and its yaw and pitch."""
    d, _, _ = partner_in_head_frame(me, partner)
    d = d.double()
    yaw, pitch = direction_to_angles(d)
    return d.numpy(), float(yaw), float(pitch)


def gaze_directions_rest(py: float, pp: float, offset: np.ndarray) -> np.ndarray:
    """Rest-frame unit directions (T, 3) at partner yaw/pitch plus offsets (T, 2)."""
    y = torch.as_tensor(py + offset[:, 0], dtype=torch.float64)
    q = torch.as_tensor(pp + offset[:, 1], dtype=torch.float64)
    return angles_to_direction(y, q).numpy()
