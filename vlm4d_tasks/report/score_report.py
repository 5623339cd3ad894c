"""Rendering a `vlm4d score` result: the paper's table in Markdown, and a PNG plot.

Input is the score JSON (a dict); rendering is pure and deterministic (same input, same bytes),
so a report can be regenerated from a saved score file with `vlm4d report`.
The table follows the paper's layout (VLM4D, ICCV 2025, Table 2): real egocentric /
exocentric / average, synthetic directional / false positive / average, overall.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vlm4d_tasks.metric.text import figure_label, md_code, md_table, md_text
from vlm4d_tasks.pipeline.rows import COLUMN_TITLES
from vlm4d_tasks.report.output import OutputError, write_output

MISSING = "–"


def percent(value: float | None) -> str:
    return MISSING if value is None else f"{100 * value:.1f}"


def _ci(acc: dict[str, Any]) -> str:
    ci = acc.get("ci95")
    return f" [{percent(ci[0])}, {percent(ci[1])}]" if ci else ""


def _judge_line(score: dict[str, Any]) -> str:
    judge = score.get("judge", {})
    mode = judge.get("mode", "rule")
    models = judge.get("models") or []
    if mode == "rule" or not models:
        return f"Verdicts: {md_code(mode)} (deterministic answer extraction, no LLM)."
    prompt = judge.get("prompt", "vlm4d")
    which = "the official judge prompt" if prompt == "official" else "our judge prompt"
    names = ", ".join(md_code(m) for m in models)
    return f"Verdicts: {md_code(mode)} with judge model(s) {names} ({which})."


def _such_answers(total: int, runs: list[dict[str, Any]]) -> str:
    """How many answers committed to no option: one number for one model; for several, the
    total says it is pooled and the per-run counts are in the "Runs" list."""
    models = {run.get("model") for run in runs}
    if len(models) <= 1:
        return f"{total} such answers"
    return f"{total} such answers over {len(models)} models; each run's count is listed below"


def markdown_report(score: dict[str, Any]) -> str:
    """The models table (percentages, one decimal) with its footnotes, then one line per run."""
    lines = ["# VLM4D accuracy", "", _judge_line(score), ""]
    validity = score.get("validity")
    debiased = bool(validity and validity.get("debiased"))
    lines += _table(
        score["models"], debiased, lambda row: validity["models"].get(row["model"])
    )  # fmt: skip
    if debiased:
        lines += ["", "Baselines on the same questions (no model; they never see the video):", ""]
        lines += _table(validity["baselines"], debiased, lambda row: row)
    if score.get("comparisons"):
        lines += ["", "Paired comparisons (questions both rows answered; the interval resamples "
                  "videos; p: McNemar's exact test):", ""]  # fmt: skip
        lines += _comparison_table(score["comparisons"])
    if validity and validity.get("consistency"):
        lines += ["", "Consistency under transformations (right as asked and transformed):", ""]
        lines += _consistency_table(validity["consistency"])
        lines += [
            "",
            "Consistency: the share of questions answered right both as asked and "
            "transformed (for `circular`, right under all four rotations of the options).",
        ]
    unresolved = sum(run.get("unresolved", 0) for run in score["runs"])
    nva = sum(run.get("no_valid_answer", 0) for run in score["runs"])
    lines += [
        "",
        "Accuracy in %; overall is over all questions of both subsets (question-weighted); "
        f"{MISSING} = no questions of that kind. A response that commits to no option counts as "
        f"wrong ({_such_answers(nva, score['runs'])}). Unresolved answers (the LLM judge failed "
        f"after its retries) are excluded from every denominator and listed in the JSON: "
        f"{unresolved}.",
    ]
    lines += _unresolved_causes_line(score["runs"])
    if debiased:
        lines += ["", _validity_line(validity)]
    unmatched = sum(run.get("ground_truth_unmatched", 0) for run in score["runs"])
    if unmatched:
        lines += [
            "",
            f"Ground truth that matches none of the question's options: {unmatched} "
            "question(s), counted wrong and kept in the denominators (as in the paper's "
            "numbers); listed under their run below and in the JSON.",
        ]
    agreement = score.get("summary", {}).get("agreement")
    if agreement is not None:
        summary = score["summary"]
        worst = summary["agreement_min"]
        lines += [
            "",
            f"Agreement with the reference labels: {100 * agreement:.2f}% of "
            f"{summary['agreement_n']} answers; lowest run {md_code(worst['run'])} "
            f"{100 * worst['agreement']:.2f}%.",
        ]
    for model, totals in score.get("summary", {}).get("judges", {}).items():
        lines += [
            "",
            f"Judge {md_code(model)}: {score['summary']['sent_to_llm']} answers sent to the LLM, "
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
        if run.get("ground_truth_unmatched"):
            parts.append(f"ground truth matches no option {run['ground_truth_unmatched']}")
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
        lines.append(f"- {md_code(label)}: " + "; ".join(parts))
        for title, key in (("perspective", "by_perspective"), ("category", "by_category")):
            if run.get(key):
                lines.append(f"  - by {title}: " + _breakdown(run[key]))
        if run.get("ground_truth_unmatched_ids"):
            ids = ", ".join(md_code(uid) for uid in run["ground_truth_unmatched_ids"])
            lines.append(f"  - ground truth matches no option: {ids}")
        if run.get("stale", {}).get("count"):
            lines.append(f"  - stale entries: {_stale_line(run['stale'])}")
    lines += _unresolved_section(score["runs"])
    return "\n".join(lines) + "\n"


def _comparison_table(entries: list[dict[str, Any]]) -> list[str]:
    body = []
    for e in entries:
        if e.get("why"):
            body.append([md_text(e["a"]), md_text(e["b"]), str(e["n"]), MISSING, MISSING,
                         md_text(e["why"]), MISSING])  # fmt: skip
            continue
        ci = e.get("ci95")
        interval = f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else ""
        body.append([
            md_text(e["a"]), md_text(e["b"]), str(e["n"]), percent(e["a_accuracy"]),
            percent(e["b_accuracy"]), f"{100 * e['difference']:+.1f}{interval}",
            f"{e['p_value']:.3g}",
        ])  # fmt: skip
    header = ["A", "B", "Questions", "A", "B", "A - B [95% CI]", "p"]
    return md_table(header, body, "llrrrrr")


def _consistency_table(entries: list[dict[str, Any]]) -> list[str]:
    body = [
        [md_text(e["row"]), md_text(e["variant"]), str(e["n"]), percent(e.get("base_accuracy")),
         percent(e.get("variant_accuracy")), percent(e.get("consistency"))]
        for e in entries
    ]  # fmt: skip
    header = ["Row", "Variant", "Questions", "Base acc.", "Variant acc.", "Consistency"]
    return md_table(header, body, "llrrrr")


def _table(rows: list[dict[str, Any]], validity: bool, extra) -> list[str]:
    """The paper's columns, then the overall interval, chance-corrected overall accuracy and,
    with `validity`, the accuracy on the debiased set (`extra(row)["debiased"]`)."""
    header = ["Model", *COLUMN_TITLES.values(), "95% CI", "Chance-corr."]
    if validity:
        header += ["Debiased", "Random-removed"]
    body = []
    for row in rows:
        cells = [md_text(row["model"])]
        for name in COLUMN_TITLES:
            acc = row["columns"].get(name)
            cells.append(percent(acc["accuracy"]) if acc else MISSING)
        overall = row["columns"].get("overall") or {}
        ci = overall.get("ci95")
        cells.append(f"{percent(ci[0])}–{percent(ci[1])}" if ci else MISSING)
        cells.append(percent(overall.get("chance_corrected")))
        if validity:
            debiased = (extra(row) or {}).get("debiased") or {}
            cells.append(percent(debiased.get("accuracy")))
            control = (extra(row) or {}).get("random_removed") or {}
            cells.append(percent(control.get("accuracy")))
        body.append(cells)
    return md_table(header, body, "l" + "r" * (len(header) - 1))


def _validity_line(validity: dict[str, Any]) -> str:
    debiased = validity["debiased"]
    line = (
        "Intervals are 95% bootstrap intervals clustered by video (questions about one clip are "
        "not independent). Chance-corrected = (accuracy - 25%) / 75%: 0 is guessing, 100 is "
        "perfect. Baselines answer the same questions: the option-text prior picks the option "
        "whose text is most often right in the other questions of its subset."
    )
    missing = [md_text(f"{s} ({state})") for s, state in debiased["subsets"].items()
               if state != "shipped"]  # fmt: skip
    if len(missing) < len(debiased["subsets"]):
        line += (
            f" Debiased = accuracy on the {debiased['kept']} of {debiased['of']} questions "
            f"kept by {md_code(debiased['version'])}, the questions a text-only predictor cannot "
            "answer (see the README's validity section). Random-removed = the mean accuracy "
            "after removing as many questions per subset at random instead (5 seeds): the "
            "control that shows what the debiasing itself changes."
        )
    if missing:
        line += " No debiased accuracy for: " + ", ".join(missing) + "."
    return line


def _stale_line(stale: dict[str, Any]) -> str:
    """Entries whose question, options or ground truth differ from the annotation."""
    kinds = ", ".join(f"{md_text(k.replace('_', ' '))} {n}" for k, n in stale["by_kind"].items())
    what = "left out (--strict)" if stale.get("excluded") else "graded as the file asked them"
    ids = ", ".join(
        f"{md_code(e['id'])} ({', '.join(md_text(k.replace('_', ' ')) for k in e['kinds'])})"
        for e in stale["entries"]
    )
    return (
        f"{stale['count']} ({kinds}); re-lettered options are graded through the file's own "
        f"letters, other differences {what}: {ids}"
    )


def _unresolved_answers(run: dict[str, Any]) -> list[dict[str, Any]]:
    """A run's unresolved answers with their reasons (older score files list only ids)."""
    if "unresolved_answers" in run:
        return run["unresolved_answers"]
    return [{"id": uid, "cause": "unresolved", "reason": "reason not recorded"}
            for uid in run.get("unresolved_ids", [])]  # fmt: skip


def _unresolved_causes_line(runs: list[dict[str, Any]]) -> list[str]:
    counts: dict[str, int] = {}
    for run in runs:
        for answer in _unresolved_answers(run):
            cause = answer.get("cause") or "unresolved"
            counts[cause] = counts.get(cause, 0) + 1
    if not counts:
        return []
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ["", "Unresolved answers by cause: "
            + ", ".join(f"{md_text(c)} {n}" for c, n in ordered) + "."]  # fmt: skip


def _unresolved_section(runs: list[dict[str, Any]]) -> list[str]:
    """Every unresolved answer with its reason, grouped by run and by identical reason."""
    lines: list[str] = []
    for run in runs:
        answers = _unresolved_answers(run)
        if not answers:
            continue
        lines.append(f"- {md_code(run['subset'] + '/' + run['model'])}: {len(answers)}")
        by_reason: dict[str, list[str]] = {}
        for answer in answers:
            reason = " ".join(answer["reason"].split()) or "no reason given"
            by_reason.setdefault(reason, []).append(answer["id"])
        for reason, ids in by_reason.items():
            lines.append(f"  - {md_text(reason)}: " + ", ".join(md_code(uid) for uid in ids))
    return ["", "## Unresolved answers", "", *lines] if lines else []


def _breakdown(groups: dict[str, dict[str, Any]]) -> str:
    return ", ".join(
        f"{md_text(name)} {percent(acc['accuracy'])}% (n={acc['n']})"
        for name, acc in groups.items()
    )


def plot_report(score: dict[str, Any], path: str | Path) -> None:
    """One panel per table column, a horizontal bar per model with its 95% CI (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    # Model names come from files: a "$" in one is a dollar sign, never mathtext (an unknown
    # command there raises at save time, after the other outputs were written) nor LaTeX.
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        _plot_report(score, path)


def _plot_report(score: dict[str, Any], path: str | Path) -> None:
    import matplotlib.pyplot as plt

    rows = score["models"]
    columns = [c for c in COLUMN_TITLES if any(c in r["columns"] for r in rows)]
    if not rows or not columns:
        raise OutputError(
            f"--plot {path}: nothing to plot, the score has no answers; fix: leave out --plot"
        )
    height = max(2.5, 0.32 * len(rows) + 1.2)
    fig, axes = plt.subplots(
        1, len(columns), figsize=(2.3 * len(columns) + 2.5, height), sharey=True, squeeze=False
    )
    names = [figure_label(r["model"]) for r in rows]
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
    import io

    image = io.BytesIO()
    try:
        fig.savefig(image, format="png", dpi=120, metadata={"Software": None})
    finally:
        plt.close(fig)
    write_output(path, "--plot", image.getvalue())


def score_markdown(score: Mapping[str, Any], note: str | None = None) -> str:
    """The paper's table and the runs in Markdown (`report.markdown_report`, redacted);
    `note` (e.g. the protocol of an lmms-eval run's rows) goes under the title."""
    from vlm4d_tasks.metric.judge import redact
    from vlm4d_tasks.report.score_report import markdown_report

    text = markdown_report(dict(score))
    if note is not None:
        title, _, rest = text.partition("\n")
        text = f"{title}\n\n{note}\n{rest}"
    return redact(text)
