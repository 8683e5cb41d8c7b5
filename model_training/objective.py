"""Training objective of the conversation denoiser: diffusion, velocity and geometric gaze losses.

Every loss acts on the clean-motion estimate x0 (the model returns it whatever it predicts
inside, model_runtime/model.py), so the gaze and velocity losses read it directly.

Two models share this objective (docs/evaluation/OBJECTIVE.md measures both):
- ``prediction: "x0"`` (the shipped weights): the network draws the clean motion itself. At
  high noise it answers "looks at the partner" whatever the noisy motion says, so the
  sampler's first steps settle on a stare that no later step undoes.
- ``prediction: "v"``: the clean motion is read back from the noisy one plus a correction, so
  what the noisy motion shows (a look away) is kept at every level. Its gaze loss counts in
  proportion to alpha_bar, the share of signal left, without mutual-gaze weighting: an angle
  is a median, not a mean, and weighting it toward the target's mutual gaze asks for the most
  common gaze where the noisy motion cannot tell, which biases the estimate the sampler
  needs (the mean) toward staring. Its x0 error may weigh the nearly clean levels more,
  1 + min(SNR, snr_clip) (Hang et al. 2023, "Min-SNR weighting"); measured, every level alike
  (snr_clip 0) was best at the CPU budget, so that is the default.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from model_runtime.channels import (FACE_SLICE, GAZE_SLICE, HEAD_AND_GAZE_SLICE, HEAD_SLICE, LAYOUT_PARTNER_DIRECTION,
                                    channel_index)
from model_runtime.diffusion import add_noise, alpha_bar
from model_runtime.geometry import LOOK_AT_TOLERANCE_DEG, angle_between, gaze_direction_of, head_rotation_of
from model_runtime.model import NULL_ROLE, ConversationDenoiser
from model_runtime.normalisation import MotionNormaliser


@dataclass
class LossWeights:
    motion: float = 1.0
    mouth: float = 2.0        # extra weight on the face channels: lip sync is what people see first
    velocity: float = 1.0
    gaze: float = 1.0
    mutual_gaze: float = 3.0  # extra gaze weight where the target is mutual gaze (x0 models only)
    cond_drop: float = 0.1    # probability of dropping audio + roles (classifier-free guidance)
    snr_clip: float = 0.0     # v models: noise levels weigh 1 + min(SNR, snr_clip) in x0 error
    # Share of the batch whose people get noise levels of their own, drawn independently
    # (Diffusion Forcing, Chen et al. 2024, does it per token): the cross-stream attention then
    # sees partners clearer than oneself and may learn to read them; 0 keeps one level.
    stream_levels: float = 0.0
    # Weight of named motion channels in the motion and velocity errors, replacing 1 (or
    # ``mouth`` on the face): a channel whose motion is small and brief next to the 44 face
    # channels, such as the nods in headPitch, gets little of the loss and is drawn too small.
    channels: dict[str, float] = field(default_factory=dict)
    # Extra weight of head and gaze on the frames where a person answers the partner's glance
    # (batch["answers"], training_data.answer_frames): the one part of the targets that only
    # the partner times, a few percent of the motion, which the loss otherwise barely sees.
    answers: float = 0.0

    def channel_weights(self, dim: int, device=None) -> torch.Tensor:
        """(D,) weight of each motion channel in the motion and velocity errors."""
        w = torch.ones(dim, device=device)
        w[FACE_SLICE] = self.mouth
        for name, value in self.channels.items():
            w[channel_index(name)] = value
        return w

    def motion_weights(self, x0: torch.Tensor, batch: dict) -> torch.Tensor:
        """Weight of each motion value in the motion error: (D,), or (B, S, T, D) with answers."""
        w = self.channel_weights(x0.shape[-1], x0.device)
        if not self.answers:
            return w
        if "answers" not in batch:
            raise ValueError("an answer weight needs batches with answer frames (load_split(answers=True))")
        head_gaze = torch.zeros_like(w)
        head_gaze[HEAD_AND_GAZE_SLICE] = 1.0
        return w * (1 + self.answers * batch["answers"][..., None] * head_gaze)


def local_gaze_rays(motion: torch.Tensor) -> torch.Tensor:
    """Gaze rays in each person's rest head frame from denormalised motion (..., D) -> (..., 3).

    World rays differ from these only by the (fixed) rest basis, which preserves angles, so the
    angular gaze error in world space equals the error of these rays."""
    rot = head_rotation_of(motion[..., HEAD_SLICE])
    return (rot @ gaze_direction_of(motion[..., GAZE_SLICE]).unsqueeze(-1)).squeeze(-1)


def gaze_loss(pred: torch.Tensor, target: torch.Tensor, layout: torch.Tensor, mutual_weight: float,
              frame_weight: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Angular error (radians) of world-space gaze rays per conversation (B,), weighted toward
    mutual gaze and by ``frame_weight`` (B, S, T).

    pred, target: denormalised motion (B, S, T, D); layout (B, S, L) as channels.LAYOUT_* (the
    partner's direction in the rest head frame among them)."""
    ray_pred, ray_target = local_gaze_rays(pred), local_gaze_rays(target)
    error = angle_between(ray_pred, ray_target)                           # (B, 2, T)
    partner_dir = layout[:, :, None, LAYOUT_PARTNER_DIRECTION].expand_as(ray_target)
    on_partner = angle_between(ray_target, partner_dir) < math.radians(LOOK_AT_TOLERANCE_DEG)
    mutual = on_partner.all(dim=1, keepdim=True).expand_as(on_partner)
    weight = (1.0 + mutual_weight * mutual.float()) * frame_weight
    return (weight * error).flatten(1).sum(1) / weight.flatten(1).sum(1)


def drop_conditions(audio, roles, p: float):
    """Replace audio and roles by the null condition for a random share p of the batch."""
    drop = torch.rand(audio.shape[0], device=audio.device) < p
    audio = torch.where(drop.reshape(-1, *([1] * (audio.dim() - 1))), torch.zeros_like(audio), audio)
    roles = torch.where(drop[:, None, None], torch.full_like(roles, NULL_ROLE), roles)
    return audio, roles


def stream_levels(t: torch.Tensor, streams: int, share: float) -> torch.Tensor:
    """(B, S) noise levels: each conversation's level t (B,) for every person, except for a
    random share of conversations, whose people each get a level of their own."""
    levels = t[:, None].expand(-1, streams).clone()
    own = torch.rand(t.shape[0], device=t.device) < share
    levels[own] = torch.rand(int(own.sum()), streams, device=t.device)
    return levels


def noise_level_weights(t: torch.Tensor, prediction: str, weights: LossWeights) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample weights (B,) of the x0 error and of the gaze loss at diffusion times t (B,)."""
    if prediction == "x0":
        return torch.ones_like(t), torch.ones_like(t)
    ab = alpha_bar(t)
    snr = ab / (1 - ab).clamp(min=1e-8)
    return 1 + snr.clamp(max=weights.snr_clip), ab


def training_loss(model: ConversationDenoiser, batch: dict, normaliser: MotionNormaliser,
                  weights: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
    """One diffusion training step's losses. batch: motion (B, S, T, D) normalised by
    ``normaliser``, audio (B, T, A), roles (B, S, T), layout (B, S, L). Returns the total and each term."""
    x0 = batch["motion"]
    b = x0.shape[0]
    t = torch.rand(b, device=x0.device)
    noise = torch.randn_like(x0)
    audio, roles = drop_conditions(batch["audio"], batch["roles"], weights.cond_drop)
    t_in = stream_levels(t, x0.shape[1], weights.stream_levels) if weights.stream_levels > 0 else t
    pred = model(add_noise(x0, t_in, noise), t_in, audio, roles, batch["layout"])
    prediction = getattr(model, "module", model).cfg.prediction   # (unwrapped from DistributedDataParallel)
    # with a level per person, a conversation's weights follow its people's mean level
    level_w, gaze_w = noise_level_weights(t_in.reshape(b, -1).mean(dim=1), prediction, weights)
    level_w = level_w / level_w.mean()

    value_w = weights.motion_weights(x0, batch)                       # (D,) or (B, S, T, D)
    # a frame difference weighs as the heavier of its two frames
    step_w = torch.maximum(value_w[:, :, 1:], value_w[:, :, :-1]) if value_w.dim() == 4 else value_w
    per_sample = (1, 2, 3)
    motion = (level_w * ((pred - x0) ** 2 * value_w).mean(per_sample)).mean()
    velocity = (level_w * ((pred.diff(dim=2) - x0.diff(dim=2)) ** 2 * step_w).mean(per_sample)).mean()
    mutual = weights.mutual_gaze if prediction == "x0" else 0.0
    layout = batch["layout"]
    frame_w = 1 + weights.answers * batch["answers"] if weights.answers else 1.0
    gaze = (gaze_w * gaze_loss(normaliser.denormalise(pred, layout), normaliser.denormalise(x0, layout), layout,
                               mutual, frame_w)).mean()
    total = weights.motion * motion + weights.velocity * velocity + weights.gaze * gaze
    return {"loss": total, "motion": motion.detach(), "velocity": velocity.detach(), "gaze": gaze.detach()}
