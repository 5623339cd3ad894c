"""The functions the lmms-eval task YAMLs (`vlm4d_tasks/lmms/tasks/`) name with `!function`.

A thin adapter: data comes from `lmms.data`, prompts from `lmms.prompts`, frames from
`video`, the metric from `lmms.metric`. Nothing here runs at import time; lmms-eval imports this module when
it loads a VLM4D task.

Visual input. The default tasks give the model the video file's path (the model samples frames
its own way, as in the paper where each model used its own frame setting). The `_frames` tasks,
for image-only models, give N PIL frames sampled uniformly (`video.uniform(N)`, the official
`--total_frames N` indices); N is `frames` in `lmms_eval_specific_kwargs` (default 8), and
`VLM4D_FRAMES` overrides it for a run (`vlm4d eval --frames N`). A published setting is accepted
too (`32frame`, `1fps`: `protocol.frame_setting`).

Protocols (`vlm4d_tasks.lmms.protocol`): the tasks named `..._official` use the official prompts
(`doc_to_text_official_*`) and decoding (their YAMLs) and feed their own table rows
(`process_results_*_official`), so that their numbers are never mixed with greedy ones.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from vlm4d_tasks.lmms import data as lmms_data
from vlm4d_tasks.lmms import metric as lmms_metric
from vlm4d_tasks.settings import FRAMES, Settings

FRAMES_ENV = FRAMES.name
DEFAULT_FRAMES = 8

# --------------------------------------------------------------------------------------------
# process_docs: the one-row source file -> the questions of a task


# One partial of `load_docs` per subset or category: the YAMLs name these (lmms-eval forces the
# indirection: see the tasks README, "Data").
real_docs = functools.partial(lmms_data.load_docs, config="real")
synthetic_docs = functools.partial(lmms_data.load_docs, config="synthetic")
probe_docs = functools.partial(lmms_data.load_docs, config="probe")
translational_docs = functools.partial(lmms_data.load_docs, config="all", category="translational")
rotational_docs = functools.partial(lmms_data.load_docs, config="all", category="rotational")
counting_docs = functools.partial(lmms_data.load_docs, config="all", category="counting")
false_positive_docs = functools.partial(
    lmms_data.load_docs, config="all", category="false_positive"
)


# --------------------------------------------------------------------------------------------
# Prompt and target


def _kwarg(kwargs: Mapping[str, Any] | None, name: str, default: Any = "") -> Any:
    value = (kwargs or {}).get(name)
    return default if value is None else value


def _text(doc: Mapping[str, Any], style: str, kwargs: Mapping[str, Any] | None) -> str:
    from vlm4d_tasks.lmms.prompts import render_prompt

    return render_prompt(doc, style, _kwarg(kwargs, "pre_prompt"), _kwarg(kwargs, "post_prompt"))


def doc_to_text_cot(doc: Mapping[str, Any], lmms_eval_specific_kwargs=None) -> str:
    return _text(doc, "cot", lmms_eval_specific_kwargs)


def doc_to_text_direct(doc: Mapping[str, Any], lmms_eval_specific_kwargs=None) -> str:
    return _text(doc, "direct", lmms_eval_specific_kwargs)


def doc_to_text_official_cot(doc: Mapping[str, Any], lmms_eval_specific_kwargs=None) -> str:
    """The official chain-of-thought prompt, byte for byte (protocol `official`)."""
    return _text(doc, "official_cot", lmms_eval_specific_kwargs)


def doc_to_text_official_direct(doc: Mapping[str, Any], lmms_eval_specific_kwargs=None) -> str:
    """The official direct-output prompt, byte for byte (protocol `official`)."""
    return _text(doc, "official_direct", lmms_eval_specific_kwargs)


def doc_to_target(doc: Mapping[str, Any]) -> str:
    """The answer letter ("" for a question whose answer text matches no option)."""
    return doc["answer"]


# --------------------------------------------------------------------------------------------
# Visual input


def doc_to_video(doc: Mapping[str, Any]) -> list[str]:
    """The video file, for models that read videos themselves."""
    lmms_data.note_setting("video", "video file path (the model samples its own frames)")
    return [str(lmms_data.video_file(doc))]


def doc_to_no_visual(doc: Mapping[str, Any]) -> list:
    """No visual input: the blind tasks (`vlm4d_mc_blind`), as lmms-eval's `*_no_visual` tasks.

    The prompt is the chain-of-thought one, unchanged, so the video is the only difference
    between a model's blind and normal rows."""
    lmms_data.note_setting("blind", "no visual input (question and options only)")
    return []


# Read by `vlm4d eval`'s preflight, which checks the videos only of tasks that read them.
doc_to_no_visual.reads_video = False


def frame_policy(lmms_eval_specific_kwargs: Mapping[str, Any] | None = None):
    """The run's frame setting: N frames (`uniform(N)`), or a published one (`32frame`, `1fps`)."""
    from vlm4d_tasks.lmms.protocol import frame_setting

    # lmms-eval calls in with no run context: the variables are read here, as the run set them
    raw = Settings.from_environ().frames or _kwarg(
        lmms_eval_specific_kwargs, "frames", DEFAULT_FRAMES
    )
    try:
        return frame_setting(raw)
    except ValueError:
        raise ValueError(f"frames to sample: expected a positive integer, 'Nframe' or '1fps', "
                         f"got {raw!r} ({FRAMES_ENV} or lmms_eval_specific_kwargs.frames)"
                         ) from None  # fmt: skip


def doc_to_frames(doc: Mapping[str, Any], lmms_eval_specific_kwargs=None) -> list:
    """N frames sampled uniformly (PIL images), for image-only models (or the official 1 fps
    rule, `VLM4D_FRAMES=1fps`).

    Through the on-disk frame cache: the questions that share a clip decode it once, also
    across processes and runs (`VLM4D_FRAME_CACHE_DIR`, `VLM4D_FRAME_CACHE_MAX_BYTES`).
    """
    from vlm4d_tasks.video.cache import cached_sample

    policy = frame_policy(lmms_eval_specific_kwargs)
    lmms_data.note_setting("frames", f"{policy.key} PIL frames")
    return list(cached_sample(lmms_data.video_file(doc), policy, output="pil").frames)


# --------------------------------------------------------------------------------------------
# Metric: process_results per table row, one aggregation per metric, the group's pooling

process_results_mc = functools.partial(lmms_metric.process_results, row="vlm4d_mc")
process_results_mc_direct = functools.partial(lmms_metric.process_results, row="vlm4d_mc_direct")
process_results_mc_frames = functools.partial(lmms_metric.process_results, row="vlm4d_mc_frames")
process_results_mc_blind = functools.partial(lmms_metric.process_results, row="vlm4d_mc_blind")
process_results_probe_mc = functools.partial(lmms_metric.process_results, row="vlm4d_probe_mc")
# The official protocol's rows: the row name ends in `_official` (`protocol.protocol_of`).
process_results_mc_official = functools.partial(
    lmms_metric.process_results, row="vlm4d_mc_official"
)
process_results_mc_direct_official = functools.partial(
    lmms_metric.process_results, row="vlm4d_mc_direct_official"
)
process_results_mc_frames_official = functools.partial(
    lmms_metric.process_results, row="vlm4d_mc_frames_official"
)
process_results_probe_mc_official = functools.partial(
    lmms_metric.process_results, row="vlm4d_probe_mc_official"
)


def process_results_category(doc: Mapping[str, Any], results) -> dict:
    """The single-category entry tasks: one table row per category task."""
    return lmms_metric.process_results(doc, results, row=f"vlm4d_{doc['category']}")


aggregate_accuracy = lmms_metric.AGGREGATIONS["accuracy"]
aggregate_real_egocentric = lmms_metric.AGGREGATIONS["real_egocentric"]
aggregate_real_exocentric = lmms_metric.AGGREGATIONS["real_exocentric"]
aggregate_real = lmms_metric.AGGREGATIONS["real"]
aggregate_synthetic_directional = lmms_metric.AGGREGATIONS["synthetic_directional"]
aggregate_synthetic_false_positive = lmms_metric.AGGREGATIONS["synthetic_false_positive"]
aggregate_synthetic = lmms_metric.AGGREGATIONS["synthetic"]
aggregate_translational = lmms_metric.AGGREGATIONS["translational"]
aggregate_rotational = lmms_metric.AGGREGATIONS["rotational"]
aggregate_counting = lmms_metric.AGGREGATIONS["counting"]
aggregate_false_positive = lmms_metric.AGGREGATIONS["false_positive"]

pooled = lmms_metric.pooled


# --------------------------------------------------------------------------------------------
# Protocol `dsr-suite` (`lmms.protocol_tasks`): its prompt, our metrics with its reader beside


def doc_to_text_dsr_suite(doc: Mapping[str, Any], lmms_eval_specific_kwargs=None) -> str:
    """DSR Suite's prompt, byte for byte, from its declaration (protocol `dsr-suite`)."""
    from vlm4d_tasks.lmms.protocol_tasks import doc_to_text

    return doc_to_text(doc, lmms_eval_specific_kwargs)


def _dsr_suite_results(doc: Mapping[str, Any], results, *, row: str) -> dict:
    from vlm4d_tasks.lmms.protocol_tasks import process_results

    return process_results(doc, results, row=row)


# The DSR Suite protocol's rows: the row name ends in `_dsr_suite` (`protocol.protocol_of`).
process_results_mc_dsr_suite = functools.partial(_dsr_suite_results, row="vlm4d_mc_dsr_suite")
process_results_mc_frames_dsr_suite = functools.partial(
    _dsr_suite_results, row="vlm4d_mc_frames_dsr_suite"
)
process_results_probe_mc_dsr_suite = functools.partial(
    _dsr_suite_results, row="vlm4d_probe_mc_dsr_suite"
)


def aggregate_dsr_suite_accuracy(items, args=None) -> float:
    """DSR Suite's reader's accuracy over the task's answers (beside our `accuracy`)."""
    from vlm4d_tasks.lmms.protocol_tasks import aggregate

    return aggregate(items, args)
