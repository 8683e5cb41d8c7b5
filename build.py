#!/usr/bin/env python3
"""Build the Talking Together extension zip(s) with Blender's own extension builder.

    python build.py                       # dist/talking_together-<version>.zip (no PyTorch inside;
                                          # users click "Install PyTorch" in the preferences)
    python build.py --offline             # also one zip per platform with PyTorch and its
                                          # dependencies as wheels (--split-platforms)
    python build.py --offline --platforms linux-x64 --validate

The extension's root is the add-on package: a clean tree is staged first (build/stage-*):

    __init__.py ...            talking_together_addon/* (its __init__.py is the extension's)
    model_runtime/             the runtime as a subpackage (no corpus data, caches, tests)
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
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ADDON_DIR = ROOT / "talking_together_addon"
RUNTIME_DIR = ROOT / "model_runtime"
PRESETS_DIR = ROOT / "presets"
MANIFEST = ROOT / "blender_manifest.toml"
LICENSE = ROOT / "LICENSE"

# Blender 4.2 .. 5.0 all embed CPython 3.11.
BLENDER_PYTHON = "3.11"

# Directory names never staged, at any depth.
EXCLUDED_DIRS = {"__pycache__", "tests", "test", ".pytest_cache", ".git", ".venv", "venv",
                 "corpus_data", "runs", "build", "dist", "wheels", "data", "out"}
# File suffixes never staged.
EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".zip", ".whl", ".wav", ".flac", ".mp3", ".npz", ".npy",
                     ".log", ".orig", ".rej", ".swp", ".tmp"}
# What may ship from model_runtime/ (code, small JSON configs, the default weights).
RUNTIME_SUFFIXES = {".py", ".json"}
WEIGHT_SUFFIXES = {".pt", ".pth", ".safetensors"}

# Python distributions the runtime needs that Blender's Python does not have. Versions are
# pinned to what is installed in the build environment (where the tests ran), falling back to
# these. setuptools (a torch requirement used only for C++ extension builds) is not bundled.
RUNTIME_DISTRIBUTIONS = {
    "torch": "2.13.0",
    "sympy": "1.14.0",
    "mpmath": "1.3.0",
    "networkx": "3.6.1",
    "jinja2": "3.1.6",
    "markupsafe": "3.0.4",
    "filelock": "4.2.12",
    "fsspec": "2026.9.0",
    "typing_extensions": "4.16.0",
    "soundfile": "0.14.0",
    "cffi": "2.1.1",
    "pycparser": "3.12",
}
BUNDLED_WITH_BLENDER = {"numpy", "requests", "certifi", "idna", "urllib3", "charset_normalizer",
                        "zstandard", "cython"}

# Blender platform -> pip --platform tags (most specific first).
PLATFORM_TAGS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                  "manylinux2014_x86_64"],
    "linux-arm64": ["manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"],
    "windows-x64": ["win_amd64"],
    "windows-arm64": ["win_arm64"],
    "macos-arm64": ["macosx_11_0_arm64", "macosx_12_0_arm64", "macosx_13_0_arm64",
                    "macosx_14_0_arm64", "macosx_15_0_arm64", "macosx_10_9_universal2"],
    "macos-x64": ["macosx_10_9_x86_64", "macosx_11_0_x86_64", "macosx_10_9_universal2"],
}
# linux-arm64 is opt-in: its PyTorch wheel alone is ~430 MB.
DEFAULT_OFFLINE_PLATFORMS = ["linux-x64", "windows-x64", "macos-arm64"]


# ----------------------------------------------------------------------------- helpers

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


def find_blender_ext(explicit: str | None = None) -> Path:
    """Blender's extension CLI, ``blender_ext.py``: --blender-ext, $TT_BLENDER_EXT, the
    installed ``bpy`` module (located without importing it), or a running Blender."""
    candidates: list[Path] = []
    for value in (explicit, os.environ.get("TT_BLENDER_EXT")):
        if value:
            p = Path(value).expanduser()
            if not p.is_file():
                raise SystemExit(f"error: blender_ext.py not found at {p}")
            return p
    rel = Path("scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py")
    spec = importlib.util.find_spec("bpy")
    if spec is not None:
        roots = list(spec.submodule_search_locations or [])
        if spec.origin:
            roots.append(str(Path(spec.origin).parent))
        for root in roots:
            root = Path(root)
            # bpy wheel: site-packages/bpy/<major.minor>/scripts/...
            candidates += sorted(root.glob(f"*/{rel.as_posix()}"), reverse=True)
            # bpy/__init__.py inside scripts/modules (a Blender install): climb to scripts/.
            for parent in root.parents:
                if parent.name == "scripts":
                    candidates.append(parent / rel.relative_to("scripts"))
                    break
    if "bpy" in sys.modules:  # running inside Blender
        import bpy  # noqa: F401
        candidates.append(Path(sys.modules["bpy"].utils.system_resource("SCRIPTS")) /
                          rel.relative_to("scripts"))
    for c in candidates:
        if c.is_file():
            return c
    raise SystemExit("error: cannot find Blender's blender_ext.py; install the bpy module "
                     "(pip install bpy) or pass --blender-ext PATH "
                     "(<blender>/<version>/scripts/addons_core/bl_pkg/cli/blender_ext.py)")


def run_blender_ext(blender_ext: Path, *args: str) -> str:
    cmd = [sys.executable, str(blender_ext), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise SystemExit(f"error: blender_ext {args[0]} failed (exit {proc.returncode}):\n{out}")
    return out


def _excluded(rel: Path) -> bool:
    parts = rel.parts
    if any(p in EXCLUDED_DIRS or p.startswith(".") for p in parts):
        return True
    return rel.suffix.lower() in EXCLUDED_SUFFIXES or rel.name.endswith("~") or \
        re.search(r"\.blend\d+$", rel.name) is not None


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def stage_tree(stage: Path) -> list[str]:
    """Stage the extension's files; returns the staged relative paths."""
    if not (ADDON_DIR / "__init__.py").is_file():
        raise SystemExit(f"error: {ADDON_DIR.relative_to(ROOT)}/__init__.py is missing")
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    staged: list[str] = []

    def add(src: Path, rel: Path) -> None:
        _link_or_copy(src, stage / rel)
        staged.append(rel.as_posix())

    # 1. The add-on package's files at the extension root.
    for src in sorted(ADDON_DIR.rglob("*")):
        rel = src.relative_to(ADDON_DIR)
        if src.is_file() and not _excluded(rel):
            add(src, rel)
    # 2. The runtime as a subpackage: code + JSON configs + weights/*, no data, caches, tests.
    for src in sorted(RUNTIME_DIR.rglob("*")):
        rel = src.relative_to(RUNTIME_DIR)
        if not src.is_file() or _excluded(rel):
            continue
        suffix = src.suffix.lower()
        if suffix in RUNTIME_SUFFIXES or (rel.parts[0] == "weights" and suffix in WEIGHT_SUFFIXES):
            add(src, Path("model_runtime") / rel)
    # 3. Presets beside model_runtime/ (the runtime looks for model_runtime/../presets).
    for src in sorted(PRESETS_DIR.rglob("*")):
        rel = src.relative_to(PRESETS_DIR)
        if src.is_file() and not _excluded(rel):
            add(src, Path("presets") / rel)
    # 4. Manifest and licence.
    add(MANIFEST, Path("blender_manifest.toml"))
    if LICENSE.is_file():
        add(LICENSE, Path("LICENSE"))
    return staged


# ----------------------------------------------------------------------------- wheels

def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def pinned_requirements() -> list[str]:
    reqs = []
    for dist, fallback in RUNTIME_DISTRIBUTIONS.items():
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = fallback
        reqs.append(f"{dist}=={version.split('+')[0]}")
    return reqs


def _tag_platforms(tag: str) -> set[str]:
    """Blender platforms one wheel platform tag serves (``manylinux_2_28_x86_64`` -> linux-x64)."""
    if tag.startswith(("manylinux", "musllinux", "linux")):
        system = "linux"
    elif tag.startswith("win"):
        system = "windows"
    elif tag.startswith("macosx"):
        system = "macos"
    else:
        return set()
    if tag.endswith(("x86_64", "amd64")):
        return {f"{system}-x64"}
    if tag.endswith(("aarch64", "arm64")):
        return {f"{system}-arm64"}
    if tag.endswith("universal2"):
        return {"macos-x64", "macos-arm64"}
    return set()


def wheel_platforms(filename: str) -> set[str] | None:
    """Blender platforms a wheel file serves; None for pure (any) wheels."""
    plat_tag = filename.removesuffix(".whl").split("-")[-1]
    if plat_tag == "any":
        return None
    out: set[str] = set()
    for tag in plat_tag.split("."):
        out |= _tag_platforms(tag)
    return out


def wheel_dist_version(filename: str) -> tuple[str, str]:
    parts = filename.split("-")
    return _norm(parts[0]), parts[1]


def download_wheels(wheels_dir: Path, platform: str, reqs: list[str]) -> tuple[bool, str]:
    """pip download the pinned requirements for one platform; (ok, pip output tail)."""
    wheels_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--python-version", BLENDER_PYTHON, "--implementation", "cp",
           "-d", str(wheels_dir)]
    for tag in PLATFORM_TAGS[platform]:
        cmd += ["--platform", tag]
    cmd += reqs
    proc = subprocess.run(cmd, capture_output=True, text=True)
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-4:])
    return proc.returncode == 0, tail


def select_wheels(wheels_dir: Path, platform: str, reqs: list[str]) -> tuple[list[Path], list[str]]:
    """Pick, for each requirement, the wheel in wheels_dir serving ``platform``: a platform
    wheel over a pure one; for torch on Linux, the CPU-only (+cpu) build. Returns (wheels, missing)."""
    chosen: list[Path] = []
    missing: list[str] = []
    files = sorted(wheels_dir.glob("*.whl")) if wheels_dir.is_dir() else []
    for req in reqs:
        name, version = req.split("==")
        candidates = []
        for f in files:
            dist, ver = wheel_dist_version(f.name)
            if dist != _norm(name) or ver.split("+")[0] != version:
                continue
            plats = wheel_platforms(f.name)
            if plats is None or platform in plats:
                # Rank: platform-specific > pure; +cpu torch first.
                rank = (0 if plats is not None else 1, 0 if "+cpu" in ver else 1, f.name)
                candidates.append((rank, f))
        if candidates:
            chosen.append(sorted(candidates)[0][1])
        else:
            missing.append(req)
    for f in chosen:
        dist, _ = wheel_dist_version(f.name)
        assert dist not in BUNDLED_WITH_BLENDER, f
    return chosen, missing


def add_wheels_to_manifest(manifest_path: Path, platforms: list[str], wheels: list[str]) -> None:
    """Insert top-level ``platforms`` and ``wheels`` keys before the first table header."""
    text = manifest_path.read_text(encoding="utf-8")
    block = ("# Added by build.py --offline.\n"
             f"platforms = [{', '.join(repr(p).replace(chr(39), chr(34)) for p in platforms)}]\n"
             "wheels = [\n" + "".join(f'  "./wheels/{w}",\n' for w in wheels) + "]\n\n")
    m = re.search(r"^\[", text, flags=re.M)
    pos = m.start() if m else len(text)
    manifest_path.unlink()  # staged as a hard link: never edit the repo's file through it
    manifest_path.write_text(text[:pos] + block + text[pos:], encoding="utf-8")


# ----------------------------------------------------------------------------- builds

def build_online(blender_ext: Path, out_dir: Path, stage_root: Path) -> Path:
    stage = stage_root / "stage-online"
    stage_tree(stage)
    man = manifest_data()
    out_file = out_dir / f"{man['id']}-{man['version']}.zip"
    out_dir.mkdir(parents=True, exist_ok=True)
    run_blender_ext(blender_ext, "build", "--source-dir", str(stage),
                    "--output-filepath", str(out_file))
    return out_file


def build_offline(blender_ext: Path, out_dir: Path, stage_root: Path, wheels_dir: Path,
                  platforms: list[str], download: bool) -> tuple[dict[str, Path], dict[str, str]]:
    reqs = pinned_requirements()
    log("offline: bundling " + ", ".join(reqs))
    selected: dict[str, list[Path]] = {}
    skipped: dict[str, str] = {}
    for platform in platforms:
        wheels, missing = select_wheels(wheels_dir, platform, reqs)
        if missing and download:
            log(f"offline: {platform}: downloading {', '.join(missing)}")
            ok, tail = download_wheels(wheels_dir, platform, missing)
            if not ok:
                log(f"offline: {platform}: pip download failed:\n    " + tail.replace("\n", "\n    "))
            wheels, missing = select_wheels(wheels_dir, platform, reqs)
        if missing:
            skipped[platform] = "no wheel for " + ", ".join(missing)
            continue
        selected[platform] = wheels
    if not selected:
        return {}, skipped

    stage = stage_root / "stage-offline"
    stage_tree(stage)
    all_wheels: list[Path] = sorted({w for ws in selected.values() for w in ws})
    for w in all_wheels:
        _link_or_copy(w, stage / "wheels" / w.name)
    add_wheels_to_manifest(stage / "blender_manifest.toml", list(selected),
                           [w.name for w in all_wheels])
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


def check_zip(path: Path) -> None:
    """Fail when anything that must not ship got in."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    bad = [n for n in names if any(part in EXCLUDED_DIRS - {"wheels"} or part.startswith(".")
                                   for part in n.split("/")[:-1]) or n.endswith(".pyc")]
    if bad:
        raise SystemExit(f"error: {path.name} contains files that must not ship: {bad[:10]}")
    for required in ("blender_manifest.toml", "__init__.py", "model_runtime/__init__.py",
                     "presets/layouts.json"):
        if required not in names:
            raise SystemExit(f"error: {path.name} lacks {required}")


def main(argv: list[str] | None = None) -> int:
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
    args = ap.parse_args(argv)

    platforms = [p.strip() for p in args.platforms.split(",") if p.strip()]
    unknown = [p for p in platforms if p not in PLATFORM_TAGS]
    if unknown:
        ap.error(f"unknown platform(s) {unknown}; known: {', '.join(PLATFORM_TAGS)}")

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

    log("")
    log("built:" + ("  (validated with blender_ext.py validate)" if args.validate else ""))
    for label, f in results:
        log(f"  {label:<38} {human_size(f.stat().st_size):>10}  {f}")
    for platform, why in skipped.items():
        log(f"  SKIPPED offline {platform}: {why}")
    return 1 if (args.offline and skipped and len(results) == 1) else 0


if __name__ == "__main__":
    sys.exit(main())
