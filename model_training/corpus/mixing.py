"""Put the synthesized clips on the conversation's timeline and make them sound less synthetic.

* per person: speed (resampling: pitch, formants and tempo together; phone times exact),
  pitch shift (resampling + tempo correction) and tempo (sox ``tempo -s``, WSOLA; phone times
  scaled by the tempo, local timing within ~15 ms), EQ, gain;
* per mix: room reverb (exponentially decaying noise impulse response), background noise
  (pink, brown or babble) at an SNR of 10-40 dB, EQ, gain.

All random choices come from the ``numpy.random.Generator`` handed in.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import asdict, dataclass, field

import numpy as np

from model_runtime.timebase import SAMPLE_RATE

from .script import Script
from .timing import DialogueTiming, Phone, SpeechSegment
from .tts import fft_resample

SR = SAMPLE_RATE
Clip = tuple[np.ndarray, list[Phone]]
MIN_SELF_GAP_S = 0.1        # a person never overlaps their own speech; at least this between


# --- placement ----------------------------------------------------------------------------

def place(script: Script, turn_clips: list[Clip], bc_clips: list[list[Clip]]
          ) -> tuple[DialogueTiming, np.ndarray]:
    """Lay out turns (pause/overlap from the script) and backchannels on one timeline.

    Returns the timing (phones in timeline seconds) and per-person tracks (2, N) float32.
    A segment spans its first phone's start to its last phone's end."""
    placed: list[tuple[int, float, Clip, str, str]] = []   # speaker, clip offset, clip, text, kind
    last_end = [-1e9, -1e9]
    prev_start, prev_end = 0.0, script.lead_in
    for i, (turn, clip) in enumerate(zip(script.turns, turn_clips)):
        first, last = clip[1][0].start, clip[1][-1].end
        start = script.lead_in if i == 0 else prev_end + turn.gap
        start = max(start, prev_start + 0.5 * (prev_end - prev_start),
                    last_end[turn.speaker] + MIN_SELF_GAP_S)
        placed.append((turn.speaker, start - first, clip, turn.text, "turn"))
        prev_start, prev_end = start, start + last - first
        last_end[turn.speaker] = max(last_end[turn.speaker], prev_end)
    turns = list(placed)
    for (speaker, offset, clip, _, _), turn, clips in zip(turns, script.turns, bc_clips):
        t0, t1 = offset + clip[1][0].start, offset + clip[1][-1].end
        for bc, bclip in zip(turn.backchannels, clips):
            start = t0 + bc.at * (t1 - t0)
            item = (1 - speaker, start - bclip[1][0].start, bclip, bc.text, "backchannel")
            if _fits(item, placed):
                placed.append(item)
    return _render(placed)


def _span(item) -> tuple[float, float]:
    _, offset, (_, phones), _, _ = item
    return offset + phones[0].start, offset + phones[-1].end


def _fits(item, placed) -> bool:
    a0, a1 = _span(item)
    return all(p[0] != item[0] or a1 + 0.15 < _span(p)[0] or a0 > _span(p)[1] + 0.15
               for p in placed)


def _render(placed) -> tuple[DialogueTiming, np.ndarray]:
    placed = sorted(placed, key=lambda p: _span(p)[0])
    tail = max(_span(p)[1] for p in placed)
    n = int(np.ceil(max(p[1] * SR + len(p[2][0]) for p in placed))) + 1
    tracks = np.zeros((2, n), np.float32)
    segments = []
    for speaker, offset, (wave, phones), text, kind in placed:
        a = int(round(offset * SR))
        tracks[speaker, a:a + len(wave)] += wave
        t0 = a / SR
        shifted = [Phone(p.symbol, p.start + t0, p.end + t0, p.stress, p.alphabet) for p in phones]
        segments.append(SpeechSegment(speaker, shifted[0].start, shifted[-1].end, text, kind, shifted))
    return DialogueTiming(max(tail, n / SR), segments), tracks


def pad_to(timing: DialogueTiming, tracks: np.ndarray, duration: float) -> tuple[DialogueTiming, np.ndarray]:
    """Extend the timeline with silence to ``duration`` seconds (never shortens)."""
    n = max(tracks.shape[1], int(round(duration * SR)))
    out = np.zeros((2, n), np.float32)
    out[:, :tracks.shape[1]] = tracks
    return DialogueTiming(n / SR, timing.segments), out


# --- per-person augmentation ------------------------------------------------------------------

@dataclass
class PersonAug:
    speed: float = 1.0          # resampling factor (>1: faster and higher)
    tempo: float = 1.0          # sox tempo factor (>1: faster, same pitch)
    pitch_cents: float = 0.0    # pitch shift (resampling + tempo correction; same duration)
    gain_db: float = 0.0
    eq: list[tuple[str, float, float, float]] = field(default_factory=list)  # kind, f0, gain_db, q

    def to_json(self) -> dict:
        return asdict(self)


def sample_person_aug(rng: np.random.Generator) -> PersonAug:
    """Random per-person settings (the same draws with or without sox; without it the tempo
    and pitch changes, which need sox, are left out)."""
    aug = PersonAug(speed=round(float(rng.uniform(0.92, 1.08)), 3),
                    gain_db=float(rng.uniform(-6.0, 2.0)), eq=_sample_eq(rng, 0.7))
    tempo, use_tempo = float(rng.uniform(0.85, 1.18)), rng.random() < 0.5
    cents, use_pitch = float(rng.uniform(-250.0, 250.0)), rng.random() < 0.3
    if sox_available():
        aug.tempo = tempo if use_tempo else 1.0
        aug.pitch_cents = cents if use_pitch else 0.0
    return aug


def augment_clips(clips: list[Clip], aug: PersonAug) -> list[Clip]:
    """Speed, pitch and tempo changes of one person's clips; phone times follow.

    A pitch shift of c cents is a resampling speed-up by r = 2^(c/1200) (exact) followed by
    sox ``tempo`` by 1/r, folded into the one tempo pass: the clip ends up 1/(speed * tempo)
    as long and only one WSOLA pass touches the timing."""
    r = 2.0 ** (aug.pitch_cents / 1200.0)
    if aug.speed * r != 1.0:
        clips = [_speed(c, aug.speed * r) for c in clips]
    if abs(aug.tempo / r - 1.0) > 1e-4:
        clips = _sox_tempo(clips, aug.tempo / r)
    return clips


def finish_track(track: np.ndarray, aug: PersonAug) -> np.ndarray:
    """EQ and gain of one person's placed track."""
    return (apply_eq(track, aug.eq) * 10 ** (aug.gain_db / 20)).astype(np.float32)


def _scaled(phones: list[Phone], factor: float, shift: float = 0.0) -> list[Phone]:
    return [Phone(p.symbol, p.start * factor + shift, p.end * factor + shift, p.stress, p.alphabet)
            for p in phones]


def _speed(clip: Clip, speed: float) -> Clip:
    """Play the clip ``speed`` times faster (read as if recorded at speed * SR; pitch and
    formants rise with it); the factor is rounded to 1/1000."""
    wave, phones = clip
    k = int(round(speed * 1000))
    out = fft_resample(wave, SR * k // 1000, SR)
    return out.astype(np.float32), _scaled(phones, 1000.0 / k)


def sox_available() -> bool:
    return shutil.which("sox") is not None


def _sox_tempo(clips: list[Clip], tempo: float) -> list[Clip]:
    """One sox call for all clips of a person (joined with 0.25 s silences, then split at the
    tempo-scaled offsets). sox's WSOLA keeps local timing within about a search window (~15 ms)."""
    pad = int(0.25 * SR)
    offsets, parts, pos = [], [], pad
    for wave, _ in clips:
        offsets.append(pos)
        parts += [np.zeros(pad, np.float32), wave]
        pos += pad + len(wave)
    parts.append(np.zeros(pad, np.float32))
    joined = np.concatenate(parts).astype(np.float32)
    fmt = ["-t", "raw", "-r", str(SR), "-e", "floating-point", "-b", "32", "-c", "1"]
    res = subprocess.run(["sox", "-V1", *fmt, "-", *fmt, "-", "tempo", "-s", f"{tempo:.5f}"], input=joined.tobytes(),
                         capture_output=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"sox failed: {res.stderr.decode(errors='replace')[-300:]}")
    out = np.frombuffer(res.stdout, np.float32)
    result = []
    for (wave, phones), off in zip(clips, offsets):
        a = int(round(off / tempo))
        b = min(len(out), a + int(round(len(wave) / tempo)))
        result.append((out[a:b].copy(), _scaled(phones, 1.0 / tempo)))
    return result


# --- EQ (RBJ biquads, applied through their frequency response) ------------------------------

def _sample_eq(rng: np.random.Generator, p: float) -> list[tuple[str, float, float, float]]:
    bands = []
    if rng.random() < p:
        bands.append(("peak", float(rng.uniform(250, 4000)), float(rng.uniform(-6, 6)),
                      float(rng.uniform(0.7, 2.0))))
    if rng.random() < p / 2:
        bands.append(("lowshelf", float(rng.uniform(100, 400)), float(rng.uniform(-6, 6)), 0.7))
    if rng.random() < p / 2:
        bands.append(("highshelf", float(rng.uniform(2500, 6000)), float(rng.uniform(-8, 4)), 0.7))
    if rng.random() < p / 3:
        bands.append(("highpass", float(rng.uniform(60, 250)), 0.0, 0.707))
    return bands


def biquad(kind: str, f0: float, gain_db: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """RBJ audio-EQ-cookbook coefficients (b, a), normalised so a[0] = 1."""
    a_ = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / SR
    cw, alpha = np.cos(w0), np.sin(w0) / (2 * q)
    if kind == "peak":
        b = [1 + alpha * a_, -2 * cw, 1 - alpha * a_]
        a = [1 + alpha / a_, -2 * cw, 1 - alpha / a_]
    elif kind in ("lowshelf", "highshelf"):
        s = 1 if kind == "lowshelf" else -1
        sq = 2 * np.sqrt(a_) * alpha
        b = [a_ * ((a_ + 1) - s * (a_ - 1) * cw + sq), s * 2 * a_ * ((a_ - 1) - s * (a_ + 1) * cw),
             a_ * ((a_ + 1) - s * (a_ - 1) * cw - sq)]
        a = [(a_ + 1) + s * (a_ - 1) * cw + sq, -s * 2 * ((a_ - 1) + s * (a_ + 1) * cw),
             (a_ + 1) + s * (a_ - 1) * cw - sq]
    elif kind == "highpass":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    else:
        raise ValueError(f"unknown EQ band {kind!r}")
    return np.array(b) / a[0], np.array(a) / a[0]


def eq_response(bands, n: int) -> np.ndarray:
    """Complex frequency response (n // 2 + 1,) of the product of biquad bands at the bins of
    an n-point real FFT."""
    z1 = np.exp(-1j * np.pi * np.arange(n // 2 + 1) / (n / 2))
    z2 = z1 * z1
    h = np.ones(n // 2 + 1, complex)
    for band in bands:
        b, a = biquad(*band)
        h *= (b[0] + b[1] * z1 + b[2] * z2) / (a[0] + a[1] * z1 + a[2] * z2)
    return h


def apply_eq(x: np.ndarray, bands) -> np.ndarray:
    """Filter through the bands' combined frequency response (one zero-padded FFT)."""
    if not bands:
        return x
    n = _fft_size(len(x) + 4096)
    return np.fft.irfft(np.fft.rfft(x, n) * eq_response(bands, n), n)[:len(x)].astype(np.float32)


def _fft_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (fast for pocketfft)."""
    best = 1 << int(np.ceil(np.log2(max(n, 2))))
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35 * (1 << max(0, int(np.ceil(np.log2(n / p35)))))
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


# --- per-mix augmentation ---------------------------------------------------------------------

@dataclass
class MixAug:
    rt60: float = 0.0           # seconds; 0 = dry
    wet: float = 0.0            # reverb level relative to the direct sound
    noise: str = "none"         # none, pink, brown, babble
    snr_db: float = 40.0
    gain_db: float = 0.0
    eq: list[tuple[str, float, float, float]] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def sample_mix_aug(rng: np.random.Generator) -> MixAug:
    aug = MixAug(gain_db=float(rng.uniform(-4, 2)), eq=_sample_eq(rng, 0.5))
    if rng.random() < 0.7:
        aug.rt60, aug.wet = float(rng.uniform(0.15, 0.8)), float(rng.uniform(0.1, 0.6))
    if rng.random() < 0.85:
        aug.noise = str(rng.choice(["pink", "brown", "babble"], p=[0.4, 0.25, 0.35]))
        aug.snr_db = float(rng.uniform(10, 40))
    return aug


def mix_tracks(tracks: np.ndarray) -> np.ndarray:
    """The plain mix: the sum of the per-person tracks."""
    return tracks.sum(axis=0).astype(np.float32)


def augment_mix(mix: np.ndarray, aug: MixAug, rng: np.random.Generator,
                babble_source: list[np.ndarray] | None = None) -> np.ndarray:
    """Room, EQ, noise and gain of the mixed track."""
    y = mix
    if aug.rt60 > 0 or aug.eq:
        ir = room_impulse(aug.rt60, aug.wet, rng) if aug.rt60 > 0 else np.ones(1, np.float32)
        n = _fft_size(len(y) + len(ir) + 4096)
        y = np.fft.irfft(np.fft.rfft(y, n) * np.fft.rfft(ir, n) * eq_response(aug.eq, n), n)[:len(mix)]
        y = (y * np.sqrt(np.sum(mix ** 2) / (np.sum(y ** 2) + 1e-12))).astype(np.float32)
    if aug.noise != "none":
        noise = make_noise(aug.noise, len(y), rng, babble_source)
        y = y + scale_to_snr(y, noise, aug.snr_db)
    return (y * 10 ** (aug.gain_db / 20)).astype(np.float32)


def room_impulse(rt60: float, wet: float, rng: np.random.Generator) -> np.ndarray:
    """Direct sound plus a few early reflections plus an exponentially decaying noise tail."""
    n = int(rt60 * 1.2 * SR)
    t = np.arange(n) / SR
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[: int(0.005 * SR)] = 0.0                             # the tail starts after 5 ms
    tail = np.convolve(tail, [0.5, 0.3, 0.2], mode="same")    # soften the top end
    ir = wet * tail / (np.sqrt(np.sum(tail ** 2)) + 1e-9)
    ir[0] += 1.0
    for _ in range(int(rng.integers(2, 6))):                  # early reflections, 3-30 ms
        ir[int(rng.uniform(0.003, 0.03) * SR)] += float(rng.uniform(0.1, 0.5)) * wet
    return ir.astype(np.float32)


def make_noise(kind: str, n: int, rng: np.random.Generator,
               babble_source: list[np.ndarray] | None = None) -> np.ndarray:
    """Unit-power noise: pink (1/f power), brown (1/f^2) or babble (4-7 overlapping talkers)."""
    if kind == "babble" and babble_source:
        noise = babble(n, rng, babble_source)
    else:
        exponent = {"pink": 0.5, "brown": 1.0}.get(kind, 0.0)
        m = _fft_size(n)
        spec = np.fft.rfft(rng.standard_normal(m))
        f = np.maximum(np.fft.rfftfreq(m, 1 / SR), 20.0)
        noise = np.fft.irfft(spec / f ** exponent, m)[:n]
    noise = noise - noise.mean()
    return (noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)).astype(np.float32)


def babble(n: int, rng: np.random.Generator, source: list[np.ndarray]) -> np.ndarray:
    """Several talkers at once, each a random run of the source utterances (looped)."""
    out = np.zeros(n, np.float32)
    for _ in range(int(rng.integers(4, 8))):
        order = rng.permutation(len(source))
        stream = np.concatenate([source[i] for i in order])
        stream = np.tile(stream, int(np.ceil(n / len(stream))) + 1)
        start = int(rng.integers(len(stream) - n + 1))
        out += stream[start:start + n] * float(rng.uniform(0.5, 1.0))
    return out


def active_power(speech: np.ndarray) -> float:
    """Mean power of speech while it is heard: over the 20 ms frames above -40 dB of the
    loudest one, so that pauses do not make a voice count as quiet (0 for silence)."""
    frames = speech[: len(speech) // 320 * 320].reshape(-1, 320)
    power = np.mean(frames ** 2, axis=1)
    if not power.size or power.max() <= 0:
        return 0.0
    return float(np.mean(power[power > power.max() * 1e-4]))


def scale_to_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Scale ``noise`` so that active speech power (``active_power``) / noise power is ``snr_db``."""
    pn = float(np.mean(noise ** 2)) + 1e-12
    return noise * np.sqrt(active_power(speech) / pn / 10 ** (snr_db / 10))
