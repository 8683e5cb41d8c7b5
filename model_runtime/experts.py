"""Two denoisers by noise level: one decides at high noise, the other draws at low noise.

Experts by noise level (Balaji et al. 2022, eDiff-I). The high-noise steps of the sampler
decide what happens (whether a person looks away); the low-noise steps draw it. A checkpoint
``name.pt`` with a sidecar ``name.experts.json``::

    {"high_noise": "name_high_noise.pt", "switch": 0.3, "face_switch": 0.6, "sample_in": "high_noise"}

takes the head and gaze from the high-noise checkpoint while t > switch and everything else
from ``name.pt`` (the face: its lips and its reading of who speaks). While t > face_switch
(default 1: never) the high-noise checkpoint draws the face too and ``name.pt`` is not run,
which makes the pair as fast as one model there; only an expert that follows the turns where
a voice is not a turn may (docs/evaluation/OBJECTIVE.md). The pair
looks like one ConversationDenoiser to the sampler: conditions and motion arrive in one
checkpoint's normalisation (``sample_in``: "main", the default, or "high_noise") and are
carried to the other's inside. A high-noise expert that centres head and gaze on the layout
(normalisation.py) must be sampled in its own: its noise is then a person's motion, not the
spread of layouts. Measured in docs/evaluation/OBJECTIVE.md.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import torch

from .channels import HEAD_AND_GAZE_SLICE
from .diffusion import alpha_bar
from .errors import CheckpointError
from .model import NULL_ROLE


def experts_file(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".experts.json")


class Experts(NamedTuple):
    high_noise: Path            # the checkpoint for head and gaze above the switch
    switch: float
    sample_in_high_noise: bool  # the sampler works in the high-noise checkpoint's normalisation
    face_switch: float = 1.0    # above it the high-noise checkpoint draws every channel


SAMPLE_IN = ("main", "high_noise")


def read_experts(checkpoint: Path) -> Experts | None:
    """The sidecar's pair, or None when there is none."""
    sidecar = experts_file(checkpoint)
    if not sidecar.is_file():
        return None
    try:
        spec = json.loads(sidecar.read_text())
        high, switch = checkpoint.parent / spec["high_noise"], float(spec["switch"])
        sample_in = spec.get("sample_in", "main")
        face_switch = float(spec.get("face_switch", 1.0))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{sidecar} is not a valid experts file: {exc}") from None
    if not 0.0 <= switch <= 1.0:
        raise CheckpointError(f"{sidecar}: switch must be between 0 and 1, not {switch}")
    if not switch <= face_switch <= 1.0:
        raise CheckpointError(f"{sidecar}: face_switch must be between the switch ({switch}) and 1, not {face_switch}")
    if sample_in not in SAMPLE_IN:
        raise CheckpointError(f"{sidecar}: sample_in must be one of {', '.join(SAMPLE_IN)}, not {sample_in!r}")
    if not high.is_file():
        raise CheckpointError(f"{sidecar} names a high-noise expert {high} that is not there")
    return Experts(high, switch, sample_in == "high_noise", face_switch)


class Carry(torch.nn.Module):
    """Normalised values of the sampler's checkpoint -> an expert's: x_e = x * scale + shift.
    The shift depends on the layout when either centres head and gaze on it (normalisation.py).
    Between a checkpoint and itself it is the identity, exactly."""

    def __init__(self, space_ckpt, expert_ckpt):
        super().__init__()
        self.space, self.expert = space_ckpt.motion_normaliser, expert_ckpt.motion_normaliser
        self.register_buffer("motion_scale", space_ckpt.motion_std / expert_ckpt.motion_std)
        self.register_buffer("audio_scale", space_ckpt.audio_std / expert_ckpt.audio_std)
        self.register_buffer("audio_shift", (space_ckpt.audio_mean - expert_ckpt.audio_mean) / expert_ckpt.audio_std)

    def audio(self, audio: torch.Tensor, roles: torch.Tensor) -> torch.Tensor:
        """audio (B, T, A) or (B, S, T, A); rows whose roles are all the null role are the
        unconditional half of guidance: zero audio in every normalisation."""
        carried = audio * self.audio_scale + self.audio_shift
        unconditional = (roles == NULL_ROLE).flatten(1).all(dim=1)
        return torch.where(unconditional.reshape(-1, *([1] * (audio.dim() - 1))), torch.zeros_like(carried), carried)

    def motion_shift(self, layout: torch.Tensor) -> torch.Tensor:
        """(..., S, 1, D): where the space's normalised zero sits in the expert's."""
        space, expert = self.space.to(layout.device), self.expert.to(layout.device)
        return (space.offset(layout) - expert.offset(layout)) / expert.std

    def denoise(self, model, x_t: torch.Tensor, t: torch.Tensor, cond: tuple) -> torch.Tensor:
        """The expert's clean-motion estimate for x_t in the space's normalisation, in the same."""
        model_cond, shift = cond
        x_expert = x_t * self.motion_scale + alpha_bar(t).reshape(-1, 1, 1, 1).sqrt() * shift
        return (model.denoise(x_expert, t, model_cond) - shift) / self.motion_scale


class NoiseLevelExperts(torch.nn.Module):
    """``low`` for t <= switch; above it ``high`` for the ``decided`` channels (the shipped
    pair: head and gaze; model_training.expert_switch measures every channel), ``low`` for the
    rest; above ``face_switch`` ``high`` alone, for every channel. The sampler works in the
    normalisation of ``space_ckpt`` (by default the low one's; the pipeline normalises audio
    and denormalises motion with it) and each expert's input and output are carried to and
    from its own. Both must share the channel lists."""

    def __init__(self, low, low_ckpt, high, high_ckpt, switch: float, decided: slice = HEAD_AND_GAZE_SLICE,
                 space_ckpt=None, face_switch: float = 1.0):
        super().__init__()
        if (low.cfg.motion_dim, low.cfg.audio_dim) != (high.cfg.motion_dim, high.cfg.audio_dim):
            raise CheckpointError("the two experts were trained on different motion or audio channels")
        self.low, self.high, self.switch, self.decided, self.cfg = low, high, switch, decided, low.cfg
        self.face_switch = face_switch
        space_ckpt = space_ckpt or low_ckpt
        self.carry_low, self.carry_high = Carry(space_ckpt, low_ckpt), Carry(space_ckpt, high_ckpt)

    def encode_conditions(self, audio: torch.Tensor, roles: torch.Tensor, layout: torch.Tensor) -> dict:
        """audio (B, T, A) or (B, S, T, A) in the space's normalisation, roles, layout (B, S, L)."""
        return {name: (model.encode_conditions(carry.audio(audio, roles), roles, layout), carry.motion_shift(layout))
                for name, model, carry in (("low", self.low, self.carry_low), ("high", self.high, self.carry_high))}

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: dict) -> torch.Tensor:
        """x_t (B, S, T, D) in the space's normalisation, t (B,) one level -> x0 in the same.
        Above the switch the high-noise model decides its channels (head and gaze); the rest
        (the face: lips, and who speaks) is the low-noise model's, except above face_switch,
        where the high-noise model alone draws everything."""
        level = float(t.reshape(-1)[0]) - 1e-6                  # (t may be float32: 0.3 -> 0.30000001)
        if level > self.face_switch:
            return self.carry_high.denoise(self.high, x_t, t, cond["high"])
        x0 = self.carry_low.denoise(self.low, x_t, t, cond["low"])
        if level <= self.switch:
            return x0
        x0[..., self.decided] = self.carry_high.denoise(self.high, x_t, t, cond["high"])[..., self.decided]
        return x0

    def forward(self, x_t, t, audio, roles, layout):
        return self.denoise(x_t, t, self.encode_conditions(audio, roles, layout))
