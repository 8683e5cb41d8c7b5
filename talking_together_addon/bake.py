"""Bake a ConversationResult onto two rigs as keyframes, in bulk, one Action per animated ID.

Face channels become shape-key curves on each face mesh's Key; head, jaw and eye angles
become pose-bone rotation curves on the armature, written in each bone's own rotation mode
(the default rig sets Euler orders whose channels read as pitch/roll/yaw). Eyes aimed by
target controls (Rigify) get location curves on those controls instead.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import bpy
import numpy as np
from mathutils import Quaternion

from . import anim_compat as compat
from . import mapping_format, rig_binding
from .rig_math import (axes_spec_matrix, axis_vector, bone_to_head, continuous, head_quats, quat_mul,
                       quat_power, to_bone_local)
from .runtime import runtime_api

FACE_CHANNELS = runtime_api.OUTPUT_FACE_CHANNELS

BAKE_PROP, RIG_PROP, KEPT_PROP = "tt_bake_name", "tt_rig", "tt_kept_track"
GROUP_FACE, GROUP_HEAD, GROUP_EYES = "TT Face", "TT Head", "TT Eyes"


@dataclass
class BakeReport:
    keys_written: int = 0
    fcurves: int = 0
    frame_range: tuple = (0.0, 0.0)
    missing: list = field(default_factory=list)     # "<rig>: <channel or bone>", not fatal
    actions: list = field(default_factory=list)     # names of the Actions written
    warnings: list = field(default_factory=list)    # sentences for the artist, not fatal
    seconds: float = 0.0


# ---- curves to write (computed before anything in the scene changes) -------------------
def _shape_curves(binding, person) -> dict:
    """{Key ID: [(data_path, index, group, values)]} for the face meshes: one curve per key,
    however many channels (or visemes) drive it."""
    targets = mapping_format.shape_targets(binding.mapping, FACE_CHANNELS)
    clamp = binding.mapping.get("clamp", True)
    out = {}
    for mesh in binding.face_meshes:
        key = mesh.data.shape_keys
        present = {k: t for k, t in targets.items()
                   if k in key.key_blocks and (mesh.name, k) not in binding.skipped_keys}
        values = mapping_format.target_values(present, person.face, FACE_CHANNELS, clamp)
        curves = [(f'key_blocks["{bpy.utils.escape_identifier(k)}"].value', 0, GROUP_FACE, v)
                  for k, v in values.items()]
        if curves:
            out[key] = curves
    return out


def _bone_c(arm, bone_name: str, axes, frame) -> np.ndarray:
    """C = B^T M for a bone, or from an explicit axis spec."""
    if isinstance(axes, dict):
        return axes_spec_matrix(axes)
    return bone_to_head(frame, np.array(arm.data.bones[bone_name].matrix_local.to_3x3()))


def _rotation_curves(pb, q_local: np.ndarray, group: str) -> list:
    """Curves for a pose bone's local rotation (T, 4) in the bone's current rotation mode."""
    base = f'pose.bones["{bpy.utils.escape_identifier(pb.name)}"]'
    q = continuous(q_local)
    mode = pb.rotation_mode
    if mode == 'QUATERNION':
        return [(base + ".rotation_quaternion", i, group, q[:, i]) for i in range(4)]
    if mode == 'AXIS_ANGLE':
        half = np.arccos(np.clip(q[:, 0], -1, 1))
        axis = q[:, 1:] / np.maximum(np.sin(half), 1e-9)[:, None]
        axis[np.sin(half) < 1e-9] = (0.0, 1.0, 0.0)
        vals = np.column_stack([2 * half, axis])
        return [(base + ".rotation_axis_angle", i, group, vals[:, i]) for i in range(4)]
    eulers = np.empty((len(q), 3))
    prev = None
    for i, qi in enumerate(q):      # to_euler with a compatible euler keeps curves continuous
        e = Quaternion(qi).to_euler(mode, prev) if prev is not None else Quaternion(qi).to_euler(mode)
        eulers[i] = e
        prev = e
    return [(base + ".rotation_euler", i, group, eulers[:, i]) for i in range(3)]


def _bone_rotations(binding, person) -> dict[str, list]:
    """bone name -> [(T, 4) bone-local quaternions, group]: head share, jaw, eyes and
    bone_channels; a bone named twice gets the product, so it still has one set of curves."""
    arm, m = binding.armature, binding.mapping
    frame = runtime_api.head_basis(axis_vector(m["forward_axis"]), axis_vector(m["up_axis"]))
    head = person.head.astype(float)
    q_head = head_quats(head[:, runtime_api.HEAD_YAW], head[:, runtime_api.HEAD_PITCH], head[:, runtime_api.HEAD_ROLL])
    rotations: dict[str, list] = {}

    def add(bone, q_local, group):
        rotations.setdefault(bone, []).append((q_local, group))

    for bone, share in rig_binding.head_bone_shares(binding).items():
        add(bone, to_bone_local(quat_power(q_head, share), _bone_c(arm, bone, m["head"].get("axes", "auto"), frame)), GROUP_HEAD)
    jaw = m.get("jaw", {})
    if jaw.get("degrees") and jaw.get("bone") in arm.pose.bones:
        opened = person.face[:, FACE_CHANNELS.index(jaw.get("channel", "jawOpen"))]
        q = head_quats(0 * opened, -np.radians(float(jaw["degrees"])) * opened, 0 * opened)  # chin down
        add(jaw["bone"], to_bone_local(q, _bone_c(arm, jaw["bone"], jaw.get("axes", "auto"), frame)), GROUP_HEAD)
    eyes = m.get("eyes", {})
    for side, columns in (("left", runtime_api.EYE_LEFT), ("right", runtime_api.EYE_RIGHT)):
        bone = eyes.get(side)
        if bone and bone in arm.pose.bones:
            yaw_e, pitch_e = person.eyes[:, columns].astype(float).T     # each eye: yaw, pitch
            q = head_quats(yaw_e, pitch_e, 0 * yaw_e)
            add(bone, to_bone_local(q, _bone_c(arm, bone, eyes.get("axes", "auto"), frame)), GROUP_EYES)
    for e in mapping_format.bone_channel_entries(m):
        if e["bone"] in arm.pose.bones:
            angle = np.radians(e["degrees"] * person.face[:, FACE_CHANNELS.index(e["channel"])] + e["offset_degrees"])
            add(e["bone"], _axis_rotation(e["axis"], angle), GROUP_HEAD)
    return rotations


def _axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    """(T, 4) rotations by ``angle`` about a bone-local signed axis ('-X')."""
    v = axis_vector(axis)
    q = np.zeros((len(angle), 4))
    q[:, 0] = np.cos(angle / 2)
    q[:, 1:] = np.sin(angle / 2)[:, None] * v
    return q


def _gaze_directions(frame: np.ndarray, yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """(T, 3) unit armature-space directions: the rest forward turned by each eye's yaw
    (left) and pitch (up) in the head's REST frame; the controls' parents already carry the
    head's own turn, so adding it here would turn the eyes twice."""
    return runtime_api.direction_from_yaw_pitch(yaw, pitch) @ frame.T      # into armature axes


def _target_locations(bones, target: str, centre: str, frame, angles: np.ndarray) -> np.ndarray:
    """(T, 3) pose locations of one eye target control so that the ray from the eyeball
    centre through it follows the eye's (yaw, pitch); the control keeps its rest distance."""
    rest = bones[target]
    eye, head = np.array(bones[centre].head_local), np.array(rest.head_local)
    distance = float(np.linalg.norm(head - eye))
    points = eye + distance * _gaze_directions(frame, angles[:, 0], angles[:, 1])
    return (points - head) @ _location_axes(rest)   # rows: M^T (p - p0)


def _location_axes(bone) -> np.ndarray:
    """Armature-space axes a pose bone's location is measured along: its own rest axes, or,
    with Local Location off (Rigify's eye_common), its parent's (the armature's if none)."""
    if bone.use_local_location:
        return np.array(bone.matrix_local.to_3x3())
    return np.array(bone.parent.matrix_local.to_3x3()) if bone.parent else np.eye(3)


def _eye_target_curves(binding, person) -> list:
    """Location curves of eye target controls (Rigify eye.L/eye.R) for mappings that aim eyes."""
    arm, m = binding.armature, binding.mapping
    targets = mapping_format.eye_targets(m) or {}
    frame = runtime_api.head_basis(axis_vector(m["forward_axis"]), axis_vector(m["up_axis"]))
    curves = []
    for side, columns in (("left", runtime_api.EYE_LEFT), ("right", runtime_api.EYE_RIGHT)):
        target, centre = targets.get(side, ("", ""))
        if target not in arm.pose.bones or centre not in arm.data.bones:
            continue
        loc = _target_locations(arm.data.bones, target, centre, frame, person.eyes[:, columns].astype(float))
        path = f'pose.bones["{bpy.utils.escape_identifier(target)}"].location'
        curves += [(path, i, GROUP_EYES, loc[:, i]) for i in range(3)]
    return curves


def _bone_curves(binding, person) -> list:
    if binding.armature is None:
        return []
    curves = []
    for bone, parts in _bone_rotations(binding, person).items():
        q = parts[0][0]
        for more, _group in parts[1:]:
            q = quat_mul(q, more)
        curves += _rotation_curves(binding.armature.pose.bones[bone], q, parts[0][1])
    return curves + _eye_target_curves(binding, person)


# ---- actions, NLA and the user's own animation -----------------------------------------
def _is_ours(action, name: str) -> bool:
    return action is not None and action.get(BAKE_PROP) == name


def _drop_action(action) -> None:
    if action.users == 0:
        bpy.data.actions.remove(action)


def _clear_previous(anim, name: str) -> str:
    """Remove an earlier bake of this name (active or in the NLA); returns the name of the
    track where it had kept the user's action, if any."""
    kept = ""
    if _is_ours(anim.action, name):
        old = anim.action
        kept = old.get(KEPT_PROP, "")
        anim.action = None
        _drop_action(old)
    for track in list(anim.nla_tracks):
        for strip in list(track.strips):
            if _is_ours(strip.action, name):
                old = strip.action
                kept = kept or old.get(KEPT_PROP, "")
                track.strips.remove(strip)
                _drop_action(old)
        if track.name == _track_name(name) and len(track.strips) == 0:
            anim.nla_tracks.remove(track)
    return kept


def _track_name(name: str) -> str:
    return f"TT {name}"[:63]


def _keep_user_action(anim) -> str:
    """Move the active (user's) action into its own NLA track so it keeps playing under ours."""
    action = anim.action
    track = anim.nla_tracks.new()
    track.name = f"TT kept: {action.name}"[:63]
    compat.add_strip(track, action.name, math.floor(action.frame_range[0]), action, compat.active_slot(anim))
    anim.action = None
    return track.name


def _write_action(idb, owner, name: str, curves, frames: np.ndarray, use_nla: bool):
    """Replace the previous bake on one ID with a new Action holding ``curves``."""
    anim = idb.animation_data or idb.animation_data_create()
    kept = _clear_previous(anim, name)
    if not use_nla and anim.action is not None:
        kept = _keep_user_action(anim)
    suffix = "_shapes" if idb.id_type == 'KEY' else ""
    action, slot = compat.new_action(f"TT_{name}_{owner.name}{suffix}", idb)
    action[BAKE_PROP], action[RIG_PROP] = name, owner.name
    if kept:
        action[KEPT_PROP] = kept
    container = compat.curve_container(action, slot)
    co = np.empty(2 * len(frames), dtype=np.float32)
    co[0::2] = frames
    for path, index, group, values in curves:
        fc = compat.new_fcurve(container, path, index, group)
        fc.keyframe_points.add(len(frames))
        co[1::2] = values
        fc.keyframe_points.foreach_set("co", co)
        fc.update()
    action.use_frame_range = True      # whole frames, so an NLA strip maps keys one to one
    action.frame_start, action.frame_end = math.floor(frames[0]), max(math.ceil(frames[-1]), math.floor(frames[0]) + 1)
    if use_nla:
        track = anim.nla_tracks.new()
        track.name = _track_name(name)
        compat.add_strip(track, action.name, action.frame_start, action, slot)
    else:
        compat.assign(anim, action, slot)
    return action


def _check_finite(result) -> None:
    """Never key NaN or inf (a result file written by other tools, or edited by hand)."""
    for who, person in zip("AB", result.people):
        for what in ("face", "head", "eyes"):
            values = getattr(person, what)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"person {who}'s {what} values are not all finite numbers "
                                 f"({int((~np.isfinite(values)).sum())} NaN or inf); nothing was baked.")
    if not (np.isfinite(result.fps) and result.fps > 0 and np.isfinite(result.start_time)):
        raise ValueError(f"the result's frame rate ({result.fps}) or start time ({result.start_time}) is "
                         "not a usable number; nothing was baked.")


def bake_conversation(scene, bindings, result, frame_offset: float, name: str,
                      use_nla: bool = False) -> BakeReport:
    """Write the result onto two rigs (person A -> bindings[0], B -> bindings[1]).

    Frame of result frame i: ``frame_offset + (result.start_time + i / result.fps) * scene_fps``
    with ``scene_fps = scene.render.fps / scene.render.fps_base``. A result at another rate is
    resampled here first (``result.resample``), so keys land one per scene frame.

    One new Action per animated ID (the armature object; each face mesh's shape-key Key),
    named ``TT_<name>_<rig>`` and tagged ``tt_bake_name = name``. Non-destructive:
    * a re-bake with the same name replaces only that earlier bake (active or NLA);
    * ``use_nla=False``: our Action becomes the active one; a user's active Action is moved,
      untouched, to an NLA track "TT kept: <action>" beneath it, so both play (ours wins on
      channels both animate) and ``remove_bake`` makes it active again;
    * ``use_nla=True``: our Action goes to an NLA track "TT <name>" and the active Action is
      left alone.
    Missing shape keys or bones are reported, not fatal. Linked (non-overridden) data raises
    ValueError before anything is written.
    """
    start = time.perf_counter()
    if len(bindings) != 2 or len(result.people) != 2:
        raise ValueError("a conversation bakes onto exactly two rigs")
    if not name:
        raise ValueError("the bake needs a name")
    problems = [p for b in bindings for p in rig_binding.writability_problems(b)]
    if problems:
        raise ValueError("; ".join(problems))
    _check_finite(result)
    scene_fps = scene.render.fps / scene.render.fps_base
    if abs(result.fps - scene_fps) > 1e-6:
        result = result.resample(scene_fps)
    frames = frame_offset + (result.start_time + np.arange(result.num_frames) / result.fps) * scene_fps
    report = BakeReport(frame_range=(float(frames[0]), float(frames[-1])))
    plans = []
    for binding, person in zip(bindings, result.people):
        report.missing += [f"{binding.name}: {m}" for m in rig_binding.missing_targets(binding)]
        plans += [(idb, owner, c) for idb, c in _shape_curves(binding, person).items()
                  for owner in [next(m for m in binding.face_meshes if m.data.shape_keys == idb)]]
        bones = _bone_curves(binding, person)
        if bones:
            plans.append((binding.armature, binding.armature, bones))
    if not plans:
        raise ValueError("nothing would be keyed: neither rig has a shape key or bone its mapping names; "
                         "choose a mapping that fits the rigs.")
    report.warnings += [f"{b.name}: {note}" for b in bindings for note in b.notes]
    for idb, owner, curves in plans:
        action = _write_action(idb, owner, name, curves, frames, use_nla)
        report.actions.append(action.name)
        report.fcurves += len(curves)
        report.keys_written += len(curves) * len(frames)
    report.seconds = time.perf_counter() - start
    return report


def remove_bake(scene, bindings, name: str) -> int:
    """Remove a bake (its Actions and NLA strips) from the rigs and make any user Action it had
    moved aside active again. Returns how many Actions were removed."""
    removed = 0
    for binding in bindings:
        for idb, _owner in rig_binding.animated_ids(binding):
            anim = idb.animation_data
            if anim is None:
                continue
            before = len(bpy.data.actions)
            kept = _clear_previous(anim, name)
            removed += before - len(bpy.data.actions)
            track = anim.nla_tracks.get(kept) if kept else None
            if track is not None and len(track.strips) == 1 and anim.action is None:
                strip = track.strips[0]
                action, slot = strip.action, compat.strip_slot(strip)
                anim.nla_tracks.remove(track)
                compat.assign(anim, action, slot)
    return removed
