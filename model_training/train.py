"""Train the conversation denoiser on a corpus directory.

    python -m model_training.train --corpus corpus_data/train --out model_runtime/weights/default.pt

Several GPUs (or processes): ``torchrun --nproc_per_node=N -m model_training.train ...`` uses
PyTorch's DistributedDataParallel; each process draws its own batches, rank 0 writes the file.
Fine-tuning on a studio's capture: ``--init model_runtime/weights/default.pt --corpus my_capture``.
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist

from model_runtime.channels import channel_index
from model_runtime.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model_runtime.model import ConversationDenoiser, ModelConfig, count_parameters
from model_runtime.presets import read_preset

from .objective import LossWeights, training_loss
from .training_data import WindowSampler, load_split, motion_normaliser, normalisation_stats

ABLATIONS = {"none": {}, "no_cross_stream": {"use_cross_stream": False}, "no_roles": {"use_roles": False},
             "no_layout": {"use_layout": False}, "no_gaze_loss": {}}


def model_config(name_or_path: str, ablation: str = "none") -> ModelConfig:
    path = Path(name_or_path)
    raw = read_preset(path.resolve() if path.is_file() else Path("models") / f"{name_or_path}.json")
    raw.update(ABLATIONS[ablation])
    return ModelConfig.from_dict(raw)


def load_matching(model: ConversationDenoiser, state: dict) -> None:
    """Load a checkpoint's weights; an ablation fine-tuned from a full model (``--init`` with
    ``--ablation``) leaves out the weights of what it switches off, nothing else."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing:
        raise ValueError(f"the --init checkpoint lacks weights this model needs: {missing[:5]}")
    switched_off = ("cross_attn", "norm_cross", "role_emb", "layout_mlp")
    if any(not any(part in k for part in switched_off) for k in unexpected):
        raise ValueError(f"the --init checkpoint holds weights of another architecture: {unexpected[:5]}")


def channel_weight(text: str) -> tuple[str, float]:
    """``--channel-weight headPitch=4`` -> ("headPitch", 4.0), the channel checked by name."""
    name, sep, value = text.partition("=")
    try:
        channel_index(name)
        weight = float(value)
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"expected CHANNEL=WEIGHT with a motion channel name, got {text!r}") from None
    if not sep or not math.isfinite(weight) or weight < 0:
        raise argparse.ArgumentTypeError(f"expected CHANNEL=WEIGHT with a weight of 0 or more, got {text!r}")
    return name, weight


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {text!r}")
    return value


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device); a plain single process when not started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 or "RANK" in os.environ:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        rank = dist.get_rank()
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            return rank, dist.get_world_size(), torch.device("cuda", local)
        return rank, dist.get_world_size(), torch.device("cpu")
    return 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")


def lr_at(progress: float, step: int, peak: float, warmup: int = 200) -> float:
    """Linear warm-up, then cosine decay to 5 % over the run's progress (0..1)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def run_progress(step: int, steps: int, start: float, minutes: float | None, world: int) -> float:
    """How far the run is: by steps, or by wall-clock time when a time budget is set (rank 0's
    clock, shared with every process so they all stop at the same step)."""
    progress = step / steps
    if minutes:
        progress = max(progress, (time.time() - start) / (60 * minutes))
        if world > 1:
            shared = torch.tensor([progress], dtype=torch.float64)
            dist.broadcast(shared, src=0)
            progress = float(shared)
    return progress


def train(args: argparse.Namespace) -> Path:
    rank, world, device = setup_distributed()
    torch.manual_seed(args.seed + rank)
    convs = load_split(args.corpus, args.split, limit=args.limit, answers=args.answer_weight > 0)
    if args.init:
        base = load_checkpoint(args.init)
        cfg = ModelConfig.from_dict({**base.config.to_dict(), **ABLATIONS[args.ablation]})
        stats = base.stats()
    else:
        base, cfg = None, model_config(args.config, args.ablation)
        stats = normalisation_stats(convs, centre_on_layout=cfg.use_layout and args.centre_on_layout)
    model = ConversationDenoiser(cfg).to(device)
    if base is not None:
        load_matching(model, base.state_dict)
    ema = copy.deepcopy(model).eval()
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    sampler = WindowSampler(convs, stats, window=args.window, seed=args.seed + 1000 * rank)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    weights = LossWeights(gaze=0.0 if args.ablation == "no_gaze_loss" else args.gaze_weight, snr_clip=args.snr_clip,
                          channels=args.channel_weight, stream_levels=args.stream_levels,
                          answers=args.answer_weight)
    normaliser = motion_normaliser(stats).to(device)
    if rank == 0:
        print(f"training {count_parameters(model) / 1e6:.2f}M parameters on {len(convs)} conversations, "
              f"{world} process(es), device {device}", flush=True)
    start = time.time()
    step = 0
    while (progress := run_progress(step, args.steps, start, args.minutes, world)) < 1.0:
        for group in opt.param_groups:
            group["lr"] = lr_at(progress, step, args.lr)
        losses = training_loss(net, sampler.batch(args.batch, device), normaliser, weights)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(args.ema, (step + 1) / (step + 10))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)
        step += 1
        if rank == 0 and (step % args.log_every == 1 or step == args.steps):
            terms = " ".join(f"{k} {v.item():.4f}" for k, v in losses.items())
            print(f"step {step}/{args.steps} {terms} ({time.time() - start:.0f} s)", flush=True)
        if rank == 0 and args.save_every and step % args.save_every == 0:
            write(args, cfg, ema, stats, step, len(convs), world, start)   # a crash loses little
    if rank == 0:
        out = write(args, cfg, ema, stats, step, len(convs), world, start)
        print(f"wrote {out} after {step} steps ({time.time() - start:.0f} s)", flush=True)
    if world > 1:
        dist.destroy_process_group()
    return Path(args.out)


def write(args, cfg: ModelConfig, ema: torch.nn.Module, stats: dict, step: int, conversations: int,
          world: int, start: float) -> Path:
    """Save the EMA weights with how they were made (steps, data, command line)."""
    out = Path(args.out)
    info = {"name": out.stem, "steps": step, "batch": args.batch * world, "window": args.window,
            "corpus": str(args.corpus), "conversations": conversations, "ablation": args.ablation,
            "seconds": round(time.time() - start, 1), "seed": args.seed, "snr_clip": args.snr_clip,
            "init": args.init, "centre_on_layout": bool(stats["motion_layout_weights"].any()),
            "channel_weights": args.channel_weight, "stream_levels": args.stream_levels,
            "answer_weight": args.answer_weight}
    return save_checkpoint(Checkpoint(cfg, ema.state_dict(), **stats, info=info), out)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m model_training.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, help="corpus directory (python -m model_training.corpus)")
    p.add_argument("--split", default="train", help="split to train on (default: train; 'all' for every file)")
    p.add_argument("--out", required=True, help="checkpoint file to write")
    p.add_argument("--config", default="default", help="model config preset name or JSON file")
    p.add_argument("--init", help="checkpoint to fine-tune from (keeps its config and normalisation)")
    p.add_argument("--ablation", choices=sorted(ABLATIONS), default="none")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--minutes", type=float, help="wall-clock budget: stop (and finish the LR decay) by then")
    p.add_argument("--batch", type=int, default=24)
    p.add_argument("--window", type=int, default=128, help="frames per training window (multiple of 4)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--ema", type=float, default=0.998)
    p.add_argument("--gaze-weight", type=float, default=1.0)
    p.add_argument("--snr-clip", type=float, default=LossWeights.snr_clip,
                   help="v models: noise levels weigh 1 + min(SNR, this) in x0 error (0: all alike)")
    p.add_argument("--channel-weight", type=channel_weight, action="append", default=[], metavar="CHANNEL=W",
                   help="weight of one motion channel in the motion and velocity errors (repeatable; "
                        "default 1, face channels 2), e.g. headPitch=4")
    p.add_argument("--stream-levels", type=float, default=0.0, metavar="SHARE",
                   help="share of the batch whose people get noise levels of their own (0: one level)")
    p.add_argument("--answer-weight", type=non_negative, default=0.0, metavar="W",
                   help="extra weight of head and gaze on the frames where a person answers the partner's "
                        "glance (training_data.answer_frames): they weigh 1 + W (default 0)")
    p.add_argument("--centre-on-layout", action="store_true",
                   help="normalise head and gaze around the pose the layout gives (model_runtime/normalisation.py; "
                        "checkpoint format 2), not by plain statistics")
    p.add_argument("--limit", type=int, help="use at most this many conversations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--save-every", type=int, default=500, help="write the checkpoint every N steps (0: only at the end)")
    args = p.parse_args(argv)
    args.channel_weight = dict(args.channel_weight)
    if args.split == "all":
        args.split = None
    return args


def main(argv=None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
