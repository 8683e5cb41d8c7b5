"""Place rigs so their heads match HeadPoses (layout presets, Add Head Rigs), and read back
where they are."""
from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix, Vector

from . import rig_binding
from .runtime import runtime_api


def current_layout(bindings) -> tuple:
    """The two rigs' rest heads as HeadPoses (world space)."""
    return tuple(rig_binding.head_pose(b) for b in bindings)


def _move(binding, pose) -> None:
    """Rotate and translate the rig's root so its eye centre, facing and up match ``pose``."""
    eye, fwd, up = rig_binding.head_frame(binding)
    rot = runtime_api.head_basis(pose.forward, pose.up) @ runtime_api.head_basis(fwd, up).T
    r4 = Matrix([list(r) for r in rot]).to_4x4()
    delta = Matrix.Translation(Vector(pose.eye_center)) @ r4 @ Matrix.Translation(-Vector(eye))
    root = binding.root
    root.matrix_world = delta @ root.matrix_world


def apply_layout(bindings, poses) -> None:
    """Move/rotate each rig's root object (the armature, or the mesh without one) so that its
    head's eye centre and facing match the pose. Keyed object transforms would override this
    on the next frame change; the rigs' own scale is kept."""
    if len(bindings) != len(poses):
        raise ValueError("one pose per rig")
    for binding, pose in zip(bindings, poses):
        if not np.all(np.isfinite(pose.eye_center)):
            raise ValueError("pose eye centre must be finite")
        _move(binding, pose)
    # Children (head mesh, eyeballs) get their world matrices from the depsgraph: refresh now
    # so that scripts reading matrix_world right after a layout see where things are.
    bpy.context.view_layer.update()
