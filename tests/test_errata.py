"""The reference errata (`metric.errata`): the shipped file's shape, and how an erratum changes
a label. Whether the file covers every disagreement of the development sample is
`bench/errata_check.py`'s job (it needs the release's judged files, which the suite has not)."""

from __future__ import annotations

import copy
import hashlib

import pytest

from vlm4d_tasks.data.schema import LETTERS
from vlm4d_tasks.metric.errata import (
    CLASSES,
    ErrataError,
    load_errata,
    parse_errata,
    response_key,
)


def _document(**change) -> dict:
    entry = {
        "file": "real_mc_cot/m.json",
        "id": "validation_1",
        "response_sha256": hashlib.sha256(b"PickPickPick").hexdigest(),
        "reference": {"extracted_answer": "C: left", "correct": True},
        "class": "reference_wrong",
        "reading": None,
        "span": "PickPick",
        "why": "a loop of one word",
    }
    entry.update(change)
    return {"format": 1, "about": "", "method": "", "entries": [entry]}


def test_the_shipped_errata_are_well_formed() -> None:
    errata = load_errata()
    assert errata.entries and errata.method and errata.about
    assert {e.kind for e in errata.entries} <= set(CLASSES)
    assert all(e.reading is None or e.reading in LETTERS for e in errata.entries)
    assert len({(e.id, e.response_sha256) for e in errata.entries}) == len(errata.entries)
    # Each class is one the applying code knows how to treat.
    assert {e.corrected(("A",)) for e in errata.entries if e.kind == "ambiguous"} == {None}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"class": "unsure"}, "entries[0].class"),
        ({"reading": "E"}, "entries[0].reading"),
        ({"response_sha256": "ABC"}, "entries[0].response_sha256"),
        ({"span": ""}, "entries[0].span"),
        ({"reference": {"correct": "yes"}}, "entries[0].reference.correct"),
    ],
)
def test_a_malformed_entry_is_refused_naming_its_field(change: dict, field: str) -> None:
    with pytest.raises(ErrataError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_errata(_document(**change), "errata.json")


def test_a_second_entry_for_the_same_answer_is_refused() -> None:
    document = _document()
    document["entries"].append(copy.deepcopy(document["entries"][0]))
    with pytest.raises(ErrataError, match=r"entries\[1\]: a second entry"):
        parse_errata(document)


def test_an_erratum_applies_to_that_exact_answer_only() -> None:
    errata = parse_errata(_document())
    assert errata.find("validation_1", "PickPickPick") is not None
    assert errata.find("validation_1", ["PickPickPick"]) is not None  # lmms-eval's list form
    assert errata.find("validation_1", "PickPickPick ") is None
    assert errata.find("validation_2", "PickPickPick") is None
    assert response_key("x") == hashlib.sha256(b"x").hexdigest()


def test_how_each_class_changes_the_label() -> None:
    wrong_reference = parse_errata(_document()).entries[0]
    assert wrong_reference.corrected(("C",)) is False  # no valid answer: wrong whatever the truth
    read_as_c = parse_errata(_document(reading="C")).entries[0]
    assert read_as_c.corrected(("C",)) is True and read_as_c.corrected(("A",)) is False
    ours = parse_errata(_document(**{"class": "ours_wrong"})).entries[0]
    assert ours.corrected(("A",)) is True  # the reference stands
    ambiguous = parse_errata(_document(**{"class": "ambiguous"})).entries[0]
    assert ambiguous.corrected(("C",)) is None
