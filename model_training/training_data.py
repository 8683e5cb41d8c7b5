"""Conversations of the corpus (or a studio's capture in the same format) as training tensors.

Features are computed once per conversation and cached beside it (``*.features.npy``), so
training epochs never touch audio again.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model_runtime import features
from model_runtime.channels import MOTION_DIM
from model_runtime.geometry import conversation_layout
from model_runtime.normalisation import MotionNormaliser, fit_normaliser
from model_runtime.roles import role_tracks

from .corpus.dataset import audio_float, list_conversations, load_conversation


@dataclass
class Conversation:
    audio: np.ndarray     # (T, A) features of the mix
    motion: np.ndarray    # (2, T, D)
    roles: np.ndarray     # (2, T)
    layout: np.ndarray    # (2, L)


def cached_features(path: Path, mix: np.ndarray) -> np.ndarray:
    cache = path.with_suffix(".features.npy")
    if cache.is_file() and cache.stat().st_mtime >= path.stat().st_mtime:
        feats = np.load(cache)
        if feats.shape[1] == features.FEATURE_DIM:
            return feats
    feats = features.audio_features(mix).numpy().astype(np.float32)
    np.save(cache, feats)
    return feats


def own_speech_envelopes(conv: dict, n: int) -> np.ndarray:
    """(2, n) each person's own speech envelope: from their own track, or, for a capture with
    only the mix, the mix's envelope where that person is active."""
    if conv.get("tracks") is not None:
        return np.stack([features.speech_envelope(audio_float(conv["tracks"][i]))[:n] for i in range(2)])
    env = features.speech_envelope(audio_float(conv["mix"]))[:n]
    return np.stack([env * conv["activity"][i, :n] for i in range(2)])


def load_training_conversation(path: Path) -> Conversation:
    conv = load_conversation(path)
    mix = audio_float(conv["mix"])
    feats = cached_features(Path(path), mix)
    motion = conv["motion"].astype(np.float32)
    n = min(feats.shape[0], motion.shape[1])
    activity = conv["activity"][:, :n]
    roles = role_tracks(activity)
    poses = conv["poses"]
    layout = conversation_layout(poses).numpy()
    return Conversation(feats[:n], motion[:, :n], roles, layout)


def load_split(corpus_dir: str | Path, split: str | None = None, limit: int | None = None) -> list[Conversation]:
    paths = list_conversations(corpus_dir, split)[:limit]
    if not paths:
        raise FileNotFoundError(f"no conversations{f' of split {split!r}' if split else ''} in {corpus_dir}")
    return [load_training_conversation(Path(p)) for p in paths]


def normalisation_stats(convs: list[Conversation], centre_on_layout: bool = False) -> dict[str, torch.Tensor]:
    """The statistics a checkpoint stores (Checkpoint.stats); see normalisation.py."""
    motion = np.concatenate([c.motion.reshape(-1, MOTION_DIM) for c in convs])
    layout = np.concatenate([np.repeat(c.layout, c.motion.shape[1], axis=0) for c in convs])
    normaliser = fit_normaliser(motion, layout, centre_on_layout)
    audio = np.concatenate([c.audio for c in convs])
    a_std = np.maximum(audio.std(0), 1e-3)
    return {"motion_mean": normaliser.mean, "motion_std": normaliser.std,
            "motion_layout_weights": normaliser.layout_weights,
            "audio_mean": torch.tensor(audio.mean(0)), "audio_std": torch.tensor(a_std, dtype=torch.float32)}


def motion_normaliser(stats: dict[str, torch.Tensor]) -> MotionNormaliser:
    return MotionNormaliser(stats["motion_mean"], stats["motion_std"], stats["motion_layout_weights"])


class WindowSampler:
    """Random fixed-length windows from the conversations, as normalised batches."""

    def __init__(self, convs: list[Conversation], stats: dict, window: int, seed: int = 0):
        self.convs = [c for c in convs if c.audio.shape[0] >= window] or convs
        self.stats = {k: v.numpy() for k, v in stats.items()}
        self.normaliser = motion_normaliser(stats)
        self.window = window
        self.rng = np.random.default_rng(seed)
        lengths = np.array([c.audio.shape[0] for c in self.convs], dtype=float)
        self.p = lengths / lengths.sum()

    def _crop(self, conv: Conversation) -> tuple:
        n, w = conv.audio.shape[0], self.window
        if n < w:  # pad short conversations with silence and rest
            pad = w - n
            return (np.pad(conv.audio, ((0, pad), (0, 0))), np.pad(conv.motion, ((0, 0), (0, pad), (0, 0)), mode="edge"),
                    np.pad(conv.roles, ((0, 0), (0, pad))))
        s = int(self.rng.integers(0, n - w + 1))
        return conv.audio[s:s + w], conv.motion[:, s:s + w], conv.roles[:, s:s + w]

    def batch(self, size: int, device="cpu") -> dict[str, torch.Tensor]:
        idx = self.rng.choice(len(self.convs), size=size, p=self.p)
        audio, motion, roles, layout = [], [], [], []
        for i in idx:
            a, m, r = self._crop(self.convs[i])
            audio.append(a)
            motion.append(m)
            roles.append(r)
            layout.append(self.convs[i].layout)
        s = self.stats
        layout = torch.tensor(np.stack(layout), dtype=torch.float32)
        motion = self.normaliser.normalise(torch.tensor(np.stack(motion), dtype=torch.float32), layout)
        return {
            "audio": torch.tensor((np.stack(audio) - s["audio_mean"]) / s["audio_std"], dtype=torch.float32, device=device),
            "motion": motion.to(device),
            "roles": torch.tensor(np.stack(roles), dtype=torch.long, device=device),
            "layout": layout.to(device),
        }
