"""The runtime's clocks: audio sample rate, model frame rate and the hop between them.

One home for both rates (features, corpus, training and the result all count frames the same
way); numpy-free and PyTorch-free so anything may import it.
"""
from __future__ import annotations

SAMPLE_RATE = 16000                 # Hz: every input is resampled to this
MODEL_FPS = 25                      # motion frames per second the model generates
HOP = SAMPLE_RATE // MODEL_FPS      # 640 samples = 40 ms of audio per motion frame


def num_frames(num_samples: int) -> int:
    """Model frames covering num_samples of 16 kHz audio: ceil(num_samples / HOP)."""
    return -(-int(num_samples) // HOP)
