"""The report's figures (`vlm4d report --out`): PNGs drawn from score documents.

Input is what `pipeline.score_document` writes (the JSON of `vlm4d score --json` and of an
lmms-eval run); nothing is judged again. Every figure is readable in grey-scale (each series
has its own hatch or marker, colour is never the only cue) and its bytes depend on the input
alone: the Agg renderer of a bare `matplotlib.figure.Figure` (no pyplot, no global backend),
matplotlib's default style whatever the user's matplotlibrc says, a fixed dpi and no
"Software" or date metadata in the PNG.

- `accuracy_by_category*.png`: per model (a row of the document's table: a model and its
  prompt setting or task), accuracy on the paper's four question categories (VLM4D, ICCV 2025,
  Sec. 3: translational, rotational, counting, false positive) with 95% intervals. A model's
  runs (real, synthetic) are pooled by question counts, correct / scored, not means of means;
  the interval is the percentile bootstrap (`stats.share_ci`) of those pooled counts with
  the document's resamples and seed. Many models are split over several pages.
- `cot_vs_direct.png`: chain of thought vs direct output for each model that has runs of
  both prompt settings (response files' `variant` "cot" / "direct-output", or lmms-eval's
  `vlm4d_mc` / `vlm4d_mc_direct` tasks), real / synthetic / overall with the table's intervals.
- `direction_confusion_<setting>.png`: true vs chosen direction (left, right, towards, away,
  not moving, absent; `direction_of` reads the option texts) on the direction questions (those
  whose right answer names one of them), one matrix per prompt setting (`DIRECTION_GROUPS`:
  chain of thought, direct output; the probe set apart), pooled over its models' runs. It needs
  the option each answer chose, which a run's `outcomes` carry as `truth` (the ground-truth
  text) and `chosen` (the chosen option's text, null for no valid answer) beside `id`,
  `correct` and `video` (`pipeline.outcome`). A document written before they were recorded
  (only right or wrong per question) cannot give the matrix: its runs are left out and
  `figure_notes` names their models. `direction_confusion_figure` draws it from
  `(truth, chosen)` pairs made elsewhere; `figure_texts` states its telling cells.
- `probe_twins.png` (`probe_twin_figure`): on the probe set, the static/moving camera twins
  (`probe.diagnose.ProbeDiagnosis`): pair outcomes and accuracy by camera motion. The report
  draws it for the rows that answered the probe set (`leaderboard.probe_diagnoses`).

The figures are VLM4D's: rows of another benchmark (DSR-Bench, `breakdowns`) are in none of
them (`figure_notes` names them); their breakdowns are the report's tables.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlm4d_tasks.data.schema import Category
from vlm4d_tasks.report.breakdowns import dsr_set

DPI = 110
MANY_MODELS = 12  # above this, `write_figures` shows a progress bar (progress=None)
MODELS_PER_PAGE = 12  # models per page of the category figure

# One style per series: a fill that is also distinct in grey-scale, plus a hatch.
SERIES_STYLES: tuple[tuple[str, str], ...] = (
    ("#56B4E9", ""),
    ("#E69F00", "///"),
    ("#009E73", "..."),
    ("#F0E442", "xx"),
    ("#CC79A7", "\\\\\\"),
    ("#FFFFFF", "++"),
    ("#999999", "--"),
    ("#0072B2", "oo"),
)
CATEGORY_TITLES: dict[str, str] = {
    Category.TRANSLATIONAL.value: "translational",
    Category.ROTATIONAL.value: "rotational",
    Category.COUNTING.value: "counting",
    Category.FALSE_POSITIVE.value: "false positive",
}
TABLE_PANELS: dict[str, str] = {"real": "Real", "synthetic": "Synthetic", "overall": "Overall"}
CHANCE = 25.0  # four options

# Matplotlib's defaults (a user's matplotlibrc must not change the bytes) plus ours.
_RC: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "hatch.linewidth": 0.6,
    "hatch.color": "black",
    "svg.hashsalt": "vlm4d",  # SVG ids, should a figure ever be saved as SVG
    "savefig.dpi": DPI,
    # Model names come from files: a "$" in one must be drawn as a dollar, not parsed as
    # mathtext (an unknown command there raises at save time) or handed to LaTeX.
    "text.parse_math": False,
    "text.usetex": False,
}


# --------------------------------------------------------------------------------------------
# Drawing helpers


def _new_figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI)


def _save(fig: Any, path: Path) -> Path:
    """PNG with no metadata that varies (software version, date): same input, same bytes."""
    import io

    from vlm4d_tasks.data.files import write_file

    path.parent.mkdir(parents=True, exist_ok=True)
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=DPI, metadata={"Software": None},
                bbox_inches="tight", pad_inches=0.15)  # fmt: skip
    write_file(path, image.getvalue())  # a symlink planted at path is replaced, not followed
    return path


def _draw(render: Any, path: Path, *args: Any) -> Path:
    """`render(*args) -> Figure` under the fixed style, saved to `path`."""
    import matplotlib

    with matplotlib.rc_context(dict(matplotlib.rcParamsDefault)):
        matplotlib.rcParams.update(_RC)
        fig = render(*args)
        return _save(fig, path)


@dataclass(frozen=True)
class Bar:
    """One bar: accuracy in %, its 95% interval in % (None: not known) and a label."""

    value: float
    low: float | None = None
    high: float | None = None
    label: str | None = None


def _grouped_barh(
    ax: Any, groups: Sequence[str], series: Sequence[str], cells: Sequence[Sequence[Bar | None]],
    *, xmax: float = 100.0,
) -> None:  # fmt: skip
    """Horizontal bars: one group per entry of `groups` (top to bottom), one bar per series in
    each group, hatched per series; `cells[g][s]` is None where there is nothing to draw."""
    from vlm4d_tasks.metric.text import figure_label  # names from files: one short line

    k = max(1, len(series))
    height = 0.8 / k
    for s, name in enumerate(map(figure_label, series)):
        face, hatch = SERIES_STYLES[s % len(SERIES_STYLES)]
        ys, xs, lows, highs, labels = [], [], [], [], []
        for g in range(len(groups)):
            cell = cells[g][s]
            if cell is None or math.isnan(cell.value):
                continue
            ys.append(g + (s - (k - 1) / 2) * height)
            xs.append(cell.value)
            lows.append(cell.value - cell.low if cell.low is not None else 0.0)
            highs.append(cell.high - cell.value if cell.high is not None else 0.0)
            labels.append(cell.label if cell.label is not None else f"{cell.value:.1f}")
        if not ys:
            ax.barh([], [], color=face, hatch=hatch, edgecolor="black", label=name)
            continue
        ax.barh(
            ys, xs, height=height * 0.92, xerr=[lows, highs], color=face, hatch=hatch,
            edgecolor="black", linewidth=0.5, label=name,
            error_kw={"ecolor": "black", "elinewidth": 0.7, "capsize": 1.8, "capthick": 0.7},
        )  # fmt: skip
        for y, x, high, text in zip(ys, xs, highs, labels):
            ax.text(min(x + high, xmax) + 0.8, y, text, va="center", ha="left", fontsize=6.5,
                    clip_on=False)  # fmt: skip
    ax.set_yticks(range(len(groups)), [figure_label(group) for group in groups])
    ax.set_ylim(len(groups) - 0.5, -0.5)  # first group on top
    ax.set_xlim(0, xmax)
    ax.grid(axis="x", linewidth=0.3, color="#BBBBBB")
    ax.set_axisbelow(True)


# --------------------------------------------------------------------------------------------
# Score documents: the models and their runs


@dataclass
class _Model:
    """One row of a document's table: its runs, its table columns, the bootstrap settings."""

    label: str
    runs: list[dict[str, Any]]
    columns: dict[str, Any]
    resamples: int
    seed: int
    lmms: bool  # an lmms-eval document: `name` of a run is its task
    # in the report's main leaderboard (`leaderboard.order_groups`): the shared figures (by
    # category, the prompt settings, the directions) show only those rows
    shared: bool = True
    other: bool = False  # a row of another benchmark (DSR-Bench): in no figure of VLM4D's

    def overall(self) -> float:
        acc = (self.columns.get("overall") or {}).get("accuracy")
        return -1.0 if acc is None else acc


def _models(scores: Sequence[Mapping[str, Any]]) -> list[_Model]:
    """The table rows of all documents, in order; a label seen before in another document
    gets that document's number (`model <2>`), so no two rows are pooled by accident. Each
    is `shared` when it belongs in the main leaderboard (`_main_group`)."""
    from vlm4d_tasks.report.leaderboard import group_key

    main = _main_group(scores)
    models: dict[str, _Model] = {}
    for number, document in enumerate(scores, 1):
        bootstrap = document.get("bootstrap") or {}
        resamples = int(bootstrap.get("resamples", 1000))
        seed = int(bootstrap.get("seed", 0))
        columns = {row["model"]: row.get("columns", {}) for row in document.get("models", [])}
        order = list(columns)
        for run in document.get("runs", []):
            if run["model"] not in columns:
                columns[run["model"]] = {}
                order.append(run["model"])
        mine: dict[str, _Model] = {}
        for name in order:
            label = name if name not in models else f"{name} <{number}>"
            mine[name] = _Model(label, [], columns[name], resamples, seed, "run" in document)
        for run in document.get("runs", []):
            mine[run["model"]].runs.append(run)
        for name, model in mine.items():
            key = group_key(document, name)
            model.other = key.questions == dsr_set()
            model.shared = not model.other and (main is None or key == main)
            models[model.label] = model
    return list(models.values())


def _main_group(scores: Sequence[Mapping[str, Any]]) -> Any:
    """The report's main leaderboard (`leaderboard.GroupKey`: the first of `order_groups`
    over the documents' table rows of VLM4D's questions), or None without such rows."""
    from vlm4d_tasks.report.leaderboard import group_key, order_groups

    keys = [group_key(d, row["model"]) for d in scores for row in d.get("models", [])]
    ours = [key for key in keys if key.questions != dsr_set()]  # the figures are VLM4D's
    return order_groups(ours)[0] if ours else None


def _shared(models: Sequence[_Model]) -> list[_Model]:
    return [model for model in models if model.shared]


def _pooled(groups: Sequence[Mapping[str, Any]], resamples: int, seed: int) -> Bar | None:
    """Groups of several runs as one (correct / scored), with the bootstrap interval of the
    pooled counts; None when nothing was scored."""
    from vlm4d_tasks.metric.stats import share_ci

    scored = correct = 0
    for group in groups:
        n = group.get("scored", group.get("n", 0) - group.get("unresolved", 0))
        count = group.get("correct")
        if count is None:  # an older document without counts: from its rounded accuracy
            count = round((group.get("accuracy") or 0.0) * n)
        scored += n
        correct += count
    if not scored:
        return None
    ci = share_ci(correct, scored, n_resamples=resamples, seed=seed)
    assert ci is not None
    return Bar(100 * correct / scored, 100 * ci[0], 100 * ci[1])


def _column_bar(column: Mapping[str, Any] | None) -> Bar | None:
    if not column or column.get("accuracy") is None:
        return None
    ci = column.get("ci95")
    value = 100 * column["accuracy"]
    return Bar(value, 100 * ci[0], 100 * ci[1]) if ci else Bar(value)


# --------------------------------------------------------------------------------------------
# 1. Accuracy by category


def _category_pages(models: Sequence[_Model]) -> list[list[tuple[str, list[Bar | None]]]]:
    rows = []
    for model in sorted(models, key=lambda m: (-m.overall(), m.label)):
        bars = [
            _pooled(
                [r["by_category"][c] for r in model.runs if c in (r.get("by_category") or {})],
                model.resamples, model.seed,
            )
            for c in CATEGORY_TITLES
        ]  # fmt: skip
        if any(bar is not None for bar in bars):
            rows.append((model.label, bars))
    if not rows:
        return []
    pages = math.ceil(len(rows) / MODELS_PER_PAGE)
    size = math.ceil(len(rows) / pages)
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _category_figure(rows: list[tuple[str, list[Bar | None]]], page: str) -> Any:
    fig = _new_figure(9.0, 0.95 * len(rows) + 1.4)
    ax = fig.add_subplot()
    _grouped_barh(ax, [label for label, _ in rows], list(CATEGORY_TITLES.values()),
                  [bars for _, bars in rows])  # fmt: skip
    ax.axvline(CHANCE, color="black", linewidth=0.8, linestyle="--", label="chance (25%)")
    ax.set_xlabel("accuracy (%); whiskers: 95% bootstrap interval")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=5, frameon=False,
              handlelength=2.2, handleheight=1.2, borderaxespad=0.3)  # fmt: skip
    ax.set_title(f"Accuracy by question category{page}", loc="left", pad=26)
    return fig


# --------------------------------------------------------------------------------------------
# 2. Chain of thought vs direct output


def _prompt_setting(model: _Model) -> tuple[str, str] | None:
    """(the model without its prompt setting, "cot" | "direct") of a table row, or None.

    Response files: the run's `variant` ("cot", "direct-output"), the row "name (variant)".
    lmms-eval: the task (`vlm4d_mc`, `vlm4d_mc_direct`, and their `_official` variants), the
    row "label [task]"; other tasks (frames, probe, single categories) have no pair."""
    if not model.runs:
        return None
    run = model.runs[0]
    variant = str(run.get("variant") or "")
    if not model.lmms:
        setting = {"cot": "cot", "direct-output": "direct"}.get(variant)
        return (str(run.get("name") or model.label), setting) if setting else None
    match = re.fullmatch(r"vlm4d_mc(_direct)?(_official)?", variant)
    if not match:
        return None
    suffix = f" [{variant}]"
    base = model.label[: -len(suffix)] if model.label.endswith(suffix) else model.label
    return base + (" [official]" if match[2] else ""), "direct" if match[1] else "cot"


def _prompt_pairs(models: Sequence[_Model]) -> list[tuple[str, _Model, _Model]]:
    found: dict[str, dict[str, _Model]] = {}
    for model in models:
        setting = _prompt_setting(model)
        if setting is not None:
            found.setdefault(setting[0], {}).setdefault(setting[1], model)
    pairs = [
        (name, m["cot"], m["direct"])
        for name, m in found.items()
        if len(m) == 2 and all(set(TABLE_PANELS) & set(m[s].columns) for s in ("cot", "direct"))
    ]
    return sorted(pairs, key=lambda p: (-p[1].overall(), p[0]))


def _prompt_figure(pairs: list[tuple[str, _Model, _Model]]) -> Any:
    panels = [c for c in TABLE_PANELS if any(c in m.columns for _, a, b in pairs for m in (a, b))]
    bars = {
        (name, which, c): _column_bar(model.columns.get(c))
        for name, cot, direct in pairs
        for which, model in (("cot", cot), ("direct", direct))
        for c in panels
    }
    known = [
        v for bar in bars.values() if bar for v in (bar.value, bar.low, bar.high) if v is not None
    ]
    low = max(0.0, math.floor((min(known) - 5) / 10) * 10) if known else 0.0
    high = min(100.0, math.ceil((max(known) + 5) / 10) * 10) if known else 100.0
    fig = _new_figure(2.9 * len(panels) + 1.6, 0.42 * len(pairs) + 1.5)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    ys = range(len(pairs))
    styles = {
        "cot": ("chain of thought", "o", "black", -0.13),
        "direct": ("direct output", "s", "white", 0.13),
    }
    for ax, column in zip(axes, panels):
        for y, (name, _, _) in zip(ys, pairs):
            a, b = bars[(name, "cot", column)], bars[(name, "direct", column)]
            if a and b:
                ax.plot([a.value, b.value], [y - 0.13, y + 0.13], color="#777777", linewidth=0.8)
        for which, (title, marker, face, offset) in styles.items():
            points = [
                (y + offset, bars[(name, which, column)]) for y, (name, _, _) in zip(ys, pairs)
            ]
            points = [(y, bar) for y, bar in points if bar is not None]
            if not points:
                continue
            ax.errorbar(
                [bar.value for _, bar in points], [y for y, _ in points],
                xerr=[[bar.value - (bar.low if bar.low is not None else bar.value) for _, bar in points],
                      [(bar.high if bar.high is not None else bar.value) - bar.value for _, bar in points]],
                fmt=marker, markersize=5.5, markerfacecolor=face, markeredgecolor="black",
                ecolor="black", elinewidth=0.7, capsize=2, label=title, linestyle="none",
            )  # fmt: skip
        if low <= CHANCE <= high:
            ax.axvline(CHANCE, color="black", linewidth=0.7, linestyle="--")
        ax.set_xlim(low, high)
        ax.set_title(TABLE_PANELS[column])
        ax.grid(axis="x", linewidth=0.3, color="#BBBBBB")
        ax.set_axisbelow(True)
    from vlm4d_tasks.metric.text import figure_label  # names from files: one short line

    axes[0].set_yticks(list(ys), [figure_label(name) for name, _, _ in pairs])
    axes[0].set_ylim(len(pairs) - 0.5, -0.5)
    last = panels[-1]
    for y, (name, _, _) in zip(ys, pairs):
        a, b = bars[(name, "cot", last)], bars[(name, "direct", last)]
        if a and b:
            axes[-1].text(high + 0.02 * (high - low), y, f"{a.value - b.value:+.1f}",
                          va="center", ha="left", fontsize=8, clip_on=False)  # fmt: skip
    axes[-1].text(high + 0.02 * (high - low), -0.75, "CoT − direct", va="bottom", ha="left",
                  fontsize=7.5, clip_on=False)  # fmt: skip
    fig.supxlabel("accuracy (%); whiskers: 95% bootstrap interval; dashed: chance (25%)",
                  fontsize=8.5)  # fmt: skip
    fig.suptitle("Chain of thought vs direct output", x=0.01, ha="left", fontsize=10.5)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=2, frameon=False)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# 3. Direction confusion

DIRECTIONS: tuple[str, ...] = ("left", "right", "towards", "away", "not moving", "absent")
OTHER = "other option"
NO_ANSWER = "no valid answer"

# How the release and the probe phrase each direction (lower case, no final period), from the
# option texts of real_mc.json, synthetic_mc.json and the probe's questions. A text that is none
# of these is not one direction: up, clockwise, 3, "left and towards the camera" (two of them),
# "towards the cook" (not the camera). Exact phrases, no substring search: "left hand" or
# "the left one" are no direction of motion.
_DIRECTION_TEXTS: dict[str, tuple[str, ...]] = {
    "left": ("left", "to the left", "right to left", "from right to left", "leftward",
             "leftwards", "moving left", "moves to the left", "moved to the left",
             "towards the left", "toward the left"),
    "right": ("right", "to the right", "left to right", "from left to right", "rightward",
              "rightwards", "moving right", "moves to the right", "moved to the right",
              "towards the right", "toward the right"),
    "towards": ("towards the camera", "toward the camera", "towards", "toward", "coming toward",
                "coming closer", "comes closer", "getting closer", "closer",
                "closer towards the camera", "closer to the camera", "approaching the camera"),
    "away": ("away from the camera", "away", "going away", "going further away", "further away",
             "farther away", "getting farther away", "moves away", "moved further away",
             "further away from camera", "further away from the camera", "moving away",
             "moving away from the camera"),
    "not moving": ("not moving", "staying in place", "staying still", "standing still",
                   "no movement", "stationary", "still", "static"),
}  # fmt: skip
_DIRECTION_OF = {text: label for label, texts in _DIRECTION_TEXTS.items() for text in texts}


def direction_of(text: object) -> str | None:
    """The direction an option text names (one of `DIRECTIONS`), or None for another kind of
    option. "absent" is the dataset's false-positive rule (`data.categories`: "there are no
    bears in the video", "no dragon there")."""
    from vlm4d_tasks.data.categories import categorize

    if text is None:
        return None
    key = " ".join(str(text).lower().split()).rstrip(".")
    if key in _DIRECTION_OF:
        return _DIRECTION_OF[key]
    # The category rules decide absence from the answer text alone.
    if key and categorize("", (key,), key) is Category.FALSE_POSITIVE:
        return "absent"
    return None


@dataclass(frozen=True)
class DirectionConfusion:
    """Counts of true (rows, `DIRECTIONS` that occur) vs chosen direction (columns: every
    direction, then `OTHER`, an option that is no direction, and `NO_ANSWER`)."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    skipped: int  # pairs whose ground truth is no direction (counting, rotation, ...)

    @property
    def total(self) -> int:
        return sum(map(sum, self.counts))


def direction_confusion(pairs: Iterable[tuple[object, object]]) -> DirectionConfusion:
    """The matrix of `(truth_text, chosen_text)` pairs: the ground-truth option's text and
    the chosen option's text (None: no valid answer). Pairs whose truth is no direction are
    counted in `skipped`; rows without questions are left out."""
    columns = (*DIRECTIONS, OTHER, NO_ANSWER)
    counts = {row: [0] * len(columns) for row in DIRECTIONS}
    skipped = 0
    for truth, chosen in pairs:
        row = direction_of(truth)
        if row is None:
            skipped += 1
            continue
        column = NO_ANSWER if chosen is None else (direction_of(chosen) or OTHER)
        counts[row][columns.index(column)] += 1
    rows = tuple(row for row in DIRECTIONS if any(counts[row]))
    return DirectionConfusion(rows, columns, tuple(tuple(counts[r]) for r in rows), skipped)


def _confusion_figure(matrix: DirectionConfusion, title: str) -> Any:
    import numpy as np

    counts = np.array(matrix.counts, dtype=float).reshape(len(matrix.rows), len(matrix.columns))
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(100 * counts, totals, out=np.zeros_like(counts), where=totals > 0)
    fig = _new_figure(1.0 * len(matrix.columns) + 2.2, 0.62 * len(matrix.rows) + 2.0)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Greys", vmin=0, vmax=100, aspect="auto")
    for i in range(len(matrix.rows)):
        for j in range(len(matrix.columns)):
            dark = share[i, j] > 55
            ax.text(j, i, f"{share[i, j]:.0f}%\n({int(counts[i, j])})", ha="center",
                    va="center", fontsize=7.5, color="white" if dark else "black")  # fmt: skip
            if j < len(DIRECTIONS) and matrix.columns[j] == matrix.rows[i]:
                ax.add_patch(_box(j, i))  # the right answers, outlined
    ax.set_xticks(range(len(matrix.columns)), list(matrix.columns), rotation=30, ha="right")
    ax.set_yticks(
        range(len(matrix.rows)),
        [f"{row} (n={int(t)})" for row, t in zip(matrix.rows, totals[:, 0])],
    )
    ax.set_xlabel("chosen")
    ax.set_ylabel("true direction")
    ax.set_title(title, loc="left")
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("% of the row")
    fig.tight_layout()
    return fig


def _box(x: int, y: int) -> Any:
    from matplotlib.patches import Rectangle

    # Inset, so that a corner cell's outline does not merge with the axes' frame and two
    # diagonal cells' outlines do not share a corner.
    return Rectangle((x - 0.46, y - 0.44), 0.92, 0.88, fill=False, edgecolor="black",
                     linewidth=1.6, linestyle="-")  # fmt: skip


def direction_confusion_figure(
    pairs: Iterable[tuple[object, object]] | DirectionConfusion, path: str | Path, *,
    title: str | None = None,
) -> Path:  # fmt: skip
    """Draw the direction confusion matrix of `(truth_text, chosen_text)` pairs (or of a
    `DirectionConfusion`) to `path` (PNG): each row in % of its questions, counts beside."""
    matrix = pairs if isinstance(pairs, DirectionConfusion) else direction_confusion(pairs)
    if not matrix.rows:
        raise ValueError(f"{path}: no direction question among the answers: nothing to draw")
    heading = title or "Direction questions: true vs chosen direction"
    heading += f"\n{matrix.total} answers; rows in % of their questions; outlined: right"
    return _draw(_confusion_figure, Path(path), matrix, heading)


# The matrices of a report, one per prompt setting: chain of thought and direct output answer
# the same questions differently (the setting is the comparison worth seeing), and the probe
# set is other questions, so it is never pooled with the benchmark.
DIRECTION_GROUPS: dict[str, str] = {
    "cot": "chain of thought",
    "direct-output": "direct output",
    "other": "prompt setting not recorded",
    "probe": "probe set",
}


@dataclass(frozen=True)
class DirectionGroup:
    """The direction confusion of the runs of one `DIRECTION_GROUPS` key, pooled over models."""

    key: str
    models: tuple[str, ...]  # the labels of the models pooled, in the documents' order
    matrix: DirectionConfusion

    @property
    def file_name(self) -> str:
        return f"direction_confusion_{self.key}.png"


def _direction_group(run: Mapping[str, Any]) -> str:
    """The `DIRECTION_GROUPS` key of a run: its prompt setting as the leaderboard reads it (a
    response file's variant, an lmms-eval task), the probe set apart."""
    from vlm4d_tasks.pipeline.rows import prompt_of

    if run.get("subset") == "probe":
        return "probe"
    return prompt_of(str(run.get("variant") or "")) or "other"


def _has_choices(run: Mapping[str, Any]) -> bool:
    """Whether a run's outcomes carry the true and chosen option texts (documents written
    before they did carry only `id`, `correct` and `video`)."""
    outcomes = run.get("outcomes")
    return isinstance(outcomes, list) and all(
        isinstance(o, Mapping) and "truth" in o and "chosen" in o for o in outcomes
    )


def _without_choices(models: Sequence[_Model]) -> list[str]:
    """The models with a run whose outcomes do not say which option was chosen."""
    return [m.label for m in models if any(not _has_choices(run) for run in m.runs)]


def direction_groups(scores: Sequence[Mapping[str, Any]]) -> list[DirectionGroup]:
    """The direction confusion matrices of score documents: one per prompt setting
    (`DIRECTION_GROUPS`, in that order) with any direction question, pooling the scored
    answers (unresolved ones left out) of every run whose outcomes carry `truth` and `chosen`;
    runs without them are left out (`figure_notes` names their models)."""
    pooled: dict[str, tuple[list[str], list[tuple[object, object]]]] = {}
    for model in _models(scores):
        for run in model.runs:
            key = _direction_group(run)
            # the probe set's matrix is its rows' own; the others show the main table's rows
            if not _has_choices(run) or (key != "probe" and not model.shared):
                continue
            labels, pairs = pooled.setdefault(key, ([], []))
            if model.label not in labels:
                labels.append(model.label)
            pairs += [(o["truth"], o["chosen"]) for o in run["outcomes"]
                      if o.get("correct") is not None]  # fmt: skip
    groups = []
    for key in DIRECTION_GROUPS:
        if key in pooled:
            matrix = direction_confusion(pooled[key][1])
            if matrix.rows:
                groups.append(DirectionGroup(key, tuple(pooled[key][0]), matrix))
    return groups


def _share(matrix: DirectionConfusion, row: str, columns: Sequence[str]) -> tuple[int, int] | None:
    """(answers of true `row` that chose one of `columns`, answers of true `row`), or None
    when no question had that truth."""
    if row not in matrix.rows:
        return None
    counts = dict(zip(matrix.columns, matrix.counts[matrix.rows.index(row)]))
    return sum(counts[c] for c in columns), sum(counts.values())


# The confusions behind the paper's central finding (VLM4D, ICCV 2025: models confuse the
# camera's motion with the object's and read directions in the wrong frame): a direction
# mirrored, a still object seen moving. (truth, what was chosen instead, how to say it).
CONFUSIONS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("left", ("right",), "true left answered right"),
    ("right", ("left",), "true right answered left"),
    ("towards", ("away",), "true towards answered away"),
    ("away", ("towards",), "true away answered towards"),
    ("not moving", ("left", "right", "towards", "away"), "true not moving answered a direction"),
)


def confusion_summary(matrix: DirectionConfusion) -> str:
    """One sentence of the matrix's telling cells: the left/right and towards/away swaps,
    a still object seen moving, a moving object seen still and an absent one seen at all, each
    in % of the questions of that truth with the counts ("12.5% (3 of 24)")."""
    moving = ("left", "right", "towards", "away")
    parts = []
    for row, columns, text in CONFUSIONS:
        share = _share(matrix, row, columns)
        if share is not None:
            parts.append((text, share))
    seen_still = [_share(matrix, row, ("not moving",)) for row in moving]
    known = [s for s in seen_still if s is not None]
    if known:
        parts.append(("a moving object answered not moving",
                      (sum(a for a, _ in known), sum(b for _, b in known))))  # fmt: skip
    absent = _share(matrix, "absent", (*moving, "not moving"))
    if absent is not None:
        parts.append(("an absent object answered a direction or not moving", absent))
    if not parts:
        return ""
    from vlm4d_tasks.metric.stats import count_share

    return "; ".join(f"{text} {count_share(a, b)}" for text, (a, b) in parts) + "."


# --------------------------------------------------------------------------------------------
# 4. The probe set's static/moving twins

SINGLE = ""  # the name of a lone diagnosis (not shown)
PAIR_TITLES: dict[str, str] = {
    "both": "both twins right",
    "static_only": "static camera only",
    "moving_only": "moving camera only",
    "neither": "neither",
}


def _diagnosis_dict(diagnosis: Any) -> dict[str, Any]:
    data = diagnosis.to_dict() if hasattr(diagnosis, "to_dict") else dict(diagnosis)
    if "pairs" not in data or "by_camera_motion" not in data:
        raise ValueError(
            "expected a probe diagnosis (`probe.diagnose.ProbeDiagnosis` or its to_dict()), "
            f"got the fields {sorted(data)[:8]}"
        )
    return data


def _rate(rate: Mapping[str, Any]) -> Bar | None:
    total = rate.get("total", 0)
    if not total:
        return None
    correct = rate.get("correct", 0)
    return Bar(100 * correct / total, label=f"{100 * correct / total:.0f}% ({correct}/{total})")


def _twin_figure(diagnoses: dict[str, dict[str, Any]]) -> Any:
    from vlm4d_tasks.metric.stats import count_share  # names: one short line
    from vlm4d_tasks.metric.text import figure_label

    names = list(diagnoses)
    motions = sorted({m for d in diagnoses.values() for m in d["by_camera_motion"]},
                     key=lambda m: (m != "static", m))  # fmt: skip
    motion_titles = [("static camera" if m == "static" else f"moving: {m}") for m in motions]
    rows = max(len(names), 1)
    height = max(2.8, 0.5 * rows + 1.6, 0.3 * len(motions) * rows + 1.6)
    fig = _new_figure(11.0, height)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1.0]})
    # Twin pairs: one stacked bar per model, in % of its pairs, counts in the segments.
    for y, name in enumerate(names):
        pairs = diagnoses[name]["pairs"]
        total = sum(pairs.values())
        start = 0.0
        for k, (key, title) in enumerate(PAIR_TITLES.items()):
            face, hatch = SERIES_STYLES[k]
            width = 100 * pairs.get(key, 0) / total if total else 0.0
            left.barh(y, width, left=start, height=0.6, color=face, hatch=hatch,
                      edgecolor="black", linewidth=0.5, label=title if y == 0 else None)  # fmt: skip
            if pairs.get(key, 0):
                left.text(start + width / 2, y, str(pairs[key]), ha="center", va="center",
                          fontsize=8, bbox={"facecolor": "white", "edgecolor": "none",
                                            "pad": 0.8, "alpha": 0.85})  # fmt: skip
            start += width
    counts = [f"{sum(diagnoses[n]['pairs'].values())} pairs" for n in names]
    single = len(names) == 1 and names[0] == SINGLE
    left.set_yticks(range(len(names)), counts if single else
                    [f"{figure_label(n)} ({c})" for n, c in zip(names, counts)])  # fmt: skip
    left.set_ylim(len(names) - 0.5, -0.5)
    left.set_xlim(0, 100)
    left.set_xlabel("% of twin pairs")
    left.set_title("Static/moving camera twins", loc="left", pad=34)
    left.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False,
                handlelength=2.2, handleheight=1.2)  # fmt: skip
    # Accuracy by camera motion: groups = motions, series = models.
    cells = [[_rate(diagnoses[n]["by_camera_motion"].get(m, {})) for n in names] for m in motions]
    _grouped_barh(right, motion_titles, names, cells, xmax=100.0)
    right.set_xlabel("accuracy (%)")
    right.set_title("Accuracy by camera motion", loc="left", pad=34 if len(names) > 1 else 6)
    if len(names) > 1:
        right.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False)
    lines = []
    for name, d in diagnoses.items():
        who = f"{figure_label(name)}: " if len(names) > 1 else ""
        traps = d.get("confusion_traps", 0)
        if traps:
            chose = d.get("confusion_chose_apparent", 0)
            lines.append(f"{who}chose the motion the picture suggests on "
                         f"{count_share(chose, traps)} moving-camera questions where it "
                         "differs from the truth.")  # fmt: skip
        else:
            lines.append(f"{who}no question where the picture misleads.")
        lines += [f"{who}note: {note}" for note in d.get("notes", [])]
    fig.suptitle("Probe set: camera-motion diagnosis", x=0.01, ha="left", fontsize=11)
    text = "Camera-motion confusion: " + (
        lines[0] if len(lines) == 1 else "\n".join(["", *(f"  {line}" for line in lines)])
    )
    fig.text(0.01, 0.0, text, ha="left", va="top", fontsize=8)
    fig.tight_layout()
    return fig


def probe_twin_figure(diagnosis: Any, path: str | Path) -> Path:
    """The probe set's static/moving twin comparison as a PNG at `path`.

    `diagnosis`: a `probe.diagnose.ProbeDiagnosis` (or its `to_dict()`), or a mapping of
    model name -> those to compare several models. Left: each model's twin pairs (both right,
    only the static-camera twin, only the moving-camera one, neither); right: accuracy by
    camera motion; below: the camera-motion confusion rate."""
    if hasattr(diagnosis, "to_dict") or (isinstance(diagnosis, Mapping) and "pairs" in diagnosis):
        diagnoses = {SINGLE: _diagnosis_dict(diagnosis)}
    elif isinstance(diagnosis, Mapping) and diagnosis:
        diagnoses = {str(name): _diagnosis_dict(d) for name, d in diagnosis.items()}
    else:
        raise ValueError(f"{path}: expected a probe diagnosis or a mapping of them")
    return _draw(_twin_figure, Path(path), diagnoses)


# --------------------------------------------------------------------------------------------
# The report's figures


PROBE_FIGURE = "probe_twins.png"
FIGURE_CAPTIONS: dict[str, str] = {  # by file name (without a page or setting suffix)
    "accuracy_by_category": "Accuracy by category, with 95% intervals",
    "cot_vs_direct": "Chain of thought vs direct output",
    "direction_confusion": "Direction questions: true vs chosen direction",
    "probe_twins": "Probe set: static/moving camera twins, and accuracy by camera motion",
}


def figure_caption(name: str) -> str:
    """The caption of a figure of `write_figures` by its file name: "... (page 2)" for a
    page, "... (chain of thought)" for a prompt setting's matrix."""
    stem = Path(name).stem
    for prefix, caption in FIGURE_CAPTIONS.items():
        if stem == prefix:
            return caption
        if stem.startswith(prefix + "_"):
            suffix = stem[len(prefix) + 1 :]
            if suffix.isdigit():
                return f"{caption} (page {suffix})"
            return f"{caption} ({DIRECTION_GROUPS.get(suffix, suffix.replace('_', ' '))})"
    return stem.replace("_", " ")


def _names(labels: Sequence[str], most: int = 6) -> str:
    from vlm4d_tasks.metric.text import md_code

    shown = ", ".join(md_code(label) for label in labels[:most])
    return shown + (f" and {len(labels) - most} more" if len(labels) > most else "")


def figure_notes(scores: Sequence[Mapping[str, Any]]) -> list[str]:
    """Why a figure of `write_figures` is missing for these documents (one sentence each)."""
    everyone = _models(scores)
    models = _shared(everyone)
    notes = []
    left = [m for m in everyone if not m.shared and not m.other]
    if left:
        main = _main_group(scores)
        probe = any(_direction_group(run) == "probe" for m in left for run in m.runs)
        notes.append(
            "The figures by category, of the prompt settings and of the directions show the "
            f"rows of the first leaderboard ({main.title()}) only; left out, as not comparable "
            f"(see their own tables): {_names([m.label for m in left])}."
            + (" The probe set's rows keep their own direction matrix." if probe else "")
        )
    other = [m.label for m in everyone if m.other]
    if other:
        notes.append(
            "The figures are VLM4D's (its categories, prompt settings and directions): the "
            f"DSR-Bench rows are in none of them ({_names(other)}); their accuracy per "
            "question type is the table DSR-Bench by question type."
        )
    if models and not _prompt_pairs(models):
        notes.append(
            "No chain of thought vs direct output figure: no model has runs of both prompt "
            "settings."
        )
    without = _without_choices(models)
    if without:
        notes.append(
            f"No direction confusion matrix for {_names(without)}: their score documents record "
            "whether each answer was right, not which option it chose (their runs' `outcomes` "
            "carry no `truth` and `chosen` option texts); fix: score the answers again with "
            "this version of `vlm4d score` (or rerun the lmms-eval aggregation)."
        )
    if len(without) < len(models) and not direction_groups(scores):
        notes.append("No direction confusion matrix: no direction question was answered.")
    return notes


def _diagnoses(probe: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {str(label): _diagnosis_dict(d) for label, d in (probe or {}).items()}


def figure_texts(
    scores: Sequence[Mapping[str, Any]], probe: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """What the report says under a figure, by file name: for each direction confusion matrix
    the models it pools and its telling cells (`confusion_summary`); for the probe figure each
    model's twin pairs and camera-motion confusion (`probe`: as for `write_figures`)."""
    texts = {}
    for group in direction_groups(scores):
        n = len(group.models)
        who = _names(group.models) if n == 1 else (
            f"{n} models pooled ({_names(group.models)})" if n <= 3 else f"{n} models pooled"
        )  # fmt: skip
        texts[group.file_name] = (
            f"{DIRECTION_GROUPS[group.key].capitalize()}, {who}: {group.matrix.total} answers "
            f"to direction questions; {confusion_summary(group.matrix)}"
        )
    from vlm4d_tasks.metric.stats import count_share

    lines = []
    for label, d in _diagnoses(probe).items():
        pairs = d["pairs"]
        counts = ", ".join(f"{title} {pairs.get(key, 0)}" for key, title in PAIR_TITLES.items())
        traps, chose = d.get("confusion_traps", 0), d.get("confusion_chose_apparent", 0)
        confusion = (
            f"chose the motion the picture suggests on {count_share(chose, traps)} "
            "moving-camera questions where it differs from the truth"
            if traps else "no question where the picture misleads"
        )  # fmt: skip
        lines.append(f"{_names([label])}: {sum(pairs.values())} twin pairs ({counts}); "
                     "camera-motion "
                     f"confusion: {confusion}.")  # fmt: skip
    if lines:
        texts[PROBE_FIGURE] = (
            "Each probe question has a twin with the same text, options and answer, seen by a "
            "static camera (exocentric) and a moving one (egocentric): a model that confuses "
            "camera motion with object motion gets the static twin right and the moving one "
            "wrong. " + " ".join(lines)
        )
    return texts


def write_figures(
    scores: list[dict], out_dir: Path, *, progress: bool | None = None,
    probe: Mapping[str, Any] | None = None,
) -> list[Path]:  # fmt: skip
    """The report's PNGs for score documents, written into `out_dir` (created); returns their
    paths in reading order. Figures without data are left out (`figure_notes` says why).
    `probe`: the probe diagnoses to draw (`PROBE_FIGURE`: a mapping of row label to
    `probe.diagnose.ProbeDiagnosis` or its `to_dict()`; see `leaderboard.probe_diagnoses`).
    `progress`: a progress bar over the figures; None shows it when there are more than
    `MANY_MODELS` models."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    models = _models(scores)
    jobs: list[tuple[Any, Path, tuple]] = []
    pages = _category_pages(_shared(models))
    for i, rows in enumerate(pages, 1):
        name = "accuracy_by_category" + (f"_{i}" if len(pages) > 1 else "")
        page = f" ({i} of {len(pages)})" if len(pages) > 1 else ""
        jobs.append((_category_figure, out_dir / f"{name}.png", (rows, page)))
    pairs = _prompt_pairs(_shared(models))
    if pairs:
        jobs.append((_prompt_figure, out_dir / "cot_vs_direct.png", (pairs,)))
    for group in direction_groups(scores):
        n = len(group.models)
        title = (
            f"Direction questions, {DIRECTION_GROUPS[group.key]}: true vs chosen direction"
            + (f", {n} models pooled" if n > 1 else "")
            + f"\n{group.matrix.total} answers; rows in % of their questions; outlined: right"
        )  # fmt: skip
        jobs.append((_confusion_figure, out_dir / group.file_name, (group.matrix, title)))
    diagnoses = _diagnoses(probe)
    if diagnoses:
        jobs.append((_twin_figure, out_dir / PROBE_FIGURE, (diagnoses,)))
    show = len(models) > MANY_MODELS if progress is None else progress
    return [
        _draw(render, path, *args)
        for render, path, args in tqdm(jobs, desc="figures", unit="figure", disable=not show)
    ]
