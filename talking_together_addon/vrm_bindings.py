"""VRM expression bindings: which shape keys a VRM avatar's visemes, blinks and looks are (no bpy).

A VRM imported with the VRM add-on for Blender (saturday06/VRM-Addon-for-Blender) keeps its
shape keys under the model's own names; only the add-on's expression bindings on the armature
data say which key is "aa" or "blinkLeft" (io_scene_vrm/editor/vrm1/property_group.py,
editor/vrm0/property_group.py, editor/property_group.py):

* VRM 1.0: ``vrm_addon_extension.vrm1.expressions.preset.<aa|ih|ou|ee|oh|blink|blink_left|
  blink_right|look_up|look_down|look_left|look_right>.morph_target_binds[i]`` with ``node`` (a
  MeshObjectPropertyGroup: ``mesh_object_name``, stored as the pointer ``bpy_object``),
  ``index`` (the shape key's name, a string) and ``weight`` (0..1, default 1).
* VRM 0.x: ``vrm_addon_extension.vrm0.blend_shape_master.blend_shape_groups[i]`` with
  ``preset_name`` (enum a, i, u, e, o, blink, blink_l, blink_r, lookup, ...; numbered 0..17) and
  ``binds[j]`` with ``mesh`` (MeshObjectPropertyGroup), ``index`` and ``weight`` (0..1, default 1).

Without the add-on the same data is still in the .blend as raw ID properties (nested groups and
lists; enums as their numbers, defaults not stored), so every field is read both ways.
"""
from __future__ import annotations

EXTENSION = "vrm_addon_extension"
# VRM 1.0 preset attribute -> expression name (the add-on's ExpressionPreset names).
VRM1_PRESETS = {
    "aa": "aa", "ih": "ih", "ou": "ou", "ee": "ee", "oh": "oh",
    "blink": "blink", "blink_left": "blinkLeft", "blink_right": "blinkRight",
    "look_up": "lookUp", "look_down": "lookDown", "look_left": "lookLeft", "look_right": "lookRight",
}
# VRM 0.x preset_name enum items in number order (Vrm0BlendShapeGroupPropertyGroup).
VRM0_PRESET_ITEMS = ("unknown", "neutral", "a", "i", "u", "e", "o", "blink", "joy", "angry", "sorrow", "fun",
                     "lookup", "lookdown", "lookleft", "lookright", "blink_l", "blink_r")
VRM0_TO_VRM1 = {"a": "aa", "i": "ih", "u": "ou", "e": "ee", "o": "oh", "blink": "blink",
                "blink_l": "blinkLeft", "blink_r": "blinkRight", "lookup": "lookUp", "lookdown": "lookDown",
                "lookleft": "lookLeft", "lookright": "lookRight"}
# VRM vowel expression -> the Oculus viseme id it is (viseme_solve.OCULUS).
VOWEL_VISEMES = {"aa": "aa", "ih": "ih", "ou": "ou", "ee": "e", "oh": "oh"}
ONE_EYE_BLINKS = {"blinkLeft": "eyeBlinkLeft", "blinkRight": "eyeBlinkRight"}
# A look turns both eyes: each eye's ARKit channel drives the expression half, so both at 1 give 1.
LOOKS = {"lookUp": ("eyeLookUpLeft", "eyeLookUpRight"), "lookDown": ("eyeLookDownLeft", "eyeLookDownRight"),
         "lookLeft": ("eyeLookOutLeft", "eyeLookInRight"), "lookRight": ("eyeLookInLeft", "eyeLookOutRight")}


# ---- reading add-on property groups or their raw ID properties -----------------------------
def field(group, name: str, default=None):
    """A property of an add-on property group, or of the raw ID-property group the add-on left
    behind when it is not installed (unset raw fields are the add-on's defaults, not stored)."""
    if group is None:
        return default
    rna = getattr(group, "bl_rna", None)
    if rna is not None and name in rna.properties:
        return getattr(group, name)
    if hasattr(group, "get"):          # IDPropertyGroup, a bpy struct's ID properties, or a dict
        value = group.get(name)
        return default if value is None else value
    return getattr(group, name, default)


def _mesh_name(mesh_group) -> str:
    """The object name a MeshObjectPropertyGroup points at: the add-on's ``mesh_object_name``, or
    raw, the stored ``bpy_object`` pointer (an Object; older files kept a name string)."""
    if mesh_group is None:
        return ""
    name = field(mesh_group, "mesh_object_name")
    if isinstance(name, str) and name:
        return name
    obj = field(mesh_group, "bpy_object")
    if obj is not None and getattr(obj, "name", None):
        return obj.name
    for legacy in ("value", "name"):   # the add-on's earlier MeshPropertyGroup stored a name
        old = field(mesh_group, legacy)
        if isinstance(old, str) and old:
            return old
    return ""


def _binds(items, mesh_field: str) -> list[tuple[str, str, float]]:
    """(mesh object name, shape key name, weight) of each morph-target bind."""
    out = []
    for bind in items or ():
        key = field(bind, "index", "")
        if isinstance(key, str) and key:
            out.append((_mesh_name(field(bind, mesh_field)), key, float(field(bind, "weight", 1.0))))
    return out


def _extension(armature_data):
    return field(armature_data, EXTENSION) if armature_data is not None else None


def vrm1_expressions(armature_data) -> dict[str, list[tuple[str, str, float]]]:
    """VRM 1.0 preset expression name -> its morph-target binds (presets with none left out)."""
    preset = field(field(field(_extension(armature_data), "vrm1"), "expressions"), "preset")
    out = {}
    for attr, name in VRM1_PRESETS.items():
        binds = _binds(field(field(preset, attr), "morph_target_binds"), "node")
        if binds:
            out[name] = binds
    return out


def _vrm0_preset(value) -> str:
    """preset_name as its identifier: the add-on gives a string, raw ID properties its number."""
    if isinstance(value, int) and 0 <= value < len(VRM0_PRESET_ITEMS):
        return VRM0_PRESET_ITEMS[value]
    return value.lower() if isinstance(value, str) else "unknown"


def vrm0_expressions(armature_data) -> dict[str, list[tuple[str, str, float]]]:
    """VRM 0.x preset groups, under the VRM 1.0 expression names, -> their binds."""
    master = field(field(_extension(armature_data), "vrm0"), "blend_shape_master")
    out: dict[str, list] = {}
    for group in field(master, "blend_shape_groups") or ():
        name = VRM0_TO_VRM1.get(_vrm0_preset(field(group, "preset_name", 0)))
        binds = _binds(field(group, "binds"), "mesh")
        if name and binds:
            out.setdefault(name, []).extend(binds)
    return out


def expression_binds(armature_data) -> dict[str, list[tuple[str, str, float]]]:
    """Preset expression -> binds, VRM 1.0 first: an avatar migrated from 0.x keeps both, and the
    add-on exports the 1.0 data when it is there."""
    return vrm1_expressions(armature_data) or vrm0_expressions(armature_data)


# ---- binds -> mapping entries -----------------------------------------------------------
def _present(binds, keys_by_mesh: dict[str, set]) -> list[dict]:
    """Shape-key entries of the binds whose key exists on the bound mesh (or, when the bound
    mesh is not one of the rig's face meshes, on any of them); zero weights dropped."""
    any_mesh = set().union(*keys_by_mesh.values()) if keys_by_mesh else set()
    entries = []
    for mesh, key, weight in binds:
        on_mesh = keys_by_mesh.get(mesh)
        if weight > 0 and key in (on_mesh if on_mesh is not None else any_mesh):
            entries.append({"key": key, "weight": weight})
    return entries


def _scaled(entries, factor: float) -> list[dict]:
    return [{"key": e["key"], "weight": e["weight"] * factor} for e in entries]


def _blink_shapes(found: dict) -> dict[str, list[dict]]:
    """One-eye blinks drive their eye; a both-eye blink alone takes half from each eye (as the
    VRM name rules do), so a closing pair gives the whole blink."""
    shapes = {ch: found[name] for name, ch in ONE_EYE_BLINKS.items() if name in found}
    if not shapes and "blink" in found:
        shapes = {ch: _scaled(found["blink"], 0.5) for ch in ONE_EYE_BLINKS.values()}
    return shapes


def _look_shapes(found: dict) -> dict[str, list[dict]]:
    shapes: dict[str, list[dict]] = {}
    for name, channels in LOOKS.items():
        for ch in channels if name in found else ():
            shapes.setdefault(ch, []).extend(_scaled(found[name], 0.5))
    return shapes


def expression_mapping(binds: dict, keys_by_mesh: dict[str, set]) -> dict:
    """{"shape_keys": channel -> entries, "visemes": viseme id -> entries} for the bound
    expressions whose keys the rig has; empty when the armature carries no VRM bindings."""
    found = {name: entries for name, b in binds.items() if (entries := _present(b, keys_by_mesh))}
    visemes = {VOWEL_VISEMES[name]: found[name] for name in VOWEL_VISEMES if name in found}
    shapes = {**_blink_shapes(found), **_look_shapes(found)}
    return {"shape_keys": shapes, "visemes": visemes} if shapes or visemes else {}
