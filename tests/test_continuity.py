"""Windowed generation with the shipped weights: no seams where windows meet."""
from pathlib import Path

import numpy as np
import pytest
import torch

from model_runtime.audio import ConversationAudio
from model_runtime.audio_files import AudioClip
from model_runtime.channels import HEAD_SLICE
from model_runtime.layouts import preset_layout
from model_runtime.pipeline import conversation_conditions, load_model, sample_motion
from model_runtime.settings import GenerationSettings
from model_runtime.windowed import window_starts

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dialogue.flac"
WINDOW_S, WINDOW = 5.12, 128


@pytest.fixture(scope="module")
def conditions():
    audio = ConversationAudio.mixed([AudioClip(str(EXAMPLE))])
    feats, roles = conversation_conditions(audio)
    poses = preset_layout("side_by_side")
    return feats, roles, poses


def head_motion(conditions, overlap_s: float) -> tuple[np.ndarray, list[int]]:
    feats, roles, poses = conditions
    settings = GenerationSettings(steps=4, guidance=1.5, window_seconds=WINDOW_S, overlap_seconds=overlap_s)
    ckpt, model = load_model(None, torch.device("cpu"))
    motion = sample_motion(model, ckpt, feats, roles, poses, settings, torch.device("cpu"))
    overlap = int(overlap_s * 25)
    edges = sorted({e for s in window_starts(len(feats), WINDOW, overlap) for e in (s, s + WINDOW)} - {0, len(feats)})
    return np.degrees(motion[..., HEAD_SLICE]), edges


def edge_jump_ratio(head: np.ndarray, edges: list[int]) -> float:
    """Largest head-angle jump across a window edge, relative to typical frame-to-frame motion."""
    jumps = np.abs(np.diff(head, axis=1)).max(axis=(0, 2))       # (T-1,) worst person and angle
    at_edges = max(jumps[e - 1] for e in edges)
    return float(at_edges / np.percentile(jumps, 90))


def test_overlapping_windows_meet_without_seams(conditions):
    head, edges = head_motion(conditions, overlap_s=1.28)
    assert len(edges) >= 3  # 16 s of audio in 5 s windows: several joins
    assert edge_jump_ratio(head, edges) < 1.5


def test_windows_without_overlap_would_show_seams(conditions):
    """The check above can fail: hard cuts between windows jump far more than motion does."""
    head, edges = head_motion(conditions, overlap_s=0.0)
    assert edge_jump_ratio(head, edges) > 1.5
