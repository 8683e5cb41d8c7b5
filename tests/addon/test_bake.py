"""Baking a ConversationResult onto two default rigs (real Blender, headless)."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

import bpy  # noqa: E402

from talking_together_addon import anim_compat, bake, rig_binding, rig_builder, scene_layout  # noqa: E402
from model_runtime import channels, geometry, layouts  # noqa: E402
from model_runtime import gaze as gaze_mod  # noqa: E402
from model_runtime import result as result_mod  # noqa: E402

JAW = channels.OUTPUT_FACE_CHANNELS.index("jawOpen")


def _track(n, jaw=None, head=None, eyes=None):
    face = np.zeros((n, 52), np.float32)
    if jaw is not None:
        face[:, JAW] = jaw
    head = np.zeros((n, 3), np.float32) if head is None else np.asarray(head, np.float32)
    eyes = np.zeros((n, 4), np.float32) if eyes is None else np.asarray(eyes, np.float32)
    return result_mod.PersonTrack(face, head, eyes, np.zeros(n, np.int64))


def synthetic(n=60, fps=24.0, start_time=0.0):
    """jawOpen a sine for person A only; a head-yaw ramp for both."""
    t = np.arange(n) / fps
    jaw = 0.5 + 0.5 * np.sin(2 * np.pi * 1.3 * t)
    head = np.zeros((n, 3), np.float32)
    head[:, 1] = np.linspace(-0.3, 0.3, n)
    return result_mod.ConversationResult(fps=fps, people=(_track(n, jaw, head), _track(n, None, head)),
                                         start_time=start_time)


@pytest.fixture
def rigs(scene):
    arms = [rig_builder.build_default_head_rig(scene, n, scene.collection) for n in ("A", "B")]
    bindings = tuple(rig_binding.resolve_rig(a) for a in arms)
    scene_layout.apply_layout(bindings, layouts.preset_layout("face_to_face"))
    bpy.context.view_layer.update()
    return bindings


def _key(binding):
    return binding.face_meshes[0].data.shape_keys


def _curves(idb):
    return {(fc.data_path, fc.array_index): fc for fc in anim_compat.action_fcurves(idb.animation_data.action)}


def _set_fps(scene, fps):
    scene.render.fps, scene.render.fps_base = (30, 1.001) if fps == 29.97 else (int(fps), 1.0)
    return scene.render.fps / scene.render.fps_base


@pytest.mark.parametrize("fps", [24, 25, 29.97])
def test_keys_frames_and_values(scene, rigs, fps):
    scene_fps = _set_fps(scene, fps)
    res = synthetic(n=48, fps=scene_fps, start_time=0.5)
    report = bake.bake_conversation(scene, rigs, res, 10.0, "take")
    first = 10.0 + 0.5 * scene_fps
    assert report.frame_range == pytest.approx((first, first + 47))
    assert report.missing == [] and len(report.actions) == 4
    curves = _curves(_key(rigs[0]))
    assert len(curves) == 52
    jaw = curves[('key_blocks["jawOpen"].value', 0)]
    frames = np.array([k.co[0] for k in jaw.keyframe_points])
    assert len(frames) == 48 and frames[0] == pytest.approx(first) and np.allclose(np.diff(frames), 1.0)
    arm_curves = _curves(rigs[0].armature)
    assert ('pose.bones["head"].rotation_euler', 2) in arm_curves
    assert ('pose.bones["eye.L"].rotation_euler', 0) in arm_curves
    # Evaluating the scene gives the baked values (frames whole when the offset makes them so).
    for i in (0, 7, 31):
        frame = first + i
        scene.frame_set(int(math.floor(frame)), subframe=frame - math.floor(frame))
        assert _key(rigs[0]).key_blocks["jawOpen"].value == pytest.approx(res.people[0].face[i, JAW], abs=1e-4)
        assert _key(rigs[1]).key_blocks["jawOpen"].value == pytest.approx(0.0, abs=1e-6)


def test_other_rate_is_resampled(scene, rigs):
    _set_fps(scene, 24)
    report = bake.bake_conversation(scene, rigs, synthetic(n=50, fps=25.0), 1.0, "take")
    assert report.frame_range == pytest.approx((1.0, 48.0))      # 2 s at 24 fps


def _head_world_axes(arm, forward=(0, -1, 0), up=(0, 0, 1)):
    """World forward/up of the posed head: the rest facing turned by the head bone's pose."""
    pb = arm.pose.bones["head"]
    turn = pb.matrix.to_3x3() @ pb.bone.matrix_local.to_3x3().inverted()
    m = arm.matrix_world.to_3x3() @ turn
    return np.array(m @ bpy_vec(forward)), np.array(m @ bpy_vec(up))


def bpy_vec(v):
    from mathutils import Vector
    return Vector(v)


def test_head_yaw_turns_to_the_left(scene, rigs):
    n = 5
    head = np.tile(np.float32([0.0, math.radians(30), 0.0]), (n, 1))
    res = result_mod.ConversationResult(fps=scene.render.fps, people=(_track(n, head=head), _track(n)))
    bake.bake_conversation(scene, rigs, res, 1.0, "yaw")
    scene.frame_set(2)
    pose = rig_binding.head_pose(rigs[0])          # faces +X; its left is +Y
    fwd, _ = _head_world_axes(rigs[0].armature)
    basis = pose.basis()
    expected = basis @ np.array([-math.sin(math.radians(30)), math.cos(math.radians(30)), 0.0])
    assert np.allclose(fwd, expected, atol=1e-4)
    assert fwd[1] > 0.45                           # turned toward the person's left


def test_head_rotation_matches_geometry(scene, rigs):
    """Yaw, pitch and roll together, split over neck and head, on a rotated rig."""
    scene_layout.apply_layout(rigs, layouts.preset_layout("corner"))
    n = 4
    angles = np.float32([0.25, -0.5, 0.15])      # pitch, yaw, roll
    res = result_mod.ConversationResult(fps=scene.render.fps, people=(_track(n, head=np.tile(angles, (n, 1))), _track(n)))
    bake.bake_conversation(scene, rigs, res, 1.0, "hpr")
    scene.frame_set(2)
    fwd, up = _head_world_axes(rigs[0].armature)
    pose = rig_binding.head_pose(rigs[0])
    rot = pose.basis() @ geometry.head_rotation(float(angles[1]), float(angles[0]), float(angles[2])).double().numpy()
    assert np.allclose(fwd, rot[:, 1], atol=1e-4) and np.allclose(up, rot[:, 2], atol=1e-4)


@pytest.mark.parametrize("layout,head_yaw", [("face_to_face", 0.0), ("corner", 0.3), ("side_by_side", 0.5)])
def test_eyes_look_at_the_partner(scene, rigs, layout, head_yaw):
    """Gaze geometry end to end: gaze_toward + per-eye vergence, baked, hits the partner's eyes."""
    poses = layouts.preset_layout(layout)
    scene_layout.apply_layout(rigs, poses)
    bpy.context.view_layer.update()
    n = 3
    people = []
    for me, partner, sign in ((poses[0], poses[1], 1), (poses[1], poses[0], -1)):
        d, _, _ = geometry.partner_in_head_frame(me, partner)
        head = np.zeros((n, 3), np.float32)
        head[:, 1] = head_yaw * np.sign(float(-d[0]) or 1.0)       # turn partly toward them
        cyc = geometry.gaze_toward(me, head, partner.position()).numpy()
        eyes = gaze_mod.per_eye_angles(cyc, gaze_mod.fixation_distance(me, partner))
        people.append(_track(n, head=head, eyes=eyes))
    bake.bake_conversation(scene, rigs, result_mod.ConversationResult(fps=scene.render.fps, people=tuple(people)), 1.0, "gaze")
    scene.frame_set(2)
    for binding, partner in zip(rigs, (poses[1], poses[0])):
        arm = binding.armature
        for side in "LR":
            m = arm.matrix_world @ arm.pose.bones[f"eye.{side}"].matrix
            forward = np.array(m.col[1][:3])
            to_partner = np.array(partner.eye_center) - np.array(m.translation)
            err = math.degrees(math.acos(np.clip(forward @ to_partner / np.linalg.norm(forward) / np.linalg.norm(to_partner), -1, 1)))
            print(f"{layout} {arm.name} eye.{side}: {err:.3f} deg")
            assert err < 2.0


def test_rebake_replaces_only_the_previous_bake(scene, rigs):
    bake.bake_conversation(scene, rigs, synthetic(), 1.0, "take")
    count = len(bpy.data.actions)
    bake.bake_conversation(scene, rigs, synthetic(n=30), 1.0, "take")
    assert len(bpy.data.actions) == count
    ours = [a for a in bpy.data.actions if a.get("tt_bake_name") == "take"]
    assert len(ours) == 4
    jaw = _curves(_key(rigs[0]))[('key_blocks["jawOpen"].value', 0)]
    assert len(jaw.keyframe_points) == 30
    bake.bake_conversation(scene, rigs, synthetic(), 1.0, "other")   # another name coexists
    assert len([a for a in bpy.data.actions if a.get("tt_bake_name") == "take"]) == 4


def test_user_animation_survives_and_comes_back(scene, rigs):
    arm = rigs[0].armature
    key = _key(rigs[0])
    arm.pose.bones["head"].location = (0, 0, 0.01)
    arm.pose.bones["head"].keyframe_insert("location", frame=1)
    rigs[0].face_meshes[0].shape_key_add(name="MyOwnShape")
    key.key_blocks["MyOwnShape"].value = 0.7
    key.key_blocks["MyOwnShape"].keyframe_insert("value", frame=1)
    user_arm, user_key = arm.animation_data.action, key.animation_data.action
    bake.bake_conversation(scene, rigs, synthetic(), 1.0, "take")
    bake.bake_conversation(scene, rigs, synthetic(), 1.0, "take")
    assert arm.animation_data.action.get("tt_bake_name") == "take"
    kept = [s.action for t in arm.animation_data.nla_tracks for s in t.strips]
    assert kept == [user_arm] and len(anim_compat.action_fcurves(user_arm)) == 3
    scene.frame_set(5)
    assert arm.pose.bones["head"].location[2] == pytest.approx(0.01)        # user's curve still plays
    assert key.key_blocks["MyOwnShape"].value == pytest.approx(0.7)
    bake.remove_bake(scene, rigs, "take")
    assert arm.animation_data.action == user_arm and key.animation_data.action == user_key
    assert len(arm.animation_data.nla_tracks) == 0
    assert not [a for a in bpy.data.actions if a.get("tt_bake_name") == "take"]


def test_use_nla_puts_the_bake_in_a_strip(scene, rigs):
    res = synthetic()
    bake.bake_conversation(scene, rigs, res, 3.0, "nla", use_nla=True)
    key = _key(rigs[0])
    assert key.animation_data.action is None
    strips = [s for t in key.animation_data.nla_tracks for s in t.strips]
    assert len(strips) == 1 and strips[0].action.get("tt_bake_name") == "nla"
    scene.frame_set(3 + 10)
    assert key.key_blocks["jawOpen"].value == pytest.approx(res.people[0].face[10, JAW], abs=1e-4)


def test_missing_shape_keys_are_reported_not_fatal(scene, rigs):
    head = rigs[0].face_meshes[0]
    head.shape_key_remove(head.data.shape_keys.key_blocks["cheekPuff"])
    report = bake.bake_conversation(scene, rigs, synthetic(), 1.0, "take")
    assert report.missing == ["A: cheekPuff"]
    assert len(_curves(_key(rigs[0]))) == 51


@pytest.mark.slow
def test_ten_minutes_of_dialogue(scene, rigs):
    scene.render.fps = 30
    n = 10 * 60 * 30
    rng = np.random.default_rng(0)
    people = tuple(result_mod.PersonTrack(rng.random((n, 52), np.float32), rng.normal(0, 0.1, (n, 3)).astype(np.float32),
                                          rng.normal(0, 0.1, (n, 4)).astype(np.float32), np.zeros(n, np.int64))
                   for _ in range(2))
    start = time.perf_counter()
    report = bake.bake_conversation(scene, rigs, result_mod.ConversationResult(fps=30.0, people=people), 1.0, "long")
    took = time.perf_counter() - start
    print(f"\nbake of 10 min at 30 fps, two rigs: {took:.2f} s, {report.keys_written} keys, {report.fcurves} curves")
    assert report.frame_range == (1.0, float(n))


def test_linked_rig_is_refused_before_anything_is_written(scene, tmp_path):
    arm = rig_builder.build_default_head_rig(scene, "Lib", scene.collection)
    path = str(tmp_path / "lib.blend")
    bpy.data.libraries.write(path, {arm, *arm.children}, fake_user=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    with bpy.data.libraries.load(path, link=True) as (src, dst):
        dst.objects = list(src.objects)
    for obj in dst.objects:
        scene.collection.objects.link(obj)
    local = rig_builder.build_default_head_rig(scene, "Local", scene.collection)
    bindings = (rig_binding.resolve_rig(bpy.data.objects["Lib"]), rig_binding.resolve_rig(local))
    assert bindings[0].face_meshes, "the linked head mesh is found"
    with pytest.raises(ValueError, match="is linked from .*library override"):
        bake.bake_conversation(scene, bindings, synthetic(), 1.0, "take")
    assert not [a for a in bpy.data.actions if a.get("tt_bake_name")]


def test_library_override_is_used_for_a_linked_rig(scene, tmp_path):
    arm = rig_builder.build_default_head_rig(scene, "Lib", scene.collection)
    coll = bpy.data.collections.new("Char")
    for obj in (arm, *arm.children):
        coll.objects.link(obj)
    path = str(tmp_path / "char.blend")
    bpy.data.libraries.write(path, {coll}, fake_user=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    with bpy.data.libraries.load(path, link=True) as (src, dst):
        dst.collections = ["Char"]
    scene.collection.children.link(dst.collections[0])
    dst.collections[0].override_hierarchy_create(scene, bpy.context.view_layer, do_fully_editable=True)
    linked = next(o for o in bpy.data.objects if o.library is not None and o.type == 'ARMATURE')
    binding = rig_binding.resolve_rig(linked)
    assert binding.armature.library is None and binding.armature.override_library is not None
    local = rig_binding.resolve_rig(rig_builder.build_default_head_rig(scene, "Local", scene.collection))
    with pytest.raises(ValueError, match="override the mesh data too"):
        bake.bake_conversation(scene, (binding, local), synthetic(), 1.0, "take")
    binding.face_meshes[0].data.override_create(remap_local_usages=True)
    report = bake.bake_conversation(scene, (rig_binding.resolve_rig(linked), local), synthetic(), 1.0, "take")
    assert len(report.actions) == 4


def test_custom_names_explicit_axes_and_jaw_bone(scene, rigs):
    """example_custom.json on a rig renamed to its names: explicit head axes, a jaw bone turn."""
    arm = rigs[0].armature
    mapping = rig_binding.load_mapping("example_custom")
    for old, new in (("neck", "Neck"), ("head", "Head"), ("jaw", "Jaw"), ("eye.L", "LeftEye"), ("eye.R", "RightEye")):
        arm.data.bones[old].name = new
    keys = _key(rigs[0]).key_blocks
    for channel, name in mapping["shape_keys"].items():
        if name and name != channel:
            keys[channel].name = name
    binding = rig_binding.resolve_rig(arm, "example_custom")
    assert rig_binding.missing_targets(binding) == []
    n = 3
    angles = np.float32([-0.2, 0.4, 0.1])          # pitch, yaw, roll
    jaw = np.ones(n, np.float32)
    res = result_mod.ConversationResult(fps=scene.render.fps, people=(_track(n, jaw, np.tile(angles, (n, 1))), _track(n)))
    report = bake.bake_conversation(scene, (binding, rigs[1]), res, 1.0, "custom")
    assert report.missing == []
    scene.frame_set(2)
    pb = arm.pose.bones["Head"]
    turn = arm.matrix_world.to_3x3() @ pb.matrix.to_3x3() @ pb.bone.matrix_local.to_3x3().inverted()
    pose = rig_binding.head_pose(binding)
    rot = pose.basis() @ geometry.head_rotation(0.4, -0.2, 0.1).double().numpy()
    assert np.allclose(np.array(turn @ bpy_vec((0, -1, 0))), rot[:, 1], atol=1e-4)
    assert _key(rigs[0]).key_blocks["Jaw_Open"].value == pytest.approx(1.0)
    # The jaw turns 22 degrees chin-down relative to the head.
    jb = arm.pose.bones["Jaw"]
    head_turn = pb.matrix.to_3x3() @ pb.bone.matrix_local.to_3x3().inverted()
    chin = np.array(head_turn.inverted() @ jb.matrix.to_3x3().col[1])      # in the unturned head
    rest = np.array((jb.bone.tail_local - jb.bone.head_local).normalized())
    assert math.degrees(math.acos(np.clip(chin @ rest, -1, 1))) == pytest.approx(22.0, abs=0.1)
    assert chin[2] < rest[2]                                                # the chin went down


@pytest.mark.parametrize("bad", ["nan_jaw", "inf_head", "nan_fps"])
def test_non_finite_results_are_refused_and_nothing_is_written(scene, rigs, bad):
    res = synthetic(n=24)
    if bad == "nan_jaw":
        res.people[0].face[5, JAW] = np.nan
    elif bad == "inf_head":
        res.people[1].head[3, 1] = np.inf
    else:
        res.fps = float("nan")
    actions_before = len(bpy.data.actions)
    with pytest.raises(ValueError, match="nothing was baked"):
        bake.bake_conversation(scene, rigs, res, 0.0, "take")
    assert len(bpy.data.actions) == actions_before
