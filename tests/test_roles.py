"""roles.py: VAD, crosstalk between per-person tracks, two-speaker diarization, roles."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from model_runtime import channels, roles
from model_runtime.audio import ConversationAudio
from model_runtime.audio_files import AudioClip
from model_runtime.resampling import resample
from model_runtime.timebase import HOP, SAMPLE_RATE, num_frames
from model_runtime.masks import runs

FPS = SAMPLE_RATE // HOP


def burst(seconds: float, f0: float = 140.0, amp: float = 0.2, seed: int = 0) -> np.ndarray:
    """Voice-like sound: harmonics with a gliding pitch and syllable-rate loudness."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t + seed))) / SAMPLE_RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 10))
    env = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t + seed)
    return (amp * x * env / np.abs(x).max()).astype(np.float32)


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


def add_noise(x: np.ndarray, level: float = 1e-3, seed: int = 0) -> np.ndarray:
    return x + level * np.random.default_rng(seed).standard_normal(x.shape).astype(np.float32)


def frames_of(mask_samples: np.ndarray) -> np.ndarray:
    """Per model frame: True where most of its samples are True."""
    n = num_frames(len(mask_samples))
    m = np.zeros(n * HOP, bool)
    m[: len(mask_samples)] = mask_samples
    return m.reshape(n, HOP).mean(1) > 0.5


# --------------------------------------------------------------------------- VAD
def test_vad_finds_speech_between_silences():
    parts = [quiet(1.0), burst(1.5), quiet(0.8), burst(0.6, seed=2), quiet(1.2), burst(2.0, seed=3),
             quiet(0.7)]
    truth = frames_of(np.concatenate([np.full(len(p), p.any()) for p in parts]))
    vad = roles.voice_activity(add_noise(np.concatenate(parts)))
    assert vad.dtype == bool and vad.shape == truth.shape
    assert (vad == truth).mean() >= 0.9


def test_vad_bridges_short_pauses_and_drops_clicks():
    click = np.zeros(int(0.04 * SAMPLE_RATE), np.float32)
    click[::37] = 0.5
    x = np.concatenate([quiet(1.0), burst(1.0), quiet(0.1), burst(1.0, seed=1), quiet(1.0), click,
                        quiet(1.0)])
    vad = roles.voice_activity(add_noise(x))
    s, e = runs(vad)
    assert len(s) == 1                                  # one segment: pause bridged, click gone
    assert abs(s[0] / FPS - 1.0) < 0.1 and abs(e[0] / FPS - 3.1) < 0.15


# --------------------------------------------------------------------------- tracks
def two_tracks(bleed_db: float = -20.0):
    """A speaks 0.5-2.5 s, B 3-5 s, both 5.5-6.5 s; each voice leaks into the other's mic."""
    a = np.concatenate([quiet(0.5), burst(2.0), quiet(3.0), burst(1.0, seed=4), quiet(0.5)])
    b = np.concatenate([quiet(3.0), burst(2.0, f0=220, seed=1), quiet(0.5),
                        burst(1.0, f0=220, seed=5), quiet(0.5)])
    g = 10 ** (bleed_db / 20)
    tracks = np.stack([add_noise(a + g * b, seed=1), add_noise(b + g * a, seed=2)])
    truth = np.stack([frames_of(a != 0), frames_of(b != 0)])
    return tracks, truth


def test_crosstalk_is_not_counted_as_speech():
    tracks, truth = two_tracks(-20.0)
    act = roles.activity_from_tracks(tracks)
    assert act.shape == truth.shape and act.dtype == bool
    assert (act == truth).mean(axis=1).min() >= 0.9
    a_only = truth[0] & ~truth[1]
    assert act[1][a_only].mean() < 0.05                 # B's mic hearing A is not B talking
    both = truth[0] & truth[1]
    assert act[:, both].all(axis=0).mean() > 0.8        # real overlap is kept


def test_track_with_only_bleed_is_never_active():
    tracks, truth = two_tracks(-20.0)
    tracks[1] = add_noise(0.1 * (tracks[0] - tracks[0].mean()), seed=3)   # B's mic hears A only
    act = roles.activity_from_tracks(tracks)
    assert not act[1].any() and act[0].any()


def test_silent_track_is_never_active():
    tracks, _ = two_tracks()
    tracks[1] = 0.0
    act = roles.activity_from_tracks(tracks)
    assert not act[1].any() and act[0].any()


# --------------------------------------------------------------------------- diarization
ESPEAK = shutil.which("espeak-ng")
VOICE_A = ("en-us", "30")
VOICE_B = ("en-gb", "75")
SCRIPT = [
    ("A", "Hello there, I wanted to talk to you about the project we started last week."),
    ("B", "Yeah."),
    ("A", "We need to finish the design before the end of the month, and money is tight."),
    ("B", "Sure, I remember it well. We had a lot of trouble with the schedule."),
    ("A", "Right."),
    ("B", "So what do you think we should do first?"),
    ("A", "Let us start with the interface, and then move on to testing."),
]


def say(text: str, voice: tuple[str, str], tmp) -> np.ndarray:
    path = str(tmp / "say.wav")
    subprocess.run([ESPEAK, "-v", voice[0], "-p", voice[1], "-w", path, text], check=True,
                   capture_output=True)
    x, sr = sf.read(path, dtype="float32")
    return resample(x, sr, SAMPLE_RATE)


def own_frames(x: np.ndarray) -> np.ndarray:
    """Frames where an utterance is audible on its own (-40 dB re its loudest frame)."""
    n = num_frames(len(x))
    p = np.pad(x, (0, n * HOP - len(x))).reshape(n, HOP).astype(np.float64)
    p = (p ** 2).mean(1)
    return p > p.max() * 1e-4


@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    """(mix, reference label per frame: 0 A, 1 B, -1 nobody, backchannel frames of B)."""
    if ESPEAK is None:
        pytest.skip("espeak-ng is not installed")
    tmp = tmp_path_factory.mktemp("espeak")
    mix, ref, back = [], [], []
    for who, text in SCRIPT:
        x = say(text, VOICE_A if who == "A" else VOICE_B, tmp)
        x = x[: len(x) // HOP * HOP]
        lab = np.where(own_frames(x), 0 if who == "A" else 1, -1)
        pause = np.zeros(int(0.64 * SAMPLE_RATE), np.float32)
        if text == "Yeah.":
            back = np.arange(len(lab))[lab == 1] + sum(len(r) for r in ref)
        mix += [x, pause]
        ref += [lab, np.full(len(pause) // HOP, -1)]
    return add_noise(np.concatenate(mix), 2e-3), np.concatenate(ref), back


def labels(act: np.ndarray) -> np.ndarray:
    return np.where(act[0], 0, np.where(act[1], 1, -1))


def test_diarization_of_two_voices(conversation):
    mix, ref, back = conversation
    act = roles.diarize_two_speakers(mix)
    assert act.shape == (2, num_frames(len(mix))) and act.dtype == bool
    hyp = labels(act)[: len(ref)]
    assert (hyp == ref).mean() >= 0.9
    speech = ref >= 0
    assert (hyp[speech] == ref[speech]).mean() >= 0.9
    assert (hyp[back] == 1).mean() >= 0.5              # the short "yeah" is B's
    assert hyp[np.flatnonzero(hyp >= 0)[0]] == 0        # A is the voice heard first


def test_a_single_utterance_goes_to_person_a():
    x = add_noise(np.concatenate([quiet(0.5), burst(1.2), quiet(0.5)]))
    act = roles.diarize_two_speakers(x)
    assert act[0].sum() >= 20 and not act[1].any()


def test_synthetic_low_and_high_voice_without_espeak():
    """Alternating turns of a low and a high harmonic 'voice', with a short high reply."""
    parts, ref = [], []
    for i, (sec, f0) in enumerate([(2.0, 110), (1.5, 230), (0.4, 110), (2.0, 230), (1.5, 110)]):
        x = burst(sec, f0=f0, seed=i)
        parts += [x, quiet(0.5)]
        ref += [np.full(len(x) // HOP, 0 if f0 == 110 else 1), np.full(len(quiet(0.5)) // HOP, -1)]
    act = roles.diarize_two_speakers(add_noise(np.concatenate(parts)))
    ref = np.concatenate(ref)
    hyp = labels(act)[: len(ref)]
    speech = (ref >= 0) & (hyp >= 0)
    assert (hyp[speech] == ref[speech]).mean() >= 0.9


def test_voice_clusterings_are_combined_by_majority_whatever_their_names():
    """Clusterings at several window lengths name the voices arbitrarily, and each may err on
    its own stretch: the combination follows the majority, named like the first."""
    speech = np.ones(12, bool)
    speech[6] = False                                       # a pause: no vote counts there
    truth = np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1])
    renamed = 1 - truth                                     # right, but with the names swapped
    wrong_start = truth.copy()
    wrong_start[:3] = 1                                     # gives A's first phrase to B
    wrong_end = renamed.copy()
    wrong_end[9:] = 1                                       # renamed, and gives B's last to A
    got = roles.majority_voice([truth, renamed, wrong_start, wrong_end, renamed], speech)
    np.testing.assert_array_equal(got[speech], truth[speech])
    got = roles.majority_voice([renamed, truth, wrong_start], speech)
    np.testing.assert_array_equal(got[speech], renamed[speech])


def test_activity_dispatch(conversation, tmp_path):
    mix, _, _ = conversation
    path = tmp_path / "conv.wav"
    sf.write(str(path), mix, SAMPLE_RATE, subtype="FLOAT")
    conv = ConversationAudio.from_file(str(path))
    np.testing.assert_array_equal(roles.activity(conv), roles.diarize_two_speakers(conv.mix))
    tracks, truth = two_tracks()
    pa, pb = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(str(pa), tracks[0], SAMPLE_RATE, subtype="FLOAT")
    sf.write(str(pb), tracks[1], SAMPLE_RATE, subtype="FLOAT")
    pp = ConversationAudio.per_person([AudioClip(str(pa))], [AudioClip(str(pb))])
    np.testing.assert_array_equal(roles.activity(pp), roles.activity_from_tracks(pp.tracks))


def test_identical_channels_fall_back_to_diarization(conversation, tmp_path):
    mix, _, _ = conversation
    path = tmp_path / "dual_mono.wav"
    sf.write(str(path), np.stack([mix, mix], 1), SAMPLE_RATE, subtype="FLOAT")
    conv = ConversationAudio.from_file(str(path), mode="stereo")
    act = roles.activity(conv)
    np.testing.assert_array_equal(act, roles.diarize_two_speakers(conv.mix))
    assert act[0].any() and act[1].any()


def test_role_tracks_follow_activity():
    act = np.array([[1, 1, 0, 0, 1], [0, 1, 1, 0, 0]], dtype=bool)
    r = roles.role_tracks(act)
    assert r.dtype == np.int64 and r.shape == act.shape
    a_only = act[0] & ~act[1]
    assert (r[0][a_only] == channels.ROLE_SPEAKING).all()
    assert (r[1][a_only] == channels.ROLE_LISTENING).all()
    assert (r[:, act[0] & act[1]] == channels.ROLE_BOTH).all()
    assert (r[:, ~act[0] & ~act[1]] == channels.ROLE_SILENT).all()


# --------------------------------------------------------------------------- re-segmentation
def _path(ll: np.ndarray, contiguous: np.ndarray) -> str:
    from model_runtime import resegment
    return "".join("ABab"[s] for s in resegment.viterbi(ll, contiguous))


def _stretch_of_b(frames: int, n: int = 100, start: int = 40, strength: float = 6.0) -> np.ndarray:
    """Frame log-likelihoods: voice A clearly, but voice B for `frames` frames from `start`."""
    ll = np.zeros((n, 2))
    ll[:, 0] = strength
    ll[start:start + frames] = [0.0, strength]
    return ll


def test_resegment_duration_priors_in_unbroken_speech():
    """Inside unbroken speech of A: a blip of B's voice is no change (no flicker); a
    backchannel-long stretch is B over A (both active, A keeps the floor); a long one is a
    hand-over to B, at the frame where B's voice starts (no lag)."""
    unbroken = np.ones(100, dtype=bool)
    assert _path(_stretch_of_b(3), unbroken) == "A" * 100
    assert _path(_stretch_of_b(12), unbroken) == "A" * 40 + "a" * 12 + "A" * 48
    assert _path(_stretch_of_b(60), unbroken) == "A" * 40 + "B" * 60


def test_resegment_a_short_reply_after_a_pause_is_its_own():
    """Across a pause a change of voice is cheap: a short reply is the other person alone,
    never overlap (nobody talks over silence)."""
    contiguous = np.ones(100, dtype=bool)
    contiguous[[40, 46]] = False                       # pauses before and after the reply
    path = _path(_stretch_of_b(6), contiguous)
    assert path == "A" * 40 + "B" * 6 + "A" * 54


def test_diarization_marks_overlap_as_both():
    from model_runtime import resegment
    assert resegment.ACTIVE[resegment.STATE_A_OVER].all() and resegment.ACTIVE[resegment.STATE_B_OVER].all()
    assert resegment.ACTIVE[resegment.STATE_A].tolist() == [True, False]
