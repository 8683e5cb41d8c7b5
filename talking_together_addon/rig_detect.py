"""What a rig is, read from Blender data: its convention's mapping, its axes, its eyeballs.

The name matching itself is rig_conventions (no bpy); this module gathers the names and
the geometry that names cannot tell: which way the head faces, which meshes are eyeballs,
and whether the eyes' ``eyeLook*`` shape keys turn the eyeballs the eye bones turn too.
"""
from __future__ import annotations

import re

import numpy as np
from mathutils import Vector

from . import mapping_format, rig_conventions, vrm_bindings

_EYE_NAME = {"L": re.compile(r"(eye[_. ]?(left|l)$|left[_ ]?eye|^eye[_. ]?l\b)", re.I),
             "R": re.compile(r"(eye[_. ]?(right|r)$|right[_ ]?eye|^eye[_. ]?r\b)", re.I)}
_NOT_EYEBALL = re.compile(r"lash|brow|lid|occlusion|tear|shadow", re.I)
_AXES = ("X", "Y", "Z")


def _signed_axis(v: np.ndarray) -> str | None:
    """'-Y' for a vector mostly along -Y; None when no axis clearly dominates."""
    n = np.linalg.norm(v)
    if n < 1e-6:
        return None
    i = int(np.argmax(np.abs(v)))
    if abs(v[i]) < 0.8 * n:
        return None
    return ("-" if v[i] < 0 else "") + _AXES[i]


def _guess_axes(arm, mapping: dict) -> None:
    """forward_axis/up_axis from the bones: up from neck to head, forward from the head to
    the eyes. Imported rigs (glTF, FBX) are not always -Y forward, Z up."""
    bones = arm.data.bones
    head = bones.get(next(reversed(mapping["head"]["bones"]), ""))
    eyes = [bones.get(b) for b in mapping_format.eye_center_bones(mapping) or ("", "")]
    if head is None or not all(eyes):
        return
    neck = head.parent
    up_vec = np.array(head.head_local - neck.head_local) if neck is not None else np.array(head.vector)
    up = _signed_axis(up_vec)
    mid = (eyes[0].head_local + eyes[1].head_local) / 2
    to_eyes = np.array(mid - head.head_local)
    if up is None:
        return
    up_unit = _axis_unit(up)
    forward = _signed_axis(to_eyes - (to_eyes @ up_unit) * up_unit)
    if forward is not None and forward.lstrip("-") != up.lstrip("-"):
        mapping["forward_axis"], mapping["up_axis"] = forward, up


def _axis_unit(spec: str) -> np.ndarray:
    v = np.zeros(3)
    v[_AXES.index(spec.lstrip("-"))] = -1.0 if spec.startswith("-") else 1.0
    return v


def detected_mapping(arm, meshes) -> dict:
    """The mapping of the rig's convention, found from its shape-key and bone names."""
    keys_by_mesh = {mesh.name: set(mesh.data.shape_keys.key_blocks.keys()) for mesh in meshes}
    keys = set().union(*keys_by_mesh.values())
    bones = set(arm.data.bones.keys()) if arm is not None else set()
    mapping = rig_conventions.detect(keys, bones, _vrm_expressions(arm, keys_by_mesh))
    mapping["name"] = mapping_format.AUTO_MAPPING
    if arm is not None and mapping["head"]["bones"]:
        _guess_axes(arm, mapping)
    return mapping


def _vrm_expressions(arm, keys_by_mesh: dict) -> dict:
    """The keys the VRM add-on's expression bindings on the armature name (VRM imports keep
    the model's own key names, so only these bindings say which key is a viseme or blink)."""
    if arm is None:
        return {}
    return vrm_bindings.expression_mapping(vrm_bindings.expression_binds(arm.data), keys_by_mesh)


# ---- eyes ------------------------------------------------------------------------------
def world_center(obj) -> Vector:
    """World-space centre of an object's bounding box."""
    corners = [obj.matrix_world @ Vector(c) for c in obj.bound_box]
    return sum(corners, Vector()) / len(corners)


def head_mesh(meshes):
    """The face mesh with the most shape keys: the head, not an eyeball or the teeth."""
    return max(meshes, key=lambda m: len(m.data.shape_keys.key_blocks))


def eye_meshes(binding):
    """(left, right) eyeball meshes found by name among the rig's meshes, or None."""
    candidates = list(binding.face_meshes)
    root = binding.root
    candidates += [c for c in root.children_recursive if c.type == 'MESH' and c not in candidates]
    found = {}
    for obj in candidates:
        if _NOT_EYEBALL.search(obj.name):
            continue
        for side, pattern in _EYE_NAME.items():
            if pattern.search(obj.name) and side not in found:
                found[side] = obj
    return (found["L"], found["R"]) if len(found) == 2 else None


def _turned_by_eye_bone(mesh, eye_bones: set) -> bool:
    """Whether an eye bone carries the mesh: bone parent, or most vertices weighted to it."""
    if mesh.parent_type == 'BONE' and mesh.parent_bone in eye_bones:
        return True
    groups = {g.index for g in mesh.vertex_groups if g.name in eye_bones}
    if not groups:
        return False
    carried = sum(any(ge.group in groups and ge.weight > 0.5 for ge in v.groups) for v in mesh.data.vertices)
    return carried > 0.5 * len(mesh.data.vertices)


def _moves_vertices(mesh, key_name: str) -> bool:
    blocks = mesh.data.shape_keys.key_blocks
    key, basis = blocks[key_name], blocks[0]
    n = len(mesh.data.vertices)
    a, b = np.empty(3 * n), np.empty(3 * n)
    key.data.foreach_get("co", a)
    basis.data.foreach_get("co", b)
    return n > 0 and float(np.abs(a - b).max()) > 1e-6


def _eyeball_bones(mapping: dict) -> set:
    """Bones that carry the eyeballs: the turned eye bones, or for target controls the
    centre bones (Rigify's eyeball meshes are weighted to DEF-eye.L, which turns with them)."""
    centres = set(mapping_format.eye_center_bones(mapping) or ())
    if mapping_format.eye_targets(mapping):
        centres |= {p + c.split("-", 1)[-1] for c in centres for p in rig_conventions.RIGIFY_EYE_CENTRES}
    return centres - {None, ""}


def avoid_double_eyes(binding) -> None:
    """Eye bones and ``eyeLook*`` keys that turn the same eyeball would add up: key the bones
    (exact angles, vergence) and skip those keys, saying so in the binding's notes."""
    arm = binding.armature
    mapped = set(mapping_format.eye_center_bones(binding.mapping) or ())
    if arm is None or not mapped or not mapped <= set(arm.data.bones.keys()):
        return
    eye_bones = _eyeball_bones(binding.mapping) & set(arm.data.bones.keys())
    entries = binding.mapping.get("shape_keys", {})
    look_keys = set()
    for ch in rig_conventions.EYE_LOOK:
        value = entries.get(ch, ch if binding.mapping.get("unlisted_channels", "same") == "same" else None)
        look_keys.update([value] if isinstance(value, str) else [])
        if isinstance(value, (dict, list)):
            look_keys.update(e["key"] for e in (value if isinstance(value, list) else [value]) if isinstance(e, dict))
    for mesh in binding.face_meshes:
        # The bone test first: it rules out most meshes without reading any vertex (this runs
        # on every resolve, the viewport preview's redraws included).
        if not _turned_by_eye_bone(mesh, eye_bones):
            continue
        blocks = mesh.data.shape_keys.key_blocks
        doubled = sorted(k for k in look_keys if k in blocks and _moves_vertices(mesh, k))
        if doubled:
            binding.skipped_keys.update((mesh.name, k) for k in doubled)
            binding.notes.append(
                f"{mesh.name!r}: its eyeLook shape keys turn the eyeball that the eye bones "
                f"{' and '.join(sorted(mapped))} turn too; only the bones are keyed, so the eyes do "
                "not turn twice as far.")
