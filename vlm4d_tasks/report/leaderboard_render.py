"""The leaderboard as text: the report's Markdown (`report_markdown`: the prose in
`report.md.jinja` and the templates it includes, filled by `report_context` with tables, formatted
numbers and escaped names), `leaderboard.csv` (text cells that a spreadsheet would run as a
formula neutralised) and `leaderboard.json`, each rendered from a built
`leaderboard.Leaderboard`; building the rows is `leaderboard`'s job.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vlm4d_tasks.metric.text import md_code, md_table, md_text
from vlm4d_tasks.pipeline.rows import (
    CATEGORY_TITLES,
    COLUMN_TITLES,
    COLUMNS,
    DEBIASED_MEASURED,
    NOT_IN_FILE,
    PROMPT_TITLES,
    Cell,
    MeasuredRow,
    unavailable_subsets,
    validity_block,
)
from vlm4d_tasks.report.breakdowns import dsr_set, dsr_type_titles, dsr_viewpoint_titles
from vlm4d_tasks.report.leaderboard import (
    CONSISTENCY_VARIANTS,
    LEADERBOARD_FORMAT_VERSION,
    PUBLISHED_MARK,
    BaselineRow,
    Group,
    Leaderboard,
)
from vlm4d_tasks.report.score_report import MISSING


def _pct(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1f}"


def _cell_text(cell: Cell | None, *, interval: bool = True) -> str:
    if cell is None or cell.percent is None:
        return MISSING
    text = _pct(cell.percent)
    if interval and cell.ci95:
        text += f" [{_pct(100 * cell.ci95[0])}, {_pct(100 * cell.ci95[1])}]"
    return text


def _signed(value: float) -> str:
    text = f"{value:+.1f}"
    return "+0.0" if text == "-0.0" else text


def _p(value: float) -> str:
    return f"{value:.3g}" if value >= 0.001 else "<0.001"


def _listing(labels: Iterable[str]) -> str:
    return ", ".join(md_code(label) for label in labels)


def _intervals(board: Leaderboard) -> dict[str, Any]:
    """How the documents' intervals were made: resampling videos (questions about one clip are
    not independent), or, in a document written before that, questions (too narrow)."""
    by_source = {source.path: source.document.get("bootstrap") or {} for source in board.sources}
    resamples = {block.get("resamples") for block in by_source.values()}
    old = [row.label for row in board.rows if row.clusters != "video"]
    return {
        "resamples": resamples.pop() if len(resamples) == 1 and None not in resamples else None,
        "old": _listing(old) if old else None,
        "all_old": len(old) == len(board.rows),
    }


def _compared_rows(board: Leaderboard, baseline: BaselineRow, column: str) -> list[MeasuredRow]:
    """The measured rows on the questions of `baseline`'s column: from a document that computed
    it, with the same number of questions there (a row of a document may answer fewer)."""
    base = baseline.columns.get(column)
    if base is None or base.percent is None:
        return []
    return [
        row for row in board.rows
        if row.source in baseline.sources and column in row.columns
        and row.columns[column].questions == base.questions
        and row.columns[column].percent is not None
    ]  # fmt: skip


def _baseline_standing(board: Leaderboard, baseline: BaselineRow) -> dict[str, Any] | None:
    """Above how many measured rows on its questions the baseline scores, overall and per
    subset (rows below it; a tie is not below). None without such rows."""
    counts = {}
    for column in ("overall", "real", "synthetic"):
        rows = _compared_rows(board, baseline, column)
        if rows:
            below = sum(r.columns[column].percent < baseline.columns[column].percent for r in rows)
            counts[column] = f"{below} of {len(rows)}"
    target = baseline.debiased
    if target is not None and target.percent is not None:
        scores = [
            r.debiased.percent for r in board.rows
            if r.source in baseline.sources and r.debiased is not None
            and r.debiased.questions == target.questions and r.debiased.percent is not None
        ]  # fmt: skip
        if scores:
            below = sum(score < target.percent for score in scores)
            counts["debiased set"] = f"{below} of {len(scores)}"
    if not counts:
        return None
    first = "overall" if "overall" in counts else next(iter(counts))
    return {
        "label": md_code(baseline.label),
        "first": first,
        "count": counts[first],
        "others": [(column, count) for column, count in counts.items() if column != first],
    }


def _audit(sets: Mapping[tuple, list[str]]) -> dict[str, Any] | None:
    """The independent residual-bias check of the shipped debiased set
    (`validity/debiased_v1_audit.json`, `debias.residual_bias`), formatted, when the documents'
    set is the audited one (its version, every subset, as many questions kept); None
    otherwise."""
    from vlm4d_tasks.validity import debias

    audit = debias.load_audit()
    if audit is None or len(sets) != 1:
        return None
    version, kept, _, unavailable = next(iter(sets))
    audited = {f["subset"]: f["questions"] for f in audit["residual"]}
    if version != audit.get("version") or unavailable or kept != sum(audited.values()):
        return None
    by_subset: dict[str, list[str]] = {}
    questions: dict[str, int] = {}
    for f in audit["residual"]:
        questions[f["subset"]] = f["questions"]
        by_subset.setdefault(f["subset"], []).append(
            f"{md_text(f['baseline'])} {_pct(100 * f['accuracy'])}% "
            f"[{_pct(100 * f['ci'][0])}, {_pct(100 * f['ci'][1])}]"
        )
    return {
        "version": md_code(version),
        "subsets": [
            {"subset": md_text(s), "questions": questions[s], "figures": ", ".join(figures)}
            for s, figures in by_subset.items()
        ],
        "all_within": all(f["within_chance"] for f in audit["residual"]),
    }


def _validity(board: Leaderboard) -> dict[str, Any]:
    """`report_validity.md.jinja`'s context: why a row has no debiased accuracy, the baseline
    rows apart, the debiased set(s) with the option-text prior's caveat, and the consistency
    table when a document has one."""
    from vlm4d_tasks.validity.baselines import PRIOR_ROW

    missing: dict[str, list[str]] = {}
    for row in board.rows:
        # another benchmark's row: the debiased set is VLM4D's, nothing to explain
        if row.debiased_status != DEBIASED_MEASURED and row.label not in board.dsr:
            missing.setdefault(row.debiased_status, []).append(row.label)

    blocks = {s.path: validity_block(s) for s in board.sources}
    baselines = None
    if board.baselines:
        header = ["Baseline", *COLUMN_TITLES.values(), "Chance-corr.", "Debiased", "Questions",
                  "Score document(s)"]  # fmt: skip
        body = []
        for baseline in board.baselines:
            overall = baseline.columns.get("overall")
            body.append([
                md_text(baseline.label), *(_cell_text(baseline.columns.get(c)) for c in COLUMNS),
                _pct(overall.chance_corrected if overall else None),
                _cell_text(baseline.debiased), str(overall.n) if overall else "0",
                _listing(baseline.sources),
            ])  # fmt: skip
        standings = [_baseline_standing(board, b) for b in board.baselines]
        baselines = {
            "table": _lines(md_table(header, body, "l" + "r" * (len(COLUMNS) + 3) + "l")),
            "standings": [standing for standing in standings if standing],
        }
    old = [
        path
        for path, block in blocks.items()
        if block is None
        and any(r.source == path and r.debiased_status == NOT_IN_FILE for r in board.rows)
    ]
    sets: dict[tuple, list[str]] = {}
    for path, block in blocks.items():
        if block is not None:
            d = block["debiased"]
            key = (d["version"], d["kept"], d["of"], tuple(unavailable_subsets(block)))
            sets.setdefault(key, []).append(path)
    debiased = None
    if sets:
        videos = {r.debiased.videos for r in board.rows if r.debiased is not None}
        prior = [b for b in board.baselines if b.model == PRIOR_ROW and b.debiased is not None
                 and b.debiased.percent is not None and "overall" in b.columns]  # fmt: skip
        debiased = {
            "videos": videos.pop() if len(videos) == 1 and None not in videos else None,
            "sets": [
                {
                    "sources": _listing(paths),
                    "version": md_code(version),
                    "kept": kept,
                    "of": of,
                    "unavailable": ", ".join(md_text(subset) for subset in unavailable),
                }
                for (version, kept, of, unavailable), paths in sets.items()
            ],  # fmt: skip
            "prior": [
                {
                    "debiased": _pct(b.debiased.percent),
                    "overall": _pct(b.columns["overall"].percent),
                    "random_removed": None
                    if b.random_removed is None
                    else _share(b.random_removed),
                    "label": md_code(b.label) if len(prior) > 1 else None,
                }
                for b in prior
            ],  # fmt: skip
            "audit": _audit(sets),
        }
    return {
        # the statuses are the pipeline's own Markdown (`rows.NOT_IN_FILE`...), not a file's
        "missing": [(status, _listing(labels)) for status, labels in missing.items()],
        "baselines": baselines,
        "old": _listing(old) if old else None,
        "debiased": debiased,
        "consistency": _consistency(board),
    }


def _share(value: float | None) -> str:
    return MISSING if value is None else _pct(100 * value)


def _consistency(board: Leaderboard) -> dict[str, Any] | None:
    """The documents' `validity.consistency` as a table (None when none has it). With an
    identity row (the re-encode control, `validity.baselines.consistency`), three columns
    more: each re-encoded row against the identity row, and the identity row's agreement."""
    entries = board.consistency
    if not entries:
        return None
    several = len({e["source"] for e in entries}) > 1
    identity = any(e["variant"] == "identity" or e.get("versus_identity") for e in entries)
    variants = dict.fromkeys(e["variant"] for e in entries)
    header = ["Model", "Variant", "Row", "Questions", "Base %", "Variant %", "Consistency %"]
    if identity:
        header += ["Identity %", "Consistency vs identity %", "Same outcome %"]

    def control(e: dict[str, Any]) -> list[str]:
        versus = e.get("versus_identity") or {}
        return [_share(versus.get("base_accuracy")), _share(versus.get("consistency")),
                _share(e.get("agreement"))]  # fmt: skip

    body = [
        [md_code(e["model"]) if e.get("model") else "no base row in the run", md_text(e["variant"]),
         md_code(e["row"]), str(e["n"]), _share(e.get("base_accuracy")),
         _share(e.get("variant_accuracy")), _share(e.get("consistency")),
         *(control(e) if identity else []), *([md_code(e["source"])] if several else [])]
        for e in entries
    ]  # fmt: skip
    if several:
        header.append("Score document")
    numbers = 4 + (3 if identity else 0)
    return {
        # the known variants only, described in our words (`leaderboard.CONSISTENCY_VARIANTS`)
        "described": [(v, CONSISTENCY_VARIANTS[v]) for v in variants if v in CONSISTENCY_VARIANTS],
        "identity": identity,
        "table": _lines(md_table(header, body, "lll" + "r" * numbers + ("l" if several else ""))),
    }


def _lines(lines: list[str]) -> str:
    return "\n".join(lines)


def report_markdown(
    board: Leaderboard, *, figures: Sequence[str] = (), figure_notes: Sequence[str] = (),
    figure_texts: Mapping[str, str] | None = None,
) -> str:  # fmt: skip
    """report.md: the measured leaderboard, the category table, the published rows apart,
    where the measured rows stand, the paired comparisons, the figures (PNG file names beside
    report.md, each with its caption and the paragraph `figure_texts` gives it, and why any
    is missing) and each row's protocol. The prose is `report.md.jinja` (and the templates it
    includes); here the tables, the numbers and the names made safe."""
    from vlm4d_tasks.templating import render

    return render("vlm4d_tasks.report", "report.md.jinja", **report_context(
        board, figures=figures, figure_notes=figure_notes, figure_texts=figure_texts
    ))  # fmt: skip


def report_context(
    board: Leaderboard, *, figures: Sequence[str] = (), figure_notes: Sequence[str] = (),
    figure_texts: Mapping[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """What `report.md.jinja` is filled with: Markdown only (tables made, numbers formatted,
    every name from a file through `md_code`/`md_text`)."""
    from vlm4d_tasks.report.figures import figure_caption

    rows = board.rows
    header = ["#", "Model", *COLUMN_TITLES.values(), "Chance-corr.", "Debiased", "Questions",
              "Protocol"]  # fmt: skip
    leaderboards = []
    # a board built without `group_rows` (a caller of its own): its rows as one table
    boards = board.groups or [Group(None, list(rows))]  # type: ignore[arg-type]
    for group in boards:
        if group.key is not None and group.key.questions == dsr_set():
            leaderboards.append(_dsr_leaderboard(board, group))
            continue
        body = []
        for row in group.rows:
            overall = row.columns.get("overall")
            body.append([
                str(row.rank) if row.rank is not None else MISSING, md_code(row.label),
                *(_cell_text(row.columns.get(c)) for c in COLUMNS),
                _pct(overall.chance_corrected if overall else None), _cell_text(row.debiased),
                str(overall.n) if overall else "0",
                md_text(row.protocol or "not recorded"),
            ])  # fmt: skip
        leaderboards.append({
            "title": group.key.title() if group.key is not None else None,
            "table": _lines(md_table(header, body, "ll" + "r" * (len(COLUMNS) + 3) + "l")),
        })  # fmt: skip

    header = ["Model", *CATEGORY_TITLES.values()]
    ours = [row for row in rows if row.label not in board.dsr]  # VLM4D's categories
    body = [
        [md_code(row.label), *(
            MISSING if row.categories.get(c) is None
            else f"{_cell_text(row.categories[c], interval=False)} (n={row.categories[c].n})"
            for c in CATEGORY_TITLES
        )]
        for row in ours
    ]  # fmt: skip
    categories = md_table(header, body, "l" + "r" * len(CATEGORY_TITLES))
    vlm4d = bool(ours) or not rows  # any table of VLM4D's questions (an empty report: one)

    # The published rows are the package's own `published.json` (written by us, Markdown as it
    # stands), so their texts go in as they are.
    pub = board.published
    published = []
    for table in pub["tables"]:
        # Source and protocol once under the title when all rows share them, else per row.
        shared = {(r["source"], r["protocol"]) for r in table["rows"]}
        extra = [] if len(shared) == 1 else ["Source", "Protocol"]
        body = [
            [f"{r['model']} {PUBLISHED_MARK}", *(_pct(r["percent"].get(c)) for c in COLUMNS),
             *([r["source"], r["protocol"]] if extra else [])]
            for r in table["rows"]
        ]  # fmt: skip
        header = ["Model", *COLUMN_TITLES.values(), *extra]
        published.append({
            "title": table["title"],
            "shared": next(iter(shared)) if len(shared) == 1 else None,
            "split": table["split"],
            "table": _lines(md_table(header, body, "l" + "r" * len(COLUMNS) + "l" * len(extra))),
        })  # fmt: skip

    standings = None
    if board.standings:
        titles = {  # the leaderboard by its prompt setting: "chain of thought", "direct output"
            t["id"]: PROMPT_TITLES.get((t["rows"] or [{}])[0].get("prompt") or "", t["title"])
            for t in pub["tables"]
        }
        header = ["Model", "Overall", "Place", "Official leaderboard", "Next above",
                  "Next below", "Same name", "Measured − official"]  # fmt: skip
        body = []
        for s in board.standings:
            body.append([
                md_code(s.label), _pct(s.overall), f"{s.place} of {s.of}", titles[s.table],
                f"{s.above[0]} {_pct(s.above[1])}{PUBLISHED_MARK}" if s.above else MISSING,
                f"{s.below[0]} {_pct(s.below[1])}{PUBLISHED_MARK}" if s.below else MISSING,
                f"{_pct(s.same_name)}{PUBLISHED_MARK}" if s.same_name is not None else MISSING,
                _signed(s.overall - s.same_name) if s.same_name is not None else MISSING,
            ])  # fmt: skip
        standings = _lines(md_table(header, body, "lrrllllr"))

    made = [c for c in board.comparisons if not c.why]
    comparisons = None
    if made:
        header = ["A", "B", "Questions", "Videos", "A %", "B %", "A − B", "95% interval",
                  "A only", "B only", "McNemar p"]  # fmt: skip
        body = []
        for c in made:
            assert c.ci95 is not None and c.difference is not None
            body.append([
                md_code(c.a), md_code(c.b), str(c.n), str(c.videos), _pct(100 * c.a_accuracy),
                _pct(100 * c.b_accuracy), _signed(100 * c.difference),
                f"[{_signed(100 * c.ci95[0])}, {_signed(100 * c.ci95[1])}]", str(c.a_only),
                str(c.b_only), _p(c.p_value),
            ])  # fmt: skip
        comparisons = _lines(md_table(header, body, "ll" + "r" * 9))
    without = [row.label for row in rows if row.outcomes is None]

    texts = figure_texts or {}
    groups: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:  # rows made and judged alike, from one document, in one line
        groups.setdefault((row.protocol_text, row.verdicts, row.source), []).append(row.label)
    return {
        "missing": MISSING,
        "mark": PUBLISHED_MARK,
        "rows": len(rows),
        "baselines": len(board.baselines),
        "sources": len(board.sources),
        "leaderboards": leaderboards,
        "intervals": _intervals(board),
        # within one table: rows declared alike may still differ in what a document records
        "several_protocols": any(len({r.protocol for r in g.rows}) > 1 for g in boards),
        "several_counts": any(
            len({r.columns["overall"].n for r in g.rows if "overall" in r.columns}) > 1
            for g in boards
        ),
        "validity": _validity(board),
        "vlm4d": vlm4d,
        "categories": _lines(categories) if vlm4d else None,
        "dsr": _dsr_context(board),
        "published_notes": pub["notes"],
        "literature": literature_context(board.literature),
        "published": published,
        "standings": standings,
        "bootstrap": board.bootstrap,
        "comparisons": comparisons,
        "none_comparable": not made and (len(rows) - len(without) > 1 or not without),
        "without_outcomes": _listing(without) if without else None,
        # `why` is the pipeline's own sentence (`rows.compare_rows`, `leaderboard`)
        "not_compared": [(md_code(c.a), md_code(c.b), c.why) for c in board.comparisons if c.why],
        "figures": [
            {"name": name, "caption": figure_caption(name), "text": texts.get(name) or ""}
            for name in figures
        ],
        "figure_notes": list(figure_notes),
        "protocols": [
            {
                "rows": _listing(labels),
                "text": text,
                "verdicts": verdicts,
                "source": md_code(source),
            }
            for (text, verdicts, source), labels in groups.items()
        ],
    }


def _dsr_leaderboard(board: Leaderboard, group: Group) -> dict[str, Any]:
    """A DSR-Bench group's table: its viewpoints (`breakdowns.dsr_cells`) where VLM4D's table
    has the paper's subsets, no debiased column (the set is VLM4D's)."""
    views = dsr_viewpoint_titles()
    header = ["#", "Model", *views.values(), "Overall", "Chance-corr.", "Questions", "Protocol"]
    body = []
    for row in group.rows:
        overall = row.columns.get("overall")
        cells = board.dsr[row.label].viewpoints
        body.append([
            str(row.rank) if row.rank is not None else MISSING, md_code(row.label),
            *(_cell_text(cells.get(v)) for v in views), _cell_text(overall),
            _pct(overall.chance_corrected if overall else None),
            str(overall.n) if overall else "0", md_text(row.protocol or "not recorded"),
        ])  # fmt: skip
    return {
        "title": group.key.title(),
        "table": _lines(md_table(header, body, "ll" + "r" * (len(views) + 3) + "l")),
    }


def _dsr_context(board: Leaderboard) -> dict[str, Any] | None:
    """The DSR-Bench rows' table by question type (`breakdowns.dsr_type_titles`, VLMEvalKit's
    order), one line per row in report order; None without such rows."""
    if not board.dsr:
        return None
    titles = dsr_type_titles()
    body = []
    for row in board.rows:
        cells = board.dsr.get(row.label)
        if cells is None:
            continue
        body.append([md_code(row.label), *(
            MISSING if cells.types.get(t) is None
            else f"{_cell_text(cells.types[t], interval=False)} (n={cells.types[t].n})"
            for t in titles
        )])  # fmt: skip
    return {
        "types": _lines(md_table(["Model", *titles.values()], body, "l" + "r" * len(titles))),
        "viewpoints": ", ".join(dsr_viewpoint_titles().values()),
    }


def _literature_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The number columns of literature rows: ours in the paper's order, then the others
    (a paper's own, e.g. "vlm4d") as they first appear."""
    seen = dict.fromkeys(key for row in rows for key in row["numbers"])
    return [c for c in COLUMNS if c in seen] + [c for c in seen if c not in COLUMNS]


def literature_context(literature: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The other papers' rows (`literature.load_literature()`'s shape) as one table per
    paper and table, in the file's order: model, setting, the numbers as quoted, and the
    protocol as the paper states it (once under the title when every row shares it). Never
    ranked; None without rows. Their texts come from a data file: escaped like any name."""
    if not literature or not literature.get("rows"):
        return None
    tables: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for row in literature["rows"]:
        tables.setdefault((row["paper"], row["arxiv"], row["table"]), []).append(row)
    out = []
    for (paper, arxiv, table), rows in tables.items():
        columns = _literature_columns(rows)
        protocols = {row["protocol"] for row in rows}
        shared = len(protocols) == 1
        header = ["Model", "Setting", *(COLUMN_TITLES.get(c, md_text(c)) for c in columns),
                  *([] if shared else ["Protocol"])]  # fmt: skip
        body = [
            [md_text(row["model"]), md_text(row.get("setting") or MISSING),
             *(_pct(row["numbers"].get(c)) for c in columns),
             *([] if shared else [md_text(row["protocol"])])]
            for row in rows
        ]  # fmt: skip
        out.append({
            "paper": md_text(paper), "arxiv": md_text(arxiv), "table": md_text(table),
            "protocol": md_text(next(iter(protocols))) if shared else None,
            "rows": _lines(md_table(header, body, "ll" + "r" * len(columns)
                                    + ("" if shared else "l"))),
        })  # fmt: skip
    skipped = [
        f"{md_text(item.get('paper', ''))} (arXiv {md_text(item.get('arxiv', ''))}): "
        f"{md_text(item.get('why', ''))}"
        for item in literature.get("read_without_usable_numbers") or []
    ]
    return {"about": md_text(literature.get("about") or ""), "tables": out, "skipped": skipped}


# A spreadsheet reads a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"): `=HYPERLINK(...)` as a model name would run when the CSV is opened.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class CsvNumber(str):
    """A number already formatted for the CSV ("-3.2000"): written as it is, never taken for
    a formula (`csv_cell`), since a negative number starts with "-"."""


def csv_cell(value: Any) -> Any:
    """A CSV cell made safe for spreadsheets: a text cell that starts like a formula
    (`FORMULA_STARTS`) gets a leading `'` (the OWASP rule: the spreadsheet shows it as text);
    numbers (int, float, `CsvNumber`) stay numbers."""
    if isinstance(value, (int, float, CsvNumber)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _no_bare_cr(cell: Any) -> Any:
    """A carriage return as a line feed: the writer quotes a cell holding a line feed (one in
    its line terminator) but not one holding a lone CR, which every reader takes for the end
    of the row, so "x\r=cmd" would start a new row with a formula cell."""
    if isinstance(cell, str) and "\r" in cell:
        return cell.replace("\r\n", "\n").replace("\r", "\n")
    return cell


def leaderboard_csv(board: Leaderboard) -> str:
    """leaderboard.csv: one line per measured row (rank, accuracy in %, interval, counts,
    categories, then chance-corrected overall accuracy in %, the intervals' clusters and the
    debiased accuracy with its interval and status, its leaderboard `group`), then the baseline
    rows (table `baseline`, their score documents as source), then the published rows (their
    table, source and protocol; no interval), then the other papers' rows (table
    `literature:<arXiv id>`, their numbers without a column of ours in `other_numbers`). With
    DSR-Bench rows, two columns per viewpoint and question type of theirs at the end
    (`dsr_<name>_percent`, `dsr_<name>_n`: `dsr_absolute_percent`, `dsr_abs_dis_n`...), blank
    on every other line. Text cells pass `csv_cell` (no spreadsheet formula)."""
    header = ["table", "rank", "model", "setting", "protocol", "source"]
    for c in COLUMNS:
        header += [f"{c}_percent", f"{c}_ci_low", f"{c}_ci_high", f"{c}_n"]
    header += [f"{c}_percent" for c in CATEGORY_TITLES] + [f"{c}_n" for c in CATEGORY_TITLES]
    # Added at the end, so that a reader of the earlier columns by position still works.
    header += ["overall_chance_corrected", "overall_videos", "interval_clusters",
               "debiased_percent", "debiased_ci_low", "debiased_ci_high", "debiased_n",
               "debiased_videos", "debiased_status"]  # fmt: skip
    # the row's leaderboard (its rank counts within it); a literature row's numbers that have
    # no column of ours ("vlm4d=52.3")
    header += ["group", "other_numbers"]
    # With DSR-Bench rows, their breakdowns (`breakdowns.dsr_cells`) at the very end: a report
    # without them keeps its columns as they were
    dsr = [*dsr_viewpoint_titles(), *dsr_type_titles()] if board.dsr else []
    header += [f"dsr_{key}_{what}" for key in dsr for what in ("percent", "n")]
    dsr_blank = [""] * (2 * len(dsr))
    validity_blank = [""] * 9
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)

    def write(line: list[Any]) -> None:
        writer.writerow([_no_bare_cr(csv_cell(cell)) for cell in line])

    def num(value: float | None) -> str:
        return "" if value is None else CsvNumber(f"{value:.4f}")

    def validity(overall: Cell | None, debiased: Cell | None, status: str,
                 clusters: str) -> list[Any]:  # fmt: skip
        ci = debiased.ci95 if debiased else None
        return [
            num(overall.chance_corrected if overall else None),
            "" if overall is None or overall.videos is None else overall.videos,
            clusters,
            num(debiased.percent if debiased else None),
            num(100 * ci[0] if ci else None),
            num(100 * ci[1] if ci else None),
            debiased.n if debiased else "",
            "" if debiased is None or debiased.videos is None else debiased.videos,
            status,
        ]

    for row in board.rows:
        line = ["measured", row.rank or "", row.label, row.setting,
                row.protocol or "not recorded", row.source]  # fmt: skip
        for c in COLUMNS:
            cell = row.columns.get(c)
            ci = cell.ci95 if cell else None
            line += [num(cell.percent if cell else None), num(100 * ci[0] if ci else None),
                     num(100 * ci[1] if ci else None), cell.n if cell else ""]  # fmt: skip
        line += [num(row.categories[c].percent if c in row.categories else None)
                 for c in CATEGORY_TITLES]  # fmt: skip
        line += [row.categories[c].n if c in row.categories else "" for c in CATEGORY_TITLES]
        line += validity(row.columns.get("overall"), row.debiased, row.debiased_status,
                         row.clusters or "questions")  # fmt: skip
        line += [row.group or "", ""]
        cells = board.dsr.get(row.label)
        found = {} if cells is None else {**cells.viewpoints, **cells.types}
        for key in dsr:
            cell = found.get(key)
            line += [num(cell.percent if cell else None), cell.n if cell else ""]
        write(line)
    for baseline in board.baselines:
        line = ["baseline", "", baseline.label, "", "baseline: no model, never sees the video",
                "; ".join(baseline.sources)]  # fmt: skip
        for c in COLUMNS:
            cell = baseline.columns.get(c)
            ci = cell.ci95 if cell else None
            line += [num(cell.percent if cell else None), num(100 * ci[0] if ci else None),
                     num(100 * ci[1] if ci else None), cell.n if cell else ""]  # fmt: skip
        line += [""] * (2 * len(CATEGORY_TITLES))
        status = DEBIASED_MEASURED if baseline.debiased is not None else "no debiased set"
        line += validity(baseline.columns.get("overall"), baseline.debiased, status, "video")
        line += ["", ""] + dsr_blank
        write(line)
    for table in board.published["tables"]:
        for r in table["rows"]:
            line = [f"published:{table['id']}", "", r["model"], r.get("prompt") or "",
                    r["protocol"], r["source"]]  # fmt: skip
            for c in COLUMNS:
                value = r["percent"].get(c)
                line += ["" if value is None else CsvNumber(f"{value:.1f}"), "", "", ""]
            line += [""] * (2 * len(CATEGORY_TITLES))
            line += validity_blank + ["", ""] + dsr_blank
            write(line)
    for r in (board.literature or {}).get("rows") or []:
        line = [f"literature:{r['arxiv']}", "", r["model"], r.get("setting") or "",
                r["protocol"], f"{r['paper']}, {r['table']} (arXiv {r['arxiv']})"]  # fmt: skip
        for c in COLUMNS:
            value = r["numbers"].get(c)
            line += ["" if value is None else CsvNumber(f"{value:.1f}"), "", "", ""]
        line += [""] * (2 * len(CATEGORY_TITLES)) + validity_blank + [""]
        line.append("; ".join(f"{key}={'' if value is None else f'{value:.1f}'}"
                              for key, value in r["numbers"].items() if key not in COLUMNS))  # fmt: skip
        write(line + dsr_blank)
    return out.getvalue()


def _dsr_names() -> dict[str, list[str]]:
    """What a DSR-Bench group's rows carry in place of the top level's `columns` and
    `categories` (VLM4D's)."""
    return {"columns": [*dsr_viewpoint_titles(), "overall"], "categories": [*dsr_type_titles()]}


def _measured_dict(board: Leaderboard, row: MeasuredRow) -> dict[str, Any]:
    """A measured row of leaderboard.json; a DSR-Bench row's `columns` gain its viewpoints
    and its `categories` are its question types (`breakdowns.dsr_cells`)."""
    entry = row.to_dict()
    cells = board.dsr.get(row.label)
    if cells is not None:
        entry["columns"] = {**{k: c.to_dict() for k, c in cells.viewpoints.items()},
                            **entry["columns"]}  # fmt: skip
        entry["categories"] = {k: c.to_dict() for k, c in cells.types.items()}
    return entry


def leaderboard_json(board: Leaderboard) -> dict[str, Any]:
    """leaderboard.json: the measured rows (accuracies as fractions, as in score documents,
    each with its debiased accuracy and its `group`), the leaderboards (`groups`: each one's
    question set, count, protocol and rows), the baseline rows, the published tables and the
    other papers' rows (`literature`, null without them) apart (published: percent, as
    published), consistency, standings, comparisons, inputs (each with its bootstrap settings
    and debiased set). The top level's `columns` and `categories` are VLM4D's; a DSR-Bench
    group names its own (`columns`: its viewpoints and overall; `categories`: its question
    types), and its rows carry those."""
    return {
        "format_version": LEADERBOARD_FORMAT_VERSION,
        "columns": list(COLUMNS),
        "categories": list(CATEGORY_TITLES),
        "inputs": [
            {
                "path": s.path,
                "judge": s.document.get("judge"),
                "protocol": (s.document.get("run") or {}).get("protocol"),
                "rows": [r.label for r in board.rows if r.source == s.path],
                "bootstrap": s.document.get("bootstrap"),
                "debiased": (validity_block(s) or {}).get("debiased"),
            }
            for s in board.sources
        ],  # fmt: skip
        "groups": [
            {
                "id": g.key.id,
                "questions": g.key.questions,
                "count": g.key.count,
                "protocol": g.key.protocol,
                "rows": [row.label for row in g.rows],
                **(_dsr_names() if g.key.questions == dsr_set() else {}),
            }
            for g in board.groups
        ],  # fmt: skip
        "measured": [_measured_dict(board, row) for row in board.rows],
        "baselines": [row.to_dict() for row in board.baselines],
        "consistency": list(board.consistency),
        "published": board.published,
        "literature": board.literature,
        "standings": [s.to_dict() for s in board.standings],
        "bootstrap": board.bootstrap,
        "comparisons": [c.to_dict() for c in board.comparisons],
    }
