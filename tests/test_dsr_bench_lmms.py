"""DSR-Bench end to end through the real lmms-eval CLI, in subprocesses (issue 29's Done-when).

A fixture-built DSR-Bench dataset (`_dsr_bench_fixture`: the documented schema, real H.264
clips) runs with the random baseline on three tasks (the clip, VLMEvalKit's 32-frame and 1 fps
settings, frames decoded) and with the option-text prior; every number equals the one computed
here from the models' own rules. `vlm4d report` then shows those rows beside a VLM4D score
document, in a table of their own. Kept to two lmms-eval processes, started together.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lmms

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "vlm4d_tasks" / "lmms" / "tasks"
LMMS_EVAL = [sys.executable, "-m", "lmms_eval", "--include_path", str(TASKS)]
VLM4D = [sys.executable, "-m", "vlm4d_tasks.cli"]
SEED = 5
RANDOM_TASKS = ["dsr_bench", "dsr_bench_32frame", "dsr_bench_1fps"]


def _start(command: list[str], env: dict, out: Path) -> tuple[subprocess.Popen, Path]:
    out.mkdir(parents=True, exist_ok=True)
    log = out / "log.txt"
    with log.open("w") as handle:
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env), log


def _finish(run: tuple[subprocess.Popen, Path], out: Path) -> dict:
    process, log = run
    try:
        process.wait(timeout=900)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    text = log.read_text(errors="replace")
    assert process.returncode == 0, text[-4000:]
    (results,) = sorted(out.rglob("*_results.json"))
    return json.loads(results.read_text())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    import _dsr_bench_fixture

    root = tmp_path_factory.mktemp("dsr_e2e")
    dataset = _dsr_bench_fixture.build(root)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VLM4D_")},
        "VLM4D_DATASET": str(dataset),
        "HF_HOME": str(root / "hf"),
        "LMMS_EVAL_DATASETS_CACHE": str(root / "hf" / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "VLM4D_FRAME_CACHE_DIR": str(root / "frames"),
    }
    random = [*LMMS_EVAL, "--model", "vlm4d_random", "--model_args", f"seed={SEED}"]
    random += ["--tasks", ",".join(RANDOM_TASKS), "--output_path", str(root / "random")]
    prior = [*LMMS_EVAL, "--model", "vlm4d_prior", "--tasks", "dsr_bench"]
    prior += ["--output_path", str(root / "prior")]
    runs = {"random": _start(random, env, root / "random"),
            "prior": _start(prior, env, root / "prior")}  # fmt: skip
    yield {"root": root, "dataset": dataset, "runs": runs, "env": env}
    for process, _log in runs.values():
        if process.poll() is None:
            process.kill()


def _docs(dataset: Path) -> list[dict]:
    from vlm4d_tasks.data.dataset_repo import load_split

    return list(load_split(dataset, "dsr_bench"))


def _expected(docs: list[dict], correct: dict[str, bool]) -> dict[str, float]:
    groups: dict[str, list[dict]] = {"accuracy": docs}
    for doc in docs:
        groups.setdefault(doc["category"], []).append(doc)
        if doc["frame"] in ("absolute", "relative"):
            groups.setdefault(doc["frame"], []).append(doc)
    values = {k: sum(correct[d["uid"]] for d in v) / len(v) for k, v in groups.items()}
    # both baselines answer "Therefore, the final answer is: X", which VLMEvalKit's matcher
    # reads as X too: its accuracy is the same number
    values["vlmevalkit_accuracy"] = values["accuracy"]
    return values


def _values(entry: dict) -> dict[str, float]:
    return {key.split(",")[0]: value for key, value in entry.items()
            if key.endswith(",none") and "_stderr" not in key}  # fmt: skip


def test_random_baseline_every_breakdown_exact_on_each_frame_setting(world):
    from vlm4d_tasks.data.dsr_bench import DsrType
    from vlm4d_tasks.lmms.models.vlm4d_random import choose

    results = _finish(world["runs"]["random"], world["root"] / "random")
    docs = _docs(world["dataset"])
    correct = {d["uid"]: choose(SEED, d["uid"]) == d["answer"] for d in docs}
    expected = _expected(docs, correct)
    assert len(expected) == 17  # accuracy, absolute, relative, the 13 types, VLMEvalKit's
    for task in RANDOM_TASKS:
        assert _values(results["results"][task]) == pytest.approx(expected, abs=1e-12), task
        assert results["n-samples"][task] == {"original": 39, "effective": 39}
    # the run's score document records which frame setting each task used, and its rows
    (score,) = sorted((world["root"] / "random").rglob("*_vlm4d_score.json"))
    document = json.loads(score.read_text(encoding="utf-8"))
    assert document["run"]["visual_input"] == {
        "dsr_bench 1fps": "vlmevalkit-fps-1 PIL frames (VLMEvalKit DSRBench_1fps)",
        "dsr_bench 32frame": "uniform-32 PIL frames (VLMEvalKit DSRBench_32frame)",
        "dsr_bench video": "video file path (the model samples its own frames)",
    }
    runs = {r["name"]: r for r in document["runs"]}
    assert sorted(runs) == sorted(RANDOM_TASKS)
    assert {r["subset"] for r in runs.values()} == {"dsr_bench"}
    by_type = runs["dsr_bench"]["by_category"]
    assert {k: v["accuracy"] for k, v in by_type.items()} == pytest.approx(
        {k: v for k, v in expected.items() if k in by_type}, abs=1e-6
    )
    assert sorted(by_type) == sorted(t.value for t in DsrType)


def test_prior_baseline_is_the_leave_one_video_out_option_prior(world):
    from vlm4d_tasks.data.schema import Record
    from vlm4d_tasks.validity.prior import prior_choices

    results = _finish(world["runs"]["prior"], world["root"] / "prior")
    docs = _docs(world["dataset"])
    choices = prior_choices([Record.from_dict(d) for d in docs])
    correct = {d["uid"]: choices[d["uid"]] == d["answer"] for d in docs}
    assert _values(results["results"]["dsr_bench"]) == pytest.approx(
        _expected(docs, correct), abs=1e-12
    )


def _vlm4d_score(root: Path) -> Path:
    """A VLM4D score document from `vlm4d score` on an official-format response file."""
    import _lmms_dataset

    annotations = _lmms_dataset.write_annotations(root / "vlm4d_annotations")
    entries = [{"id": d["id"], "question": d["question"], "choices": d["choices"],
                "response": "Therefore, the final answer is: A", "answer": d["answer"]}
               for d in annotations["real"]]  # fmt: skip
    path = root / "vlm4d_responses" / "real_mc_cot" / "fixture-model.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(entries), encoding="utf-8")
    out = root / "vlm4d_score.json"
    result = subprocess.run([*VLM4D, "score", str(path), "--json", str(out), "--no-progress"],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def test_report_shows_dsr_bench_beside_vlm4d_in_its_own_table(world):
    root = world["root"]
    results = {**_finish(world["runs"]["random"], root / "random")["results"],
               **{f"prior {k}": v for k, v in
                  _finish(world["runs"]["prior"], root / "prior")["results"].items()}}  # fmt: skip
    vlm4d = _vlm4d_score(root)
    out = root / "report"
    result = subprocess.run([*VLM4D, "report", str(root / "random"), str(root / "prior"),
                             str(vlm4d), "--out", str(out), "--no-progress"],
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    board = json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))
    groups = {r["label"]: r["group"] for r in board["measured"]}
    dsr_rows = {label: group for label, group in groups.items() if "[dsr_bench" in label}
    assert len(dsr_rows) == 4 and set(dsr_rows.values()) == {"dsr_bench/39/vlmevalkit-dsrbench"}
    others = {group for label, group in groups.items() if label not in dsr_rows}
    assert others and not any(g.startswith("dsr_bench") for g in others)
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "### DSR-Bench (another benchmark's questions" in text
    assert "39 questions; protocol `vlmevalkit-dsrbench`" in text
    _dsr_breakdowns_in_their_own_tables(out, text, board, results)


def _dsr_breakdowns_in_their_own_tables(out: Path, text: str, board: dict, results: dict):
    """The DSR rows' table shows DSR-Bench's breakdowns, each equal to what lmms-eval
    computed from the items (the report reads them from the score documents); the VLM4D
    tables, notes and figures keep to VLM4D's rows."""
    import csv
    import io

    from vlm4d_tasks.data.dsr_bench import DsrType

    def lmms(label: str) -> dict[str, float]:  # "vlm4d_prior [dsr_bench]" -> its results
        model, task = label[:-1].split(" [")
        return _values(results[f"prior {task}" if model == "vlm4d_prior" else task])

    def pct(value: float) -> str:
        return f"{100 * value:.1f}"

    leaderboard = text.split("## Leaderboard (measured here)")[1].split("## By category")[0]
    vlm4d_table, _, dsr_table = leaderboard.partition("### DSR-Bench (another benchmark's")
    dsr_table = dsr_table.split("\n\n")[1]  # the table under the heading
    assert dsr_table.splitlines()[0] == (
        "| # | Model | Absolute | Relative | Overall | Chance-corr. | Questions | Protocol |"
    )
    assert "Real Ego" not in dsr_table and "Debiased" not in dsr_table
    labels = [r["label"] for r in board["measured"] if "[dsr_bench" in r["label"]]
    for label in labels:
        got = lmms(label)
        line = next(x for x in dsr_table.splitlines() if f"| `{label}` |" in x)
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[2:4] == [pct(got["absolute"]), pct(got["relative"])], label
        assert cells[4].startswith(pct(got["accuracy"]) + " ["), label
    assert "[dsr_bench" not in vlm4d_table
    # no VLM4D-only note names a DSR row: the debiased set's reasons, the paper's categories
    notes = text.split("## Published rows")[0]
    assert not [x for x in notes.splitlines() if x.startswith("Debiased –") and "dsr_bench" in x]
    by_category = text.split("## By category (measured here)")[1].split("## Published rows")[0]
    vlm4d_categories, _, types = by_category.partition("### DSR-Bench by question type")
    assert "| Translational |" in vlm4d_categories and "dsr_bench" not in vlm4d_categories
    assert "Abs distance" not in vlm4d_categories and "Translational" not in types
    from vlm4d_tasks.report.breakdowns import dsr_type_titles

    titles = dsr_type_titles()
    assert types.split("\n\n")[1].splitlines()[0] == "| Model | " + " | ".join(
        titles.values()) + " |"  # fmt: skip
    for label in labels:
        got = lmms(label)
        line = next(x for x in types.splitlines() if f"| `{label}` |" in x)
        cells = [c.strip() for c in line.strip("|").split("|")][1:]
        assert cells == [f"{pct(got[t.value])} (n=3)" for t in DsrType], label

    # leaderboard.csv and .json carry the same breakdowns
    csv_rows = {r["model"]: r for r in csv.DictReader(io.StringIO(
        (out / "leaderboard.csv").read_text(encoding="utf-8")))}  # fmt: skip
    for label in labels:
        got = lmms(label)
        for key in ("absolute", "relative", *(t.value for t in DsrType)):
            assert float(csv_rows[label][f"dsr_{key}_percent"]) == pytest.approx(
                100 * got[key], abs=5e-5), (label, key)  # fmt: skip
        measured = next(r for r in board["measured"] if r["label"] == label)
        assert {k: c["accuracy"] for k, c in measured["categories"].items()} == pytest.approx(
            {t.value: got[t.value] for t in DsrType}, abs=1e-6)  # fmt: skip
    assert csv_rows["fixture-model (cot)"]["dsr_absolute_percent"] == ""
    group = next(g for g in board["groups"] if g["questions"] == "dsr_bench")
    assert group["categories"] == list(titles)
    # the figures are VLM4D's: the DSR rows are in none of them, and a note says so
    figures_part = text.split("## Figures")[1].split("## Protocols")[0]
    assert "direction_confusion_other" not in figures_part
    assert "the DSR-Bench rows are in none of them" in figures_part
