"""Command line: ``python -m model_training.corpus --out DIR --conversations N --seed S
--split train|heldout|festival [--workers W] [--start I] [--offscreen P] [--neural P] [--mirroring]``."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_training.corpus",
                                description="Generate synthetic two-person conversations.")
    p.add_argument("--out", required=True, help="output folder (conv_NNNNN.npz + index.json)")
    p.add_argument("--conversations", type=int, required=True, help="how many to write")
    p.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    p.add_argument("--split", choices=("train", "heldout", "festival"), default="train",
                   help="train: training voices/texts; heldout: unseen espeak voices and texts; "
                        "festival: unseen voice family (festival) with held-out texts")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--start", type=int, default=0, help="index of the first conversation")
    p.add_argument("--offscreen", type=float, default=0.0,
                   help="share of conversations whose mix also holds a voice no one on screen speaks "
                        "(default 0)")
    p.add_argument("--neural", type=float, default=0.0,
                   help="share of people who speak with the neural voice (Piper's joe, at their own "
                        "pitch and pace) instead of an espeak-ng one (default 0)")
    p.add_argument("--mirroring", action="store_true",
                   help="listeners mirror the speaker's head tilt, a second or so later (measured, "
                        "not in the shipped weights' corpus)")
    args = p.parse_args(argv)
    if args.conversations < 1:
        p.error("--conversations must be at least 1")
    for name in ("offscreen", "neural"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            p.error(f"--{name} must be between 0 and 1")
    from .writer import build_corpus
    try:
        build_corpus(args.out, args.conversations, args.seed, args.split, args.workers, args.start,
                     offscreen=args.offscreen, neural=args.neural,
                     mirroring=args.mirroring)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
