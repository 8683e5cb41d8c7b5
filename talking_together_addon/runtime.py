"""The runtime's one door for the add-on, and the optional PyTorch install.

The add-on reaches the runtime only through ``runtime_api`` (model_runtime/api.py): a bundled
subpackage in the installed extension, a sibling package in a source checkout. Importing it
loads no PyTorch, so Blender starts fast and the add-on still registers (and offers to
install PyTorch) when it is missing.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys

if importlib.util.find_spec(f"{__package__}.model_runtime") is not None:
    from .model_runtime import api as runtime_api   # installed extension: bundled subpackage
else:
    from model_runtime import api as runtime_api    # source checkout

ADDON_PACKAGE = __package__
__all__ = ["ADDON_PACKAGE", "TORCH_MISSING", "ensure_site_packages_on_path", "missing_dependencies",
           "require_pytorch", "runtime_api", "site_packages_dir", "torch_available"]


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


TORCH_MISSING = ("PyTorch is not installed: open Edit > Preferences > Add-ons > Talking Together "
                 "and click Install PyTorch (or install the offline build of this extension).")


def require_pytorch() -> None:
    """Before anything reads audio or runs the model (both need PyTorch and soundfile): say
    how to install them."""
    if missing_dependencies():
        raise runtime_api.TalkingTogetherError(TORCH_MISSING)


def torch_available() -> bool:
    """True when PyTorch can be imported, without importing it (that takes seconds)."""
    return _importable("torch")


ensure_site_packages_on_path()
# Blender's UI and other jobs share the cores: PyTorch's threads should sleep, not spin, while
# they wait (set before PyTorch loads, which is later, on first generation).
runtime_api.prefer_passive_waiting()
