"""Speech with exact phoneme timing: libespeak-ng through ctypes (training and held-out voices),
a neural voice (neural_tts: Piper's joe, training only) and festival (evaluation only, the voice
family the model never hears in training).

``synthesize(text, voice)`` returns ``(wave, phones)``: float32 mono at 16 kHz, trimmed to the
speech (a few ms of margin), and :class:`~.timing.Phone` times in seconds from the clip start.
A phone ends where the next one (or a pause) starts.
"""
from __future__ import annotations

import ctypes
import math
import os
import re
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import dataclass

import numpy as np

from model_runtime.timebase import SAMPLE_RATE

from . import neural_tts
from .timing import Phone

LEAD_MARGIN_S = 0.01     # audio kept before the first phone
TAIL_MARGIN_S = 0.03     # and after the last one

# --- voices -------------------------------------------------------------------------------

ENGLISH_BASES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                 "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
# Other languages read the English text with their own rules: accent and timbre variety.
OTHER_BASES = ("de", "nl", "sv", "fr", "es", "it", "pl")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt3", "klatt4", "klatt6", "croak", "whisper", "whisperf",
            "Alex", "Andy", "Annie", "Denis", "Gene", "Jacky", "Lee", "Mario", "Michael",
            "Mr serious", "Storm", "adam", "anika", "aunty", "belinda", "benjamin", "caleb",
            "david", "ed", "edward", "grandma", "grandpa", "iven", "john", "linda", "max",
            "michel", "norbert", "paul", "quincy", "rob", "robert", "steph", "travis", "victor")
RARE_VARIANTS = ("whisper", "whisperf", "croak")   # drawn 5x less often
# Fixed split: a combination is held out if its base OR its variant is held out; the held-out
# split draws only combinations where both are held out, so neither part was heard in training.
HELDOUT_BASES = ("en-us-nyc", "en-gb-x-gbcwmd", "it")
HELDOUT_VARIANTS = ("m4", "f4", "klatt3", "Annie", "Gene", "grandpa", "linda", "steph",
                    "travis", "whisperf")
FESTIVAL_VOICES = ("kal_diphone",)


@dataclass(frozen=True)
class VoiceSpec:
    """One synthetic speaker: engine, base voice, variant and prosody settings."""

    engine: str = "espeak"        # "espeak", "piper" (neural_tts) or "festival"
    base: str = "en-us"           # espeak language voice, the neural voice or the festival voice name
    variant: str = ""             # espeak variant (``+name``); empty for none
    rate: int = 170               # espeak words per minute (festival: 170 = stretch 1.0)
    pitch: int = 50               # espeak 0..100 (festival: mapped to a mean F0)
    range: int = 50               # espeak 0..100 pitch range (festival: F0 spread)

    @property
    def key(self) -> str:
        """The voice identity the split is defined on (no prosody)."""
        return f"{self.engine}:{self.base}" + (f"+{self.variant}" if self.variant else "")

    def to_json(self) -> dict:
        return {"engine": self.engine, "base": self.base, "variant": self.variant,
                "rate": self.rate, "pitch": self.pitch, "range": self.range, "key": self.key}


def voice_split(base: str, variant: str) -> str:
    """'train', 'heldout' (both parts unseen) or 'excluded' (one part unseen: never used)."""
    b, v = base in HELDOUT_BASES, variant in HELDOUT_VARIANTS
    if not b and not v:
        return "train"
    return "heldout" if (b and v) else "excluded"


def voice_pool(split: str) -> list[tuple[str, str]]:
    """All (base, variant) combinations of a split ('train', 'heldout' or 'festival')."""
    if split == "festival":
        return [(name, "") for name in FESTIVAL_VOICES]
    if split not in ("train", "heldout"):
        raise ValueError(f"unknown split {split!r}; use train, heldout or festival")
    return [(b, v) for b in ENGLISH_BASES + OTHER_BASES for v in VARIANTS
            if voice_split(b, v) == split]


def sample_voice(rng: np.random.Generator, split: str, avoid: VoiceSpec | None = None) -> VoiceSpec:
    """A random voice of a split with random rate, pitch and range. With ``avoid`` (the other
    person) the variant differs (espeak) or the pitch differs by at least 25 (festival)."""
    pool = voice_pool(split)
    engine = "festival" if split == "festival" else "espeak"
    w = np.array([(0.2 if v in RARE_VARIANTS else 1.0) * (0.125 if b in OTHER_BASES else 1.0)
                  for b, v in pool])
    for _ in range(50):
        base, variant = pool[rng.choice(len(pool), p=w / w.sum())]
        spec = VoiceSpec(engine, base, variant, rate=int(rng.integers(130, 221)),
                         pitch=int(rng.integers(20, 91)), range=int(rng.integers(20, 91)))
        if avoid is None or engine == "festival" or spec.variant != avoid.variant:
            break
    if avoid is not None and engine == "festival" and abs(spec.pitch - avoid.pitch) < 25:
        pitch = avoid.pitch + 35 if avoid.pitch <= 55 else avoid.pitch - 35
        spec = VoiceSpec(engine, spec.base, spec.variant, spec.rate, pitch, spec.range)
    return spec


def synthesize(text: str, voice: VoiceSpec) -> tuple[np.ndarray, list[Phone]]:
    """Speak ``text`` with ``voice``: (float32 16 kHz wave trimmed to speech, phones)."""
    if voice.engine == "espeak":
        return _finish(text, voice, *_espeak(fresh=True).speak(text, voice))
    if voice.engine == "festival":
        return _finish(text, voice, *_festival_batch([text], voice)[0])
    if voice.engine == "piper":
        # The voice's noise from a stream of its own text and settings: the same line in the
        # same voice sounds the same every time, as with espeak.
        key = f"{voice.key}|{voice.rate}|{voice.pitch}|{voice.range}|{text}"
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        return _finish(text, voice, *neural_tts.speak(text, voice.rate, voice.pitch, voice.range,
                                                      _espeak().ipa, rng))
    raise ValueError(f"unknown TTS engine {voice.engine!r}")


def synthesize_many(texts: list[str], voice: VoiceSpec) -> list[tuple[np.ndarray, list[Phone]]]:
    """``synthesize`` for several texts of one voice (festival: one process for all)."""
    if voice.engine != "festival" or not texts:
        return [synthesize(t, voice) for t in texts]
    return [_finish(t, voice, *r) for t, r in zip(texts, _festival_batch(texts, voice))]


def _finish(text: str, voice: VoiceSpec, wave: np.ndarray, sr: int, phones: list[Phone]):
    if not phones:
        raise RuntimeError(f"{voice.key} produced no phonemes for {text!r}")
    if sr != SAMPLE_RATE:
        wave = fft_resample(wave, sr, SAMPLE_RATE)
    return _trim(wave, phones)


def fft_resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling of a short clip in one FFT (ideal low-pass at the lower Nyquist).

    The clip is zero-padded to ``unit * 2**k`` samples (``unit = sr_in / gcd``) so that both FFT
    sizes are smooth numbers; ~10x faster than ``audio.resample`` on TTS clips, whose ends are
    silent (the FFT's circular wrap-around is harmless there). Output sample n is at n / sr_out."""
    x = np.asarray(x, np.float32)
    if sr_in == sr_out or len(x) == 0:
        return x.copy()
    g = math.gcd(int(sr_in), int(sr_out))
    unit_in, unit_out = sr_in // g, sr_out // g
    k = 1 << max(0, math.ceil(math.log2(max(1.0, len(x) / unit_in))))
    n_in, n_out = unit_in * k, unit_out * k
    spec = np.fft.rfft(x, n_in)
    out = np.zeros(n_out // 2 + 1, complex)
    m = min(len(spec), len(out))
    out[:m] = spec[:m]
    if n_out < n_in and n_out % 2 == 0:
        out[-1] = out[-1].real          # the new Nyquist bin must be real
    y = np.fft.irfft(out, n_out) * (n_out / n_in)
    return y[: int(round(len(x) * sr_out / sr_in))].astype(np.float32)


def _trim(wave: np.ndarray, phones: list[Phone]) -> tuple[np.ndarray, list[Phone]]:
    t0 = max(0.0, phones[0].start - LEAD_MARGIN_S)
    t1 = min(len(wave) / SAMPLE_RATE, phones[-1].end + TAIL_MARGIN_S)
    a, b = int(round(t0 * SAMPLE_RATE)), int(round(t1 * SAMPLE_RATE))
    t0 = a / SAMPLE_RATE
    out = [Phone(p.symbol, p.start - t0, min(p.end, t1) - t0, p.stress, p.alphabet) for p in phones]
    return np.ascontiguousarray(wave[a:b], dtype=np.float32), out


# --- espeak-ng ----------------------------------------------------------------------------

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4
_POS_CHARACTER, _CHARS_UTF8 = 1, 1
_PHONEME_INPUT = 0x100           # espeakPHONEMES: [[...]] in the text is phoneme mnemonics
_IPA = 0x02                      # espeak_TextToPhonemes: IPA letters instead of mnemonics
_PAUSES = {"_", "_:", "_!", "_;", "_^_", "||", "|"}


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):     # espeak_EVENT in speak_lib.h
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


class _Espeak:
    """The process-wide espeak-ng engine (the library keeps global state: one per process)."""

    def __init__(self):
        try:
            self.lib = ctypes.CDLL("libespeak-ng.so.1")
        except OSError as e:
            raise RuntimeError("libespeak-ng.so.1 not found; install espeak-ng "
                               "(apt-get install espeak-ng)") from e
        lib = self.lib
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 200, None,
                                                 _INITIALIZE_PHONEME_EVENTS)
        if self.sample_rate <= 0:
            raise RuntimeError("espeak_Initialize failed (espeak-ng-data missing?)")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[str, int]] = []
        self._cb = _CALLBACK(self._on_synth)     # keep a reference: ctypes does not
        lib.espeak_SetSynthCallback(self._cb)
        self.libc = ctypes.CDLL(None)

    def close(self) -> None:
        """Terminate and unload the library so that the next load starts from clean state."""
        import _ctypes
        self.lib.espeak_Terminate()
        _ctypes.dlclose(self.lib._handle)

    def _on_synth(self, wav, n, events) -> int:
        if n > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            e = events[i]
            if e.type == _EVENT_PHONEME:
                self._events.append((e.id.string.decode("ascii", "replace"), e.audio_position))
            i += 1
        return 0

    def set_voice(self, voice: VoiceSpec) -> None:
        name = voice.base + (f"+{voice.variant}" if voice.variant else "")
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {name!r}")
        for param, value in ((_PARAM_RATE, voice.rate), (_PARAM_PITCH, voice.pitch),
                             (_PARAM_RANGE, voice.range)):
            self.lib.espeak_SetParameter(param, int(value), 0)

    def speak(self, text: str, voice: VoiceSpec) -> tuple[np.ndarray, int, list[Phone]]:
        self.set_voice(voice)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        if self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _PHONEME_INPUT,
                                   None, None):
            raise RuntimeError(f"espeak_Synth failed for {text!r}")
        self.lib.espeak_Synchronize()
        wave = (np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16))
        wave = wave.astype(np.float32) / 32768.0
        total_ms = len(wave) * 1000.0 / self.sample_rate
        phones = _phones_from_events(self._events, total_ms)
        _apply_stress(phones, self.phoneme_string(text))
        return wave, self.sample_rate, phones

    def phoneme_string(self, text: str, mode: int = 0) -> str:
        """espeak's phoneme string of ``text`` (mnemonics with ' and , stress marks; IPA with
        ``mode`` _IPA) in the current voice."""
        buf = ctypes.c_char_p(text.encode("utf-8"))
        parts = []
        while buf.value:
            out = self.lib.espeak_TextToPhonemes(ctypes.byref(buf), _CHARS_UTF8, mode)
            if out:
                parts.append(out.decode("utf-8", "replace"))
        return " ".join(parts)

    def ipa(self, text: str) -> str:
        """US English IPA of ``text``, as the neural voice reads it (it was trained on it)."""
        if self.lib.espeak_SetVoiceByName(b"en-us") != 0:
            raise ValueError("espeak-ng has no voice 'en-us'")
        return self.phoneme_string(text, _IPA)


def _phones_from_events(events: list[tuple[str, int]], total_ms: float) -> list[Phone]:
    """Phones from (mnemonic, start ms) events; pauses only end the phone before them."""
    phones: list[Phone] = []
    for i, (sym, ms) in enumerate(events):
        if sym in _PAUSES or not sym or sym.startswith("("):
            continue      # pauses, and language-switch markers such as "(en)" (not sounds)
        end_ms = events[i + 1][1] if i + 1 < len(events) else total_ms
        if end_ms > ms:
            phones.append(Phone(sym, ms / 1000.0, min(end_ms, total_ms) / 1000.0, 0, "espeak"))
    return phones


def _apply_stress(phones: list[Phone], marked: str) -> None:
    """Copy stress marks from espeak's phoneme string onto the phones, matching mnemonics in
    order; stops at the first mismatch (the remaining phones keep stress 0)."""
    pos, pending = 0, 0
    for p in phones:
        while pos < len(marked) and marked[pos] in " ',%=_:|\n(":
            if marked[pos] == "(":                       # a language switch such as "(en)"
                pos = marked.find(")", pos) + 1 or len(marked)
                continue
            if marked[pos] in "',":
                pending = 2 if marked[pos] == "'" else 1
            pos += 1
        if not marked.startswith(p.symbol, pos):
            return
        pos += len(p.symbol)
        if pending and _is_vowel(p.symbol):
            p.stress, pending = pending, 0


def _is_vowel(symbol: str) -> bool:
    return symbol[:1] in "aeiouAEIOUV@03" and symbol not in ("0x",)


_ENGINE: _Espeak | None = None
_ENGINE_PID = None


def _espeak(fresh: bool = False) -> _Espeak:
    """The engine; ``fresh`` reloads the library first. espeak-ng keeps hidden state between
    utterances (a pitch-flutter phase, libc ``rand`` for noise), so the same text and voice
    can come out a few samples different; a fresh copy (2 ms) makes every call reproducible."""
    global _ENGINE, _ENGINE_PID
    if _ENGINE is not None and _ENGINE_PID == os.getpid() and fresh:
        _ENGINE.close()
        _ENGINE = None
    if _ENGINE is None or _ENGINE_PID != os.getpid():
        _ENGINE, _ENGINE_PID = _Espeak(), os.getpid()
    _ENGINE.libc.srand(0)
    return _ENGINE


def espeak_available() -> bool:
    try:
        _espeak()
        return True
    except RuntimeError:
        return False


# --- festival (evaluation only) -----------------------------------------------------------

_FESTIVAL_HEAD = """(voice_{voice})
(Parameter.set 'Duration_Stretch {stretch:.3f})
(set! int_lr_params '((target_f0_mean {f0:.1f}) (target_f0_std {f0std:.1f})
                      (model_f0_mean 170) (model_f0_std 34)))
(define (tt_say text wav)
  (let ((utt (utt.synth (eval (list 'Utterance 'Text text)))))
    (utt.save.wave utt wav 'riff)
    (format t "UTT %s\\n" wav)
    (mapcar (lambda (s) (format t "SEG %s %f %s\\n" (item.name s) (item.feat s "end")
                                (item.feat s "R:SylStructure.parent.stress")))
            (utt.relation.items utt 'Segment))))
"""
_SEG_LINE = re.compile(r"^SEG (\S+) ([0-9.eE+-]+) (\S+)$", re.M)


def festival_available() -> bool:
    return shutil.which("festival") is not None


def _festival_batch(texts: list[str], voice: VoiceSpec) -> list[tuple[np.ndarray, int, list[Phone]]]:
    """Synthesize with festival in batch mode; phones from each utterance's Segment relation."""
    if not festival_available():
        raise RuntimeError("festival is not installed (apt-get install festival festvox-kallpc16k)")
    import soundfile as sf
    with tempfile.TemporaryDirectory(prefix="tt_fest_") as tmp:
        wavs = [os.path.join(tmp, f"u{i}.wav") for i in range(len(texts))]
        script = _FESTIVAL_HEAD.format(voice=voice.base, stretch=170.0 / max(voice.rate, 1),
                                       f0=70.0 + 1.6 * voice.pitch, f0std=5.0 + 0.4 * voice.range)
        clean = [re.sub(r'["\\]', "", t) for t in texts]
        script += "".join(f'(tt_say "{t}" "{w}")\n' for t, w in zip(clean, wavs))
        path = os.path.join(tmp, "run.scm")
        with open(path, "w", encoding="utf-8") as f:
            f.write(script)
        res = subprocess.run(["festival", "-b", path], capture_output=True, text=True, timeout=600)
        if res.returncode != 0 or not all(os.path.exists(w) for w in wavs):
            raise RuntimeError(f"festival failed: {res.stderr.strip()[-400:]}")
        blocks = res.stdout.split("UTT ")[1:]
        results = []
        for wav, block in zip(wavs, blocks):
            wave, sr = sf.read(wav, dtype="float32")
            results.append((np.asarray(wave, np.float32).reshape(-1), int(sr), _festival_phones(block)))
    return results


def _festival_phones(block: str) -> list[Phone]:
    phones, start = [], 0.0
    for name, end, stress in _SEG_LINE.findall(block):
        end = float(end)
        if name not in ("pau", "#", "h#") and end > start:
            vowel = name[:1] in "aeiou"
            phones.append(Phone(name, start, end, 2 if (vowel and stress == "1") else 0, "festival"))
        start = end
    return phones
