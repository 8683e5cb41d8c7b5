"""build.py builds the extension with Blender's own builder; the zip validates and holds
exactly the extension (add-on at the root, runtime subpackage, presets), nothing else."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import build  # noqa: E402

FORBIDDEN_PARTS = {"tests", "__pycache__", ".venv", "corpus_data", "runs", ".git", ".pytest_cache",
                   "wheels", "build", "build_support", "dist", "benchmarks", "docs", ".ci"}
FORBIDDEN_SUFFIXES = (".pyc", ".wav", ".flac", ".npz", ".npy", ".zip", ".blend1")
# The runtime's command line (`python -m model_runtime ...`): never run inside Blender, never shipped.
RUNTIME_CLI = {"model_runtime/cli.py", "model_runtime/__main__.py"}
# Names (a folder, or a file without its suffix) that must not appear anywhere in the zip: the
# training, corpus and evaluation code, the command line, and what is not the extension.
FORBIDDEN_NAMES = {"model_training", "corpus", "train", "training", "training_data", "objective", "evaluate",
                   "eval_report", "eval_stats", "metrics", "lips", "cli", "__main__", "benchmarks", "docs",
                   "tests", "test", "conftest", "examples", "scripts", "build_support", "build", "setup"}
# What the shipped runtime may import besides the standard library and its own modules.
RUNTIME_DEPENDENCIES = {"torch", "numpy", "soundfile"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    stage = tmp_path_factory.mktemp("stage")
    r = subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(out),
                        "--stage-dir", str(stage), "--validate"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    zip_path = out / f"{manifest['id']}-{manifest['version']}.zip"
    assert zip_path.is_file(), r.stdout
    return {"zip": zip_path, "stdout": r.stdout, "manifest": manifest}


def test_manifest_fields():
    m = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    assert m["schema_version"] == "1.0.0"
    assert m["id"] == "talking_together" and m["name"] == "Talking Together"
    assert m["type"] == "add-on" and m["blender_version_min"] == "4.2.0"
    assert m["license"] == ["SPDX:GPL-3.0-or-later"] and m["tags"] == ["Animation"]
    assert len(m["tagline"]) <= 64 and m["tagline"][-1].isalnum()
    assert set(m["permissions"]) == {"files", "network"}
    assert "wheels" not in m and "platforms" not in m   # only offline stages get those
    import model_runtime
    assert m["version"] == model_runtime.__version__


def test_validate_passes(built):
    ext = build.find_blender_ext()
    r = subprocess.run([sys.executable, str(ext), "validate", str(built["zip"])],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_zip_contents(built):
    with zipfile.ZipFile(built["zip"]) as z:
        names = z.namelist()
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
    for required in ("blender_manifest.toml", "__init__.py", "api.py", "batch.py", "LICENSE",
                     "model_runtime/__init__.py", "model_runtime/pipeline.py",
                     "presets/layouts.json"):
        assert required in names, f"{required} missing from {built['zip'].name}"
    assert manifest["id"] == "talking_together"
    for name in names:
        parts = name.split("/")
        assert not (set(parts[:-1]) & FORBIDDEN_PARTS), f"{name} must not ship"
        assert not name.endswith(FORBIDDEN_SUFFIXES), f"{name} must not ship"
        assert not any(p.startswith(".") for p in parts), f"{name} must not ship"
    # The add-on package is the root: no talking_together_addon/ folder inside.
    assert not any(n.startswith("talking_together_addon/") for n in names)
    # Every runtime module of the checkout ships but the command line (no corpus data, no tests).
    for src in (ROOT / "model_runtime").rglob("*.py"):
        rel = src.relative_to(ROOT).as_posix()
        if not (set(src.relative_to(ROOT).parts) & FORBIDDEN_PARTS) and rel not in RUNTIME_CLI:
            assert rel in names, f"{rel} missing"
    # Default weights ship when they exist.
    for w in (ROOT / "model_runtime" / "weights").glob("*.pt"):
        assert w.relative_to(ROOT).as_posix() in names
    # Every add-on file ships at the root.
    for src in (ROOT / "talking_together_addon").rglob("*.py"):
        rel = src.relative_to(ROOT / "talking_together_addon")
        if "__pycache__" not in rel.parts:
            assert rel.as_posix() in names


def _checkout_files(folder: str, suffixes=None) -> set[str]:
    return {p.relative_to(ROOT / folder).as_posix() for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and (suffixes is None or p.suffix in suffixes)}


def test_zip_holds_only_what_runs_in_blender(built):
    """The zip is exactly: the add-on's files at the root; under model_runtime/ the runtime's
    modules (all of model_runtime/**/*.py and *.json but the command line, cli.py and
    __main__.py) and its default weights (weights/*.pt); presets/ but the model configs
    (presets/models/, read by training only); the manifest and LICENSE.
    No training, corpus or evaluation code, benchmarks, docs, examples, scripts or tests."""
    with zipfile.ZipFile(built["zip"]) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
        sources = {n: z.read(n).decode() for n in names if n.endswith(".py")}
    assert len(set(names)) == len(names), "a file is in the zip twice"
    runtime = {"model_runtime/" + f for f in _checkout_files("model_runtime", {".py", ".json"})} - RUNTIME_CLI
    weights = {"model_runtime/" + f for f in _checkout_files("model_runtime") if f.startswith("weights/")
               and f.endswith(".pt")}
    assert weights, "the default weights ship"
    expected = (_checkout_files("talking_together_addon") | runtime | weights
                | {"presets/" + f for f in _checkout_files("presets") if not f.startswith("models/")}
                | {"blender_manifest.toml", "LICENSE"})
    assert not set(names) - expected, f"must not ship: {sorted(set(names) - expected)}"
    assert not expected - set(names), f"missing: {sorted(expected - set(names))}"
    # Named independently of the checkout (a training module moved into model_runtime/ would
    # otherwise be expected): nothing in the zip has a forbidden name.
    for name in names:
        parts = name.split("/")
        bad = {*parts[:-1], parts[-1].split(".")[0]} & FORBIDDEN_NAMES
        assert not bad, f"{name} must not ship ({sorted(bad)})"
    # Every shipped runtime module imports only the standard library, PyTorch, numpy, soundfile
    # and shipped runtime modules (relative imports), never model_training or the checkout.
    shipped = set(names)
    for name, text in sources.items():
        package = name.split("/")[:-1]
        for node in ast.walk(ast.parse(text, name)):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                tops = [node.module.split(".")[0]]
            else:
                if isinstance(node, ast.ImportFrom):   # relative: the module must ship
                    base = package[:len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
                    targets = [base] if node.module else [base + [a.name] for a in node.names]
                    for t in targets:
                        path = "/".join(t)
                        assert (f"{path}.py" in shipped or f"{path}/__init__.py" in shipped
                                or (not node.module and "/".join(base + ["__init__.py"]) in shipped)), \
                            f"{name}:{node.lineno} imports {path}, which does not ship"
                continue
            assert "model_training" not in tops, f"{name}:{node.lineno} imports model_training"
            if name.startswith("model_runtime/"):
                for top in tops:
                    assert top in sys.stdlib_module_names or top in RUNTIME_DEPENDENCIES, \
                        f"{name}:{node.lineno} imports {top}, which the extension does not have"


@pytest.mark.slow       # imports bpy and PyTorch in a subprocess
def test_shipped_runtime_imports_from_the_zip_alone(built, tmp_path):
    """Unpacked as Blender installs it (a package named after the extension), every shipped
    runtime module imports through the add-on, without the checkout on sys.path, without
    model_training, and finds its presets and default weights inside the extension."""
    ext = tmp_path / "extensions"
    with zipfile.ZipFile(built["zip"]) as z:
        z.extractall(ext / "talking_together")
        modules = sorted(n[:-3].replace("/", ".").removesuffix(".__init__") for n in z.namelist()
                         if n.startswith("model_runtime/") and n.endswith(".py"))
    code = textwrap.dedent(f"""
        import importlib, pathlib, sys
        sys.path.insert(0, {str(ext)!r})
        import talking_together
        for m in {modules!r}:
            importlib.import_module("talking_together." + m)
        api = importlib.import_module("talking_together.model_runtime.api")
        assert api.preset_layout("face_to_face")
        assert api.default_weights().is_file()
        print(sorted(n for n in sys.modules if n.split(".")[0] in ("model_runtime", "model_training")))
        print(all(pathlib.Path(m.__file__).is_relative_to({str(ext)!r}) for n, m in sys.modules.items()
                  if n.startswith("talking_together") and getattr(m, "__file__", None)))
        print(pathlib.Path(api.default_weights()).is_relative_to({str(ext)!r}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-3:] == ["[]", "True", "True"], r.stdout + r.stderr


def test_build_prints_what_it_built(built):
    assert "online (all platforms, no PyTorch)" in built["stdout"]
    assert built["zip"].name in built["stdout"]


def test_offline_wheel_selection(tmp_path):
    """Platform wheels are chosen per platform; Blender's own numpy is never bundled."""
    names = ["torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl",
             "torch-2.13.0-cp311-cp311-win_amd64.whl",
             "sympy-1.14.0-py3-none-any.whl",
             "numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
             "markupsafe-3.0.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    reqs = ["torch==2.13.0", "sympy==1.14.0", "markupsafe==3.0.4"]
    linux, missing = build.select_wheels(tmp_path, "linux-x64", reqs)
    assert not missing and {w.name for w in linux} == {names[0], names[2], names[4]}
    win, missing = build.select_wheels(tmp_path, "windows-x64", reqs)
    assert {w.name for w in win} == {names[1], names[2]} and missing == ["markupsafe==3.0.4"]
    assert "numpy" not in " ".join(build.pinned_requirements())
    assert build.wheel_platforms("cffi-2.1.1-cp311-cp311-macosx_11_0_arm64.whl") == {"macos-arm64"}
    assert build.wheel_platforms("jinja2-3.1.6-py3-none-any.whl") is None


@pytest.mark.skipif(os.environ.get("TT_TEST_OFFLINE") != "1",
                    reason="offline build bundles ~200 MB of wheels; set TT_TEST_OFFLINE=1")
def test_offline_build_linux(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "build.py"), "--offline", "--platforms",
                        "linux-x64", "--out", str(tmp_path), "--stage-dir", str(tmp_path / "s"),
                        "--validate"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    zips = list(tmp_path.glob("*-linux_x64.zip"))
    assert len(zips) == 1, r.stdout
    with zipfile.ZipFile(zips[0]) as z:
        names = z.namelist()
        manifest = z.read("blender_manifest.toml").decode()
    wheels = [n for n in names if n.startswith("wheels/")]
    assert any(n.startswith("wheels/torch-") for n in wheels)
    assert not any(n.startswith("wheels/numpy-") for n in wheels)
    assert 'platforms = ["linux-x64"]' in manifest
    # Blender installs the bundled wheels into <extensions>/.local/...; the bundled torch
    # must import there with Blender's own numpy (1.26), nothing from the build machine.
    user = tmp_path / "user"
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user),
               BLENDER_USER_CONFIG=str(user / "config"), BLENDER_USER_SCRIPTS=str(user / "scripts"),
               BLENDER_USER_EXTENSIONS=str(user / "extensions"),
               BLENDER_USER_DATAFILES=str(user / "datafiles"))
    install = ("import sys, bpy; r = bpy.ops.extensions.package_install_files(filepath=sys.argv[1], "
               "repo='user_default', enable_on_install=True); "
               "assert 'bl_ext.user_default.talking_together' in bpy.context.preferences.addons")
    r = subprocess.run([sys.executable, "-c", install, str(zips[0])], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    site = user / "extensions" / ".local" / "lib" / "python3.11" / "site-packages"
    check = "import torch, soundfile; print(torch.__file__); print(torch.ones(2).sum().item())"
    r = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(site)), timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith(str(site)) and r.stdout.splitlines()[1] == "2.0"
