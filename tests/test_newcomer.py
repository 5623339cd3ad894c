"""The newcomer's path, round 2 (issue 23, items 3, 13-16), through the real CLIs.

* `vlm4d_replay` on a response file whose options are re-lettered relative to the dataset
  replays each answer as the option text it chose (100% for a file right under its own
  letters, as `vlm4d score --annotations` grades it) and warns once, with counts per kind;
* the README's blind baseline (`vlm4d_prior` on `vlm4d_mc_blind`) passes the preflight and runs
  on a dataset built without videos;
* under plain lmms-eval, our table and score JSON carry the run id of lmms-eval's results file
  even when the clock moves on between the start of the run and its aggregation;
* a probe dataset asked for `vlm4d_mc` names `vlm4d_probe_mc`;
* `vlm4d eval` prints the paths of every file it wrote, also when `pretrained=/abs/path` puts
  them in a sub-folder.

Each lmms-eval run spawns the real CLI (~15-30 s), one at a time; the datasets are built here
from `tests/_lmms_dataset.py`'s question files, without videos.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "vlm4d_tasks" / "lmms" / "tasks"
VLM4D = [sys.executable, "-m", "vlm4d_tasks.cli"]
LMMS_EVAL = [sys.executable, "-m", "lmms_eval", "--include_path", str(TASKS)]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Question files, a dataset built from them without videos, and a private environment."""
    import _lmms_dataset

    from vlm4d_tasks.data.annotations import load_annotations
    from vlm4d_tasks.data.dataset_repo import build_dataset_repo

    root = tmp_path_factory.mktemp("newcomer")
    questions = _lmms_dataset.write_annotations(root / "annotations")
    dataset = root / "dataset"
    build_dataset_repo(load_annotations(root / "annotations", ["real", "synthetic"]), dataset)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VLM4D_", "HF_"))},
        "VLM4D_ALLOW_UNOFFICIAL_ANNOTATIONS": "1",  # the suite's own question files
        "VLM4D_CACHE_DIR": str(root / "cache"),
        "HF_HOME": str(root / "hf"),
        "LMMS_EVAL_DATASETS_CACHE": str(root / "hf" / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
    }
    return {"root": root, "questions": questions, "dataset": dataset, "env": env}


def _run(command: list[str], env: dict[str, str], cwd: Path | None = None):
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=cwd)
    done.stdout, done.stderr = ANSI.sub("", done.stdout), ANSI.sub("", done.stderr)
    return done


def _only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.rglob(pattern))
    assert len(found) == 1, f"{pattern} under {folder}: {found}"
    return found[0]


# --------------------------------------------------------------------------------------------
# 3. A re-lettered response file replayed through lmms-eval


def _relettered(entries: list[dict]) -> list[dict]:
    """The entries answered right under their own letters; every other one with its options
    rotated by one letter (so every letter of it names another option than the dataset's)."""
    out = []
    for i, entry in enumerate(entries):
        texts = list(entry["choices"].values())
        if i % 2 == 0:
            texts = texts[1:] + texts[:1]
        choices = dict(zip("ABCD", texts))
        letter = next(k for k, v in choices.items() if str(v) == str(entry["answer"]))
        out.append({"id": entry["id"], "question": entry["question"], "choices": choices,
                    "response": f"Let me look.\nTherefore, the final answer is: {letter}",
                    "answer": entry["answer"]})  # fmt: skip
    return out


@pytest.mark.lmms
def test_replay_maps_a_relettered_file_through_its_own_options(world, tmp_path):
    real = world["questions"]["real"]
    file = tmp_path / "real_mc_cot" / "relettered.json"
    file.parent.mkdir()
    file.write_text(json.dumps(_relettered(real)), encoding="utf-8")
    rotated = len(real[::2])

    # `vlm4d score` grades the file as asked: all right, the re-lettered entries listed
    score = tmp_path / "score.json"
    annotations = str(world["root"] / "annotations")
    done = _run([*VLM4D, "score", str(file), "--annotations", annotations, "--json", str(score),
                 "--no-progress"], world["env"])  # fmt: skip
    assert done.returncode == 0, done.stderr
    (run,) = json.loads(score.read_text())["runs"]
    assert run["accuracy"] == 1.0
    assert run["stale"]["by_kind"] == {"options_reordered": rotated}

    out = tmp_path / "out"
    done = _run([*LMMS_EVAL, "--model", "vlm4d_replay", "--model_args", f"real={file}",
                 "--tasks", "vlm4d_real_mc", "--output_path", str(out), "--log_samples"],
                {**world["env"], "VLM4D_DATASET": str(world["dataset"])})  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    results = json.loads(_only(out, "*_results.json").read_text())["results"]
    assert results["vlm4d_real_mc"]["accuracy,none"] == 1.0, log[-4000:]
    warnings = [line for line in log.splitlines() if "vlm4d_replay:" in line]
    assert len(warnings) == 1, log[-4000:]
    assert f"{rotated} of {len(real)} replayed entries differ" in warnings[0]
    assert f"(options_reordered {rotated})" in warnings[0]


def test_replayed_answer_is_the_chosen_option_text_in_the_dataset_letters():
    from vlm4d_tasks.data.schema import Record
    from vlm4d_tasks.lmms.models.vlm4d_replay import in_dataset_letters, stale_warning
    from vlm4d_tasks.metric.responses import Response, StaleKind

    doc = Record(uid="real/validation_1", question_id="validation_1", subset="real",
                 source="davis", perspective="exocentric", category="translational",
                 question="Where does the car go?", options=["left", "right", "up", "down"],
                 answer="B", answer_text="right", video="v.mp4")  # fmt: skip

    def entry(options: list[str], response: object, answer: str = "right") -> Response:
        return Response("validation_1", doc.question, options, response, answer)

    same = entry(["left", "right", "up", "down"], "B: right, clearly")
    assert in_dataset_letters(same, doc) == ("B: right, clearly", ())  # replayed as recorded
    moved = entry(["right", "left", "down", "up"], "Answer: A")
    assert in_dataset_letters(moved, doc) == (
        "Therefore, the final answer is: B", (StaleKind.OPTIONS_REORDERED,))  # fmt: skip
    assert in_dataset_letters(entry(["right", "left", "down", "up"], "C"), doc)[0].endswith(": D")
    # no option chosen, or one the dataset does not offer: no answer
    assert in_dataset_letters(entry(["right", "left", "down", "up"], "A or B"), doc)[0] == ""
    other = entry(["right", "left", "down", "sideways"], "D")
    assert in_dataset_letters(other, doc) == ("", (StaleKind.OPTION_SET_CHANGED,))
    assert stale_warning({}, 3) is None
    line = stale_warning(
        {
            "a": (StaleKind.OPTIONS_REORDERED,),
            "b": (StaleKind.OPTION_SET_CHANGED, StaleKind.ANSWER_CHANGED),
        },
        5,
    )
    assert "2 of 5 replayed entries" in line and "\n" not in line
    assert "(options_reordered 1, option_set_changed 1, answer_changed 1)" in line


# --------------------------------------------------------------------------------------------
# 13 and 16. The README's blind baseline through `vlm4d eval`, on a dataset without videos,
# with a `pretrained=/abs/path` model argument (lmms-eval names a sub-folder after it)


@pytest.fixture(scope="module")
def blind_run(world):
    out = world["root"] / "blind"
    command = [*VLM4D, "eval", "--dataset", str(world["dataset"]), "--model", "vlm4d_prior",
               "--model_args", "pretrained=/some/abs/path,variant=rate", "--tasks",
               "vlm4d_mc_blind", "--output_path", str(out), "--log_samples"]  # fmt: skip
    return _run(command, world["env"], cwd=world["root"]), out


@pytest.mark.lmms
def test_blind_baseline_needs_no_video(world, blind_run):
    done, out = blind_run
    assert not list(world["dataset"].rglob("*.mp4"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "vlm4d eval: preflight passed" in done.stderr
    assert "no video needed for vlm4d_real_mc_blind, vlm4d_synthetic_mc_blind" in done.stderr
    results = json.loads(_only(out, "*_results.json").read_text())["results"]
    assert 0 <= results["vlm4d_mc_blind"]["accuracy,none"] <= 1


def test_blind_tasks_skip_the_video_check_but_still_load_their_questions(world, tmp_path):
    from vlm4d_tasks.cli import eval as command
    from vlm4d_tasks.cli.tasks import expand, task_index

    env = {"VLM4D_DATASET": str(world["dataset"])}
    index = task_index()
    blind = command.check_videos(expand(["vlm4d_mc_blind"], index), env)
    assert blind.no_video == ["vlm4d_real_mc_blind", "vlm4d_synthetic_mc_blind"]
    assert not blind.missing and blind.questions == 0
    # the same questions with the video as input: every video is missing
    seen = command.check_videos(expand(["vlm4d_mc"], index), env)
    assert seen.no_video == [] and len(seen.missing) == 6
    # and a blind task still fails on a folder that is not a dataset
    with pytest.raises(command.PreflightError, match="not a dataset folder"):
        command.check_videos(expand(["vlm4d_mc_blind"], index), {"VLM4D_DATASET": str(tmp_path)})


def test_video_free_models_need_no_video_on_any_task(world):
    # vlm4d_replay answers from a file and vlm4d_prior from the option texts: neither asks for
    # a request's visual input, so replaying published answers needs no release videos.
    from vlm4d_tasks.cli import eval as command
    from vlm4d_tasks.cli.tasks import expand, task_index

    env = {"VLM4D_DATASET": str(world["dataset"])}
    entries = expand(["vlm4d_mc"], task_index())
    for model in ("vlm4d_replay", "vlm4d_prior"):
        notes = command._check_data(entries, env, ["--model", model, "--tasks", "vlm4d_mc"])
        assert notes == [
            f"no video needed for vlm4d_real_mc, vlm4d_synthetic_mc ({model} reads none)"
        ]
    # a model that reads the video still gets every missing one named
    with pytest.raises(command.PreflightError, match="6 of 6 videos"):
        command._check_data(entries, env, ["--model", "vlm4d_random", "--tasks", "vlm4d_mc"])


@pytest.mark.lmms
def test_eval_prints_the_path_of_every_file_it_wrote(world, blind_run):
    done, out = blind_run
    assert done.returncode == 0, done.stderr[-4000:]
    printed = re.findall(r"^vlm4d eval: (results|samples|table|score): (.+)$", done.stderr, re.M)
    kinds = [kind for kind, _ in printed]
    assert sorted(set(kinds)) == ["results", "samples", "score", "table"], done.stderr[-3000:]
    assert kinds.count("samples") == 2 and kinds[-1] == "results"
    assert done.stderr.rstrip().splitlines()[-1].startswith("vlm4d eval: results: ")
    paths = [world["root"] / path for _, path in printed]  # as given, from the run's folder
    assert all(path.is_file() for path in paths), printed
    # lmms-eval's sub-folder for `pretrained=/some/abs/path`, one run id for all four kinds
    assert {path.parent for path in paths} == {out / "abs__path"}
    run_id = paths[-1].name.removesuffix("_results.json")
    assert all(path.name.startswith(f"{run_id}_") for path in paths)
    assert sorted(p.name for p in (out / "abs__path").iterdir()) == sorted(p.name for p in paths)


# --------------------------------------------------------------------------------------------
# 14. One run id for all of a plain lmms-eval run's files, however long the run takes

# lmms-eval takes its run id (a timestamp to the second) before the evaluation and saves its
# files with it after; here the evaluation starts 1.5 s later, so any stamp taken during the
# run (our aggregation) falls on another second: the drift of a long run, made certain.
SLOW_LMMS_EVAL = """
import sys, time
import lmms_eval.__main__ as main

original = main.evaluator.simple_evaluate

def simple_evaluate(*args, **kwargs):
    time.sleep(1.5)
    return original(*args, **kwargs)

main.evaluator.simple_evaluate = simple_evaluate
sys.argv = ["lmms-eval", *sys.argv[1:]]
main.cli_evaluate()
"""


@pytest.mark.lmms
def test_plain_lmms_eval_files_share_the_run_id_of_its_results(world, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-c", SLOW_LMMS_EVAL, "--include_path", str(TASKS),
               "--model", "vlm4d_prior", "--tasks", "vlm4d_mc_blind", "--output_path", str(out),
               "--log_samples"]  # fmt: skip
    done = _run(command, {**world["env"], "VLM4D_DATASET": str(world["dataset"])})
    assert done.returncode == 0, done.stderr[-4000:]
    results = _only(out, "*_results.json")
    run_id = results.name.removesuffix("_results.json")
    assert json.loads(results.read_text())["date"].replace(":", "-") == run_id
    names = sorted(p.name for p in results.parent.iterdir())
    assert names == sorted([
        f"{run_id}_results.json", f"{run_id}_samples_vlm4d_real_mc_blind.jsonl",
        f"{run_id}_samples_vlm4d_synthetic_mc_blind.jsonl", f"{run_id}_vlm4d_score.json",
        f"{run_id}_vlm4d_table.md",
    ]), names  # fmt: skip
    score = json.loads((results.parent / f"{run_id}_vlm4d_score.json").read_text())
    assert score["run"]["model"] == "vlm4d_prior"


# --------------------------------------------------------------------------------------------
# 15. The release's tasks on a probe dataset name the probe's task


@pytest.mark.lmms
def test_release_task_on_a_probe_dataset_names_the_probe_task(world):
    import _lmms_dataset

    from vlm4d_tasks.data.annotations import load_annotations
    from vlm4d_tasks.data.dataset_repo import build_dataset_repo

    probe = _lmms_dataset.write_probe(world["root"] / "probe")
    dataset = world["root"] / "probe_dataset"
    build_dataset_repo(load_annotations(probe, ["probe"]), dataset)
    command = [*VLM4D, "eval", "--dataset", str(dataset), "--model", "vlm4d_random",
               "--tasks", "vlm4d_mc"]  # fmt: skip
    done = _run(command, world["env"])
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.rstrip().splitlines()[-1]
    assert "no config 'real'" in last and "`--tasks vlm4d_probe_mc`" in last, last
