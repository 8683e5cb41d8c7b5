"""The Turns panel and its operators: see who speaks when, correct it, import it.

Every edit starts from the turns as the artist last left them (the timeline strips when
they were edited there, else the list) and stores the result in both places, so the list and
the sequencer lanes never disagree after an operator. All operators are undoable; a bad file
or a failed analysis leaves the scene as it was.
"""
from __future__ import annotations

from dataclasses import replace

import bpy
from bpy.props import StringProperty
from bpy.types import Operator, Panel, UIList
from bpy_extras.io_utils import ExportHelper, ImportHelper

from . import jobs, turns_store, turns_timeline
from .operators import report_exception, run_synchronously
from .audio_source import scene_fps
from .runtime import runtime_api

NEW_TURN_SECONDS = 1.0
FILE_FILTER = "*.rttm;*.txt;*.tsv;*.lab;*.csv"


def _active(scene):
    """(current turns, index of the active one) or ValueError when there is none."""
    if turns_timeline.was_edited(scene):   # the list's selection may name another turn now
        raise ValueError("the turns were edited on the timeline: click Read Timeline first, then "
                         "select the turn in the list again.")
    turns = turns_store.current_turns(scene)
    index = turns_store.settings(scene).active
    if not 0 <= index < len(turns):
        raise ValueError("no turn selected: click one in the Turns list first.")
    return turns, index


def _store_edit(scene, turns, focus) -> None:
    """Store edited turns (source unchanged) and make ``focus`` the active list row."""
    t = turns_store.settings(scene)
    turns_store.store(scene, turns, t.source or "edited by hand", t.origin_frame)
    t.active = next((i for i, s in enumerate(turns) if s == focus), 0)


class _TurnsOperator(Operator):
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context):
        try:
            message = self.edit(context.scene)
        except Exception as exc:
            return report_exception(self, exc)
        if message:
            self.report({'INFO'}, message)
        return {'FINISHED'}


class TALKINGTOGETHER_OT_analyse_turns(_TurnsOperator):
    bl_idname = "talking_together.analyse_turns"
    bl_label = "Analyse Turns"
    bl_description = ("Find who speaks when in the dialogue audio and show it as turns in the list and "
                      "on the Video Sequencer (one lane per person), ready to correct")

    @classmethod
    def poll(cls, context):
        job = jobs.active_job()
        return context.scene is not None and not (job is not None and job.running)

    def edit(self, scene):
        """Synchronous: background mode and scripts."""
        return _found(turns_store.analyse(scene))

    def invoke(self, context, event):
        """In the UI the analysis runs in a worker thread, so Blender keeps drawing."""
        if run_synchronously(context):
            return self.execute(context)
        try:
            self._plan = turns_store.prepare_analysis(context.scene)
            self._job = jobs.GenerationJob(turns_store.analysis_work(self._plan)).start()
        except Exception as exc:
            return report_exception(self, exc)
        self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        if event.type != 'TIMER' or not self._job.done:
            return {'PASS_THROUGH'}
        context.window_manager.event_timer_remove(self._timer)
        self._job.release()
        if self._job.error is not None:
            return report_exception(self, self._job.error)
        if self._job.cancelled or self._job.result is None:
            self.report({'INFO'}, "Analysis cancelled; the turns are as they were")
            return {'CANCELLED'}
        try:
            turns_store.finish_analysis(context.scene, self._plan, self._job.result)
        except Exception as exc:
            return report_exception(self, exc)
        self.report({'INFO'}, _found(self._job.result))
        return {'FINISHED'}


def _found(turns) -> str:
    return f"Found {len(turns)} turns; correct them in the Turns list or on the timeline"


class TALKINGTOGETHER_OT_import_turns(_TurnsOperator, ImportHelper):
    bl_idname = "talking_together.import_turns"
    bl_label = "Import Turns"
    bl_description = ("Read who speaks when from an RTTM file, an Audacity label track or a CSV file "
                      "(start,end,person) and use those turns for Generate")
    filter_glob: StringProperty(default=FILE_FILTER, options={'HIDDEN'})

    def edit(self, scene):
        speakers = runtime_api.parse_speakers(turns_store.settings(scene).speakers)
        turns = turns_store.import_file(scene, self.filepath, speakers=speakers)
        return f"Imported {len(turns)} turns ({turns.speakers[0]} is A, {turns.speakers[1]} is B)"


class TALKINGTOGETHER_OT_export_turns(_TurnsOperator, ExportHelper):
    bl_idname = "talking_together.export_turns"
    bl_label = "Export Turns"
    bl_description = "Write the turns to an RTTM (.rttm), Audacity label (.txt) or CSV (.csv) file"
    bl_options = {'REGISTER'}
    filename_ext = ".rttm"
    filter_glob: StringProperty(default=FILE_FILTER, options={'HIDDEN'})

    def edit(self, scene):
        path = runtime_api.write_turns(turns_store.current_turns(scene).checked(), self.filepath)
        return f"Wrote the turns to {path}"


class TALKINGTOGETHER_OT_add_turn(_TurnsOperator):
    bl_idname = "talking_together.add_turn"
    bl_label = "Add Turn"
    bl_description = "Add a turn at the playhead for the selected turn's person (A when none)"

    def edit(self, scene):
        turns = turns_store.current_turns(scene)
        t = turns_store.settings(scene)
        person = turns.spans[t.active].person if 0 <= t.active < len(turns) else 0
        start = max(0.0, (scene.frame_current - turns_store.ensure_origin(scene)) / scene_fps(scene))
        later = [s.start for s in turns.of(person) if s.start >= start]
        end = min([start + NEW_TURN_SECONDS] + later)
        new = runtime_api.Turn(start, end, person)
        if end <= start or any(s.start <= start < s.end for s in turns.of(person)):
            raise ValueError(f"person {'AB'[person]} already speaks at the playhead; move the playhead "
                             "to where they are silent.")
        _store_edit(scene, replace(turns, spans=turns.spans + (new,)), new)


class TALKINGTOGETHER_OT_delete_turn(_TurnsOperator):
    bl_idname = "talking_together.delete_turn"
    bl_label = "Delete Turn"
    bl_description = "Delete the selected turn"

    def edit(self, scene):
        turns, index = _active(scene)
        spans = turns.spans[:index] + turns.spans[index + 1:]
        _store_edit(scene, replace(turns, spans=spans), spans[min(index, len(spans) - 1)] if spans else None)


class TALKINGTOGETHER_OT_give_turn(_TurnsOperator):
    bl_idname = "talking_together.give_turn_to_other"
    bl_label = "Give to Other Person"
    bl_description = ("Give the selected turn to the other person (joined with their own turns where "
                      "they already speak)")

    def edit(self, scene):
        turns, index = _active(scene)
        given = replace(turns.spans[index], person=1 - turns.spans[index].person)
        edited = replace(turns, spans=turns.spans[:index] + (given,) + turns.spans[index + 1:]).merged()
        focus = next((s for s in edited.of(given.person) if s.start <= given.start < s.end), None)
        _store_edit(scene, edited, focus)


class TALKINGTOGETHER_OT_read_timeline_turns(_TurnsOperator):
    bl_idname = "talking_together.read_timeline_turns"
    bl_label = "Read Timeline"
    bl_description = "Take the turns from the timeline strips as you edited them into the list"

    def edit(self, scene):
        turns = turns_timeline.read(scene, turns_store.stored_turns(scene))
        _store_edit(scene, turns, None)
        return f"Read {len(turns)} turns from the timeline"


class TALKINGTOGETHER_OT_draw_timeline_turns(_TurnsOperator):
    bl_idname = "talking_together.draw_timeline_turns"
    bl_label = "Redraw Timeline"
    bl_description = "Draw the list's turns on the timeline again, replacing edits made to the strips"

    def edit(self, scene):
        turns_timeline.draw(scene, turns_store.stored_turns(scene))


class TALKINGTOGETHER_UL_turns(UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row(align=True)
        row.prop(item, "person", text="")
        row.prop(item, "start", text="")
        row.prop(item, "end", text="")


class VIEW3D_PT_talking_together_turns(Panel):
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "Talking Together"
    bl_parent_id = "VIEW3D_PT_talking_together"
    bl_label = "Turns"
    bl_options = {'DEFAULT_CLOSED'}

    def draw_header(self, context):
        self.layout.prop(turns_store.settings(context.scene), "use_turns", text="")

    def draw(self, context):
        scene, layout = context.scene, self.layout
        t = turns_store.settings(scene)
        row = layout.row(align=True)
        row.operator("talking_together.analyse_turns", icon='SPEAKER')
        row.operator("talking_together.import_turns", icon='IMPORT', text="Import")
        layout.prop(t, "speakers")
        if t.source:
            layout.label(text=f"From {t.source}", icon='INFO')
        row = layout.row()
        row.template_list("TALKINGTOGETHER_UL_turns", "", t, "spans", t, "active", rows=5)
        col = row.column(align=True)
        col.operator("talking_together.add_turn", icon='ADD', text="")
        col.operator("talking_together.delete_turn", icon='REMOVE', text="")
        col.operator("talking_together.give_turn_to_other", icon='ARROW_LEFTRIGHT', text="")
        if turns_timeline.was_edited(scene):
            layout.label(text="Turns edited on the timeline", icon='SEQ_SEQUENCER')
            row = layout.row(align=True)
            row.operator("talking_together.read_timeline_turns", icon='IMPORT')
            row.operator("talking_together.draw_timeline_turns", icon='FILE_REFRESH')
        layout.operator("talking_together.export_turns", icon='EXPORT')


classes = (
    TALKINGTOGETHER_OT_analyse_turns,
    TALKINGTOGETHER_OT_import_turns,
    TALKINGTOGETHER_OT_export_turns,
    TALKINGTOGETHER_OT_add_turn,
    TALKINGTOGETHER_OT_delete_turn,
    TALKINGTOGETHER_OT_give_turn,
    TALKINGTOGETHER_OT_read_timeline_turns,
    TALKINGTOGETHER_OT_draw_timeline_turns,
    TALKINGTOGETHER_UL_turns,
    VIEW3D_PT_talking_together_turns,
)


register, unregister = bpy.utils.register_classes_factory(classes)
