"""Audio + layout in, both people's per-frame parameters out (reached through api.generate)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import blinks, features
from . import roles as speaker_activity
from .audio import ConversationAudio
from .channels import FACE_SLICE, GAZE_SLICE, HEAD_SLICE, MODEL_FACE_CHANNELS, OUTPUT_FACE_CHANNELS, clip_motion
from .checkpoint import DEFAULT_WEIGHTS, Checkpoint, load_checkpoint
from .errors import TalkingTogetherError
from .gaze import eye_look_weights, fixation_distance, per_eye_angles
from .geometry import conversation_layout, gaze_directions_world, gaze_error_to_target, gaze_toward
from .head_pose import HeadPose
from .result import ConversationResult, PersonTrack
from .sampling import ddim_timesteps, sample_ddim
from .settings import DEFAULTS, GenerationSettings
from .timebase import MODEL_FPS, num_frames
from .turns import Turns
from .windowed import WindowedDenoiser

Progress = Callable[[float, str], None]


def resolve_device(name: str) -> torch.device:
    """auto picks CUDA, then Apple MPS, then CPU; an explicit device that is missing is an error."""
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise TalkingTogetherError("CUDA was asked for, but PyTorch sees no CUDA GPU: choose Auto or CPU")
    if name == "mps" and not mps:
        raise TalkingTogetherError("Apple MPS was asked for, but it is not available: choose Auto or CPU")
    return torch.device(name)


_MODEL_CACHE: dict[tuple, tuple[Checkpoint, torch.nn.Module]] = {}


def load_model(checkpoint: str | None, device: torch.device):
    """Checkpoint and model on the device, cached so repeated generations skip the load (a
    rewritten weights file, e.g. after more training, is loaded again)."""
    path = Path(checkpoint or DEFAULT_WEIGHTS)
    key = (str(path), path.stat().st_mtime_ns if path.is_file() else None, str(device))
    if key not in _MODEL_CACHE:
        ckpt = load_checkpoint(path)
        _MODEL_CACHE.clear()  # keep one model in memory
        _MODEL_CACHE[key] = (ckpt, ckpt.build_model(device))
    return _MODEL_CACHE[key]


def analyse_turns(audio: ConversationAudio) -> Turns:
    """The runtime's own who-speaks-when as turns (seconds from the audio's start), exactly
    what generate uses without given turns: an artist can look at them and correct them."""
    activity = speaker_activity.hold_through_pauses(speaker_activity.activity(audio))
    return Turns.from_activity(activity[:, :num_frames(len(audio.mix))])


def conversation_conditions(audio: ConversationAudio, swap: bool = False,
                            progress: Progress | None = None,
                            turns: Turns | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """Audio features (T, A) of the mix and role ids (2, T) of both people. Given ``turns``
    replace the speaker analysis (pauses inside a turn still count as speaking)."""
    feats = features.audio_features(audio.mix)
    if progress:  # also a chance to cancel before the (slower) speaker analysis
        progress(0.03, "telling the two voices apart")
    if turns is None:
        activity = speaker_activity.activity(audio)
    else:
        activity = turns.checked(audio.duration).activity(feats.shape[0])
    activity = speaker_activity.hold_through_pauses(activity)
    if swap:
        activity = activity[::-1]
    return feats, speaker_activity.role_tracks(activity[:, :feats.shape[0]])


def sample_motion(model, ckpt: Checkpoint, feats: torch.Tensor, roles: np.ndarray,
                  poses: tuple[HeadPose, HeadPose], settings: GenerationSettings, device: torch.device,
                  progress: Progress | None = None, layout: torch.Tensor | None = None) -> np.ndarray:
    """Run the sampler over the whole conversation, make eye contact exact and blinks as
    frequent as people's; returns denormalised motion (2, T, D). ``layout`` is
    conversation_layout(poses), when the caller has it already."""
    layout = conversation_layout(poses) if layout is None else layout
    n = feats.shape[0]
    multiple = model.cfg.time_multiple
    window = max(multiple, int(round(settings.window_seconds * MODEL_FPS / multiple)) * multiple)
    overlap = min(int(settings.overlap_seconds * MODEL_FPS), window // 2)
    total = max(n, window)                                   # short clips run as one padded window
    audio = (feats - ckpt.audio_mean) / ckpt.audio_std
    audio = torch.cat([audio, torch.zeros(total - n, audio.shape[1])]).to(device)
    role_t = torch.zeros(2, total, dtype=torch.long)
    role_t[:, :n] = torch.as_tensor(roles)
    steps_done = [0]

    def on_chunk(fraction: float) -> None:
        if progress is not None:
            done = (steps_done[0] + fraction) / settings.steps
            progress(done, f"denoising step {steps_done[0] + 1}/{settings.steps}")

    denoiser = WindowedDenoiser(model, audio, role_t.to(device), layout.to(device), window, overlap,
                                guidance=settings.guidance, on_chunk=on_chunk)
    gen = torch.Generator().manual_seed(int(settings.seed))
    noise = torch.randn(2, total, model.cfg.motion_dim, generator=gen).to(device)

    def on_step(info: dict) -> None:
        steps_done[0] = info["i"] + 1

    x0 = sample_ddim(denoiser, noise, ddim_timesteps(settings.steps), callback=on_step)
    motion = clip_motion((x0[:, :n].cpu() * ckpt.motion_std + ckpt.motion_mean).numpy())
    motion = np.stack([lock_gaze(motion[i], poses[i], poses[1 - i], settings.gaze_lock_degrees) for i in range(2)])
    # per block, so that corrected turns (same seed) move only the blinks near the correction
    return np.stack([blinks.complement_blinks_in_blocks(motion[i], roles[i], MODEL_FPS, settings.blinks_per_minute,
                                                        seed=(int(settings.seed), i)) for i in range(2)])


def lock_gaze(motion: np.ndarray, me: HeadPose, partner: HeadPose, tolerance_deg: float) -> np.ndarray:
    """Where the model looks within a tolerance of the partner's eyes, look exactly at them, so
    eye contact is geometrically exact in any layout. motion: (T, D) of one person."""
    if tolerance_deg <= 0:
        return motion
    head = torch.as_tensor(motion[:, HEAD_SLICE])
    dirs = gaze_directions_world(me, head, torch.as_tensor(motion[:, GAZE_SLICE]))
    near = gaze_error_to_target(me, dirs, partner.position()) < math.radians(tolerance_deg)
    exact = gaze_toward(me, head, partner.position()).numpy()
    out = motion.copy()
    out[near.numpy(), GAZE_SLICE] = exact[near.numpy()]
    return out


def person_track(motion: np.ndarray, roles: np.ndarray, me: HeadPose, partner: HeadPose) -> PersonTrack:
    """Model motion (T, D) of one person -> the output parameters (52 ARKit shapes, head, eyes)."""
    eyes = per_eye_angles(motion[:, GAZE_SLICE], fixation_distance(me, partner))
    face = np.zeros((motion.shape[0], len(OUTPUT_FACE_CHANNELS)), dtype=np.float32)
    for i, name in enumerate(MODEL_FACE_CHANNELS):
        face[:, OUTPUT_FACE_CHANNELS.index(name)] = motion[:, FACE_SLICE][:, i]
    for name, curve in eye_look_weights(eyes).items():
        face[:, OUTPUT_FACE_CHANNELS.index(name)] = curve
    return PersonTrack(face=face, head=motion[:, HEAD_SLICE].astype(np.float32),
                       eyes=eyes.astype(np.float32), roles=roles.astype(np.int64))


def generate(audio: ConversationAudio, poses: tuple[HeadPose, HeadPose],
             settings: GenerationSettings = DEFAULTS, progress: Progress | None = None,
             swap: bool = False, turns: Turns | None = None) -> ConversationResult:
    """Generate both people's motion for a conversation; ``turns`` (who speaks when, e.g.
    corrected by an artist) replace the runtime's own speaker analysis.

    ``progress(fraction, message)`` is called as work advances; raising
    ``errors.GenerationCancelled`` from it stops generation and nothing is returned."""
    if turns is not None:   # bad turns fail before the model loads
        turns.checked(audio.duration)
    settings = settings.checked()
    device = resolve_device(settings.device)
    layout = conversation_layout(poses)  # bad layouts fail here, before the model loads
    if progress:
        progress(0.0, "loading the model")
    ckpt, model = load_model(settings.checkpoint, device)
    if progress:
        progress(0.02, "analysing the audio")
    feats, roles = conversation_conditions(audio, swap, progress, turns)
    motion = sample_motion(model, ckpt, feats, roles, poses, settings, device, progress, layout)
    if not np.isfinite(motion).all():   # last line of defence: never bake or write NaN/inf
        raise TalkingTogetherError(
            f"generation produced {int((~np.isfinite(motion)).sum())} non-finite motion values "
            f"(NaN or inf) with the weights {settings.checkpoint or DEFAULT_WEIGHTS}; nothing was "
            "returned. Check the weights file (re-train or re-install it) and the audio.")
    people = tuple(person_track(motion[i], roles[i], poses[i], poses[1 - i]) for i in range(2))
    result = ConversationResult(
        fps=float(MODEL_FPS), people=people, start_time=audio.start_time,
        meta={"seed": settings.seed, "steps": settings.steps, "guidance": settings.guidance,
              "device": str(device), "audio_mode": audio.mode, "swap": swap,
              "checkpoint": ckpt.info.get("name", "custom")})
    if settings.output_fps:
        result = result.resample(settings.output_fps)
    if progress:
        progress(1.0, "done")
    return result
