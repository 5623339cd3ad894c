"""Rendering a `vlm4d score` result: the paper's table in Markdown, and a PNG plot.

Input is the score JSON (a dict); rendering is pure and deterministic (same input, same bytes),
so a report can be regenerated from a saved score file with `vlm4d report`.
The table follows the paper's layout (VLM4D, ICCV 2025, Table 2): real egocentric /
exocentric / average, synthetic directional / false positive / average, overall.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COLUMN_TITLES: dict[str, str] = {
    "real_egocentric": "Real Ego",
    "real_exocentric": "Real Exo",
    "real": "Real Avg",
    "synthetic_directional": "Syn Dir",
    "synthetic_false_positive": "Syn FP",
    "synthetic": "Syn Avg",
    "overall": "Overall",
}
MISSING = "–"


def percent(value: float | None) -> str:
    return MISSING if value is None else f"{100 * value:.1f}"


def _ci(acc: dict[str, Any]) -> str:
    ci = acc.get("ci95")
    return f" [{percent(ci[0])}, {percent(ci[1])}]" if ci else ""


def load_score(path: str | Path) -> dict[str, Any]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "runs" not in data or "models" not in data:
        raise ValueError(f"{path}: not a `vlm4d score` JSON (needs 'runs' and 'models')")
    return data


def _judge_line(score: dict[str, Any]) -> str:
    judge = score.get("judge", {})
    mode = judge.get("mode", "rule")
    models = judge.get("models") or []
    if mode == "rule" or not models:
        return f"Verdicts: `{mode}` (deterministic answer extraction, no LLM)."
    return f"Verdicts: `{mode}` with judge model(s) " + ", ".join(f"`{m}`" for m in models) + "."


def markdown_report(score: dict[str, Any]) -> str:
    """The models table (percentages, one decimal) with its footnotes, then one line per run."""
    lines = ["# VLM4D accuracy", "", _judge_line(score), ""]
    header = ["Model", *COLUMN_TITLES.values()]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("| --- |" + " ---: |" * len(COLUMN_TITLES))
    for row in score["models"]:
        cells = [row["model"]]
        for name in COLUMN_TITLES:
            acc = row["columns"].get(name)
            cells.append(percent(acc["accuracy"]) if acc else MISSING)
        lines.append("| " + " | ".join(cells) + " |")
    unresolved = sum(run.get("unresolved", 0) for run in score["runs"])
    nva = sum(run.get("no_valid_answer", 0) for run in score["runs"])
    lines += [
        "",
        "Accuracy in %; overall is over all questions of both subsets (question-weighted); "
        f"{MISSING} = no questions of that kind. A response that commits to no option counts as "
        f"wrong ({nva} such answers). Unresolved answers (the LLM judge failed after its "
        f"retries) are excluded from every denominator and listed in the JSON: {unresolved}.",
    ]
    agreement = score.get("summary", {}).get("agreement")
    if agreement is not None:
        summary = score["summary"]
        worst = summary["agreement_min"]
        lines += [
            "",
            f"Agreement with the reference labels: {100 * agreement:.2f}% of "
            f"{summary['agreement_n']} answers; lowest run `{worst['run']}` "
            f"{100 * worst['agreement']:.2f}%.",
        ]
    for model, totals in score.get("summary", {}).get("judges", {}).items():
        lines += [
            "",
            f"Judge `{model}`: {score['summary']['sent_to_llm']} answers sent to the LLM, "
            f"{totals['requests']} requests, {totals['cached']} from the cache, "
            f"{totals['unresolved']} unresolved, {totals['tokens'].get('total', 0)} tokens.",
        ]
    lines += ["", "## Runs", ""]
    for run in score["runs"]:
        parts = [
            f"{percent(run['accuracy'])}%{_ci(run)}",
            f"n={run['n']}",
            f"no valid answer {run['no_valid_answer']}",
            f"unresolved {run['unresolved']}",
        ]
        if run.get("reference_accuracy") is not None:
            parts.append(f"reference {percent(run['reference_accuracy'])}%")
            parts.append(
                f"agreement {100 * run['agreement']:.2f}%"
                if run.get("agreement") is not None
                else "agreement –"
            )
        grading = run.get("grading", {})
        if grading.get("mode", "rule") != "rule":
            parts.append(f"sent to LLM {grading.get('sent_to_llm', 0)}")
            for judge in grading.get("judges", []):
                parts.append(
                    f"{judge['model']}: {judge['requests']} requests, {judge['cached']} cached, "
                    f"{judge['unresolved']} unresolved, {judge['tokens']['total']} tokens"
                )
            if grading.get("mode") == "crosscheck":
                parts.append(f"judge disagreements {len(grading.get('disagreements', []))}")
        label = f"{run['subset']}/{run['model']}"
        lines.append(f"- `{label}`: " + "; ".join(parts))
        for title, key in (("perspective", "by_perspective"), ("category", "by_category")):
            if run.get(key):
                lines.append(f"  - by {title}: " + _breakdown(run[key]))
    return "\n".join(lines) + "\n"


def _breakdown(groups: dict[str, dict[str, Any]]) -> str:
    return ", ".join(
        f"{name} {percent(acc['accuracy'])}% (n={acc['n']})" for name, acc in groups.items()
    )


def plot_report(score: dict[str, Any], path: str | Path) -> None:
    """One panel per table column, a horizontal bar per model with its 95% CI (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = score["models"]
    columns = [c for c in COLUMN_TITLES if any(c in r["columns"] for r in rows)]
    if not rows or not columns:
        raise ValueError("nothing to plot: the score has no models")
    height = max(2.5, 0.32 * len(rows) + 1.2)
    fig, axes = plt.subplots(
        1, len(columns), figsize=(2.3 * len(columns) + 2.5, height), sharey=True, squeeze=False
    )
    names = [r["model"] for r in rows]
    ys = list(range(len(rows)))
    for ax, column in zip(axes[0], columns):
        values, lo_err, hi_err = [], [], []
        for r in rows:
            acc = r["columns"].get(column)
            value = acc["accuracy"] if acc and acc["accuracy"] is not None else float("nan")
            ci = acc.get("ci95") if acc else None
            values.append(100 * value)
            lo_err.append(100 * (value - ci[0]) if ci else 0.0)
            hi_err.append(100 * (ci[1] - value) if ci else 0.0)
        ax.barh(ys, values, xerr=[lo_err, hi_err], color="#4C72B0", ecolor="#333333",
                capsize=2, height=0.7)  # fmt: skip
        ax.axvline(25.0, color="#C44E52", linewidth=0.8, linestyle="--")  # 4-way chance
        ax.set_xlim(0, 100)
        ax.set_title(COLUMN_TITLES[column], fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", linewidth=0.3)
    axes[0][0].set_yticks(ys, names, fontsize=7)
    axes[0][0].invert_yaxis()
    fig.supxlabel("accuracy (%) with 95% bootstrap CI; dashed line = chance", fontsize=8)
    fig.tight_layout()
    # No software/date metadata: the same score gives the same bytes.
    fig.savefig(str(path), dpi=120, metadata={"Software": None})
    plt.close(fig)
