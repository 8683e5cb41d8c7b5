"""Which Blender data a person's animation goes to: armature, face meshes and a mapping preset.

A rig is a mesh with shape keys, an armature, or both. Whichever of them the user picks, the
binding holds the same thing: the armature (if any) and every mesh with shape keys that it
drives, so picking the head mesh or its armature bakes the same curves.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import bpy
import numpy as np
from mathutils import Vector

from . import mapping_format, rig_detect
from .mapping_format import AUTO_MAPPING
from .rig_math import axis_vector
from .runtime import runtime_api

DEFAULT_MAPPING = "arkit_default"
EYE_CENTER_PROP = "tt_eye_center"


@dataclass
class RigBinding:
    armature: bpy.types.Object | None
    face_meshes: list = field(default_factory=list)
    mapping: dict = field(default_factory=dict)
    # (mesh name, key name) pairs not keyed: eyeLook* keys that turn an eyeball the eye
    # bones already turn (keying both would turn the eyes twice as far).
    skipped_keys: set = field(default_factory=set)
    notes: list = field(default_factory=list)       # sentences for the report's warnings

    @property
    def root(self) -> bpy.types.Object:
        """The object that places the rig in the scene (moved by layouts)."""
        return self.armature if self.armature is not None else self.face_meshes[0]

    @property
    def name(self) -> str:
        return self.root.name


# ---- mapping presets -------------------------------------------------------------------
def mapping_dirs() -> list[str]:
    return [str(runtime_api.PRESETS_DIR / "rig_mappings")]


def _read_mapping_file(name_or_path: str) -> dict:
    path = name_or_path if name_or_path.endswith(".json") else None
    if path is None:
        candidates = [os.path.join(d, name_or_path + ".json") for d in mapping_dirs()]
        path = next((c for c in candidates if os.path.isfile(c)), None)
        if path is None:
            raise ValueError(f"no rig mapping preset named {name_or_path!r} (looked in {mapping_dirs()[0]})")
    try:
        m = runtime_api.read_preset(os.path.abspath(bpy.path.abspath(path)))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read rig mapping {path!r}: {exc}") from None
    m["name"] = os.path.splitext(os.path.basename(path))[0]
    return m


def complete_mapping(m: dict) -> dict:
    """A mapping with every default filled in and its entries checked (ValueError says what
    is wrong); ``shape_keys`` stays as written (see mapping_format for the entry forms)."""
    m = dict(m)
    m.setdefault("name", "custom")
    m.setdefault("shape_keys", {})
    m.setdefault("forward_axis", "-Y")
    m.setdefault("up_axis", "Z")
    m.setdefault("head", {"bones": {"head": 1.0}, "axes": "auto"})
    m.setdefault("jaw", {})
    m.setdefault("eyes", {})
    axis_vector(m["forward_axis"]), axis_vector(m["up_axis"])    # validate early
    mapping_format.shape_targets(m, runtime_api.OUTPUT_FACE_CHANNELS)
    mapping_format.eye_targets(m)
    for e in mapping_format.bone_channel_entries(m):
        axis_vector(e["axis"])
    return m


def load_mapping(name_or_path: str = DEFAULT_MAPPING) -> dict:
    """A mapping preset by name (presets/rig_mappings/<name>.json) or a .json path, with every
    default filled in."""
    return complete_mapping(_read_mapping_file(name_or_path))


# ---- resolving -------------------------------------------------------------------------
def _ancestors(obj):
    while obj.parent is not None:
        obj = obj.parent
        yield obj


def _drives(mesh_obj, arm) -> bool:
    if arm in _ancestors(mesh_obj):
        return True
    return any(m.type == 'ARMATURE' and m.object == arm for m in mesh_obj.modifiers)


def _armature_of(mesh_obj):
    arm = mesh_obj.find_armature()
    if arm is None:
        arm = next((p for p in _ancestors(mesh_obj) if p.type == 'ARMATURE'), None)
    return arm


def _face_meshes(arm) -> list:
    return [o for o in bpy.data.objects
            if o.type == 'MESH' and o.data.shape_keys is not None and _drives(o, arm)]


def _override_of(obj):
    """A linked object's library override in this file, if one exists (it can be animated)."""
    if obj.library is None:
        return obj
    return next((o for o in bpy.data.objects
                 if o.override_library is not None and o.override_library.reference == obj), obj)


def _meshes_and_armature(obj):
    """(armature or None, face meshes) for a picked armature or mesh; ValueError if neither."""
    if obj.type == 'ARMATURE':
        return obj, _face_meshes(obj)
    if obj.type == 'MESH':
        arm = _armature_of(obj)
        if obj.data.shape_keys is None and arm is None:
            raise ValueError(f"{obj.name!r} has no shape keys and no armature: pick a head mesh with "
                             "shape keys or an armature")
        meshes = [obj] if obj.data.shape_keys is not None else []
        if arm is not None:
            meshes += [m for m in _face_meshes(arm) if m != obj]
        return arm, meshes
    raise ValueError(f"{obj.name!r} is a {obj.type.lower()}: pick a head mesh with shape keys or an armature")


def _mapping_for(mapping_name, arm, meshes) -> dict:
    if isinstance(mapping_name, dict):
        return complete_mapping(mapping_name)
    if mapping_name in (None, "", AUTO_MAPPING):
        return complete_mapping(rig_detect.detected_mapping(arm, meshes))
    return load_mapping(mapping_name)


def resolve_rig(obj, mapping_name: str | dict | None = AUTO_MAPPING) -> RigBinding:
    """The binding for an armature or a mesh with shape keys; ValueError says what is wrong.
    ``mapping_name``: "auto" (detect the convention from the rig's names), a preset name, a
    .json path, or a mapping dict."""
    if obj is None:
        raise ValueError("no rig given: pick a head mesh with shape keys or an armature")
    obj = _override_of(obj)
    arm, meshes = _meshes_and_armature(obj)
    binding = RigBinding(arm, meshes, _mapping_for(mapping_name, arm, meshes))
    binding.notes += list(binding.mapping.get("notes", []))
    rig_detect.avoid_double_eyes(binding)
    return binding


# ---- where the head is -----------------------------------------------------------------
def _local_eye_center(binding: RigBinding) -> tuple[bpy.types.Object, Vector]:
    """(object, eye centre in its local space): stored property, eye bones, or mesh bounds."""
    arm = binding.armature
    if arm is not None:
        if EYE_CENTER_PROP in arm:
            return arm, Vector(tuple(arm[EYE_CENTER_PROP]))
        # Eyeball-centre bones (Rigify's ORG-eye.L), not target controls out in front.
        names = mapping_format.eye_center_bones(binding.mapping) or ("", "")
        bones = [arm.data.bones.get(n) for n in names]
        if all(bones):
            return arm, (bones[0].head_local + bones[1].head_local) / 2
    eyes = rig_detect.eye_meshes(binding)
    if eyes is not None:                 # eyeball meshes: the centre between them
        centre = sum((rig_detect.world_center(e) for e in eyes), Vector()) / 2
        root = binding.root
        return root, root.matrix_world.inverted() @ centre
    if not binding.face_meshes:
        return arm, Vector((0.0, 0.0, 0.0))
    mesh = rig_detect.head_mesh(binding.face_meshes)
    corners = np.array([tuple(c) for c in mesh.bound_box])
    lo, hi = corners.min(0), corners.max(0)
    fwd, up = axis_vector(binding.mapping["forward_axis"]), axis_vector(binding.mapping["up_axis"])
    half = (hi - lo) / 2
    # Eyes sit a little above the middle of a head mesh, well toward its front.
    local = (lo + hi) / 2 + fwd * 0.6 * abs(fwd @ half) + up * 0.15 * abs(up @ half)
    return mesh, Vector(local)


def head_frame(binding: RigBinding) -> tuple[tuple, tuple, tuple]:
    """World (eye centre, unit forward, unit up) of the rig at rest, without PyTorch."""
    obj, local = _local_eye_center(binding)
    mw = obj.matrix_world
    root3 = binding.root.matrix_world.to_3x3()
    fwd = (root3 @ Vector(axis_vector(binding.mapping["forward_axis"]))).normalized()
    up = (root3 @ Vector(axis_vector(binding.mapping["up_axis"]))).normalized()
    return tuple(mw @ local), tuple(fwd), tuple(up)


def head_pose(binding: RigBinding) -> runtime_api.HeadPose:
    """The rig's rest head as the runtime's HeadPose (world space)."""
    return runtime_api.HeadPose(*head_frame(binding))


# ---- what is missing or not writable --------------------------------------------------
def head_bone_shares(binding: RigBinding) -> dict[str, float]:
    """Head-rotation share per bone the rig has, normalised to sum to 1 (root bone first)."""
    arm = binding.armature
    if arm is None:
        return {}
    bones = binding.mapping.get("head", {}).get("bones", {})
    present = {b: float(w) for b, w in bones.items() if b in arm.pose.bones and float(w) > 0}
    total = sum(present.values())
    order = sorted(present, key=lambda b: len(arm.data.bones[b].parent_recursive))
    return {b: present[b] / total for b in order} if total > 0 else {}


def shape_key_names(binding: RigBinding) -> set:
    keys = set()
    for mesh in binding.face_meshes:
        keys.update(mesh.data.shape_keys.key_blocks.keys())
    return keys


def missing_targets(binding: RigBinding) -> list[str]:
    """What the mapping names that the rig lacks: ARKit channel names (or "viseme 'x'") for
    shape keys, and "bone 'x'" / "head rotation (no armature)" for bones."""
    keys = shape_key_names(binding)
    m = binding.mapping
    entries = mapping_format.channel_entries(m, runtime_api.OUTPUT_FACE_CHANNELS)
    missing = [ch for ch, es in entries.items() if any(e["key"] not in keys for e in es)]
    missing += [f"viseme {v!r}" for v, k in (m.get("visemes") or {}).get("keys", {}).items() if k not in keys]
    arm = binding.armature
    if arm is None:
        return missing + ["head rotation (no armature)", "eye rotation (no armature)"]
    bones = arm.pose.bones
    missing += [f"bone {b!r}" for b in m.get("head", {}).get("bones", {}) if b not in bones]
    missing += [f"bone {b!r}" for b in _eye_bone_names(m) if b not in bones]
    jaw = m.get("jaw", {})
    if jaw.get("degrees") and jaw.get("bone") not in bones:
        missing.append(f"bone {jaw.get('bone')!r}")
    missing += [f"bone {e['bone']!r}" for e in mapping_format.bone_channel_entries(m) if e["bone"] not in bones]
    return missing


def _eye_bone_names(m: dict) -> list[str]:
    """Every bone the eyes need: turned eye bones, or target controls and their centres."""
    targets = mapping_format.eye_targets(m)
    if targets:
        return [b for side in ("left", "right") for b in targets[side]]
    return [m["eyes"][k] for k in ("left", "right") if m["eyes"].get(k)]


def animated_ids(binding: RigBinding) -> list:
    """(ID, owner object) pairs a bake writes actions to."""
    ids = [(binding.armature, binding.armature)] if binding.armature is not None else []
    return ids + [(m.data.shape_keys, m) for m in binding.face_meshes]


def writability_problems(binding: RigBinding) -> list[str]:
    """Sentences for data that cannot take a new action (linked from a library, no override)."""
    problems = []
    for idb, owner in animated_ids(binding):
        if idb.library is None:
            continue
        lib = idb.library.filepath
        if owner.library is not None:
            problems.append(f"{owner.name!r} is linked from {lib!r} and cannot take new animation; make a "
                            "library override (Object > Library Override > Make) and pick the override")
        else:
            problems.append(f"{owner.name!r} uses shape keys of mesh data linked from {lib!r}, which cannot "
                            "take new animation; override the mesh data too (Outliner: right-click the "
                            "mesh data > Library Override > Make > Selected)")
    return problems
