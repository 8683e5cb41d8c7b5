"""VRM expression bindings (vrm_bindings): read from the VRM add-on's property groups or the raw
ID properties it leaves in a .blend, and turned into the detected mapping's visemes and blinks."""
from types import SimpleNamespace

import convention_rigs
import pytest

from talking_together_addon import rig_binding, vrm_bindings


@pytest.mark.parametrize("build", [convention_rigs.vrm1_bound, convention_rigs.vrm0_bound])
def test_detected_mapping_uses_the_bound_keys(scene, build):
    rig, _ = build(scene, "A")
    mapping = rig_binding.resolve_rig(rig).mapping
    # The raw bind's mesh is the stored Object pointer (bpy_object).
    assert {m for m, _k, _w in vrm_bindings.expression_binds(rig.data)["aa"]} == {"A Head"}
    binds = mapping["visemes"]["binds"]
    assert mapping["visemes"]["set"] == "vrm"
    assert sorted(binds) == sorted(convention_rigs.BOUND_VOWELS)
    assert {"key": convention_rigs.BOUND_EXTRA, "weight": pytest.approx(0.6)} in binds["aa"]
    assert binds["e"] == [{"key": convention_rigs.BOUND_VOWELS["e"], "weight": pytest.approx(0.9)}]
    for ch, key in convention_rigs.BOUND_BLINKS.items():
        assert mapping["shape_keys"][ch] == [{"key": key, "weight": 1.0}]
    # 0.x "Joy" (bound to the same extra key) is not a viseme, blink or look: it adds nothing.
    assert [e for es in binds.values() for e in es if e["key"] == convention_rigs.BOUND_EXTRA] == [
        {"key": convention_rigs.BOUND_EXTRA, "weight": pytest.approx(0.6)}]
    assert "VRM expressions" in mapping["convention"]


def _bind(mesh_name, key, weight=1.0):
    return SimpleNamespace(node=SimpleNamespace(mesh_object_name=mesh_name), index=key, weight=weight)


def test_add_on_attributes_and_raw_dicts_read_alike():
    """With the add-on installed the groups are attribute-style (preset_name a string); without it
    they are ID-property dicts (preset_name a number, unset weight = 1)."""
    preset = SimpleNamespace(**{a: SimpleNamespace(morph_target_binds=[]) for a in vrm_bindings.VRM1_PRESETS})
    preset.aa.morph_target_binds = [_bind("Face", "MTH_A"), _bind("Teeth", "Teeth_Open", 0.5)]
    installed = SimpleNamespace(vrm_addon_extension=SimpleNamespace(
        vrm1=SimpleNamespace(expressions=SimpleNamespace(preset=preset))))
    raw = {"vrm_addon_extension": {"vrm0": {"blend_shape_master": {"blend_shape_groups": [
        {"preset_name": 2, "binds": [{"mesh": {"mesh_object_name": "Face"}, "index": "MTH_A"},
                                     {"mesh": {"mesh_object_name": "Teeth"}, "index": "Teeth_Open", "weight": 0.5}]}]}}}}
    expected = {"aa": [("Face", "MTH_A", 1.0), ("Teeth", "Teeth_Open", 0.5)]}
    assert vrm_bindings.expression_binds(installed) == expected
    assert vrm_bindings.expression_binds(raw) == expected
    keys = {"Face": {"MTH_A"}, "Teeth": {"Teeth_Open"}, "Eyes": set()}
    mapping = vrm_bindings.expression_mapping(expected, keys)
    assert mapping["visemes"]["aa"] == [{"key": "MTH_A", "weight": 1.0}, {"key": "Teeth_Open", "weight": 0.5}]


def test_a_both_eye_blink_and_looks_split_over_the_eyes():
    binds = {"blink": [("Face", "Close", 1.0)], "lookLeft": [("Face", "Look_L", 1.0)]}
    shapes = vrm_bindings.expression_mapping(binds, {"Face": {"Close", "Look_L"}})["shape_keys"]
    assert shapes["eyeBlinkLeft"] == shapes["eyeBlinkRight"] == [{"key": "Close", "weight": 0.5}]
    assert shapes["eyeLookOutLeft"] == shapes["eyeLookInRight"] == [{"key": "Look_L", "weight": 0.5}]


def test_binds_to_keys_the_rig_lacks_are_dropped():
    binds = {"aa": [("Face", "Gone", 1.0)], "blinkLeft": [("Face", "Close_L", 0.0)]}
    assert vrm_bindings.expression_mapping(binds, {"Face": {"Close_L"}}) == {}
    assert vrm_bindings.expression_binds(SimpleNamespace()) == {}
