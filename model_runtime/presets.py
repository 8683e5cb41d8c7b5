"""Reading the JSON presets (layouts, rig mappings, model configs): one reader for all of them.

Presets live in ``presets/`` beside the runtime package, in a source checkout and in the
installed extension alike. Keys that start with ``_`` are documentation for people and are
dropped here. No PyTorch, so Blender lists presets before PyTorch is installed.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"


def read_preset(path: str | os.PathLike) -> dict:
    """A preset file's settings (``_`` keys dropped). ``path`` is absolute, or relative to
    ``presets/`` (``"layouts.json"``, ``"rig_mappings/arkit_default.json"``).
    OSError / ValueError (json.JSONDecodeError) for a file that cannot be read or parsed."""
    path = Path(path)
    if not path.is_absolute():
        path = PRESETS_DIR / path
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a preset must be a JSON object")
    return {k: v for k, v in data.items() if not k.startswith("_")}


def preset_names(folder: str) -> list[str]:
    """Names (file stems) of the ``*.json`` presets in ``presets/<folder>``, sorted."""
    try:
        return sorted(f[:-5] for f in os.listdir(PRESETS_DIR / folder) if f.endswith(".json"))
    except OSError:
        return []
