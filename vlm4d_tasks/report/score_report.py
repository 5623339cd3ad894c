"""Rendering a `vlm4d score` result: the paper's table in Markdown (its prose in `score.md.jinja`,
filled by `score_context`), and a PNG plot.

Input is the score JSON (a dict); rendering is pure and deterministic (same input, same bytes),
so a report can be regenerated from a saved score file with `vlm4d report`.
The table follows the paper's layout (VLM4D, ICCV 2025, Table 2): real egocentric /
exocentric / average, synthetic directional / false positive / average, overall.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vlm4d_tasks.metric.grading import JUDGES_NEEDED
from vlm4d_tasks.metric.text import figure_label, md_code, md_table, md_text
from vlm4d_tasks.pipeline.rows import COLUMN_TITLES
from vlm4d_tasks.report.breakdowns import dsr_set
from vlm4d_tasks.report.output import OutputError, write_output

MISSING = "–"


def percent(value: float | None) -> str:
    return MISSING if value is None else f"{100 * value:.1f}"


def _ci(acc: dict[str, Any]) -> str:
    ci = acc.get("ci95")
    return f" [{percent(ci[0])}, {percent(ci[1])}]" if ci else ""


# Modes that need no judge (`grading.JUDGES_NEEDED`) read answers with rules: nothing is sent,
# there are no judge statistics.
_READERS = frozenset(mode.value for mode, judges in JUDGES_NEEDED.items() if judges == 0)


def _judge(score: dict[str, Any]) -> dict[str, Any]:
    judge = score.get("judge", {})
    mode = judge.get("mode", "rule")
    models = judge.get("models") or []
    return {
        "mode": md_code(mode),
        "models": ", ".join(md_code(m) for m in models) if mode != "rule" else "",
        "official_prompt": judge.get("prompt", "vlm4d") == "official",
    }


def _lines(lines: list[str]) -> str:
    return "\n".join(lines)


def _two_decimals(fraction: float) -> str:
    return f"{100 * fraction:.2f}"


def markdown_report(score: dict[str, Any]) -> str:
    """The models table (percentages, one decimal) with its footnotes, then one line per run
    (`score.md.jinja`: the prose; `score_context`: what fills it)."""
    from vlm4d_tasks.templating import render

    return render("vlm4d_tasks.report", "score.md.jinja", **score_context(score))


def score_context(score: dict[str, Any]) -> dict[str, Any]:
    """What `score.md.jinja` is filled with: Markdown only (tables made, numbers formatted,
    every name from the file through `md_code`/`md_text`)."""
    validity = score.get("validity")
    debiased = bool(validity and validity.get("debiased"))
    runs = score["runs"]
    summary = score.get("summary", {})
    agreement = summary.get("agreement")
    worst = summary.get("agreement_min") if agreement is not None else None
    dsr = {r["model"] for r in runs if r.get("subset") == dsr_set()}
    ours = [row for row in score["models"] if row["model"] not in dsr]
    return {
        "judge": _judge(score),
        # VLM4D's rows in the paper's columns; DSR-Bench's apart, in theirs (`_dsr_table`)
        "models_table": _lines(_table(
            ours, debiased, lambda row: validity["models"].get(row["model"])
        )) if ours or not dsr else None,
        "dsr_table": _lines(_dsr_table(score, [r for r in score["models"] if r["model"] in dsr]))
        if dsr else None,
        "baselines_table": _lines(_table(validity["baselines"], debiased, lambda row: row))
        if debiased else None,
        "comparisons_table": _lines(_comparison_table(score["comparisons"]))
        if score.get("comparisons") else None,
        "consistency_table": _lines(_consistency_table(validity["consistency"]))
        if validity and validity.get("consistency") else None,
        "missing": MISSING,
        "no_valid_answer": sum(run.get("no_valid_answer", 0) for run in runs),
        "models_run": len({run.get("model") for run in runs}),
        "unresolved": sum(run.get("unresolved", 0) for run in runs),
        "unresolved_causes": _unresolved_causes(runs),
        "validity": _validity(validity) if debiased else None,
        "unmatched": sum(run.get("ground_truth_unmatched", 0) for run in runs),
        "agreement": None if agreement is None else {
            "percent": _two_decimals(agreement), "n": summary["agreement_n"],
            "worst_run": md_code(worst["run"]), "worst_percent": _two_decimals(worst["agreement"]),
        },
        "errata": _errata(summary, runs),
        "produced_by": _produced_by(score.get("produced_by")),
        "letter_answers": sum(run.get("ground_truth_letters") or 0 for run in runs),
        "judges": [
            {"model": md_code(model), "sent": summary["sent_to_llm"],
             "requests": totals["requests"], "cached": totals["cached"],
             "unresolved": totals["unresolved"], "tokens": totals["tokens"].get("total", 0)}
            for model, totals in summary.get("judges", {}).items()
        ],
        "runs": [_run(run) for run in runs],
        "unresolved_runs": _unresolved_runs(runs),
    }  # fmt: skip


def _produced_by(declared: Any) -> str | None:
    """What the user declared made the answers, as Markdown text; None when nothing was."""
    if not isinstance(declared, dict):
        return None
    parts = [
        f"{key} {md_code(declared[key])}" for key in ("model", "protocol") if declared.get(key)
    ]
    return ", ".join(parts) or None


def _errata(summary: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The known errata applied (`metric.errata`): the pooled agreement with them, and the
    published (reference) accuracies that the known reference errors move."""
    if summary.get("agreement_with_errata") is None:
        return None
    moved = [
        (md_code(f"{run['subset']}/{run['model']}"), _two_decimals(run["reference_accuracy"]),
         _two_decimals(run["errata"]["reference_accuracy"]), run["errata"]["reference_wrong"])
        for run in runs
        if run.get("errata") and run["errata"]["reference_wrong"]
    ]  # fmt: skip
    return {
        "percent": _two_decimals(summary["agreement_with_errata"]),
        "runs": summary["errata_runs"],
        "ambiguous": sum(run["errata"]["ambiguous"] for run in runs if run.get("errata")),
        "disputed": sum(run["errata"].get("disputed", 0) for run in runs if run.get("errata")),
        "moved": moved,
    }


def _run(run: dict[str, Any]) -> dict[str, Any]:
    """One run's line and its sub-items, formatted (`score.md.jinja`'s "Runs")."""
    grading = run.get("grading", {})
    reference = run.get("reference_accuracy")
    llm = grading.get("mode", "rule") not in _READERS
    return {
        "label": md_code(f"{run['subset']}/{run['model']}"),
        "accuracy": percent(run["accuracy"]),
        "ci": _ci(run),
        "n": run["n"],
        "no_valid_answer": run["no_valid_answer"],
        "unresolved": run["unresolved"],
        "reference": None if reference is None else percent(reference),
        "agreement": None if run.get("agreement") is None else _two_decimals(run["agreement"]),
        "unmatched": run.get("ground_truth_unmatched") or 0,
        "sent_to_llm": grading.get("sent_to_llm", 0) if llm else None,
        "judges": [
            {
                "model": md_text(judge["model"]),
                "requests": judge["requests"],
                "cached": judge["cached"],
                "unresolved": judge["unresolved"],
                "tokens": judge["tokens"]["total"],
            }
            for judge in (grading.get("judges", []) if llm else [])
        ],  # fmt: skip
        "disagreements": len(grading.get("disagreements", []))
        if llm and grading.get("mode") == "crosscheck"
        else None,
        "breakdowns": [
            (
                title,
                [
                    (md_text(name), percent(acc["accuracy"]), acc["n"])
                    for name, acc in run[key].items()
                ],
            )
            for title, key in (("perspective", "by_perspective"), ("category", "by_category"))
            if run.get(key)
        ],  # fmt: skip
        "unmatched_ids": [md_code(uid) for uid in run.get("ground_truth_unmatched_ids") or []],
        "stale": _stale(run["stale"]) if run.get("stale", {}).get("count") else None,
    }


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
    if not any("agreement" in e or "versus_identity" in e for e in entries):
        return md_table(header, body, "llrrrr")
    # With the identity variant in the run (the clip re-encoded, nothing transformed): its
    # agreement with the original is the codec and timing effect alone, and each mirror or
    # reverse row's consistency against it is the figure with the re-encoding controlled.
    for cells, e in zip(body, entries):
        cells.append(percent((e.get("versus_identity") or {}).get("consistency")))
        cells.append(percent(e.get("agreement")))
    header += ["Consistency vs identity", "Same outcome as base"]
    return md_table(header, body, "llrrrrrr")


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


def _dsr_table(score: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """DSR-Bench rows (`breakdowns.dsr_cells`): the two viewpoints, then the overall accuracy,
    its interval and the chance-corrected accuracy; no debiased column (the set is VLM4D's)."""
    from vlm4d_tasks.report.breakdowns import dsr_cells, dsr_viewpoint_titles

    views = dsr_viewpoint_titles()
    header = ["Model", *views.values(), "Overall", "95% CI", "Chance-corr."]
    body = []
    for row in rows:
        cells = dsr_cells(score, row["model"]).viewpoints
        overall = row["columns"].get("overall") or {}
        ci = overall.get("ci95")
        body.append([
            md_text(row["model"]),
            *(MISSING if cells.get(v) is None else percent(cells[v].accuracy) for v in views),
            percent(overall.get("accuracy")), f"{percent(ci[0])}–{percent(ci[1])}" if ci else MISSING,
            percent(overall.get("chance_corrected")),
        ])  # fmt: skip
    return md_table(header, body, "l" + "r" * (len(header) - 1))


def _validity(validity: dict[str, Any]) -> dict[str, Any]:
    debiased = validity["debiased"]
    missing = [md_text(f"{s} ({state})") for s, state in debiased["subsets"].items()
               if state != "shipped"]  # fmt: skip
    return {
        "kept": debiased["kept"],
        "of": debiased["of"],
        "version": md_code(debiased["version"]),
        "measured": len(missing) < len(debiased["subsets"]),
        "missing": missing,
    }


def _stale(stale: dict[str, Any]) -> dict[str, Any]:
    """Entries whose question, options or ground truth differ from the annotation."""
    return {
        "count": stale["count"],
        "kinds": [(md_text(k.replace("_", " ")), n) for k, n in stale["by_kind"].items()],
        "excluded": bool(stale.get("excluded")),
        "entries": [
            (md_code(e["id"]), [md_text(k.replace("_", " ")) for k in e["kinds"]])
            for e in stale["entries"]
        ],
    }


def _unresolved_answers(run: dict[str, Any]) -> list[dict[str, Any]]:
    """A run's unresolved answers with their reasons (older score files list only ids)."""
    if "unresolved_answers" in run:
        return run["unresolved_answers"]
    return [{"id": uid, "cause": "unresolved", "reason": "reason not recorded"}
            for uid in run.get("unresolved_ids", [])]  # fmt: skip


def _unresolved_causes(runs: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(cause, count) over every run, the most frequent first."""
    counts: dict[str, int] = {}
    for run in runs:
        for answer in _unresolved_answers(run):
            cause = answer.get("cause") or "unresolved"
            counts[cause] = counts.get(cause, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(md_text(cause), n) for cause, n in ordered]


def _unresolved_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every unresolved answer with its reason, grouped by run and by identical reason."""
    out = []
    for run in runs:
        answers = _unresolved_answers(run)
        if not answers:
            continue
        by_reason: dict[str, list[str]] = {}
        for answer in answers:
            reason = " ".join(answer["reason"].split()) or "no reason given"
            by_reason.setdefault(reason, []).append(md_code(answer["id"]))
        out.append({
            "label": md_code(run["subset"] + "/" + run["model"]),
            "count": len(answers),
            "reasons": [(md_text(reason), ids) for reason, ids in by_reason.items()],
        })  # fmt: skip
    return out


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
