"""Draw the README's turn-lanes picture from real data: the turns of examples/dialogue.flac
as the add-on shows them on the Video Sequencer, one correction made there, and the baked
mouths following it.

    .venv/bin/python scripts/draw_turn_lanes.py --out docs/images/turn_lanes.png

In headless bpy with this checkout's add-on: an empty scene at 24 fps, the dialogue as a
sound strip at frame 1, two default head rigs; **Analyse Turns** (the panel's operator)
draws the turn strips; the script reads them back from the sequencer (channel, frames,
colour, name). Then the artist's correction: the analysis misses B's short "mm-hmm" during
A's second turn (11.0 s, see examples/make_example_dialogue.sh), so one of B's strips is
duplicated (what Shift+D makes) and moved and trimmed to 11.0-11.6 s; **Read Timeline**
takes it into the list. **Generate** (Use Turns on) bakes before and after the correction;
the jawOpen shape-key F-curves of both heads are read back from the rigs. Takes ~5 s on a CPU.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:        # the add-on and its runtime import as plain packages from the repo
    sys.path.insert(0, ROOT)

FPS = 24
AUDIO = os.path.join(ROOT, "examples", "dialogue.flac")
ADDED = (1, 11.0, 11.6)     # the correction: B's "mm-hmm", seconds from the audio's start


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "images", "turn_lanes.png"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--dpi", type=int, default=100, help="the picture is 16 x 7 inches")
    return p.parse_args(argv)


def setup(audio: str, device: str):
    import bpy
    from talking_together_addon import api, vse_compat
    bpy.ops.wm.read_factory_settings(use_empty=True)
    api.ensure_registered()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    ed = scene.sequence_editor_create()
    vse_compat.top_strips(ed).new_sound("Dialogue", audio, 1, 1)
    rigs = api.add_head_rigs(scene, layout="face_to_face")
    scene.talking_together.device = device
    return scene, rigs


def lane_strips(scene) -> list[dict]:
    """The turn strips as the sequencer shows them, with their times in seconds."""
    from talking_together_addon import turns_timeline
    t = scene.talking_together_turns
    return sorted(({"name": s.name, "channel": s.channel, "person": s.channel - t.lane_channel,
                    "frames": (s.frame_final_start, s.frame_final_end), "colour": tuple(s.color),
                    "start": (s.frame_final_start - t.origin_frame) / FPS,
                    "end": (s.frame_final_end - t.origin_frame) / FPS}
                   for s in turns_timeline.turn_strips(scene)), key=lambda d: (d["person"], d["start"]))


def duplicate_strip(scene, person: int, start: float, end: float):
    """What Shift+D on one of the person's strips, then a move and a trim, leave on the lane:
    a copy (name, colour, muted, the add-on's turn tag) spanning start-end seconds."""
    from talking_together_addon import turns_timeline, vse_compat
    t = scene.talking_together_turns
    src = next(s for s in turns_timeline.turn_strips(scene) if s.channel == t.lane_channel + person)
    first = round(t.origin_frame + start * FPS)
    copy = vse_compat.top_strips(scene.sequence_editor).new_effect(
        src.name + ".001", 'COLOR', src.channel, first, length=round(t.origin_frame + end * FPS) - first)
    copy.color, copy.mute = src.color, src.mute
    copy[turns_timeline.TURN_KEY] = src[turns_timeline.TURN_KEY]
    return copy


def bake_jaws(scene, rigs):
    """Generate (the panel's operator, Use Turns on) and read jawOpen back from both heads' F-curves."""
    import bpy
    import numpy as np
    from talking_together_addon.anim_compat import action_fcurves
    scene.talking_together_turns.use_turns = True
    bpy.ops.talking_together.generate()
    jaws = []
    for rig in rigs:
        head = next(c for c in rig.children_recursive if c.type == 'MESH' and c.data.shape_keys)
        curve = next(fc for fc in action_fcurves(head.data.shape_keys.animation_data.action)
                     if fc.data_path == 'key_blocks["jawOpen"].value')
        frames = np.arange(scene.frame_start, scene.frame_end + 1)
        jaws.append(((frames - 1) / FPS, np.array([curve.evaluate(f) for f in frames])))
    return jaws


def waveform(path: str, width: int = 1600):
    import numpy as np
    import soundfile as sf
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    n = len(x) // width
    blocks = x[: n * width].reshape(width, n)
    return np.arange(width) * n / sr, blocks.min(axis=1), blocks.max(axis=1)


def draw(out: str, wave, before, after, jaws_before, jaws_after, dpi: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    plt.rcParams.update({"font.size": 12})
    fig, axes = plt.subplots(4, 1, figsize=(16, 7), sharex=True, gridspec_kw={"height_ratios": [1, 1.1, 1.1, 1.8]})
    duration = wave[0][-1]
    t, lo, hi = wave
    axes[0].fill_between(t, lo, hi, color="0.35", lw=0)
    axes[0].set_yticks([])
    axes[0].set_ylabel("audio", rotation=0, ha="right", va="center")
    new = next(s for s in after if s.get("new"))
    lanes = {s["person"]: s["channel"] for s in before}
    titles = (f"As analysed (Analyse Turns): A's lane is sequencer channel {lanes[0]}, B's channel {lanes[1]}",
              f'Corrected: {new["name"]} added, B\'s "mm-hmm" at {new["start"]:.1f}-{new["end"]:.1f} s that the '
              "analysis missed (Shift+D on a B strip, moved, trimmed; then Read Timeline)")
    for ax, strips, title in ((axes[1], before, titles[0]), (axes[2], after, titles[1])):
        for s in strips:
            y = 1 - s["person"]
            ax.add_patch(Rectangle((s["start"], y + 0.1), s["end"] - s["start"], 0.8, color=s["colour"], alpha=0.85))
            if s.get("new"):
                ax.add_patch(Rectangle((s["start"], y + 0.05), s["end"] - s["start"], 0.9, fill=False,
                                       ec="crimson", lw=3, zorder=5))
            else:
                ax.text((s["start"] + s["end"]) / 2, y + 0.5, f'{s["name"]}\nframes {s["frames"][0]}-{s["frames"][1]}',
                        ha="center", va="center", fontsize=9.5, color="white", linespacing=1.1)
        ax.set_ylim(0, 2)
        ax.set_yticks([1.5, 0.5], ["A", "B"], fontsize=13, fontweight="bold")
        ax.set_title(title, loc="left", fontsize=12, color="crimson" if strips is after else "black")
        ax.axhline(1, color="0.8", lw=0.8)
    colours = {s["person"]: s["colour"] for s in after}
    for person in (0, 1):
        axes[3].plot(*jaws_before[person], color=colours[person], lw=1.5, ls="--", alpha=0.9,
                     label=f"{'AB'[person]}, analysed turns")
        axes[3].plot(*jaws_after[person], color=colours[person], lw=2,
                     label=f"{'AB'[person]}, corrected turns")
    axes[3].set_ylabel("jawOpen\n(baked keys)", rotation=0, ha="right", va="center")
    axes[3].legend(loc="upper right", ncol=4, fontsize=10, frameon=False, bbox_to_anchor=(1, 1.2))
    top = max(float(j[1].max()) for j in jaws_after + jaws_before)
    axes[3].set_ylim(0, top * 1.25)
    axes[3].text(new["start"] - 0.1, top * 1.13, "B's mouth opens for the \"mm-hmm\"; A's opens a little less",
                 ha="right", va="center", fontsize=10.5, color="crimson")
    for ax in axes:
        ax.axvspan(new["start"], new["end"], color="crimson", alpha=0.08, lw=0)
        ax.set_xlim(0, duration)
    axes[3].set_xlabel(f"seconds from the audio's start (scene frame = 1 + {FPS} x seconds)")
    fig.suptitle("examples/dialogue.flac: the turn lanes as the Video Sequencer shows them (muted colour strips), "
                 "one correction, and the mouths baked from it", fontsize=14)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=dpi)


def run(args) -> None:
    import bpy
    start = time.perf_counter()
    scene, rigs = setup(AUDIO, args.device)
    assert bpy.ops.talking_together.analyse_turns() == {'FINISHED'}
    before = lane_strips(scene)
    jaws_before = bake_jaws(scene, rigs)
    duplicate_strip(scene, *ADDED)
    assert bpy.ops.talking_together.read_timeline_turns() == {'FINISHED'}   # the panel's Read Timeline
    after = lane_strips(scene)           # redrawn from the list: the new strip is numbered in order
    old = {(s["person"], s["frames"]) for s in before}
    for s in after:
        s["new"] = (s["person"], s["frames"]) not in old
    jaws_after = bake_jaws(scene, rigs)
    for label, strips in (("analysed", before), ("corrected", after)):
        print(label + ": " + ", ".join(f'{s["name"]} ch{s["channel"]} {s["start"]:.2f}-{s["end"]:.2f} s'
                                       for s in strips))
    draw(args.out, waveform(AUDIO), before, after, jaws_before, jaws_after, args.dpi)
    print(f"wrote {args.out} ({os.path.getsize(args.out) // 1024} KB) in {time.perf_counter() - start:.1f} s")


def main(argv=None) -> int:
    args = parse_args(argv)
    from talking_together_addon import api
    try:
        run(args)
    finally:
        api.unregister()        # before exit: some Blender versions crash with operators registered
    return 0


if __name__ == "__main__":
    sys.exit(main())
