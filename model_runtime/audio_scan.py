"""One pass over a conversation's audio, block by block: everything per model frame that the
checks, the features and the speaker analysis need from the whole file, computed once.

A block is BLOCK_FRAMES model frames read with CONTEXT samples on each side, so every analysis
window sees the same samples it would see in the whole signal. What is kept is per frame
(frame power, pitch, speech-band level: a few floats a frame) or of fixed size (the mel
bands' level histogram): two hours of dialogue hold about 10 MB here, not the 460 MB of their
samples. The model's mel features are computed again, block by block, for each stretch the
sampler works on (``mel_blocks``): an FFT costs less than keeping 640 floats a frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from .errors import AudioError
from .features import (BandMedians, frame_power, mel_power, normalised_mel, pitch_from_raw, pitch_raw, prosody_from,
                       speech_band_db)
from .timebase import HOP, num_frames

BLOCK_FRAMES = 1024              # 41 s of audio per block
CONTEXT = 120                    # samples: the mel windows reach 120 past a frame, pitch windows 80

Reader = Callable[[int, int], np.ndarray]       # (lo, hi) -> (G, hi - lo) float32, zeros outside


def frame_blocks(first: int, end: int) -> Iterator[tuple[int, int]]:
    size = BLOCK_FRAMES
    for a in range(first, end, size):
        yield a, min(end, a + size)


def read_frames(read: Reader, a: int, b: int) -> np.ndarray:
    """(G, (b - a) * HOP + 2 CONTEXT) samples of frames [a, b) with their context."""
    return read(a * HOP - CONTEXT, b * HOP + CONTEXT)


def mix_of(signals: np.ndarray) -> torch.Tensor:
    """The one signal heard: the sum of the people's tracks (a mix stays as it is)."""
    return torch.from_numpy(signals.sum(axis=0) if len(signals) > 1 else signals[0])


@dataclass
class AudioScan:
    """The whole conversation, per model frame (T of them), seen once."""
    length: int                          # samples
    peak: float = 0.0                    # largest |sample| of the mix and the tracks
    power: torch.Tensor = None           # (T,) mean power of the mix
    pitch: tuple = None                  # (f0, strength), each (T,), of the mix
    levels: BandMedians = field(default_factory=BandMedians)    # the mix's mel bands
    speech_db: np.ndarray = None         # (1 + tracks, T): speech-band level of the mix, then each track
    correlation: float = 0.0             # of the two tracks (1: the same recording twice)

    @property
    def frames(self) -> int:
        return num_frames(self.length)

    def prosody(self) -> torch.Tensor:
        """(T, 4) prosody features of the mix (features.prosody_from)."""
        return prosody_from(self.power, *self.pitch)


def scan(read: Reader, length: int, groups: int) -> AudioScan:
    """Scan ``groups`` signals (1: a mix; 2: one track per person, mixed by summing)."""
    out = AudioScan(length=length)
    t = out.frames
    power, lag, strength, pitch_power = (torch.empty(t) for _ in range(4))
    out.speech_db = np.empty((1 + (groups if groups > 1 else 0), t), dtype=np.float32)
    dots = np.zeros(3)                                   # a.a, b.b, a.b of the two tracks
    for a, b in frame_blocks(0, t):
        sig = read_frames(read, a, b)
        if not np.isfinite(sig).all():
            raise AudioError("the audio contains NaN or infinite samples; re-export it.")
        out.peak = max(out.peak, float(np.abs(sig).max()))
        mix = mix_of(sig)
        if not torch.isfinite(mix).all():
            raise AudioError("the audio is too loud to represent (NaN or infinite when the voices are "
                             "mixed): check the file and the strip's volume or gain.")
        n = b - a
        mp = mel_power(mix, n, CONTEXT)
        out.levels.add(mp)
        out.speech_db[0, a:b] = speech_band_db(mp)
        power[a:b] = frame_power(mix, n, CONTEXT)
        lag[a:b], strength[a:b], pitch_power[a:b] = pitch_raw(mix, n, CONTEXT)
        if groups > 1:
            for g in range(groups):
                out.speech_db[1 + g, a:b] = speech_band_db(mel_power(sig[g], n, CONTEXT))
            core = sig[:, CONTEXT:CONTEXT + min(n * HOP, length - a * HOP)].astype(np.float64)
            dots += [core[0] @ core[0], core[1] @ core[1], core[0] @ core[1]]
    out.power = power
    out.pitch = pitch_from_raw(lag, strength, pitch_power)
    if dots[0] > 0 and dots[1] > 0:
        out.correlation = float(dots[2] / np.sqrt(dots[0] * dots[1]))
    return out


def mel_blocks(read: Reader, a: int, b: int) -> Iterator[tuple[int, int, torch.Tensor]]:
    """(first frame, end frame, sub-frame mel power of the mix) for frames [a, b), block by block."""
    for f0, f1 in frame_blocks(a, b):
        sig = read_frames(read, f0, f1)
        yield f0, f1, mel_power(mix_of(sig), f1 - f0, CONTEXT)


def model_features(read: Reader, scan_: AudioScan, a: int, b: int, prosody: torch.Tensor) -> torch.Tensor:
    """(b - a, FEATURE_DIM) model features of frames [a, b): mel block by block, normalised by
    the whole file's levels; ``prosody`` is scan_.prosody() (computed once by the caller)."""
    mel = torch.cat([normalised_mel(mp, scan_.levels) for _, _, mp in mel_blocks(read, a, b)])
    return torch.cat([mel, prosody[a:b]], dim=1)
