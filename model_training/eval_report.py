"""The evaluation's Markdown report and its plots."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from model_runtime.channels import MOTION_DIM, channel_index
from model_runtime.pipeline import AXIS_GUIDANCE_SHARES, channel_guidance

from .interaction import CLOSE_TO_PEOPLE, GAZE_WHEN_LOOKING

COLUMNS = [  # (key, header, format, better)
    ("mouth_err", "mouth MAE", "{:.4f}", "lower"),
    ("lip_vertex_mm", "lip vertex error mm", "{:.2f}", "lower"),
    ("role_acc_turn", "role acc / turn", "{:.1%}", "higher"),
    ("role_acc_frame", "role acc / frame", "{:.1%}", "higher"),
    ("jaw_env_r", "jaw~own speech r", "{:.2f}", "higher"),
    ("gaze_err_deg", "gaze error °", "{:.1f}", "lower"),
    ("mutual_precision", "mutual gaze P", "{:.1%}", "higher"),
    ("mutual_recall", "mutual gaze R", "{:.1%}", "higher"),
    ("look_away_share", "looks away", "{:.0%}", "target"),
    ("head_std_yaw", "head yaw std °", "{:.1f}", "target"),
    ("head_std_pitch", "head pitch std °", "{:.1f}", "target"),
    ("head_speed", "head speed °/s", "{:.1f}", "target"),
    ("blinks_per_min", "blinks / min", "{:.1f}", "target"),
    ("diversity", "diversity", "{:.3f}", "higher"),
]


INTERACTION_COLUMNS = ([(key, label, fmt, "target") for key, label, fmt in CLOSE_TO_PEOPLE]
                       + [(*GAZE_WHEN_LOOKING, "lower")])
INTERACTION_NOTE = (
    "Interaction (what needs the partner; each best close to `target`): the listener's head-nod speed "
    "around the speaker's cues (pauses and turn ends), its rise over the second before and the lag of "
    "its peak; the same around the speaker's glances at the listener (which the audio does not reveal), "
    "and the share of those glances a listener who was looking away meets by looking back; the share of the first and last second of a speaker's turn spent looking at the partner "
    "(speakers look away as they start and back as they end); mutual gaze within a second of a change "
    "of speaker; the peak cross-correlation of the two heads' nodding within a second; and the gaze "
    "error on the frames where the target looks at the partner.")


def table(rows: dict[str, dict], columns: list = COLUMNS) -> str:
    head = "| method | " + " | ".join(h for _, h, _, _ in columns) + " |"
    lines = [head, "|" + "---|" * (len(columns) + 1)]
    for name, r in rows.items():
        cells = [fmt.format(r[k]) if k in r and np.isfinite(r[k]) else "–" for k, _, fmt, _ in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_example(example: dict, path: Path, methods: list[str]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    preds, act = example["preds"], example["activity"]
    t = np.arange(act.shape[1]) / 25
    fig, axes = plt.subplots(4, 1, figsize=(13, 10), sharex=True)
    jaw = channel_index("jawOpen")
    for i, (ax, who) in enumerate(zip(axes[:2], "AB")):
        ax.fill_between(t, 0, 1, where=act[i], color="0.9", label="speaking (truth)")
        for name in methods:
            ax.plot(t, preds[name][i, :, jaw], lw=1.2 if name == "target" else 1.0, label=name)
        ax.set_ylabel(f"{who} jawOpen")
        ax.set_ylim(0, 1)
    axes[0].legend(loc="upper right", fontsize=7, ncol=4)
    for name in methods[:2]:
        for i, style in zip(range(2), ("-", "--")):
            axes[2].plot(t, np.degrees(preds[name][i, :, channel_index("headYaw")]), style, lw=1, label=f"{name} {'AB'[i]}")
            axes[3].plot(t, np.degrees(preds[name][i, :, channel_index("gazeYaw")]), style, lw=1, label=f"{name} {'AB'[i]}")
    axes[2].set_ylabel("head yaw °")
    axes[3].set_ylabel("gaze yaw ° (in head)")
    axes[2].legend(fontsize=7, ncol=4)
    axes[3].set_xlabel("seconds")
    fig.suptitle(f"{example['name']}: both people, target vs generated (mixed audio, diarized roles)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def guidance_axes(settings) -> str:
    """How the head and gaze guidance falls on each axis, for the report's settings line."""
    if not settings.guidance_per_axis:
        return ", one scale"
    scales = channel_guidance(settings, MOTION_DIM)
    return ": " + ", ".join(f"{name} {float(scales[channel_index(name)]):.2g}" for name in AXIS_GUIDANCE_SHARES)


def write_report(out: Path, results: dict, examples: dict, comparisons: dict[str, list[str]], real: dict | None,
                 command: str, seconds: float, settings) -> None:
    parts = ["# Evaluation report", "",
             f"Made by `{command}` in {seconds / 60:.1f} minutes on CPU.", "",
             f"Generation settings as a user gets them: {settings.steps} sampler steps, guidance "
             f"{settings.guidance} (head and gaze{guidance_axes(settings)}) and {settings.face_guidance} (face), "
             f"sampler noise eta {settings.eta:g}, "
             f"step spacing {settings.step_spacing:g}, exact eye contact within {settings.gaze_lock_degrees:g}°, blinks complemented "
             f"to {settings.blinks_per_minute:g} a minute (`blinks / min` shows the result; 0 shows the "
             "models' own).", "",
             "Every model hears the **mixed** track (both voices in one channel) and takes its roles from the "
             "runtime's own diarization (who is A and who is B matched once per conversation, like the Swap "
             "button). `target` is the corpus's procedural target motion (an upper bound for "
             "role accuracy and correlation, the reference for errors). `target_redrawn` is the same "
             "conversation's targets drawn again with another behaviour seed (same words, timing and layout): "
             "the score of a model that samples the target distribution perfectly, so errors below it come "
             "from playing safe (e.g. never looking away), not from knowing more. `target_unanswered` is that "
             "draw without the listener's answers to the partner's glances and tilt: people who hear the "
             "conversation but never watch each other, whom a model that ignores its partner can match at best. "
             "Head statistics are best "
             "when close to the target's. Mutual-gaze precision/recall are over frames where both people look at each other. "
             "Every model's metrics are averaged over its seeds; diversity is between seeds. Lip vertex error: "
             "per frame the largest lip-vertex distance on the default head, averaged (as in FaceFormer). "
             "`looks away`: share of frames whose gaze is more than 8° off the partner's eyes (the per-frame "
             "gaze error favours a model that never looks away; this column shows which ones do).", ""]
    for label, rows in results.items():
        plot = out / f"example_{label}.png"
        methods = list(rows)
        models = [m for m in methods if m not in ("audio_energy", "target_redrawn", "target_unanswered")]
        plot_example(examples[label], plot, models[:4] + ["audio_energy"])
        share = rows["target"].get("mutual_share_target", 0)
        parts += [f"## {label}", "", table(rows), "",
                  f"Target mutual gaze covers {share:.0%} of frames.", "",
                  INTERACTION_NOTE, "", table(rows, INTERACTION_COLUMNS), "",
                  "Paired differences per conversation (seeds averaged), mean and 95 % bootstrap interval; "
                  "✓ where the whole interval is on the better side (interaction metrics: the difference of the "
                  "two methods' distances to the people's value, negative where the first is closer):", ""]
        for comparison in comparisons[label]:
            parts += [comparison, ""]
        parts += [f"![{label} example]({plot.name})", ""]
    if real:
        parts += ["## Real recorded speech (AMI meeting excerpts)", "",
                  "Role accuracy of the default model on real two-person speech, against the RTTM annotation:", "",
                  "| file | role acc / frame | role acc / turn | turns |", "|---|---|---|---|"]
        parts += [f"| {r['file']} | {r['role_acc_frame']:.1%} | {r['role_acc_turn']:.1%} | {r['turns']} |"
                  for r in real["files"]]
        parts.append("")
    (out / "REPORT.md").write_text("\n".join(parts), encoding="utf-8")
