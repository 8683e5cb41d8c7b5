"""How much of people's behaviour in the corpus only the partner explains.

    python -m model_training.partner_share --corpus corpus_data/reactive --limit 30
    python -m model_training.partner_share --interaction --corpus runs/heldout --corpus runs/festival

The listener's answers to the speaker's glances and tilt (corpus/reactions.py: nods, looking
back, mirroring) are the part of the targets that the audio and the roles do not time: only a
model that reads its partner can draw them. For each conversation this draws the targets twice
from one behaviour seed (as the evaluation's redrawn targets are drawn), with and without those
answers.

By default it prints per head and gaze channel the energy of the difference over the channel's
variance within conversations: the ceiling of what reading the partner can win in the loss;
`python -m model_training.denoiser_levels` (column `partner use`) shows how much of it a model
takes (docs/evaluation/OBJECTIVE.md, "Decision and next step").

``--interaction`` prints, per interaction metric, people's value, the redrawn people's and the
unanswered people's (the evaluation's ``target_unanswered``: what a model that ignores its
partner can match), pooled over every conversation of the folders, and how much closer to
people the redrawn people are than the unanswered ones, paired per conversation with a
bootstrap interval. Where that interval holds zero, reading the partner has nothing to win on
that metric, and no model can beat a one-stream twin there but by chance.
"""
from __future__ import annotations

import argparse

import numpy as np

from model_runtime.channels import GAZE_CHANNELS, HEAD_CHANNELS, channel_index

from .corpus.dataset import list_conversations, load_conversation
from .eval_stats import closeness_table
from .evaluate import people_draws, redrawn_target
from .interaction import CLOSE_TO_PEOPLE, interaction_metrics

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


def interaction_rows(corpora: list[str], limit: int | None = None) -> dict[str, list[dict]]:
    """Interaction metrics per conversation of every folder, for people (``target``), the redrawn
    people and the unanswered ones, drawn with the seeds the evaluation uses."""
    rows: dict[str, list[dict]] = {"target": [], "target_redrawn": [], "target_unanswered": []}
    count = 0
    for corpus in corpora:
        for k, path in enumerate(list_conversations(corpus)[:limit]):
            conv = load_conversation(path)
            draws = people_draws(conv, conv["motion"].shape[1], k)
            if "target_redrawn" not in draws:       # a capture: nobody to redraw
                continue
            for name, motion in draws.items():
                metrics = interaction_metrics(motion, conv["motion"], conv["activity"], conv["poses"])
                rows[name].append({**metrics, "conv": count})
            count += 1
    return rows


def interaction_headroom(rows: dict[str, list[dict]]) -> str:
    """Markdown: the three values per metric, then the redrawn people's paired closeness."""
    lines = [f"{len(rows['target'])} conversations", "",
             "| metric | people | redrawn people | unanswered people |", "|---|---|---|---|"]
    for key, label, fmt in CLOSE_TO_PEOPLE:
        values = [fmt.format(np.nanmean([r[key] for r in rows[name]])) for name in rows]
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    return "\n".join(lines + ["", closeness_table(rows, "target_redrawn", CLOSE_TO_PEOPLE)])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_training.partner_share", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", action="append", required=True, help="corpus folder (repeatable)")
    p.add_argument("--limit", type=int, help="at most this many conversations per folder")
    p.add_argument("--seed", type=int, default=0, help="behaviour seed of the two draws (channel shares)")
    p.add_argument("--interaction", action="store_true", help="the room per interaction metric instead")
    args = p.parse_args(argv)
    if args.interaction:
        print(interaction_headroom(interaction_rows(args.corpus, args.limit)))
        return 0
    for corpus in args.corpus:
        print(f"{corpus}\n\n| channel | share of its variance only the partner explains |\n|---|---|")
        for name, share in partner_share(corpus, args.limit, args.seed).items():
            print(f"| {name} | {share:.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
