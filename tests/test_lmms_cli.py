"""End to end through the real lmms-eval CLI, in subprocesses, on a small generated dataset.

* `vlm4d eval --num-processes 2` runs `vlm4d_random` under `accelerate launch` with two CPU
  processes on every task: the results hold every breakdown (and none without questions), each
  number equals the one computed here from the model's seeded answers (so aggregation saw
  every document exactly once), and the overall accuracy is consistent with chance;
* `vlm4d_replay` on an official-format response file gets exactly `vlm4d score`'s numbers;
* the official protocol's task (`vlm4d_mc_official`) runs beside the greedy ones: the same
  seeded answers give the same numbers, and the table and metadata mark each row's protocol;
* lmms-eval's own `qwen2_vl` model class runs a tiny random Qwen2-VL checkpoint built offline
  on 2 documents per protocol (real videos through its processor, sampling under `official`);
* `--tasks list` through lmms-eval and through `vlm4d eval` lists every task and group.

lmms-eval takes ~20 s to start (imports, task index), so the runs are started together in one
module fixture and each test waits for its own.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lmms

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "vlm4d_tasks" / "lmms" / "tasks"
VLM4D = [sys.executable, "-m", "vlm4d_tasks.cli"]
LMMS_EVAL = [sys.executable, "-m", "lmms_eval"]
SEED = 3
ALL_TASKS = [
    "vlm4d_mc", "vlm4d_mc_direct", "vlm4d_mc_frames", "vlm4d_probe_mc", "vlm4d_translational",
    "vlm4d_rotational", "vlm4d_counting", "vlm4d_false_positive",
]  # fmt: skip
OFFICIAL_GROUPS = ["vlm4d_mc_official", "vlm4d_mc_direct_official", "vlm4d_mc_frames_official"]
ALL_NAMES = [
    *ALL_TASKS, "vlm4d_real_mc", "vlm4d_synthetic_mc", "vlm4d_real_mc_direct",
    "vlm4d_synthetic_mc_direct", "vlm4d_real_mc_frames", "vlm4d_synthetic_mc_frames",
    *OFFICIAL_GROUPS, "vlm4d_real_mc_official", "vlm4d_synthetic_mc_official",
    "vlm4d_real_mc_direct_official", "vlm4d_synthetic_mc_direct_official",
    "vlm4d_real_mc_frames_official", "vlm4d_synthetic_mc_frames_official",
    "vlm4d_probe_mc_official", "vlm4d_mc_blind", "vlm4d_real_mc_blind", "vlm4d_synthetic_mc_blind",
    *(f"vlm4d_{s}mc_{k}" for k in ("mirror", "reverse", "circular", "identity")
      for s in ("", "real_", "synthetic_")),
    *(f"vlm4d_{s}mc{f}_dsr_suite" for s in ("", "real_", "synthetic_") for f in ("", "_frames")),
    "vlm4d_probe_mc_dsr_suite",
    "dsr_bench", *(f"dsr_bench_{s}" for s in ("64frame", "32frame", "30frame", "1fps")),
]  # fmt: skip
TABLE_COLUMNS = {
    "real_egocentric": lambda d: d["subset"] == "real" and d["perspective"] == "egocentric",
    "real_exocentric": lambda d: d["subset"] == "real" and d["perspective"] == "exocentric",
    "real": lambda d: d["subset"] == "real",
    "synthetic_directional": lambda d: (
        d["subset"] == "synthetic" and d["category"] != "false_positive"
    ),
    "synthetic_false_positive": lambda d: (
        d["subset"] == "synthetic" and d["category"] == "false_positive"
    ),
    "synthetic": lambda d: d["subset"] == "synthetic",
}


def _responses(docs: list[dict]) -> list[str | None]:
    """Answers in the styles models give: committed, bare, by text, none, null."""
    out = []
    for i, doc in enumerate(docs):
        right = doc["choices"][next(k for k, v in doc["choices"].items() if v == doc["answer"])]
        styles = [
            "Let me look.\nTherefore, the final answer is: A",
            "B",
            f"The answer is {right}.",
            "I cannot determine this from the video.",
            None,
            "C: " + str(doc["choices"]["C"]),
        ]
        out.append(styles[i % len(styles)])
    return out


def _write_response_files(folder: Path, annotations: dict[str, list[dict]]) -> list[Path]:
    files = []
    for subset in ("real", "synthetic"):
        docs = annotations[subset]
        entries = [
            {"id": d["id"], "question": d["question"], "choices": d["choices"], "response": r,
             "answer": d["answer"]}
            for d, r in zip(docs, _responses(docs))
        ]  # fmt: skip
        path = folder / f"{subset}_mc_cot" / "fixture-model.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(entries, indent=1), encoding="utf-8")
        files.append(path)
    return files


class Run:
    def __init__(self, name: str, command: list[str], env: dict, out: Path) -> None:
        self.name, self.command, self.out = name, command, out
        out.mkdir(parents=True, exist_ok=True)
        self.log = out / "log.txt"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

    def wait(self, timeout: float = 600) -> str:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        text = self.log.read_text(errors="replace")
        assert self.process.returncode == 0, f"{self.name} failed:\n{text[-4000:]}"
        return text

    def results(self) -> dict:
        log = self.wait()
        found = sorted(self.out.rglob("*_results.json"))
        assert len(found) == 1, f"{self.name}: no results file; log:\n{log[-4000:]}"
        return json.loads(found[0].read_text())

    def file(self, pattern: str) -> Path:
        (path,) = sorted(self.out.rglob(pattern))
        return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    import _lmms_dataset
    import _tiny_qwen

    root = tmp_path_factory.mktemp("lmms_e2e")
    dataset = _lmms_dataset.build(root)
    annotations = _lmms_dataset.write_annotations(root / "annotations")
    response_files = _write_response_files(root / "responses", annotations)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VLM4D_")},
        "HF_HOME": str(root / "hf"),
        "LMMS_EVAL_DATASETS_CACHE": str(root / "hf" / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
    }
    with_data = {**env, "VLM4D_DATASET": str(dataset)}
    lmms = [*LMMS_EVAL, "--include_path", str(TASKS)]
    random = [*VLM4D, "eval", "--dataset", str(dataset), "--num-processes", "2", "--frames", "4"]
    random += ["--model", "vlm4d_random", "--model_args", f"seed={SEED}"]
    random += ["--tasks", ",".join([*ALL_TASKS, "vlm4d_mc_official"])]
    random += ["--output_path", str(root / "random")]
    replay = [*lmms, "--model", "vlm4d_replay", "--model_args", f"responses={root / 'responses'}"]
    replay += ["--tasks", "vlm4d_mc", "--output_path", str(root / "replay"), "--log_samples"]
    prior = [*lmms, "--model", "vlm4d_prior", "--tasks", "vlm4d_mc_blind"]
    prior += ["--output_path", str(root / "prior")]
    runs = {
        "prior": Run("prior", prior, with_data, root / "prior"),
        "random": Run("random", random, env, root / "random"),
        "replay": Run("replay", replay, with_data, root / "replay"),
        "list_lmms": Run("list_lmms", [*lmms, "--tasks", "list"], env, root / "list_lmms"),
        "list_vlm4d": Run("list_vlm4d", [*VLM4D, "eval", "--tasks", "list"], env, root / "lv"),
    }
    checkpoint = _tiny_qwen.build(root / "tiny_qwen")
    qwen = [*lmms, "--model", "qwen2_vl", "--model_args"]
    qwen += [f"pretrained={checkpoint},device=cpu,device_map=cpu,max_num_frames=4"]
    qwen += ["--tasks", "vlm4d_mc,vlm4d_mc_official", "--limit", "1"]
    qwen += ["--gen_kwargs", "max_new_tokens=8"]
    qwen += ["--output_path", str(root / "qwen"), "--log_samples"]
    runs["qwen"] = Run("qwen", qwen, with_data, root / "qwen")
    yield {
        "root": root,
        "dataset": dataset,
        "responses": response_files,
        "runs": runs,
        "annotations": root / "annotations",
        "env": env,
    }
    for run in runs.values():
        if run.process.poll() is None:
            run.process.kill()


def _docs(dataset: Path, config: str) -> list[dict]:
    from vlm4d_tasks.data.dataset_repo import load_split

    return list(load_split(dataset, config))


def _expected(docs: list[dict], correct: dict[str, bool]) -> dict[str, float]:
    groups = {"accuracy": docs}
    for name, covers in TABLE_COLUMNS.items():
        groups[name] = [d for d in docs if covers(d)]
    for category in ("translational", "rotational", "counting", "false_positive"):
        groups[category] = [d for d in docs if d["category"] == category]
    return {k: sum(correct[d["uid"]] for d in v) / len(v) for k, v in groups.items() if v}


def _values(entry: dict) -> dict[str, float]:
    return {
        key.split(",")[0]: value
        for key, value in entry.items()
        if key.endswith(",none") and "_stderr" not in key
    }


def _binomial_two_sided_p(k: int, n: int, p: float = 0.25) -> float:
    pmf = [math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(n + 1)]
    return min(1.0, sum(x for x in pmf if x <= pmf[k] * (1 + 1e-9)))


def test_random_model_two_processes_every_breakdown_exact(world):
    from vlm4d_tasks.lmms.models.vlm4d_random import choose

    results = world["runs"]["random"].results()
    dataset = world["dataset"]
    docs = {c: _docs(dataset, c) for c in ("real", "synthetic", "probe", "all")}
    correct = {d["uid"]: choose(SEED, d["uid"]) == d["answer"] for ds in docs.values() for d in ds}
    both = docs["real"] + docs["synthetic"]
    expected = {
        "vlm4d_real_mc": _expected(docs["real"], correct),
        "vlm4d_synthetic_mc": _expected(docs["synthetic"], correct),
        "vlm4d_probe_mc": _expected(docs["probe"], correct),
        "vlm4d_translational": _expected(
            [d for d in docs["all"] if d["category"] == "translational"], correct
        ),
    }
    for variant in ("", "_direct", "_frames", "_official"):
        group = _values(results["groups"][f"vlm4d_mc{variant}"])
        assert group == pytest.approx(_expected(both, correct), abs=1e-12), variant
        assert sorted(group) == sorted(_expected(both, correct))  # all 11 breakdowns
    for task, values in expected.items():
        assert _values(results["results"][task]) == pytest.approx(values, abs=1e-12), task
    # breakdowns without questions are absent, not 0.0: the probe set has no table columns
    probe = _values(results["results"]["vlm4d_probe_mc"])
    assert sorted(probe) == sorted(["accuracy", *{d["category"] for d in docs["probe"]}])
    assert "synthetic" not in _values(results["results"]["vlm4d_real_mc"])
    # every document once, although two processes shared the work
    assert results["n-samples"]["vlm4d_real_mc"] == {"original": 24, "effective": 24}
    assert results["n-samples"]["vlm4d_synthetic_mc_frames"]["effective"] == 16
    # chance: the 40 benchmark questions answered at random
    k = sum(correct[d["uid"]] for d in both)
    assert _binomial_two_sided_p(k, len(both)) > 0.001, k


def _standard_errors(docs: list[dict], correct: dict[str, bool]) -> tuple[float, float]:
    """CLT and video-clustered standard errors of the mean of `docs`' 0/1 outcomes (Eq. 4 of
    "Adding Error Bars to Evals", arXiv 2411.00640), computed here from the seeded answers."""
    scores = [float(correct[d["uid"]]) for d in docs]
    n = len(scores)
    mean = sum(scores) / n
    clt = (sum((s - mean) ** 2 for s in scores) / (n - 1)) ** 0.5 / n**0.5
    by_video: dict[str, list[float]] = {}
    for doc, s in zip(docs, scores):
        by_video.setdefault(doc["video"], []).append(s - mean)
    cross = sum(sum(d) ** 2 - sum(x * x for x in d) for d in by_video.values())
    return clt, (clt**2 + cross / n**2) ** 0.5


def test_group_rows_have_the_stratified_standard_errors(world):
    """lmms-eval pools only its bootstrap `_stderr` into a group; the plugin fills the CLT and
    clustered ones: a stratified mean over the disjoint subtasks (real and synthetic share no
    video), sqrt(sum((n_i / N)^2 se_i^2)), each se_i computed here from the answers."""
    from vlm4d_tasks.lmms.models.vlm4d_random import choose

    results = world["runs"]["random"].results()
    dataset = world["dataset"]
    strata = [_docs(dataset, "real"), _docs(dataset, "synthetic")]
    correct = {d["uid"]: choose(SEED, d["uid"]) == d["answer"] for ds in strata for d in ds}
    covers = {"accuracy": lambda d: True, **TABLE_COLUMNS}
    covers.update({c: (lambda d, c=c: d["category"] == c) for c in ("translational", "counting")})
    for variant in ("", "_direct", "_official"):
        row = results["groups"][f"vlm4d_mc{variant}"]
        for metric, cover in covers.items():
            parts = [[d for d in docs if cover(d)] for docs in strata]
            parts = [p for p in parts if len(p) > 1]
            total = sum(len(p) for p in parts)
            errors = [_standard_errors(p, correct) for p in parts]
            clt = sum((len(p) / total) ** 2 * e[0] ** 2 for p, e in zip(parts, errors)) ** 0.5
            clustered = sum((len(p) / total) ** 2 * e[1] ** 2 for p, e in zip(parts, errors))
            assert row[f"{metric}_stderr_clt,none"] == pytest.approx(clt, rel=1e-9), metric
            assert row[f"{metric}_stderr_clustered,none"] == pytest.approx(
                clustered**0.5, rel=1e-9
            ), metric
    # and the printed table shows them (no N/A in the two columns of a group row)
    log = world["runs"]["random"].log.read_text()
    rows = [line for line in log.splitlines() if line.startswith("|VLM4D (chain of thought)")]
    assert rows and all(line.split("|")[-3].strip() not in ("", "N/A") for line in rows), rows


def test_blind_prior_run_answers_as_the_score_documents_prior_row(world):
    """`lmms-eval --model vlm4d_prior --tasks vlm4d_mc_blind`: no visual input, the option-text
    prior per subset; its accuracy is `validity.prior` computed here, and its row in the run's
    score document equals the document's own prior baseline row (one rule, two routes)."""
    from vlm4d_tasks.data.schema import Record
    from vlm4d_tasks.validity.baselines import PRIOR_ROW
    from vlm4d_tasks.validity.prior import prior_accuracy

    run = world["runs"]["prior"]
    results = run.results()
    for subset in ("real", "synthetic"):
        records = [Record.from_dict(d) for d in _docs(world["dataset"], subset)]
        value = results["results"][f"vlm4d_{subset}_mc_blind"]["accuracy,none"]
        assert value == pytest.approx(prior_accuracy(records), abs=1e-12), subset
    score = json.loads(run.file("*_vlm4d_score.json").read_text())
    (row,) = [m for m in score["models"] if m["model"].endswith("[vlm4d_mc_blind]")]
    (baseline,) = [b for b in score["validity"]["baselines"] if b["model"] == PRIOR_ROW]
    for column, acc in row["columns"].items():
        assert acc["correct"] == baseline["columns"][column]["correct"], column
    # the run read no video: the blind setting is what its metadata records
    assert "blind" in json.dumps(score["run"])


def test_random_run_records_table_and_metadata(world):
    run = world["runs"]["random"]
    run.wait()
    score = json.loads(run.file("*_vlm4d_score.json").read_text())
    # One run id for lmms-eval's results and our table and score (`vlm4d eval` pairs them).
    run_id = run.file("*_results.json").name.removesuffix("_results.json")
    assert run.file("*_vlm4d_score.json").name == f"{run_id}_vlm4d_score.json"
    assert run.file("*_vlm4d_table.md").name == f"{run_id}_vlm4d_table.md"
    meta = score["run"]
    assert meta["lmms_eval_version"] == "0.7.3" and meta["vlm4d_tasks_version"]
    assert meta["dataset"]["origin"] == "local"
    assert meta["dataset"]["folder"] == str(world["dataset"].resolve())
    # The question files' hashes: the suite's own files, accepted as unofficial.
    provenance = meta["dataset"]["annotations"]
    assert provenance["unofficial_allowed"] and not provenance["official"]
    assert {f["name"] for f in provenance["files"]} >= {"real_mc.json", "synthetic_mc.json"}
    assert all(len(f["sha256"]) == 64 for f in provenance["files"])
    assert meta["visual_input"]["frames"] == "uniform-4 PIL frames"
    assert meta["judge"] == {"mode": "rule", "models": []}
    assert meta["model"] == "vlm4d_random" and meta["model_args"] == f"seed={SEED}"
    # the protocol of every row, and how each protocol decoded
    protocol = meta["protocol"]
    assert protocol["name"] == "mixed"
    assert protocol["rows"]["vlm4d_mc_official"] == "official"
    assert protocol["rows"]["vlm4d_mc"] == protocol["rows"]["vlm4d_probe_mc"] == "greedy"
    assert protocol["decoding"]["official"] == {
        "do_sample": True, "max_new_tokens": 1024, "temperature": 1.0, "top_p": 1.0, "until": [],
    }  # fmt: skip
    assert protocol["decoding"]["greedy"]["do_sample"] is False
    assert protocol["seed"]["lmms_eval"] == [0, 1234, 1234, 1234]  # lmms-eval's default
    table = run.file("*_vlm4d_table.md").read_text()
    rows = [line.split(" | ")[0].lstrip("| ") for line in table.splitlines()
            if line.startswith("| vlm4d_random")]  # fmt: skip
    assert rows == [f"vlm4d_random [{r}]" for r in sorted([
        "vlm4d_counting", "vlm4d_false_positive", "vlm4d_mc", "vlm4d_mc_direct",
        "vlm4d_mc_frames", "vlm4d_mc_official", "vlm4d_probe_mc", "vlm4d_rotational",
        "vlm4d_translational",
    ])]  # fmt: skip
    (line,) = [line for line in table.splitlines() if line.startswith("Protocols differ")]
    assert "`vlm4d_mc_official` official" in line and "`vlm4d_mc` greedy" in line


def test_replay_matches_vlm4d_score(world, tmp_path):
    results = world["runs"]["replay"].results()
    out = tmp_path / "score.json"
    done = subprocess.run(
        [*VLM4D, "score", *map(str, world["responses"]), "--annotations",
         str(world["annotations"]), "--json", str(out), "--markdown", str(tmp_path / "t.md"),
         "--no-progress"],
        capture_output=True, text=True, timeout=300,
        # the suite's own question files, not the release's (see conftest.py)
        env={**world["env"], "VLM4D_ALLOW_UNOFFICIAL_ANNOTATIONS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    score = json.loads(out.read_text())
    (row,) = score["models"]
    group = _values(results["groups"]["vlm4d_mc"])
    ours = {"overall": group["accuracy"], **{c: group[c] for c in TABLE_COLUMNS}}
    theirs = {name: column["accuracy"] for name, column in row["columns"].items()}
    assert sorted(ours) == sorted(theirs)
    assert ours == pytest.approx(theirs, abs=1e-6)  # `vlm4d score` rounds to 6 digits
    assert 0 < group["accuracy"] < 1
    # and the same table line, number for number
    replay = world["runs"]["replay"]
    ours_line = next(line for line in replay.file("*_vlm4d_table.md").read_text().splitlines()
                     if line.startswith("| vlm4d_replay"))  # fmt: skip
    their_line = next(line for line in (tmp_path / "t.md").read_text().splitlines()
                      if line.startswith("| fixture-model"))  # fmt: skip
    assert ours_line.split(" | ")[1:] == their_line.split(" | ")[1:]


def test_tiny_qwen2_vl_runs_the_whole_path(world):
    run = world["runs"]["qwen"]
    results = run.results()
    log = run.log.read_text(errors="replace")
    assert "Failed to process video" not in log and "Skipping empty video" not in log
    assert results["n-samples"]["vlm4d_real_mc"] == {"original": 24, "effective": 1}
    assert results["n-samples"]["vlm4d_synthetic_mc"]["effective"] == 1
    assert results["n-samples"]["vlm4d_real_mc_official"]["effective"] == 1
    for group in ("vlm4d_mc", "vlm4d_mc_official"):
        assert 0.0 <= _values(results["groups"][group])["accuracy"] <= 1.0
    samples = {path.name: json.loads(line) for path in sorted(run.out.rglob("*_samples_*.jsonl"))
               for line in path.read_text().splitlines()}  # fmt: skip
    assert len(samples) == 4
    for name, sample in samples.items():
        assert sample["accuracy"]["record"]["uid"].startswith(("real/", "synthetic/"))
        assert isinstance(sample["filtered_resps"][0], str) and sample["filtered_resps"][0]
        official = "_official" in name  # the official prompt reached the model class
        assert sample["input"].startswith("\nQuestion: " if official else "Question: ")
    # the generation kwargs the model class got: the task's, updated by --gen_kwargs
    for task in ("vlm4d_real_mc", "vlm4d_real_mc_official"):
        gen_kwargs = results["configs"][task]["generation_kwargs"]
        assert gen_kwargs["max_new_tokens"] == 8  # --gen_kwargs wins over the task's 1024
        sampled = task.endswith("_official")
        assert gen_kwargs["do_sample"] is sampled
        assert gen_kwargs["temperature"] == (1.0 if sampled else 0)


@pytest.mark.parametrize("name", ["list_lmms", "list_vlm4d"])
def test_task_list_names_every_task_and_group(world, name):
    log = world["runs"][name].wait()
    if name == "list_lmms":  # lmms-eval's index of every task: " - name" lines
        listed = {line.strip()[2:] for line in log.splitlines()
                  if line.strip().startswith(("- vlm4d_", "- dsr_bench"))}  # fmt: skip
    else:  # `vlm4d eval --tasks list`: only ours, one "name kind description" line each
        lines = log.splitlines()
        listed = {line.split()[0] for line in lines}
        assert len(lines) == len(listed) and {line.split()[1] for line in lines} == {
            "group", "task",
        }  # fmt: skip
    assert listed == set(ALL_NAMES)
