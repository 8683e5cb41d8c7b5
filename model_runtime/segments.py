"""Hours of dialogue in the memory of minutes: the conversation is sampled in segments and
its motion finished and handed on as it comes.

Each segment's core is sampled with MARGIN frames of the neighbours' conditions on both
sides (SEGMENT_FRAMES in all), so the windowed sampler sees what comes before and after; two
neighbours' motion is cross-faded over CROSSFADE frames centred on their boundary, where each
still has MARGIN - CROSSFADE/2 frames of context beyond. The noise of every frame comes from
the seed and the frame alone (``frame_noise``), so both neighbours start that stretch from
the same noise and agree closely where they overlap. A conversation that fits in one segment
is sampled whole.

Post-processing that looks at neighbours runs in order on the stitched motion: gaze lock per
frame, blinks per block of 20 s with its context (``MotionFinisher``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from . import blinks

SEGMENT_FRAMES = 15000          # 10 min at 25 fps: what one segment's sampler holds
MARGIN = 500                    # 20 s of context sampled on each side of a core
CROSSFADE = 250                 # 10 s cross-fade centred on a boundary (< MARGIN)
NOISE_BLOCK = 256               # frames per independently seeded noise block


@dataclass(frozen=True)
class Segment:
    core: tuple[int, int]       # frames this segment owns (before cross-fading)
    span: tuple[int, int]       # frames it samples: the core and its margins


def plan_segments(n: int) -> list[Segment]:
    """Cores of about equal length tiling [0, n), with their sampled spans, none longer than
    SEGMENT_FRAMES: a conversation that fits is one segment; a longer one's memory is that one's."""
    size, margin = SEGMENT_FRAMES, MARGIN
    count = 1 if n <= size else -(-n // (size - 2 * margin))
    edges = [round(i * n / count) for i in range(count + 1)]
    return [Segment((a, b), (max(0, a - margin), min(n, b + margin))) for a, b in zip(edges, edges[1:])]


def frame_noise(seed: int, a: int, b: int, people: int, dim: int, stream: int = 0) -> torch.Tensor:
    """(people, b - a, dim) standard normal noise of frames [a, b): block k of NOISE_BLOCK frames
    always comes from (seed, k) (and ``stream``: the sampler's later steps draw their own), so
    any stretch of the conversation sees the same noise."""
    blocks = []
    for k in range(a // NOISE_BLOCK, -(-b // NOISE_BLOCK)):
        entropy = [int(seed), k] + ([stream] if stream else [])
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence(entropy).generate_state(1)[0]))
        blocks.append(torch.randn(people, NOISE_BLOCK, dim, generator=gen))
    noise = torch.cat(blocks, dim=1)
    first = a // NOISE_BLOCK * NOISE_BLOCK
    return noise[:, a - first:b - first].contiguous()


def stitch(segments: list[Segment], sample: Callable[[Segment], np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    """(first frame, motion (people, m, D)) in order, covering [0, n) once: each segment's
    ``sample(segment)`` (its whole span), cross-faded with the previous one over CROSSFADE
    frames centred on their boundary."""
    fade = CROSSFADE
    tail = None                                  # (start, motion) of the previous segment past its fade start
    for seg in segments:
        motion = sample(seg)
        lo, (a, b) = seg.span[0], seg.core
        last = seg is segments[-1]
        start = a
        if tail is not None:                     # blend [a - fade/2, a + fade/2) with the previous tail
            f0, f1 = a - fade // 2, a + (fade - fade // 2)
            t_start, t_motion = tail
            w = ((np.arange(f0, f1) - f0 + 0.5) / (f1 - f0)).astype(np.float32)[None, :, None]
            prev = t_motion[:, f0 - t_start:f1 - t_start]
            yield f0, prev * (1 - w) + motion[:, f0 - lo:f1 - lo] * w
            start = f1
        end = b if last else b - fade // 2
        yield start, motion[:, start - lo:end - lo]
        tail = None if last else (end, motion[:, end - lo:])


class MotionFinisher:
    """Blinks topped up block by block (blinks.complement_block) on motion arriving in order:
    a block is finished once its context has arrived. ``push`` returns the finished frames,
    ``(first frame, (people, m, D))``, or None."""

    def __init__(self, roles: np.ndarray, fps: float, per_minute: float, seed: int):
        self.roles, self.fps, self.per_minute, self.seed = roles, fps, per_minute, seed
        self.n = roles.shape[1]
        self.size, self.gap = blinks.block_size(fps)
        self.block = 0                           # next block to finish
        self.buf_start, self.buf = 0, None       # unfinished motion from buf_start on

    def push(self, start: int, motion: np.ndarray) -> tuple[int, np.ndarray] | None:
        self.buf = motion if self.buf is None else np.concatenate([self.buf, motion], axis=1)
        have = self.buf_start + self.buf.shape[1]
        done, first = [], self.block * self.size
        while self.block * self.size < self.n:
            a = self.block * self.size
            b = min(a + self.size, self.n)
            lo, hi = max(a - self.gap, 0), min(b + self.gap, self.n)
            if hi > have:
                break
            ctx = self.buf[:, lo - self.buf_start:hi - self.buf_start]
            done.append(np.stack([
                blinks.complement_block(ctx[i], self.roles[i, lo:hi], lo, a, b, self.n, self.block, self.fps,
                                        self.per_minute, (self.seed, i)) for i in range(len(ctx))], axis=0))
            self.block += 1
        if not done:
            return None
        keep = max(self.block * self.size - self.gap, 0)   # the next block's left context
        self.buf = self.buf[:, keep - self.buf_start:]
        self.buf_start = keep
        return first, np.concatenate(done, axis=1)
