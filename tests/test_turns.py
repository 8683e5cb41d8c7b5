"""Speaker turns: files (RTTM, Audacity, CSV) in and out, bad files refused with their line,
per-frame activity, and generation driven by given turns."""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from model_runtime import api
from model_runtime.audio import ConversationAudio
from model_runtime.audio_files import AudioClip
from model_runtime.blinks import BLINK_CHANNELS, BLOCK_S, MIN_GAP_S, blink_onsets, complement_blinks_in_blocks
from model_runtime.channels import MOTION_DIM, ROLE_SPEAKING
from model_runtime.errors import TalkingTogetherError, TurnsError
from model_runtime.layouts import preset_layout
from model_runtime.pipeline import conversation_conditions
from model_runtime.turn_files import read_turns, write_turns
from model_runtime.turns import Turn, Turns

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "dialogue.flac"
FAST = api.GenerationSettings(steps=2, guidance=1.0, face_guidance=1.0, device="cpu")
JAW = api.OUTPUT_FACE_CHANNELS.index("jawOpen")
RTTM = """SPEAKER call 1 1.760 7.150 <NA> <NA> caller <NA> <NA>
SPEAKER call 1 8.770 0.320 <NA> <NA> agent <NA> <NA>
SPEAKER call 1 9.380 4.670 <NA> <NA> caller <NA> <NA>
SPEAKER call 1 12.000 1.000 <NA> <NA> agent <NA> <NA>
"""


def write(tmp_path, name, text) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def audio():
    return ConversationAudio.mixed([AudioClip(str(EXAMPLE), duration=10.0)])


# ---- reading ---------------------------------------------------------------------------
def test_rttm_speakers_become_a_and_b_by_first_appearance(tmp_path):
    turns = read_turns(write(tmp_path, "call.rttm", RTTM))
    assert turns.speakers == ("caller", "agent")
    assert [(t.start, t.person, t.line) for t in turns] == [(1.76, 0, 1), (8.77, 1, 2), (9.38, 0, 3), (12.0, 1, 4)]
    assert turns.spans[0].end == pytest.approx(8.91)


def test_named_speakers_choose_who_is_a(tmp_path):
    turns = read_turns(write(tmp_path, "call.rttm", RTTM), speakers=("agent", "caller"))
    assert [t.person for t in turns] == [1, 0, 1, 0]


def test_audacity_labels_and_csv_read_alike(tmp_path):
    labels = write(tmp_path, "labels.txt", "0.5\t2.0\tB\n\\\t100\t2000\n1.5\t3.0\tA\n")
    table = write(tmp_path, "turns.csv", "start,end,person\n0.5,2.0,B\n1.5,3.0,A\n")
    for path in (labels, table):
        turns = read_turns(path)
        # labels A and B keep their meaning even when B speaks first; A and B may overlap
        assert [(t.start, t.end, t.person) for t in turns] == [(0.5, 2.0, 1), (1.5, 3.0, 0)]


def test_a_file_with_two_recordings_needs_one_chosen(tmp_path):
    path = write(tmp_path, "two.rttm", RTTM + "SPEAKER other 1 0.5 1.0 <NA> <NA> x <NA> <NA>\n")
    with pytest.raises(TurnsError, match=r"line 5: a second recording"):
        read_turns(path)
    assert len(read_turns(path, recording="call")) == 4


@pytest.mark.parametrize("fmt", ["rttm", "txt", "csv"])
def test_written_turns_read_back_the_same(tmp_path, fmt):
    turns = Turns((Turn(0.0, 1.25, 0), Turn(1.0, 2.5, 1), Turn(3.0, 4.5, 0)), speakers=("agent", "caller"))
    back = read_turns(write_turns(turns, tmp_path / f"turns.{fmt}"), speakers=("agent", "caller"))
    assert np.allclose([(t.start, t.end, t.person) for t in back], [(t.start, t.end, t.person) for t in turns])


# ---- bad files: TurnsError naming the file and the line --------------------------------
BAD_FILES = {
    "same_person_overlap.rttm": (RTTM + "SPEAKER call 1 13.500 1.000 <NA> <NA> caller <NA> <NA>\n", "line 5", "overlaps"),
    "reversed.csv": ("start,end,person\n0.0,1.0,A\n3.0,2.0,B\n", "line 3", "before it starts"),
    "past_the_end.txt": ("0.0\t1.0\tA\n2.0\t30.0\tB\n", "line 2", "after the audio"),
    "third_speaker.rttm": (RTTM + "SPEAKER call 1 20.000 1.000 <NA> <NA> boss <NA> <NA>\n", "line 5", "third speaker"),
    "not_a_number.csv": ("start,end,person\n0.0,one,A\n", "line 2", "not a number"),
    "no_header.csv": ("0.0,1.0,A\n", "line 1", "header"),
    "garbled.rttm": ("SPEAKER call 1 0.0\n", "line 1", "not an RTTM"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_turn_files_are_refused_naming_file_and_line(tmp_path, name):
    text, line, reason = BAD_FILES[name]
    path = write(tmp_path, name, text)
    with pytest.raises(TurnsError) as err:
        read_turns(path, duration=15.0)
    assert str(path) in str(err.value) and f"{line}:" in str(err.value) and reason in str(err.value)
    assert isinstance(err.value, TalkingTogetherError)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"start,end,person\n", b"\xff\xfe\x00\xd8bad"])
def test_empty_or_unreadable_files_are_refused(tmp_path, content):
    path = tmp_path / "turns.csv"
    path.write_bytes(content)
    with pytest.raises(TurnsError, match=str(path)):
        read_turns(path)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(TurnsError, match="not found"):
        read_turns(tmp_path / "nowhere.rttm")


# ---- per-frame activity ----------------------------------------------------------------
def test_activity_marks_the_frames_of_each_turn_and_overlaps():
    act = Turns((Turn(0.0, 0.2, 0), Turn(0.12, 0.4, 1), Turn(0.5, 0.51, 0))).activity(15, fps=25)
    assert np.flatnonzero(act[0]).tolist() == [0, 1, 2, 3, 4, 12]   # a sliver keeps one frame
    assert np.flatnonzero(act[1]).tolist() == [3, 4, 5, 6, 7, 8, 9]


def test_activity_and_turns_convert_both_ways():
    rng = np.random.default_rng(0)
    act = np.repeat(rng.random((2, 40)) < 0.5, 3, axis=1)
    turns = Turns.from_activity(act)
    assert np.array_equal(turns.activity(act.shape[1]), act)
    assert all(t.start % 0.04 < 1e-9 or 0.04 - t.start % 0.04 < 1e-9 for t in turns)


def test_given_turns_replace_the_analysis_and_swap_still_exchanges(audio):
    turns = Turns((Turn(0.0, 4.0, 1), Turn(6.0, 9.0, 0)))
    _, roles = conversation_conditions(audio, turns=turns)
    _, swapped = conversation_conditions(audio, swap=True, turns=turns)
    assert np.array_equal(roles[1, :100], np.ones(100)) and np.array_equal(roles[0, :100], np.full(100, 2))
    assert np.array_equal(swapped, roles[::-1])


# ---- generation ------------------------------------------------------------------------
@pytest.mark.slow
def test_analysed_turns_given_back_change_nothing(audio):
    turns = api.analyse_turns(audio)
    assert 2 <= len(turns) and {t.person for t in turns} == {0, 1}
    plain = api.generate(audio, preset_layout("face_to_face"), FAST)
    given = api.generate(audio, preset_layout("face_to_face"), FAST, turns=turns)
    assert all(np.array_equal(p.face, g.face) for p, g in zip(plain.people, given.people))


def test_the_jaw_moves_in_the_given_turns(audio):
    turns = api.analyse_turns(audio).swapped()    # the other person now speaks each turn
    result = api.generate(audio, preset_layout("face_to_face"), FAST, turns=turns)
    act = turns.activity(result.num_frames)
    for person in (0, 1):
        jaw = result.people[person].face[:, JAW]
        alone = act[person] & ~act[1 - person]
        assert jaw[alone].mean() > 3 * jaw[~act[person]].mean()


def test_a_corrected_turn_changes_the_motion_only_near_it(audio):
    # blinks added to reach blinks_per_minute move per 20 s block: tested on their own below
    settings = replace(FAST, window_seconds=1.28, overlap_seconds=0.32, blinks_per_minute=0.0)
    turns = Turns((Turn(0.3, 5.1, 0), Turn(6.0, 9.6, 1)))
    edited = Turns((Turn(0.3, 4.0, 0), Turn(6.0, 9.6, 1)))      # A's turn ends 1.1 s sooner
    before = api.generate(audio, preset_layout("face_to_face"), settings, turns=turns)
    after = api.generate(audio, preset_layout("face_to_face"), settings, turns=edited)
    frames = np.arange(before.num_frames) / before.fps
    # each sampler step reaches at most one window further: the receptive field
    margin = settings.steps * settings.window_seconds
    far = (frames < 4.0 - margin) | (frames > 5.1 + margin)
    near = (frames > 4.0) & (frames < 5.1)
    for b, a in zip(before.people, after.people):
        assert np.array_equal(b.face[far], a.face[far]) and np.array_equal(b.head[far], a.head[far])
    assert np.abs(before.people[0].face[near, JAW] - after.people[0].face[near, JAW]).mean() > 0.05


def test_an_added_turn_moves_added_blinks_only_in_its_block():
    fps, n = 25, 25 * 70
    motion = np.zeros((n, MOTION_DIM), np.float32)
    roles = np.zeros(n, np.int64)
    roles[100:400] = ROLE_SPEAKING
    edited = roles.copy()
    edited[420:480] = ROLE_SPEAKING                   # a turn added by the artist at 16.8 s
    before = complement_blinks_in_blocks(motion, roles, fps, 17.0, seed=(3, 0))
    after = complement_blinks_in_blocks(motion, edited, fps, 17.0, seed=(3, 0))
    block = int(BLOCK_S * fps)
    assert not np.array_equal(before[:block], after[:block])
    assert np.array_equal(before[block:], after[block:])
    for out in (before, after):                       # and no two blinks crowd at block edges
        onsets = blink_onsets(out[:, BLINK_CHANNELS[0]], fps)
        assert 17 * 70 / 60 - 1 <= len(onsets) and np.diff(onsets).min() >= MIN_GAP_S - 1e-6


def test_turns_past_the_audio_fail_before_any_work(audio):
    with pytest.raises(TurnsError, match="after the audio"):
        api.generate(audio, preset_layout("face_to_face"), FAST, turns=Turns((Turn(0.0, 30.0, 0),)))


def test_the_command_line_writes_turns_and_refuses_a_bad_turns_file(tmp_path, capsys):
    from model_runtime import cli
    assert cli.main(["turns", str(EXAMPLE), "--out", str(tmp_path / "turns.csv")]) == 0
    turns = read_turns(tmp_path / "turns.csv")
    assert len(turns) >= 2 and turns.end <= 16.0
    bad = write(tmp_path, "bad.csv", "start,end,person\n0,1,A\n3,2,B\n")
    assert cli.main(["generate", str(EXAMPLE), "--turns", str(bad), "--out", str(tmp_path / "x.json")]) == 2
    assert "bad.csv, line 3" in capsys.readouterr().err and not (tmp_path / "x.json").exists()
