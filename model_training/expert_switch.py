"""Sample with one denoiser at high noise and another at low noise, and measure behaviour.

    python -m model_training.expert_switch --high runs/v3/v_clip0_cont.pt \\
        --low model_runtime/weights/default.pt --corpus corpus_data/heldout --switch 1.0 0.5 0.0

Experts by noise level (Balaji et al. 2022, eDiff-I): the high-noise steps decide what
happens (a look away or not), the low-noise steps draw it. A v model keeps what its noisy
input shows and so decides as people do, but leaves a tremor in; the shipped x0 model draws
smooth motion and good lips but decides on a stare (docs/evaluation/OBJECTIVE.md). Each
``--switch`` level s runs the ``--high`` model while t > s and the ``--low`` model after
(s = 1: ``--low`` alone; s = 0: ``--high`` alone). Windows and noise are those of
model_training.denoiser_levels; 6-step DDIM, guidance 1. The pair is the runtime's
NoiseLevelExperts (which also carries motion between the two checkpoints' normalisations),
taking every channel from ``--high`` above the switch (``--head-and-gaze``: as the shipped
pair). ``--space high`` samples in the high-noise checkpoint's normalisation, as a sidecar
with ``"sample_in": "high_noise"`` does.
"""
from __future__ import annotations

import argparse

import torch

from model_runtime.channels import FACE_SLICE, HEAD_AND_GAZE_SLICE
from model_runtime.checkpoint import load_checkpoint
from model_runtime.experts import NoiseLevelExperts
from model_runtime.sampling import ddim_timesteps, sample_ddim

from .denoiser_levels import behaviour
from .training_data import WindowSampler, load_split


def switch_table(high: str, low: str, corpus: str, switches: list[float], windows: int = 16,
                 steps: int = 6, seed: int = 5, space: str = "low", decided: slice = slice(None),
                 eta: float = 0.0) -> list[dict]:
    ck_low, ck_high = load_checkpoint(low), load_checkpoint(high)
    m_low, m_high = ck_low.build_model("cpu"), ck_high.build_model("cpu")
    ck_space = ck_low if space == "low" else ck_high
    batch = WindowSampler(load_split(corpus), ck_space.stats(), 256, seed=seed).batch(windows)

    def denormalised(x):
        return ck_space.motion_normaliser.denormalise(x, batch["layout"])

    rows = [{"switch": "people", **behaviour(denormalised(batch["motion"]), batch["layout"])}]
    for s in switches:
        pair = NoiseLevelExperts(m_low, ck_low, m_high, ck_high, s, decided=decided, space_ckpt=ck_space)
        cond = pair.encode_conditions(batch["audio"], batch["roles"], batch["layout"])
        noise = torch.randn(batch["motion"].shape, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            x = sample_ddim(lambda x, t: pair.denoise(x, torch.full((windows,), t), cond), noise,
                            ddim_timesteps(steps), eta=eta)
        mouth = ((x - batch["motion"])[..., FACE_SLICE].abs() * ck_space.motion_std[FACE_SLICE]).mean().item()
        rows.append({"switch": s, **behaviour(denormalised(x), batch["layout"]), "mouth MAE": mouth})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_training.expert_switch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--high", required=True, help="checkpoint for the high-noise steps")
    p.add_argument("--low", required=True, help="checkpoint for the low-noise steps")
    p.add_argument("--corpus", required=True, help="held-out corpus folder")
    p.add_argument("--switch", type=float, nargs="+", default=[1.0, 0.7, 0.5, 0.3, 0.0])
    p.add_argument("--space", choices=("low", "high"), default="low",
                   help="whose normalisation the sampler works in (the other expert is carried)")
    p.add_argument("--head-and-gaze", action="store_true",
                   help="take only head and gaze from --high, as the shipped pair does (default: every channel)")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--eta", type=float, default=0.0, help="sampler noise per step (0: DDIM)")
    args = p.parse_args(argv)
    print("| switch at t | looks away | yaw std | yaw speed | mouth MAE |\n|---|---|---|---|---|")
    decided = HEAD_AND_GAZE_SLICE if args.head_and_gaze else slice(None)
    for r in switch_table(args.high, args.low, args.corpus, args.switch, steps=args.steps, space=args.space,
                          decided=decided, eta=args.eta):
        mouth = f"{r['mouth MAE']:.4f}" if "mouth MAE" in r else "–"
        print(f"| {r['switch']} | {r['looks away']:.0%} | {r['yaw std']:.1f}° | {r['yaw speed']:.1f}°/s | {mouth} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
