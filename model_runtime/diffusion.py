"""The diffusion process the model was trained on and the sampler inverts.

Continuous time t in [0, 1] with a cosine schedule; the model predicts clean motion x0.
The training objective built on it lives in model_training/objective.py.
"""
from __future__ import annotations

import math

import torch


def alpha_bar(t: torch.Tensor) -> torch.Tensor:
    """Cosine schedule: the share of signal variance left at time t (1 at t=0, ~0 at t=1)."""
    s = 0.008
    return torch.cos((t + s) / (1 + s) * math.pi / 2).clamp(min=0.0) ** 2


def add_noise(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """x_t for x0 (B, S, ...) at times t (B,), or (B, S): a noise level per stream."""
    ab = alpha_bar(t)
    ab = ab.reshape(*ab.shape, *([1] * (x0.dim() - ab.dim())))
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise
