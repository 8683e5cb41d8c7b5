"""How much of people's head and gaze motion in the corpus only the partner can explain.

    python -m model_training.partner_share --corpus corpus_data/reactive --limit 30

The listener's answers to the speaker's glances (corpus/reactions.py: nods, looking back) are
the part of the targets that the audio and the roles do not time: only a model that reads its
partner can draw them. For each conversation of a corpus folder this draws the targets twice
from one behaviour seed (as the evaluation's redrawn targets are drawn), with and without those
answers, and prints per head and gaze channel the energy of the difference over the channel's
variance within conversations. It is the ceiling of what reading the partner can win;
`python -m model_training.denoiser_levels` (column `partner use`) shows how much of it a model
takes (docs/evaluation/OBJECTIVE.md, "Decision and next step").
"""
from __future__ import annotations

import argparse

import numpy as np

from model_runtime.channels import GAZE_CHANNELS, HEAD_CHANNELS, channel_index

from .corpus.dataset import list_conversations, load_conversation
from .evaluate import redrawn_target

CHANNELS = HEAD_CHANNELS + GAZE_CHANNELS


def partner_share(corpus: str, limit: int | None = None, seed: int = 0) -> dict[str, float]:
    """{channel: energy of the answers / variance within conversations} over head and gaze."""
    answers = {name: 0.0 for name in CHANNELS}
    spread = {name: 0.0 for name in CHANNELS}
    for path in list_conversations(corpus)[:limit]:
        conv = load_conversation(path)
        frames = conv["motion"].shape[1]
        motion = redrawn_target(conv, frames, seed)
        if motion is None:                      # no phone timing (a studio capture): no answers to take out
            continue
        unanswered = redrawn_target(conv, frames, seed, answers=False)
        for name in CHANNELS:
            k = channel_index(name)
            answers[name] += float(np.sum((motion[..., k] - unanswered[..., k]) ** 2))
            spread[name] += float(np.sum((motion[..., k] - motion[..., k].mean(axis=1, keepdims=True)) ** 2))
    return {name: answers[name] / spread[name] if spread[name] > 0 else 0.0 for name in CHANNELS}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_training.partner_share", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, help="corpus folder (python -m model_training.corpus)")
    p.add_argument("--limit", type=int, help="at most this many conversations")
    p.add_argument("--seed", type=int, default=0, help="behaviour seed of the two draws")
    args = p.parse_args(argv)
    print("| channel | share of its variance only the partner explains |")
    print("|---|---|")
    for name, share in partner_share(args.corpus, args.limit, args.seed).items():
        print(f"| {name} | {share:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
