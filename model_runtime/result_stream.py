"""A conversation's file, written piece by piece in bounded memory, and the one home of each format.

Hours of output need not be held whole: :class:`ResultStream` spools consecutive
``ConversationResult`` pieces to raw files (one per array) in a private folder beside the
output, then writes the chosen format reading the spools back ``CHUNK_FRAMES`` frames at a time::

    with ResultStream(path, fps=25.0, start_time=0.0, num_frames=n) as stream:
        for piece in pieces:
            stream.append(piece)
        stream.finish(meta)          # the file, atomically (atomic_write); returns its Path

The spool folder goes in every case (success, error, Ctrl-C); one left by a killed process is
cleared like a stale temporary. The writers take :class:`Frames` (arrays read by frame range),
so ``ConversationResult.save`` writes the same bytes straight from memory. numpy + stdlib only.
"""
from __future__ import annotations

import csv
import io
import json
import math
import shutil
import weakref
import zipfile
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from .atomic_write import _error, reserve_temporary_folder, write_file
from .channels import EYE_CHANNELS, HEAD_CHANNELS, OUTPUT_FACE_CHANNELS, ROLE_NAMES
from .result import FORMAT_VERSION, ConversationResult, check_output_path

CHUNK_FRAMES = 65_536       # frames read back at a time (.npz, .json): ~14 MB of face values
CSV_CHUNK_FRAMES = 4_096    # .csv formats value by value: fewer frames, same bounded memory
ARRAYS = ("face", "head", "eyes", "roles")
KEYS = tuple(f"{k}_{name}" for k in "ab" for name in ARRAYS)     # the .npz entries, in order
DEFAULT_SPECS = {"face": (np.float32, (len(OUTPUT_FACE_CHANNELS),)), "head": (np.float32, (len(HEAD_CHANNELS),)),
                 "eyes": (np.float32, (len(EYE_CHANNELS),)), "roles": (np.int64, ())}
# Each named column of a person: (name, array, column), in PersonTrack.columns() order.
COLUMNS = tuple([(n, "face", i) for i, n in enumerate(OUTPUT_FACE_CHANNELS)]
                + [(n, "head", i) for i, n in enumerate(HEAD_CHANNELS)]
                + [(n, "eyes", i) for i, n in enumerate(EYE_CHANNELS)])
_ROLE_NAMES = np.array(ROLE_NAMES, dtype=object)


class Frames:
    """What a format writer reads: the header fields and ``read(key, start, stop)``, frames
    [start, stop) of array ``key`` (``"a_face"`` ... ``"b_roles"``) with the dtype and trailing
    shape given in ``specs[key]``."""

    def __init__(self, fps: float, start_time: float, num_frames: int, meta: dict,
                 specs: dict[str, tuple[np.dtype, tuple]], read: Callable[[str, int, int], np.ndarray]):
        self.fps, self.start_time, self.num_frames, self.meta = fps, start_time, num_frames, meta
        self.specs, self.read = specs, read

    @classmethod
    def of(cls, result: ConversationResult) -> "Frames":
        """A whole in-memory result (ValueError if its arrays differ in length)."""
        arrays, n = named_arrays(result, "the result's")
        return cls(result.fps, result.start_time, n, result.meta,
                   {k: (a.dtype, a.shape[1:]) for k, a in arrays.items()}, lambda key, s, e: arrays[key][s:e])

    def header(self) -> dict:
        return {"format_version": FORMAT_VERSION, "fps": self.fps, "start_time": self.start_time,
                "num_frames": self.num_frames, "meta": self.meta}

    def ranges(self, chunk: int | None = None):
        chunk = chunk or CHUNK_FRAMES
        return ((s, min(s + chunk, self.num_frames)) for s in range(0, self.num_frames, chunk))


def named_arrays(result: ConversationResult, whose: str) -> tuple[dict[str, np.ndarray], int]:
    """({"a_face": ..., "b_roles": ...}, frames) of a result; ValueError if the arrays differ in length."""
    arrays = {f"{k}_{name}": np.asarray(getattr(p, name)) for k, p in zip("ab", result.people) for name in ARRAYS}
    n = arrays["a_face"].shape[0] if arrays["a_face"].ndim else -1
    if any(a.ndim == 0 or a.shape[0] != n for a in arrays.values()):
        raise ValueError(f"{whose} arrays differ in length: {({k: a.shape for k, a in arrays.items()})}")
    return arrays, n


def _bytes(a: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=dtype).reshape(-1).view(np.uint8)


def write_npz(f: BinaryIO, src: Frames) -> None:
    """The entries ``np.savez_compressed`` writes (header, face_channels, a_face ... b_roles),
    each big array streamed after its .npy header."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for name, value in (("header", np.asarray(json.dumps(src.header()))),
                            ("face_channels", np.array(OUTPUT_FACE_CHANNELS))):
            with zf.open(name + ".npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, value, allow_pickle=False)
        for key in KEYS:
            dtype, tail = src.specs[key]
            d = np.lib.format.header_data_from_array_1_0(np.empty((0, *tail), dtype))
            d["shape"] = (src.num_frames, *tail)
            with zf.open(key + ".npy", "w", force_zip64=True) as out:
                try:
                    np.lib.format.write_array_header_1_0(out, d)
                except ValueError:          # a header over 64 KiB: format 2.0
                    np.lib.format.write_array_header_2_0(out, d)
                for s, e in src.ranges():
                    out.write(_bytes(src.read(key, s, e), dtype))


def _json_list(f: BinaryIO, src: Frames, value: Callable[[int, int], list]) -> None:
    f.write(b"[")
    for s, e in src.ranges():
        f.write((", " if s else "").encode() + json.dumps(value(s, e))[1:-1].encode("utf-8"))
    f.write(b"]")


def write_json(f: BinaryIO, src: Frames) -> None:
    """{header..., "people": [{"roles": [names], "channels": {name: [values to 5 decimals]}}]},
    column by column, each column in chunks."""
    f.write(json.dumps(src.header())[:-1].encode("utf-8") + b', "people": [')
    for p, k in enumerate("ab"):
        f.write(b'{"roles": ' if p == 0 else b', {"roles": ')
        _json_list(f, src, lambda s, e: _ROLE_NAMES[src.read(f"{k}_roles", s, e)].tolist())
        f.write(b', "channels": {')
        for j, (name, array, i) in enumerate(COLUMNS):
            f.write(((", " if j else "") + json.dumps(name) + ": ").encode("utf-8"))
            _json_list(f, src, lambda s, e: np.round(src.read(f"{k}_{array}", s, e)[:, i], 5).tolist())
        f.write(b"}}")
    f.write(b"]}")


def write_csv(f: BinaryIO, src: Frames) -> None:
    """A row per frame and person: frame, time, person, role, then every column to 5 decimals."""
    text = io.StringIO()
    w = csv.writer(text)
    w.writerow(["frame", "time", "person", "role", *(name for name, _, _ in COLUMNS)])
    widths = {"face": len(OUTPUT_FACE_CHANNELS), "head": len(HEAD_CHANNELS), "eyes": len(EYE_CHANNELS)}
    for s, e in src.ranges(CSV_CHUNK_FRAMES):
        people = []
        for k in "ab":
            values = np.concatenate([src.read(f"{k}_{a}", s, e)[:, :n] for a, n in widths.items()], axis=1)
            people.append((k.upper(), src.read(f"{k}_roles", s, e).tolist(), values.tolist()))
        for i in range(s, e):
            time = f"{src.start_time + i / src.fps:.4f}"
            for key, roles, values in people:
                w.writerow([i, time, key, ROLE_NAMES[roles[i - s]], *(f"{v:.5f}" for v in values[i - s])])
        f.write(text.getvalue().encode("utf-8"))
        text.seek(0)
        text.truncate()
    f.write(text.getvalue().encode("utf-8"))


WRITERS = {".npz": write_npz, ".json": write_json, ".csv": write_csv}


def _cleanup(folder: Path, files: dict) -> None:
    for spool in files.values():
        spool.close()
    shutil.rmtree(folder, ignore_errors=True)


class ResultStream:
    """Write a conversation of ``num_frames`` frames to ``path`` (.npz, .json, .csv) from
    consecutive pieces; see the module docstring. ValueError for a bad path up front, for a
    piece that does not follow on (fps, start time, lengths, shapes) or is one too many, and
    from ``finish`` when frames are missing; OutputError when the folder cannot take the spools."""

    def __init__(self, path: str | Path, *, fps: float, start_time: float = 0.0, num_frames: int):
        self.path = check_output_path(path)
        if not fps > 0 or num_frames < 0:
            raise ValueError(f"fps must be positive and num_frames not negative (got {fps}, {num_frames})")
        self.fps, self.start_time, self.num_frames = fps, start_time, int(num_frames)
        self.frames_appended = 0
        self._specs: dict[str, tuple[np.dtype, tuple]] = {}
        self._files: dict[str, BinaryIO] = {}
        self._folder = reserve_temporary_folder(self.path)
        self._finalizer = weakref.finalize(self, _cleanup, self._folder, self._files)

    def __enter__(self) -> "ResultStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Remove the spools (done by ``finish`` and on leaving the ``with`` block; idempotent)."""
        self._finalizer()

    def _check_open(self) -> None:
        if not self._finalizer.alive:
            raise RuntimeError(f"the stream to {self.path} is closed")

    def append(self, piece: ConversationResult) -> None:
        """Spool the next frames (a piece starting where the last one ended)."""
        self._check_open()
        arrays, n = named_arrays(piece, "a piece's")
        expected = self.start_time + self.frames_appended / self.fps
        if not math.isclose(piece.fps, self.fps, rel_tol=1e-9):
            raise ValueError(f"a piece at {piece.fps} fps in a stream at {self.fps} fps")
        if abs(piece.start_time - expected) > 0.5 / self.fps:
            raise ValueError(f"a piece starts at {piece.start_time:.4f} s; the next frame is at {expected:.4f} s "
                             f"(frame {self.frames_appended}): pieces must be consecutive and in time order")
        if self.frames_appended + n > self.num_frames:
            raise ValueError(f"{self.frames_appended + n} frames appended to a stream of {self.num_frames}")
        if not self._specs:
            self._specs = {k: (a.dtype, a.shape[1:]) for k, a in arrays.items()}
        for key, a in arrays.items():
            if a.shape[1:] != self._specs[key][1]:
                raise ValueError(f"a piece's {key} has frames of shape {a.shape[1:]}, not {self._specs[key][1]}")
        try:
            for key, a in arrays.items():
                if key not in self._files:
                    self._files[key] = open(self._folder / f"{key}.raw", "xb+")
                self._files[key].write(_bytes(a, self._specs[key][0]))
        except OSError as exc:
            self.close()                # the spools no longer agree: nothing more can be written
            raise _error(self.path, exc) from exc
        self.frames_appended += n

    def _read(self, key: str, start: int, stop: int) -> np.ndarray:
        dtype, tail = self._specs[key]
        out = np.empty((stop - start, *tail), dtype)
        spool = self._files[key]
        spool.seek(start * out.itemsize * math.prod(tail))
        if spool.readinto(out.reshape(-1).view(np.uint8)) != out.nbytes:
            raise OSError(f"the spool {spool.name} ended early")
        return out

    def finish(self, meta: dict | None = None) -> Path:
        """Write the file (atomically) with ``meta`` in its header; ValueError if frames are
        missing. The spools are removed either way once written."""
        self._check_open()
        if self.frames_appended != self.num_frames:
            raise ValueError(f"{self.frames_appended} frames appended to a stream of {self.num_frames}; "
                             f"nothing written to {self.path}")
        specs = self._specs or {f"{k}_{name}": (np.dtype(d), t) for k in "ab" for name, (d, t) in DEFAULT_SPECS.items()}
        try:
            for spool in self._files.values():
                spool.flush()
        except OSError as exc:
            raise _error(self.path, exc) from exc
        src = Frames(self.fps, self.start_time, self.num_frames, {} if meta is None else meta, specs, self._read)
        try:
            return write_file(self.path, lambda f: WRITERS[self.path.suffix.lower()](f, src))
        finally:
            self.close()
