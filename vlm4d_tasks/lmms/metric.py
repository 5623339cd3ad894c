"""The VLM4D metric inside lmms-eval: per-document items, judged and scored in aggregation.

The metric is the paper's (VLM4D, ICCV 2025, Sec. 4; see `vlm4d_tasks.metric.scoring`): accuracy
over the questions, a response that commits to no option counting as wrong, with the
breakdowns of the paper's table (real egocentric / exocentric, synthetic directional / false
positive) and the four motion categories. Every breakdown is a metric of the same task over
the same documents: each document is generated and judged once.

How it maps onto lmms-eval 0.7.3:

* `process_results` runs the deterministic extraction (`vlm4d_tasks.metric.extract`) and returns one
  item per metric the document belongs to, so a breakdown without documents never appears
  (lmms-eval aggregates only the metric names it has seen; never a 0.0 for "empty").
* Aggregation runs once, on rank 0, over the items gathered from every process. The first
  metric aggregated (`accuracy`, which every document has) decides all verdicts of the task
  at once: in `rule` mode from the extraction, in `llm` / `hybrid` / `crosscheck` mode
  (`VLM4D_JUDGE`) with `vlm4d_tasks.metric.grading`, which sends the answers to the judge
  concurrently. Later metrics reuse those verdicts.
* Each value is a `CountedAccuracy` (a float that remembers correct / scored), so the group
  task (`vlm4d_mc` = real + synthetic) pools breakdowns by question counts (`pooled`), exactly
  as `vlm4d score` does, instead of averaging subtask means.
* When `--output_path` is given, the paper's table (`vlm4d_tasks.metric.report.markdown_report`, the
  same table as `vlm4d score`) and a JSON with the full score and the run's metadata are
  written next to lmms-eval's results file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vlm4d_tasks.data.schema import Category, Record

JUDGE_ENV = "VLM4D_JUDGE"
DEFAULT_JUDGE_MODE = "rule"
OVERALL = "accuracy"
# Paper table columns (scoring.PAPER_COLUMNS, minus "overall" which is `accuracy`) and the
# four categories; the names are the metric names in lmms-eval's results.
TABLE_COLUMNS: tuple[str, ...] = (
    "real_egocentric",
    "real_exocentric",
    "real",
    "synthetic_directional",
    "synthetic_false_positive",
    "synthetic",
)
BREAKDOWNS: tuple[str, ...] = (*TABLE_COLUMNS, *(c.value for c in Category))
METRICS: tuple[str, ...] = (OVERALL, *BREAKDOWNS)
SCORE_FORMAT_VERSION = 1


class CountedAccuracy(float):
    """An accuracy that remembers its counts, so that groups can pool by question counts."""

    correct: int
    scored: int
    n: int

    def __new__(cls, correct: int, scored: int, n: int | None = None) -> CountedAccuracy:
        value = super().__new__(cls, correct / scored if scored else math.nan)
        value.correct, value.scored = int(correct), int(scored)
        value.n = int(scored if n is None else n)
        return value

    def __reduce__(self):  # picklable despite the extra fields
        return (CountedAccuracy, (self.correct, self.scored, self.n))


# --------------------------------------------------------------------------------------------
# Per document


def metric_names(record: Record) -> list[str]:
    """The metrics a question counts in: `accuracy`, its table columns, its category."""
    from vlm4d_tasks.metric.scoring import PAPER_COLUMNS

    names = [OVERALL]
    names += [name for name in TABLE_COLUMNS if PAPER_COLUMNS[name](record)]
    names.append(Category(record.category).value)  # an unknown category raises
    return names


def response_text(results: Sequence[Any]) -> str:
    if not results:
        return ""
    first = results[0]
    if isinstance(first, list):  # repeats: the first generation is scored
        first = first[0] if first else ""
    return "" if first is None else str(first)


def process_results(doc: Mapping[str, Any], results: Sequence[Any], *, row: str) -> dict:
    """One item per metric of `doc`; `row` names the line of the paper table it feeds."""
    from vlm4d_tasks.metric.extract import extract

    record = Record.from_dict(doc)
    response = response_text(results)
    found = extract(response, record.options)
    item = {
        "row": row,
        "uid": record.uid,
        "record": record.to_dict(),
        "response": response,
        "extracted": found.label,
        "letter": found.letter,
        "rule": found.rule,
        "confident": bool(found.confident),
        "evidence": found.evidence,
    }
    return {name: item for name in metric_names(record)}


# --------------------------------------------------------------------------------------------
# Verdicts (in aggregation, rank 0)


def judge_mode() -> str:
    from vlm4d_tasks.metric.grading import Mode

    raw = os.environ.get(JUDGE_ENV) or DEFAULT_JUDGE_MODE
    try:
        return Mode(raw.strip().lower()).value
    except ValueError:
        choices = ", ".join(m.value for m in Mode)
        raise ValueError(f"{JUDGE_ENV}={raw!r}: expected one of {choices}") from None


JUDGE_VARIABLES = (
    "VLM4D_JUDGE_MODEL", "VLM4D_JUDGE_BASE_URL", "VLM4D_JUDGE_API_KEY",
    "VLM4D_JUDGE_MODEL_2", "VLM4D_JUDGE_BASE_URL_2", "VLM4D_JUDGE_API_KEY_2",
    "VLM4D_JUDGE_CONCURRENCY", "VLM4D_JUDGE_CACHE",
)  # fmt: skip


def _judges(mode: str) -> tuple:
    """Judge clients from the VLM4D_JUDGE_* variables as they are now (built once per setting)."""
    return _build_judges(mode, tuple(os.environ.get(name) or None for name in JUDGE_VARIABLES))


@functools.lru_cache(maxsize=4)
def _build_judges(mode: str, variables: tuple) -> tuple:
    from vlm4d_tasks.metric.grading import JUDGES_NEEDED, Mode
    from vlm4d_tasks.metric.judge import Judge, JudgeConfigError, JudgeSettings
    from vlm4d_tasks.metric.judge_cache import JudgeCache

    model, base_url, api_key, model_2, base_url_2, api_key_2, concurrency, cache = variables
    needed = JUDGES_NEEDED[Mode(mode)]
    if needed == 0:
        return ()
    common = {"concurrency": int(concurrency)} if concurrency else {}
    settings = [JudgeSettings.resolve(model, base_url, api_key, **common)]
    if needed > 1:
        if not model_2:
            raise JudgeConfigError(f"{JUDGE_ENV}=crosscheck needs VLM4D_JUDGE_MODEL_2")
        first = settings[0]
        settings.append(JudgeSettings.resolve(
            model_2, base_url_2 or first.base_url, api_key_2 or first.api_key or "", **common
        ))  # fmt: skip
    shared = JudgeCache(cache)
    return tuple(Judge(s, shared) for s in settings)


def _key(mode: str, item: Mapping[str, Any]) -> tuple[str, str, str]:
    digest = hashlib.sha256(item["response"].encode("utf-8")).hexdigest()
    return (mode, item["uid"], digest)


_lock = threading.Lock()
_verdicts: dict[tuple[str, str, str], Any] = {}  # (mode, uid, response sha) -> Verdict


def verdicts_for(items: Sequence[Mapping[str, Any]]) -> list:
    """The verdict of each item; the items not decided yet are decided in one batch."""
    from vlm4d_tasks.metric.grading import grade
    from vlm4d_tasks.metric.scoring import Verdict

    mode = judge_mode()
    with _lock:
        todo = {}
        for item in items:
            key = _key(mode, item)
            if key not in _verdicts and key not in todo:
                todo[key] = item
        if todo and mode == DEFAULT_JUDGE_MODE:
            for key, item in todo.items():
                _verdicts[key] = Verdict.chosen(
                    item["uid"], item["letter"], f"rule:{item['rule']}", item["evidence"]
                )
        elif todo:
            # One batch per distinct response of a uid (two tasks of a run may answer the same
            # question differently); grade() needs unique uids.
            batches: list[dict[tuple, Mapping[str, Any]]] = []
            seen: dict[str, int] = {}
            for key, item in todo.items():
                n = seen[key[1]] = seen.get(key[1], -1) + 1
                if n == len(batches):
                    batches.append({})
                batches[n][key] = item
            for batch in batches:
                records = [Record.from_dict(item["record"]) for item in batch.values()]
                responses = {item["uid"]: item["response"] for item in batch.values()}
                grading = grade(records, responses, mode, _judges(mode), progress=True)
                _run.gradings.append(grading.to_dict())
                for key, verdict in zip(batch, grading.verdicts):
                    _verdicts[key] = verdict
        return [_verdicts[_key(mode, item)] for item in items]


def scored_items(items: Sequence[Mapping[str, Any]]) -> list:
    from vlm4d_tasks.metric.scoring import join

    records = [Record.from_dict(item["record"]) for item in items]
    return join(verdicts_for(items), records)


def counted(scored: Sequence[Any]) -> CountedAccuracy:
    outcomes = [s.correct for s in scored if s.correct is not None]
    return CountedAccuracy(sum(outcomes), len(outcomes), len(scored))


def aggregate(metric: str, items: Sequence[Mapping[str, Any]], args: Any = None) -> float:
    """The value of `metric` over its items (lmms-eval calls it once per metric, on rank 0)."""
    _current_run(args)
    scored = scored_items(items)
    if metric == OVERALL:
        record_run(scored, items, args)
    return counted(scored)


def _aggregator(metric: str):
    def aggregate_metric(items: Sequence[Mapping[str, Any]], args: Any = None) -> float:
        return aggregate(metric, items, args)

    aggregate_metric.__name__ = aggregate_metric.__qualname__ = f"aggregate_{metric}"
    aggregate_metric.__doc__ = f"Aggregation of the `{metric}` metric (see `aggregate`)."
    return aggregate_metric


AGGREGATIONS = {metric: _aggregator(metric) for metric in METRICS}


def pooled(metrics: Sequence[float], sizes: Sequence[int], weight_by_size: bool = True) -> float:
    """A group's value of a metric: pooled question counts of its subtasks.

    lmms-eval calls this with the subtasks' values and sizes. `CountedAccuracy` values are
    pooled exactly (sum of correct over sum of scored); plain floats, e.g. from another task,
    fall back to lmms-eval's size-weighted mean.
    """
    if metrics and all(isinstance(m, CountedAccuracy) for m in metrics):
        return CountedAccuracy(
            sum(m.correct for m in metrics), sum(m.scored for m in metrics),
            sum(m.n for m in metrics),
        )  # fmt: skip
    weights = list(sizes) if weight_by_size else [1] * len(metrics)
    return sum(m * w for m, w in zip(metrics, weights)) / sum(weights)


# --------------------------------------------------------------------------------------------
# The run's table and metadata (rank 0)


class _Run:
    """The rows of the lmms-eval run in progress (one process may run several: `--config`)."""

    def __init__(self, args: Any = None) -> None:
        self.args = args
        self.rows: dict[str, dict[str, Any]] = {}  # table row -> uid -> ScoredItem
        self.stamp: str | None = None
        self.gradings: list[dict[str, Any]] = []  # grading.to_dict() of each judge batch


_run = _Run()


def _current_run(args: Any) -> _Run:
    global _run
    if args is not None and args is not _run.args:
        _run = _Run(args)  # lmms-eval made a new args namespace: a new run
    return _run


def model_label(args: Any) -> str:
    """`model` plus the checkpoint or response file it was given, e.g. "qwen2_vl (Qwen/...)"."""
    model = str(getattr(args, "model", None) or "model")
    name = ""
    try:
        from lmms_eval.loggers.evaluation_tracker import GeneralConfigTracker

        name = GeneralConfigTracker._get_model_name(str(getattr(args, "model_args", "") or ""))
    except Exception:  # lmms-eval internals moved: the model name alone will do
        pass
    return f"{model} ({name})" if name else model


def output_folder(args: Any) -> Path | None:
    """lmms-eval's results folder of this run (`--output_path`/<sanitized model name>)."""
    base = getattr(args, "output_path", None)
    if not base:
        return None
    try:
        from lmms_eval.loggers.evaluation_tracker import GeneralConfigTracker
        from lmms_eval.utils import sanitize_model_name

        name = GeneralConfigTracker._get_model_name(str(getattr(args, "model_args", "") or ""))
        return Path(base) / sanitize_model_name(name)
    except ImportError:  # lmms-eval internals moved: the output folder itself will do
        return Path(base)


def run_metadata(args: Any) -> dict[str, Any]:
    """Versions, data, protocol, decoding, frames, judge and model of this run.

    `protocol` (`vlm4d_tasks.lmms.protocol.describe_run`) says which protocol each table row used,
    the generation kwargs the tasks passed (YAML, updated by `--gen_kwargs`), the seeds and the
    frame arguments of `--model_args`.
    """
    from importlib.metadata import PackageNotFoundError, version

    from vlm4d_tasks import __version__
    from vlm4d_tasks.lmms.data import current_source, run_settings
    from vlm4d_tasks.lmms.protocol import describe_run

    try:
        lmms_version = version("lmms_eval")
    except PackageNotFoundError:
        lmms_version = None
    source = current_source()
    mode = judge_mode()
    judges = [j.model for j in _judges(mode)] if mode != DEFAULT_JUDGE_MODE else []
    return {
        "vlm4d_tasks_version": __version__,
        "lmms_eval_version": lmms_version,
        "dataset": source.describe() if source else None,
        "protocol": describe_run(
            _current_run(args).rows,
            gen_kwargs=getattr(args, "gen_kwargs", None),
            seed=getattr(args, "seed", None),
            model_args=getattr(args, "model_args", None),
        ),
        "visual_input": run_settings(),
        "judge": {"mode": mode, "models": judges},
        "model": getattr(args, "model", None),
        "model_args": getattr(args, "model_args", None),
        "gen_kwargs": getattr(args, "gen_kwargs", None),
        "limit": getattr(args, "limit", None),
        "seed": getattr(args, "seed", None),
    }


def score_document(args: Any, n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The `vlm4d score` JSON of the rows recorded so far, plus the run's metadata."""
    from vlm4d_tasks.metric import scoring

    label = model_label(args)
    mode = judge_mode()
    runs, models = [], {}
    # Rows sorted by name: the table does not depend on the order lmms-eval ran the tasks in.
    for row, by_uid in sorted(_current_run(args).rows.items()):
        items = list(by_uid.values())
        name = f"{label} [{row}]"
        models[name] = items
        for subset in sorted({it.record.subset for it in items}):
            part = [it for it in items if it.record.subset == subset]
            run = {"name": row, "model": name, "variant": row, "subset": subset, "file": None}
            run.update(scoring.score_items(part, n_resamples=n_resamples, seed=seed))
            grading: dict[str, Any] = {"mode": mode}
            if mode != DEFAULT_JUDGE_MODE:
                grading["sent_to_llm"] = sum(
                    it.verdict.decided_by.startswith("judge:") for it in part
                )
            run["grading"] = grading
            runs.append(run)
    table = scoring.paper_table(models, n_resamples=n_resamples, seed=seed)
    metadata = run_metadata(args)
    return {
        "format_version": SCORE_FORMAT_VERSION,
        "judge": metadata["judge"],
        "bootstrap": {"resamples": n_resamples, "seed": seed, "level": 0.95},
        "annotations": None,
        "runs": runs,
        "models": [row.to_dict() for row in table],
        "run": metadata,
        "judge_batches": list(_current_run(args).gradings),
    }


def record_run(scored: Sequence[Any], items: Sequence[Mapping[str, Any]], args: Any) -> None:
    """Add a task's scored items to its table row; rewrite the run's table and JSON."""
    run = _current_run(args)
    for it, item in zip(scored, items):
        run.rows.setdefault(item["row"], {})[it.record.uid] = it
    folder = output_folder(args)
    if folder is None:
        return
    from vlm4d_tasks.lmms.protocol import markdown_line
    from vlm4d_tasks.metric.report import markdown_report

    if run.stamp is None:
        from lmms_eval.utils import get_datetime_str

        run.stamp = get_datetime_str(timezone=getattr(args, "timezone", None) or "UTC")
    score = score_document(args)
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"vlm4d_{run.stamp}"
    # The table's header says which protocol its rows used (greedy and official numbers differ).
    title, _, rest = markdown_report(score).partition("\n")
    table = f"{title}\n\n{markdown_line(score['run']['protocol'])}\n{rest}"
    Path(f"{base}_table.md").write_text(table, encoding="utf-8")
    Path(f"{base}_score.json").write_text(
        json.dumps(score, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
