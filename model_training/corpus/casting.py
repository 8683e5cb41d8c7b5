"""Who speaks with which voice, beyond the two voices drawn from the split's pool: the neural
voice a person may get instead, and the off-screen voice a mix may hold.

Each draws from a random stream of its own (``own_stream``), so turning either on or off
changes nothing else in a conversation: its script, layout and motion targets stay the same.
"""
from __future__ import annotations

import math

import numpy as np

from model_runtime.timebase import SAMPLE_RATE

from . import mixing
from .neural_tts import VOICE_NAME as NEURAL_VOICE
from .script import sentence, spoken_form
from .tts import VoiceSpec, sample_voice, synthesize

OFFSCREEN_STREAM = 7     # the seed-sequence entry of the off-screen voice's draws
NEURAL_STREAM = 8        # and of the neural voices'


def own_stream(seed: int, split_number: int, index: int, stream: int) -> np.random.Generator:
    """The random stream ``stream`` of conversation (seed, split, index), apart from the six
    of ``writer.conversation_streams``."""
    return np.random.default_rng([int(seed), int(split_number), int(index), int(stream)])


def neural_voices(voices: tuple[VoiceSpec, VoiceSpec], share: float, rng: np.random.Generator):
    """Each person speaks with the neural voice with probability ``share``, at a pitch, pace
    and prosody of their own (neural_tts: pitch shifts formants too, so one voice gives men,
    women and young people of sorts); two neural people are at least 25 apart in pitch."""
    out = list(voices)
    chosen = rng.random(2) < share
    for p in np.flatnonzero(chosen):
        pitch, other = int(rng.integers(20, 91)), out[1 - p]
        if other.engine == "piper" and abs(pitch - other.pitch) < 25:
            pitch = other.pitch + 35 if other.pitch <= 55 else other.pitch - 35
        out[p] = VoiceSpec("piper", NEURAL_VOICE, "", rate=int(rng.integers(140, 206)), pitch=pitch,
                           range=int(rng.integers(20, 91)))
    return tuple(out)


def offscreen_voice(n: int, tracks: np.ndarray, split: str, voices, rng: np.random.Generator):
    """(n,) a third voice that no one on screen speaks, and its spans for the metadata: 1-3
    sentences of another voice of the split at random times (over a pause or over a turn), as
    loud as the two people. Turns, activity and motion stay the two people's, so a model
    learns that a voice is not a turn (an off-screen speaker, a turn an artist corrected)."""
    voice = sample_voice(rng, split, avoid=voices[0])
    for _ in range(20):                                    # never the voice of either person
        if voice.key not in {v.key for v in voices}:
            break
        voice = sample_voice(rng, split, avoid=voices[0])
    level = math.sqrt(mixing.active_power(tracks.sum(axis=0))) or 0.1
    out, spans = np.zeros(n, np.float32), []
    for _ in range(int(rng.integers(1, 4))):
        wave, _ = synthesize(spoken_form(sentence(rng, "train" if split == "train" else "heldout"),
                                         voice.engine), voice)
        wave = wave[:n]
        start = int(rng.integers(0, n - len(wave) + 1))
        gain = level / (math.sqrt(mixing.active_power(wave)) + 1e-9) * float(rng.uniform(0.5, 1.0))
        out[start:start + len(wave)] += wave * gain
        spans.append({"start": round(start / SAMPLE_RATE, 3), "end": round((start + len(wave)) / SAMPLE_RATE, 3),
                      "voice": voice.key})
    return out, spans
