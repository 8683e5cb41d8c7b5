"""What a user gets from the command line as dialogue gets longer: wall time (start-up and model
load included) and peak memory of the whole `python -m model_runtime generate` process.

    .venv/bin/python benchmarks/cli_length.py [--minutes 1 10 30 60 120] [--busy 2]

``--busy N`` keeps N other processes spinning on the CPU meanwhile (a farm node's other jobs,
Blender's UI): the speed a user gets on a machine that is not theirs alone.

The dialogue is examples/dialogue.flac repeated to length (real speech timing, two voices).
Each length runs as its own process; peak memory is that process's maximum resident size.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "dialogue.flac"


def dialogue_of(minutes: float, folder: Path) -> Path:
    data, rate = sf.read(str(EXAMPLE), dtype="float32")
    n = int(minutes * 60 * rate)
    path = folder / f"dialogue_{minutes:g}min.flac"
    sf.write(str(path), np.resize(data, n), rate)
    return path


def run_cli(audio: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one CLI process."""
    cmd = [sys.executable, "-m", "model_runtime", "generate", str(audio), "--out", str(out), "--quiet"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)      # this child's own peak, not the largest child's
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the CLI failed on {audio.name}: run it by hand to see why")
    return wall, usage.ru_maxrss / 1024             # kilobytes on Linux


def busy_processes(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 30, 60, 120])
    p.add_argument("--busy", type=int, default=0, help="other processes spinning on the CPU meanwhile")
    args = p.parse_args()
    print(f"{'minutes':>7s} {'wall s':>8s} {'x real time':>12s} {'peak MB':>8s}   ({args.busy} busy processes)")
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            audio = dialogue_of(minutes, Path(tmp))
            others = busy_processes(args.busy)
            try:
                wall, peak = run_cli(audio, Path(tmp) / "out.npz")
            finally:
                for proc in others:
                    proc.kill()
                    proc.wait()
            print(f"{minutes:7g} {wall:8.1f} {minutes * 60 / wall:12.1f} {peak:8.0f}", flush=True)
            audio.unlink()


if __name__ == "__main__":
    main()
