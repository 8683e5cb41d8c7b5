"""Access to the runtime package and to the optional PyTorch install.

The runtime is a bundled subpackage in the installed extension and a sibling package in a
source checkout. PyTorch is never imported here: Blender starts fast and the add-on still
registers (and offers to install PyTorch) when it is missing.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys

try:
    from . import model_runtime as rt  # installed extension: bundled subpackage
except ImportError:
    import model_runtime as rt  # source checkout

ADDON_PACKAGE = __package__
# The runtime finds its presets beside itself, in the checkout and in the extension alike.
PRESETS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(rt.__file__))), "presets")


def read_preset_file(*parts: str) -> dict:
    """A JSON preset without its leading-underscore documentation keys (no PyTorch needed,
    unlike model_runtime.layouts)."""
    import json
    with open(os.path.join(PRESETS_DIR, *parts), encoding="utf-8") as f:
        data = json.load(f)
    return {k: v for k, v in data.items() if not k.startswith("_")}


def module(name: str):
    """A runtime submodule by short name (``"pipeline"``, ``"audio"``), imported on first use
    so that PyTorch loads only when generation actually needs it."""
    return importlib.import_module(f"{rt.__name__}.{name}")


def site_packages_dir(create: bool = False) -> str | None:
    """The extension's own folder for pip-installed PyTorch, or None when it cannot be known
    (a plain package outside Blender's extension system)."""
    try:
        import bpy
        return bpy.utils.extension_path_user(ADDON_PACKAGE, path="site-packages", create=create)
    except (AttributeError, ValueError, KeyError, RuntimeError):
        return None


def ensure_site_packages_on_path() -> None:
    """Put the extension-local site-packages on sys.path (after the bundled wheels, so an
    offline build's own PyTorch wins) and let the import system see new installs."""
    path = site_packages_dir(create=False)
    if path and os.path.isdir(path) and path not in sys.path:
        sys.path.append(path)
    importlib.invalidate_caches()


def missing_dependencies() -> list[str]:
    """Distributions generation needs that cannot be imported (Blender ships neither)."""
    return [name for name in ("torch", "soundfile") if not _importable(name)]


def _importable(name: str) -> bool:
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def torch_available() -> bool:
    """True when PyTorch can be imported, without importing it (that takes seconds)."""
    return _importable("torch")


ensure_site_packages_on_path()
errors = module("errors")   # user-facing error classes; no PyTorch needed
