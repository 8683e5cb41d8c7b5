"""Metrics of two people reacting to each other, for the conversation model's version 2.

A model that reads only the audio and its own role can time a listener's nod to the end of
the partner's turn; these metrics ask for what needs the partner: how the listener answers
the speaker's cues, how the speaker's gaze moves over a turn, how the two heads move together.
Every metric is computed the same way on the targets, the redrawn targets and each model, so
a model is judged by its distance to people, not by a per-frame error that rewards staring.

Inputs: denormalised motion (2, T, D) at MODEL_FPS, ground-truth voice activity (2, T) and the
two rest head poses.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from model_runtime.channels import HEAD_PITCH, HEAD_ROLL, HEAD_SLICE
from model_runtime.geometry import HeadPose, gaze_error_to_target, looks_at, mutual_gaze
from model_runtime.masks import bridge_gaps, runs
from model_runtime.timebase import MODEL_FPS

from .metrics import world_gaze

# What interaction_metrics reports: (key, label, format); each is best close to the people's
# (the targets') value, except the gaze error, best low.
CLOSE_TO_PEOPLE = (
    ("response_rise", "listener nod rise at cues °/s", "{:.2f}"),
    ("response_lag_s", "its lag s", "{:.2f}"),
    ("glance_nod_rise", "listener nod rise at speaker's glances °/s", "{:.2f}"),
    ("glance_nod_lag_s", "its lag s", "{:.2f}"),
    ("glance_followed", "glances met by a look back", "{:.1%}"),
    ("turn_start_at_partner", "speaker looks at partner, turn start", "{:.1%}"),
    ("turn_end_at_partner", "... turn end", "{:.1%}"),
    ("handover_mutual_gaze", "mutual gaze at hand-over", "{:.1%}"),
    ("nod_sync", "nod synchrony r", "{:.3f}"),
    ("tilt_mirroring", "tilt mirroring r", "{:.3f}"),
)
GAZE_WHEN_LOOKING = ("gaze_err_when_looking_deg", "gaze error where target looks at partner °", "{:.1f}")

RESPONSE_WINDOW = (-1.0, 2.0)     # seconds around a speaker's cue
RESPONSE_SEARCH = (0.0, 1.5)      # where the listener's answer is looked for
MIN_PAUSE, MAX_PAUSE = 0.2, 1.5   # a pause inside a turn (s): a cue for a backchannel
EDGE_S = 1.0                      # the first and last second of a turn
MIN_TURN_S = 2.5                  # turns long enough to have a distinct start and end
SYNC_LAG_S = 1.0
MIRROR_LAG_S = 2.0


def nod_speed(motion: np.ndarray) -> np.ndarray:
    """(2, T) head pitch speed in degrees per second, smoothed over three frames."""
    pitch = np.degrees(motion[:, :, HEAD_SLICE][..., HEAD_PITCH])
    speed = np.abs(np.gradient(pitch, axis=1)) * MODEL_FPS
    kernel = np.ones(3) / 3
    return np.stack([np.convolve(s, kernel, mode="same") for s in speed])


def speaker_cues(activity: np.ndarray) -> list[list[int]]:
    """Per person, frames where they pause inside a turn or yield it: the ends of their speech
    runs followed by their own speech again within MAX_PAUSE (and no earlier than MIN_PAUSE), or
    by the partner's."""
    cues = []
    for p in range(2):
        starts, ends = runs(activity[p])
        own_next = list(starts[1:]) + [None]
        frames = []
        for end, nxt in zip(ends, own_next):
            gap = None if nxt is None else (nxt - end) / MODEL_FPS
            yields = activity[1 - p, end:end + int(MAX_PAUSE * MODEL_FPS)].any()
            if (gap is not None and MIN_PAUSE <= gap <= MAX_PAUSE) or yields:
                frames.append(int(end))
        cues.append(frames)
    return cues


def _locked_average(signal: np.ndarray, events: list[int]) -> np.ndarray | None:
    a, b = (int(round(s * MODEL_FPS)) for s in RESPONSE_WINDOW)
    rows = [signal[e + a:e + b] for e in events if e + a >= 0 and e + b <= len(signal)]
    return np.mean(rows, axis=0) if rows else None


def _listener_answer(speed: np.ndarray, events: list[list[int]]) -> tuple[float, float]:
    """(rise, lag s) of the listener's nod speed (2, T) locked to each speaker's events: the
    peak of the event-locked average within RESPONSE_SEARCH over its level in the second
    before; NaN when no event has a whole window."""
    curves = [c for p in range(2) if (c := _locked_average(speed[1 - p], events[p])) is not None]
    if not curves:
        return math.nan, math.nan
    avg = np.mean(curves, axis=0)
    zero = -int(round(RESPONSE_WINDOW[0] * MODEL_FPS))
    lo, hi = (zero + int(round(s * MODEL_FPS)) for s in RESPONSE_SEARCH)
    peak = lo + int(np.argmax(avg[lo:hi]))
    return float(avg[peak] - avg[:zero].mean()), (peak - zero) / MODEL_FPS


def listener_response(motion: np.ndarray, activity: np.ndarray) -> dict[str, float]:
    """The listener's nodding around the speaker's cues: the rise of the cue-locked average of
    their head pitch speed over its level in the second before (deg/s), and the lag of its peak
    (s). People answer pauses and turn ends with nods within about half a second."""
    rise, lag = _listener_answer(nod_speed(motion), speaker_cues(activity))
    return {"response_rise": rise, "response_lag_s": lag}


def floor_of(active: np.ndarray) -> np.ndarray:
    """A person's turns: their speech with the pauses inside a turn bridged."""
    return bridge_gaps(np.asarray(active, bool), int(MAX_PAUSE * MODEL_FPS))


def turn_gaze(motion: np.ndarray, activity: np.ndarray, poses: tuple[HeadPose, HeadPose]) -> dict[str, float]:
    """How the speaker's gaze moves over a turn (Kendon 1967): the share of the first second
    spent looking at the partner, and of the last second. Speakers look away as they start and
    back as they finish; a staring model has both near 1."""
    at = _at_partner(motion, poses)
    edge, first, last = int(EDGE_S * MODEL_FPS), [], []
    for p in range(2):
        for s, e in zip(*runs(floor_of(activity[p]))):
            if (e - s) / MODEL_FPS >= MIN_TURN_S:
                first.append(at[p][s:s + edge].mean())
                last.append(at[p][e - edge:e].mean())
    if not first:
        return {"turn_start_at_partner": math.nan, "turn_end_at_partner": math.nan}
    return {"turn_start_at_partner": float(np.mean(first)), "turn_end_at_partner": float(np.mean(last))}


def _at_partner(motion: np.ndarray, poses: tuple[HeadPose, HeadPose]) -> list[np.ndarray]:
    """Per person, (T,) bool: looking at the partner's eyes (geometry.looks_at)."""
    gaze = world_gaze(motion, poses)
    return [looks_at(poses[p], gaze[p], poses[1 - p].position()).numpy() for p in range(2)]


def speaker_glances(motion: np.ndarray, activity: np.ndarray, poses: tuple[HeadPose, HeadPose]) -> list[list[int]]:
    """Per person, frames where they turn their eyes to the partner while holding the floor
    (half a second or more into the turn), in this motion's own gaze."""
    return _glances(_at_partner(motion, poses), activity)


def _glances(at: list[np.ndarray], activity: np.ndarray) -> list[list[int]]:
    out = []
    for p in range(2):
        floor = floor_of(activity[p])
        onsets = np.flatnonzero(at[p][1:] & ~at[p][:-1]) + 1
        half = MODEL_FPS // 2
        out.append([int(f) for f in onsets if f >= half and floor[f] and floor[f - half]])
    return out


def glance_response(motion: np.ndarray, activity: np.ndarray, poses: tuple[HeadPose, HeadPose]) -> dict[str, float]:
    """How the listener answers the speaker's glances (gaze windows, Bavelas et al. 2002): the
    rise of their nod speed locked to the glances (deg/s) and its lag (s); and gaze following,
    the share of glances met by a listener who was looking away: looking back within 0.8 s."""
    at = _at_partner(motion, poses)
    glances = _glances(at, activity)
    rise, lag = _listener_answer(nod_speed(motion), glances)
    out = {"glance_nod_rise": rise, "glance_nod_lag_s": lag, "glance_followed": math.nan}
    followed = [at[1 - p][g:g + int(0.8 * MODEL_FPS)].any() for p in range(2) for g in glances[p] if not at[1 - p][g]]
    if followed:
        out["glance_followed"] = float(np.mean(followed))
    return out


def mutual_gaze_at_handover(motion: np.ndarray, activity: np.ndarray, poses: tuple[HeadPose, HeadPose]) -> float:
    """Share of frames in mutual gaze within a second of a change of speaker (the speaker looks
    back, the listener meets the look, and the floor changes hands)."""
    gaze = world_gaze(motion, poses)
    mutual = mutual_gaze(poses[0], gaze[0], poses[1], gaze[1]).numpy()
    speaker = np.where(activity[0] & ~activity[1], 0, np.where(activity[1] & ~activity[0], 1, -1))
    known = np.flatnonzero(speaker >= 0)
    changes = [int(b) for a, b in zip(known, known[1:]) if speaker[a] != speaker[b]]
    edge = int(EDGE_S * MODEL_FPS)
    near = np.zeros(mutual.shape, bool)
    for c in changes:
        near[max(c - edge, 0):c + edge] = True
    return float(mutual[near].mean()) if near.any() else math.nan


def peak_cross_correlation(a: np.ndarray, b: np.ndarray, max_lag_s: float) -> tuple[float, float]:
    """The peak normalised cross-correlation of two (T,) signals (means removed) within
    ``max_lag_s`` either way, and its lag in seconds (positive: b follows a)."""
    a, b = (torch.as_tensor(x - x.mean()) for x in (a, b))
    norm = float(a.norm() * b.norm())
    if norm == 0:
        return 0.0, 0.0
    lags = range(-int(max_lag_s * MODEL_FPS), int(max_lag_s * MODEL_FPS) + 1)
    corr = [float((a[:len(a) - k] * b[k:]).sum() if k >= 0 else (a[-k:] * b[:len(b) + k]).sum()) / norm for k in lags]
    k = int(np.argmax(corr))
    return corr[k], lags[k] / MODEL_FPS


def nod_synchrony(motion: np.ndarray) -> dict[str, float]:
    """Peak normalised cross-correlation of the two people's head pitch speeds within a second
    of lag, and its lag in seconds (positive: B follows A)."""
    r, lag = peak_cross_correlation(*nod_speed(motion), SYNC_LAG_S)
    return {"nod_sync": r, "nod_sync_lag_s": lag}


def tilt_mirroring(motion: np.ndarray) -> float:
    """Peak cross-correlation of one person's head roll with the mirror image of the other's
    (minus it) within MIRROR_LAG_S: listeners who take on the speaker's tilt as in a mirror
    (corpus/reactions.py) score high; the side of a speaker's tilt is not in the audio, so
    only a model that reads the partner can."""
    roll = np.degrees(motion[:, :, HEAD_SLICE][..., HEAD_ROLL])
    return peak_cross_correlation(-roll[0], roll[1], MIRROR_LAG_S)[0]


def gaze_error_where_target_looks(pred: np.ndarray, target: np.ndarray, poses: tuple[HeadPose, HeadPose]) -> float:
    """Angular gaze error (degrees) on the frames where the target looks at the partner: a model
    that looks away at the wrong moments pays here, one that stares does not gain."""
    gp, looking = world_gaze(pred, poses), _at_partner(target, poses)
    errs = []
    for p in range(2):
        looks = torch.from_numpy(looking[p])
        if looks.any():
            errs.append(gaze_error_to_target(poses[p], gp[p][looks], poses[1 - p].position()))
    return float(torch.cat(errs).mean()) * 180 / math.pi if errs else math.nan


def interaction_metrics(pred: np.ndarray, target: np.ndarray, activity: np.ndarray,
                        poses: tuple[HeadPose, HeadPose]) -> dict[str, float]:
    return {**listener_response(pred, activity), **glance_response(pred, activity, poses),
            **turn_gaze(pred, activity, poses),
            "handover_mutual_gaze": mutual_gaze_at_handover(pred, activity, poses), **nod_synchrony(pred),
            "tilt_mirroring": tilt_mirroring(pred),
            "gaze_err_when_looking_deg": gaze_error_where_target_looks(pred, target, poses)}
