"""Never silently wrong: what cannot be baked is refused before the model runs, with the
scene exactly as before; what can be combined is combined; mapping files from the panel."""
import json
import re
import subprocess
import sys
import time

import bpy
import numpy as np
import pytest
import soundfile as sf

import convention_rigs
from tt_helpers import ROOT, action_fcurves, fresh_scene, snapshot

from talking_together_addon import api, bake, rig_binding, rig_builder
from model_runtime import channels
from model_runtime import result as result_mod
from talking_together_addon.runtime import runtime_api

FACE = channels.OUTPUT_FACE_CHANNELS


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    data, sr = sf.read(str(ROOT / "examples" / "dialogue.flac"))
    path = tmp_path_factory.mktemp("audio") / "short.wav"
    sf.write(str(path), data[: int(3 * sr)], sr)
    return str(path)


@pytest.fixture
def no_model(monkeypatch):
    """The model must not run: every check here happens before it."""
    def refuse(*args, **kwargs):
        raise AssertionError("the model ran before the rigs were checked")
    monkeypatch.setattr(runtime_api, "generate", refuse)
    monkeypatch.setattr(runtime_api, "preload", refuse)


def _track(n, face=None, head=None):
    face = np.zeros((n, 52), np.float32) if face is None else face
    head = np.zeros((n, 3), np.float32) if head is None else head
    return result_mod.PersonTrack(face, head, np.zeros((n, 4), np.float32), np.zeros(n, np.int64))


def _result(n, face_a, fps=25.0, head=None):
    return result_mod.ConversationResult(fps=fps, people=(_track(n, face_a, head), _track(n, None, head)))


def _mesh_rig(name, keys, data=None):
    if data is None:
        data = bpy.data.meshes.new(name)
        data.from_pydata([(0, 0, 0), (0.1, 0, 0), (0, 0.1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    if data.shape_keys is None:
        obj.shape_key_add(name="Basis")
        for k in keys:
            obj.shape_key_add(name=k)
    return obj


def test_nothing_to_key_is_an_error_before_the_model_runs(audio, no_model):
    scene = fresh_scene(fps=25)
    a, b = _mesh_rig("A", ["Smirk"]), _mesh_rig("B", ["Smirk"])
    before = snapshot(scene)
    with pytest.raises(ValueError, match="(?i)nothing on person A's rig 'A' would be animated"):
        api.generate(scene, a, b, audio=audio, layout="face_to_face")
    assert snapshot(scene) == before


def test_duplicate_linked_meshes_are_refused_with_the_fix(audio, no_model):
    scene = fresh_scene(fps=25)
    a = _mesh_rig("A", ["jawOpen", "mouthSmileLeft"])
    b = _mesh_rig("B", [], data=a.data)              # Alt+D: a second object, the same mesh data
    before = snapshot(scene)
    with pytest.raises(ValueError, match="share the mesh data .*Make Single User"):
        api.generate(scene, a, b, audio=audio, layout="side_by_side")
    assert snapshot(scene) == before


def test_linked_rig_without_override_is_refused_at_prepare(tmp_path, audio, no_model):
    scene = fresh_scene(fps=25)
    arm = rig_builder.build_default_head_rig(scene, "Lib", scene.collection)
    path = str(tmp_path / "lib.blend")
    bpy.data.libraries.write(path, {arm, *arm.children}, fake_user=True)
    scene = fresh_scene(fps=25)
    with bpy.data.libraries.load(path, link=True) as (src, dst):
        dst.objects = list(src.objects)
    for obj in dst.objects:
        scene.collection.objects.link(obj)
    local = rig_builder.build_default_head_rig(scene, "Local", scene.collection)
    before = snapshot(scene)
    with pytest.raises(ValueError, match="is linked from .*library override"):
        api.generate(scene, bpy.data.objects["Lib"], local, audio=audio, layout="face_to_face")
    assert snapshot(scene) == before


def test_a_failed_bake_leaves_the_rigs_where_they_were(audio, monkeypatch):
    scene = fresh_scene(fps=25)
    a = rig_builder.build_default_head_rig(scene, "A", scene.collection)
    b = rig_builder.build_default_head_rig(scene, "B", scene.collection)
    b.location.x = 3.0
    bpy.context.view_layer.update()
    before = snapshot(scene)
    monkeypatch.setattr(runtime_api, "generate", lambda *a, **k: _result(10, None))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(bake, "bake_conversation", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        api.generate(scene, a, b, audio=audio, layout="across_table")
    assert snapshot(scene) == before


def test_rig_checks_take_well_under_a_second(scene):
    rigs = [convention_rigs.ready_player_me(scene, n)[0] for n in ("A", "B")]
    start = time.perf_counter()
    warnings = api.check_bindings(api.resolve_pair(*rigs))
    took = time.perf_counter() - start
    print(f"\nresolve + checks, two Ready Player Me rigs: {took * 1000:.0f} ms")
    assert took < 0.5
    assert len(warnings) == 4        # two eyeballs per rig keyed by bones only


# ---- the mapping format -------------------------------------------------------------------
def _default_pair(scene, mapping_a):
    arms = [rig_builder.build_default_head_rig(scene, n, scene.collection) for n in ("A", "B")]
    return rig_binding.resolve_rig(arms[0], mapping_a), rig_binding.resolve_rig(arms[1])


def _value(binding, key, frame, scene):
    scene.frame_set(frame)
    return binding.face_meshes[0].data.shape_keys.key_blocks[key].value


@pytest.mark.parametrize("mode, expected", [("sum", 0.9), ("max", 0.6)])
def test_two_channels_on_one_key_are_combined(scene, mode, expected):
    a, b = _default_pair(scene, {"shape_keys": {"mouthSmileLeft": "mouthSmileLeft", "mouthSmileRight": "mouthSmileLeft"},
                                 "combine": {"mouthSmileLeft": mode}})
    face = np.zeros((3, 52), np.float32)
    face[:, FACE.index("mouthSmileLeft")], face[:, FACE.index("mouthSmileRight")] = 0.3, 0.6
    report = bake.bake_conversation(scene, (a, b), _result(3, face, fps=scene.render.fps), 1.0, "take")
    assert report.missing == []
    assert _value(a, "mouthSmileLeft", 2, scene) == pytest.approx(expected, abs=1e-5)
    paths = [fc.data_path for fc in action_fcurves(a.face_meshes[0].data.shape_keys.animation_data.action)]
    assert paths.count('key_blocks["mouthSmileLeft"].value') == 1
    assert 'key_blocks["mouthSmileRight"].value' not in paths          # no longer a target


def test_weight_offset_several_keys_and_a_bone_channel(scene):
    mapping = {"shape_keys": {"jawOpen": [{"key": "jawOpen", "weight": 0.5, "offset": 0.1}, "mouthClose"]},
               "bone_channels": [{"bone": "jaw", "channel": "jawOpen", "axis": "-X", "degrees": 20}]}
    a, b = _default_pair(scene, mapping)
    face = np.zeros((3, 52), np.float32)
    face[:, FACE.index("jawOpen")] = 0.8
    bake.bake_conversation(scene, (a, b), _result(3, face, fps=scene.render.fps), 1.0, "take")
    assert _value(a, "jawOpen", 2, scene) == pytest.approx(0.5 * 0.8 + 0.1, abs=1e-5)
    assert _value(a, "mouthClose", 2, scene) == pytest.approx(0.8, abs=1e-5)
    q = a.armature.pose.bones["jaw"].matrix_basis.to_quaternion()
    assert np.degrees(q.angle) == pytest.approx(16.0, abs=1e-3)
    assert np.allclose(np.array(q.axis), (-1, 0, 0), atol=1e-5)


def test_unlisted_channels_of_a_known_convention_are_not_missing(scene):
    rig, _ = convention_rigs.oculus_visemes_only(scene, "A")
    assert rig_binding.missing_targets(rig_binding.resolve_rig(rig)) == []
    # The shipped default mapping still says what an ARKit rig would lack.
    assert "jawOpen" in rig_binding.missing_targets(rig_binding.resolve_rig(rig, "arkit_default"))


def test_viseme_only_face_gets_lip_sync_from_the_solve(scene):
    rig_a, _ = convention_rigs.oculus_visemes_only(scene, "A")
    rig_b, _ = convention_rigs.oculus_visemes_only(scene, "B")
    bindings = (rig_binding.resolve_rig(rig_a), rig_binding.resolve_rig(rig_b))
    face = np.zeros((3, 52), np.float32)
    for ch, w in {"jawOpen": 0.6, "mouthLowerDownLeft": 0.3, "mouthLowerDownRight": 0.3}.items():
        face[:, FACE.index(ch)] = w          # an open "aa" mouth
    report = bake.bake_conversation(scene, bindings, _result(3, face, fps=scene.render.fps), 1.0, "take")
    assert report.keys_written > 0 and report.missing == []
    assert _value(bindings[0], "viseme_aa", 2, scene) > 0.6
    assert _value(bindings[0], "viseme_PP", 2, scene) < 0.05


# ---- mapping files from the panel, and the exported mapping ---------------------------------
def test_panel_mapping_file_and_export(tmp_path):
    scene = fresh_scene(fps=25)
    rig, _ = convention_rigs.character_creator(scene, "A")
    s = scene.talking_together
    s.rig_a = rig
    path = tmp_path / "cc.json"
    assert bpy.ops.talking_together.export_mapping(person='A', filepath=str(path)) == {'FINISHED'}
    written = json.loads(path.read_text())
    assert written["head"]["bones"]["CC_Base_Head"] > 0 and written["eyes"]["left"] == "CC_Base_L_Eye"
    written["shape_keys"]["jawOpen"] = {"key": "Jaw_Open", "weight": 0.7}
    written["label"] = "Edited CC"
    path.write_text(json.dumps(written))
    s.mapping_a, s.mapping_file_a = "FILE", str(path)
    binding = api.resolve_pair(s.rig_a, rig_builder.build_default_head_rig(scene, "B", scene.collection),
                               *api.panel_mappings(s))[0]
    assert binding.mapping["label"] == "Edited CC"
    assert binding.mapping["shape_keys"]["jawOpen"]["weight"] == 0.7


def test_readme_scripting_snippet_runs_as_written(audio):
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"## Scripting\s+```python\n(.*?)```", readme, re.S).group(1)
    assert "/path/dialogue.wav" in snippet
    code = snippet.replace("/path/dialogue.wav", audio)
    proc = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + code],
                          capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "keys_written" in proc.stdout
