"""Layout presets (``presets/layouts.json``) turned into two :class:`HeadPose` objects.

Reading the presets imports no PyTorch, so the Blender add-on lists them before it is installed."""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

from .errors import LayoutError

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"


@lru_cache(maxsize=1)
def layout_presets() -> dict[str, dict]:
    """All presets by name (the leading-underscore keys of the file are documentation)."""
    with open(PRESETS_DIR / "layouts.json", encoding="utf-8") as f:
        data = json.load(f)
    return {k: v for k, v in data.items() if not k.startswith("_")}


def preset_layout(name: str, distance: float | None = None, height_offset: float = 0.0,
                  eye_height: float | None = None) -> tuple["HeadPose", "HeadPose"]:
    """The two rest head poses of a preset, optionally at another distance or heights."""
    from .geometry import HeadPose  # here, so reading the presets needs no PyTorch
    presets = layout_presets()
    if name not in presets:
        raise LayoutError(f"unknown layout {name!r}; choose one of: {', '.join(presets)}")
    preset = presets[name]
    distance = preset["distance"] if distance is None else float(distance)
    eye_height = preset["eye_height"] if eye_height is None else float(eye_height)
    if not (math.isfinite(distance) and distance > 0):
        raise LayoutError(f"layout distance must be a positive number of metres, got {distance!r}")
    if not math.isfinite(height_offset):
        raise LayoutError("layout height offset must be a finite number")
    poses = []
    for i, head in enumerate(preset["heads"]):
        x, y = (c * distance for c in head["position"])
        z = eye_height + (height_offset / 2 if i == 1 else -height_offset / 2)
        poses.append(HeadPose(eye_center=(x, y, z), forward=tuple(head["forward"])))
    return poses[0], poses[1]
