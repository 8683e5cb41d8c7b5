"""Build conversations and write them in the corpus format (see docs/DATA_FORMAT.md).

One ``conv_NNNNN.npz`` per conversation plus ``index.json`` per output folder. Every
conversation is a pure function of (seed, split, index), whatever the number of workers.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np

from model_runtime.channels import MOTION_CHANNELS, MOTION_DIM
from model_runtime.head_pose import HeadPose
from model_runtime.layouts import preset_layout
from model_runtime.timebase import HOP, MODEL_FPS, SAMPLE_RATE, num_frames

from . import casting, mixing
from .script import make_script, sentence, spoken_form
from .timing import DialogueTiming
from .tts import VoiceSpec, sample_voice, synthesize, synthesize_many, voice_pool

FORMAT_NAME = "talking-together-corpus"
FORMAT_VERSION = 1
SPLITS = ("train", "heldout", "festival")
LAYOUTS = ("face_to_face", "side_by_side", "corner", "across_table")


# --- one conversation ---------------------------------------------------------------------

def conversation_streams(seed: int, split: str, index: int) -> tuple[np.random.Generator, ...]:
    """The six random streams of one conversation: script, voices, augmentation, layout,
    motion targets, level. Each is drawn from on its own, so one draw more in one of them
    changes nothing in the others."""
    ss = np.random.SeedSequence([int(seed), SPLITS.index(split), int(index)])
    return tuple(np.random.default_rng(s) for s in ss.spawn(6))


def target_stream(meta: dict) -> np.random.Generator:
    """The random stream a synthetic conversation's motion targets were drawn from, as it was
    before the first draw: to draw them again (without the listener's answers, say)."""
    return conversation_streams(meta["seed"], meta["split"], meta["index"])[4]


def build_conversation(seed: int, split: str, index: int, mix_augment: bool = True,
                       offscreen: float = 0.0, neural: float = 0.0, mirroring: bool = False) -> dict:
    """Everything one npz holds, as arrays, plus ``timing`` (the DialogueTiming). With
    probability ``offscreen`` the mix also holds an off-screen voice (``casting.offscreen_voice``);
    with probability ``neural`` each person speaks with the neural voice (``casting.neural_voices``);
    ``mirroring``: listeners mirror the speaker's head tilt (``reactions.mirror_tilts``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    r_script, r_voice, r_aug, r_layout, r_target, r_level = conversation_streams(seed, split, index)
    text_split = "train" if split == "train" else "heldout"
    script = make_script(r_script, text_split)
    va = sample_voice(r_voice, split)
    voices = (va, sample_voice(r_voice, split, avoid=va))
    if neural > 0:
        voices = casting.neural_voices(voices, neural, casting.own_stream(
            seed, SPLITS.index(split), index, casting.NEURAL_STREAM))
    timing, tracks, person_augs = _speak_and_place(script, voices, r_aug)
    tracks = np.stack([mixing.finish_track(tracks[i], person_augs[i]) for i in range(2)])
    mix_aug = mixing.sample_mix_aug(r_aug) if mix_augment else mixing.MixAug()
    mix, offscreen_spans = mixing.mix_tracks(tracks), []
    r_off = casting.own_stream(seed, SPLITS.index(split), index, casting.OFFSCREEN_STREAM)
    if r_off.random() < offscreen:
        voice, offscreen_spans = casting.offscreen_voice(len(mix), tracks, split, voices, r_off)
        mix = mix + voice
    mix = mixing.augment_mix(mix, mix_aug, r_aug, _babble_bank(split))
    scale = float(r_level.uniform(0.3, 0.95)) / max(
        np.abs(mix).max(), np.abs(tracks).max(), np.abs(tracks.sum(0)).max(), 1e-6)
    poses, layout = sample_layout(r_layout)
    frames = num_frames(len(mix))
    motion = _targets(timing, poses, frames, r_target, mirroring)
    meta = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "seed": int(seed), "index": int(index),
            "split": split, "sample_rate": SAMPLE_RATE, "fps": MODEL_FPS, "source": "synthetic",
            "voices": [v.to_json() for v in voices], "texts": script.texts(), "layout": layout,
            "augmentation": {"person": [a.to_json() for a in person_augs], "mix": mix_aug.to_json(),
                             "scale": scale},
            "segments": segments_json(timing)}
    if offscreen_spans:
        meta["offscreen"] = offscreen_spans
    if mirroring:
        meta["mirroring"] = True
    return {"mix": to_int16(mix * scale), "tracks": to_int16(tracks * scale), "motion": motion,
            "activity": activity_from_timing(timing, frames), "poses": poses_array(poses),
            "meta": meta, "timing": timing}


def _speak_and_place(script, voices: tuple[VoiceSpec, VoiceSpec], rng: np.random.Generator):
    """Synthesize every turn and backchannel, augment per person, place on the timeline."""
    augs = [mixing.sample_person_aug(rng) for _ in range(2)]
    items = [(t.speaker, t.text) for t in script.turns]
    items += [(1 - t.speaker, b.text) for t in script.turns for b in t.backchannels]
    clips = [None] * len(items)
    for person in range(2):
        mine = [i for i, (s, _) in enumerate(items) if s == person]
        spoken = synthesize_many([spoken_form(items[i][1], voices[person].engine) for i in mine],
                                 voices[person])
        for i, clip in zip(mine, mixing.augment_clips(spoken, augs[person])):
            clips[i] = clip
    n = len(script.turns)
    bc_clips, k = [], n
    for t in script.turns:
        bc_clips.append(clips[k:k + len(t.backchannels)])
        k += len(t.backchannels)
    timing, tracks = mixing.place(script, clips[:n], bc_clips)
    timing, tracks = mixing.pad_to(timing, tracks, timing.duration + script.tail)
    return timing, tracks, augs


def _targets(timing: DialogueTiming, poses, frames: int, rng: np.random.Generator,
             mirroring: bool) -> np.ndarray:
    try:
        from .targets import make_targets
    except ImportError as e:
        raise RuntimeError("model_training/corpus/targets.py (make_targets) is missing: the corpus "
                           "cannot be built without motion targets") from e
    motion = np.asarray(make_targets(timing, poses, frames, rng, mirroring=mirroring), dtype=np.float32)
    if motion.shape != (2, frames, MOTION_DIM):
        raise ValueError(f"make_targets returned {motion.shape}, expected {(2, frames, MOTION_DIM)}")
    return motion


_BABBLE: dict[str, list[np.ndarray]] = {}


def _babble_bank(split: str) -> list[np.ndarray]:
    """24 utterances of other voices of the split (festival: held-out espeak voices), made once
    per process from a fixed seed, so babble is the same whatever the worker."""
    pool_split = "train" if split == "train" else "heldout"
    if pool_split not in _BABBLE:
        rng = np.random.default_rng([7919, SPLITS.index(pool_split)])
        _BABBLE[pool_split] = [synthesize(sentence(rng, pool_split), sample_voice(rng, pool_split))[0]
                               for _ in range(24)]
    return _BABBLE[pool_split]


# --- pieces of the format -----------------------------------------------------------------

def sample_layout(rng: np.random.Generator) -> tuple[tuple[HeadPose, HeadPose], dict]:
    """A random preset at a random distance/height offset, the scene rotated about Z and each
    rest facing yawed by up to 20 degrees."""
    name = str(LAYOUTS[rng.integers(len(LAYOUTS))])
    distance, height = float(rng.uniform(0.6, 2.0)), float(rng.uniform(-0.3, 0.3))
    scene_rot = float(rng.uniform(-np.pi, np.pi))
    yaws = [float(np.radians(rng.uniform(-20, 20))) for _ in range(2)]
    poses = []
    for pose, yaw in zip(preset_layout(name, distance, height), yaws):
        centre = _rot_z(np.asarray(pose.eye_center, float), scene_rot)
        forward = _rot_z(np.asarray(pose.forward, float), scene_rot + yaw)
        poses.append(HeadPose(tuple(centre), tuple(forward), tuple(pose.up)))
    info = {"name": name, "distance": distance, "height_offset": height,
            "scene_rotation": scene_rot, "rest_yaw_offsets": yaws}
    return (poses[0], poses[1]), info


def _rot_z(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]])


def poses_array(poses) -> np.ndarray:
    """(2, 3, 3) float32: per person rows eye_center, forward, up."""
    return np.array([[p.eye_center, p.forward, p.up] for p in poses], dtype=np.float32)


def activity_from_timing(timing: DialogueTiming, frames: int) -> np.ndarray:
    """(2, T) bool: frame t is active for a person if its centre time lies inside one of the
    person's segments."""
    centres = (np.arange(frames) + 0.5) / MODEL_FPS
    act = np.zeros((2, frames), bool)
    for s in timing.segments:
        act[s.speaker] |= (centres >= s.start) & (centres < s.end)
    return act


def segments_json(timing: DialogueTiming) -> list[dict]:
    return [{"speaker": s.speaker, "start": round(s.start, 5), "end": round(s.end, 5),
             "kind": s.kind, "text": s.text,
             "phones": [[p.symbol, round(p.start, 5), round(p.end, 5), p.stress] for p in s.phones],
             "alphabet": s.phones[0].alphabet if s.phones else "espeak"}
            for s in timing.segments]


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def _plain_number(value):
    """NumPy 2 keeps float32 arithmetic as numpy scalars, which json cannot write."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def save_conversation(path, mix: np.ndarray, motion: np.ndarray, activity: np.ndarray,
                      poses: np.ndarray, meta: dict, tracks: np.ndarray | None = None) -> None:
    """Validate and write one conversation npz (atomically: a temporary file, then rename).

    Also the way to write a studio's own capture: see docs/DATA_FORMAT.md."""
    from .dataset import validate
    arrays = {"mix": np.asarray(mix), "motion": np.asarray(motion, np.float32),
              "activity": np.asarray(activity, bool), "poses": np.asarray(poses, np.float32)}
    if tracks is not None:
        arrays["tracks"] = np.asarray(tracks)
    validate(arrays, meta, str(path))
    arrays["meta"] = np.array(json.dumps(meta, default=_plain_number))
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


# --- a whole corpus -----------------------------------------------------------------------

def _build_one(job: tuple[str, int, str, int, float, float, bool]) -> tuple[str, float, float]:
    out, seed, split, index, offscreen, neural, mirroring = job
    t0 = time.perf_counter()
    conv = build_conversation(seed, split, index, offscreen=offscreen, neural=neural,
                              mirroring=mirroring)
    name = f"conv_{index:05d}.npz"
    save_conversation(Path(out) / name, conv["mix"], conv["motion"], conv["activity"],
                      conv["poses"], conv["meta"], conv["tracks"])
    return name, len(conv["mix"]) / SAMPLE_RATE, time.perf_counter() - t0


def _init_worker() -> None:
    import torch
    torch.set_num_threads(1)


def build_corpus(out: str, conversations: int, seed: int, split: str, workers: int = 1,
                 start: int = 0, log=print, offscreen: float = 0.0, neural: float = 0.0,
                 mirroring: bool = False) -> dict:
    """Write ``conversations`` conversations and ``index.json`` into ``out``; returns the index."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    os.makedirs(out, exist_ok=True)
    previous = _previous_files(Path(out) / "index.json", split, seed)
    jobs = [(out, seed, split, i, offscreen, neural, mirroring) for i in range(start, start + conversations)]
    t0, done, audio_s = time.perf_counter(), [], 0.0
    if workers <= 1:
        _init_worker()
        results = map(_build_one, jobs)
    else:
        import multiprocessing as mp
        pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker)
        results = pool.imap(_build_one, jobs)
    for k, (name, dur, secs) in enumerate(results, 1):
        done.append(name)
        audio_s += dur
        rate = k / (time.perf_counter() - t0)
        log(f"[{k}/{conversations}] {name}  {dur:5.1f} s audio  {secs:5.2f} s  ({rate:.2f} conv/s)")
    if workers > 1:
        pool.close()
        pool.join()
    elapsed = time.perf_counter() - t0
    index = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "split": split, "seed": seed,
             "args": {"conversations": conversations, "start": start, "workers": workers,
                      "offscreen": offscreen, "neural": neural, "mirroring": mirroring},
             "sample_rate": SAMPLE_RATE, "fps": MODEL_FPS, "motion_channels": list(MOTION_CHANNELS),
             "voices": sorted(f"espeak:{b}+{v}" if split != "festival" else f"festival:{b}"
                              for b, v in voice_pool(split)) + ([f"piper:{casting.NEURAL_VOICE}"] if neural > 0 else []),
             "files": done, "run_audio_seconds": round(audio_s, 2),
             "run_build_seconds": round(elapsed, 2)}
    index["files"] = sorted(set(previous) | set(done))
    tmp = Path(out) / "index.json.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(index, f, indent=1)
    os.replace(tmp, Path(out) / "index.json")
    log(f"wrote {len(done)} conversations ({audio_s / 60:.1f} min of audio) to {out} "
        f"in {elapsed:.1f} s: {len(done) / elapsed:.2f} conv/s with {workers} worker(s)")
    return index


def _previous_files(path: Path, split: str, seed: int) -> list[str]:
    """The files an earlier run wrote into the same folder (e.g. a run continued with
    --start); a folder holds one split and one seed."""
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        old = json.load(f)
    if (old.get("split"), old.get("seed")) != (split, seed):
        raise RuntimeError(f"{path.parent} already holds split {old.get('split')!r} seed "
                           f"{old.get('seed')!r}; write split {split!r} seed {seed!r} to "
                           f"another folder")
    return list(old.get("files", []))


# --- a studio's own capture ---------------------------------------------------------------

def capture_frames(num_samples: int, sample_rate: int) -> int:
    """Motion frames (25 fps) of a recording of ``num_samples`` at ``sample_rate`` once
    resampled to 16 kHz: ceil(ceil(N * 16000 / sr) / 640)."""
    return num_frames(-(-int(num_samples) * SAMPLE_RATE // int(sample_rate)))


def capture_to_motion(arkit: np.ndarray, head: np.ndarray, eyes: np.ndarray | None,
                      capture_fps: float, frames: int) -> np.ndarray:
    """One person's capture -> (frames, 49) motion at 25 fps (linear interpolation).

    ``arkit`` (T, 52) weights 0..1 in ``channels.ARKIT_BLENDSHAPES`` order; ``head`` (T, 3)
    pitch, yaw, roll in radians relative to the rest pose (head_pose.py conventions); ``eyes``
    (T, 4) yawL, pitchL, yawR, pitchR in radians relative to the head, or None to read them off
    the eyeLook* weights (the inverse of gaze.eye_look_weights). Gaze = mean of the two eyes."""
    from model_runtime.channels import ARKIT_BLENDSHAPES, pack_motion
    from model_runtime.gaze import EYE_LOOK_RANGE_HORIZONTAL as H
    from model_runtime.gaze import EYE_LOOK_RANGE_VERTICAL as V
    arkit, head = np.asarray(arkit, np.float64), np.asarray(head, np.float64)
    if arkit.ndim != 2 or arkit.shape[1] != 52 or head.shape != (len(arkit), 3):
        raise ValueError(f"need arkit (T, 52) and head (T, 3), got {arkit.shape} and {head.shape}")
    w = {n: arkit[:, i] for i, n in enumerate(ARKIT_BLENDSHAPES)}
    if eyes is None:
        eyes = np.stack([(w["eyeLookOutLeft"] - w["eyeLookInLeft"]) * H,
                         (w["eyeLookUpLeft"] - w["eyeLookDownLeft"]) * V,
                         (w["eyeLookInRight"] - w["eyeLookOutRight"]) * H,
                         (w["eyeLookUpRight"] - w["eyeLookDownRight"]) * V], axis=1)
    eyes = np.asarray(eyes, np.float64)
    gaze = np.stack([(eyes[:, 0] + eyes[:, 2]) / 2, (eyes[:, 1] + eyes[:, 3]) / 2], axis=1)
    face = {n: w[n] for n in ARKIT_BLENDSHAPES if not n.startswith("eyeLook")}
    motion = pack_motion(face, head, gaze)
    t_in = np.arange(len(motion)) / float(capture_fps)
    t_out = np.arange(frames) / MODEL_FPS
    return np.stack([np.interp(t_out, t_in, motion[:, c]) for c in range(MOTION_DIM)],
                    axis=1).astype(np.float32)


def write_capture(path, audio: np.ndarray, sample_rate: int, motion: np.ndarray,
                  poses: tuple[HeadPose, HeadPose], activity: np.ndarray | None = None,
                  tracks: np.ndarray | None = None, meta: dict | None = None) -> None:
    """Write a captured conversation: mixed ``audio`` (N,) float in [-1, 1] at any rate,
    ``motion`` (2, T, 49) at 25 fps with T = ceil(N16 / 640) (see capture_to_motion),
    optional per-person ``tracks`` (2, N) at the same rate, and ``activity`` (2, T) bool
    (required when there are no tracks; otherwise read off the tracks' energy)."""
    from model_runtime.resampling import resample
    mix = resample(np.asarray(audio, np.float32), int(sample_rate), SAMPLE_RATE)
    frames = num_frames(len(mix))
    if tracks is not None:
        tracks = np.stack([resample(np.asarray(t, np.float32), int(sample_rate), SAMPLE_RATE)
                           for t in tracks])[:, :len(mix)]
        if activity is None:
            activity = _energy_activity(tracks, frames)
    if activity is None:
        raise ValueError("pass activity (2, T) when there are no per-person tracks")
    info = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "split": "capture",
            "source": "capture", "sample_rate": SAMPLE_RATE, "fps": MODEL_FPS,
            "motion_channels": list(MOTION_CHANNELS), **(meta or {})}
    save_conversation(path, to_int16(mix), np.asarray(motion, np.float32), activity,
                      poses_array(poses), info, None if tracks is None else to_int16(tracks))


def _energy_activity(tracks: np.ndarray, frames: int) -> np.ndarray:
    """Frames whose RMS is within 30 dB of the track's loud frames, bridged over 0.3 s gaps."""
    pad = np.zeros((2, frames * HOP), np.float32)
    pad[:, :tracks.shape[1]] = tracks
    rms = np.sqrt(np.mean(pad.reshape(2, frames, HOP) ** 2, axis=2))
    act = rms > np.percentile(rms, 99, axis=1, keepdims=True) * 10 ** (-30 / 20)
    for p in range(2):
        on = np.flatnonzero(act[p])
        for a, b in zip(on[:-1], on[1:]):
            if 1 < b - a <= 8:
                act[p, a:b] = True
    return act
