"""The conversation's audio on one 16 kHz timeline: clips (or signals) read on demand.

A ``ConversationAudio`` holds where its sound comes from, not the sound: each pass over the
conversation (the scan made here, the speaker analysis, the sampler's stretches) opens the
files and reads the blocks it needs (``reading``). The scan, made when the audio is built,
checks it (NaN, silence, length) and keeps what later steps need of the whole file per frame
(audio_scan.py), so memory does not grow with the length of the dialogue.
"""
from __future__ import annotations

import math
import tempfile
import threading
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np

from .audio_files import MAX_DURATION_S, AudioClip, ClipReader, file_channels
from .audio_scan import AudioScan, Reader, scan
from .errors import AudioError
from .timebase import SAMPLE_RATE

MIN_DURATION_S = 0.5

_SILENT_PEAK = 1e-4             # -80 dBFS
_SILENT_FRAME_RMS = 1e-4        # loudest 1 % of 40 ms frames below -80 dBFS: no speech
_LOUD_PEAK = 2.0 ** 8           # louder (float files, huge gains) is scaled down, see _build


class _ClipSource:
    """Groups of clips on one timeline: one group (a mix) or one per person."""

    def __init__(self, groups: list[list[AudioClip]]):
        clips = [c for g in groups for c in g]
        if not clips:
            raise AudioError("no audio given: add at least one sound strip or audio file.")
        for c in clips:
            if not math.isfinite(c.timeline_start):
                raise AudioError(f"clip of {c.path}: timeline_start must be finite")
        self.groups = groups
        self.start_time = min(c.timeline_start for c in clips)
        with self.reading_clips() as readers:      # opening checks every file before any is read
            self.length = max(self._offset(r.clip) + r.length for g in readers for r in g)

    def _offset(self, clip: AudioClip) -> int:
        return int(round((clip.timeline_start - self.start_time) * SAMPLE_RATE))

    @contextmanager
    def reading_clips(self) -> Iterator[list[list[ClipReader]]]:
        with ExitStack() as stack:
            yield [[stack.enter_context(ClipReader(c)) for c in g] for g in self.groups]

    @contextmanager
    def reading(self) -> Iterator[Reader]:
        with self.reading_clips() as readers:
            def read(lo: int, hi: int) -> np.ndarray:
                out = np.zeros((len(readers), hi - lo), dtype=np.float32)
                for g, group in enumerate(readers):
                    for r in group:              # overlapping clips of one person are summed
                        i = self._offset(r.clip)
                        a, b = max(lo, i), min(hi, i + r.length)
                        if b > a:
                            out[g, a - lo:b - lo] += r.read(a - i, b - i)
                return out
            yield read


class _SpooledSource:
    """A clip source's 16 kHz signals copied to an anonymous temporary file as the scan reads
    them, so that later passes (speaker analysis, the sampler's stretches) read raw floats
    instead of decoding and resampling the files again. The file goes when the audio does."""

    def __init__(self, clips: _ClipSource, groups: int):
        self.clips, self.groups = clips, groups
        self.length, self.start_time = clips.length, clips.start_time
        self.file = tempfile.TemporaryFile(prefix="talking_together_audio_")
        self.written = 0                                  # samples copied so far
        self.whole = False
        self.lock = threading.Lock()

    @contextmanager
    def reading(self) -> Iterator[Reader]:
        if self.whole:
            yield self._read_spool
            return
        with self.clips.reading() as read:               # the scan: read the clips, copy them
            def read_and_copy(lo: int, hi: int) -> np.ndarray:
                out = read(lo, hi)
                a, b = max(lo, self.written), min(hi, self.length)
                if a == self.written and b > a:
                    try:
                        self.file.write(np.ascontiguousarray(out[:, a - lo:b - lo].T).tobytes())
                        self.written = b
                    except OSError:                # a full temporary disk: read the clips again
                        self.written = -1
                return out
            yield read_and_copy
        self.whole = self.written == self.length
        if self.whole:
            self.file.flush()

    def _read_spool(self, lo: int, hi: int) -> np.ndarray:
        out = np.zeros((self.groups, hi - lo), dtype=np.float32)
        a, b = max(lo, 0), min(hi, self.length)
        if b > a:
            frames = np.empty((b - a, self.groups), dtype=np.float32)
            with self.lock:                                # one file position for every thread
                self.file.seek(a * frames.itemsize * self.groups)
                self.file.readinto(frames)
            out[:, a - lo:b - lo] = frames.T
        return out


class _ArraySource:
    """Signals already in memory, (groups, samples) at SAMPLE_RATE."""

    def __init__(self, signals: np.ndarray):
        self.signals = np.ascontiguousarray(signals, dtype=np.float32)
        self.length = self.signals.shape[1]
        self.start_time = 0.0

    @contextmanager
    def reading(self) -> Iterator[Reader]:
        def read(lo: int, hi: int) -> np.ndarray:
            out = np.zeros((len(self.signals), hi - lo), dtype=np.float32)
            a, b = max(lo, 0), min(hi, self.length)
            if b > a:
                out[:, a - lo:b - lo] = self.signals[:, a:b]
            return out
        yield read


@dataclass(eq=False)
class ConversationAudio:
    """The conversation's audio on one timeline at SAMPLE_RATE.

    One signal (``mode`` "mixed": both voices in one track) or one per person ("per_person",
    "stereo"); read it with ``reading()``. ``scan`` is its per-frame analysis. (Exchanging A
    and B is the pipeline's ``swap``, applied to who speaks when.)"""
    source: _SpooledSource | _ArraySource
    mode: str
    scan: AudioScan
    scale: float = 1.0          # a power of two below 1 for audio far above full scale

    @property
    def length(self) -> int:
        return self.source.length

    @property
    def start_time(self) -> float:
        return self.source.start_time

    @property
    def duration(self) -> float:
        return self.length / SAMPLE_RATE

    @property
    def has_tracks(self) -> bool:
        """Each person's own signal is known (modes "per_person" and "stereo")."""
        return self.mode != "mixed"

    @contextmanager
    def reading(self) -> Iterator[Reader]:
        """read(lo, hi): samples [lo, hi) of each signal, (1 or 2, hi - lo), zeros outside."""
        with self.source.reading() as read:
            if self.scale == 1.0:
                yield read
            else:
                yield lambda lo, hi: read(lo, hi) * np.float32(self.scale)

    def signals(self) -> np.ndarray:
        """The whole signals in memory, (1 or 2, samples): for short clips, tests and tools."""
        with self.reading() as read:
            return read(0, self.length)

    @property
    def mix(self) -> np.ndarray:
        """The whole mix in memory (see signals)."""
        return self.signals().sum(axis=0)

    @property
    def tracks(self) -> np.ndarray | None:
        """Both people's own signals in memory, or None for a mix (see signals)."""
        return self.signals() if self.has_tracks else None

    @classmethod
    def _build(cls, source, mode: str) -> "ConversationAudio":
        if source.length / SAMPLE_RATE > MAX_DURATION_S:
            raise AudioError(f"the conversation is {source.length / SAMPLE_RATE / 60:.1f} min long; at most "
                             f"{MAX_DURATION_S / 60:.0f} min is supported. Split it into shorter shots.")
        _check_length(source.length)
        groups = 1 if mode == "mixed" else 2
        if isinstance(source, _ClipSource):
            source = _SpooledSource(source, groups)
        audio = cls(source=source, mode=mode, scan=None)
        with audio.reading() as read:
            audio.scan = scan(read, source.length, groups)
        if audio.scan.peak > _LOUD_PEAK:
            # far above full scale (a float file at x1e30, a huge gain): one power of two down
            # for every signal, so levels between them are kept and power sums stay finite;
            # features and speaker analysis are level-normalised, so nothing else changes
            audio.scale = 2.0 ** -math.ceil(math.log2(audio.scan.peak))
            with audio.reading() as read:
                audio.scan = scan(read, source.length, groups)
        _check_audible(audio.scan)
        return audio

    @classmethod
    def mixed(cls, clips: list[AudioClip]) -> "ConversationAudio":
        return cls._build(_ClipSource([list(clips)]), "mixed")

    @classmethod
    def per_person(cls, clips_a: list[AudioClip], clips_b: list[AudioClip]) -> "ConversationAudio":
        return cls._build(_ClipSource([list(clips_a), list(clips_b)]), "per_person")

    @classmethod
    def stereo(cls, clip: AudioClip) -> "ConversationAudio":
        channels = file_channels(clip.path)
        if channels < 2:
            raise AudioError(f"stereo mode needs a file with two channels (one voice each); "
                             f"{clip.path} has {channels}. Use the mixed mode instead.")
        return cls._build(_ClipSource([[replace(clip, channel=0)], [replace(clip, channel=1)]]), "stereo")

    @classmethod
    def from_file(cls, path: str, mode: str = "mixed") -> "ConversationAudio":
        if mode == "mixed":
            return cls.mixed([AudioClip(str(path))])
        if mode == "stereo":
            return cls.stereo(AudioClip(str(path)))
        raise AudioError(f"from_file supports mode 'mixed' or 'stereo', not {mode!r}; for one "
                         "file per person use ConversationAudio.per_person.")

    @classmethod
    def from_signals(cls, mix: np.ndarray | None = None, tracks: np.ndarray | None = None) -> "ConversationAudio":
        """Audio already in memory at SAMPLE_RATE: a mix (samples,) or both people's tracks (2, samples)."""
        if (mix is None) == (tracks is None):
            raise ValueError("give either a mix or two tracks")
        signals = np.asarray(mix, dtype=np.float32)[None] if tracks is None else np.asarray(tracks, np.float32)
        return cls._build(_ArraySource(signals), "mixed" if tracks is None else "per_person")


def _check_length(n: int) -> None:
    if n == 0:
        raise AudioError("the audio is empty (0 samples).")
    if n / SAMPLE_RATE < MIN_DURATION_S:
        raise AudioError(f"the audio is {n / SAMPLE_RATE:.2f} s long; at least {MIN_DURATION_S} s is needed.")


def _check_audible(s: AudioScan) -> None:
    """AudioError when the scanned conversation holds no audible sound."""
    loud = float(np.percentile(np.sqrt(s.power.numpy()), 99))
    if s.peak < _SILENT_PEAK or loud < _SILENT_FRAME_RMS:
        db = 20 * math.log10(max(s.peak, 1e-12))
        raise AudioError(f"the audio is silent (peak {db:.0f} dBFS): check the file, the strip's "
                         "volume and that it is not muted.")
