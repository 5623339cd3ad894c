"""`vlm4d tasks` (and `vlm4d eval --tasks list`): the VLM4D tasks and groups, one line each.

Read straight from the task YAMLs in `vlm4d_tasks/lmms/tasks/` with a tolerant YAML loader
(`!function` and any other tag become plain strings, nothing is imported), so listing takes a
fraction of a second, where lmms-eval's `--tasks list` builds its index of ~2000 tasks first.
`vlm4d eval`'s preflight uses the same index to expand groups into their tasks.

Each line: name, kind (group or task) and a description, from the file itself (`group_alias`
or `task_alias`, else its leading comment), else derived: a group lists its tasks; a task says
which questions it asks (its `process_docs`: `real_docs` -> "real questions") in the setting of
the group whose tasks share its template (`VLM4D (chain of thought): real questions`).
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("group", "task")
# `vlm4d eval --tasks VALUE` that lists instead of running (lmms-eval's names) -> kinds shown
LISTINGS = {"list": KINDS, "list_groups": ("group",), "list_subtasks": ("task",), "list_tags": ()}


@dataclass(frozen=True)
class TaskEntry:
    """One task or group of the task folder, as its YAML declares it (includes merged)."""

    name: str
    kind: str  # "group" or "task"
    path: Path
    config: dict[str, Any] = field(repr=False)  # the merged YAML: includes first, then the file
    own: dict[str, Any] = field(repr=False)  # the keys of the file itself
    includes: tuple[Path, ...] = ()  # nearest first, transitively
    comment: str = ""  # the file's leading comment, joined into one line
    members: tuple[str, ...] = ()  # a group's tasks

    @property
    def process_docs(self) -> str | None:
        """The dotted name of the task's `process_docs` function, if any."""
        value = self.config.get("process_docs")
        return value if isinstance(value, str) else None

    @property
    def questions(self) -> str | None:
        """What the task's `process_docs` selects: `...real_docs` -> "real"."""
        if not self.process_docs:
            return None
        name = self.process_docs.rsplit(".", 1)[-1]
        return name.removesuffix("_docs").replace("_", " ")


@functools.lru_cache(maxsize=1)
def _loader():
    import yaml

    class TolerantLoader(yaml.SafeLoader):
        """Safe YAML where an unknown tag (lmms-eval's `!function x.y`) is its plain value."""

    def unknown(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return loader.construct_mapping(node)

    TolerantLoader.add_multi_constructor("!", unknown)
    return TolerantLoader


def read_yaml(path: Path) -> dict[str, Any]:
    """One YAML file, tags kept as strings; {} for a file that is empty or not a mapping."""
    import yaml

    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_loader())  # a SafeLoader
    return data if isinstance(data, dict) else {}


def leading_comment(path: Path) -> str:
    """The comment lines at the top of a YAML file, joined into one line ("" if none)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        lines.append(stripped.lstrip("#").strip())
    return " ".join(part for part in lines if part)


def _merged(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict, dict, tuple[Path, ...]]:
    """(merged config, the file's own keys, included files nearest first), with lmms-eval's
    `include` rule: the included files (the first named wins), then the file's own keys."""
    if path in seen:
        raise ValueError(f"{path}: `include` loops back to itself")
    own = read_yaml(path)
    included = own.pop("include", None)
    names = [included] if isinstance(included, str) else list(included or [])
    parts, chain = [], []
    for name in names:
        other = Path(name) if Path(name).is_absolute() else path.parent / name
        config, _, further = _merged(other, (*seen, path))
        parts.append(config)
        chain += [other, *further]
    merged: dict[str, Any] = {}
    for config in reversed(parts):
        merged.update(config)
    merged.update(own)
    return merged, own, tuple(dict.fromkeys(chain))


def tasks_folder() -> Path:
    """The installed task folder (YAMLs), found through the package like lmms-eval plugins."""
    from importlib.util import find_spec

    spec = find_spec("vlm4d_tasks.lmms.tasks")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the package vlm4d_tasks.lmms.tasks is not installed")
    return Path(list(spec.submodule_search_locations)[0])


@functools.lru_cache(maxsize=4)
def task_index(folder: Path | None = None) -> dict[str, TaskEntry]:
    """Every task and group the `*.yaml` files of `folder` declare (lmms-eval registers only
    files ending in `.yaml`; the shared templates are named without it)."""
    folder = tasks_folder() if folder is None else Path(folder)
    index: dict[str, TaskEntry] = {}
    for path in sorted(folder.glob("*.yaml")):
        config, own, chain = _merged(path)
        comment = leading_comment(path)
        group, task = config.get("group"), config.get("task")
        if isinstance(group, str) and isinstance(task, list):
            members = tuple(t if isinstance(t, str) else str(t.get("task")) for t in task)
            index[group] = TaskEntry(group, "group", path, config, own, chain, comment, members)
        elif isinstance(task, str):
            index[task] = TaskEntry(task, "task", path, config, own, chain, comment)
    return index


def expand(names: list[str], index: dict[str, TaskEntry]) -> list[TaskEntry]:
    """The tasks that `names` (tasks, groups, wildcards) run, groups expanded, in order, once.
    Names that are not in `index` are left out (they are lmms-eval's, not ours)."""
    out: dict[str, TaskEntry] = {}

    def visit(name: str, depth: int = 0) -> None:
        entry = index.get(name)
        if entry is None or depth > 20:
            return
        if entry.kind == "group":
            for member in entry.members:
                visit(member, depth + 1)
        else:
            out.setdefault(name, entry)

    for name in names:
        matches = fnmatch.filter(sorted(index), name) if "*" in name else [name]
        for match in matches:
            visit(match)
    return list(out.values())


def description(entry: TaskEntry, index: dict[str, TaskEntry]) -> str:
    """One line about a task or group (see the module doc for where it comes from)."""
    # the file's own alias: one inherited from a template would name no one task
    alias = entry.own.get("group_alias" if entry.kind == "group" else "task_alias")
    if entry.kind == "group":
        text = str(alias or entry.comment or "group")
        return f"{text} = {' + '.join(entry.members)}"
    if alias:
        return str(alias)
    if entry.comment:
        return entry.comment
    setting = _setting(entry, index)
    questions = f"{entry.questions} questions" if entry.questions else "questions"
    return f"{setting}: {questions}" if setting else questions


def _setting(entry: TaskEntry, index: dict[str, TaskEntry]) -> str | None:
    """The alias of the task's own group, else of a group whose tasks share its template."""
    groups = [g for g in index.values() if g.kind == "group" and g.config.get("group_alias")]
    for group in sorted(groups, key=lambda g: g.name):
        if entry.name in group.members:
            return str(group.config["group_alias"])
    for template in entry.includes:
        for group in sorted(groups, key=lambda g: g.name):
            for member in group.members:
                other = index.get(member)
                if other is not None and other.includes[:1] == (template,):
                    return str(group.config["group_alias"])
    return None


def listing(kinds: tuple[str, ...] = KINDS, folder: Path | None = None) -> list[str]:
    """The lines `vlm4d tasks` prints: groups first, then tasks, each sorted by name."""
    index = task_index(folder)
    entries = [e for kind in kinds for e in sorted(index.values(), key=lambda e: e.name)
               if e.kind == kind]  # fmt: skip
    if not entries:
        return []
    width = max(len(e.name) for e in entries)
    return [f"{e.name:<{width}}  {e.kind:<5}  {description(e, index)}" for e in entries]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "List the VLM4D tasks and groups for `vlm4d eval --tasks` (the same as "
        "`vlm4d eval --tasks list`): name, kind and a one-line description."
    )
    parser.add_argument("--kind", choices=KINDS, help="only groups or only tasks (default: both)")


def run(args: argparse.Namespace) -> int:
    kinds = (args.kind,) if getattr(args, "kind", None) else KINDS
    lines = listing(kinds)
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0
