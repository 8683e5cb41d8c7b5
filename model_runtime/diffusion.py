"""Diffusion process and training objective.

Continuous time t in [0, 1] with a cosine schedule; the model predicts clean motion x0
(which lets the geometric gaze loss and the velocity loss act on the prediction directly).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .channels import FACE_SLICE, GAZE_SLICE, HEAD_SLICE
from .geometry import angle_between, angles_to_direction, head_rotation
from .model import NULL_ROLE, DualStreamDenoiser

GAZE_ON_PARTNER_DEG = 8.0   # a target ray this close to the partner counts as looking at them


def alpha_bar(t: torch.Tensor) -> torch.Tensor:
    """Cosine schedule: the share of signal variance left at time t (1 at t=0, ~0 at t=1)."""
    s = 0.008
    return torch.cos((t + s) / (1 + s) * math.pi / 2).clamp(min=0.0) ** 2


def add_noise(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """x_t for x0 (B, ...) at times t (B,)."""
    ab = alpha_bar(t).reshape(-1, *([1] * (x0.dim() - 1)))
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


@dataclass
class LossWeights:
    motion: float = 1.0
    mouth: float = 2.0        # extra weight on the face channels: lip sync is what people see first
    velocity: float = 1.0
    gaze: float = 1.0
    mutual_gaze: float = 3.0  # extra gaze weight where the target is mutual gaze
    cond_drop: float = 0.1    # probability of dropping audio + roles (classifier-free guidance)


def local_gaze_rays(motion: torch.Tensor) -> torch.Tensor:
    """Gaze rays in each person's rest head frame from denormalised motion (..., D) -> (..., 3).

    World rays differ from these only by the (fixed) rest basis, which preserves angles, so the
    angular gaze error in world space equals the error of these rays."""
    head, gaze = motion[..., HEAD_SLICE], motion[..., GAZE_SLICE]
    rot = head_rotation(head[..., 1], head[..., 0], head[..., 2])
    return (rot @ angles_to_direction(gaze[..., 0], gaze[..., 1]).unsqueeze(-1)).squeeze(-1)


def gaze_loss(pred: torch.Tensor, target: torch.Tensor, layout: torch.Tensor, mutual_weight: float) -> torch.Tensor:
    """Angular error (radians) of world-space gaze rays, weighted toward mutual gaze.

    pred, target: denormalised motion (B, 2, T, D); layout (B, 2, L) whose first three values
    are the partner's direction in the rest head frame."""
    ray_pred, ray_target = local_gaze_rays(pred), local_gaze_rays(target)
    error = angle_between(ray_pred, ray_target)                           # (B, 2, T)
    partner_dir = layout[:, :, None, :3].expand_as(ray_target)
    on_partner = angle_between(ray_target, partner_dir) < math.radians(GAZE_ON_PARTNER_DEG)
    mutual = on_partner.all(dim=1, keepdim=True).expand_as(on_partner)
    weight = 1.0 + mutual_weight * mutual.float()
    return (weight * error).sum() / weight.sum()


def drop_conditions(audio, roles, p: float):
    """Replace audio and roles by the null condition for a random share p of the batch."""
    drop = torch.rand(audio.shape[0], device=audio.device) < p
    audio = torch.where(drop.reshape(-1, *([1] * (audio.dim() - 1))), torch.zeros_like(audio), audio)
    roles = torch.where(drop[:, None, None], torch.full_like(roles, NULL_ROLE), roles)
    return audio, roles


def training_loss(model: DualStreamDenoiser, batch: dict, motion_mean: torch.Tensor, motion_std: torch.Tensor,
                  weights: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
    """One diffusion training step's losses. batch: motion (B, 2, T, D) normalised, audio (B, T, A),
    roles (B, 2, T), layout (B, 2, L). Returns the total and each term."""
    x0 = batch["motion"]
    b = x0.shape[0]
    t = torch.rand(b, device=x0.device)
    noise = torch.randn_like(x0)
    audio, roles = drop_conditions(batch["audio"], batch["roles"], weights.cond_drop)
    pred = model(add_noise(x0, t, noise), t, audio, roles, batch["layout"])

    channel_w = torch.ones(x0.shape[-1], device=x0.device)
    channel_w[FACE_SLICE] = weights.mouth
    motion = ((pred - x0) ** 2 * channel_w).mean()
    velocity = ((pred.diff(dim=2) - x0.diff(dim=2)) ** 2 * channel_w).mean()
    gaze = gaze_loss(pred * motion_std + motion_mean, x0 * motion_std + motion_mean, batch["layout"],
                     weights.mutual_gaze)
    total = weights.motion * motion + weights.velocity * velocity + weights.gaze * gaze
    return {"loss": total, "motion": motion.detach(), "velocity": velocity.detach(), "gaze": gaze.detach()}
