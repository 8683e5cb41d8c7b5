"""The default head rig: a face mesh with the 52 ARKit shape keys, eyeballs and an armature.

Geometry comes from the runtime's default_head package (base mesh and shape-key offsets, numpy
only, shared with the evaluation's lip-vertex error); this module turns it into Blender data.
Everything is built in armature space with the armature at the origin, so the rig faces -Y
(Blender's front) until scene_layout moves it.
"""
from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix, Vector

from .rig_math import bone_to_head, clean_euler_order
from .runtime import runtime_api

default_head = runtime_api.default_head    # mesh, eyeballs and the 52 shape offsets as numpy data

# name, RGBA (Workbench shows a material's viewport colour).
MATERIALS = (("TT Skin", (0.80, 0.58, 0.47, 1)), ("TT Lips", (0.62, 0.30, 0.30, 1)),
             ("TT Mouth", (0.12, 0.03, 0.03, 1)), ("TT Brow", (0.22, 0.15, 0.10, 1)),
             ("TT Teeth", (0.92, 0.90, 0.84, 1)), ("TT Tongue", (0.72, 0.36, 0.38, 1)))
EYE_MATERIALS = (("TT Eye White", (0.93, 0.93, 0.91, 1)), ("TT Iris", (0.18, 0.38, 0.55, 1)),
                 ("TT Pupil", (0.02, 0.02, 0.02, 1)))
# (name, head, tail, parent): neck and head pivot low at the skull base; eye bones point forward.
BONES = (("neck", (0, 0.01, 0.0), (0, 0.01, 0.10), None),
         ("head", (0, 0.01, 0.10), (0, 0.01, 0.30), "neck"),
         ("jaw", tuple(default_head.JAW_PIVOT), (0, -0.075, 0.09), "head"),
         ("eye.L", tuple(default_head.EYE_CENTERS["L"]), tuple(default_head.EYE_CENTERS["L"] + (0, -0.025, 0)), "head"),
         ("eye.R", tuple(default_head.EYE_CENTERS["R"]), tuple(default_head.EYE_CENTERS["R"] + (0, -0.025, 0)), "head"))


def _material(name: str, rgba) -> bpy.types.Material:
    mat = bpy.data.materials.get(name)
    if mat is None:
        mat = bpy.data.materials.new(name)
        mat.diffuse_color = rgba
        mat.roughness = 0.6
    return mat


def _mesh(name: str, verts, faces, face_mats, materials) -> bpy.types.Mesh:
    me = bpy.data.meshes.new(name)
    me.from_pydata([tuple(v) for v in verts], [], [tuple(f) for f in faces])
    for mname, rgba in materials:
        me.materials.append(_material(mname, rgba))
    me.polygons.foreach_set("material_index", np.asarray(face_mats, dtype=np.int32))
    me.polygons.foreach_set("use_smooth", np.ones(len(me.polygons), dtype=bool))
    me.validate()
    me.update()
    return me


def _build_armature(name: str, collection) -> bpy.types.Object:
    arm_data = bpy.data.armatures.new(name)
    arm = bpy.data.objects.new(name, arm_data)
    collection.objects.link(arm)
    arm_data.display_type = 'STICK'
    arm.show_in_front = True
    _edit_bones(arm)
    return arm


def _edit_bones(arm) -> None:
    """Edit bones need edit mode, which needs the armature active in the view layer."""
    view_layer = bpy.context.view_layer
    scene_coll = bpy.context.scene.collection
    # Linked straight into the scene collection (temporarily) it is in the view layer even when
    # its own collection is excluded, so it can be made active and edited.
    temp = arm.name not in scene_coll.objects
    if temp:
        scene_coll.objects.link(arm)
    prev_active = view_layer.objects.active
    prev_mode = bpy.context.mode
    if prev_mode != 'OBJECT':
        bpy.ops.object.mode_set(mode='OBJECT')
    view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode='EDIT')
    ebones = arm.data.edit_bones
    for bname, head, tail, parent in BONES:
        eb = ebones.new(bname)
        eb.head, eb.tail, eb.roll = Vector(head), Vector(tail), 0.0
        eb.use_deform = False
        if parent:
            eb.parent = ebones[parent]
    bpy.ops.object.mode_set(mode='OBJECT')
    view_layer.objects.active = prev_active
    if temp:
        bpy.context.scene.collection.objects.unlink(arm)


def _parent_to_bone(obj, arm, bone_name: str) -> None:
    """Bone parenting that keeps the object where it is (armature-space vertices)."""
    bone = arm.data.bones[bone_name]
    obj.parent = arm
    obj.parent_type = 'BONE'
    obj.parent_bone = bone_name
    tail = bone.matrix_local @ Matrix.Translation((0.0, bone.length, 0.0))
    obj.matrix_parent_inverse = tail.inverted()


def _set_rotation_modes(arm) -> None:
    """Euler orders whose channels read as pitch/roll/yaw, so baked curves are editable."""
    frame = runtime_api.head_basis((0, -1, 0), (0, 0, 1))
    for pb in arm.pose.bones:
        m = np.array(pb.bone.matrix_local.to_3x3())
        pb.rotation_mode = clean_euler_order(bone_to_head(frame, m)) or 'QUATERNION'


def _add_shape_keys(obj, verts, attrs) -> None:
    obj.shape_key_add(name="Basis", from_mix=False)
    for name, offsets in default_head.shape_offsets(verts, attrs).items():
        kb = obj.shape_key_add(name=name, from_mix=False)
        kb.data.foreach_set("co", (verts + offsets).astype(np.float32).ravel())
        kb.slider_min, kb.slider_max = 0.0, 1.0
    obj.data.shape_keys.use_relative = True


def build_default_head_rig(scene, name: str, collection) -> bpy.types.Object:
    """Build the default head rig in ``collection``; returns the armature object.

    Children: '<name> Head' (face mesh with the ARKit shape keys, bone-parented to 'head'),
    '<name> Eye.L/R' (parented to the eye bones), '<name> Neck' (parented to 'neck').
    The armature stores the eye centre (armature space) as ``tt_eye_center``.
    """
    collection = collection or scene.collection
    arm = _build_armature(name, collection)
    verts, faces, mats, attrs = default_head.build_head()
    head = bpy.data.objects.new(f"{name} Head", _mesh(f"{name} Head", verts, faces, mats, MATERIALS))
    collection.objects.link(head)
    _parent_to_bone(head, arm, "head")
    _add_shape_keys(head, verts, attrs)
    for side in ("L", "R"):
        ev, ef, em = default_head.eyeball(default_head.EYE_CENTERS[side])
        eye = bpy.data.objects.new(f"{name} Eye.{side}", _mesh(f"{name} Eye.{side}", ev, ef, em, EYE_MATERIALS))
        collection.objects.link(eye)
        _parent_to_bone(eye, arm, f"eye.{side}")
    neck = bpy.data.objects.new(f"{name} Neck", _mesh(f"{name} Neck", *_neck_geometry(), MATERIALS[:1]))
    collection.objects.link(neck)
    _parent_to_bone(neck, arm, "neck")
    _set_rotation_modes(arm)
    arm["tt_eye_center"] = [float(v) for v in (default_head.EYE_CENTERS["L"] + default_head.EYE_CENTERS["R"]) / 2]
    arm["tt_rig"] = "default_head"
    return arm


def _neck_geometry():
    """An open cylinder from the shoulders' line up into the head."""
    n = 24
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    rings = [np.stack([0.052 * np.cos(ang), 0.012 + 0.054 * np.sin(ang), np.full(n, z)], 1)
             for z in (-0.02, 0.05, 0.12)]
    verts = np.concatenate(rings)
    faces = [(r * n + c, r * n + (c + 1) % n, (r + 1) * n + (c + 1) % n, (r + 1) * n + c)
             for r in range(2) for c in range(n)]
    return verts, faces, np.zeros(len(faces), int)
