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
taking every channel from ``--high`` above the switch.
"""
from __future__ import annotations

import argparse

import torch

from model_runtime.channels import FACE_SLICE
from model_runtime.checkpoint import load_checkpoint
from model_runtime.experts import NoiseLevelExperts
from model_runtime.sampling import ddim_timesteps, sample_ddim

from .denoiser_levels import behaviour
from .training_data import WindowSampler, load_split


def _stats(ckpt) -> dict:
    return {k: getattr(ckpt, k) for k in ("motion_mean", "motion_std", "audio_mean", "audio_std")}


def switch_table(high: str, low: str, corpus: str, switches: list[float], windows: int = 16,
                 steps: int = 6, seed: int = 5) -> list[dict]:
    ck_low, ck_high = load_checkpoint(low), load_checkpoint(high)
    m_low, m_high = ck_low.build_model("cpu"), ck_high.build_model("cpu")
    batch = WindowSampler(load_split(corpus), _stats(ck_low), 256, seed=seed).batch(windows)

    def denormalised(x):
        return x * ck_low.motion_std + ck_low.motion_mean

    rows = [{"switch": "people", **behaviour(denormalised(batch["motion"]), batch["layout"])}]
    for s in switches:
        # every channel from the high-noise model above the switch (the shipped pair keeps the face)
        pair = NoiseLevelExperts(m_low, ck_low, m_high, ck_high, s, decided=slice(None))
        cond = pair.encode_conditions(batch["audio"], batch["roles"], batch["layout"])
        noise = torch.randn(batch["motion"].shape, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            x = sample_ddim(lambda x, t: pair.denoise(x, torch.full((windows,), t), cond), noise,
                            ddim_timesteps(steps))
        mouth = ((x - batch["motion"])[..., FACE_SLICE].abs() * ck_low.motion_std[FACE_SLICE]).mean().item()
        rows.append({"switch": s, **behaviour(denormalised(x), batch["layout"]), "mouth MAE": mouth})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_training.expert_switch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--high", required=True, help="checkpoint for the high-noise steps")
    p.add_argument("--low", required=True, help="checkpoint for the low-noise steps")
    p.add_argument("--corpus", required=True, help="held-out corpus folder")
    p.add_argument("--switch", type=float, nargs="+", default=[1.0, 0.7, 0.5, 0.3, 0.0])
    args = p.parse_args(argv)
    print("| switch at t | looks away | yaw std | yaw speed | mouth MAE |\n|---|---|---|---|---|")
    for r in switch_table(args.high, args.low, args.corpus, args.switch):
        mouth = f"{r['mouth MAE']:.4f}" if "mouth MAE" in r else "–"
        print(f"| {r['switch']} | {r['looks away']:.0%} | {r['yaw std']:.1f}° | {r['yaw speed']:.1f}°/s | {mouth} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
