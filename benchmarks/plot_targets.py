"""Plot one conversation's motion targets (both people) to PNG, to look at them.

    .venv/bin/python benchmarks/plot_targets.py [--layout face_to_face] [--seed 0] [--out out/targets]

Timing comes from a short scripted dialogue spoken by espeak-ng (``--source espeak``, the
default) or festival (``--source festival``), from the corpus writer's own script and voices
(``--source corpus``), or from hand-made phones (``--source synthetic``); an unavailable
source falls back to the next one. Writes ``<out>_<layout>.png`` (the whole
conversation: turns shaded, jaw, lips, blinks, head, gaze, mutual-gaze strip) and
``<out>_<layout>_zoom.png`` (a few seconds of one speaker's mouth with the phones written on).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model_runtime.channels import GAZE_SLICE, HEAD_SLICE, channel_index  # noqa: E402
from model_training.corpus.targets import make_targets  # noqa: E402
from model_training.corpus.timing import DialogueTiming, SpeechSegment  # noqa: E402
from model_runtime.geometry import gaze_directions_world, looks_at, mutual_gaze  # noqa: E402
from model_runtime.layouts import preset_layout  # noqa: E402

FPS = 25.0
COLORS = ("tab:blue", "tab:orange")
LINES = [
    ("Hello there, how are you doing today?", 0),
    ("Pretty good, thanks. I was thinking we should go to the beach this weekend, if the weather holds.", 1),
    ("The beach? It was freezing last time. Maybe we could visit the museum instead.", 0),
    ("Yeah, maybe. But the new exhibition opens in March, so there is nothing much to see yet.", 1),
    ("Fair enough. What about the mountains then? We could hike up to the old lookout.", 0),
    ("Oh, I love that idea. Let me check the bus times.", 1),
]
BACKCHANNELS = ["mm-hmm", "yeah", "right", "okay"]


def timing_from_espeak(seed: int, engine: str = "espeak") -> DialogueTiming:
    from model_training.corpus.tts import VoiceSpec, synthesize
    rng = np.random.default_rng(seed)
    if engine == "festival":
        voices = (VoiceSpec("festival", "kal_diphone", pitch=30), VoiceSpec("festival", "kal_diphone", pitch=80))
    else:
        voices = (VoiceSpec(base="en-us", variant="m3", rate=165), VoiceSpec(base="en", variant="f2", rate=175))
    segs, t = [], 0.6
    for k, (text, who) in enumerate(LINES):
        _, phones = synthesize(text, voices[who])
        for p in phones:
            p.start += t
            p.end += t
        seg = SpeechSegment(who, phones[0].start, phones[-1].end, text, "turn", phones)
        segs.append(seg)
        if seg.end - seg.start > 2.5:
            bc = BACKCHANNELS[k % len(BACKCHANNELS)]
            _, bp = synthesize(bc, voices[1 - who])
            t0 = seg.start + (seg.end - seg.start) * rng.uniform(0.45, 0.65)
            for p in bp:
                p.start += t0
                p.end += t0
            segs.append(SpeechSegment(1 - who, bp[0].start, bp[-1].end, bc, "backchannel", bp))
        t = seg.end + rng.uniform(0.15, 0.8)
    return DialogueTiming(t + 1.5, segs)


def timing_from_corpus(seed: int) -> DialogueTiming:
    from model_training.corpus.writer import build_conversation
    return build_conversation(seed, "train", 0, mix_augment=False)["timing"]


def timing_synthetic(seed: int) -> DialogueTiming:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_corpus_targets import conversation
    return conversation(40.0, seed)


def get_timing(source: str, seed: int) -> tuple[DialogueTiming, str]:
    order = {"corpus": ("corpus", "espeak", "synthetic"), "espeak": ("espeak", "synthetic"),
             "festival": ("festival", "espeak", "synthetic"), "synthetic": ("synthetic",)}[source]
    for s in order:
        try:
            return {"corpus": timing_from_corpus, "espeak": timing_from_espeak,
                    "festival": lambda seed: timing_from_espeak(seed, "festival"),
                    "synthetic": timing_synthetic}[s](seed), s
        except Exception as e:   # noqa: BLE001 - fall back to the next source, say why
            print(f"timing source {s!r} unavailable: {e}", file=sys.stderr)
    raise RuntimeError("no timing source worked")


def shade(ax, timing: DialogueTiming):
    for s in timing.segments:
        ax.axvspan(s.start, s.end, color=COLORS[s.speaker],
                   alpha=0.08 if s.kind == "turn" else 0.25, lw=0)


def plot(timing: DialogueTiming, layout: str, seed: int, out: str,
         xlim: tuple[float, float] | None = None) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    poses = preset_layout(layout)
    n = int(math.ceil(timing.duration * FPS))
    motion = make_targets(timing, poses, n, np.random.default_rng(seed), FPS)
    t = np.arange(n) / FPS
    ch = channel_index

    dirs = [gaze_directions_world(poses[p], motion[p, :, HEAD_SLICE], motion[p, :, GAZE_SLICE]) for p in (0, 1)]
    look = [looks_at(poses[p], dirs[p], poses[1 - p].position()).numpy() for p in (0, 1)]
    mutual = mutual_gaze(poses[0], dirs[0], poses[1], dirs[1]).numpy()

    rows = [("jawOpen", ["jawOpen"]), ("mouthClose / press", ["mouthClose", "mouthPressLeft"]),
            ("mouthFunnel / pucker", ["mouthFunnel", "mouthPucker"]),
            ("smile / browInnerUp", ["mouthSmileLeft", "browInnerUp"]),
            ("eyeBlinkLeft", ["eyeBlinkLeft"])]
    fig, axes = plt.subplots(len(rows) + 5, 1, figsize=(18, 17), sharex=True,
                             gridspec_kw={"height_ratios": [1] * (len(rows) + 4) + [0.6]})
    ax = axes[0]
    for s in timing.segments:
        y = 1 - s.speaker
        ax.barh(y, s.end - s.start, left=s.start, height=0.6 if s.kind == "turn" else 0.3,
                color=COLORS[s.speaker])
        if s.kind == "turn":
            ax.text(s.start, y + 0.35, s.text[:60], fontsize=6, clip_on=True)
    ax.set_yticks([1, 0], ["A speaks", "B speaks"])
    ax.set_title(f"motion targets, layout {layout}, seed {seed}  (A blue, B orange; light = turn, dark = backchannel)")
    for ax, (label, names) in zip(axes[1:], rows):
        shade(ax, timing)
        for p in (0, 1):
            for k, name in enumerate(names):
                ax.plot(t, motion[p, :, ch(name)], color=COLORS[p], lw=0.9, ls="-" if k == 0 else ":")
        ax.set_ylabel(label, fontsize=8)
        ax.set_ylim(-0.02, 1.02)
    k = len(rows) + 1
    for label, name in (("head yaw (deg)", "headYaw"), ("head pitch / roll (deg)", "headPitch"),
                        ("gaze yaw / pitch (deg)", "gazeYaw")):
        ax = axes[k]
        shade(ax, timing)
        for p in (0, 1):
            ax.plot(t, np.degrees(motion[p, :, ch(name)]), color=COLORS[p], lw=0.9)
            second = {"headPitch": "headRoll", "gazeYaw": "gazePitch"}.get(name)
            if second:
                ax.plot(t, np.degrees(motion[p, :, ch(second)]), color=COLORS[p], lw=0.7, ls=":")
        ax.set_ylabel(label, fontsize=8)
        ax.axhline(0, color="k", lw=0.3)
        k += 1
    ax = axes[k]
    for p in (0, 1):
        ax.fill_between(t, 2 - p, 2 - p + 0.8 * look[p], step="mid", color=COLORS[p], lw=0)
    ax.fill_between(t, 0, 0.8 * mutual, step="mid", color="tab:green", lw=0)
    ax.set_yticks([2.4, 1.4, 0.4], ["A looks at B", "B looks at A", "mutual"])
    ax.set_xlabel("time (s)")
    ax.set_xlim(*(xlim or (0, timing.duration)))
    fig.tight_layout()
    paths = [f"{out}_{layout}.png"]
    Path(paths[0]).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(paths[0], dpi=80)
    plt.close(fig)

    # zoom: the first long turn, its phones written on
    seg = max((s for s in timing.segments if s.kind == "turn"), key=lambda s: min(s.end - s.start, 4.0))
    t0, t1 = seg.start - 0.3, min(seg.end, seg.start + 4.0) + 0.3
    f = (t >= t0) & (t <= t1)
    p = seg.speaker
    fig, axes = plt.subplots(2, 1, figsize=(18, 8), sharex=True)
    for ax, names in zip(axes, (["jawOpen", "mouthClose", "mouthPressLeft", "mouthRollLower", "tongueOut"],
                                ["mouthFunnel", "mouthPucker", "mouthStretchLeft", "mouthSmileLeft",
                                 "mouthLowerDownLeft", "mouthUpperUpLeft"])):
        for name in names:
            ax.plot(t[f], motion[p, f, ch(name)], marker=".", ms=3, lw=1, label=name)
        ax.legend(fontsize=7, loc="upper right")
        ax.set_ylim(-0.02, 1.0)
        for ph in seg.phones:
            if t0 <= ph.start <= t1:
                ax.axvline(ph.start, color="k", lw=0.2)
                ax.text(0.5 * (ph.start + ph.end), 0.93, ph.symbol + ("'" if ph.stress == 2 else ""),
                        ha="center", fontsize=7)
    axes[0].set_title(f"person {'AB'[p]}: {seg.text[:90]}")
    axes[1].set_xlabel("time (s)")
    fig.tight_layout()
    paths.append(f"{out}_{layout}_zoom.png")
    fig.savefig(paths[1], dpi=80)
    plt.close(fig)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layout", default="face_to_face")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--source", choices=("corpus", "espeak", "festival", "synthetic"), default="espeak")
    ap.add_argument("--out", default="out/targets")
    ap.add_argument("--xlim", type=float, nargs=2, default=None, help="time window to show (s)")
    args = ap.parse_args(argv)
    timing, source = get_timing(args.source, args.seed)
    print(f"timing from {source}: {timing.duration:.1f} s, {len(timing.segments)} segments")
    for path in plot(timing, args.layout, args.seed, args.out, args.xlim):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
