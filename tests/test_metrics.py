"""The evaluation's metrics on hand-made motion whose right answer is known."""
import math

import numpy as np
import pytest
import torch

from model_training import metrics
from model_runtime.channels import GAZE_SLICE, HEAD_SLICE, MOTION_DIM, channel_index
from model_training.lips import lip_vertex_error_mm
from model_runtime.geometry import gaze_toward
from model_runtime.layouts import preset_layout

T = 250  # 10 s at 25 fps
JAW = channel_index("jawOpen")


def rest_motion() -> np.ndarray:
    return np.zeros((2, T, MOTION_DIM), np.float32)


def looking_at_partner(motion: np.ndarray, poses, yaw_offset_deg: float = 0.0) -> np.ndarray:
    out = motion.copy()
    for i in range(2):
        head = torch.as_tensor(out[i][:, HEAD_SLICE])
        out[i][:, GAZE_SLICE] = gaze_toward(poses[i], head, poses[1 - i].position()).numpy()
        out[i][:, GAZE_SLICE.start] += math.radians(yaw_offset_deg)
    return out


def test_lip_vertex_error_is_zero_for_the_same_mouth_and_grows_with_the_jaw():
    a, b = rest_motion(), rest_motion()
    assert lip_vertex_error_mm(a, b) == 0.0
    b[..., JAW] = 0.2
    small = lip_vertex_error_mm(a, b)
    b[..., JAW] = 1.0
    wide = lip_vertex_error_mm(a, b)
    # jawOpen = 1 drops the lower lip by a couple of centimetres on the default head.
    assert 15.0 < wide < 40.0
    assert small == pytest.approx(wide * 0.2, rel=0.05)  # shape keys are linear


def test_lip_vertex_error_ignores_everything_but_the_face():
    a, b = rest_motion(), rest_motion()
    b[..., HEAD_SLICE] = 0.3
    b[..., GAZE_SLICE] = 0.2
    b[..., channel_index("eyeBlinkLeft")] = 1.0   # the eyes are not the lips
    assert lip_vertex_error_mm(a, b) < 0.05


def test_role_accuracy_rewards_the_speaker_moving_and_the_listener_still():
    activity = np.zeros((2, T), bool)
    activity[0, 20:120] = True
    activity[1, 150:240] = True
    talking = (0.3 + 0.25 * np.sin(np.arange(T) * 2 * math.pi / 6)).astype(np.float32)
    right, wrong = rest_motion(), rest_motion()
    right[0, :, JAW] = talking * activity[0]
    right[1, :, JAW] = talking * activity[1]
    wrong[0, :, JAW] = talking * activity[1]       # lips move in the partner's turn
    wrong[1, :, JAW] = talking * activity[0]
    good, bad = metrics.role_accuracy(right, activity), metrics.role_accuracy(wrong, activity)
    assert good["turns"] == 2
    assert good["role_acc_turn"] == 1.0 and good["role_acc_frame"] > 0.9
    assert bad["role_acc_turn"] == 0.0 and bad["role_acc_frame"] < 0.1


def test_gaze_error_and_looking_away_are_measured_in_the_scene():
    poses = preset_layout("side_by_side")
    target = looking_at_partner(rest_motion(), poses)
    away = looking_at_partner(rest_motion(), poses, yaw_offset_deg=20.0)
    exact = metrics.gaze_metrics(target, target, poses)
    off = metrics.gaze_metrics(away, target, poses)
    assert exact["gaze_err_deg"] < 0.1 and exact["look_away_share"] == 0.0
    assert exact["mutual_tp"] == exact["mutual_true"] == T  # every frame is eye contact
    assert off["gaze_err_deg"] == pytest.approx(20.0, abs=0.5)
    assert off["look_away_share"] == 1.0 and off["mutual_pred"] == 0


def test_blinks_per_minute_counts_closures():
    motion = rest_motion()
    blink = channel_index("eyeBlinkLeft")
    for start in range(10, T, 50):               # every 2 s: 30 per minute
        motion[:, start:start + 4, blink] = 1.0
    assert metrics.blinks_per_minute(motion) == pytest.approx(30.0)


def test_paired_comparison_needs_the_difference_to_stand_out_of_the_noise():
    from model_training.eval_stats import compare
    rng = np.random.default_rng(1)
    base = [{"conv": c, "mouth_err": 0.05 + 0.01 * rng.standard_normal()} for c in range(40)]
    better = [{"conv": r["conv"], "mouth_err": r["mouth_err"] - 0.004} for r in base]
    noisy = [{"conv": r["conv"], "mouth_err": r["mouth_err"] + 0.004 * rng.standard_normal()} for r in base]
    clear = compare(better, base, "mouth_err", "lower")
    assert clear.better and clear.delta == pytest.approx(-0.004) and clear.high < 0
    assert not compare(noisy, base, "mouth_err", "lower").better
    assert not compare(base, better, "mouth_err", "lower").better   # worse is never better


def test_closer_to_people_is_better_on_either_side_and_needs_every_pair():
    """Interaction metrics are judged by the distance to the people's (target's) value: a model
    that overshoots is as wrong as one that undershoots; conversations where a metric had
    nothing to measure (NaN) are left out, not counted as zero."""
    from model_training.eval_stats import compare
    rng = np.random.default_rng(2)
    target = [{"conv": c, "nod_sync": 0.3 + 0.05 * rng.standard_normal()} for c in range(30)]
    close = [{"conv": r["conv"], "nod_sync": r["nod_sync"] + 0.02} for r in target]
    over = [{"conv": r["conv"], "nod_sync": r["nod_sync"] + 0.2} for r in target]
    under = [{"conv": r["conv"], "nod_sync": r["nod_sync"] - 0.2} for r in target]
    assert compare(close, over, "nod_sync", "lower", target=target).better
    assert compare(close, under, "nod_sync", "lower", target=target).better
    assert not compare(over, under, "nod_sync", "lower", target=target).better
    gappy = [dict(r, nod_sync=np.nan) if r["conv"] % 3 == 0 else r for r in close]
    result = compare(gappy, over, "nod_sync", "lower", target=target)
    assert result.better and result.delta == pytest.approx(-0.18)
