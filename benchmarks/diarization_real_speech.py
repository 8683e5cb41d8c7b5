"""Diarization and VAD of roles.py on the real AMI excerpts in shared/real-speech.

    .venv/bin/python benchmarks/diarization_real_speech.py [--dir /work/shared/real-speech] [-v]
        [--synthetic]    # also an espeak-ng two-voice dialogue with a backchannel, for contrast
        [--snr DB]       # add white noise at this SNR (re the file's RMS): robustness

Frame accuracy counts every model frame (25 fps): a frame is right when the hypothesis names
exactly the reference speakers, silence included; in reference overlap either speaker (or
both) is accepted. Speaker accuracy is the same restricted to frames both call speech, so it
measures attribution apart from VAD. A turn (one RTTM segment) is right when, over its frames,
the hypothesis gives its speaker at least as many frames as it gives only the other one.
The diarizer's A/B have no names, so both mappings onto the two RTTM speakers are scored and
the better is reported (as any diarization metric does).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from model_runtime import roles  # noqa: E402
from model_runtime.audio import AudioClip, read_clip  # noqa: E402
from model_runtime.timebase import HOP, MODEL_FPS, SAMPLE_RATE, num_frames  # noqa: E402
from model_runtime.masks import runs  # noqa: E402

DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                           "real-speech")


def read_rttm(path: str) -> dict[str, list[tuple[str, float, float]]]:
    """file id -> [(speaker, start s, end s)]."""
    out = defaultdict(list)
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 8 and p[0] == "SPEAKER":
                out[p[1]].append((p[7], float(p[3]), float(p[3]) + float(p[4])))
    return dict(out)


def ref_frames(segs, speakers: list[str], t: int) -> np.ndarray:
    ref = np.zeros((2, t), dtype=bool)
    for spk, a, b in segs:
        ref[speakers.index(spk), int(round(a * MODEL_FPS)): int(round(b * MODEL_FPS))] = True
    return ref


def frame_scores(hyp: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    n_ref, n_hyp = ref.sum(0), hyp.sum(0)
    exact = (hyp == ref).all(0)
    overlap_ok = (n_ref == 2) & (n_hyp >= 1)
    ok = exact | overlap_ok
    both = (n_ref > 0) & (n_hyp > 0)
    return {"frame_acc": ok.mean(), "speaker_acc": ok[both].mean() if both.any() else np.nan}


def turn_scores(hyp: np.ndarray, segs, speakers: list[str]) -> list[tuple[str, float, float, bool]]:
    out = []
    for spk, a, b in segs:
        k = speakers.index(spk)
        sl = slice(int(round(a * MODEL_FPS)), int(round(b * MODEL_FPS)))
        mine = hyp[k, sl].sum()
        other_only = (hyp[1 - k, sl] & ~hyp[k, sl]).sum()
        out.append((spk, a, b, bool(mine > 0 and mine >= other_only)))
    return out


def vad_scores(hyp: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    h, r = hyp.any(0), ref.any(0)
    tp = (h & r).sum()
    return tp / max(h.sum(), 1), tp / max(r.sum(), 1)


def segments(act: np.ndarray) -> str:
    parts = []
    for k, name in enumerate("AB"):
        s, e = runs(act[k])
        parts.append(name + ": " + " ".join(f"{a / MODEL_FPS:.2f}-{b / MODEL_FPS:.2f}"
                                           for a, b in zip(s, e)))
    return "\n    ".join(parts)


SYNTH_SCRIPT = [
    ("A", "Hello there, I wanted to talk to you about the project we started last week."),
    ("B", "Yeah."),
    ("A", "We need to finish the design before the end of the month, and money is tight."),
    ("B", "Sure, I remember it well. We had a lot of trouble with the schedule."),
    ("A", "Right."),
    ("B", "Mm-hmm."),
    ("A", "So the first thing is the interface."),
    ("B", "So what do you think we should do first?"),
    ("A", "Let us start with the interface, and then move on to testing."),
]
SYNTH_PAIRS = [{"A": ("en-us", "30"), "B": ("en-gb", "75")},     # pitch far apart
               {"A": ("en-us", "50"), "B": ("en-gb", "50")}]     # same pitch: timbre only


def add_noise(wave: np.ndarray, snr_db: float | None) -> np.ndarray:
    if snr_db is None:
        return wave
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))
    noise = np.random.default_rng(1).standard_normal(len(wave)) * rms * 10 ** (-snr_db / 20)
    return (wave + noise).astype(np.float32)


def synthetic(voices: dict[str, tuple[str, str]], snr_db: float | None = None) -> None:
    """espeak-ng dialogue (0.6 s pauses, short replies): frame and short-turn accuracy."""
    if shutil.which("espeak-ng") is None:
        print("synthetic: espeak-ng not installed, skipped")
        return
    mix, ref, turns = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for who, text in SYNTH_SCRIPT:
            path = os.path.join(tmp, "say.wav")
            v, p = voices[who]
            subprocess.run(["espeak-ng", "-v", v, "-p", p, "-w", path, text], check=True)
            x = read_clip(AudioClip(path))
            x = x[: len(x) // HOP * HOP]
            pw = (x.reshape(-1, HOP).astype(np.float64) ** 2).mean(1)
            lab = np.where(pw > pw.max() * 1e-4, "AB".index(who), -1)
            start = sum(len(r) for r in ref)
            turns.append((who, start, start + len(lab), text))
            pause = np.zeros(int(0.6 * SAMPLE_RATE) // HOP * HOP, np.float32)
            mix += [x, pause]
            ref += [lab, np.full(len(pause) // HOP, -1)]
    wave = np.concatenate(mix) + 2e-3 * np.random.default_rng(0).standard_normal(
        sum(len(m) for m in mix)).astype(np.float32)
    ref = np.concatenate(ref)
    act = roles.diarize_two_speakers(add_noise(wave, snr_db))[:, : len(ref)]
    hyp = np.where(act[0], 0, np.where(act[1], 1, -1))
    speech = ref >= 0
    ok = [(hyp[a:b][ref[a:b] >= 0] == "AB".index(w)).mean() >= 0.5 for w, a, b, _ in turns]
    short = [o for o, (_, a, b, _) in zip(ok, turns) if b - a <= MODEL_FPS]
    names = " vs ".join(f"{v} -p {p}" for v, p in voices.values())
    spk_acc = (hyp[speech] == ref[speech]).mean()
    print(f"synthetic (espeak-ng {names}, {len(ref) / MODEL_FPS:.1f} s): frame acc "
          f"{(hyp == ref).mean():.3f}  speaker acc on speech {spk_acc:.3f}"
          f"  turns {sum(ok)}/{len(ok)}  short replies (<= 1 s) {sum(short)}/{len(short)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default=DEFAULT_DIR)
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--snr", type=float, default=None)
    args = ap.parse_args()
    if args.snr is not None:
        print(f"white noise added at {args.snr:g} dB SNR")
    if args.synthetic:
        for voices in SYNTH_PAIRS:
            synthetic(voices, args.snr)
    rttm = read_rttm(os.path.join(args.dir, "ami_dev.rttm"))
    totals = defaultdict(list)
    for fid in sorted(rttm):
        wave = add_noise(read_clip(AudioClip(os.path.join(args.dir, fid + ".flac"))), args.snr)
        t = num_frames(len(wave))
        speakers = sorted({s for s, _, _ in rttm[fid]})
        ref = ref_frames(rttm[fid], speakers, t)
        t0 = time.perf_counter()
        hyp = roles.diarize_two_speakers(wave)
        dt = time.perf_counter() - t0
        scored = []
        for p in (0, 1):
            h = hyp if p == 0 else hyp[::-1]
            scored.append((frame_scores(h, ref)["frame_acc"], p, h))
        _, perm, h = max(scored, key=lambda s: s[0])
        fs, turns = frame_scores(h, ref), turn_scores(h, rttm[fid], speakers)
        vp, vr = vad_scores(hyp, ref)
        n_ok = sum(ok for *_, ok in turns)
        first_ref = min(rttm[fid], key=lambda seg: seg[1])[0]
        mapping = (f"A={speakers[perm]}, B={speakers[1 - perm]}; A is the first RTTM speaker: "
                   f"{'yes' if speakers[perm] == first_ref else 'no'}")
        print(f"{fid}: frame acc {fs['frame_acc']:.3f}  speaker acc (both speech) "
              f"{fs['speaker_acc']:.3f}  turns {n_ok}/{len(turns)}  VAD precision {vp:.3f} "
              f"recall {vr:.3f}  [{mapping}; better of 2 permutations]  ({dt:.2f} s)")
        for spk, a, b, ok in turns:
            if args.verbose or not ok:
                print(f"    turn {spk} {a:6.2f}-{b:6.2f} ({b - a:4.2f} s): "
                      f"{'ok' if ok else 'WRONG'}")
        if args.verbose:
            print("    hyp " + segments(h))
        for key, val in (("frame", fs["frame_acc"]), ("speaker", fs["speaker_acc"]),
                         ("vad_p", vp), ("vad_r", vr)):
            totals[key].append(val)
        totals["turn_ok"].append(n_ok)
        totals["turns"].append(len(turns))
    print(f"mean: frame acc {np.mean(totals['frame']):.3f}  speaker acc "
          f"{np.mean(totals['speaker']):.3f}  turns {sum(totals['turn_ok'])}/"
          f"{sum(totals['turns'])}  VAD precision {np.mean(totals['vad_p']):.3f} recall "
          f"{np.mean(totals['vad_r']):.3f}")


if __name__ == "__main__":
    main()
