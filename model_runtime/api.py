"""The runtime's one public door: everything the Blender add-on, the CLI and studios' scripts use.

    from model_runtime import api
    poses = api.preset_layout("face_to_face")
    audio = api.conversation_audio("mixed", [api.audio_clip("dialogue.wav")])
    result = api.generate(audio, poses, api.GenerationSettings(seed=3))
    result.save("dialogue.json")

Importing this module loads no PyTorch (Blender starts fast and lists presets, places rigs
and draws the layout preview before PyTorch is installed). What needs PyTorch is imported
when first used: ``generate``, ``preload``, ``audio_clip``, ``conversation_audio`` and
``default_weights``.
"""
from __future__ import annotations

from typing import Callable

from . import default_head
from .atomic_write import write_by_name as write_atomically_by_name
from .atomic_write import write_file as write_atomically
from .channels import (EYE_CHANNELS, EYE_LEFT, EYE_RIGHT, HEAD_CHANNELS, HEAD_LIMITS, HEAD_PITCH, HEAD_ROLL,
                       HEAD_YAW, GAZE_LIMITS, OUTPUT_FACE_CHANNELS, ROLE_NAMES)
from .cpu_threads import prefer_passive_waiting
from .errors import (AudioError, CheckpointError, GenerationCancelled, LayoutError, OutputError, TalkingTogetherError,
                     TurnsError)
from .head_pose import LOOK_REACH, HeadPose, direction_from_yaw_pitch, head_basis
from .layouts import FREE_LAYOUT, layout_presets, preset_layout
from .presets import PRESETS_DIR, preset_names, read_preset
from .result import OUTPUT_FORMATS, ConversationResult, PersonTrack, check_output_path
from .settings import DEFAULTS, DEVICES, MAX_BLINKS_PER_MINUTE, MAX_GUIDANCE, MAX_STEPS, GenerationSettings
from .timebase import MODEL_FPS
from .turn_files import parse_speakers, read_turns, write_turns
from .turns import Turn, Turns

Progress = Callable[[float, str], None]

__all__ = [
    "AudioError", "CheckpointError", "ConversationResult", "DEFAULTS", "DEVICES", "EYE_CHANNELS", "EYE_LEFT",
    "EYE_RIGHT", "FREE_LAYOUT", "GAZE_LIMITS", "GenerationCancelled", "GenerationSettings", "HEAD_CHANNELS",
    "HEAD_LIMITS", "HEAD_PITCH", "HEAD_ROLL", "HEAD_YAW", "HeadPose", "LOOK_REACH", "LayoutError",
    "MAX_BLINKS_PER_MINUTE", "MAX_GUIDANCE", "MAX_STEPS", "MODEL_FPS", "OUTPUT_FACE_CHANNELS",
    "OUTPUT_FORMATS", "OutputError", "PRESETS_DIR", "PersonTrack", "Progress", "ROLE_NAMES",
    "TalkingTogetherError", "Turn", "Turns", "TurnsError", "analyse_turns", "audio_clip", "check_output_path",
    "conversation_audio", "default_head", "default_weights", "direction_from_yaw_pitch", "generate",
    "generate_to_file",
    "head_basis", "layout_presets", "load_result", "parse_speakers", "prefer_passive_waiting", "preload",
    "preset_layout", "preset_names", "read_preset", "read_turns", "write_atomically",
    "write_atomically_by_name", "write_turns",
]


def generate(audio, poses: tuple[HeadPose, HeadPose], settings: GenerationSettings = DEFAULTS,
             progress: Progress | None = None, swap: bool = False,
             turns: Turns | None = None) -> ConversationResult:
    """Both people's per-frame motion for a conversation (see pipeline.generate). ``turns``
    (from analyse_turns, corrected, or read_turns) say who speaks when instead of the
    runtime's own analysis; ``swap`` still exchanges A and B.

    ``progress(fraction, message)`` is called as work advances; raising GenerationCancelled
    from it stops generation and nothing is returned."""
    from . import pipeline
    return pipeline.generate(audio, poses, settings, progress=progress, swap=swap, turns=turns)


def generate_to_file(audio, poses: tuple[HeadPose, HeadPose], path, settings: GenerationSettings = DEFAULTS,
                     progress: Progress | None = None, swap: bool = False, turns: Turns | None = None,
                     meta: dict | None = None):
    """generate, written to ``path`` (.npz, .json or .csv) as it is made: for any length of
    dialogue, memory stays that of a few minutes (the result is never whole in memory). The
    file appears whole or not at all; ``meta`` is added to the file's header. Returns the path."""
    from . import pipeline
    return pipeline.generate_to_file(audio, poses, path, settings, progress=progress, swap=swap, turns=turns,
                                     meta=meta)


def analyse_turns(audio) -> Turns:
    """Who speaks when, as the runtime hears it (what generate uses without turns), in
    seconds from the audio's start: show it to the artist, let them correct it, pass it back."""
    from . import pipeline
    return pipeline.analyse_turns(audio)


def preload(settings: GenerationSettings = DEFAULTS) -> None:
    """Check the settings and load the weights onto the device now, so that a bad weights file
    or a missing GPU is reported before any work starts (generate then finds them cached)."""
    from . import pipeline
    settings = settings.checked()
    pipeline.load_model(settings.checkpoint, pipeline.resolve_device(settings.device))


def audio_clip(path: str, *, source_start: float = 0.0, timeline_start: float = 0.0,
               duration: float | None = None, gain: float = 1.0, channel: int | None = None):
    """A span of an audio file placed on the conversation's timeline (seconds)."""
    from .audio import AudioClip
    return AudioClip(path, source_start=source_start, timeline_start=timeline_start, duration=duration,
                     gain=gain, channel=channel)


def conversation_audio(mode: str, clips: list, clips_b: list = ()):
    """Read clips into one conversation: ``"mixed"`` (both voices in the clips), ``"stereo"``
    (one clip, A left and B right) or ``"per_person"`` (``clips`` are A's, ``clips_b`` B's)."""
    from .audio import ConversationAudio
    if mode == "per_person":
        return ConversationAudio.per_person(list(clips), list(clips_b))
    if mode == "stereo":
        if len(clips) != 1:
            raise AudioError("stereo audio is one clip with person A on the left and B on the right")
        return ConversationAudio.stereo(clips[0])
    if mode == "mixed":
        return ConversationAudio.mixed(list(clips))
    raise AudioError(f"unknown audio mode {mode!r}; use mixed, stereo or per_person")


def load_result(path) -> ConversationResult:
    """A result saved by ``ConversationResult.save`` (.npz, .json)."""
    return ConversationResult.load(path)


def default_weights():
    """Path of the shipped default weights (it may be missing in a trimmed checkout)."""
    from .checkpoint import DEFAULT_WEIGHTS
    return DEFAULT_WEIGHTS
