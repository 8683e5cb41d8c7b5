"""Motion targets of the synthetic corpus: visemes, head, gaze, blinks (hand-built timings)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from model_runtime.channels import GAZE_SLICE, HEAD_SLICE, MOTION_CHANNELS, MOTION_DIM, channel_index, motion_limits
from model_training.corpus.timing import DialogueTiming, Phone, SpeechSegment
from model_training.corpus.targets import make_targets
from model_training.corpus.visemes import classify
from model_runtime.geometry import gaze_directions_world, looks_at
from model_runtime.layouts import preset_layout

FPS = 25.0
J = {name: channel_index(name) for name in MOTION_CHANNELS}

# Sentences as phone lists; a leading ' marks primary stress (espeak style).
ESPEAK_LINES = [
    "h @ l 'oU D 'e@ h aU A@ j u: 'd u: I N t @ d 'eI".split(),
    "aI T 'I N k w i: S U d 'g oU t @ D @ 'b i: tS 'n aU".split(),
    "'m aI 'm V D @ 'w A: z 'h 0 t 'd V m p I N z f @ D @ 'p 3: s @ n".split(),
    "'j E s D 'a: t s 'r aI t 'b V t 'f ai n 'm u: v 'O: l 'p aU @ z".split(),
]
FESTIVAL_LINES = [
    "hh ax l ow1 dh eh1 r hh aw1 aa1 r y uw1 d uw1 ih ng".split(),
    "ay1 th ih1 ng k w iy1 sh uh1 d g ow1 t uw1 dh ax b iy1 ch".split(),
]
BACKCHANNEL = "m @ 'm h m".split()


def _phones(symbols, t0, alphabet="espeak", rate=1.0):
    phones, t = [], t0
    for sym in symbols:
        stress = 0
        if alphabet == "espeak" and sym.startswith("'"):
            stress, sym = 2, sym[1:]
        if alphabet == "festival" and sym[-1:].isdigit():
            stress = 2 if sym[-1] == "1" else 0
        vowel = classify(sym, alphabet)[0][0] in ("IY", "EH", "AA", "AH", "AO", "UW")
        d = (0.15 if stress else 0.1) if vowel else 0.075
        d *= rate
        phones.append(Phone(sym, t, t + d, stress, alphabet))
        t += d
    return phones


def _segment(speaker, symbols, t0, alphabet="espeak", kind="turn", text="x"):
    ph = _phones(symbols, t0, alphabet)
    return SpeechSegment(speaker, ph[0].start, ph[-1].end, text, kind, ph)


def conversation(duration=60.0, seed=0, festival_every=3):
    """Alternating turns of 1-3 sentences, pauses 0.2-0.9 s, listener backchannels."""
    rng = np.random.default_rng(seed)
    segs, t, who, k = [], 0.4, 0, 0
    while t < duration - 6.0:
        start = t
        for _ in range(int(rng.integers(1, 4))):
            if t > duration - 4.5:
                break
            k += 1
            if k % festival_every == 0:
                seg = _segment(who, FESTIVAL_LINES[k % 2], t, "festival")
            else:
                seg = _segment(who, ESPEAK_LINES[k % 4], t)
            segs.append(seg)
            t = seg.end + rng.uniform(0.15, 0.4)
        if t - start > 3.0 and rng.random() < 0.7:
            mid = start + (t - start) * rng.uniform(0.4, 0.7)
            segs.append(_segment(1 - who, BACKCHANNEL, mid, kind="backchannel", text="mm-hmm"))
        t += rng.uniform(0.2, 0.9)
        who = 1 - who
    return DialogueTiming(duration=duration, segments=segs)


def _frames(a, b):
    return slice(int(math.ceil(a * FPS)), int(math.floor(b * FPS)) + 1)


@pytest.fixture(scope="module")
def conv60():
    return conversation(60.0)


@pytest.fixture(scope="module")
def targets_ff(conv60):
    poses = preset_layout("face_to_face")
    return make_targets(conv60, poses, int(60 * FPS), np.random.default_rng(1)), poses


@pytest.fixture(scope="module")
def targets_sbs(conv60):
    poses = preset_layout("side_by_side")
    return make_targets(conv60, poses, int(60 * FPS), np.random.default_rng(1)), poses


def test_shape_dtype_range(targets_ff):
    out, _ = targets_ff
    assert out.shape == (2, 1500, MOTION_DIM) and out.dtype == np.float32
    lo, hi = motion_limits()
    assert np.all(np.isfinite(out))
    assert np.all(out >= lo - 1e-6) and np.all(out <= hi + 1e-6)


def test_classify_both_alphabets():
    assert classify("p")[0][0] == classify("m", "festival")[0][0] == "PBM"
    assert classify("f")[0][0] == classify("v", "festival")[0][0] == "FV"
    assert classify("'u:")[0][0] == classify("uw1", "festival")[0][0] == "UW"
    assert classify("i:")[0][0] == classify("iy", "festival")[0][0] == "IY"
    assert [c for c, _, _ in classify("aI")] == ["AA", "IY"]
    assert [c for c, _, _ in classify("ay1", "festival")] == ["AA", "IY"]
    assert classify("pau", "festival")[0][0] == "SIL"
    assert classify("T")[0][0] == classify("th", "festival")[0][0] == "TH"
    # unknown symbols fall back instead of failing
    assert classify("a#")[0][0] == "AA" and classify("Zz9")[0][0] == "SH"
    assert classify("(en)") == []      # espeak language switch, not a sound


def _single(symbols, alphabet="espeak", seed=0):
    seg = _segment(0, symbols, 0.5, alphabet)
    timing = DialogueTiming(seg.end + 0.5, [seg])
    n = int(timing.duration * FPS) + 1
    out = make_targets(timing, preset_layout("face_to_face"), n, np.random.default_rng(seed))
    return seg, out[0]


def _at(seg, out, index, ch):
    ph = seg.phones[index]
    return out[_frames(ph.start, ph.end), J[ch]]


@pytest.mark.parametrize("alphabet,symbols", [
    ("espeak", "'a: p 'a: b 'i: m 'a:".split()),
    ("festival", "aa1 p aa1 b iy1 m aa1".split()),
])
def test_bilabial_closures_are_reached(alphabet, symbols):
    seg, out = _single(symbols, alphabet)
    for i in (1, 3, 5):
        close = np.maximum(_at(seg, out, i, "mouthClose"), _at(seg, out, i, "mouthPressLeft"))
        assert close.max() > 0.75, (symbols[i], close)
        assert _at(seg, out, i, "jawOpen").min() < 0.1
    # the vowels around them are open
    assert _at(seg, out, 0, "jawOpen").max() > 0.35


def test_open_vowels_open_the_jaw_more_than_close_ones():
    seg_a, out_a = _single("t 'a: t 'a: t".split())
    seg_i, out_i = _single("t 'i: t 'i: t".split())
    ja = max(_at(seg_a, out_a, 1, "jawOpen").max(), _at(seg_a, out_a, 3, "jawOpen").max())
    ji = max(_at(seg_i, out_i, 1, "jawOpen").max(), _at(seg_i, out_i, 3, "jawOpen").max())
    assert 0.3 < ja < 0.75 and ji < 0.25 and ja > ji + 0.2
    # spread lips on /i:/
    assert _at(seg_i, out_i, 1, "mouthStretchLeft").max() > 0.25


def test_rounded_vowels_round_the_lips():
    seg_u, out_u = _single("t 'u: t 'o: t".split())
    seg_a, out_a = _single("t 'a: t 'i: t".split())
    for i in (1, 3):
        round_u = _at(seg_u, out_u, i, "mouthFunnel").max() + _at(seg_u, out_u, i, "mouthPucker").max()
        round_a = _at(seg_a, out_a, i, "mouthFunnel").max() + _at(seg_a, out_a, i, "mouthPucker").max()
        assert round_u > 0.6 and round_u > round_a + 0.4


def test_labiodental_and_dental():
    seg, out = _single("'a: f 'a: T 'a:".split())
    assert _at(seg, out, 1, "mouthRollLower").max() > 0.4
    assert _at(seg, out, 3, "tongueOut").max() > 0.1


def test_speaker_mouth_moves_listener_mouth_does_not(targets_ff, conv60):
    out, _ = targets_ff
    checked = 0
    for seg in conv60.segments:
        if seg.kind != "turn" or seg.end - seg.start < 1.5:
            continue
        # the listener's own speech (and its anticipatory coarticulation) must not touch the turn
        others = [s for s in conv60.segments if s.speaker != seg.speaker
                  and s.end > seg.start - 0.4 and s.start < seg.end + 0.4]
        if others:
            continue
        checked += 1
        f = _frames(seg.start, seg.end)
        v_speaker = out[seg.speaker, f, J["jawOpen"]].var()
        v_listener = out[1 - seg.speaker, f, J["jawOpen"]].var()
        assert v_speaker > 0.003 and v_speaker > 20 * v_listener, (seg.start, v_speaker, v_listener)
        assert out[seg.speaker, f, J["jawOpen"]].max() > 0.3
    assert checked >= 5


def _listener_hits(out, poses, timing):
    hits, total = 0, 0
    for seg in timing.segments:
        if seg.kind != "turn":
            continue
        p = 1 - seg.speaker
        f = _frames(seg.start, seg.end)
        dirs = gaze_directions_world(poses[p], out[p, f, HEAD_SLICE], out[p, f, GAZE_SLICE])
        ok = looks_at(poses[p], dirs, poses[1 - p].position())
        hits += int(ok.sum())
        total += ok.numel()
    return hits / total


def test_listener_looks_at_the_speaker(targets_ff, targets_sbs, conv60):
    for out, poses in (targets_ff, targets_sbs):
        assert _listener_hits(out, poses, conv60) >= 0.6


def test_mutual_gaze_is_exact_when_looking(targets_sbs, conv60):
    """When a listener looks at the partner, the error is only the fixational jitter (< 2 deg)."""
    from model_runtime.geometry import gaze_error_to_target
    out, poses = targets_sbs
    for p in (0, 1):
        dirs = gaze_directions_world(poses[p], out[p, :, HEAD_SLICE], out[p, :, GAZE_SLICE])
        err = np.degrees(gaze_error_to_target(poses[p], dirs, poses[1 - p].position()).numpy())
        near = err[err < 8.0]
        assert near.size > 0.4 * err.size
        # all but saccade frames and the odd small aversion are on the eyes within 2 deg
        assert (near < 2.0).mean() > 0.9
        assert np.quantile(near[near < 2.0], 0.9) < 1.5


def _looks(out, poses, p, f):
    dirs = gaze_directions_world(poses[p], out[p, f, HEAD_SLICE], out[p, f, GAZE_SLICE])
    return looks_at(poses[p], dirs, poses[1 - p].position()).numpy()


def test_speakers_look_away_at_turn_start_and_back_at_the_end():
    starts, ends = [], []
    for seed in range(3):
        timing = conversation(60.0, seed)
        poses = preset_layout("face_to_face")
        out = make_targets(timing, poses, 1500, np.random.default_rng(seed))
        from model_training.corpus.behaviour import analyse
        conv = analyse(timing, 1500, FPS)
        for p in (0, 1):
            for a, b in conv.floors[p]:
                if b - a < 2.5:
                    continue
                starts.append(_looks(out, poses, p, _frames(a + 0.1, a + 0.6)).mean())
                ends.append(_looks(out, poses, p, _frames(b - 0.5, b - 0.1)).mean())
    assert len(starts) >= 10
    assert np.mean(ends) > 0.75
    assert np.mean(starts) < 0.5 and np.mean(ends) > np.mean(starts) + 0.3


def test_partner_beyond_eye_range_turns_the_head_more(conv60):
    """Side by side with both rest facings yawed away: the partner is ~110 deg to the side,
    beyond the eyes' reach alone; the head turns further and mutual gaze stays possible."""
    from model_runtime.geometry import HeadPose
    poses = (HeadPose((-0.3, 0.0, 1.2), (-0.34, -0.94, 0.0)), HeadPose((0.3, 0.0, 1.2), (0.34, -0.94, 0.0)))
    out = make_targets(conv60, poses, 1500, np.random.default_rng(3))
    assert _listener_hits(out, poses, conv60) >= 0.6
    yaw = np.degrees(out[:, :, J["headYaw"]])
    assert yaw[0].mean() > 60 and yaw[1].mean() < -60


def test_head_turns_toward_the_partner_by_layout(targets_ff, targets_sbs):
    ff, _ = targets_ff
    sbs, _ = targets_sbs
    yaw = J["headYaw"]
    assert np.abs(ff[:, :, yaw].mean(1)).max() < math.radians(6)
    # side by side: A's partner is on A's left (+yaw), B's on B's right (-yaw)
    assert math.radians(30) < sbs[0, :, yaw].mean() < math.radians(65)
    assert -math.radians(65) < sbs[1, :, yaw].mean() < -math.radians(30)
    # the head moves (nods, drift) but stays natural
    pitch = ff[:, :, J["headPitch"]]
    assert 0.3 < np.degrees(pitch.std(1)).min() and np.degrees(pitch.std(1)).max() < 6


def test_blink_rate(targets_ff):
    out, _ = targets_ff
    for p in (0, 1):
        b = out[p, :, J["eyeBlinkLeft"]]
        onsets = np.flatnonzero((b[1:] > 0.5) & (b[:-1] <= 0.5))
        assert 8 <= len(onsets) <= 30, len(onsets)     # per minute
        assert b.max() > 0.9


def test_gaze_is_within_limits_and_saccadic(targets_ff):
    from model_runtime.channels import GAZE_LIMITS
    out, _ = targets_ff
    for name, (lo, hi) in GAZE_LIMITS.items():
        assert lo - 1e-6 <= out[:, :, J[name]].min() and out[:, :, J[name]].max() <= hi + 1e-6, name
        assert np.ptp(out[:, :, J[name]]) > 0.05, name                # and the eyes do move
    g = out[:, :, J["gazeYaw"]]
    step = np.degrees(np.abs(np.diff(g, axis=1)))
    # shifts are fast: big frame-to-frame jumps exist (saccades), not only slow ramps
    assert (step > 5).sum() >= 4


def test_deterministic(conv60):
    poses = preset_layout("corner")
    a = make_targets(conv60, poses, 400, np.random.default_rng(7))
    b = make_targets(conv60, poses, 400, np.random.default_rng(7))
    c = make_targets(conv60, poses, 400, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_odd_inputs():
    """Phones past the end, zero-length phones, no frames at all: no crash, right shapes."""
    seg = _segment(1, ESPEAK_LINES[0], 2.5)
    seg.phones.append(Phone("a:", 3.0, 3.0, 2))
    timing = DialogueTiming(3.0, [seg])
    out = make_targets(timing, preset_layout("corner"), 75, np.random.default_rng(0))
    assert out.shape == (2, 75, MOTION_DIM) and np.all(np.isfinite(out))
    assert make_targets(timing, preset_layout("corner"), 0, np.random.default_rng(0)).shape == (2, 0, MOTION_DIM)
    assert make_targets(timing, preset_layout("corner"), 1, np.random.default_rng(0)).shape == (2, 1, MOTION_DIM)


def test_empty_and_silent_conversation():
    timing = DialogueTiming(5.0, [])
    out = make_targets(timing, preset_layout("across_table"), 125, np.random.default_rng(0))
    assert out.shape == (2, 125, MOTION_DIM)
    assert out[:, :, J["jawOpen"]].max() < 0.05


def test_a_files_recorded_timing_redraws_targets_of_the_same_words(conv60):
    """The evaluation redraws targets from a file's meta["segments"] with another behaviour seed:
    the timing survives the JSON round trip, and the redrawn mouths say the same words."""
    from model_training.corpus.writer import segments_json
    back = DialogueTiming.from_segments_json(json.loads(json.dumps(segments_json(conv60))), conv60.duration)
    assert segments_json(back) == segments_json(conv60)
    poses = preset_layout("corner")
    n = int(60 * FPS)
    a = make_targets(conv60, poses, n, np.random.default_rng(3))
    b = make_targets(back, poses, n, np.random.default_rng(4))
    jaw = channel_index("jawOpen")
    for p in range(2):
        assert np.corrcoef(a[p, :, jaw], b[p, :, jaw])[0, 1] > 0.8
    assert np.abs(a[..., HEAD_SLICE] - b[..., HEAD_SLICE]).mean() > 1e-3   # behaviour differs


def test_listeners_mirror_the_speakers_tilt_only_when_asked(conv60):
    """corpus --mirroring (reactions.mirror_tilts): the listener's head roll takes on minus the
    speaker's a second or so later; nothing but the tilt and what follows it (gaze in the head,
    the lids) changes; the mouth stays as it was."""
    from model_training.interaction import tilt_mirroring
    poses = preset_layout("face_to_face")
    n = int(60 * FPS)
    plain = make_targets(conv60, poses, n, np.random.default_rng(5))
    mirrored = make_targets(conv60, poses, n, np.random.default_rng(5), mirroring=True)
    changed = {MOTION_CHANNELS[k] for k in np.flatnonzero(np.abs(mirrored - plain).max(axis=(0, 1)) > 1e-6)}
    assert "headRoll" in changed and changed <= {"headRoll", "gazeYaw", "gazePitch", "eyeBlinkLeft", "eyeBlinkRight"}
    mouth = [J[name] for name in MOTION_CHANNELS if name.startswith(("jaw", "mouth"))]
    assert np.array_equal(plain[..., mouth], mirrored[..., mouth])
    assert tilt_mirroring(mirrored) > tilt_mirroring(plain) + 0.15
    unanswered = make_targets(conv60, poses, n, np.random.default_rng(5), answers=False, mirroring=True)
    assert np.array_equal(unanswered[..., J["headRoll"]],
                          make_targets(conv60, poses, n, np.random.default_rng(5), answers=False)[..., J["headRoll"]])
