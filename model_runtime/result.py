"""The generated conversation: per-frame parameters for both people, saved and loaded.

This is what the runtime hands to the CLI, to studios' scripts and to the Blender bake.
Frame ``i`` is at ``start_time + i / fps`` seconds of the audio. The file formats (.npz, .json,
.csv) are written by result_stream.py, whole (``save``) or piece by piece (``ResultStream``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .atomic_write import write_file
from .channels import EYE_CHANNELS, HEAD_CHANNELS, OUTPUT_FACE_CHANNELS
from .frame_rate import resample_all

FORMAT_VERSION = 1
OUTPUT_FORMATS = (".npz", ".json", ".csv")


def check_output_path(path: str | Path) -> Path:
    """The path a result can be saved to; ValueError naming the problem (checked before work)."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {path.suffix!r} ({path.name}); use {', '.join(OUTPUT_FORMATS)}")
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give a file name ending in {', '.join(OUTPUT_FORMATS)}")
    return path


@dataclass
class PersonTrack:
    face: np.ndarray    # (T, 52) ARKit weights 0..1, in OUTPUT_FACE_CHANNELS order
    head: np.ndarray    # (T, 3) headPitch, headYaw, headRoll in radians, relative to rest
    eyes: np.ndarray    # (T, 4) eyeYawLeft, eyePitchLeft, eyeYawRight, eyePitchRight, relative to head
    roles: np.ndarray   # (T,) role ids, see channels.ROLE_NAMES

    @property
    def num_frames(self) -> int:
        return self.face.shape[0]

    def face_curve(self, name: str) -> np.ndarray:
        return self.face[:, OUTPUT_FACE_CHANNELS.index(name)]

    def columns(self) -> dict[str, np.ndarray]:
        """Every parameter as a named column."""
        cols = {n: self.face[:, i] for i, n in enumerate(OUTPUT_FACE_CHANNELS)}
        cols.update({n: self.head[:, i] for i, n in enumerate(HEAD_CHANNELS)})
        cols.update({n: self.eyes[:, i] for i, n in enumerate(EYE_CHANNELS)})
        return cols


@dataclass
class ConversationResult:
    fps: float
    people: tuple[PersonTrack, PersonTrack]
    start_time: float = 0.0
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return self.people[0].num_frames

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def resample(self, fps: float) -> "ConversationResult":
        """The same motion at another frame rate (linear for curves, nearest for roles)."""
        if fps <= 0:
            raise ValueError("fps must be positive")
        people = []
        for p in self.people:
            (face, head, eyes), roles = resample_all([p.face, p.head, p.eyes], p.roles, self.fps, fps)
            people.append(PersonTrack(face, head, eyes, roles))
        return replace(self, fps=float(fps), people=tuple(people))

    @classmethod
    def concatenate(cls, pieces) -> "ConversationResult":
        """Consecutive pieces (same fps, each starting where the last ended) as one result, with
        the first piece's start time and meta; ValueError otherwise."""
        pieces = list(pieces)
        if not pieces:
            raise ValueError("no pieces to concatenate")
        first, frames = pieces[0], 0
        for piece in pieces:
            if piece.fps != first.fps:
                raise ValueError(f"pieces at {first.fps} and {piece.fps} fps cannot be concatenated")
            if abs(piece.start_time - (first.start_time + frames / first.fps)) > 0.5 / first.fps:
                raise ValueError(f"a piece starts at {piece.start_time:.4f} s, not right after frame {frames}")
            frames += piece.num_frames
        people = tuple(PersonTrack(*(np.concatenate([getattr(p.people[i], name) for p in pieces])
                                     for name in ("face", "head", "eyes", "roles")))
                       for i in range(2))
        return replace(first, people=people)

    # ---- files (the formats live in result_stream.py, shared with writing piece by piece) --
    def save(self, path: str | Path) -> Path:
        """Write .npz, .json or .csv (chosen by suffix), atomically (atomic_write: a private
        temporary beside it, then a rename), so a failure or a concurrent writer never leaves
        half a file; OutputError naming the path when it cannot be written. For output too long
        to hold whole, write it piece by piece with result_stream.ResultStream."""
        path = check_output_path(path)
        writer = {".npz": self._write_npz, ".json": self._write_json, ".csv": self._write_csv}[path.suffix.lower()]
        return write_file(path, writer)

    def _write_npz(self, f: BinaryIO) -> None:
        from .result_stream import Frames, write_npz
        write_npz(f, Frames.of(self))

    def _write_json(self, f: BinaryIO) -> None:
        from .result_stream import Frames, write_json
        write_json(f, Frames.of(self))

    def _write_csv(self, f: BinaryIO) -> None:
        from .result_stream import Frames, write_csv
        write_csv(f, Frames.of(self))

    @classmethod
    def load(cls, path: str | Path) -> "ConversationResult":
        """Read a result written by :meth:`save` as .npz."""
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            if list(z["face_channels"]) != list(OUTPUT_FACE_CHANNELS):
                raise ValueError(f"{path}: face channels differ from this runtime's")
            people = tuple(PersonTrack(z[f"{k}_face"], z[f"{k}_head"], z[f"{k}_eyes"], z[f"{k}_roles"])
                           for k in "ab")
        return cls(fps=header["fps"], people=people, start_time=header["start_time"], meta=header["meta"])
