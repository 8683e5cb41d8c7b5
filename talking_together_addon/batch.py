"""Batch generation for studios and farms: many shots, headless, deterministic, farm exit codes.

Three ways to run it (see docs/FARM.md)::

    # the bpy module, from a source checkout (repo root as the working directory)
    python -m talking_together_addon.batch shots.json

    # Blender, a shot list (this file from the checkout or from the installed extension)
    blender -b --factory-startup --python-exit-code 1 \\
        --python talking_together_addon/batch.py -- shots.json

    # Blender, one shot per process (farm): the .blend opened by Blender is the shot
    blender -b --factory-startup shot_010.blend --python-exit-code 1 \\
        --python talking_together_addon/batch.py -- --audio dialogue.wav --seed 7

A shot list is JSON (a list of shots, or ``{"defaults": {...}, "shots": [...]}``) or CSV (one
shot per row, a header row naming the fields). Fields, all optional but ``audio``:

    name        shot name for logs (default: the blend file's stem, or shot_NNN)
    blend       a .blend path, "new" (an empty scene; the default) or "current" (what is open)
    audio       an audio file, a sound strip's name, or two of them (one per person; CSV: a|b)
    stereo      true: the audio is one stereo file/strip, person A left, person B right
    rigs        two object names (CSV: A|B), or "add" to build the default head rigs
                (default: "add" for new scenes, else the rigs set in the scene's panel)
    layout      a layout preset (presets/layouts.json); default: face_to_face for added rigs,
                otherwise the rigs stay where they are
    seed        integer (default 0): same shot + same seed -> same keyframes
    steps, guidance, device, checkpoint, swap, use_nla, conversation (bake name),
    mapping_a, mapping_b, frame_start (where per-person audio files start; default scene start)
    output      where to save (default: <blend stem>_talking.blend beside the blend, or
                <name>_talking.blend beside the shot list for new scenes); --overwrite saves
                over the opened .blend instead

Relative paths are relative to the shot list's folder (command-line shots: the working directory).
Each shot is run in its own try/except: a failed shot is logged with its error and the others
still run. Exit code: 0 all shots ok, 1 any shot failed, 2 bad arguments or shot list.
"""
from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import random
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

EXIT_OK, EXIT_SHOT_FAILED, EXIT_USAGE = 0, 1, 2
LIST_FIELDS = {"audio", "rigs"}
BOOL_FIELDS = {"stereo", "swap", "use_nla"}
INT_FIELDS = {"seed", "steps"}
FLOAT_FIELDS = {"guidance", "frame_start"}
KNOWN_FIELDS = {"name", "blend", "audio", "stereo", "rigs", "layout", "seed", "steps", "guidance",
                "device", "checkpoint", "swap", "use_nla", "conversation", "mapping_a",
                "mapping_b", "frame_start", "output"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".m4a", ".opus", ".wv"}


class ShotListError(ValueError):
    """A malformed shot list or command line (exit code 2)."""


# ---------------------------------------------------------------------------- shot lists

@dataclass
class Shot:
    name: str
    fields: dict
    base_dir: Path
    index: int = 0

    def get(self, key, default=None):
        value = self.fields.get(key)
        return default if value in (None, "") else value

    def path(self, value) -> str:
        p = Path(os.path.expanduser(str(value)))
        return str(p if p.is_absolute() else (self.base_dir / p))


def _coerce(key: str, value):
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
    if value is None:
        return None
    if key in LIST_FIELDS and isinstance(value, str):
        parts = [v.strip() for v in value.split("|")] if "|" in value else [value]
        return parts if len(parts) > 1 else parts[0]
    if key in BOOL_FIELDS and isinstance(value, str):
        low = value.lower()
        if low in {"1", "true", "yes", "y", "on"}:
            return True
        if low in {"0", "false", "no", "n", "off"}:
            return False
        raise ShotListError(f"field {key!r}: expected true/false, got {value!r}")
    try:
        if key in INT_FIELDS:
            return int(value)
        if key in FLOAT_FIELDS:
            return float(value)
    except (TypeError, ValueError):
        raise ShotListError(f"field {key!r}: expected a number, got {value!r}") from None
    return value


def _make_shots(rows: list, defaults: dict, base_dir: Path) -> list[Shot]:
    shots: list[Shot] = []
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise ShotListError(f"shot {i}: expected an object with fields, got {type(row).__name__}")
        merged = {**defaults, **{k: v for k, v in row.items() if v not in (None, "")}}
        unknown = sorted(set(merged) - KNOWN_FIELDS)
        if unknown:
            raise ShotListError(f"shot {i}: unknown field(s) {unknown}; known: {sorted(KNOWN_FIELDS)}")
        fields = {k: _coerce(k, v) for k, v in merged.items()}
        blend = fields.get("blend") or "new"
        name = fields.get("name") or (Path(str(blend)).stem if blend not in ("new", "current")
                                      else f"shot_{i:03d}")
        shots.append(Shot(str(name), fields, base_dir, i))
    names = [s.name for s in shots]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ShotListError(f"duplicate shot names {dupes}: give each shot a distinct \"name\"")
    return shots


def load_shots(path: str | os.PathLike) -> list[Shot]:
    """Shots from a JSON or CSV file (ShotListError when it cannot be used)."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ShotListError(f"shot list not found: {path}")
    base_dir = path.parent
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ShotListError(f"cannot read shot list {path}: {exc}") from None
    if path.suffix.lower() == ".csv":
        rows = [{(k or "").strip(): v for k, v in row.items() if k}
                for row in csv.DictReader(line for line in text.splitlines()
                                          if line.strip() and not line.lstrip().startswith("#"))]
        defaults = {}
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ShotListError(f"shot list {path} is not valid JSON: {exc}") from None
        if isinstance(data, dict):
            defaults, rows = data.get("defaults", {}), data.get("shots")
            if not isinstance(rows, list):
                raise ShotListError(f"shot list {path}: expected a \"shots\" list")
        elif isinstance(data, list):
            defaults, rows = {}, data
        else:
            raise ShotListError(f"shot list {path}: expected a list of shots")
    if not rows:
        raise ShotListError(f"shot list {path} has no shots")
    return _make_shots(rows, defaults, base_dir)


# ---------------------------------------------------------------------------- the add-on

def _addon_package():
    """The add-on package this module belongs to, imported and registered."""
    import bpy
    pkg_name = __package__ or _bootstrap_package_name()
    _enable_extension(pkg_name)
    pkg = importlib.import_module(pkg_name)
    if not hasattr(bpy.types.Scene, "talking_together"):
        pkg.register()   # a plain package (source checkout): register it directly
    return pkg


def _enable_extension(pkg_name: str) -> None:
    """Enable an installed extension (``bl_ext.*``) the way Blender does, before anything
    imports it (``--factory-startup`` starts with no add-on enabled)."""
    import bpy
    if pkg_name.startswith("bl_ext.") and pkg_name not in bpy.context.preferences.addons:
        import addon_utils
        addon_utils.enable(pkg_name, default_set=True)


def _bootstrap_package_name() -> str:
    """Run as a plain script (``blender --python .../batch.py``): make the package importable.

    * installed extension (a blender_manifest.toml beside this file): ``bl_ext.<repo>.<id>``
    * source checkout: put the repository root on sys.path, import ``talking_together_addon``
    """
    here = Path(__file__).resolve().parent
    if (here / "blender_manifest.toml").is_file():
        import bpy
        for repo in bpy.context.preferences.extensions.repos:
            if repo.directory and Path(repo.directory).resolve() == here.parent:
                return f"bl_ext.{repo.module}.{here.name}"
        raise RuntimeError(f"{here} looks like an installed extension but is in no extension "
                           "repository Blender knows; run it from Blender after installing it")
    root = str(here.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    return here.name


def _addon_version(pkg) -> str:
    import tomllib
    manifest = Path(pkg.__file__).parent / "blender_manifest.toml"
    if not manifest.is_file():
        manifest = Path(pkg.__file__).parent.parent / "blender_manifest.toml"   # checkout
    try:
        with open(manifest, "rb") as f:
            return str(tomllib.load(f).get("version", "?"))
    except (OSError, ValueError):
        return "?"


def _api():
    pkg = _addon_package()
    return importlib.import_module(pkg.__name__ + ".api")


# ---------------------------------------------------------------------------- keys

def _action_fcurves(action) -> list:
    """All F-curves of an action: slotted (layers/strips/channelbags, 4.4+) and legacy."""
    curves = []
    for layer in getattr(action, "layers", ()):
        for strip in layer.strips:
            for bag in getattr(strip, "channelbags", ()):
                curves.extend(bag.fcurves)
    if not curves and hasattr(action, "fcurves"):
        try:
            curves.extend(action.fcurves)
        except (AttributeError, RuntimeError):
            pass
    return curves


def _ids_of_rig(obj) -> list:
    """A rig's animated ID blocks: the object, its armature child meshes and their shape keys."""
    ids, seen = [], set()

    def add(idb):
        if idb is not None and idb.as_pointer() not in seen:
            seen.add(idb.as_pointer())
            ids.append(idb)

    add(obj)
    for o in [obj, *obj.children_recursive]:
        add(o)
        data = getattr(o, "data", None)
        if data is not None and getattr(data, "shape_keys", None) is not None:
            add(data.shape_keys)
    return ids


def rig_actions(obj) -> list:
    """The actions (active and NLA) animating a rig."""
    actions = []
    for idb in _ids_of_rig(obj):
        ad = getattr(idb, "animation_data", None)
        if ad is None:
            continue
        if ad.action is not None:
            actions.append(ad.action)
        for track in ad.nla_tracks:
            for strip in track.strips:
                if strip.action is not None:
                    actions.append(strip.action)
    unique = {a.as_pointer(): a for a in actions}
    return list(unique.values())


def keyframe_arrays(objects) -> dict:
    """{"<action>|<data_path>[index]": flat list of (frame, value) for every key}, for
    comparing bakes (determinism) and counting keys."""
    import numpy as np
    out = {}
    for obj in objects:
        for action in rig_actions(obj):
            for fc in _action_fcurves(action):
                co = np.empty(len(fc.keyframe_points) * 2, dtype=np.float32)
                fc.keyframe_points.foreach_get("co", co)
                out[f"{action.name}|{fc.data_path}[{fc.array_index}]"] = co.tolist()
    return out


def count_keys(objects) -> int:
    return sum(len(fc.keyframe_points) for obj in objects for action in rig_actions(obj)
               for fc in _action_fcurves(action))


# ---------------------------------------------------------------------------- running a shot

@dataclass
class ShotResult:
    name: str
    ok: bool
    seconds: float
    output: str | None = None
    rigs: int = 0
    keys: int = 0
    rig_names: tuple = ()
    error: str | None = None
    warnings: list = field(default_factory=list)


class Progress:
    """A text progress bar on stdout: redrawn in place on a terminal, a line per 10% in logs."""

    def __init__(self, stream=None, width: int = 24):
        self.stream = stream or sys.stdout   # one stream: farm logs keep the order
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_bucket = -1

    def __call__(self, fraction: float, message: str = "") -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        filled = int(round(fraction * self.width))
        line = f"    [{'#' * filled}{'-' * (self.width - filled)}] {fraction * 100:3.0f}% {message}"
        if self.tty:
            self.stream.write("\r" + line[:100].ljust(100))
            if fraction >= 1.0:
                self.stream.write("\n")
        else:
            bucket = int(fraction * 10)
            if bucket == self.last_bucket:
                return
            self.last_bucket = bucket
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.last_bucket != 10:
            self.stream.write("\n")
            self.stream.flush()


def _seed_everything(seed: int) -> None:
    """Belt and braces: the runtime seeds its own sampler; global RNGs are seeded too so any
    stray randomness is reproducible as well."""
    random.seed(seed)
    try:
        import numpy as np
        np.random.seed(seed % (2 ** 32))
    except ImportError:
        pass
    if "torch" in sys.modules or _torch_importable():
        import torch
        torch.manual_seed(seed)


def _torch_importable() -> bool:
    import importlib.util
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def _open_blend(shot: Shot) -> str | None:
    """Open the shot's scene; returns the .blend path (None for a new scene)."""
    import bpy
    blend = shot.get("blend", "new")
    if blend == "current":
        return bpy.data.filepath or None
    if blend == "new":
        bpy.ops.wm.read_homefile(use_empty=True)
        return None
    path = shot.path(blend)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"blend file not found: {path}")
    bpy.ops.wm.open_mainfile(filepath=path, load_ui=False)
    return path


def _looks_like_file(value: str) -> bool:
    return os.path.splitext(value)[1].lower() in AUDIO_SUFFIXES or os.sep in value or "/" in value


def _new_sound_strip(scene, name: str, path: str, channel: int, frame_start: int):
    ed = scene.sequence_editor or scene.sequence_editor_create()
    strips = getattr(ed, "strips", None)   # 5.0: strips; 4.2-4.4: sequences
    if strips is None:
        strips = ed.sequences
    return strips.new_sound(name, path, channel, frame_start)


def _audio_argument(shot: Shot, scene, errors):
    """The api.generate ``audio`` argument: a file path, a strip name, or a pair of strips.
    Per-person audio files become sound strips (channels 1 and 2) so the pair can be passed
    on and the saved .blend plays the dialogue."""
    from .properties import sound_strips
    audio = shot.get("audio")
    if audio is None:
        return None   # the scene panel's audio choice
    strip_names = {s.name for s in sound_strips(scene)}
    items = audio if isinstance(audio, list) else [audio]
    if len(items) not in (1, 2):
        raise errors.AudioError(f"audio: give one file/strip or two (one per person), got {len(items)}")
    resolved = []
    for item in items:
        item = str(item)
        if item in strip_names:
            resolved.append(("strip", item))
            continue
        path = shot.path(item)
        if not _looks_like_file(item) and not os.path.exists(path):
            raise errors.AudioError(f"audio {item!r} is neither a sound strip in the scene nor a file")
        if not os.path.isfile(path):
            raise errors.AudioError(f"audio file not found: {path}")
        resolved.append(("file", path))
    if len(resolved) == 1:
        return resolved[0][1]
    start = int(shot.get("frame_start", scene.frame_start))
    pair = []
    for (kind, value), who, channel in zip(resolved, "AB", (1, 2)):
        if kind == "file":
            strip = _new_sound_strip(scene, f"{shot.name} {who}", value, channel, start)
            pair.append(strip.name)
        else:
            pair.append(value)
    return tuple(pair)


def _rigs(shot: Shot, scene, api, is_new: bool):
    """(rig_a, rig_b, layout_for_generate)."""
    import bpy
    rigs = shot.get("rigs", "add" if is_new else None)
    layout = shot.get("layout")
    if isinstance(rigs, str) and rigs.lower() in {"add", "default", "add default rigs"}:
        rig_a, rig_b = api.add_head_rigs(scene, layout=layout or "face_to_face")
        return rig_a, rig_b, None   # already placed
    if rigs is None:
        s = scene.talking_together
        if s.rig_a is None or s.rig_b is None:
            raise ValueError("no rigs: the scene's Talking Together panel has none set; give "
                             "\"rigs\": [\"A\", \"B\"] (object names) or \"rigs\": \"add\"")
        return s.rig_a, s.rig_b, layout
    if not isinstance(rigs, list) or len(rigs) != 2:
        raise ValueError(f"rigs: give two object names or \"add\", got {rigs!r}")
    found = []
    for name in rigs:
        obj = bpy.data.objects.get(name)
        if obj is None:
            raise ValueError(f"rig object {name!r} not found in the scene's file")
        found.append(obj)
    return found[0], found[1], layout


def _output_path(shot: Shot, blend_path: str | None, overwrite: bool, out_dir: str | None) -> str:
    if shot.get("output"):
        return shot.path(shot.get("output"))
    if overwrite and blend_path:
        return blend_path
    stem = Path(blend_path).stem if blend_path else shot.name
    folder = Path(out_dir) if out_dir else (Path(blend_path).parent if blend_path else shot.base_dir)
    return str(folder / f"{stem}_talking.blend")


def _report_keys(report, rigs) -> int:
    for attr in ("keys", "n_keys", "num_keys", "keyframes", "key_count"):
        value = getattr(report, attr, None)
        if isinstance(value, int):
            return value
    return count_keys(rigs)


def run_shot(shot: Shot, *, overwrite=False, out_dir=None, device=None, save=True,
             progress=True) -> ShotResult:
    """Open, generate + bake, save one shot. Raises on failure (run_shots catches)."""
    import bpy
    t0 = time.perf_counter()
    api = _api()
    errors = importlib.import_module(api.__package__ + ".runtime").errors
    blend_path = _open_blend(shot)
    scene = bpy.context.scene
    audio = _audio_argument(shot, scene, errors)   # first: a missing file fails fast
    rig_a, rig_b, layout = _rigs(shot, scene, api, is_new=blend_path is None
                                 and shot.get("blend", "new") == "new")
    seed = int(shot.get("seed", 0))
    _seed_everything(seed)
    bar = Progress() if progress else None
    kwargs = dict(stereo=bool(shot.get("stereo", False)), layout=layout, seed=seed,
                  device=device or shot.get("device", "auto"))
    for key, arg in (("steps", "steps"), ("guidance", "guidance"), ("checkpoint", "checkpoint"),
                     ("swap", "swap"), ("use_nla", "use_nla"), ("conversation", "name"),
                     ("mapping_a", "mapping_a"), ("mapping_b", "mapping_b")):
        if shot.get(key) is not None:
            kwargs[arg] = shot.path(shot.get(key)) if key == "checkpoint" else shot.get(key)
    try:
        report = api.generate(scene, rig_a, rig_b, audio, progress=bar, **kwargs)
    finally:
        if bar:
            bar.close()
    rigs = [rig_a, rig_b]
    keys = _report_keys(report, rigs)
    output = None
    if save:
        output = _output_path(shot, blend_path, overwrite, out_dir)
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        bpy.ops.wm.save_as_mainfile(filepath=output, check_existing=False)
    return ShotResult(shot.name, True, time.perf_counter() - t0, output, len(rigs), keys,
                      rig_names=(rig_a.name, rig_b.name), warnings=list(getattr(report, "warnings", []) or []))


def _error_text(exc: BaseException) -> str:
    msg = str(exc).strip() or repr(exc)
    return f"{type(exc).__name__}: {msg}"


def run_shots(shots: list[Shot], *, overwrite=False, out_dir=None, device=None, save=True,
              progress=True, out=None, verbose=False) -> list[ShotResult]:
    """Run every shot; one failure never stops the others."""
    out = out or sys.stdout
    results = []
    n = len(shots)
    for i, shot in enumerate(shots, 1):
        t0 = time.perf_counter()
        print(f"[{i}/{n}] {shot.name} ...", file=out, flush=True)
        try:
            r = run_shot(shot, overwrite=overwrite, out_dir=out_dir, device=device, save=save,
                         progress=progress)
            line = f"[{i}/{n}] {shot.name} ok {r.seconds:.1f} s, {r.rigs} rigs, {r.keys} keys"
            if r.output:
                line += f" -> {r.output}"
            print(line, file=out, flush=True)
            for w in r.warnings:
                print(f"    warning: {w}", file=out, flush=True)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:   # noqa: BLE001 - SystemExit from a script must not end the batch
            r = ShotResult(shot.name, False, time.perf_counter() - t0, error=_error_text(exc))
            print(f"[{i}/{n}] {shot.name} FAILED {r.seconds:.1f} s: {r.error}", file=out, flush=True)
            if verbose:
                traceback.print_exc(file=out)
        results.append(r)
    return results


def summary(results: list[ShotResult]) -> str:
    ok = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    total = sum(r.seconds for r in results)
    text = (f"summary: {len(ok)} ok, {len(failed)} failed, {sum(r.keys for r in ok)} keys, "
            f"{total:.1f} s")
    if failed:
        text += "\nfailed shots:\n" + "\n".join(f"  {r.name}: {r.error}" for r in failed)
    return text


# ---------------------------------------------------------------------------- command line

def _argv(argv=None) -> list[str]:
    if argv is not None:
        return list(argv)
    args = sys.argv
    return args[args.index("--") + 1:] if "--" in args else args[1:]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="talking_together batch",
        description="Generate and bake Talking Together conversations for many shots.",
        epilog="Exit code: 0 all ok, 1 a shot failed, 2 bad arguments or shot list.")
    ap.add_argument("shots", nargs="?", help="shot list (.json or .csv); without it, one shot "
                    "is built from the options below (--blend, --audio, ...)")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only the named shot(s) of the list (repeatable; farm: one per task)")
    ap.add_argument("--overwrite", action="store_true",
                    help="save over the opened .blend instead of <shot>_talking.blend")
    ap.add_argument("--out-dir", help="folder for default outputs (default: beside each blend)")
    ap.add_argument("--device", help="override the compute device: auto, cpu, cuda, mps")
    ap.add_argument("--no-save", action="store_true", help="bake but do not save (dry run)")
    ap.add_argument("--report", help="write a JSON report of all shots here")
    ap.add_argument("--dump-keys", help="write every baked F-curve's keys (JSON) here; for one "
                    "shot (use with --only) - determinism checks")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("--verbose", action="store_true", help="print tracebacks of failed shots")
    single = ap.add_argument_group("one shot from the command line (no shot list)")
    single.add_argument("--name")
    single.add_argument("--blend", help='a .blend, "new", or "current" (default: the file '
                        'Blender opened, else "new")')
    single.add_argument("--audio", action="append", help="audio file or strip (twice: A then B)")
    single.add_argument("--stereo", action="store_true")
    single.add_argument("--rigs", nargs="+", help='two object names, or "add"')
    single.add_argument("--layout")
    single.add_argument("--seed", type=int)
    single.add_argument("--steps", type=int)
    single.add_argument("--guidance", type=float)
    single.add_argument("--checkpoint")
    single.add_argument("--output")
    return ap


def _single_shot(args) -> list[Shot]:
    import bpy
    blend = args.blend or ("current" if bpy.data.filepath else "new")
    fields = {"blend": blend}
    if args.name:
        fields["name"] = args.name
    elif blend == "current":
        fields["name"] = Path(bpy.data.filepath).stem
    if args.audio:
        fields["audio"] = args.audio if len(args.audio) > 1 else args.audio[0]
    if args.rigs:
        fields["rigs"] = args.rigs[0] if len(args.rigs) == 1 else args.rigs
    for key in ("layout", "seed", "steps", "guidance", "checkpoint", "output"):
        if getattr(args, key) is not None:
            fields[key] = getattr(args, key)
    if args.stereo:
        fields["stereo"] = True
    return _make_shots([fields], {}, Path.cwd())


def main(argv=None) -> int:
    ap = build_parser()
    try:
        args = ap.parse_args(_argv(argv))
    except SystemExit as exc:   # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        if args.shots:
            shots = load_shots(args.shots)
        elif args.audio or args.blend:
            shots = _single_shot(args)
        else:
            ap.print_usage(sys.stderr)
            print("error: give a shot list, or --audio for one shot", file=sys.stderr)
            return EXIT_USAGE
        if args.only:
            missing = [n for n in args.only if n not in {s.name for s in shots}]
            if missing:
                raise ShotListError(f"--only: no shot named {missing}; shots: "
                                    f"{', '.join(s.name for s in shots)}")
            shots = [s for s in shots if s.name in args.only]
    except ShotListError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    import bpy
    try:
        pkg = _addon_package()
    except Exception as exc:   # noqa: BLE001 - the add-on itself cannot load: every shot would fail
        print(f"error: cannot load the Talking Together add-on: {_error_text(exc)}", file=sys.stderr)
        if args.verbose:
            traceback.print_exc()
        return EXIT_SHOT_FAILED
    print(f"Talking Together batch: {len(shots)} shot(s), Blender {bpy.app.version_string}, "
          f"add-on {pkg.__name__} {_addon_version(pkg)} ({Path(pkg.__file__).parent})", flush=True)
    results = run_shots(shots, overwrite=args.overwrite, out_dir=args.out_dir, device=args.device,
                        save=not args.no_save, progress=not args.no_progress,
                        verbose=args.verbose)
    if args.dump_keys and results and results[-1].ok:
        rigs = [bpy.data.objects[n] for n in results[-1].rig_names]
        Path(args.dump_keys).write_text(json.dumps(keyframe_arrays(rigs)))
    print(summary(results), flush=True)
    if args.report:
        Path(args.report).write_text(json.dumps([r.__dict__ for r in results], indent=2))
    return EXIT_SHOT_FAILED if any(not r.ok for r in results) else EXIT_OK


if __name__ == "__main__":
    if not __package__:   # blender --python .../batch.py: load this file as part of its package
        _name = _bootstrap_package_name()
        _enable_extension(_name)
        _batch = importlib.import_module(_name + ".batch")
        _code = _batch.main()
    else:                 # python -m talking_together_addon.batch
        _code = main()
    sys.exit(_code)
