"""scripts/render_conversation.py end to end: a real generation on a 5 s slice of the example
dialogue (A's turn ending, a pause, B's turn starting), rendered small with Workbench in a
subprocess, as a user or a farm would run it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "render_conversation.py"
DIALOGUE = ROOT / "examples" / "dialogue.flac"
RES = (320, 180)
# A real generation and a Workbench render in a subprocess (~10 s).
pytestmark = pytest.mark.slow


def run_script(*args, timeout=240):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def read_png(path) -> np.ndarray:
    """(H, W, C) floats 0..1, top row first (Blender's image API; no extra dependency)."""
    img = bpy.data.images.load(str(path), check_existing=False)
    try:
        w, h = img.size
        px = np.empty(w * h * 4, np.float32)
        img.pixels.foreach_get(px)
        return px.reshape(h, w, 4)[::-1, :, :3]
    finally:
        bpy.data.images.remove(img)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    if not bpy.app.build_options.audaspace:       # the render script puts the dialogue on a strip
        pytest.skip("this Blender build has no audio (Audaspace): no sound strips")
    tmp = tmp_path_factory.mktemp("render")
    data, sr = sf.read(str(DIALOGUE), dtype="float32")
    clip = tmp / "slice.wav"
    sf.write(str(clip), data[int(3.0 * sr):int(8.0 * sr)], sr)     # A ... pause ... B
    out = tmp / "frames"
    proc = run_script("--audio", clip, "--layout", "side_by_side", "--steps", 3,
                      "--resolution", *RES, "--out", out, "--contact-sheet", tmp / "sheet.png",
                      "--save-blend", tmp / "scene.blend")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    info = json.loads((out / "render_conversation.json").read_text())
    return tmp, info


def test_frames_exist_with_the_right_size_and_content(rendered):
    _tmp, info = rendered
    assert len(info["frames"]) >= 2
    for row in info["frames"]:
        img = read_png(row["path"])
        assert img.shape[:2] == (RES[1], RES[0])
        assert img.std() > 0.03, f"{row['path']} looks blank"
        assert row["caption"].startswith(f"frame {row['frame']} ")
        for x, y in row["mouths_px"]:     # both heads in the picture
            assert 0 <= x < RES[0] and 0 <= y < RES[1]


def test_speaker_frames_differ_at_the_mouths(rendered):
    _tmp, info = rendered
    by_speaker = {}
    for row in info["frames"]:
        roles = row["roles"]
        if roles and roles.count("speaking") == 1:
            by_speaker.setdefault(roles.index("speaking"), row)
    assert set(by_speaker) == {0, 1}, [r["roles"] for r in info["frames"]]
    a, b = by_speaker[0], by_speaker[1]
    assert "A speaks" in a["caption"] and "B speaks" in b["caption"]
    img_a, img_b = read_png(a["path"]), read_png(b["path"])
    changes = []
    for (xa, ya), (xb, yb) in zip(a["mouths_px"], b["mouths_px"]):
        x, y = int(round((xa + xb) / 2)), int(round((ya + yb) / 2))
        box = np.s_[max(0, y - 8):y + 8, max(0, x - 10):x + 10]
        changes.append(float(np.abs(img_a[box] - img_b[box]).mean()))
    assert max(changes) > 0.01, changes


def test_contact_sheet_and_blend(rendered):
    tmp, info = rendered
    sheet = read_png(tmp / "sheet.png")
    n = len(info["frames"])
    assert sheet.shape[0] == RES[1]
    assert sheet.shape[1] >= n * RES[0]
    assert (tmp / "scene.blend").stat().st_size > 0


def test_missing_audio_fails_with_a_clear_message(tmp_path):
    proc = run_script("--audio", tmp_path / "nope.wav", "--out", tmp_path, timeout=120)
    assert proc.returncode == 1
    assert "audio file not found" in proc.stderr


def test_listener_reaction_renders_a_strip_while_someone_listens(tmp_path):
    if not bpy.app.build_options.audaspace:
        pytest.skip("this Blender build has no audio (Audaspace): no sound strips")
    out = tmp_path / "strip"
    proc = run_script("--audio", DIALOGUE, "--listener-reaction", "--steps", 3, "--resolution", *RES, "--out", out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    frames = json.loads((out / "render_conversation.json").read_text())["frames"]
    numbers = [row["frame"] for row in frames]
    assert len(numbers) == 6 and np.ptp(np.diff(numbers)) <= 1      # evenly spaced, about 0.24 s apart
    assert any("listens" in row["caption"] for row in frames[2:4])  # the nod is in the middle
