"""Layout geometry on hand-made layouts: partner direction, gaze rays, mutual gaze."""
import math

import numpy as np
import pytest
import torch

from model_runtime.errors import LayoutError
from model_runtime.gaze import eye_look_weights, per_eye_angles
from model_runtime.geometry import (HeadPose, angles_to_direction, direction_to_angles, gaze_directions_world,
                                    gaze_error_to_target, gaze_toward, layout_features, looks_at, mutual_gaze,
                                    partner_in_head_frame)
from model_runtime.layouts import layout_presets, preset_layout

DEG = math.pi / 180


def still(n=1, yaw=0.0, pitch=0.0, roll=0.0):
    return torch.tensor([[pitch, yaw, roll]] * n)


def test_face_to_face_partner_is_straight_ahead():
    a, b = preset_layout("face_to_face", distance=1.5)
    direction, distance, partner_forward = partner_in_head_frame(a, b)
    assert torch.allclose(direction, torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)
    assert float(distance) == pytest.approx(1.5)
    assert torch.allclose(partner_forward, torch.tensor([0.0, -1.0, 0.0]), atol=1e-6)  # faces me


def test_side_by_side_partner_is_to_the_side():
    a, b = preset_layout("side_by_side")
    dir_a, _, _ = partner_in_head_frame(a, b)
    dir_b, _, _ = partner_in_head_frame(b, a)
    yaw_a, _ = direction_to_angles(dir_a)
    yaw_b, _ = direction_to_angles(dir_b)
    # Both face -Y (toward a viewer), so their left is +X: B, at +X, is on A's left (yaw > 0).
    assert float(yaw_a) == pytest.approx(90 * DEG, abs=1e-4)
    assert float(yaw_b) == pytest.approx(-90 * DEG, abs=1e-4)


def test_corner_partner_at_45_degrees_and_height_difference_pitches():
    a, b = preset_layout("corner")
    yaw, pitch = direction_to_angles(partner_in_head_frame(a, b)[0])
    assert abs(float(yaw)) == pytest.approx(45 * DEG, abs=1e-4)
    assert float(pitch) == pytest.approx(0.0, abs=1e-6)
    low, high = preset_layout("face_to_face", distance=1.0, height_offset=0.4)
    _, pitch_up = direction_to_angles(partner_in_head_frame(low, high)[0])
    _, pitch_down = direction_to_angles(partner_in_head_frame(high, low)[0])
    assert float(pitch_up) == pytest.approx(math.atan2(0.4, 1.0) * 1, abs=0.1)
    assert float(pitch_up) > 0 > float(pitch_down)


def test_angles_and_directions_round_trip():
    yaw = torch.tensor([0.3, -1.0, 2.0])
    pitch = torch.tensor([0.1, -0.5, 0.7])
    y2, p2 = direction_to_angles(angles_to_direction(yaw, pitch))
    assert torch.allclose(y2, yaw, atol=1e-6) and torch.allclose(p2, pitch, atol=1e-6)
    assert torch.allclose(angles_to_direction(torch.tensor(0.5), torch.tensor(0.0))[0], torch.tensor(-math.sin(0.5)))


def test_head_yaw_turns_to_the_persons_left():
    a = HeadPose((0, 0, 1.6), forward=(0, -1, 0))  # faces -Y: its left is +X
    ray = gaze_directions_world(a, still(yaw=30 * DEG), torch.zeros(1, 2))[0]
    assert float(ray[0]) == pytest.approx(math.sin(30 * DEG), abs=1e-5)
    assert float(ray[1]) == pytest.approx(-math.cos(30 * DEG), abs=1e-5)


@pytest.mark.parametrize("layout", sorted(layout_presets()))
@pytest.mark.parametrize("head_yaw", [0.0, 25 * DEG])
def test_gaze_toward_hits_the_partner_in_every_layout(layout, head_yaw):
    a, b = preset_layout(layout, height_offset=0.2)
    head = still(yaw=head_yaw, pitch=5 * DEG, roll=3 * DEG)
    gaze = gaze_toward(a, head, b.position())
    rays = gaze_directions_world(a, head, gaze)
    assert float(gaze_error_to_target(a, rays, b.position())[0]) < 1e-4
    assert bool(looks_at(a, rays, b.position())[0])


def test_mutual_gaze_needs_both():
    a, b = preset_layout("face_to_face")
    head = still()
    at_b = gaze_directions_world(a, head, gaze_toward(a, head, b.position()))
    at_a = gaze_directions_world(b, head, gaze_toward(b, head, a.position()))
    away = gaze_directions_world(b, head, torch.tensor([[0.6, 0.3]]))
    assert bool(mutual_gaze(a, at_b, b, at_a)[0])
    assert not bool(mutual_gaze(a, at_b, b, away)[0])


def test_per_eye_angles_converge_on_the_fixation_point():
    eyes = per_eye_angles(np.zeros((1, 2), np.float32), fixation_distance=0.5)
    yaw_left, yaw_right = eyes[0, 0], eyes[0, 2]
    assert yaw_left < 0 < yaw_right  # both turn inward toward the nose
    assert yaw_left == pytest.approx(-math.atan2(0.0315, 0.5), abs=1e-4)
    shapes = eye_look_weights(eyes)
    assert shapes["eyeLookInLeft"][0] > 0 and shapes["eyeLookInRight"][0] > 0
    assert shapes["eyeLookOutLeft"][0] == 0 and shapes["eyeLookOutRight"][0] == 0


def test_layout_features_describe_the_partner():
    from model_runtime.channels import LAYOUT_LOG_DISTANCE, LAYOUT_PARTNER_DIRECTION, LAYOUT_PARTNER_FACING
    a, b = preset_layout("face_to_face", distance=2.0)
    f = layout_features(a, b)
    assert f.shape == (7,)
    assert torch.allclose(f[LAYOUT_PARTNER_DIRECTION], torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)  # ahead
    assert float(f[LAYOUT_LOG_DISTANCE]) == pytest.approx(math.log(2.0))
    assert torch.allclose(f[LAYOUT_PARTNER_FACING], torch.tensor([0.0, -1.0, 0.0]), atol=1e-6)    # faces me
    a, b = preset_layout("side_by_side")          # head frame: x right, y forward, z up
    side_a, side_b = layout_features(a, b), layout_features(b, a)
    assert torch.allclose(side_a[LAYOUT_PARTNER_DIRECTION], torch.tensor([-1.0, 0.0, 0.0]), atol=1e-6)  # A's left
    assert torch.allclose(side_b[LAYOUT_PARTNER_DIRECTION], torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)   # B's right
    assert torch.allclose(side_a[LAYOUT_PARTNER_FACING], torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)      # same way


@pytest.mark.parametrize("bad", [
    dict(eye_center=(float("nan"), 0, 0), forward=(1, 0, 0)),
    dict(eye_center=(0, 0, 0), forward=(0, 0, 0)),
    dict(eye_center=(0, 0, 0), forward=(0, 0, 1), up=(0, 0, 2)),
    dict(eye_center=(0, 0), forward=(1, 0, 0)),
])
def test_bad_head_poses_are_clear_errors(bad):
    with pytest.raises(LayoutError):
        HeadPose(**bad)


def test_two_heads_at_the_same_spot_is_an_error():
    a = HeadPose((0, 0, 1.6), (1, 0, 0))
    b = HeadPose((0.01, 0, 1.6), (-1, 0, 0))
    with pytest.raises(LayoutError, match="apart"):
        layout_features(a, b)


def test_unknown_layout_and_bad_distance():
    with pytest.raises(LayoutError, match="face_to_face"):
        preset_layout("on_the_moon")
    with pytest.raises(LayoutError):
        preset_layout("face_to_face", distance=float("nan"))
    with pytest.raises(LayoutError):
        preset_layout("face_to_face", distance=-1)
