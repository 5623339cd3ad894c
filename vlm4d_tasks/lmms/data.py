"""Where the lmms-eval tasks get VLM4D questions and videos from.

lmms-eval names a task's dataset statically in YAML. The VLM4D tasks name a one-row source
file next to them (`tasks/vlm4d_source.json`: the official release `shijiezhou/VLM4D` at a
pinned revision) and their `process_docs` turns that row into the questions, deciding here, at
load time and never at import time:

* `VLM4D_DATASET=DIR` (or `vlm4d eval --dataset DIR`): a dataset folder made by
  `vlm4d build-dataset` (with `--videos` it also holds the videos, under each record's
  `video` path);
* otherwise the official annotations of the pinned revision are downloaded once and built into
  our normalized dataset under the Hugging Face cache (`$HF_HOME/vlm4d_tasks/datasets/`), and
  each video comes from the hub cache when a model asks for it.

The probe set is never on the hub: without `VLM4D_DATASET` its questions raise
`DatasetNotFoundError` with the recipe to make one (`PROBE_RECIPE`), and nothing is downloaded.
`local_only()` lets a check (`vlm4d eval`'s preflight) run the tasks' `process_docs` without
ever downloading: where the questions would come from the hub, it raises `DatasetNotLocalError`.

`VLM4D_VIDEO_ROOT=DIR` names another folder with the videos in the release's layout. A missing
video, or one whose path would leave its folder (`paths.contained_path`), raises
`VideoNotFoundError` naming the file and the question; it never ends the run with `sys.exit`.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlm4d_tasks.settings import DATASET, VIDEO_ROOT, Settings

DATASET_ENV = DATASET.name
VIDEO_ROOT_ENV = VIDEO_ROOT.name
SOURCE_FILE = "vlm4d_source.json"  # in vlm4d_tasks/lmms/tasks/, named by the task YAMLs
CACHE_FOLDER = "vlm4d_tasks"
PROBE_TASK = "vlm4d_probe_mc"  # the one task of the probe set's questions
BUILD_HINT = (
    "Build one with `vlm4d build-dataset --annotations DIR --videos VIDEOS --out DATASET` "
    "(the release's real_mc.json / synthetic_mc.json and its videos) and pass "
    f"`vlm4d eval --dataset DATASET` (or set {DATASET_ENV}=DATASET)."
)
PROBE_RECIPE = (
    "The probe set is never on the hub: make it with `vlm4d generate-probe --out probe` and "
    "`vlm4d build-dataset --annotations probe --subsets probe --videos probe --out DIR`, then "
    f"pass `vlm4d eval --dataset DIR` (or set {DATASET_ENV}=DIR)."
)


class DatasetNotFoundError(FileNotFoundError):
    """No usable dataset folder for the tasks; the message says how to make one."""


class DatasetNotLocalError(Exception):
    """Under `local_only()`: the questions would have to be downloaded from the hub.

    Not an OSError / ValueError / RuntimeError, so `resolve_source` never caches it as a
    failure of the run."""


_local_only = False  # set by `local_only()`: never download, raise DatasetNotLocalError


@contextlib.contextmanager
def local_only():
    """Within the block, questions that would come from the hub raise `DatasetNotLocalError`."""
    global _local_only
    before, _local_only = _local_only, True
    try:
        yield
    finally:
        _local_only = before


@dataclass(frozen=True)
class DatasetSource:
    """A built dataset folder and where its videos are (None: the hub cache)."""

    folder: Path
    video_root: Path | None
    origin: str  # "local" (VLM4D_DATASET) or "hub" (built from the official release)
    repo_id: str | None = None
    revision: str | None = None

    def describe(self) -> dict[str, Any]:
        """What a results folder records about the data of a run."""
        return {
            "origin": self.origin,
            "folder": str(self.folder),
            "repo_id": self.repo_id,
            "revision": self.revision,
            "videos": str(self.video_root) if self.video_root else "hub cache",
            "annotations": dataset_provenance(self.folder),
        }


def dataset_provenance(folder: Path) -> dict[str, Any] | None:
    """The question files' hashes (official or not) that a built folder records, or None for
    a folder built before they were recorded."""
    import json

    from vlm4d_tasks.data.dataset_repo import REPORT_JSON

    try:
        report = json.loads((Path(folder) / REPORT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return report.get("provenance") if isinstance(report, dict) else None


def hf_home() -> Path:
    """The Hugging Face cache root, from the environment as it is now (HF's own rule)."""
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "huggingface"


def official_dataset_folder(repo_id: str, revision: str) -> Path:
    return hf_home() / CACHE_FOLDER / "datasets" / repo_id.replace("/", "--") / revision


def build_official(repo_id: str, revision: str) -> Path:
    """The official release at `revision`, built into our dataset format once and cached."""
    out = official_dataset_folder(repo_id, revision)
    if (out / "README.md").is_file():
        return out
    if _local_only:
        raise DatasetNotLocalError(
            f"no {DATASET_ENV}: the questions of {repo_id}@{revision} would be downloaded from "
            f"the hub and built into {out}"
        )
    from vlm4d_tasks.data.annotations import load_annotations
    from vlm4d_tasks.data.dataset_repo import build_dataset_repo
    from vlm4d_tasks.data.hub import HubUnavailableError, download_annotations
    from vlm4d_tasks.validity.baselines import debiased_config

    try:
        annotations = load_annotations(download_annotations(repo_id, revision))
    except HubUnavailableError as exc:
        raise HubUnavailableError(
            f"{exc} For the lmms-eval tasks: set {DATASET_ENV}=DIR (or `vlm4d eval --dataset "
            "DIR`) to a folder made by `vlm4d build-dataset`."
        ) from exc
    # Build beside the target and rename: a concurrent process (another rank) never sees a
    # half-written folder, and whichever finishes first wins.
    partial = out.with_name(f"{out.name}.partial-{os.getpid()}")
    build_dataset_repo(annotations, partial, debiased=debiased_config(annotations.records))
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        partial.rename(out)
    except OSError:
        if not (out / "README.md").is_file():
            raise
        shutil.rmtree(partial, ignore_errors=True)
    return out


def source_row(descriptor: Any) -> dict[str, str]:
    """The one row of the source file (a `datasets.Dataset` or a list of dicts)."""
    rows = list(descriptor)
    if len(rows) != 1 or not {"repo_id", "revision"} <= set(rows[0]):
        raise ValueError(
            f"{SOURCE_FILE}: expected one row with 'repo_id' and 'revision', got {rows[:2]}"
        )
    return {"repo_id": str(rows[0]["repo_id"]), "revision": str(rows[0]["revision"])}


def dataset_folder(dataset: str) -> Path:
    """The folder `VLM4D_DATASET` names, resolved; `DatasetNotFoundError` when it is none."""
    folder = Path(dataset).expanduser().resolve()
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{DATASET_ENV}={dataset}: no such folder. {BUILD_HINT}")
    if not (folder / "README.md").is_file():
        raise DatasetNotFoundError(
            f"{DATASET_ENV}={dataset}: {folder} is not a dataset folder made by "
            f"`vlm4d build-dataset` (it has no README.md declaring the configs). {BUILD_HINT}"
        )
    return folder


@functools.lru_cache(maxsize=8)
def _resolve(repo_id: str, revision: str, dataset: str | None, videos: str | None):
    if dataset:
        folder = dataset_folder(dataset)
        root = Path(videos).expanduser().resolve() if videos else folder
        return DatasetSource(folder, root, "local")
    folder = build_official(repo_id, revision)
    root = Path(videos).expanduser().resolve() if videos else None
    return DatasetSource(folder, root, "hub", repo_id, revision)


# Module state, because lmms-eval hands `process_docs` and `doc_to_visual` no run context
# (the lmms-eval assumptions are listed once in `vlm4d_tasks.lmms.compat`).
_current: DatasetSource | None = None  # the source of this process's run, once resolved
_settings: dict[str, str] = {}  # visual input of the tasks that ran (for run metadata)


def note_setting(task_kind: str, setting: str) -> None:
    """Record how a kind of task feeds the model (e.g. "frames" -> "uniform-8 PIL frames")."""
    _settings[task_kind] = setting


def run_settings() -> dict[str, str]:
    return dict(sorted(_settings.items()))


_failed: dict[tuple, Exception] = {}  # lmms-eval retries a failed load 5 times: fail fast


def resolve_source(repo_id: str, revision: str, settings: Settings | None = None) -> DatasetSource:
    """The data of this run: `VLM4D_DATASET`, else the official release (see module doc); the
    variables from `settings` (default: `Settings.from_environ()`: lmms-eval calls in with no
    run context, so they are read as the run set them)."""
    global _current
    env = Settings.from_environ() if settings is None else settings
    key = (repo_id, revision, env.dataset, env.video_root)
    if key in _failed:
        raise _failed[key]
    try:
        _current = _resolve(*key)
    except (OSError, ValueError, RuntimeError) as exc:
        _failed[key] = exc
        raise
    return _current


def current_source() -> DatasetSource | None:
    """The source the tasks of this process loaded their questions from, if any yet."""
    return _current


@functools.lru_cache(maxsize=16)
def _load_config(folder: Path, config: str):
    from datasets import get_dataset_config_names

    from vlm4d_tasks.data.dataset_repo import load_split

    names = get_dataset_config_names(str(folder))
    if config not in names:
        hint = f" {PROBE_RECIPE}" if config == "probe" else ""
        if config != "probe" and "probe" in names:
            hint = (f" It holds the 4D probe set: run its task, `--tasks {PROBE_TASK}`, or pass "
                    "a dataset built from the release's question files.")  # fmt: skip
        raise ValueError(f"{folder}: the dataset has no config {config!r} (it has {names}).{hint}")
    return load_split(folder, config)


def load_docs(descriptor: Any, config: str, category: str | None = None):
    """The questions of `config` (all / real / synthetic / probe), optionally one category."""
    from vlm4d_tasks.data.schema import Category

    row = source_row(descriptor)
    settings = Settings.from_environ()  # lmms-eval's entry into our data: read once, here
    if config == "probe" and not settings.dataset:
        # Never the hub: the official release has no probe questions (see module doc).
        raise DatasetNotFoundError(f"the probe questions need {DATASET_ENV}. {PROBE_RECIPE}")
    source = resolve_source(row["repo_id"], row["revision"], settings)
    docs = _load_config(source.folder, config)
    if category is not None:
        wanted = Category(category).value  # an unknown category raises
        docs = docs.select([i for i, c in enumerate(docs["category"]) if c == wanted])
    return docs


def video_file(doc: Any) -> Path:
    """The local path of a question's video; `VideoNotFoundError` names file and question.

    Through `paths.video_path`, the one place where a video path from data is joined to a
    folder (`paths.contained_path`) or asked of the hub: a path that could leave the video
    folder is refused, never opened.
    """
    from vlm4d_tasks.data.paths import video_path

    source = _current
    if source is None:
        raise RuntimeError(f"question {doc['uid']}: no VLM4D dataset loaded in this process yet")
    return video_path(doc, source.video_root, repo_id=source.repo_id, revision=source.revision)
