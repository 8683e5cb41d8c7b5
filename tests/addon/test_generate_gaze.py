"""Generate with the shipped model on the example dialogue, then check the baked scene the way a
viewer would: the listener's eyes point at the speaker's eyes (geometrically, in world space)
and the speaker's mouth moves more than the listener's."""
import math
from pathlib import Path

import numpy as np
import pytest

from tt_helpers import add_sound, fresh_scene

from talking_together_addon import api

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dialogue.flac"
# Who speaks when in examples/dialogue.flac (see examples/make_example_dialogue.sh)
A_ALONE = (0.6, 4.8)
B_ALONE = (6.4, 9.0)


def eye_rays(arm):
    """World position and forward direction of both eye bones of a default rig."""
    out = []
    for side in "LR":
        m = arm.matrix_world @ arm.pose.bones[f"eye.{side}"].matrix
        out.append((np.array(m.translation), np.array(m.col[1][:3]) / np.linalg.norm(m.col[1][:3])))
    return out


def angle_deg(u, v):
    return math.degrees(math.acos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1.0, 1.0)))


@pytest.fixture(scope="module")
def baked():
    scene = fresh_scene(fps=25)
    add_sound(scene, "dialogue", EXAMPLE, frame_start=1)
    rig_a, rig_b = api.add_head_rigs(scene, layout="face_to_face")
    api.generate(scene, rig_a, rig_b, audio="dialogue", seed=0)
    return scene, rig_a, rig_b


def frames(span, scene):
    fps = scene.render.fps / scene.render.fps_base
    return range(int(span[0] * fps) + 1, int(span[1] * fps) + 1, 3)


@pytest.mark.parametrize("listener_is_b", [True, False])
def test_listener_looks_at_the_speakers_eyes(baked, listener_is_b):
    scene, rig_a, rig_b = baked
    listener, speaker = (rig_b, rig_a) if listener_is_b else (rig_a, rig_b)
    hits, total = 0, 0
    for f in frames(A_ALONE if listener_is_b else B_ALONE, scene):
        scene.frame_set(f)
        target = np.mean([pos for pos, _ in eye_rays(speaker)], axis=0)   # where the speaker's eyes are now
        errors = [angle_deg(forward, target - pos) for pos, forward in eye_rays(listener)]
        hits += max(errors) < 3.0
        total += 1
    assert hits / total >= 0.5, f"listener looked at the speaker's eyes in {hits}/{total} frames"


def test_the_speakers_mouth_moves_more_than_the_listeners(baked):
    scene, rig_a, rig_b = baked

    def jaw(rig, span):
        head = next(c for c in rig.children if c.data and getattr(c.data, "shape_keys", None))
        values = []
        for f in frames(span, scene):
            scene.frame_set(f)
            values.append(head.data.shape_keys.key_blocks["jawOpen"].value)
        return np.std(values)

    assert jaw(rig_a, A_ALONE) > 2 * jaw(rig_b, A_ALONE)
    assert jaw(rig_b, B_ALONE) > 2 * jaw(rig_a, B_ALONE)
