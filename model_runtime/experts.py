"""Two denoisers by noise level: one decides at high noise, the other draws at low noise.

Experts by noise level (Balaji et al. 2022, eDiff-I). The high-noise steps of the sampler
decide what happens (whether a person looks away); the low-noise steps draw it. A checkpoint
``name.pt`` with a sidecar ``name.experts.json``::

    {"high_noise": "name_high_noise.pt", "switch": 0.3}

takes the head and gaze from the high-noise checkpoint while t > switch and everything else
from ``name.pt`` (the face, at every level: its lips and its reading of who speaks). The pair
looks like one ConversationDenoiser to the sampler: conditions and motion arrive in the main
(low-noise) checkpoint's normalisation and are carried to the other's inside.
Measured in docs/evaluation/OBJECTIVE.md.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .channels import GAZE_SLICE, HEAD_SLICE
from .diffusion import alpha_bar
from .errors import CheckpointError
from .model import NULL_ROLE


def experts_file(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".experts.json")


def read_experts(checkpoint: Path) -> tuple[Path, float] | None:
    """(high-noise checkpoint, switch level) from the sidecar, or None when there is none."""
    sidecar = experts_file(checkpoint)
    if not sidecar.is_file():
        return None
    try:
        spec = json.loads(sidecar.read_text())
        high, switch = checkpoint.parent / spec["high_noise"], float(spec["switch"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{sidecar} is not a valid experts file: {exc}") from None
    if not 0.0 <= switch <= 1.0:
        raise CheckpointError(f"{sidecar}: switch must be between 0 and 1, not {switch}")
    return high, switch


HEAD_AND_GAZE = slice(HEAD_SLICE.start, GAZE_SLICE.stop)   # adjacent in channels.py


class NoiseLevelExperts(torch.nn.Module):
    """``low`` (with its checkpoint's statistics, which the pipeline uses) for t <= switch;
    above it ``high`` for the ``decided`` channels (the shipped pair: head and gaze;
    model_training.expert_switch measures every channel). Both must share the motion and
    audio layout (the same channel lists)."""

    def __init__(self, low, low_ckpt, high, high_ckpt, switch: float, decided: slice = HEAD_AND_GAZE):
        super().__init__()
        if (low.cfg.motion_dim, low.cfg.audio_dim) != (high.cfg.motion_dim, high.cfg.audio_dim):
            raise CheckpointError("the two experts were trained on different motion or audio channels")
        self.low, self.high, self.switch, self.decided, self.cfg = low, high, switch, decided, low.cfg
        # Normalised values of the low checkpoint -> the high one's: x_high = x * scale + shift.
        self.register_buffer("motion_scale", low_ckpt.motion_std / high_ckpt.motion_std)
        self.register_buffer("motion_shift", (low_ckpt.motion_mean - high_ckpt.motion_mean) / high_ckpt.motion_std)
        self.register_buffer("audio_scale", low_ckpt.audio_std / high_ckpt.audio_std)
        self.register_buffer("audio_shift", (low_ckpt.audio_mean - high_ckpt.audio_mean) / high_ckpt.audio_std)

    def encode_conditions(self, audio: torch.Tensor, roles: torch.Tensor, layout: torch.Tensor) -> dict:
        """audio (B, T, A) or (B, S, T, A) in the low checkpoint's normalisation; rows whose
        roles are all the null role are the unconditional half of guidance: zero audio for both."""
        high_audio = audio * self.audio_scale + self.audio_shift
        unconditional = (roles == NULL_ROLE).flatten(1).all(dim=1)
        high_audio = torch.where(unconditional.reshape(-1, *([1] * (audio.dim() - 1))),
                                 torch.zeros_like(high_audio), high_audio)
        return {"low": self.low.encode_conditions(audio, roles, layout),
                "high": self.high.encode_conditions(high_audio, roles, layout)}

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: dict) -> torch.Tensor:
        """x_t (B, S, T, D) in the low normalisation, t (B,) one level -> x0 in the same.
        Above the switch the high-noise model decides its channels (head and gaze); the rest
        (the face: lips, and who speaks) stays the low-noise model's at every level."""
        x0 = self.low.denoise(x_t, t, cond["low"])
        if float(t.reshape(-1)[0]) <= self.switch + 1e-6:      # (t may be float32: 0.3 -> 0.30000001)
            return x0
        x_high = x_t * self.motion_scale + alpha_bar(t).reshape(-1, 1, 1, 1).sqrt() * self.motion_shift
        high_x0 = (self.high.denoise(x_high, t, cond["high"]) - self.motion_shift) / self.motion_scale
        x0[..., self.decided] = high_x0[..., self.decided]
        return x0

    def forward(self, x_t, t, audio, roles, layout):
        return self.denoise(x_t, t, self.encode_conditions(audio, roles, layout))
