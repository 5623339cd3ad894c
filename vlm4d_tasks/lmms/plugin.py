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
"""

from __future__ import annotations

import functools
import inspect
import logging
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


def register_tasks() -> list:
    """The `lmms_eval.models` entry point: adds the tasks (see the module doc); no models."""
    install()
    return []
