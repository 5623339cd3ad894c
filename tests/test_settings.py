"""The VLM4D_* variables, declared once (`vlm4d_tasks/settings.py`): no other module reads one,
each is parsed and validated by its rule, the defaults are the ones the package always had, and
the README's table is the declaration's."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from test_layering import PACKAGE, imports_of, module_name

from vlm4d_tasks import settings as declared
from vlm4d_tasks.settings import VARIABLES, Settings, SettingsError

README = Path(__file__).resolve().parents[1] / "README.md"
SETTINGS_FILE = PACKAGE / "settings.py"

# --- the walker: reads of a VLM4D_* variable ----------------------------------------------------


def _declared_name(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """The variable name `node` stands for, when it is one the walker can tell: a literal, a
    module constant bound to one, or `<declared variable>.name` / `.prefix + "..."`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute) and node.attr in ("name", "prefix"):
        target = node.value
        attr = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        variable = getattr(declared, attr, None)
        if isinstance(variable, declared.Variable):
            return getattr(variable, node.attr)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _declared_name(node.left, aliases), _declared_name(node.right, aliases)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _is_environ(node: ast.expr, environ_names: set[str]) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "environ":
        return True
    return isinstance(node, ast.Name) and node.id in environ_names


def variable_reads(source: str) -> list[tuple[str, int, str]]:
    """(variable, line, function) of every read of a VLM4D_* name in `source`:
    `os.environ[...]`, `os.environ.get(...)` / `.pop` / `.setdefault`, `os.getenv(...)`,
    `... in os.environ`, also through a name bound to os.environ (`env = os.environ if environ
    is None else environ`), and any mapping read keyed by such a name (`env.get("VLM4D_X")`).
    A read of os.environ keyed by something the walker cannot tell (a parameter, a name imported
    from another module) is reported as `<dynamic>`: it may be one of ours. Writes are not reads.
    """
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    environ_names = {"environ"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            named = _declared_name(node.value, aliases)
            for target in node.targets:
                if isinstance(target, ast.Name):
                    if named is not None:
                        aliases[target.id] = named
                    if any(_is_environ(n, set()) for n in ast.walk(node.value)):
                        environ_names.add(target.id)
    found: set[tuple[str, int, str]] = set()

    def note(key: ast.expr, line: int, on_environ: bool, where: str) -> None:
        name = _declared_name(key, aliases)
        if name is not None and name.startswith("VLM4D_"):
            found.add((name, line, where))
        elif name is None and on_environ:
            found.add(("<dynamic>", line, where))

    def visit(node: ast.AST, where: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            where = node.name
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("get", "pop", "setdefault"):
                note(node.args[0], node.lineno, _is_environ(func.value, environ_names), where)
            elif (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
                isinstance(func, ast.Name) and func.id == "getenv"
            ):
                note(node.args[0], node.lineno, True, where)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            note(node.slice, node.lineno, _is_environ(node.value, environ_names), where)
        elif isinstance(node, ast.Compare) and any(
            isinstance(op, (ast.In, ast.NotIn)) for op in node.ops
        ):
            if any(_is_environ(c, environ_names) for c in node.comparators):
                note(node.left, node.lineno, True, where)
        for child in ast.iter_child_nodes(node):
            visit(child, where)

    visit(tree, "<module>")
    return sorted(found, key=lambda f: (f[1], f[0]))


# Reads of os.environ by a key the walker cannot tell, each checked by hand: none is a variable
# of ours read past the declaration.
DYNAMIC_OK = {
    # the variable `--judge-api-key-env` names: the user's choice, not one of ours
    ("vlm4d_tasks.pipeline.score", "_judge_config"),
    # `vlm4d eval` sets the variables it passes lmms-eval (settings.py names them) in its own
    # process for the preflight, and restores what was there
    ("vlm4d_tasks.cli.eval", "_environ"),
    ("vlm4d_tasks.cli.eval", "check_videos"),
}


def reads_outside_settings(package: Path = PACKAGE) -> list[str]:
    out = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "settings.py" and path.parent == package:
            continue
        module = module_name(path, package)
        for name, line, where in variable_reads(path.read_text(encoding="utf-8")):
            if name == "<dynamic>" and (module, where) in DYNAMIC_OK:
                continue
            out.append(f"{module}:{line} ({where}) reads {name}")
    return out


def test_no_module_but_settings_reads_a_vlm4d_variable():
    bad = reads_outside_settings()
    assert not bad, (
        "VLM4D_* variables read outside vlm4d_tasks/settings.py:\n  "
        + "\n  ".join(bad)
        + "\nFix: declare the variable in vlm4d_tasks/settings.py and pass its value down "
        "from a `Settings` the entry point built"
    )


PLANTED = """
import os
from os import environ, getenv
from vlm4d_tasks.settings import FRAMES, JUDGE_MODEL_N

ENV = "VLM4D_PLANTED_CONSTANT"


def reads(environ_arg=None):
    a = os.environ.get("VLM4D_PLANTED_GET")
    b = os.environ[ENV]
    c = getenv(FRAMES.name)
    env = os.environ if environ_arg is None else environ_arg
    d = "VLM4D_PLANTED_IN" in env
    e = env.get(JUDGE_MODEL_N.prefix + "2")
    f = environ.pop("VLM4D_PLANTED_POP", None)
    return a, b, c, d, e, f


def writes_are_not_reads():
    os.environ["VLM4D_PLANTED_WRITE"] = "1"
    os.environ.get("HF_HOME")


def helper(variable):
    return os.environ.get(variable)  # called with a name of ours, somewhere


def imported():
    from vlm4d_tasks.metric.redact import ENV_API_KEY
    return ENV_API_KEY in os.environ
"""


def test_the_walker_finds_a_planted_read_in_a_package(tmp_path):
    """A tiny package laid out on disk, as tests/test_layering.py does: one module reads the
    variables in every form the walker knows, a settings.py of its own is exempt."""
    package = tmp_path / "vlm4d_tasks"
    (package / "lmms").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "lmms" / "__init__.py").write_text("")
    (package / "lmms" / "planted.py").write_text(PLANTED)
    (package / "settings.py").write_text('import os\nos.environ.get("VLM4D_JUDGE")\n')
    assert reads_outside_settings(package) == [
        "vlm4d_tasks.lmms.planted:10 (reads) reads VLM4D_PLANTED_GET",
        "vlm4d_tasks.lmms.planted:11 (reads) reads VLM4D_PLANTED_CONSTANT",
        "vlm4d_tasks.lmms.planted:12 (reads) reads VLM4D_FRAMES",
        "vlm4d_tasks.lmms.planted:14 (reads) reads VLM4D_PLANTED_IN",
        "vlm4d_tasks.lmms.planted:15 (reads) reads VLM4D_JUDGE_MODEL_2",
        "vlm4d_tasks.lmms.planted:16 (reads) reads VLM4D_PLANTED_POP",
        "vlm4d_tasks.lmms.planted:26 (helper) reads <dynamic>",
        "vlm4d_tasks.lmms.planted:31 (imported) reads <dynamic>",
    ]


def test_settings_imports_nothing_of_ours():
    source = SETTINGS_FILE.read_text(encoding="utf-8")
    assert imports_of(source, "vlm4d_tasks.settings") == []


# --- each variable parsed and validated ---------------------------------------------------------

# A value of each declared variable and what it parses to (a family: its member 2). A variable
# declared without a line here fails `test_every_variable_parses`.
GOOD = {
    "VLM4D_JUDGE": (" Hybrid ", "hybrid"),
    "VLM4D_JUDGE_MODEL": ("o4-mini", "o4-mini"),
    "VLM4D_JUDGE_BASE_URL": ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
    "VLM4D_JUDGE_API_KEY": ("sk-judge-0123456789", "sk-judge-0123456789"),
    "VLM4D_JUDGE_MODEL_<n>": ("o3", {2: "o3"}),
    "VLM4D_JUDGE_BASE_URL_<n>": ("http://127.0.0.1:9/v1", {2: "http://127.0.0.1:9/v1"}),
    "VLM4D_JUDGE_API_KEY_<n>": ("second-key-0123", {2: "second-key-0123"}),
    "VLM4D_JUDGE_CONCURRENCY": ("7", 7),
    "VLM4D_JUDGE_TIMEOUT": ("2.5", 2.5),
    "VLM4D_JUDGE_RETRIES": ("100", 100),
    "VLM4D_JUDGE_MAX_FAILURES": ("0", 0),
    "VLM4D_JUDGE_PROMPT": ("official", "official"),
    "VLM4D_JUDGE_CACHE": ("/tmp/j.sqlite", "/tmp/j.sqlite"),
    "VLM4D_CACHE_DIR": ("~/c", "~/c"),
    "VLM4D_FRAME_CACHE_DIR": ("/tmp/f", "/tmp/f"),
    "VLM4D_FRAME_CACHE_MAX_BYTES": ("1e3", 1000),
    "VLM4D_FRAMES": ("1fps", "1fps"),
    "VLM4D_PROTOCOL_MODEL": ("Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct"),
    "VLM4D_DATASET": ("/data/ds", "/data/ds"),
    "VLM4D_VIDEO_ROOT": ("/data/videos", "/data/videos"),
    "VLM4D_ALLOW_UNOFFICIAL_ANNOTATIONS": ("Yes", True),
    "VLM4D_TASKS_PLUGIN_WARNED": ("a,b", ("a", "b")),
}


def test_every_variable_parses():
    assert [v.name for v in VARIABLES] == list(GOOD), "each declared variable needs a GOOD line"
    for variable in VARIABLES:
        raw, expected = GOOD[variable.name]
        name = variable.prefix + "2" if variable.family else variable.name
        assert Settings.from_environ({name: raw}).value(variable) == expected, variable.name


# Values refused, with what the message says; numbers at and past their bounds.
BAD = {
    "VLM4D_JUDGE": ["oracle", "rule llm"],
    "VLM4D_JUDGE_CONCURRENCY": ["0", "-3", "4.0", "many"],
    "VLM4D_JUDGE_TIMEOUT": ["0", "-1", "nan", "inf", "1e20", "3600.5", "soon"],
    "VLM4D_JUDGE_RETRIES": ["-1", "101", "x"],
    "VLM4D_JUDGE_MAX_FAILURES": ["-1", "1.5"],
    "VLM4D_JUDGE_PROMPT": ["mine", "Official"],
    "VLM4D_FRAME_CACHE_MAX_BYTES": ["lots", "-1", "inf", "nan"],
    "VLM4D_ALLOW_UNOFFICIAL_ANNOTATIONS": ["maybe", "on"],
}


@pytest.mark.parametrize("variable", [v for v in VARIABLES if v.example_bad is not None],
                         ids=lambda v: v.name)  # fmt: skip
def test_a_bad_value_is_an_error_naming_the_variable_and_the_fix(variable):
    for raw in {variable.example_bad, *BAD.get(variable.name, [])}:
        settings = Settings.from_environ({variable.name: raw})  # built: the error waits
        with pytest.raises(SettingsError) as caught:
            settings.value(variable)
        message = str(caught.value)
        assert message.startswith(f"{variable.name}={raw!r}: "), message
        assert f"fix: set {variable.name} to " in message and "or unset it" in message


def test_every_rule_with_a_bad_value_is_tested():
    ruled = {v.name for v in VARIABLES if v.parse is not declared._text}
    assert ruled == {v.name for v in VARIABLES if v.example_bad is not None} | {
        "VLM4D_TASKS_PLUGIN_WARNED"  # any text is a list of keys
    }
    assert set(BAD) <= ruled


def test_the_bounds_are_the_judges():
    from vlm4d_tasks.metric.grading import Mode
    from vlm4d_tasks.metric.judge_transport import MAX_RETRIES, MAX_TIMEOUT

    assert declared.JUDGE_MODES == tuple(m.value for m in Mode)
    assert (MAX_TIMEOUT, MAX_RETRIES) == (3600.0, 100)
    ok = Settings.from_environ({"VLM4D_JUDGE_TIMEOUT": "3600", "VLM4D_JUDGE_RETRIES": "100"})
    assert (ok.judge_timeout, ok.judge_retries) == (3600.0, 100)


def test_the_defaults_are_the_ones_the_package_always_had():
    """`Settings.from_environ({})`: the defaults before the declaration (judge_config's,
    the frame cache's, the release check's), written out here, not read from it."""
    s = Settings.from_environ({})
    assert (s.judge_mode, s.judge_model, s.judge_base_url, s.judge_api_key) == (
        "rule", None, None, None)  # fmt: skip
    assert (s.judge_model_2, s.judge_base_url_2, s.judge_api_key_2) == (None, None, None)
    assert (s.judge_concurrency, s.judge_timeout, s.judge_retries, s.judge_max_failures) == (
        4, 60.0, 4, 5)  # fmt: skip
    assert (s.judge_prompt, s.judge_cache, s.cache_dir, s.frame_cache_dir) == (
        "vlm4d", None, None, None)  # fmt: skip
    assert s.frame_cache_max_bytes == 8 * 1024**3
    assert (s.frames, s.dataset, s.video_root) == (None, None, None)
    assert (s.allow_unofficial_annotations, s.plugin_warned) == (False, ())
    assert s.errors == {}
    # an empty variable is unset
    empty = Settings.from_environ({v.name.replace("<n>", "2"): "" for v in VARIABLES})
    assert empty.values == s.values and empty.errors == {}


def test_errors_wait_for_their_use_and_check_raises_them_all():
    s = Settings.from_environ({"VLM4D_JUDGE_TIMEOUT": "x", "VLM4D_FRAMES": "8",
                               "VLM4D_JUDGE_RETRIES": "-2"})  # fmt: skip
    assert s.frames == "8"  # the bad ones do not stop the good
    with pytest.raises(SettingsError, match="VLM4D_JUDGE_TIMEOUT='x'.*VLM4D_JUDGE_RETRIES='-2'"):
        s.check()
    with pytest.raises(SettingsError, match="^VLM4D_JUDGE_RETRIES='-2'"):
        s.check(declared.JUDGE_RETRIES, declared.FRAMES)
    s.check(declared.FRAMES)


def test_families_read_their_numbered_members_only():
    s = Settings.from_environ({"VLM4D_JUDGE_MODEL_2": "b", "VLM4D_JUDGE_MODEL_3": "c",
                               "VLM4D_JUDGE_MODEL_1": "no", "VLM4D_JUDGE_MODEL_X": "no",
                               "VLM4D_JUDGE_MODEL_02": "no"})  # fmt: skip
    assert s.value(declared.JUDGE_MODEL_N) == {2: "b", 3: "c"}
    assert s.judge_model_2 == "b" and s.member(declared.JUDGE_MODEL_N, 3) == "c"


def test_secrets_are_declared_and_never_shown():
    env = {"VLM4D_JUDGE_API_KEY": "first-key-0123", "VLM4D_JUDGE_API_KEY_2": "second-key-0123",
           "VLM4D_JUDGE_API_KEY_3": "third-key-0123", "VLM4D_JUDGE_MODEL": "public-model",
           "OPENAI_API_KEY": "not-ours-0123"}  # fmt: skip
    assert sorted(declared.secret_values(env)) == [
        "first-key-0123", "second-key-0123", "third-key-0123"]  # fmt: skip
    shown = repr(Settings.from_environ(env))
    assert "key-0123" not in shown and "public-model" not in shown
    assert {v.name for v in VARIABLES if v.secret} == {
        "VLM4D_JUDGE_API_KEY", "VLM4D_JUDGE_API_KEY_<n>"}  # fmt: skip


def test_redaction_reads_the_declared_secret_variables(monkeypatch):
    from vlm4d_tasks.metric.redact import redact

    monkeypatch.setenv("VLM4D_JUDGE_API_KEY_3", "third-judge-secret-42")  # a family member
    monkeypatch.setenv("VLM4D_JUDGE_API_KEY", "first-judge-secret-42")
    assert redact("got third-judge-secret-42 and first-judge-secret-42") == (
        "got [REDACTED] and [REDACTED]"
    )


def test_ground_floor_defaults_come_from_settings_passed_in(tmp_path):
    from vlm4d_tasks.metric.judge_cache import default_cache_path
    from vlm4d_tasks.video import cache as frame_cache

    s = Settings.from_environ({"VLM4D_CACHE_DIR": str(tmp_path / "root")})
    assert frame_cache._default_dir(s) == tmp_path / "root" / "frames"
    s = Settings.from_environ({"VLM4D_FRAME_CACHE_DIR": str(tmp_path / "f"),
                               "VLM4D_CACHE_DIR": str(tmp_path / "root")})  # fmt: skip
    assert frame_cache._default_dir(s) == tmp_path / "f"
    assert default_cache_path(str(tmp_path / "root")) == tmp_path / "root" / "judge.sqlite"


def test_the_release_check_reads_its_variable_only_for_a_differing_file(tmp_path, monkeypatch):
    from vlm4d_tasks.data.release import ReleaseMismatchError, check_files

    other = tmp_path / "real_mc.json"
    other.write_text("[]")
    monkeypatch.setenv("VLM4D_ALLOW_UNOFFICIAL_ANNOTATIONS", "maybe")
    probe = tmp_path / "probe_mc.json"  # no official content to differ from
    probe.write_text("[]")
    assert check_files({"probe_mc.json": probe}).files[0].name == "probe_mc.json"
    with pytest.raises(SettingsError, match="VLM4D_ALLOW_UNOFFICIAL_ANNOTATIONS='maybe'"):
        check_files({"real_mc.json": other})
    assert check_files({"real_mc.json": other}, allow_unofficial=True).unofficial_allowed
    monkeypatch.setenv("VLM4D_ALLOW_UNOFFICIAL_ANNOTATIONS", "0")
    with pytest.raises(ReleaseMismatchError):
        check_files({"real_mc.json": other})


# --- the README's table ---------------------------------------------------------------------------


def readme_table() -> str:
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("| variable | default | what it does |")
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join(lines[start:end]) + "\n"


def test_the_readme_table_is_the_declaration():
    table = readme_table()
    assert table == declared.markdown_table(), (
        "README.md's table of environment variables differs from vlm4d_tasks/settings.py; fix: "
        "paste `python -c 'from vlm4d_tasks.settings import markdown_table as t; print(t())'`"
    )
    names = re.findall(r"^\| `(VLM4D_[A-Z0-9_<>n]+)` \|", table, re.M)
    assert names == [v.name for v in VARIABLES]


def test_a_variable_added_without_a_readme_row_fails(monkeypatch):
    added = declared.Variable("VLM4D_NEW", "text", None, "none", "something new", ("x.py",))
    monkeypatch.setattr(declared, "VARIABLES", (*VARIABLES, added))
    assert readme_table() != declared.markdown_table()
