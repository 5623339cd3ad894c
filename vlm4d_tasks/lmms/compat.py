"""Every dependency on lmms-eval internals, in one place: an lmms-eval upgrade is a one-file job.

Written against lmms-eval 0.7.3 (`TESTED_WITH`). Each row is a detail that is not lmms-eval's
public model API (`lmms_eval.api.model.lmms`, `lmms_eval.api.instance.Instance`,
`lmms_eval.models.registry_v2.ModelManifest`, the `lmms_eval.models` entry-point group and the
command line), where 0.7.3 has it, why we rely on it, and what happens when it is missing.
Everything that patches is feature-detected: a changed detail changes nothing and logs one
warning per process tree (`warn_once`); `vlm4d eval` and `--include_path` keep working.

| what we rely on | lmms-eval 0.7.3 file | why | when it is missing |
|---|---|---|---|
| `TaskManager.initialize_tasks(self, include_path, include_defaults)` returning `{name: {"yaml_path": ...}}` | `tasks/__init__.py` | plain `lmms-eval --tasks vlm4d_mc` finds our tasks (`wrap_initialize_tasks`) | not wrapped, one warning; use `vlm4d eval` or `--include_path` |
| `evaluator_utils.consolidate_group_results(results, versions, task_dict, task_root, ...)` returning a 4-tuple whose last item is `{group: [task, ...]}`; `lmms_eval.evaluator` binds the name at import | `evaluator_utils.py`, `evaluator.py` | our groups' rows get the CLT / clustered standard errors (`wrap_consolidate_group_results`) | not wrapped, one warning; group rows show `N/A` |
| `EvaluationTracker.save_results_aggregated` and, after it, `self.date_id`, `self.output_path`, `self.general_config_tracker.model_name_sanitized` | `loggers/evaluation_tracker.py` | our table and score JSON take the run id of `<date_id>_results.json` (`wrap_save_results_aggregated`) | not wrapped, one warning; `vlm4d eval` still pairs the files by time |
| the results folder `<--output_path>/<sanitize_model_name(name)>`, `name` from the private `EvaluationTracker._get_model_name` (copied: `MODEL_NAME_KEYS`, `model_name`) | `loggers/evaluation_tracker.py`, `utils.py` | aggregation writes our files beside lmms-eval's (`results_folder`) | our files land in another folder than `*_results.json` |
| `utils.get_datetime_str(timezone)` | `utils.py` | the provisional stamp of our files (`run_stamp`) | ImportError when a run writes its files |
| `--limit` / `--offset` windows (`evaluator_utils.get_sample_size`, `utils.create_iterator`) (copied: `sample_window`) | `evaluator_utils.py`, `utils.py` | the preflight checks the videos lmms-eval will read | the preflight checks more or fewer videos |
| `models.list_available_models(include_aliases=True)` | `models/__init__.py` | the preflight checks the model name (`MODEL_NAMES_SCRIPT`) | the check is skipped with a note |
| loguru's line format `| ERROR | ... - message`, the results banner `model (args), gen_kwargs: (...), limit: ...`, and the messages `Error during evaluation`, `Need to specify task`, `Model '...' not found in available models`, `Tasks not found: ...` | `__main__.py`, `models/registry_v2.py` | lmms-eval exits 0 on an evaluation error: `vlm4d eval` reads its output to fail (`ERROR_LOG`, `RESULTS_BANNER`, ...) | a failure is diagnosed less precisely; a missing `*_results.json` still fails the run |
| aggregation functions get the parsed command line as `args` (one namespace per evaluation), and no run id or end-of-run hook (`agg_fn(items, args=self.task.args)`) | `evaluator_utils.py` | `lmms.run.current_run(args)` keeps one run per `args` in module state | each aggregation would start a new run |
| `process_docs` / `doc_to_visual` get no run context, and a failed dataset load is retried 5 times (`@retry(stop_after_attempt(5))`) | `api/task.py` | `lmms.data` keeps the process's source in module state and remembers a failed load (`_failed`) | - |
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vlm4d_tasks.settings import PLUGIN_WARNED, Settings

TESTED_WITH = "0.7.3"

log = logging.getLogger(__name__)

# Set once a warning was printed, and inherited by child processes: `vlm4d eval` checks the
# model registry itself, then starts lmms-eval, and the user should read the warning once.
WARNED_ENV = PLUGIN_WARNED.name  # declared (internal) in `vlm4d_tasks.settings`
_warned: set[str] = set()


def _logger() -> Any:
    # lmms-eval logs with loguru; use it when it is there so the message shows in its output.
    try:
        from loguru import logger

        return logger
    except ImportError:  # pragma: no cover - loguru comes with lmms-eval
        return log


def warn_once(key: str, message: str) -> None:
    """Log `message` once per process tree (`WARNED_ENV`)."""
    if key not in _warned and key not in Settings.from_environ().plugin_warned:
        _warned.add(key)
        _logger().warning(message)
        os.environ[WARNED_ENV] = ",".join(sorted(_warned))


def warning(message: str) -> None:
    """Log `message` where lmms-eval logs (every time)."""
    _logger().warning(message)


# --------------------------------------------------------------------------------------------
# The task index: TaskManager.initialize_tasks

MARK = "_vlm4d_tasks_wrapped"  # set on the wrapper: installing twice wraps once


def _paths(include_path: Any) -> list[str]:
    if include_path is None:
        return []
    return [include_path] if isinstance(include_path, str) else list(include_path)


def _same(a: str, b: str) -> bool:
    return os.path.realpath(a).rstrip("/") == os.path.realpath(b).rstrip("/")


def wrap_initialize_tasks(folder: Callable[[], str]) -> bool:
    """Wrap `TaskManager.initialize_tasks` (once) so that every index also holds the tasks of
    `folder()`, which win a name clash (with a warning naming the file they replace). True
    when the tasks are now indexed."""
    try:
        from lmms_eval.tasks import TaskManager
    except ImportError:
        return False
    original = TaskManager.initialize_tasks
    if getattr(original, MARK, False):
        return True
    parameters = inspect.signature(original).parameters
    if not {"include_path", "include_defaults"} <= set(parameters):
        warn_once(
            "signature",
            "vlm4d-tasks: this lmms-eval's TaskManager.initialize_tasks has another signature "
            f"{inspect.signature(original)}; the VLM4D tasks are not added to its index. Use "
            "`vlm4d eval ...` or pass --include_path "
            f"{folder()}",
        )
        return False

    @functools.wraps(original)
    def initialize_tasks(self, include_path=None, include_defaults=True, *args, **kwargs):
        ours = folder()
        paths = [p for p in _paths(include_path) if not _same(p, ours)]
        index = original(self, [*paths, ours], include_defaults, *args, **kwargs)
        own = original(self, [ours], False, *args, **kwargs)
        for name, entry in sorted(own.items()):
            other = index.get(name)
            if other is not None and other.get("yaml_path") != entry.get("yaml_path"):
                warning(
                    f"vlm4d-tasks: the task name {name!r} is also defined by "
                    f"{other.get('yaml_path')}; the VLM4D task ({entry.get('yaml_path')}) is used"
                )
            index[name] = entry
        return index

    setattr(initialize_tasks, MARK, True)
    TaskManager.initialize_tasks = initialize_tasks
    return True


# --------------------------------------------------------------------------------------------
# Group rows: evaluator_utils.consolidate_group_results

GROUP_MARK = "_vlm4d_group_stderr"


def wrap_consolidate_group_results(fill: Callable[[dict, dict], None]) -> bool:
    """Wrap lmms-eval's `consolidate_group_results` (once) so that `fill(results, task_lists)`
    completes the rows after the top-level call. Another signature or return shape changes
    nothing and logs one warning (the rows then show `N/A`, as before)."""
    try:
        from lmms_eval import evaluator_utils
    except ImportError:
        return False
    original = getattr(evaluator_utils, "consolidate_group_results", None)
    if original is None:
        return False
    if getattr(original, GROUP_MARK, False):
        return True
    signature = inspect.signature(original)
    if list(signature.parameters)[:4] != ["results", "versions", "task_dict", "task_root"]:
        warn_once(
            "group_stderr",
            "vlm4d-tasks: this lmms-eval's consolidate_group_results has another signature "
            f"{signature}; VLM4D group rows keep N/A standard errors (the subtasks' rows and "
            "the *_vlm4d_score.json have them)",
        )
        return False

    @functools.wraps(original)
    def consolidate_group_results(*args, **kwargs):
        out = original(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        top = bound.arguments.get("task_root") is None  # the recursion fills in sub-groups
        if top and isinstance(out, tuple) and len(out) == 4 and isinstance(out[3], dict):
            fill(out[0], out[3])
        return out

    setattr(consolidate_group_results, GROUP_MARK, True)
    # `lmms_eval.evaluator` binds the name when it is imported, which is after the models (and
    # so this entry point) in 0.7.3; an evaluator imported earlier is patched too.
    evaluator_utils.consolidate_group_results = consolidate_group_results
    evaluator = sys.modules.get("lmms_eval.evaluator")
    if getattr(evaluator, "consolidate_group_results", None) is original:
        evaluator.consolidate_group_results = consolidate_group_results
    return True


# --------------------------------------------------------------------------------------------
# The run id: EvaluationTracker.save_results_aggregated

RUN_ID_MARK = "_vlm4d_run_id"


def wrap_save_results_aggregated(saved: Callable[[str, Path], None]) -> bool:
    """Wrap `EvaluationTracker.save_results_aggregated` (once) so that `saved(run_id, folder)`
    is called once lmms-eval has written `<folder>/<run_id>_results.json`. An lmms-eval without
    this method keeps our own stamp, with one warning."""
    try:
        from lmms_eval.loggers.evaluation_tracker import EvaluationTracker
    except ImportError:
        return False
    original = getattr(EvaluationTracker, "save_results_aggregated", None)
    if original is None:
        warn_once(
            "run_id",
            "vlm4d-tasks: this lmms-eval's EvaluationTracker has no save_results_aggregated; "
            "the *_vlm4d_table.md / *_vlm4d_score.json may carry another run id than its "
            "*_results.json",
        )
        return False
    if getattr(original, RUN_ID_MARK, False):
        return True

    @functools.wraps(original)
    def save_results_aggregated(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        date_id = getattr(self, "date_id", None)
        config = getattr(self, "general_config_tracker", None)
        name = getattr(config, "model_name_sanitized", None)
        base = getattr(self, "output_path", None)
        if isinstance(date_id, str) and isinstance(name, str) and base:
            folder = Path(base) / name
            if (folder / f"{date_id}_results.json").is_file():  # lmms-eval saved it
                saved(date_id, folder)
        return out

    setattr(save_results_aggregated, RUN_ID_MARK, True)
    EvaluationTracker.save_results_aggregated = save_results_aggregated
    return True


# --------------------------------------------------------------------------------------------
# Output naming

# lmms-eval 0.7.3 (loggers/evaluation_tracker.py) names a run's results folder
# `<--output_path>/<sanitize_model_name(name)>`, `name` being the value of the first of these
# keys found in `--model_args` (a substring search, in this order: peft and delta come with
# pretrained). Its function for it is private, so the rule is reproduced here.
MODEL_NAME_KEYS = (
    "peft=", "delta=", "pretrained=", "model=", "model_version=", "model_name=", "model_id=",
    "path=", "engine=",
)  # fmt: skip


def model_name(model_args: str) -> str:
    """The checkpoint lmms-eval names a run by, from its `--model_args` string ("" if none):
    "pretrained=Qwen/Qwen2.5-VL-7B-Instruct,fps=1" -> "Qwen/Qwen2.5-VL-7B-Instruct"."""
    for key in MODEL_NAME_KEYS:
        if key in model_args:
            return model_args.split(key)[1].split(",")[0]
    return ""


def results_folder(output_path: str, model_args: str) -> Path:
    """lmms-eval's results folder: `<output_path>/<sanitized model name>`."""
    from lmms_eval.utils import sanitize_model_name

    return Path(output_path) / sanitize_model_name(model_name(model_args))


def run_stamp(timezone: str) -> str:
    """A time stamp in lmms-eval's format (`<stamp>_results.json`)."""
    from lmms_eval.utils import get_datetime_str

    return get_datetime_str(timezone=timezone)


# --------------------------------------------------------------------------------------------
# What `vlm4d eval` copies or reads of lmms-eval's command line and output


def sample_window(count: int, limit: str | None, offset: str | None) -> range:
    """The documents lmms-eval runs under --limit / --offset (`evaluator_utils.get_sample_size`,
    `utils.create_iterator`: a fraction below 1 is a share of the documents, 0 or -1 all of
    them). A value lmms-eval would refuse selects all: lmms-eval reports it."""
    try:
        start = max(int(offset or 0), 0)
        value = float(limit) if limit is not None else 0.0
    except ValueError:
        return range(count)
    size = count
    if 0 < value < 1.0:
        size = math.ceil(count * value)
    elif value >= 1:
        size = int(value)
    return range(min(start, count), min(count, start + size))


# Run in a child process with lmms-eval's environment (see `cli.eval.ModelLookup`).
MODEL_NAMES_MARK = "vlm4d-model-names: "
MODEL_NAMES_SCRIPT = f"""
import json
try:
    import lmms_eval.models as models
    answer = {{"names": sorted(models.list_available_models(include_aliases=True))}}
except Exception as exc:  # an lmms-eval without this API: the check is skipped
    answer = {{"error": f"{{type(exc).__name__}}: {{exc}}"}}
print()
print({MODEL_NAMES_MARK!r} + json.dumps(answer))
"""

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit)): (.*)$")
ERROR_LOG = re.compile(r"\|\s*(?:ERROR|CRITICAL)\s*\|.*? - (.*)$")  # loguru's format
RESULTS_BANNER = re.compile(r"^\S+ \(.*\), gen_kwargs: \(.*\), limit: ")
# The messages lmms-eval logs at ERROR (0.7.3's wording).
EVALUATION_ERROR = "Error during evaluation"
NO_TASKS = "Need to specify task"
MODEL_NOT_FOUND = r"Model '([^']*)' not found in available models"
TASKS_NOT_FOUND = r"Tasks not found: ([^.]*)"
VERBOSITY_HINT = ". Please set `--verbosity=DEBUG`"
