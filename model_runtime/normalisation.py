"""The motion the model works on: per channel, around the pose the layout gives the head.

A person turns toward where the partner stands, so head yaw spreads 28 degrees over the
corpus's layouts but moves only about 5 within one conversation. Normalised by the spread
over layouts, one unit of the model's error is a 28-degree head turn, and a v-prediction
model trembles (docs/evaluation/OBJECTIVE.md). So a checkpoint may carry a linear map from
the layout to the expected head and gaze pose, fitted by least squares on its training
corpus, and the model works on the motion around it::

    normalised = (motion - mean - layout_regressors(layout) @ layout_weights) / std

Checkpoints without layout weights (all written before) use zeros: plain per-channel
statistics. The fit leaves every channel but head and gaze alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .channels import HEAD_AND_GAZE_SLICE, LAYOUT_PARTNER_DIRECTION
from .geometry import direction_to_angles

MIN_STD = 1e-3       # channels that barely move keep std 1: the model is not asked to amplify noise


def regressor_count(layout_dim: int) -> int:
    return layout_dim + 2


def layout_regressors(layout: torch.Tensor) -> torch.Tensor:
    """(..., L) layout conditions -> (..., L + 2): the layout and the yaw and pitch toward the
    partner (the head's mean pose is closer to linear in the angles than in the direction)."""
    yaw, pitch = direction_to_angles(layout[..., LAYOUT_PARTNER_DIRECTION])
    return torch.cat([layout, yaw.unsqueeze(-1).to(layout), pitch.unsqueeze(-1).to(layout)], dim=-1)


@dataclass
class MotionNormaliser:
    mean: torch.Tensor              # (D,) the motion at zero regressors
    std: torch.Tensor               # (D,) spread around the layout's pose
    layout_weights: torch.Tensor    # (L + 2, D) zeros: no layout dependence

    def to(self, device) -> MotionNormaliser:
        return MotionNormaliser(self.mean.to(device), self.std.to(device), self.layout_weights.to(device))

    def offset(self, layout: torch.Tensor) -> torch.Tensor:
        """layout (..., S, L) -> the pose each person's motion is centred on (..., S, 1, D)."""
        return (self.mean + layout_regressors(layout.to(self.mean)) @ self.layout_weights).unsqueeze(-2)

    def normalise(self, motion: torch.Tensor, layout: torch.Tensor) -> torch.Tensor:
        """motion (..., S, T, D) with the people's layouts (..., S, L)."""
        return (motion - self.offset(layout)) / self.std

    def denormalise(self, x: torch.Tensor, layout: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.offset(layout)


def fit_normaliser(motion: np.ndarray, layout: np.ndarray, centre_on_layout: bool = True) -> MotionNormaliser:
    """Statistics of frames ``motion`` (N, D) whose people stand in ``layout`` (N, L). With
    ``centre_on_layout`` head and gaze are centred on a least-squares fit of the layout (a model
    that does not see the layout must not: the offset would tell it)."""
    motion = np.asarray(motion, dtype=np.float64)
    regressors = layout_regressors(torch.as_tensor(layout, dtype=torch.float64)).numpy()
    mean = motion.mean(0)
    weights = np.zeros((regressors.shape[1], motion.shape[1]))
    if centre_on_layout:
        design = np.c_[regressors, np.ones(len(regressors))]
        fitted, *_ = np.linalg.lstsq(design, motion[:, HEAD_AND_GAZE_SLICE], rcond=None)
        weights[:, HEAD_AND_GAZE_SLICE] = fitted[:-1]
        mean[HEAD_AND_GAZE_SLICE] = fitted[-1]
    std = (motion - mean - regressors @ weights).std(0)
    std = np.where(std < MIN_STD, 1.0, std)
    return MotionNormaliser(*(torch.tensor(a, dtype=torch.float32) for a in (mean, std, weights)))
