"""Talking Together: animate a two-person conversation from its audio.

A Blender extension (metadata in blender_manifest.toml, no bl_info). It also imports as a
plain package from the repository root, which is how the tests and farm scripts use it.
PyTorch is imported only when generation runs, never when the add-on loads.
"""
from __future__ import annotations

from . import api, operators, panel, preferences, preview, properties  # noqa: F401 (api: for scripts)
from . import turns_store, turns_ui

# Registration order: properties before the operators and panels that read them.
modules = (properties, preferences, operators, panel, preview, turns_store, turns_ui)


def register():
    for mod in modules:
        mod.register()


def unregister():
    for mod in reversed(modules):
        mod.unregister()
