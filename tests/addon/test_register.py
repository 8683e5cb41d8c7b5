"""Registration, operators, properties and the no-PyTorch-at-import rule."""
import os
import subprocess
import sys

import bpy
import pytest

import talking_together_addon as tt
from model_runtime import settings as runtime_settings
from tt_helpers import ROOT, ensure_registered, fresh_scene

OPERATORS = ("add_head_rigs", "generate", "apply_layout", "clear_bake", "swap_rigs",
             "cancel_generation", "install_pytorch")
PANELS = ("VIEW3D_PT_talking_together", "VIEW3D_PT_talking_together_conversation",
          "VIEW3D_PT_talking_together_audio", "VIEW3D_PT_talking_together_generation",
          "VIEW3D_PT_talking_together_bake", "VIEW3D_PT_talking_together_preview")


def _registered() -> bool:
    return hasattr(bpy.types.Scene, "talking_together")


def test_register_unregister_twice():
    if _registered():
        tt.unregister()
    for _ in range(2):
        tt.register()
        assert _registered()
        assert all(hasattr(bpy.types, p) for p in PANELS)
        tt.unregister()
        assert not _registered()
        assert not any(hasattr(bpy.types, p) for p in PANELS)
    ensure_registered()


def test_operators_exist_with_tooltips():
    ensure_registered()
    for name in OPERATORS:
        op = getattr(bpy.ops.talking_together, name)
        rna = op.get_rna_type()
        assert rna.description and len(rna.description) > 20, name
        assert rna.name, name


def test_properties_on_scene():
    scene = fresh_scene()
    s = scene.talking_together
    assert s.rig_a is None and s.rig_b is None
    layouts = {i.identifier for i in s.bl_rna.properties["layout"].enum_items}
    assert {"face_to_face", "side_by_side", "corner", "across_table", "free"} <= layouts
    assert {i.identifier for i in s.bl_rna.properties["audio_mode"].enum_items} == {
        "MIXED", "PER_PERSON", "STEREO", "FILE"}
    defaults = runtime_settings.GenerationSettings()
    assert (s.seed, s.steps, s.guidance) == (defaults.seed, defaults.steps, pytest.approx(defaults.guidance))
    s.layout = "across_table"      # the preset's own distance comes with it
    assert s.distance == pytest.approx(1.5)
    for name in ("swap_speakers", "use_nla", "extend_scene_range", "show_preview", "audio_file",
                 "conversation_name", "device", "height_offset", "strip", "strip_a", "strip_b",
                 "mapping_a", "mapping_b"):
        assert name in s.bl_rna.properties, name


def test_rig_poll_accepts_meshes_and_armatures_only():
    fresh_scene()
    prop = bpy.context.scene.talking_together.bl_rna.properties["rig_a"]
    assert prop.fixed_type.identifier == "Object"
    from talking_together_addon.properties import _poll_rig
    mesh = bpy.data.objects.new("m", bpy.data.meshes.new("m"))
    arm = bpy.data.objects.new("a", bpy.data.armatures.new("a"))
    empty = bpy.data.objects.new("e", None)
    assert _poll_rig(None, mesh) and _poll_rig(None, arm) and not _poll_rig(None, empty)


def test_import_does_not_import_torch():
    """Blender must start fast and the add-on must load when PyTorch is missing; asking
    whether PyTorch is there does not import it either. Loading the add-on asks PyTorch's
    threads to wait passively (Blender's UI shares the cores), unless the user chose."""
    code = ("import os, sys, talking_together_addon as tt; tt.register(); tt.unregister(); "
            "print('torch' in sys.modules); from talking_together_addon import runtime; "
            "print(runtime.torch_available(), runtime.missing_dependencies(), 'torch' in sys.modules); "
            "print(os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.strip().splitlines()[-3:] == ["False", "True [] False", "PASSIVE"]


def test_install_pytorch_honours_online_access():
    ensure_registered()
    if bpy.app.online_access:
        pytest.skip("online access is on in this Blender; the refusal path cannot be checked")
    with pytest.raises(RuntimeError, match="Online access is disabled"):
        bpy.ops.talking_together.install_pytorch()


def test_pip_command_pins_torch_into_target():
    from talking_together_addon import preferences
    cmd = preferences.pip_command("/x/site-packages", "cpu")
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"]
    assert "--target" in cmd and cmd[cmd.index("--target") + 1] == "/x/site-packages"
    assert f"torch=={preferences.TORCH_VERSION}" in cmd


def test_missing_torch_is_reported(monkeypatch):
    from talking_together_addon import runtime
    assert runtime.torch_available() and runtime.missing_dependencies() == []
    monkeypatch.setattr(runtime, "_importable", lambda name: name != "torch")
    assert not runtime.torch_available()
    assert runtime.missing_dependencies() == ["torch"]


class _CheckingLayout:
    """Stands in for UILayout: every prop and operator the panels draw must exist."""

    def __init__(self):
        self.drawn = []

    def prop(self, data, name, **kw):
        assert name in data.bl_rna.properties, name
        self.drawn.append(name)

    def operator(self, idname, **kw):
        mod, name = idname.split(".")
        assert hasattr(getattr(bpy.ops, mod), name), idname
        self.drawn.append(idname)
        return type("Props", (), {})()

    def __getattr__(self, name):       # row(), column(), box(), label(), progress(), ...
        return lambda *a, **kw: self


@pytest.mark.parametrize("torch_missing", [False, True])
def test_panels_draw(monkeypatch, torch_missing):
    from talking_together_addon import panel, runtime
    fresh_scene()
    if torch_missing:
        monkeypatch.setattr(runtime, "_importable", lambda name: name != "torch")
    drawn = []
    for cls in panel.classes:
        layout = _CheckingLayout()
        fake = type("P", (), {"layout": layout, "settings": staticmethod(getattr(cls, "settings", None))})()
        cls.draw(fake, bpy.context)
        if hasattr(cls, "draw_header"):
            cls.draw_header(fake, bpy.context)
        drawn += layout.drawn
    assert "talking_together.generate" in drawn and "rig_a" in drawn
    assert ("talking_together.install_pytorch" in drawn) == torch_missing
