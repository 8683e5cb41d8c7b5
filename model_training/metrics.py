"""Evaluation metrics on generated vs target motion of one conversation.

All functions take denormalised motion (2, T, D) at the model frame rate, ground-truth voice
activity (2, T) and the two rest head poses.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from model_runtime.blinks import BLINK_CHANNELS, blink_onsets
from model_runtime.channels import GAZE_SLICE, HEAD_PITCH, HEAD_ROLL, HEAD_SLICE, HEAD_YAW, channel_index
from model_runtime.geometry import (LOOK_AT_TOLERANCE_DEG, HeadPose, angle_between, gaze_directions_world,
                                     gaze_error_to_target, mutual_gaze)
from model_runtime.masks import dilate, runs
from model_runtime.timebase import MODEL_FPS

MOUTH_CHANNELS = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthPressLeft", "mouthPressRight",
                  "mouthRollLower", "mouthRollUpper", "mouthLowerDownLeft", "mouthLowerDownRight",
                  "mouthUpperUpLeft", "mouthUpperUpRight", "mouthStretchLeft", "mouthStretchRight",
                  "mouthSmileLeft", "mouthSmileRight")
MOUTH_IDX = [channel_index(n) for n in MOUTH_CHANNELS]
JAW = channel_index("jawOpen")
MOVING_WINDOW = 9          # frames (0.36 s) over which a mouth counts as moving
MOVING_STD = 0.03          # jawOpen standard deviation above which a mouth is moving
MIN_TURN_FRAMES = 12       # turns shorter than 0.48 s are not scored per turn
GUARD_FRAMES = 8           # frames within 0.32 s of the listener's own speech are not scored


def mouth_error(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute error of the mouth shapes (0..1 weights) over both people and all frames."""
    return float(np.abs(pred[..., MOUTH_IDX] - target[..., MOUTH_IDX]).mean())


def mouth_moving(motion: np.ndarray) -> np.ndarray:
    """(2, T) bool: the jaw's local standard deviation over ~0.36 s exceeds MOVING_STD."""
    jaw = torch.as_tensor(motion[..., JAW], dtype=torch.float32)
    pad = MOVING_WINDOW // 2
    windows = torch.nn.functional.pad(jaw[:, None], (pad, pad), mode="replicate")[:, 0].unfold(-1, MOVING_WINDOW, 1)
    return (windows.std(-1) > MOVING_STD).numpy()


def single_speaker_turns(activity: np.ndarray) -> list[tuple[int, int, int]]:
    """(speaker, start, end) runs where exactly one person speaks, away from the listener's own
    speech by GUARD_FRAMES (a mouth still closing after a backchannel is not a role error)."""
    only = [activity[i] & ~dilate(activity[1 - i], GUARD_FRAMES) for i in range(2)]
    turns = []
    for speaker in range(2):
        turns += [(speaker, s, e) for s, e in zip(*runs(only[speaker])) if e - s >= MIN_TURN_FRAMES]
    return sorted(turns, key=lambda x: x[1])


def turn_passes(jaw: np.ndarray, speaker: int, start: int, end: int) -> bool:
    """A single-speaker turn's roles are right: over frames [start, end) the speaker's jaw (2, T)
    moves (std > MOVING_STD) and at least twice as much as the listener's."""
    talk, listen = jaw[speaker, start:end].std(), jaw[1 - speaker, start:end].std()
    return bool(talk > MOVING_STD and talk > 2 * listen)


def role_accuracy(motion: np.ndarray, activity: np.ndarray) -> dict[str, float]:
    """Does the speaking person's mouth move and the listener's stay still?

    per_frame: over frames where exactly one person speaks, the share where the speaker's mouth
    moves and the listener's does not (MOVING_STD over ~0.36 s). per_turn: over single-speaker
    turns, the share where the speaker's jaw moves (std > MOVING_STD over the turn) at least
    twice as much as the listener's."""
    moving = mouth_moving(motion)
    jaw = motion[..., JAW]
    frames_ok, frames = 0, 0
    turns_ok, turns = 0, 0
    for speaker, s, e in single_speaker_turns(activity):
        talk, listen = moving[speaker, s:e], moving[1 - speaker, s:e]
        frames_ok += int((talk & ~listen).sum())
        frames += e - s
        turns_ok += int(turn_passes(jaw, speaker, s, e))
        turns += 1
    return {"role_acc_frame": frames_ok / max(frames, 1), "role_acc_turn": turns_ok / max(turns, 1),
            "turns": turns}


def world_gaze(motion: np.ndarray, poses: tuple[HeadPose, HeadPose]) -> list[torch.Tensor]:
    return [gaze_directions_world(poses[i], torch.as_tensor(motion[i][:, HEAD_SLICE]),
                                  torch.as_tensor(motion[i][:, GAZE_SLICE])) for i in range(2)]


def gaze_metrics(pred: np.ndarray, target: np.ndarray, poses: tuple[HeadPose, HeadPose]) -> dict[str, float]:
    """Angular error of world gaze rays (degrees), the share of time looking away from the
    partner (its distance to the target's share shows staring or restless eyes, which the
    angular error alone does not) and mutual-gaze precision / recall counts."""
    gp, gt = world_gaze(pred, poses), world_gaze(target, poses)
    err = torch.cat([angle_between(gp[i], gt[i]) for i in range(2)])
    off_partner = torch.cat([gaze_error_to_target(poses[i], gp[i], poses[1 - i].position()) for i in range(2)])
    mp = mutual_gaze(poses[0], gp[0], poses[1], gp[1]).numpy()
    mt = mutual_gaze(poses[0], gt[0], poses[1], gt[1]).numpy()
    return {"gaze_err_deg": float(err.mean()) * 180 / math.pi,
            "look_away_share": float((off_partner > math.radians(LOOK_AT_TOLERANCE_DEG)).float().mean()),
            "mutual_tp": int((mp & mt).sum()), "mutual_pred": int(mp.sum()), "mutual_true": int(mt.sum())}


def head_stats(motion: np.ndarray) -> dict[str, float]:
    """Head motion amount: std of each angle (degrees) and mean angular speed (degrees/s)."""
    head = np.degrees(motion[..., HEAD_SLICE])
    speed = np.abs(np.diff(head, axis=1)).sum(-1).mean() * MODEL_FPS
    return {"head_std_pitch": float(head[..., HEAD_PITCH].std(1).mean()),
            "head_std_yaw": float(head[..., HEAD_YAW].std(1).mean()),
            "head_std_roll": float(head[..., HEAD_ROLL].std(1).mean()), "head_speed": float(speed),
            "head_mean_yaw_abs": float(np.abs(head[..., HEAD_YAW].mean(1)).mean())}


def blinks_per_minute(motion: np.ndarray) -> float:
    """Blinks (left eye closing) per person per minute at the model's frame rate."""
    blinks = sum(len(blink_onsets(person[:, BLINK_CHANNELS[0]], MODEL_FPS)) for person in motion)
    return float(blinks / (motion.shape[0] * motion.shape[1] / (MODEL_FPS * 60)))


def jaw_envelope_correlation(motion: np.ndarray, envelopes: np.ndarray) -> float:
    """Pearson r between each person's jawOpen and their own speech envelope, averaged."""
    rs = []
    for i in range(2):
        jaw, env = motion[i, :, JAW], envelopes[i][: motion.shape[1]]
        if jaw.std() > 1e-6 and env.std() > 1e-6:
            rs.append(float(np.corrcoef(jaw, env)[0, 1]))
    return float(np.mean(rs)) if rs else 0.0


def diversity(samples: list[np.ndarray]) -> float:
    """Mean pairwise RMS difference between samples of different seeds (head + mouth)."""
    idx = MOUTH_IDX + list(range(HEAD_SLICE.start, HEAD_SLICE.stop))
    diffs = [np.sqrt(((a[..., idx] - b[..., idx]) ** 2).mean())
             for k, a in enumerate(samples) for b in samples[k + 1:]]
    return float(np.mean(diffs)) if diffs else 0.0
