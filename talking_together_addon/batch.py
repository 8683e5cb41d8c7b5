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
    steps, guidance, blinks_per_minute, device, checkpoint, swap, use_nla, conversation (bake name),
    mapping_a, mapping_b, frame_start (where per-person audio files start; default scene start)
    turns       who speaks when, corrected or from another tool: an RTTM, Audacity label track or
                CSV file (instead of the runtime's own analysis of the audio)
    output      where to save (default: <blend stem>_talking.blend beside the blend, or
                <name>_talking.blend beside the shot list for new scenes); --overwrite saves
                over the opened .blend instead

Relative paths are relative to the shot list's folder (command-line shots: the working directory).
Each shot is run in its own try/except: a failed shot is logged with its error and the others
still run. Exit code: 0 all shots ok, 1 any shot failed, 2 bad arguments or shot list.

This file is the command line; the work is in batch_shots.py (shot lists), batch_scene.py (a
shot's scene), batch_run.py (running and logging shots) and batch_keys.py (reading keys back).
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from pathlib import Path

# Run as a plain script this copy has no package: it only bootstraps the package and hands
# over to the package's own copy (end of file), so these imports run there.
if __package__:
    from .batch_keys import count_keys, keyframe_arrays, rig_actions  # noqa: F401 (public API)
    from .batch_run import Progress, ShotResult, error_text, run_shot, run_shots, save_blend, summary  # noqa: F401
    from .batch_scene import check_distinct_outputs
    from .batch_shots import Shot, ShotListError, load_shots, make_shots  # noqa: F401
    from .runtime import runtime_api

EXIT_OK, EXIT_SHOT_FAILED, EXIT_USAGE = 0, 1, 2


# ---------------------------------------------------------------------------- the add-on
# Loading lives here, not in a sibling module: a plain script cannot import its package yet.

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


def load_addon():
    """The add-on package this module belongs to, imported and registered."""
    pkg_name = __package__ or _bootstrap_package_name()
    _enable_extension(pkg_name)
    pkg = importlib.import_module(pkg_name)
    importlib.import_module(pkg_name + ".api").ensure_registered()   # a source checkout is not enabled
    return pkg


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
    _add_single_shot_arguments(ap.add_argument_group("one shot from the command line (no shot list)"))
    return ap


def _add_single_shot_arguments(single) -> None:
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
    single.add_argument("--blinks-per-minute", type=float)
    single.add_argument("--checkpoint")
    single.add_argument("--turns", help="who speaks when: an RTTM, Audacity label or CSV file")
    single.add_argument("--output")


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
    for key in ("layout", "seed", "steps", "guidance", "blinks_per_minute", "checkpoint", "turns", "output"):
        if getattr(args, key) is not None:
            fields[key] = getattr(args, key)
    if args.stereo:
        fields["stereo"] = True
    return make_shots([fields], {}, Path.cwd())


def _chosen_shots(ap: argparse.ArgumentParser, args) -> list[Shot]:
    """The shots to run: the list (or the one command-line shot), narrowed by --only; refused
    when two would save to the same file (checked on the whole list, so farm tasks that each
    run one shot with --only cannot overwrite each other's output either)."""
    if args.shots:
        shots = load_shots(args.shots)
    elif args.audio or args.blend:
        shots = _single_shot(args)
    else:
        ap.print_usage(sys.stderr)
        raise ShotListError("give a shot list, or --audio for one shot")
    chosen = shots
    if args.only:
        missing = [n for n in args.only if n not in {s.name for s in shots}]
        if missing:
            raise ShotListError(f"--only: no shot named {missing}; shots: "
                                f"{', '.join(s.name for s in shots)}")
        chosen = [s for s in shots if s.name in args.only]
    if not args.no_save:
        check_distinct_outputs(shots, args.overwrite, args.out_dir, chosen)
    for option, value in (("--report", args.report), ("--dump-keys", args.dump_keys)):
        if value and (Path(value).is_dir() or Path(value).parent.exists() and not Path(value).parent.is_dir()):
            raise ShotListError(f"{option} {value}: not a file that can be written")
    return chosen


def _load_addon_for_batch(verbose: bool):
    """The add-on package, or None (reported) when it cannot load: every shot would fail."""
    try:
        return load_addon()
    except Exception as exc:   # noqa: BLE001
        print(f"error: cannot load the Talking Together add-on: {error_text(exc)}", file=sys.stderr)
        if verbose:
            traceback.print_exc()
        return None


def _write_json(path: str, data) -> None:
    """Written atomically; OutputError (one line, naming the path) when it cannot be."""
    text = json.dumps(data, indent=2 if isinstance(data, list) else None).encode("utf-8")
    runtime_api.write_atomically(Path(path), lambda f: f.write(text))


def _write_outputs(args, results: list[ShotResult]) -> bool:
    """--dump-keys (the last shot, when it succeeded), the summary, --report; False (reported)
    when one of the files cannot be written."""
    import bpy
    ok = True
    if args.dump_keys and results and results[-1].ok:
        rigs = [bpy.data.objects[n] for n in results[-1].rig_names]
        ok &= _try_write(args.dump_keys, keyframe_arrays(rigs))
    print(summary(results), flush=True)
    if args.report:
        ok &= _try_write(args.report, [r.__dict__ for r in results])
    return ok


def _try_write(path: str, data) -> bool:
    try:
        _write_json(path, data)
        return True
    except Exception as exc:   # noqa: BLE001 - OutputError, or an unexpected error: one line
        known = isinstance(exc, runtime_api.OutputError)
        print(f"error: {exc if known else error_text(exc)}", file=sys.stderr)
        return False


def main(argv=None) -> int:
    ap = build_parser()
    try:
        args = ap.parse_args(_argv(argv))
    except SystemExit as exc:   # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        shots = _chosen_shots(ap, args)
    except ShotListError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    import bpy
    pkg = _load_addon_for_batch(args.verbose)
    if pkg is None:
        return EXIT_SHOT_FAILED
    print(f"Talking Together batch: {len(shots)} shot(s), Blender {bpy.app.version_string}, "
          f"add-on {pkg.__name__} {_addon_version(pkg)} ({Path(pkg.__file__).parent})", flush=True)
    try:
        results = run_shots(shots, overwrite=args.overwrite, out_dir=args.out_dir, device=args.device,
                            save=not args.no_save, progress=not args.no_progress,
                            verbose=args.verbose)
        written = _write_outputs(args, results)
    finally:
        # Blender 4.2-4.5 can crash or hang at exit while the add-on's classes are registered.
        importlib.import_module(pkg.__name__ + ".api").unregister()
    return EXIT_SHOT_FAILED if not written or any(not r.ok for r in results) else EXIT_OK


if __name__ == "__main__":
    if not __package__:   # blender --python .../batch.py: load this file as part of its package
        _name = _bootstrap_package_name()
        _enable_extension(_name)
        _batch = importlib.import_module(_name + ".batch")
        _code = _batch.main()
    else:                 # python -m talking_together_addon.batch
        _code = main()
    sys.exit(_code)
