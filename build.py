#!/usr/bin/env python3
"""Build the Talking Together extension zip(s) with Blender's own extension builder.

    python build.py                       # dist/talking_together-<version>.zip (no PyTorch inside;
                                          # users click "Install PyTorch" in the preferences)
    python build.py --offline             # also one zip per platform with PyTorch and its
                                          # dependencies as wheels (--split-platforms)
    python build.py --offline --platforms linux-x64 --validate

The extension's root is the add-on package: a clean tree is staged first (build/stage-*):

    __init__.py ...            talking_together_addon/* (its __init__.py is the extension's)
    model_runtime/             the runtime as a subpackage (no command line, data, caches, tests)
    presets/                   layouts, rig mappings, model configs
    blender_manifest.toml      this repo's manifest (+ platforms/wheels for offline builds)
    LICENSE
    wheels/*.whl               offline builds only

then ``blender_ext.py build --source-dir STAGE`` writes the zip(s). ``blender_ext.py`` ships with
Blender and with the ``bpy`` module (``bpy/<ver>/scripts/addons_core/bl_pkg/cli/blender_ext.py``);
it is found without importing bpy, or given with ``--blender-ext``.

Offline wheels are fetched with ``pip download --no-deps --only-binary=:all: --python-version
3.11 --platform ...`` into ``wheels/`` (git-ignored) and reused on later builds. Only what
Blender's Python lacks is bundled: numpy, requests, certifi, idna, urllib3, charset_normalizer,
zstandard and Cython ship with Blender and are never bundled (a second numpy would shadow
Blender's). A platform whose PyTorch wheel cannot be had is skipped and reported, not faked.

The steps live in build_support/ (staging, blender_ext.py, offline wheels); it is never packaged.
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from build_support.blender_ext import find_blender_ext, run_blender_ext
from build_support.offline_wheels import (DEFAULT_OFFLINE_PLATFORMS, PLATFORM_TAGS,
                                          add_wheels_to_manifest, pinned_requirements,
                                          select_wheels, wheel_platforms, wheels_per_platform)
from build_support.stage import MANIFEST, ROOT, check_zip, link_or_copy, stage_tree

# Re-exported: tests and scripts use build.<name>.
__all__ = ["find_blender_ext", "main", "pinned_requirements", "select_wheels", "stage_tree",
           "wheel_platforms"]


def log(msg: str) -> None:
    print(msg, flush=True)


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def manifest_data() -> dict:
    with open(MANIFEST, "rb") as f:
        return tomllib.load(f)


def build_online(blender_ext: Path, out_dir: Path, stage_root: Path) -> Path:
    stage = stage_root / "stage-online"
    stage_tree(stage)
    man = manifest_data()
    out_file = out_dir / f"{man['id']}-{man['version']}.zip"
    out_dir.mkdir(parents=True, exist_ok=True)
    run_blender_ext(blender_ext, "build", "--source-dir", str(stage),
                    "--output-filepath", str(out_file))
    return out_file


def _stage_offline(stage: Path, selected: dict[str, list[Path]]) -> None:
    """The online tree plus every selected wheel and the manifest keys that list them."""
    stage_tree(stage)
    all_wheels: list[Path] = sorted({w for ws in selected.values() for w in ws})
    for w in all_wheels:
        link_or_copy(w, stage / "wheels" / w.name)
    add_wheels_to_manifest(stage / "blender_manifest.toml", list(selected),
                           [w.name for w in all_wheels])


def build_offline(blender_ext: Path, out_dir: Path, stage_root: Path, wheels_dir: Path,
                  platforms: list[str], download: bool) -> tuple[dict[str, Path], dict[str, str]]:
    reqs = pinned_requirements()
    log("offline: bundling " + ", ".join(reqs))
    selected, skipped = wheels_per_platform(wheels_dir, platforms, reqs, download, log)
    if not selected:
        return {}, skipped
    stage = stage_root / "stage-offline"
    _stage_offline(stage, selected)
    man = manifest_data()
    out_dir.mkdir(parents=True, exist_ok=True)
    run_blender_ext(blender_ext, "build", "--source-dir", str(stage), "--output-dir",
                    str(out_dir), "--split-platforms")
    built = {}
    for platform in selected:
        f = out_dir / f"{man['id']}-{man['version']}-{platform.replace('-', '_')}.zip"
        if not f.is_file():
            raise SystemExit(f"error: expected {f} was not built")
        built[platform] = f
    return built, skipped


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default: dist/)")
    ap.add_argument("--offline", action="store_true",
                    help="also build one zip per platform with PyTorch etc. bundled as wheels")
    ap.add_argument("--platforms", default=",".join(DEFAULT_OFFLINE_PLATFORMS),
                    help="offline platforms, comma separated (default: %(default)s; "
                         f"known: {', '.join(PLATFORM_TAGS)})")
    ap.add_argument("--wheels-dir", default=str(ROOT / "wheels"),
                    help="where wheels are downloaded and reused (default: wheels/)")
    ap.add_argument("--no-download", action="store_true",
                    help="offline: use only wheels already in --wheels-dir")
    ap.add_argument("--validate", action="store_true",
                    help="run blender_ext.py validate on every zip built")
    ap.add_argument("--blender-ext", help="path to Blender's blender_ext.py")
    ap.add_argument("--stage-dir", default=str(ROOT / "build"),
                    help="where clean trees are staged (default: build/)")
    return ap


def _platforms(ap: argparse.ArgumentParser, value: str) -> list[str]:
    platforms = [p.strip() for p in value.split(",") if p.strip()]
    unknown = [p for p in platforms if p not in PLATFORM_TAGS]
    if unknown:
        ap.error(f"unknown platform(s) {unknown}; known: {', '.join(PLATFORM_TAGS)}")
    return platforms


def _print_results(results: list[tuple[str, Path]], skipped: dict[str, str],
                   validated: bool) -> None:
    log("")
    log("built:" + ("  (validated with blender_ext.py validate)" if validated else ""))
    for label, f in results:
        log(f"  {label:<38} {human_size(f.stat().st_size):>10}  {f}")
    for platform, why in skipped.items():
        log(f"  SKIPPED offline {platform}: {why}")


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    platforms = _platforms(ap, args.platforms)

    blender_ext = find_blender_ext(args.blender_ext)
    out_dir = Path(args.out).resolve()
    stage_root = Path(args.stage_dir).resolve()
    log(f"blender_ext: {blender_ext}")

    results: list[tuple[str, Path]] = []
    online = build_online(blender_ext, out_dir, stage_root)
    results.append(("online (all platforms, no PyTorch)", online))
    skipped: dict[str, str] = {}
    if args.offline:
        built, skipped = build_offline(blender_ext, out_dir, stage_root,
                                       Path(args.wheels_dir).resolve(), platforms,
                                       download=not args.no_download)
        results += [(f"offline {p}", f) for p, f in built.items()]

    for _, f in results:
        check_zip(f)
        if args.validate:
            run_blender_ext(blender_ext, "validate", str(f))

    _print_results(results, skipped, args.validate)
    return 1 if (args.offline and skipped and len(results) == 1) else 0


if __name__ == "__main__":
    sys.exit(main())
