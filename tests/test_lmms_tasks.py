"""The lmms-eval glue in process: prompts, metric, data resolution, models, task contract.

Real components throughout: a dataset folder built with `build_dataset_repo` from generated
annotations and PyAV videos, lmms-eval's own `TaskManager`, a real HTTP judge on 127.0.0.1.
The end-to-end runs of the lmms-eval CLI are in test_lmms_cli.py.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from _lmms_dataset import EGO_DOC

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "vlm4d_tasks" / "lmms" / "tasks"
ALL_TASKS = [
    "vlm4d_real_mc", "vlm4d_synthetic_mc", "vlm4d_real_mc_direct", "vlm4d_synthetic_mc_direct",
    "vlm4d_real_mc_frames", "vlm4d_synthetic_mc_frames", "vlm4d_probe_mc",
    "vlm4d_translational", "vlm4d_rotational", "vlm4d_counting", "vlm4d_false_positive",
    "vlm4d_real_mc_blind", "vlm4d_synthetic_mc_blind",
]  # fmt: skip
OFFICIAL_TASKS = [
    "vlm4d_real_mc_official", "vlm4d_synthetic_mc_official", "vlm4d_real_mc_direct_official",
    "vlm4d_synthetic_mc_direct_official", "vlm4d_real_mc_frames_official",
    "vlm4d_synthetic_mc_frames_official", "vlm4d_probe_mc_official",
]  # fmt: skip
ALL_GROUPS = ["vlm4d_mc", "vlm4d_mc_direct", "vlm4d_mc_frames", "vlm4d_mc_blind"]
# The consistency variants (tests/test_lmms_variants.py covers their docs and visual input).
VARIANT_KINDS = ("mirror", "reverse", "circular", "identity")
VARIANT_TASKS = [f"vlm4d_{s}_mc_{k}" for k in VARIANT_KINDS for s in ("real", "synthetic")]
VARIANT_GROUPS = [f"vlm4d_mc_{k}" for k in VARIANT_KINDS]
# The dsr-suite protocol's tasks and groups (tests/test_protocol_dsr_suite.py covers them).
VARIANT_TASKS += ["vlm4d_probe_mc_dsr_suite"] + [
    f"vlm4d_{s}_mc{f}_dsr_suite" for s in ("real", "synthetic") for f in ("", "_frames")
]
VARIANT_GROUPS += ["vlm4d_mc_dsr_suite", "vlm4d_mc_frames_dsr_suite"]
# DSR-Bench's tasks (tests/test_dsr_bench.py and test_dsr_bench_lmms.py cover them).
VARIANT_TASKS += [
    "dsr_bench",
    *(f"dsr_bench_{s}" for s in ("64frame", "32frame", "30frame", "1fps")),
]
OFFICIAL_GROUPS = ["vlm4d_mc_official", "vlm4d_mc_direct_official", "vlm4d_mc_frames_official"]
METRICS = [
    "accuracy", "real_egocentric", "real_exocentric", "real", "synthetic_directional",
    "synthetic_false_positive", "synthetic", "translational", "rotational", "counting",
    "false_positive",
]  # fmt: skip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from _lmms_dataset import build

    return build(tmp_path_factory.mktemp("vlm4d"))


@pytest.fixture
def use_dataset(dataset, monkeypatch, tmp_path):
    monkeypatch.setenv("VLM4D_DATASET", str(dataset))
    monkeypatch.delenv("VLM4D_VIDEO_ROOT", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return dataset


# --------------------------------------------------------------------------------------------
# Prompts


def test_cot_prompt_of_a_literal_record():
    from vlm4d_tasks.lmms.prompts import render_prompt

    assert render_prompt(EGO_DOC) == (
        "Question: What direction is the cup moving towards?\n"
        "A: left\nB: right\nC: towards the camera\nD: away from the camera\n"
        "Answer the given multiple-choice question step by step. Begin by explaining your "
        "reasoning process clearly. In the last sentence of your response, state the final "
        'answer in the format "Therefore, the final answer is: $LETTER" (without quotes), '
        "where $LETTER is one of A, B, C, D. Think step by step before answering."
    )


def test_direct_prompt_and_pre_post_prompts():
    from vlm4d_tasks.lmms.task import doc_to_text_cot, doc_to_text_direct

    text = doc_to_text_direct(EGO_DOC, {"pre_prompt": "<video>\n", "post_prompt": "\nAnswer:"})
    assert text.startswith("<video>\nQuestion: What direction is the cup moving towards?\nA: left")
    assert "Answer directly with the letter of the correct option (A, B, C, D)." in text
    assert text.endswith("\nAnswer:")
    assert "step by step" not in text
    # None kwargs (no lmms_eval_specific_kwargs) and a `default` block both work
    assert doc_to_text_cot(EGO_DOC, None) == doc_to_text_cot(EGO_DOC)
    assert doc_to_text_cot(EGO_DOC, {"default": {}, "pre_prompt": ""}) == doc_to_text_cot(EGO_DOC)


def test_unknown_prompt_style_raises():
    from vlm4d_tasks.lmms.prompts import render_prompt

    with pytest.raises(ValueError, match="unknown prompt style 'cto'"):
        render_prompt(EGO_DOC, "cto")


# --------------------------------------------------------------------------------------------
# Metric


def test_process_results_items_per_breakdown():
    from vlm4d_tasks.lmms.metric import process_results

    out = process_results(EGO_DOC, ["I think... Therefore, the final answer is: B"], row="r")
    assert list(out) == ["accuracy", "real_egocentric", "real", "translational"]
    item = out["accuracy"]
    assert item["letter"] == "B" and item["uid"] == "real/validation_930"
    assert item["extracted"] == "B: right" and item["row"] == "r"
    synthetic_fp = {**EGO_DOC, "uid": "synthetic/validation_2", "subset": "synthetic",
                    "perspective": None, "category": "false_positive"}  # fmt: skip
    assert list(process_results(synthetic_fp, ["A"], row="r")) == [
        "accuracy", "synthetic_false_positive", "synthetic", "false_positive",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        process_results({**EGO_DOC, "category": "spinning"}, ["A"], row="r")


def _items(answers: dict[str, str]) -> list[dict]:
    from vlm4d_tasks.lmms.metric import process_results

    items = []
    for i, (category, response) in enumerate(answers.items()):
        doc = {**EGO_DOC, "uid": f"real/validation_{940 + i}", "question_id": f"v{i}",
               "category": category}  # fmt: skip
        items.append(process_results(doc, [response], row="vlm4d_mc"))
    return items


def test_aggregation_rule_mode_and_exact_group_pooling(monkeypatch):
    from vlm4d_tasks.lmms.metric import AGGREGATIONS, CountedAccuracy, pooled

    monkeypatch.delenv("VLM4D_JUDGE", raising=False)
    items = _items({"translational": "Therefore, the final answer is: B",
                    "rotational": "The answer is A.", "counting": "I cannot tell."})  # fmt: skip
    acc = AGGREGATIONS["accuracy"]([i["accuracy"] for i in items])
    assert isinstance(acc, CountedAccuracy)
    assert (acc.correct, acc.scored, acc.n) == (1, 3, 3) and acc == pytest.approx(1 / 3)
    rot = AGGREGATIONS["rotational"]([i["rotational"] for i in items if "rotational" in i])
    assert (rot.correct, rot.scored) == (0, 1)
    # the group pools counts: (1 + 3) / (3 + 5), not the mean of 1/3 and 3/5
    group = pooled([acc, CountedAccuracy(3, 5)], [3, 5])
    assert group == pytest.approx(4 / 8) and (group.correct, group.scored, group.n) == (4, 8, 8)
    assert pooled([0.5, 0.25], [2, 6]) == pytest.approx(0.3125)  # plain floats: weighted mean
    assert pickle.loads(pickle.dumps(group)).scored == 8
    assert json.loads(json.dumps({"v": group}))["v"] == 0.5


def test_llm_judge_runs_once_per_task_in_one_concurrent_batch(monkeypatch, tmp_path):
    from _judge_server import Action, ScriptedChatServer, good_verdict

    from vlm4d_tasks.lmms.metric import AGGREGATIONS

    def slow(body, n):
        return Action(content=good_verdict(body), delay=0.2)

    categories = ["translational", "rotational", "counting", "false_positive"]
    answers = {c: f"Seen {c}. Answer: {letter}" for c, letter in zip(categories, "BACB")}
    items = _items(answers)
    with ScriptedChatServer(slow) as server:
        monkeypatch.setenv("VLM4D_JUDGE", "llm")
        monkeypatch.setenv("VLM4D_JUDGE_MODEL", "judge-test")
        monkeypatch.setenv("VLM4D_JUDGE_BASE_URL", server.url)
        monkeypatch.setenv("VLM4D_JUDGE_API_KEY", "x")
        monkeypatch.setenv("VLM4D_JUDGE_CONCURRENCY", "4")
        monkeypatch.setenv("VLM4D_JUDGE_CACHE", str(tmp_path / "judge.sqlite"))
        acc = AGGREGATIONS["accuracy"]([i["accuracy"] for i in items])
        assert len(server.requests) == 4 and server.max_in_flight > 1
        # later metrics reuse the verdicts: no further request
        counting = AGGREGATIONS["counting"]([i["counting"] for i in items if "counting" in i])
        assert len(server.requests) == 4
    assert (acc.correct, acc.scored) == (2, 4)  # "B" twice is right; the truth is always B
    assert (counting.correct, counting.scored) == (0, 1)


def test_unknown_judge_mode_is_an_error(monkeypatch):
    from vlm4d_tasks.lmms.metric import AGGREGATIONS

    items = _items({"translational": "Therefore, the final answer is: B"})
    monkeypatch.setenv("VLM4D_JUDGE", "oracle")
    with pytest.raises(ValueError, match="VLM4D_JUDGE='oracle'"):
        AGGREGATIONS["accuracy"]([i["accuracy"] for i in items])


# --------------------------------------------------------------------------------------------
# Data


def test_source_file_pins_the_official_release():
    from vlm4d_tasks.data.hub import OFFICIAL_REPO_ID, OFFICIAL_REVISION

    rows = json.loads((TASKS / "vlm4d_source.json").read_text())
    assert rows == [{"repo_id": OFFICIAL_REPO_ID, "revision": OFFICIAL_REVISION}]


@pytest.mark.subprocess
def test_local_dataset_docs_categories_and_videos(use_dataset):
    from vlm4d_tasks.lmms import data as lmms_data
    from vlm4d_tasks.lmms import task as lmms_task

    source = [{"repo_id": "shijiezhou/VLM4D", "revision": "main"}]
    real = lmms_task.real_docs(source)
    assert len(real) == 24 and set(real["subset"]) == {"real"}
    counting = lmms_task.counting_docs(source)
    assert len(counting) == 8 and set(counting["category"]) == {"counting"}
    assert lmms_data.current_source().describe()["origin"] == "local"
    video = lmms_task.doc_to_video(real[0])
    assert video == [str(use_dataset / real[0]["video"])] and Path(video[0]).is_file()


@pytest.mark.subprocess
def test_missing_video_names_file_and_question(use_dataset, tmp_path, monkeypatch):
    from vlm4d_tasks.data.paths import VideoNotFoundError
    from vlm4d_tasks.lmms import task as lmms_task

    monkeypatch.setenv("VLM4D_VIDEO_ROOT", str(tmp_path))
    docs = lmms_task.synthetic_docs([{"repo_id": "shijiezhou/VLM4D", "revision": "main"}])
    with pytest.raises(VideoNotFoundError) as err:
        lmms_task.doc_to_video(docs[0])
    assert docs[0]["uid"] in str(err.value) and docs[0]["video"] in str(err.value)


def test_not_a_dataset_folder_is_a_clear_error(tmp_path, monkeypatch):
    from vlm4d_tasks.lmms import task as lmms_task

    monkeypatch.setenv("VLM4D_DATASET", str(tmp_path))
    with pytest.raises(
        FileNotFoundError, match="not a dataset folder made by `vlm4d build-dataset`"
    ):
        lmms_task.real_docs([{"repo_id": "shijiezhou/VLM4D", "revision": "main"}])


def test_missing_config_is_a_clear_error(tmp_path, monkeypatch):
    from _lmms_dataset import write_annotations

    from vlm4d_tasks.data.annotations import load_annotations
    from vlm4d_tasks.data.dataset_repo import build_dataset_repo
    from vlm4d_tasks.lmms import task as lmms_task

    write_annotations(tmp_path / "a")
    build_dataset_repo(load_annotations(tmp_path / "a", ["real"]), tmp_path / "d")
    monkeypatch.setenv("VLM4D_DATASET", str(tmp_path / "d"))
    with pytest.raises(ValueError, match="has no config 'probe'"):
        lmms_task.probe_docs([{"repo_id": "shijiezhou/VLM4D", "revision": "main"}])


def test_default_builds_the_official_release_once_into_the_hf_cache(tmp_path, monkeypatch):
    """The hub is the one thing faked: it hands over annotation files and videos."""
    from _lmms_dataset import write_annotations, write_videos

    from vlm4d_tasks.data import hub
    from vlm4d_tasks.lmms import data as lmms_data
    from vlm4d_tasks.lmms import task as lmms_task

    write_annotations(tmp_path / "qa")
    write_videos(tmp_path / "repo")
    calls = []

    def fake_download_annotations(repo_id, revision):
        calls.append((repo_id, revision))
        return tmp_path / "qa"

    monkeypatch.setattr(hub, "download_annotations", fake_download_annotations)
    monkeypatch.setattr(hub, "download_video", lambda video, repo, rev: tmp_path / "repo" / video)
    monkeypatch.delenv("VLM4D_DATASET", raising=False)
    monkeypatch.delenv("VLM4D_VIDEO_ROOT", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    source = [{"repo_id": "shijiezhou/VLM4D", "revision": "rev1"}]
    docs = lmms_task.synthetic_docs(source)
    assert len(docs) == 16 and calls == [("shijiezhou/VLM4D", "rev1")]
    folder = tmp_path / "hf" / "vlm4d_tasks" / "datasets" / "shijiezhou--VLM4D" / "rev1"
    assert (folder / "README.md").is_file()
    assert lmms_data.current_source().describe()["revision"] == "rev1"
    lmms_data._resolve.cache_clear()  # a new process: the built folder is reused
    assert len(lmms_task.real_docs(source)) == 24 and len(calls) == 1
    assert lmms_task.doc_to_video(docs[0]) == [str(tmp_path / "repo" / docs[0]["video"])]


def test_unreachable_hub_says_how_to_name_a_dataset_and_fails_fast(tmp_path, monkeypatch):
    from vlm4d_tasks.data import hub
    from vlm4d_tasks.lmms import task as lmms_task

    calls = []

    def unreachable(repo_id, revision):
        calls.append(repo_id)
        raise hub.HubUnavailableError("cannot reach the Hugging Face hub.")

    monkeypatch.setattr(hub, "download_annotations", unreachable)
    monkeypatch.delenv("VLM4D_DATASET", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    source = [{"repo_id": "shijiezhou/VLM4D", "revision": "unreachable-rev"}]
    for _ in range(3):  # lmms-eval retries a failed load: only the first one tries the hub
        with pytest.raises(hub.HubUnavailableError, match="set VLM4D_DATASET=DIR"):
            lmms_task.real_docs(source)
    assert calls == ["shijiezhou/VLM4D"]


@pytest.mark.subprocess
def test_frames_sampled_uniformly_as_pil_images(use_dataset, monkeypatch):
    from _video_factory import read_frame_number

    from vlm4d_tasks.lmms import task as lmms_task

    doc = lmms_task.real_docs([{"repo_id": "shijiezhou/VLM4D", "revision": "main"}])[0]
    monkeypatch.delenv("VLM4D_FRAMES", raising=False)
    frames = lmms_task.doc_to_frames(doc, {"frames": 4})
    assert [read_frame_number(f) for f in frames] == [0, 5, 10, 15]  # linspace(0, 15, 4)
    assert type(frames[0]).__module__.startswith("PIL")
    monkeypatch.setenv("VLM4D_FRAMES", "2")  # the run's setting wins over the YAML default
    assert len(lmms_task.doc_to_frames(doc, {"frames": 4})) == 2
    # published settings: `_Nframe`, and the official 1 fps rule (16 frames at 8 fps: 2 s)
    monkeypatch.setenv("VLM4D_FRAMES", "4frame")
    assert [read_frame_number(f) for f in lmms_task.doc_to_frames(doc, None)] == [0, 5, 10, 15]
    monkeypatch.setenv("VLM4D_FRAMES", "1fps")
    assert [read_frame_number(f) for f in lmms_task.doc_to_frames(doc, None)] == [0, 15]
    monkeypatch.setenv("VLM4D_FRAMES", "zero")
    with pytest.raises(ValueError, match="VLM4D_FRAMES"):
        lmms_task.doc_to_frames(doc, None)


# --------------------------------------------------------------------------------------------
# Models and the `vlm4d eval` command


def test_random_choice_is_seeded_and_uniform():
    from collections import Counter

    from vlm4d_tasks.lmms.models.vlm4d_random import choose

    letters = Counter(choose(0, f"real/validation_{i}") for i in range(4000))
    assert set(letters) == set("ABCD")
    assert all(900 < n < 1100 for n in letters.values())  # about 1000 each (p < 1e-3 off)
    assert choose(0, "x") == choose(0, "x")
    assert [choose(1, f"q{i}") for i in range(20)] != [choose(2, f"q{i}") for i in range(20)]


def test_models_are_registered_with_lmms_eval():
    from lmms_eval.models import get_model

    from vlm4d_tasks.lmms.models.vlm4d_random import RandomChoice
    from vlm4d_tasks.lmms.models.vlm4d_replay import Replay

    assert get_model("vlm4d_random") is RandomChoice
    assert get_model("vlm4d_replay") is Replay


def test_replay_reads_official_files_and_names_missing_ones(tmp_path):
    from vlm4d_tasks.lmms.models.vlm4d_replay import load_responses, response_files

    folder = tmp_path / "real_mc_cot"
    folder.mkdir()
    entry = {"id": "validation_3", "question": "q", "choices": dict(zip("ABCD", "abcd")),
             "response": "B", "answer": "b"}  # fmt: skip
    (folder / "m.json").write_text(json.dumps([entry]))
    assert load_responses(response_files(str(tmp_path))) == {"real/validation_3": "B"}
    assert load_responses(response_files(synthetic=str(folder / "m.json"))) == {
        "synthetic/validation_3": "B"
    }
    with pytest.raises(FileNotFoundError, match="responses=nowhere"):
        response_files("nowhere")


def test_eval_command_adds_the_task_folder(tmp_path):
    import argparse

    from vlm4d_tasks.cli import eval as command

    cmd = command.lmms_eval_command(["--model", "vlm4d_random", "--tasks", "vlm4d_mc"])
    assert cmd[1:4] == ["-m", "lmms_eval", "--model"]
    assert cmd[-2:] == ["--include_path", str(TASKS)]
    two = command.lmms_eval_command(["--tasks", "list"], num_processes=2)
    assert two[1:5] == ["-m", "accelerate.commands.launch", "--num_processes", "2"]
    with pytest.raises(ValueError, match="own --include_path"):
        command.lmms_eval_command(["--include_path", "x"])
    args = argparse.Namespace(dataset=str(tmp_path), videos=None, judge="hybrid", frames=16)
    env = command.environment(args, base={})
    assert env == {"VLM4D_DATASET": str(tmp_path), "VLM4D_JUDGE": "hybrid", "VLM4D_FRAMES": "16"}
    with pytest.raises(FileNotFoundError, match="--videos"):
        command.environment(argparse.Namespace(dataset=None, videos="/nope", judge=None,
                                               frames=None), base={})  # fmt: skip


# --------------------------------------------------------------------------------------------
# Contract: every task loads through lmms-eval's TaskManager


def test_task_index_lists_every_task_and_group(task_manager):
    assert sorted(task_manager.all_subtasks) == sorted(ALL_TASKS + OFFICIAL_TASKS + VARIANT_TASKS)
    assert sorted(task_manager.all_groups) == sorted(ALL_GROUPS + OFFICIAL_GROUPS + VARIANT_GROUPS)


@pytest.mark.subprocess
@pytest.mark.parametrize("name", ALL_TASKS + OFFICIAL_TASKS)
def test_every_task_loads_and_renders_a_prompt(name, task_manager, use_dataset):
    (task,) = task_manager.load_task_or_group(name).values()
    docs = task.test_docs()
    assert len(docs) > 0
    text = task.doc_to_text(docs[0])
    # the official layout starts with a newline (protocol `official`, see test_protocol.py)
    start = "\nQuestion: " if name.endswith("_official") else "Question: "
    assert isinstance(text, str) and text.startswith(start)
    assert task.doc_to_target(docs[0]) in "ABCD"
    assert task.config.metadata["version"] == 1.2
    assert set(task.aggregation()) == set(METRICS)


@pytest.mark.subprocess
@pytest.mark.parametrize("name", ALL_TASKS + OFFICIAL_TASKS)
def test_each_task_decodes_as_its_protocol_says(name, task_manager, use_dataset):
    from vlm4d_tasks.lmms.prompts import render_prompt
    from vlm4d_tasks.lmms.protocol import PROTOCOLS, protocol_of

    (task,) = task_manager.load_task_or_group(name).values()
    protocol = protocol_of(name)
    assert task.config.generation_kwargs == PROTOCOLS[protocol.name].generation_kwargs
    official = protocol.name == "official"
    assert task.config.metadata.get("protocol") == ("official" if official else None)
    # and its prompt is that protocol's template (cot, or direct for the _direct tasks)
    doc = task.test_docs()[0]
    style = protocol.prompts["direct" if "_direct" in name else "cot"]
    assert task.doc_to_text(doc) == render_prompt(doc, style)
    if official:
        assert task.config.generation_kwargs["temperature"] == 1.0
        assert task.config.generation_kwargs["do_sample"] is True
        assert task.config.generation_kwargs["max_new_tokens"] == 1024
    # the frames variants keep their frames, the blind ones give nothing; the rest the video
    frames = "_frames" in name
    visual = "doc_to_frames" if frames else "doc_to_video"
    if name.endswith("_blind"):
        visual = "doc_to_no_visual"
        assert task.doc_to_visual(doc) == []
    assert task.config.doc_to_visual.__name__ == visual


@pytest.mark.subprocess
def test_groups_and_chat_models_load(task_manager, use_dataset):
    loaded = task_manager.load_task_or_group("vlm4d_mc", task_type="chat")
    ((group, subtasks),) = loaded.items()
    assert group.group_name == "vlm4d_mc"
    assert sorted(subtasks) == ["vlm4d_real_mc", "vlm4d_synthetic_mc"]
    assert [m["metric"] for m in group.config["aggregate_metric_list"]][0] == "accuracy"
    task = subtasks["vlm4d_real_mc"]
    doc = task.test_docs()[0]
    (turn,) = task.doc_to_messages(doc)
    kinds = [part["type"] for part in turn["content"]]
    assert kinds == ["video", "text"]
    assert turn["content"][0]["url"] == str(use_dataset / doc["video"])
