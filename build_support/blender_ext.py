"""Finding and running Blender's extension CLI, ``blender_ext.py``.

It ships with Blender and with the ``bpy`` module
(``bpy/<ver>/scripts/addons_core/bl_pkg/cli/blender_ext.py``); it is found without importing bpy.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

CLI_PATH = Path("scripts", "addons_core", "bl_pkg", "cli", "blender_ext.py")


def _explicit_path(explicit: str | None) -> Path | None:
    """--blender-ext, else $TT_BLENDER_EXT; a given path that is not a file is an error."""
    for value in (explicit, os.environ.get("TT_BLENDER_EXT")):
        if value:
            p = Path(value).expanduser()
            if not p.is_file():
                raise SystemExit(f"error: blender_ext.py not found at {p}")
            return p
    return None


def _bpy_module_candidates() -> list[Path]:
    """Where the installed ``bpy`` module keeps the CLI, located without importing bpy."""
    spec = importlib.util.find_spec("bpy")
    if spec is None:
        return []
    roots = list(spec.submodule_search_locations or [])
    if spec.origin:
        roots.append(str(Path(spec.origin).parent))
    candidates: list[Path] = []
    for root in map(Path, roots):
        # bpy wheel: site-packages/bpy/<major.minor>/scripts/...
        candidates += sorted(root.glob(f"*/{CLI_PATH.as_posix()}"), reverse=True)
        # bpy/__init__.py inside scripts/modules (a Blender install): climb to scripts/.
        for parent in root.parents:
            if parent.name == "scripts":
                candidates.append(parent / CLI_PATH.relative_to("scripts"))
                break
    return candidates


def _running_blender_candidates() -> list[Path]:
    """Inside Blender (bpy already imported): its own scripts folder."""
    if "bpy" not in sys.modules:
        return []
    import bpy
    scripts = Path(bpy.utils.system_resource("SCRIPTS"))
    return [scripts / CLI_PATH.relative_to("scripts")]


def find_blender_ext(explicit: str | None = None) -> Path:
    """Blender's extension CLI, ``blender_ext.py``: --blender-ext, $TT_BLENDER_EXT, the
    installed ``bpy`` module (located without importing it), or a running Blender."""
    given = _explicit_path(explicit)
    if given is not None:
        return given
    for c in _bpy_module_candidates() + _running_blender_candidates():
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
