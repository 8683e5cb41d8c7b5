"""Non-verbal behaviour targets: conversation structure, per-person style, head motion, blinks
(gaze is in ``gazeplan.py``, face expressions in ``targets.py``).

Everything is per person and per frame (frame i at time i / fps) and driven by the dialogue
timing; geometry follows ``model_runtime/head_pose.py`` (head angles relative to the rest pose, cyclopean gaze
relative to the rotated head, yaw left-positive, pitch up-positive).

What the parameters follow: Kendon (1967) and Argyle & Cook (1976): listeners look at the
speaker most of the time (~70-80 %), speakers less (~40-60 %), speakers look away at the start
of a turn and back at the listener toward its end; eye-head coordination: the head takes part
of a gaze shift, the eyes lead and do the rest; blinks ~15-20 per minute, more at gaze shifts
and turn boundaries; Hadar et al. (1983): speakers' head movements cluster at stressed
syllables and phrase starts; listeners nod at backchannels and turn ends.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from model_runtime.channels import GAZE_LIMITS, HEAD_LIMITS

from .timing import DialogueTiming
from .visemes import classify, is_vowel_class

if TYPE_CHECKING:
    from .gazeplan import GazePlan

DEG = math.pi / 180.0
MODE_SILENT, MODE_SPEAK, MODE_LISTEN = 0, 1, 2
FLOOR_MERGE_GAP = 1.2      # s: one speaker's turns closer than this are one holding of the floor
GAZE_MARGIN = 0.14         # rad: eye range kept free for jitter and aversions around the partner


# --- conversation structure ------------------------------------------------------------------

@dataclass
class Conversation:
    fps: float
    num_frames: int
    duration: float
    times: np.ndarray
    floors: list[list[tuple[float, float]]]        # per person: merged turns
    backchannels: list[list[tuple[float, float]]]
    speaking: np.ndarray                            # (2, T) bool: own voice active
    mode: np.ndarray                                # (2, T) MODE_*
    pauses: list[list[float]]                       # per person: phrase starts after a pause
    stressed: list[list[tuple[float, float]]]       # per person: primary-stressed vowels
    questions: list[list[float]] = field(default_factory=lambda: [[], []])   # turn ends with "?"


def analyse(timing: DialogueTiming, num_frames: int, fps: float) -> Conversation:
    times = np.arange(num_frames) / fps
    floors, bcs, pauses, stressed, questions = [], [], [], [], []
    speaking = np.zeros((2, num_frames), bool)
    turns_all = sorted((s.start, s.end, s.speaker) for s in timing.segments if s.kind != "backchannel")
    for p in (0, 1):
        segs = sorted(timing.segments_of(p), key=lambda s: s.start)
        for s in segs:
            speaking[p] |= (times >= s.start) & (times < s.end)
        merged: list[list[float]] = []
        for a, b, who in turns_all:
            if who != p:
                continue
            other_between = any(o == 1 - p and merged and merged[-1][1] <= a2 < a
                                for a2, _, o in turns_all)
            if merged and a - merged[-1][1] < FLOOR_MERGE_GAP and not other_between:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        floors.append([tuple(m) for m in merged])
        bcs.append([(s.start, s.end) for s in segs if s.kind == "backchannel"])
        ps, st = [], []
        for s in segs:
            if s.kind == "backchannel":
                continue
            ps.append(s.start)
            phones = sorted(s.phones, key=lambda ph: ph.start)
            for ph0, ph1 in zip(phones, phones[1:]):
                if ph1.start - ph0.end > 0.2:
                    ps.append(ph1.start)
            for ph in phones:
                parts = classify(ph.symbol, ph.alphabet)
                if ph.stress >= 2 and parts and is_vowel_class(parts[0][0]):
                    st.append((ph.start, ph.end))
        pauses.append(sorted(ps))
        stressed.append(st)
        questions.append([s.end for s in segs if s.kind != "backchannel" and s.text.strip().endswith("?")])
    holds = np.zeros((2, num_frames), bool)
    for p in (0, 1):
        for a, b in floors[p]:
            holds[p] |= (times >= a) & (times < b)
    mode = np.full((2, num_frames), MODE_SILENT, np.int64)
    for p in (0, 1):
        mode[p][holds[1 - p]] = MODE_LISTEN
        mode[p][holds[p]] = MODE_SPEAK
    return Conversation(fps, num_frames, timing.duration, times, floors, bcs, speaking, mode,
                        pauses, stressed, questions)


# --- small signal helpers ----------------------------------------------------------------------

def lowpass(x: np.ndarray, tau: float, fps: float, order: int = 2) -> np.ndarray:
    """Cascaded one-pole low-pass (order 2 = critically damped): smooth, causal, no overshoot."""
    a = 1.0 - math.exp(-1.0 / (max(tau, 1e-4) * fps))
    y = np.asarray(x, np.float64).copy()
    for _ in range(order):
        out = np.empty_like(y)
        acc = y[0]
        for i, v in enumerate(y):
            acc += a * (v - acc)
            out[i] = acc
        y = out
    return y


def smooth_noise(rng: np.random.Generator, n: int, tau: float, fps: float) -> np.ndarray:
    """Low-pass Gaussian noise with unit standard deviation (warmed up, so no start transient)."""
    warm = int(4 * tau * fps) + 1
    x = lowpass(rng.standard_normal(n + warm), tau, fps)[warm:]
    return (x - x.mean()) / (x.std() + 1e-9)


def envelope(times: np.ndarray, t0: float, attack: float, hold: float, release: float) -> np.ndarray:
    """0..1: smoothstep up over ``attack`` from t0, hold, smoothstep down over ``release``."""
    def ss(u):
        u = np.clip(u, 0.0, 1.0)
        return u * u * (3 - 2 * u)
    up = ss((times - t0) / attack)
    down = 1.0 - ss((times - (t0 + attack + hold)) / release)
    return up * down


def nod(times: np.ndarray, t0: float, amp: float, period: float, count: int = 1,
        decay: float = 0.75) -> np.ndarray:
    """Head-pitch nods (radians, negative = down): ``count`` down-and-back cycles starting at
    t0, each ``period`` long, amplitudes decaying, with a small upward rebound after the last."""
    out = np.zeros_like(times)
    for k in range(count):
        u = (times - (t0 + k * period)) / period
        m = (u >= 0) & (u < 1)
        out[m] -= amp * decay ** k * np.sin(np.pi * u[m]) ** 2
    u = (times - (t0 + count * period)) / (0.7 * period)
    m = (u >= 0) & (u < 1)
    out[m] += 0.2 * amp * decay ** (count - 1) * np.sin(np.pi * u[m]) ** 2
    return out


# --- per-person style -----------------------------------------------------------------------

@dataclass
class Style:
    head_frac_speak: float
    head_frac_listen: float
    head_frac_silent: float
    head_follow: float          # share of an eye aversion the head follows
    expressivity: float         # scales head nods, drift, brows
    blink_rate: float           # base blinks per minute (extras at turns and gaze shifts add)
    aversion: float             # speaker's tendency to look away
    smile: float                # tendency to smile
    jaw: float                  # articulation amplitude
    rest_smile: float
    rest_brow: float
    rest_squint: float


def sample_style(rng: np.random.Generator) -> Style:
    return Style(
        head_frac_speak=rng.uniform(0.55, 0.72), head_frac_listen=rng.uniform(0.42, 0.6),
        head_frac_silent=rng.uniform(0.3, 0.5), head_follow=rng.uniform(0.25, 0.5),
        expressivity=rng.uniform(0.7, 1.3), blink_rate=rng.uniform(13.0, 21.0),
        aversion=rng.uniform(0.7, 1.3), smile=rng.uniform(0.5, 1.5), jaw=rng.uniform(0.92, 1.18),
        rest_smile=rng.uniform(0.0, 0.06), rest_brow=rng.uniform(0.0, 0.05),
        rest_squint=rng.uniform(0.0, 0.06))


# --- head ---------------------------------------------------------------------------------------

def _clamp_to_reach(head: np.ndarray, target: np.ndarray, margin: float) -> np.ndarray:
    """Head angles (T, 2: yaw, pitch) moved just enough that the eyes can reach the target
    (rest-frame yaw/pitch) within GAZE_LIMITS minus a margin."""
    out = head.copy()
    for k, name in enumerate(("gazeYaw", "gazePitch")):
        lim = GAZE_LIMITS[name][1] - margin
        out[:, k] = np.clip(out[:, k], target[:, k] - lim, target[:, k] + lim)
    return out


def head_motion(p: int, conv: Conversation, partner_angles: tuple[float, float], plan: "GazePlan",
                rng: np.random.Generator, style: Style, extra_nods: list = ()) -> np.ndarray:
    """(T, 3: pitch, yaw, roll) head angles: turned part of the way to the partner (more when
    speaking), following aversions partly, prosodic nods and tilts, listener nods, drift."""
    n, fps, times = conv.num_frames, conv.fps, conv.times
    py, pp = partner_angles
    mode = conv.mode[p]
    frac = np.where(mode == MODE_SPEAK, style.head_frac_speak,
                    np.where(mode == MODE_LISTEN, style.head_frac_listen, style.head_frac_silent))
    gaze_target = np.stack([py + plan.offset[:, 0], pp + plan.offset[:, 1]], 1)
    tgt = np.stack([frac * py, frac * pp], 1) + style.head_follow * plan.offset
    tgt = _clamp_to_reach(tgt, gaze_target, GAZE_MARGIN)
    roll_t = np.zeros(n)
    # speaker phrase starts: a tilt held over the phrase and a small yaw re-orientation
    for t0 in conv.pauses[p]:
        if rng.random() < 0.5:
            end = next((b for a, b in conv.floors[p] if a <= t0 < b), t0 + 2.0)
            env = envelope(times, t0 - 0.1, 0.4, max(0.0, end - t0 - 0.6), 0.6)
            roll_t += rng.choice((-1, 1)) * rng.uniform(1.5, 4.0) * DEG * style.expressivity * env
            tgt[:, 0] += rng.normal(0, 1.5) * DEG * env
    # listeners hold a slight tilt over a listening stretch
    for a, b in conv.floors[1 - p]:
        if rng.random() < 0.6:
            roll_t += rng.choice((-1, 1)) * rng.uniform(1.0, 3.5) * DEG * envelope(times, a + 0.3, 0.8, max(0.0, b - a - 1.5), 0.8)
    tau = np.where(mode == MODE_SPEAK, 0.13, 0.2)
    yaw = lowpass(tgt[:, 0], float(np.median(tau)), fps)
    pitch = lowpass(tgt[:, 1], float(np.median(tau)), fps)
    roll = lowpass(roll_t, 0.3, fps)

    # drift: slow low-pass noise, larger while speaking
    amp = lowpass(np.where(mode == MODE_SPEAK, 1.0, 0.5), 0.5, fps) * style.expressivity
    yaw += amp * 2.0 * DEG * smooth_noise(rng, n, 1.0, fps)
    pitch += amp * 1.5 * DEG * smooth_noise(rng, n, 1.0, fps)
    roll += amp * 1.0 * DEG * smooth_noise(rng, n, 1.2, fps)
    speech = lowpass(conv.speaking[p].astype(float), 0.15, fps)
    pitch += speech * 0.8 * DEG * style.expressivity * smooth_noise(rng, n, 0.15, fps)
    yaw += speech * 0.6 * DEG * style.expressivity * smooth_noise(rng, n, 0.2, fps)

    # prosodic nods on stressed syllables (3-8 deg), at most one per 0.7 s; some with a tilt
    last = -10.0
    for a, b in conv.stressed[p]:
        if a - last > 0.7 and rng.random() < 0.35 * style.expressivity:
            period = rng.uniform(0.35, 0.55)
            pitch += nod(times, a - 0.12, rng.uniform(3, 8) * DEG * min(style.expressivity, 1.0), period)
            if rng.random() < 0.3:
                roll += nod(times, a - 0.12, rng.choice((-1, 1)) * rng.uniform(1.0, 2.5) * DEG, period)
            last = a
    # listener nods: 2-3 nods of ~5 deg at own backchannels, 1-2 near the partner's turn ends
    for a, b in conv.backchannels[p]:
        pitch += nod(times, a - 0.1, rng.uniform(4, 6.5) * DEG, rng.uniform(0.38, 0.55),
                     int(rng.integers(2, 4)))
    for a, b in conv.floors[1 - p]:
        if rng.random() < 0.5:
            pitch += nod(times, b - rng.uniform(0.1, 0.5), rng.uniform(3.5, 5.5) * DEG,
                         rng.uniform(0.4, 0.6), int(rng.integers(1, 3)))
    for t0 in conv.pauses[1 - p]:
        if rng.random() < 0.2:
            pitch += nod(times, t0 - 0.25, rng.uniform(2.5, 4) * DEG, rng.uniform(0.4, 0.55),
                         int(rng.integers(1, 3)))
    for t0, amp, period, count in extra_nods:      # answers to the partner's glances (reactions.py)
        pitch += nod(times, t0, amp, period, count)

    head2 = _clamp_to_reach(np.stack([yaw, pitch], 1), gaze_target, 0.04)
    out = np.stack([head2[:, 1], head2[:, 0], roll], 1)
    for k, name in enumerate(("headPitch", "headYaw", "headRoll")):
        lo, hi = HEAD_LIMITS[name]
        out[:, k] = np.clip(out[:, k], lo, hi)
    return out


# --- blinks ---------------------------------------------------------------------------------------

def blink_times(p: int, conv: Conversation, plan: "GazePlan", rng: np.random.Generator,
                style: Style) -> list[float]:
    """Blink onsets: a log-normal renewal process plus blinks at own turn starts, at the
    partner's turn ends and at larger gaze shifts; 0.7 s apart at least, but for a few
    deliberate double blinks (0.3-0.4 s apart)."""
    extra = []
    for a, _ in conv.floors[p]:
        if rng.random() < 0.45:
            extra.append(a + rng.uniform(-0.1, 0.15))
    for _, b in conv.floors[1 - p]:
        if rng.random() < 0.2:
            extra.append(b + rng.uniform(-0.2, 0.2))
    for t0, amp in plan.shifts:
        if amp > 10 * DEG and rng.random() < 0.3:
            extra.append(t0 - 0.02)
    # event blinks take at most 60 % of the person's overall rate; a renewal process fills the
    # rest (never below 4/min)
    minutes = max(conv.duration, 1.0) / 60.0
    cap = int(0.6 * style.blink_rate * minutes)
    if len(extra) > cap:
        extra = [extra[i] for i in sorted(rng.choice(len(extra), cap, replace=False))]
    base_rate = max(4.0, style.blink_rate - len(extra) / minutes)
    mean = 60.0 / base_rate
    sigma = 0.55
    mu = math.log(mean) - sigma ** 2 / 2
    ts = list(extra)
    t = rng.uniform(0, mean)
    while t < conv.duration:
        ts.append(t)
        t += max(0.3, math.exp(mu + sigma * rng.standard_normal()))
    ts = sorted(x for x in ts if 0 <= x < conv.duration)
    kept = []
    for x in ts:
        if not kept or x - kept[-1] >= 0.7:
            kept.append(x)
    doubles = [x + rng.uniform(0.3, 0.4) for x in kept if rng.random() < 0.06]
    return sorted(kept + doubles)
