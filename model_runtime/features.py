"""Audio features at the model frame rate: stacked log-mel sub-frames plus prosody.

All PyTorch and vectorised (no per-frame Python loops), so ten minutes of audio take a
fraction of a second on a CPU. Features are normalised per file so that the level a
recording happens to have (strip volume, microphone gain) barely changes them.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from .resampling import padded_slice
from .timebase import HOP, SAMPLE_RATE, num_frames

SUB_HOP = 160                            # 10 ms sub-frames
SUB_WIN = 400                            # 25 ms analysis window
N_FFT = 512
N_MELS = 40
SUBFRAMES = HOP // SUB_HOP               # 4 sub-frames per model frame
MEL_DIM = SUBFRAMES * N_MELS             # 160
PROSODY_NAMES = ("log_energy", "log_pitch", "voicing", "energy_delta")
FEATURE_DIM = MEL_DIM + len(PROSODY_NAMES)  # 164

F0_MIN, F0_MAX = 60.0, 400.0
_PITCH_WIN = 800                         # 50 ms: two periods of the lowest pitch, plus margin
_PITCH_NFFT = 1152                       # >= window + longest lag: no circular wrap
_CHUNK = 4096                            # frames per vectorised batch
_VOICED_MIN = 0.45                       # normalised autocorrelation needed to call it voiced
_OCTAVE_COST = 0.04                      # per octave of lag: prefer the shorter lag (Praat-like)
_REL_FLOOR = 1e-8                        # power floor relative to the file's loudest (-80 dB)
_SAFE_PEAK = 2.0 ** 8                    # louder input is scaled down first (see _as_tensor)


def _as_tensor(wave) -> torch.Tensor:
    """The signal as float32; one far above full scale (a float file at x1e30) scaled down by a
    power of two: every feature is relative to the file's own level, and squares, spectra and
    autocorrelation products of such samples overflow float32 (inf, then NaN)."""
    x = torch.as_tensor(np.asarray(wave) if not torch.is_tensor(wave) else wave)
    x = x.detach().to(torch.float32).reshape(-1).cpu()
    if x.numel():
        lo, hi = torch.aminmax(x)
        peak = max(-float(lo), float(hi))
        if _SAFE_PEAK < peak < math.inf:
            x = x * 2.0 ** -math.ceil(math.log2(peak))
    return x


@lru_cache(maxsize=4)
def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sr: int = SAMPLE_RATE,
                   fmin: float = 20.0, fmax: float = 7600.0) -> torch.Tensor:
    """(n_fft//2+1, n_mels) triangular HTK-mel filters, area-normalised (Slaney style)."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    bins = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)[:, None]
    lo, mid, hi = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    tri = np.maximum(0.0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))
    tri *= 2.0 / (hi - lo)
    return torch.from_numpy(tri.astype(np.float32))


def mel_power(wave, n_frames: int | None = None, start: int = 0) -> torch.Tensor:
    """(SUBFRAMES * T, N_MELS) mel power of 10 ms sub-frames; sub-frame j of model frame t
    is centred at sample 640 t + 160 j + 80, so the four tile the model frame.

    ``start`` is where model frame 0 begins in ``wave`` (a block read with context before it)
    and ``n_frames`` how many frames to analyse (default: those the signal covers)."""
    x = _as_tensor(wave)
    n_sub = (num_frames(x.numel()) if n_frames is None else n_frames) * SUBFRAMES
    left = SUB_WIN // 2 - SUB_HOP // 2 - start             # 120: centre the window on the hop
    out = torch.empty(n_sub, N_MELS)
    fb, win = mel_filterbank(), _hann(SUB_WIN)
    # chunks keep temporaries in cache (one big batch is several times slower) and memory
    # flat: only a chunk of the signal is ever framed
    for i, frames in _frame_chunks(x, n_sub, SUB_WIN, SUB_HOP, left, _CHUNK):
        spec = torch.fft.rfft(frames * win, n=N_FFT)
        out[i: i + len(frames)] = torch.view_as_real(spec).square().sum(-1) @ fb
    return out


def _frame_chunks(x: torch.Tensor, n_frames: int, win: int, hop: int, left: int, chunk: int):
    """(first frame index, (k, win) frames) chunk by chunk: frame j covers samples
    [j hop - left, j hop - left + win), zero outside the signal. Each chunk copies only its
    own stretch of the signal, never the whole padded signal."""
    for i in range(0, n_frames, chunk):
        k = min(chunk, n_frames - i)
        start = i * hop - left
        yield i, padded_slice(x, start, start + (k - 1) * hop + win).unfold(0, win, hop)[:k]


@lru_cache(maxsize=4)
def _hann(n: int) -> torch.Tensor:
    return torch.hann_window(n, periodic=False)


def frame_power(wave, n_frames: int | None = None, start: int = 0) -> torch.Tensor:
    """(T,) mean power per model frame (past the signal's end: zeros). Summed in float64 chunk
    by chunk: a whole hour in float64 at once would take a gigabyte or more."""
    x = _as_tensor(wave)
    t = num_frames(x.numel() - start) if n_frames is None else n_frames
    out = torch.empty(t)
    for i in range(0, t, _CHUNK):
        frames = min(_CHUNK, t - i)
        part = padded_slice(x, start + i * HOP, start + (i + frames) * HOP)
        out[i: i + frames] = part.view(frames, HOP).double().square().mean(dim=1).float()
    return out


def pitch_raw(wave, n_frames: int | None = None, start: int = 0) -> tuple[torch.Tensor, ...]:
    """(lag in samples, correlation strength, window power) per model frame, before the
    file-wide decisions of pitch_from_raw (``start`` and ``n_frames`` as for mel_power).

    Each model frame's 50 ms window (centred on the frame) is correlated with itself at
    every lag of 60-400 Hz at once via FFT; the normalisation uses the energies of the two
    overlapping parts, so strength is 1 for a perfectly periodic signal at any level."""
    x = _as_tensor(wave)
    t = num_frames(x.numel() - start) if n_frames is None else n_frames
    lag_lo = int(SAMPLE_RATE / F0_MAX)
    lag_hi = int(math.ceil(SAMPLE_RATE / F0_MIN)) + 1
    lags = torch.arange(lag_lo - 1, lag_hi + 2)
    lag, strength, power = torch.empty(t), torch.empty(t), torch.empty(t)
    for i, fr in _frame_chunks(x, t, _PITCH_WIN, HOP, (_PITCH_WIN - HOP) // 2 - start, _CHUNK // 4):
        fr = fr - fr.mean(dim=1, keepdim=True)
        spec = torch.fft.rfft(fr, n=_PITCH_NFFT)
        ac = torch.fft.irfft(torch.view_as_real(spec).square().sum(-1), n=_PITCH_NFFT)
        chunk = slice(i, i + len(fr))
        lag[chunk], strength[chunk] = _best_lag(_normalised_ac(fr, ac, lags), lags, lag_lo)
        power[chunk] = fr.square().mean(dim=1)
    return lag, strength, power


def pitch_from_raw(lag: torch.Tensor, strength: torch.Tensor, power: torch.Tensor):
    """(f0 Hz, voicing strength) per frame: voiced where the correlation is strong and the
    frame within 50 dB of the file's loudest; f0 is 0 where unvoiced."""
    audible = power > power.max().clamp_min(1e-20) * 1e-5 if power.numel() else power > 0
    voiced = (strength >= _VOICED_MIN) & audible
    f0 = torch.where(voiced, SAMPLE_RATE / lag, torch.zeros_like(lag))
    return f0, torch.where(audible, strength, torch.zeros_like(strength))


def pitch_track(wave) -> tuple[torch.Tensor, torch.Tensor]:
    """(f0 Hz, voicing strength) per model frame by normalised autocorrelation (pitch_raw)."""
    return pitch_from_raw(*pitch_raw(wave))


def _best_lag(r: torch.Tensor, lags: torch.Tensor, lag_lo: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(fractional lag, strength) per frame from normalised autocorrelations (F, len(lags))."""
    # octave cost: a period's multiples correlate almost as well; favour the shortest
    score = r - _OCTAVE_COST * torch.log2(lags.float() / lag_lo)
    k = score[:, 1:-1].argmax(dim=1) + 1
    idx = torch.arange(r.shape[0])
    s_m, s_0, s_p = r[idx, k - 1], r[idx, k], r[idx, k + 1]
    denom = s_m - 2 * s_0 + s_p
    shift = torch.where(denom < -1e-6, 0.5 * (s_m - s_p) / denom, torch.zeros_like(s_0))
    return lags[k].float() + shift.clamp(-0.5, 0.5), s_0.clamp(0.0, 1.0)


def _normalised_ac(frames: torch.Tensor, ac: torch.Tensor, lags: torch.Tensor) -> torch.Tensor:
    """r(τ) = Σ x[n] x[n+τ] / sqrt(Σ_{n<W-τ} x² · Σ_{n≥τ} x²) for the given lags."""
    sq = frames.square()
    csum = torch.nn.functional.pad(sq.cumsum(dim=1), (1, 0))        # csum[:, i] = Σ_{n<i}
    total = csum[:, -1:]
    head = csum[:, _PITCH_WIN - lags]                               # Σ_{n < W-τ}
    tail = total - csum[:, lags]                                    # Σ_{n ≥ τ}
    return ac[:, lags] / torch.sqrt(head * tail + 1e-12 * total.square() + 1e-30)


# --------------------------------------------------------------------------- file-wide levels
class BandMedians:
    """Per-band median of mel power over a whole file, accumulated block by block in a
    histogram of 1/128 octave bins (the median, interpolated in its bin, is within a small
    fraction of a dB of the exact one; the memory is the same for a minute or two hours).
    Also keeps the loudest value, which sets the log floor."""

    _LOW, _HIGH, _PER_OCTAVE = -100, 30, 128          # log2 range of mel power (audio peaks at <= 2^8)

    def __init__(self) -> None:
        self.bins = (self._HIGH - self._LOW) * self._PER_OCTAVE
        self.counts = np.zeros((N_MELS, self.bins), dtype=np.int32)     # 2 hours: < 1e6 per band
        self.loudest = 0.0

    def add(self, mp: torch.Tensor) -> None:
        """mp: (S, N_MELS) mel power of sub-frames."""
        if not mp.numel():
            return
        self.loudest = max(self.loudest, float(mp.max()))
        pos = (torch.log2(mp.clamp_min(2.0 ** self._LOW)) - self._LOW) * self._PER_OCTAVE
        idx = pos.long().clamp_(0, self.bins - 1) + torch.arange(N_MELS) * self.bins
        counts = torch.bincount(idx.reshape(-1), minlength=N_MELS * self.bins)
        self.counts += counts.numpy().reshape(N_MELS, self.bins)

    def medians(self) -> torch.Tensor:
        """(N_MELS,) the lower median of each band (as torch.median), in mel power."""
        total = int(self.counts[0].sum())
        if total == 0:
            return torch.zeros(N_MELS)
        k = (total - 1) // 2                               # 0-based rank of the lower median
        cum = np.cumsum(self.counts, axis=1)
        b = (cum <= k).sum(axis=1)                         # the bin holding rank k, per band
        below = np.where(b > 0, cum[np.arange(N_MELS), b - 1], 0)
        inside = self.counts[np.arange(N_MELS), b]
        pos = b + (k - below + 0.5) / inside               # interpolated within the bin
        return torch.from_numpy(2.0 ** (pos / self._PER_OCTAVE + self._LOW)).float()


def log_mel(mp: torch.Tensor, loudest: float) -> torch.Tensor:
    """Natural-log mel power with a floor 80 dB below the file's loudest band value, so
    digital silence does not produce -inf or gain-dependent values."""
    return torch.log(mp + max(loudest, 1e-20) * _REL_FLOOR)


def normalised_mel(mp: torch.Tensor, levels: BandMedians) -> torch.Tensor:
    """(T, MEL_DIM) from (SUBFRAMES * T, N_MELS) mel power: log-mel minus the file's
    per-band median (gain and microphone colour cancel), scaled and clamped to about unit range."""
    centre = log_mel(levels.medians(), levels.loudest)     # log is monotone: median of the logs
    lm = ((log_mel(mp, levels.loudest) - centre) / 4.0).clamp(-4.0, 4.0)
    return lm.reshape(-1, MEL_DIM)


def prosody_from(power: torch.Tensor, f0: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """(T, 4) from the whole file's frame power and pitch: relative log energy, log pitch re
    the file's median voiced pitch (0 when unvoiced), voicing strength, and the energy's
    frame-to-frame slope."""
    if not power.numel():
        return torch.zeros(0, len(PROSODY_NAMES))
    ref = torch.quantile(power, 0.95).clamp_min(1e-20)
    log_e = torch.log((power + ref * _REL_FLOOR) / ref).clamp(-12.0, 3.0) / 4.0
    voiced = f0 > 0
    lf0 = torch.zeros_like(f0)
    if voiced.any():
        lp = torch.log2(f0[voiced])
        lf0[voiced] = (lp - lp.median()).clamp(-2.0, 2.0)
    padded = torch.nn.functional.pad(log_e[None, None], (1, 1), mode="replicate")[0, 0]
    delta = 0.5 * (padded[2:] - padded[:-2])
    return torch.stack([log_e, lf0, strength, delta], dim=1)


def audio_features(wave) -> torch.Tensor:
    """(T, FEATURE_DIM) float32 model features of a signal in memory, T = num_frames(len(wave)):
    the 160 normalised log-mel dims (four 10 ms sub-frames per 40 ms frame), then the four
    prosody dims. A conversation's audio gives the same, block by block (audio_scan.py)."""
    x = _as_tensor(wave)
    if num_frames(x.numel()) == 0:
        return torch.zeros(0, FEATURE_DIM)
    mp = mel_power(x)
    levels = BandMedians()
    levels.add(mp)
    return torch.cat([normalised_mel(mp, levels), prosody_from(frame_power(x), *pitch_track(x))], dim=1)


@lru_cache(maxsize=1)
def _speech_band() -> torch.Tensor:
    """Mel bands whose centre lies in 150-4000 Hz: where voices are, away from hum and hiss."""
    fb = mel_filterbank()
    centre = (fb * torch.linspace(0, 8000, fb.shape[0])[:, None]).sum(0) / fb.sum(0)
    return (centre > 150) & (centre < 4000)


def speech_band_db(mp: torch.Tensor) -> np.ndarray:
    """(T,) speech-band level per model frame in dB (floored at -120) from sub-frame mel power."""
    band = mp[:, _speech_band()].sum(dim=1).view(-1, SUBFRAMES).mean(dim=1)
    return (10.0 * torch.log10(band.double() + 1e-12)).float().numpy()


def envelope_from_power(power: torch.Tensor) -> np.ndarray:
    """(T,) RMS per model frame, smoothed over three frames (120 ms)."""
    rms = power.sqrt()
    if rms.numel() < 3:
        return rms.numpy().astype(np.float32)
    k = torch.full((1, 1, 3), 1.0 / 3.0)
    sm = torch.nn.functional.conv1d(rms[None, None], k, padding=1)[0, 0]
    # the ends see one zero-padded neighbour: rescale so a constant stays constant
    sm[0] *= 1.5
    sm[-1] *= 1.5
    return sm.numpy().astype(np.float32)


def speech_envelope(wave) -> np.ndarray:
    """(T,) RMS per model frame of a signal in memory, smoothed over three frames (120 ms)."""
    return envelope_from_power(frame_power(wave))
