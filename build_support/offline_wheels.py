"""Wheels for the offline (per-platform) zips: which to bundle, fetching them, the manifest.

Wheels are fetched with ``pip download --no-deps --only-binary=:all: --python-version 3.11
--platform ...`` and reused on later builds. Only what Blender's Python lacks is bundled.
"""
from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

# Blender 4.2 .. 5.0 all embed CPython 3.11.
BLENDER_PYTHON = "3.11"

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
# Shipped with Blender: never bundled (a second numpy would shadow Blender's).
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


def normalized_name(name: str) -> str:
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
    return normalized_name(parts[0]), parts[1]


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


def _best_wheel(files: list[Path], req: str, platform: str) -> Path | None:
    """The wheel serving ``platform`` for one pinned requirement: a platform wheel over a
    pure one; for torch on Linux, the CPU-only (+cpu) build."""
    name, version = req.split("==")
    candidates = []
    for f in files:
        dist, ver = wheel_dist_version(f.name)
        if dist != normalized_name(name) or ver.split("+")[0] != version:
            continue
        plats = wheel_platforms(f.name)
        if plats is None or platform in plats:
            rank = (0 if plats is not None else 1, 0 if "+cpu" in ver else 1, f.name)
            candidates.append((rank, f))
    return sorted(candidates)[0][1] if candidates else None


def select_wheels(wheels_dir: Path, platform: str, reqs: list[str]) -> tuple[list[Path], list[str]]:
    """For each requirement, the best wheel in wheels_dir serving ``platform``.
    Returns (wheels, missing requirements)."""
    chosen: list[Path] = []
    missing: list[str] = []
    files = sorted(wheels_dir.glob("*.whl")) if wheels_dir.is_dir() else []
    for req in reqs:
        wheel = _best_wheel(files, req, platform)
        if wheel is None:
            missing.append(req)
        else:
            chosen.append(wheel)
    for f in chosen:
        dist, _ = wheel_dist_version(f.name)
        assert dist not in BUNDLED_WITH_BLENDER, f
    return chosen, missing


def wheels_per_platform(wheels_dir: Path, platforms: list[str], reqs: list[str], download: bool,
                        log) -> tuple[dict[str, list[Path]], dict[str, str]]:
    """({platform: wheels} for the platforms every requirement has a wheel for,
    {platform: why skipped}); missing wheels are downloaded first when ``download``."""
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
    return selected, skipped


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
