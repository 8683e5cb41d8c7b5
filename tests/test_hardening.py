"""The runtime under bad input and load (issue 14): never a NaN, never a half-written or
hijacked file, a message instead of a traceback, any sample rate fast."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from model_runtime import features, pipeline, resampling
from model_runtime.audio import ConversationAudio
from model_runtime.audio_files import AudioClip, read_clip
from model_runtime.resampling import resample
from model_runtime.channels import MOTION_DIM
from model_runtime.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model_runtime.errors import AudioError, CheckpointError, OutputError, TalkingTogetherError
from model_runtime.layouts import preset_layout
from model_runtime.model import ConversationDenoiser, ModelConfig
from model_runtime.settings import GenerationSettings
from model_runtime.timebase import SAMPLE_RATE

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "dialogue.flac"
FAST = GenerationSettings(steps=2, guidance=1.0, face_guidance=1.0, device="cpu")


def speechlike(seconds: float = 3.0, sr: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(140 + 30 * np.sin(2 * np.pi * 0.7 * t)) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 10)) * np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return (0.2 * x + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def tone(freq: float, seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --------------------------------------------------------------------------- 1. never a NaN
@pytest.mark.parametrize("scale", [1e20, 1e30, 3e37])
def test_features_of_very_loud_audio_are_finite_and_unchanged(scale):
    x = speechlike()
    loud = (x.astype(np.float64) * scale).astype(np.float32)
    assert np.isfinite(loud).all()
    feats = features.audio_features(loud)
    assert torch.isfinite(feats).all()
    # every feature is relative to the file's level: x1e30 is the same recording
    assert float((feats - features.audio_features(x)).abs().max()) < 1e-3
    f0, strength = features.pitch_track(loud)
    assert torch.isfinite(f0).all() and torch.isfinite(strength).all()
    assert np.isfinite(features.speech_envelope(loud)).all()


def test_very_loud_float_file_reads_in_range(tmp_path):
    path = tmp_path / "loud.wav"
    sf.write(str(path), speechlike() * np.float32(1e30), SAMPLE_RATE, subtype="FLOAT")
    conv = ConversationAudio.from_file(str(path))
    assert np.isfinite(conv.mix).all() and 0.5 <= np.abs(conv.mix).max() <= 1.0
    stereo = tmp_path / "loud_stereo.wav"
    sf.write(str(stereo), np.stack([speechlike(), speechlike(seed=1) * 0.5], 1) * np.float32(1e30),
             SAMPLE_RATE, subtype="FLOAT")
    conv = ConversationAudio.from_file(str(stereo), mode="stereo")
    peak_a, peak_b = np.abs(conv.tracks).max(axis=1)
    assert np.abs(conv.tracks).max() <= 1.0
    assert peak_b / peak_a == pytest.approx(0.5, rel=0.05)      # one scale for both: levels kept


def test_generate_on_audio_x1e30_gives_finite_motion(tmp_path):
    path = tmp_path / "loud.wav"
    x, sr = sf.read(str(EXAMPLE), dtype="float32", frames=4 * 48000)
    sf.write(str(path), x * np.float32(1e30), sr, subtype="FLOAT")
    result = pipeline.generate(ConversationAudio.from_file(str(path)), preset_layout("face_to_face"), FAST)
    for p in result.people:
        assert np.isfinite(p.face).all() and np.isfinite(p.head).all() and np.isfinite(p.eyes).all()


def test_generate_refuses_non_finite_motion(monkeypatch):
    conv = ConversationAudio.mixed([AudioClip(str(EXAMPLE), duration=2.0)])
    real = pipeline.sample_span

    def poisoned(*args, **kwargs):
        motion = real(*args, **kwargs)
        motion[0, 3, 5] = np.nan
        return motion

    monkeypatch.setattr(pipeline, "sample_span", poisoned)
    with pytest.raises(TalkingTogetherError, match="non-finite"):
        pipeline.generate(conv, preset_layout("face_to_face"), FAST)


# --------------------------------------------------------------------------- checkpoints
def tiny_checkpoint(**stats) -> Checkpoint:
    torch.manual_seed(0)
    cfg = ModelConfig(channels=16, channel_mults=(1, 2), attn_layers=1, attn_heads=2)
    base = dict(motion_mean=torch.zeros(MOTION_DIM), motion_std=torch.ones(MOTION_DIM),
                audio_mean=torch.zeros(cfg.audio_dim), audio_std=torch.ones(cfg.audio_dim))
    base.update(stats)
    return Checkpoint(cfg, ConversationDenoiser(cfg).state_dict(), **base, info={"name": "t"})


def damaged(tmp_path, change) -> Path:
    path = save_checkpoint(tiny_checkpoint(), tmp_path / "w.pt")
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)
    return path


def _set_weight(value):
    def change(p):
        p["state_dict"]["in_proj.weight"] = value(p["state_dict"]["in_proj.weight"])
    return change


def _set_stat(name, value):
    def change(p):
        p["stats"][name] = value(p["stats"][name])
    return change


def _poke(t, v):
    t = t.clone()
    t.view(-1)[7] = v
    return t


@pytest.mark.parametrize("case,change,message", [
    ("nan weight", _set_weight(lambda w: _poke(w, float("nan"))), "NaN or infinite"),
    ("inf weight", _set_weight(lambda w: _poke(w, float("inf"))), "NaN or infinite"),
    ("float64 weight", _set_weight(lambda w: w.double()), "float64"),
    ("non-tensor weight", _set_weight(lambda w: [1.0, 2.0]), "not a tensor"),
    ("zero audio_std", _set_stat("audio_std", lambda s: _poke(s, 0.0)), "audio_std.*zero, negative"),
    ("negative motion_std", _set_stat("motion_std", lambda s: _poke(s, -1.0)), "motion_std.*zero, negative"),
    ("nan audio_std", _set_stat("audio_std", lambda s: _poke(s, float("nan"))), "audio_std.*NaN"),
    ("inf motion_mean", _set_stat("motion_mean", lambda s: _poke(s, float("inf"))), "motion_mean.*NaN"),
    ("wrong stats shape", _set_stat("audio_mean", lambda s: s[:-3]), r"audio_mean has shape \(161,\)"),
    ("float64 stats", _set_stat("audio_std", lambda s: s.double()), "float64"),
    ("stats missing", lambda p: p["stats"].pop("motion_std"), "motion_std is missing"),
    ("info not a table", lambda p: p.update(info=[1, 2]), "training info"),
    ("config not a table", lambda p: p.update(config=7), "config is missing"),
    ("heads do not divide", lambda p: p["config"].update(attn_heads=3), "attn_heads"),
])
def test_bad_weights_are_refused_naming_the_problem(tmp_path, case, change, message):
    path = damaged(tmp_path, change)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_absurd_config_is_refused_before_building_anything(tmp_path, monkeypatch):
    path = damaged(tmp_path, lambda p: p["config"].update(channels=2048, channel_mults=[1, 16, 16, 16],
                                                              attn_layers=64))
    built = []
    monkeypatch.setattr(ConversationDenoiser, "__init__", lambda self, cfg: built.append(cfg))
    with pytest.raises(CheckpointError, match="parameters"):
        load_checkpoint(path)
    assert not built


def test_good_weights_still_load_and_default_weights_pass_the_checks(tmp_path):
    path = save_checkpoint(tiny_checkpoint(), tmp_path / "w.pt")
    ckpt = load_checkpoint(path)
    assert ckpt.audio_std.dtype == torch.float32
    ckpt.build_model()
    load_checkpoint()


def test_checkpoint_save_is_atomic_and_ignores_planted_links(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, tmp_path / "w.pt.partial")
    path = save_checkpoint(tiny_checkpoint(), tmp_path / "w.pt")
    assert victim.read_text() == "precious"
    load_checkpoint(path)
    with pytest.raises(OutputError, match="w.pt"):
        (tmp_path / "f").write_text("x")
        save_checkpoint(tiny_checkpoint(), tmp_path / "f" / "w.pt")


# --------------------------------------------------------------------------- 3. messages
def truncated_flac(tmp_path) -> Path:
    full = tmp_path / "full.flac"
    sf.write(str(full), speechlike(6.0, 48000), 48000)
    data = full.read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: len(data) // 2])
    return cut


def test_truncated_flac_is_an_audio_error_naming_the_file(tmp_path):
    cut = truncated_flac(tmp_path)
    with pytest.raises(AudioError, match=r"cut\.flac.*truncated or damaged"):
        ConversationAudio.from_file(str(cut))


def test_cli_reports_a_truncated_file_in_one_line(tmp_path):
    cut = truncated_flac(tmp_path)
    run = subprocess.run([sys.executable, "-m", "model_runtime", "generate", str(cut), "--out",
                          str(tmp_path / "r.json")], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2, run.stderr
    assert "error: cannot read audio file" in run.stderr and "Traceback" not in run.stderr


# --------------------------------------------------------------------------- 6. sample rates
def wav_with_rate(path: Path, sr: int) -> Path:
    import struct
    data = (np.sin(np.arange(16000) * 0.1) * 10000).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, sr, (sr * 2) & 0xFFFFFFFF, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


@pytest.mark.parametrize("sr", [2_147_483_647, 1_000_001, 999, 1])
def test_absurd_rates_are_refused_at_once(tmp_path, sr):
    path = wav_with_rate(tmp_path / "odd.wav", sr)
    t0 = time.perf_counter()
    with pytest.raises(AudioError, match=f"{sr} Hz"):
        read_clip(AudioClip(str(path)))
    assert time.perf_counter() - t0 < 1.0
    with pytest.raises(AudioError):
        resample(np.zeros(100, np.float32), sr, SAMPLE_RATE)


@pytest.mark.parametrize("sr", [44101, 47999, 22051])
def test_rates_coprime_with_16k_are_exact(tmp_path, sr):
    path = tmp_path / "odd.wav"
    sf.write(str(path), tone(1000.0, 10.0, sr), sr)
    resampling.resampler.cache_clear()
    t0 = time.perf_counter()
    y = read_clip(AudioClip(str(path)))
    elapsed = time.perf_counter() - t0
    assert elapsed < 5.0, f"{elapsed:.1f} s for 10 s at {sr} Hz (was 13-75 s)"
    assert len(y) == -(-10 * sr * SAMPLE_RATE // sr)
    ref = tone(1000.0, 10.0, SAMPLE_RATE)[: len(y)]
    assert np.abs(y - ref)[800:-800].max() < 1e-3            # timing exact to the end


@pytest.mark.parametrize("sr", [44101, 192001])
def test_blockwise_reading_of_odd_rates_is_seamless(tmp_path, monkeypatch, sr):
    x = np.random.default_rng(1).standard_normal(sr * 2).astype(np.float32) * 0.1
    path = tmp_path / "noise.wav"
    sf.write(str(path), x, sr, subtype="FLOAT")
    whole = resample(x, sr, SAMPLE_RATE)
    monkeypatch.setattr(resampling, "BLOCK_OUT", 3000)
    blocks = read_clip(AudioClip(str(path)))
    assert len(blocks) == len(whole)
    np.testing.assert_allclose(blocks, whole, atol=1e-5)


@pytest.mark.parametrize("sr", [192001, 999983])
def test_high_odd_rates_keep_timing_and_quality(sr):
    x = tone(1000.0, 4.0, sr)
    y = resample(x, sr, SAMPLE_RATE)
    assert len(y) == -(-len(x) * SAMPLE_RATE // sr)
    ref = tone(1000.0, 4.0, SAMPLE_RATE)[: len(y)]
    assert np.abs(y - ref)[800:-800].max() < 1e-3


@pytest.mark.parametrize("sr_in,sr_out", [(44100, 16000), (8000, 16000), (47999, 16000), (16000, 44100)])
def test_two_stage_resampler_is_exact_in_time_and_filters_aliases(monkeypatch, sr_in, sr_out):
    monkeypatch.setattr(resampling, "_MAX_TABLE", 100)          # every ratio takes the two-stage path
    resampling.resampler.cache_clear()
    try:
        assert type(resampling.resampler(sr_in, sr_out)).__name__ == "_TwoStage"
        x = tone(3000.0, 3.0, sr_in)
        y = resample(x, sr_in, sr_out)
        assert len(y) == -(-len(x) * sr_out // sr_in)
        assert np.abs(y - tone(3000.0, 3.0, sr_out)[: len(y)])[3000:-3000].max() < 1e-4
        if sr_in > 2 * 10000:
            above = tone(10000.0, 1.0, sr_in)                  # aliases to 6 kHz if unfiltered
            assert np.sqrt(np.mean(resample(above, sr_in, sr_out)[800:-800] ** 2)) < 0.3 * 1e-3
    finally:
        resampling.resampler.cache_clear()


@pytest.mark.parametrize("value", [float("nan"), 0.0, 100.0, "fast"])
def test_a_step_spacing_the_sampler_cannot_use_is_refused_by_name(value):
    with pytest.raises(TalkingTogetherError, match="step spacing"):
        GenerationSettings(step_spacing=value).checked()
