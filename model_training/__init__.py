"""Training, synthetic corpus and evaluation of the Talking Together model.

Beside the runtime, never inside it: it imports ``model_runtime`` (the model, the features,
the geometry) and is never shipped in the Blender extension. No bpy here either.
"""
