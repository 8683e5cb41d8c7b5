"""Motion targets of the synthetic corpus: what the model learns to generate.

``make_targets(timing, poses, num_frames, rng, fps)`` turns a dialogue's phoneme timing and the
two rest head poses of its layout into both people's per-frame motion vectors
(``channels.MOTION_CHANNELS``): coarticulated visemes for the mouth (``visemes.py``); head
orientation toward the partner, prosodic and listener nods, drift, blinks (``behaviour.py``);
gaze at the partner's eyes (geometrically exact) or away by role (``gazeplan.py``); the
listener's answers to the speaker's glances (``reactions.py``); smiles, brow raises, squints
and the idle face (here).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from model_runtime.blinks import blink_curve
from model_runtime.channels import GAZE_PITCH, HEAD_LIMITS, HEAD_ROLL, MODEL_FACE_CHANNELS, MOTION_DIM, clip_motion, pack_motion
from model_runtime.head_pose import HeadPose
from model_runtime.timebase import MODEL_FPS

from .behaviour import (DEG, MODE_LISTEN, MODE_SPEAK, Conversation, Style, analyse, blink_times, envelope, head_motion,
                        lowpass, sample_style, smooth_noise)
from .gazeplan import fixational, gaze_directions_rest, gaze_in_head, partner_angles, plan_gaze
from .reactions import answering_nods, follow_glances, glance_onsets, mirror_tilts
from .timing import DialogueTiming
from .visemes import AH, VisemeSegment, viseme_curves, viseme_segments

STRESS_JAW = {0: 0.88, 1: 1.0, 2: 1.12}
MAX_JAW = 0.72
JAW_KNEE = 0.5          # above this, jaw opening saturates softly toward MAX_JAW


def make_targets(timing: DialogueTiming, poses: tuple[HeadPose, HeadPose], num_frames: int,
                 rng: np.random.Generator, fps: float = MODEL_FPS, answers: bool = True,
                 mirroring: bool = False) -> np.ndarray:
    """Both people's motion targets: float32 (2, num_frames, MOTION_DIM) within the channel
    limits. Frame i is at time i / fps. Deterministic given the rng state. ``answers`` False
    leaves out the listener's answers to the speaker's glances and changes no other head, gaze
    or mouth motion (the lids and blinks follow the gaze): what only the partner explains
    (model_training.partner_share, training_data.answer_frames). ``mirroring``: listeners
    mirror the speaker's head tilt (reactions.mirror_tilts), one of the answers."""
    num_frames = int(num_frames)
    seeds = rng.integers(0, 2 ** 63 - 1, size=(2, 6))
    if num_frames <= 0:
        return np.zeros((2, 0, MOTION_DIM), np.float32)
    conv = analyse(timing, num_frames, fps)
    out = np.zeros((2, num_frames, MOTION_DIM), np.float32)
    rngs = [[np.random.default_rng(s) for s in seeds[p]] for p in (0, 1)]
    styles = [sample_style(rngs[p][0]) for p in (0, 1)]
    angles = [partner_angles(poses[p], poses[1 - p])[1:] for p in (0, 1)]
    plans = [plan_gaze(p, conv, angles[p][0], rngs[p][2], styles[p]) for p in (0, 1)]
    # the listener answers the speaker's glances (reactions.py): drawn from a stream of its own
    # so that everything else a seed gives stays as it was
    r_react = np.random.default_rng(rng.integers(0, 2 ** 63 - 1))
    r_mirror = np.random.default_rng(rng.integers(0, 2 ** 63 - 1)) if mirroring else None
    glances = [glance_onsets(p, conv, plans[p].at_partner) for p in (0, 1)]
    nods = [answering_nods(glances[1 - p], r_react) if answers else [] for p in (0, 1)]
    for p in (0, 1) if answers else ():
        offset, at = follow_glances(plans[p].offset, plans[p].at_partner, glances[1 - p], fps, r_react)
        plans[p] = replace(plans[p], offset=offset, at_partner=at)
    heads = np.stack([head_motion(p, conv, angles[p], plans[p], rngs[p][3], styles[p], extra_nods=nods[p])
                      for p in (0, 1)])
    if answers and mirroring:
        listening = np.stack([lowpass((conv.mode[p] == MODE_LISTEN).astype(float), 0.3, fps) for p in (0, 1)])
        heads[..., HEAD_ROLL] = mirror_tilts(heads[..., HEAD_ROLL], listening, fps, r_mirror)
        heads[..., HEAD_ROLL] = np.clip(heads[..., HEAD_ROLL], *HEAD_LIMITS["headRoll"])
    for p in (0, 1):
        r_style, r_mouth, r_gaze, r_head, r_blink, r_face = rngs[p]
        style, plan, (py, pp), head = styles[p], plans[p], angles[p], heads[p]

        face = {name: np.zeros(num_frames) for name in MODEL_FACE_CHANNELS}
        for name, curve in mouth_curves(p, timing, num_frames, fps, r_mouth, style).items():
            face[name] += curve

        jitter = fixational(r_gaze, conv, plan.at_partner)
        gaze = gaze_in_head(gaze_directions_rest(py, pp, plan.offset + jitter), head)

        blink = blink_curve(conv.times, blink_times(p, conv, plan, r_blink, style), r_blink)
        face["eyeBlinkLeft"] += blink
        face["eyeBlinkRight"] += blink * r_blink.uniform(0.96, 1.0)
        for name, curve in expression_curves(p, conv, r_face, style).items():
            face[name] += curve
        # a little lid droop follows a downward gaze
        droop = np.clip(-gaze[:, GAZE_PITCH] / (25 * DEG), 0.0, 1.0) * 0.15
        face["eyeBlinkLeft"] = np.maximum(face["eyeBlinkLeft"], droop)
        face["eyeBlinkRight"] = np.maximum(face["eyeBlinkRight"], droop)
        face["jawOpen"] = soft_limit(face["jawOpen"], JAW_KNEE, MAX_JAW)

        out[p] = clip_motion(pack_motion({k: v.astype(np.float32) for k, v in face.items()},
                                         head, gaze))
    return out


# --- mouth ---------------------------------------------------------------------------------

def soft_limit(x: np.ndarray, knee: float, top: float) -> np.ndarray:
    """Identity below ``knee``, then a tanh saturation that never exceeds ``top``."""
    over = np.maximum(x - knee, 0.0)
    return np.where(x > knee, knee + (top - knee) * np.tanh(over / (top - knee)), x)


def mouth_curves(p: int, timing: DialogueTiming, num_frames: int, fps: float,
                 rng: np.random.Generator, style: Style) -> dict[str, np.ndarray]:
    """Visemes of person p's own speech with jaw amplitude from stress, loudness and style,
    phrase-final softening, and a short inhale (lips part) before turns after a pause."""
    segs: list[VisemeSegment] = []
    last_end = -10.0
    for s in sorted(timing.segments_of(p), key=lambda s: s.start):
        loud = getattr(s, "loudness", None)
        loud = float(loud) if loud is not None else rng.uniform(0.88, 1.12)
        phones = sorted(s.phones, key=lambda ph: ph.start)
        scales = []
        for ph in phones:
            final = 0.9 if ph.start > s.start + 0.8 * (s.end - s.start) else 1.0
            scales.append(STRESS_JAW.get(int(ph.stress), 1.0) * loud * style.jaw * final
                          * rng.uniform(0.93, 1.07))
        if phones and s.kind != "backchannel" and phones[0].start - last_end > 0.5:
            t1 = phones[0].start - 0.03
            segs.append(VisemeSegment(AH, t1 - rng.uniform(0.15, 0.3), t1, jaw=rng.uniform(0.06, 0.11)))
        segs += viseme_segments(phones, scales)
        if phones:
            last_end = max(last_end, phones[-1].end)
    return viseme_curves(segs, num_frames, fps, duration=timing.duration)


# --- expressions ----------------------------------------------------------------------------------

def expression_curves(p: int, conv: Conversation, rng: np.random.Generator,
                      style: Style) -> dict[str, np.ndarray]:
    """Smiles (listener at backchannels and turn ends), brow raises with a slight eye widening
    (own emphasis, questions, and as a listener reacting to the partner's emphasis), squints,
    idle mouth (slight jaw drift, the odd lip press) while not speaking, a resting face."""
    t, n = conv.times, conv.num_frames
    smile = np.zeros(n)
    brow = np.zeros(n)
    squint = np.zeros(n)

    def add_smile(t0, amp):
        env = envelope(t, t0, rng.uniform(0.25, 0.45), rng.uniform(0.8, 2.5), rng.uniform(0.6, 1.0))
        np.maximum(smile, amp * env, out=smile)

    for a, b in conv.backchannels[p]:
        if rng.random() < 0.45 * style.smile:
            add_smile(a - 0.1, rng.uniform(0.2, 0.4))
    for a, b in conv.floors[1 - p]:
        if rng.random() < 0.3 * style.smile:
            add_smile(b - rng.uniform(0.0, 0.6), rng.uniform(0.2, 0.4))
    for a, b in conv.floors[p]:
        if rng.random() < 0.12 * style.smile:
            add_smile(b - 0.3, rng.uniform(0.12, 0.25))
    smile = smile * np.where(conv.speaking[p], 0.6, 1.0)

    def raise_brow(t0, amp, hold):
        np.maximum(brow, amp * envelope(t, t0, 0.12, hold, 0.35), out=brow)

    # emphasis: the longest primary-stressed vowels of each turn
    for a, b in conv.floors[p]:
        st = [(s, e) for s, e in conv.stressed[p] if a <= s < b]
        if not st:
            continue
        dur = np.array([e - s for s, e in st])
        cut = np.quantile(dur, 0.75)
        for (s, e), d in zip(st, dur):
            if d >= cut and rng.random() < 0.5:
                raise_brow(s - 0.08, rng.uniform(0.25, 0.5) * style.expressivity, rng.uniform(0.15, 0.3))
    for te in conv.questions[p]:
        if rng.random() < 0.6:
            raise_brow(te - 0.6, rng.uniform(0.25, 0.45), 0.5)
    # reacting to the partner's emphasis as a listener
    for s, e in conv.stressed[1 - p]:
        if conv.mode[p][min(n - 1, int(s * conv.fps))] != MODE_SPEAK and rng.random() < 0.06:
            raise_brow(s + rng.uniform(0.25, 0.5), rng.uniform(0.15, 0.3), rng.uniform(0.2, 0.4))

    # a face at rest is not frozen: slight jaw drift and the odd lip press while not speaking
    quiet = 1.0 - np.clip(lowpass(conv.speaking[p].astype(float), 0.15, conv.fps) * 3.0, 0.0, 1.0)
    idle_jaw = quiet * np.clip(0.015 + 0.012 * smooth_noise(rng, n, 1.5, conv.fps), 0.0, None)
    press = np.zeros(n)
    tt = rng.exponential(15.0)
    while tt < conv.duration:
        np.maximum(press, rng.uniform(0.12, 0.3) * envelope(t, tt, 0.2, rng.uniform(0.3, 1.2), 0.3), out=press)
        tt += rng.exponential(15.0)
    press *= quiet

    # occasional slight squints (1-3 s)
    tt = rng.exponential(25.0)
    while tt < conv.duration:
        np.maximum(squint, rng.uniform(0.08, 0.2) * envelope(t, tt, 0.3, rng.uniform(0.7, 2.5), 0.5), out=squint)
        tt += rng.exponential(25.0)

    asym = rng.uniform(0.9, 1.1)
    out = {
        "mouthSmileLeft": style.rest_smile + smile * asym,
        "mouthSmileRight": style.rest_smile + smile / asym,
        "cheekSquintLeft": 0.45 * smile * asym,
        "cheekSquintRight": 0.45 * smile / asym,
        "eyeSquintLeft": style.rest_squint + squint + 0.3 * smile,
        "eyeSquintRight": style.rest_squint + squint + 0.3 * smile,
        "browInnerUp": style.rest_brow + brow,
        "browOuterUpLeft": 0.7 * brow,
        "browOuterUpRight": 0.7 * brow,
        "eyeWideLeft": 0.25 * brow,
        "eyeWideRight": 0.25 * brow,
        "jawOpen": idle_jaw,
        "mouthPressLeft": press,
        "mouthPressRight": press,
        "mouthRollLower": 0.4 * press,
    }
    return out
