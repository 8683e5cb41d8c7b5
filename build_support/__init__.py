"""Helpers for build.py (staging, Blender's extension CLI, offline wheels).

Build tooling only: the staging step copies the add-on, model_runtime, presets, the
manifest and LICENSE, so nothing from this package ever ships in the extension zip.
"""
