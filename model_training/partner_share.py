"""How much of people's head and gaze motion in the corpus only the partner can explain.

    python -m model_training.partner_share --conversations 30 --seed 11

The listener's answers to the speaker's glances (corpus/reactions.py: nods, looking back) are
the part of the targets that the audio and the roles do not time: only a model that reads its
partner can draw them. This builds each conversation twice from the same seed, with and
without those answers, and prints per head and gaze channel the energy of the difference over
the channel's variance within conversations. It is the ceiling of what reading the partner
can win; `python -m model_training.denoiser_levels` (column `partner use`) shows how much of
it a model takes (docs/evaluation/OBJECTIVE.md, "Decision and next step").
"""
from __future__ import annotations

import argparse
from contextlib import contextmanager
from unittest import mock

import numpy as np

from model_runtime.channels import GAZE_CHANNELS, HEAD_CHANNELS, channel_index

from .corpus import targets, writer

CHANNELS = HEAD_CHANNELS + GAZE_CHANNELS


@contextmanager
def without_answers():
    """Targets in which no listener answers a glance: no answering nods, no looking back."""
    with mock.patch.object(targets, "answering_nods", lambda glances, rng: []), \
            mock.patch.object(targets, "follow_glances", lambda offset, at, glances, fps, rng: (offset, at)):
        yield


def partner_share(conversations: int, seed: int, split: str = "train") -> dict[str, float]:
    """{channel: energy of the answers / variance within conversations} over head and gaze."""
    answers = {name: 0.0 for name in CHANNELS}
    spread = {name: 0.0 for name in CHANNELS}
    for index in range(conversations):
        motion = writer.build_conversation(index, split, seed)["motion"]
        with without_answers():
            unanswered = writer.build_conversation(index, split, seed)["motion"]
        for name in CHANNELS:
            k = channel_index(name)
            answers[name] += float(np.sum((motion[..., k] - unanswered[..., k]) ** 2))
            spread[name] += float(np.sum((motion[..., k] - motion[..., k].mean(axis=1, keepdims=True)) ** 2))
    return {name: answers[name] / spread[name] if spread[name] > 0 else 0.0 for name in CHANNELS}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_training.partner_share", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conversations", type=int, default=30)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--split", default="train")
    args = p.parse_args(argv)
    print("| channel | share of its variance only the partner explains |")
    print("|---|---|")
    for name, share in partner_share(args.conversations, args.seed, args.split).items():
        print(f"| {name} | {share:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
