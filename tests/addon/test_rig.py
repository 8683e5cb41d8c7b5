"""The default head rig, rig bindings and layout placement (real Blender, headless)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import bpy  # noqa: E402

from talking_together_addon import rig_binding, rig_builder, scene_layout  # noqa: E402
from model_runtime.default_head import geometry as geo  # noqa: E402
from model_runtime import channels, layouts  # noqa: E402



@pytest.fixture
def rig(scene):
    return rig_builder.build_default_head_rig(scene, "Person A", scene.collection)


def _head(arm):
    return next(c for c in arm.children if c.type == 'MESH' and c.data.shape_keys)


def _coords(kb) -> np.ndarray:
    co = np.empty(len(kb.data) * 3, dtype=np.float32)
    kb.data.foreach_get("co", co)
    return co.reshape(-1, 3)


def test_all_arkit_shapes_exist_and_deform(rig):
    keys = _head(rig).data.shape_keys.key_blocks
    assert set(channels.ARKIT_BLENDSHAPES) <= set(keys.keys())
    basis = _coords(keys["Basis"])
    for name in channels.ARKIT_BLENDSHAPES:
        moved = np.linalg.norm(_coords(keys[name]) - basis, axis=1).max()
        assert moved > 0.001, f"{name} moves vertices only {moved * 1000:.2f} mm"


def test_jaw_open_drops_the_chin(rig):
    keys = _head(rig).data.shape_keys.key_blocks
    basis, opened = _coords(keys["Basis"]), _coords(keys["jawOpen"])
    chin = (np.abs(basis[:, 0]) < 0.01) & (basis[:, 2] < geo.MOUTH_Z - 0.025) & (basis[:, 1] < -0.05)
    assert chin.sum() > 3
    assert (basis[chin, 2] - opened[chin, 2]).max() > 0.01
    upper_lip = (np.abs(basis[:, 0]) < 0.005) & (basis[:, 2] > geo.MOUTH_Z + 0.004) & (basis[:, 2] < geo.MOUTH_Z + 0.012) & (basis[:, 1] < -0.08)
    assert np.abs(opened[upper_lip] - basis[upper_lip]).max() < 0.002    # the upper lip stays


def test_blink_closes_the_lids_of_one_eye(rig):
    keys = _head(rig).data.shape_keys.key_blocks
    basis = _coords(keys["Basis"])
    for name, sign in (("eyeBlinkLeft", 1), ("eyeBlinkRight", -1)):
        d = _coords(keys[name]) - basis
        moved = np.linalg.norm(d, axis=1) > 1e-4
        upper = moved & (basis[:, 2] > geo.EYE_Z + 0.004)
        assert upper.sum() > 10 and (d[upper, 2] < 0).all(), "upper lid must come down"
        assert (np.sign(basis[moved, 0]) == sign).all(), "only that eye's lids move"
        # Closed: the lid edges meet, so the lid covers the front of the eyeball.
        center = geo.EYE_CENTERS["L" if sign > 0 else "R"]
        closed = basis[moved] + d[moved]
        front = closed[closed[:, 1] < center[1] - 0.011]
        assert np.ptp(front[:, 2]) > 0.008


def test_bones_and_eye_center(rig):
    bones = rig.data.bones
    assert {"neck", "head", "jaw", "eye.L", "eye.R"} <= set(bones.keys())
    assert bones["head"].parent.name == "neck"
    for side in "LR":
        b = bones[f"eye.{side}"]
        assert b.parent.name == "head"
        assert np.allclose(np.array((b.tail_local - b.head_local).normalized()), (0, -1, 0), atol=1e-6)   # forward
    mid = (np.array(bones["eye.L"].head_local) + np.array(bones["eye.R"].head_local)) / 2
    assert np.allclose(rig["tt_eye_center"], mid, atol=1e-6)


def test_eyeballs_follow_eye_bones(scene, rig):
    eye = next(c for c in rig.children if c.name.endswith("Eye.L"))
    center = np.array(geo.EYE_CENTERS["L"])
    pb = rig.pose.bones["eye.L"]
    pb.rotation_euler = (0.0, 0.0, math.radians(25))      # default rig: Z is yaw (to the left)
    bpy.context.view_layer.update()
    pupil = np.array(eye.matrix_world @ eye.data.vertices[0].co) - center
    direction = pupil / np.linalg.norm(pupil)
    expected = (math.sin(math.radians(25)), -math.cos(math.radians(25)), 0.0)   # left is +X
    assert np.allclose(direction, expected, atol=1e-3)


def test_resolve_from_mesh_or_armature(scene, rig):
    head = _head(rig)
    a, b = rig_binding.resolve_rig(rig), rig_binding.resolve_rig(head)
    assert a.armature == b.armature == rig and a.face_meshes == b.face_meshes == [head]
    assert rig_binding.missing_targets(a) == []


def test_resolve_rejects_a_plain_mesh(scene):
    bpy.ops.mesh.primitive_cube_add()
    with pytest.raises(ValueError, match="'Cube' has no shape keys and no armature"):
        rig_binding.resolve_rig(bpy.context.object)


def test_custom_mapping_reports_what_is_missing(rig):
    binding = rig_binding.resolve_rig(rig, "example_custom")
    missing = rig_binding.missing_targets(binding)
    assert "jawOpen" in missing and "eyeBlinkLeft" in missing and "tongueOut" not in missing
    assert "bone 'Head'" in missing and "bone 'Jaw'" in missing
    assert "cheekPuff" not in missing          # unnamed channels map to their ARKit name


def test_head_pose_and_layout(scene):
    rigs = [rig_builder.build_default_head_rig(scene, n, scene.collection) for n in ("A", "B")]
    bindings = tuple(rig_binding.resolve_rig(r) for r in rigs)
    pose = rig_binding.head_pose(bindings[0])
    assert np.allclose(pose.eye_center, rigs[0]["tt_eye_center"], atol=1e-6)
    assert np.allclose(pose.forward, (0, -1, 0)) and np.allclose(pose.up, (0, 0, 1))
    for name in ("face_to_face", "corner", "side_by_side"):
        wanted = layouts.preset_layout(name)
        scene_layout.apply_layout(bindings, wanted)
        for got, want in zip(scene_layout.current_layout(bindings), wanted):
            assert np.allclose(got.eye_center, want.eye_center, atol=1e-5)
            assert np.allclose(got.forward, np.array(want.forward) / np.linalg.norm(want.forward), atol=1e-5)
        bpy.context.view_layer.update()
        # The eyeballs really are there: their midpoint is the pose's eye centre.
        eyes = [o for o in rigs[0].children if "Eye." in o.name]
        mid = sum((np.array(o.matrix_world @ o.data.vertices[-1].co) + np.array(o.matrix_world @ o.data.vertices[0].co)) / 2
                  for o in eyes) / 2
        assert np.allclose(mid, wanted[0].eye_center, atol=1e-4)
