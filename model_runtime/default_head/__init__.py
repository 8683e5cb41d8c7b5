"""The default head: procedural mesh and its 52 ARKit shape keys as numpy arrays.

The add-on turns it into a Blender rig (talking_together_addon.rig_builder); the evaluation
poses it to measure lip-vertex error. numpy only: no PyTorch, no Blender.
"""
