"""The functions the DSR-Bench task YAMLs (`vlm4d_tasks/lmms/tasks/dsr_bench*.yaml`) name.

DSR-Bench (DSR Suite, arXiv 2512.20557; the questions are read by `vlm4d_tasks.data.dsr_bench`)
runs in the same harness as VLM4D: the same answer extraction (`metric.extract`), the same
judge modes (`VLM4D_JUDGE`), the same run files and score document (`lmms.metric.aggregate`,
`lmms.run`), so `vlm4d report` shows its rows beside VLM4D's, in a table of their own.

The reference for "matches VLMEvalKit" is its `DSRBench` (github.com/open-compass/VLMEvalKit
at e8e78f0, `vlmeval/dataset/dsrbench.py`):

* prompt (lines 21-25 and 181-192): the instruction, the frames, then
  "Question: <question>\\n<options, one a line>\\nAnswer: " (`dsr_bench_prompt.jinja`);
* frames (lines 141-151; the variants of `vlmeval/dataset/video_dataset_config.py` 375-383,
  64frame, 32frame, 30frame and 1fps, the last marked there as the paper's setting, while the
  issue names 32 uniform frames (not confirmed: what could be read of the paper states no
  frame setting): both are tasks here, and the run records which):
  N frames at `numpy.linspace(0, count - 1, N, dtype=int)` (`video.uniform(N)` gives the same
  indices) or, at 1 fps, frame `int(i * video_fps)` for each whole second i (`VlmEvalKitFps`,
  which differs from VLM4D's 1 fps rule);
* breakdowns (lines 42-57, 207-220): accuracy overall and per `task_type`, here also per
  absolute / relative viewpoint.

* scoring (cal_scores.py 77-92): VLMEvalKit's letter matcher (`metric.vlmevalkit_mcq`) reads
  every answer too, reported as `vlmevalkit_accuracy` beside our `accuracy` (which goes
  through the project's extraction and judge modes, and into the score document).

What is not done: the last second of a clip is not hidden for direction-prediction questions: neither
VLMEvalKit's `DSRBench` nor DSR Suite's evaluation code (`spatial_reasoning.py`) cuts the clip,
so the release does not confirm that rule (see the README).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vlm4d_tasks.lmms import data as lmms_data
from vlm4d_tasks.lmms import metric as lmms_metric

OVERALL = lmms_metric.OVERALL
VLMEVALKIT = "vlmevalkit_accuracy"  # VLMEvalKit's own reading of the same answers
CONFIG = "dsr_bench"
DSR_RECIPE = (
    "Build one with `vlm4d build-dataset --benchmark dsr-bench --source benchmark.parquet "
    "--videos VIDEOS --out DIR` (or VLMEvalKit's DSRBench.tsv as --source) and pass "
    f"`vlm4d eval --dataset DIR` (or set {lmms_data.DATASET_ENV}=DIR)."
)


def metric_names_of() -> tuple[str, ...]:
    """Every metric of the DSR-Bench tasks: accuracy, the two viewpoints, the 13 types."""
    from vlm4d_tasks.data.dsr_bench import DsrType, Frame

    return (OVERALL, Frame.ABSOLUTE.value, Frame.RELATIVE.value, *(t.value for t in DsrType))


# --------------------------------------------------------------------------------------------
# Questions


def load_docs(descriptor: Any):
    """The DSR-Bench questions of the folder `VLM4D_DATASET` names (never the hub: the release
    has no videos, and its questions are built with `vlm4d build-dataset --benchmark
    dsr-bench`)."""
    from datasets import get_dataset_config_names

    from vlm4d_tasks.data.dataset_repo import load_split
    from vlm4d_tasks.settings import Settings

    row = lmms_data.source_row(descriptor)
    settings = Settings.from_environ()
    if not settings.dataset:
        raise lmms_data.DatasetNotFoundError(
            f"the DSR-Bench questions need {lmms_data.DATASET_ENV}. {DSR_RECIPE}"
        )
    source = lmms_data.resolve_source(row["repo_id"], row["revision"], settings)
    names = get_dataset_config_names(str(source.folder))
    if CONFIG not in names:
        raise ValueError(
            f"{lmms_data.DATASET_ENV}={settings.dataset}: the dataset has no config {CONFIG!r} "
            f"(it has {names}): not a DSR-Bench folder. {DSR_RECIPE}"
        )
    return load_split(source.folder, CONFIG)


# --------------------------------------------------------------------------------------------
# Prompt and target


def doc_to_text(doc: Mapping[str, Any], lmms_eval_specific_kwargs=None) -> str:
    """VLMEvalKit's DSRBench prompt (see the module doc), with the per-model pre/post prompt."""
    from vlm4d_tasks.data.schema import LETTERS
    from vlm4d_tasks.templating import render

    kwargs = lmms_eval_specific_kwargs or {}
    options = list(doc["options"])
    if len(options) > len(LETTERS):
        raise ValueError(f"record {doc.get('uid')}: field 'options': {len(options)} options, "
                         "at most 4")  # fmt: skip
    body = render("vlm4d_tasks.lmms.tasks", "dsr_bench_prompt.jinja", question=doc["question"],
                  options=options, letters=list(LETTERS[: len(options)]))  # fmt: skip
    # VLMEvalKit's text ends "Answer: " (dsrbench.py line 192), a trailing space that no
    # template file keeps reliably through editors
    body = body.rstrip() + " "
    return f"{kwargs.get('pre_prompt') or ''}{body}{kwargs.get('post_prompt') or ''}"


def doc_to_target(doc: Mapping[str, Any]) -> str:
    return doc["answer"]


# --------------------------------------------------------------------------------------------
# Visual input


@dataclass(frozen=True)
class VlmEvalKitFps:
    """VLMEvalKit's fps rule (dsrbench.py 145-150): `int(count / video_fps * rate)` frames, the
    i-th at frame `int(i * video_fps / rate)`: one frame at each 1/rate seconds from the start,
    with no cap. One deliberate difference: a clip shorter than 1/rate seconds gets frame 0
    where VLMEvalKit gives the model no frame at all."""

    rate: float = 1.0

    @property
    def key(self) -> str:
        return f"vlmevalkit-fps-{self.rate:g}"

    def wanted(self, count: int, fps: float) -> int:
        if not fps > 0:
            raise ValueError(f"the 1 fps rule needs a positive frame rate, got {fps!r}")
        return max(1, int(count / fps * self.rate))

    def indices(self, count: int, fps: float) -> list[int]:
        if count <= 0:
            return []
        step = fps / self.rate
        # sorted and unique while step >= 1 (a clip of at least `rate` fps); below that,
        # frames would repeat, and each is given once
        return sorted({min(int(i * step), count - 1) for i in range(self.wanted(count, fps))})


def frame_policy(setting: str):
    """`32frame` -> uniform(32) (VLMEvalKit's linspace), `1fps` -> `VlmEvalKitFps(1)`."""
    from vlm4d_tasks.video.sampler import uniform

    text = str(setting).strip().lower()
    if text == "1fps":
        return VlmEvalKitFps(1.0)
    if text.endswith("frame") and text[: -len("frame")].isdigit() and int(text[:-5]) > 0:
        return uniform(int(text[: -len("frame")]))
    raise ValueError(f"DSR-Bench frame setting {setting!r}: expected 64frame, 32frame, 30frame "
                     "or 1fps (lmms_eval_specific_kwargs.frames)")  # fmt: skip


def doc_to_video(doc: Mapping[str, Any]) -> list[str]:
    """The clip itself, for models that sample their own frames."""
    lmms_data.note_setting("dsr_bench video", "video file path (the model samples its own frames)")
    return [str(lmms_data.video_file(doc))]


def doc_to_frames(doc: Mapping[str, Any], lmms_eval_specific_kwargs=None) -> list:
    """The task's VLMEvalKit frame setting (`frames` in its YAML), as PIL images, through the
    frame cache. The setting is the task's: VLM4D_FRAMES does not change it."""
    from vlm4d_tasks.video.cache import cached_sample

    setting = (lmms_eval_specific_kwargs or {}).get("frames") or "32frame"
    policy = frame_policy(setting)
    lmms_data.note_setting(f"dsr_bench {setting}", f"{policy.key} PIL frames (VLMEvalKit "
                           f"DSRBench_{setting})")  # fmt: skip
    return list(cached_sample(lmms_data.video_file(doc), policy, output="pil").frames)


# --------------------------------------------------------------------------------------------
# Metric


def metric_names(doc: Mapping[str, Any]) -> list[str]:
    """The metrics a question counts in: accuracy, its viewpoint (absolute / relative), its
    type. A question of an unknown type (flagged at build) counts in `accuracy` only."""
    from vlm4d_tasks.data.dsr_bench import DsrType, Frame

    names = [OVERALL]
    if doc.get("frame") in (Frame.ABSOLUTE.value, Frame.RELATIVE.value):
        names.append(doc["frame"])
    if doc.get("category") in {t.value for t in DsrType}:
        names.append(doc["category"])
    return names


def process_results(doc: Mapping[str, Any], results: Sequence[Any], *, row: str) -> dict:
    """One item per metric of `doc`, in the shape of `lmms.metric.process_results` (the record
    as `schema.Record` reads it), so the run's verdicts, judge and score document are VLM4D's."""
    from vlm4d_tasks.data.schema import Record
    from vlm4d_tasks.metric import vlmevalkit_mcq

    record = Record.from_dict(dict(doc))
    response = lmms_metric.response_text(results)
    item = {**lmms_metric.verdict_item(record, response, row), "frame": doc.get("frame")}
    # An item of its own: lmms-eval's standard error of a metric reads its items' `score`, which
    # the aggregation of `accuracy` sets on the shared item from our verdict.
    hit = vlmevalkit_mcq.hit(response, record.answer)
    vlmevalkit = {"uid": record.uid, "video": record.video, "score": int(hit),
                  "letter": vlmevalkit_mcq.can_match_option(response)}  # fmt: skip
    return {**{name: item for name in metric_names(doc)}, VLMEVALKIT: vlmevalkit}


process_results_video = functools.partial(process_results, row="dsr_bench")
process_results_64frame = functools.partial(process_results, row="dsr_bench_64frame")
process_results_32frame = functools.partial(process_results, row="dsr_bench_32frame")
process_results_30frame = functools.partial(process_results, row="dsr_bench_30frame")
process_results_1fps = functools.partial(process_results, row="dsr_bench_1fps")


def aggregate_vlmevalkit_accuracy(items: Sequence[Mapping[str, Any]], args: Any = None) -> float:
    """VLMEvalKit's accuracy: the share of hits (`vlmevalkit_mcq.hit`) over every question."""
    return lmms_metric.CountedAccuracy(sum(int(it["score"]) for it in items), len(items))


@functools.cache
def _aggregator(metric: str):
    def aggregate_metric(items: Sequence[Mapping[str, Any]], args: Any = None) -> float:
        return lmms_metric.aggregate(metric, items, args)

    aggregate_metric.__name__ = aggregate_metric.__qualname__ = f"aggregate_{metric}"
    return aggregate_metric


def __getattr__(name: str):
    # `aggregate_<metric>` for each DSR-Bench metric, made on first use (the YAMLs name them;
    # the list of types lives in `data.dsr_bench`, so it is not copied here).
    if name.startswith("aggregate_") and name[len("aggregate_") :] in metric_names_of():
        return _aggregator(name[len("aggregate_") :])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
