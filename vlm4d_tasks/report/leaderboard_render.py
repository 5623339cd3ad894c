"""The leaderboard as text: the report's Markdown (`report_markdown`), `leaderboard.csv` (text
cells that a spreadsheet would run as a formula neutralised) and `leaderboard.json`, each
rendered from a built `leaderboard.Leaderboard`; building the rows is `leaderboard`'s job.
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
from vlm4d_tasks.report.leaderboard import (
    CONSISTENCY_VARIANTS,
    LEADERBOARD_FORMAT_VERSION,
    PUBLISHED_MARK,
    BaselineRow,
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


def _intervals_note(board: Leaderboard) -> str:
    """How the documents' intervals were made: resampling videos (questions about one clip are
    not independent), or, in a document written before that, questions (too narrow)."""
    by_source = {source.path: source.document.get("bootstrap") or {} for source in board.sources}
    resamples = {block.get("resamples") for block in by_source.values()}
    counted = (
        f"{resamples.pop()} resamples" if len(resamples) == 1 and None not in resamples
        else "resamples as each document records"
    )  # fmt: skip
    old = [row.label for row in board.rows if row.clusters != "video"]
    if not old:
        return (
            f"The intervals resample videos, not questions ({counted}): questions about one "
            "clip are not independent."
        )
    what = "The intervals" if len(old) == len(board.rows) else f"The intervals of {_listing(old)}"
    return (
        f"{what} resample questions ({counted}): their score documents were written before "
        "intervals were clustered by video, so they are narrower than they should be (questions "
        "about one clip are not independent); fix: score the answers again with this version "
        "of `vlm4d score`."
    )


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


def _baseline_standing(board: Leaderboard, baseline: BaselineRow) -> str | None:
    """One sentence: above how many measured rows on its questions the baseline scores,
    overall and per subset (rows below it; a tie is not below). None without such rows."""
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
    subsets = [f"{column}: {counts[column]}" for column in counts if column != first]
    return (
        f"{md_code(baseline.label)} scores above {counts[first]} measured rows on the same "
        "questions "
        f"{first if first == 'overall' else f'on the {first} subset'}"
        + (f" ({'; '.join(subsets)})" if subsets else "")
        + "."
    )


def _validity_markdown(board: Leaderboard) -> list[str]:
    """Under the leaderboard: why a row has no debiased accuracy, the baseline rows apart, the
    paragraph on chance-corrected and debiased accuracy (with the debiased set's caveat), and
    the consistency table when a document has one."""
    from vlm4d_tasks.validity.baselines import PRIOR_ROW

    lines: list[str] = []
    missing: dict[str, list[str]] = {}
    for row in board.rows:
        if row.debiased_status != DEBIASED_MEASURED:
            missing.setdefault(row.debiased_status, []).append(row.label)
    for status, labels in missing.items():
        lines += ["", f"Debiased {MISSING} for {_listing(labels)}: {status}."]

    blocks = {s.path: validity_block(s) for s in board.sources}
    if board.baselines:
        lines += ["", "### Baselines on the same questions (not models: not ranked)", ""]
        lines.append(
            "Computed by each score document on the questions its rows answered "
            "(`validity.baselines`); they never see the video, so they are kept apart from the "
            "ranking, as the published rows are. *Option-text prior*: for each question the "
            "option whose text is most often the right answer when it is offered in the other "
            "questions of its subset (leave-one-out; it does not read the question either). "
            "*Random*: a seeded uniform letter per question (25% expected)."
        )
        lines.append("")
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
        lines += md_table(header, body, "l" + "r" * (len(COLUMNS) + 3) + "l")
        standings = [_baseline_standing(board, b) for b in board.baselines]
        lines += [line for text in standings if text for line in ("", text)]
    old = [
        path
        for path, block in blocks.items()
        if block is None
        and any(r.source == path and r.debiased_status == NOT_IN_FILE for r in board.rows)
    ]
    if old:
        lines += [
            "",
            f"No baseline rows or debiased set from {_listing(old)}: not in these score "
            "files (written before score documents carried a `validity` block); fix: score the "
            "answers again with this version of `vlm4d score`.",
        ]

    lines += [
        "",
        "**Chance-corr.** is the overall accuracy corrected for chance, (accuracy − 25%) / 75%: "
        "0 is guessing among the four options, 100 is perfect, below 0 is worse than guessing "
        "(its interval is the overall interval rescaled the same way).",
    ]
    sets: dict[tuple, list[str]] = {}
    for path, block in blocks.items():
        if block is not None:
            d = block["debiased"]
            key = (d["version"], d["kept"], d["of"], tuple(unavailable_subsets(block)))
            sets.setdefault(key, []).append(path)
    if sets:
        videos = {r.debiased.videos for r in board.rows if r.debiased is not None}
        clusters = (
            f"{videos.pop()} videos" if len(videos) == 1 and None not in videos
            else "the videos of the row's questions"
        )  # fmt: skip
        method = (
            "iterative bias pruning removed the questions that a text-only predictor, trained and "
            "tested on the benchmark's own questions without any video, answered most surely; see "
            "the README's validity section"
        )

        def one(key: tuple) -> str:
            version, kept, of, unavailable = key
            text = f"the {kept} of {of} questions kept by {md_code(version)}"
            if unavailable:
                text += (
                    f" (no debiased list for {', '.join(unavailable)}: its rows' debiased "
                    "accuracy covers the other subsets only)"
                )
            return text

        if len(sets) == 1:
            lines += [
                "",
                f"**Debiased** is the overall accuracy on {one(next(iter(sets)))} ({method}), "
                f"with its 95% bootstrap interval clustered by video ({clusters}).",
            ]
        else:
            lines += [
                "",
                f"**Debiased** is the overall accuracy on the debiased set ({method}), with its "
                f"95% bootstrap interval clustered by video ({clusters}); the score documents "
                "answered different questions, so each row's set is its document's:",
                "",
            ]
            lines += [f"- {_listing(paths)}: {one(key)}." for key, paths in sets.items()]
        prior = [b for b in board.baselines if b.model == PRIOR_ROW and b.debiased is not None
                 and b.debiased.percent is not None and "overall" in b.columns]  # fmt: skip
        still = ""
        if prior:
            scores = ", ".join(
                f"{_pct(b.debiased.percent)}% on it against {_pct(b.columns['overall'].percent)}% "
                f"on all its questions"
                + (f" and {_share(b.random_removed)}% when as many questions are removed at "
                   "random instead (the control: the drop is the debiasing's, not the removal's)"
                   if b.random_removed is not None else "")
                + (f" ({md_code(b.label)})" if len(prior) > 1 else "")
                for b in prior if b.debiased is not None
            )  # fmt: skip
            still = (
                f": the option-text prior, which sees neither the video nor the question, "
                f"still scores {scores} (chance is 25%)"
            )
        lines += [
            "",
            f"**Caveat on the debiased set.** It is less biased, not unbiased{still}. It was "
            "chosen by a text model's behaviour on these very questions and has another mix of "
            "subsets and categories, so a debiased accuracy compares only with the debiased "
            "accuracies of rows over the same questions: not with the full-set columns, and not "
            "with the published rows.",
        ]
    lines += _consistency_markdown(board)
    return lines


def _share(value: float | None) -> str:
    return MISSING if value is None else _pct(100 * value)


def _consistency_markdown(board: Leaderboard) -> list[str]:
    """The documents' `validity.consistency` as a table (nothing when none has it)."""
    entries = board.consistency
    if not entries:
        return []
    several = len({e["source"] for e in entries}) > 1
    variants = dict.fromkeys(e["variant"] for e in entries)
    described = "; ".join(
        f"*{v}*: {CONSISTENCY_VARIANTS[v]}" for v in variants if v in CONSISTENCY_VARIANTS
    )
    lines = ["", "### Consistency under transformed questions", ""]
    lines.append(
        "Each model's answers to transformed questions (its row *Row*) beside its answers to "
        "the same questions as released (`validity.consistency` of the score document)"
        + (f"; {described}" if described else "")
        + ". Base and variant accuracy are over the same paired questions; consistency is the "
        "share of them answered right in both forms (for circular, right under every "
        "lettering), so it equals the base accuracy only when no right answer is lost."
    )
    lines.append("")
    header = ["Model", "Variant", "Row", "Questions", "Base %", "Variant %", "Consistency %"]
    body = [
        [md_code(e["model"]) if e.get("model") else "no base row in the run", md_text(e["variant"]),
         md_code(e["row"]), str(e["n"]), _share(e.get("base_accuracy")),
         _share(e.get("variant_accuracy")), _share(e.get("consistency")),
         *([md_code(e["source"])] if several else [])]
        for e in entries
    ]  # fmt: skip
    if several:
        header.append("Score document")
    lines += md_table(header, body, "lll" + "r" * 4 + ("l" if several else ""))
    return lines


def report_markdown(
    board: Leaderboard, *, figures: Sequence[str] = (), figure_notes: Sequence[str] = (),
    figure_texts: Mapping[str, str] | None = None,
) -> str:  # fmt: skip
    """report.md: the measured leaderboard, the category table, the published rows apart,
    where the measured rows stand, the paired comparisons, the figures (PNG file names beside
    report.md, each with its caption and the paragraph `figure_texts` gives it, and why any
    is missing) and each row's protocol."""
    from vlm4d_tasks.report.figures import figure_caption

    rows = board.rows
    lines = ["# VLM4D report", ""]
    baselines = f" and {len(board.baselines)} baseline row(s)" if board.baselines else ""
    lines.append(
        f"{len(rows)} measured row(s){baselines} from {len(board.sources)} score document(s); "
        "nothing was run again (the numbers are the documents')."
    )
    lines += ["", "## Leaderboard (measured here)", ""]
    header = ["#", "Model", *COLUMN_TITLES.values(), "Chance-corr.", "Debiased", "Questions",
              "Protocol"]  # fmt: skip
    body = []
    for row in rows:
        overall = row.columns.get("overall")
        body.append([
            str(row.rank) if row.rank is not None else MISSING, md_code(row.label),
            *(_cell_text(row.columns.get(c)) for c in COLUMNS),
            _pct(overall.chance_corrected if overall else None), _cell_text(row.debiased),
            str(overall.n) if overall else "0",
            md_text(row.protocol or "not recorded"),
        ])  # fmt: skip
    lines += md_table(header, body, "ll" + "r" * (len(COLUMNS) + 3) + "l")
    protocols = {row.protocol for row in rows}
    counts = {row.columns["overall"].n for row in rows if "overall" in row.columns}
    lines += [
        "",
        "Accuracy in % with the 95% bootstrap interval of each score document; ranked by "
        "overall accuracy, which pools every question of both subsets (question-weighted); "
        f"{MISSING} = no questions of that kind. Questions: scored questions of the row "
        "(unresolved judge answers left out). " + _intervals_note(board),
    ]
    if len(protocols) > 1:
        lines += [
            "",
            "**The rows were made under different protocols** (column Protocol; see "
            "[Protocols](#protocols-of-the-measured-rows)): rows of different protocols are not "
            "comparable, and their ranks are marked by that column.",
        ]
    if len(counts) > 1:
        lines += [
            "",
            "**The rows answered different numbers of questions** (column Questions): only rows "
            "over the same questions are comparable.",
        ]

    lines += _validity_markdown(board)

    lines += ["", "## By category (measured here)", ""]
    header = ["Model", *CATEGORY_TITLES.values()]
    body = [
        [md_code(row.label), *(
            MISSING if row.categories.get(c) is None
            else f"{_cell_text(row.categories[c], interval=False)} (n={row.categories[c].n})"
            for c in CATEGORY_TITLES
        )]
        for row in rows
    ]  # fmt: skip
    lines += md_table(header, body, "l" + "r" * len(CATEGORY_TITLES))
    lines += [
        "",
        "Accuracy in % over the row's real and synthetic questions of each category, pooled by "
        "question counts (correct over scored questions of all its runs), not a mean of means.",
    ]

    pub = board.published
    lines += [
        "",
        "## Published rows (for context: not measured here, not ranked with the rows above)",
        "",
    ]
    lines += [f"- {note}" for note in pub["notes"]]
    for table in pub["tables"]:
        lines += ["", f"### {table['title']}", ""]
        # Source and protocol once under the title when all rows share them, else per row.
        shared = {(r["source"], r["protocol"]) for r in table["rows"]}
        if len(shared) == 1:
            source, protocol = next(iter(shared))
            lines += [f"Source: {source}; protocol: {protocol}. Questions: {table['split']}.", ""]
        else:
            lines += [f"Questions: {table['split']}.", ""]
        extra = [] if len(shared) == 1 else ["Source", "Protocol"]
        body = [
            [f"{r['model']} {PUBLISHED_MARK}", *(_pct(r["percent"].get(c)) for c in COLUMNS),
             *([r["source"], r["protocol"]] if extra else [])]
            for r in table["rows"]
        ]  # fmt: skip
        header = ["Model", *COLUMN_TITLES.values(), *extra]
        lines += md_table(header, body, "l" + "r" * len(COLUMNS) + "l" * len(extra))

    if board.standings:
        titles = {  # the leaderboard by its prompt setting: "chain of thought", "direct output"
            t["id"]: PROMPT_TITLES.get((t["rows"] or [{}])[0].get("prompt") or "", t["title"])
            for t in pub["tables"]
        }
        lines += ["", "## Measured rows beside the official leaderboard", ""]
        lines.append(
            f"Where each measured row over the release's 1816 questions would fall among the "
            f"official rows of its prompt setting, by overall accuracy at one decimal "
            f"({PUBLISHED_MARK} = official number: official protocol and judge, not measured "
            "here; a measured row made under another protocol or judged otherwise is not "
            "strictly comparable). Same name: the official overall of the row with this "
            "model's name, and the measured minus the official number; for the official outputs "
            "scored again here, that difference is the verdicts' (this score's extraction or "
            "judge against the human-verified labels)."
        )
        lines.append("")
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
        lines += md_table(header, body, "lrrllllr")

    lines += ["", "## Paired comparisons", ""]
    made = [c for c in board.comparisons if not c.why]
    if made:
        lines.append(
            "Two rows on the questions both answered (same question ids; unresolved answers "
            "left out): A − B in percentage points with a 95% paired bootstrap interval that "
            f"resamples videos ({board.bootstrap['resamples']} resamples, seed "
            f"{board.bootstrap['seed']}; questions of one video move together), and McNemar's "
            "exact two-sided p on the discordant pairs (A only right, B only right). Pairs: "
            "each model's settings against each other, then each row against the next one down "
            "among rows of its setting, then those asked for with --compare. The p-values are "
            "not adjusted for the number of comparisons."
        )
        lines.append("")
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
        lines += md_table(header, body, "ll" + "r" * 9)
    notes = []
    without = [row.label for row in rows if row.outcomes is None]
    if not made and (len(rows) - len(without) > 1 or not without):
        notes.append("No two rows answered the same questions.")
    if without:
        notes.append(
            f"Not compared: {_listing(without)}: their score "
            "documents were written before per-question outcomes were recorded "
            "(`runs[].outcomes`); fix: score the answers again with this version of "
            "`vlm4d score` (or rerun the lmms-eval aggregation)."
        )
    notes += [f"{md_code(c.a)} against {md_code(c.b)}: not compared: {c.why}."
              for c in board.comparisons if c.why]  # fmt: skip
    for i, note in enumerate(notes):
        if made or i:  # a blank line between paragraphs
            lines.append("")
        lines.append(note)

    if figures or figure_notes:
        lines += ["", "## Figures", ""]
        texts = figure_texts or {}
        for number, name in enumerate(figures, 1):
            caption = figure_caption(name)
            # The caption again as text under the image: an image's alt text is not shown.
            under = f"*Figure {number}: {caption}.*"
            if texts.get(name):
                under += f" {texts[name]}"
            lines += [f"![{caption}]({name})", "", under, ""]
        lines += [f"- {note}" for note in figure_notes]
        if not figure_notes:
            lines.pop()  # the blank line after the last figure

    lines += ["", "## Protocols of the measured rows", ""]
    groups: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:  # rows made and judged alike, from one document, in one line
        groups.setdefault((row.protocol_text, row.verdicts, row.source), []).append(row.label)
    for (text, verdicts, source), labels in groups.items():
        lines.append(
            f"- {_listing(labels)}: {text}. Verdicts: {verdicts}. Score: {md_code(source)}."
        )
    return "\n".join(lines) + "\n"


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
    debiased accuracy with its interval and status), then the baseline rows (table
    `baseline`, their score documents as source), then the published rows (their table,
    source and protocol; no interval). Text cells pass `csv_cell` (no spreadsheet formula)."""
    header = ["table", "rank", "model", "setting", "protocol", "source"]
    for c in COLUMNS:
        header += [f"{c}_percent", f"{c}_ci_low", f"{c}_ci_high", f"{c}_n"]
    header += [f"{c}_percent" for c in CATEGORY_TITLES] + [f"{c}_n" for c in CATEGORY_TITLES]
    # Added at the end, so that a reader of the earlier columns by position still works.
    header += ["overall_chance_corrected", "overall_videos", "interval_clusters",
               "debiased_percent", "debiased_ci_low", "debiased_ci_high", "debiased_n",
               "debiased_videos", "debiased_status"]  # fmt: skip
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
        write(line)
    for table in board.published["tables"]:
        for r in table["rows"]:
            line = [f"published:{table['id']}", "", r["model"], r.get("prompt") or "",
                    r["protocol"], r["source"]]  # fmt: skip
            for c in COLUMNS:
                value = r["percent"].get(c)
                line += ["" if value is None else CsvNumber(f"{value:.1f}"), "", "", ""]
            line += [""] * (2 * len(CATEGORY_TITLES))
            line += validity_blank
            write(line)
    return out.getvalue()


def leaderboard_json(board: Leaderboard) -> dict[str, Any]:
    """leaderboard.json: the measured rows (accuracies as fractions, as in score documents,
    each with its debiased accuracy), the baseline rows and the published tables apart
    (published: percent, as published), consistency, standings, comparisons, inputs (each
    with its bootstrap settings and debiased set)."""
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
        "measured": [row.to_dict() for row in board.rows],
        "baselines": [row.to_dict() for row in board.baselines],
        "consistency": list(board.consistency),
        "published": board.published,
        "standings": [s.to_dict() for s in board.standings],
        "bootstrap": board.bootstrap,
        "comparisons": [c.to_dict() for c in board.comparisons],
    }
