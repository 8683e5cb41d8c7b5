"""Talking Together runtime: audio to two people's facial, head and eye motion.

Pure Python + PyTorch; never imports Blender. See docs/ARCHITECTURE.md for the map.
Only relative imports are used inside, so the package works both from a source checkout and
as a subpackage of the installed Blender extension.
"""
__version__ = "0.1.0"
