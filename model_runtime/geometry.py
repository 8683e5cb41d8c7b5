"""Layout geometry in PyTorch: partner direction, gaze rays and mutual gaze.

The conventions (axes, angles, rotation order) are in head_pose.py with :class:`HeadPose`.
Everything here is written in PyTorch so the training gaze loss and the runtime share the
code; numpy arrays are accepted wherever a tensor is.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .channels import (GAZE_PITCH, GAZE_YAW, HEAD_PITCH, HEAD_ROLL, HEAD_YAW, LAYOUT_DIM, LAYOUT_LOG_DISTANCE,
                       LAYOUT_PARTNER_DIRECTION, LAYOUT_PARTNER_FACING)
from .errors import LayoutError
from .head_pose import HeadPose

MIN_HEAD_DISTANCE = 0.05      # metres: closer than this the two heads overlap
LOOK_AT_TOLERANCE_DEG = 8.0   # a gaze ray this close to a person's eyes counts as looking at them


def _t(x) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), dtype=torch.float32)


def _basis(pose: HeadPose) -> torch.Tensor:
    return torch.as_tensor(pose.basis(), dtype=torch.float32)


def _position(pose: HeadPose) -> torch.Tensor:
    return torch.as_tensor(pose.position(), dtype=torch.float32)


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


def head_rotation_of(head_angles) -> torch.Tensor:
    """(..., 3, 3) rotation of head vectors (..., 3) in the order of channels.HEAD_CHANNELS."""
    h = _t(head_angles)
    return head_rotation(h[..., HEAD_YAW], h[..., HEAD_PITCH], h[..., HEAD_ROLL])


def gaze_direction_of(gaze_angles) -> torch.Tensor:
    """Local unit directions (..., 3) of cyclopean gaze vectors (..., 2: channels.GAZE_CHANNELS)."""
    g = _t(gaze_angles)
    return angles_to_direction(g[..., GAZE_YAW], g[..., GAZE_PITCH])


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
    offset = _position(partner) - _position(me)
    distance = offset.norm()
    if not torch.isfinite(distance) or distance < MIN_HEAD_DISTANCE:
        raise LayoutError(
            f"the two heads are {float(distance):.3f} m apart; place them at least "
            f"{MIN_HEAD_DISTANCE} m apart so each has a partner to look at")
    basis = _basis(me)
    direction = basis.T @ (offset / distance)
    partner_forward = basis.T @ _basis(partner)[:, 1]
    return direction, distance, partner_forward


def layout_features(me: HeadPose, partner: HeadPose) -> torch.Tensor:
    """The model's layout condition for one person (LAYOUT_DIM,), laid out as channels.LAYOUT_*."""
    direction, distance, partner_forward = partner_in_head_frame(me, partner)
    out = torch.empty(LAYOUT_DIM)
    out[LAYOUT_PARTNER_DIRECTION] = direction
    out[LAYOUT_LOG_DISTANCE] = torch.log(distance)
    out[LAYOUT_PARTNER_FACING] = partner_forward
    return out


def conversation_layout(poses: tuple[HeadPose, HeadPose]) -> torch.Tensor:
    """(2, LAYOUT_DIM): each person's layout condition, seen from their own head."""
    return torch.stack([layout_features(poses[0], poses[1]), layout_features(poses[1], poses[0])])


def gaze_directions_world(pose: HeadPose, head_angles, gaze_angles) -> torch.Tensor:
    """World-space unit gaze directions (T, 3) from head (T, 3: pitch, yaw, roll) and cyclopean
    gaze (T, 2: yaw, pitch) relative to the head."""
    local = head_rotation_of(head_angles) @ gaze_direction_of(gaze_angles).unsqueeze(-1)
    return (_basis(pose).to(local) @ local).squeeze(-1)


def gaze_toward(pose: HeadPose, head_angles, target) -> torch.Tensor:
    """Cyclopean gaze angles (T, 2: yaw, pitch) relative to the head that look at a world point."""
    rot = head_rotation_of(head_angles)
    to_target = _t(target).float() - _position(pose)
    local_rest = _basis(pose).T @ (to_target / to_target.norm())
    yaw, pitch = direction_to_angles(rot.transpose(-1, -2) @ local_rest)
    out = torch.empty(*yaw.shape, 2)
    out[..., GAZE_YAW], out[..., GAZE_PITCH] = yaw, pitch
    return out


def angle_between(u, v) -> torch.Tensor:
    """Angle in radians between direction arrays (..., 3); numerically safe near 0 and pi."""
    u, v = _t(u), _t(v)
    cross = torch.linalg.cross(u, v, dim=-1).norm(dim=-1)
    return torch.atan2(cross, (u * v).sum(-1))


def gaze_error_to_target(pose: HeadPose, directions, target) -> torch.Tensor:
    """Angle (T,) between gaze directions (T, 3) and the ray from the eyes to a world point."""
    to_target = _t(target).float() - _position(pose)
    return angle_between(_t(directions), (to_target / to_target.norm()).expand_as(_t(directions)))


def looks_at(pose: HeadPose, directions, target, tolerance_deg: float = LOOK_AT_TOLERANCE_DEG) -> torch.Tensor:
    """Boolean (T,): does each gaze direction point at the target within a tolerance?"""
    return gaze_error_to_target(pose, directions, target) <= math.radians(tolerance_deg)


def mutual_gaze(pose_a: HeadPose, dirs_a, pose_b: HeadPose, dirs_b,
                tolerance_deg: float = LOOK_AT_TOLERANCE_DEG) -> torch.Tensor:
    """Boolean (T,): both people look at each other's eyes in the same frame."""
    return (looks_at(pose_a, dirs_a, _position(pose_b), tolerance_deg)
            & looks_at(pose_b, dirs_b, _position(pose_a), tolerance_deg))
