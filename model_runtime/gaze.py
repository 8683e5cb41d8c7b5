"""From the model's cyclopean gaze to what a rig needs: each eye's own angles converging on
the fixation point, and the eight ``eyeLook*`` ARKit shapes for rigs that move eyes by shapes."""
from __future__ import annotations

import numpy as np
import torch

from .channels import EYE_CHANNELS, EYE_LEFT, EYE_LOOK_SHAPES, EYE_RIGHT
from .geometry import direction_to_angles, gaze_direction_of
from .head_pose import HeadPose

INTERPUPILLARY_DISTANCE = 0.063      # metres
EYE_LOOK_RANGE_HORIZONTAL = np.radians(35.0)  # an eyeLook shape at 1.0 means this rotation
EYE_LOOK_RANGE_VERTICAL = np.radians(25.0)


def per_eye_angles(gaze: np.ndarray, fixation_distance: float,
                   ipd: float = INTERPUPILLARY_DISTANCE) -> np.ndarray:
    """(T, 4: yawL, pitchL, yawR, pitchR) relative to the head, converging on the point at
    ``fixation_distance`` along the cyclopean gaze (T, 2: yaw, pitch)."""
    point = gaze_direction_of(np.asarray(gaze, dtype=np.float32)) * float(fixation_distance)
    out = np.zeros((point.shape[0], len(EYE_CHANNELS)), dtype=np.float32)
    for columns, side in ((EYE_LEFT, -1.0), (EYE_RIGHT, 1.0)):  # the left eye sits at -x (the person's left)
        yaw, pitch = direction_to_angles(point - torch.tensor([side * ipd / 2, 0.0, 0.0]))
        out[:, columns] = torch.stack([yaw, pitch], dim=-1).numpy()
    return out


def eye_look_weights(eyes: np.ndarray) -> dict[str, np.ndarray]:
    """The eight eyeLook* shape weights (0..1) from per-eye angles (T, 4)."""
    (yl, pl), (yr, pr) = eyes[:, EYE_LEFT].T, eyes[:, EYE_RIGHT].T

    def amount(angle, scale):
        return np.clip(angle / scale, 0.0, 1.0).astype(np.float32)

    h, v = EYE_LOOK_RANGE_HORIZONTAL, EYE_LOOK_RANGE_VERTICAL
    weights = {
        # yaw > 0 turns the eye to the person's left: out for the left eye, in for the right.
        "eyeLookOutLeft": amount(yl, h), "eyeLookInLeft": amount(-yl, h),
        "eyeLookInRight": amount(yr, h), "eyeLookOutRight": amount(-yr, h),
        "eyeLookUpLeft": amount(pl, v), "eyeLookDownLeft": amount(-pl, v),
        "eyeLookUpRight": amount(pr, v), "eyeLookDownRight": amount(-pr, v),
    }
    assert set(weights) == set(EYE_LOOK_SHAPES)
    return weights


def fixation_distance(me: HeadPose, partner: HeadPose) -> float:
    """People converge their eyes roughly at the partner's distance."""
    return float(np.linalg.norm(np.subtract(partner.eye_center, me.eye_center)))
