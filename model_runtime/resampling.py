"""Band-limited resampling of audio to the runtime's 16 kHz, for any input rate.

numpy + torch only (Blender's Python ships no scipy). Output sample n sits exactly at time
n / sr_out. Every integer rate pair runs as one exact polyphase stage whose table stays under
_MAX_TABLE; pairs whose exact table would not fit (very high, odd rates) run in two stages.
A rate no audio has (a damaged or hostile header) is refused before any buffer is sized.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

import numpy as np
import torch

from .errors import AudioError

MIN_SAMPLE_RATE = 1_000         # Hz; outside these a header is damaged or the file is not audio
MAX_SAMPLE_RATE = 1_000_000

# Anti-aliasing filter: passband up to 90 % of the lower Nyquist, 32 zero crossings per side,
# Kaiser beta 8.6 (about -85 dB stopband). Same ballpark as soxr's "high quality".
_ROLLOFF = 0.90
_ZERO_CROSSINGS = 32
_KAISER_BETA = 8.6
BLOCK_OUT = 1 << 19            # output samples per resampling block (~33 s at 16 kHz)
_MAX_BLOCK_IN = 1 << 22         # input samples per block at most (high rates: shorter blocks)
_GROUPS = (32, 16, 8)           # outputs per column of a polyphase matrix (tried in turn)
_MAX_TABLE = 8 << 20            # floats in one rate's polyphase matrices (32 MB)

def check_sample_rate(sr, what: str = "audio") -> int:
    """The rate as an int; AudioError for a rate no audio has (a damaged or hostile header
    claiming 2,147,483,647 Hz would otherwise size gigabytes of buffers)."""
    try:
        ok = float(sr).is_integer() and MIN_SAMPLE_RATE <= float(sr) <= MAX_SAMPLE_RATE
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise AudioError(f"{what} has a sample rate of {sr} Hz; {MIN_SAMPLE_RATE // 1000} kHz to "
                         f"{MAX_SAMPLE_RATE // 1_000_000} MHz is supported: the file is damaged or not "
                         "audio. Re-export it (e.g. as a 48 kHz WAV).")
    return int(sr)


def _kernel(frac: torch.Tensor, fc: float, half: int) -> torch.Tensor:
    """(len(frac), 2K) Kaiser-windowed sinc: row i weights input sample base-K+1+j for an
    output whose position lies frac[i] (0 <= frac < 1) of a sample after input index base."""
    taps = torch.arange(-half + 1, half + 1, dtype=torch.float64)       # (2K,)
    d = taps[None, :] - frac.to(torch.float64)[:, None]                 # distance in samples
    w = torch.special.i0(_KAISER_BETA * torch.sqrt(torch.clamp(1.0 - (d / half) ** 2, min=0.0)))
    h = 2.0 * fc * torch.sinc(2.0 * fc * d) * w
    h /= h.sum(dim=1, keepdim=True)                 # exact unity gain at DC for every phase
    return h.float()


class _Polyphase:
    """Band-limited resampling (Kaiser-windowed sinc) by the exact ratio up/down, as matrix
    products.

    Output n sits at input position n*down/up. Outputs n = i*U + r (U: up times enough periods
    to fill a group) share a filter phase and an input offset per residue r, and their inputs
    start D apart; so a group of F consecutive residues is one (periods, W) x (W, F) product
    over strided input windows: dense, fast, and the same for every block."""

    def __init__(self, up: int, down: int, half: int, fc: float, group: int):
        self.up, self.down, self.half = up, down, half
        k = -(-group // up)                          # periods per row, so a row fills a group
        self.U, self.D, self.F = up * k, down * k, min(group, up * k)
        r = np.arange(self.U, dtype=np.int64)
        b, p = (r * down) // up, (r * down) % up     # input offset and phase of each residue
        self.G = -(-self.U // self.F)
        g, f = r // self.F, r % self.F
        self.offsets = b[:: self.F].copy()           # (G,) first input offset of each group
        o = b - self.offsets[g]
        taps = 2 * half
        self.W = int(o.max()) + taps
        flat = torch.zeros(self.G * self.F * self.W)  # (G, F, W), transposed below
        j = torch.arange(taps)
        for s in range(0, self.U, 1024):              # bounded temporaries
            sl = slice(s, s + 1024)
            start = torch.from_numpy((g[sl] * self.F + f[sl]) * self.W + o[sl])
            h = _kernel(torch.from_numpy(p[sl]) / up, fc, half)
            flat[(start[:, None] + j[None]).reshape(-1)] = h.reshape(-1)
        self.table = flat.view(self.G, self.F, self.W).transpose(1, 2).contiguous()   # (G, W, F)

    @staticmethod
    def table_size(up: int, down: int, half: int, group: int) -> int:
        """Floats in the matrices (an upper bound), known before building them."""
        u = up * -(-group // up)
        f = min(group, u)
        return -(-u // f) * f * (-(-(f - 1) * down // up) + 1 + 2 * half)

    def length(self, n_in: int) -> int:
        return -(-n_in * self.up // self.down)   # ceil: every output whose time lies inside the input

    def block_step(self) -> int:
        """Outputs per block: BLOCK_OUT, fewer at high input rates (_MAX_BLOCK_IN), whole periods."""
        n = min(BLOCK_OUT, _MAX_BLOCK_IN * self.up // self.down)
        return max(self.U, n // self.U * self.U)

    def render(self, read: Callable[[int, int], np.ndarray], n0: int, n1: int) -> np.ndarray:
        """Outputs [n0, n1) (n0 >= 0, or negative: those before the input, near zero);
        read(s0, s1) gives input samples [s0, s1), zeros outside the signal."""
        q = n0 * self.down                                    # n0's position in 1/up samples
        r0 = (q % self.up) * pow(self.down, -1, self.up) % self.up if self.up > 1 else 0
        base = (q - r0 * self.down) // self.up               # input index of residue 0's period
        cols = -(-(r0 + n1 - n0) // self.U)
        s0 = base - self.half + 1
        span = (cols - 1) * self.D + int(self.offsets[-1]) + self.W
        buf = torch.from_numpy(np.ascontiguousarray(read(s0, s0 + span), dtype=np.float32))
        out = torch.empty(self.G, cols, self.F)
        for gi, off in enumerate(self.offsets.tolist()):
            x = buf[off: off + (cols - 1) * self.D + self.W].unfold(0, self.W, self.D)
            torch.matmul(x, self.table[gi], out=out[gi])
        out = out.permute(1, 0, 2).reshape(cols, self.G * self.F)[:, : self.U]
        return out.reshape(-1)[r0: r0 + n1 - n0].numpy()


class _TwoStage:
    """Resampling for rates whose exact ratio would need too large a table (odd rates above
    ~100 kHz, e.g. 192,001 Hz: 16,000 phases of 850 taps). Stage 1 resamples by a small exact
    ratio (decimating by an integer, typically) with the full anti-aliasing filter (_Polyphase)
    to 2-4 times the output rate; stage 2 goes from there to the output with a short windowed
    sinc at each output's exact position, its phase interpolated between 1024 tabulated ones.
    Timing is exact; the added error is below the first stage's stopband."""

    _PHASES = 1024
    _HALF = 8                  # stage-2 taps per side: the band ends far below its Nyquist

    def __init__(self, sr_in: int, sr_out: int, half: int, fc: float):
        # stage 1: an exact small ratio to a rate of at least twice the output's
        u1, d1 = (1, sr_in // (2 * sr_out)) if sr_in >= 2 * sr_out else (-(-2 * sr_out // sr_in), 1)
        self.stage1 = _Polyphase(u1, d1, half, fc, _GROUPS[0])
        g = math.gcd(sr_in * u1, sr_out * d1)
        self.num, self.den = sr_in * u1 // g, sr_out * d1 // g   # stage-1 samples per output
        g = math.gcd(sr_in, sr_out)
        self.up, self.down = sr_out // g, sr_in // g
        # stage 2: cutoff at the stage-1 rate's Nyquist; its signal ends below half of that
        self.table = _kernel(torch.arange(self._PHASES + 1) / self._PHASES, 0.5, self._HALF)

    def length(self, n_in: int) -> int:
        return -(-n_in * self.up // self.down)

    def block_step(self) -> int:
        return max(1, min(BLOCK_OUT, _MAX_BLOCK_IN * self.up // self.down))

    def render(self, read: Callable[[int, int], np.ndarray], n0: int, n1: int) -> np.ndarray:
        half = self._HALF
        pos = torch.arange(n0, n1, dtype=torch.int64) * self.num       # in 1/den stage-1 samples
        base = pos // self.den
        a0 = int(base[0]) - half + 1
        a1 = int(base[-1]) + half + 1
        mid = torch.from_numpy(self.stage1.render(read, a0, a1))
        frac = (pos % self.den).double() * (self._PHASES / self.den)
        k = frac.floor()
        t = (frac - k).float()[:, None]
        k = k.long()
        out = torch.empty(n1 - n0)
        j = torch.arange(2 * half)
        for s in range(0, n1 - n0, 1 << 16):                           # bounded temporaries
            sl = slice(s, s + (1 << 16))
            coef = self.table[k[sl]] * (1 - t[sl]) + self.table[k[sl] + 1] * t[sl]
            win = mid[(base[sl] - half + 1 - a0)[:, None] + j[None]]
            out[sl] = (coef * win).sum(dim=1)
        return out.numpy()


@lru_cache(maxsize=4)
def resampler(sr_in: int, sr_out: int) -> _Polyphase | _TwoStage:
    """The resampler for a rate pair: one exact polyphase stage whenever its table fits
    _MAX_TABLE (every rate up to ~100 kHz, and round ratios at any rate), else _TwoStage."""
    g = math.gcd(sr_in, sr_out)
    up, down = sr_out // g, sr_in // g
    fc = 0.5 * min(1.0, up / down) * _ROLLOFF       # cutoff in cycles per input sample
    half = int(math.ceil(_ZERO_CROSSINGS / (2.0 * fc)))
    for group in _GROUPS:
        if _Polyphase.table_size(up, down, half, group) <= _MAX_TABLE:
            return _Polyphase(up, down, half, fc, group)
    return _TwoStage(sr_in, sr_out, half, fc)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling of a 1-D signal with a Kaiser-windowed sinc (polyphase).

    Output sample n sits at time n / sr_out; the signal is taken as zero outside its ends."""
    x = np.asarray(x, dtype=np.float32)
    sr_in, sr_out = check_sample_rate(sr_in), check_sample_rate(sr_out, "the target")
    if sr_in == sr_out:
        return x.copy()
    rs = resampler(sr_in, sr_out)
    n_out = rs.length(len(x))
    out = np.empty(n_out, dtype=np.float32)
    xt = torch.from_numpy(x)
    step = rs.block_step()
    for n0 in range(0, n_out, step):
        n1 = min(n_out, n0 + step)
        out[n0:n1] = rs.render(lambda s0, s1: padded_slice(xt, s0, s1).numpy(), n0, n1)
    return out


def padded_slice(x: torch.Tensor, s0: int, s1: int) -> torch.Tensor:
    """x[s0:s1] with zeros where the range runs past either end."""
    lo, hi = max(s0, 0), min(s1, x.numel())
    part = x[lo:hi] if hi > lo else x[:0]
    return torch.nn.functional.pad(part, (lo - s0, s1 - s0 - (lo - s0) - part.numel()))
