"""`vlm4d eval` as a newcomer meets it: failures exit non-zero with the cause on the last line.

lmms-eval 0.7.3 catches evaluation errors and exits 0; `vlm4d eval` must not. Checked here:

* the preflight (before lmms-eval starts, so before any model loads) refuses missing videos,
  a folder that is not a dataset, an unknown model, a misspelt task, an unreachable hub, and
  the probe task without a dataset, each with exit status 2 and the cause and fix last, without
  starting lmms-eval (no lmms-eval log line), and far faster than lmms-eval starts;
* with `--no-preflight`, lmms-eval's own failures (videos deleted after the build, an unknown
  model, the probe task without a dataset) exit non-zero with the same kind of last line, read
  from lmms-eval's output; a good run still exits 0, with and without `--output_path`;
* no network call: HF_HUB_OFFLINE=1 and the hub endpoint is a local socket that counts
  connections (it must see none);
* `vlm4d eval --tasks list` prints every task and group of the YAML files, one line each, and
  nothing else, in well under 3 s.

The lmms-eval runs (~10 s each to start) are started together in a module fixture and each test
waits for its own; the dataset is `tests/_lmms_dataset.py`, the model the weight-free
`vlm4d_random`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "vlm4d_tasks" / "lmms" / "tasks"
VLM4D = [sys.executable, "-m", "vlm4d_tasks.cli"]
# a line lmms-eval logs (loguru: "time | LEVEL | lmms_eval.module:function:line - message")
LMMS_EVAL_LOG = re.compile(r"Verbosity set to|\| (?:DEBUG|INFO|WARNING|ERROR) +\| lmms_eval")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
PROBE_RECIPE = [
    "vlm4d generate-probe",
    "vlm4d build-dataset --annotations probe --subsets probe --videos probe --out DIR",
    "--dataset DIR",
]


class Listener:
    """A local "hub" that only counts the connections made to it."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


class Run:
    """`vlm4d eval ...` started now; stdout and stderr kept apart, the end time recorded."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [*VLM4D, "eval", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.stdout = self.stderr = ""
        self.elapsed = 0.0
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        out, err = self.process.communicate()
        self.elapsed = time.monotonic() - self.started
        self.stdout = out.decode("utf-8", "replace")
        self.stderr = err.decode("utf-8", "replace")

    def wait(self, timeout: float = 600) -> Run:
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.process.kill()
            raise AssertionError("vlm4d eval did not finish")
        return self

    @property
    def status(self) -> int:
        return self.process.returncode

    @property
    def last_line(self) -> str:
        lines = self.stderr.rstrip("\n").splitlines()
        return lines[-1] if lines else ""

    def started_lmms_eval(self) -> bool:
        return bool(LMMS_EVAL_LOG.search(ANSI.sub("", self.stdout + self.stderr)))

    def __repr__(self) -> str:  # what a failed assertion shows
        return f"status {self.status}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"


def vlm4d_eval(args: list[str], env: dict[str, str]) -> Run:
    return Run(args, env).wait()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A private environment: caches in a temp folder, the hub offline and a counting socket."""
    root = tmp_path_factory.mktemp("eval_cli")
    hub = Listener()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VLM4D_", "HF_"))},
        "VLM4D_ALLOW_UNOFFICIAL_ANNOTATIONS": "1",  # the suite's own question files
        "VLM4D_CACHE_DIR": str(root / "cache"),
        "HF_HOME": str(root / "hf"),
        "LMMS_EVAL_DATASETS_CACHE": str(root / "hf" / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "HF_ENDPOINT": hub.url,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
    }
    yield {"root": root, "env": env, "hub": hub}
    hub.socket.close()


@pytest.fixture(scope="module")
def world(base):
    import _lmms_dataset

    root, env = base["root"], base["env"]
    dataset = _lmms_dataset.build(root)
    # the same dataset with two videos deleted after it was built
    broken = root / "broken"
    shutil.copytree(dataset, broken)
    deleted = [broken / "videos_real/davis/tram.mp4", broken / "videos_synthetic/synth_002.mp4"]
    for path in deleted:
        path.unlink()
    model = ["--model", "vlm4d_random", "--model_args", "seed=1"]
    lmms = {  # lmms-eval runs, started together; each test waits for its own
        "deleted_videos": [
            "--no-preflight", "--dataset", str(broken), *model, "--tasks", "vlm4d_mc",
            "--output_path", str(root / "out_deleted"),
        ],
        "unknown_model": [
            "--no-preflight", "--dataset", str(dataset), "--model", "no_such_model",
            "--tasks", "vlm4d_real_mc",
        ],
        "probe_no_dataset": ["--no-preflight", *model, "--tasks", "vlm4d_probe_mc"],
        "ok_output_path": [
            "--dataset", str(dataset), *model, "--tasks", "vlm4d_real_mc", "--limit", "4",
            "--output_path", str(root / "out_ok"),
        ],
        "ok_printed": ["--dataset", str(dataset), *model, "--tasks", "vlm4d_probe_mc"],
    }  # fmt: skip
    runs = {name: Run(args, env) for name, args in lmms.items()}
    yield {**base, "dataset": dataset, "broken": broken, "deleted": deleted, "runs": runs}
    for run in runs.values():
        if run.process.poll() is None:
            run.process.kill()


# --------------------------------------------------------------------------------------------
# `--tasks list`


def _declared_names() -> dict[str, str]:
    """name -> kind, read from the YAML files with a plain line scan (not the code under test)."""
    names = {}
    for path in TASKS.glob("*.yaml"):
        text = path.read_text()
        group = re.search(r"^group: (\S+)$", text, re.M)
        task = re.search(r"^task: (\S+)$", text, re.M)
        if group:
            names[group.group(1)] = "group"
        elif task:
            names[task.group(1)] = "task"
    return names


@pytest.mark.lmms
def test_task_list_prints_every_task_and_group_and_nothing_else(base):
    declared = _declared_names()
    assert len(declared) >= 20 and "vlm4d_mc" in declared and "vlm4d_probe_mc" in declared
    run = vlm4d_eval(["--tasks", "list"], base["env"])
    assert run.status == 0 and run.stderr == "", run
    lines = run.stdout.splitlines()
    listed = {line.split()[0]: line.split()[1] for line in lines}
    assert listed == declared and len(lines) == len(declared)
    for line in lines:
        name, kind, description = line.split(maxsplit=2)
        assert description.strip(), line
    assert run.elapsed < 3.0, run.elapsed
    # one line of description each, from the YAMLs
    by_name = {line.split()[0]: line for line in lines}
    assert "VLM4D (chain of thought) = vlm4d_real_mc + vlm4d_synthetic_mc" in by_name["vlm4d_mc"]
    assert "VLM4D (direct output): real questions" in by_name["vlm4d_real_mc_direct"]
    # `vlm4d tasks` is the same list; the list variants of lmms-eval filter it
    same = subprocess.run([*VLM4D, "tasks"], env=base["env"], capture_output=True, text=True)
    assert same.returncode == 0 and same.stdout == run.stdout
    groups = vlm4d_eval(["--tasks", "list_groups"], base["env"])
    assert {line.split()[0] for line in groups.stdout.splitlines()} == {
        name for name, kind in declared.items() if kind == "group"
    }


def test_task_descriptions_come_from_aliases_comments_and_groups(tmp_path):
    from vlm4d_tasks.cli.tasks import description, expand, task_index

    (tmp_path / "_tmpl_yaml").write_text("# a template\nprocess_docs: !function m.real_docs\n")
    (tmp_path / "g.yaml").write_text("group: g\ngroup_alias: The G\ntask: [t1, t2]\n")
    (tmp_path / "t1.yaml").write_text("include: _tmpl_yaml\ntask: t1\n")
    (tmp_path / "t2.yaml").write_text("include: _tmpl_yaml\ntask: t2\ntask_alias: Two\n")
    (tmp_path / "t3.yaml").write_text("# Third: its own comment\ninclude: _tmpl_yaml\ntask: t3\n")
    (tmp_path / "t4.yaml").write_text(
        "include: _tmpl_yaml\ntask: t4\nprocess_docs: !function m.probe_docs\n"
    )
    index = task_index(tmp_path)
    assert sorted(index) == ["g", "t1", "t2", "t3", "t4"]  # the template is no task
    assert description(index["g"], index) == "The G = t1 + t2"
    assert description(index["t1"], index) == "The G: real questions"
    assert description(index["t2"], index) == "Two"
    assert description(index["t3"], index) == "Third: its own comment"
    assert description(index["t4"], index) == "The G: probe questions"  # the template's group
    assert [e.name for e in expand(["g", "t3", "t1", "other", "t*"], index)] == [
        "t1", "t2", "t3", "t4",
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------
# The preflight: fails before lmms-eval starts


@pytest.mark.lmms
def test_preflight_missing_videos_fails_fast_without_starting_lmms_eval(world):
    run = vlm4d_eval(
        ["--dataset", str(world["broken"]), "--model", "vlm4d_random", "--tasks", "vlm4d_mc"],
        world["env"],
    )
    assert run.status == 2, run
    assert run.last_line.startswith("vlm4d eval: preflight: 2 of 6 videos"), run
    assert str(world["deleted"][0]) in run.last_line and "--videos" in run.last_line
    for path in world["deleted"]:  # every missing file listed, with a question that needs it
        assert f"vlm4d eval: missing video {path} (question " in run.stderr
    assert not run.started_lmms_eval() and run.stdout == "", run
    # far faster than lmms-eval takes to reach the same video (its run without preflight)
    lmms = world["runs"]["deleted_videos"].wait()
    assert lmms.started_lmms_eval()
    assert run.elapsed < lmms.elapsed / 2, (run.elapsed, lmms.elapsed)


@pytest.mark.lmms
def test_preflight_respects_limit(world):
    # --limit 1: the first question of each subset has a video, so nothing is missing; the
    # check goes on to the model name, which fails here, before lmms-eval starts
    run = vlm4d_eval(
        ["--dataset", str(world["broken"]), "--model", "vlm4d_randm", "--tasks",
         "vlm4d_synthetic_mc", "--limit", "1"],
        world["env"],
    )  # fmt: skip
    assert run.status == 2, run
    assert "model 'vlm4d_randm' is not registered with lmms-eval" in run.last_line
    assert "did you mean vlm4d_random" in run.last_line
    assert "'Adding your model'" in run.last_line and "lmms_eval.models" in run.last_line
    assert not run.started_lmms_eval(), run


@pytest.mark.lmms
def test_preflight_unknown_model_and_default_model(world):
    run = vlm4d_eval(
        ["--dataset", str(world["dataset"]), "--model", "no_such_model", "--tasks",
         "vlm4d_real_mc"],
        world["env"],
    )  # fmt: skip
    assert run.status == 2, run
    assert run.last_line.startswith(
        "vlm4d eval: preflight: model 'no_such_model' is not registered with lmms-eval"
    )
    assert "README.md, section 'Adding your model'" in run.last_line
    assert not run.started_lmms_eval(), run


@pytest.mark.lmms
def test_preflight_dataset_not_found(world, tmp_path):
    not_a_dataset = tmp_path / "videos"
    not_a_dataset.mkdir()
    env = {**world["env"], "VLM4D_DATASET": str(not_a_dataset)}
    run = vlm4d_eval(["--model", "vlm4d_random", "--tasks", "vlm4d_mc"], env)
    assert run.status == 2, run
    assert run.last_line.startswith("vlm4d eval: preflight: dataset not found: VLM4D_DATASET=")
    assert "is not a dataset folder made by `vlm4d build-dataset`" in run.last_line
    assert "vlm4d build-dataset --annotations DIR --videos VIDEOS --out DATASET" in run.last_line
    assert "vlm4d eval --dataset DATASET" in run.last_line
    assert not run.started_lmms_eval(), run
    missing = vlm4d_eval(["--dataset", str(tmp_path / "nope"), "--tasks", "vlm4d_mc"], env)
    assert missing.status == 2, missing
    assert missing.last_line.startswith(f"vlm4d eval: --dataset {tmp_path / 'nope'}: no such")
    assert "vlm4d build-dataset" in missing.last_line


@pytest.mark.lmms
def test_preflight_misspelt_task_and_no_task(world):
    run = vlm4d_eval(["--dataset", str(world["dataset"]), "--tasks", "vlm4d_mc_direkt"],
                     world["env"])  # fmt: skip
    assert run.status == 2, run
    assert "task 'vlm4d_mc_direkt' not found (did you mean vlm4d_mc_direct" in run.last_line
    assert "`vlm4d eval --tasks list`" in run.last_line
    none = vlm4d_eval(["--dataset", str(world["dataset"]), "--model", "vlm4d_random"],
                      world["env"])  # fmt: skip
    assert none.status == 2 and "no --tasks given" in none.last_line, none


@pytest.mark.lmms
def test_preflight_without_dataset_names_the_hub_and_stops_when_it_is_unreachable(world):
    run = vlm4d_eval(["--model", "vlm4d_random", "--tasks", "vlm4d_mc"], world["env"])
    assert run.status == 2, run
    assert run.last_line == (
        "vlm4d eval: preflight: without --dataset the questions come from the Hugging Face "
        "hub, which cannot be reached (HF_HUB_OFFLINE is set). Build one with `vlm4d "
        "build-dataset --annotations DIR --videos VIDEOS --out DATASET` (the release's "
        "real_mc.json / synthetic_mc.json and its videos) and pass `vlm4d eval --dataset "
        "DATASET` (or set VLM4D_DATASET=DATASET)."
    )
    assert not run.started_lmms_eval() and world["hub"].connections == 0


@pytest.mark.lmms
def test_probe_without_dataset_gives_the_recipe_and_makes_no_network_call(world):
    run = vlm4d_eval(["--model", "vlm4d_random", "--tasks", "vlm4d_probe_mc"], world["env"])
    assert run.status == 2, run
    assert run.last_line.startswith("vlm4d eval: preflight: dataset not found: the probe")
    assert all(part in run.last_line for part in PROBE_RECIPE), run.last_line
    assert not run.started_lmms_eval(), run
    # the same inside lmms-eval, where the task's own process_docs raises it
    lmms = world["runs"]["probe_no_dataset"].wait()
    assert lmms.status == 1 and lmms.started_lmms_eval(), lmms
    assert lmms.last_line.startswith("vlm4d eval: dataset not found: the probe"), lmms
    assert all(part in lmms.last_line for part in PROBE_RECIPE), lmms.last_line
    assert "HubUnavailableError" not in lmms.stderr
    assert world["hub"].connections == 0


def test_probe_docs_never_reach_for_the_hub(monkeypatch):
    """In process: no dataset, and any connection attempt would be recorded."""
    from vlm4d_tasks.lmms import data as lmms_data
    from vlm4d_tasks.lmms import task as lmms_task

    attempts = []

    def connect(self, address):
        attempts.append(address)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.delenv("VLM4D_DATASET", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(lmms_data.DatasetNotFoundError) as err:
        lmms_task.probe_docs([{"repo_id": "shijiezhou/VLM4D", "revision": "main"}])
    assert all(part in str(err.value) for part in PROBE_RECIPE)
    assert attempts == []


# --------------------------------------------------------------------------------------------
# lmms-eval's own failures (--no-preflight), read from its output


@pytest.mark.lmms
def test_deleted_videos_logged_by_lmms_eval_exit_non_zero(world):
    run = world["runs"]["deleted_videos"].wait()
    assert "Error during evaluation" in run.stdout  # lmms-eval logged it (and exited 0)
    assert run.status == 1, run
    # the cause, recounted: both deleted files, not just the first one lmms-eval hit
    assert run.last_line.startswith("vlm4d eval: 2 of 6 videos of the selected tasks are missing")
    assert str(world["deleted"][0]) in run.last_line
    assert not list((world["root"] / "out_deleted").rglob("*_results.json"))


@pytest.mark.lmms
def test_unknown_model_logged_by_lmms_eval_exits_non_zero(world):
    run = world["runs"]["unknown_model"].wait()
    assert "not found in available models" in run.stdout + run.stderr
    assert run.status == 1, run
    assert run.last_line.startswith(
        "vlm4d eval: model 'no_such_model' is not registered with lmms-eval"
    )
    assert "'Adding your model'" in run.last_line


@pytest.mark.lmms
def test_good_runs_exit_zero(world):
    with_output = world["runs"]["ok_output_path"].wait()
    assert with_output.status == 0, with_output
    assert "vlm4d eval: preflight passed: " in with_output.stderr
    (results,) = (world["root"] / "out_ok").rglob("*_results.json")
    assert with_output.last_line == f"vlm4d eval: results: {results}"
    printed = world["runs"]["ok_printed"].wait()  # no --output_path: the table was printed
    assert printed.status == 0, printed
    assert "vlm4d_probe_mc" in printed.stdout and "accuracy" in printed.stdout
    assert world["hub"].connections == 0


# --------------------------------------------------------------------------------------------
# Reading lmms-eval's output


HUB_TRACE = """\
Traceback (most recent call last):
httpx.ConnectError: [Errno 111] Connection refused
The above exception was the direct cause of the following exception:
vlm4d_tasks.data.hub.HubUnavailableError: cannot reach the Hugging Face hub for \
http://127.0.0.1:9 (ConnectError: [Errno 111] Connection refused). Pass a local folder with \
real_mc.json and synthetic_mc.json instead (--annotations DIR).
tenacity.RetryError: RetryError[<Future at 0x7f state=finished raised HubUnavailableError>]
"""
ERROR_LOG = (
    "\x1b[32m2026-12-01 07:05:40\x1b[0m | \x1b[31m\x1b[1mERROR   \x1b[0m | "
    "\x1b[36mlmms_eval.__main__\x1b[0m:\x1b[36mcli_evaluate\x1b[0m:\x1b[36m614\x1b[0m - "
    "\x1b[31m\x1b[1mError during evaluation: {}. Please set `--verbosity=DEBUG` to get more "
    "information.\x1b[0m\n"
)


def _scan(stdout: str = "", stderr: str = "", chunk: int = 7):
    from vlm4d_tasks.cli.eval import OutputScan

    scan = OutputScan()
    for stream, text in (("stdout", stdout), ("stderr", stderr)):
        data = text.encode()
        for i in range(0, len(data), chunk):  # lines split across reads
            scan.feed(stream, data[i : i + chunk])
    scan.close()
    return scan


def test_diagnose_reads_the_root_cause_from_lmms_eval_output():
    from vlm4d_tasks.cli.eval import diagnose

    hub = _scan(ERROR_LOG.format("RetryError[<Future raised HubUnavailableError>]"), HUB_TRACE)
    assert hub.evaluation_failed and not hub.results_printed
    assert diagnose(hub).startswith(
        "without --dataset the questions come from the Hugging Face hub, which cannot be "
        "reached (http://127.0.0.1:9: ConnectError: [Errno 111] Connection refused). Build one"
    )
    model = _scan(ERROR_LOG.format("Model 'x' not found in available models: a, b, c"))
    assert diagnose(model).startswith("model 'x' is not registered with lmms-eval.")
    other = _scan(ERROR_LOG.format("boom"), "Traceback (most recent call last):\nKeyError: 'k'\n")
    assert diagnose(other) == "lmms-eval failed: KeyError: 'k' (the output above has the details)"
    assert diagnose(_scan(), status=137) == (
        "lmms-eval exited with status 137 (killed by signal 9); its output above says why"
    )
    table = _scan("vlm4d_random (seed=1), gen_kwargs: ({}), limit: None, offset: 0, x\n")
    assert table.results_printed and not table.evaluation_failed


def test_limit_and_offset_select_the_documents_lmms_eval_runs():
    from vlm4d_tasks.cli.eval import _window

    assert _window(10, None, None) == range(10)
    assert _window(10, "3", None) == range(3)
    assert _window(10, "0.25", None) == range(3)  # ceil(10 * 0.25)
    assert _window(10, "-1", "2") == range(2, 10)
    assert _window(10, "4", "8") == range(8, 10)
    assert _window(10, "0", None) == range(10)  # lmms-eval: 0 is no limit
