"""Samplers, written as plain functions of a denoiser (k-diffusion style).

A denoiser is any callable ``denoiser(x, t) -> x0`` over a noisy sample ``x`` and a scalar
time ``t`` in [0, 1]. The ``callback`` sees each step (that is where a progress bar and a
cancel button plug in: raising from it stops sampling).
"""
from __future__ import annotations

from typing import Callable

import torch

from .diffusion import alpha_bar

Denoiser = Callable[[torch.Tensor, float], torch.Tensor]


def ddim_timesteps(steps: int, spacing: float = 1.0) -> torch.Tensor:
    """steps + 1 times from 1 (pure noise) down to 0 (clean): t_i = 1 - (i / steps) ** spacing.

    ``spacing`` 1 spaces them evenly; above 1 more of them fall at high noise, where the
    sampler decides what happens (whether and when a person looks away or nods) and fewer at
    low noise, where it only draws it (Karras et al. 2022 space steps by a power too; the
    measurements are in docs/evaluation/OBJECTIVE.md, "Steps where the conversation is decided")."""
    if steps < 1:
        raise ValueError("the sampler needs at least one step")
    if not spacing > 0:
        raise ValueError(f"step spacing must be above 0, got {spacing!r}")
    return 1.0 - torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64).pow(spacing).float()


@torch.no_grad()
def sample_ddim(denoiser: Denoiser, noise: torch.Tensor, timesteps: torch.Tensor,
                callback: Callable[[dict], None] | None = None, eta: float = 0.0,
                noise_sampler: Callable[[int], torch.Tensor] | None = None) -> torch.Tensor:
    """DDIM from x0 predictions; returns the clean sample.

    ``eta`` 0 is deterministic DDIM (the path to the mean of what the model has seen); 1 adds
    fresh noise at every step as ancestral sampling (DDPM) does, which keeps more of the
    variety of the training motion at few steps. ``noise_sampler(i)`` gives step i's fresh
    noise (shaped like ``noise``; default: torch.randn_like)."""
    x = noise
    n = len(timesteps) - 1
    for i in range(n):
        t, t_next = float(timesteps[i]), float(timesteps[i + 1])
        x0 = denoiser(x, t)
        if callback is not None:
            callback({"i": i, "total": n, "t": t, "x": x, "denoised": x0})
        if t_next <= 0.0:
            x = x0
            continue
        ab, ab_next = alpha_bar(torch.tensor(t)), alpha_bar(torch.tensor(t_next))
        eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt().clamp(min=1e-8)
        sigma = eta * ((1 - ab_next) / (1 - ab).clamp(min=1e-8) * (1 - ab / ab_next)).clamp(min=0.0).sqrt()
        x = ab_next.sqrt() * x0 + (1 - ab_next - sigma ** 2).clamp(min=0.0).sqrt() * eps
        if eta > 0:
            x = x + sigma * (noise_sampler(i) if noise_sampler is not None else torch.randn_like(x))
    return x
