"""Reading and resampling speed by input sample rate: seconds of audio read per second of
compute, for common rates and for rates coprime with 16 kHz (which once took 75 s per 10 s).

    .venv/bin/python benchmarks/audio_read_speed.py [--seconds 60]

Each rate is read twice through the runtime's AudioClip path (file -> mono -> 16 kHz); the
first read includes building that rate's filter table, the second shows the steady speed.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from model_runtime.audio_files import AudioClip, read_clip  # noqa: E402

RATES = (8000, 16000, 22050, 44100, 48000, 96000, 22051, 44101, 47999, 192001)


def _noise(seconds: float, rate: int) -> np.ndarray:
    return (np.random.default_rng(0).standard_normal(int(seconds * rate)) * 0.1).astype(np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60.0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'rate Hz':>8s} {'first read s':>13s} {'second read s':>14s} {'x real time':>12s}")
        for rate in RATES:
            path = Path(tmp) / f"{rate}.wav"
            sf.write(str(path), _noise(args.seconds, rate), rate, subtype="FLOAT")
            times = []
            for _ in range(2):
                t0 = time.perf_counter()
                read_clip(AudioClip(str(path)))
                times.append(time.perf_counter() - t0)
            print(f"{rate:8d} {times[0]:13.2f} {times[1]:14.2f} {args.seconds / times[1]:12.0f}")


if __name__ == "__main__":
    main()
