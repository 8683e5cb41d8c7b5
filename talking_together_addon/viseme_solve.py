"""Lip sync for viseme-only faces: ARKit mouth motion -> viseme weights (numpy only).

Each Oculus viseme is described as a blend of ARKit mouth shapes (after the public
viseme-to-ARKit tables of the TalkingHead project and this project's own phoneme poses in
model_training/corpus/visemes.py). Per frame, the generated ARKit mouth vector m is fitted by
a non-negative combination of those viseme vectors V: w = argmin ||V w - m||, w >= 0 (NNLS),
so a face with only viseme keys gets the mouth the model generated, not a handful of
channel-to-key guesses. Only the visemes a rig has take part in the fit.
"""
from __future__ import annotations

import numpy as np

OCULUS = ("sil", "pp", "ff", "th", "dd", "kk", "ch", "ss", "nn", "rr", "aa", "e", "ih", "oh", "ou")


def _pose(**kw: float) -> dict[str, float]:
    """A pose with symmetric channels given once (``mouthSmile=0.2`` -> Left and Right)."""
    out = {}
    for name, value in kw.items():
        if name in ("mouthClose", "mouthFunnel", "mouthPucker", "mouthRollLower", "mouthRollUpper",
                    "mouthShrugUpper", "mouthShrugLower", "jawOpen", "tongueOut"):
            out[name] = value
        else:
            out[name + "Left"] = out[name + "Right"] = value
    return out


# viseme -> ARKit pose. sil is the rest face (all zero) and never needs a weight.
VISEME_POSES: dict[str, dict[str, float]] = {
    "sil": {},
    "pp": _pose(jawOpen=0.03, mouthClose=0.6, mouthPress=0.6, mouthRollLower=0.2, mouthPucker=0.2),
    "ff": _pose(jawOpen=0.07, mouthRollLower=0.6, mouthUpperUp=0.2, mouthFunnel=0.15, mouthPress=0.1),
    "th": _pose(jawOpen=0.14, tongueOut=0.3, mouthUpperUp=0.1, mouthLowerDown=0.1),
    "dd": _pose(jawOpen=0.18, mouthClose=0.1, mouthPress=0.2, mouthLowerDown=0.08),
    "kk": _pose(jawOpen=0.22, mouthStretch=0.15, mouthLowerDown=0.05),
    "ch": _pose(jawOpen=0.12, mouthFunnel=0.5, mouthPucker=0.3, mouthShrugUpper=0.2),
    "ss": _pose(jawOpen=0.07, mouthStretch=0.3, mouthSmile=0.15, mouthLowerDown=0.1),
    "nn": _pose(jawOpen=0.1, mouthClose=0.25, mouthPress=0.2),
    "rr": _pose(jawOpen=0.14, mouthFunnel=0.35, mouthPucker=0.25, mouthShrugUpper=0.15),
    "aa": _pose(jawOpen=0.65, mouthLowerDown=0.3, mouthUpperUp=0.12, mouthStretch=0.05),
    "e": _pose(jawOpen=0.35, mouthStretch=0.22, mouthSmile=0.2, mouthLowerDown=0.2),
    "ih": _pose(jawOpen=0.18, mouthStretch=0.35, mouthSmile=0.3, mouthUpperUp=0.08),
    "oh": _pose(jawOpen=0.45, mouthFunnel=0.5, mouthPucker=0.25, mouthLowerDown=0.1),
    "ou": _pose(jawOpen=0.18, mouthPucker=0.75, mouthFunnel=0.5, mouthShrugUpper=0.1),
}
MOUTH_CHANNELS = tuple(sorted({ch for pose in VISEME_POSES.values() for ch in pose}))


def viseme_matrix(visemes, channels=MOUTH_CHANNELS) -> np.ndarray:
    """(len(channels), len(visemes)): each column one viseme's ARKit mouth vector."""
    return np.array([[VISEME_POSES[v].get(ch, 0.0) for v in visemes] for ch in channels], float)


def nnls_batch(a: np.ndarray, b: np.ndarray, iterations: int = 400) -> np.ndarray:
    """Non-negative least squares for many right-hand sides at once: (F, M) x >= 0 minimising
    ||a x_f - b_f|| for each row b_f of b (F, C), a (C, M). Accelerated projected gradient
    (FISTA): every frame shares one matrix, so all frames advance together in a few matmuls."""
    gram = a.T @ a
    rhs = b @ a                                   # (F, M) = (a^T b_f)^T
    step = 1.0 / max(np.linalg.eigvalsh(gram).max(), 1e-12)
    x = y = np.zeros((b.shape[0], a.shape[1]))
    t = 1.0
    for _ in range(iterations):
        x_next = np.maximum(y - step * (y @ gram - rhs), 0.0)
        t_next = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = x_next + ((t - 1.0) / t_next) * (x_next - x)
        x, t = x_next, t_next
    return x


def viseme_weights(face: np.ndarray, channels, visemes) -> np.ndarray:
    """(T, len(visemes)) weights in [0, 1] fitting each frame's ARKit mouth (face: (T, 52) in
    ``channels`` order). 'sil' (the rest face) gets 1 minus the others' sum."""
    visemes = list(visemes)
    index = {ch: i for i, ch in enumerate(channels)}
    mouth = np.column_stack([face[:, index[ch]] if ch in index else np.zeros(len(face)) for ch in MOUTH_CHANNELS])
    active = [v for v in visemes if v != "sil"]
    out = np.zeros((len(face), len(visemes)))
    if active:
        w = np.clip(nnls_batch(viseme_matrix(active), mouth.astype(float)), 0.0, 1.0)
        for j, v in enumerate(active):
            out[:, visemes.index(v)] = w[:, j]
    if "sil" in visemes:
        out[:, visemes.index("sil")] = np.clip(1.0 - out.sum(axis=1), 0.0, 1.0)
    return out
