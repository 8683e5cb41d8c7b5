"""Errors the runtime raises for bad input. Each message says what is wrong and what to do,
so the CLI and the Blender panel can show it as it is."""


class TalkingTogetherError(Exception):
    """Base class of every error a user can cause."""


class AudioError(TalkingTogetherError):
    """Missing, unreadable, empty, silent, too short or too long audio."""


class LayoutError(TalkingTogetherError):
    """Unknown layout preset, non-finite positions, heads at the same spot."""


class CheckpointError(TalkingTogetherError):
    """Missing, corrupt or incompatible weights file."""


class OutputError(TalkingTogetherError):
    """An output that cannot be written: read-only or full disk, a file where a folder should be."""


class GenerationCancelled(TalkingTogetherError):
    """Raised by a progress callback to stop generation; nothing is returned or written."""


class TurnsError(TalkingTogetherError):
    """Bad speaker turns: an unreadable or empty turns file, reversed or overlapping turns of
    one person, turns past the audio's end, a third speaker (the message names file and line)."""
