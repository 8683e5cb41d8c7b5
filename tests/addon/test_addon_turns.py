"""Turns in Blender: analysed or imported turns shown in the list and on the sequencer lanes,
edited there, and driving Generate; bad turns files leave the scene as it was."""
from pathlib import Path
from types import SimpleNamespace

import bpy
import numpy as np
import pytest

from tt_helpers import ROOT, add_mesh, add_sound, fresh_scene, snapshot
from model_runtime import api as runtime_api
from talking_together_addon import api, turns_store, turns_timeline

EXAMPLE = ROOT / "examples" / "dialogue.flac"
SECONDS = 8                      # the strip plays the first 8 s of the example dialogue
FPS = 24
RTTM = """SPEAKER dialogue 1 0.300 2.700 <NA> <NA> agent <NA> <NA>
SPEAKER dialogue 1 3.500 2.500 <NA> <NA> caller <NA> <NA>
SPEAKER dialogue 1 6.500 1.300 <NA> <NA> agent <NA> <NA>
"""


@pytest.fixture
def use_weights(monkeypatch):
    """Generate with the shipped default weights, on the CPU."""
    monkeypatch.setattr(api, "addon_preferences", lambda: SimpleNamespace(device="cpu", weights_path=""))


def _scene(start: int = 1):
    scene = fresh_scene(fps=FPS)
    strip = add_sound(scene, "Dialogue", EXAMPLE, frame_start=start)
    strip.frame_final_duration = SECONDS * FPS
    s = scene.talking_together
    s.steps, s.guidance, s.device = 2, 1.0, "cpu"
    return scene


def _rigs(scene):
    """Two small meshes with a jawOpen shape key: quick to bake, enough to see the mouth."""
    s = scene.talking_together
    s.rig_a = add_mesh("A", (-0.6, 0, 1.6), rotation_z=-1.5708, shape_keys=True)
    s.rig_b = add_mesh("B", (0.6, 0, 1.6), rotation_z=1.5708, shape_keys=True)
    return s.rig_a, s.rig_b


def _rttm(tmp_path: Path, text: str = RTTM, name: str = "turns.rttm") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _jaw_keys(rig) -> np.ndarray:
    """The baked jawOpen value at every frame 0..last (from its F-curve)."""
    from tt_helpers import action_fcurves
    mesh = rig if rig.type == 'MESH' else next(c for c in rig.children_recursive
                                               if c.type == 'MESH' and c.data.shape_keys is not None)
    action = mesh.data.shape_keys.animation_data.action
    curve = next(fc for fc in action_fcurves(action) if fc.data_path == 'key_blocks["jawOpen"].value')
    return np.array([curve.evaluate(f) for f in range(1 + SECONDS * FPS + 2)])


def _frames(start_s: float, end_s: float, origin: int = 1) -> slice:
    return slice(round(origin + start_s * FPS) + 2, round(origin + end_s * FPS) - 2)


def _turns_state(scene) -> tuple:
    """The scene's turns as stored, drawn and chosen (what a failed import must not touch)."""
    t = scene.talking_together_turns
    strips = sorted((s.name, s.channel, s.frame_final_start, s.frame_final_end)
                    for s in turns_timeline.turn_strips(scene))
    return ([(s.start, s.end, s.person) for s in t.spans], strips, t.use_turns, t.source, t.origin_frame)


# ---- seeing the turns ------------------------------------------------------------------
def test_analysed_turns_appear_in_the_list_and_on_two_muted_lanes():
    scene = _scene(start=11)
    assert bpy.ops.talking_together.analyse_turns() == {'FINISHED'}
    t = scene.talking_together_turns
    assert len(t.spans) >= 2 and {s.person for s in t.spans} == {'A', 'B'}
    assert t.origin_frame == 11
    strips = turns_timeline.turn_strips(scene)
    assert len(strips) == len(t.spans) and all(s.mute for s in strips)   # muted: never rendered
    assert {s.channel for s in strips} == {t.lane_channel, t.lane_channel + 1} and t.lane_channel > 1
    first = min(t.spans, key=lambda s: s.start)
    strip = min(strips, key=lambda s: s.frame_final_start)
    assert strip.frame_final_start == round(11 + first.start * FPS)
    assert not turns_timeline.was_edited(scene)


def test_in_the_ui_analysis_runs_in_a_worker_and_stores_on_the_main_thread(monkeypatch):
    import time
    from talking_together_addon import turns_ui
    scene = _scene()
    monkeypatch.setattr(turns_ui, "run_synchronously", lambda context: False)
    op_cls = turns_ui.TALKINGTOGETHER_OT_analyse_turns
    op = SimpleNamespace(report=lambda kind, message: None, execute=None)
    wm = SimpleNamespace(event_timer_add=lambda *a, **k: "timer", event_timer_remove=lambda t: None,
                         modal_handler_add=lambda o: None)
    context = SimpleNamespace(scene=scene, window=None, window_manager=wm)
    assert op_cls.invoke(op, context, None) == {'RUNNING_MODAL'}
    assert len(scene.talking_together_turns.spans) == 0          # nothing written yet
    state, t0 = {'PASS_THROUGH'}, time.time()
    while state == {'PASS_THROUGH'} and time.time() - t0 < 60:
        time.sleep(0.05)
        state = op_cls.modal(op, context, SimpleNamespace(type='TIMER', value='PRESS'))
    assert state == {'FINISHED'} and len(scene.talking_together_turns.spans) >= 2


def test_the_turn_lanes_never_show_in_a_render(tmp_path):
    scene = _scene()
    turns_timeline.draw(scene, runtime_api.Turns((runtime_api.Turn(0.0, 5.0, 0), runtime_api.Turn(1.0, 6.0, 1))))
    scene.world = bpy.data.worlds.new("Sky")
    scene.world.color = (0.2, 0.3, 0.4)
    scene.camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(scene.camera)
    scene.render.engine, scene.render.resolution_x, scene.render.resolution_y = 'BLENDER_WORKBENCH', 8, 8
    scene.render.filepath, scene.frame_current = str(tmp_path / "frame.png"), 24
    bpy.ops.render.render(write_still=True)
    pixel = np.array(bpy.data.images.load(str(tmp_path / "frame.png")).pixels[:4])
    assert pixel[3] > 0.99 and pixel[2] > pixel[0]      # the sky (opaque), not a turn strip's colour


def test_list_edits_show_on_the_timeline_and_timeline_edits_are_read_back(tmp_path):
    scene = _scene()
    assert bpy.ops.talking_together.import_turns(filepath=_rttm(tmp_path)) == {'FINISHED'}
    t = scene.talking_together_turns
    assert [(s.person, round(s.start, 2)) for s in t.spans] == [('A', 0.3), ('B', 3.5), ('A', 6.5)]
    t.active = 1
    assert bpy.ops.talking_together.give_turn_to_other() == {'FINISHED'}
    assert [s.person for s in t.spans] == ['A', 'A', 'A']
    assert {s.channel for s in turns_timeline.turn_strips(scene)} == {t.lane_channel}
    assert bpy.ops.talking_together.delete_turn() == {'FINISHED'}
    assert len(t.spans) == 2 and len(turns_timeline.turn_strips(scene)) == 2
    # the artist drags the last strip to B's lane and trims its start by a second
    strip = max(turns_timeline.turn_strips(scene), key=lambda s: s.frame_final_start)
    strip.channel = t.lane_channel + 1
    strip.frame_final_start += FPS
    assert turns_timeline.was_edited(scene)
    current = turns_store.current_turns(scene)
    assert [(s.person, round(s.start, 2)) for s in current] == [(0, 0.3), (1, 7.5)]
    assert bpy.ops.talking_together.read_timeline_turns() == {'FINISHED'}
    assert [(s.person, round(s.start, 2)) for s in t.spans] == [('A', 0.3), ('B', 7.5)]
    assert not turns_timeline.was_edited(scene)


def test_add_turn_at_the_playhead():
    scene = _scene()
    scene.frame_current = 1 + 2 * FPS
    assert bpy.ops.talking_together.add_turn() == {'FINISHED'}
    spans = scene.talking_together_turns.spans
    assert [(s.person, round(s.start, 2), round(s.end, 2)) for s in spans] == [('A', 2.0, 3.0)]
    with pytest.raises(RuntimeError, match="already speaks at the playhead"):
        bpy.ops.talking_together.add_turn()


def test_every_operator_that_changes_turns_is_one_undo_step():
    # headless bpy pushes no undo steps (see test_operators.undo_stack); Blender's UI pushes one
    # for each operator with the UNDO flag
    from talking_together_addon import turns_ui
    editing = [c for c in turns_ui.classes if issubclass(c, bpy.types.Operator) and c.bl_idname != "talking_together.export_turns"]
    assert len(editing) == 7 and all('UNDO' in c.bl_options for c in editing)


# ---- bad files -------------------------------------------------------------------------
BAD = {
    "same_person_overlap.rttm": (RTTM + "SPEAKER dialogue 1 7.000 0.500 <NA> <NA> agent <NA> <NA>\n", "line 4"),
    "reversed.csv": ("start,end,person\n0.5,1.0,A\n3.0,2.0,B\n", "line 3"),
    "past_the_end.txt": ("0.5\t1.0\tA\n2.0\t20.0\tB\n", "line 2"),
    "third_speaker.rttm": (RTTM + "SPEAKER dialogue 1 7.000 0.500 <NA> <NA> boss <NA> <NA>\n", "line 4"),
    "empty.rttm": ("", "no turns"),
    "unreadable.csv": (b"\xff\xfe\x00\xd8\x00", "(?i)cannot read"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_turns_file_leaves_the_scene_untouched(tmp_path, name, use_weights):
    scene = _scene()
    _rigs(scene)
    assert bpy.ops.talking_together.import_turns(filepath=_rttm(tmp_path)) == {'FINISHED'}
    before, turns_before = snapshot(scene), _turns_state(scene)
    text, where = BAD[name]
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(RuntimeError, match=where) as err:
        bpy.ops.talking_together.import_turns(filepath=str(path))
    assert name in str(err.value)
    with pytest.raises(runtime_api.TurnsError, match=where):
        api.generate(scene, turns=str(path))
    assert snapshot(scene) == before and _turns_state(scene) == turns_before


# ---- turns drive Generate --------------------------------------------------------------
def _mean(values: np.ndarray, spans) -> float:
    return float(np.mean(np.concatenate([values[s] for s in spans])))


def test_imported_turns_drive_generate(tmp_path, use_weights):
    scene = _scene()
    rig_a, rig_b = _rigs(scene)
    scene.talking_together_turns.speakers = "agent, caller"
    assert bpy.ops.talking_together.import_turns(filepath=_rttm(tmp_path)) == {'FINISHED'}
    assert scene.talking_together_turns.use_turns
    assert bpy.ops.talking_together.generate() == {'FINISHED'}
    jaw_a, jaw_b = _jaw_keys(rig_a), _jaw_keys(rig_b)
    a_turns, b_turns = [_frames(0.3, 3.0), _frames(6.5, 7.8)], [_frames(3.5, 6.0)]
    assert _mean(jaw_a, a_turns) > 2 * _mean(jaw_a, b_turns) + 0.02
    assert _mean(jaw_b, b_turns) > 2 * _mean(jaw_b, a_turns) + 0.02


def test_a_moved_boundary_moves_the_mouth(tmp_path, use_weights):
    scene = _scene()
    rig_a, rig_b = _rigs(scene)
    scene.talking_together_turns.speakers = "agent, caller"
    bpy.ops.talking_together.import_turns(filepath=_rttm(tmp_path))
    bpy.ops.talking_together.generate()
    before = _jaw_keys(rig_b)
    # on the timeline, B's turn now starts 1.5 s later (3.5 -> 5.0 s)
    strip = next(s for s in turns_timeline.turn_strips(scene) if s.channel == scene.talking_together_turns.lane_channel + 1)
    strip.frame_final_start += round(1.5 * FPS)
    assert bpy.ops.talking_together.generate() == {'FINISHED'}
    after = _jaw_keys(rig_b)
    moved, kept = _frames(3.5, 5.0), _frames(5.2, 6.0)
    assert np.mean(before[moved]) > 2 * np.mean(after[moved]) + 0.02
    assert np.mean(after[kept]) > 0.5 * np.mean(before[kept])


def test_the_api_takes_a_turns_file(tmp_path, use_weights):
    scene = _scene()
    rig_a, rig_b = _rigs(scene)
    lines = RTTM.splitlines()
    path = _rttm(tmp_path, "\n".join([lines[1], lines[0], lines[2]]) + "\n")
    api.generate(scene, turns=path, steps=2, guidance=1.0, device="cpu")
    jaw_a, jaw_b = _jaw_keys(rig_a), _jaw_keys(rig_b)
    # the caller's line comes first in the file: the caller is A, and speaks 3.5-6.0 s
    assert _mean(jaw_a, [_frames(3.5, 6.0)]) > 2 * _mean(jaw_a, [_frames(0.3, 3.0)])
    assert _mean(jaw_b, [_frames(0.3, 3.0)]) > 2 * _mean(jaw_b, [_frames(3.5, 6.0)])


# ---- a turns file per batch shot ---------------------------------------------------------
def test_each_batch_shot_takes_its_own_turns_file(tmp_path, use_weights):
    from talking_together_addon import batch_run
    from talking_together_addon.batch_shots import make_shots
    clip = tmp_path / "clip.wav"
    import soundfile as sf
    data, rate = sf.read(str(EXAMPLE))
    sf.write(str(clip), data[: SECONDS * rate], rate)
    (tmp_path / "good.rttm").write_text(RTTM)
    (tmp_path / "bad.rttm").write_text(RTTM + "SPEAKER dialogue 1 7.000 0.500 <NA> <NA> boss <NA> <NA>\n")
    defaults = {"audio": "clip.wav", "rigs": "add", "steps": 2, "guidance": 1.0, "device": "cpu"}
    shots = make_shots([{"name": "good", "turns": "good.rttm"}, {"name": "bad", "turns": "bad.rttm"}],
                       defaults, tmp_path)
    log = []
    out = SimpleNamespace(write=log.append, flush=lambda: None)
    results = batch_run.run_shots(shots, out=out, progress=False, save=False)
    assert [r.ok for r in results] == [True, False], "".join(log)
    assert "bad.rttm" in results[1].error and "line 4" in results[1].error
    # the good shot's person A (the agent) speaks in the file's turns, and B does not
    bpy.ops.wm.read_homefile(use_empty=True)
    batch_run.run_shots(shots[:1], out=out, progress=False, save=False)
    scene = bpy.context.scene
    jaw_a, jaw_b = (_jaw_keys(scene.talking_together.rig_a), _jaw_keys(scene.talking_together.rig_b))
    a_turns, b_turns = [_frames(0.3, 3.0, scene.frame_start), _frames(6.5, 7.8, scene.frame_start)], \
        [_frames(3.5, 6.0, scene.frame_start)]
    assert _mean(jaw_a, a_turns) > 2 * _mean(jaw_a, b_turns)
    assert _mean(jaw_b, b_turns) > 2 * _mean(jaw_b, a_turns)
