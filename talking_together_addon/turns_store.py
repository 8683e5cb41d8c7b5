"""Speaker turns kept on the scene (``scene.talking_together_turns``), and the functions that
fill them: the runtime's analysis, a turns file, or the artist's edits on the timeline.

Turns are stored in seconds from the start of the dialogue audio, as the runtime counts
them; ``origin_frame`` is the scene frame where that audio started when they were made, so
they can be drawn on (and read back from) the sequencer's turn lanes (``turns_timeline``).
Nothing here writes to the scene unless the turns were read and checked first.
"""
from __future__ import annotations

import os

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)

from . import audio_source, turns_timeline
from .runtime import require_pytorch, runtime_api

PEOPLE = [("A", "A", "Person A speaks"), ("B", "B", "Person B speaks")]
_drawing = [False]      # True while the store itself fills the list: no redraw per item


def _on_span_edit(self, context):
    """A start, end or person changed in the panel's list: show it on the timeline too."""
    if not _drawing[0]:
        turns_timeline.redraw_if_untouched(self.id_data, stored_turns(self.id_data))


class TALKINGTOGETHER_PG_turn(bpy.types.PropertyGroup):
    start: FloatProperty(name="Start", min=0.0, precision=2, step=4, unit='TIME_ABSOLUTE',
                         update=_on_span_edit, description="When the turn starts, seconds from the audio's start")
    end: FloatProperty(name="End", min=0.0, precision=2, step=4, unit='TIME_ABSOLUTE',
                       update=_on_span_edit, description="When the turn ends, seconds from the audio's start")
    person: EnumProperty(name="Person", items=PEOPLE, update=_on_span_edit, description="Who speaks")


class TALKINGTOGETHER_PG_turns(bpy.types.PropertyGroup):
    spans: CollectionProperty(type=TALKINGTOGETHER_PG_turn)
    active: IntProperty(name="Active Turn", default=0)
    use_turns: BoolProperty(name="Use Turns", default=False,
                            description="Generate from these turns (who speaks when) instead of "
                                        "analysing the audio again")
    source: StringProperty(name="Source", description="Where the turns came from")
    speakers: StringProperty(name="Speakers", default="",
                             description="Labels of A and B in a turns file, comma separated (e.g. "
                                         "agent, caller); empty: A and B in order of appearance")
    origin_frame: FloatProperty(name="Audio Start", default=0.0,
                                description="Scene frame where the audio started when the turns were made")
    lane_channel: IntProperty(name="Turn Lanes", default=0, min=0,
                              description="Sequencer channel of A's turns (B's is the next one); 0: none yet")
    lane_signature: StringProperty(description="The lanes as last drawn, to tell whether the artist edited them")


# ---- reading and writing the stored turns ------------------------------------------------
def settings(scene):
    return scene.talking_together_turns


def stored_turns(scene):
    """The panel's list as runtime Turns (unchecked: the runtime checks them)."""
    spans = tuple(runtime_api.Turn(float(s.start), float(s.end), 0 if s.person == 'A' else 1)
                  for s in settings(scene).spans)
    return runtime_api.Turns(spans, source="the turns in the Turns panel")


def store(scene, turns, source: str, origin_frame: float) -> None:
    """Replace the scene's turns (already checked) and draw them on the timeline."""
    t = settings(scene)
    _drawing[0] = True
    try:
        t.spans.clear()
        for turn in turns:
            item = t.spans.add()
            item.start, item.end, item.person = turn.start, turn.end, "AB"[turn.person]
    finally:
        _drawing[0] = False
    t.active = 0
    t.source, t.origin_frame = source, origin_frame
    turns_timeline.draw(scene, turns)


def current_turns(scene):
    """The turns as the artist last left them: the timeline lanes when they were edited
    there (moved, trimmed, duplicated, deleted strips), else the panel's list."""
    stored = stored_turns(scene)
    edited = turns_timeline.read_if_edited(scene, stored)
    return edited if edited is not None else stored


def turns_for_generation(scene):
    """What the panel's Generate uses: the current turns with Use Turns on, else None."""
    return current_turns(scene) if settings(scene).use_turns else None


# ---- filling them ------------------------------------------------------------------------
def _audio_plan(scene, audio=None):
    s = scene.talking_together
    if audio is None:
        return audio_source.plan_from_settings(scene, s)
    return audio_source.plan_from_value(scene, audio)


def ensure_origin(scene) -> float:
    """The scene frame turns count from: kept once there are turns, else where the chosen
    dialogue audio starts (the scene's start frame when no audio is chosen yet)."""
    t = settings(scene)
    if not t.spans and not turns_timeline.turn_strips(scene):
        try:
            t.origin_frame = _audio_plan(scene).frame_range[0]
        except runtime_api.AudioError:
            t.origin_frame = float(scene.frame_start)
    return t.origin_frame


def audio_seconds(scene, audio_plan) -> float:
    start, end = audio_plan.frame_range
    return (end - start) / audio_source.scene_fps(scene)


def prepare_analysis(scene, audio=None):
    """Check what analysis needs (main thread, writes nothing); returns the AudioPlan."""
    require_pytorch()
    return _audio_plan(scene, audio)


def analysis_work(plan):
    """The slow part, with no Blender data (a worker thread may run it): progress -> Turns."""
    def work(progress):
        progress(0.1, "Telling the two voices apart")
        return runtime_api.analyse_turns(plan.build())
    return work


def finish_analysis(scene, plan, turns) -> None:
    store(scene, turns, "analysis of the audio", plan.frame_range[0])


def analyse(scene=None, audio=None):
    """Run the runtime's speaker analysis on the dialogue (the panel's audio unless
    ``audio`` is given), store the turns on the scene and draw them; returns them."""
    scene = scene or bpy.context.scene
    plan = prepare_analysis(scene, audio)
    turns = analysis_work(plan)(lambda fraction, message: None)
    finish_analysis(scene, plan, turns)
    return turns


def read_file(scene, path: str, speakers=None, audio=None):
    """A turns file read and checked against the dialogue's length (when the audio can be
    found); returns (turns, audio start frame). Raises, changing nothing, on a bad file."""
    path = bpy.path.abspath(path)
    try:
        plan = _audio_plan(scene, audio)
    except runtime_api.AudioError:
        plan = None           # no audio chosen yet: Generate checks the length later
    duration = audio_seconds(scene, plan) if plan else None
    turns = runtime_api.read_turns(path, speakers=speakers, duration=duration)
    return turns, (plan.frame_range[0] if plan else float(scene.frame_start))


def import_file(scene=None, path: str = "", speakers=None, audio=None):
    """Import turns from an RTTM, Audacity label or CSV file onto the scene and use them.
    On a bad file (TurnsError naming the line) nothing in the scene changes."""
    scene = scene or bpy.context.scene
    turns, origin = read_file(scene, path, speakers, audio)
    store(scene, turns, os.path.basename(path), origin)
    settings(scene).use_turns = True
    return turns


def resolve(scene, value, audio_plan):
    """The API's ``turns=``: None, Turns, or a turns file path -> checked Turns or None."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)):
        return runtime_api.read_turns(bpy.path.abspath(os.fspath(value)),
                                      duration=audio_seconds(scene, audio_plan))
    return value.checked(audio_seconds(scene, audio_plan))


classes = (TALKINGTOGETHER_PG_turn, TALKINGTOGETHER_PG_turns)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(classes)


def register():
    _register_classes()
    bpy.types.Scene.talking_together_turns = PointerProperty(type=TALKINGTOGETHER_PG_turns)


def unregister():
    del bpy.types.Scene.talking_together_turns
    _unregister_classes()
