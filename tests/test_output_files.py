"""Output files (issue 14, item 2): written whole or not at all, never through a planted link,
errors that name the path, no stale temporary after a kill."""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model_runtime import atomic_write
from model_runtime.channels import OUTPUT_FACE_CHANNELS
from model_runtime.errors import OutputError
from model_runtime.result import ConversationResult, PersonTrack

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- 2. output files
def small_result(frames: int = 5, value: float = 0.25) -> ConversationResult:
    def person():
        return PersonTrack(face=np.full((frames, len(OUTPUT_FACE_CHANNELS)), value, np.float32),
                           head=np.zeros((frames, 3), np.float32), eyes=np.zeros((frames, 4), np.float32),
                           roles=np.zeros(frames, np.int64))
    return ConversationResult(fps=25.0, people=(person(), person()), meta={"v": value})


def leftovers(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if "partial" in n)


@pytest.mark.parametrize("suffix", [".json", ".npz", ".csv"])
def test_planted_symlink_at_the_old_temporary_name_is_not_followed(tmp_path, suffix):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / f"out{suffix}"
    os.symlink(victim, tmp_path / f"out{suffix}.partial")
    small_result().save(out)
    assert victim.read_text() == "precious"
    assert out.is_file() and not out.is_symlink()
    if suffix == ".npz":
        assert ConversationResult.load(out).num_frames == 5
    # the planted link is someone else's: left alone; our own temporary is gone
    assert leftovers(tmp_path) == [f"out{suffix}.partial"]


def test_symlink_at_the_output_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, tmp_path / "out.json")
    small_result().save(tmp_path / "out.json")
    assert victim.read_text() == "precious" and not (tmp_path / "out.json").is_symlink()


def _writer(args):
    path, value = args
    small_result(frames=3000, value=value).save(path)


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_concurrent_writers_each_write_a_whole_file(tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    values = [0.1, 0.2, 0.3, 0.4]
    with multiprocessing.get_context("fork").Pool(4) as pool:
        for _ in range(3):
            pool.map(_writer, [(out, v) for v in values])
            if suffix == ".json":
                doc = json.loads(out.read_text())
                assert doc["meta"]["v"] in values and doc["num_frames"] == 3000
            else:
                assert ConversationResult.load(out).meta["v"] in values
    assert leftovers(tmp_path) == []


def test_output_keeps_normal_permissions(tmp_path):
    small_result().save(tmp_path / "new.json")
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o666 & ~umask
    os.chmod(tmp_path / "new.json", 0o640)
    small_result().save(tmp_path / "new.json")
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o640


def test_parent_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot write .*file/out.json"):
        small_result().save(tmp_path / "file" / "out.json")


def test_read_only_folder_is_a_clear_error(read_only_folder):
    with pytest.raises(OutputError, match="ro/out.json.*Permission denied"):
        small_result().save(read_only_folder / "out.json")


def test_disk_full_is_a_clear_error_and_the_cleanup_never_hides_it(tmp_path, monkeypatch):
    def full(self, f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    real_unlink = os.unlink

    def failing_unlink(p, *a, **k):
        real_unlink(p, *a, **k)
        raise PermissionError("cleanup failed too")

    monkeypatch.setattr(ConversationResult, "_write_json", full)
    monkeypatch.setattr(os, "unlink", failing_unlink)
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: failing_unlink(self))
    with pytest.raises(OutputError, match=r"out\.json: No space left on device") as info:
        small_result().save(tmp_path / "out.json")
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == 28
    monkeypatch.undo()
    assert leftovers(tmp_path) == [] and not (tmp_path / "out.json").exists()


def test_writer_errors_are_raised_as_they_are_and_the_old_file_stays(tmp_path, monkeypatch):
    out = tmp_path / "out.json"
    out.write_text("old")

    def broken(self, f):
        f.write(b"new but")
        raise KeyError("a bug in the writer")

    monkeypatch.setattr(ConversationResult, "_write_json", broken)
    with pytest.raises(KeyError, match="a bug"):
        small_result().save(out)
    assert out.read_text() == "old" and leftovers(tmp_path) == []


def test_killed_writers_temporary_is_removed_on_the_next_write(tmp_path):
    out = tmp_path / "out.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    host = atomic_write._host()
    stale = tmp_path / f".out.json.{host}.{pid}.abc123.partial"
    stale.write_text("half")
    live = tmp_path / f".out.json.{host}.{os.getppid()}.def456.partial"   # a live process's
    live.write_text("in flight")
    other_host = tmp_path / f".out.json.elsewhere-{host}.{pid}.ghi789.partial"
    other_host.write_text("another machine's")
    small_result().save(out)
    assert not stale.exists() and live.exists() and other_host.exists()
