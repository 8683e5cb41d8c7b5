"""Who-speaks-when of roles.py on real recordings (shared/real-speech) and synthetic voices.

    .venv/bin/python benchmarks/diarization_real_speech.py [--dir /work/shared/real-speech] [-v]
        [--raw]              # score roles.activity alone, without hold_through_pauses
        [--synthetic DIR]    # also a corpus folder (python -m model_training.corpus), mixed
        [--espeak]           # also an espeak-ng two-voice dialogue with a backchannel
        [--snr DB]           # add white noise at this SNR (re the file's RMS): robustness

Every RTTM in --dir is scored in mixed mode (the recording's mono FLAC); a recording that also
comes as NAME_stereo.flac (one person per channel) is scored in stereo mode too.
What is scored is what conditions the motion model: by default
roles.hold_through_pauses(roles.activity(audio)), as pipeline.conversation_roles does.

- frame: share of model frames (25 fps) where the hypothesis names exactly the reference
  speakers, silence included; in reference overlap either speaker (or both) is accepted.
- turn: share of RTTM segments whose speaker gets at least as many of the segment's frames as
  the other person gets alone (and at least one).
- delay at speaker changes: for each RTTM segment whose previous segment (by start) is the
  other person's, the seconds from its start until the hypothesis first has the new speaker
  active and no longer holds the previous speaker alone where the reference has them silent;
  a change never found within the segment counts the segment's length. Median and p90.
The diarizer's A/B have no names: both mappings onto the RTTM speakers are scored and the
better (by frame accuracy) is kept, as any diarization metric does (the pipeline's Swap).
Synthetic corpus: the same frame score against the corpus's activity; turns are
model_training.metrics.single_speaker_turns of it (as in the evaluation report).
"""
from __future__ import annotations

import argparse
import glob
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
from model_runtime.audio import ConversationAudio  # noqa: E402
from model_runtime.audio_files import AudioClip, read_clip  # noqa: E402
from model_runtime.masks import runs  # noqa: E402
from model_runtime.timebase import HOP, MODEL_FPS, SAMPLE_RATE  # noqa: E402

DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                           "real-speech")
BARS = {"turn": 0.95, "frame": 0.92, "med": 0.15, "p90": 0.40}   # issue 10, "Done when"


def read_rttm(path: str) -> dict[str, list[tuple[str, float, float]]]:
    """file id -> [(speaker, start s, end s)] sorted by start."""
    out = defaultdict(list)
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 8 and p[0] == "SPEAKER":
                out[p[1]].append((p[7], float(p[3]), float(p[3]) + float(p[4])))
    return {k: sorted(v, key=lambda s: s[1]) for k, v in out.items()}


def _span(a: float, b: float) -> slice:
    return slice(int(round(a * MODEL_FPS)), int(round(b * MODEL_FPS)))


def ref_frames(segs, speakers: list[str], t: int) -> np.ndarray:
    ref = np.zeros((2, t), dtype=bool)
    for spk, a, b in segs:
        ref[speakers.index(spk), _span(a, b)] = True
    return ref


def frame_ok(hyp: np.ndarray, ref: np.ndarray) -> np.ndarray:
    n_ref, n_hyp = ref.sum(0), hyp.sum(0)
    return (hyp == ref).all(0) | ((n_ref == 2) & (n_hyp >= 1))


def turn_ok(hyp: np.ndarray, k: int, sl: slice) -> bool:
    mine = hyp[k, sl].sum()
    return bool(mine > 0 and mine >= (hyp[1 - k, sl] & ~hyp[k, sl]).sum())


def change_delays(hyp: np.ndarray, ref: np.ndarray, segs, speakers: list[str]) -> list[float]:
    out = []
    for prev, seg in zip(segs[:-1], segs[1:]):
        if prev[0] == seg[0]:
            continue
        new, old = speakers.index(seg[0]), speakers.index(prev[0])
        sl = _span(seg[1], seg[2])
        found = hyp[new, sl] & ~(hyp[old, sl] & ~ref[old, sl])
        hit = np.flatnonzero(found)
        out.append((hit[0] if hit.size else sl.stop - sl.start) / MODEL_FPS)
    return out


def score(hyp: np.ndarray, segs, speakers: list[str]) -> dict:
    """Scores of the better of the two A/B mappings."""
    ref = ref_frames(segs, speakers, hyp.shape[1])
    best = max((hyp, hyp[::-1]), key=lambda h: frame_ok(h, ref).mean())
    turns = [turn_ok(best, speakers.index(s), _span(a, b)) for s, a, b in segs]
    d = change_delays(best, ref, segs, speakers)
    return {"frame": frame_ok(best, ref).mean(), "turn": np.mean(turns), "n_turns": len(turns),
            "med": np.median(d) if d else 0.0, "p90": np.percentile(d, 90) if d else 0.0,
            "n_changes": len(d), "hyp": best, "turns": turns}


def add_noise(wave: np.ndarray, snr_db: float | None) -> np.ndarray:
    if snr_db is None:
        return wave
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))
    noise = np.random.default_rng(1).standard_normal(len(wave)) * rms * 10 ** (-snr_db / 20)
    return (wave + noise).astype(np.float32)


def hypothesis(audio: ConversationAudio, raw: bool) -> np.ndarray:
    act = roles.activity(audio)
    return act if raw else roles.hold_through_pauses(act)


def load(path: str, mode: str, snr: float | None) -> ConversationAudio:
    audio = ConversationAudio.from_file(path, mode=mode)
    if snr is None:
        return audio
    if audio.tracks is None:
        return ConversationAudio.from_signals(mix=add_noise(audio.mix, snr))
    return ConversationAudio.from_signals(tracks=np.stack([add_noise(x, snr) for x in audio.tracks]))


def segments_text(act: np.ndarray) -> str:
    parts = []
    for k, name in enumerate("AB"):
        s, e = runs(act[k])
        parts.append(name + ": " + " ".join(f"{a / MODEL_FPS:.2f}-{b / MODEL_FPS:.2f}"
                                           for a, b in zip(s, e)))
    return "\n    ".join(parts)


def _missed(r: dict) -> str:
    """The issue's bars this result misses, by name ('ok' when none)."""
    missed = [k for k in ("turn", "frame") if r[k] < BARS[k]] + \
             [k for k in ("med", "p90") if r[k] > BARS[k]]
    return ", ".join(missed) or "ok"


def _row(name: str, mode: str, r: dict, secs: float) -> str:
    return (f"| {name} | {mode} | {100 * r['turn']:5.1f} ({r['n_turns']}) | {100 * r['frame']:5.1f} | "
            f"{r['med']:.2f} | {r['p90']:.2f} ({r['n_changes']}) | {secs:.2f} | {_missed(r)} |")


def real_speech(args) -> list[dict]:
    print("| recording | mode | turn % (n) | frame % | delay median s | delay p90 s (n) | "
          "time s | bars missed |\n|---|---|---|---|---|---|---|---|")
    rows = []
    for rttm_path in sorted(glob.glob(os.path.join(args.dir, "*.rttm"))):
        for fid, segs in sorted(read_rttm(rttm_path).items()):
            speakers = sorted({s for s, _, _ in segs})
            for mode, suffix in (("mixed", ""), ("stereo", "_stereo")):
                path = os.path.join(args.dir, fid + suffix + ".flac")
                if not os.path.exists(path):
                    continue
                audio = load(path, mode, args.snr)
                t0 = time.perf_counter()
                hyp = hypothesis(audio, args.raw)
                dt = time.perf_counter() - t0
                r = score(hyp, segs, speakers)
                rows.append({"mode": mode, **r})
                print(_row(fid, mode, r, dt))
                if args.verbose:
                    for (s, a, b), ok in zip(segs, r["turns"]):
                        print(f"    turn {s} {a:6.2f}-{b:6.2f}: {'ok' if ok else 'WRONG'}")
                    print("    hyp " + segments_text(r["hyp"]))
    for mode in ("mixed", "stereo"):
        sel = [r for r in rows if r["mode"] == mode]
        if sel:
            print(f"mean {mode}: turn {100 * np.mean([r['turn'] for r in sel]):.1f} %, frame "
                  f"{100 * np.mean([r['frame'] for r in sel]):.1f} %, delay median "
                  f"{np.mean([r['med'] for r in sel]):.2f} s, p90 {np.mean([r['p90'] for r in sel]):.2f} s")
    return rows


def synthetic_corpus(folder: str, raw: bool) -> None:
    """Role accuracy of the diarized mix of every conversation in a corpus folder."""
    from model_training.metrics import single_speaker_turns
    ok_t = n_t = 0
    frames = []
    for path in sorted(glob.glob(os.path.join(folder, "conv_*.npz"))):
        z = np.load(path)
        mix = z["mix"].astype(np.float32) / 32767.0
        ref = z["activity"].astype(bool)
        hyp = hypothesis(ConversationAudio.from_signals(mix=mix), raw)
        hyp = np.pad(hyp, ((0, 0), (0, max(0, ref.shape[1] - hyp.shape[1]))))[:, :ref.shape[1]]
        hyp = max((hyp, hyp[::-1]), key=lambda h: frame_ok(h, ref).mean())
        turns = [turn_ok(hyp, k, slice(s, e)) for k, s, e in single_speaker_turns(ref)]
        ok_t, n_t = ok_t + sum(turns), n_t + len(turns)
        frames.append(frame_ok(hyp, ref).mean())
    print(f"synthetic {folder} ({len(frames)} conversations, mixed): turn {100 * ok_t / max(n_t, 1):.1f} % "
          f"({ok_t}/{n_t}), frame {100 * np.mean(frames):.1f} % (min {100 * np.min(frames):.1f})")


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


def espeak_dialogue(voices: dict[str, tuple[str, str]], snr_db: float | None = None) -> None:
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
    ap.add_argument("--raw", action="store_true")
    ap.add_argument("--synthetic", action="append", default=[])
    ap.add_argument("--espeak", action="store_true")
    ap.add_argument("--snr", type=float, default=None)
    args = ap.parse_args()
    if args.snr is not None:
        print(f"white noise added at {args.snr:g} dB SNR")
    if args.espeak:
        for voices in SYNTH_PAIRS:
            espeak_dialogue(voices, args.snr)
    real_speech(args)
    for folder in args.synthetic:
        synthetic_corpus(folder, args.raw)


if __name__ == "__main__":
    main()
