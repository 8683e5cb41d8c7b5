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


def pytest_sessionfinish(session, exitstatus):
    """Unregister the add-on before the process exits: Blender 4.2 and 4.3 crash at exit
    (segfault) and 4.3-4.5 can hang while an add-on's classes are still registered."""
    from talking_together_addon import api
    api.unregister()
