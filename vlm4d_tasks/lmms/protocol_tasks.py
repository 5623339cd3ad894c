"""The lmms-eval glue of the `dsr-suite` protocol: its prompt, its answer reader beside ours, and
the task templates made from its declaration.

DSR Suite (arXiv 2512.20557; github.com/TencentARC/DSR_Suite, `model/qwen_test_vlm4d_baseline.py`)
evaluates VLM4D with a one-line prompt appended to the question, its own decoding (temperature
0.4, top-p 0.9, top-k 5, 20 new tokens), 32 frames spread over the clip and a regex reader of its
own. All of it is declared once, in `protocols.json` (`protocol_declarations.declaration("dsr-suite")`):

* the prompt is rendered from the declaration's template (`Declaration.render_prompt`);
* the decoding and the frames of the `*_frames` variants are written into the task templates
  `_dsr_suite_template_yaml`, `_dsr_suite_frames_template_yaml` and
  `_dsr_suite_group_template_yaml` by `templates()` (lmms-eval reads `generation_kwargs` from
  YAML only); tests/test_protocol_dsr_suite.py checks that the files on disk are what the
  declaration makes. Regenerate them with `python -m vlm4d_tasks.lmms.protocol_tasks`;
* the answers are read twice: by our extraction (`accuracy` and the breakdowns, as every task)
  and by DSR Suite's reader (`metric.dsr_scorer`), reported beside it as `dsr_suite_accuracy`,
  so a lab sees the paper's number and ours on the same answers.

Nothing here runs at import time.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vlm4d_tasks.lmms import metric as lmms_metric
from vlm4d_tasks.lmms.protocol import DSR_SUITE, declaration, generation_kwargs_of

DSR_METRIC = "dsr_suite_accuracy"
TEMPLATE = "_dsr_suite_template_yaml"
FRAMES_TEMPLATE = "_dsr_suite_frames_template_yaml"
GROUP_TEMPLATE = "_dsr_suite_group_template_yaml"
TASK_MODULE = "vlm4d_tasks.lmms.task"
VERSION = 1.2  # the metric's version, as every VLM4D task's (_default_template_yaml)


def doc_to_text(doc: Mapping[str, Any], lmms_eval_specific_kwargs=None) -> str:
    """DSR Suite's prompt of `doc`, byte for byte as its script builds it (lines 56-58), with
    lmms-eval's per-model `pre_prompt` / `post_prompt` around it (empty by default)."""
    kwargs = lmms_eval_specific_kwargs or {}
    text = declaration(DSR_SUITE).render_prompt(doc, "direct")
    return f"{kwargs.get('pre_prompt') or ''}{text}{kwargs.get('post_prompt') or ''}"


def process_results(doc: Mapping[str, Any], results: Sequence[Any], *, row: str) -> dict:
    """Our items (`lmms.metric.process_results`) with DSR Suite's reading of the same answer
    (`dsr_suite`: its choice, letter, rule and verdict) on each, and a `dsr_suite_accuracy` item
    of its own (a copy: its standard-error score is its own)."""
    from vlm4d_tasks.metric.dsr_scorer import read_answer

    out = lmms_metric.process_results(doc, results, row=row)
    item = out[lmms_metric.OVERALL]
    reading = read_answer(item["response"])
    item["dsr_suite"] = {
        "choice": reading.choice[:200],
        "letter": reading.letter,
        "rule": reading.rule,
        "evidence": reading.evidence,
        "correct": reading.correct(str(doc.get("answer") or "")),
    }
    out[DSR_METRIC] = dict(item)
    return out


def aggregate(items: Sequence[Mapping[str, Any]], args: Any = None) -> float:
    """DSR Suite's accuracy: its verdicts over every item (an answer it cannot read is wrong,
    as in the script); each item's 0/1 `score` is set for lmms-eval's standard errors."""
    verdicts = [bool(item["dsr_suite"]["correct"]) for item in items]
    for item, verdict in zip(items, verdicts):
        if isinstance(item, dict):
            item["score"] = int(verdict)
    return lmms_metric.CountedAccuracy(sum(verdicts), len(verdicts))


# --------------------------------------------------------------------------------------------
# The task templates, made from the declaration

_HEADER = (
    "# Made from vlm4d_tasks/lmms/protocols.json (protocol `dsr-suite`) by\n"
    "# `python -m vlm4d_tasks.lmms.protocol_tasks`: do not edit; tests/test_protocol_dsr_suite.py\n"
    "# checks that it is what the declaration makes.\n"
)


def _yaml(value: Any) -> str:
    return json.dumps(value)  # a JSON scalar or [] is the same YAML scalar


def _metric_list(names: Sequence[str], function: Any, extra: str) -> list[str]:
    lines = []
    for name in names:
        lines += [f"  - metric: {name}", f"    aggregation: !function {TASK_MODULE}.{function(name)}",
                  extra]  # fmt: skip
    return lines


def _aggregation(name: str) -> str:
    return "aggregate_dsr_suite_accuracy" if name == DSR_METRIC else f"aggregate_{name}"


def templates() -> dict[str, str]:
    """File name -> text of the three `dsr-suite` templates, from the declaration."""
    decl = declaration(DSR_SUITE)
    names = [*lmms_metric.METRICS, DSR_METRIC]
    source = decl.decoding["sources"][0]
    prose = (
        f"{decl.summary}. Decoding: {source['repo']} {source['file']} line {source['line']} "
        f"(commit {source.get('commit', '?')[:7]}). The prompt is the declaration's template, "
        "rendered by doc_to_text_dsr_suite; the answers are read by our extraction and by DSR "
        f"Suite's reader ({DSR_METRIC}). The video tasks hand the model the video file: `vlm4d "
        "eval --protocol dsr-suite` sets its frames and max_pixels for the model classes that "
        "take them."
    )
    task = [
        _HEADER.rstrip("\n"),
        *textwrap.wrap(prose, 96, initial_indent="# ", subsequent_indent="# "),
        "include: _default_template_yaml",
        f"doc_to_text: !function {TASK_MODULE}.doc_to_text_dsr_suite",
        f"process_results: !function {TASK_MODULE}.process_results_mc_dsr_suite",
        "generation_kwargs:",
        *(f"  {k}: {_yaml(v)}" for k, v in generation_kwargs_of(decl).items()),
        "metric_list:",
        *_metric_list(names, _aggregation, "    higher_is_better: true"),
        "metadata:",
        f"  version: {VERSION}",
        f"  protocol: {DSR_SUITE}",
    ]
    frames = [
        _HEADER.rstrip("\n"),
        f"# `dsr-suite` on sampled frames: {decl.frames['max_frames']} frames spread over the "
        "clip (its frame rule),",
        "# as PIL images (`vlm4d eval --frames N` overrides them for a run).",
        f"include: {TEMPLATE}",
        f"doc_to_visual: !function {TASK_MODULE}.doc_to_frames",
        f"process_results: !function {TASK_MODULE}.process_results_mc_frames_dsr_suite",
        "lmms_eval_specific_kwargs:",
        "  default:",
        '    pre_prompt: ""',
        '    post_prompt: ""',
        f"    frames: {int(decl.frames['max_frames'])}",
    ]
    group = [
        _HEADER.rstrip("\n"),
        "# The `dsr-suite` groups (real + synthetic): every metric pooled over the questions of",
        f"# both subtasks, {DSR_METRIC} too.",
        "aggregate_metric_list:",
        *_metric_list(names, lambda name: "pooled", "    weight_by_size: true"),
        "metadata:",
        f"  version: {VERSION}",
    ]
    return {
        TEMPLATE: "\n".join(task) + "\n",
        FRAMES_TEMPLATE: "\n".join(frames) + "\n",
        GROUP_TEMPLATE: "\n".join(group) + "\n",
    }


def write_templates(folder: Path | None = None) -> list[Path]:
    """Write `templates()` into the tasks folder (or `folder`); the paths written."""
    if folder is None:
        folder = Path(__file__).resolve().parent / "tasks"
    written = []
    for name, text in templates().items():
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_templates(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
        print(path)
