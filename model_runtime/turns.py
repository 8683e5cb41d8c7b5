"""Who speaks when, as turns an artist can read and correct: spans of seconds per person.

A ``Turns`` is a list of ``Turn(start, end, person)`` in seconds from the start of the
conversation's audio; person A is 0 and B is 1. The two people may overlap (both speak), one
person's own turns may not. The pipeline works on per-frame activity (2, T) bool at
MODEL_FPS; ``Turns.activity`` and ``Turns.from_activity`` convert both ways, so the runtime's
own analysis can be shown as turns, corrected, and handed back to ``generate``.

numpy only (no PyTorch): the add-on edits turns before PyTorch is even installed. The file
formats (RTTM, Audacity labels, CSV) are in ``turn_files.py``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .errors import TurnsError
from .masks import runs
from .timebase import MODEL_FPS

PEOPLE = ("A", "B")
# A span may end this far past the audio: annotations are rounded, audio is cut to the frame.
END_TOLERANCE_S = 0.1


@dataclass(frozen=True)
class Turn:
    """One person speaking from ``start`` to ``end`` seconds. ``line`` is where it was read
    (a file's line number), so a problem found later can still point at it."""
    start: float
    end: float
    person: int
    line: int | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start

    def describe(self) -> str:
        return f"{PEOPLE[self.person]} {self.start:.2f}-{self.end:.2f} s"


@dataclass(frozen=True)
class Turns:
    """Both people's turns; ``source`` names the file they came from (for messages)."""
    spans: tuple[Turn, ...] = ()
    source: str | None = None
    speakers: tuple[str, str] = PEOPLE          # the labels A and B had in the source

    def __post_init__(self):
        ordered = tuple(sorted(self.spans, key=lambda t: (t.start, t.person, t.end)))
        object.__setattr__(self, "spans", ordered)

    def __len__(self) -> int:
        return len(self.spans)

    def __iter__(self):
        return iter(self.spans)

    def of(self, person: int) -> list[Turn]:
        return [t for t in self.spans if t.person == person]

    @property
    def end(self) -> float:
        return max((t.end for t in self.spans), default=0.0)

    # ---- checks ----------------------------------------------------------------------
    def where(self, turn: Turn) -> str:
        """'file, line N' (or just the turn) for messages."""
        place = self.source or "the turns"
        return f"{place}, line {turn.line}" if turn.line is not None else f"{place} ({turn.describe()})"

    def checked(self, duration: float | None = None) -> "Turns":
        """These turns, or TurnsError naming the first bad one: not a number, reversed, empty,
        before 0, past the audio's ``duration`` (seconds), or overlapping the same person's."""
        if not self.spans:
            raise TurnsError(f"{self.source or 'the turns'}: there are no turns; add at least one "
                             "turn or stop using turns.")
        for turn in self.spans:
            self._check_span(turn, duration)
        for person in (0, 1):
            self._check_no_self_overlap(self.of(person))
        return self

    def _check_span(self, turn: Turn, duration: float | None) -> None:
        where = self.where(turn)
        if turn.person not in (0, 1):
            raise TurnsError(f"{where}: person {turn.person!r} is neither A (0) nor B (1).")
        if not (math.isfinite(turn.start) and math.isfinite(turn.end)):
            raise TurnsError(f"{where}: the start and end must be numbers of seconds.")
        if turn.start < 0:
            raise TurnsError(f"{where}: the turn starts before the audio ({turn.start:.3f} s); "
                             "times count from the start of the audio.")
        if turn.end < turn.start:
            raise TurnsError(f"{where}: the turn ends ({turn.end:.3f} s) before it starts "
                             f"({turn.start:.3f} s); swap the two times.")
        if turn.end == turn.start:
            raise TurnsError(f"{where}: the turn is empty (it ends where it starts, "
                             f"{turn.start:.3f} s); give it a length or delete it.")
        if duration is not None and turn.end > duration + END_TOLERANCE_S:
            raise TurnsError(f"{where}: the turn ends at {turn.end:.2f} s, after the audio "
                             f"({duration:.2f} s long); are these the turns of another recording?")

    def _check_no_self_overlap(self, spans: list[Turn]) -> None:
        for before, after in zip(spans, spans[1:]):
            if after.start < before.end:
                raise TurnsError(f"{self.where(after)}: this turn of {PEOPLE[after.person]} "
                                 f"({after.describe()}) overlaps their turn {before.describe()}"
                                 f"{_line_suffix(before)}; one person speaks one turn at a time, "
                                 "so merge the two or move a boundary.")

    # ---- edits (artists correct turns with these) -------------------------------------
    def swapped(self) -> "Turns":
        """A's turns become B's and B's A's."""
        return replace(self, spans=tuple(replace(t, person=1 - t.person) for t in self.spans),
                       speakers=self.speakers[::-1])

    def merged(self) -> "Turns":
        """One person's overlapping or touching turns joined into one (after an edit such as
        giving a turn to the other person, who may already speak there)."""
        out = []
        for person in (0, 1):
            for turn in self.of(person):
                if out and out[-1].person == person and turn.start <= out[-1].end:
                    out[-1] = replace(out[-1], end=max(out[-1].end, turn.end))
                else:
                    out.append(turn)
        return replace(self, spans=tuple(out))

    # ---- per-frame activity ----------------------------------------------------------
    def activity(self, num_frames: int, fps: float = MODEL_FPS) -> np.ndarray:
        """(2, num_frames) bool: frame i (covering [i/fps, (i+1)/fps)) is speech of a person
        when it lies in one of their turns, boundaries rounded to the nearest frame."""
        act = np.zeros((2, int(num_frames)), dtype=bool)
        for turn in self.spans:
            first, last = _frame_span(turn, fps)
            act[turn.person, first:min(last, num_frames)] = True
        return act

    @classmethod
    def from_activity(cls, activity: np.ndarray, fps: float = MODEL_FPS, **kwargs) -> "Turns":
        """Turns from (2, T) per-frame activity: one turn per run of speech of each person."""
        act = np.asarray(activity, dtype=bool)
        spans = [Turn(float(a) / fps, float(b) / fps, person)
                 for person in (0, 1) for a, b in zip(*runs(act[person]))]
        return cls(spans=tuple(spans), **kwargs)


def _frame_span(turn: Turn, fps: float) -> tuple[int, int]:
    """First and end (exclusive) frame of a turn; a turn shorter than a frame keeps one."""
    first = int(round(turn.start * fps))
    return first, max(int(round(turn.end * fps)), first + 1)


def _line_suffix(turn: Turn) -> str:
    return f" on line {turn.line}" if turn.line is not None else ""
