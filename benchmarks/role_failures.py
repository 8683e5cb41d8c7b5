"""Which turns fail role accuracy, and is it the diarizer or the model?

    .venv/bin/python benchmarks/role_failures.py CORPUS [CORPUS ...] [--seed 0] [-v]

For every single-speaker turn of each conversation (model_training.metrics.single_speaker_turns,
as in the evaluation report) the shipped default generates from the mixed track with the
runtime's own diarization (A/B matched to the corpus once, as the Swap button would). A turn
fails when the speaker's jaw does not move twice as much as the listener's (metrics.turn_passes).
Each failure is put down to the share of the turn's frames whose diarized roles say the speaker
alone speaks: under half ("diarized as the other"), under 95 % (a stretch of it), or the model.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model_runtime.audio import ConversationAudio  # noqa: E402
from model_runtime.channels import ROLE_BOTH, ROLE_SPEAKING  # noqa: E402
from model_runtime.pipeline import conversation_conditions  # noqa: E402
from model_runtime.settings import GenerationSettings  # noqa: E402
from model_training import metrics  # noqa: E402
from model_training.corpus.dataset import audio_float, list_conversations, load_conversation  # noqa: E402
from model_training.evaluate import generate_motion, match_speakers  # noqa: E402

WEIGHTS = str(ROOT / "model_runtime" / "weights" / "default.pt")


def turn_outcomes(path, seed: int) -> list[tuple[int, float, float, float, bool]]:
    """(speaker, start s, end s, share diarized right, passes) per single-speaker turn."""
    conv = load_conversation(path)
    feats, roles = conversation_conditions(ConversationAudio.from_signals(mix=audio_float(conv["mix"])))
    n = feats.shape[0]
    activity = conv["activity"][:, :n]
    roles = match_speakers(roles, activity)
    speaking = np.isin(roles, (ROLE_SPEAKING, ROLE_BOTH))
    jaw = generate_motion(WEIGHTS, feats, roles, conv["poses"], GenerationSettings(device="cpu"), seed)[..., metrics.JAW]
    out = []
    for who, a, b in metrics.single_speaker_turns(activity):
        right = float((speaking[who, a:b] & ~speaking[1 - who, a:b]).mean())
        out.append((who, a / conv["fps"], b / conv["fps"], right, metrics.turn_passes(jaw, who, a, b)))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", nargs="+")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-v", "--verbose", action="store_true", help="print every failing turn")
    args = p.parse_args()
    print(f"{'corpus':>16s} {'turns':>6s} {'fail':>5s} {'other':>6s} {'stretch':>8s} {'model':>6s}")
    for corpus in args.corpus:
        counts = np.zeros(5, int)
        for path in list_conversations(corpus):
            for who, start, end, right, ok in turn_outcomes(path, args.seed):
                counts += [1, not ok, not ok and right < 0.5, not ok and 0.5 <= right < 0.95, not ok and right >= 0.95]
                if args.verbose and not ok:
                    print(f"  {Path(path).name} person {who} {start:.1f}-{end:.1f} s: diarized right {right:.0%}")
        print(f"{Path(corpus).name:>16s} " + " ".join(f"{c:{w}d}" for c, w in zip(counts, (6, 5, 6, 8, 6))))


if __name__ == "__main__":
    main()
