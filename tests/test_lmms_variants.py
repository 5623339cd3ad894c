"""The consistency variants as lmms-eval tasks (vlm4d_tasks.lmms.variants and its YAMLs).

In process: the task index, each task loaded through lmms-eval's `TaskManager` on a small
dataset built here (real H.264 clips), `process_docs` against the transformations computed
independently, the transformed clip written once to the clip cache, the circular aggregation,
and the consistency report of a score document. Then ONE run of the real `lmms-eval` CLI with
the weight-free `vlm4d_random` model on a tiny dataset for `vlm4d_mc_circular` and
`vlm4d_mc_mirror`: its circular accuracy must equal `consistency.circular_accuracy` over the
logged samples.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.validity import consistency as C
from vlm4d_tasks.validity import transforms as T

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "vlm4d_tasks" / "lmms" / "tasks"
SOURCE = [{"repo_id": "shijiezhou/VLM4D", "revision": "main"}]
KINDS = ("mirror", "reverse", "circular")
VARIANT_TASKS = [f"vlm4d_{s}_mc_{k}" for k in KINDS for s in ("real", "synthetic")]
VARIANT_GROUPS = [f"vlm4d_mc_{k}" for k in KINDS]
METRICS = {
    "accuracy", "real_egocentric", "real_exocentric", "real", "synthetic_directional",
    "synthetic_false_positive", "synthetic", "translational", "rotational", "counting",
    "false_positive",
}  # fmt: skip
SEED = 5


def build_dataset(root: Path, per_video: int) -> Path:
    """The suite's generated questions and clips (tests/_lmms_dataset.py), without the probe."""
    from _lmms_dataset import write_annotations, write_videos

    from vlm4d_tasks.data.annotations import load_annotations
    from vlm4d_tasks.data.dataset_repo import build_dataset_repo

    write_annotations(root / "annotations", per_video=per_video)
    write_videos(root / "videos")
    annotations = load_annotations(root / "annotations", ["real", "synthetic"])
    out = root / "dataset"
    build_dataset_repo(annotations, out, videos=root / "videos", copy_videos=True)
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("variants"), per_video=2)


@pytest.fixture
def use_dataset(dataset, monkeypatch, tmp_path):
    monkeypatch.setenv("VLM4D_DATASET", str(dataset))
    monkeypatch.delenv("VLM4D_VIDEO_ROOT", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("VLM4D_FRAME_CACHE_DIR", str(tmp_path / "frames"))
    monkeypatch.delenv("VLM4D_JUDGE", raising=False)
    return dataset


def base_records(dataset: Path, config: str) -> list[Record]:
    from vlm4d_tasks.data.dataset_repo import load_split

    return [Record.from_dict(row) for row in load_split(dataset, config)]


def expected_docs(dataset: Path, config: str, kind: str) -> list[dict]:
    out = []
    for record in base_records(dataset, config):
        if kind == "circular":
            out += [r.to_dict() for r in T.rotations(record)]
        elif (transformed := T.transform(record, kind)) is not None:
            out.append(transformed.to_dict())
    return out


# --------------------------------------------------------------------------------------------
# Task folder and process_docs


def test_variant_tasks_and_groups_are_indexed(task_manager, use_dataset):
    assert set(VARIANT_TASKS) <= set(task_manager.all_subtasks)
    assert set(VARIANT_GROUPS) <= set(task_manager.all_groups)
    # the shared templates are named without `.yaml`: never tasks of their own
    assert not [n for n in task_manager.all_tasks if "template" in n]
    for kind in KINDS:
        group = task_manager.load_task_or_group(f"vlm4d_mc_{kind}")
        ((_, subtasks),) = group.items()
        assert sorted(subtasks) == [f"vlm4d_real_mc_{kind}", f"vlm4d_synthetic_mc_{kind}"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("config", ["real", "synthetic"])
def test_process_docs_transform_the_base_questions(kind, config, use_dataset):
    from vlm4d_tasks.lmms import variants

    docs = getattr(variants, f"{config}_{kind}_docs")(SOURCE)
    assert list(docs) == expected_docs(use_dataset, config, kind)
    base = base_records(use_dataset, config)
    if kind == "circular":
        assert len(docs) == 4 * len(base)
    else:
        assert {T.variant_of(d["uid"]) for d in docs} == {kind}
        assert 0 < len(docs) <= len(base)


def test_process_docs_on_literal_questions(use_dataset):
    """What the fixture's questions become, spelled out (tests/_lmms_dataset.py writes them)."""
    from vlm4d_tasks.lmms import variants

    base = {r.uid: r for r in base_records(use_dataset, "real")}
    mirror = {d["uid"]: d for d in variants.real_mirror_docs(SOURCE)}
    reverse = {d["uid"]: d for d in variants.real_reverse_docs(SOURCE)}
    first = base["real/validation_1"]  # translational, the answer "left" at A
    assert first.options == ["left", "right", "towards the camera", "away from the camera"]
    assert mirror["real/validation_1#mirror"]["options"] == [
        "right", "left", "towards the camera", "away from the camera"]  # fmt: skip
    assert mirror["real/validation_1#mirror"]["answer_text"] == "right"
    assert reverse["real/validation_1#reverse"]["options"] == [
        "right", "left", "away from the camera", "towards the camera"]  # fmt: skip
    second = base["real/validation_2"]  # rotational, with a "flipping over" option
    assert second.question.endswith("rotating clockwise or counter-clockwise?")
    assert mirror["real/validation_2#mirror"]["question"] == second.question  # "A or B" kept
    assert "real/validation_2#reverse" not in reverse  # flipping: asymmetric_action
    assert T.reverse_rule(second) == "asymmetric_action"
    rotated = list(variants.real_circular_docs(SOURCE))[:4]
    assert [d["uid"] for d in rotated] == [f"real/validation_1#rot{k}" for k in range(4)]
    assert [d["answer"] for d in rotated] == ["A", "D", "C", "B"]


@pytest.mark.parametrize("name", VARIANT_TASKS)
def test_every_variant_task_loads_as_a_chain_of_thought_task(name, task_manager, use_dataset):
    from vlm4d_tasks.lmms.prompts import render_prompt
    from vlm4d_tasks.lmms.protocol import PROTOCOLS

    (task,) = task_manager.load_task_or_group(name).values()
    docs = task.test_docs()
    assert len(docs) > 0 and T.variant_of(docs[0]["uid"]) is not None
    assert task.doc_to_text(docs[0]) == render_prompt(docs[0], "cot")
    assert task.doc_to_target(docs[0]) == docs[0]["answer"]
    assert task.config.generation_kwargs == PROTOCOLS["greedy"].generation_kwargs
    assert task.config.metadata["version"] == 1.2
    circular = name.endswith("_circular")
    assert set(task.aggregation()) == METRICS | ({"circular_accuracy"} if circular else set())
    visual = {"mirror": "doc_to_mirrored_video", "reverse": "doc_to_reversed_video",
              "circular": "doc_to_video"}[name.rsplit("_", 1)[1]]  # fmt: skip
    assert task.config.doc_to_visual.__name__ == visual


def test_transformed_clip_is_written_once_per_clip(use_dataset, tmp_path):
    from vlm4d_tasks.lmms import variants

    docs = list(variants.synthetic_mirror_docs(SOURCE))
    by_video: dict[str, list[dict]] = {}
    for doc in docs:
        by_video.setdefault(doc["video"], []).append(doc)
    assert all(len(group) > 1 for group in by_video.values())  # questions share clips
    paths = {video: {variants.doc_to_mirrored_video(d)[0] for d in group}
             for video, group in by_video.items()}  # fmt: skip
    assert all(len(p) == 1 for p in paths.values())  # one file per clip
    clips = sorted((tmp_path / "frames" / "clips").rglob("*.mp4"))
    assert [str(c) for c in clips] == sorted(p for (p,) in paths.values())
    assert all(c.name.endswith(".mirror.mp4") for c in clips)
    (reversed_clip,) = variants.doc_to_reversed_video(docs[0])
    assert reversed_clip.endswith(".reverse.mp4") and reversed_clip not in paths[docs[0]["video"]]


def test_circular_aggregation_over_questions(use_dataset):
    from vlm4d_tasks.lmms import metric, variants

    records = base_records(use_dataset, "synthetic")[:2]
    items = []
    for q, record in enumerate(records):
        for k, rotated in enumerate(T.rotations(record)):
            # question 0 right under every rotation; question 1 wrong under rotation 2
            letter = rotated.answer if (q, k) != (1, 2) else "ABCD"[(rotated.answer_index + 1) % 4]
            out = variants.process_results_circular(
                rotated.to_dict(), [f"Therefore, the final answer is: {letter}"]
            )
            assert out["circular_accuracy"] == out["accuracy"]
            assert out["circular_accuracy"] is not out["accuracy"]  # its own score field
            items.append(out)
    circular = variants.aggregate_circular_accuracy([i["circular_accuracy"] for i in items])
    assert (circular.correct, circular.scored, circular.n) == (1, 2, 2) and circular == 0.5
    scores = {T.base_uid(i["circular_accuracy"]["uid"]): i["circular_accuracy"]["score"]
              for i in items if "score" in i["circular_accuracy"]}  # fmt: skip
    assert scores == {records[0].uid: 1, records[1].uid: 0}  # one per question
    accuracy = metric.AGGREGATIONS["accuracy"]([i["accuracy"] for i in items])
    assert (accuracy.correct, accuracy.scored) == (7, 8)


# --------------------------------------------------------------------------------------------
# End to end: the lmms-eval CLI


def _samples(out: Path, task: str) -> list[dict]:
    (path,) = sorted(out.rglob(f"*_samples_{task}.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _outcomes(samples: list[dict]) -> dict[str, bool]:
    """Right or wrong per logged sample, from its logged response and record (lmms-eval
    0.7.3 logs no document; the metric's item holds the record)."""
    out = {}
    for sample in samples:
        response = sample["filtered_resps"]
        response = response[0] if isinstance(response, list) else response
        letter = re.fullmatch(r"Therefore, the final answer is: ([ABCD])", response).group(1)
        record = sample["accuracy"]["record"]  # the document, as the metric logged it
        out[record["uid"]] = letter == record["answer"]
    return out


@pytest.mark.lmms
def test_lmms_eval_cli_runs_circular_and_mirror(tmp_path):
    from vlm4d_tasks.lmms.models.vlm4d_random import choose

    dataset = build_dataset(tmp_path / "data", per_video=1)  # 4 real + 6 synthetic questions
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VLM4D_")},
        "VLM4D_DATASET": str(dataset),
        "VLM4D_FRAME_CACHE_DIR": str(tmp_path / "frames"),
        "HF_HOME": str(tmp_path / "hf"),
        "LMMS_EVAL_DATASETS_CACHE": str(tmp_path / "hf" / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
    }
    out = tmp_path / "out"
    command = [sys.executable, "-m", "lmms_eval", "--include_path", str(TASKS),
               "--model", "vlm4d_random", "--model_args", f"seed={SEED}",
               "--tasks", "vlm4d_mc,vlm4d_mc_circular,vlm4d_mc_mirror", "--output_path", str(out),
               "--log_samples"]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    (results_file,) = sorted(out.rglob("*_results.json")) or [None]
    assert results_file is not None, log[-4000:]
    results = json.loads(results_file.read_text())

    # circular: per subtask and pooled in the group, from the logged samples
    pooled = {}
    for subset in ("real", "synthetic"):
        task = f"vlm4d_{subset}_mc_circular"
        outcomes = _outcomes(_samples(out, task))
        expected = [r for r in expected_docs(dataset, subset, "circular")]
        assert sorted(outcomes) == sorted(d["uid"] for d in expected)
        # and the model's answers are the seeded ones of each rotated uid
        assert outcomes == {d["uid"]: choose(SEED, d["uid"]) == d["answer"] for d in expected}
        circular = C.circular_accuracy(outcomes)
        values = results["results"][task]
        assert values["circular_accuracy,none"] == pytest.approx(circular["circular_accuracy"])
        assert values["accuracy,none"] == pytest.approx(sum(outcomes.values()) / len(outcomes))
        pooled.update(outcomes)
    group = results["groups"]["vlm4d_mc_circular"]
    assert group["circular_accuracy,none"] == pytest.approx(
        C.circular_accuracy(pooled)["circular_accuracy"]
    )
    assert group["accuracy,none"] == pytest.approx(sum(pooled.values()) / len(pooled))

    # mirror: the transformed questions, every one once, through the base metric path
    mirrored = []
    mirror_outcomes: dict[str, bool] = {}
    for subset in ("real", "synthetic"):
        task = f"vlm4d_{subset}_mc_mirror"
        expected = expected_docs(dataset, subset, "mirror")
        samples = _samples(out, task)
        assert sorted(s["accuracy"]["uid"] for s in samples) == sorted(d["uid"] for d in expected)
        assert results["n-samples"][task]["effective"] == len(expected)
        outcomes = _outcomes(samples)
        assert results["results"][task]["accuracy,none"] == pytest.approx(
            sum(outcomes.values()) / len(outcomes)
        )
        mirrored += expected
        mirror_outcomes.update(outcomes)
    assert "accuracy,none" in results["groups"]["vlm4d_mc_mirror"]
    # the mirrored clips were written once per clip, into the clip cache
    clips = sorted((tmp_path / "frames" / "clips").rglob("*.mirror.mp4"))
    assert len(clips) == len({d["video"] for d in mirrored})
    # the run's score document pairs each variant row with the base row (`vlm4d_mc`)
    base = {}
    for subset in ("real", "synthetic"):
        base.update(_outcomes(_samples(out, f"vlm4d_{subset}_mc")))
    (score_file,) = sorted(out.rglob("*_vlm4d_score.json"))
    entries = {
        e["variant"]: e for e in json.loads(score_file.read_text())["validity"]["consistency"]
    }
    assert entries["mirror"]["model"].endswith("[vlm4d_mc]")
    assert entries["mirror"]["consistency"] == pytest.approx(
        C.consistency(base, mirror_outcomes)["consistency"]
    )
    assert entries["circular"]["consistency"] == pytest.approx(
        C.circular_accuracy(pooled)["circular_accuracy"]
    )
