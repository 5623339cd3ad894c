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
