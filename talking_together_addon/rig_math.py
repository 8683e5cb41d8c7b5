"""Rotation maths for mapping head/eye angles onto bones (numpy only, no bpy, no PyTorch).

The runtime's conventions (model_runtime/head_pose.py): a head frame has columns right,
forward, up; head rotation is ``Rz(yaw) @ Rx(pitch) @ Ry(roll)`` in that frame. A bone's
local rotation L that produces the head-frame rotation R is ``L = C^T R C`` with
``C = B^T M`` (B: head frame in armature space, M: bone rest orientation in armature space).
For quaternions that conjugation just re-expresses the rotation axis in bone coordinates.
"""
from __future__ import annotations

import numpy as np

_AXES = {"X": 0, "Y": 1, "Z": 2}


def axis_vector(spec: str) -> np.ndarray:
    """'-Y' -> (0, -1, 0)."""
    spec = spec.strip().upper()
    sign = -1.0 if spec.startswith("-") else 1.0
    letter = spec.lstrip("+-")
    if letter not in _AXES:
        raise ValueError(f"axis must be one of X, Y, Z with an optional sign, got {spec!r}")
    v = np.zeros(3)
    v[_AXES[letter]] = sign
    return v


def _axis_quat(axis: int, angle: np.ndarray) -> np.ndarray:
    q = np.zeros(angle.shape + (4,))
    q[..., 0] = np.cos(angle / 2)
    q[..., 1 + axis] = np.sin(angle / 2)
    return q


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of (..., 4) w-first quaternions."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def head_quats(yaw, pitch, roll) -> np.ndarray:
    """(T, 4) quaternions of Rz(yaw) Rx(pitch) Ry(roll) in head-frame coordinates
    (x right, y forward, z up)."""
    yaw, pitch, roll = (np.asarray(a, float) for a in (yaw, pitch, roll))
    return quat_mul(quat_mul(_axis_quat(2, yaw), _axis_quat(0, pitch)), _axis_quat(1, roll))


def quat_power(q: np.ndarray, t: float) -> np.ndarray:
    """q^t (the rotation scaled by t about the same axis): splits a head turn exactly between
    neck and head, since q^a q^(1-a) = q."""
    q = np.where(q[..., :1] < 0, -q, q)
    w = np.clip(q[..., 0], -1.0, 1.0)
    half = np.arccos(w)
    s = np.sin(half)
    axis = np.where(s[..., None] > 1e-9, q[..., 1:] / np.maximum(s, 1e-12)[..., None], 0.0)
    out = np.empty_like(q)
    out[..., 0] = np.cos(half * t)
    out[..., 1:] = axis * np.sin(half * t)[..., None]
    return out


def to_bone_local(q: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Head-frame rotation quaternions (T, 4) as the bone's local rotation, C = B^T M (3, 3)."""
    det = np.sign(np.linalg.det(c))      # a mirrored axis spec flips the rotation sense
    out = q.copy()
    out[..., 1:] = det * (q[..., 1:] @ c)   # rows: v^T C = (C^T v)^T
    return out


def bone_to_head(head_frame: np.ndarray, bone_rest: np.ndarray) -> np.ndarray:
    """C = B^T M: bone-local coordinates to head-frame coordinates."""
    return head_frame.T @ bone_rest


def axes_spec_matrix(spec: dict) -> np.ndarray:
    """C from an explicit spec such as {"yaw": "Z", "pitch": "X", "roll": "-Y"}: the bone-local
    axis each of our rotations turns about (right-handed, positive angle)."""
    cols = [axis_vector(spec[k]) for k in ("pitch", "roll", "yaw")]  # head x, y, z axes
    ct = np.stack(cols, axis=1)   # C^T: columns are the head axes in bone coordinates
    if abs(abs(np.linalg.det(ct)) - 1.0) > 1e-6:
        raise ValueError(f"bone axes {spec} must name three different axes")
    return ct.T


def clean_euler_order(c: np.ndarray) -> str | None:
    """The Euler order whose three channels read directly as pitch, roll and yaw for a bone
    whose axes line up with the head frame (None if they do not line up)."""
    ct = c.T
    letters = []
    for col in range(3):   # head axes x (pitch), y (roll), z (yaw) in bone coordinates
        i = int(np.argmax(np.abs(ct[:, col])))
        if abs(ct[i, col]) < 0.999:
            return None
        letters.append("XYZ"[i])
    pitch, roll, yaw = letters
    return roll + pitch + yaw   # Blender applies the first letter first: R = yaw @ pitch @ roll


def continuous(q: np.ndarray) -> np.ndarray:
    """Flip quaternion signs so consecutive keys interpolate the short way."""
    q = q.copy()
    dots = np.einsum("ij,ij->i", q[1:], q[:-1])
    flips = np.cumsum(dots < 0) % 2
    q[1:][flips == 1] *= -1
    return q
