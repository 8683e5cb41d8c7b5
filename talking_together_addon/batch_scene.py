"""Setting up one batch shot's scene: open its .blend, resolve its audio and rigs, and
choose where it is saved."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import bpy

from .audio_source import AudioError
from .batch_shots import Shot, ShotListError
from .properties import sound_strips
from .vse_compat import top_strips

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".m4a", ".opus", ".wv"}
ADD_RIGS_WORDS = {"add", "default", "add default rigs"}


def open_blend(shot: Shot) -> str | None:
    """Open the shot's scene; returns the .blend path (None for a new scene)."""
    blend = shot.get("blend", "new")
    if blend == "current":
        return bpy.data.filepath or None
    if blend == "new":
        bpy.ops.wm.read_homefile(use_empty=True)
        return None
    path = shot.path(blend)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"blend file not found: {path}")
    bpy.ops.wm.open_mainfile(filepath=path, load_ui=False)
    return path


def _looks_like_file(value: str) -> bool:
    return os.path.splitext(value)[1].lower() in AUDIO_SUFFIXES or os.sep in value or "/" in value


def _new_sound_strip(scene, name: str, path: str, channel: int, frame_start: int):
    ed = scene.sequence_editor or scene.sequence_editor_create()
    return top_strips(ed).new_sound(name, path, channel, frame_start)


def _resolve_audio_item(shot: Shot, item: str, strip_names: set) -> tuple[str, str]:
    """("strip", name) or ("file", absolute path) for one audio value."""
    if item in strip_names:
        return "strip", item
    path = shot.path(item)
    if not _looks_like_file(item) and not os.path.exists(path):
        raise AudioError(f"audio {item!r} is neither a sound strip in the scene nor a file")
    if not os.path.isfile(path):
        raise AudioError(f"audio file not found: {path}")
    return "file", path


def audio_argument(shot: Shot, scene):
    """The api.generate ``audio`` argument: a file path, a strip name, or a pair of strips.
    Per-person audio files become sound strips (channels 1 and 2) so the pair can be passed
    on and the saved .blend plays the dialogue."""
    audio = shot.get("audio")
    if audio is None:
        return None   # the scene panel's audio choice
    strip_names = {s.name for s in sound_strips(scene)}
    items = audio if isinstance(audio, list) else [audio]
    if len(items) not in (1, 2):
        raise AudioError(f"audio: give one file/strip or two (one per person), got {len(items)}")
    resolved = [_resolve_audio_item(shot, str(item), strip_names) for item in items]
    if len(resolved) == 1:
        return resolved[0][1]
    start = int(shot.get("frame_start", scene.frame_start))
    pair = []
    for (kind, value), who, channel in zip(resolved, "AB", (1, 2)):
        if kind == "file":
            value = _new_sound_strip(scene, f"{shot.name} {who}", value, channel, start).name
        pair.append(value)
    return tuple(pair)


def _panel_rigs(scene):
    s = scene.talking_together
    if s.rig_a is None or s.rig_b is None:
        raise ValueError("no rigs: the scene's Talking Together panel has none set; give "
                         "\"rigs\": [\"A\", \"B\"] (object names) or \"rigs\": \"add\"")
    return s.rig_a, s.rig_b


def _named_rigs(rigs):
    if not isinstance(rigs, list) or len(rigs) != 2:
        raise ValueError(f"rigs: give two object names or \"add\", got {rigs!r}")
    found = []
    for name in rigs:
        obj = bpy.data.objects.get(name)
        if obj is None:
            raise ValueError(f"rig object {name!r} not found in the scene's file")
        found.append(obj)
    return found[0], found[1]


def shot_rigs(shot: Shot, scene, api, is_new: bool):
    """(rig_a, rig_b, layout_for_generate)."""
    rigs = shot.get("rigs", "add" if is_new else None)
    layout = shot.get("layout")
    if isinstance(rigs, str) and rigs.lower() in ADD_RIGS_WORDS:
        rig_a, rig_b = api.add_head_rigs(scene, layout=layout or "face_to_face")
        return rig_a, rig_b, None   # already placed
    rig_a, rig_b = _panel_rigs(scene) if rigs is None else _named_rigs(rigs)
    return rig_a, rig_b, layout


def output_path(shot: Shot, blend_path: str | None, overwrite: bool, out_dir: str | None) -> str:
    if shot.get("output"):
        return shot.path(shot.get("output"))
    if overwrite and blend_path:
        return blend_path
    stem = Path(blend_path).stem if blend_path else shot.name
    folder = Path(out_dir) if out_dir else (Path(blend_path).parent if blend_path else shot.base_dir)
    return str(folder / f"{stem}_talking.blend")


def planned_blend_path(shot: Shot) -> str | None:
    """The .blend open_blend will open for the shot (None for a new scene), without opening it."""
    blend = shot.get("blend", "new")
    if blend == "current":
        return bpy.data.filepath or None
    return None if blend == "new" else shot.path(blend)


def _same_file_key(path: str) -> str:
    key = os.path.normcase(os.path.realpath(path))   # symlinked folders, "..", relative paths
    return key.casefold() if sys.platform in ("darwin", "win32") else key   # case-blind disks


def check_distinct_outputs(shots: list[Shot], overwrite: bool = False, out_dir: str | None = None,
                           chosen: list[Shot] | None = None) -> None:
    """ShotListError, before any shot runs, when shots would save to the same file (the last
    one would silently overwrite the others). With ``chosen`` (--only), only clashes that
    involve a chosen shot count: a farm task runs one shot of the list, its siblings others."""
    owners: dict[str, list[tuple[Shot, str]]] = {}
    for shot in shots:
        out = output_path(shot, planned_blend_path(shot), overwrite, out_dir)
        owners.setdefault(_same_file_key(out), []).append((shot, out))
    names = None if chosen is None else {s.name for s in chosen}
    clashes = [group for group in owners.values()
               if len(group) > 1 and (names is None or any(s.name in names for s, _ in group))]
    if clashes:
        def who(group) -> str:
            quoted = [repr(s.name) for s, _ in group]
            return ", ".join(quoted[:-1]) + " and " + quoted[-1]

        lines = [f"shots {who(group)} would save to the same file {group[0][1]}" for group in clashes]
        raise ShotListError("; ".join(lines) + ": give each shot its own \"output\" (nothing was run)")
