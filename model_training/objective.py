"""Training objective of the conversation denoiser: diffusion, velocity and geometric gaze losses.

The model predicts clean motion x0 (model_runtime/diffusion.py), which lets the gaze loss and
the velocity loss act on the prediction directly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from model_runtime.channels import FACE_SLICE, GAZE_SLICE, HEAD_SLICE, LAYOUT_PARTNER_DIRECTION
from model_runtime.diffusion import add_noise
from model_runtime.geometry import LOOK_AT_TOLERANCE_DEG, angle_between, gaze_direction_of, head_rotation_of
from model_runtime.model import NULL_ROLE, ConversationDenoiser


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
    rot = head_rotation_of(motion[..., HEAD_SLICE])
    return (rot @ gaze_direction_of(motion[..., GAZE_SLICE]).unsqueeze(-1)).squeeze(-1)


def gaze_loss(pred: torch.Tensor, target: torch.Tensor, layout: torch.Tensor, mutual_weight: float) -> torch.Tensor:
    """Angular error (radians) of world-space gaze rays, weighted toward mutual gaze.

    pred, target: denormalised motion (B, 2, T, D); layout (B, 2, L) as channels.LAYOUT_* (the
    partner's direction in the rest head frame among them)."""
    ray_pred, ray_target = local_gaze_rays(pred), local_gaze_rays(target)
    error = angle_between(ray_pred, ray_target)                           # (B, 2, T)
    partner_dir = layout[:, :, None, LAYOUT_PARTNER_DIRECTION].expand_as(ray_target)
    on_partner = angle_between(ray_target, partner_dir) < math.radians(LOOK_AT_TOLERANCE_DEG)
    mutual = on_partner.all(dim=1, keepdim=True).expand_as(on_partner)
    weight = 1.0 + mutual_weight * mutual.float()
    return (weight * error).sum() / weight.sum()


def drop_conditions(audio, roles, p: float):
    """Replace audio and roles by the null condition for a random share p of the batch."""
    drop = torch.rand(audio.shape[0], device=audio.device) < p
    audio = torch.where(drop.reshape(-1, *([1] * (audio.dim() - 1))), torch.zeros_like(audio), audio)
    roles = torch.where(drop[:, None, None], torch.full_like(roles, NULL_ROLE), roles)
    return audio, roles


def training_loss(model: ConversationDenoiser, batch: dict, motion_mean: torch.Tensor, motion_std: torch.Tensor,
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
