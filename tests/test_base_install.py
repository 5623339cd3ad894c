"""The base install (`pip install vlm4d-tasks`, no extras) builds, scores and reports.

The lmms extra brings torch and its CUDA wheels (a 7 GB virtualenv); scoring, reporting and
the dataset build need none of it. The `vlm4d` CLI runs here in a subprocess whose
`sitecustomize` hides torch, torchvision, transformers, accelerate, lmms-eval and decord
from the import system and from `importlib.metadata`, as if they were not installed: an
`import torch` added at the top of a module that these commands load makes them fail here.
`vlm4d eval` must then say which extra to install. The wheel's metadata is checked too: its
requirements without an extra name none of these packages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from _annotation_fixtures import REAL, SYNTHETIC, write_annotations
from _judge_server import ScriptedChatServer
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# Import names and distribution names of what only the lmms and dev extras install.
HIDDEN_MODULES = ("torch", "torchvision", "transformers", "accelerate", "lmms_eval", "decord")
HIDDEN_DISTRIBUTIONS = ("torch", "torchvision", "transformers", "accelerate", "lmms-eval", "decord")
EXTRA_HINT = "pip install 'vlm4d-tasks[lmms]'"

# Wraps every finder already on sys.meta_path (the path finder, the editable install's finder)
# rather than adding one that raises: a package that is not installed is *not found*
# (`importlib.util.find_spec` gives None, `import` raises ModuleNotFoundError, metadata lookups
# raise PackageNotFoundError), and libraries that probe for torch (datasets does) must see
# exactly that, not an error a real base install would never raise.
SITECUSTOMIZE = textwrap.dedent(
    """
    import re
    import sys

    MODULES = {modules!r}
    DISTRIBUTIONS = {distributions!r}


    def _hidden(name):
        return name.partition(".")[0] in MODULES


    class _WithoutExtras:
        def __init__(self, finder):
            self._finder = finder

        def find_spec(self, name, path=None, target=None):
            if _hidden(name):
                return None
            return self._finder.find_spec(name, path, target)

        def find_distributions(self, *args, **kwargs):
            find = getattr(self._finder, "find_distributions", None)
            for dist in find(*args, **kwargs) if find else ():
                if re.sub(r"[-_.]+", "-", dist.metadata["Name"] or "").lower() not in DISTRIBUTIONS:
                    yield dist

        def invalidate_caches(self):
            if hasattr(self._finder, "invalidate_caches"):
                self._finder.invalidate_caches()


    for _name in [n for n in sys.modules if _hidden(n)]:
        del sys.modules[_name]
    sys.meta_path[:] = [_WithoutExtras(finder) for finder in sys.meta_path]
    """
).format(modules=set(HIDDEN_MODULES), distributions=set(HIDDEN_DISTRIBUTIONS))


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a subprocess that sees a base install: the extras' packages hidden."""
    site = tmp_path / "without_extras"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    # Kept after ours: a PYTHONPATH the suite runs under (another checkout) still applies.
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "VLM4D_CACHE_DIR": str(tmp_path / "cache")}
    # The hiding must hold, or every test below would pass on a full install for nothing.
    probe = (
        "import importlib.metadata as md, importlib.util as u\n"
        f"for name in {HIDDEN_MODULES!r}:\n"
        "    assert u.find_spec(name) is None, name\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ModuleNotFoundError:\n"
        "        pass\n"
        "    else:\n"
        "        raise AssertionError(name + ' imported')\n"
        f"for dist in {HIDDEN_DISTRIBUTIONS!r}:\n"
        "    try:\n"
        "        md.version(dist)\n"
        "    except md.PackageNotFoundError:\n"
        "        pass\n"
        "    else:\n"
        "        raise AssertionError(dist + ' has metadata')\n"
        "import vlm4d_tasks, numpy\n"  # the rest of the environment is untouched
    )
    check = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert check.returncode == 0, check.stderr
    return env


def vlm4d(env: dict[str, str], *args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vlm4d_tasks.cli", *map(str, args)],
        capture_output=True, text=True, timeout=300, env=env, cwd=cwd,
    )  # fmt: skip


def _ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _letter(question: dict, value) -> str:
    return next(k for k, v in question["choices"].items() if v == value)


@pytest.mark.subprocess
def test_base_install_builds_scores_and_reports(base_env: dict[str, str], tmp_path: Path):
    annotations = write_annotations(tmp_path / "annotations")
    dataset = tmp_path / "dataset"
    _ok(vlm4d(base_env, "build-dataset", "--annotations", annotations, "--out", dataset))
    assert sorted(p.name for p in (dataset / "data").iterdir())
    stats = _ok(vlm4d(base_env, "stats", dataset)).stdout
    n_real, n_syn = len(REAL), len(SYNTHETIC)
    assert f"| questions | {n_real} | {n_syn} | {n_real + n_syn} |" in stats

    # A raw response file of the clean real questions: the first four answered right, the
    # last two with the first wrong option.
    questions = REAL[:6]
    responses = []
    for i, q in enumerate(questions):
        right = _letter(q, q["answer"])
        chosen = right if i < 4 else next(k for k in "ABCD" if k != right)
        responses.append({"id": q["id"], "question": q["question"], "choices": q["choices"],
                          "response": f"Looking at the clip. Final Answer: {chosen}",
                          "answer": q["answer"]})  # fmt: skip
    responses_file = tmp_path / "responses" / "real_mc_cot" / "modelx.json"
    responses_file.parent.mkdir(parents=True)
    responses_file.write_text(json.dumps(responses), encoding="utf-8")
    score_file = tmp_path / "score.json"
    _ok(vlm4d(base_env, "score", responses_file, "--annotations", annotations, "--json",
              score_file, "--no-progress"))  # fmt: skip
    (run,) = json.loads(score_file.read_text())["runs"]
    assert (run["subset"], run["n"], run["correct"]) == ("real", 6, 4)

    # The LLM judge's client (openai) is part of the base install: a real local endpoint.
    with ScriptedChatServer() as server:
        judged = _ok(vlm4d({**base_env, "VLM4D_JUDGE_MODEL": "local-judge",
                            "VLM4D_JUDGE_BASE_URL": server.url, "OPENAI_API_KEY": "unused"},
                           "score", responses_file, "--judge", "llm", "--json",
                           tmp_path / "judged.json", "--no-progress"))  # fmt: skip
    assert len(server.requests) == len(responses), judged.stderr
    (run,) = json.loads((tmp_path / "judged.json").read_text())["runs"]
    assert (run["correct"], run["grading"]["mode"]) == (4, "llm")

    report = tmp_path / "report"
    _ok(vlm4d(base_env, "report", score_file, "--out", report))
    written = {p.name for p in report.iterdir()}
    assert {"report.md", "report.html", "leaderboard.csv", "leaderboard.json"} <= written
    assert any(name.endswith(".png") for name in written)
    assert "modelx" in (report / "report.md").read_text(encoding="utf-8")


@pytest.mark.subprocess
def test_base_install_generates_the_probe_and_lists_tasks(base_env: dict[str, str], tmp_path):
    probe = tmp_path / "probe"
    _ok(vlm4d(base_env, "generate-probe", "--out", probe, "--n-scenes", "2", "--width", "64",
              "--height", "48", "--fps", "8", "--seconds", "1", "--jobs", "1", "--quiet"))  # fmt: skip
    questions = json.loads((probe / "probe_mc.json").read_text(encoding="utf-8"))
    assert questions and len(list((probe / "videos_probe").glob("*.mp4"))) == 2
    _ok(vlm4d(base_env, "build-dataset", "--annotations", probe, "--out", tmp_path / "ds"))
    # The task list is read from the YAMLs; it needs no lmms-eval.
    assert "vlm4d_probe_mc" in _ok(vlm4d(base_env, "tasks")).stdout
    assert "vlm4d_mc" in _ok(vlm4d(base_env, "eval", "--tasks", "list")).stdout


@pytest.mark.subprocess
@pytest.mark.parametrize("processes", ["1", "2"])
def test_eval_without_the_lmms_extra_names_it(base_env: dict[str, str], tmp_path, processes):
    probe = tmp_path / "probe"
    _ok(vlm4d(base_env, "generate-probe", "--out", probe, "--n-scenes", "1", "--width", "64",
              "--height", "48", "--fps", "8", "--seconds", "1", "--jobs", "1", "--quiet"))  # fmt: skip
    _ok(vlm4d(base_env, "build-dataset", "--annotations", probe, "--out", tmp_path / "ds"))
    # Everything else in order (dataset, videos, a registered model), so only the extra fails.
    result = vlm4d(base_env, "eval", "--dataset", tmp_path / "ds", "--videos", probe,
                   "--num-processes", processes, "--model", "vlm4d_random",
                   "--tasks", "vlm4d_probe_mc", "--limit", "1")  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "lmms-eval" in last and EXTRA_HINT in last, result.stderr
    assert ("accelerate" in last) == (processes == "2")


@pytest.mark.pip
def test_wheel_requires_no_torch_without_extras(tmp_path: Path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path / "dist")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("vlm4d_tasks-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode("utf-8").splitlines()
    requirements = [Requirement(line.split(":", 1)[1].strip())
                    for line in lines if line.startswith("Requires-Dist:")]  # fmt: skip

    def installed_with(extra: str) -> set[str]:
        # pip's own test: a requirement applies when its marker holds for the extra asked for
        # ("" for none); this machine's platform fills the other marker variables.
        return {
            canonicalize_name(r.name)
            for r in requirements
            if r.marker is None or r.marker.evaluate({"extra": extra})
        }

    base, lmms = installed_with(""), installed_with("lmms")
    assert base & set(HIDDEN_DISTRIBUTIONS) == set()
    assert {"datasets", "openai", "matplotlib"} <= base  # what scoring and reporting use
    # The parse sees the heavy packages where they belong.
    assert {"torch", "transformers", "lmms-eval", "accelerate"} <= lmms
