"""One scoring pipeline: `vlm4d score`, the lmms-eval metric and the probe diagnosis judge with
the same settings and write the same score document (`vlm4d_tasks.pipeline.score`)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _judge_server import Action, ScriptedChatServer

from vlm4d_tasks.metric.judge_transport import JudgeConfigError
from vlm4d_tasks.pipeline import score as pipeline

MOVE = ["left", "right", "not moving", "up"]
FLY = ["left", "right", "no dragon there", "up"]
REAL = [  # (id, question, truth, response)
    ("validation_1", "Where does the tram go?", "left", "The tram leaves left. Final Answer: A"),
    ("validation_2", "Where does the dog go?", "right", "Final Answer: C"),
    ("validation_923", "Where does the cup go?", "not moving", "It stays.\nFinal Answer: C"),
    ("validation_924", "Where does the hand go?", "up", "I cannot tell."),
]
SYNTHETIC = [
    ("validation_1", "Where does the robot walk?", "left", "Final Answer: B"),
    ("validation_2", "Where is the dragon flying?", "no dragon there", "Final Answer: C"),
]


def _response_files(root: Path) -> list[Path]:
    paths = []
    for subset, rows, options in (("real", REAL, MOVE), ("synthetic", SYNTHETIC, FLY)):
        path = root / f"{subset}_mc_cot" / "m.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = [{"id": qid, "question": q, "choices": dict(zip("ABCD", options)),
                    "response": said, "answer": truth} for qid, q, truth, said in rows]  # fmt: skip
        path.write_text(json.dumps(entries), encoding="utf-8")
        paths.append(path)
    return paths


def _lmms_items(paths: list[Path], row: str = "vlm4d_mc") -> list[list[dict]]:
    """The items lmms-eval hands to aggregation for the same questions and responses: one list
    per subtask (real, synthetic), built by the task's own `process_results`."""
    from vlm4d_tasks.lmms.metric import process_results
    from vlm4d_tasks.metric.responses import load_response_file, records_for

    tasks = []
    for path in paths:
        file = load_response_file(path)
        records = records_for(file).records
        tasks.append([
            process_results(record.to_dict(), [entry.response], row=row)["accuracy"]
            for record, entry in zip(records, file.responses)
        ])  # fmt: skip
    return tasks


def _lmms_args(output_path: Path | None, model_args: str = "") -> argparse.Namespace:
    return argparse.Namespace(model="m", model_args=model_args, gen_kwargs="", seed=None,
                              limit=None, timezone=None,
                              output_path=str(output_path) if output_path else None)  # fmt: skip


def _without_names(run: dict) -> dict:
    return {k: v for k, v in run.items() if k not in ("name", "model", "variant", "file")}


def test_cli_and_lmms_documents_come_from_one_function(tmp_path, monkeypatch, capsys):
    from vlm4d_tasks.cli import main
    from vlm4d_tasks.lmms.metric import AGGREGATIONS

    monkeypatch.delenv("VLM4D_JUDGE", raising=False)
    built = []
    original = pipeline.score_document

    def spy(*args, **kwargs):
        built.append(kwargs.get("run") is not None)
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "score_document", spy)
    paths = _response_files(tmp_path / "responses")

    assert (
        main(["score", *map(str, paths), "--no-progress", "--json", str(tmp_path / "cli.json")])
        == 0
    )
    cli = json.loads((tmp_path / "cli.json").read_text())
    capsys.readouterr()

    out = tmp_path / "lmms"
    args = _lmms_args(out)
    for items in _lmms_items(paths):  # one aggregation per subtask, as lmms-eval calls them
        AGGREGATIONS["accuracy"](items, args=args)
    [written] = out.glob("*_vlm4d_score.json")  # no checkpoint in --model_args: the folder itself
    lmms = json.loads(written.read_text())

    assert built == [False, True, True]  # the CLI once; lmms-eval after each task
    for key in ("format_version", "judge", "bootstrap", "summary"):
        assert lmms[key] == cli[key], key
    assert [_without_names(r) for r in lmms["runs"]] == [_without_names(r) for r in cli["runs"]]
    assert [r["columns"] for r in lmms["models"]] == [r["columns"] for r in cli["models"]]
    assert [r["model"] for r in lmms["models"]] == ["m [vlm4d_mc]"]
    assert [r["model"] for r in cli["models"]] == ["m (cot)"]
    assert cli["summary"] == {"runs": 2, "n": 6, "no_valid_answer": 1, "unresolved": 0,
                              "unresolved_causes": {}, "ground_truth_unmatched": 0}  # fmt: skip
    assert cli["bootstrap"]["level"] == 0.95
    # what only an lmms-eval run has: its metadata and its judge batches
    assert set(lmms) - set(cli) == {"run", "judge_batches"}
    assert lmms["run"]["judge"] == {"mode": "rule", "models": []}


def _official_no_answer(body, n):
    return Action(content=json.dumps({"extracted_answer": "No Valid Answer", "correct": False}))


KEY_1, KEY_2 = "key-one-0123456789", "key-two-0123456789"


def _judge_env(server: ScriptedChatServer, cache: Path) -> dict[str, str]:
    return {
        "VLM4D_JUDGE_MODEL": "judge-a",
        "VLM4D_JUDGE_MODEL_2": "judge-b",
        "VLM4D_JUDGE_BASE_URL": server.url,
        "VLM4D_JUDGE_API_KEY": KEY_1,
        "VLM4D_JUDGE_API_KEY_2": KEY_2,
        "VLM4D_JUDGE_PROMPT": "official",
        "VLM4D_JUDGE_CACHE": str(cache),
    }


def _check_requests(server: ScriptedChatServer, n: int) -> None:
    models = [body["model"] for body in server.requests]
    assert sorted(models) == ["judge-a"] * n + ["judge-b"] * n
    for body, headers in zip(server.requests, server.headers):
        key = KEY_1 if body["model"] == "judge-a" else KEY_2  # VLM4D_JUDGE_API_KEY_2
        assert headers.get("Authorization") == f"Bearer {key}"
        assert body["messages"][0]["role"] == "system"  # VLM4D_JUDGE_PROMPT=official
        assert body["temperature"] == 1.0


@pytest.mark.subprocess
@pytest.mark.parametrize("entry", ["vlm4d score", "lmms-eval metric"])
def test_judge_variables_are_honoured_by_both_entry_points(tmp_path, monkeypatch, entry):
    from vlm4d_tasks.metric.judge_cache import JudgeCache

    paths = _response_files(tmp_path / "responses")
    cache = tmp_path / "cache" / f"{entry.split()[0]}.sqlite"
    cache.parent.mkdir()
    n = len(REAL) + len(SYNTHETIC)
    with ScriptedChatServer(_official_no_answer) as server:
        env = _judge_env(server, cache)
        if entry == "vlm4d score":
            out = tmp_path / "s.json"
            done = subprocess.run(
                [sys.executable, "-m", "vlm4d_tasks.cli", "score", *map(str, paths),
                 "--judge", "crosscheck", "--no-progress", "--json", str(out)],
                capture_output=True, text=True, timeout=300, env={**os.environ, **env},
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            score = json.loads(out.read_text())
        else:
            from vlm4d_tasks.lmms.metric import AGGREGATIONS
            from vlm4d_tasks.lmms.run import current_run

            for name, value in {**env, "VLM4D_JUDGE": "crosscheck"}.items():
                monkeypatch.setenv(name, value)
            args = _lmms_args(tmp_path / "lmms")
            for items in _lmms_items(paths):
                AGGREGATIONS["accuracy"](items, args=args)
            current_run(args).close()
            [written] = (tmp_path / "lmms").glob("*_vlm4d_score.json")
            score = json.loads(written.read_text())
        _check_requests(server, n)
    assert score["judge"]["mode"] == "crosscheck" and score["judge"]["prompt"] == "official"
    assert score["judge"]["models"] == ["judge-a", "judge-b"]
    with JudgeCache(cache) as stored:  # VLM4D_JUDGE_CACHE
        assert len(stored) == 2 * n
    text = json.dumps(score)
    assert KEY_1 not in text and KEY_2 not in text


def test_options_win_over_the_environment():
    from vlm4d_tasks.cli import build_parser

    env = {"VLM4D_JUDGE_MODEL": "env-judge", "VLM4D_JUDGE_TIMEOUT": "9",
           "VLM4D_JUDGE_CONCURRENCY": "7", "VLM4D_JUDGE_API_KEY": "first-key-123",
           "VLM4D_JUDGE_CACHE": "/tmp/env.sqlite", "VLM4D_JUDGE_PROMPT": "official"}  # fmt: skip
    parser = build_parser("score")
    args = parser.parse_args(["score", "f.json", "--judge", "llm", "--judge-timeout", "5",
                              "--judge-model", "cli-judge", "--judge-prompt", "vlm4d"])  # fmt: skip
    config = pipeline.judge_config(args, env)
    assert (config.mode, config.model, config.timeout, config.prompt) == (
        "llm",
        "cli-judge",
        5.0,
        "vlm4d",
    )
    assert (config.concurrency, config.retries, config.max_failures) == (7, 4, 5)  # env, defaults
    assert config.cache == "/tmp/env.sqlite" and config.api_key == "first-key-123"
    assert "first-key" not in repr(config)
    [settings] = pipeline.judge_settings(config)
    assert (settings.model, settings.timeout, settings.concurrency) == ("cli-judge", 5.0, 7)

    # No options (the lmms-eval metric): everything from the environment.
    config = pipeline.judge_config(None, {**env, "VLM4D_JUDGE": "crosscheck",
                                          "VLM4D_JUDGE_MODEL_2": "second"})  # fmt: skip
    first, second = pipeline.judge_settings(config)
    assert (first.model, first.prompt, second.model) == ("env-judge", "official", "second")
    assert second.api_key == "first-key-123"  # no VLM4D_JUDGE_API_KEY_2: the first judge's key
    assert pipeline.judge_config(None, {}) == pipeline.JudgeConfig()  # rule: no judge


@pytest.mark.parametrize(
    "env, message",
    [
        ({"VLM4D_JUDGE": "oracle"}, "VLM4D_JUDGE='oracle': expected one of rule, llm"),
        ({"VLM4D_JUDGE": "llm", "VLM4D_JUDGE_CONCURRENCY": "0"}, "VLM4D_JUDGE_CONCURRENCY='0'"),
        ({"VLM4D_JUDGE": "llm", "VLM4D_JUDGE_TIMEOUT": "nan"}, "VLM4D_JUDGE_TIMEOUT='nan'"),
        ({"VLM4D_JUDGE": "llm", "VLM4D_JUDGE_RETRIES": "x"}, "VLM4D_JUDGE_RETRIES='x'"),
        ({"VLM4D_JUDGE": "llm", "VLM4D_JUDGE_PROMPT": "mine"}, "VLM4D_JUDGE_PROMPT='mine'"),
    ],
)
def test_bad_variables_are_named(env, message):
    with pytest.raises(JudgeConfigError, match=message):
        pipeline.judge_config(None, env)


def test_rule_mode_reads_no_judge_variable():
    config = pipeline.judge_config(None, {"VLM4D_JUDGE_CONCURRENCY": "junk"})
    assert config.mode == "rule" and pipeline.judge_settings(config) == []
    with pipeline.open_judges(config) as panel:
        assert panel.judges == () and panel.block() == {"mode": "rule", "models": []}


def test_missing_judge_models_are_config_errors():
    with pytest.raises(JudgeConfigError, match="VLM4D_JUDGE_MODEL"):
        pipeline.judge_settings(pipeline.judge_config(None, {"VLM4D_JUDGE": "llm"}))
    config = pipeline.judge_config(None, {"VLM4D_JUDGE": "crosscheck", "VLM4D_JUDGE_MODEL": "a"})
    with pytest.raises(JudgeConfigError, match="--judge-model-2 or set VLM4D_JUDGE_MODEL_2"):
        pipeline.judge_settings(config)


def test_answers_to_one_question_are_graded_in_separate_batches():
    from vlm4d_tasks.data.schema import Record

    record = Record(uid="real/validation_1", question_id="validation_1", subset="real",
                    source="davis", perspective="exocentric", category="translational",
                    question="Where?", options=MOVE, answer="A", answer_text="left",
                    video="v.mp4")  # fmt: skip
    answers = [
        pipeline.Answer(record, "Final Answer: A"),
        pipeline.Answer(record, "Final Answer: B"),
    ]
    graded = pipeline.grade_answers(answers, "rule")
    assert [item.correct for item in graded.items] == [True, False]
    assert len(graded.gradings) == 2
    assert len(pipeline.grade_answers([], "rule").gradings) == 1  # a run always has its grading


@pytest.mark.parametrize(
    "model_args, name, folder",
    [
        ("pretrained=Qwen/Qwen2.5-VL-7B-Instruct,max_num_frames=32",
         "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen__Qwen2.5-VL-7B-Instruct"),
        ("peft=me/adapter,pretrained=base/model", "me/adapter", "me__adapter"),
        ("model_version=gpt-4o-2024-08-06", "gpt-4o-2024-08-06", "gpt-4o-2024-08-06"),
        ("responses=/data/results/real_mc_cot/m.json", "", ""),
        ("seed=0", "", ""),
        ("", "", ""),
    ],
)  # fmt: skip
def test_model_name_and_results_folder_are_lmms_evals(model_args, name, folder, tmp_path):
    from lmms_eval.loggers.evaluation_tracker import GeneralConfigTracker

    from vlm4d_tasks.lmms.run import model_label, model_name, output_folder

    assert model_name(model_args) == name
    # the rule lmms-eval 0.7.3 names its results folder by (this checks that it still does)
    assert GeneralConfigTracker._get_model_name(model_args) == name
    args = _lmms_args(tmp_path, model_args)
    assert output_folder(args) == tmp_path / folder
    assert model_label(args) == (f"m ({name})" if name else "m")
    assert output_folder(_lmms_args(None, model_args)) is None


def test_score_documents_carry_the_reports_paired_comparisons():
    """Two prompt settings of one model on 6 questions about 3 clips: cot right on q1-q4,
    direct right on q1, q2 and q5: discordant pairs 2 (cot only) and 1 (direct only), so
    McNemar's exact p = 1.0 and the difference is +1/6."""
    from vlm4d_tasks.data.schema import Record
    from vlm4d_tasks.metric.scoring import Verdict, join
    from vlm4d_tasks.report.score_report import markdown_report

    options = ["left", "right", "not moving", "no car there"]
    records = [
        Record(uid=f"real/q{i}", question_id=f"q{i}", subset="real", source="davis",
               perspective="exocentric", category="translational", question="Which way?",
               options=options, answer="A", answer_text="left",
               video=f"videos_real/davis/v{i // 2}.mp4")
        for i in range(1, 7)
    ]  # fmt: skip
    right = {"cot": {1, 2, 3, 4}, "direct-output": {1, 2, 5}}
    runs, models = [], {}
    for variant, good in right.items():
        verdicts = [Verdict.chosen(r.uid, "A" if i + 1 in good else "B", "t")
                    for i, r in enumerate(records)]  # fmt: skip
        items = join(verdicts, records)
        name = f"m ({variant})"
        runs.append(pipeline.run_entry(items, name="m", model=name, variant=variant,
                                       subset="real", file=None, grading={"mode": "rule"},
                                       resamples=50, seed=0))  # fmt: skip
        models[name] = items
    score = pipeline.score_document(runs, models, judge={"mode": "rule"}, resamples=50)
    (comparison,) = score["comparisons"]
    assert (comparison["a"], comparison["b"]) == ("m (cot)", "m (direct-output)")
    assert (comparison["a_only"], comparison["b_only"], comparison["n"]) == (2, 1, 6)
    assert comparison["difference"] == pytest.approx(1 / 6, abs=1e-6)
    assert comparison["p_value"] == 1.0 and comparison["videos"] == 4
    assert "| m (cot) | m (direct-output) | 6 | 66.7 | 50.0 | +16.7 [" in markdown_report(score)
    assert pipeline.score_document(runs, models, judge={"mode": "rule"}, resamples=50,
                                   comparisons=False).get("comparisons") is None  # fmt: skip
