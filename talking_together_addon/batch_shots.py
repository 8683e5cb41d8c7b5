"""Batch shot lists: JSON or CSV files (or command-line fields) to validated Shots.

No bpy here: a bad shot list is reported (exit code 2) before Blender loads anything.
The fields are documented in batch.py.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

LIST_FIELDS = {"audio", "rigs"}
BOOL_FIELDS = {"stereo", "swap", "use_nla"}
INT_FIELDS = {"seed", "steps"}
FLOAT_FIELDS = {"guidance", "blinks_per_minute", "frame_start"}
KNOWN_FIELDS = {"name", "blend", "audio", "stereo", "rigs", "layout", "seed", "steps", "guidance",
                "blinks_per_minute", "device", "checkpoint", "swap", "use_nla", "conversation", "mapping_a",
                "mapping_b", "frame_start", "output", "turns"}
PATH_FIELDS = {"checkpoint", "turns"}     # relative to the shot list's folder
TRUE_WORDS = {"1", "true", "yes", "y", "on"}
FALSE_WORDS = {"0", "false", "no", "n", "off"}


class ShotListError(ValueError):
    """A malformed shot list or command line (exit code 2)."""


@dataclass
class Shot:
    name: str
    fields: dict
    base_dir: Path
    index: int = 0

    def get(self, key, default=None):
        value = self.fields.get(key)
        return default if value in (None, "") else value

    def path(self, value) -> str:
        """``value`` as a path; relative paths are relative to the shot list's folder."""
        p = Path(os.path.expanduser(str(value)))
        return str(p if p.is_absolute() else (self.base_dir / p))


def _coerce_bool(key: str, value: str) -> bool:
    low = value.lower()
    if low in TRUE_WORDS:
        return True
    if low in FALSE_WORDS:
        return False
    raise ShotListError(f"field {key!r}: expected true/false, got {value!r}")


def _coerce_number(key: str, value):
    try:
        if key in INT_FIELDS:
            return int(value)
        if key in FLOAT_FIELDS:
            return float(value)
    except (TypeError, ValueError):
        raise ShotListError(f"field {key!r}: expected a number, got {value!r}") from None
    return value


def _coerce(key: str, value):
    """A field's value as the runner wants it (CSV gives strings: ``a|b`` lists, ``yes``...)."""
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
    if value is None:
        return None
    if key in LIST_FIELDS and isinstance(value, str):
        parts = [v.strip() for v in value.split("|")] if "|" in value else [value]
        return parts if len(parts) > 1 else parts[0]
    if key in BOOL_FIELDS and isinstance(value, str):
        return _coerce_bool(key, value)
    return _coerce_number(key, value)


def _make_shot(i: int, row, defaults: dict, base_dir: Path) -> Shot:
    if not isinstance(row, dict):
        raise ShotListError(f"shot {i}: expected an object with fields, got {type(row).__name__}")
    merged = {**defaults, **{k: v for k, v in row.items() if v not in (None, "")}}
    unknown = sorted(set(merged) - KNOWN_FIELDS)
    if unknown:
        raise ShotListError(f"shot {i}: unknown field(s) {unknown}; known: {sorted(KNOWN_FIELDS)}")
    fields = {k: _coerce(k, v) for k, v in merged.items()}
    blend = fields.get("blend") or "new"
    name = fields.get("name") or (Path(str(blend)).stem if blend not in ("new", "current")
                                  else f"shot_{i:03d}")
    return Shot(str(name), fields, base_dir, i)


def make_shots(rows: list, defaults: dict, base_dir: Path) -> list[Shot]:
    """Shots from rows of fields (each over ``defaults``); names must be distinct."""
    shots = [_make_shot(i, row, defaults, base_dir) for i, row in enumerate(rows, 1)]
    names = [s.name for s in shots]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ShotListError(f"duplicate shot names {dupes}: give each shot a distinct \"name\"")
    return shots


def _csv_rows(text: str) -> list[dict]:
    """One shot per row under a header row; blank and ``#`` lines skipped."""
    lines = (line for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return [{(k or "").strip(): v for k, v in row.items() if k} for row in csv.DictReader(lines)]


def _json_rows(text: str, path: Path) -> tuple[dict, list]:
    """(defaults, rows) from a list of shots or ``{"defaults": {...}, "shots": [...]}``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ShotListError(f"shot list {path} is not valid JSON: {exc}") from None
    if isinstance(data, list):
        return {}, data
    if not isinstance(data, dict):
        raise ShotListError(f"shot list {path}: expected a list of shots")
    rows = data.get("shots")
    if not isinstance(rows, list):
        raise ShotListError(f"shot list {path}: expected a \"shots\" list")
    return data.get("defaults", {}), rows


def load_shots(path: str | os.PathLike) -> list[Shot]:
    """Shots from a JSON or CSV file (ShotListError when it cannot be used)."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ShotListError(f"shot list not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ShotListError(f"cannot read shot list {path}: {exc}") from None
    if path.suffix.lower() == ".csv":
        defaults, rows = {}, _csv_rows(text)
    else:
        defaults, rows = _json_rows(text, path)
    if not rows:
        raise ShotListError(f"shot list {path} has no shots")
    return make_shots(rows, defaults, path.parent)
