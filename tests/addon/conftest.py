"""Fixtures for the add-on tests: real Blender (``bpy`` as a module), headless."""
from __future__ import annotations

import os
import sys

import bpy  # a pinned requirement (requirements.txt): missing is an error, not a skip
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture
def scene():
    """A fresh, empty scene (factory settings, no objects)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene
