"""Conversations of the corpus (or a studio's capture in the same format) as training tensors.

Features are computed once per conversation and cached beside it (``*.features.npy``), so
training epochs never touch audio again; so are the frames where a person answers the
partner's motion (``*.answers.npy``), when training asks for them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model_runtime import features
from model_runtime.atomic_write import write_file
from model_runtime.channels import HEAD_AND_GAZE_SLICE, MOTION_DIM
from model_runtime.geometry import conversation_layout
from model_runtime.normalisation import MotionNormaliser, fit_normaliser
from model_runtime.roles import role_tracks

from .corpus.dataset import audio_float, list_conversations, load_conversation, stored_timing


ANSWER_MIN_RAD = np.radians(0.5)   # head or gaze moved this much by an answer marks the frame


@dataclass
class Conversation:
    audio: np.ndarray     # (T, A) features of the mix
    motion: np.ndarray    # (2, T, D)
    roles: np.ndarray     # (2, T)
    layout: np.ndarray    # (2, L)
    answers: np.ndarray | None = None   # (2, T) 1 where a person answers the partner's motion


def cached(path: Path, suffix: str, compute, valid=lambda a: True) -> np.ndarray:
    """``compute()`` saved beside the conversation file, read back while the file is older.
    Written whole or not at all (atomic_write), since two trainings on one corpus fill the
    cache side by side; a cache that cannot be read is computed again."""
    cache = path.with_suffix(suffix)
    if cache.is_file() and cache.stat().st_mtime >= path.stat().st_mtime:
        try:
            value = np.load(cache)
        except (ValueError, OSError, EOFError):
            value = None
        if value is not None and valid(value):
            return value
    value = compute()
    write_file(cache, lambda f: np.save(f, value))
    return value


def cached_features(path: Path, mix: np.ndarray) -> np.ndarray:
    return cached(path, ".features.npy", lambda: features.audio_features(mix).numpy().astype(np.float32),
                  valid=lambda f: f.shape[1] == features.FEATURE_DIM)


def answer_frames(conv: dict) -> np.ndarray:
    """(2, T) float32, 1 on the frames where a person's head or gaze answers the partner's glance
    (corpus/reactions.py): the stored targets against the same draw without the answers. All
    zeros for a file whose targets cannot be drawn again (a studio capture, or targets of
    another version of the corpus code), whose answers no one knows."""
    from .corpus.targets import make_targets
    from .corpus.writer import target_stream
    motion = conv["motion"]
    timing = stored_timing(conv)
    none = np.zeros(motion.shape[:2], np.float32)
    if timing is None or conv["meta"].get("source") != "synthetic":
        return none
    draw = [make_targets(timing, conv["poses"], motion.shape[1], target_stream(conv["meta"]), fps=conv["fps"],
                         answers=answers, mirroring=conv["meta"].get("mirroring", False))
            for answers in (True, False)]
    # Head and gaze only: the mouth draws loudness the file does not store. The phone timing
    # is stored rounded, so a redraw may differ by a frame at a boundary.
    if np.mean(head_and_gaze_change(draw[0], motion) > 1e-3) > 0.01:
        return none
    return (head_and_gaze_change(draw[0], draw[1]) > ANSWER_MIN_RAD).astype(np.float32)


def head_and_gaze_change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., T) the largest change of any head or gaze angle (radians) from motion a to b."""
    return np.abs(a - b)[..., HEAD_AND_GAZE_SLICE].max(-1)


def own_speech_envelopes(conv: dict, n: int) -> np.ndarray:
    """(2, n) each person's own speech envelope: from their own track, or, for a capture with
    only the mix, the mix's envelope where that person is active."""
    if conv.get("tracks") is not None:
        return np.stack([features.speech_envelope(audio_float(conv["tracks"][i]))[:n] for i in range(2)])
    env = features.speech_envelope(audio_float(conv["mix"]))[:n]
    return np.stack([env * conv["activity"][i, :n] for i in range(2)])


def load_training_conversation(path: Path, answers: bool = False) -> Conversation:
    """One conversation as training arrays; ``answers``: with its answer frames (answer_frames)."""
    conv = load_conversation(path)
    mix = audio_float(conv["mix"])
    feats = cached_features(Path(path), mix)
    motion = conv["motion"].astype(np.float32)
    n = min(feats.shape[0], motion.shape[1])
    activity = conv["activity"][:, :n]
    roles = role_tracks(activity)
    poses = conv["poses"]
    layout = conversation_layout(poses).numpy()
    answered = cached(Path(path), ".answers.npy", lambda: answer_frames(conv),
                      valid=lambda a: a.shape == motion.shape[:2])[:, :n] if answers else None
    return Conversation(feats[:n], motion[:, :n], roles, layout, answered)


def load_split(corpus_dir: str | Path, split: str | None = None, limit: int | None = None,
               answers: bool = False) -> list[Conversation]:
    paths = list_conversations(corpus_dir, split)[:limit]
    if not paths:
        raise FileNotFoundError(f"no conversations{f' of split {split!r}' if split else ''} in {corpus_dir}")
    return [load_training_conversation(Path(p), answers) for p in paths]


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
        """(audio, motion, roles, answers) of one window; answers None where the conversation has none."""
        n, w = conv.audio.shape[0], self.window
        if n < w:  # pad short conversations with silence and rest
            pad = w - n
            answers = None if conv.answers is None else np.pad(conv.answers, ((0, 0), (0, pad)))
            return (np.pad(conv.audio, ((0, pad), (0, 0))), np.pad(conv.motion, ((0, 0), (0, pad), (0, 0)), mode="edge"),
                    np.pad(conv.roles, ((0, 0), (0, pad))), answers)
        s = int(self.rng.integers(0, n - w + 1))
        answers = None if conv.answers is None else conv.answers[:, s:s + w]
        return conv.audio[s:s + w], conv.motion[:, s:s + w], conv.roles[:, s:s + w], answers

    def batch(self, size: int, device="cpu") -> dict[str, torch.Tensor]:
        """audio (B, T, A), motion (B, S, T, D) normalised, roles (B, S, T), layout (B, S, L), and
        answers (B, S, T) when every conversation has its answer frames."""
        idx = self.rng.choice(len(self.convs), size=size, p=self.p)
        audio, motion, roles, layout, answers = [], [], [], [], []
        for i in idx:
            a, m, r, ans = self._crop(self.convs[i])
            audio.append(a)
            motion.append(m)
            roles.append(r)
            answers.append(ans)
            layout.append(self.convs[i].layout)
        s = self.stats
        layout = torch.tensor(np.stack(layout), dtype=torch.float32)
        motion = self.normaliser.normalise(torch.tensor(np.stack(motion), dtype=torch.float32), layout)
        out = {
            "audio": torch.tensor((np.stack(audio) - s["audio_mean"]) / s["audio_std"], dtype=torch.float32, device=device),
            "motion": motion.to(device),
            "roles": torch.tensor(np.stack(roles), dtype=torch.long, device=device),
            "layout": layout.to(device),
        }
        if all(a is not None for a in answers):
            out["answers"] = torch.tensor(np.stack(answers), dtype=torch.float32, device=device)
        return out
