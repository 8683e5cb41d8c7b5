"""The Action API across Blender 4.2 to 5.0.

4.4 introduced slotted actions (F-curves live in a channelbag per slot, inside a layer's
keyframe strip); 5.0 removed the old flat ``action.fcurves``. Everything the bake needs from
an Action goes through here so bake.py reads the same on every version.
"""
from __future__ import annotations

import bpy

SLOTTED = bpy.app.version >= (4, 4, 0)


def new_action(name: str, target_id) -> tuple:
    """A new Action for one ID: (action, slot); the slot is None before 4.4."""
    action = bpy.data.actions.new(name)
    if not SLOTTED:
        action.id_root = target_id.id_type
        return action, None
    slot = action.slots.new(id_type=target_id.id_type, name=target_id.name)
    return action, slot


def curve_container(action, slot):
    """Where new F-curves go: the slot's channelbag (4.4+) or the action itself."""
    if not SLOTTED:
        return action
    try:
        from bpy_extras.anim_utils import action_ensure_channelbag_for_slot   # 5.0+
        return action_ensure_channelbag_for_slot(action, slot)
    except ImportError:    # 4.4 / 4.5: the same steps by hand
        layer = action.layers[0] if action.layers else action.layers.new("Layer")
        strip = layer.strips[0] if layer.strips else layer.strips.new(type='KEYFRAME')
        return strip.channelbag(slot, ensure=True)


def new_fcurve(container, data_path: str, index: int, group: str):
    """An F-curve in a group, on any version."""
    if not SLOTTED:
        return container.fcurves.new(data_path, index=index, action_group=group)
    try:
        return container.fcurves.new(data_path, index=index, group_name=group)
    except TypeError:    # 4.4 channelbags have no group_name argument
        fc = container.fcurves.new(data_path, index=index)
        grp = container.groups.get(group) if hasattr(container.groups, "get") else None
        fc.group = grp or container.groups.new(group)
        return fc


def assign(anim_data, action, slot) -> None:
    """Make ``action`` (and its slot) the active animation of an AnimData."""
    anim_data.action = action
    if SLOTTED and slot is not None:
        anim_data.action_slot = slot


def active_slot(anim_data):
    return anim_data.action_slot if SLOTTED else None


def add_strip(track, name: str, start: int, action, slot):
    """An NLA strip playing ``action`` (its ``slot`` on 4.4+)."""
    strip = track.strips.new(name, int(start), action)
    if SLOTTED and slot is not None:
        strip.action_slot = slot
    return strip


def strip_slot(strip):
    return strip.action_slot if SLOTTED else None


def action_fcurves(action) -> list:
    """Every F-curve of an Action (all slots)."""
    if not SLOTTED:
        return list(action.fcurves)
    return [fc for layer in action.layers for strip in layer.strips
            for bag in strip.channelbags for fc in bag.fcurves]
