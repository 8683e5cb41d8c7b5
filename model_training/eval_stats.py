"""Paired comparisons between two methods on the same conversations, with bootstrap intervals.

A difference between two models is only worth reporting as "better" when it is larger than
what resampling the held-out conversations would move it by: each comparison pairs the
methods conversation by conversation (seeds averaged first) and bootstraps the mean
difference over conversations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The headline metrics and which direction is better.
HEADLINE = (("mouth_err", "mouth MAE", "lower"), ("lip_vertex_mm", "lip vertex mm", "lower"),
            ("role_acc_turn", "role acc / turn", "higher"), ("role_acc_frame", "role acc / frame", "higher"),
            ("gaze_err_deg", "gaze error °", "lower"))
BOOTSTRAP_SAMPLES = 4000


@dataclass
class Comparison:
    delta: float      # mean of (method - baseline) over conversations
    low: float        # 95 % bootstrap interval of that mean
    high: float
    better: bool      # the whole interval lies on the better side of zero

    def cell(self, fmt: str) -> str:
        if not np.isfinite(self.delta):       # nothing to compare (every pair had a NaN)
            return "–"
        mark = " ✓" if self.better else ""
        return f"{fmt.format(self.delta)} [{fmt.format(self.low)}, {fmt.format(self.high)}]{mark}"


def per_conversation(rows: list[dict], key: str) -> np.ndarray:
    """Mean of ``key`` per conversation (rows carry a ``conv`` index; several seeds each; NaN,
    a metric with nothing to measure in that sample, left out)."""
    convs = sorted({r["conv"] for r in rows})
    values = [[r[key] for r in rows if r["conv"] == c] for c in convs]
    return np.array([np.nanmean(v) if np.isfinite(v).any() else np.nan for v in values])


def compare(method: list[dict], baseline: list[dict], key: str, direction: str, seed: int = 0,
            target: list[dict] | None = None) -> Comparison:
    """Paired difference method - baseline; with ``target``, of their distances to the target's
    value per conversation (direction "lower": the method is closer)."""
    m, b = per_conversation(method, key), per_conversation(baseline, key)
    if target is not None:
        t = per_conversation(target, key)
        m, b = np.abs(m - t), np.abs(b - t)
    diff = m - b
    diff = diff[np.isfinite(diff)]
    if not diff.size:
        return Comparison(np.nan, np.nan, np.nan, False)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(diff), size=(BOOTSTRAP_SAMPLES, len(diff)))
    means = diff[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    better = high < 0 if direction == "lower" else low > 0
    return Comparison(float(diff.mean()), float(low), float(high), bool(better))


def comparison_table(rows: dict[str, list[dict]], method: str) -> str:
    """Markdown: ``method`` minus each other method on the headline metrics, with intervals."""
    fmts = {"mouth_err": "{:+.4f}", "lip_vertex_mm": "{:+.2f}", "role_acc_turn": "{:+.1%}",
            "role_acc_frame": "{:+.1%}", "gaze_err_deg": "{:+.2f}"}
    head = f"| {method} minus | " + " | ".join(label for _, label, _ in HEADLINE) + " |"
    lines = [head, "|" + "---|" * (len(HEADLINE) + 1)]
    for other, other_rows in rows.items():
        if other in (method, "target") or not other_rows:
            continue
        cells = [compare(rows[method], other_rows, key, direction).cell(fmts[key])
                 for key, _, direction in HEADLINE]
        lines.append(f"| {other} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def closeness_table(rows: dict[str, list[dict]], method: str, metrics) -> str:
    """Markdown: on ``metrics`` ((key, label, format) each best close to the people's value,
    e.g. interaction.CLOSE_TO_PEOPLE), ``method``'s distance to the people's value minus each
    other method's, per conversation, with intervals (negative: ``method`` is closer)."""
    head = f"| {method} closer to people than | " + " | ".join(label for _, label, _ in metrics) + " |"
    lines = [head, "|" + "---|" * (len(metrics) + 1)]
    for other, other_rows in rows.items():
        if other in (method, "target") or not other_rows:
            continue
        cells = [compare(rows[method], other_rows, key, "lower", target=rows["target"]).cell(fmt.replace("{:", "{:+"))
                 for key, _, fmt in metrics]
        lines.append(f"| {other} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
