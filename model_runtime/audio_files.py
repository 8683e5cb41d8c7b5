"""Audio files and clips: read any span of a clip at the runtime's 16 kHz, on demand.

numpy + soundfile (resampling.py adds torch), because Blender's Python ships no scipy or
librosa. A clip is opened once per pass over the conversation and read block by block at any
position (``ClipReader.read``), so a two-hour recording never sits in memory, neither at its
original rate and channel count nor at 16 kHz.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from . import resampling
from .errors import AudioError
from .resampling import check_sample_rate
from .timebase import SAMPLE_RATE

MAX_DURATION_S = 7200.0


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


class ClipReader:
    """An open clip: ``read(n0, n1)`` gives its samples [n0, n1) as float32 mono at
    SAMPLE_RATE, gain applied, zeros outside the clip. Missing, unreadable, empty and
    over-long files, a missing channel and a non-finite gain fail when it opens; damaged data
    and NaN samples when they are read."""

    def __init__(self, clip: AudioClip):
        self.clip = clip
        self.file = _open(clip.path)
        try:
            self.start, self.frames = _clip_span(clip, self.file)
            if clip.channel is not None and not 0 <= clip.channel < self.file.channels:
                raise AudioError(f"audio file {clip.path} has {self.file.channels} channel(s); channel "
                                 f"{clip.channel} does not exist.")
            if not math.isfinite(clip.gain):
                raise AudioError(f"clip of {clip.path}: gain must be finite, got {clip.gain}")
        except AudioError:
            self.file.close()
            raise
        sr = self.file.samplerate
        self.resampler = None if sr == SAMPLE_RATE else resampling.resampler(sr, SAMPLE_RATE)
        self.length = self.frames if self.resampler is None else self.resampler.length(self.frames)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "ClipReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, n0: int, n1: int) -> np.ndarray:
        if self.resampler is None:
            out = self._read_source(n0, n1)
        else:
            out = np.zeros(n1 - n0, dtype=np.float32)
            a, b = max(n0, 0), min(n1, self.length)      # outputs past the ends stay zero
            step = self.resampler.block_step()
            for s in range(a, b, step):
                e = min(b, s + step)
                out[s - n0:e - n0] = self.resampler.render(self._read_source, s, e)
        if self.clip.gain != 1.0:
            out *= np.float32(self.clip.gain)
        return out

    def _read_source(self, lo: int, hi: int) -> np.ndarray:
        """Source frames [lo, hi) of the clip's span as its mono signal (zeros outside)."""
        out = np.zeros(hi - lo, dtype=np.float32)
        a, b = max(lo, 0), min(hi, self.frames)
        if b <= a:
            return out
        try:
            self.file.seek(self.start + a)
            block = self.file.read(b - a, dtype="float32", always_2d=True)
        except Exception as exc:   # noqa: BLE001 - a truncated or damaged file fails mid-read
            # (libsndfile: "flac decoder lost sync", "unexpected end of file"...)
            detail = str(exc).strip().rstrip(".") or type(exc).__name__
            raise AudioError(f"cannot read audio file {self.clip.path} (reading from "
                             f"{(self.start + a) / self.file.samplerate:.1f} s on): {detail}. The file is "
                             "truncated or damaged; re-export it from your audio editor.") from exc
        if not np.isfinite(block).all():
            raise AudioError(f"audio file {self.clip.path} contains NaN or infinite samples; re-export it.")
        mono = block.mean(axis=1) if self.clip.channel is None else block[:, self.clip.channel]
        out[a - lo: a - lo + len(mono)] = mono
        return out


def read_clip(clip: AudioClip) -> np.ndarray:
    """The clip's whole signal as float32 mono at SAMPLE_RATE, gain applied."""
    with ClipReader(clip) as reader:
        return reader.read(0, reader.length)


def file_channels(path: str) -> int:
    """Number of channels of an audio file (AudioError if missing or unreadable)."""
    with _open(path) as f:
        return f.channels
