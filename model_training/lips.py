"""Lip vertices of the default head posed by face weights: the evaluation's lip-vertex error.

Lip-vertex error as in the audio-driven face literature (FaceFormer, MeshTalk): per frame, the
largest distance between a generated and a target lip vertex; averaged over frames.
"""
from __future__ import annotations

import functools

import numpy as np

from model_runtime.channels import FACE_SLICE, MODEL_FACE_CHANNELS
from model_runtime.default_head import geometry as geo
from model_runtime.default_head.shapes import shape_offsets

LIP_RINGS = (0, 4)       # mouth rings from the lip edge out to the lips' outer border


@functools.lru_cache(maxsize=1)
def lip_shape_basis() -> np.ndarray:
    """(K, V, 3) offsets of the V lip vertices per model face channel (metres). Shape keys add
    linearly, so posed lips are rest + weights @ basis and differences need no rest mesh."""
    verts, _, _, attrs = geo.build_head()
    ring = np.nan_to_num(attrs["ring"], nan=99)
    lips = (attrs["part"] == geo.HEAD) & (ring >= LIP_RINGS[0]) & (ring <= LIP_RINGS[1])
    offsets = shape_offsets(verts, attrs)
    return np.stack([offsets[name][lips] for name in MODEL_FACE_CHANNELS]).astype(np.float32)


def lip_vertex_error_mm(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean over frames (and both people) of the largest lip-vertex distance, in millimetres.
    pred, target: motion (..., T, D) whose face channels are shape weights."""
    basis = lip_shape_basis()
    diff = (pred[..., FACE_SLICE] - target[..., FACE_SLICE]).astype(np.float32)
    k, v = basis.shape[:2]
    moved = (diff.reshape(-1, k) @ basis.reshape(k, v * 3)).reshape(-1, v, 3)   # (frames, V, 3)
    return float(np.linalg.norm(moved, axis=-1).max(axis=-1).mean() * 1000.0)
