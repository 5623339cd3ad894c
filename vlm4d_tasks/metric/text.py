"""Names from files, made safe wherever we write them: a Markdown table or line, a figure label,
a terminal. What we write is read by others' tools, so a model or file name is text, never
markup, a formula, a link or a control sequence.

In the metric core, beside `redact`, because a name is redacted before it is escaped (an escaped
URL no longer looks like one); used by the floors above (the probe diagnosis, the rows of
`pipeline.rows`, the report).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# Characters that end a Markdown line (markdown-it splits on \n and \r; the C0 controls and
# NEL have no business in a name either): a name is one line, or a "# ..." after its newline
# would open a heading and a "|" row a new table row.
# C0 and C1 controls (ESC and CSI start terminal sequences; the Markdown goes to stdout),
# line breaks, and the bidirectional overrides and isolates, which show a name reordered.
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


# What must be escaped for a text to stay literal wherever the report puts it (mid-line, a
# table cell, the start of a list item), and nothing more, so that ordinary names read as
# they are ("Qwen2.5-VL-7B (cot)", "m [vlm4d_mc_mirror]"): code, emphasis, HTML, entities,
# table pipes, math and strikethrough everywhere; `_` unless inside a word (CommonMark's
# intraword rule); the `](` / `][` / `![` of links and images; `://` and `www.` (GitHub's
# autolinks); and a block marker at the start (heading, list, quote, setext underline).
_MARKDOWN_SPECIAL = re.compile(
    r"[\\`*<&|$~]|(?<![^\W_])_|_(?![^\W_])|\](?=[(\[])|!(?=\[)|:(?=//)|(?i:(?<=www)\.)"
    r"|^[#+\-=>]"
)


_ORDERED_LIST_MARKER = re.compile(r"^(\d{1,9})([.)])")  # "1." / "1)" opening a text


def one_line(text: object) -> str:
    """`text` with every line break, control character and bidirectional override a space:
    a name drawn in a figure or written in a table stays on its line, in its order, and a
    terminal shown the table obeys nothing in it."""
    return _LINE_BREAKS.sub(" ", str(text))


# The longest name a figure draws. A name is laid out on one line, so its length sets the
# figure's width: a 100,000-character name made a 366-megapixel PNG (a decompression bomb for
# whoever opens report.html). The tables keep the whole name.
MAX_LABEL_CHARS = 80


def figure_label(text: object) -> str:
    """`one_line(text)`, shortened in the middle to `MAX_LABEL_CHARS` (its end, often the
    prompt setting "(cot)", kept)."""
    flat = one_line(text)
    if len(flat) <= MAX_LABEL_CHARS:
        return flat
    tail = MAX_LABEL_CHARS // 4
    return flat[: MAX_LABEL_CHARS - tail - 1] + "\u2026" + flat[-tail:]


def md_text(text: object) -> str:
    """`text` (a name or message from a file) as literal Markdown text, on one line and
    stripped, with the characters that could make markup escaped (`_MARKDOWN_SPECIAL`;
    CommonMark lets a backslash escape any ASCII punctuation): no link, image, emphasis,
    heading, HTML, entity or table cell comes out of it. Redacted first: an escaped URL would
    no longer look like one to `redact.redact`."""
    from vlm4d_tasks.metric.redact import redact

    flat = one_line(redact(str(text))).strip()
    escaped = _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(), flat)
    return _ORDERED_LIST_MARKER.sub(r"\1\\\2", escaped)


def md_code(text: object) -> str:
    """`text` (a name or path from a file) as one Markdown code span that nothing in it can
    close: on one line, fenced by one more backtick than its longest run of backticks, padded
    with a space when it starts or ends with a backtick or a space (CommonMark strips one
    space from each side). Inside a table each `|` still needs its `\\|` (the table's job)."""
    from vlm4d_tasks.metric.redact import redact

    content = one_line(redact(str(text)))
    fence = "`" * (1 + max((len(run) for run in re.findall(r"`+", content)), default=0))
    if not content.strip(" "):  # all spaces is kept as is; an empty span needs one
        content = content or " "
    elif content[0] in "` " or content[-1] in "` ":
        content = f" {content} "
    return f"{fence}{content}{fence}"


def md_cell(cell: str) -> str:
    """A table cell's Markdown with its pipes escaped (GFM splits the row on any other)."""
    return cell.replace("|", "\\|")


def md_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str) -> list[str]:
    """A Markdown table as lines: `align` has one letter per column, `l`(eft) or `r`(ight).

    The cells are Markdown already (`md_text`/`md_code` of names, formatted numbers); here each
    is put on one line and its pipes escaped (`md_cell`), so no cell ends its row or adds a
    column, and a row of another width than the header is refused: a row that GFM would pad
    or cut silently is a bug of its caller."""
    if len(align) != len(header) or set(align) - {"l", "r"}:
        raise ValueError(f"table alignment {align!r}: one of l/r per column of {list(header)}")
    rule = "|" + "|".join(" ---: " if a == "r" else " --- " for a in align) + "|"
    lines = [_table_row(header), rule]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"table row of {len(row)} cells under {len(header)} columns: {row}")
        lines.append(_table_row(row))
    return lines


def _table_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(md_cell(one_line(cell)) for cell in cells) + " |"
