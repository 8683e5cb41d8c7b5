"""Reading back what a bake wrote on a pair of rigs: key counts and every key's values,
for batch reports and determinism checks (same shot + same seed -> same keys)."""
from __future__ import annotations

from .anim_compat import action_fcurves


def _ids_of_rig(obj) -> list:
    """A rig's animated ID blocks: the object, its child objects and their shape keys."""
    ids, seen = [], set()

    def add(idb):
        if idb is not None and idb.as_pointer() not in seen:
            seen.add(idb.as_pointer())
            ids.append(idb)

    add(obj)
    for o in [obj, *obj.children_recursive]:
        add(o)
        data = getattr(o, "data", None)
        if data is not None and getattr(data, "shape_keys", None) is not None:
            add(data.shape_keys)
    return ids


def rig_actions(obj) -> list:
    """The actions (active and NLA) animating a rig."""
    actions = []
    for idb in _ids_of_rig(obj):
        ad = getattr(idb, "animation_data", None)
        if ad is None:
            continue
        if ad.action is not None:
            actions.append(ad.action)
        for track in ad.nla_tracks:
            for strip in track.strips:
                if strip.action is not None:
                    actions.append(strip.action)
    unique = {a.as_pointer(): a for a in actions}
    return list(unique.values())


def keyframe_arrays(objects) -> dict:
    """{"<action>|<data_path>[index]": flat list of (frame, value) for every key}, for
    comparing bakes (determinism) and counting keys."""
    import numpy as np
    out = {}
    for obj in objects:
        for action in rig_actions(obj):
            for fc in action_fcurves(action):
                co = np.empty(len(fc.keyframe_points) * 2, dtype=np.float32)
                fc.keyframe_points.foreach_get("co", co)
                out[f"{action.name}|{fc.data_path}[{fc.array_index}]"] = co.tolist()
    return out


def count_keys(objects) -> int:
    return sum(len(fc.keyframe_points) for obj in objects for action in rig_actions(obj)
               for fc in action_fcurves(action))
