"""Sound strips and files to AudioClips: position, trims, volume, fps, and the errors."""
import os
import shutil

import pytest

from tt_helpers import HAS_ESPEAK, add_sound, dialogue, fresh_scene
from talking_together_addon import audio_source
from model_runtime import errors

pytestmark = pytest.mark.skipif(not HAS_ESPEAK, reason="espeak-ng is needed to synthesize speech")


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    return dialogue(tmp_path_factory.mktemp("voices"))


def test_strip_position_duration_volume(voices):
    scene = fresh_scene(fps=24)
    strip = add_sound(scene, "Dialogue", voices["mix"], frame_start=10)
    strip.volume = 0.5
    span = audio_source.strip_span(scene, strip)
    clip = span.clip
    assert clip.path == str(voices["mix"])
    assert clip.timeline_start == pytest.approx(10 / 24)
    assert clip.source_start == pytest.approx(0.0)
    assert clip.duration == pytest.approx(strip.frame_final_duration / 24)
    assert clip.gain == pytest.approx(0.5)
    assert (span.start, span.end) == (10, strip.frame_final_end)


def test_trims_move_source_start_and_shorten(voices):
    scene = fresh_scene(fps=24)
    strip = add_sound(scene, "Dialogue", voices["mix"], frame_start=1)
    full_end = strip.frame_final_end
    strip.frame_final_start = 13          # trim half a second off the start
    strip.frame_final_end = full_end - 6  # and a quarter off the end
    clip = audio_source.strip_span(scene, strip).clip
    assert clip.source_start == pytest.approx(12 / 24)
    assert clip.timeline_start == pytest.approx(13 / 24)
    assert clip.duration == pytest.approx((full_end - 6 - 13) / 24)
    audio = audio_source.AudioPlan("mixed", [audio_source.strip_span(scene, strip)]).build()
    assert audio.start_time == pytest.approx(13 / 24)
    assert audio.duration == pytest.approx(clip.duration, abs=0.01)


def test_fractional_fps(voices):
    scene = fresh_scene(fps=30000, fps_base=1001)     # 29.97: set before adding strips
    strip = add_sound(scene, "Dialogue", voices["mix"], frame_start=100)
    fps = 30000 / 1001
    assert audio_source.scene_fps(scene) == pytest.approx(fps)
    clip = audio_source.strip_span(scene, strip).clip
    assert clip.timeline_start == pytest.approx(100 / fps)
    assert clip.duration == pytest.approx(strip.frame_final_duration / fps)


def test_settings_modes(voices):
    scene = fresh_scene()
    s = scene.talking_together
    add_sound(scene, "A", voices["a"], channel=1, frame_start=1)
    add_sound(scene, "B", voices["b"], channel=2, frame_start=1)
    add_sound(scene, "Stereo", voices["stereo"], channel=3, frame_start=1)
    s.audio_mode, s.strip_a, s.strip_b = "PER_PERSON", "A", "B"
    plan = audio_source.plan_from_settings(scene, s)
    assert plan.mode == "per_person" and [sp.clip.path for sp in plan.spans] == [str(voices["a"]), str(voices["b"])]
    audio = plan.build()
    assert audio.tracks.shape[0] == 2
    s.audio_mode, s.strip = "STEREO", "Stereo"
    assert audio_source.plan_from_settings(scene, s).build().tracks.shape[0] == 2
    s.audio_mode, s.audio_file = "FILE", str(voices["mix"])
    plan = audio_source.plan_from_settings(scene, s)
    assert plan.mode == "mixed" and plan.spans[0].clip.timeline_start == pytest.approx(1 / 24)


def test_strip_choice_survives_other_strips(voices):
    scene = fresh_scene()
    s = scene.talking_together
    add_sound(scene, "B", voices["b"], channel=2)
    s.strip = "B"
    add_sound(scene, "A", voices["a"], channel=1)   # sorts before B: the index would shift
    assert s.strip == "B"


@pytest.mark.parametrize("case, message", [
    ("no_strip", "no sound strip"),
    ("missing_file", "file not found"),
    ("muted", "muted"),
    ("silent_volume", "volume 0"),
    ("same_strip_twice", "same sound strip"),
    ("no_file", "no audio file"),
    ("silent_file", "silent"),
])
def test_errors(voices, tmp_path, case, message):
    scene = fresh_scene()
    s = scene.talking_together
    if case == "missing_file":
        gone = shutil.copy(voices["mix"], tmp_path / "gone.wav")
        add_sound(scene, "Dialogue", gone)
        os.remove(gone)
    elif case in ("muted", "silent_volume", "same_strip_twice"):
        strip = add_sound(scene, "Dialogue", voices["mix"])
        strip.mute = case == "muted"
        strip.volume = 0.0 if case == "silent_volume" else 1.0
        if case == "same_strip_twice":
            s.audio_mode, s.strip_a, s.strip_b = "PER_PERSON", "Dialogue", "Dialogue"
    elif case == "no_file":
        s.audio_mode = "FILE"
    elif case == "silent_file":
        import numpy as np
        import soundfile as sf
        sf.write(tmp_path / "silence.wav", np.zeros(16000, np.float32), 16000)
        s.audio_mode, s.audio_file = "FILE", str(tmp_path / "silence.wav")
    with pytest.raises(errors.AudioError, match=message):
        audio_source.plan_from_settings(scene, s).build()


def test_api_value_forms(voices):
    scene = fresh_scene()
    add_sound(scene, "A", voices["a"], channel=1)
    add_sound(scene, "B", voices["b"], channel=2)
    assert audio_source.plan_from_value(scene, ("A", "B")).mode == "per_person"
    assert audio_source.plan_from_value(scene, "A").spans[0].clip.path == str(voices["a"])
    plan = audio_source.plan_from_value(scene, str(voices["stereo"]), stereo=True)
    assert plan.mode == "stereo"
    with pytest.raises(errors.AudioError, match="2 sound strips"):
        audio_source.plan_from_value(scene, None)
