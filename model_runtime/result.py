"""The generated conversation: per-frame parameters for both people, and its file formats.

This is what the runtime hands to the CLI, to studios' scripts and to the Blender bake.
Frame ``i`` is at ``start_time + i / fps`` seconds of the audio.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .atomic_write import write_file
from .channels import EYE_CHANNELS, HEAD_CHANNELS, OUTPUT_FACE_CHANNELS, ROLE_NAMES

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
        n = max(1, int(round(self.duration * fps)))
        src = np.arange(self.num_frames) / self.fps
        dst = np.arange(n) / fps

        def lerp(a: np.ndarray) -> np.ndarray:
            return np.stack([np.interp(dst, src, a[:, j]) for j in range(a.shape[1])], 1).astype(np.float32)

        nearest = np.clip(np.round(dst * self.fps).astype(int), 0, self.num_frames - 1)
        people = tuple(PersonTrack(lerp(p.face), lerp(p.head), lerp(p.eyes), p.roles[nearest])
                       for p in self.people)
        return replace(self, fps=float(fps), people=people)

    # ---- files -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write .npz, .json or .csv (chosen by suffix), atomically (atomic_write: a private
        temporary beside it, then a rename), so a failure or a concurrent writer never leaves
        half a file; OutputError naming the path when it cannot be written."""
        path = check_output_path(path)
        writer = {".npz": self._write_npz, ".json": self._write_json, ".csv": self._write_csv}[path.suffix.lower()]
        return write_file(path, writer)

    def _header(self) -> dict:
        return {"format_version": FORMAT_VERSION, "fps": self.fps, "start_time": self.start_time,
                "num_frames": self.num_frames, "meta": self.meta}

    def _write_npz(self, f: BinaryIO) -> None:
        arrays = {}
        for key, person in zip("ab", self.people):
            arrays.update({f"{key}_face": person.face, f"{key}_head": person.head,
                           f"{key}_eyes": person.eyes, f"{key}_roles": person.roles})
        np.savez_compressed(f, header=json.dumps(self._header()),
                            face_channels=np.array(OUTPUT_FACE_CHANNELS), **arrays)

    def _write_json(self, f: BinaryIO) -> None:
        doc = self._header()
        doc["people"] = [
            {"roles": [ROLE_NAMES[r] for r in p.roles],
             "channels": {k: np.round(v, 5).tolist() for k, v in p.columns().items()}}
            for p in self.people]
        f.write(json.dumps(doc).encode("utf-8"))

    def _write_csv(self, f: BinaryIO) -> None:
        names = list(self.people[0].columns())
        columns = [p.columns() for p in self.people]
        text = io.StringIO()
        w = csv.writer(text)
        w.writerow(["frame", "time", "person", "role", *names])
        for i in range(self.num_frames):
            for key, p, cols in zip("AB", self.people, columns):
                w.writerow([i, f"{self.start_time + i / self.fps:.4f}", key, ROLE_NAMES[p.roles[i]],
                            *(f"{cols[n][i]:.5f}" for n in names)])
            if text.tell() > 1 << 20:           # in pieces: no second copy of a long file
                f.write(text.getvalue().encode("utf-8"))
                text.seek(0)
                text.truncate()
        f.write(text.getvalue().encode("utf-8"))

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
