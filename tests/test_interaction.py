"""Interaction metrics (#12) on hand-made conversations whose right answer is known: a listener
who nods after the speaker's pauses, a speaker who looks away at a turn's start, two heads
nodding together."""
import math

import numpy as np
import pytest
import torch

from model_runtime.channels import GAZE_SLICE, HEAD_SLICE, MOTION_DIM, channel_index
from model_runtime.geometry import gaze_toward
from model_runtime.layouts import preset_layout
from model_runtime.timebase import MODEL_FPS
from model_training import interaction

T = 40 * MODEL_FPS
PITCH = channel_index("headPitch")


def turns() -> np.ndarray:
    """A speaks 4 s with a 0.5 s pause in the middle, B replies 4 s, and so on, for 40 s."""
    act = np.zeros((2, T), bool)
    for k, start in enumerate(range(0, 40, 5)):
        who = k % 2
        act[who, start * MODEL_FPS:(start + 4) * MODEL_FPS] = True
        act[who, (start * MODEL_FPS + 40):(start * MODEL_FPS + 52)] = False      # a pause of 0.48 s
    return act


def nod(motion: np.ndarray, person: int, frame: int, deg: float = 5.0) -> None:
    n = 12
    if 0 <= frame and frame + n <= T:
        motion[person, frame:frame + n, PITCH] -= math.radians(deg) * np.sin(np.linspace(0, math.pi, n))


def looking_at_partner(motion: np.ndarray, poses) -> np.ndarray:
    for i in range(2):
        head = torch.as_tensor(motion[i][:, HEAD_SLICE])
        motion[i][:, GAZE_SLICE] = gaze_toward(poses[i], head, poses[1 - i].position()).numpy()
    return motion


def test_a_listener_who_nods_after_the_cues_has_a_rise_at_that_lag_and_a_stare_has_none():
    act = turns()
    cues = interaction.speaker_cues(act)
    assert all(len(c) >= 6 for c in cues)
    answering = np.zeros((2, T, MOTION_DIM), np.float32)
    for p in range(2):
        for c in cues[p]:
            nod(answering, 1 - p, c + 10)                     # 0.4 s after the cue
    r = interaction.listener_response(answering, act)
    assert r["response_rise"] > 5.0 and abs(r["response_lag_s"] - 0.6) <= 0.2    # nod peaks 6 frames in
    still = interaction.listener_response(np.zeros_like(answering), act)
    assert still["response_rise"] == 0.0
    rng = np.random.default_rng(0)
    random_nods = np.zeros_like(answering)
    for p in range(2):
        for f in rng.integers(0, T - 20, len(cues[p])):
            nod(random_nods, 1 - p, int(f))
    assert interaction.listener_response(random_nods, act)["response_rise"] < 0.5 * r["response_rise"]


def test_a_speaker_who_looks_away_as_the_turn_starts_and_back_at_its_end_is_told_from_a_stare():
    poses, act = preset_layout("face_to_face"), turns()
    stare = looking_at_partner(np.zeros((2, T, MOTION_DIM), np.float32), poses)
    s = interaction.turn_gaze(stare, act, poses)
    assert s["turn_start_at_partner"] == 1.0 and s["turn_end_at_partner"] == 1.0
    kendon = stare.copy()
    for p in range(2):
        starts = np.flatnonzero(np.diff(interaction.floor_of(act[p]).astype(int), prepend=0) == 1)
        for a in starts:
            kendon[p, a:a + MODEL_FPS, GAZE_SLICE.start] += math.radians(20)
    k = interaction.turn_gaze(kendon, act, poses)
    assert k["turn_start_at_partner"] < 0.5 and k["turn_end_at_partner"] == 1.0
    assert interaction.mutual_gaze_at_handover(kendon, act, poses) < interaction.mutual_gaze_at_handover(stare, act, poses)


def test_heads_nodding_together_are_in_synchrony_at_their_lag():
    rng = np.random.default_rng(1)
    motion = np.zeros((2, T, MOTION_DIM), np.float32)
    for f in rng.integers(0, T - 30, 30):
        nod(motion, 0, int(f))
        nod(motion, 1, int(f) + 5)                            # B follows A by 0.2 s
    s = interaction.nod_synchrony(motion)
    assert s["nod_sync"] > 0.8 and s["nod_sync_lag_s"] == 0.2
    independent = np.zeros_like(motion)
    for f in rng.integers(0, T - 30, 30):
        nod(independent, 0, int(f))
    for f in rng.integers(0, T - 30, 30):
        nod(independent, 1, int(f))
    assert interaction.nod_synchrony(independent)["nod_sync"] < 0.5


def test_a_listener_who_mirrors_the_speakers_tilt_is_told_from_one_who_copies_or_ignores_it():
    rng = np.random.default_rng(2)
    roll = channel_index("headRoll")
    tilts = np.convolve(rng.standard_normal(T + 50), np.hanning(50) / 10, mode="valid")[:T]
    mirror = np.zeros((2, T, MOTION_DIM), np.float32)
    mirror[0, :, roll] = np.radians(3) * tilts
    mirror[1, 25:, roll] = -0.5 * mirror[0, :-25, roll]          # B mirrors A one second later
    same_side, ignoring = mirror.copy(), mirror.copy()
    same_side[1, :, roll] *= -1
    ignoring[1, :, roll] = np.radians(3) * np.roll(tilts, T // 2)
    assert interaction.tilt_mirroring(mirror) > 0.8
    assert interaction.tilt_mirroring(same_side) < 0.3 and interaction.tilt_mirroring(ignoring) < 0.3


def test_gaze_error_counts_only_where_the_target_looks_at_the_partner():
    poses, act = preset_layout("face_to_face"), turns()
    target = looking_at_partner(np.zeros((2, T, MOTION_DIM), np.float32), poses)
    target[:, :T // 2, GAZE_SLICE.start] += math.radians(30)       # the target looks away half the time
    pred = looking_at_partner(np.zeros_like(target), poses)         # a model that always stares
    assert interaction.gaze_error_where_target_looks(pred, target, poses) < 0.5
    pred[:, T // 2:, GAZE_SLICE.start] += math.radians(10)         # off while the target looks
    assert abs(interaction.gaze_error_where_target_looks(pred, target, poses) - 10.0) < 1.0
    assert set(interaction.interaction_metrics(pred, target, act, poses)) >= {"response_rise", "nod_sync"}


def test_a_listener_who_answers_the_speakers_glances_is_told_from_one_who_does_not():
    poses, act = preset_layout("face_to_face"), turns()
    base = looking_at_partner(np.zeros((2, T, MOTION_DIM), np.float32), poses)
    rng = np.random.default_rng(3)
    for p in range(2):                                   # speakers look away and glance back
        floor = interaction.floor_of(act[p])
        for f in range(0, T, 40):
            if floor[f] and floor[min(f + 30, T - 1)]:
                base[p, f:f + 20, GAZE_SLICE.start] += math.radians(20)
    for p in range(2):                                   # listeners look away now and then
        for f in rng.integers(0, T - 30, 12):
            if not act[p, f]:
                base[p, f:f + 25, GAZE_SLICE.start] -= math.radians(20)
    glances = interaction.speaker_glances(base, act, poses)
    assert sum(len(g) for g in glances) >= 6
    answering = base.copy()
    back = np.zeros((2, T), bool)
    for p in range(2):
        for g in glances[p]:
            nod(answering, 1 - p, g + 8)
            back[1 - p, g + 5:g + 40] = True             # and looks back at the speaker
    exact = looking_at_partner(answering.copy(), poses)
    answering[back] = exact[back]
    a, b = (interaction.glance_response(m, act, poses) for m in (answering, base))
    assert a["glance_nod_rise"] > 5.0 and abs(b["glance_nod_rise"]) < 1.0
    assert a["glance_followed"] == 1.0 and b["glance_followed"] < 0.5


@pytest.fixture(scope="module")
def reactive_corpus(tmp_path_factory):
    """Two synthetic training conversations (their listeners answer glances)."""
    from model_training.corpus import writer
    root = tmp_path_factory.mktemp("reactive")
    writer.build_corpus(str(root), 2, seed=11, split="train", log=lambda *_: None)
    return root


@pytest.mark.slow       # synthesizes two conversations
def test_the_partner_explains_the_answers_to_glances_and_nothing_else(reactive_corpus):
    """model_training.partner_share: the listener's answers to glances are part of head pitch
    and gaze, a few per cent of it; head roll and the mouth owe the partner nothing (the lids
    do: they follow the gaze)."""
    from model_runtime.channels import MOTION_CHANNELS
    from model_training import partner_share
    from model_training.corpus import dataset
    from model_training.evaluate import redrawn_target
    tmp_path = reactive_corpus
    share = partner_share.partner_share(str(tmp_path))
    assert 0.0 < share["headPitch"] < 0.5 and 0.0 < share["gazePitch"] < 0.5
    assert share["headRoll"] == 0.0
    conv = dataset.load_conversation(dataset.list_conversations(tmp_path)[0])
    frames = conv["motion"].shape[1]
    answered, unanswered = redrawn_target(conv, frames, 0), redrawn_target(conv, frames, 0, answers=False)
    mouth = [k for k, name in enumerate(MOTION_CHANNELS) if name.startswith(("jaw", "mouth"))]
    assert np.array_equal(answered[..., mouth], unanswered[..., mouth])
    assert not np.array_equal(answered, unanswered)
    assert np.array_equal(answered, redrawn_target(conv, frames, 0))


@pytest.mark.slow       # synthesizes two conversations
def test_people_who_never_watch_each_other_answer_fewer_glances(reactive_corpus):
    """The evaluation's target_unanswered (the redrawn people without their answers): what a
    model that ignores its partner can match. Their listener nods less after the speaker's
    glances than people do, which is the room reading the partner has on that metric."""
    from model_training.corpus import dataset
    from model_training.evaluate import REFERENCES, redrawn_target
    assert "target_unanswered" in REFERENCES
    rise = {True: [], False: []}
    for path in dataset.list_conversations(reactive_corpus):
        conv = dataset.load_conversation(path)
        frames = conv["motion"].shape[1]
        for seed in range(3):
            for answers in (True, False):
                motion = redrawn_target(conv, frames, seed, answers=answers)
                rise[answers].append(interaction.glance_response(motion, conv["activity"], conv["poses"])["glance_nod_rise"])
    assert np.mean(rise[True]) > np.mean(rise[False]) + 2.0


@pytest.mark.slow       # synthesizes two conversations
def test_answer_frames_are_where_a_listener_answers_and_unknown_ones_are_none(reactive_corpus):
    """training_data.answer_frames (what ``train --answer-weight`` weighs): a person's answers to
    the partner's glances begin while the partner speaks (a glance is answered while its
    speaker holds the floor) and cover a minority of the frames; a capture, or a file whose
    targets this code cannot draw again, marks none."""
    from model_training.corpus import dataset
    from model_training.training_data import answer_frames
    near_speech = []
    for path in dataset.list_conversations(reactive_corpus):
        conv = dataset.load_conversation(path)
        answers = answer_frames(conv)
        assert answers.shape == conv["activity"].shape and set(np.unique(answers)) <= {0.0, 1.0}
        assert answers.mean() < 0.6
        partner_speaks = conv["activity"][::-1].astype(bool)
        half_second = int(MODEL_FPS / 2)
        for p in (0, 1):
            onsets = np.flatnonzero(np.diff(np.r_[0.0, answers[p]]) > 0)
            near_speech += [partner_speaks[p, max(0, i - half_second):i + half_second].any() for i in onsets]
        capture = {**conv, "meta": {**conv["meta"], "source": "capture"}}
        assert not answer_frames(capture).any()
        other = {**conv, "motion": np.roll(conv["motion"], 25, axis=1)}
        assert not answer_frames(other).any()
    assert len(near_speech) >= 4 and np.mean(near_speech) > 0.8
