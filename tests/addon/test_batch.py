"""Batch mode (talking_together_addon/batch.py), run the way studios run it: in a subprocess,
with the bpy module, on a shot list; one shot with missing audio must fail on its own.

Every run uses temporary Blender user folders, so nothing touches the real home, and the
shipped default weights (model_runtime/weights/default.pt).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tt_helpers import blender_env, needs_audio  # noqa: F401 (blender_env: read by test_installed_extension)

ROOT = Path(__file__).resolve().parents[2]
BATCH = ROOT / "talking_together_addon" / "batch.py"

# Each test starts Blender (the bpy module) in a subprocess, some of them several times.
pytestmark = pytest.mark.slow
HAS_TOOLS = shutil.which("espeak-ng") is not None and shutil.which("sox") is not None


# ---------------------------------------------------------------------------- fixtures

def make_dialogue(folder: Path) -> dict[str, Path]:
    """A ~4 s two-voice dialogue: A speaks, then B answers. Returns the mixed file and one
    padded file per person (each as long as the dialogue, silent while the other speaks)."""
    folder.mkdir(parents=True, exist_ok=True)
    a, b = folder / "a.wav", folder / "b.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "170", "-w", str(a),
                    "Did you hear about the new project?"], check=True)
    subprocess.run(["espeak-ng", "-v", "en-us+f3", "-p", "70", "-s", "170", "-w", str(b),
                    "Yes, it sounds great."], check=True)
    dur = {p: float(subprocess.run(["soxi", "-D", str(p)], capture_output=True, text=True,
                                   check=True).stdout) for p in (a, b)}
    out = {"a": folder / "a_track.wav", "b": folder / "b_track.wav", "mixed": folder / "mixed.wav"}
    subprocess.run(["sox", str(a), str(b), str(out["mixed"])], check=True)
    subprocess.run(["sox", str(a), str(out["a"]), "pad", "0", f"{dur[b]:.6f}"], check=True)
    subprocess.run(["sox", str(b), str(out["b"]), "pad", f"{dur[a]:.6f}", "0"], check=True)
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    if not HAS_TOOLS:
        pytest.skip("espeak-ng and sox make the test dialogue")
    folder = tmp_path_factory.mktemp("batch")
    return {"dir": folder, "audio": make_dialogue(folder / "audio")}


def run_batch(args: list[str], folder: Path, *, module=True, timeout=900):
    cmd = ([sys.executable, "-m", "talking_together_addon.batch"] if module
           else [sys.executable, str(BATCH), "--"]) + args
    return subprocess.run(cmd, cwd=ROOT, env=blender_env(folder), capture_output=True,
                          text=True, timeout=timeout)


def write_shots(path: Path, shots: list[dict]) -> Path:
    defaults = {"steps": 2, "device": "cpu"}     # no checkpoint: the shipped default weights
    path.write_text(json.dumps({"defaults": defaults, "shots": shots}, indent=1))
    return path


# ---------------------------------------------------------------------------- tests

def test_bad_shot_list_is_a_usage_error(tmp_path):
    (tmp_path / "shots.json").write_text('{"shots": [{"name": "x", "audio": "a.wav", "sede": 1}]}')
    r = run_batch([str(tmp_path / "shots.json")], tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "unknown field(s) ['sede']" in r.stderr
    r = run_batch([str(tmp_path / "nope.json")], tmp_path)
    assert r.returncode == 2 and "shot list not found" in r.stderr


@needs_audio      # shot_020 places one sound strip per person
def test_three_shots_one_missing_audio(work):
    folder = work["dir"] / "three"
    folder.mkdir()
    a = work["audio"]
    shots = write_shots(folder / "shots.json", [
        {"name": "shot_010", "audio": str(a["mixed"]), "layout": "across_table", "seed": 1},
        {"name": "shot_020", "audio": [str(a["a"]), str(a["b"])], "seed": 2},
        {"name": "shot_030", "audio": str(folder / "missing.wav"), "seed": 3},
    ])
    r = run_batch([str(shots), "--report", str(folder / "report.json"), "--no-progress"], folder)
    out = r.stdout
    assert r.returncode == 1, out + r.stderr           # a shot failed: non-zero for the farm
    assert "[1/3] shot_010 ok" in out and "[2/3] shot_020 ok" in out, out + r.stderr
    assert "[3/3] shot_030 FAILED" in out
    assert f"audio file not found: {folder / 'missing.wav'}" in out
    assert "summary: 2 ok, 1 failed" in out
    report = {x["name"]: x for x in json.loads((folder / "report.json").read_text())}
    for name in ("shot_010", "shot_020"):
        assert report[name]["ok"] and report[name]["rigs"] == 2 and report[name]["keys"] > 0
        assert Path(report[name]["output"]) == folder / f"{name}_talking.blend"
        assert Path(report[name]["output"]).is_file()
    assert not report["shot_030"]["ok"]
    assert not (folder / "shot_030_talking.blend").exists()   # nothing saved for a failed shot


def test_same_shot_and_seed_give_the_same_keys(work):
    folder = work["dir"] / "determinism"
    folder.mkdir()
    shots = write_shots(folder / "shots.json", [
        {"name": "shot_a", "audio": str(work["audio"]["mixed"]), "seed": 7},
        {"name": "shot_b", "audio": str(work["audio"]["mixed"]), "seed": 8},
    ])
    dumps = []
    for i, name in enumerate(("shot_a", "shot_a", "shot_b")):
        dump = folder / f"keys_{i}.json"
        # Script mode (as `blender --python batch.py -- ...` runs it) for one of the runs.
        r = run_batch([str(shots), "--only", name, "--no-save", "--dump-keys", str(dump)],
                      folder, module=(i != 1))
        assert r.returncode == 0, r.stdout + r.stderr
        dumps.append(json.loads(dump.read_text()))
    first, again, other_seed = dumps
    assert first, "no F-curves were baked"
    assert sum(len(v) for v in first.values()) > 0
    assert first.keys() == again.keys()
    assert first == again, "same shot + seed gave different keyframes"
    assert first != other_seed, "another seed gave the very same keyframes"
