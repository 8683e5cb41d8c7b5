"""A head at rest in world space, and what it can see: numpy only (no PyTorch), so the Blender
add-on places rigs and draws the layout preview before PyTorch is even installed.

Conventions (the one place for them; geometry.py builds the PyTorch maths on top):

* World space is right-handed and Z-up (Blender's), in metres.
* A head frame has columns ``right, forward, up``; local coordinates are (x=right,
  y=forward, z=up). A direction's yaw is positive to the person's left, pitch positive up.
* Head rotation (yaw, pitch, roll) is applied in the rest head frame as
  ``Rz(yaw) @ Rx(pitch) @ Ry(roll)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .channels import GAZE_LIMITS, HEAD_LIMITS
from .errors import LayoutError


def head_basis(forward, up) -> np.ndarray:
    """(3, 3) float64 world-from-local rotation, columns right, forward, up (orthonormal):
    ``forward`` is kept and ``up`` made perpendicular to it."""
    f = np.asarray(forward, dtype=np.float64)
    f = f / np.linalg.norm(f)
    u = np.asarray(up, dtype=np.float64)
    u = u - (u @ f) * f
    u = u / np.linalg.norm(u)
    return np.stack([np.cross(f, u), f, u], axis=1)


def direction_from_yaw_pitch(yaw, pitch) -> np.ndarray:
    """(..., 3) unit directions in head coordinates from yaw (left) and pitch (up), i.e.
    Rz(yaw) Rx(pitch) applied to forward (0, 1, 0); numpy twin of geometry.angles_to_direction."""
    yaw, pitch = np.asarray(yaw, dtype=np.float64), np.asarray(pitch, dtype=np.float64)
    return np.stack([-np.sin(yaw) * np.cos(pitch), np.cos(yaw) * np.cos(pitch), np.sin(pitch)], axis=-1)


def local_yaw_pitch(local) -> tuple[float, float]:
    """Yaw (to the left) and pitch (up) in radians of a direction in head coordinates."""
    x, y, z = (float(c) for c in local)
    return math.atan2(-x, y), math.atan2(z, math.hypot(x, y))


# How far a person can look by turning head and eyes together (yaw, pitch; radians).
LOOK_REACH = (HEAD_LIMITS["headYaw"][1] + GAZE_LIMITS["gazeYaw"][1],
              HEAD_LIMITS["headPitch"][1] + GAZE_LIMITS["gazePitch"][1])


@dataclass(frozen=True)
class HeadPose:
    """A head at rest in world space: eye centre, facing direction and up direction."""

    eye_center: tuple[float, float, float]
    forward: tuple[float, float, float]
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def __post_init__(self):
        for name in ("eye_center", "forward", "up"):
            v = np.asarray(getattr(self, name), dtype=np.float64)
            if v.shape != (3,) or not np.all(np.isfinite(v)):
                raise LayoutError(f"head {name} must be three finite numbers, got {getattr(self, name)!r}")
        f, u = np.asarray(self.forward, float), np.asarray(self.up, float)
        if np.linalg.norm(f) < 1e-6 or np.linalg.norm(u) < 1e-6:
            raise LayoutError("head forward and up directions must not be zero")
        if np.linalg.norm(np.cross(f, u)) < 1e-6 * np.linalg.norm(f) * np.linalg.norm(u):
            raise LayoutError("head forward and up directions must not be parallel")

    def basis(self) -> np.ndarray:
        """(3, 3) float64 world-from-local rotation with columns right, forward, up."""
        return head_basis(self.forward, self.up)

    def position(self) -> np.ndarray:
        """The eye centre (3,) float64."""
        return np.asarray(self.eye_center, dtype=np.float64)

    def to_local(self, point) -> np.ndarray:
        """A world point in this rest head's coordinates (x right, y forward, z up)."""
        return self.basis().T @ (np.asarray(point, dtype=np.float64) - self.position())

    def can_look_at(self, point) -> bool:
        """Is the point within reach of head plus eyes turning from this rest pose?"""
        local = self.to_local(point)
        if np.linalg.norm(local) < 1e-6:
            return False
        yaw, pitch = local_yaw_pitch(local)
        return abs(yaw) <= LOOK_REACH[0] and abs(pitch) <= LOOK_REACH[1]
