"""Writing a conversation piece by piece (result_stream.ResultStream): the same files as the
whole-result writers, nothing left behind on any failure, memory that does not grow with length."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from model_runtime import atomic_write, result_stream
from model_runtime.channels import OUTPUT_FACE_CHANNELS, ROLE_NAMES
from model_runtime.errors import OutputError
from model_runtime.result import ConversationResult, PersonTrack
from model_runtime.result_stream import ResultStream

FORMATS = (".npz", ".json", ".csv")


# ---- the whole-result writers as result.py had them before streaming (the reference) -------
def _header(r: ConversationResult) -> dict:
    return {"format_version": 1, "fps": r.fps, "start_time": r.start_time, "num_frames": r.num_frames,
            "meta": r.meta}


def reference_npz(r: ConversationResult, path: Path) -> None:
    arrays = {}
    for key, person in zip("ab", r.people):
        arrays.update({f"{key}_face": person.face, f"{key}_head": person.head,
                       f"{key}_eyes": person.eyes, f"{key}_roles": person.roles})
    np.savez_compressed(path, header=json.dumps(_header(r)), face_channels=np.array(OUTPUT_FACE_CHANNELS), **arrays)


def reference_json(r: ConversationResult, path: Path) -> None:
    doc = _header(r)
    doc["people"] = [
        {"roles": [ROLE_NAMES[x] for x in p.roles],
         "channels": {k: np.round(v, 5).tolist() for k, v in p.columns().items()}}
        for p in r.people]
    path.write_bytes(json.dumps(doc).encode("utf-8"))


def reference_csv(r: ConversationResult, path: Path) -> None:
    names = list(r.people[0].columns())
    columns = [p.columns() for p in r.people]
    text = io.StringIO()
    w = csv.writer(text)
    w.writerow(["frame", "time", "person", "role", *names])
    for i in range(r.num_frames):
        for key, p, cols in zip("AB", r.people, columns):
            w.writerow([i, f"{r.start_time + i / r.fps:.4f}", key, ROLE_NAMES[p.roles[i]],
                        *(f"{cols[n][i]:.5f}" for n in names)])
    path.write_bytes(text.getvalue().encode("utf-8"))


REFERENCE = {".npz": reference_npz, ".json": reference_json, ".csv": reference_csv}


# ---- helpers -----------------------------------------------------------------------------
def make_result(frames: int, seed: int = 0, fps: float = 25.0, start_time: float = 1.5) -> ConversationResult:
    rng = np.random.default_rng(seed)

    def person():
        return PersonTrack(face=rng.random((frames, len(OUTPUT_FACE_CHANNELS)), dtype=np.float32),
                           head=(rng.standard_normal((frames, 3)) * 0.3).astype(np.float32),
                           eyes=(rng.standard_normal((frames, 4)) * 0.2).astype(np.float32),
                           roles=rng.integers(0, len(ROLE_NAMES), frames).astype(np.int64))
    return ConversationResult(fps=fps, people=(person(), person()), start_time=start_time,
                              meta={"seed": seed, "note": "ünïcode", "nested": [1, 2.5, None]})


def cut(r: ConversationResult, bounds: list[int]) -> list[ConversationResult]:
    """Consecutive pieces of ``r`` between the given frame bounds."""
    edges = [0, *bounds, r.num_frames]
    return [ConversationResult(fps=r.fps, start_time=r.start_time + s / r.fps, meta={"piece": i},
                               people=tuple(PersonTrack(p.face[s:e], p.head[s:e], p.eyes[s:e], p.roles[s:e])
                                            for p in r.people))
            for i, (s, e) in enumerate(zip(edges, edges[1:]))]


def stream(r: ConversationResult, path: Path, pieces: list[ConversationResult]) -> Path:
    with ResultStream(path, fps=r.fps, start_time=r.start_time, num_frames=r.num_frames) as s:
        for piece in pieces:
            s.append(piece)
        return s.finish(r.meta)


def npz_entries(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def assert_same_file(fmt: str, got: Path, want: Path) -> None:
    if fmt == ".npz":
        a, b = npz_entries(got), npz_entries(want)
        assert list(a) == list(b)                       # same entries, same order
        for k in b:
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and np.array_equal(a[k], b[k]), k
        x, y = ConversationResult.load(got), ConversationResult.load(want)
        assert (x.fps, x.start_time, x.meta) == (y.fps, y.start_time, y.meta)
        for p, q in zip(x.people, y.people):
            for name in ("face", "head", "eyes", "roles"):
                assert np.array_equal(getattr(p, name), getattr(q, name))
        with zipfile.ZipFile(got) as z:
            assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())
    elif fmt == ".json":
        assert json.loads(got.read_text()) == json.loads(want.read_text())
        assert got.read_bytes() == want.read_bytes()    # even the text is the same
    else:
        assert got.read_bytes() == want.read_bytes()


def leftovers(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith("."))


# ---- the same files ----------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("chunk", [None, 7])
def test_three_uneven_pieces_write_what_the_whole_result_writer_wrote(tmp_path, monkeypatch, fmt, chunk):
    if chunk:                               # chunk bounds inside and across pieces
        monkeypatch.setattr(result_stream, "CHUNK_FRAMES", chunk)
        monkeypatch.setattr(result_stream, "CSV_CHUNK_FRAMES", chunk - 2)
    r = make_result(61)
    REFERENCE[fmt](r, tmp_path / f"ref{fmt}")
    out = stream(r, tmp_path / f"out{fmt}", cut(r, [5, 37]))
    assert out == tmp_path / f"out{fmt}"
    assert_same_file(fmt, out, tmp_path / f"ref{fmt}")
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_save_writes_the_same_file_as_the_old_writer_and_the_stream(tmp_path, fmt):
    r = make_result(40, seed=3)
    REFERENCE[fmt](r, tmp_path / f"ref{fmt}")
    assert_same_file(fmt, r.save(tmp_path / f"saved{fmt}"), tmp_path / f"ref{fmt}")
    assert_same_file(fmt, stream(r, tmp_path / f"streamed{fmt}", cut(r, [1, 2, 39])), tmp_path / f"saved{fmt}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_empty_conversation(tmp_path, fmt):
    r = make_result(0)
    REFERENCE[fmt](r, tmp_path / f"ref{fmt}")
    assert_same_file(fmt, stream(r, tmp_path / f"out{fmt}", []), tmp_path / f"ref{fmt}")


def test_pieces_keep_the_first_pieces_dtypes(tmp_path):
    r = make_result(20)
    first, second = cut(r, [8])
    second.people[0].face = second.people[0].face.astype(np.float64)      # cast back on spooling
    out = stream(r, tmp_path / "out.npz", [first, second])
    back = ConversationResult.load(out)
    assert back.people[0].face.dtype == np.float32 and np.array_equal(back.people[0].face, r.people[0].face)


def test_concatenate_joins_pieces_back(tmp_path):
    r = make_result(30)
    whole = ConversationResult.concatenate(cut(r, [4, 11]))
    assert (whole.fps, whole.start_time, whole.num_frames) == (r.fps, r.start_time, 30)
    for p, q in zip(whole.people, r.people):
        assert all(np.array_equal(getattr(p, n), getattr(q, n)) for n in ("face", "head", "eyes", "roles"))
    with pytest.raises(ValueError, match="fps"):
        ConversationResult.concatenate([make_result(3, fps=25.0), make_result(3, fps=30.0, start_time=1.62)])
    with pytest.raises(ValueError):
        ConversationResult.concatenate([])


# ---- failures leave nothing ---------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("bounds,frames", [([10], 24), ([10, 20], 30)])
def test_missing_or_extra_frames_are_refused_and_nothing_is_left(tmp_path, fmt, bounds, frames):
    r = make_result(frames)
    pieces = cut(r, bounds)
    out = tmp_path / f"out{fmt}"
    with pytest.raises(ValueError, match="frames appended to a stream of 25"):
        with ResultStream(out, fps=r.fps, start_time=r.start_time, num_frames=25) as s:
            for piece in pieces:
                s.append(piece)
            s.finish(r.meta)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError("generation failed"), KeyboardInterrupt()])
def test_an_error_between_appends_leaves_no_output_and_no_spools(tmp_path, error):
    r = make_result(30)
    out = tmp_path / "out.json"
    out.write_text("old")
    with pytest.raises(type(error)):
        with ResultStream(out, fps=r.fps, start_time=r.start_time, num_frames=30) as s:
            s.append(cut(r, [10])[0])
            spools = [tmp_path / n for n in leftovers(tmp_path)]
            assert len(spools) == 1 and spools[0].is_dir() and len(os.listdir(spools[0])) == 8
            raise error
    assert out.read_text() == "old" and leftovers(tmp_path) == []


def test_pieces_out_of_order_or_at_another_rate_are_refused(tmp_path):
    r = make_result(30)
    first, second, third = cut(r, [10, 20])
    with ResultStream(tmp_path / "out.csv", fps=r.fps, start_time=r.start_time, num_frames=30) as s:
        s.append(first)
        with pytest.raises(ValueError, match="consecutive"):
            s.append(third)
        with pytest.raises(ValueError, match="fps"):
            s.append(ConversationResult(fps=30.0, people=second.people, start_time=second.start_time))
        s.append(second)
        s.append(third)
        out = s.finish(r.meta)
        with pytest.raises(RuntimeError, match="closed"):
            s.append(third)
    reference_csv(r, tmp_path / "ref.csv")
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes() and leftovers(tmp_path) == []


def test_a_bad_path_or_a_folder_that_cannot_take_spools_is_refused_up_front(tmp_path):
    with pytest.raises(ValueError, match="unknown output format"):
        ResultStream(tmp_path / "out.xml", fps=25.0, num_frames=3)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot write .*file/out.npz"):
        ResultStream(tmp_path / "file" / "out.npz", fps=25.0, num_frames=3)


def test_read_only_folder_is_a_clear_error(read_only_folder):
    with pytest.raises(OutputError, match="ro/out.json.*Permission denied"):
        ResultStream(read_only_folder / "out.json", fps=25.0, num_frames=3)


def test_disk_full_while_spooling_is_an_output_error_and_the_stream_is_closed(tmp_path, monkeypatch):
    r = make_result(10)
    with ResultStream(tmp_path / "out.npz", fps=r.fps, start_time=r.start_time, num_frames=10) as s:
        real_open = open

        def full(name, mode="r", *a, **k):
            f = real_open(name, mode, *a, **k)
            if str(name).endswith("b_head.raw"):
                f.close()
                raise OSError(28, "No space left on device")
            return f
        monkeypatch.setattr("builtins.open", full)
        with pytest.raises(OutputError, match=r"out\.npz: No space left on device"):
            s.append(r)
        monkeypatch.undo()
        with pytest.raises(RuntimeError, match="closed"):
            s.finish()
    assert os.listdir(tmp_path) == []


def test_killed_writers_spool_folder_is_removed_on_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f".out.npz.{atomic_write._host()}.{int(dead.stdout)}.abc123.partial"
    stale.mkdir()
    (stale / "a_face.raw").write_bytes(b"half")
    live = tmp_path / f".out.npz.{atomic_write._host()}.{os.getppid()}.def456.partial"
    live.mkdir()
    r = make_result(5)
    stream(r, tmp_path / "out.npz", [r])
    assert not stale.exists() and live.is_dir()


# ---- bounded memory ------------------------------------------------------------------------
FRAMES = 100_000    # over an hour at 25 fps: the whole-result JSON writer peaks at ~550 MB for it
#                     (2 x 59 x 100k floats as Python lists, then the text; ~55 MB per 10k frames)


def generated_pieces(frames: int, count: int, fps: float):
    """Pieces made on the fly (values on a 1/32 grid: short JSON numbers, a smaller test file)."""
    rng = np.random.default_rng(7)
    edges = np.linspace(0, frames, count + 1).astype(int)
    for s, e in zip(edges, edges[1:]):
        n = e - s

        def person():
            return PersonTrack(face=(rng.integers(0, 33, (n, 52)) / 32).astype(np.float32),
                               head=(rng.integers(-8, 9, (n, 3)) / 32).astype(np.float32),
                               eyes=(rng.integers(-8, 9, (n, 4)) / 32).astype(np.float32),
                               roles=rng.integers(0, 4, n).astype(np.int64))
        yield ConversationResult(fps=fps, people=(person(), person()), start_time=s / fps)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [".json", ".npz"])
def test_hours_of_output_stream_in_bounded_memory(tmp_path, fmt):
    out = tmp_path / f"long{fmt}"
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with ResultStream(out, fps=25.0, num_frames=FRAMES) as s:
            for piece in generated_pieces(FRAMES, 40, 25.0):
                s.append(piece)
            s.finish({"hours": FRAMES / 25.0 / 3600})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 60 * 2**20, f"peak traced memory {peak / 2**20:.0f} MB"
    assert leftovers(tmp_path) == []
    if fmt == ".npz":
        back = ConversationResult.load(out)
        want = list(generated_pieces(FRAMES, 40, 25.0))
        assert back.num_frames == FRAMES
        assert np.array_equal(back.people[1].face[-5:], want[-1].people[1].face[-5:])
        assert np.array_equal(back.people[0].roles[:100], want[0].people[0].roles[:100])
    else:
        with open(out, "rb") as f:
            f.seek(-300, os.SEEK_END)
            assert f.read().endswith(b"]}}]}")
        assert out.stat().st_size > 50 * 2**20
