"""Turns files: RTTM, Audacity label tracks and CSV, read into ``Turns`` and written back.

- RTTM: ``SPEAKER <file> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>`` per line.
- Audacity labels (File > Export > Labels): ``start<TAB>end<TAB>label`` per line.
- CSV: a header with ``start``, ``end`` and ``person`` (or ``speaker``), one turn a row.

Speaker labels become A and B: labels A/B (or 0/1) keep their meaning, others go by order of
first appearance unless ``speakers=(label_of_A, label_of_B)`` says otherwise. Every problem is
a TurnsError naming the file and line, so an artist can fix the file.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass

from .errors import TurnsError
from .turns import PEOPLE, Turn, Turns

FORMATS = ("rttm", "audacity", "csv")
_EXTENSIONS = {".rttm": "rttm", ".csv": "csv", ".txt": "audacity", ".tsv": "audacity", ".lab": "audacity",
               ".labels": "audacity"}


@dataclass
class _Row:
    """One turn as written in a file, before its speaker label becomes A or B."""
    start: float
    end: float
    label: str
    line: int


# ---- reading ---------------------------------------------------------------------------
def read_turns(path, speakers: tuple[str, str] | None = None, recording: str | None = None,
               duration: float | None = None, fmt: str | None = None) -> Turns:
    """Turns from a file. ``speakers`` names the labels of A and B; ``recording`` picks one
    recording of an RTTM that holds several; ``duration`` (seconds of audio) refuses turns
    past the audio's end. TurnsError, naming the file and line, for anything wrong."""
    path = os.fspath(path)
    text = _read_text(path)
    fmt = fmt or turns_format(path, text)
    rows = {"rttm": lambda: _rttm_rows(path, text, recording), "csv": lambda: _csv_rows(path, text),
            "audacity": lambda: _audacity_rows(path, text)}[fmt]()
    if not rows:
        raise TurnsError(f"{path}: no turns found (the file is empty or holds no turn lines); "
                         f"write one turn per line ({_layout(fmt)}).")
    labels = _speaker_labels(path, rows, speakers)
    spans = tuple(Turn(r.start, r.end, labels.index(r.label), r.line) for r in rows)
    return Turns(spans, source=path, speakers=labels).checked(duration)


def parse_speakers(text: str | None) -> tuple[str, str] | None:
    """'agent, caller' -> ('agent', 'caller'): the labels of A and B in a turns file; empty ->
    None (A and B in order of first appearance)."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    if not names:
        return None
    if len(names) != 2:
        raise TurnsError(f"Speakers {text!r}: name exactly two, A's first, comma separated (e.g. "
                         "agent, caller), or leave it empty.")
    return names[0], names[1]


def turns_format(path: str, text: str = "") -> str:
    """rttm, audacity or csv: by the file's extension, else by its first line."""
    fmt = _EXTENSIONS.get(os.path.splitext(path)[1].lower())
    if fmt:
        return fmt
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if first.split()[:1] == ["SPEAKER"]:
        return "rttm"
    return "audacity" if "\t" in first else "csv"


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8-sig") as f:
            return f.read()
    except FileNotFoundError:
        raise TurnsError(f"turns file not found: {path}; check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TurnsError(f"cannot read turns file {path} ({exc}); save it as UTF-8 text "
                         "(RTTM, Audacity labels or CSV).") from None


def _layout(fmt: str) -> str:
    return {"rttm": "SPEAKER <file> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>",
            "audacity": "start<TAB>end<TAB>speaker", "csv": "a header start,end,person, then a row per turn"}[fmt]


def _seconds(path: str, line: int, value: str, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise TurnsError(f"{path}, line {line}: the {what} {value!r} is not a number of seconds.") from None


def _rttm_rows(path: str, text: str, recording: str | None) -> list[_Row]:
    rows, first_file = [], None
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#") or fields[0] != "SPEAKER" and len(fields) >= 8:
            continue     # blank lines, comments and other RTTM record types (SPKR-INFO, ...)
        if fields[0] != "SPEAKER" or len(fields) < 8:
            raise TurnsError(f"{path}, line {number}: not an RTTM speaker line; expected "
                             f"{_layout('rttm')}.")
        file_id = fields[1]
        if recording is not None and file_id != recording:
            continue
        first_file = first_file or file_id
        if file_id != first_file:
            raise TurnsError(f"{path}, line {number}: a second recording ({file_id!r} after "
                             f"{first_file!r}); keep one recording's lines in the file (or pass recording=... to "
                             "read_turns).")
        start = _seconds(path, number, fields[3], "start")
        length = _seconds(path, number, fields[4], "duration")
        rows.append(_Row(start, start + length, fields[7], number))
    return rows


def _audacity_rows(path: str, text: str) -> list[_Row]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("\\"):
            continue     # blank, or the frequency line of a spectral selection label
        fields = line.split("\t")
        if len(fields) < 3 or not fields[2].strip():
            raise TurnsError(f"{path}, line {number}: expected {_layout('audacity')} (a label "
                             "track exported from Audacity, with the speaker as the label).")
        start = _seconds(path, number, fields[0], "start")
        rows.append(_Row(start, _seconds(path, number, fields[1], "end"), fields[2].strip(), number))
    return rows


def _csv_rows(path: str, text: str) -> list[_Row]:
    reader = csv.reader(io.StringIO(text))
    header, rows = None, []
    for fields in reader:
        number = reader.line_num
        if not any(f.strip() for f in fields):
            continue
        if header is None:
            header = _csv_columns(path, number, fields)
            continue
        if len(fields) <= max(header):
            raise TurnsError(f"{path}, line {number}: {len(fields)} columns, expected start, end and person.")
        start, end, who = (fields[i].strip() for i in header)
        rows.append(_Row(_seconds(path, number, start, "start"), _seconds(path, number, end, "end"), who, number))
    return rows


def _csv_columns(path: str, number: int, header: list[str]) -> tuple[int, int, int]:
    names = [h.strip().lower() for h in header]
    person = "person" if "person" in names else "speaker"
    missing = [n for n in ("start", "end", person) if n not in names]
    if missing:
        raise TurnsError(f"{path}, line {number}: the header lacks {', '.join(missing)}; the first "
                         "line must name the columns start,end,person.")
    return names.index("start"), names.index("end"), names.index(person)


def _speaker_labels(path: str, rows: list[_Row], speakers) -> tuple[str, str]:
    """The labels of A and B: as given, A/B or 0/1 when the file uses them, else by first
    appearance. A label beyond two is a third speaker: TurnsError at its first line."""
    if speakers is not None:
        labels = tuple(str(s) for s in speakers)
        for r in rows:
            if r.label not in labels:
                raise TurnsError(f"{path}, line {r.line}: speaker {r.label!r} is neither "
                                 f"{labels[0]!r} (A) nor {labels[1]!r} (B).")
        return labels
    seen = list(dict.fromkeys(r.label for r in rows))
    for pair in (("A", "B"), ("a", "b"), ("0", "1")):
        if set(seen) <= set(pair):
            return pair
    if len(seen) > 2:
        third = next(r for r in rows if r.label == seen[2])
        raise TurnsError(f"{path}, line {third.line}: a third speaker {seen[2]!r} (after {seen[0]!r} "
                         f"and {seen[1]!r}); the conversation has two people, so remove that "
                         "speaker's turns or give them to one of the two.")
    return (seen[0], seen[1] if len(seen) > 1 else f"{seen[0]}'s partner")


# ---- writing ---------------------------------------------------------------------------
def write_turns(turns: Turns, path, fmt: str | None = None, recording: str | None = None) -> str:
    """Write turns as RTTM, Audacity labels or CSV (by extension unless ``fmt``); the
    speakers keep their labels. Returns the path written."""
    path = os.fspath(path)
    fmt = fmt or _EXTENSIONS.get(os.path.splitext(path)[1].lower())
    if fmt not in FORMATS:
        raise TurnsError(f"cannot tell the turns format of {path}: name it .rttm, .csv or .txt "
                         "(Audacity labels).")
    label = turns.speakers
    name = recording or os.path.splitext(os.path.basename(path))[0]
    lines = {"rttm": lambda t: f"SPEAKER {name} 1 {t.start:.3f} {t.duration:.3f} <NA> <NA> {label[t.person]} <NA> <NA>",
             "audacity": lambda t: f"{t.start:.6f}\t{t.end:.6f}\t{label[t.person]}",
             "csv": lambda t: f"{t.start:.3f},{t.end:.3f},{label[t.person]}"}[fmt]
    header = ["start,end,person"] if fmt == "csv" else []
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(header + [lines(t) for t in turns]) + "\n")
    return path


__all__ = ["FORMATS", "PEOPLE", "read_turns", "turns_format", "write_turns"]
