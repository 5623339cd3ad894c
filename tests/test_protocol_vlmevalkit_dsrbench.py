"""The DSR-Bench tasks' protocol, `vlmevalkit-dsrbench` (issues 27 and 29): VLMEvalKit's DSRBench
prompt, frame variants and letter matcher, declared in protocols.json with their sources, and
the protocol every DSR-Bench row is recorded, listed and reported under.

Pure tests: the declaration against the task YAMLs on disk and the prompt template the tasks
render, the run metadata `describe_run` writes, `vlm4d protocols`, and the report's grouping of
a score document made by the pipeline.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "vlm4d_tasks" / "lmms" / "tasks"
NAME = "vlmevalkit-dsrbench"
DSR_TASKS = ["dsr_bench", "dsr_bench_64frame", "dsr_bench_32frame", "dsr_bench_30frame",
             "dsr_bench_1fps"]  # fmt: skip


class _Loader(yaml.SafeLoader):
    """The task YAMLs' `!function` values as plain strings."""


_Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def _task_yaml(name: str) -> dict:
    """A task's YAML with its `include`s merged, as lmms-eval reads it."""
    path = TASKS / (name if name.endswith("_yaml") else f"{name}.yaml")
    doc = yaml.load(path.read_text("utf-8"), Loader=_Loader)
    base = doc.pop("include", None)
    return {**_task_yaml(base), **doc} if base else doc


def _decl():
    from vlm4d_tasks.lmms.protocol_declarations import declaration

    return declaration(NAME)


# --------------------------------------------------------------------------------------------
# The declaration says what the tasks do


def test_every_dsr_bench_task_is_of_this_protocol_and_no_vlm4d_task_is():
    from vlm4d_tasks.lmms.protocol import protocol_of

    on_disk = sorted(p.stem for p in TASKS.glob("dsr_bench*.yaml"))
    assert on_disk == sorted(DSR_TASKS)
    for name in on_disk:
        protocol = protocol_of(name)
        assert protocol.name == NAME, name
        assert "prompt_cot.jinja" not in protocol.summary
        # the decoding recorded for the row is the decoding the task passes
        assert dict(protocol.generation_kwargs) == _task_yaml(name)["generation_kwargs"], name
    assert protocol_of("vlm4d_mc").name == "greedy"
    assert protocol_of("vlm4d_mc_dsr_suite").name == "dsr-suite"
    assert protocol_of("vlm4d_dsr_bench_like").name == "greedy"  # a prefix, not a substring


def test_declared_frames_are_each_tasks_own_frames():
    from vlm4d_tasks.lmms.dsr_task import frame_policy
    from vlm4d_tasks.lmms.protocol_run import per_task_frames_key

    frames = _decl().frames
    assert frames["rule"] == "per_task" and set(frames["tasks"]) == set(DSR_TASKS)
    for name in DSR_TASKS:
        want = frames["tasks"][name]
        task = _task_yaml(name)
        if want["rule"] == "model":  # the video file, as VLMEvalKit gives a video LLM
            assert task["doc_to_visual"].endswith("dsr_task.doc_to_video"), name
            continue
        assert task["doc_to_visual"].endswith("dsr_task.doc_to_frames"), name
        setting = task["lmms_eval_specific_kwargs"]["default"]["frames"]
        assert frame_policy(setting).key == per_task_frames_key(want), name
        assert want["variant"] == f"DSRBench_{setting}"  # video_dataset_config.py's variant
    # VLMEvalKit's four variants (video_dataset_config.py lines 377-381), each cited
    quoted = [s["quote"] for s in frames["sources"] if s["file"].endswith("config.py")]
    for variant in ("64frame", "32frame", "30frame", "1fps"):
        assert any(f'("{variant}"' in q for q in quoted), variant


def test_declared_prompt_is_the_template_the_tasks_render():
    from vlm4d_tasks.lmms.dsr_task import doc_to_text
    from vlm4d_tasks.templating import render

    decl = _decl()
    assert decl.prompt["templates"] == {"direct": "dsr_bench_prompt.jinja"}
    doc = {"uid": "dsr_bench/0", "question": "Q?", "options": ["up", "down", "left", "right"]}
    body = render("vlm4d_tasks.lmms.tasks", decl.prompt["templates"]["direct"],
                  question="Q?", options=doc["options"], letters=list("ABCD"))  # fmt: skip
    assert doc_to_text(doc) == body.rstrip() + " "
    # VLMEvalKit's instruction, quoted from its source, is the template's first line
    instruction = [s["quote"] for s in decl.prompt["sources"] if s["line"] in (22, 23, 24)]
    assert body.splitlines()[0] == " ".join(q.rstrip(" \\") for q in instruction)


def test_declared_scorer_is_the_tasks_vlmevalkit_metric():
    decl = _decl()
    assert decl.scorer["name"] == "can_match_option"
    metrics = [m["metric"] for m in _task_yaml("dsr_bench_template_yaml")["metric_list"]]
    assert "vlmevalkit_accuracy" in metrics
    cited = {(s["repo"], s["file"].rsplit("/", 1)[-1], s["line"]) for s in decl.scorer["sources"]}
    assert ("open-compass/VLMEvalKit", "matching_func.py", 39) in cited
    assert ("open-compass/VLMEvalKit", "dsrbench.py", 211) in cited
    for section in ("prompt", "frames", "scorer"):  # read at the commit helper C cited
        commits = {s.get("commit") for s in getattr(decl, section)["sources"]
                   if s["repo"] == "open-compass/VLMEvalKit"}  # fmt: skip
        assert len(commits) == 1 and next(iter(commits)).startswith("e8e78f0"), section


# --------------------------------------------------------------------------------------------
# What a run records, lists and reports


def test_a_dsr_bench_run_records_vlmevalkits_protocol_and_frames():
    from vlm4d_tasks.lmms.protocol_run import describe_run, markdown_line

    rows = ["dsr_bench", "dsr_bench_32frame", "dsr_bench_1fps"]
    block = describe_run(rows, "", None, "pretrained=Qwen/Qwen2-VL-7B-Instruct",
                         model_class="qwen2_vl", frames="8")  # fmt: skip
    assert block["name"] == NAME and block["rows"] == dict.fromkeys(rows, NAME)
    assert block["decoding"][NAME] == {"do_sample": False, "max_new_tokens": 1024,
                                       "temperature": 0, "until": []}  # fmt: skip
    declared = block["declared"][NAME]
    applied = declared["applied"]
    # each task's own frames; VLM4D_FRAMES=8 changes none of them
    assert (
        applied["frames[dsr_bench_32frame]"]
        == "uniform-32 PIL frames (the task's, DSRBench_32frame)"
    )
    assert applied["frames[dsr_bench_1fps]"].startswith("vlmevalkit-fps-1 PIL frames")
    assert applied["frames[dsr_bench]"].startswith("the video file")
    assert applied["scorer"].startswith("can_match_option")
    assert applied["prompt"] == {"direct": "dsr_bench_prompt.jinja"}
    assert applied["decoding.max_new_tokens"] == 1024 and applied["decoding.do_sample"] is False
    assert declared["not_applied"] == {} and declared["passed_unverified"] == {}
    line = markdown_line(block)
    assert line.startswith(f"Protocol: **{NAME}** (VLMEvalKit's DSRBench")
    assert "prompt_cot.jinja" not in line and "greedy" not in line.split("(")[0]


def test_a_run_of_vlm4d_and_dsr_bench_rows_records_two_protocols():
    from vlm4d_tasks.lmms.protocol_run import describe_run, markdown_line

    block = describe_run(["vlm4d_mc", "dsr_bench_64frame"], model_class="vlm4d_random")
    assert block["name"] == "mixed"
    assert block["rows"] == {"dsr_bench_64frame": NAME, "vlm4d_mc": "greedy"}
    assert "`dsr_bench_64frame` vlmevalkit-dsrbench" in markdown_line(block)


def test_dsr_bench_tasks_have_no_variant_of_another_protocol():
    from vlm4d_tasks.lmms.protocol import task_for

    assert task_for("dsr_bench_32frame", NAME) == "dsr_bench_32frame"
    for protocol in ("greedy", "official", "dsr-suite"):
        with pytest.raises(ValueError, match=f"dsr_bench_1fps is of the {NAME} protocol"):
            task_for("dsr_bench_1fps", protocol)
    with pytest.raises(ValueError, match=f"vlm4d_mc has no {NAME} variant"):
        task_for("vlm4d_mc", NAME)


def test_vlm4d_protocols_lists_it_with_each_tasks_frames(capsys):
    from vlm4d_tasks.cli import main

    assert main(["protocols"]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith(NAME)]
    assert "frames per task (dsr_bench the model, dsr_bench_1fps vlmevalkit-fps-1, " in line
    assert "dsr_bench_64frame uniform-64)" in line and "scorer can_match_option" in line
    assert main(["protocols", "dsr-bench", "--json"]) == 0  # its alias
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == [NAME] and doc[NAME]["frames"]["tasks"]["dsr_bench_30frame"]["count"] == 30


def test_the_report_groups_dsr_bench_rows_under_this_protocol():
    from vlm4d_tasks.data import dsr_bench as dsr
    from vlm4d_tasks.data.schema import Record
    from vlm4d_tasks.lmms.protocol_run import describe_run
    from vlm4d_tasks.metric.scoring import Verdict, join
    from vlm4d_tasks.pipeline import score as pipeline
    from vlm4d_tasks.report import leaderboard as lb

    row = {"videoID": "abc123", "question": "How does the distance change?",
           "options": ["A. closer", "B. farther", "C. same", "D. both"], "answer": "C",
           "type": "abs_dis"}  # fmt: skip
    records = [Record.from_dict(dsr.normalize_row(row, i, "parquet", dsr._Problems("f"),
                                                  Counter()).to_dict()) for i in range(3)]  # fmt: skip
    verdicts = [Verdict.chosen(r.uid, letter, "rule:test") for r, letter in zip(records, "CCA")]
    runs, models = pipeline.rows_to_runs({"dsr_bench_32frame": join(verdicts, records)}, "m",
                                         "rule", resamples=10, seed=0)  # fmt: skip
    meta = {"protocol": describe_run(["dsr_bench_32frame"], model_class="vlm4d_random"),
            "model": "m", "limit": None}  # fmt: skip
    document = pipeline.score_document(runs, models, judge={"mode": "rule", "models": []},
                                       resamples=10, seed=0, run=meta, judge_batches=[])  # fmt: skip
    key = lb.group_key(document, "m [dsr_bench_32frame]")
    assert key == lb.GroupKey("dsr_bench", 3, NAME)
    assert key.title().endswith(f"3 questions; protocol `{NAME}`")
