"""Blinks: the model's own are kept; the runtime adds natural ones where people blink."""
import numpy as np

from model_runtime.blinks import (BLINK_CHANNELS, MIN_GAP_S, blink_onsets, complement_blinks,
                                  complement_blinks_in_blocks)
from model_runtime.channels import MOTION_DIM, ROLE_LISTENING, ROLE_SPEAKING

FPS = 25.0
T = int(60 * FPS)


def roles_with_turns(starts):
    roles = np.full(T, ROLE_LISTENING)
    for s in starts:
        roles[s:s + 50] = ROLE_SPEAKING
    return roles


def test_a_person_who_never_blinks_gets_a_natural_rate_with_human_gaps():
    out = complement_blinks(np.zeros((T, MOTION_DIM), np.float32), roles_with_turns([]), FPS, 17.0,
                            np.random.default_rng(0))
    left, right = (blink_onsets(out[:, c], FPS) for c in BLINK_CHANNELS)
    assert len(left) == 17
    assert np.array_equal(left, right)                  # both eyes together
    assert np.diff(left).min() >= MIN_GAP_S - 1 / FPS
    assert out[:, BLINK_CHANNELS].max() > 0.9           # real closures, not twitches


def test_the_models_own_blinks_are_kept_and_enough_of_them_add_nothing():
    motion = np.zeros((T, MOTION_DIM), np.float32)
    for start in range(20, T - 10, 75):                 # every 3 s: 20 a minute
        motion[start:start + 5, BLINK_CHANNELS] = 1.0
    same = complement_blinks(motion, roles_with_turns([]), FPS, 17.0, np.random.default_rng(0))
    assert np.array_equal(same, motion)
    assert np.array_equal(complement_blinks(np.zeros_like(motion), roles_with_turns([]), FPS, 0.0,
                                            np.random.default_rng(0)), np.zeros_like(motion))


def test_added_blinks_favour_the_start_of_own_turns():
    starts = [100 * k + 40 for k in range(14)]
    hits = 0
    for seed in range(5):
        out = complement_blinks(np.zeros((T, MOTION_DIM), np.float32), roles_with_turns(starts), FPS, 17.0,
                                np.random.default_rng(seed))
        onsets = blink_onsets(out[:, BLINK_CHANNELS[0]], FPS) * FPS
        hits += sum(np.abs(onsets - s).min() <= 1 for s in starts)
    # by chance about 14 * 3 frames / 1500 * 17 blinks ~ 0.5 per run; turn starts get ~7
    assert hits / 5 > 4


def test_blocks_add_up_to_the_rate_asked_for_not_a_rounded_one():
    # 20-s blocks hold 5.67 blinks at 17 a minute; rounding each block to 6 made it 18 a minute.
    minutes = 10
    motion = np.zeros((int(minutes * 60 * FPS), MOTION_DIM), np.float32)
    roles = np.full(len(motion), ROLE_LISTENING)
    out = complement_blinks_in_blocks(motion, roles, FPS, 17.0, seed=(1, 0))
    assert len(blink_onsets(out[:, BLINK_CHANNELS[0]], FPS)) == 17 * minutes
