"""Scene settings of the conversation: ``scene.talking_together``."""
from __future__ import annotations

import os
import zlib

import bpy
from bpy.props import (BoolProperty, EnumProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)

from .mapping_format import AUTO_MAPPING
from .runtime import runtime_api
from .vse_compat import all_strips

FREE_LAYOUT = runtime_api.FREE_LAYOUT
DEFAULTS = runtime_api.DEFAULTS
AUDIO_MODES = [
    ("MIXED", "Mixed Strip", "One sound strip with both voices; the voices are told apart automatically"),
    ("PER_PERSON", "Strip per Person", "One sound strip per character, as actors are usually recorded"),
    ("STEREO", "Stereo Strip", "One stereo sound strip: person A on the left channel, B on the right"),
    ("FILE", "File", "An audio file on disk (mixed or stereo), starting at the scene's start frame"),
]
DEVICE_LABELS = {
    "auto": ("Auto", "The fastest device found (CUDA, then MPS, then CPU)"),
    "cpu": ("CPU", "Run on the processor"),
    "cuda": ("CUDA", "Run on an NVIDIA GPU"),
    "mps": ("Metal (MPS)", "Run on an Apple GPU"),
}
RUNTIME_DEVICES = [(d, *DEVICE_LABELS[d]) for d in runtime_api.DEVICES]
DEVICES = [("default", "Preferences Default", "Use the device chosen in the add-on preferences")] + RUNTIME_DEVICES


def layout_presets() -> dict:
    try:
        return runtime_api.layout_presets()
    except (OSError, ValueError):
        return {}


def _layout_items():
    items = [(k, v.get("label", k), v.get("description", "")) for k, v in layout_presets().items()]
    items.append((FREE_LAYOUT, "Free", "Keep the rigs where you placed them"))
    return items


def mapping_presets() -> list[str]:
    """Rig mapping preset names: presets/rig_mappings/*.json, default-head mapping first."""
    names = runtime_api.preset_names("rig_mappings")
    names.sort(key=lambda n: "default" not in n)
    return names or ["default"]


FILE_MAPPING = "FILE"


def user_mapping_dir() -> str:
    """The user's own mapping presets (kept across add-on updates)."""
    return bpy.utils.user_resource('SCRIPTS', path=os.path.join("presets", "talking_together", "rig_mappings"))


def user_mappings() -> dict[str, str]:
    """name -> path of the user's mapping presets (*.json)."""
    folder = user_mapping_dir()
    if not os.path.isdir(folder):
        return {}
    return {os.path.splitext(f)[0]: os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".json")}


def _preset_label(name: str) -> str:
    try:
        return runtime_api.read_preset(f"rig_mappings/{name}.json").get("label", name)
    except (OSError, ValueError):
        return name


# Blender keeps only pointers to enum item strings: keep them alive here (known crash).
_mapping_items_cache: list = []


def _mapping_items(self, context):
    """Detect first, then the shipped presets, the user's presets and a file; read on every
    draw, so a preset saved while Blender runs shows up. Stable numbers keep a choice."""
    items = [(AUTO_MAPPING, "Detect", "Recognise the rig's convention (ARKit, Ready Player Me, VRM, Character "
              "Creator, Rigify, MPFB, visemes) from its shape-key and bone names", 'VIEWZOOM', 0)]
    items += [(n, _preset_label(n), f"presets/rig_mappings/{n}.json", 'PRESET', zlib.crc32(n.encode()) & 0x7FFFFFF or 2)
              for n in mapping_presets()]
    items += [(path, f"{n} (user)", path, 'USER', zlib.crc32(path.encode()) & 0x7FFFFFF or 3)
              for n, path in user_mappings().items()]
    items.append((FILE_MAPPING, "File", "A mapping .json file chosen below (stored with the .blend)", 'FILE', 1))
    _mapping_items_cache[:] = items
    return items


def mapping_choice(settings, who: str) -> str:
    """What the panel's mapping for person 'a' or 'b' means for the API: "auto", a preset name,
    or a .json path."""
    choice = getattr(settings, f"mapping_{who}")
    if choice != FILE_MAPPING:
        return choice
    path = getattr(settings, f"mapping_file_{who}")
    if not path:
        raise ValueError(f"the mapping of person {who.upper()} is File but no file is chosen: pick a .json "
                         "file below it, or choose Detect.")
    return bpy.path.abspath(path)


def sound_strips(scene) -> list:
    """The scene's sound strips (all, including in meta strips), any Blender 4.2 to 5.0."""
    ed = scene.sequence_editor
    if ed is None:
        return []
    return [s for s in all_strips(ed) if s.type == 'SOUND']


# Blender keeps only pointers to enum item strings: keep them alive here (known crash).
_strip_items_cache: list = []


def _strip_items(self, context):
    strips = sound_strips(self.id_data)
    # "NONE" (value 0, the unset default) means: the only strip, when there is just one.
    first = {0: ("NONE", "No Sound Strips", "Add a sound strip in the Video Sequencer", 'ERROR', 0),
             1: ("NONE", "Auto", "The scene's only sound strip", 'SOUND', 0)}.get(
        len(strips), ("NONE", "Choose a Strip", "Pick the sound strip to use", 'SOUND', 0))
    # A stable number per name keeps the choice when other strips are added or removed.
    items = [first] + [(s.name, s.name, f"Sound strip on channel {s.channel}", 'SOUND',
                        zlib.crc32(s.name.encode()) & 0x7FFFFFFF or 1) for s in strips]
    _strip_items_cache[:] = items
    return items


def _poll_rig(self, obj):
    return obj.type in {'MESH', 'ARMATURE'}


def _on_layout(self, context):
    preset = layout_presets().get(self.layout)
    if preset:
        self.distance = preset["distance"]


def _redraw(self, context):
    for window in getattr(context.window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type == 'VIEW_3D':
                area.tag_redraw()


class TalkingTogetherSettings(bpy.types.PropertyGroup):
    rig_a: PointerProperty(name="Person A", type=bpy.types.Object, poll=_poll_rig,
                           description="Rig of person A: a mesh with shape keys, an armature, or an armature with its mesh")
    rig_b: PointerProperty(name="Person B", type=bpy.types.Object, poll=_poll_rig,
                           description="Rig of person B: a mesh with shape keys, an armature, or an armature with its mesh")
    mapping_a: EnumProperty(name="Mapping A", items=_mapping_items,
                            description="How the generated channels map onto person A's shape keys and bones")
    mapping_b: EnumProperty(name="Mapping B", items=_mapping_items,
                            description="How the generated channels map onto person B's shape keys and bones")
    mapping_file_a: StringProperty(name="Mapping File A", subtype='FILE_PATH',
                                   description="Person A's mapping .json (used when the mapping is File)")
    mapping_file_b: StringProperty(name="Mapping File B", subtype='FILE_PATH',
                                   description="Person B's mapping .json (used when the mapping is File)")
    layout: EnumProperty(name="Layout", items=_layout_items(), default="face_to_face", update=_on_layout,
                         description="Where the two people stand; Add Head Rigs and Apply Layout place the rigs so")
    distance: FloatProperty(name="Distance", default=1.2, min=0.1, soft_max=5.0, unit='LENGTH',
                            description="Distance between the two heads' eye centres")
    height_offset: FloatProperty(name="Height Offset", default=0.0, soft_min=-1.0, soft_max=1.0, unit='LENGTH',
                                 description="How much higher person B's eyes are than person A's")
    audio_mode: EnumProperty(name="Audio", items=AUDIO_MODES, default="MIXED",
                             description="Where the dialogue comes from and how to tell who speaks")
    strip: EnumProperty(name="Strip", items=_strip_items,
                        description="Sound strip with the dialogue")
    strip_a: EnumProperty(name="Strip A", items=_strip_items, description="Sound strip with person A's voice")
    strip_b: EnumProperty(name="Strip B", items=_strip_items, description="Sound strip with person B's voice")
    audio_file: StringProperty(name="Audio File", subtype='FILE_PATH',
                               description="Dialogue audio file (WAV, FLAC, OGG, MP3)")
    file_is_stereo: BoolProperty(name="Stereo File", default=False,
                                 description="The file has one voice per channel (A left, B right)")
    swap_speakers: BoolProperty(name="Swap Speakers", default=False,
                                description="Exchange which voice drives person A and which person B")
    seed: IntProperty(name="Seed", default=DEFAULTS.seed, min=0,
                      description="Change for another variation of the same dialogue")
    steps: IntProperty(name="Quality", default=DEFAULTS.steps, min=1, soft_max=32, max=runtime_api.MAX_STEPS,
                       description="Sampling steps: more is smoother and slower")
    guidance: FloatProperty(name="Expressiveness", default=DEFAULTS.guidance, min=0.0, soft_max=4.0,
                            max=runtime_api.MAX_GUIDANCE,
                            description="How much the heads turn and the eyes move (guidance of head and gaze; 1 = off). "
                                        "Lip sync keeps its own")
    blinks_per_minute: FloatProperty(name="Blinks / min", default=DEFAULTS.blinks_per_minute, min=0.0, soft_max=30.0,
                                     max=runtime_api.MAX_BLINKS_PER_MINUTE,
                                     description="Each person blinks at least this often: the model's own "
                                                 "blinks are kept and more are added at turn starts and gaze "
                                                 "shifts (0: only the model's)")
    device: EnumProperty(name="Device", items=DEVICES, default="default",
                         description="Where the model runs")
    conversation_name: StringProperty(name="Name", default="Conversation",
                                      description="Name of the bake; a re-bake with the same name replaces it")
    use_nla: BoolProperty(name="Bake to NLA Strip", default=False,
                          description="Put the bake in its own NLA track instead of the active action")
    extend_scene_range: BoolProperty(name="Extend Scene Range", default=True,
                                     description="Extend the scene's frame range when the audio runs past it")
    show_preview: BoolProperty(name="Show Layout Preview", default=False, update=_redraw,
                               description="Draw each head's facing and its line of sight to the partner in the viewport")


classes = (TalkingTogetherSettings,)


_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register():
    _register_classes()
    bpy.types.Scene.talking_together = PointerProperty(type=TalkingTogetherSettings)


def unregister():
    del bpy.types.Scene.talking_together
    _unregister_classes()
