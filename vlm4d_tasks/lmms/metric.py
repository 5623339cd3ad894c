"""The VLM4D metric inside lmms-eval: per-document items, judged and scored in aggregation.

The metric is the paper's (VLM4D, ICCV 2025, Sec. 4; see `vlm4d_tasks.metric.scoring`): accuracy
over the questions, a response that commits to no option counting as wrong, with the
breakdowns of the paper's table (real egocentric / exocentric, synthetic directional / false
positive) and the four motion categories. Every breakdown is a metric of the same task over
the same documents: each document is generated and judged once.

How it maps onto lmms-eval 0.7.3:

* `process_results` returns one item per metric the document belongs to (the record, the
  response and, as evidence in the samples log, the extraction of `vlm4d_tasks.metric.extract`),
  so a breakdown without documents never appears (lmms-eval aggregates only the metric names
  it has seen; never a 0.0 for "empty").
* Aggregation runs once, on rank 0, over the items gathered from every process. The first
  metric aggregated (`accuracy`, which every document has) decides all verdicts of the task
  at once through `vlm4d_tasks.pipeline.score`, exactly as `vlm4d score` does (mode from
  `VLM4D_JUDGE`, judge settings from the VLM4D_JUDGE_* variables: `pipeline.judge_config`).
  Later metrics reuse those verdicts.
* Each value is a `CountedAccuracy` (a float that remembers correct / scored), so the group
  task (`vlm4d_mc` = real + synthetic) pools breakdowns by question counts (`pooled`), exactly
  as `vlm4d score` does, instead of averaging subtask means.
* When `--output_path` is given, the paper's table and the score JSON (`pipeline.score_document`,
  the same document as `vlm4d score`, plus the run's metadata and judge batches) are written
  next to lmms-eval's results file, rewritten as each task is aggregated (`lmms.run.Run`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from vlm4d_tasks.data.schema import Category, Record
from vlm4d_tasks.lmms.run import current_run

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
    record = Record.from_dict(doc)
    item = verdict_item(record, response_text(results), row)
    return {name: item for name in metric_names(record)}


def verdict_item(record: Record, response: str, row: str) -> dict[str, Any]:
    """The item every metric of one answer shares: the record, the response and the rule's
    verdict on it (what the aggregations and the score document read)."""
    from vlm4d_tasks.metric.extract import extract

    found = extract(response, record.options, record.question)
    return {
        "row": row,
        "uid": record.uid,
        "record": record.to_dict(),
        "response": response,
        "extracted": found.label,
        "letter": found.letter,
        "rule": found.rule,
        "confident": bool(found.confident),
        "evidence": found.evidence,
        "video": record.video,  # the cluster of lmms-eval's clustered standard error
    }


# --------------------------------------------------------------------------------------------
# Aggregation (rank 0)


def scored_items(items: Sequence[Mapping[str, Any]], args: Any = None) -> list:
    """The scored item (`scoring.ScoredItem`) of each item, decided once per run (`Run`)."""
    return current_run(args).scored(items)


def counted(scored: Sequence[Any]) -> CountedAccuracy:
    outcomes = [s.correct for s in scored if s.correct is not None]
    return CountedAccuracy(sum(outcomes), len(outcomes), len(scored))


def aggregate(metric: str, items: Sequence[Mapping[str, Any]], args: Any = None) -> float:
    """The value of `metric` over its items (lmms-eval calls it once per metric, on rank 0)."""
    run = current_run(args)
    scored = run.scored(items)
    if metric == OVERALL:
        run.record(scored, items)
    # lmms-eval computes a standard error for a custom aggregation only from a 0/1 `score` field
    # of the items (`score_key`), after this call and on these same objects: clustered by the
    # task's `cluster_key` (the video; 1371 real questions share 600 clips), and the plain CLT
    # one beside it. The score is the final verdict's (judge included); an unresolved answer
    # gets none and is left out, as from the accuracy.
    for item, it in zip(items, scored):
        if isinstance(item, dict) and it.correct is not None:
            item["score"] = int(it.correct)
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
