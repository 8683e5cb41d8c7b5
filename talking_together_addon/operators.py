"""Operators: ``bpy.ops.talking_together.*``. Thin wrappers over :mod:`api`."""
from __future__ import annotations

import logging
import os

import bpy
from bpy.props import EnumProperty, StringProperty
from bpy.types import Operator
from bpy_extras.io_utils import ExportHelper

from . import api, jobs
from .runtime import runtime_api

log = logging.getLogger(__name__)


def report_exception(op, exc: BaseException) -> set:
    """Report an error in the UI (unexpected ones also with a traceback in the console)."""
    if not isinstance(exc, (runtime_api.TalkingTogetherError, ValueError)):
        log.error("Talking Together: unexpected error", exc_info=exc)
    op.report({'ERROR'}, _sentence(jobs.error_message(exc)))
    return {'CANCELLED'}


def _run(op, action, *args, **kwargs) -> set:
    """Run an api call for an operator: FINISHED, or the error reported in the UI."""
    try:
        action(*args, **kwargs)
    except Exception as exc:
        return report_exception(op, exc)
    return {'FINISHED'}


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _tag_redraw(context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in {'VIEW_3D', 'STATUSBAR'}:
                area.tag_redraw()


def run_synchronously(context) -> bool:
    """No event loop to drive a modal operator: blender -b, the bpy module, no window."""
    return bpy.app.background or context.window is None


class TALKINGTOGETHER_OT_add_head_rigs(Operator):
    bl_idname = "talking_together.add_head_rigs"
    bl_label = "Add Head Rigs"
    bl_description = ("Add two default head rigs (face with ARKit shape keys, eyes, armature) placed by "
                      "the chosen layout, and use them as persons A and B")
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context):
        s = context.scene.talking_together
        return _run(self, api.add_head_rigs, context.scene, layout=s.layout, distance=s.distance,
                    height_offset=s.height_offset)


class TALKINGTOGETHER_OT_apply_layout(Operator):
    bl_idname = "talking_together.apply_layout"
    bl_label = "Apply Layout"
    bl_description = "Move persons A and B to the chosen layout preset, distance and height offset"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context):
        return _run(self, api.apply_layout, context.scene)


class TALKINGTOGETHER_OT_swap_rigs(Operator):
    bl_idname = "talking_together.swap_rigs"
    bl_label = "Swap Rigs"
    bl_description = "Exchange persons A and B (rigs and their mappings)"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context):
        s = context.scene.talking_together
        s.rig_a, s.rig_b = s.rig_b, s.rig_a
        s.mapping_a, s.mapping_b = s.mapping_b, s.mapping_a
        return {'FINISHED'}


class TALKINGTOGETHER_OT_clear_bake(Operator):
    bl_idname = "talking_together.clear_bake"
    bl_label = "Clear Bake"
    bl_description = "Remove this conversation's baked animation from both rigs (your own keys stay)"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context):
        return _run(self, api.clear_bake, context.scene, name=context.scene.talking_together.conversation_name)


class TALKINGTOGETHER_OT_export_mapping(Operator, ExportHelper):
    bl_idname = "talking_together.export_mapping"
    bl_label = "Export Mapping"
    bl_description = ("Write the mapping used for this person's rig (detected or chosen) to a .json file you "
                      "can edit; files saved in your presets folder appear in the Mapping list")
    filename_ext = ".json"
    filter_glob: StringProperty(default="*.json", options={'HIDDEN'})
    person: EnumProperty(name="Person", items=(("A", "Person A", ""), ("B", "Person B", "")))

    def invoke(self, context, event):
        from .properties import user_mapping_dir
        rig = getattr(context.scene.talking_together, f"rig_{self.person.lower()}")
        name = bpy.path.clean_name(rig.name if rig else "rig")
        self.filepath = os.path.join(user_mapping_dir(), f"{name}.json")
        return super().invoke(context, event)

    def execute(self, context):
        return _run(self, api.export_mapping, context.scene, self.person, self.filepath)


class TALKINGTOGETHER_OT_cancel_generation(Operator):
    bl_idname = "talking_together.cancel_generation"
    bl_label = "Cancel Generation"
    bl_description = "Stop the running generation; nothing is baked"

    @classmethod
    def poll(cls, context):
        job = jobs.active_job()
        return job is not None and job.running

    def execute(self, context):
        jobs.active_job().cancel()
        return {'FINISHED'}


class TALKINGTOGETHER_OT_generate(Operator):
    bl_idname = "talking_together.generate"
    bl_label = "Generate Conversation"
    bl_description = ("Generate both people's face, head and eye motion from the dialogue audio and bake "
                      "it as keyframes (Esc cancels)")
    # One undo step per bake: Blender pushes it when execute() or modal() returns FINISHED.
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        job = jobs.active_job()
        return context.scene is not None and not (job is not None and job.running)

    def _prepare(self, context):
        plan = api.prepare_from_settings(context.scene)
        for w in plan.warnings:
            self.report({'WARNING'}, _sentence(w))
        return plan

    def execute(self, context):
        """Synchronous: background mode, scripts (EXEC_DEFAULT) and farms."""
        try:
            plan = self._prepare(context)
        except Exception as exc:
            return report_exception(self, exc)
        job = jobs.GenerationJob(plan.work).run_sync()
        return self._finish(plan, job)

    def invoke(self, context, event):
        if run_synchronously(context):
            return self.execute(context)
        try:
            self._plan = self._prepare(context)
            self._job = jobs.GenerationJob(self._plan.work).start()
        except Exception as exc:
            return report_exception(self, exc)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        self._show_status(context)
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        if event.type in {'ESC', 'RIGHTMOUSE'} and event.value == 'PRESS':
            self._job.cancel()      # the worker stops at its next progress call
            self._end(context)
            self.report({'INFO'}, "Generation cancelled; nothing was baked")
            return {'CANCELLED'}
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        if self._job.poll():
            self._show_status(context)
        if not self._job.done:
            return {'PASS_THROUGH'}
        self._end(context)
        return self._finish(self._plan, self._job)

    def _show_status(self, context) -> None:
        job = self._job
        context.window_manager.progress_update(int(job.fraction * 100))
        text = f"Talking Together: {job.message} ({job.fraction:.0%}). Esc to cancel"
        if context.workspace is not None:
            context.workspace.status_text_set(text)
        _tag_redraw(context)

    def _end(self, context) -> None:
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        _tag_redraw(context)

    def _finish(self, plan, job) -> set:
        """Bake on the main thread, or report why not; nothing is written unless it succeeds."""
        job.release()
        if job.error is not None:
            return report_exception(self, job.error)
        if job.cancelled or job.result is None:
            self.report({'INFO'}, "Generation cancelled; nothing was baked")
            return {'CANCELLED'}
        try:
            report = api.finish(plan, job.result)
        except Exception as exc:
            return report_exception(self, exc)
        if report.missing:   # a user rig without some shapes or bones: fine, but say so
            shown = ", ".join(report.missing[:6]) + (" ..." if len(report.missing) > 6 else "")
            self.report({'WARNING'}, f"Not on the rig, skipped: {shown}")
        self.report({'INFO'}, f"Baked {plan.name!r}: {_describe(report)}")
        return {'FINISHED'}


def _describe(report) -> str:
    first, last = report.frame_range
    return (f"{report.keys_written} keys on {report.fcurves} F-curves, frames "
            f"{first:.0f}-{last:.0f}, in {report.seconds:.1f} s")


classes = (
    TALKINGTOGETHER_OT_add_head_rigs,
    TALKINGTOGETHER_OT_apply_layout,
    TALKINGTOGETHER_OT_swap_rigs,
    TALKINGTOGETHER_OT_clear_bake,
    TALKINGTOGETHER_OT_export_mapping,
    TALKINGTOGETHER_OT_cancel_generation,
    TALKINGTOGETHER_OT_generate,
)


register, unregister = bpy.utils.register_classes_factory(classes)
