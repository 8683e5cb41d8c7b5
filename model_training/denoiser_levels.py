"""What a denoiser makes of a noisy copy of people's motion, noise level by noise level.

    python -m model_training.denoiser_levels --model model_runtime/weights/default.pt \\
        --corpus corpus_data/heldout

A sampler can only reach people's behaviour if the denoiser keeps what the noisy motion still
shows of it. For held-out windows of the targets, noised to each level t, this prints the
clean-motion estimate's error (normalised units, per channel group) and its behaviour:
looks-away share, head yaw std within a window and head yaw speed, beside the targets'.
An estimate that stares at high noise (looks away far less than people) never lets the
sampler decide to look away; one whose yaw speed is far above people's leaves noise in
(docs/evaluation/OBJECTIVE.md).

``partner use`` is how much the estimate needs the partner: the head and gaze error when each
person's partner is replaced by the partner of another window (noised alike), over the error
with the true partner, minus 1 (``--partner-ahead D``: the partners at level t - D). A model
without cross-stream attention scores 0 by construction; one that reads its partner, above 0.
``on answers``: the same over the frames where a person answers the partner's glance
(training_data.answer_frames), the frames where only the partner can tell what to do.
``roll``: the same on head roll alone, which a listener who mirrors the speaker's tilt takes
from the partner (corpus --mirroring).
"""
from __future__ import annotations

import argparse
import math

import torch

from model_runtime.channels import (FACE_SLICE, GAZE_SLICE, HEAD_AND_GAZE_SLICE, HEAD_ROLL, HEAD_SLICE,
                                    HEAD_YAW, LAYOUT_PARTNER_DIRECTION)
from model_runtime.checkpoint import load_checkpoint
from model_runtime.diffusion import add_noise
from model_runtime.geometry import LOOK_AT_TOLERANCE_DEG, angle_between
from model_runtime.timebase import MODEL_FPS

from .objective import local_gaze_rays
from .training_data import WindowSampler, load_split

LEVELS = (0.9, 0.7, 0.5, 0.3, 0.15, 0.05)
HEAD_ROLL_IN_HEAD_AND_GAZE = HEAD_SLICE.start + HEAD_ROLL - HEAD_AND_GAZE_SLICE.start


def behaviour(motion: torch.Tensor, layout: torch.Tensor) -> dict[str, float]:
    """Looks-away share, head yaw std (deg) within windows and yaw speed (deg/s) of denormalised
    motion (B, S, T, D) with its layout (B, S, L)."""
    rays = local_gaze_rays(motion)
    partner = layout[:, :, None, LAYOUT_PARTNER_DIRECTION].expand_as(rays)
    away = angle_between(rays, partner) > math.radians(LOOK_AT_TOLERANCE_DEG)
    yaw = torch.rad2deg(motion[..., HEAD_SLICE][..., HEAD_YAW])
    return {"looks away": away.float().mean().item(), "yaw std": yaw.std(dim=2).mean().item(),
            "yaw speed": (yaw.diff(dim=2).abs().mean() * MODEL_FPS).item()}


def level_table(checkpoint: str, corpus: str, windows: int = 16, window: int = 256, seed: int = 5,
                partner_ahead: float = 0.0) -> list[dict]:
    """One row per noise level (and the targets'): errors per channel group and behaviour."""
    ckpt = load_checkpoint(checkpoint)
    model = ckpt.build_model("cpu")
    batch = WindowSampler(load_split(corpus, answers=True), ckpt.stats(), window, seed=seed).batch(windows)
    x0 = batch["motion"]

    def denormalised(x):
        return ckpt.motion_normaliser.denormalise(x, batch["layout"])

    rows = [{"t": "people", **behaviour(denormalised(x0), batch["layout"])}]
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for level in LEVELS:
            t = torch.full((windows,), level)
            noise = torch.randn(x0.shape, generator=gen)
            noisy = add_noise(x0, t, noise)
            estimate = model(noisy, t, batch["audio"], batch["roles"], batch["layout"])
            error = (estimate - x0) ** 2
            rows.append({"t": level, **{f"mse {name}": error[..., part].mean().item() for name, part in
                                        (("face", FACE_SLICE), ("head", HEAD_SLICE), ("gaze", GAZE_SLICE))},
                         **partner_use(model, x0, noise, level, batch, partner_ahead),
                         **behaviour(denormalised(estimate), batch["layout"])})
    return rows


def partner_use(model, x0: torch.Tensor, noise: torch.Tensor, level: float, batch: dict,
                partner_ahead: float = 0.0) -> dict[str, float]:
    """Head and gaze error of each person's estimate at ``level`` with a stranger for a partner
    (the partner of the next window in the batch) over the error with the true partner, minus
    1: over all frames, over the frames where the person answers the partner's glance
    (batch["answers"]: where only the partner can tell), and on head roll alone (what a
    listener who mirrors the speaker's tilt takes from the partner: corpus --mirroring); the
    partners at ``level - partner_ahead`` (a model trained with levels per stream)."""
    errors = []                                  # (B, T, C) per person: true partner, then stranger
    for person in range(x0.shape[1]):
        others = [s for s in range(x0.shape[1]) if s != person]
        t = torch.full(x0.shape[:2], max(level - partner_ahead, 0.0))
        t[:, person] = level
        noisy = add_noise(x0, t, noise)
        stranger = noisy.clone()
        stranger[:, others] = noisy.roll(1, dims=0)[:, others]
        for x in (noisy, stranger):
            est = model(x, t, batch["audio"], batch["roles"], batch["layout"])[:, person, :, HEAD_AND_GAZE_SLICE]
            errors.append((est - x0[:, person, :, HEAD_AND_GAZE_SLICE]) ** 2)
    true, foreign = torch.stack(errors[0::2], 1), torch.stack(errors[1::2], 1)     # (B, S, T, C)
    answers = batch["answers"][..., None]
    on_answers = (foreign * answers).sum() / (true * answers).sum() - 1.0 if answers.any() else float("nan")
    roll = HEAD_ROLL_IN_HEAD_AND_GAZE
    return {"partner use": (foreign.sum() / true.sum() - 1.0).item(), "on answers": float(on_answers),
            "roll": (foreign[..., roll].sum() / true[..., roll].sum() - 1.0).item()}


def markdown(rows: list[dict]) -> str:
    keys = ["t", "mse face", "mse head", "mse gaze", "partner use", "on answers", "roll", "looks away",
            "yaw std", "yaw speed"]
    cell = {"looks away": "{:.0%}", "yaw std": "{:.1f}°", "yaw speed": "{:.1f}°/s", "partner use": "{:+.1%}",
            "on answers": "{:+.1%}", "roll": "{:+.1%}"}
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join("–" if k not in r or r[k] != r[k] else cell.get(k, "{:.3f}").format(r[k])
                                       if not isinstance(r[k], str) else r[k] for k in keys) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_training.denoiser_levels", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="checkpoint")
    p.add_argument("--corpus", required=True, help="held-out corpus folder")
    p.add_argument("--windows", type=int, default=16)
    p.add_argument("--partner-ahead", type=float, default=0.0,
                   help="for partner use: the partners this much less noisy than the person (models trained with "
                        "--stream-levels)")
    args = p.parse_args(argv)
    print(markdown(level_table(args.model, args.corpus, args.windows, partner_ahead=args.partner_ahead)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
