"""Render a few Workbench frames of a generated two-person conversation (both heads in view).

Starts from an empty scene, puts the dialogue on the sequencer at frame 1, adds the two default
head rigs by a layout preset, generates and bakes the conversation, frames both heads with a
camera and renders the chosen frames to PNG. Each frame is captioned (Blender's render stamp)
with who speaks at that moment, read from the generated result's roles.

With the ``bpy`` module::

    .venv/bin/python scripts/render_conversation.py --audio examples/dialogue.flac \\
        --layout face_to_face --frames 60 120 200 --out docs/images/

With Blender (the script's arguments follow ``--``)::

    blender -b --factory-startup --python-exit-code 1 --python scripts/render_conversation.py -- \\
        --audio examples/dialogue.flac --frames 60 120 200 --out /tmp/frames/

Inside Blender the add-on and its runtime are imported from this checkout; PyTorch and
soundfile must be importable by Blender's Python (e.g. ``PYTHONPATH=<a Python 3.11
site-packages with them>``), otherwise the script stops with the add-on's install hint.

Without ``--frames`` it picks three frames itself: one in A's longest turn and one in B's
(where the mouth opens widest) and the middle of the longest pause; with ``--listener-reaction``
six frames around the listener's clearest nod (scripts/conversation_moments.py).
``--contact-sheet PATH`` puts the frames side by side in one PNG; ``--save-blend PATH`` keeps the scene. Next to the frames it writes
``render_conversation.json``: per frame its PNG, caption, both roles and each mouth's pixel
position (what the tests look at). Exit code 1, with the reason on stderr, on any failure.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:        # the add-on and its runtime import as plain packages from the repo
    sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conversation_moments  # noqa: E402  (beside this script)

# The mouth of the default head in its armature space (model_runtime.default_head.geometry: MOUTH_Z, front of the face).
MOUTH_LOCAL = (0.0, -0.095, 0.118)
BACKGROUND = (0.62, 0.64, 0.67)
MANIFEST = "render_conversation.json"


def script_args(argv=None) -> list[str]:
    """The script's own arguments: after ``--`` when present (Blender), else the command line
    (``bpy`` module); none when Blender runs the script without ``--``."""
    argv = sys.argv if argv is None else argv
    if "--" in argv:
        return argv[argv.index("--") + 1:]
    if any(a in ("--python", "-P") for a in argv):
        return []
    return argv[1:]


class _Parser(argparse.ArgumentParser):
    def error(self, message):               # exit code 1 (not argparse's 2), like every failure
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def parse_args(argv=None) -> argparse.Namespace:
    p = _Parser(prog="render_conversation.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--audio", required=True, help="the dialogue: any audio file soundfile reads")
    p.add_argument("--layout", default="face_to_face",
                   help="layout preset: face_to_face, side_by_side, corner, across_table")
    p.add_argument("--frames", type=int, nargs="+", default=None,
                   help="scene frames to render (25 fps, audio starts at frame 1); default: "
                        "one frame where A speaks, one where B speaks and one pause")
    p.add_argument("--out", default="out/renders/conversation",
                   help="folder for the frames (frame_0060.png, ...) and the JSON manifest")
    p.add_argument("--resolution", type=int, nargs=2, default=(960, 540), metavar=("X", "Y"))
    p.add_argument("--steps", type=int, default=6, help="sampler steps (default 6)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    p.add_argument("--lens", type=float, default=28.0, help="camera focal length in mm")
    p.add_argument("--margin", type=float, default=0.3,
                   help="metres of room around the two heads in the picture's width")
    p.add_argument("--listener-reaction", action="store_true",
                   help="instead of the default frames, a strip of the listener's clearest nod "
                        "while the other speaks (scripts/conversation_moments.py)")
    p.add_argument("--contact-sheet", default=None, metavar="PATH",
                   help="also write the frames side by side into this PNG")
    p.add_argument("--no-captions", action="store_true", help="leave the speaker captions out")
    p.add_argument("--save-blend", default=None, metavar="PATH", help="save the scene to this .blend")
    args = p.parse_args(script_args(argv))
    if args.resolution[0] < 16 or args.resolution[1] < 16:
        p.error("--resolution must be at least 16x16")
    if args.steps < 1:
        p.error("--steps must be at least 1")
    if args.frames is not None and min(args.frames) < 0:
        p.error("--frames must not be negative")
    return args


# ---- scene -----------------------------------------------------------------------------
def empty_scene(fps: int = 25):
    import bpy
    import talking_together_addon as tt
    bpy.ops.wm.read_factory_settings(use_empty=True)
    if not hasattr(bpy.types.Scene, "talking_together"):
        tt.register()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    scene.frame_start, scene.frame_end = 1, 250
    return scene


def add_sound_strip(scene, path: str, frame_start: int = 1):
    from talking_together_addon import vse_compat
    ed = scene.sequence_editor or scene.sequence_editor_create()
    return vse_compat.top_strips(ed).new_sound(os.path.basename(path), path, 1, frame_start)


def generate(scene, rigs, strip, steps: int, seed: int, device: str):
    """api.generate's three steps (prepare, work, finish) run in line, so that the result,
    whose roles caption the frames, is at hand. Returns (result, bake report, timings)."""
    from talking_together_addon import api, audio_source
    t0 = time.perf_counter()
    plan = api.prepare(scene, rigs[0], rigs[1], audio_source.plan_from_value(scene, strip),
                       steps=steps, seed=seed, device=device)
    for w in plan.warnings:
        print(f"Talking Together: warning: {w}")
    t1 = time.perf_counter()
    result = plan.work(lambda fraction, message: None)
    t2 = time.perf_counter()
    report = api.finish(plan, result)
    t3 = time.perf_counter()
    return result, report, {"prepare_s": t1 - t0, "generate_s": t2 - t1, "bake_s": t3 - t2}


# ---- camera, look, render --------------------------------------------------------------
def head_poses(rigs):
    from talking_together_addon import api
    from talking_together_addon import rig_binding
    return [rig_binding.head_pose(b) for b in api.resolve_pair(*rigs)]


def place_camera(scene, rigs, lens: float, margin: float = 0.3):
    """A camera that sees both faces: in front of the pair when they face the same way
    (side by side, corner), from the side, slightly above, when they face each other;
    far enough back that both heads fit, with a margin."""
    import bpy
    import numpy as np
    from mathutils import Vector
    poses = head_poses(rigs)
    eyes = [np.asarray(p.eye_center, float) for p in poses]
    fwd = [np.asarray(p.forward, float) / np.linalg.norm(p.forward) for p in poses]
    mid = (eyes[0] + eyes[1]) / 2 - np.array([0.0, 0.0, 0.03])
    across = eyes[1] - eyes[0]
    across[2] = 0.0
    span = float(np.linalg.norm(across))
    side = np.array([across[1], -across[0], 0.0]) / max(span, 1e-6)    # horizontal, at right angles
    if side[1] > 0 or (abs(side[1]) < 1e-6 and side[0] < 0):
        side = -side                                                     # prefer Blender's front (-Y)
    facing = fwd[0] + fwd[1]
    facing[2] = 0.0
    if np.linalg.norm(facing) > 0.5:                                     # both face roughly one way
        view = facing / np.linalg.norm(facing)
    else:
        view = side
    cam_data = bpy.data.cameras.new("TT Render Camera")
    cam_data.lens = lens
    cam_data.sensor_fit = 'HORIZONTAL'
    cam_data.clip_start, cam_data.clip_end = 0.05, 100.0
    cam = bpy.data.objects.new("TT Render Camera", cam_data)
    scene.collection.objects.link(cam)
    # Both heads (about 0.2 m across each) in the picture's width, with a margin.
    width = span * abs(float(np.dot(across / max(span, 1e-6), np.cross(view, (0, 0, 1))))) + 0.2 + margin
    dist = width / 2 / (cam_data.sensor_width / 2 / lens)
    elevation = math.radians(10.0)
    offset = view * dist * math.cos(elevation) + np.array([0.0, 0.0, dist * math.sin(elevation)])
    cam.location = Vector(mid + offset)
    cam.rotation_euler = Vector(-offset).to_track_quat('-Z', 'Y').to_euler()
    scene.camera = cam
    return cam


def set_look(scene, resolution, captions: bool) -> None:
    import bpy
    r = scene.render
    r.engine = 'BLENDER_WORKBENCH'
    r.resolution_x, r.resolution_y = resolution
    r.resolution_percentage = 100
    r.film_transparent = False
    r.image_settings.file_format = 'PNG'
    r.image_settings.color_mode = 'RGB'
    r.image_settings.color_depth = '8'
    r.image_settings.compression = 90
    shading = scene.display.shading
    shading.light = 'STUDIO'
    shading.color_type = 'MATERIAL'
    shading.show_cavity = True
    shading.cavity_type = 'WORLD'
    shading.show_specular_highlight = True
    try:
        scene.view_settings.view_transform = 'Standard'
    except TypeError:
        pass
    world = scene.world or bpy.data.worlds.new("TT Background")
    world.color = BACKGROUND
    scene.world = world
    r.use_stamp = captions
    if captions:
        for attr in dir(r):
            if attr.startswith("use_stamp_") and attr not in ("use_stamp_note", "use_stamp_labels"):
                try:
                    setattr(r, attr, False)
                except (AttributeError, TypeError):
                    pass
        r.use_stamp_note = True
        r.use_stamp_labels = False
        r.stamp_font_size = max(10, round(resolution[1] / 22))
        r.stamp_foreground = (1.0, 1.0, 1.0, 1.0)
        r.stamp_background = (0.0, 0.0, 0.0, 0.55)


def mouth_pixels(scene, rigs) -> list[list[float]]:
    """Each rig's mouth in pixels (x right, y down from the top-left corner)."""
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector
    out = []
    for arm in rigs:
        pb = arm.pose.bones["head"]
        local = pb.matrix @ pb.bone.matrix_local.inverted() @ Vector(MOUTH_LOCAL)
        ndc = world_to_camera_view(scene, scene.camera, arm.matrix_world @ local)
        out.append([round(ndc.x * scene.render.resolution_x, 1),
                    round((1.0 - ndc.y) * scene.render.resolution_y, 1)])
    return out


def render_frames(scene, rigs, result, frames, out_dir: str, captions: bool) -> list[dict]:
    import bpy
    from model_runtime.channels import ROLE_NAMES
    os.makedirs(out_dir, exist_ok=True)
    scene_fps = scene.render.fps / scene.render.fps_base
    rows = []
    for f in frames:
        scene.frame_set(f)
        text = conversation_moments.caption(result, scene_fps, f)
        if captions:
            scene.render.stamp_note_text = text
        path = os.path.abspath(os.path.join(out_dir, f"frame_{f:04d}.png"))
        scene.render.filepath = path
        bpy.ops.render.render(write_still=True)
        if not os.path.isfile(path):
            raise RuntimeError(f"Blender did not write {path}")
        roles = conversation_moments.roles_at(result, scene_fps, f)
        rows.append({"frame": f, "path": path, "caption": text,
                     "roles": None if roles is None else [ROLE_NAMES[r] for r in roles],
                     "mouths_px": mouth_pixels(scene, rigs)})
        print(f"rendered {path}: {text}")
    return rows


def contact_sheet(scene, paths: list[str], out_path: str, columns: int = 3, gap: int = 6) -> str:
    """The frames in a grid (reading order), written with Blender's image API in the scene's
    output format (8-bit RGB PNG, strong compression; view transform Standard)."""
    import bpy
    import numpy as np
    tiles = []
    for p in paths:
        img = bpy.data.images.load(p, check_existing=False)
        w, h = img.size
        px = np.empty(w * h * 4, np.float32)
        img.pixels.foreach_get(px)
        tiles.append(px.reshape(h, w, 4)[::-1])              # Blender rows go bottom-up
        bpy.data.images.remove(img)
    h, w = tiles[0].shape[:2]
    columns = max(1, min(columns, len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    sheet = np.ones((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 4), np.float32)
    for k, t in enumerate(tiles):
        r, c = divmod(k, columns)
        th, tw = min(h, t.shape[0]), min(w, t.shape[1])
        sheet[r * (h + gap):r * (h + gap) + th, c * (w + gap):c * (w + gap) + tw] = t[:th, :tw]
    out_path = os.path.abspath(out_path)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    img = bpy.data.images.new("TT Contact Sheet", sheet.shape[1], sheet.shape[0], alpha=False)
    img.pixels.foreach_set(np.ascontiguousarray(sheet[::-1]).ravel())
    img.save_render(out_path, scene=scene)
    bpy.data.images.remove(img)
    return out_path


# ---- main ------------------------------------------------------------------------------
def run(args) -> dict:
    import bpy
    from talking_together_addon import api
    audio = os.path.abspath(args.audio)
    if not os.path.isfile(audio):
        raise FileNotFoundError(f"audio file not found: {audio}")
    scene = empty_scene(fps=25)
    strip = add_sound_strip(scene, audio, frame_start=1)
    rigs = api.add_head_rigs(scene, layout=args.layout)
    result, report, timings = generate(scene, rigs, strip, args.steps, args.seed, args.device)
    print(f"generated {result.num_frames} frames in {timings['generate_s']:.1f} s, baked "
          f"{report.keys_written} keys in {timings['bake_s']:.2f} s")
    scene_fps = scene.render.fps / scene.render.fps_base
    if args.frames:
        frames = args.frames
    elif args.listener_reaction:
        frames = conversation_moments.listener_reaction_frames(result, scene_fps)
    else:
        frames = conversation_moments.pick_frames(result, scene_fps)
    set_look(scene, args.resolution, not args.no_captions)
    place_camera(scene, rigs, args.lens, args.margin)
    rows = render_frames(scene, rigs, result, frames, args.out, not args.no_captions)
    info = {"audio": audio, "layout": args.layout, "steps": args.steps, "seed": args.seed,
            "fps": 25, "resolution": list(args.resolution), "timings": timings,
            "keys_written": report.keys_written, "frames": rows}
    if args.contact_sheet:
        info["contact_sheet"] = contact_sheet(scene, [r["path"] for r in rows], args.contact_sheet)
        print(f"contact sheet {info['contact_sheet']}")
    if args.save_blend:
        path = os.path.abspath(args.save_blend)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        bpy.ops.wm.save_as_mainfile(filepath=path, check_existing=False)
        info["blend"] = path
        print(f"saved {path}")
    with open(os.path.join(args.out, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    return info


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import bpy  # noqa: F401
    except ImportError:
        print("render_conversation: error: bpy is not importable; run with a Python that has the "
              "bpy module (.venv/bin/python) or inside Blender (blender -b --python ... -- ...)",
              file=sys.stderr)
        return 1
    try:
        run(args)
    except Exception as exc:                      # one clear line, exit code 1
        print(f"render_conversation: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if os.environ.get("TT_DEBUG"):
            raise
        return 1
    finally:
        _unregister()
    return 0


def _unregister() -> None:
    """Leave no add-on registered at exit: some Blender versions crash or hang on exit when
    operators are still registered, and the exit code must stay this script's own."""
    import bpy
    if hasattr(bpy.types.Scene, "talking_together"):
        import talking_together_addon as tt
        tt.unregister()


if __name__ == "__main__":
    sys.exit(main())
