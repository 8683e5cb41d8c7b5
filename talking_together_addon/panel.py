"""The "Talking Together" tab in the 3D Viewport's sidebar."""
from __future__ import annotations

import bpy
from bpy.types import Panel

from . import jobs
from .preferences import draw_torch_status
from .properties import FREE_LAYOUT


class _TabPanel:
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "Talking Together"


class VIEW3D_PT_talking_together(_TabPanel, Panel):
    bl_label = "Talking Together"

    def draw(self, context):
        layout = self.layout
        draw_torch_status(layout)   # the Install button instead of an error when PyTorch is missing
        job = jobs.active_job()
        if job is not None and job.running:
            layout.progress(factor=job.fraction, type='BAR',
                            text=f"{job.message} ({job.fraction:.0%})")
            layout.operator("talking_together.cancel_generation", icon='CANCEL')


class _SubPanel(_TabPanel):
    bl_parent_id = "VIEW3D_PT_talking_together"

    @staticmethod
    def settings(context):
        return context.scene.talking_together


def draw_rig_summary(layout, settings, who: str) -> None:
    """The detected convention, what will move and what is missing, before Generate."""
    rig = getattr(settings, f"rig_{who}")
    if rig is None:
        return
    box = layout.box().column(align=True)
    try:
        from . import rig_binding, rig_checks
        from .properties import mapping_choice
        info = rig_checks.summary(rig_binding.resolve_rig(rig, mapping_choice(settings, who)))
    except Exception as exc:        # a rig or file the binding refuses: say why, in the panel
        box.label(text=str(exc)[:120], icon='ERROR')
        return
    box.label(text=info["convention"] or "Unknown convention", icon='ARMATURE_DATA')
    moves = f"Moves {len(info['keys'])} shape keys"
    moves += f", bones: {', '.join(info['bones'])}" if info["bones"] else ", no bones"
    box.label(text=moves, icon='CHECKMARK' if info["keys"] or info["bones"] else 'ERROR')
    if info["missing"]:
        shown = ", ".join(info["missing"][:4]) + (" ..." if len(info["missing"]) > 4 else "")
        box.label(text=f"Missing: {shown}", icon='ERROR')
    for note in info["notes"]:
        box.label(text=note[:120], icon='INFO')
    op = box.operator("talking_together.export_mapping", icon='EXPORT')
    op.person = who.upper()


class VIEW3D_PT_talking_together_conversation(_SubPanel, Panel):
    bl_label = "Conversation"

    def draw(self, context):
        s = self.settings(context)
        layout = self.layout
        layout.use_property_split = True
        layout.operator("talking_together.add_head_rigs", icon='ADD')
        for who in ("a", "b"):
            col = layout.column(align=True)
            col.prop(s, f"rig_{who}")
            col.prop(s, f"mapping_{who}", text="Mapping")
            if getattr(s, f"mapping_{who}") == "FILE":
                col.prop(s, f"mapping_file_{who}", text="File")
            draw_rig_summary(col, s, who)
        layout.operator("talking_together.swap_rigs", icon='ARROW_LEFTRIGHT')
        layout.prop(s, "layout")
        if s.layout != FREE_LAYOUT:
            layout.prop(s, "distance")
            layout.prop(s, "height_offset")
            layout.operator("talking_together.apply_layout", icon='CON_TRACKTO')


class VIEW3D_PT_talking_together_audio(_SubPanel, Panel):
    bl_label = "Audio"

    def draw(self, context):
        s = self.settings(context)
        layout = self.layout
        layout.use_property_split = True
        layout.prop(s, "audio_mode")
        if s.audio_mode == 'FILE':
            layout.prop(s, "audio_file")
            layout.prop(s, "file_is_stereo")
        elif s.audio_mode == 'PER_PERSON':
            layout.prop(s, "strip_a")
            layout.prop(s, "strip_b")
        else:
            layout.prop(s, "strip")
        layout.prop(s, "swap_speakers")


class VIEW3D_PT_talking_together_generation(_SubPanel, Panel):
    bl_label = "Generation"

    def draw(self, context):
        s = self.settings(context)
        layout = self.layout
        layout.use_property_split = True
        layout.prop(s, "seed")
        layout.prop(s, "steps")
        layout.prop(s, "guidance")
        layout.prop(s, "blinks_per_minute")
        layout.prop(s, "device")


class VIEW3D_PT_talking_together_bake(_SubPanel, Panel):
    bl_label = "Bake"

    def draw(self, context):
        s = self.settings(context)
        layout = self.layout
        layout.use_property_split = True
        layout.prop(s, "conversation_name")
        layout.prop(s, "use_nla")
        layout.prop(s, "extend_scene_range")
        row = layout.row()
        row.scale_y = 1.5
        row.operator("talking_together.generate", icon='PLAY')
        layout.operator("talking_together.clear_bake", icon='TRASH')


class VIEW3D_PT_talking_together_preview(_SubPanel, Panel):
    bl_label = "Preview"
    bl_options = {'DEFAULT_CLOSED'}

    def draw_header(self, context):
        self.layout.prop(self.settings(context), "show_preview", text="")

    def draw(self, context):
        layout = self.layout
        layout.label(text="Blue: where each head faces")
        layout.label(text="Green: eye contact possible", icon='CHECKMARK')
        layout.label(text="Orange: a partner is out of reach", icon='ERROR')


classes = (
    VIEW3D_PT_talking_together,
    VIEW3D_PT_talking_together_conversation,
    VIEW3D_PT_talking_together_audio,
    VIEW3D_PT_talking_together_generation,
    VIEW3D_PT_talking_together_bake,
    VIEW3D_PT_talking_together_preview,
)


register, unregister = bpy.utils.register_classes_factory(classes)
