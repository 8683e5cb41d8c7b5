"""The layout preview's geometry follows the rigs and colours mutual gaze; no GPU needed."""
import math

import bpy
import pytest

from tt_helpers import add_mesh, fresh_scene
from talking_together_addon import preview


def _face_to_face():
    scene = fresh_scene()
    # Blender characters face -Y: turn A to face +X and B to face -X.
    a = add_mesh("A", (-0.6, 0.0, 1.6), math.radians(90))
    b = add_mesh("B", (0.6, 0.0, 1.6), math.radians(-90))
    s = scene.talking_together
    s.rig_a, s.rig_b = a, b
    return scene, a, b


def _gaze_colours(lines):
    return {line[2] for line in lines if line[2] != preview.FACING}


def test_no_lines_without_two_rigs():
    scene = fresh_scene()
    assert preview.layout_lines(scene) == []
    scene.talking_together.rig_a = add_mesh("A")
    assert preview.layout_lines(scene) == []


def test_face_to_face_is_mutual_gaze():
    scene, a, b = _face_to_face()
    lines = preview.layout_lines(scene)
    assert len(lines) == 4           # per head: facing ray + line to the partner's eyes
    assert _gaze_colours(lines) == {preview.GREEN}
    facing_a = next(l for l in lines if l[2] == preview.FACING)
    assert facing_a[1][0] > facing_a[0][0]    # A's facing ray points toward B (+X)


def test_moving_a_rig_changes_lines_and_colour():
    scene, a, b = _face_to_face()
    before = preview.layout_lines(scene)
    b.location = (-2.0, 0.0, 1.6)    # behind A's back: A cannot turn far enough to see B
    bpy.context.view_layer.update()
    after = preview.layout_lines(scene)
    assert after != before
    assert any(pytest.approx(l[1]) == (-2.0, 0.0, 1.6) for l in after if l[2] != preview.FACING)
    assert _gaze_colours(after) == {preview.ORANGE}


def test_side_by_side_within_reach():
    scene = fresh_scene()
    a = add_mesh("A", (-0.35, 0.0, 1.2))
    b = add_mesh("B", (0.35, 0.0, 1.2))     # both face -Y: partner 90 degrees to the side
    scene.talking_together.rig_a, scene.talking_together.rig_b = a, b
    assert _gaze_colours(preview.layout_lines(scene)) == {preview.GREEN}


def test_no_draw_handler_in_background():
    assert bpy.app.background
    assert preview._handle is None


def test_default_rigs_follow_their_heads():
    from talking_together_addon import api, rig_binding
    scene = fresh_scene()
    rig_a, rig_b = api.add_head_rigs(scene, layout="face_to_face")
    lines = preview.layout_lines(scene)
    eye_b = rig_binding.head_frame(rig_binding.resolve_rig(rig_b))[0]
    assert any(l[1] == pytest.approx(eye_b) for l in lines if l[2] != preview.FACING)
    assert _gaze_colours(lines) == {preview.GREEN}
    rig_a.rotation_euler.z += math.pi     # A turns its back on B
    bpy.context.view_layer.update()
    after = preview.layout_lines(scene)
    assert after != lines and _gaze_colours(after) == {preview.ORANGE}
