"""The breakdown columns of another benchmark's rows: what a DSR-Bench table shows in place of
VLM4D's.

VLM4D's rows show the paper's columns and categories (`pipeline.rows`: Table 2's subsets, the
four question categories). A DSR-Bench row (DSR Suite, arXiv 2512.20557; its questions are read
by `data.dsr_bench`) has neither: its score document records the accuracy overall and, in each
run's `by_category`, per question type (the 13 `data.dsr_bench.DsrType`s, VLMEvalKit's
`task_type` breakdown, dsrbench.py lines 42-57). Its tables show those types and the two
viewpoints (`data.dsr_bench.Frame`: absolute, seen from one agent at one time; relative,
following the agent), each viewpoint the questions of its six types pooled by question counts
(the free-form type has no viewpoint), which is how the lmms-eval task's `absolute` and
`relative` metrics count them (`lmms.dsr_task.metric_names`). Nothing is judged again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from vlm4d_tasks.pipeline.rows import Cell, _cell, pool

# A DSR-Bench row's debiased status (`MeasuredRow.debiased_status`): the debiased set is
# VLM4D's (`validity.debias`), so the reason a VLM4D row would give does not apply
DSR_NO_DEBIASED = "not applicable: the debiased set is VLM4D's, these are DSR-Bench's questions"


def dsr_set() -> str:
    """The question set (`leaderboard.QUESTION_SETS` key) and the runs' `subset` of
    DSR-Bench rows."""
    from vlm4d_tasks.data.dsr_bench import SUBSET

    return SUBSET


@lru_cache(maxsize=1)
def dsr_type_titles() -> dict[str, str]:
    """The 13 types in VLMEvalKit's order, each with its column title ("Abs distance",
    "Rel speed comp.", "Free-form"): the viewpoint, then the quantity (`split_type`)."""
    from vlm4d_tasks.data.dsr_bench import DsrType, Frame, split_type

    short = {"speed_comparison": "speed comp.", "direction_prediction": "dir. prediction"}
    titles = {}
    for kind in DsrType:
        frame, quantity = split_type(kind)
        if frame is Frame.FREE_FORM:
            titles[kind.value] = "Free-form"
            continue
        what = short.get(quantity.value, quantity.value.replace("_", " "))
        titles[kind.value] = f"{frame.value[:3].capitalize()} {what}"
    return titles


@lru_cache(maxsize=1)
def dsr_viewpoint_titles() -> dict[str, str]:
    """The two viewpoint columns: "absolute" -> "Absolute", "relative" -> "Relative"."""
    from vlm4d_tasks.data.dsr_bench import Frame

    return {f.value: f.value.capitalize() for f in (Frame.ABSOLUTE, Frame.RELATIVE)}


@lru_cache(maxsize=1)
def _viewpoint_of() -> dict[str, str]:
    from vlm4d_tasks.data.dsr_bench import DsrType, split_type

    views = dsr_viewpoint_titles()
    return {
        kind.value: split_type(kind)[0].value
        for kind in DsrType
        if split_type(kind)[0].value in views
    }


@dataclass(frozen=True)
class DsrCells:
    """A DSR-Bench row's breakdowns: accuracy per type and per viewpoint (types and
    viewpoints without questions left out, never shown as 0)."""

    types: dict[str, Cell]
    viewpoints: dict[str, Cell]


def dsr_cells(document: Mapping[str, Any], model: str) -> DsrCells:
    """The breakdowns of table row `model` of a score document, from its DSR-Bench runs'
    `by_category`: a type answered in one run keeps that run's cell (its interval clustered
    by video); in several runs, the runs pooled by question counts. A viewpoint pools its
    types' questions over the runs, by question counts, without an interval (the document
    records none for it)."""
    runs = [
        r for r in document.get("runs", [])
        if r.get("model") == model and r.get("subset") == dsr_set()
    ]  # fmt: skip
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        for kind, acc in (run.get("by_category") or {}).items():
            if kind in dsr_type_titles() and isinstance(acc, Mapping):
                groups.setdefault(kind, []).append(acc)
    types = {}
    for kind in dsr_type_titles():  # VLMEvalKit's order, whatever the document's
        found = groups.get(kind)
        if found:
            types[kind] = _cell(found[0]) if len(found) == 1 else pool(found)
    viewpoints = {}
    for view in dsr_viewpoint_titles():
        cell = pool(
            acc for kind, found in groups.items() if _viewpoint_of().get(kind) == view
            for acc in found
        )  # fmt: skip
        if cell is not None:
            viewpoints[view] = cell
    return DsrCells(types, viewpoints)
