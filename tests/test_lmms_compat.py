"""lmms-eval in one room: every use of lmms-eval beyond its public model API is in
`vlm4d_tasks/lmms/compat.py`, whose docstring table names the lmms-eval files it relies on.

The package is parsed, never imported. Counted as a use of lmms-eval: `import lmms_eval...`,
`from lmms_eval... import name` (at module level or inside functions), a string that is an
lmms-eval module name (`sys.modules.get("lmms_eval.evaluator")`, `importlib.import_module`),
and source code in a string that imports lmms-eval (a script run with `python -c`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import vlm4d_tasks

PACKAGE = Path(vlm4d_tasks.__file__).parent
COMPAT = "lmms/compat.py"
# lmms-eval's public model API: what a model plugin subclasses, receives and registers with.
PUBLIC = {
    ("lmms_eval.api.model", "lmms"),
    ("lmms_eval.api.instance", "Instance"),
    ("lmms_eval.models.registry_v2", "ModelManifest"),
}
# Only the harness floor and the command that starts lmms-eval may touch it at all.
MAY_IMPORT = ("lmms/", "cli/eval.py")
MODULE_NAME = re.compile(r"lmms_eval(\.\w+)+")
IMPORT_IN_TEXT = re.compile(r"^\s*(?:import|from)\s+(lmms_eval[\w.]*)", re.MULTILINE)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def uses(source: str) -> list[tuple[int, str, str]]:
    """(line, module, name) of each use of lmms-eval in `source`; name "*" for a whole module."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "lmms_eval":
                    found.append((node.lineno, alias.name, "*"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "lmms_eval":
                found += [(node.lineno, node.module, alias.name) for alias in node.names]
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
        ):
            if MODULE_NAME.fullmatch(node.value):
                found.append((node.lineno, node.value, "*"))
            found += [(node.lineno, m, "*") for m in IMPORT_IN_TEXT.findall(node.value)]
    return sorted(found)


def package_uses() -> dict[str, list[tuple[int, str, str]]]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found = uses(path.read_text(encoding="utf-8"))
        if found:
            out[path.relative_to(PACKAGE).as_posix()] = found
    return out


def test_the_walker_sees_each_form_of_use():
    source = '''
"""Docs may say `lmms_eval.evaluator` and `import lmms_eval` freely."""
import lmms_eval.models as models
from lmms_eval.api.model import lmms


def late():
    """lmms_eval.tasks"""
    from lmms_eval.utils import sanitize_model_name
    import sys

    sys.modules.get("lmms_eval.evaluator")
    return "see `lmms_eval.models`: a message, not a module"


SCRIPT = """
import json
import lmms_eval.models as models
"""
'''
    assert uses(source) == [
        (3, "lmms_eval.models", "*"),
        (4, "lmms_eval.api.model", "lmms"),
        (9, "lmms_eval.utils", "sanitize_model_name"),
        (12, "lmms_eval.evaluator", "*"),
        (16, "lmms_eval.models", "*"),
    ]


def test_lmms_eval_internals_are_used_only_in_compat():
    outside = {
        f"{file}:{line}: {module}" + ("" if name == "*" else f".{name}")
        for file, found in package_uses().items()
        if file != COMPAT
        for line, module, name in found
        if (module, name) not in PUBLIC
    }
    assert not outside, (
        "lmms-eval internals used outside vlm4d_tasks/lmms/compat.py (move them there, with a "
        f"row in its table): {sorted(outside)}"
    )


def test_only_the_harness_and_vlm4d_eval_touch_lmms_eval():
    others = [file for file in package_uses() if not file.startswith(MAY_IMPORT)]
    assert not others, f"lmms-eval used below the harness floor: {others}"


def test_the_models_use_only_the_public_model_api():
    found = {
        (m, n) for f, u in package_uses().items() if f.startswith("lmms/models/") for _, m, n in u
    }
    assert found and found <= PUBLIC


def test_compat_table_names_every_lmms_eval_file_it_relies_on():
    """Each lmms-eval module compat imports is in its table, and exists in the installed
    lmms-eval: an upgrade that moves one is caught here, not in a user's run."""
    pytest.importorskip("lmms_eval")
    import importlib.util

    from vlm4d_tasks.lmms import compat

    doc = compat.__doc__ or ""
    modules = set()
    for _, module, name in uses((PACKAGE / COMPAT).read_text(encoding="utf-8")):
        full = f"{module}.{name}" if name != "*" and module == "lmms_eval" else module
        modules.add(full)
    assert {"lmms_eval.tasks", "lmms_eval.evaluator_utils", "lmms_eval.models"} <= modules
    root = Path(importlib.util.find_spec("lmms_eval").origin).parent
    for module in sorted(modules):
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin, module
        relative = Path(spec.origin).relative_to(root)
        assert f"`{relative.as_posix()}`" in doc, (
            f"compat's table does not name {relative} ({module})"
        )


def test_compat_was_written_against_the_installed_lmms_eval():
    """The version assumptions are written once; a new lmms-eval means reviewing that table."""
    pytest.importorskip("lmms_eval")
    from importlib.metadata import version

    from vlm4d_tasks.lmms import compat

    assert compat.TESTED_WITH in compat.__doc__
    assert version("lmms_eval") == compat.TESTED_WITH, (
        f"lmms-eval {version('lmms_eval')} is installed, compat.py was checked against "
        f"{compat.TESTED_WITH}: review each row of its table, then update TESTED_WITH"
    )
