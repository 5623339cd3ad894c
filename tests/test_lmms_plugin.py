"""Plain `lmms-eval --tasks vlm4d_mc`: the tasks are in lmms-eval's index with no
`--include_path` and no LMMS_EVAL_PLUGINS, through the `lmms_eval.models` entry point
(vlm4d_tasks/lmms/plugin.py); and when that hook cannot apply, `vlm4d eval` still works and the
user is told once.

The lmms-eval runs start together in one module fixture (each takes ~15 s to start) and each
test waits for its own; the real console script and `accelerate launch` are used.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SEED = 5
LMMS_EVAL = shutil.which("lmms-eval") or str(Path(sys.executable).parent / "lmms-eval")
VLM4D = [sys.executable, "-m", "vlm4d_tasks.cli"]
ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--cpu"]

# Installed before anything else by Python itself (`sitecustomize` on PYTHONPATH): an
# lmms-eval whose TaskManager.initialize_tasks has another signature than the hook expects.
INAPPLICABLE = textwrap.dedent(
    """
    import lmms_eval.tasks as _tasks

    _original = _tasks.TaskManager.initialize_tasks

    def initialize_tasks(self, *args, **kwargs):
        return _original(self, *args, **kwargs)

    _tasks.TaskManager.initialize_tasks = initialize_tasks
    """
)


class Run:
    def __init__(self, command: list[str], env: dict, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out, self.log = out, out / "log.txt"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

    def wait(self, timeout: float = 600) -> str:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        text = self.log.read_text(errors="replace")
        assert self.process.returncode == 0, text[-4000:]
        return text

    def results(self) -> dict:
        self.wait()
        (found,) = sorted(self.out.rglob("*_results.json"))
        return json.loads(found.read_text())

    def samples(self) -> list[dict]:
        self.wait()
        (found,) = sorted(self.out.rglob("*_samples_vlm4d_probe_mc.jsonl"))
        return [json.loads(line) for line in found.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import _lmms_dataset

    root = tmp_path_factory.mktemp("lmms_plugin")
    dataset = _lmms_dataset.build(root)
    clean = {
        k: v for k, v in os.environ.items()
        if not k.startswith("VLM4D_") and k != "LMMS_EVAL_PLUGINS"
    }  # fmt: skip
    env = {**clean, "HF_HOME": str(root / "hf"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "LMMS_EVAL_DATASETS_CACHE": str(root / "hf" / "datasets"),
           "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
    with_data = {**env, "VLM4D_DATASET": str(dataset)}
    site = root / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(INAPPLICABLE)
    inapplicable = {**env, "PYTHONPATH": os.pathsep.join([str(site), env.get("PYTHONPATH", "")])}
    model = ["--model", "vlm4d_random", "--model_args", f"seed={SEED}", "--tasks", "vlm4d_probe_mc"]
    started = {
        "list": Run([LMMS_EVAL, "--tasks", "list"], env, root / "list"),
        "plain": Run(
            [LMMS_EVAL, *model, "--output_path", str(root / "plain"), "--log_samples"],
            with_data,
            root / "plain",
        ),  # fmt: skip
        "two": Run(
            [
                *ACCELERATE,
                "-m",
                "lmms_eval",
                *model,
                "--output_path",
                str(root / "two"),
                "--log_samples",
            ],
            with_data,
            root / "two",
        ),  # fmt: skip
        "fallback_plain": Run([LMMS_EVAL, "--tasks", "list"], inapplicable, root / "fb_plain"),
        "fallback_vlm4d": Run(
            [
                *VLM4D,
                "eval",
                "--dataset",
                str(dataset),
                *model,
                "--output_path",
                str(root / "fb_vlm4d"),
            ],
            inapplicable,
            root / "fb_vlm4d",
        ),  # fmt: skip
    }
    yield {"root": root, "dataset": dataset, "runs": started}
    for run in started.values():
        if run.process.poll() is None:
            run.process.kill()


@pytest.mark.lmms
def test_plain_task_list_names_every_vlm4d_task(runs):
    log = runs["runs"]["list"].wait()
    listed = {line.strip().lstrip("- ") for line in log.splitlines()}
    assert {"vlm4d_mc", "vlm4d_probe_mc", "vlm4d_mc_official", "vlm4d_real_mc"} <= listed


def _score_samples(samples: list[dict], root: Path, dataset: Path, name: str) -> dict:
    """`vlm4d score` on the answers lmms-eval logged, as an official-format response file."""
    # Each logged sample carries its question (the metric's item: record and raw response).
    items = [s["accuracy"] for s in samples]
    entries = [
        {"id": i["record"]["question_id"], "question": i["record"]["question"],
         "choices": dict(zip("ABCD", i["record"]["options"])), "response": i["response"],
         "answer": i["record"]["answer_text"]}
        for i in items
    ]  # fmt: skip
    path = root / name / "probe_mc" / "vlm4d_random.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(entries))
    out = root / name / "score.json"
    done = subprocess.run(
        [*VLM4D, "score", str(path), "--annotations", str(dataset), "--no-progress",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


@pytest.mark.lmms
@pytest.mark.parametrize("name", ["plain", "two"])
def test_plain_run_accuracy_equals_vlm4d_score(runs, name):
    run = runs["runs"][name]
    accuracy = run.results()["results"]["vlm4d_probe_mc"]["accuracy,none"]
    samples = run.samples()
    assert len({s["accuracy"]["uid"] for s in samples}) == len(samples) > 0
    score = _score_samples(samples, runs["root"], runs["root"] / "videos", f"score_{name}")
    assert score["runs"][0]["n"] == len(samples)
    assert score["runs"][0]["accuracy"] == pytest.approx(accuracy, abs=1e-6)


@pytest.mark.lmms
def test_the_two_process_run_answers_like_the_plain_one(runs):
    plain = runs["runs"]["plain"].results()["results"]["vlm4d_probe_mc"]
    two = runs["runs"]["two"].results()["results"]["vlm4d_probe_mc"]
    assert plain["accuracy,none"] == two["accuracy,none"]


@pytest.mark.lmms
def test_inapplicable_hook_warns_once_and_vlm4d_eval_still_works(runs):
    plain = runs["runs"]["fallback_plain"].wait()
    assert "vlm4d_mc" not in {line.strip().lstrip("- ") for line in plain.splitlines()}
    assert plain.count("the VLM4D tasks are not added to its index") == 1
    log = runs["runs"]["fallback_vlm4d"].wait()
    assert log.count("the VLM4D tasks are not added to its index") == 1
    (results,) = (runs["root"] / "fb_vlm4d").rglob("*_results.json")
    assert "vlm4d_probe_mc" in json.loads(results.read_text())["results"]


@pytest.mark.lmms
def test_table_standard_errors_are_the_clustered_and_plain_ones(runs):
    run = runs["runs"]["plain"]
    result = run.results()["results"]["vlm4d_probe_mc"]
    items = [s["accuracy"] for s in run.samples()]
    scores = [float(i["record"]["answer"] == i["letter"]) for i in items]
    n, mean = len(scores), sum(scores) / len(scores)
    clt = (sum((s - mean) ** 2 for s in scores) / (n - 1)) ** 0.5 / n**0.5
    by_video: dict[str, list[float]] = {}
    for item, s in zip(items, scores):
        by_video.setdefault(item["record"]["video"], []).append(s - mean)
    # Eq. 4 of "Adding Error Bars to Evals" (arXiv 2411.00640): the CLT variance plus the
    # covariance of the questions that share a video.
    cross = sum(sum(d) ** 2 - sum(x * x for x in d) for d in by_video.values())
    clustered = (clt**2 + cross / n**2) ** 0.5
    assert len(by_video) < n  # the probe asks several questions about one clip
    assert result["accuracy_stderr_clt,none"] == pytest.approx(clt, rel=1e-9)
    assert result["accuracy_stderr_clustered,none"] == pytest.approx(clustered, rel=1e-9)
    assert result["accuracy,none"] == pytest.approx(mean)


def test_group_stderrs_pool_subtasks_as_a_stratified_mean():
    from vlm4d_tasks.lmms.metric import CountedAccuracy
    from vlm4d_tasks.lmms.plugin import group_stderrs

    results = {
        "vlm4d_real_mc": {"accuracy,none": CountedAccuracy(3, 6), "accuracy_stderr_clt,none": 0.2,
                          "accuracy_stderr_clustered,none": 0.3},
        "vlm4d_synthetic_mc": {"accuracy,none": CountedAccuracy(1, 2),
                               "accuracy_stderr_clt,none": 0.4,
                               "accuracy_stderr_clustered,none": "N/A"},
        "vlm4d_mc": {"accuracy,none": CountedAccuracy(4, 8)},
        "other_group": {"accuracy,none": CountedAccuracy(4, 8)},
    }  # fmt: skip
    tasks = ["vlm4d_real_mc", "vlm4d_synthetic_mc"]
    group_stderrs(results, {"vlm4d_mc": tasks, "other_group": tasks})
    # (6/8)^2 0.2^2 + (2/8)^2 0.4^2 = 0.0225 + 0.01
    assert results["vlm4d_mc"]["accuracy_stderr_clt,none"] == pytest.approx(0.0325**0.5)
    # one subtask has no clustered value: the group gets none rather than a wrong one
    assert "accuracy_stderr_clustered,none" not in results["vlm4d_mc"]
    assert "accuracy_stderr_clt,none" not in results["other_group"]  # not ours: untouched


def test_group_stderr_hook_is_feature_detected(monkeypatch, capsys):
    from lmms_eval import evaluator_utils

    from vlm4d_tasks.lmms import compat, plugin

    def consolidate_group_results(results, versions, task_dict, show_group_table=False):
        return results, versions, show_group_table, {}

    monkeypatch.setattr(evaluator_utils, "consolidate_group_results", consolidate_group_results)
    monkeypatch.setattr(compat, "_warned", set())  # the feature detection lives in compat
    monkeypatch.setenv(compat.WARNED_ENV, "")  # restored afterwards
    warnings = []
    monkeypatch.setattr(compat, "_logger", lambda: type("L", (), {"warning": warnings.append}))
    assert plugin.install_group_stderr() is False
    assert plugin.install_group_stderr() is False
    assert evaluator_utils.consolidate_group_results is consolidate_group_results
    assert len(warnings) == 1 and "group rows keep N/A" in warnings[0]
