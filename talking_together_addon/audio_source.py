"""Sound strips and files to the runtime's AudioClips, on the scene's timeline in seconds.

Only cheap checks run here (strip exists, file exists, not muted, not empty), on the main
thread; reading and resampling the audio happens in the runtime, in the worker.
Timeline seconds are ``frame / fps`` with ``fps = render.fps / render.fps_base``, so frame
0 is 0 s and fractional rates such as 29.97 place clips exactly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import bpy

from .properties import sound_strips
from .runtime import runtime_api

AudioError = runtime_api.AudioError


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def find_strip(scene, name: str):
    """The sound strip called ``name`` (AudioError naming what to do when there is none)."""
    strips = sound_strips(scene)
    if not strips:
        raise AudioError("the scene has no sound strip: add the dialogue in the Video Sequencer "
                         "(Add > Sound) or choose the File audio mode.")
    if not name or name == "NONE":
        if len(strips) == 1:      # the usual case: nothing to choose
            return strips[0]
        raise AudioError("no sound strip chosen: pick one in the Audio panel.")
    for s in strips:
        if s.name == name:
            return s
    raise AudioError(f"sound strip {name!r} not found; choose one of: "
                     f"{', '.join(s.name for s in strips)}")


def _strip_path(strip) -> str:
    sound = strip.sound
    if sound is None or not sound.filepath:
        raise AudioError(f"sound strip {strip.name!r} has no sound file.")
    path = bpy.path.abspath(sound.filepath, library=sound.library)
    if not os.path.isfile(path):
        if sound.packed_file is not None:
            raise AudioError(f"the sound of strip {strip.name!r} is packed into the .blend file; "
                             "unpack it (File > External Data > Unpack Resources) first.")
        raise AudioError(f"sound strip {strip.name!r}: file not found: {path}")
    return path


@dataclass
class StripSpan:
    """The visible part of a strip: scene frames [start, end) and its clip."""
    start: float
    end: float
    clip: object


def strip_span(scene, strip, channel: int | None = None) -> StripSpan:
    """The AudioClip a sound strip plays: its trims, its position and its volume."""
    if strip.mute:
        raise AudioError(f"sound strip {strip.name!r} is muted; unmute it (or choose another strip).")
    if strip.frame_final_duration <= 0:
        raise AudioError(f"sound strip {strip.name!r} is empty (trimmed to zero length).")
    if strip.volume <= 0.0:
        raise AudioError(f"sound strip {strip.name!r} has volume 0; raise its volume.")
    path = _strip_path(strip)
    fps = scene_fps(scene)
    start, end = float(strip.frame_final_start), float(strip.frame_final_end)
    # frame_start is where the untrimmed sound begins; sound_offset shifts the sound inside it.
    source_start = (start - strip.frame_start) / fps + getattr(strip, "sound_offset", 0.0)
    clip = runtime_api.audio_clip(path, source_start=max(0.0, source_start), timeline_start=start / fps,
                           duration=(end - start) / fps, gain=float(strip.volume), channel=channel)
    return StripSpan(start, end, clip)


def file_span(scene, path: str, start_frame: float | None = None) -> StripSpan:
    """An audio file played from the scene's start frame (or ``start_frame``)."""
    if not path:
        raise AudioError("no audio file chosen: pick one in the Audio panel.")
    path = bpy.path.abspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"audio file not found: {path}")
    start = float(scene.frame_start if start_frame is None else start_frame)
    seconds = _file_duration(path)
    if seconds <= 0:
        raise AudioError(f"audio file {path} is empty.")
    fps = scene_fps(scene)
    clip = runtime_api.audio_clip(path, timeline_start=start / fps)
    return StripSpan(start, start + seconds * fps, clip)


def _file_duration(path: str) -> float:
    """Seconds of audio in a file, from its header only."""
    import soundfile as sf
    try:
        info = sf.info(path)
    except Exception as exc:   # libsndfile reports corrupt and unsupported files alike
        raise AudioError(f"cannot read audio file {path}: {exc}") from None
    return info.frames / info.samplerate if info.samplerate else 0.0


@dataclass
class AudioPlan:
    """What to read, how, and which scene frames it covers."""
    mode: str                 # mixed | per_person | stereo
    spans: list               # StripSpan per clip; for per_person the first len_a are A's
    len_a: int = 0

    @property
    def frame_range(self) -> tuple[float, float]:
        return min(s.start for s in self.spans), max(s.end for s in self.spans)

    def build(self):
        """Read the audio into a ConversationAudio (slow: run it in the worker)."""
        clips = [s.clip for s in self.spans]
        if self.mode == "per_person":
            return runtime_api.conversation_audio(self.mode, clips[:self.len_a], clips[self.len_a:])
        return runtime_api.conversation_audio(self.mode, clips)


def plan_from_settings(scene, settings) -> AudioPlan:
    """Check the panel's audio choice and turn it into an AudioPlan."""
    mode = settings.audio_mode
    if mode == 'FILE':
        return AudioPlan("stereo" if settings.file_is_stereo else "mixed",
                         [file_span(scene, settings.audio_file)])
    if mode == 'PER_PERSON':
        a, b = find_strip(scene, settings.strip_a), find_strip(scene, settings.strip_b)
        if a == b:
            raise AudioError("the same sound strip is chosen for both people; pick one strip per person "
                             "or use the Mixed Strip mode.")
        return AudioPlan("per_person", [strip_span(scene, a), strip_span(scene, b)], len_a=1)
    span = strip_span(scene, find_strip(scene, settings.strip))
    return AudioPlan("stereo" if mode == 'STEREO' else "mixed", [span])


def plan_from_value(scene, audio, stereo: bool = False) -> AudioPlan:
    """The API's audio argument: a file path, a strip or its name, or a pair (one per person)."""
    if isinstance(audio, (tuple, list)):
        if len(audio) != 2:
            raise AudioError("give one strip per person: a pair (strip_a, strip_b).")
        spans = [strip_span(scene, _as_strip(scene, s)) for s in audio]
        return AudioPlan("per_person", spans, len_a=1)
    mode = "stereo" if stereo else "mixed"
    if isinstance(audio, str) and os.path.splitext(audio)[1] and not _is_strip_name(scene, audio):
        return AudioPlan(mode, [file_span(scene, audio)])
    return AudioPlan(mode, [strip_span(scene, _as_strip(scene, audio))])


def _is_strip_name(scene, name: str) -> bool:
    return any(s.name == name for s in sound_strips(scene))


def _as_strip(scene, value):
    if value is None:
        strips = sound_strips(scene)
        if len(strips) == 1:
            return strips[0]
        raise AudioError("say which audio to use: the scene has "
                         f"{len(strips)} sound strips." if strips else
                         "the scene has no sound strip and no audio was given.")
    return find_strip(scene, value) if isinstance(value, str) else value
