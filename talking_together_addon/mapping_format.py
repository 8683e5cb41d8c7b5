"""The rig mapping format and what it makes of the generated channels (no bpy).

``shape_keys`` maps each ARKit channel to its target(s). An entry is a key name, null (skip),
``{"key": name, "weight": w, "offset": o}`` (value = w * channel + o; ``scale`` is a synonym
of ``weight``), or a list of those (one channel driving several keys). Several channels may
name one key: their contributions are combined by ``combine[key]`` ("sum", the default, or
"max") and clamped to 0..1 (``"clamp": false`` keeps the raw value). ``unlisted_channels``:
"same" (default: a channel not listed drives the key named like it, plus
``shape_key_prefix``) or "skip" (a detected convention: unlisted channels are not targets
and not missing). ``visemes``: ``{"set": "oculus" | "vrm", "keys": {viseme id: key}}`` solves
viseme weights from the ARKit mouth per frame (viseme_solve); an optional ``"binds": {viseme id:
entries}`` (entries as in shape_keys) replaces a viseme's key by several weighted keys (a VRM
expression may bind several, and ``keys`` keeps its first for the missing-key check). ``bone_channels``: a list of
``{"bone", "channel", "axis": "-X", "degrees", "offset_degrees"}`` turning a bone about its
own local axis (sign in the axis) by ``degrees * channel``. ``eyes``: ``{"left", "right"}``
bones turned by the eye angles, or ``{"left_target", "right_target", "left_center",
"right_center"}``: target controls (Rigify's ``eye.L``/``eye.R``) moved so the ray from each
eyeball centre bone through its control follows that eye's angles.
"""
from __future__ import annotations

import numpy as np

from . import viseme_solve

AUTO_MAPPING = "auto"     # the mapping name that means: detect the rig's convention from its names
COMBINE_MODES = ("sum", "max")


def _entries(value) -> list[dict]:
    """A shape_keys value as a list of {"key", "weight", "offset"} (empty for null)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"key": value, "weight": 1.0, "offset": 0.0}] if value else []
    if isinstance(value, dict):
        if not value.get("key"):
            raise ValueError(f"a shape_keys entry needs a \"key\": {value!r}")
        weight = float(value.get("weight", value.get("scale", 1.0)))
        return [{"key": value["key"], "weight": weight, "offset": float(value.get("offset", 0.0))}]
    if isinstance(value, list):
        return [e for v in value for e in _entries(v)]
    raise ValueError(f"a shape_keys entry must be a name, null, an object or a list, not {value!r}")


def channel_entries(mapping: dict, channels) -> dict[str, list[dict]]:
    """channel -> its target entries, unlisted channels filled in as the mapping says."""
    given = mapping.get("shape_keys", {}) or {}
    unknown = sorted(set(given) - set(channels))
    if unknown:
        raise ValueError(f"the mapping names channels that do not exist: {', '.join(unknown)}; "
                         "use ARKit channel names (jawOpen, eyeBlinkLeft, ...).")
    skip = mapping.get("unlisted_channels", "same") == "skip"
    prefix = mapping.get("shape_key_prefix", "")
    return {ch: _entries(given[ch]) if ch in given else ([] if skip else _entries(prefix + ch))
            for ch in channels}


def shape_targets(mapping: dict, channels) -> dict[str, dict]:
    """key name -> {"sources": [(channel, weight)], "offset", "combine", "visemes": [(id, weight)]}:
    every contribution to one key gathered, so one key gets one curve."""
    targets: dict[str, dict] = {}
    combine = mapping.get("combine", {}) or {}

    def target(key):
        mode = combine.get(key, "sum")
        if mode not in COMBINE_MODES:
            raise ValueError(f"combine for {key!r} must be 'sum' or 'max', not {mode!r}")
        return targets.setdefault(key, {"sources": [], "offset": 0.0, "combine": mode, "visemes": []})

    for ch, entries in channel_entries(mapping, channels).items():
        for e in entries:
            t = target(e["key"])
            t["sources"].append((ch, e["weight"]))
            t["offset"] += e["offset"]
    for viseme, entries in viseme_entries(mapping).items():
        if viseme not in viseme_solve.VISEME_POSES:
            raise ValueError(f"unknown viseme {viseme!r}; use {', '.join(viseme_solve.OCULUS)}")
        for e in entries:
            target(e["key"])["visemes"].append((viseme, e["weight"]))
    return targets


def viseme_entries(mapping: dict) -> dict[str, list[dict]]:
    """viseme id -> its target entries: the ``binds`` entries where given, else its one key."""
    block = mapping.get("visemes", {}) or {}
    binds = block.get("binds", {}) or {}
    named = {v: _entries(k) for v, k in (block.get("keys", {}) or {}).items()}
    return {**named, **{v: _entries(b) for v, b in binds.items()}}


def target_values(targets: dict, face: np.ndarray, channels, clamp: bool = True) -> dict[str, np.ndarray]:
    """key name -> (T,) values of the face (T, len(channels)) after weights, visemes, combine."""
    index = {ch: i for i, ch in enumerate(channels)}
    visemes = sorted({v for t in targets.values() for v, _w in t["visemes"]})
    solved = viseme_solve.viseme_weights(face, channels, visemes) if visemes else None
    out = {}
    for key, t in targets.items():
        parts = [w * face[:, index[ch]].astype(float) for ch, w in t["sources"]]
        parts += [w * solved[:, visemes.index(v)] for v, w in t["visemes"]]
        stacked = np.stack(parts) if parts else np.zeros((1, len(face)))
        value = stacked.max(axis=0) if t["combine"] == "max" else stacked.sum(axis=0)
        value = value + t["offset"]
        out[key] = np.clip(value, 0.0, 1.0) if clamp else value
    return out


def bone_channel_entries(mapping: dict) -> list[dict]:
    """The checked ``bone_channels`` list."""
    out = []
    for e in mapping.get("bone_channels", []) or []:
        if not e.get("bone") or not e.get("channel"):
            raise ValueError(f"a bone_channels entry needs \"bone\" and \"channel\": {e!r}")
        out.append({"bone": e["bone"], "channel": e["channel"], "axis": e.get("axis", "X"),
                    "degrees": float(e.get("degrees", 0.0)), "offset_degrees": float(e.get("offset_degrees", 0.0))})
    return out


EYE_TARGET_KEYS = ("left_target", "right_target", "left_center", "right_center")


def eye_targets(mapping: dict) -> dict[str, tuple[str, str]] | None:
    """{"left": (target, centre), "right": ...} when the eyes are aimed by target controls,
    None when they are not; ValueError when only some of the four bones are named (the eyes
    would move apart)."""
    eyes = mapping.get("eyes") or {}
    named = {k: eyes.get(k) for k in EYE_TARGET_KEYS}
    if not any(named.values()):
        return None
    bad = [k for k, v in named.items() if not isinstance(v, str) or not v]
    if bad:
        raise ValueError(f"eyes aimed by target controls need all of {', '.join(EYE_TARGET_KEYS)} as bone "
                         f"names; missing or not a name: {', '.join(bad)}")
    return {side: (named[f"{side}_target"], named[f"{side}_center"]) for side in ("left", "right")}


def eye_center_bones(mapping: dict) -> tuple[str, str] | None:
    """(left, right) bones whose heads are the eyeball centres: the centre bones of target
    controls, else the turned eye bones; None when the mapping names neither."""
    targets = eye_targets(mapping)
    if targets:
        return targets["left"][1], targets["right"][1]
    eyes = mapping.get("eyes") or {}
    left, right = eyes.get("left"), eyes.get("right")
    return (left, right) if left and right else None
