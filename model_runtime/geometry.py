"""Layout geometry: head frames, partner direction, gaze rays and mutual gaze.

Conventions (one place for all of them):

* World space is right-handed and Z-up (Blender's).
* A head frame has columns ``right, forward, up``; local coordinates are (x=right,
  y=forward, z=up). A direction's yaw is positive to the person's left, pitch positive up.
* Head rotation (yaw, pitch, roll) is applied in the rest head frame as
  ``Rz(yaw) @ Rx(pitch) @ Ry(roll)``.

Everything is written in PyTorch so the training gaze loss and the runtime share the code;
numpy arrays are accepted wherever a tensor is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .errors import LayoutError

MIN_HEAD_DISTANCE = 0.05      # metres: closer than this the two heads overlap
MUTUAL_GAZE_TOLERANCE_DEG = 8.0


def _t(x) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), dtype=torch.float32)


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

    def basis(self) -> torch.Tensor:
        """(3, 3) world-from-local rotation with columns right, forward, up (orthonormal)."""
        f = _t(self.forward).double()
        f = f / f.norm()
        u = _t(self.up).double()
        u = u - (u @ f) * f
        u = u / u.norm()
        r = torch.linalg.cross(f, u)
        return torch.stack([r, f, u], dim=1).float()

    def position(self) -> torch.Tensor:
        return _t(self.eye_center).float()


def angles_to_direction(yaw, pitch) -> torch.Tensor:
    """Local unit direction (..., 3) from yaw/pitch (radians)."""
    yaw, pitch = _t(yaw), _t(pitch)
    cp = torch.cos(pitch)
    return torch.stack([-torch.sin(yaw) * cp, torch.cos(yaw) * cp, torch.sin(pitch)], dim=-1)


def direction_to_angles(d) -> tuple[torch.Tensor, torch.Tensor]:
    """Yaw and pitch of local directions (..., 3); the inverse of :func:`angles_to_direction`."""
    d = _t(d)
    yaw = torch.atan2(-d[..., 0], d[..., 1])
    pitch = torch.atan2(d[..., 2], torch.hypot(d[..., 0], d[..., 1]))
    return yaw, pitch


def head_rotation(yaw, pitch, roll) -> torch.Tensor:
    """(..., 3, 3) rotation of the head in its rest frame: Rz(yaw) @ Rx(pitch) @ Ry(roll)."""
    yaw, pitch, roll = _t(yaw), _t(pitch), _t(roll)
    cy, sy = torch.cos(yaw), torch.sin(yaw)
    cp, sp = torch.cos(pitch), torch.sin(pitch)
    cr, sr = torch.cos(roll), torch.sin(roll)
    one, zero = torch.ones_like(cy), torch.zeros_like(cy)
    rz = torch.stack([cy, -sy, zero, sy, cy, zero, zero, zero, one], -1).reshape(*cy.shape, 3, 3)
    rx = torch.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).reshape(*cy.shape, 3, 3)
    ry = torch.stack([cr, zero, sr, zero, one, zero, -sr, zero, cr], -1).reshape(*cy.shape, 3, 3)
    return rz @ rx @ ry


def partner_in_head_frame(me: HeadPose, partner: HeadPose) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where the partner is, seen from my rest head frame.

    Returns (unit direction to the partner's eyes (3,), distance in metres, the partner's
    facing direction expressed in my frame (3,)).
    """
    offset = partner.position() - me.position()
    distance = offset.norm()
    if not torch.isfinite(distance) or distance < MIN_HEAD_DISTANCE:
        raise LayoutError(
            f"the two heads are {float(distance):.3f} m apart; place them at least "
            f"{MIN_HEAD_DISTANCE} m apart so each has a partner to look at")
    basis = me.basis()
    direction = basis.T @ (offset / distance)
    partner_forward = basis.T @ partner.basis()[:, 1]
    return direction, distance, partner_forward


LAYOUT_FEATURE_DIM = 7


def layout_features(me: HeadPose, partner: HeadPose) -> torch.Tensor:
    """The model's layout condition for one person (7,): partner direction (3), log distance,
    partner's facing in my frame (3)."""
    direction, distance, partner_forward = partner_in_head_frame(me, partner)
    return torch.cat([direction, torch.log(distance).reshape(1), partner_forward])


def conversation_layout(poses: tuple[HeadPose, HeadPose]) -> torch.Tensor:
    """(2, LAYOUT_FEATURE_DIM): each person's layout condition, seen from their own head."""
    return torch.stack([layout_features(poses[0], poses[1]), layout_features(poses[1], poses[0])])


def gaze_directions_world(pose: HeadPose, head_angles, gaze_angles) -> torch.Tensor:
    """World-space unit gaze directions (T, 3) from head (T, 3: pitch, yaw, roll) and cyclopean
    gaze (T, 2: yaw, pitch) relative to the head."""
    head_angles, gaze_angles = _t(head_angles), _t(gaze_angles)
    rot = head_rotation(head_angles[..., 1], head_angles[..., 0], head_angles[..., 2])
    local = rot @ angles_to_direction(gaze_angles[..., 0], gaze_angles[..., 1]).unsqueeze(-1)
    return (pose.basis().to(local) @ local).squeeze(-1)


def gaze_toward(pose: HeadPose, head_angles, target) -> torch.Tensor:
    """Cyclopean gaze angles (T, 2: yaw, pitch) relative to the head that look at a world point."""
    head_angles = _t(head_angles)
    rot = head_rotation(head_angles[..., 1], head_angles[..., 0], head_angles[..., 2])
    to_target = _t(target).float() - pose.position()
    local_rest = pose.basis().T @ (to_target / to_target.norm())
    in_head = rot.transpose(-1, -2) @ local_rest
    yaw, pitch = direction_to_angles(in_head)
    return torch.stack([yaw, pitch], dim=-1)


def angle_between(u, v) -> torch.Tensor:
    """Angle in radians between direction arrays (..., 3); numerically safe near 0 and pi."""
    u, v = _t(u), _t(v)
    cross = torch.linalg.cross(u, v, dim=-1).norm(dim=-1)
    return torch.atan2(cross, (u * v).sum(-1))


def gaze_error_to_target(pose: HeadPose, directions, target) -> torch.Tensor:
    """Angle (T,) between gaze directions (T, 3) and the ray from the eyes to a world point."""
    to_target = _t(target).float() - pose.position()
    return angle_between(_t(directions), (to_target / to_target.norm()).expand_as(_t(directions)))


def looks_at(pose: HeadPose, directions, target, tolerance_deg: float = MUTUAL_GAZE_TOLERANCE_DEG) -> torch.Tensor:
    """Boolean (T,): does each gaze direction point at the target within a tolerance?"""
    return gaze_error_to_target(pose, directions, target) <= math.radians(tolerance_deg)


def mutual_gaze(pose_a: HeadPose, dirs_a, pose_b: HeadPose, dirs_b,
                tolerance_deg: float = MUTUAL_GAZE_TOLERANCE_DEG) -> torch.Tensor:
    """Boolean (T,): both people look at each other's eyes in the same frame."""
    return (looks_at(pose_a, dirs_a, pose_b.position(), tolerance_deg)
            & looks_at(pose_b, dirs_b, pose_a.position(), tolerance_deg))
