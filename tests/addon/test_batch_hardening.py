"""Batch runs under bad lists and hostile folders (issue 14): shots that would overwrite each
other's output are refused before anything runs; .blend files are saved atomically through a
private temporary, never a fixed name a link can be planted at, and a killed run's leftover
is cleared. No generation here: the refusals come first, the saves are tested directly."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import bpy
import pytest

from tt_helpers import ROOT, blender_env, ensure_registered

from model_runtime import atomic_write
from model_runtime.errors import OutputError
from talking_together_addon import batch_run
from talking_together_addon.batch_shots import ShotListError, make_shots


def run_batch(args: list[str], folder: Path):
    return subprocess.run([sys.executable, "-m", "talking_together_addon.batch", *args], cwd=ROOT,
                          env=blender_env(folder), capture_output=True, text=True, timeout=300)


def shot_list(folder: Path, shots: list[dict]) -> Path:
    path = folder / "shots.json"
    path.write_text(json.dumps({"defaults": {"steps": 2, "device": "cpu"}, "shots": shots}))
    return path


# ---------------------------------------------------------------------------- duplicate outputs
def test_two_shots_with_one_output_are_refused_before_any_runs(tmp_path):
    shots = shot_list(tmp_path, [
        {"name": "a", "audio": "missing_a.wav", "output": "same.blend"},
        {"name": "b", "audio": "missing_b.wav", "output": "./sub/../same.blend"},
        {"name": "c", "audio": "missing_c.wav"},
    ])
    r = run_batch([str(shots), "--no-progress"], tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "shots 'a' and 'b' would save to the same file" in r.stderr and "same.blend" in r.stderr
    assert "[1/" not in r.stdout                       # nothing ran, not even shot c


def test_default_outputs_of_one_blend_clash_too(tmp_path):
    shots = make_shots([{"name": "take1", "blend": "scene.blend", "audio": "x.wav"},
                        {"name": "take2", "blend": "scene.blend", "audio": "x.wav", "seed": 2}],
                       {}, tmp_path)
    with pytest.raises(ShotListError, match="'take1' and 'take2'.*scene_talking.blend"):
        batch_run.check_distinct_outputs(shots)
    # each with its own output, or into separate folders: fine
    shots[1].fields["output"] = "take2.blend"
    batch_run.check_distinct_outputs(shots)


def test_run_shots_refuses_clashes_before_running(tmp_path):
    shots = make_shots([{"name": "a", "audio": "x.wav", "output": "o.blend"},
                        {"name": "b", "audio": "x.wav", "output": "o.blend"}], {}, tmp_path)
    log = []

    class Out:
        def write(self, text):
            log.append(text)

        def flush(self):
            pass

    with pytest.raises(ShotListError, match="same file"):
        batch_run.run_shots(shots, out=Out(), progress=False)
    assert log == []
    assert batch_run.run_shots(shots, out=Out(), progress=False, save=False)   # a dry run may


def test_only_refuses_a_clashing_shot_but_runs_others(tmp_path):
    shots = shot_list(tmp_path, [
        {"name": "a", "audio": "missing.wav", "output": "same.blend"},
        {"name": "b", "audio": "missing.wav", "output": "same.blend"},
        {"name": "c", "audio": "missing.wav"},
    ])
    r = run_batch([str(shots), "--only", "a", "--no-progress"], tmp_path)
    assert r.returncode == 2 and "'a' and 'b'" in r.stderr, r.stdout + r.stderr
    r = run_batch([str(shots), "--only", "c", "--no-progress"], tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr        # ran, and failed on its missing audio
    assert "[1/1] c FAILED" in r.stdout and "audio file not found" in r.stdout


def test_unwritable_report_is_refused_before_running(tmp_path):
    shots = shot_list(tmp_path, [{"name": "a", "audio": "missing.wav"}])
    r = run_batch([str(shots), "--report", str(tmp_path)], tmp_path)
    assert r.returncode == 2 and "--report" in r.stderr and "[1/" not in r.stdout, r.stdout + r.stderr


# ---------------------------------------------------------------------------- saving .blend files
@pytest.fixture
def scene():
    bpy.ops.wm.read_homefile(use_empty=True)
    ensure_registered()
    bpy.ops.object.empty_add()
    bpy.context.object.name = "Marker"
    return bpy.context.scene


def marker_in(path: Path) -> bool:
    with bpy.data.libraries.load(str(path)) as (src, _):
        return "Marker" in src.objects


def temporaries(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if "partial" in n or n.endswith("@"))


def test_save_blend_never_follows_a_planted_link(tmp_path, scene):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "shot_talking.blend"
    for planted in ("shot_talking.blend@", "shot_talking.blend.partial"):
        os.symlink(victim, tmp_path / planted)
    batch_run.save_blend(str(out))
    assert victim.read_text() == "precious"
    assert out.is_file() and not out.is_symlink() and marker_in(out)
    assert temporaries(tmp_path) == ["shot_talking.blend.partial", "shot_talking.blend@"]  # only the planted
    assert not (tmp_path / "shot_talking.blend1").exists()     # a first save has no backup
    assert bpy.data.filepath == ""                              # the open file keeps its path


def test_save_blend_keeps_the_previous_version_like_blender(tmp_path, scene):
    out = tmp_path / "shot.blend"
    out.write_bytes(b"previous version")
    batch_run.save_blend(str(out))
    assert marker_in(out) and (tmp_path / "shot.blend1").read_bytes() == b"previous version"
    assert temporaries(tmp_path) == []


def test_killed_save_leftover_is_cleared_and_errors_are_one_line(tmp_path, scene):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f".shot.blend.{atomic_write._host()}.{int(dead.stdout)}.x1y2z3.partial.blend@"
    stale.write_bytes(b"half a blend")
    batch_run.save_blend(str(tmp_path / "shot.blend"))
    assert not stale.exists() and temporaries(tmp_path) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot write .*file/shot.blend"):
        batch_run.save_blend(str(tmp_path / "file" / "shot.blend"))
