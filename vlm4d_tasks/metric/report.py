"""Rendering a `vlm4d score` result: the paper's table in Markdown, and a PNG plot.

Input is the score JSON (a dict); rendering is pure and deterministic (same input, same bytes),
so a report can be regenerated from a saved score file with `vlm4d report`.
The table follows the paper's layout (VLM4D, ICCV 2025, Table 2): real egocentric /
exocentric / average, synthetic directional / false positive / average, overall.
"""

from __future__ import annotations

import json
import math
import os
import re
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


# Characters that end a Markdown line (markdown-it splits on \n and \r; the C0 controls and
# NEL have no business in a name either): a name is one line, or a "# ..." after its newline
# would open a heading and a "|" row a new table row.
# C0 and C1 controls (ESC and CSI start terminal sequences; the Markdown goes to stdout),
# line breaks, and the bidirectional overrides and isolates, which show a name reordered.
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# What must be escaped for a text to stay literal wherever the report puts it (mid-line, a
# table cell, the start of a list item), and nothing more, so that ordinary names read as
# they are ("Qwen2.5-VL-7B (cot)", "m [vlm4d_mc_mirror]"): code, emphasis, HTML, entities,
# table pipes, math and strikethrough everywhere; `_` unless inside a word (CommonMark's
# intraword rule); the `](` / `][` / `![` of links and images; `://` and `www.` (GitHub's
# autolinks); and a block marker at the start (heading, list, quote, setext underline).
_MARKDOWN_SPECIAL = re.compile(
    r"[\\`*<&|$~]|(?<![^\W_])_|_(?![^\W_])|\](?=[(\[])|!(?=\[)|:(?=//)|(?i:(?<=www)\.)"
    r"|^[#+\-=>]"
)
_ORDERED_LIST_MARKER = re.compile(r"^(\d{1,9})([.)])")  # "1." / "1)" opening a text


def one_line(text: object) -> str:
    """`text` with every line break, control character and bidirectional override a space:
    a name drawn in a figure or written in a table stays on its line, in its order, and a
    terminal shown the table obeys nothing in it."""
    return _LINE_BREAKS.sub(" ", str(text))


# The longest name a figure draws. A name is laid out on one line, so its length sets the
# figure's width: a 100,000-character name made a 366-megapixel PNG (a decompression bomb for
# whoever opens report.html). The tables keep the whole name.
MAX_LABEL_CHARS = 80


def figure_label(text: object) -> str:
    """`one_line(text)`, shortened in the middle to `MAX_LABEL_CHARS` (its end, often the
    prompt setting "(cot)", kept)."""
    flat = one_line(text)
    if len(flat) <= MAX_LABEL_CHARS:
        return flat
    tail = MAX_LABEL_CHARS // 4
    return flat[: MAX_LABEL_CHARS - tail - 1] + "\u2026" + flat[-tail:]


def md_text(text: object) -> str:
    """`text` (a name or message from a file) as literal Markdown text, on one line and
    stripped, with the characters that could make markup escaped (`_MARKDOWN_SPECIAL`;
    CommonMark lets a backslash escape any ASCII punctuation): no link, image, emphasis,
    heading, HTML, entity or table cell comes out of it. Redacted first: an escaped URL would
    no longer look like one to `judge.redact`."""
    from vlm4d_tasks.metric.judge import redact

    flat = one_line(redact(str(text))).strip()
    escaped = _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(), flat)
    return _ORDERED_LIST_MARKER.sub(r"\1\\\2", escaped)


def md_code(text: object) -> str:
    """`text` (a name or path from a file) as one Markdown code span that nothing in it can
    close: on one line, fenced by one more backtick than its longest run of backticks, padded
    with a space when it starts or ends with a backtick or a space (CommonMark strips one
    space from each side). Inside a table each `|` still needs its `\\|` (the table's job)."""
    from vlm4d_tasks.metric.judge import redact

    content = one_line(redact(str(text)))
    fence = "`" * (1 + max((len(run) for run in re.findall(r"`+", content)), default=0))
    if not content.strip(" "):  # all spaces is kept as is; an empty span needs one
        content = content or " "
    elif content[0] in "` " or content[-1] in "` ":
        content = f" {content} "
    return f"{fence}{content}{fence}"


def md_cell(cell: str) -> str:
    """A table cell's Markdown with its pipes escaped (GFM splits the row on any other)."""
    return cell.replace("|", "\\|")


# Below this many questions a share is given as counts alone ("1 of 1", not "100.0%"): at 30
# the 95% interval of a share is still about +-17 points wide, and under it one question moves
# the percentage by more than 3 points, so a percentage reads as a finding that is not there.
MIN_N_FOR_PERCENT = 30


def count_share(part: int, whole: int) -> str:
    """ "12 of 40 (30.0%)"; below `MIN_N_FOR_PERCENT` the counts alone, saying why:
    "1 of 1 (n < 30: no percentage)"."""
    if whole < MIN_N_FOR_PERCENT:
        return f"{part} of {whole} (n < {MIN_N_FOR_PERCENT}: no percentage)"
    return f"{part} of {whole} ({100 * part / whole:.1f}%)"


def percent(value: float | None) -> str:
    return MISSING if value is None else f"{100 * value:.1f}"


def _ci(acc: dict[str, Any]) -> str:
    ci = acc.get("ci95")
    return f" [{percent(ci[0])}, {percent(ci[1])}]" if ci else ""


class ScoreFileError(ValueError):
    """A score file that cannot be rendered; the message names the file and the field."""


class OutputError(ValueError):
    """An output path that cannot be written; the message names the option and the path."""


SCORE_FIX = "fix: pass a file written by `vlm4d score --json` (or an lmms-eval run's *_score.json)"


def load_score(path: str | Path) -> dict[str, Any]:
    """A saved score JSON, checked to have every field the report uses (`check_score`).

    Read with `data.files.read_regular_text` (a FIFO or a device fails at once, the size is
    bounded); NaN and Infinity, which Python's json accepts and strict JSON does not, are
    refused with the field that holds them, so that no output inherits them."""
    from vlm4d_tasks.data.files import InputFileError, read_regular_text

    path = Path(path)
    try:
        text = read_regular_text(path, fix=SCORE_FIX)
    except InputFileError as exc:
        raise ScoreFileError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise ScoreFileError(f"{path}: not UTF-8 text ({exc}); {SCORE_FIX}") from None
    except OSError as exc:  # FileNotFoundError: `read_regular` leaves it to the caller
        raise ScoreFileError(
            f"{path}: cannot read it ({exc.strerror or exc}); {SCORE_FIX}"
        ) from None
    try:
        data = json.loads(text, parse_constant=NonFinite, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise ScoreFileError(f"{path}: not valid JSON ({exc}); {SCORE_FIX}") from None
    except RecursionError:
        raise ScoreFileError(
            f"{path}: not a `vlm4d score` JSON: nested too deeply to read; {SCORE_FIX}"
        ) from None
    _refuse_non_finite(data, path)
    check_score(data, path)
    return data


class NonFinite(str):
    """NaN, Infinity or -Infinity (or a number too large for a float) where a score file has a
    number: kept as its text so that the check can name the field holding it."""


def _finite_float(text: str) -> float | NonFinite:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(text)


def _refuse_non_finite(data: object, path: str | Path) -> None:
    """ScoreFileError naming the first field (in document order) that holds a `NonFinite`."""
    stack: list[tuple[str, object]] = [("", data)]
    while stack:  # iterative: the depth json.loads allows would overflow a recursive walk
        where, value = stack.pop()
        if isinstance(value, NonFinite):
            raise _Shape(path).fail(
                where, f"expected a finite number, got {value} (strict JSON has no NaN or "
                "Infinity)", run=_run_of(data, where),
            )  # fmt: skip
        if isinstance(value, dict):
            items = [(f"{where}.{key}" if where else str(key), v) for key, v in value.items()]
        elif isinstance(value, list):
            items = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
        else:
            continue
        stack.extend(reversed(items))


def _run_of(data: object, where: str) -> str | None:
    """The run a field path `runs[i]...` belongs to, as `_Shape.fail` names it."""
    match = re.match(r"runs\[(\d+)\]", where)
    runs = data.get("runs") if isinstance(data, dict) else None
    if match is None or not isinstance(runs, list) or int(match[1]) >= len(runs):
        return None
    return _run_label(runs[int(match[1])])


def _run_label(run: object) -> str | None:
    if not isinstance(run, dict):
        return None
    parts = [f"{run[key]!r:.60}" for key in ("model", "subset") if isinstance(run.get(key), str)]
    return " ".join(parts) or None


# A count above this is no real run (the release has 1816 questions; the largest response file
# anticipated has 100k entries): the figures build one list entry per question from counts.
MAX_COUNT = 10_000_000
# Bootstrap resamples are paid per question again at each one (`scoring.bootstrap_ci`): 100
# times the default is far above any use, and a hostile value cannot hold the report for hours.
MAX_RESAMPLES = 100_000
_CHANCE_FLOOR = -1 / 3 - 1e-6  # (0 - 25%) / 75%: the chance-corrected accuracy of 0 correct


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _pair(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v)


def _between(low: float, high: float) -> Any:
    return lambda v: low <= v <= high


def _ordered(low: float, high: float) -> Any:
    return lambda v: low <= v[0] <= v[1] <= high


_COUNT = ("a whole number", _whole, f"from 0 to {MAX_COUNT:,}", _between(0, MAX_COUNT))
_FRACTION = ("a number", _number, "from 0 to 1", _between(0, 1))


class _Shape:
    """Checks one field at a time; the first problem raises ScoreFileError naming the field
    (and the run it belongs to, `run`)."""

    # kind -> (what it is, test of that, its range, test of the range); a kind ending in "?"
    # also allows null. A value of the wrong type is "expected a whole number, got '7'"; one
    # out of range "expected a whole number from 0 to 10,000,000, got -5".
    KINDS: dict[str, tuple[str, Any, str, Any]] = {
        "int": ("a whole number", _whole, "", None),
        "count": _COUNT,
        "count?": _COUNT,
        "resamples": ("a whole number", _whole, f"from 1 to {MAX_RESAMPLES:,}",
                      _between(1, MAX_RESAMPLES)),
        "seed": ("a whole number", _whole, "of at least 0", _between(0, math.inf)),
        "number": ("a number", _number, "", None),
        "number?": ("a number", _number, "", None),
        "size?": ("a number", _number, "of at least 0", _between(0, math.inf)),
        "fraction": _FRACTION,
        "fraction?": _FRACTION,
        "level": ("a number", _number, "between 0 and 1", lambda v: 0 < v < 1),
        "difference?": ("a number", _number, "from -1 to 1", _between(-1, 1)),
        "chance?": ("a number", _number, "from -1/3 to 1", _between(_CHANCE_FLOOR, 1)),
        "bool": ("true or false", lambda v: isinstance(v, bool), "", None),
        "bool?": ("true or false", lambda v: isinstance(v, bool), "", None),
        "text": ("a string", lambda v: isinstance(v, str), "", None),
        "text?": ("a string", lambda v: isinstance(v, str), "", None),
        "list": ("a list", lambda v: isinstance(v, list), "", None),
        "object": ("an object", lambda v: isinstance(v, dict), "", None),
        "object?": ("an object", lambda v: isinstance(v, dict), "", None),
        "ci?": ("[low, high]", _pair, "with 0 <= low <= high <= 1", _ordered(0, 1)),
        "difference ci?": ("[low, high]", _pair, "with -1 <= low <= high <= 1", _ordered(-1, 1)),
    }  # fmt: skip

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self.run: str | None = None  # the run being checked, named in the message

    def fail(self, where: str, problem: str, *, run: str | None = None) -> ScoreFileError:
        where = where or "the top level"
        run = run or self.run
        return ScoreFileError(
            f"{self.path}: not a `vlm4d score` JSON: {where}: {problem}"
            + (f" (run {run})" if run else "")
            + f"; {SCORE_FIX}"
        )

    def problem(self, value: Any, kind: str) -> str | None:
        """Why `value` is not of `kind`, or None when it is."""
        want, shape, limits, inside = self.KINDS[kind]
        nullable = kind.endswith("?")
        if nullable and value is None:
            return None
        if nullable:
            want = f"null or {want}" if want.startswith("[") else f"{want} or null"
        if not shape(value):
            return f"expected {want}, got {value!r:.80}"
        if inside is not None and not inside(value):
            return f"expected {want} {limits}, got {value!r:.80}"
        return None

    def value(self, obj: dict, key: str, kind: str, where: str, *, optional: bool = False) -> Any:
        field = f"{where}.{key}" if where else key
        if key not in obj:
            if optional:
                return None
            raise self.fail(field, "missing")
        problem = self.problem(obj[key], kind)
        if problem:
            raise self.fail(field, problem)
        return obj[key]

    def each(self, obj: dict, key: str, where: str, *, optional: bool = False, kind="object"):
        """(where, item) of a list field whose items are `kind`."""
        items = self.value(obj, key, "list", where, optional=optional) or []
        field = f"{where}.{key}" if where else key
        for i, item in enumerate(items):
            problem = self.problem(item, kind)
            if problem:
                raise self.fail(f"{field}[{i}]", problem)
            yield f"{field}[{i}]", item

    def groups(self, obj: dict, key: str, where: str, *, optional: bool = False, kind="object"):
        """(where, item) of an object field whose values are `kind`."""
        groups = self.value(obj, key, "object", where, optional=optional) or {}
        field = f"{where}.{key}" if where else key
        for name, item in groups.items():
            problem = self.problem(item, kind)
            if problem:
                raise self.fail(f"{field}.{name}", problem)
            yield f"{field}.{name}", item


def check_score(data: object, path: str | Path = "<score>") -> None:
    """Raise ScoreFileError unless `data` has every field that `vlm4d report` reads (the
    Markdown, the plot, the leaderboard and its figures), each of the right type and range:
    finite numbers, accuracies as fractions in [0, 1], counts of at least 0, resamples of at
    least 1. A saved score may be old, hand-edited or another file altogether."""
    c = _Shape(path)
    if not isinstance(data, dict):
        raise c.fail("", f"expected a JSON object, got {type(data).__name__}")
    judge = c.value(data, "judge", "object", "", optional=True) or {}
    for key in ("mode", "prompt"):
        c.value(judge, key, "text", "judge", optional=True)
    list(c.each(judge, "models", "judge", optional=True, kind="text"))
    bootstrap = c.value(data, "bootstrap", "object", "", optional=True) or {}
    c.value(bootstrap, "resamples", "resamples", "bootstrap", optional=True)
    c.value(bootstrap, "seed", "seed", "bootstrap", optional=True)  # numpy's seeds are >= 0
    c.value(bootstrap, "level", "level", "bootstrap", optional=True)
    c.value(bootstrap, "clusters", "text?", "bootstrap", optional=True)
    for where, run in c.each(data, "runs", ""):
        c.run = _run_label(run)
        _check_run(c, run, where)
    c.run = None
    for where, row in c.each(data, "models", ""):
        c.value(row, "model", "text", where)
        for at, column in c.groups(row, "columns", where):
            _check_accuracy(c, column, at, n=False)
    summary = c.value(data, "summary", "object", "", optional=True) or {}
    if c.value(summary, "agreement", "fraction?", "summary", optional=True) is not None:
        c.value(summary, "agreement_n", "count", "summary")
        worst = c.value(summary, "agreement_min", "object", "summary")
        c.value(worst, "run", "text", "summary.agreement_min")
        c.value(worst, "agreement", "fraction", "summary.agreement_min")
    judges = list(c.groups(summary, "judges", "summary", optional=True))
    if judges:
        c.value(summary, "sent_to_llm", "count", "summary")
    for at, totals in judges:
        _check_judge_totals(c, totals, at, model=False)
    for where, entry in c.each(data, "comparisons", "", optional=True):
        _check_comparison(c, entry, where)
    _check_run_block(c, c.value(data, "run", "object?", "", optional=True))
    check_validity(data.get("validity"), path)


def _check_run(c: _Shape, run: dict, where: str) -> None:
    """One entry of `runs` (`pipeline.run_entry`)."""
    for key in ("subset", "model"):
        c.value(run, key, "text", where)
    for key in ("name", "variant", "file"):
        c.value(run, key, "text?", where, optional=True)
    for key in ("n", "no_valid_answer", "unresolved"):
        c.value(run, key, "count", where)
    _check_accuracy(c, run, where)  # its accuracy, interval and counts
    for key in ("reference_accuracy", "agreement"):
        c.value(run, key, "fraction?", where, optional=True)
    for key in ("ground_truth_unmatched", "agreement_n"):
        c.value(run, key, "count", where, optional=True)
    for key in ("ground_truth_unmatched_ids", "unresolved_ids", "disagreement_ids"):
        list(c.each(run, key, where, optional=True, kind="text"))
    for at, answer in c.each(run, "unresolved_answers", where, optional=True):
        for key in ("id", "reason"):
            c.value(answer, key, "text", at)
        c.value(answer, "cause", "text", at, optional=True)
    for key in ("by_perspective", "by_category"):
        for at, group in c.groups(run, key, where, optional=True):
            _check_accuracy(c, group, at)
    grading = c.value(run, "grading", "object", where, optional=True) or {}
    at = f"{where}.grading"
    c.value(grading, "mode", "text", at, optional=True)
    c.value(grading, "sent_to_llm", "count", at, optional=True)
    list(c.each(grading, "disagreements", at, optional=True))
    for judge_at, stats in c.each(grading, "judges", at, optional=True):
        _check_judge_totals(c, stats, judge_at, model=True)
    stale = c.value(run, "stale", "object", where, optional=True)
    if stale is not None:
        at = f"{where}.stale"
        for key in ("count", "changed_meaning"):
            c.value(stale, key, "count", at, optional=key == "changed_meaning")
        list(c.groups(stale, "by_kind", at, kind="count"))
        c.value(stale, "excluded", "bool", at, optional=True)
        for entry_at, entry in c.each(stale, "entries", at):
            c.value(entry, "id", "text", entry_at)
            list(c.each(entry, "kinds", entry_at, kind="text"))
    for at, item in c.each(run, "outcomes", where, optional=True):
        c.value(item, "id", "text", at)
        c.value(item, "correct", "bool?", at)
        for key in ("video", "truth", "chosen"):
            c.value(item, key, "text?", at, optional=True)


def _check_comparison(c: _Shape, entry: dict, where: str) -> None:
    """A paired comparison (`leaderboard.Comparison.to_dict`); one with `why` was not made."""
    for key in ("a", "b"):
        c.value(entry, key, "text", where)
    c.value(entry, "n", "count", where)
    if c.value(entry, "why", "text", where, optional=True):
        return
    for key in ("a_accuracy", "b_accuracy"):
        c.value(entry, key, "fraction", where)
    c.value(entry, "difference", "difference?", where)
    if entry["difference"] is None:
        raise c.fail(f"{where}.difference", "expected a number from -1 to 1, got None")
    c.value(entry, "ci95", "difference ci?", where, optional=True)
    c.value(entry, "p_value", "fraction", where)


def _check_run_block(c: _Shape, block: dict | None) -> None:
    """The metadata of an lmms-eval run (`lmms.run`): what the report's protocol lines and
    the probe folder search read of it."""
    if block is None:
        return
    for key in ("model", "model_args"):
        c.value(block, key, "text?", "run", optional=True)
    c.value(block, "limit", "size?", "run", optional=True)  # lmms-eval: a count or a fraction
    protocol = c.value(block, "protocol", "object?", "run", optional=True) or {}
    list(c.groups(protocol, "rows", "run.protocol", optional=True, kind="text"))
    list(c.groups(protocol, "decoding", "run.protocol", optional=True))
    for key in ("model_frame_args", "seed"):
        c.value(protocol, key, "object?", "run.protocol", optional=True)
    dataset = c.value(block, "dataset", "object?", "run", optional=True) or {}
    c.value(dataset, "folder", "text?", "run.dataset", optional=True)
    annotations = c.value(dataset, "annotations", "object?", "run.dataset", optional=True) or {}
    for at, entry in c.each(annotations, "files", "run.dataset.annotations", optional=True):
        for key in ("name", "sha256"):
            c.value(entry, key, "text?", at, optional=True)


def _check_accuracy(c: _Shape, acc: Any, where: str, *, n: bool = True) -> None:
    """An accuracy dict of a score document (`scoring.Accuracy.to_dict`); null is allowed
    by the callers that allow it. `n`: the question count is required (older tables' columns
    may lack it)."""
    if not isinstance(acc, dict):
        raise c.fail(where, f"expected an accuracy object, got {acc!r:.80}")
    c.value(acc, "accuracy", "fraction?", where)
    c.value(acc, "n", "count", where, optional=not n)
    c.value(acc, "ci95", "ci?", where, optional=True)
    c.value(acc, "chance_corrected", "chance?", where, optional=True)
    for key in ("scored", "correct", "unresolved", "no_valid_answer"):
        c.value(acc, key, "count", where, optional=True)
    c.value(acc, "videos", "count?", where, optional=True)
    # The figures and the leaderboard count right answers out of scored ones (n - unresolved
    # when `scored` is not recorded): each count within the one it is part of.
    total = acc.get("n")
    for key, part, whole in (
        ("scored", acc.get("scored"), total),
        ("unresolved", acc.get("unresolved"), total),
        ("correct", acc.get("correct"), acc.get("scored", total)),
    ):
        if part is not None and whole is not None and part > whole:
            raise c.fail(f"{where}.{key}", f"{part} is more than the {whole} it is part of")


def _check_control(c: _Shape, entry: dict, where: str) -> None:
    control = c.value(entry, "random_removed", "object?", where, optional=True)
    if control is not None:
        for key in ("accuracy", "min", "max"):
            c.value(control, key, "fraction", f"{where}.random_removed")


def check_validity(block: object, path: str | Path = "<score>") -> dict[str, Any] | None:
    """A score document's `validity` block (`validity.baselines.validity_block`), checked
    field by field (ScoreFileError naming the file and the field); None when there is none (a
    document written before it existed, or without benchmark questions)."""
    if block is None:
        return None
    c = _Shape(path)
    if not isinstance(block, dict):
        raise c.fail("validity", f"expected an object, got {block!r:.80}")
    # A run of transformed questions only (e.g. `vlm4d_mc_circular` alone, or an lmms-eval
    # run's document while its first task is aggregated) has consistency and nothing else.
    if "debiased" not in block and "models" not in block and "baselines" not in block:
        _check_consistency(c, block)
        return block
    debiased = c.value(block, "debiased", "object", "validity")
    c.value(debiased, "version", "text", "validity.debiased")
    for key in ("kept", "of"):
        c.value(debiased, key, "count", "validity.debiased")
    list(c.groups(debiased, "subsets", "validity.debiased", kind="text"))
    for where, entry in c.groups(block, "models", "validity"):
        if entry.get("debiased") is not None:
            _check_accuracy(c, entry["debiased"], f"{where}.debiased")
        _check_control(c, entry, where)
    for where, row in c.each(block, "baselines", "validity"):
        c.value(row, "model", "text", where)
        for at, column in c.groups(row, "columns", where):
            _check_accuracy(c, column, at)
        if row.get("debiased") is not None:
            _check_accuracy(c, row["debiased"], f"{where}.debiased")
        _check_control(c, row, where)
    _check_consistency(c, block)
    return block


def _check_consistency(c: _Shape, block: dict) -> None:
    for where, entry in c.each(block, "consistency", "validity", optional=True):
        for key in ("variant", "row"):
            c.value(entry, key, "text", where)
        c.value(entry, "model", "text?", where)  # null: the run has no base row
        c.value(entry, "n", "count", where)
        for key in ("base_accuracy", "variant_accuracy", "consistency"):
            c.value(entry, key, "fraction?", where, optional=True)


def _check_judge_totals(c: _Shape, stats: dict, where: str, *, model: bool) -> None:
    if model:
        c.value(stats, "model", "text", where)
    for key in ("requests", "cached", "unresolved"):
        c.value(stats, key, "count", where)
    tokens = c.value(stats, "tokens", "object", where)
    c.value(tokens, "total", "count", f"{where}.tokens", optional=True)


def prepare_output(path: str | Path, option: str) -> Path:
    """An output path made ready before any work: its missing parent folders are created
    (always, for every output of `vlm4d score` and `vlm4d report`); a path that is a folder,
    or whose folder cannot be made or written, raises OutputError."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path}: is a directory; fix: name a file, e.g. {path}/out")
    if option == "--plot" and path.suffix.lower() != ".png":
        raise OutputError(f"{option} {path}: the plot is a PNG; fix: name a file ending in .png")
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise OutputError(
            f"{option} {path}: cannot create its folder: {blocker} is a file, not a folder; "
            "fix: choose another path"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{option} {path}: cannot create its folder {path.parent} ({exc.strerror or exc}); "
            "fix: choose another path"
        ) from None
    if not os.access(path.parent, os.W_OK):
        raise OutputError(
            f"{option} {path}: folder {path.parent} is not writable; fix: choose another path"
        )
    return path


def write_output(path: str | Path, option: str, text: str | bytes) -> None:
    """`text` written to `path` whole or not at all (`data.files.write_file`: a symlink there
    is replaced, not written through; a FIFO nobody reads fails at once)."""
    from vlm4d_tasks.data.files import write_file

    try:
        write_file(path, text if isinstance(text, bytes) else text.encode("utf-8"))
    except OSError as exc:
        raise OutputError(
            f"{option} {path}: cannot write it ({exc.strerror or exc}); fix: choose another path"
        ) from None


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
    lines = ["| A | B | Questions | A | B | A - B [95% CI] | p |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for e in entries:
        if e.get("why"):
            lines.append(_row([md_text(e["a"]), md_text(e["b"]), str(e["n"]), MISSING, MISSING,
                              md_text(e["why"]), MISSING]))  # fmt: skip
            continue
        ci = e.get("ci95")
        interval = f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else ""
        lines.append(_row([
            md_text(e["a"]), md_text(e["b"]), str(e["n"]), percent(e["a_accuracy"]),
            percent(e["b_accuracy"]), f"{100 * e['difference']:+.1f}{interval}",
            f"{e['p_value']:.3g}",
        ]))  # fmt: skip
    return lines


def _consistency_table(entries: list[dict[str, Any]]) -> list[str]:
    lines = ["| Row | Variant | Questions | Base acc. | Variant acc. | Consistency |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for e in entries:
        lines.append(_row([
            md_text(e["row"]), md_text(e["variant"]), str(e["n"]),
            percent(e.get("base_accuracy")), percent(e.get("variant_accuracy")),
            percent(e.get("consistency")),
        ]))  # fmt: skip
    lines += [
        "",
        "Consistency: the share of questions answered right both as asked and "
        "transformed (for `circular`, right under all four rotations of the options).",
    ]
    return lines


def _table(rows: list[dict[str, Any]], validity: bool, extra) -> list[str]:
    """The paper's columns, then the overall interval, chance-corrected overall accuracy and,
    with `validity`, the accuracy on the debiased set (`extra(row)["debiased"]`)."""
    header = ["Model", *COLUMN_TITLES.values(), "95% CI", "Chance-corr."]
    if validity:
        header += ["Debiased", "Random-removed"]
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
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
        lines.append(_row(cells))
    return lines


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(md_cell(cell) for cell in cells) + " |"


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
