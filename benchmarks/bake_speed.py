"""How fast the bake writes keys in Blender (``bpy`` module): a synthetic conversation of 60 s
and of 10 min at 30 fps baked onto the two default head rigs, first bake and re-bake (which
replaces the first), and a full generation of examples/dialogue.flac split into the model's
part and the bake's.

    .venv/bin/python benchmarks/bake_speed.py              # everything
    .venv/bin/python benchmarks/bake_speed.py --no-generate --durations 60

The synthetic result is built with numpy (smooth random curves in the right ranges), so this
measures the bake, not the model. Prints numbers; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import bpy  # noqa: E402

import talking_together_addon as tt  # noqa: E402
from talking_together_addon import vse_compat  # noqa: E402
from talking_together_addon import api, bake  # noqa: E402
from model_runtime.channels import OUTPUT_FACE_CHANNELS, ROLE_LISTENING, ROLE_SPEAKING  # noqa: E402
from model_runtime.result import ConversationResult, PersonTrack  # noqa: E402


def fresh_scene(fps: int):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if not hasattr(bpy.types.Scene, "talking_together"):
        tt.register()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    return scene


def smooth(rng, n: int, dims: int, frames_per_wiggle: float = 12.0) -> np.ndarray:
    """(n, dims) smooth curves in -1..1."""
    knots = max(2, int(n / frames_per_wiggle) + 2)
    x = np.linspace(0, knots - 1, n)
    pts = rng.uniform(-1, 1, (knots, dims))
    return np.stack([np.interp(x, np.arange(knots), pts[:, d]) for d in range(dims)], 1)


def synthetic_result(seconds: float, fps: float, seed: int = 0) -> ConversationResult:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    turn = (np.arange(n) // int(4 * fps)) % 2           # 4 s turns, A first
    people = []
    for k in range(2):
        face = (0.5 + 0.5 * smooth(rng, n, len(OUTPUT_FACE_CHANNELS))) * 0.6
        head = smooth(rng, n, 3, 40.0) * np.radians([10.0, 20.0, 5.0])
        eyes = smooth(rng, n, 4, 20.0) * np.radians([15.0, 10.0, 15.0, 10.0])
        roles = np.where(turn == k, ROLE_SPEAKING, ROLE_LISTENING).astype(np.int64)
        people.append(PersonTrack(face.astype(np.float32), head.astype(np.float32),
                                  eyes.astype(np.float32), roles))
    return ConversationResult(fps=float(fps), people=tuple(people))


def bench_bake(seconds: float, fps: int) -> None:
    scene = fresh_scene(fps)
    rigs = api.add_head_rigs(scene, layout="face_to_face")
    bindings = api.resolve_pair(*rigs)
    t = time.perf_counter()
    result = synthetic_result(seconds, fps)
    build_s = time.perf_counter() - t
    label = f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
    for what in ("bake", "re-bake"):
        t = time.perf_counter()
        report = bake.bake_conversation(scene, bindings, result, 1.0, "Benchmark")
        wall = time.perf_counter() - t
        print(f"{label:>7} @ {fps} fps, {what:7}: {result.num_frames} frames, {report.fcurves} F-curves, "
              f"{report.keys_written} keys in {wall:.2f} s = {report.keys_written / wall:,.0f} keys/s"
              + (f"  (numpy result built in {build_s:.2f} s)" if what == "bake" else ""), flush=True)
        if report.missing:
            print(f"         missing targets: {report.missing}")


def bench_generate(audio: str, steps: int, fps: int) -> None:
    """api.generate's three steps timed one by one (the model vs the bake)."""
    from talking_together_addon import audio_source
    scene = fresh_scene(fps)
    ed = scene.sequence_editor_create()
    strips = vse_compat.top_strips(ed)
    strip = strips.new_sound("Dialogue", audio, 1, 1)
    rigs = api.add_head_rigs(scene, layout="face_to_face")
    t0 = time.perf_counter()
    plan = api.prepare(scene, rigs[0], rigs[1], audio_source.plan_from_value(scene, strip), steps=steps)
    t1 = time.perf_counter()
    result = plan.work(lambda fraction, message: None)
    t2 = time.perf_counter()
    report = api.finish(plan, result)
    t3 = time.perf_counter()
    print(f"generate {os.path.basename(audio)} ({result.duration:.1f} s of audio, {steps} steps, "
          f"{fps} fps): prepare (model load) {t1 - t0:.2f} s, generation {t2 - t1:.2f} s, "
          f"bake {t3 - t2:.3f} s ({report.keys_written} keys), total {t3 - t0:.2f} s", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--durations", type=float, nargs="+", default=[60.0, 600.0], help="seconds")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--no-generate", action="store_true", help="skip the full generation")
    p.add_argument("--audio", default=os.path.join(ROOT, "examples", "dialogue.flac"))
    p.add_argument("--steps", type=int, default=6)
    args = p.parse_args()
    print(f"Blender {bpy.app.version_string}, numpy {np.__version__}, {os.cpu_count()} CPUs")
    for seconds in args.durations:
        bench_bake(seconds, args.fps)
    if not args.no_generate:
        bench_generate(os.path.abspath(args.audio), args.steps, args.fps)


if __name__ == "__main__":
    main()
