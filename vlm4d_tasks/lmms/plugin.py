"""Plain `lmms-eval --tasks vlm4d_mc`: our task folder in lmms-eval's task index, no flag needed.

lmms-eval 0.7.3 has no entry point for task folders, and `LMMS_EVAL_PLUGINS` adds a plugin's
folder only after `TaskManager` has indexed the tasks (`__main__.cli_evaluate_single`), so
plugin tasks are "not found". What it does load early is the `lmms_eval.models` entry-point
group: `lmms_eval.models` imports every entry point when it is first imported, which the
evaluator does before any `TaskManager` exists. `register_tasks` is such an entry point
(setup.cfg); it registers no model and wraps `TaskManager.initialize_tasks` once so that every
index also holds this package's tasks. docs/lmms-eval-plugin-tasks.md has the upstream fix
that would make this unnecessary.

The lmms-eval internals these hooks patch, and their feature detection, are in
`vlm4d_tasks.lmms.compat`; this module says what the hooks do. The wrapper is feature-detected:
when `initialize_tasks` does not take `include_path` and `include_defaults` as 0.7.3 does, it changes nothing and logs one warning; `vlm4d eval` and
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

import math

from vlm4d_tasks.lmms import compat

STDERR_KINDS = ("_stderr_clt,", "_stderr_clustered,")


def task_folder() -> str:
    """The installed folder of the task YAMLs."""
    from importlib import resources

    return str(resources.files("vlm4d_tasks.lmms.tasks"))


def install() -> bool:
    """Add the tasks to every `TaskManager` index (once). True when the tasks are now indexed."""
    return compat.wrap_initialize_tasks(task_folder)


def group_stderrs(results: dict, task_lists: dict) -> None:
    """Fill the CLT and clustered standard errors of each VLM4D group's metrics, in place.

    A group's value is the pooled accuracy of disjoint subtasks (`lmms.metric.pooled`: real and
    synthetic share no video), so its standard error is that of a stratified mean with the
    strata sizes fixed by the benchmark: sqrt(sum((n_i / N)^2 * se_i^2)), n_i the questions a
    subtask scored for that metric. Only groups named `vlm4d*` whose subtasks are all ours and
    all report the standard error are touched, and a value lmms-eval computed is never replaced.
    """
    from vlm4d_tasks.lmms.metric import CountedAccuracy
    from vlm4d_tasks.metric.stats import stratified_stderr

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
                row[name] = stratified_stderr(sizes, errors)


def install_group_stderr() -> bool:
    """Give our groups' rows the standard errors of `group_stderrs` (once); feature-detected
    like `install` (`compat.wrap_consolidate_group_results`)."""
    return compat.wrap_consolidate_group_results(group_stderrs)


def _adopt_run_id(run_id: str, folder) -> None:
    from vlm4d_tasks.lmms.run import current_run

    current_run().adopt_run_id(run_id, folder)


def install_run_id() -> bool:
    """Make our table and score JSON take the run id of the results file lmms-eval has just
    written (once).

    lmms-eval 0.7.3 names a run's files by `datetime_str`, a timestamp `cli_evaluate_single`
    takes before the evaluation starts and saves with after it ends; aggregation, which writes
    ours, sees neither. Stamped at aggregation time, ours got another second on any run longer
    than a moment. The tracker knows the id (`date_id`) and the folder once it has saved, so
    ours are renamed there (`lmms.run.Run.adopt_run_id`). Feature-detected like `install`
    (`compat.wrap_save_results_aggregated`): without the hook `vlm4d eval` still pairs the
    files by their times.
    """
    return compat.wrap_save_results_aggregated(_adopt_run_id)


def register_tasks() -> list:
    """The `lmms_eval.models` entry point: adds the tasks and completes the groups' standard
    errors (see the module doc); registers no model."""
    install()
    install_group_stderr()
    return []
