"""Shared fixtures. Tests never read the reference data beside the project: they write their own."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the tests' own helper modules

# The hub cannot be reached from tests; keep huggingface_hub and datasets from trying.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# The suite's annotation fixtures are its own small files, not the official release, so the
# content pin (vlm4d_tasks/data/release.py) is relaxed for it; tests/test_release.py checks the pin
# itself with this variable removed.
os.environ["VLM4D_ALLOW_UNOFFICIAL_ANNOTATIONS"] = "1"


@pytest.fixture
def annotations_dir(tmp_path: Path) -> Path:
    from _annotation_fixtures import write_annotations

    return write_annotations(tmp_path / "annotations")


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty, private Hugging Face cache for tests that load datasets."""
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    return home


@pytest.fixture(autouse=True, scope="session")
def _private_caches(tmp_path_factory: pytest.TempPathFactory):
    """Frame and judge caches in a temp folder, for this process and its subprocesses."""
    root = tmp_path_factory.mktemp("vlm4d_cache")
    os.environ["VLM4D_CACHE_DIR"] = str(root)
    os.environ["VLM4D_FRAME_CACHE_DIR"] = str(root / "frames")
    yield


@pytest.fixture(scope="module")
def task_manager(tmp_path_factory):
    """lmms-eval's task index of this package's task folder only (tests/test_lmms_tasks.py,
    tests/test_lmms_variants.py)."""
    from lmms_eval.tasks import TaskManager

    tasks = Path(__file__).resolve().parents[1] / "vlm4d_tasks" / "lmms" / "tasks"
    # lmms-eval caches the tasks' source file (a one-row JSON dataset): keep it out of ~/.cache
    previous = os.environ.get("LMMS_EVAL_DATASETS_CACHE")
    os.environ["LMMS_EVAL_DATASETS_CACHE"] = str(tmp_path_factory.mktemp("lmms_datasets"))
    yield TaskManager(include_path=str(tasks), include_defaults=False)
    if previous is None:
        os.environ.pop("LMMS_EVAL_DATASETS_CACHE", None)
    else:
        os.environ["LMMS_EVAL_DATASETS_CACHE"] = previous


# Test tiers (`make test-fast`): a test that starts another process carries one of these
# markers (registered in setup.cfg), and the fast tier deselects them all. The guard below keeps
# the markers true: an unmarked test that starts a process fails at once, instead of silently
# making the fast tier slow. It runs in the whole suite too, so that CI (`make test`) sees an
# unmarked test before `make test-fast` does.
PROCESS_MARKERS = ("lmms", "subprocess", "pip", "browser")
# Probes that libraries run once per process, in milliseconds, whatever the test: `uname -p`
# (platform.processor(), via openai's client headers) and `ldconfig -p` (ctypes.util.find_library,
# on importing torch). They do not make a test slow, so the guard lets them through.
LIBRARY_PROBES = frozenset({"uname", "ldconfig"})


def pytest_configure(config: pytest.Config) -> None:
    # Marked tests run untouched; only unmarked ones are patched, in every tier.
    config.pluginmanager.register(_ProcessGuard(), "vlm4d-process-guard")


class _ProcessGuard:
    """Fails an unmarked test that starts a process: subprocess.Popen (which subprocess.run and
    friends use), os.posix_spawn[p] (the Chromium test) and os.system are refused while it runs.
    The refusal raises pytest's Failed (a BaseException, so `except Exception` in the code under
    test does not swallow it), and the report is failed even if something caught it anyway."""

    def __init__(self) -> None:
        self.started: list = []  # the commands refused during the current test
        self.unreported = False  # a refusal not yet in a failed report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None):
        if any(item.get_closest_marker(name) for name in PROCESS_MARKERS):
            return (yield)
        import subprocess

        patches = pytest.MonkeyPatch()

        def refuse(original, what):  # what: the call's arguments -> the command it starts
            def refused(*args, **kwargs):
                command = what(*args, **kwargs)
                if _program(command) in LIBRARY_PROBES:
                    return original(*args, **kwargs)
                self.started.append(command)
                self.unreported = True
                pytest.fail(self.message(item), pytrace=False)

            return refused

        patches.setattr(
            subprocess.Popen,
            "__init__",
            refuse(subprocess.Popen.__init__, lambda _, args=(), *a, **k: args),
        )
        for name in ("posix_spawn", "posix_spawnp"):
            if hasattr(os, name):
                patches.setattr(
                    os, name, refuse(getattr(os, name), lambda path, argv, *a, **k: argv)
                )
        patches.setattr(os, "system", refuse(os.system, lambda command: command))
        self.started.clear()
        try:
            return (yield)
        finally:
            patches.undo()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        report = yield
        if self.unreported and report.passed:
            # the refusal was caught by the code under test: fail the phase all the same
            report.outcome = "failed"
            report.longrepr = self.message(item)
        self.unreported = False
        return report

    def message(self, item: pytest.Item) -> str:
        last = self.started[-1] if self.started else "?"
        command = (last if isinstance(last, str) else " ".join(map(str, last)))[:200]
        return (
            f"{item.nodeid} starts a process ({command}) but carries none of the markers "
            f"{', '.join(PROCESS_MARKERS)}: mark it @pytest.mark.subprocess (or lmms, pip, "
            "browser) so that `make test-fast` leaves it out (tests/conftest.py)"
        )


def _program(command) -> str:
    """The base name of the program a command runs (a string command: its first word)."""
    if isinstance(command, (str, bytes)):
        words = command.split()
    else:
        words = [command] if isinstance(command, os.PathLike) else list(command)
    first = os.fsdecode(words[0]) if words else ""
    return os.path.basename(first)
