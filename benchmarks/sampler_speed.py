"""Sampler benchmark: seconds of two-person dialogue generated per second of compute, and peak
memory, for the default model config.

    .venv/bin/python benchmarks/sampler_speed.py [--minutes 10] [--device cpu|cuda] [--steps 6]

Measures the sampler alone (features and roles are computed outside the timed part), then the
whole pipeline (audio features, diarization, sampling, post-processing) on the same audio.
Each measurement runs in a fresh process so peak resident memory is that run's own, with
OpenMP's threads waiting passively as in the CLI and the add-on (OMP_WAIT_POLICY=ACTIVE in
the environment measures spinning threads instead).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model_runtime.settings import DEFAULTS  # noqa: E402  (no PyTorch: the parent process stays light)


def synthetic_dialogue(seconds: float):
    """Two alternating voiced 'speakers' (harmonic tones of different pitch with a syllable
    rhythm): the sampler's cost does not depend on what is said."""
    import numpy as np
    from model_runtime.audio import ConversationAudio
    from model_runtime.timebase import SAMPLE_RATE
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    turn = (t // 4).astype(int) % 2
    f0 = np.where(turn == 0, 120.0, 220.0)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 6))
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    pauses = (t % 4) < 3.4
    mix = (0.2 * voice * syllables * pauses).astype(np.float32)
    return ConversationAudio.from_signals(mix=mix)


def measure(seconds: float, device: str, steps: int, guidance: float, whole: bool) -> dict:
    import torch
    from model_runtime import pipeline
    from model_runtime.layouts import preset_layout

    torch.set_num_threads(torch.get_num_threads())
    audio = synthetic_dialogue(seconds)
    poses = preset_layout("face_to_face")
    settings = pipeline.GenerationSettings(steps=steps, guidance=guidance, device=device)
    dev = pipeline.resolve_device(device)
    ckpt, model = pipeline.load_model(None, dev)   # the shipped default weights
    start = time.perf_counter()
    if whole:
        pipeline.generate(audio, poses, settings)
    else:
        feats, roles = pipeline.conversation_conditions(audio)
        start = time.perf_counter()
        pipeline.sample_motion(model, ckpt, feats, roles, poses, settings, dev)
        if dev.type == "cuda":
            torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"dialogue_s": seconds, "compute_s": round(elapsed, 3), "ratio": round(seconds / elapsed, 1),
            "peak_rss_mb": round(peak_mb), "device": str(dev), "threads": torch.get_num_threads(),
            "steps": steps, "guidance": guidance, "what": "pipeline" if whole else "sampler"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--guidance", type=float, default=DEFAULTS.guidance,
                   help="head and gaze guidance (the face keeps the default's own)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--whole", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        from model_runtime.cpu_threads import prefer_passive_waiting
        prefer_passive_waiting()          # as the CLI and the add-on do, before PyTorch loads
        print(json.dumps(measure(args.minutes * 60, args.device, args.steps, args.guidance, args.whole)))
        return
    for whole in (False, True):
        for minutes in (1.0, args.minutes):
            cmd = [sys.executable, __file__, "--child", "--minutes", str(minutes), "--device", args.device,
                   "--steps", str(args.steps), "--guidance", str(args.guidance)] + (["--whole"] if whole else [])
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            print(f"{r['what']:8s} {r['dialogue_s']:6.0f} s of dialogue in {r['compute_s']:7.2f} s on {r['device']} "
                  f"({r['threads']} threads, {r['steps']} steps, guidance {r['guidance']}): "
                  f"{r['ratio']:6.1f} s of dialogue per s of compute, peak memory {r['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
