"""Checks on two bindings before the model runs: what would be keyed, and what cannot be.

Generation takes tens of seconds; these checks take milliseconds, so every mistake that
would make a bake fail, or succeed silently wrong, is reported before it starts.
"""
from __future__ import annotations

from . import mapping_format, rig_binding
from .runtime import runtime_api

WHO = ("person A", "person B")


def keyed_targets(binding) -> tuple[list[str], list[str]]:
    """(shape keys, bones) the bake would key on this rig."""
    targets = mapping_format.shape_targets(binding.mapping, runtime_api.OUTPUT_FACE_CHANNELS)
    keys = sorted({k for mesh in binding.face_meshes for k in targets
                   if k in mesh.data.shape_keys.key_blocks and (mesh.name, k) not in binding.skipped_keys})
    arm, m = binding.armature, binding.mapping
    if arm is None:
        return keys, []
    bones = list(rig_binding.head_bone_shares(binding))
    eyes = [(m.get("eyes") or {}).get(s) for s in ("left", "right")]
    bones += [b for b in eyes if b and b in arm.pose.bones]
    aimed = (mapping_format.eye_targets(m) or {}).values()    # a control moves only with its centre
    bones += [t for t, c in aimed if t in arm.pose.bones and c in arm.pose.bones]
    jaw = m.get("jaw", {})
    if jaw.get("degrees") and jaw.get("bone") in arm.pose.bones:
        bones.append(jaw["bone"])
    bones += [e["bone"] for e in mapping_format.bone_channel_entries(m) if e["bone"] in arm.pose.bones]
    return keys, list(dict.fromkeys(bones))


def _nothing_keyed(binding, who: str) -> str | None:
    keys, bones = keyed_targets(binding)
    if keys or bones:
        return None
    label = binding.mapping.get("label") or binding.mapping.get("name", "")
    return (f"nothing on {who}'s rig {binding.name!r} would be animated: the mapping ({label}) names "
            "no shape key or bone the rig has. Pick the rig's armature or head mesh, choose a mapping "
            "that fits it, or write one with Export Mapping and edit it.")


def _shared_data(bindings) -> str | None:
    """A and B keyed through one shape-key datablock (Duplicate Linked meshes)."""
    owners = {}
    for who, binding in zip(WHO, bindings):
        for mesh in binding.face_meshes:
            owners.setdefault(mesh.data.shape_keys, []).append((who, mesh))
    for key, users in owners.items():
        if len({who for who, _ in users}) > 1:
            (_, a), (_, b) = users[0], users[-1]
            return (f"{a.name!r} (person A) and {b.name!r} (person B) share the mesh data {a.data.name!r}, "
                    "so one bake would overwrite the other's face. Select person B's mesh and use "
                    "Object > Relations > Make Single User > Object & Data, then generate again.")
    return None


def problems(bindings) -> tuple[list[str], list[str]]:
    """(errors, warnings) for the two bindings; errors stop the generation before it runs."""
    errors = [p for b in bindings for p in rig_binding.writability_problems(b)]
    shared = _shared_data(bindings)
    errors += [shared] if shared else []
    errors += [e for who, b in zip(WHO, bindings) if (e := _nothing_keyed(b, who))]
    warnings = [f"{b.name}: {note}" for b in bindings for note in b.notes]
    return errors, warnings


def summary(binding) -> dict:
    """What the panel shows before Generate: convention, what moves, what is missing."""
    keys, bones = keyed_targets(binding)
    return {"convention": binding.mapping.get("convention") or binding.mapping.get("label", ""),
            "keys": keys, "bones": bones, "missing": rig_binding.missing_targets(binding),
            "notes": list(binding.notes)}


def exportable(mapping: dict) -> dict:
    """A mapping as a preset file holds it (what Export Mapping writes)."""
    out = {"_doc": "Written by Talking Together from the detected rig; edit and pick it as the "
                   "mapping File. Entry forms: see talking_together_addon/mapping_format.py."}
    out.update({k: v for k, v in mapping.items() if k not in ("name",)})
    return out
