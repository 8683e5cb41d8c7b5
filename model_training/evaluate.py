"""Evaluate models against targets and baselines on held-out conversations, in one run.

    python -m model_training.evaluate --corpus corpus_data/heldout --corpus corpus_data/festival \\
        --model default=model_runtime/weights/default.pt --model no_roles=runs/no_roles.pt \\
        --real-speech ../shared/real-speech --out docs/evaluation

Every model hears the MIXED track (both voices in one channel) and gets its roles from the
runtime's own diarization, as a user with one dialogue strip would (who is A and who is B
is matched to the corpus once per conversation, as the user's Swap button would). The
audio-energy baseline opens both jaws with the mix's loudness (what a plain amplitude
lip-sync tool does).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from model_runtime import features
from model_runtime.audio import ConversationAudio
from model_runtime.channels import MOTION_DIM, ROLE_BOTH, ROLE_SPEAKING, channel_index
from model_runtime.errors import TalkingTogetherError
from model_runtime.layouts import preset_layout
from model_runtime.pipeline import conversation_conditions, load_model, sample_motion
from model_runtime.settings import GenerationSettings
from model_runtime.timebase import MODEL_FPS

from . import metrics
from .corpus.dataset import audio_float, list_conversations, load_conversation, stored_timing
from .eval_stats import closeness_table, comparison_table
from .interaction import CLOSE_TO_PEOPLE, interaction_metrics
from .lips import lip_vertex_error_mm
from .training_data import own_speech_envelopes


# What every model is measured beside. target_unanswered: the redrawn people without their
# answers to what the partner does (glances, tilt), only what the audio and the turns time; a
# model that ignores its partner can at best match them, so on an interaction metric the room
# that reading the partner wins is the distance between them and target_redrawn.
REFERENCES = ("target", "target_redrawn", "target_unanswered", "audio_energy")


def energy_baseline(mix: np.ndarray, n: int) -> np.ndarray:
    """Both jaws follow the mix's loudness; head and eyes stay at rest."""
    env = features.speech_envelope(mix)[:n]
    jaw = np.clip(env / (np.percentile(env, 95) + 1e-6), 0, 1) * 0.5
    motion = np.zeros((2, n, MOTION_DIM), np.float32)
    motion[:, :, channel_index("jawOpen")] = jaw
    return motion


def generate_motion(model_path: str, feats, roles, poses, settings: GenerationSettings, seed: int) -> np.ndarray:
    """The pipeline's own motion (sampling + exact eye contact) for one model and seed."""
    device = torch.device("cpu")
    ckpt, model = load_model(model_path, device)
    return sample_motion(model, ckpt, feats, roles, poses, replace(settings, seed=seed), device)


def redrawn_target(conv: dict, n: int, seed: int, answers: bool = True) -> np.ndarray | None:
    """The conversation's targets drawn again with another behaviour seed (same words, timing and
    layout): what a model that samples the target distribution perfectly would be scored. None
    for files without phone timing (studio capture). ``answers``: corpus.targets.make_targets."""
    from .corpus.targets import make_targets
    timing = stored_timing(conv)
    if timing is None:
        return None
    return make_targets(timing, conv["poses"], n, np.random.default_rng([seed, 104729]), fps=conv["fps"],
                        answers=answers, mirroring=conv["meta"].get("mirroring", False))


def people_draws(conv: dict, n: int, k: int) -> dict[str, np.ndarray]:
    """The people of conversation number ``k`` that every model is measured beside (REFERENCES
    but the baseline): its targets, drawn again, and drawn again without the answers. A file
    without phone timing (studio capture) has its targets only."""
    draws = {"target": conv["motion"][:, :n], "target_redrawn": redrawn_target(conv, n, k),
             "target_unanswered": redrawn_target(conv, n, k, answers=False)}
    return {name: motion for name, motion in draws.items() if motion is not None}


def match_speakers(roles: np.ndarray, activity: np.ndarray) -> np.ndarray:
    """Diarization calls the first voice heard person A; the corpus may have it the other way
    round. Take the assignment that agrees with the truth, as a user would press Swap once."""
    speaking = np.isin(roles, (ROLE_SPEAKING, ROLE_BOTH))
    keep = (speaking == activity).mean()
    swap = (speaking[::-1] == activity).mean()
    return roles[::-1].copy() if swap > keep else roles


def score(pred: np.ndarray, conv: dict, envelopes: np.ndarray) -> dict:
    target, activity = conv["motion"][:, : pred.shape[1]], conv["activity"][:, : pred.shape[1]]
    row = {"mouth_err": metrics.mouth_error(pred, target), "lip_vertex_mm": lip_vertex_error_mm(pred, target),
           **metrics.role_accuracy(pred, activity), **metrics.gaze_metrics(pred, target, conv["poses"]),
           **metrics.head_stats(pred), "blinks_per_min": metrics.blinks_per_minute(pred),
           "jaw_env_r": metrics.jaw_envelope_correlation(pred, envelopes),
           **interaction_metrics(pred, target, activity, conv["poses"])}
    return row


def aggregate(rows: list[dict]) -> dict:
    out = {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0] if not k.startswith("mutual_") and k != "conv"}
    tp, pred, true = (sum(r[k] for r in rows) for k in ("mutual_tp", "mutual_pred", "mutual_true"))
    out["mutual_precision"] = tp / max(pred, 1)
    out["mutual_recall"] = tp / max(true, 1)
    out["mutual_share_target"] = true / max(sum(r["frames"] for r in rows), 1)
    return out


def evaluate_corpus(corpus: str, models: dict[str, str], settings: dict[str, GenerationSettings], seeds: int,
                    limit: int | None, log) -> tuple[dict, dict, dict]:
    """Metrics per method on one corpus folder (every seed scored, then averaged), the rows per
    conversation and seed, and curves of its first conversation. ``settings``: each model's."""
    rows: dict[str, list[dict]] = {name: [] for name in (*REFERENCES, *models)}
    diversity: dict[str, list[float]] = {m: [] for m in models}
    redrawn_diversity: list[float] = []
    example = None
    paths = list_conversations(corpus)[:limit]
    if not paths:
        raise FileNotFoundError(f"no conversations in {corpus}")
    for k, path in enumerate(paths):
        conv = load_conversation(path)
        mix = audio_float(conv["mix"])
        audio = ConversationAudio.from_signals(mix=mix)
        feats, roles = conversation_conditions(audio)
        n = feats.shape[0]
        roles = match_speakers(roles, conv["activity"][:, :n])
        env = own_speech_envelopes(conv, n)
        preds = {**people_draws(conv, n, k), "audio_energy": energy_baseline(mix, n)}
        if "target_redrawn" in preds:   # how different two draws of people's behaviour are: the diversity to reach
            again = redrawn_target(conv, n, k + 100_003)
            redrawn_diversity.append(metrics.diversity([preds["target_redrawn"], again]))
        for name in preds:
            rows[name].append({**score(preds[name], conv, env), "frames": n, "conv": k})
        for name, path_m in models.items():
            samples = [generate_motion(path_m, feats, roles, conv["poses"], settings[name], s)
                       for s in range(seeds)]
            preds[name] = samples[0]
            diversity[name].append(metrics.diversity(samples))
            rows[name] += [{**score(sample, conv, env), "frames": n, "conv": k} for sample in samples]
        if example is None:
            example = {"preds": preds, "activity": conv["activity"][:, :n], "name": Path(path).stem}
        log(f"  {corpus}: {k + 1}/{len(paths)} {Path(path).name}")
    table = {name: aggregate(r) for name, r in rows.items() if r}
    for name, d in diversity.items():
        table[name]["diversity"] = float(np.mean(d))
    if redrawn_diversity:
        table["target_redrawn"]["diversity"] = float(np.mean(redrawn_diversity))
    return table, example, rows


def read_rttm(path: Path) -> dict[str, list[tuple[str, float, float]]]:
    by_file: dict[str, list] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0] == "SPEAKER":
            by_file.setdefault(parts[1], []).append((parts[7], float(parts[3]), float(parts[4])))
    return by_file


def evaluate_real_speech(folder: str, model: str, settings: GenerationSettings) -> dict:
    """Role accuracy on real two-person recordings against their who-speaks-when annotation.
    Person A/B are matched to the annotated speakers by the better of the two assignments."""
    from model_runtime.audio_files import AudioClip
    folder_p = Path(folder)
    rttm = read_rttm(next(folder_p.glob("*.rttm")))
    results = []
    for name, segs in sorted(rttm.items()):
        audio = ConversationAudio.mixed([AudioClip(str(next(folder_p.glob(f"{name}.*"))))])
        feats, roles = conversation_conditions(audio)
        n = feats.shape[0]
        speakers = sorted({s for s, _, _ in segs})[:2]
        act = np.zeros((2, n), bool)
        for spk, start, dur in segs:
            if spk in speakers:
                fps = MODEL_FPS
                act[speakers.index(spk), int(start * fps):int((start + dur) * fps) + 1] = True
        poses = preset_layout("face_to_face")
        pred = generate_motion(model, feats, roles, poses, settings, 0)
        best = max((metrics.role_accuracy(pred, a) for a in (act, act[::-1])), key=lambda r: r["role_acc_frame"])
        results.append({"file": name, **best})
    return {"files": results,
            "role_acc_frame": float(np.mean([r["role_acc_frame"] for r in results])),
            "role_acc_turn": float(np.mean([r["role_acc_turn"] for r in results]))}


def model_settings(settings: GenerationSettings, models: dict[str, str],
                   overrides: list[str]) -> dict[str, GenerationSettings]:
    """Each model's settings: ``settings`` with its own NAME:FIELD=VALUE overrides."""
    fields = {f.name: f.type for f in dataclasses.fields(GenerationSettings)}
    changes: dict[str, dict] = {name: {} for name in models}
    for item in overrides:
        name, _, assignment = item.partition(":")
        field, _, value = assignment.partition("=")
        if name not in models or field not in fields or not value:
            raise ValueError(f"--setting {item!r}: want NAME:FIELD=VALUE with a --model NAME and a field "
                             f"of GenerationSettings")
        kind = str(fields[field])          # "bool", "int", "float", "str | None", ... (postponed annotations)
        if kind == "bool":
            if value.lower() not in ("0", "1", "false", "true", "off", "on"):
                raise ValueError(f"--setting {item!r}: {field} is on or off")
            changes[name][field] = value.lower() in ("1", "true", "on")
        elif kind == "int":
            changes[name][field] = int(value)
        elif kind.startswith("float"):
            changes[name][field] = float(value)
        else:
            changes[name][field] = value
    return {name: replace(settings, **changes[name]).checked() for name in models}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m model_training.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", action="append", required=True, help="held-out corpus folder (repeatable)")
    p.add_argument("--model", action="append", required=True, help="NAME=CHECKPOINT (repeatable); the first is the main model")
    p.add_argument("--real-speech", help="folder of real recordings with an RTTM (role accuracy only)")
    p.add_argument("--out", default="docs/evaluation", help="folder for REPORT.md, results.json and plots")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=GenerationSettings.steps)
    p.add_argument("--guidance", type=float, default=GenerationSettings.guidance,
                   help="head and gaze guidance, the panel's Expressiveness")
    p.add_argument("--face-guidance", type=float, default=GenerationSettings.face_guidance)
    p.add_argument("--eta", type=float, default=GenerationSettings.eta, help="sampler noise per step (0: DDIM)")
    p.add_argument("--step-spacing", type=float, default=GenerationSettings.step_spacing,
                   help="where the sampler steps fall: 1 evenly, above 1 more at high noise")
    p.add_argument("--gaze-lock-degrees", type=float, default=GenerationSettings.gaze_lock_degrees,
                   help="gaze this close to the partner's eyes is made exact eye contact (0: never)")
    p.add_argument("--blinks-per-minute", type=float, default=GenerationSettings.blinks_per_minute,
                   help="the runtime's blink complement (0: the models' own blinks only)")
    p.add_argument("--setting", action="append", default=[], metavar="NAME:FIELD=VALUE",
                   help="one model's own generation setting, e.g. flat:guidance_per_axis=0 (repeatable): "
                        "two sampler settings of one checkpoint compared, paired, in one run")
    p.add_argument("--limit", type=int, help="at most this many conversations per corpus")
    p.add_argument("--compare", action="append",
                   help="model compared with every other method, with bootstrap intervals (repeatable; "
                        "default: the first model)")
    args = p.parse_args(argv)
    models = dict(m.split("=", 1) for m in args.model)
    unknown = set(args.compare or []) - set(models)
    if unknown:
        p.error(f"--compare names no --model: {sorted(unknown)}")
    settings = GenerationSettings(steps=args.steps, guidance=args.guidance, face_guidance=args.face_guidance,
                                  eta=args.eta, step_spacing=args.step_spacing, device="cpu",
                                  blinks_per_minute=args.blinks_per_minute, gaze_lock_degrees=args.gaze_lock_degrees)
    try:
        per_model = model_settings(settings, models, args.setting)
    except (ValueError, TalkingTogetherError) as exc:
        p.error(str(exc))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    results, examples, comparisons = {}, {}, {}
    for corpus in args.corpus:
        label = Path(corpus).name
        if label in results:            # two folders of the same name: tell them apart
            label = f"{Path(corpus).parent.name}_{label}"
        results[label], examples[label], rows = evaluate_corpus(corpus, models, per_model, args.seeds, args.limit, print)
        names = args.compare or [next(iter(models))]
        comparisons[label] = ([comparison_table(rows, name) for name in names]
                              + [closeness_table(rows, name, CLOSE_TO_PEOPLE) for name in names])
    first = next(iter(models))
    real = evaluate_real_speech(args.real_speech, models[first], per_model[first]) if args.real_speech else None
    from .eval_report import write_report
    command = "python -m model_training.evaluate " + " ".join(argv if argv is not None else __import__("sys").argv[1:])
    (out / "results.json").write_text(json.dumps({"corpora": results, "real_speech": real}, indent=1))
    write_report(out, results, examples, comparisons, real, command, time.time() - start, settings)
    print(f"wrote {out / 'REPORT.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
