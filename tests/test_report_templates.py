"""The report's Markdown as templates (`vlm4d_tasks/report/*.jinja`) and its one table helper
(`metric.text.md_table`): a table no cell can break, read back by a real Markdown parser; no
template the code does not render; every template variable filled by the code and nothing else
passed; a missing one an error, never an empty string."""

from __future__ import annotations

import ast
import re
from importlib import resources
from pathlib import Path

import jinja2
import pytest
from jinja2 import meta
from markdown_it import MarkdownIt

from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric.text import md_code, md_table, md_text
from vlm4d_tasks.pipeline import rows as score_rows
from vlm4d_tasks.pipeline import score as pipeline
from vlm4d_tasks.report import leaderboard as lb
from vlm4d_tasks.report import leaderboard_render as render
from vlm4d_tasks.report import score_report
from vlm4d_tasks.templating import environment, template_names

PACKAGE = "vlm4d_tasks.report"


# --------------------------------------------------------------------------------------------
# The table helper


def test_md_table_aligns_each_column_with_its_letter():
    lines = md_table(["Model", "Overall", "Note"], [["`m`", "45.1", "x"]], "lrl")
    assert lines == [
        "| Model | Overall | Note |",
        "| --- | ---: | --- |",
        "| `m` | 45.1 | x |",
    ]


def _parsed_table(lines: list[str]) -> list[list[str]]:
    """The table as markdown-it (GFM tables) reads it: one list of cell texts per row."""
    tokens = MarkdownIt("commonmark").enable("table").parse("\n".join(lines) + "\n")
    assert [t.type for t in tokens].count("table_open") == 1, "not one table"
    rows, row = [], None
    for token in tokens:
        if token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            row.append(token.content)
        elif token.type == "tr_close":
            rows.append(row)
            row = None
    return rows


HOSTILE = [
    "a|b",  # a bare pipe would end the cell
    "line\nbreak",  # a line feed would end the row (and the table)
    "cr\rhere",
    "sep\u2028line",
    "back\\|slash",  # a backslash before the pipe: still one cell
    "| --- |",
    "",
]


def test_no_cell_can_break_the_table():
    header = ["name", "as text", "as code"]
    body = [[raw, md_text(raw), md_code(raw)] for raw in HOSTILE]
    lines = md_table(header, body, "lll")
    assert len(lines) == 2 + len(HOSTILE)  # every row on its one line
    rows = _parsed_table(lines)
    assert rows[0] == header
    assert len(rows) == 1 + len(HOSTILE)
    assert all(len(row) == len(header) for row in rows)
    # the pipe stays in its cell, as text
    assert rows[1][0].replace("\\|", "|") == "a|b"
    assert "|" in rows[5][2]


def test_md_table_refuses_a_row_or_alignment_of_another_width():
    with pytest.raises(ValueError, match="2 cells under 3 columns"):
        md_table(["a", "b", "c"], [["1", "2"]], "lll")
    with pytest.raises(ValueError, match="alignment"):
        md_table(["a", "b"], [], "l")
    with pytest.raises(ValueError, match="alignment"):
        md_table(["a", "b"], [], "lc")


# --------------------------------------------------------------------------------------------
# The templates


def _references(name: str) -> set[str]:
    """The templates `name` includes or imports."""
    env = environment(PACKAGE)
    source = env.loader.get_source(env, name)[0]
    return {ref for ref in meta.find_referenced_templates(env.parse(source)) if ref}


def _rendered_by_the_code() -> set[str]:
    """The template names that report/*.py passes to `render` (string literals)."""
    names = set()
    for path in Path(resources.files(PACKAGE)).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if re.fullmatch(r"[\w.]+\.jinja", node.value):
                    names.add(node.value)
    return names


def test_every_report_template_is_rendered_by_the_code():
    templates = set(template_names(PACKAGE))
    assert {"score.md.jinja", "report.md.jinja"} <= templates
    used, todo = set(), list(_rendered_by_the_code())
    while todo:
        name = todo.pop()
        if name not in used:
            used.add(name)
            todo += _references(name)
    assert used <= templates, f"rendered but missing: {sorted(used - templates)}"
    assert templates <= used, f"dead templates (nothing renders them): {sorted(templates - used)}"


OPTIONS = ["left", "right", "not moving", "no cup there"]


def _record(n: int) -> Record:
    qid = f"validation_{n}"
    return Record(
        uid=f"real/{qid}", question_id=qid, subset="real", source="davis",
        perspective="exocentric", category="translational", question="Where does the cup go?",
        options=list(OPTIONS), answer="A", answer_text="left", video=f"videos_real/v{n % 3}.mp4",
    )  # fmt: skip


def _document() -> dict:
    """Two settings of one model over the same six questions: a paired comparison, runs."""
    runs, rows = [], {}
    for variant, pattern in (("cot", "AABABA"), ("direct-output", "ABBBAB")):
        model = f"m|x (`{variant}`)"
        records = [_record(n) for n in range(1, 7)]
        verdicts = [pipeline.scoring.Verdict.chosen(r.uid, letter, "rule:test")
                    for r, letter in zip(records, pattern)]  # fmt: skip
        items = pipeline.scoring.join(verdicts, records)
        runs.append(pipeline.run_entry(
            items, name="m|x", model=model, variant=variant, subset="real",
            file=f"real_mc_{variant}/m.json", grading={"mode": "rule"}, resamples=50, seed=0,
        ))  # fmt: skip
        rows[model] = items
    return pipeline.score_document(runs, rows, judge={"mode": "rule", "models": []},
                                   resamples=50, seed=0)  # fmt: skip


def _contexts() -> dict[str, dict]:
    document = _document()
    board = lb.build([score_rows.Source("s.json", document)], resamples=50, seed=0)
    assert [c for c in board.comparisons if not c.why], "the fixture should compare its rows"
    return {
        "score.md.jinja": score_report.score_context(document),
        "report.md.jinja": render.report_context(
            board, figures=["cot_vs_direct.png"], figure_notes=["a note"]
        ),  # fmt: skip
    }


def _variables(name: str) -> set[str]:
    """The names `name` and the templates it includes read from the context."""
    env = environment(PACKAGE)
    found = set()
    for each in {name} | _references(name):
        source = env.loader.get_source(env, each)[0]
        found |= meta.find_undeclared_variables(env.parse(source))
    return found - set(env.globals)


def test_the_code_fills_exactly_the_variables_each_template_reads():
    for name, context in _contexts().items():
        assert set(context) == _variables(name), name


def test_a_missing_variable_fails_instead_of_rendering_empty():
    assert environment(PACKAGE).undefined is jinja2.StrictUndefined
    for name, context in _contexts().items():
        template = environment(PACKAGE).get_template(name)
        assert template.render(**context)  # the whole context renders
        for key in ("missing", "rows") if name == "report.md.jinja" else ("missing", "runs"):
            partial = {k: v for k, v in context.items() if k != key}
            with pytest.raises(jinja2.UndefinedError):
                template.render(**partial)


def test_names_reach_the_templates_escaped():
    document = _document()
    text = score_report.markdown_report(document)
    assert r"| m\\|x (\`cot\`) | – | 66.7 |" in text  # a table cell: text, both pipe escapes
    assert "- ``real/m|x (`cot`)``: 66.7%" in text  # the run line: one code span
    board = lb.build([score_rows.Source("s.json", document)], resamples=50, seed=0)
    report = render.report_markdown(board)
    assert r"| 1 | ``m\|x (`cot`)`` | – |" in report
