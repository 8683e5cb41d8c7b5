"""The built zip installed the way Blender installs extensions, then used from the INSTALLED
copy: enable, Add Head Rigs, Generate on a short two-voice dialogue, keys on both rigs.

Runs in a subprocess whose working directory is a temporary folder (the source tree is not on
sys.path) with temporary Blender user folders (the real home is never touched).
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE = "bl_ext.user_default.talking_together"

# Each test installs the zip into a fresh Blender (the bpy module) in a subprocess.
pytestmark = pytest.mark.slow

# What runs inside the subprocess (bpy 5.0.1). Prints one JSON line prefixed RESULT=.
SCRIPT = textwrap.dedent(r'''
    import json, os, sys
    zip_path, audio_path, do_generate = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    import bpy
    out = {"blender": bpy.app.version_string}
    ext_root = bpy.utils.user_resource("EXTENSIONS")
    out["ext_root"] = ext_root
    assert ext_root.startswith(os.environ["BLENDER_USER_EXTENSIONS"]), ext_root
    r = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                 enable_on_install=True)
    out["install"] = sorted(r)
    MODULE = "bl_ext.user_default.talking_together"
    out["enabled"] = MODULE in bpy.context.preferences.addons
    pkg = sys.modules.get(MODULE)
    out["package_file"] = getattr(pkg, "__file__", None)
    out["sys_path_has_repo"] = any(os.path.abspath(p or ".") == os.environ["TT_REPO"] for p in sys.path)
    out["has_operators"] = hasattr(bpy.ops.talking_together, "generate")
    out["has_settings"] = hasattr(bpy.types.Scene, "talking_together")
    def call(op):
        try:
            return sorted(op())
        except RuntimeError as exc:   # an operator that reported an error
            return [f"ERROR: {exc}"]

    if do_generate and out["enabled"]:
        import importlib
        api = importlib.import_module(MODULE + ".api")
        batch = importlib.import_module(MODULE + ".batch")
        out["api_file"] = api.__file__
        prefs = bpy.context.preferences.addons[MODULE].preferences
        prefs.device = "cpu"             # no weights file chosen: the shipped default weights
        scene = bpy.context.scene
        out["add_head_rigs"] = call(bpy.ops.talking_together.add_head_rigs)
        s = scene.talking_together
        out["rigs"] = [s.rig_a.name, s.rig_b.name] if s.rig_a and s.rig_b else None
        if out["rigs"] is None:
            print("RESULT=" + json.dumps(out))
            sys.exit(0)
        s.audio_mode = "FILE"
        s.audio_file = audio_path
        s.seed = 4
        s.steps = 2
        s.device = "cpu"
        out["generate"] = call(bpy.ops.talking_together.generate)
        rt = sys.modules.get(MODULE + ".model_runtime")
        out["runtime_file"] = getattr(rt, "__file__", None)
        out["toplevel_model_runtime"] = "model_runtime" in sys.modules
        out["keys"] = {o.name: batch.count_keys([o]) for o in (s.rig_a, s.rig_b)}
        out["fcurves"] = {o.name: len(batch.keyframe_arrays([o])) for o in (s.rig_a, s.rig_b)}
    print("RESULT=" + json.dumps(out))
''')


def _load_batch_helpers():
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import test_batch
        return test_batch
    finally:
        sys.path.pop(0)


def _dialogue(helpers, folder: Path) -> dict:
    if not helpers.HAS_TOOLS:
        pytest.skip("espeak-ng and sox make the test dialogue")
    return helpers.make_dialogue(folder)


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(out), "--stage-dir",
                        str(tmp_path_factory.mktemp("stage"))], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    zips = [z for z in out.glob("talking_together-*.zip")]
    assert len(zips) == 1
    return zips[0]


def run_installed(tmp_path: Path, zip_path: Path, audio: str = "", generate: bool = False) -> dict:
    helpers = _load_batch_helpers()
    env = helpers.blender_env(tmp_path)
    env["TT_REPO"] = str(ROOT)
    script = tmp_path / "installed_check.py"
    script.write_text(SCRIPT)
    r = subprocess.run([sys.executable, str(script), str(zip_path), audio, "1" if generate else "0"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=900)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT=")]
    assert r.returncode == 0 and lines, r.stdout[-4000:] + r.stderr[-4000:]
    result = json.loads(lines[-1][len("RESULT="):])
    result["_log"] = r.stdout[-3000:] + r.stderr[-3000:]
    return result


def test_install_and_enable(tmp_path, built_zip):
    r = run_installed(tmp_path, built_zip)
    assert r["install"] == ["FINISHED"], r["_log"]
    assert r["enabled"], r["_log"]
    ext_dir = Path(r["ext_root"]) / "user_default" / "talking_together"
    assert Path(r["package_file"]).resolve() == (ext_dir / "__init__.py").resolve()
    assert not str(Path(r["package_file"]).resolve()).startswith(str(ROOT))
    assert not r["sys_path_has_repo"]
    assert r["has_operators"] and r["has_settings"]


def test_add_rigs_and_generate_from_installed_copy(tmp_path, built_zip):
    helpers = _load_batch_helpers()
    audio = _dialogue(helpers, tmp_path / "audio")
    r = run_installed(tmp_path, built_zip, str(audio["mixed"]), generate=True)
    ext_dir = (Path(r["ext_root"]) / "user_default" / "talking_together").resolve()
    assert r["add_head_rigs"] == ["FINISHED"], r["_log"]
    assert r["rigs"] and len(set(r["rigs"])) == 2
    assert r["generate"] == ["FINISHED"], r["_log"]
    for key in ("package_file", "api_file", "runtime_file"):
        assert Path(r[key]).resolve().is_relative_to(ext_dir), (key, r[key])
    assert not r["toplevel_model_runtime"], "the repo's model_runtime was imported"
    for rig in r["rigs"]:
        assert r["fcurves"][rig] > 0, f"no F-curves baked on {rig}: {r['_log']}"
        assert r["keys"][rig] > 0, f"no keys baked on {rig}"


INSTALL_ONLY = textwrap.dedent(r'''
    import sys, bpy
    r = bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="user_default",
                                                 enable_on_install=True)
    print("INSTALLED=" + bpy.utils.user_resource("EXTENSIONS"))
''')


def test_batch_from_installed_copy(tmp_path, built_zip):
    """The installed batch.py, as a farm runs it (`blender -b --factory-startup --python
    <extension>/batch.py -- shots.json`): the extension is installed but not enabled in this
    process (preferences are not saved in background mode, as with --factory-startup), so
    batch.py must find and enable its own package. One good shot, one with missing audio."""
    helpers = _load_batch_helpers()
    audio = _dialogue(helpers, tmp_path / "audio")
    env = helpers.blender_env(tmp_path)
    script = tmp_path / "install_only.py"
    script.write_text(INSTALL_ONLY)
    r = subprocess.run([sys.executable, str(script), str(built_zip)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("INSTALLED=")]
    assert r.returncode == 0 and lines, r.stdout + r.stderr
    ext_dir = Path(lines[-1].split("=", 1)[1]) / "user_default" / "talking_together"
    batch_py = ext_dir / "batch.py"
    assert batch_py.is_file()

    shots_json = helpers.write_shots(tmp_path / "shots.json", [
        {"name": "shot_ok", "audio": str(audio["mixed"]), "seed": 2},
        {"name": "shot_bad", "audio": str(tmp_path / "missing.wav")}])
    r = subprocess.run([sys.executable, str(batch_py), "--", str(shots_json), "--no-progress",
                        "--report", str(tmp_path / "report.json")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    header = next(ln for ln in out.splitlines() if ln.startswith("Talking Together batch:"))
    assert "reloading" not in out, out
    assert "add-on bl_ext.user_default.talking_together" in header, out
    assert str(ext_dir) in header
    assert "FAILED" in out and f"audio file not found: {tmp_path / 'missing.wav'}" in out
    report = {x["name"]: x for x in json.loads((tmp_path / "report.json").read_text())}
    assert report["shot_ok"]["ok"], out
    assert report["shot_ok"]["keys"] > 0
    assert Path(report["shot_ok"]["output"]).is_file()
