"""The default head: procedural mesh and its 52 ARKit shape keys as numpy arrays.

The add-on turns it into a Blender rig (talking_together_addon.rig_builder); the evaluation
poses it to measure lip-vertex error. numpy only: no PyTorch, no Blender.
"""
from .geometry import EYE_CENTERS, JAW_PIVOT, build_head, eyeball
from .shapes import shape_offsets

__all__ = ["EYE_CENTERS", "JAW_PIVOT", "build_head", "eyeball", "shape_offsets"]
