"""Windowed denoising: any length of dialogue in bounded memory, without seams.

The whole conversation is one noisy sequence. At every sampler step each overlapping window
is denoised (a few windows per model call, so memory does not grow with length) and the x0
estimates are blended back with weights that ramp across the overlaps (MultiDiffusion-style
fusion). Because the fusion happens at every step, neighbouring windows agree on the motion
before it is final, and there is nothing to stitch at the end.
"""
from __future__ import annotations

from typing import Callable

import torch

from .model import NULL_ROLE, ConversationDenoiser


def window_starts(total: int, window: int, overlap: int) -> list[int]:
    """Start frames of windows of length ``window`` covering ``total`` frames (total >= window)."""
    hop = window - overlap
    starts = list(range(0, max(total - window, 0) + 1, hop))
    if starts[-1] + window < total:
        starts.append(total - window)
    return starts


def blend_weights(window: int, overlap: int, first: bool, last: bool) -> torch.Tensor:
    """(window,) weights: linear ramps over the overlaps, 1 in between (no ramp at the ends)."""
    w = torch.ones(window)
    ramp = torch.linspace(0.0, 1.0, overlap + 2)[1:-1]
    if not first:
        w[:overlap] = ramp
    if not last:
        w[window - overlap:] = ramp.flip(0)
    return w


class WindowedDenoiser:
    """A denoiser ``(x (S, T, D), t) -> x0 (S, T, D)`` for a whole conversation of S people.

    audio (T, A), roles (S, T) and layout (S, L) are the full-length conditions; ``guidance``
    is the classifier-free guidance scale, one number or one per motion channel (D,)
    (all 1 = conditional only, one model pass)."""

    def __init__(self, model: ConversationDenoiser, audio: torch.Tensor, roles: torch.Tensor,
                 layout: torch.Tensor, window: int, overlap: int, guidance: float | torch.Tensor = 1.0,
                 windows_per_call: int = 8, on_chunk: Callable[[float], None] | None = None):
        self.model = model
        self.guidance = torch.as_tensor(guidance, dtype=torch.float32, device=audio.device)
        self.guided = bool((self.guidance != 1.0).any())
        self.window, self.overlap = window, overlap
        self.total = audio.shape[0]
        self.starts = window_starts(self.total, window, overlap)
        self.windows_per_call = windows_per_call
        self.on_chunk = on_chunk
        n = len(self.starts)
        self.weights = torch.stack([blend_weights(window, overlap, i == 0, i == n - 1)
                                    for i in range(n)]).to(audio.device)
        norm = torch.zeros(self.total, device=audio.device)
        for s, w in zip(self.starts, self.weights):
            norm[s:s + window] += w
        self.norm = norm
        # Conditions are encoded once per window, not once per step.
        self.conds = [self._encode(audio, roles, layout, chunk) for chunk in self._chunks()]

    def _chunks(self) -> list[list[int]]:
        idx = list(range(len(self.starts)))
        return [idx[i:i + self.windows_per_call] for i in range(0, len(idx), self.windows_per_call)]

    @torch.no_grad()
    def _encode(self, audio, roles, layout, chunk: list[int]) -> dict:
        w = self.window
        a = torch.stack([audio[self.starts[k]:self.starts[k] + w] for k in chunk])      # (n, W, A)
        r = torch.stack([roles[:, self.starts[k]:self.starts[k] + w] for k in chunk])   # (n, 2, W)
        lay = layout[None].expand(len(chunk), -1, -1)
        if self.guided:  # the unconditional half: no audio, the null role
            a = torch.cat([a, torch.zeros_like(a)])
            r = torch.cat([r, torch.full_like(r, NULL_ROLE)])
            lay = torch.cat([lay, lay])
        return self.model.encode_conditions(a, r, lay)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor:
        out = torch.zeros_like(x)
        chunks = self._chunks()
        for c, (chunk, cond) in enumerate(zip(chunks, self.conds)):
            xs = torch.stack([x[:, self.starts[k]:self.starts[k] + self.window] for k in chunk])
            if self.guided:
                xs = torch.cat([xs, xs])
            tt = torch.full((xs.shape[0],), t, device=x.device)
            x0 = self.model.denoise(xs, tt, cond)
            if self.guided:
                cond_x0, uncond_x0 = x0.chunk(2)
                x0 = uncond_x0 + self.guidance * (cond_x0 - uncond_x0)
            for j, k in enumerate(chunk):
                s = self.starts[k]
                out[:, s:s + self.window] += x0[j] * self.weights[k][None, :, None]
            if self.on_chunk is not None:
                self.on_chunk((c + 1) / len(chunks))
        return out / self.norm[None, :, None]
