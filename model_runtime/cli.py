"""Command line for studios and scripts, no Blender needed.

    python -m model_runtime generate DIALOGUE.wav --layout face_to_face --out result.npz
    python -m model_runtime generate A.wav --track-b B.wav --out result.json   # one file per person
    python -m model_runtime generate STEREO.wav --mode stereo --out result.csv
    python -m model_runtime info
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import api


class ProgressBar:
    """A one-line text progress bar on stderr (redrawn in place on a terminal)."""

    def __init__(self, stream=sys.stderr, width: int = 30):
        self.stream, self.width, self.start = stream, width, time.time()
        self.tty = stream.isatty()
        self.last = -1

    def __call__(self, fraction: float, message: str) -> None:
        pct = int(fraction * 100)
        if not self.tty and pct == self.last:
            return
        self.last = pct
        filled = int(self.width * fraction)
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {pct:3d}% {message} ({time.time() - self.start:.1f} s)"
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def build_audio(args):
    if args.track_b:
        return api.conversation_audio("per_person", [api.audio_clip(str(args.audio))],
                                      [api.audio_clip(str(args.track_b))])
    return api.conversation_audio(args.mode, [api.audio_clip(str(args.audio))])


def cmd_generate(args) -> int:
    api.check_output_path(args.out)          # before minutes of work, not after
    poses = api.preset_layout(args.layout, args.distance, args.height_offset)
    settings = api.GenerationSettings(seed=args.seed, steps=args.steps, guidance=args.guidance,
                                      device=args.device, checkpoint=args.weights, output_fps=args.fps,
                                      blinks_per_minute=args.blinks_per_minute).checked()
    audio = build_audio(args)
    turns = read_turns(args, audio)
    bar = ProgressBar()
    try:
        out = api.generate_to_file(audio, poses, args.out, settings, progress=None if args.quiet else bar,
                                   swap=args.swap, turns=turns, meta={"layout": args.layout})
    finally:
        bar.close()
    fps = args.fps or api.MODEL_FPS
    print(f"wrote {out}: {audio.duration:.1f} s at {fps:g} fps for 2 people")
    return 0


def read_turns(args, audio):
    """The --turns file (checked against the audio's length), or None to analyse the audio."""
    if not args.turns:
        return None
    return api.read_turns(args.turns, speakers=api.parse_speakers(args.speakers), duration=audio.duration)


def cmd_turns(args) -> int:
    """Who speaks when, as the runtime hears it, written for an artist to check and correct."""
    turns = api.analyse_turns(build_audio(args))
    out = api.write_turns(turns, args.out)
    print(f"wrote {out}: {len(turns)} turns (A {len(turns.of(0))}, B {len(turns.of(1))})")
    return 0


def cmd_info(args) -> int:
    from .checkpoint import DEFAULT_WEIGHTS, load_checkpoint
    from .experts import read_experts
    from .model import count_parameters
    ckpt = load_checkpoint(args.weights)
    print(f"weights: {args.weights or DEFAULT_WEIGHTS}")
    print(f"parameters: {count_parameters(ckpt.build_model()):,}")
    print(f"config: {ckpt.config.to_dict()}")
    print(f"training: {ckpt.info}")
    experts = read_experts(Path(args.weights or DEFAULT_WEIGHTS))
    if experts is not None:
        high = load_checkpoint(experts.high_noise)
        space = "the high-noise expert's" if experts.sample_in_high_noise else "the main model's"
        face = f", the face too above t = {experts.face_switch}" if experts.face_switch < 1.0 else ""
        print(f"high-noise expert (sampler steps above t = {experts.switch}{face}; sampled in {space} "
              f"normalisation): {experts.high_noise}")
        print(f"  config: {high.config.to_dict()}")
        print(f"  training: {high.info}")
    return 0


def parser() -> argparse.ArgumentParser:
    d = api.DEFAULTS
    p = argparse.ArgumentParser(prog="python -m model_runtime", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="animate a two-person dialogue")
    g.add_argument("audio", type=Path, help="dialogue audio (wav, flac, ogg, mp3; any rate)")
    g.add_argument("--mode", choices=["mixed", "stereo"], default="mixed",
                   help="mixed: both voices in one track; stereo: person A left, person B right")
    g.add_argument("--track-b", type=Path, help="person B's own track (then AUDIO is person A's)")
    g.add_argument("--swap", action="store_true", help="exchange who is person A and person B")
    g.add_argument("--layout", default="face_to_face", choices=sorted(api.layout_presets()))
    g.add_argument("--distance", type=float, help="metres between the two heads (default: the preset's)")
    g.add_argument("--height-offset", type=float, default=0.0, help="metres person B is higher than A")
    g.add_argument("--out", type=Path, required=True, help="result file: .npz, .json or .csv")
    g.add_argument("--fps", type=float, help="output frame rate (default: the model's 25)")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--steps", type=int, default=d.steps, help="sampler steps: more is slower and finer")
    g.add_argument("--guidance", type=float, default=d.guidance, help="expressiveness: head and gaze guidance (1 = off; the face keeps its own)")
    g.add_argument("--blinks-per-minute", type=float, default=d.blinks_per_minute,
                   help="each person blinks at least this often; the model's own blinks are kept (0: only those)")
    g.add_argument("--device", default=d.device, choices=api.DEVICES)
    g.add_argument("--weights", help="checkpoint file (default: the shipped weights)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--turns", type=Path, help="who speaks when (RTTM, Audacity labels .txt, or CSV "
                                             "start,end,person) instead of analysing the audio")
    g.add_argument("--speakers", help="labels of A and B in the turns file, e.g. agent,caller "
                                      "(default: A/B, else in order of appearance)")
    g.set_defaults(func=cmd_generate)
    t = sub.add_parser("turns", help="write who speaks when (RTTM, .txt Audacity labels, .csv) to check and fix")
    t.add_argument("audio", type=Path, help="dialogue audio")
    t.add_argument("--mode", choices=["mixed", "stereo"], default="mixed")
    t.add_argument("--track-b", type=Path, help="person B's own track (then AUDIO is person A's)")
    t.add_argument("--out", type=Path, required=True, help="turns file: .rttm, .txt or .csv")
    t.set_defaults(func=cmd_turns)
    i = sub.add_parser("info", help="describe a weights file")
    i.add_argument("--weights")
    i.set_defaults(func=cmd_info)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except api.GenerationCancelled:
        print("cancelled", file=sys.stderr)
        return 130
    except (api.TalkingTogetherError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
