"""Read the corpus back (synthetic conversations and studio captures alike).

``load_conversation(path)`` returns a dict with the arrays of one npz, ``meta`` parsed from
JSON and ``poses`` as two :class:`HeadPose`; ``list_conversations(dir, split)`` finds the
files of a corpus folder (or of its sub-folders). The format is in docs/DATA_FORMAT.md.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from model_runtime.channels import MOTION_CHANNELS, MOTION_DIM
from model_runtime.head_pose import HeadPose
from model_runtime.timebase import HOP, MODEL_FPS, SAMPLE_RATE, num_frames

REQUIRED = ("mix", "motion", "activity", "poses", "meta")


class CorpusFormatError(ValueError):
    """A conversation file that does not follow docs/DATA_FORMAT.md."""


def _fail(where: str, msg: str):
    raise CorpusFormatError(f"{where}: {msg} (see docs/DATA_FORMAT.md)")


def validate(arrays: dict, meta: dict, where: str = "conversation") -> None:
    """Check shapes, dtypes and channel order; raises CorpusFormatError naming the problem."""
    mix = arrays.get("mix")
    if mix is None or mix.ndim != 1 or mix.dtype != np.int16 or len(mix) == 0:
        _fail(where, f"'mix' must be a non-empty 1-D int16 array at 16 kHz, got "
                     f"{None if mix is None else (mix.dtype, mix.shape)}")
    n, t = len(mix), num_frames(len(mix))
    tracks = arrays.get("tracks")
    if tracks is not None and (tracks.dtype != np.int16 or tracks.shape != (2, n)):
        _fail(where, f"'tracks' must be int16 of shape (2, {n}), got {tracks.dtype} {tracks.shape}")
    motion = arrays["motion"]
    if motion.ndim != 3 or motion.shape[0] != 2 or motion.shape[2] != MOTION_DIM:
        _fail(where, f"'motion' must be (2, T, {MOTION_DIM}) in channels.MOTION_CHANNELS order, "
                     f"got {motion.shape}")
    if motion.shape[1] != t:
        _fail(where, f"'motion' has {motion.shape[1]} frames; {n} samples at 16 kHz need "
                     f"T = ceil({n} / {HOP}) = {t} frames at {MODEL_FPS} fps")
    if motion.dtype != np.float32 or not np.all(np.isfinite(motion)):
        _fail(where, "'motion' must be finite float32")
    act = arrays["activity"]
    if act.dtype != np.bool_ or act.shape != (2, t):
        _fail(where, f"'activity' must be bool of shape (2, {t}), got {act.dtype} {act.shape}")
    poses = arrays["poses"]
    if poses.shape != (2, 3, 3) or not np.all(np.isfinite(poses)):
        _fail(where, f"'poses' must be finite (2, 3, 3): per person eye_center, forward, up; "
                     f"got {poses.shape}")
    if not isinstance(meta, dict):
        _fail(where, "'meta' must be a JSON object")
    names = meta.get("motion_channels")
    if names is not None and list(names) != list(MOTION_CHANNELS):
        _fail(where, "meta 'motion_channels' differs from channels.MOTION_CHANNELS")


def load_conversation(path) -> dict:
    """One conversation: mix, tracks (or None), motion, activity, poses (two HeadPose),
    poses_array, meta (dict), sample_rate, fps, path."""
    where = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where}: no such conversation file")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise CorpusFormatError(f"{where}: not a readable npz file ({e})") from e
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        _fail(where, f"missing arrays {missing}")
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as e:
        raise CorpusFormatError(f"{where}: 'meta' is not valid JSON ({e})") from e
    validate(arrays, meta, where)
    p = arrays["poses"].astype(np.float64)
    try:
        poses = tuple(HeadPose(tuple(p[i, 0]), tuple(p[i, 1]), tuple(p[i, 2])) for i in range(2))
    except ValueError as e:
        raise CorpusFormatError(f"{where}: bad head pose ({e})") from e
    return {"mix": arrays["mix"], "tracks": arrays.get("tracks"), "motion": arrays["motion"],
            "activity": arrays["activity"], "poses": poses, "poses_array": arrays["poses"],
            "meta": meta, "sample_rate": SAMPLE_RATE, "fps": MODEL_FPS, "path": where}


def audio_float(pcm: np.ndarray) -> np.ndarray:
    """int16 samples -> float32 in [-1, 1)."""
    return pcm.astype(np.float32) / 32768.0


def list_conversations(directory, split: str | None = None) -> list[Path]:
    """The conversation files under ``directory`` (its own index.json or, failing that, its
    conv_*.npz files, then the same for every sub-folder), optionally of one split only.
    A folder without index.json is taken as split 'capture' unless its meta says otherwise."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such corpus folder")
    found: list[Path] = []
    for folder in sorted([root] + [p for p in root.rglob("*") if p.is_dir()]):
        index = folder / "index.json"
        if index.is_file():
            with open(index, encoding="utf-8") as f:
                info = json.load(f)
            if split is None or info.get("split") == split:
                found += [folder / name for name in info.get("files", [])]
        else:
            for path in sorted(folder.glob("*.npz")):
                if ".tmp." in path.name:          # a write that did not finish
                    continue
                if split is None or _split_of(path) == split:
                    found.append(path)
    return found


def _split_of(path: Path) -> str:
    with np.load(path, allow_pickle=False) as z:
        if "meta" not in z.files:
            return "unknown"
        return json.loads(str(z["meta"])).get("split", "capture")


def stored_timing(conv: dict):
    """The conversation's DialogueTiming read back from its phone timing (``meta.segments``),
    or None for a file without it (a studio capture): what its targets can be drawn again from."""
    from .timing import DialogueTiming
    segments = conv["meta"].get("segments")
    if not segments or not all(s.get("phones") for s in segments):
        return None
    return DialogueTiming.from_segments_json(segments, len(conv["mix"]) / conv["sample_rate"])
