"""The lmms-eval glue of the consistency variants: mirrored, reversed, re-lettered and
re-encoded tasks.

`vlm4d_{real,synthetic}_mc_{mirror,reverse,circular,identity}` and their groups
`vlm4d_mc_mirror`, `vlm4d_mc_reverse`, `vlm4d_mc_circular`, `vlm4d_mc_identity` are the
chain-of-thought tasks (`vlm4d_real_mc`, ...: same prompt, decoding and metrics) on transformed
questions. The logic lives in
`vlm4d_tasks.validity`: each task's `process_docs` maps the base questions through
`transforms.mirror` / `transforms.reverse` (dropping the questions a rule leaves out) or
`transforms.rotations` (four re-letterings per question); `doc_to_visual` hands a video model the
clip mirrored or reversed by `clips.transformed_clip`, encoded once per clip into the clip cache
(the re-lettered tasks show the original clip). The identity tasks are the control of the
mirrored and reversed ones: every base question unchanged (uid `<uid>#identity`), asked about
the clip decoded and encoded again by the same `clips.transformed_clip` path with nothing
transformed, so that the codec and timing change of a transformed clip can be told apart from
the transformation. Scores go through the base tasks' metric path
(`lmms.metric.process_results`, one table row per variant); the circular tasks also report
`circular_accuracy` over base questions (MMBench's CircularEval: a question counts only when all
four rotations are right).

Consistency (DSI-Bench's standard / hflip / reverse comparison: the share of questions answered
right both as asked and transformed) needs the base task's answers too: run the base group with
the variants (`--tasks vlm4d_mc,vlm4d_mc_mirror,vlm4d_mc_reverse,vlm4d_mc_circular`, plus
`vlm4d_mc_identity` for the re-encode control); the run's `*_vlm4d_score.json` and table then
carry it (`validity.consistency`, made by `validity.baselines.consistency` in the one scoring
pipeline).
Nothing here runs at import time.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from vlm4d_tasks.lmms import data as lmms_data
from vlm4d_tasks.lmms import metric as lmms_metric

if TYPE_CHECKING:
    from vlm4d_tasks.data.schema import Record

MIRROR, REVERSE, CIRCULAR, IDENTITY = "mirror", "reverse", "circular", "identity"
CIRCULAR_METRIC = "circular_accuracy"
BASE_ROW = "vlm4d_mc"
# table row of each variant (the base tasks' row is `vlm4d_mc`)
ROWS: dict[str, str] = {
    kind: f"{BASE_ROW}_{kind}" for kind in (MIRROR, REVERSE, CIRCULAR, IDENTITY)
}


# --------------------------------------------------------------------------------------------
# process_docs


def variant_docs(descriptor: Any, config: str, kind: str):
    """The questions of `config` (real / synthetic / all / probe) transformed by `kind`:
    mirrored or reversed (the questions a rule drops are left out), all four rotations of
    each question, in order (question 1 rotations 0-3, question 2 ...), or every question as
    it is (`identity`: only the uid and a flag mark it, so that consistency can pair it)."""
    from datasets import Dataset

    from vlm4d_tasks.data.schema import Record, hf_features
    from vlm4d_tasks.validity import transforms

    if kind not in ROWS:
        raise ValueError(f"unknown variant {kind!r}: expected one of {sorted(ROWS)}")
    rows = []
    for doc in lmms_data.load_docs(descriptor, config):
        record = Record.from_dict(doc)
        if kind == CIRCULAR:
            rows += [r.to_dict() for r in transforms.rotations(record)]
        elif kind == IDENTITY:
            rows.append(_identity(record).to_dict())
        else:
            out = transforms.transform(record, kind)
            if out is not None:
                rows.append(out.to_dict())
    return Dataset.from_list(rows, features=hf_features())


def _identity(record: Record) -> Record:
    """The record as it is, as a variant: uid `<uid>#identity` (paired by
    `transforms.base_uid`) and the flag `transform:identity`, as the transformations mark
    theirs."""
    import dataclasses

    from vlm4d_tasks.validity.transforms import FLAG_PREFIX

    flag = f"{FLAG_PREFIX}{IDENTITY}"
    flags = [*record.flags, *([] if flag in record.flags else [flag])]
    return dataclasses.replace(record, uid=f"{record.uid}#{IDENTITY}", flags=flags)


real_mirror_docs = functools.partial(variant_docs, config="real", kind=MIRROR)
synthetic_mirror_docs = functools.partial(variant_docs, config="synthetic", kind=MIRROR)
real_reverse_docs = functools.partial(variant_docs, config="real", kind=REVERSE)
synthetic_reverse_docs = functools.partial(variant_docs, config="synthetic", kind=REVERSE)
real_circular_docs = functools.partial(variant_docs, config="real", kind=CIRCULAR)
synthetic_circular_docs = functools.partial(variant_docs, config="synthetic", kind=CIRCULAR)
real_identity_docs = functools.partial(variant_docs, config="real", kind=IDENTITY)
synthetic_identity_docs = functools.partial(variant_docs, config="synthetic", kind=IDENTITY)


# --------------------------------------------------------------------------------------------
# Visual input


def _transformed_video(doc: Mapping[str, Any], kind: str) -> list[str]:
    from vlm4d_tasks.validity.clips import transformed_clip
    from vlm4d_tasks.video.sampler import VideoError

    done = "re-encoded" if kind == IDENTITY else f"{kind}ed"
    lmms_data.note_setting(
        f"video_{kind}", f"video file, {done} once into the clip cache (validity.clips)"
    )
    source = lmms_data.video_file(doc)  # a missing video names the file and the question
    try:
        return [str(transformed_clip(source, kind))]
    except VideoError as exc:
        raise VideoError(f"question {doc['uid']}: {kind} of {source}: {exc}") from exc


def doc_to_mirrored_video(doc: Mapping[str, Any]) -> list[str]:
    """The question's clip flipped left-right (written once per clip to the clip cache)."""
    return _transformed_video(doc, MIRROR)


def doc_to_reversed_video(doc: Mapping[str, Any]) -> list[str]:
    """The question's clip played backwards (written once per clip to the clip cache)."""
    return _transformed_video(doc, REVERSE)


def doc_to_identity_video(doc: Mapping[str, Any]) -> list[str]:
    """The question's clip decoded and encoded again as the mirrored and reversed clips are
    (same encoder, frame rate and timestamps), nothing transformed: their control."""
    return _transformed_video(doc, IDENTITY)


# --------------------------------------------------------------------------------------------
# Metric

process_results_mirror = functools.partial(lmms_metric.process_results, row=ROWS[MIRROR])
process_results_reverse = functools.partial(lmms_metric.process_results, row=ROWS[REVERSE])
process_results_identity = functools.partial(lmms_metric.process_results, row=ROWS[IDENTITY])


def process_results_circular(doc: Mapping[str, Any], results: Sequence[Any]) -> dict:
    """The base metrics over rotations, plus a `circular_accuracy` item: a copy, so that its
    standard-error score (one per question, see `aggregate_circular_accuracy`) is its own."""
    out = lmms_metric.process_results(doc, results, row=ROWS[CIRCULAR])
    out[CIRCULAR_METRIC] = dict(out[lmms_metric.OVERALL])
    return out


def aggregate_circular_accuracy(items: Sequence[Mapping[str, Any]], args: Any = None) -> float:
    """Circular accuracy over the base questions of the rotated items (`transforms.
    circular_accuracy`), from the verdicts the task's other metrics use (decided once per run).

    lmms-eval's CLT and clustered standard errors read a 0/1 `score` from the items after
    this call: it is put on one item per scored question (its first rotation), so that they
    are over questions, clustered by video, not over the four rotations of each."""
    from vlm4d_tasks.validity.consistency import circular_accuracy
    from vlm4d_tasks.validity.transforms import base_uid

    scored = lmms_metric.scored_items(items, args)
    result = circular_accuracy({item["uid"]: it.correct for item, it in zip(items, scored)})
    carriers: dict[str, Mapping[str, Any]] = {}
    for item in sorted(items, key=lambda i: i["uid"]):
        if isinstance(item, dict):
            item.pop("score", None)
            carriers.setdefault(base_uid(item["uid"]), item)
    for key, item in carriers.items():
        verdict = result["per_question"].get(key)
        if verdict is not None:
            item["score"] = int(verdict)  # type: ignore[index]
    return lmms_metric.CountedAccuracy(result["correct"], result["scored"], result["questions"])
