"""Hours of dialogue in bounded memory: the audio is read block by block, the conversation
sampled segment by segment, finished and written as it comes; each step gives what the whole
signal would give."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from model_runtime import audio as audio_module
from model_runtime import audio_scan, blinks, features, pipeline, segments
from model_runtime.api import GenerationSettings, preset_layout
from model_runtime.audio import ConversationAudio
from model_runtime.audio_files import AudioClip
from model_runtime.channels import MOTION_DIM, roles_from_activity
from model_runtime.frame_rate import FrameRateStream
from model_runtime.result import ConversationResult
from model_runtime.timebase import MODEL_FPS, SAMPLE_RATE

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dialogue.flac"
FAST = GenerationSettings(steps=2, guidance=1.0, face_guidance=1.0, device="cpu")


@pytest.fixture(scope="module")
def minutes_of_dialogue(tmp_path_factory) -> Path:
    """The example dialogue repeated to 100 s (more than two scan blocks)."""
    data, sr = sf.read(str(EXAMPLE), dtype="float32")
    path = tmp_path_factory.mktemp("long") / "dialogue_100s.flac"
    sf.write(str(path), np.resize(data, 100 * sr), sr)
    return path


def held_bytes(obj, seen=None) -> int:
    """Bytes of the numpy arrays and tensors reachable from an object's attributes."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, (list, tuple)):
        return sum(held_bytes(v, seen) for v in obj)
    if isinstance(obj, dict):
        return sum(held_bytes(v, seen) for v in obj.values())
    if hasattr(obj, "__dict__"):
        return held_bytes(vars(obj), seen)
    return 0


def test_conversation_audio_holds_no_samples_and_reads_what_the_file_has(minutes_of_dialogue):
    conv = ConversationAudio.from_file(str(minutes_of_dialogue))
    short = ConversationAudio.mixed([AudioClip(str(minutes_of_dialogue), duration=20.0)])
    more_samples = (conv.length - short.length) * 4
    # what is kept per frame (levels, pitch) grows with length; the samples must not be kept
    assert held_bytes(conv) - held_bytes(short) < 0.05 * more_samples, "the audio's samples are kept"
    data, sr = sf.read(str(minutes_of_dialogue), dtype="float32")
    assert sr == SAMPLE_RATE and np.array_equal(conv.mix, data)


def test_a_full_temporary_disk_only_costs_reading_the_files_again(minutes_of_dialogue, monkeypatch):
    class FullDisk(io.BytesIO):
        def write(self, data):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(audio_module.tempfile, "TemporaryFile", lambda **kwargs: FullDisk())
    conv = ConversationAudio.from_file(str(minutes_of_dialogue))
    assert not conv.source.whole                        # nothing spooled: the file is read again
    data, _ = sf.read(str(minutes_of_dialogue), dtype="float32")
    np.testing.assert_array_equal(conv.mix, data)


def test_features_block_by_block_equal_those_of_the_whole_signal(minutes_of_dialogue, monkeypatch):
    conv = ConversationAudio.from_file(str(minutes_of_dialogue))
    whole = features.audio_features(conv.mix)
    monkeypatch.setattr(audio_scan, "BLOCK_FRAMES", 37)          # many seams, odd sizes
    conv = ConversationAudio.from_file(str(minutes_of_dialogue))
    feats, _ = pipeline.conversation_conditions(conv)
    assert feats.shape == whole.shape
    assert float((feats - whole).abs().max()) < 1e-4
    f0, strength = features.pitch_track(conv.mix)
    assert torch.allclose(conv.scan.pitch[0], f0, atol=1e-3) and torch.allclose(conv.scan.pitch[1], strength, atol=1e-5)


def test_band_medians_are_the_exact_medians_within_a_hundredth_of_a_decibel():
    rng = np.random.default_rng(0)
    mp = torch.from_numpy(np.exp(rng.normal(-6, 4, size=(20001, features.N_MELS))).astype(np.float32))
    levels = features.BandMedians()
    for part in torch.split(mp, 4096):
        levels.add(part)
    exact = mp.median(dim=0).values
    assert float((10 * torch.log10(levels.medians() / exact)).abs().max()) < 0.01


@pytest.mark.parametrize("fps_out", [30000 / 1001, 24.0, 60.0, 12.5])
def test_frame_rate_in_pieces_equals_whole_interpolation(fps_out):
    rng = np.random.default_rng(1)
    n = 1003
    curves = rng.standard_normal((n, 5)).astype(np.float32)
    roles = rng.integers(0, 4, n)
    stream, got, got_roles = FrameRateStream(n, MODEL_FPS, fps_out), [], []
    for a, b in [(0, 1), (1, 250), (250, 251), (251, 700), (700, n)]:
        (c,), r = stream.push(a, [curves[a:b]], roles[a:b])
        got.append(c)
        got_roles.append(r)
    m = max(1, round(n / MODEL_FPS * fps_out))
    t = np.arange(m) / fps_out
    want = np.stack([np.interp(t, np.arange(n) / MODEL_FPS, curves[:, j]) for j in range(5)], 1)
    np.testing.assert_allclose(np.concatenate(got), want, atol=1e-6)
    np.testing.assert_array_equal(np.concatenate(got_roles), roles[np.clip(np.round(t * MODEL_FPS).astype(int), 0, n - 1)])


def test_blinks_added_piece_by_piece_equal_those_added_to_the_whole():
    rng = np.random.default_rng(2)
    n = 3 * 500 + 123
    motion = np.clip(rng.normal(0.2, 0.1, (2, n, MOTION_DIM)), 0, 1).astype(np.float32)
    motion[:, :, list(blinks.BLINK_CHANNELS)] = 0.0
    speaking = (np.arange(n) // 200) % 2 == 0
    roles = np.stack([roles_from_activity(speaking, ~speaking), roles_from_activity(~speaking, speaking)])
    want = np.stack([blinks.complement_blinks_in_blocks(motion[i], roles[i], MODEL_FPS, 17.0, seed=(5, i))
                     for i in range(2)])
    finisher = segments.MotionFinisher(roles, MODEL_FPS, 17.0, seed=5)
    out = np.full_like(motion, np.nan)
    for a, b in [(0, 10), (10, 600), (600, 601), (601, 1400), (1400, n)]:
        done = finisher.push(a, motion[:, a:b])
        if done is not None:
            out[:, done[0]:done[0] + done[1].shape[1]] = done[1]
    np.testing.assert_array_equal(out, want)
    assert (want[:, :, blinks.BLINK_CHANNELS[0]] > 0.5).any()        # blinks were added at all


def test_stitched_segments_cover_every_frame_once_cross_faded(monkeypatch):
    monkeypatch.setattr(segments, "SEGMENT_FRAMES", 300)
    monkeypatch.setattr(segments, "MARGIN", 60)
    monkeypatch.setattr(segments, "CROSSFADE", 40)
    n = 1000
    plan = segments.plan_segments(n)
    assert len(plan) > 1 and all(s.span[1] - s.span[0] <= 300 for s in plan)
    assert [s.core for s in plan] == list(zip([s.core[0] for s in plan], [s.core[0] for s in plan[1:]] + [n]))
    out = np.concatenate([m for _, m in segments.stitch(plan, lambda s: np.full(
        (1, s.span[1] - s.span[0], 1), float(plan.index(s)), np.float32))], axis=1)[0, :, 0]
    assert out.shape == (n,)
    for k, seg in enumerate(plan):
        a, b = seg.core
        inner = out[a + 20 if k else a:b - 20 if k < len(plan) - 1 else b]
        assert (inner == k).all()                      # each core is its own segment's motion
        if k:
            fade = out[a - 20:a + 20]
            assert np.all(np.diff(fade) > 0) and fade[0] > k - 1 and fade[-1] < k   # a ramp, no step


@pytest.mark.slow
def test_a_conversation_sampled_in_segments_is_seamless_and_close_to_whole(minutes_of_dialogue, monkeypatch):
    conv = ConversationAudio.mixed([AudioClip(str(minutes_of_dialogue), duration=60.0)])
    poses = preset_layout("face_to_face")
    whole = pipeline.generate(conv, poses, FAST)
    monkeypatch.setattr(segments, "SEGMENT_FRAMES", 1300)           # cores of 12 s, the real margins
    assert segments.MARGIN == 500 and segments.CROSSFADE == 250
    parts = pipeline.generate(conv, poses, FAST)
    assert parts.num_frames == whole.num_frames
    boundaries = [s.core[0] for s in segments.plan_segments(whole.num_frames)[1:]]
    assert boundaries
    for pw, pp in zip(whole.people, parts.people):
        head_w, head_p = pw.head, pp.head
        # the segments see enough context to agree with the whole conversation's motion
        assert np.abs(head_p - head_w).mean() < 0.25 * head_w.std()
        # and no jump where they meet: steps there are like the whole conversation's
        steps_p, steps_w = (np.abs(np.diff(h, axis=0)).max(axis=1) for h in (head_p, head_w))
        for b in boundaries:
            near = slice(b - 150, b + 150)
            assert steps_p[near].max() <= 1.5 * max(steps_w[near].max(), np.percentile(steps_w, 99))


def test_the_file_written_as_it_is_made_is_the_result_made_in_memory(tmp_path):
    conv = ConversationAudio.mixed([AudioClip(str(EXAMPLE), duration=6.0, timeline_start=1.5)])
    poses = preset_layout("corner")
    settings = GenerationSettings(**{**FAST.__dict__, "output_fps": 30.0})
    in_memory = pipeline.generate(conv, poses, settings)
    path = pipeline.generate_to_file(conv, poses, tmp_path / "out.npz", settings, meta={"layout": "corner"})
    streamed = ConversationResult.load(path)
    assert streamed.fps == 30.0 and streamed.start_time == 1.5
    assert streamed.meta == {**in_memory.meta, "layout": "corner"}
    for a, b in zip(in_memory.people, streamed.people):
        for name in ("face", "head", "eyes", "roles"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_cancelling_a_file_being_written_leaves_nothing_behind(tmp_path):
    from model_runtime.errors import GenerationCancelled
    conv = ConversationAudio.mixed([AudioClip(str(EXAMPLE), duration=6.0)])

    def cancel(fraction, message):
        if fraction > 0.5:
            raise GenerationCancelled("stop")

    with pytest.raises(GenerationCancelled):
        pipeline.generate_to_file(conv, preset_layout("corner"), tmp_path / "out.json", FAST, progress=cancel)
    assert list(tmp_path.iterdir()) == []                # no output, no spool, no temporary
