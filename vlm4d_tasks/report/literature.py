"""VLM4D numbers published by other papers (`literature.json`), checked before anyone shows them.

Each row quotes one model's VLM4D accuracy from a paper's own table (arXiv full text), with the
table, the protocol as the paper states it and the cells as read. They were not measured here
and are shown apart from measured rows, never ranked with them (issue 27, "The literature,
sourced"). The check exists because a hand-edited data file is where a typo (a 146.5, a missing
quote, a misspelt key) would otherwise reach a report silently.
"""

from __future__ import annotations

import copy
import json
import math
import re
from functools import lru_cache
from typing import Any

LITERATURE_FILE = "literature.json"
FORMAT = 1

_ROW_REQUIRED = ("paper", "arxiv", "table", "model", "protocol", "numbers", "quote")
_ROW_OPTIONAL = ("setting",)
_SKIPPED_REQUIRED = ("arxiv", "paper", "why")
# New-style arXiv identifiers (YYMM.NNNNN), optionally with a version.
_ARXIV_ID = re.compile(r"\d{4}\.\d{4,5}(v\d+)?")


class LiteratureError(ValueError):
    """`literature.json` is malformed; the message names the file, the row and the field."""


@lru_cache(maxsize=1)
def _literature_text() -> str:
    from importlib.resources import files

    return files("vlm4d_tasks.report").joinpath(LITERATURE_FILE).read_text(encoding="utf-8")


def load_literature() -> dict[str, Any]:
    """The package's `literature.json`, checked (a fresh copy each call, so callers may edit it).

    Raises `LiteratureError` (a `ValueError`) naming the row and field when the file is malformed.
    """
    try:
        doc = json.loads(_literature_text())
    except json.JSONDecodeError as exc:
        raise LiteratureError(
            f"{LITERATURE_FILE}: not valid JSON ({exc}); fix the file, it ships with the package"
        ) from exc
    return check_literature(doc)


def check_literature(doc: Any, source: str = LITERATURE_FILE) -> dict[str, Any]:
    """Check a literature document's shape and return a deep copy of it.

    Every row needs non-empty text in paper, arxiv (an arXiv id), table, model, protocol and
    quote, an optional text `setting`, and `numbers`: column name -> percent in 0..100 or null,
    at least one of them a number. Unknown keys are refused, so a misspelt field is caught.
    """
    if not isinstance(doc, dict):
        raise LiteratureError(f"{source}: the top level must be an object, got {_kind(doc)}")
    if doc.get("format") != FORMAT:
        raise LiteratureError(
            f"{source}: field 'format' is {doc.get('format')!r}; this reader knows format {FORMAT}"
        )
    about = doc.get("about")
    if not isinstance(about, str) or not about.strip():
        raise LiteratureError(f"{source}: field 'about' must be non-empty text")
    rows = doc.get("rows")
    if not isinstance(rows, list) or not rows:
        raise LiteratureError(f"{source}: field 'rows' must be a non-empty list")
    for index, row in enumerate(rows, start=1):
        _check_row(row, f"{source}: row {index}")
    skipped = doc.get("read_without_usable_numbers", [])
    if not isinstance(skipped, list):
        raise LiteratureError(f"{source}: field 'read_without_usable_numbers' must be a list")
    for index, entry in enumerate(skipped, start=1):
        where = f"{source}: read_without_usable_numbers entry {index}"
        if not isinstance(entry, dict):
            raise LiteratureError(f"{where} must be an object, got {_kind(entry)}")
        for field in _SKIPPED_REQUIRED:
            _text(entry, field, where)
    extra = set(doc) - {"format", "about", "rows", "read_without_usable_numbers"}
    if extra:
        raise LiteratureError(f"{source}: unknown top-level field(s) {sorted(extra)}")
    return copy.deepcopy(doc)


def _check_row(row: Any, where: str) -> None:
    if not isinstance(row, dict):
        raise LiteratureError(f"{where} must be an object, got {_kind(row)}")
    # Name the row by its model once we know it, so the message points at the right line.
    model = row.get("model")
    if isinstance(model, str) and model.strip():
        where = f"{where} ({model})"
    for field in _ROW_REQUIRED:
        if field not in row:
            raise LiteratureError(f"{where}: field '{field}' is missing")
    for field in ("paper", "arxiv", "table", "model", "protocol", "quote"):
        _text(row, field, where)
    if not _ARXIV_ID.fullmatch(row["arxiv"]):
        raise LiteratureError(
            f"{where}: field 'arxiv' is {row['arxiv']!r}, not an arXiv id such as 2512.20557"
        )
    if "setting" in row:
        _text(row, "setting", where)
    extra = set(row) - set(_ROW_REQUIRED) - set(_ROW_OPTIONAL)
    if extra:
        raise LiteratureError(f"{where}: unknown field(s) {sorted(extra)}")
    numbers = row["numbers"]
    if not isinstance(numbers, dict) or not numbers:
        raise LiteratureError(f"{where}: field 'numbers' must be a non-empty object")
    present = 0
    for column, value in numbers.items():
        field = f"numbers.{column}"
        if not column.strip():
            raise LiteratureError(f"{where}: field 'numbers' has an empty column name")
        if value is None:
            continue
        # bool is an int subclass: `true` would otherwise pass as 1 %.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise LiteratureError(
                f"{where}: field '{field}' is {value!r}, not a percentage (number) or null"
            )
        if not math.isfinite(value) or not 0 <= value <= 100:
            raise LiteratureError(
                f"{where}: field '{field}' is {value!r}, outside the percentage range 0..100"
            )
        present += 1
    if not present:
        raise LiteratureError(f"{where}: field 'numbers' holds no number, only nulls")


def _text(obj: dict[str, Any], field: str, where: str) -> None:
    value = obj.get(field)
    if not isinstance(value, str) or not value.strip():
        raise LiteratureError(f"{where}: field '{field}' must be non-empty text, got {value!r}")


def _kind(value: Any) -> str:
    return type(value).__name__
