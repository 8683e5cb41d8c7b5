"""The runtime end to end: audio + layout in, both people's parameters out; bad input refused."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from model_runtime.audio import ConversationAudio
from model_runtime.audio_files import AudioClip
from model_runtime.timebase import SAMPLE_RATE
from model_runtime.channels import GAZE_SLICE, GAZE_YAW, MOTION_DIM, OUTPUT_FACE_CHANNELS
from model_runtime.errors import AudioError, CheckpointError, GenerationCancelled, LayoutError
from model_runtime.head_pose import HeadPose
from model_runtime.layouts import preset_layout
from model_runtime.geometry import LOOK_AT_TOLERANCE_DEG, gaze_directions_world, gaze_error_to_target, gaze_toward
from model_runtime.pipeline import generate, lock_gaze
from model_runtime.settings import GenerationSettings
from model_runtime.result import ConversationResult

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "dialogue.flac"
FAST = GenerationSettings(steps=2, guidance=1.0, face_guidance=1.0, device="cpu")


@pytest.fixture(scope="module")
def example_audio():
    return ConversationAudio.mixed([AudioClip(str(EXAMPLE))])


def test_generate_gives_both_people_every_channel_in_range(example_audio):
    result = generate(example_audio, preset_layout("face_to_face"), FAST)
    assert result.fps == 25 and result.num_frames == pytest.approx(example_audio.duration * 25, abs=1)
    for person in result.people:
        assert person.face.shape == (result.num_frames, len(OUTPUT_FACE_CHANNELS))
        assert person.face.min() >= 0 and person.face.max() <= 1
        assert np.isfinite(person.head).all() and np.isfinite(person.eyes).all()
        assert set(np.unique(person.roles)) <= {0, 1, 2, 3}


def test_the_result_says_how_it_was_sampled(example_audio):
    """A result file carries the settings that made it, so a studio can make it again."""
    settings = GenerationSettings(**{**FAST.__dict__, "step_spacing": 1.0, "seed": 7})
    result = generate(example_audio, preset_layout("face_to_face"), settings)
    for key in ("seed", "steps", "guidance", "face_guidance", "guidance_per_axis", "eta", "step_spacing"):
        assert result.meta[key] == getattr(settings, key)
    assert not np.allclose(result.people[0].head, generate(example_audio, preset_layout("face_to_face"),
                           GenerationSettings(**{**settings.__dict__, "step_spacing": 1.5})).people[0].head)


def test_both_people_blink_as_often_as_asked(example_audio):
    from model_runtime.blinks import blink_onsets
    blink = OUTPUT_FACE_CHANNELS.index("eyeBlinkLeft")
    minutes = example_audio.duration / 60
    for rate in (17.0, 30.0):
        result = generate(example_audio, preset_layout("face_to_face"),
                          GenerationSettings(**{**FAST.__dict__, "blinks_per_minute": rate}))
        for person in result.people:
            # the runtime tops the model's own blinks up to the rate asked for, and adds no more
            assert round(rate * minutes) <= len(blink_onsets(person.face[:, blink], result.fps)) \
                <= round(rate * minutes) + 2


def test_output_frame_rate_and_start_time_follow_the_request(example_audio):
    shifted = ConversationAudio.mixed([AudioClip(str(EXAMPLE), timeline_start=2.5)])
    result = generate(shifted, preset_layout("corner"), GenerationSettings(**{**FAST.__dict__, "output_fps": 30000 / 1001}))
    assert result.fps == pytest.approx(29.97, abs=0.01)
    assert result.start_time == 2.5
    assert result.num_frames == pytest.approx(example_audio.duration * 29.97, abs=1)


def test_progress_reaches_the_end_and_cancel_stops(example_audio):
    seen = []
    generate(example_audio, preset_layout("face_to_face"), FAST, progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)

    def cancel(fraction, message):
        if fraction > 0.3:
            raise GenerationCancelled("stop")

    with pytest.raises(GenerationCancelled):
        generate(example_audio, preset_layout("face_to_face"), FAST, progress=cancel)


def test_swap_exchanges_who_is_who(example_audio):
    plain = generate(example_audio, preset_layout("face_to_face"), FAST)
    swapped = generate(example_audio, preset_layout("face_to_face"), FAST, swap=True)
    assert not np.array_equal(plain.people[0].roles, plain.people[1].roles)   # else swapping shows nothing
    assert np.array_equal(swapped.people[0].roles, plain.people[1].roles)
    assert np.array_equal(plain.people[0].roles, swapped.people[1].roles)


def test_result_files_round_trip(tmp_path, example_audio):
    result = generate(example_audio, preset_layout("face_to_face"), FAST)
    back = ConversationResult.load(result.save(tmp_path / "new_folder" / "r.npz"))
    assert np.array_equal(back.people[1].face, result.people[1].face)
    doc = json.loads(result.save(tmp_path / "r.json").read_text())
    assert len(doc["people"][0]["channels"]["jawOpen"]) == result.num_frames
    lines = result.save(tmp_path / "r.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * result.num_frames and "jawOpen" in lines[0]
    with pytest.raises(ValueError):
        result.save(tmp_path / "r.xml")
    assert not list(tmp_path.glob("*.partial"))


def write(path, samples, rate=SAMPLE_RATE):
    sf.write(str(path), samples, rate)
    return str(path)


def test_bad_audio_is_refused_with_a_clear_message(tmp_path):
    poses = preset_layout("face_to_face")
    (tmp_path / "garbage.wav").write_bytes(b"RIFF\x00\x00junk" * 10)
    cases = {   # the file, and what the message must say
        "audio file not found: .*nope.wav": str(tmp_path / "nope.wav"),
        "is silent": write(tmp_path / "silent.wav", np.zeros(SAMPLE_RATE * 3, np.float32)),
        r"0\.10 s long; at least": write(tmp_path / "short.wav",
                                        0.3 * np.sin(np.arange(1600) * 0.1).astype(np.float32)),
        "cannot read audio file .*garbage.wav": str(tmp_path / "garbage.wav"),
    }
    for message, path in cases.items():
        with pytest.raises(AudioError, match=message):
            generate(ConversationAudio.mixed([AudioClip(path)]), poses, FAST)


def test_bad_layouts_are_refused(example_audio):
    a, _ = preset_layout("face_to_face")
    with pytest.raises(LayoutError):
        generate(example_audio, (a, HeadPose(a.eye_center, (-1, 0, 0))), FAST)  # same spot
    with pytest.raises(LayoutError):
        generate(example_audio, (a, HeadPose((float("nan"), 0, 1), (-1, 0, 0))), FAST)
    with pytest.raises(LayoutError):
        preset_layout("in_a_lift")


def test_wrong_weights_file_is_refused(tmp_path, example_audio):
    bad = tmp_path / "weights.pt"
    bad.write_text("not weights")
    with pytest.raises(CheckpointError):
        generate(example_audio, preset_layout("face_to_face"), GenerationSettings(checkpoint=str(bad)))


@pytest.mark.slow       # two subprocesses that import PyTorch and load the weights
def test_cli_writes_a_result_and_reports_errors(tmp_path):
    out = tmp_path / "r.json"
    run = subprocess.run([sys.executable, "-m", "model_runtime", "generate", str(EXAMPLE), "--out", str(out),
                          "--steps", "2", "--layout", "side_by_side"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "100%" in run.stderr and out.is_file()
    bad = subprocess.run([sys.executable, "-m", "model_runtime", "generate", str(tmp_path / "none.wav"),
                          "--out", str(tmp_path / "x.json")], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "error:" in bad.stderr and not (tmp_path / "x.json").exists()


def test_the_eye_contact_lock_corrects_aim_but_keeps_every_glance_away():
    """With the default settings gaze a few degrees off the partner's eyes becomes exact eye
    contact, and gaze beyond the look-at tolerance stays where the model put it: the lock never
    turns a person's glance away into a stare."""
    me, partner = preset_layout("face_to_face")
    still_head = torch.zeros(3, 3)
    motion = np.zeros((3, MOTION_DIM), dtype=np.float32)
    motion[:, GAZE_SLICE] = gaze_toward(me, still_head, partner.position()).numpy()
    offsets = np.array([0.6, 1.2, 3.0]) * LOOK_AT_TOLERANCE_DEG
    motion[:, GAZE_SLICE.start + GAZE_YAW] += np.radians(offsets)
    locked = lock_gaze(motion, me, partner, GenerationSettings().gaze_lock_degrees)
    dirs = gaze_directions_world(me, still_head, torch.as_tensor(locked[:, GAZE_SLICE]))
    error = np.degrees(gaze_error_to_target(me, dirs, partner.position()).numpy())
    assert error[0] < 0.01                                    # a near miss: exact eye contact
    np.testing.assert_allclose(locked[1:], motion[1:])        # glances away: untouched
    np.testing.assert_allclose(error[1:], offsets[1:], rtol=0.05)
