"""Audio + layout in, both people's per-frame parameters out (reached through api.generate)."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from . import roles as speaker_activity
from .audio import ConversationAudio
from .audio_scan import model_features
from .channels import (FACE_SLICE, GAZE_SLICE, HEAD_AND_GAZE_SLICE, HEAD_SLICE, MODEL_FACE_CHANNELS,
                       OUTPUT_FACE_CHANNELS, channel_index, clip_motion)
from .checkpoint import DEFAULT_WEIGHTS, Checkpoint, load_checkpoint
from .errors import TalkingTogetherError
from .experts import NoiseLevelExperts, experts_file, read_experts
from .frame_rate import FrameRateStream, output_frames
from .gaze import eye_look_weights, fixation_distance, per_eye_angles
from .geometry import conversation_layout, gaze_directions_world, gaze_error_to_target, gaze_toward
from .head_pose import HeadPose
from .result import ConversationResult, PersonTrack
from .result_stream import ResultStream
from .sampling import ddim_timesteps, sample_ddim
from .segments import MotionFinisher, Segment, frame_noise, plan_segments, stitch
from .settings import DEFAULTS, GenerationSettings
from .timebase import MODEL_FPS
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
    sidecar = experts_file(path)
    key = (str(path), path.stat().st_mtime_ns if path.is_file() else None,
           sidecar.stat().st_mtime_ns if sidecar.is_file() else None, str(device))
    if key not in _MODEL_CACHE:
        ckpt = load_checkpoint(path)
        model = ckpt.build_model(device)
        experts = read_experts(path)
        if experts is not None:         # a second denoiser for the high-noise steps (experts.py)
            high_ckpt = load_checkpoint(experts.high_noise)
            space = high_ckpt if experts.sample_in_high_noise else ckpt
            model = NoiseLevelExperts(model, ckpt, high_ckpt.build_model(device), high_ckpt, experts.switch,
                                      space_ckpt=space, face_switch=experts.face_switch).to(device)
            # the main checkpoint (name, config) with the statistics the sampler works in
            ckpt = replace(ckpt, **space.stats())
        _MODEL_CACHE.clear()  # keep one model in memory
        _MODEL_CACHE[key] = (ckpt, model)
    return _MODEL_CACHE[key]


def analyse_turns(audio: ConversationAudio) -> Turns:
    """The runtime's own who-speaks-when as turns (seconds from the audio's start), exactly
    what generate uses without given turns: an artist can look at them and correct them."""
    activity = speaker_activity.hold_through_pauses(speaker_activity.activity(audio))
    return Turns.from_activity(activity[:, :audio.scan.frames])


def conversation_roles(audio: ConversationAudio, swap: bool = False, turns: Turns | None = None) -> np.ndarray:
    """Role ids (2, T) of both people. Given ``turns`` replace the speaker analysis (pauses
    inside a turn still count as speaking)."""
    n = audio.scan.frames
    if turns is None:
        activity = speaker_activity.activity(audio)
    else:
        activity = turns.checked(audio.duration).activity(n)
    activity = speaker_activity.hold_through_pauses(activity)
    if swap:
        activity = activity[::-1]
    return speaker_activity.role_tracks(activity[:, :n])


def conversation_conditions(audio: ConversationAudio, swap: bool = False,
                            turns: Turns | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """Audio features (T, A) of the whole mix and role ids (2, T) of both people, in memory
    (generate works segment by segment instead)."""
    with audio.reading() as read:
        feats = model_features(read, audio.scan, 0, audio.scan.frames, audio.scan.prosody())
    return feats, conversation_roles(audio, swap, turns)


# Each head and gaze axis's share of the Expressiveness' guidance above 1 (1 = off for every
# axis). At one scale the shipped pair turns its head 9-21 % more than people and nods 10-15 %
# less, and looks away 4-16 % less: guidance moves all three together, so no one scale brings
# them all near people's. These shares (guidance 1.5 for yaw, 2.4 for pitch and 3 for gaze at
# the default 2) were measured on five sets of corpus conversations and checked on two fresh
# ones (docs/evaluation/OBJECTIVE.md, "Guidance per axis"); yaw's was lowered from 0.7 after
# 15 sets had its std at +9 % of people's on average, up to +15 % (same file, "Head yaw's
# share"). Head roll keeps the plain scale.
AXIS_GUIDANCE_SHARES = {"headYaw": 0.5, "headPitch": 1.4, "gazeYaw": 2.0, "gazePitch": 2.0}


def channel_guidance(settings: GenerationSettings, dim: int) -> torch.Tensor:
    """(D,) guidance per motion channel: the face's own, head and gaze the expressiveness (each
    axis its share of it above 1, unless ``settings.guidance_per_axis`` is off)."""
    guidance = torch.full((dim,), float(settings.face_guidance))
    guidance[HEAD_AND_GAZE_SLICE] = settings.guidance
    if settings.guidance_per_axis:
        for name, share in AXIS_GUIDANCE_SHARES.items():
            guidance[channel_index(name)] = max(1.0 + share * (settings.guidance - 1.0), 0.0)
    return guidance


def sample_span(model, ckpt: Checkpoint, feats: torch.Tensor, roles: np.ndarray, layout: torch.Tensor,
                first: int, settings: GenerationSettings, device: torch.device,
                on_step: Callable[[float], None] | None = None) -> np.ndarray:
    """Run the sampler over frames [first, first + n) of the conversation: features (n, A),
    roles (S, n) of its S people, layout (S, L); its noise is the frames' own
    (segments.frame_noise), so overlapping stretches agree. Returns the denormalised motion
    (S, n, D), clipped to physical ranges.
    ``on_step(fraction)`` follows the work."""
    n, people, dim = feats.shape[0], roles.shape[0], model.cfg.motion_dim
    multiple = model.cfg.time_multiple
    window = max(multiple, int(round(settings.window_seconds * MODEL_FPS / multiple)) * multiple)
    overlap = min(int(settings.overlap_seconds * MODEL_FPS), window // 2)
    total = max(n, window)                                   # short clips run as one padded window
    audio = (feats - ckpt.audio_mean) / ckpt.audio_std
    audio = torch.cat([audio, torch.zeros(total - n, audio.shape[1])]).to(device)
    role_t = torch.zeros(people, total, dtype=torch.long)
    role_t[:, :n] = torch.as_tensor(roles)

    def noise_of(stream: int) -> torch.Tensor:          # padding frames of a short clip: zeros
        noise = frame_noise(settings.seed, first, first + n, people, dim, stream)
        return torch.cat([noise, torch.zeros(people, total - n, dim)], dim=1).to(device)

    steps_done = [0]

    def on_chunk(fraction: float) -> None:
        if on_step is not None:
            on_step((steps_done[0] + fraction) / settings.steps)

    denoiser = WindowedDenoiser(model, audio, role_t.to(device), layout.to(device), window, overlap,
                                guidance=channel_guidance(settings, dim), on_chunk=on_chunk)

    def after_step(info: dict) -> None:
        steps_done[0] = info["i"] + 1

    x0 = sample_ddim(denoiser, noise_of(0), ddim_timesteps(settings.steps, settings.step_spacing),
                     callback=after_step, eta=settings.eta, noise_sampler=lambda i: noise_of(i + 1))
    return clip_motion(ckpt.motion_normaliser.denormalise(x0[:, :n].cpu(), layout.cpu()).numpy())


def sample_motion(model, ckpt: Checkpoint, feats: torch.Tensor, roles: np.ndarray,
                  poses: tuple[HeadPose, HeadPose], settings: GenerationSettings, device: torch.device) -> np.ndarray:
    """A whole (short) conversation's motion (2, T, D) in memory, finished as generate finishes
    it: the sampler, exact eye contact, blinks."""
    motion = sample_span(model, ckpt, feats, roles, conversation_layout(poses), 0, settings, device)
    motion = lock_gaze_both(motion, poses, settings.gaze_lock_degrees)
    finisher = MotionFinisher(roles, MODEL_FPS, settings.blinks_per_minute, settings.seed)
    return finisher.push(0, motion)[1]


def lock_gaze_both(motion: np.ndarray, poses: tuple[HeadPose, HeadPose], tolerance_deg: float) -> np.ndarray:
    return np.stack([lock_gaze(motion[i], poses[i], poses[1 - i], tolerance_deg) for i in range(2)])


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


class TrackStream:
    """Finished motion pieces at MODEL_FPS -> ConversationResult pieces at the output rate."""

    def __init__(self, roles: np.ndarray, poses: tuple[HeadPose, HeadPose], n: int, output_fps: float | None,
                 start_time: float):
        self.roles, self.poses, self.start_time = roles, poses, start_time
        self.emitted = 0
        self.fps = float(output_fps or MODEL_FPS)
        self.rates = None if self.fps == MODEL_FPS else [FrameRateStream(n, MODEL_FPS, self.fps) for _ in range(2)]

    def push(self, start: int, motion: np.ndarray) -> Iterator[ConversationResult]:
        people = []
        for i in range(2):
            roles = self.roles[i, start:start + motion.shape[1]]
            track = person_track(motion[i], roles, self.poses[i], self.poses[1 - i])
            if self.rates is not None:
                (face, head, eyes), roles = self.rates[i].push(start, [track.face, track.head, track.eyes], roles)
                track = PersonTrack(face=face, head=head, eyes=eyes, roles=roles.astype(np.int64))
            people.append(track)
        if people[0].num_frames:
            yield ConversationResult(fps=self.fps, people=tuple(people),
                                     start_time=self.start_time + self.emitted / self.fps)
            self.emitted += people[0].num_frames


def generate(audio: ConversationAudio, poses: tuple[HeadPose, HeadPose],
             settings: GenerationSettings = DEFAULTS, progress: Progress | None = None,
             swap: bool = False, turns: Turns | None = None) -> ConversationResult:
    """Both people's motion for a conversation, in memory; ``turns`` (who speaks when, e.g.
    corrected by an artist) replace the runtime's own speaker analysis.

    ``progress(fraction, message)`` is called as work advances; raising
    ``errors.GenerationCancelled`` from it stops generation and nothing is returned."""
    whole = ConversationResult.concatenate(generate_pieces(audio, poses, settings, progress, swap, turns))
    return replace(whole, meta=generation_meta(audio, settings, swap))


def generate_to_file(audio: ConversationAudio, poses: tuple[HeadPose, HeadPose], path,
                     settings: GenerationSettings = DEFAULTS, progress: Progress | None = None,
                     swap: bool = False, turns: Turns | None = None, meta: dict | None = None):
    """generate, written to ``path`` (.npz, .json, .csv) piece by piece as it is made: memory
    stays that of a few minutes of dialogue for any length. Returns the path written."""
    settings = settings.checked()
    n_out = output_frames(audio.scan.frames, MODEL_FPS, settings.output_fps)
    fps = float(settings.output_fps or MODEL_FPS)
    with ResultStream(path, fps=fps, start_time=audio.start_time, num_frames=n_out) as stream:
        for piece in generate_pieces(audio, poses, settings, progress, swap, turns):
            stream.append(piece)
        return stream.finish({**generation_meta(audio, settings, swap), **(meta or {})})


def generation_meta(audio: ConversationAudio, settings: GenerationSettings, swap: bool) -> dict:
    device = resolve_device(settings.device)
    ckpt, _ = load_model(settings.checkpoint, device)          # cached: loaded by generate
    return {"seed": settings.seed, "steps": settings.steps, "guidance": settings.guidance,
            "face_guidance": settings.face_guidance, "guidance_per_axis": settings.guidance_per_axis,
            "eta": settings.eta, "step_spacing": settings.step_spacing,
            "device": str(device), "audio_mode": audio.mode, "swap": swap,
            "checkpoint": ckpt.info.get("name", "custom")}


def generate_pieces(audio: ConversationAudio, poses: tuple[HeadPose, HeadPose],
                    settings: GenerationSettings = DEFAULTS, progress: Progress | None = None,
                    swap: bool = False, turns: Turns | None = None) -> Iterator[ConversationResult]:
    """The conversation's motion as consecutive pieces (ConversationResult at the output frame
    rate, no meta), segment by segment (segments.py)."""
    if turns is not None:   # bad turns fail before the model loads
        turns.checked(audio.duration)
    settings = settings.checked()
    device = resolve_device(settings.device)
    layout = conversation_layout(poses)  # bad layouts fail here, before the model loads
    report = progress or (lambda fraction, message: None)
    report(0.0, "loading the model")
    ckpt, model = load_model(settings.checkpoint, device)
    report(0.02, "telling the two voices apart")
    roles = conversation_roles(audio, swap, turns)
    prosody = audio.scan.prosody()
    plan = plan_segments(audio.scan.frames)
    finisher = MotionFinisher(roles, MODEL_FPS, settings.blinks_per_minute, settings.seed)
    tracks = TrackStream(roles, poses, audio.scan.frames, settings.output_fps, audio.start_time)

    def sample(seg: Segment) -> np.ndarray:
        k, (a, b) = plan.index(seg), seg.span

        def on_step(fraction: float) -> None:
            step = min(int(fraction * settings.steps) + 1, settings.steps)
            where = f" (part {k + 1}/{len(plan)})" if len(plan) > 1 else ""
            report(0.05 + 0.95 * (k + fraction) / len(plan), f"denoising step {step}/{settings.steps}{where}")

        with audio.reading() as read:
            feats = model_features(read, audio.scan, a, b, prosody)
        return sample_span(model, ckpt, feats, roles[:, a:b], layout, a, settings, device, on_step)

    for start, motion in stitch(plan, sample):
        finished = finisher.push(start, lock_gaze_both(motion, poses, settings.gaze_lock_degrees))
        if finished is not None:
            check_finite(finished[1], settings)
            yield from tracks.push(*finished)
    report(1.0, "done")


def check_finite(motion: np.ndarray, settings: GenerationSettings) -> None:
    """The last line of defence: never bake or write NaN or inf."""
    if not np.isfinite(motion).all():
        raise TalkingTogetherError(
            f"generation produced {int((~np.isfinite(motion)).sum())} non-finite motion values "
            f"(NaN or inf) with the weights {settings.checkpoint or DEFAULT_WEIGHTS}; nothing was "
            "returned. Check the weights file (re-train or re-install it) and the audio.")
