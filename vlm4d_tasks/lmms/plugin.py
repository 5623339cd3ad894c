"""Plain `lmms-eval --tasks vlm4d_mc`: our task folder in lmms-eval's task index, no flag needed.

lmms-eval 0.7.3 has no entry point for task folders, and `LMMS_EVAL_PLUGINS` adds a plugin's
folder only after `TaskManager` has indexed the tasks (`__main__.cli_evaluate_single`), so
plugin tasks are "not found". What it does load early is the `lmms_eval.models` entry-point
group: `lmms_eval.models` imports every entry point when it is first imported, which the
evaluator does before any `TaskManager` exists. `register_tasks` is such an entry point
(setup.cfg); it registers no model and wraps `TaskManager.initialize_tasks` once so that every
index also holds this package's tasks. docs/lmms-eval-plugin-tasks.md has the upstream fix
that would make this unnecessary.

The wrapper is feature-detected: when `initialize_tasks` does not take `include_path` and
`include_defaults` as 0.7.3 does, it changes nothing and logs one warning; `vlm4d eval` and
`--include_path` keep working. A name clash with a built-in task (lmms-eval lets built-ins win
silently) is resolved in favour of this package, with a warning on every index that names the
task and the file it replaces, so it cannot go unnoticed.

Not covered: `lmms-eval tasks list` (that subcommand never imports the models) and a bare
`TaskManager()` in code that has not imported `lmms_eval.models`; pass `include_path` there.

The same entry point completes the standard errors of our groups in lmms-eval's table
(`install_group_stderr`): lmms-eval pools only its bootstrap `_stderr` into a group's row, so
the CLT and video-clustered ones that our tasks report stay `N/A` there.
docs/lmms-eval-group-stderr.patch is the upstream fix that would make this unnecessary.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import os
from typing import Any

log = logging.getLogger(__name__)

MARK = "_vlm4d_tasks_wrapped"  # set on the wrapper: installing twice wraps once
# Set once a warning was printed, and inherited by child processes: `vlm4d eval` checks the
# model registry itself, then starts lmms-eval, and the user should read the warning once.
WARNED_ENV = "VLM4D_TASKS_PLUGIN_WARNED"
_warned: set[str] = set()


def task_folder() -> str:
    """The installed folder of the task YAMLs."""
    from importlib import resources

    return str(resources.files("vlm4d_tasks.lmms.tasks"))


def _warn_once(key: str, message: str) -> None:
    if key not in _warned and key not in os.environ.get(WARNED_ENV, "").split(","):
        _warned.add(key)
        _logger().warning(message)
        os.environ[WARNED_ENV] = ",".join(sorted(_warned))


def _logger() -> Any:
    # lmms-eval logs with loguru; use it when it is there so the message shows in its output.
    try:
        from loguru import logger

        return logger
    except ImportError:  # pragma: no cover - loguru comes with lmms-eval
        return log


def _paths(include_path: Any) -> list[str]:
    if include_path is None:
        return []
    return [include_path] if isinstance(include_path, str) else list(include_path)


def _same(a: str, b: str) -> bool:
    return os.path.realpath(a).rstrip("/") == os.path.realpath(b).rstrip("/")


def install() -> bool:
    """Wrap `TaskManager.initialize_tasks` (once). True when the tasks are now indexed."""
    try:
        from lmms_eval.tasks import TaskManager
    except ImportError:
        return False
    original = TaskManager.initialize_tasks
    if getattr(original, MARK, False):
        return True
    parameters = inspect.signature(original).parameters
    if not {"include_path", "include_defaults"} <= set(parameters):
        _warn_once(
            "signature",
            "vlm4d-tasks: this lmms-eval's TaskManager.initialize_tasks has another signature "
            f"{inspect.signature(original)}; the VLM4D tasks are not added to its index. Use "
            "`vlm4d eval ...` or pass --include_path "
            f"{task_folder()}",
        )
        return False

    @functools.wraps(original)
    def initialize_tasks(self, include_path=None, include_defaults=True, *args, **kwargs):
        ours = task_folder()
        paths = [p for p in _paths(include_path) if not _same(p, ours)]
        index = original(self, [*paths, ours], include_defaults, *args, **kwargs)
        own = original(self, [ours], False, *args, **kwargs)
        for name, entry in sorted(own.items()):
            other = index.get(name)
            if other is not None and other.get("yaml_path") != entry.get("yaml_path"):
                _logger().warning(
                    f"vlm4d-tasks: the task name {name!r} is also defined by "
                    f"{other.get('yaml_path')}; the VLM4D task ({entry.get('yaml_path')}) is used"
                )
            index[name] = entry
        return index

    setattr(initialize_tasks, MARK, True)
    TaskManager.initialize_tasks = initialize_tasks
    return True


STDERR_KINDS = ("_stderr_clt,", "_stderr_clustered,")
GROUP_MARK = "_vlm4d_group_stderr"


def group_stderrs(results: dict, task_lists: dict) -> None:
    """Fill the CLT and clustered standard errors of each VLM4D group's metrics, in place.

    A group's value is the pooled accuracy of disjoint subtasks (`lmms.metric.pooled`: real and
    synthetic share no video), so its standard error is that of a stratified mean with the
    strata sizes fixed by the benchmark: sqrt(sum((n_i / N)^2 * se_i^2)), n_i the questions a
    subtask scored for that metric. Only groups named `vlm4d*` whose subtasks are all ours and
    all report the standard error are touched, and a value lmms-eval computed is never replaced.
    """
    from vlm4d_tasks.lmms.metric import CountedAccuracy

    for group, tasks in task_lists.items():
        if not str(group).startswith("vlm4d") or group not in results:
            continue
        if not tasks or not all(str(task).startswith("vlm4d") for task in tasks):
            continue
        row = results[group]
        for key, value in list(row.items()):
            if not isinstance(value, CountedAccuracy) or "_stderr" in key:
                continue
            parts = [results[task][key] for task in tasks if key in results.get(task, {})]
            sizes = [part.scored if isinstance(part, CountedAccuracy) else None for part in parts]
            total = sum(size or 0 for size in sizes)
            for kind in STDERR_KINDS:
                name = kind.join(key.split(",", 1))
                if isinstance(row.get(name), (int, float)):
                    continue
                errors = [results[task].get(name) for task in tasks if key in results[task]]
                usable = all(isinstance(e, (int, float)) and math.isfinite(e) for e in errors)
                if not parts or not usable or None in sizes or total == 0:
                    continue
                row[name] = math.sqrt(sum((n / total) ** 2 * e**2 for n, e in zip(sizes, errors)))


def install_group_stderr() -> bool:
    """Wrap lmms-eval's `consolidate_group_results` (once) so that our groups' rows get the
    standard errors of `group_stderrs`. Feature-detected like `install`: another signature or
    return shape changes nothing and logs one warning (the rows then show `N/A`, as before)."""
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
        _warn_once(
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
            group_stderrs(out[0], out[3])
        return out

    setattr(consolidate_group_results, GROUP_MARK, True)
    # `lmms_eval.evaluator` binds the name when it is imported, which is after the models (and
    # so this entry point) in 0.7.3; an evaluator imported earlier is patched too.
    evaluator_utils.consolidate_group_results = consolidate_group_results
    import sys

    evaluator = sys.modules.get("lmms_eval.evaluator")
    if getattr(evaluator, "consolidate_group_results", None) is original:
        evaluator.consolidate_group_results = consolidate_group_results
    return True


RUN_ID_MARK = "_vlm4d_run_id"


def install_run_id() -> bool:
    """Wrap lmms-eval's `EvaluationTracker.save_results_aggregated` (once) so that our table
    and score JSON take the run id of the results file it has just written.

    lmms-eval 0.7.3 names a run's files by `datetime_str`, a timestamp `cli_evaluate_single`
    takes before the evaluation starts and saves with after it ends; aggregation, which writes
    ours, sees neither. Stamped at aggregation time, ours got another second on any run longer
    than a moment. The tracker knows the id (`date_id`) and the folder once it has saved, so
    ours are renamed there (`lmms.run.Run.adopt_run_id`). Feature-detected like `install`: an
    lmms-eval without this method or `date_id` keeps our own stamp, with one warning
    (`vlm4d eval` still pairs the files by their times).
    """
    try:
        from lmms_eval.loggers.evaluation_tracker import EvaluationTracker
    except ImportError:
        return False
    original = getattr(EvaluationTracker, "save_results_aggregated", None)
    if original is None:
        _warn_once(
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
        from pathlib import Path

        from vlm4d_tasks.lmms.run import current_run

        date_id = getattr(self, "date_id", None)
        config = getattr(self, "general_config_tracker", None)
        name = getattr(config, "model_name_sanitized", None)
        base = getattr(self, "output_path", None)
        if isinstance(date_id, str) and isinstance(name, str) and base:
            folder = Path(base) / name
            if (folder / f"{date_id}_results.json").is_file():  # lmms-eval saved it
                current_run().adopt_run_id(date_id, folder)
        return out

    setattr(save_results_aggregated, RUN_ID_MARK, True)
    EvaluationTracker.save_results_aggregated = save_results_aggregated
    return True


def register_tasks() -> list:
    """The `lmms_eval.models` entry point: adds the tasks and completes the groups' standard
    errors (see the module doc); registers no model."""
    install()
    install_group_stderr()
    return []
