"""Layout presets (``presets/layouts.json``) turned into two :class:`HeadPose` objects.

No PyTorch here, so the Blender add-on lists and applies layouts before it is installed."""
from __future__ import annotations

import math
from functools import lru_cache

from .errors import LayoutError
from .head_pose import HeadPose
from .presets import read_preset

FREE_LAYOUT = "free"    # not a preset: the rigs stay where the artist placed them


@lru_cache(maxsize=1)
def layout_presets() -> dict[str, dict]:
    """All presets by name, in the file's order."""
    return read_preset("layouts.json")


def preset_layout(name: str, distance: float | None = None, height_offset: float = 0.0,
                  eye_height: float | None = None) -> tuple[HeadPose, HeadPose]:
    """The two rest head poses of a preset, optionally at another distance or heights."""
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
