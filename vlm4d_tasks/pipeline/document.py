"""The score document as a file: reading one back (`load_score`) and checking every field before
anything is drawn from it (`check_score`, `check_validity`).

The document is written by `pipeline.score.score_document`; `vlm4d report` and every other
reader load it through here, so a hand-edited or foreign file fails with its name, the field and
the fix rather than deep inside a table.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any


class ScoreFileError(ValueError):
    """A score file that cannot be rendered; the message names the file and the field."""


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


# Bootstrap resamples are paid per question again at each one (`stats.bootstrap_ci`): 100
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
