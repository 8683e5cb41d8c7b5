"""The clean tree Blender's builder packs, and the check that the zip holds nothing else."""
from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDON_DIR = ROOT / "talking_together_addon"
RUNTIME_DIR = ROOT / "model_runtime"
PRESETS_DIR = ROOT / "presets"
MANIFEST = ROOT / "blender_manifest.toml"
LICENSE = ROOT / "LICENSE"

# Directory names never staged, at any depth.
EXCLUDED_DIRS = {"__pycache__", "tests", "test", ".pytest_cache", ".git", ".venv", "venv",
                 "corpus_data", "runs", "build", "dist", "wheels", "data", "out"}
# File suffixes never staged.
EXCLUDED_SUFFIXES = {".pyc", ".pyo", ".zip", ".whl", ".wav", ".flac", ".mp3", ".npz", ".npy",
                     ".log", ".orig", ".rej", ".swp", ".tmp"}
# What may ship from model_runtime/ (code, small JSON configs, the default weights).
RUNTIME_SUFFIXES = {".py", ".json"}
# The runtime's command line: run with `python -m model_runtime`, never inside Blender.
RUNTIME_NOT_SHIPPED = {"cli.py", "__main__.py"}
# Model configs are read by training only (a checkpoint carries its own config).
PRESETS_NOT_SHIPPED = {"models"}
WEIGHT_SUFFIXES = {".pt", ".pth", ".safetensors"}
# Files every zip must hold.
REQUIRED_IN_ZIP = ("blender_manifest.toml", "__init__.py", "model_runtime/__init__.py",
                   "presets/layouts.json")


def excluded(rel: Path) -> bool:
    """Caches, data, editor leftovers and Blender backups (``.blend1``) never ship."""
    parts = rel.parts
    if any(p in EXCLUDED_DIRS or p.startswith(".") for p in parts):
        return True
    return rel.suffix.lower() in EXCLUDED_SUFFIXES or rel.name.endswith("~") or \
        re.search(r"\.blend\d+$", rel.name) is not None


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard links keep staging fast and small; copy where the file system has none."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _is_runtime_file(rel: Path) -> bool:
    if rel.as_posix() in RUNTIME_NOT_SHIPPED:
        return False
    suffix = rel.suffix.lower()
    return suffix in RUNTIME_SUFFIXES or (rel.parts[0] == "weights" and suffix in WEIGHT_SUFFIXES)


def _staged_files():
    """(source, path in the stage) for every file of the extension."""
    # 1. The add-on package's files at the extension root.
    for src in sorted(ADDON_DIR.rglob("*")):
        rel = src.relative_to(ADDON_DIR)
        if src.is_file() and not excluded(rel):
            yield src, rel
    # 2. The runtime as a subpackage: code + JSON configs + weights/*, no data, caches, tests.
    for src in sorted(RUNTIME_DIR.rglob("*")):
        rel = src.relative_to(RUNTIME_DIR)
        if src.is_file() and not excluded(rel) and _is_runtime_file(rel):
            yield src, Path("model_runtime") / rel
    # 3. Presets beside model_runtime/ (the runtime looks for model_runtime/../presets).
    for src in sorted(PRESETS_DIR.rglob("*")):
        rel = src.relative_to(PRESETS_DIR)
        if rel.parts[0] in PRESETS_NOT_SHIPPED:
            continue
        if src.is_file() and not excluded(rel):
            yield src, Path("presets") / rel
    # 4. Manifest and licence.
    yield MANIFEST, Path("blender_manifest.toml")
    if LICENSE.is_file():
        yield LICENSE, Path("LICENSE")


def stage_tree(stage: Path) -> list[str]:
    """Stage the extension's files; returns the staged relative paths."""
    if not (ADDON_DIR / "__init__.py").is_file():
        raise SystemExit(f"error: {ADDON_DIR.relative_to(ROOT)}/__init__.py is missing")
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    staged: list[str] = []
    for src, rel in _staged_files():
        link_or_copy(src, stage / rel)
        staged.append(rel.as_posix())
    return staged


def check_zip(path: Path) -> None:
    """Fail when anything that must not ship got in."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    bad = [n for n in names if any(part in EXCLUDED_DIRS - {"wheels"} or part.startswith(".")
                                   for part in n.split("/")[:-1]) or n.endswith(".pyc")]
    if bad:
        raise SystemExit(f"error: {path.name} contains files that must not ship: {bad[:10]}")
    for required in REQUIRED_IN_ZIP:
        if required not in names:
            raise SystemExit(f"error: {path.name} lacks {required}")
