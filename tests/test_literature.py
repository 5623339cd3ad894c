"""The shipped literature rows (`vlm4d_tasks/report/literature.json`) and their checker."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

import vlm4d_tasks.report.literature as literature
from vlm4d_tasks.report.literature import LiteratureError, check_literature, load_literature

SHIPPED = Path(literature.__file__).with_name("literature.json")


def _shipped() -> dict:
    return json.loads(SHIPPED.read_text(encoding="utf-8"))


def test_shipped_file_loads_and_every_row_is_sourced() -> None:
    doc = load_literature()
    assert doc["format"] == 1
    assert doc["rows"]
    for row in doc["rows"]:
        assert row["quote"].strip(), row
        assert row["table"].strip(), row
        assert row["protocol"].strip(), row


def test_every_number_appears_in_its_quote() -> None:
    # A number is only as good as the cells it was read from: each one must be visible in the
    # row's quote, written as the paper prints it (one decimal).
    for row in load_literature()["rows"]:
        for column, value in row["numbers"].items():
            if value is not None:
                assert f"{value:.1f}" in row["quote"], (row["model"], column, value)


def test_no_text_of_the_file_is_a_link() -> None:
    # Its texts are printed in the self-contained report, which carries no address at all
    # (tests/test_report_validity.py): papers are named by their arXiv id, not by a URL.
    texts: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(_shipped())
    assert texts and not [t for t in texts if "http" in t or "www." in t]


def test_load_returns_a_fresh_copy() -> None:
    first = load_literature()
    first["rows"][0]["numbers"]["real"] = -1
    assert load_literature()["rows"][0]["numbers"] != first["rows"][0]["numbers"]


def _break_percent(doc: dict) -> None:
    doc["rows"][1]["numbers"] = {"real": 146.5}


def _break_missing_quote(doc: dict) -> None:
    del doc["rows"][1]["quote"]


def _break_empty_table(doc: dict) -> None:
    doc["rows"][1]["table"] = "  "


def _break_bool_number(doc: dict) -> None:
    doc["rows"][1]["numbers"] = {"overall": True}


def _break_arxiv(doc: dict) -> None:
    doc["rows"][1]["arxiv"] = "arXiv paper"


def _break_misspelt_key(doc: dict) -> None:
    doc["rows"][1]["qoute"] = "typo"


def _break_all_null(doc: dict) -> None:
    doc["rows"][1]["numbers"] = {"real": None, "overall": None}


@pytest.mark.parametrize(
    ("breaker", "field"),
    [
        (_break_percent, "numbers.real"),
        (_break_missing_quote, "'quote'"),
        (_break_empty_table, "'table'"),
        (_break_bool_number, "numbers.overall"),
        (_break_arxiv, "'arxiv'"),
        (_break_misspelt_key, "qoute"),
        (_break_all_null, "'numbers'"),
    ],
)
def test_malformed_row_is_refused_naming_row_and_field(breaker, field: str) -> None:
    doc = _shipped()
    model = doc["rows"][1]["model"]
    breaker(doc)
    with pytest.raises(ValueError) as caught:
        check_literature(doc)
    message = str(caught.value)
    assert isinstance(caught.value, LiteratureError)
    assert "literature.json: row 2" in message
    assert model in message
    assert field in message


def test_wrong_format_is_refused() -> None:
    doc = _shipped()
    doc["format"] = 2
    with pytest.raises(LiteratureError, match="'format' is 2"):
        check_literature(doc)


def test_check_does_not_alias_its_input() -> None:
    doc = _shipped()
    checked = check_literature(doc)
    checked["rows"].clear()
    assert doc["rows"], "check_literature must return a copy"
    assert copy.deepcopy(doc) == _shipped()
