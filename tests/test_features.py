"""features.py: shapes, frame count, level invariance, pitch, envelope, speed."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from model_runtime import features as F
from model_runtime.timebase import HOP, MODEL_FPS, SAMPLE_RATE, num_frames


def harmonic(f0: float, seconds: float, n_harm: int = 8, amp: float = 0.2) -> np.ndarray:
    """A voice-like tone: harmonics falling 1/k, as glottal pulses give."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    x = sum(np.sin(2 * np.pi * f0 * k * t + k) / k for k in range(1, n_harm + 1))
    return (amp * x / np.abs(x).max()).astype(np.float32)


def speechlike(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """Syllable-rate amplitude modulated harmonic tone with a gliding pitch, plus noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 10))
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return (0.2 * x * env + 0.003 * rng.standard_normal(n)).astype(np.float32)


def test_constants():
    assert HOP == 640 and MODEL_FPS == 25
    assert F.FEATURE_DIM == 4 * F.N_MELS + len(F.PROSODY_NAMES)


@pytest.mark.parametrize("n", [640, 641, 16000, 16001, 640 * 37 + 5])
def test_shape_dtype_finite_and_frame_count(n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.05
    feats = F.audio_features(x)
    assert feats.shape == (num_frames(n), F.FEATURE_DIM) == (-(-n // 640), F.FEATURE_DIM)
    assert feats.dtype == torch.float32 and torch.isfinite(feats).all()
    assert F.speech_envelope(x).shape == (num_frames(n),)


def test_tensor_input_and_silence_are_fine():
    x = torch.zeros(SAMPLE_RATE)
    feats = F.audio_features(x)
    assert feats.shape == (25, F.FEATURE_DIM) and torch.isfinite(feats).all()
    assert torch.equal(F.audio_features(torch.from_numpy(speechlike(1.0))),
                       F.audio_features(speechlike(1.0)))


@pytest.mark.parametrize("gain", [0.05, 4.0])
def test_level_changes_barely_change_features(gain):
    x = speechlike()
    a, b = F.audio_features(x), F.audio_features(x * gain)
    # the file's own noise is scaled too, so only rounding differs; a gain change of
    # 26 dB must move features by far less than their spread
    assert (a - b).abs().max() < 0.05 * a.std()


@pytest.mark.parametrize("f0", [85.0, 130.0, 220.0, 330.0])
def test_pitch_of_harmonic_tone_within_5_percent(f0):
    est, strength = F.pitch_track(harmonic(f0, 1.0))
    mid = est[3:-3]
    assert (mid > 0).all() and (strength[3:-3] > 0.8).all()
    assert (abs(mid / f0 - 1.0) < 0.05).all()


def test_noise_is_mostly_unvoiced():
    noise = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1
    est, strength = F.pitch_track(noise)
    assert (est > 0).float().mean() < 0.2
    assert strength.mean() < 0.5


def test_prosody_dims_follow_the_signal():
    x = np.concatenate([np.zeros(8000, np.float32), harmonic(150.0, 1.0)])
    x += np.random.default_rng(0).standard_normal(len(x)).astype(np.float32) * 1e-3
    feats = F.audio_features(x)
    energy, voicing = feats[:, F.MEL_DIM], feats[:, F.MEL_DIM + 2]
    assert energy[15:].mean() > energy[:10].mean() + 1.0
    assert voicing[15:].mean() > 0.8 > voicing[:10].mean()


def test_speech_envelope_tracks_loudness():
    x = np.concatenate([harmonic(150.0, 1.0, amp=0.02), harmonic(150.0, 1.0, amp=0.3)])
    env = F.speech_envelope(x)
    assert env.dtype == np.float32
    assert env[30:48].mean() > 5 * env[2:20].mean()


def test_one_minute_is_fast():
    x = speechlike(60.0)
    F.audio_features(x[:SAMPLE_RATE])                   # warm-up (plans, caches)
    t0 = time.process_time()       # CPU time: wall time on a shared machine says little
    F.audio_features(x)
    # 10 min takes ~0.3 s wall on two free cores; a minute is far below this bound
    assert time.process_time() - t0 < 1.5
