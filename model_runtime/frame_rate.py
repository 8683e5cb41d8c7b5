"""Motion at another frame rate, piece by piece: linear for curves, nearest frame for roles.

One home for the rule (``ConversationResult.resample`` and the streaming pipeline use it):
output frame i sits at i / fps_out seconds, input frame j at j / fps_in; a conversation of n
input frames has round(n * fps_out / fps_in) output frames (at least one).
"""
from __future__ import annotations

import numpy as np


def output_frames(n: int, fps_in: float, fps_out: float | None) -> int:
    """Frames at fps_out of n frames at fps_in (fps_out None: the same rate)."""
    if fps_out is None or fps_out == fps_in:
        return n
    return max(1, int(round(n / fps_in * fps_out)))


class FrameRateStream:
    """Feed consecutive pieces of curves (m, C) and roles (m,) at fps_in; get the output frames
    each piece completes. Interpolating output frame i needs the input frames either side of
    its time, so each piece hands on the frames before its own last one (the last waits for
    the next piece, or for the end)."""

    def __init__(self, n_in: int, fps_in: float, fps_out: float):
        self.n_in, self.fps_in, self.fps_out = n_in, float(fps_in), float(fps_out)
        self.n_out = output_frames(n_in, fps_in, fps_out)
        self.next_out = 0                       # first output frame not yet given
        self.carry = None                       # (input frame index, curves (1, C), roles (1,)) of the last frame

    def push(self, start: int, curves: list[np.ndarray], roles: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """curves: arrays (m, C_k) of input frames [start, start + m); returns the output
        frames they complete, as (curves at fps_out, roles at fps_out)."""
        if self.carry is not None:                # the previous piece's last frame goes first
            start, last_curves, last_role = self.carry
            curves = [np.concatenate([c0, c]) for c0, c in zip(last_curves, curves)]
            roles = np.concatenate([last_role, roles])
        end = start + len(roles)
        last = end >= self.n_in
        dst_end = self.n_out if last else min(self.n_out, -(-(end - 1) * self.fps_out // self.fps_in))
        dst = np.arange(self.next_out, int(dst_end)) / self.fps_out
        dst = dst[dst * self.fps_in < end - 1] if not last else dst
        src = np.arange(start, end) / self.fps_in
        out = [np.stack([np.interp(dst, src, c[:, j]) for j in range(c.shape[1])], 1).astype(np.float32)
               for c in curves]
        nearest = np.clip(np.round(dst * self.fps_in).astype(int), 0, self.n_in - 1) - start
        self.next_out += len(dst)
        self.carry = (end - 1, [c[-1:] for c in curves], roles[-1:])
        return out, roles[nearest]


def resample_all(curves: list[np.ndarray], roles: np.ndarray, fps_in: float, fps_out: float):
    """Whole curves and roles at another rate (one piece through FrameRateStream)."""
    return FrameRateStream(len(roles), fps_in, fps_out).push(0, curves, roles)
