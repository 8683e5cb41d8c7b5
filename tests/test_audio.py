"""audio.py: reading every format and rate, resampling, clip placement, bad input."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from model_runtime import audio, resampling
from model_runtime.audio import ConversationAudio
from model_runtime.audio_files import AudioClip, read_clip
from model_runtime.resampling import resample
from model_runtime.timebase import SAMPLE_RATE
from model_runtime.errors import AudioError


def tone(freq: float, seconds: float, sr: int, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_freq(x: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1.0 / sr)[spec.argmax()])


def write_mp3(path, data: np.ndarray, sr: int) -> None:
    try:
        sf.write(str(path), data, sr, format="MP3")
    except Exception:
        if shutil.which("sox") is None:
            pytest.skip("neither libsndfile nor sox can write mp3")
        wav = str(path) + ".wav"
        sf.write(wav, data, sr)
        subprocess.run(["sox", wav, str(path)], check=True, capture_output=True)


# --------------------------------------------------------------------------- resampling
@pytest.mark.parametrize("sr_in", [44100, 48000, 22050, 8000])
def test_resample_preserves_frequency_and_length(sr_in):
    y = resample(tone(1000.0, 1.0, sr_in), sr_in, SAMPLE_RATE)
    assert abs(len(y) - SAMPLE_RATE) <= 1
    assert abs(peak_freq(y) - 1000.0) <= 2.0
    ref = tone(1000.0, len(y) / SAMPLE_RATE, SAMPLE_RATE)[: len(y)]
    assert np.abs(y - ref)[800:-800].max() < 1e-3       # amplitude and phase kept too


@pytest.mark.parametrize("sr_in", [44100, 48000])
def test_resample_attenuates_tone_above_new_nyquist(sr_in):
    x = tone(10000.0, 1.0, sr_in)                        # aliases to 6 kHz if unfiltered
    y = resample(x, sr_in, SAMPLE_RATE)
    rms_in, rms_out = np.sqrt(np.mean(x ** 2)), np.sqrt(np.mean(y[800:-800] ** 2))
    assert rms_out < rms_in * 1e-3                       # at least 60 dB down


def test_blockwise_reading_is_seamless(tmp_path, monkeypatch):
    x = np.random.default_rng(1).standard_normal(44100 * 3).astype(np.float32) * 0.1
    path = tmp_path / "noise.wav"
    sf.write(str(path), x, 44100, subtype="FLOAT")
    whole = resample(x, 44100, SAMPLE_RATE)
    monkeypatch.setattr(resampling, "BLOCK_OUT", 3000)       # many small blocks
    blocks = read_clip(AudioClip(str(path)))
    assert len(blocks) == len(whole)
    np.testing.assert_allclose(blocks, whole, atol=1e-5)


# --------------------------------------------------------------------------- formats
@pytest.mark.parametrize("ext,sr", [("wav", 44100), ("flac", 48000), ("ogg", 44100),
                                    ("mp3", 48000), ("wav", 16000)])
def test_formats_and_rates_stereo(tmp_path, ext, sr):
    stereo = np.stack([tone(440.0, 1.5, sr), tone(1200.0, 1.5, sr)], axis=1)
    path = tmp_path / f"stereo.{ext}"
    if ext == "mp3":
        write_mp3(path, stereo, sr)
    else:
        sf.write(str(path), stereo, sr)
    mono = read_clip(AudioClip(str(path)))
    assert mono.dtype == np.float32 and mono.ndim == 1
    assert abs(len(mono) / SAMPLE_RATE - 1.5) < 0.1      # mp3 may add codec padding
    left = read_clip(AudioClip(str(path), channel=0))
    right = read_clip(AudioClip(str(path), channel=1))
    mid = slice(len(left) // 4, 3 * len(left) // 4)
    assert abs(peak_freq(left[mid]) - 440.0) < 10
    assert abs(peak_freq(right[mid]) - 1200.0) < 10
    np.testing.assert_allclose(mono[mid], 0.5 * (left[mid] + right[mid]), atol=1e-5)


def test_missing_channel_is_an_error(tmp_path):
    path = tmp_path / "mono.wav"
    sf.write(str(path), tone(440.0, 1.0, 16000), 16000)
    with pytest.raises(AudioError, match="channel"):
        read_clip(AudioClip(str(path), channel=1))
    with pytest.raises(AudioError, match="two channels"):
        ConversationAudio.stereo(AudioClip(str(path)))


# --------------------------------------------------------------------------- clips
def test_trim_and_gain(tmp_path):
    sr = 48000
    x = np.concatenate([tone(300.0, 1.0, sr), tone(2000.0, 1.0, sr)])
    path = tmp_path / "two.wav"
    sf.write(str(path), x, sr, subtype="FLOAT")
    part = read_clip(AudioClip(str(path), source_start=1.0, duration=0.5, gain=0.5))
    assert abs(len(part) - SAMPLE_RATE // 2) <= 1
    assert abs(peak_freq(part) - 2000.0) < 5
    assert abs(np.abs(part[400:-400]).max() - 0.15) < 0.01
    with pytest.raises(AudioError, match="starts at"):
        read_clip(AudioClip(str(path), source_start=5.0))


def test_mixed_places_clips_on_common_timeline(tmp_path):
    p = tmp_path / "a.wav"
    sf.write(str(p), tone(500.0, 1.0, SAMPLE_RATE), SAMPLE_RATE, subtype="FLOAT")
    conv = ConversationAudio.mixed([AudioClip(str(p), timeline_start=3.0),
                                    AudioClip(str(p), timeline_start=1.0, gain=2.0)])
    assert conv.start_time == 1.0 and conv.mode == "mixed" and conv.tracks is None
    assert abs(conv.duration - 3.0) < 1e-3
    sec = SAMPLE_RATE
    assert abs(np.abs(conv.mix[: sec]).max() - 0.6) < 0.01        # gain 2 clip first
    assert np.abs(conv.mix[sec + 100: 2 * sec - 100]).max() < 1e-6  # gap between clips
    assert abs(np.abs(conv.mix[2 * sec:]).max() - 0.3) < 0.01


def test_overlapping_clips_are_summed(tmp_path):
    p = tmp_path / "a.wav"
    sf.write(str(p), tone(500.0, 1.0, SAMPLE_RATE), SAMPLE_RATE, subtype="FLOAT")
    conv = ConversationAudio.mixed([AudioClip(str(p)), AudioClip(str(p))])
    assert abs(np.abs(conv.mix).max() - 0.6) < 0.01


def test_per_person_stereo_and_swap(tmp_path):
    pa, pb, ps = tmp_path / "a.wav", tmp_path / "b.flac", tmp_path / "s.wav"
    sf.write(str(pa), tone(300.0, 1.0, 22050), 22050)
    sf.write(str(pb), tone(900.0, 1.0, 44100), 44100)
    conv = ConversationAudio.per_person([AudioClip(str(pa))],
                                        [AudioClip(str(pb), timeline_start=0.5)])
    assert conv.mode == "per_person" and conv.tracks.shape == (2, len(conv.mix))
    assert abs(conv.duration - 1.5) < 1e-3
    np.testing.assert_allclose(conv.mix, conv.tracks.sum(0), atol=1e-6)
    assert np.abs(conv.tracks[1, : SAMPLE_RATE // 2 - 50]).max() == 0.0
    sf.write(str(ps), np.stack([tone(300.0, 1.0, 48000), tone(900.0, 1.0, 48000)], 1), 48000)
    st = ConversationAudio.from_file(str(ps), mode="stereo")
    assert st.mode == "stereo" and st.tracks.shape[0] == 2
    assert abs(peak_freq(st.tracks[0]) - 300) < 5 and abs(peak_freq(st.tracks[1]) - 900) < 5
    mixed = ConversationAudio.from_file(str(ps))
    assert mixed.mode == "mixed" and mixed.tracks is None


# --------------------------------------------------------------------------- bad input
def test_missing_file_names_the_path(tmp_path):
    path = str(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="nope.wav"):
        ConversationAudio.from_file(path)


def test_corrupt_file(tmp_path):
    path = tmp_path / "bad.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(256)) * 4)
    with pytest.raises(AudioError, match="cannot read"):
        read_clip(AudioClip(str(path)))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(str(path), np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="empty"):
        ConversationAudio.from_file(str(path))


def test_silent_file(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(str(path), np.zeros(32000, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="silent"):
        ConversationAudio.from_file(str(path))


def test_too_short(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(str(path), tone(440.0, 0.1, 16000), 16000)
    with pytest.raises(AudioError, match=r"0\.10 s long; at least 0\.5 s"):
        ConversationAudio.from_file(str(path))


def test_nan_samples(tmp_path):
    x = tone(440.0, 1.0, 16000)
    x[1234] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(str(path), x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        ConversationAudio.from_file(str(path))


def test_too_long(tmp_path, monkeypatch):
    path = tmp_path / "long.wav"
    sf.write(str(path), tone(440.0, 2.0, 16000), 16000)
    monkeypatch.setattr(audio, "MAX_DURATION_S", 1.0)
    with pytest.raises(AudioError, match="at most"):
        ConversationAudio.from_file(str(path))
    # two 1 s clips placed 1 s apart make a conversation longer than the limit too
    clip = AudioClip(str(path), duration=0.9)
    with pytest.raises(AudioError, match="at most"):
        ConversationAudio.mixed([clip, AudioClip(str(path), duration=0.9, timeline_start=0.8)])


def test_no_clips():
    with pytest.raises(AudioError, match="no audio"):
        ConversationAudio.mixed([])
