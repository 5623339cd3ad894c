"""The import contract: the package is a one-way stack, imports inside functions included.

Every module under `vlm4d_tasks/` is parsed (never imported) and each of its imports of our
own modules is checked against the floors below, bottom up. A unit (a sub-package, or a module
at the package's top) may import itself and the units of the floors below its own; two units of
one floor never import each other (`probe` and `validity` are siblings, and so are `data` and
`video`). Counted: `import a.b`, `from a import b`, relative imports, at module level or inside
functions, classes and `if TYPE_CHECKING:` blocks, and `importlib.import_module("vlm4d_tasks...")`
/ `__import__(...)` with a literal name.

The edges that are wrong today and that issue 24's other slices remove are listed once, in
`KNOWN_UPWARD`, each with its reason. The list is a ratchet: a new upward import fails
`test_no_upward_imports`, and an entry whose import is gone fails
`test_known_upward_imports_still_exist` until it is deleted, so the list only shrinks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import vlm4d_tasks

PACKAGE = Path(vlm4d_tasks.__file__).parent
ROOT = "vlm4d_tasks"

# Bottom up; a unit is the second part of a module's dotted name (`vlm4d_tasks.data.schema`
# is `data`; the top-level module `vlm4d_tasks.demo` is `demo`).
FLOORS: tuple[tuple[str, frozenset[str]], ...] = (
    # records, rules, the release (`data`); frames and mp4 writing (`video`)
    ("ground", frozenset({"data", "video"})),
    # extraction, judge, grading, scoring statistics
    ("core", frozenset({"metric"})),
    ("analyses", frozenset({"probe", "validity"})),
    # answers -> score documents (grading, the validity block, paired comparisons), and
    # reading them back
    ("assembly", frozenset({"pipeline"})),
    # the leaderboard, figures, Markdown, CSV, JSON, HTML drawn from score documents
    ("presentation", frozenset({"report"})),
    # what lmms-eval calls
    ("harness", frozenset({"lmms"})),
    # the command line; nothing below imports it
    ("face", frozenset({"cli"})),
    # `python -m vlm4d_tasks.demo` runs the command line end to end, so it sits above it
    ("demo", frozenset({"demo"})),
)
# The package root (`__version__`, the `video_path` shortcut into `data`) and the Jinja loader
# hold no logic of a floor: every floor may import them, and they import only the ground.
# `settings`: the VLM4D_* variables every floor reads; it imports nothing of ours (test_settings)
SHARED = frozenset({ROOT, "templating", "settings"})

# (importer, imported module) -> why it is still here. Delete an entry when its import goes;
# never add one: move the code to its floor, or pass the value down from the caller.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.importer} imports {self.imported}"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _is_module(name: str, package: Path) -> bool:
    """Whether dotted `name` is a module or package file under `package` (whose own name is
    its folder's): `from vlm4d_tasks import probe` imports the sub-package, while
    `from vlm4d_tasks import __version__` imports a name of the root."""
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    folder = package / relative
    return folder.with_suffix(".py").is_file() or (folder / "__init__.py").is_file()


def imports_of(
    source: str, module: str, *, is_package: bool = False, package: Path = PACKAGE
) -> list[tuple[str, int]]:
    """(imported module, line) for every import of ours in `source`, the text of `module`."""
    root = package.name
    here = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []

    def add(name: str, line: int) -> None:
        if name == root or name.startswith(root + "."):
            found.append((name, line))

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = here.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                child = f"{base}.{alias.name}"
                add(child if _is_module(child, package) else base, node.lineno)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (
                    isinstance(node.func, ast.Name)
                    and node.func.id in {"import_module", "__import__"}
                )
            )
        ):
            add(node.args[0].value, node.lineno)
    return found


def all_edges(package: Path = PACKAGE) -> list[Edge]:
    edges = []
    for path in sorted(package.rglob("*.py")):
        module = module_name(path, package)
        source = path.read_text(encoding="utf-8")
        for imported, line in imports_of(
            source, module, is_package=path.name == "__init__.py", package=package
        ):
            edges.append(Edge(module, imported, str(path.relative_to(package.parent)), line))
    return edges


def floor_of(name: str) -> int:
    for index, (_label, units) in enumerate(FLOORS):
        if name in units:
            return index
    raise KeyError(name)


def allowed(importer: str, imported: str) -> bool:
    a, b = unit(importer), unit(imported)
    if a == b or b in SHARED:
        return True
    if a in SHARED:
        return floor_of(b) == 0
    return floor_of(b) < floor_of(a)


def upward(edges: list[Edge]) -> list[Edge]:
    return [e for e in edges if not allowed(e.importer, e.imported)]


def test_every_unit_has_a_floor():
    """A new sub-package or top-level module must be placed on a floor before it lands."""
    units = {unit(module_name(p)) for p in PACKAGE.rglob("*.py")}
    placed = SHARED.union(*(members for _label, members in FLOORS))
    assert not units - placed, (
        f"units with no floor: {sorted(units - placed)}; add each to FLOORS in "
        "tests/test_layering.py (and to the README's layout)"
    )


def test_no_upward_imports():
    bad = [e for e in upward(all_edges()) if (e.importer, e.imported) not in KNOWN_UPWARD]
    assert not bad, (
        "imports against the floors (a floor imports only the floors below it):\n"
        + "\n".join(f"  {e}" for e in bad)
        + "\nFix: move the shared piece down to the floor of its lowest user, or have the "
        "caller above pass the value in; never add to KNOWN_UPWARD"
    )


def test_known_upward_imports_still_exist():
    still = {(e.importer, e.imported) for e in upward(all_edges())}
    gone = sorted(set(KNOWN_UPWARD) - still)
    assert not gone, (
        f"KNOWN_UPWARD entries that no longer occur (or are no longer upward): {gone}; "
        "delete them from tests/test_layering.py so the list only shrinks"
    )


def test_the_ground_imports_nothing_above_it():
    """The floor every other one stands on has no exception, known or not."""
    bad = [e for e in upward(all_edges()) if floor_of(unit(e.importer)) == 0]
    assert not bad, "\n".join(map(str, bad))


def test_nothing_below_the_face_imports_the_cli():
    bad = [e for e in all_edges() if unit(e.imported) == "cli" and unit(e.importer) != "cli"]
    assert all(unit(e.importer) == "demo" for e in bad), "\n".join(map(str, bad))


# The walker itself, on literal sources in a package laid out on disk: each form of import
# it must see, and the verdict the floors give.
SOURCE = """
import os
import vlm4d_tasks.metric.scoring as scoring
from vlm4d_tasks import __version__, probe
from . import schema
from ..validity import clips


def late():
    from vlm4d_tasks.lmms import plugin
    import importlib

    importlib.import_module("vlm4d_tasks.cli.score")
    return __import__("vlm4d_tasks.video")


class Lazy:
    def method(self):
        from .schema import Record
"""


@pytest.fixture
def tiny_package(tmp_path):
    package = tmp_path / ROOT
    for relative in (
        "__init__.py", "data/__init__.py", "data/schema.py", "probe/__init__.py",
        "validity/__init__.py", "validity/clips.py", "metric/__init__.py",
        "metric/scoring.py", "lmms/__init__.py", "lmms/plugin.py", "cli/__init__.py",
        "cli/score.py", "video/__init__.py",
    ):  # fmt: skip
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_text("")
    return package


def test_walker_sees_every_form_of_import(tiny_package):
    found = imports_of(SOURCE, "vlm4d_tasks.data.rows", package=tiny_package)
    assert sorted(found) == sorted(
        [
            ("vlm4d_tasks.metric.scoring", 3),
            ("vlm4d_tasks", 4),  # __version__ is a name of the root, not a module
            ("vlm4d_tasks.probe", 4),
            ("vlm4d_tasks.data.schema", 5),
            ("vlm4d_tasks.validity.clips", 6),
            ("vlm4d_tasks.lmms.plugin", 10),
            ("vlm4d_tasks.cli.score", 13),
            ("vlm4d_tasks.video", 14),
            ("vlm4d_tasks.data.schema", 19),
        ]
    )


def test_floors_refuse_upward_and_sideways_imports():
    assert allowed("vlm4d_tasks.data.dataset_repo", "vlm4d_tasks.data.schema")
    assert allowed("vlm4d_tasks.data.dataset_repo", "vlm4d_tasks.templating")
    assert allowed("vlm4d_tasks.data.dataset_repo", "vlm4d_tasks")
    assert allowed("vlm4d_tasks.validity.clips", "vlm4d_tasks.video.encode")
    assert allowed("vlm4d_tasks.probe.diagnose", "vlm4d_tasks.metric.scoring")
    assert allowed("vlm4d_tasks.cli.score", "vlm4d_tasks.lmms.run")
    assert allowed("vlm4d_tasks.demo", "vlm4d_tasks.cli")
    assert not allowed("vlm4d_tasks.data.dataset_repo", "vlm4d_tasks.validity.baselines")
    assert not allowed("vlm4d_tasks.data.schema", "vlm4d_tasks.video")  # siblings
    assert not allowed("vlm4d_tasks.validity.clips", "vlm4d_tasks.probe.render")  # siblings
    assert not allowed("vlm4d_tasks.probe.generate", "vlm4d_tasks.validity")
    assert not allowed("vlm4d_tasks.metric.scoring", "vlm4d_tasks.probe")
    assert not allowed("vlm4d_tasks.lmms.data", "vlm4d_tasks.cli.eval")
    assert not allowed("vlm4d_tasks.cli.eval", "vlm4d_tasks.demo")
    assert not allowed("vlm4d_tasks.templating", "vlm4d_tasks.metric")
    assert not allowed("vlm4d_tasks.metric.scoring", "vlm4d_tasks.pipeline.score")
    assert not allowed("vlm4d_tasks.pipeline.score", "vlm4d_tasks.report.score_report")
    assert not allowed("vlm4d_tasks.report.leaderboard", "vlm4d_tasks.lmms.run")
    assert allowed("vlm4d_tasks.pipeline.score", "vlm4d_tasks.validity.baselines")
    assert allowed("vlm4d_tasks.report.leaderboard", "vlm4d_tasks.probe.diagnose")
    assert allowed("vlm4d_tasks.pipeline.rows", "vlm4d_tasks.metric.text")


def test_a_planted_upward_import_is_caught(tiny_package):
    """The whole check on a package on disk: a function-level import of the probe from the
    ground is reported with its file and line."""
    (tiny_package / "data" / "schema.py").write_text(
        "def f():\n    from vlm4d_tasks import probe\n    return probe\n"
    )
    edges = all_edges(tiny_package)
    assert [str(e) for e in upward(edges)] == [
        "vlm4d_tasks/data/schema.py:2: vlm4d_tasks.data.schema imports vlm4d_tasks.probe"
    ]
