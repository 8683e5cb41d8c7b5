"""Read audio files and clips into one 16 kHz conversation timeline.

Everything here is numpy + torch + soundfile, because Blender's Python ships no scipy or
librosa. Files are read span by span (only the part a clip plays) and block by block, so a
two-hour recording never sits in memory at its original rate and channel count.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import soundfile as sf
import torch

from .errors import AudioError
from .timebase import HOP, SAMPLE_RATE

MAX_DURATION_S = 7200.0
MIN_DURATION_S = 0.5

# Anti-aliasing filter: passband up to 90 % of the lower Nyquist, 32 zero crossings per side,
# Kaiser beta 8.6 (about -85 dB stopband). Same ballpark as soxr's "high quality".
_ROLLOFF = 0.90
_ZERO_CROSSINGS = 32
_KAISER_BETA = 8.6
_BLOCK_OUT = 1 << 19            # output samples per resampling block (~33 s at 16 kHz)
_SILENT_PEAK = 1e-4             # -80 dBFS
_SILENT_FRAME_RMS = 1e-4        # loudest 1 % of 40 ms frames below -80 dBFS: no speech


# --------------------------------------------------------------------------- resampling
@lru_cache(maxsize=16)
def _filter_bank(up: int, down: int) -> tuple[torch.Tensor, int]:
    """Polyphase table H (up, 2K): H[p, j] weights input sample base-K+1+j for an output
    whose position lies p/up of a sample after input index base."""
    fc = 0.5 * min(1.0, up / down) * _ROLLOFF       # cutoff in cycles per input sample
    half = int(math.ceil(_ZERO_CROSSINGS / (2.0 * fc)))
    taps = np.arange(-half + 1, half + 1, dtype=np.float64)           # (2K,)
    frac = np.arange(up, dtype=np.float64)[:, None] / up               # (up, 1)
    d = taps[None, :] - frac                                           # distance in samples
    w = np.i0(_KAISER_BETA * np.sqrt(np.clip(1.0 - (d / half) ** 2, 0.0, None)))
    h = 2.0 * fc * np.sinc(2.0 * fc * d) * w / np.i0(_KAISER_BETA)
    h /= h.sum(axis=1, keepdims=True)                # exact unity gain at DC for every phase
    return torch.from_numpy(h.astype(np.float32)), half


def _ratio(sr_in: int, sr_out: int) -> tuple[int, int]:
    g = math.gcd(int(sr_in), int(sr_out))
    return int(sr_out) // g, int(sr_in) // g


def _resampled_length(n_in: int, up: int, down: int) -> int:
    return -(-n_in * up // down)     # ceil: every output whose time lies inside the input


def _input_span(n0: int, n1: int, up: int, down: int, half: int) -> tuple[int, int]:
    """Input index range [s0, s1) that outputs [n0, n1) read (n0 a multiple of up)."""
    s0 = n0 * down // up - half + 1
    s1 = (n1 - 1) * down // up + half + 1
    return s0, s1


def _resample_block(buf: torch.Tensor, n0: int, n1: int, up: int, down: int) -> torch.Tensor:
    """Outputs [n0, n1) from buf, the input samples _input_span(n0, n1) (zero padded).

    Outputs n = n0 + r + up*i share one filter phase per residue r, and their windows start
    down samples apart, so each residue is one strided convolution: no wasted multiplies."""
    h, half = _filter_bank(up, down)
    cols = -(-(n1 - n0) // up)
    need = (up - 1) * down // up + (cols - 1) * down + 2 * half
    if buf.numel() < need:
        buf = torch.nn.functional.pad(buf, (0, need - buf.numel()))
    out = torch.zeros(up, cols)
    x = buf.view(1, 1, -1)
    for r in range(up):
        b, p = (r * down) // up, (r * down) % up
        seg = x[..., b: b + (cols - 1) * down + 2 * half]
        out[r] = torch.nn.functional.conv1d(seg, h[p].view(1, 1, -1), stride=down)[0, 0, :cols]
    return out.t().reshape(-1)[: n1 - n0]


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling of a 1-D signal with a Kaiser-windowed sinc (polyphase).

    Output sample n sits at time n / sr_out; the signal is taken as zero outside its ends."""
    x = np.asarray(x, dtype=np.float32)
    if int(sr_in) == int(sr_out):
        return x.copy()
    up, down = _ratio(sr_in, sr_out)
    n_out = _resampled_length(len(x), up, down)
    out = np.empty(n_out, dtype=np.float32)
    _, half = _filter_bank(up, down)
    xt = torch.from_numpy(x)
    step = max(up, _BLOCK_OUT // up * up)
    for n0 in range(0, n_out, step):
        n1 = min(n_out, n0 + step)
        s0, s1 = _input_span(n0, n1, up, down, half)
        buf = _padded_slice(xt, s0, s1)
        out[n0:n1] = _resample_block(buf, n0, n1, up, down).numpy()
    return out


def _padded_slice(x: torch.Tensor, s0: int, s1: int) -> torch.Tensor:
    """x[s0:s1] with zeros where the range runs past either end."""
    lo, hi = max(s0, 0), min(s1, x.numel())
    part = x[lo:hi] if hi > lo else x[:0]
    return torch.nn.functional.pad(part, (lo - s0, s1 - s0 - (lo - s0) - part.numel()))


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
        return sf.SoundFile(path)
    except Exception as exc:   # libsndfile reports corrupt and unsupported files alike
        raise AudioError(f"cannot read audio file {path}: {exc}. Use a WAV, FLAC, OGG or MP3 "
                         "file, or re-export it from your audio editor.") from None


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
    f.seek(start + a)
    block = f.read(b - a, dtype="float32", always_2d=True)
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
        up, down = _ratio(f.samplerate, SAMPLE_RATE)
        _, half = _filter_bank(up, down)
        n_out = _resampled_length(frames, up, down)
        out = np.empty(n_out, dtype=np.float32)
        step = max(up, _BLOCK_OUT // up * up)
        for n0 in range(0, n_out, step):
            n1 = min(n_out, n0 + step)
            if up == down:
                out[n0:n1] = _read_mono(f, clip, start, n0, n1)
                continue
            s0, s1 = _input_span(n0, n1, up, down, half)
            buf = torch.from_numpy(_read_mono(f, clip, start, s0, s1))
            out[n0:n1] = _resample_block(buf, n0, n1, up, down).numpy()
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
        raise AudioError(f"{what} contains NaN or infinite samples.")
    peak = float(max(mix.max(), -mix.min()))         # no |mix| copy of a 2-hour signal
    m = n // HOP * HOP
    frames = mix[:m].reshape(-1, HOP) if m else mix[None, :]
    rms = np.sqrt(np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / frames.shape[1])
    loud = float(np.percentile(rms, 99))
    if peak < _SILENT_PEAK or loud < _SILENT_FRAME_RMS:
        db = 20 * math.log10(max(peak, 1e-12))
        raise AudioError(f"{what} is silent (peak {db:.0f} dBFS): check the file, the strip's "
                         "volume and that it is not muted.")


@dataclass
class ConversationAudio:
    """The conversation's audio on one timeline at SAMPLE_RATE.

    ``tracks`` holds each person's own signal when known (per-person strips or a stereo
    file); ``mix`` is always the sum heard. ``speakers_swapped`` asks roles.activity to
    exchange A and B for a mixed track, where there are no tracks to reorder."""
    mix: np.ndarray
    tracks: np.ndarray | None
    start_time: float
    mode: str
    speakers_swapped: bool = False

    @property
    def duration(self) -> float:
        return len(self.mix) / SAMPLE_RATE

    @classmethod
    def mixed(cls, clips: list[AudioClip]) -> "ConversationAudio":
        t0, n, (sigs,) = _timeline([list(clips)])
        mix = sigs[0] if len(sigs) == 1 and n == len(sigs[0]) else _place(clips, sigs, t0, n)
        check_audible(mix)
        return cls(mix=mix, tracks=None, start_time=t0, mode="mixed")

    @classmethod
    def per_person(cls, clips_a: list[AudioClip], clips_b: list[AudioClip]) -> "ConversationAudio":
        t0, n, (sa, sb) = _timeline([list(clips_a), list(clips_b)])
        tracks = np.stack([_place(clips_a, sa, t0, n), _place(clips_b, sb, t0, n)])
        mix = tracks.sum(axis=0)
        check_audible(mix)
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
        return cls(mix=mix, tracks=tracks, start_time=clip.timeline_start, mode="stereo")

    @classmethod
    def from_file(cls, path: str, mode: str = "mixed") -> "ConversationAudio":
        if mode == "mixed":
            return cls.mixed([AudioClip(str(path))])
        if mode == "stereo":
            return cls.stereo(AudioClip(str(path)))
        raise AudioError(f"from_file supports mode 'mixed' or 'stereo', not {mode!r}; for one "
                         "file per person use ConversationAudio.per_person.")

    def swapped(self) -> "ConversationAudio":
        """A copy with persons A and B exchanged."""
        tracks = None if self.tracks is None else self.tracks[::-1].copy()
        return replace(self, mix=self.mix.copy(), tracks=tracks,
                       speakers_swapped=not self.speakers_swapped)
