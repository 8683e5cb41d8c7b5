"""Shared helpers of the add-on tests (register once, fresh scenes, speech, scene snapshots)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:      # the add-on imports as a plain package from the repo root
    sys.path.insert(0, str(ROOT))

from talking_together_addon import api as addon_api  # noqa: E402
from talking_together_addon import vse_compat  # noqa: E402

HAS_ESPEAK = shutil.which("espeak-ng") is not None


# Blender builds without audio (the bpy 4.2 wheel) cannot make sound strips.
needs_audio = pytest.mark.skipif(not bpy.app.build_options.audaspace,
                                 reason="this Blender build has no audio (Audaspace): no sound strips")


def ensure_registered() -> None:
    addon_api.ensure_registered()


def fresh_scene(fps: int = 24, fps_base: float = 1.0):
    """An empty scene (factory settings) with the add-on registered and the given frame rate."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    ensure_registered()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, fps_base
    scene.frame_start, scene.frame_end = 1, 250
    return scene


def speak(path: Path, text: str, voice: str = "en+m3") -> Path:
    """A WAV of espeak-ng saying ``text``."""
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return data.mean(axis=1), sr


def dialogue(tmp: Path) -> dict[str, Path]:
    """A short two-voice dialogue: A speaks, a pause, B answers (about 4 s in all).

    Returns paths: 'a' and 'b' (each voice alone, same length, silence where the other
    speaks), 'mix' (both, mono) and 'stereo' (A left, B right), and the turn times."""
    import soundfile as sf
    a, sr = read_wav(speak(tmp / "va.wav", "Hello there, how are you today?", "en+m3"))
    b, sr_b = read_wav(speak(tmp / "vb.wav", "I am fine, thanks.", "en+f3"))
    assert sr == sr_b
    gap = int(0.4 * sr)
    n = len(a) + gap + len(b)
    ta = np.zeros(n, np.float32)
    tb = np.zeros(n, np.float32)
    ta[:len(a)] = a
    tb[len(a) + gap:] = b
    out = {"a": tmp / "a.wav", "b": tmp / "b.wav", "mix": tmp / "mix.wav", "stereo": tmp / "stereo.wav"}
    sf.write(out["a"], ta, sr)
    sf.write(out["b"], tb, sr)
    sf.write(out["mix"], ta + tb, sr)
    sf.write(out["stereo"], np.stack([ta, tb], 1), sr)
    out["turn_a"] = (0.0, len(a) / sr)
    out["turn_b"] = ((len(a) + gap) / sr, n / sr)
    return out


def add_sound(scene, name: str, path: Path, channel: int = 1, frame_start: int = 1):
    """A sound strip, with the 5.0 API or the 4.x one (a skip where the build has no audio)."""
    if not bpy.app.build_options.audaspace:      # e.g. the bpy 4.2 wheel
        pytest.skip("this Blender build has no audio (Audaspace): it cannot make sound strips")
    ed = scene.sequence_editor or scene.sequence_editor_create()
    strips = vse_compat.top_strips(ed)
    return strips.new_sound(name, str(path), channel, frame_start)


def add_mesh(name: str, location=(0, 0, 0), rotation_z: float = 0.0, shape_keys: bool = False):
    """A small mesh object linked to the scene, optionally with a Basis + jawOpen shape key."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([(0, 0, 0), (0.1, 0, 0), (0, 0.1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.location = location
    obj.rotation_euler = (0.0, 0.0, rotation_z)
    if shape_keys:
        obj.shape_key_add(name="Basis")
        obj.shape_key_add(name="jawOpen")
    bpy.context.view_layer.update()
    return obj


def action_fcurves(action) -> list:
    """Every F-curve of an action: slotted (4.4+) and legacy."""
    curves = []
    for layer in getattr(action, "layers", ()):
        for strip in layer.strips:
            for bag in getattr(strip, "channelbags", ()):
                curves.extend(bag.fcurves)
    legacy = getattr(action, "fcurves", None)
    if legacy is not None and not curves:
        curves.extend(legacy)
    return curves


def snapshot(scene) -> dict:
    """Everything a failed generation must leave as it was."""
    def matrix(o):
        return tuple(round(v, 6) for row in o.matrix_world for v in row)

    def anim(idb):
        ad = getattr(idb, "animation_data", None)
        if ad is None:
            return None
        return (ad.action.name if ad.action else None, len(ad.nla_tracks))

    objects = {o.name: (matrix(o), anim(o), anim(o.data.shape_keys) if o.type == 'MESH'
                        and o.data.shape_keys else None) for o in bpy.data.objects}
    actions = {a.name: [(fc.data_path, fc.array_index, len(fc.keyframe_points),
                         tuple(round(v, 5) for k in fc.keyframe_points for v in k.co))
                        for fc in action_fcurves(a)] for a in bpy.data.actions}
    return {"objects": objects, "actions": actions, "collections": sorted(c.name for c in bpy.data.collections),
            "range": (scene.frame_start, scene.frame_end)}


def random_tiny_checkpoint(path: Path) -> Path:
    """An untrained tiny model (presets/models/tiny.json) in the real checkpoint format: it
    exercises the whole generate-and-bake path before trained weights exist (motion is noise)."""
    import json

    import torch
    from model_runtime import checkpoint, features, model
    from model_runtime.channels import MOTION_DIM
    cfg = json.loads((ROOT / "presets" / "models" / "tiny.json").read_text())
    cfg = model.ModelConfig.from_dict({k: v for k, v in cfg.items() if not k.startswith("_")})
    torch.manual_seed(0)
    net = model.ConversationDenoiser(cfg)
    ckpt = checkpoint.Checkpoint(
        config=cfg, state_dict=net.state_dict(),
        motion_mean=torch.full((MOTION_DIM,), 0.1), motion_std=torch.full((MOTION_DIM,), 0.1),
        audio_mean=torch.zeros(features.FEATURE_DIM), audio_std=torch.ones(features.FEATURE_DIM),
        info={"name": "random-tiny-test"})
    return checkpoint.save_checkpoint(ckpt, path)


def blender_env(folder: Path) -> dict:
    """The environment for a Blender subprocess with its own user folders under ``folder``
    (no extension, preference or script of this machine's user leaks in) and a fixed hash
    seed (the same shot gives the same keys)."""
    env = dict(os.environ)
    user = folder / "blender_user"
    for key, sub in (("BLENDER_USER_RESOURCES", ""), ("BLENDER_USER_CONFIG", "config"),
                     ("BLENDER_USER_SCRIPTS", "scripts"), ("BLENDER_USER_EXTENSIONS", "extensions"),
                     ("BLENDER_USER_DATAFILES", "datafiles")):
        env[key] = str(user / sub)
    env.pop("PYTHONPATH", None)
    env["PYTHONHASHSEED"] = "0"
    return env
