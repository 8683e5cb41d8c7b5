"""The turns on the timeline: one Video Sequencer channel ("lane") per person, one colour
strip per turn. Artists move, trim, duplicate (Shift+D) or delete the strips, or drag one to
the other person's lane; the edits are read back from the strips.

The strips are muted, so they never cover the rendered picture (a muted strip is left out of
the sequencer's output) yet stay fully editable. They carry a custom property so that the
artist's own colour strips are never taken for turns.
"""
from __future__ import annotations


from .audio_source import scene_fps
from .runtime import runtime_api
from .vse_compat import top_strips

TURN_KEY = "talking_together_turn"
LANE_NAMES = ("Turns A", "Turns B")
COLOURS = ((0.95, 0.55, 0.15), (0.2, 0.55, 0.95))    # A orange, B blue, as in the preview
SOURCE = "the turn strips on the timeline"


def turn_strips(scene) -> list:
    """The colour strips that are turns (made by ``draw`` or duplicated from them); a strip
    the artist put into a meta strip is no longer on a lane, so no longer a turn."""
    editor = scene.sequence_editor
    if editor is None:
        return []
    return [s for s in top_strips(editor) if s.type == 'COLOR' and s.get(TURN_KEY)]


def _settings(scene):
    return scene.talking_together_turns


def _frames(scene, turn) -> tuple[int, int]:
    """Scene frames of a turn on the lanes: whole frames, at least one."""
    t, fps = _settings(scene), scene_fps(scene)
    first = round(t.origin_frame + turn.start * fps)
    return first, max(round(t.origin_frame + turn.end * fps), first + 1)


def _lane_channel(scene) -> int:
    """A's lane (B's is the next channel): the one used before, else above every strip."""
    t = _settings(scene)
    if t.lane_channel == 0:
        editor = scene.sequence_editor
        used = [s.channel for s in top_strips(editor) if not s.get(TURN_KEY)] if editor else []
        t.lane_channel = max(used, default=0) + 1
    return t.lane_channel


def _new_colour_strip(editor, name: str, channel: int, start: int, end: int):
    strips = top_strips(editor)
    try:
        return strips.new_effect(name, 'COLOR', channel, start, length=end - start)
    except TypeError:      # before 5.0 the end frame was given instead of the length
        return strips.new_effect(name, 'COLOR', channel, start, frame_end=end)


def draw(scene, turns) -> None:
    """Replace the lanes' strips with ``turns``."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    clear(scene)
    channel = _lane_channel(scene)
    for person, name in enumerate(LANE_NAMES):
        editor.channels[channel + person].name = name
    for number, turn in enumerate(turns, 1):
        start, end = _frames(scene, turn)
        strip = _new_colour_strip(editor, f"Turn {'AB'[turn.person]} {number}",
                                  channel + turn.person, start, end)
        strip.color = COLOURS[turn.person]
        strip.mute = True
        strip[TURN_KEY] = True
    _settings(scene).lane_signature = signature(scene)


def clear(scene) -> None:
    """Remove the turn strips (the artist's other strips stay)."""
    editor = scene.sequence_editor
    for strip in turn_strips(scene):
        top_strips(editor).remove(strip)


def signature(scene) -> str:
    """The lanes as they are now, in a few characters: a change means the artist edited them."""
    channel = _settings(scene).lane_channel
    spans = sorted((s.channel - channel, s.frame_final_start, s.frame_final_end) for s in turn_strips(scene))
    return ";".join(f"{c}:{a}:{b}" for c, a, b in spans)


def was_edited(scene) -> bool:
    return bool(turn_strips(scene)) and signature(scene) != _settings(scene).lane_signature


def read(scene, known=()):
    """The turns the lanes show: a strip on A's channel is A's, on the next one B's; one
    person's overlapping strips are joined. Strips moved to other channels are left out.
    A boundary still on the frame where a ``known`` turn's boundary was drawn keeps that
    turn's exact time (strips snap to whole frames, the analysis does not)."""
    channel, fps, origin = _settings(scene).lane_channel, scene_fps(scene), _settings(scene).origin_frame
    starts = {(t.person, _frames(scene, t)[0]): t.start for t in known}
    ends = {(t.person, _frames(scene, t)[1]): t.end for t in known}
    spans = []
    for strip in turn_strips(scene):
        person, first, last = strip.channel - channel, strip.frame_final_start, strip.frame_final_end
        if person in (0, 1):
            spans.append(runtime_api.Turn(starts.get((person, first), (first - origin) / fps),
                                          ends.get((person, last), (last - origin) / fps), person))
    return runtime_api.Turns(tuple(spans), source=SOURCE).merged()


def read_if_edited(scene, known=()):
    """The lanes' turns when the artist edited the strips since they were drawn, else None."""
    return read(scene, known) if was_edited(scene) else None


def redraw_if_untouched(scene, turns) -> bool:
    """Show a list edit on the lanes, unless the artist edited the lanes themselves (their
    edits are not thrown away: the panel offers to read them back)."""
    if was_edited(scene):
        return False
    draw(scene, turns)
    return True


__all__ = ["LANE_NAMES", "TURN_KEY", "clear", "draw", "read", "read_if_edited", "redraw_if_untouched",
           "turn_strips", "was_edited"]
