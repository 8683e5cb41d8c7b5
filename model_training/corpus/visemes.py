"""Phonemes to mouth motion: viseme classes, their ARKit poses, and coarticulation.

Phones come in espeak-ng mnemonics (ASCII: ``p b m f v T D s z S Z tS dZ k g N n l r w j h @
3: a A: aI aU e eI I i: O: OI o oU u: U V {`` ...; stress ``'`` ``,`` and length ``:`` may be
attached; other languages add more) or in festival's English phone sets (radio: ``aa ae ah ao
aw ax ay eh er ey ih iy ow oy uh uw ... hh pau``; mrpa: ``ii uu oo @@ ai ei ou ...``) or, from
the neural voice, in IPA letters (one phone per letter: a diphthong is two).

Coarticulation follows Cohen & Massaro (1993): every viseme segment exerts a dominance
``alpha * exp(-distance / tau)`` over time, per articulator group (jaw, lip closure, rounding,
spreading, tongue), with wider anticipation than carry-over; each channel is the
dominance-weighted mean of the segments' targets. Alveolars and velars have weak lip
dominance, so a neighbouring /u/ rounds them ("stew"); bilabials and labiodentals have strong
lip dominance, and bilabial closures are additionally enforced at their frames so smoothing
never removes them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .timing import Phone

# --- viseme classes and their poses --------------------------------------------------------

SIL, PBM, FV, TH, TDNL, SZ, SH, KG, R, W, H = "SIL PBM FV TH TDNL SZ SH KG R W H".split()
IY, EH, AA, AH, AO, UW = "IY EH AA AH AO UW".split()
VOWEL_CLASSES = (IY, EH, AA, AH, AO, UW)
VISEME_CLASSES = (SIL, PBM, FV, TH, TDNL, SZ, SH, KG, R, W, H) + VOWEL_CLASSES

_LR = ("mouthPress", "mouthStretch", "mouthSmile", "mouthLowerDown", "mouthUpperUp", "mouthDimple")


def _pose(**kw: float) -> dict[str, float]:
    """A pose with symmetric Left/Right channels given once (``mouthPress=0.8``)."""
    out = {}
    for k, v in kw.items():
        if k in _LR:
            out[k + "Left"] = out[k + "Right"] = v
        else:
            out[k] = v
    return out


POSES: dict[str, dict[str, float]] = {
    SIL: _pose(),
    PBM: _pose(jawOpen=0.04, mouthClose=0.4, mouthPress=0.9, mouthRollLower=0.3,
               mouthRollUpper=0.22),
    FV: _pose(jawOpen=0.07, mouthRollLower=0.7, mouthUpperUp=0.25, mouthPress=0.1,
              mouthClose=0.1, mouthShrugUpper=0.1),
    TH: _pose(jawOpen=0.13, tongueOut=0.3, mouthLowerDown=0.12, mouthUpperUp=0.1,
              mouthStretch=0.1),
    TDNL: _pose(jawOpen=0.13, mouthStretch=0.1, mouthLowerDown=0.1, mouthUpperUp=0.05),
    SZ: _pose(jawOpen=0.05, mouthStretch=0.32, mouthSmile=0.1, mouthLowerDown=0.15,
              mouthUpperUp=0.18),
    SH: _pose(jawOpen=0.08, mouthFunnel=0.45, mouthPucker=0.3, mouthShrugUpper=0.3,
              mouthUpperUp=0.2, mouthLowerDown=0.15),
    KG: _pose(jawOpen=0.17, mouthStretch=0.08, mouthLowerDown=0.05),
    R: _pose(jawOpen=0.12, mouthFunnel=0.25, mouthPucker=0.32, mouthShrugUpper=0.2),
    W: _pose(jawOpen=0.06, mouthPucker=0.78, mouthFunnel=0.35, mouthClose=0.08),
    H: _pose(jawOpen=0.18, mouthLowerDown=0.05),
    IY: _pose(jawOpen=0.14, mouthStretch=0.42, mouthSmile=0.22, mouthUpperUp=0.1,
              mouthLowerDown=0.12),
    EH: _pose(jawOpen=0.32, mouthStretch=0.25, mouthSmile=0.08, mouthLowerDown=0.22,
              mouthUpperUp=0.06),
    AA: _pose(jawOpen=0.55, mouthLowerDown=0.3, mouthUpperUp=0.1, mouthStretch=0.1),
    AH: _pose(jawOpen=0.3, mouthLowerDown=0.18, mouthUpperUp=0.05, mouthShrugUpper=0.05),
    AO: _pose(jawOpen=0.4, mouthFunnel=0.5, mouthPucker=0.3, mouthLowerDown=0.15),
    UW: _pose(jawOpen=0.15, mouthPucker=0.8, mouthFunnel=0.5, mouthShrugUpper=0.1),
}

VISEME_CHANNELS: tuple[str, ...] = tuple(sorted({k for p in POSES.values() for k in p}))

# Articulator groups: each has its own dominance (Cohen-Massaro per-parameter dominance).
GROUPS = ("jaw", "lips", "round", "spread", "tongue")
_GROUP_OF = {}
for _c in VISEME_CHANNELS:
    if _c == "jawOpen":
        _GROUP_OF[_c] = "jaw"
    elif _c.startswith(("mouthClose", "mouthPress", "mouthRoll", "mouthLowerDown", "mouthUpperUp")):
        _GROUP_OF[_c] = "lips"
    elif _c.startswith(("mouthFunnel", "mouthPucker", "mouthShrug")):
        _GROUP_OF[_c] = "round"
    elif _c == "tongueOut":
        _GROUP_OF[_c] = "tongue"
    else:
        _GROUP_OF[_c] = "spread"

# Dominance magnitude per class and group (jaw, lips, round, spread, tongue).
_VOWEL_DOM = (1.0, 0.5, 0.6, 0.6, 0.3)
DOMINANCE: dict[str, tuple[float, ...]] = {
    SIL: (0.25, 0.25, 0.25, 0.25, 0.5),
    PBM: (0.8, 1.0, 0.25, 0.25, 0.3),
    FV: (0.5, 0.95, 0.2, 0.3, 0.3),
    TH: (0.4, 0.5, 0.2, 0.3, 1.0),
    TDNL: (0.25, 0.15, 0.05, 0.1, 0.3),
    SZ: (0.5, 0.4, 0.3, 0.5, 0.3),
    SH: (0.5, 0.5, 0.85, 0.3, 0.3),
    KG: (0.2, 0.1, 0.05, 0.05, 0.3),
    R: (0.3, 0.3, 0.6, 0.2, 0.3),
    W: (0.45, 0.5, 0.95, 0.4, 0.3),
    H: (0.04, 0.04, 0.04, 0.04, 0.3),
    IY: _VOWEL_DOM, EH: _VOWEL_DOM, AA: _VOWEL_DOM, AH: (0.9, 0.45, 0.5, 0.5, 0.3),
    AO: (1.0, 0.5, 0.9, 0.6, 0.3), UW: (1.0, 0.5, 0.95, 0.6, 0.3),
}
# Time constants (s) of the dominance decay before (anticipation) and after (carry-over) a
# segment, per group: lip rounding is anticipated furthest.
TAU_BEFORE = {"jaw": 0.05, "lips": 0.05, "round": 0.11, "spread": 0.07, "tongue": 0.04}
TAU_AFTER = {"jaw": 0.04, "lips": 0.04, "round": 0.06, "spread": 0.05, "tongue": 0.035}

# --- symbol classification ---------------------------------------------------------------

# A key: (class, jaw openness override or None). Diphthongs are lists of keys.
_V = {  # espeak vowels (ASCII mnemonics, stress and length stripped)
    "a": (AA, 0.58), "A": (AA, 0.62), "aa": (AA, 0.62), "{": (AA, 0.52), "&": (AA, 0.52),
    "E": (EH, 0.4), "e": (EH, 0.34), "I": (IY, 0.24), "i": (IY, 0.18), "y": (UW, 0.16),
    "Y": (AO, 0.28), "W": (AO, 0.34), "@": (AH, 0.26), "3": (AH, 0.3), "V": (AH, 0.44),
    "0": (AO, 0.52), "Q": (AO, 0.52), "O": (AO, 0.48), "o": (AO, 0.36), "U": (UW, 0.22),
    "u": (UW, 0.18), "8": (AH, 0.28),
}
_C = {  # espeak consonants
    "p": PBM, "b": PBM, "m": PBM, "f": FV, "v": FV, "T": TH, "D": TH, "t": TDNL, "d": TDNL,
    "n": TDNL, "l": TDNL, "L": TDNL, "s": SZ, "z": SZ, "ts": SZ, "dz": SZ, "S": SH, "Z": SH,
    "tS": SH, "dZ": SH, "k": KG, "g": KG, "N": KG, "x": KG, "C": KG, "c": KG, "J": KG,
    "G": KG, "q": KG, "R": KG, "?": H, "h": H, "r": R, "*": TDNL, "w": W, "j": IY, "B": W,
    "F": FV, "X": KG, "K": TDNL, "j/": IY,
}
# espeak diphthongs / vowel sequences, split in time.
_DIPH = {
    "aI": ("a", "I"), "aU": ("a", "U"), "eI": ("e", "I"), "OI": ("O", "I"), "oU": ("o", "U"),
    "@U": ("@", "U"), "e@": ("E", "@"), "i@": ("I", "@"), "U@": ("U", "@"), "A@": ("A", "@"),
    "O@": ("O", "@"), "o@": ("o", "@"), "aI@": ("a", "I", "@"), "aU@": ("a", "U", "@"),
    "i@3": ("I", "@"), "eU": ("e", "U"), "ai": ("a", "I"), "au": ("a", "U"), "ei": ("e", "I"),
    "oi": ("O", "I"), "ou": ("o", "U"), "ui": ("u", "I"), "Ei": ("E", "I"), "9y": ("Y", "y"),
    "aI3": ("a", "I", "@"), "IR": ("I", "@"), "VR": ("V",), "@L": ("@", "l"), "@5": ("@", "l"),
}

_F = {  # festival radio + mrpa phone sets (lower case, stress digits stripped)
    "pau": SIL, "h#": SIL, "#": SIL, "brk": SIL, "sil": SIL, "_": SIL,
    "aa": (AA, 0.62), "ae": (AA, 0.52), "ah": (AH, 0.44), "ao": (AO, 0.48), "ax": (AH, 0.26),
    "eh": (EH, 0.4), "ih": (IY, 0.24), "ix": (AH, 0.24), "iy": (IY, 0.18), "uh": (UW, 0.22),
    "uw": (UW, 0.18), "er": (R, 0.22), "axr": (R, 0.2), "a": (AA, 0.58), "e": (EH, 0.38),
    "i": (IY, 0.24), "o": (AO, 0.5), "u": (UW, 0.22), "ii": (IY, 0.18), "uu": (UW, 0.18),
    "oo": (AO, 0.48), "@": (AH, 0.26), "@@": (AH, 0.3),
    "p": PBM, "b": PBM, "m": PBM, "em": PBM, "f": FV, "v": FV, "th": TH, "dh": TH,
    "t": TDNL, "d": TDNL, "n": TDNL, "en": TDNL, "nx": TDNL, "dx": TDNL, "l": TDNL,
    "el": TDNL, "s": SZ, "z": SZ, "sh": SH, "zh": SH, "ch": SH, "jh": SH, "k": KG, "g": KG,
    "ng": KG, "hh": H, "h": H, "r": R, "w": W, "y": IY, "q": H, "x": KG,
}
_F_DIPH = {"aw": ("aa", "uh"), "ay": ("aa", "ih"), "ey": ("eh", "ih"), "ow": ("ao", "uh"),
           "oy": ("ao", "ih"), "ai": ("aa", "ih"), "ei": ("e", "ih"), "oi": ("o", "ih"),
           "au": ("aa", "uh"), "ou": ("@", "uh"), "e@": ("e", "@"), "i@": ("i", "@"),
           "u@": ("u", "@")}

IPA_VISEMES = {  # the neural voice's IPA letters (espeak-ng en-us), one phone per letter
    "i": (IY, 0.18), "ɪ": (IY, 0.24), "ᵻ": (IY, 0.24), "e": (EH, 0.34), "ɛ": (EH, 0.4),
    "æ": (AA, 0.52), "a": (AA, 0.58), "ɑ": (AA, 0.62), "ɒ": (AO, 0.52), "ɔ": (AO, 0.48),
    "o": (AO, 0.36), "ʊ": (UW, 0.22), "u": (UW, 0.18), "y": (UW, 0.16), "ʌ": (AH, 0.44),
    "ə": (AH, 0.26), "ɐ": (AH, 0.3), "ɜ": (AH, 0.3), "ɚ": (R, 0.22), "ø": (AO, 0.28),
    "œ": (AO, 0.34), "ɘ": (AH, 0.28), "ɵ": (AH, 0.28),
    "p": PBM, "b": PBM, "m": PBM, "f": FV, "v": FV, "θ": TH, "ð": TH, "t": TDNL, "d": TDNL,
    "n": TDNL, "l": TDNL, "ɾ": TDNL, "ɫ": TDNL, "s": SZ, "z": SZ, "ʃ": SH, "ʒ": SH, "k": KG,
    "ɡ": KG, "g": KG, "ŋ": KG, "x": KG, "ç": KG, "h": H, "ʔ": H, "ɹ": R, "r": R, "w": W,
    "j": IY,
}

_STRIP = re.compile(r"[',%=:;#\-/^~!.|\"]")
_DIPH_WEIGHTS = {2: (0.55, 0.45), 3: (0.4, 0.3, 0.3)}


def _espeak_one(s: str) -> tuple[str, float | None]:
    if s in _C:
        return _C[s], None
    if s in _V:
        return _V[s]
    first = s[:1]
    if first in _V:
        return _V[first]
    if first in _C:
        return _C[first], None
    if first.lower() in _V:
        return _V[first.lower()]
    return H, None


def classify(symbol: str, alphabet: str = "espeak") -> list[tuple[str, float | None, float]]:
    """Viseme parts of one phone: ``[(class, jaw openness or None, fraction of duration)]``.

    Diphthongs give two or three parts; unknown symbols fall back by their first letter and
    finally to a neutral weak-dominance viseme (``H``); language-switch markers give none."""
    raw = symbol.strip()
    if raw.startswith("(") and raw.endswith(")"):
        return []            # espeak language-switch marker such as "(en)": not a sound
    if alphabet == "ipa":
        return [(*_as_key(IPA_VISEMES.get(raw, H)), 1.0)]
    if alphabet == "festival":
        s = re.sub(r"\d", "", raw.lower())
        if s in _F_DIPH:
            parts = _F_DIPH[s]
            return [(*_as_key(_F[p]), w) for p, w in zip(parts, _DIPH_WEIGHTS[len(parts)])]
        if s in _F:
            return [(*_as_key(_F[s]), 1.0)]
        # unknown festival phone: try it as espeak
        return classify(raw, "espeak")
    if raw in ("", "_", "_:", "_!", "_;", "_^_", "||", "|", "sil", "pau"):
        return [(SIL, None, 1.0)]
    s = _STRIP.sub("", raw)
    if not s:
        return [(SIL, None, 1.0)]
    if s not in _C and s not in _V and s not in _DIPH:
        s = s[0] + re.sub(r"\d", "", s[1:])   # variant digits (t2, @5, i@3); "0" is a vowel
    if s in _C or s in _V:
        return [(*_espeak_one(s), 1.0)]
    for key in (s, s[:3], s[:2]):
        if key in _DIPH:
            parts = _DIPH[key]
            if len(parts) == 1:
                return [(*_espeak_one(parts[0]), 1.0)]
            return [(*_espeak_one(p), w) for p, w in zip(parts, _DIPH_WEIGHTS[len(parts)])]
    # consonant clusters spelled as one mnemonic (e.g. "tS" handled above); else first letter
    if s[:2] in _C:
        return [(_C[s[:2]], None, 1.0)]
    return [(*_espeak_one(s), 1.0)]


def _as_key(v) -> tuple[str, float | None]:
    return v if isinstance(v, tuple) else (v, None)


def is_vowel_class(cls: str) -> bool:
    return cls in VOWEL_CLASSES


# --- curves ------------------------------------------------------------------------------

@dataclass
class VisemeSegment:
    cls: str
    start: float
    end: float
    jaw: float | None = None      # jaw openness override (vowel quality)
    scale: float = 1.0            # jaw amplitude scale (stress x loudness x style)


def viseme_segments(phones: list[Phone], jaw_scales: list[float] | None = None) -> list[VisemeSegment]:
    """Phones (one speaker, any order) to viseme segments, diphthongs split."""
    out: list[VisemeSegment] = []
    order = sorted(range(len(phones)), key=lambda i: phones[i].start)
    for i in order:
        p = phones[i]
        dur = max(p.end - p.start, 1e-3)
        t = p.start
        for cls, jaw, frac in classify(p.symbol, p.alphabet):
            scale = 1.0 if jaw_scales is None else jaw_scales[i]
            out.append(VisemeSegment(cls, t, t + dur * frac, jaw, scale))
            t += dur * frac
    return out


def _fill_silence(segs: list[VisemeSegment], duration: float, min_gap: float = 0.04) -> list[VisemeSegment]:
    """Insert SIL segments in every gap (and before/after) so rest is a target too."""
    out, t = [], -1.0
    for s in segs:
        if s.start - t > min_gap:
            out.append(VisemeSegment(SIL, t, s.start))
        out.append(s)
        t = max(t, s.end)
    out.append(VisemeSegment(SIL, t, max(duration, t) + 1.0))
    return out


def viseme_curves(segs: list[VisemeSegment], num_frames: int, fps: float,
                  duration: float | None = None, subsamples: int = 3) -> dict[str, np.ndarray]:
    """Coarticulated viseme channel curves (num_frames,) for one speaker's segments.

    Each frame is the mean of ``subsamples`` evaluations inside its 1/fps window (a camera's
    exposure, not a point sample), then bilabial closures are enforced at their frames."""
    duration = num_frames / fps if duration is None else duration
    segs = _fill_silence(sorted(segs, key=lambda s: s.start), duration)
    offs = (np.arange(subsamples) - (subsamples - 1) / 2) / (subsamples * fps)
    times = (np.arange(num_frames)[:, None] / fps + offs[None, :]).reshape(-1)
    n = times.size
    gi = {g: k for k, g in enumerate(GROUPS)}
    num = {c: np.zeros(n) for c in VISEME_CHANNELS}
    den = np.full((len(GROUPS), n), 1e-6)
    # A far-reaching, very weak rest target keeps the blend defined everywhere.
    for c in VISEME_CHANNELS:
        num[c] += 1e-6 * POSES[SIL].get(c, 0.0)
    reach = 6 * max(max(TAU_BEFORE.values()), max(TAU_AFTER.values()))
    for s in segs:
        a = np.searchsorted(times, s.start - reach)
        b = np.searchsorted(times, s.end + reach)
        if b <= a:
            continue
        t = times[a:b]
        # flat top over the middle of the segment (all of a long pause), exponential tails
        margin = min(0.25 * (s.end - s.start), 0.05)
        core0, core1 = s.start + margin, s.end - margin
        before = np.clip(core0 - t, 0.0, None)
        after = np.clip(t - core1, 0.0, None)
        pose = dict(POSES[s.cls])
        if s.jaw is not None:
            pose["jawOpen"] = s.jaw
        if is_vowel_class(s.cls) or s.cls == H:
            pose["jawOpen"] = pose.get("jawOpen", 0.0) * s.scale
            for c in ("mouthLowerDownLeft", "mouthLowerDownRight"):
                if c in pose:
                    pose[c] *= s.scale
        dom = {}
        for g in GROUPS:
            alpha = DOMINANCE[s.cls][gi[g]]
            d = alpha * np.exp(-before / TAU_BEFORE[g] - after / TAU_AFTER[g])
            den[gi[g], a:b] += d
            dom[g] = d
        for c in VISEME_CHANNELS:
            v = pose.get(c, 0.0)
            if v:
                num[c][a:b] += dom[_GROUP_OF[c]] * v
    out = {}
    for c in VISEME_CHANNELS:
        out[c] = (num[c] / den[gi[_GROUP_OF[c]]]).reshape(num_frames, subsamples).mean(1)
    _enforce_closures(out, segs, num_frames, fps)
    return out


def _enforce_closures(curves: dict[str, np.ndarray], segs: list[VisemeSegment],
                      num_frames: int, fps: float) -> None:
    """A bilabial closure is reached: at the frames inside each p/b/m (and the frame nearest
    its middle) the lips close and press and the jaw nearly shuts."""
    pbm = POSES[PBM]
    for s in segs:
        if s.cls != PBM:
            continue
        frames = set(range(max(0, int(np.ceil(s.start * fps))), min(num_frames, int(np.floor(s.end * fps)) + 1)))
        mid = int(round(0.5 * (s.start + s.end) * fps))
        if 0 <= mid < num_frames:
            frames.add(mid)
        if not frames:
            continue
        idx = np.array(sorted(frames))
        for c in ("mouthClose", "mouthPressLeft", "mouthPressRight", "mouthRollLower", "mouthRollUpper"):
            curves[c][idx] = np.maximum(curves[c][idx], 0.95 * pbm[c])
        curves["jawOpen"][idx] = np.minimum(curves["jawOpen"][idx], pbm["jawOpen"] + 0.04)
        # mouthClose seals the lips against what is left of the jaw opening
        curves["mouthClose"][idx] = np.maximum(curves["mouthClose"][idx], curves["jawOpen"][idx] + 0.15)
        for c in ("mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
                  "mouthUpperUpRight", "tongueOut"):
            curves[c][idx] = np.minimum(curves[c][idx], 0.04)
        # the frames either side are on their way in/out of the closure
        for j in (idx[0] - 1, idx[-1] + 1):
            if 0 <= j < num_frames:
                for c in ("mouthClose", "mouthPressLeft", "mouthPressRight"):
                    curves[c][j] = max(curves[c][j], 0.5 * pbm[c])
                curves["jawOpen"][j] = min(curves["jawOpen"][j], 0.5 * curves["jawOpen"][j] + 0.06)
