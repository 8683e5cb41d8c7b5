"""Lip sync on real voices: each person's jawOpen against the loudness of their own speech, on
the shared real phone calls that come with one speaker per channel (issue #12: r >= 0.7 for
each person). Both ways a user can give the audio: the stereo file (each voice its own track)
and the mono mix (both voices in one track; who speaks is diarized); and the mix with the
call's annotated turns (its RTTM, as an artist gives corrected turns), which tells the
diarizer's share of the mix's loss from the model's.

    .venv/bin/python benchmarks/lip_sync_real_speech.py [--folder ../shared/real-speech] [--seeds 3]
        [--checkpoint runs/x0.pt]

Prints a table of Pearson r per call, person and mode (mean over seeds); asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from model_runtime import api, features  # noqa: E402
from model_runtime.audio import ConversationAudio  # noqa: E402

CALLS = ("lca_call40", "lca_call49")
PEOPLE = ("agent", "caller")


def jaw_r(jaw: np.ndarray, envelope: np.ndarray) -> float:
    n = min(len(jaw), len(envelope))
    return float(np.corrcoef(jaw[:n], envelope[:n])[0, 1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", type=Path, default=ROOT.parent / "shared" / "real-speech")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--checkpoint", help="weights to measure (default: the shipped ones)")
    args = p.parse_args()
    print("| call | person | mode | jaw ~ own speech r |")
    print("|---|---|---|---|")
    for call in CALLS:
        stereo = ConversationAudio.from_file(str(args.folder / f"{call}_stereo.flac"), mode="stereo")
        own = [features.speech_envelope(track) for track in stereo.tracks]
        mixed = ConversationAudio.from_file(str(args.folder / f"{call}.flac"))
        annotated = api.read_turns(args.folder / f"{call}.rttm", speakers=PEOPLE)
        for mode, audio, turns in (("stereo", stereo, None), ("mixed", mixed, None),
                                   ("mixed, annotated turns", mixed, annotated)):
            rs = np.zeros((args.seeds, 2))
            for seed in range(args.seeds):
                settings = api.GenerationSettings(seed=seed, checkpoint=args.checkpoint)
                result = api.generate(audio, api.preset_layout("face_to_face"), settings, turns=turns)
                jaws = [person.face_curve("jawOpen") for person in result.people]
                pairs = [[jaw_r(jaws[i], own[j]) for j in range(2)] for i in range(2)]
                # stereo: A is the left channel, and the annotated turns name A the agent; the
                # mix's diarization names the first voice heard A, so there people are matched
                # once, as a user would press Swap
                keep = mode != "mixed" or pairs[0][0] + pairs[1][1] >= pairs[0][1] + pairs[1][0]
                rs[seed] = [pairs[0][0], pairs[1][1]] if keep else [pairs[1][0], pairs[0][1]]
            for k, person in enumerate(PEOPLE):
                print(f"| {call} | {person} | {mode} | {rs[:, k].mean():.3f} |", flush=True)


if __name__ == "__main__":
    main()
