"""Add-on preferences: compute device, weights file, and installing PyTorch when missing."""
from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys

import bpy
from bpy.props import EnumProperty, StringProperty
from bpy.types import AddonPreferences, Operator

from . import runtime
from .properties import RUNTIME_DEVICES

log = logging.getLogger(__name__)

TORCH_VERSION = "2.13.0"
SOUNDFILE_VERSION = "0.14.0"   # audio reading; Blender's Python has no soundfile either
# PyTorch's own indexes: the CPU build is ~200 MB instead of the multi-GB CUDA default on Linux.
TORCH_INDEX = {"cpu": "https://download.pytorch.org/whl/cpu",
               "cuda": "https://download.pytorch.org/whl/cu128"}
OFFLINE_MSG = ("Online access is disabled: enable Preferences > System > Network > Allow Online "
               "Access, or install the offline build of this extension")


def pip_command(target: str, variant: str) -> list[str]:
    """The pip command line that installs the pinned PyTorch into ``target``."""
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
           "--upgrade", "--target", target, f"torch=={TORCH_VERSION}", f"soundfile=={SOUNDFILE_VERSION}"]
    if sys.platform != "darwin":      # macOS wheels (with MPS) come from PyPI itself
        cmd += ["--index-url", TORCH_INDEX[variant], "--extra-index-url", "https://pypi.org/simple"]
    return cmd


def install_target() -> str:
    path = runtime.site_packages_dir(create=True)
    if path is None:   # not installed as an extension (a plain package from a checkout)
        path = os.path.join(bpy.utils.user_resource('SCRIPTS', path="addons_data"),
                            "talking_together", "site-packages")
        os.makedirs(path, exist_ok=True)
    return path


class TALKINGTOGETHER_OT_install_pytorch(Operator):
    bl_idname = "talking_together.install_pytorch"
    bl_label = "Install PyTorch"
    bl_description = (f"Download and install PyTorch {TORCH_VERSION} into this extension's own folder "
                      "(needs online access; several hundred MB)")

    variant: EnumProperty(name="Build", default="cpu", items=[
        ("cpu", "CPU", "Smaller download; runs everywhere (Apple GPUs are used on macOS either way)"),
        ("cuda", "CUDA", "For NVIDIA GPUs; a much larger download"),
    ])

    def execute(self, context):
        if not bpy.app.online_access:
            self.report({'ERROR'}, OFFLINE_MSG)
            return {'CANCELLED'}
        if not runtime.missing_dependencies():
            self.report({'INFO'}, "PyTorch is already installed")
            return {'CANCELLED'}
        target = install_target()
        try:
            if importlib.util.find_spec("pip") is None:   # some Linux distro Pythons lack pip
                subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade"], check=True)
            wm = context.window_manager
            wm.progress_begin(0, 1)   # pip has no progress API: at least show that we are busy
            try:
                proc = subprocess.run(pip_command(target, self.variant), capture_output=True, text=True)
            finally:
                wm.progress_end()
        except (OSError, subprocess.CalledProcessError) as exc:
            self.report({'ERROR'}, f"Could not run pip: {exc}")
            return {'CANCELLED'}
        if proc.returncode != 0:
            log.error("pip failed:\n%s\n%s", proc.stdout, proc.stderr)
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["see the system console"]
            self.report({'ERROR'}, f"Installing PyTorch failed: {tail[0]}")
            return {'CANCELLED'}
        if target not in sys.path:
            sys.path.append(target)
        runtime.ensure_site_packages_on_path()
        self.report({'INFO'}, f"PyTorch {TORCH_VERSION} installed into {target}")
        return {'FINISHED'}


class TalkingTogetherPreferences(AddonPreferences):
    bl_idname = runtime.ADDON_PACKAGE

    device: EnumProperty(name="Device", default="auto", items=RUNTIME_DEVICES,
                         description="Where the model runs, unless a scene chooses otherwise")
    weights_path: StringProperty(name="Weights File", subtype='FILE_PATH',
                                 description="A model checkpoint (.pt); empty uses the shipped default weights")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "device")
        layout.prop(self, "weights_path")
        draw_torch_status(layout)


def draw_torch_status(layout) -> bool:
    """Show PyTorch's state and the Install button; True when PyTorch is available."""
    if not runtime.missing_dependencies():
        return True
    box = layout.box()
    box.label(text="PyTorch is needed to generate motion", icon='ERROR')
    if not bpy.app.online_access:
        box.label(text="Online access is disabled (Preferences > System > Network),")
        box.label(text="or install the offline build of this extension.")
    row = box.row(align=True)
    row.operator(TALKINGTOGETHER_OT_install_pytorch.bl_idname, text="Install PyTorch (CPU)").variant = "cpu"
    row.operator(TALKINGTOGETHER_OT_install_pytorch.bl_idname, text="CUDA").variant = "cuda"
    return False


classes = (TALKINGTOGETHER_OT_install_pytorch, TalkingTogetherPreferences)


register, unregister = bpy.utils.register_classes_factory(classes)
