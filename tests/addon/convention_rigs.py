"""Rigs that mimic common avatar conventions, built in the tests from the default head rig by
renaming and re-keying (names and structure only; no third-party assets).

Each builder returns the armature. The face keeps the default head's geometry, so a key
renamed from an ARKit shape still deforms the mouth or lids the way its name says; viseme
and VRM vowel keys are built as blends of ARKit offsets (viseme_solve.VISEME_POSES)."""
from __future__ import annotations

import bpy
import numpy as np
from mathutils import Vector

from talking_together_addon import rig_binding, rig_builder, rig_conventions, viseme_solve

OCULUS_KEYS = {v: names[0] for v, names in rig_conventions.OCULUS_NAMES.items()}


def _coords(key) -> np.ndarray:
    co = np.empty(3 * len(key.data))
    key.data.foreach_get("co", co)
    return co


def _offset(mesh, key_name: str) -> np.ndarray:
    blocks = mesh.data.shape_keys.key_blocks
    return _coords(blocks[key_name]) - _coords(blocks[0])


def add_key(mesh, name: str, offset: np.ndarray):
    if mesh.data.shape_keys is None:
        mesh.shape_key_add(name="Basis")
    key = mesh.shape_key_add(name=name, from_mix=False)
    key.data.foreach_set("co", _coords(mesh.data.shape_keys.key_blocks[0]) + offset)
    return key


def _viseme_offset(mesh, viseme: str) -> np.ndarray:
    pose = viseme_solve.VISEME_POSES[viseme]
    return sum((w * _offset(mesh, ch) for ch, w in pose.items()), np.zeros(3 * len(mesh.data.vertices)))


def _drop_arkit(mesh, keep=()) -> None:
    for key in list(mesh.data.shape_keys.key_blocks)[1:]:
        if key.name in rig_conventions.ARKIT and key.name not in keep:
            mesh.shape_key_remove(key)


def _rename_bones(arm, names: dict) -> None:
    for old, new in names.items():
        arm.data.bones[old].name = new


def _add_bones(arm, names) -> None:
    """Extra bones (edit mode needs the armature active)."""
    view_layer = bpy.context.view_layer
    view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode='EDIT')
    for n in names:
        eb = arm.data.edit_bones.new(n)
        eb.head, eb.tail = (0, 0.3, 0), (0, 0.3, 0.05)
    bpy.ops.object.mode_set(mode='OBJECT')


def _eyeball_looks(eye, side: str) -> None:
    """eyeLook* keys on an eyeball mesh that turn the eyeball itself (as RPM's EyeLeft has)."""
    n = len(eye.data.vertices)
    eye.shape_key_add(name="Basis")
    base = _coords(eye.data.shape_keys.key_blocks[0]).reshape(n, 3)
    centre = base.mean(axis=0)
    for name, axis, angle in (("Out", 2, 0.35), ("In", 2, -0.35), ("Up", 0, 0.3), ("Down", 0, -0.3)):
        c, s = np.cos(angle), np.sin(angle)
        i, j = [(1, 2), (0, 2), (0, 1)][axis]
        rel = base - centre
        turned = rel.copy()
        turned[:, i], turned[:, j] = c * rel[:, i] - s * rel[:, j], s * rel[:, i] + c * rel[:, j]
        add_key(eye, f"eyeLook{name}{'Left' if side == 'L' else 'Right'}", (turned - rel).ravel())


def _base(scene, name: str):
    arm = rig_builder.build_default_head_rig(scene, name, scene.collection)
    del arm[rig_binding.EYE_CENTER_PROP]     # found from bones or meshes, as on a real avatar
    head = next(c for c in arm.children if c.name.endswith(" Head"))
    return arm, head


def arkit_variants(scene, name):
    """ARKit names as exporters write them: 'blendShape1.' prefix, '_L'/'_R' suffixes."""
    arm, head = _base(scene, name)
    for key in list(head.data.shape_keys.key_blocks)[1:]:
        key.name = "blendShape1." + key.name.replace("Left", "_L").replace("Right", "_R")
    return arm, "blendShape1.jawOpen"


def ready_player_me(scene, name):
    arm, head = _base(scene, name)
    for v, key in OCULUS_KEYS.items():
        if v != "sil":
            add_key(head, key, _viseme_offset(head, v))
    add_key(head, "mouthOpen", _offset(head, "jawOpen"))
    add_key(head, "mouthSmile", _offset(head, "mouthSmileLeft") + _offset(head, "mouthSmileRight"))
    head.name = f"{name} Wolf3D_Head"
    _rename_bones(arm, {"neck": "Neck", "head": "Head", "eye.L": "LeftEye", "eye.R": "RightEye"})
    for side, new in (("L", "EyeLeft"), ("R", "EyeRight")):
        eye = bpy.data.objects[f"{name} Eye.{side}"]
        eye.name = f"{name} {new}"
        _eyeball_looks(eye, side)
    return arm, "jawOpen"


def character_creator(scene, name):
    arm, head = _base(scene, name)
    blocks = head.data.shape_keys.key_blocks
    for ch, cc_names in rig_conventions.CC_SHAPES.items():
        offset = _offset(head, ch)
        blocks[ch].name = cc_names[0]
        for extra in cc_names[1:]:
            add_key(head, extra, offset / len(cc_names))
    _rename_bones(arm, {"neck": "CC_Base_NeckTwist01", "head": "CC_Base_Head", "jaw": "CC_Base_JawRoot",
                        "eye.L": "CC_Base_L_Eye", "eye.R": "CC_Base_R_Eye"})
    head.name = f"{name} CC_Base_Body"
    return arm, "Jaw_Open"


def _vrm(scene, name, vowels: dict, blinks: dict, bones: dict):
    arm, head = _base(scene, name)
    for v, key in vowels.items():
        add_key(head, key, _viseme_offset(head, v))
    for ch, key in blinks.items():
        add_key(head, key, _offset(head, ch))
    _drop_arkit(head)
    _rename_bones(arm, bones)
    return arm


def vroid(scene, name):
    arm = _vrm(scene, name, {v: n[2] for v, n in rig_conventions.VRM_VOWELS.items()},
               {ch: n[2] for ch, n in rig_conventions.VRM_BLINKS.items()},
               {"neck": "J_Bip_C_Neck", "head": "J_Bip_C_Head", "eye.L": "J_Adj_L_FaceEye", "eye.R": "J_Adj_R_FaceEye"})
    return arm, "Fcl_MTH_A"


def vrm1(scene, name):
    arm = _vrm(scene, name, {v: n[0] for v, n in rig_conventions.VRM_VOWELS.items()},
               {ch: n[0] for ch, n in rig_conventions.VRM_BLINKS.items()},
               {"eye.L": "leftEye", "eye.R": "rightEye"})
    return arm, "aa"


# VRM avatars as the VRM add-on imports them: keys under the model's own names (none a
# convention spells), and which is which only in the add-on's expression bindings, stored here
# as the raw ID properties it leaves on the armature data (pointer ``bpy_object``, 0.x enum
# ``preset_name`` as its number, an unset ``weight`` meaning 1).
BOUND_VOWELS = {"aa": "Face.M_F00_000_00_Fcl_MTH_A", "ih": "Face.M_F00_000_00_Fcl_MTH_I",
                "ou": "Face.M_F00_000_00_Fcl_MTH_U", "e": "Face.M_F00_000_00_Fcl_MTH_E",
                "oh": "Face.M_F00_000_00_Fcl_MTH_O"}
BOUND_BLINKS = {"eyeBlinkLeft": "Eye_Shut_Left_Lid", "eyeBlinkRight": "Eye_Shut_Right_Lid"}
BOUND_EXTRA = "Mouth_Open_Wide"          # a second key the "aa" expression drives


def _bound_keys(scene, name):
    arm, head = _base(scene, name)
    for v, key in BOUND_VOWELS.items():
        add_key(head, key, _viseme_offset(head, v))
    add_key(head, BOUND_EXTRA, _offset(head, "jawOpen"))
    for ch, key in BOUND_BLINKS.items():
        add_key(head, key, _offset(head, ch))
    _drop_arkit(head)
    return arm, head


def _raw_bind(mesh, key, weight=None, mesh_field="node") -> dict:
    bind = {mesh_field: {"bpy_object": mesh}, "index": key}
    if weight is not None:
        bind["weight"] = weight
    return bind


def _bound_expressions(head, mesh_field) -> dict:
    """VRM 1.0 expression name -> raw binds: 'aa' drives two keys, one at a partial weight."""
    vrm1 = {"aa": "aa", "ih": "ih", "ou": "ou", "e": "ee", "oh": "oh"}
    out = {vrm1[v]: [_raw_bind(head, key, mesh_field=mesh_field)] for v, key in BOUND_VOWELS.items()}
    out["aa"].append(_raw_bind(head, BOUND_EXTRA, 0.6, mesh_field))
    out["ee"][0]["weight"] = 0.9
    out["blinkLeft"] = [_raw_bind(head, BOUND_BLINKS["eyeBlinkLeft"], 1.0, mesh_field)]
    out["blinkRight"] = [_raw_bind(head, BOUND_BLINKS["eyeBlinkRight"], 1.0, mesh_field)]
    return out


def vrm1_bound(scene, name):
    """VRM 1.0: vrm1.expressions.preset.<aa|...|blink_left>.morph_target_binds."""
    arm, head = _bound_keys(scene, name)
    attrs = {"blinkLeft": "blink_left", "blinkRight": "blink_right"}
    preset = {attrs.get(n, n): {"morph_target_binds": binds} for n, binds in _bound_expressions(head, "node").items()}
    arm.data["vrm_addon_extension"] = {"vrm1": {"expressions": {"preset": preset}}}
    return arm, BOUND_VOWELS["aa"]


def vrm0_bound(scene, name):
    """VRM 0.x: vrm0.blend_shape_master.blend_shape_groups[i] with preset_name (a number) and binds."""
    arm, head = _bound_keys(scene, name)
    numbers = {"aa": 2, "ih": 3, "ou": 4, "ee": 5, "oh": 6, "blinkLeft": 16, "blinkRight": 17}
    groups = [{"name": n, "preset_name": numbers[n], "binds": binds}
              for n, binds in _bound_expressions(head, "mesh").items()]
    groups.append({"name": "Joy", "preset_name": 8, "binds": [_raw_bind(head, BOUND_EXTRA, 1.0, "mesh")]})
    arm.data["vrm_addon_extension"] = {"vrm0": {"blend_shape_master": {"blend_shape_groups": groups}}}
    return arm, BOUND_VOWELS["aa"]


def mpfb(scene, name):
    arm, head = _base(scene, name)
    for key in list(head.data.shape_keys.key_blocks)[1:]:
        key.name = "!ex-" + key.name
    _rename_bones(arm, {"neck": "neck01"})
    return arm, "!ex-jawOpen"


def _rigify_eyes(arm) -> None:
    """Rigify's aimed eyes: ORG-eye.L/R at the eyeball centres (carrying the eyeballs) track
    target controls eye.L/R, children of a master 'eyes' in front of the face under the head.
    The controls point up, as Rigify's do, so their local axes are not the armature's."""
    _rename_bones(arm, {"eye.L": "ORG-eye.L", "eye.R": "ORG-eye.R"})
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode='EDIT')
    eb = arm.data.edit_bones
    ahead = [eb[f"ORG-eye.{s}"].head + Vector((0.0, -0.15, 0.0)) for s in "LR"]
    middle = (ahead[0] + ahead[1]) / 2
    master = eb.new("eyes")
    master.head, master.tail, master.parent = middle, middle + Vector((0, 0, 0.03)), eb["head"]
    for side, point in zip("LR", ahead):
        control = eb.new(f"eye.{side}")
        control.head, control.tail, control.parent = point, point + Vector((0, 0, 0.02)), master
    bpy.ops.object.mode_set(mode='OBJECT')
    for side in "LR":
        track = arm.pose.bones[f"ORG-eye.{side}"].constraints.new('DAMPED_TRACK')
        track.target, track.subtarget = arm, f"eye.{side}"


def rigify(scene, name):
    """A generated Rigify rig: controls 'neck', 'head', 'jaw_master', eye target controls
    'eye.L'/'eye.R' under 'eyes', beside ORG-/DEF- bones."""
    arm, _head = _base(scene, name)
    _rename_bones(arm, {"jaw": "jaw_master"})
    _add_bones(arm, ("ORG-face", "DEF-spine.006"))
    _rigify_eyes(arm)
    return arm, "jawOpen"


def oculus_visemes_only(scene, name):
    arm, head = _base(scene, name)
    for v, key in OCULUS_KEYS.items():
        add_key(head, key, _viseme_offset(head, v))
    _drop_arkit(head, keep=("eyeBlinkLeft", "eyeBlinkRight"))
    return arm, "viseme_aa"


def mouth_open_smile_only(scene, name):
    arm, head = _base(scene, name)
    add_key(head, "mouthOpen", _offset(head, "jawOpen"))
    add_key(head, "mouthSmile", _offset(head, "mouthSmileLeft") + _offset(head, "mouthSmileRight"))
    _drop_arkit(head)
    return arm, "mouthOpen"


BUILDERS = {f.__name__: f for f in (arkit_variants, ready_player_me, character_creator, vroid, vrm1, vrm1_bound,
                                     vrm0_bound, mpfb, rigify, oculus_visemes_only, mouth_open_smile_only)}
# Conventions whose eyes the bake aims with target controls instead of turning eye bones.
AIMED_EYES = {"rigify"}
