"""Read audio files and clips into one 16 kHz conversation timeline.

Everything here is numpy + soundfile (resampling.py adds torch), because Blender's Python
ships no scipy or librosa. Files are read span by span (only the part a clip plays) and block by block, so a
two-hour recording never sits in memory at its original rate and channel count.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

import numpy as np
import soundfile as sf

from . import resampling
from .errors import AudioError
from .resampling import check_sample_rate
from .timebase import HOP, SAMPLE_RATE

MAX_DURATION_S = 7200.0
MIN_DURATION_S = 0.5

_SILENT_PEAK = 1e-4             # -80 dBFS
_SILENT_FRAME_RMS = 1e-4        # loudest 1 % of 40 ms frames below -80 dBFS: no speech
_LOUD_PEAK = 2.0 ** 8           # louder (float files, huge gains) is scaled down, see _in_range


# --------------------------------------------------------------------------- clips
@dataclass
class AudioClip:
    """A span of an audio file placed on the conversation timeline (a VSE sound strip)."""
    path: str
    source_start: float = 0.0          # seconds into the file where playback starts
    timeline_start: float = 0.0        # seconds on the conversation timeline
    duration: float | None = None      # None (or past the end): to the end of the file
    gain: float = 1.0
    channel: int | None = None         # None: downmix to mono; 0/1: take that channel


def _open(path: str) -> sf.SoundFile:
    if not os.path.isfile(path):
        raise AudioError(f"audio file not found: {path}")
    try:
        f = sf.SoundFile(path)
    except Exception as exc:   # libsndfile reports corrupt and unsupported files alike
        raise AudioError(f"cannot read audio file {path}: {exc}. Use a WAV, FLAC, OGG or MP3 "
                         "file, or re-export it from your audio editor.") from None
    try:
        check_sample_rate(f.samplerate, f"audio file {path}")
    except AudioError:
        f.close()
        raise
    return f


def _clip_span(clip: AudioClip, f: sf.SoundFile) -> tuple[int, int]:
    """(first frame, frame count) of the file that the clip plays."""
    sr, total = f.samplerate, f.frames
    if total <= 0:
        raise AudioError(f"audio file {clip.path} is empty (0 samples).")
    if not (math.isfinite(clip.source_start) and clip.source_start >= 0):
        raise AudioError(f"clip of {clip.path}: source_start must be >= 0, got {clip.source_start}")
    start = int(round(clip.source_start * sr))
    if start >= total:
        raise AudioError(f"clip of {clip.path} starts at {clip.source_start:.2f} s but the file "
                         f"is only {total / sr:.2f} s long.")
    frames = total - start
    if clip.duration is not None:
        if not (math.isfinite(clip.duration) and clip.duration > 0):
            raise AudioError(f"clip of {clip.path}: duration must be > 0, got {clip.duration}")
        frames = min(frames, int(round(clip.duration * sr)))
    if frames / sr > MAX_DURATION_S:
        raise AudioError(f"audio {clip.path} is {frames / sr / 60:.1f} min long; at most "
                         f"{MAX_DURATION_S / 60:.0f} min is supported. Split the conversation "
                         "into shorter shots.")
    return start, max(frames, 1)


def _read_mono(f: sf.SoundFile, clip: AudioClip, start: int, lo: int, hi: int) -> np.ndarray:
    """Frames [lo, hi) of the clip's span, as the clip's mono signal (zeros outside)."""
    n = hi - lo
    a, b = max(lo, 0), min(hi, _span_frames(f, start, clip))
    out = np.zeros(n, dtype=np.float32)
    if b <= a:
        return out
    try:
        f.seek(start + a)
        block = f.read(b - a, dtype="float32", always_2d=True)
    except Exception as exc:   # noqa: BLE001 - a truncated or damaged file fails mid-read
        # (libsndfile: "flac decoder lost sync", "unexpected end of file"...)
        detail = str(exc).strip().rstrip(".") or type(exc).__name__
        raise AudioError(f"cannot read audio file {clip.path} (reading from {(start + a) / f.samplerate:.1f} s "
                         f"on): {detail}. The file is truncated or damaged; re-export it from your "
                         "audio editor.") from exc
    if not np.isfinite(block).all():
        raise AudioError(f"audio file {clip.path} contains NaN or infinite samples; re-export it.")
    mono = block.mean(axis=1) if clip.channel is None else block[:, clip.channel]
    out[a - lo: a - lo + len(mono)] = mono
    return out


def _span_frames(f: sf.SoundFile, start: int, clip: AudioClip) -> int:
    frames = f.frames - start
    if clip.duration is not None:
        frames = min(frames, int(round(clip.duration * f.samplerate)))
    return frames


def read_clip(clip: AudioClip) -> np.ndarray:
    """The clip's samples as float32 mono at SAMPLE_RATE, gain applied.

    Reads only the span the clip plays, in blocks, resampling each block as it comes.
    Missing, unreadable, empty, NaN and over-long input raise AudioError here; too short and
    silent are judged on the whole conversation (ConversationAudio), since one 0.3 s "yeah"
    clip among others is fine."""
    with _open(clip.path) as f:
        start, frames = _clip_span(clip, f)
        if clip.channel is not None and not 0 <= clip.channel < f.channels:
            raise AudioError(f"audio file {clip.path} has {f.channels} channel(s); channel "
                             f"{clip.channel} does not exist.")
        if not math.isfinite(clip.gain):
            raise AudioError(f"clip of {clip.path}: gain must be finite, got {clip.gain}")
        same = f.samplerate == SAMPLE_RATE
        rs = None if same else resampling.resampler(f.samplerate, SAMPLE_RATE)
        n_out = frames if same else rs.length(frames)
        out = np.empty(n_out, dtype=np.float32)
        step = resampling.BLOCK_OUT if same else rs.block_step()
        for n0 in range(0, n_out, step):
            n1 = min(n_out, n0 + step)
            if same:
                out[n0:n1] = _read_mono(f, clip, start, n0, n1)
            else:
                out[n0:n1] = rs.render(lambda s0, s1: _read_mono(f, clip, start, s0, s1), n0, n1)
    if clip.gain != 1.0:
        out *= np.float32(clip.gain)
    return out


def file_channels(path: str) -> int:
    """Number of channels of an audio file (AudioError if missing or unreadable)."""
    with _open(path) as f:
        return f.channels


# --------------------------------------------------------------------------- conversation
def _place(clips: list[AudioClip], signals: list[np.ndarray], t0: float, n: int) -> np.ndarray:
    """Sum clips onto a timeline of n samples starting at t0 seconds."""
    out = np.zeros(n, dtype=np.float32)
    for clip, sig in zip(clips, signals):
        i = int(round((clip.timeline_start - t0) * SAMPLE_RATE))
        out[i: i + len(sig)] += sig[: max(0, n - i)]
    return out


def _timeline(groups: list[list[AudioClip]]) -> tuple[float, int, list[list[np.ndarray]]]:
    """Read every clip; return (start time, length in samples, signals per group)."""
    clips = [c for g in groups for c in g]
    if not clips:
        raise AudioError("no audio given: add at least one sound strip or audio file.")
    for c in clips:
        if not math.isfinite(c.timeline_start):
            raise AudioError(f"clip of {c.path}: timeline_start must be finite")
    signals = [[read_clip(c) for c in g] for g in groups]
    t0 = min(c.timeline_start for c in clips)
    n = max(int(round((c.timeline_start - t0) * SAMPLE_RATE)) + len(s)
            for g, sg in zip(groups, signals) for c, s in zip(g, sg))
    if n / SAMPLE_RATE > MAX_DURATION_S:
        raise AudioError(f"the conversation is {n / SAMPLE_RATE / 60:.1f} min long; at most "
                         f"{MAX_DURATION_S / 60:.0f} min is supported. Split it into shorter "
                         "shots.")
    return t0, n, signals


def check_audible(mix: np.ndarray, what: str = "audio") -> None:
    """AudioError if the signal is too short, has NaNs, or holds no audible sound."""
    n = len(mix)
    if n == 0:
        raise AudioError(f"{what} is empty (0 samples).")
    if n / SAMPLE_RATE < MIN_DURATION_S:
        raise AudioError(f"{what} is {n / SAMPLE_RATE:.2f} s long; at least {MIN_DURATION_S} s "
                         "is needed.")
    if not np.isfinite(mix).all():
        raise AudioError(f"{what} contains NaN or infinite samples, or is too loud to represent "
                         "(check the file and the strip's volume or gain).")
    peak = _peak(mix)
    m = n // HOP * HOP
    frames = mix[:m].reshape(-1, HOP) if m else mix[None, :]
    rms = np.sqrt(np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / frames.shape[1])
    loud = float(np.percentile(rms, 99))
    if peak < _SILENT_PEAK or loud < _SILENT_FRAME_RMS:
        db = 20 * math.log10(max(peak, 1e-12))
        raise AudioError(f"{what} is silent (peak {db:.0f} dBFS): check the file, the strip's "
                         "volume and that it is not muted.")


def _peak(x: np.ndarray) -> float:
    return float(max(x.max(), -x.min())) if x.size else 0.0   # no |x| copy of a 2-hour signal


def _in_range(mix: np.ndarray, tracks: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Audio far above full scale (a float file at x1e30, a huge gain) scaled down by one power
    of two for mix and tracks alike: features and speaker analysis are level-normalised, so
    nothing changes but their float32 power sums stay far from overflow (inf, then NaN)."""
    peak = max(_peak(mix), 0.0 if tracks is None else _peak(tracks))
    if peak <= _LOUD_PEAK:
        return mix, tracks
    scale = np.float32(2.0 ** -math.ceil(math.log2(peak)))
    return mix * scale, None if tracks is None else tracks * scale


@dataclass
class ConversationAudio:
    """The conversation's audio on one timeline at SAMPLE_RATE.

    ``tracks`` holds each person's own signal when known (per-person strips or a stereo
    file); ``mix`` is always the sum heard. (Exchanging A and B is the pipeline's ``swap``,
    applied to who speaks when.)"""
    mix: np.ndarray
    tracks: np.ndarray | None
    start_time: float
    mode: str

    @property
    def duration(self) -> float:
        return len(self.mix) / SAMPLE_RATE

    @classmethod
    def mixed(cls, clips: list[AudioClip]) -> "ConversationAudio":
        t0, n, (sigs,) = _timeline([list(clips)])
        mix = sigs[0] if len(sigs) == 1 and n == len(sigs[0]) else _place(clips, sigs, t0, n)
        check_audible(mix)
        mix, _ = _in_range(mix, None)
        return cls(mix=mix, tracks=None, start_time=t0, mode="mixed")

    @classmethod
    def per_person(cls, clips_a: list[AudioClip], clips_b: list[AudioClip]) -> "ConversationAudio":
        t0, n, (sa, sb) = _timeline([list(clips_a), list(clips_b)])
        tracks = np.stack([_place(clips_a, sa, t0, n), _place(clips_b, sb, t0, n)])
        mix = tracks.sum(axis=0)
        check_audible(mix)
        mix, tracks = _in_range(mix, tracks)
        return cls(mix=mix, tracks=tracks, start_time=t0, mode="per_person")

    @classmethod
    def stereo(cls, clip: AudioClip) -> "ConversationAudio":
        channels = file_channels(clip.path)
        if channels < 2:
            raise AudioError(f"stereo mode needs a file with two channels (one voice each); "
                             f"{clip.path} has {channels}. Use the mixed mode instead.")
        left = read_clip(replace(clip, channel=0))
        right = read_clip(replace(clip, channel=1))
        tracks = np.stack([left, right])
        mix = tracks.sum(axis=0)
        check_audible(mix)
        mix, tracks = _in_range(mix, tracks)
        return cls(mix=mix, tracks=tracks, start_time=clip.timeline_start, mode="stereo")

    @classmethod
    def from_file(cls, path: str, mode: str = "mixed") -> "ConversationAudio":
        if mode == "mixed":
            return cls.mixed([AudioClip(str(path))])
        if mode == "stereo":
            return cls.stereo(AudioClip(str(path)))
        raise AudioError(f"from_file supports mode 'mixed' or 'stereo', not {mode!r}; for one "
                         "file per person use ConversationAudio.per_person.")
