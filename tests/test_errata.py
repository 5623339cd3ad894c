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
    READER_CLASSES,
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
    if "readers" not in change:
        entry["readers"] = _readers_of(entry["class"], entry["reading"])
    return {"format": 2, "about": "", "method": "", "entries": [entry]}


def _readers_of(kind: object, reading: object) -> list[dict]:
    """Readers whose classifications give `kind` (two that differ for "disputed")."""
    if kind == "disputed":
        return [
            {"class": "ours_wrong", "reading": None, "span": "Pick", "why": "one reader"},
            {"class": "ambiguous", "reading": None, "span": "Pick", "why": "another reader"},
        ]
    one = {"class": kind if kind in READER_CLASSES else "ours_wrong", "reading": reading}
    return [{**one, "span": "Pick", "why": "a reader"}, {**one, "span": "Pick", "why": "another"}]


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


def _errata_for(*entries: tuple[str, str, str, str | None]):
    """Errata of (question id, response, class, reading) made up for a test."""
    return parse_errata({
        "format": 2, "about": "", "method": "",
        "entries": [
            {"file": "real_mc_cot/m.json", "id": qid,
             "response_sha256": hashlib.sha256(text.encode()).hexdigest(),
             "reference": {"correct": True}, "class": kind, "reading": reading,
             "span": text[:5], "why": "made up", "readers": _readers_of(kind, reading)}
            for qid, text, kind, reading in entries
        ],
    })  # fmt: skip


def _judged_file(path, answers: list[tuple[str, str, bool]]):
    """A judged response file: (id, response, reference label); the truth is always "left"."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([
        {"id": qid, "question": "Which way does the car move?",
         "choices": {"A": "left", "B": "right", "C": "not moving", "D": "no car there"},
         "response": text, "ground_truth_answer": "left", "correct": label,
         "extracted_answer": "A: left" if label else "B: right"}
        for qid, text, label in answers
    ]))  # fmt: skip
    return str(path)


def test_vlm4d_score_reports_agreement_with_the_errata_applied(tmp_path, monkeypatch) -> None:
    """Issue 25: agreement as measured, and for a file the errata cover, with them applied: a
    reference error takes its reading, an ambiguous answer is left out, our error stays."""
    from vlm4d_tasks.metric import errata as errata_module
    from vlm4d_tasks.pipeline import score as pipeline

    answers = [
        ("validation_1", "Answer: A", True),  # agree
        ("validation_2", "Answer: B", True),  # reference wrong: B is not left
        ("validation_3", "PickPickPick", True),  # reference wrong: no valid answer
        ("validation_4", "Answer: A. It moves right.", False),  # ambiguous (read: no answer)
        ("validation_5", "The car turns.", True),  # ours wrong (made up)
    ] + [(f"validation_{i}", "Answer: A", True) for i in range(6, 12)]
    errata = _errata_for(
        ("validation_2", "Answer: B", "reference_wrong", "B"),
        ("validation_3", "PickPickPick", "reference_wrong", None),
        ("validation_4", "Answer: A. It moves right.", "ambiguous", None),
        ("validation_5", "The car turns.", "ours_wrong", "A"),
    )
    monkeypatch.setattr(errata_module, "load_errata", lambda: errata)
    path = _judged_file(tmp_path / "real_mc_cot" / "m.json", answers)
    document = pipeline.score_response_files(
        [path], pipeline.judge_config(None, {}), progress=False
    )
    run = document["runs"][0]
    # As measured: ours disagrees on validation_2, 3 and 5 (validation_4's letter and label
    # conflict: no valid answer, as the reference).
    assert (run["agreement"], run["agreement_n"]) == (round(8 / 11, 6), 11)
    assert run["errata"] == {
        "entries": 4, "ours_wrong": 1, "reference_wrong": 2, "ambiguous": 1, "disputed": 0,
        "agreement": round(9 / 10, 6), "agreement_n": 10, "disagreements": 1,
        "reference_accuracy": round(8 / 11, 6),  # 10 of 11 accepted, two of them wrongly
    }  # fmt: skip
    assert document["summary"]["agreement_with_errata"] == round(9 / 10, 6)
    assert document["summary"]["errata_runs"] == 1
    from vlm4d_tasks.report.score_report import markdown_report

    text = markdown_report(document)
    assert "Agreement with the reference labels: 72.73% of 11 answers" in text
    assert (
        "With the known errata applied" in text and "1 ambiguous answers left out): 90.00%" in text
    )
    assert "published accuracy of `real/m (cot)`: 90.91% -> 72.73% (2 label(s))" in text


def test_a_file_the_errata_do_not_cover_gets_no_errata_block(tmp_path) -> None:
    from vlm4d_tasks.pipeline import score as pipeline

    path = _judged_file(tmp_path / "real_mc_cot" / "m.json", [("validation_1", "Answer: A", True)])
    document = pipeline.score_response_files(
        [path], pipeline.judge_config(None, {}), progress=False
    )
    assert "errata" not in document["runs"][0]
    assert "agreement_with_errata" not in document["summary"]


def test_an_entry_class_must_follow_from_its_readers() -> None:
    """Only what both readers agree on is applied: a class the readers do not give is refused,
    and two readers who differ make the entry disputed."""
    differ = _readers_of("disputed", None)
    with pytest.raises(ErrataError, match=r"entries\[0\]\.class: 'ambiguous' does not follow"):
        parse_errata(_document(**{"class": "ambiguous", "readers": differ}))
    assert parse_errata(_document(**{"class": "disputed", "readers": differ})).entries[0]
    other_reading = _readers_of("reference_wrong", "B")
    other_reading[1]["reading"] = "C"
    with pytest.raises(ErrataError, match="does not follow"):
        parse_errata(_document(reading="B", readers=other_reading))
    with pytest.raises(ErrataError, match=r"entries\[0\]\.readers: expected a non-empty list"):
        parse_errata(_document(readers=[]))
    with pytest.raises(ErrataError, match=r"entries\[0\]\.readers\[1\]\.class"):
        parse_errata(_document(readers=[*_readers_of("reference_wrong", None)[:1], {}]))


def test_a_disputed_answer_keeps_its_reference_label() -> None:
    disputed = parse_errata(_document(**{"class": "disputed"})).entries[0]
    assert disputed.corrected(("C",)) is True  # the reference's own label (True here)


def test_vlm4d_score_says_how_many_disputed_answers_stay_disagreements(
    tmp_path, monkeypatch
) -> None:
    from vlm4d_tasks.metric import errata as errata_module
    from vlm4d_tasks.pipeline import score as pipeline
    from vlm4d_tasks.report.score_report import markdown_report

    answers = [("validation_1", "Answer: B", True), ("validation_2", "Answer: A", True)]
    errata = _errata_for(("validation_1", "Answer: B", "disputed", None))
    monkeypatch.setattr(errata_module, "load_errata", lambda: errata)
    path = _judged_file(tmp_path / "real_mc_cot" / "m.json", answers)
    document = pipeline.score_response_files(
        [path], pipeline.judge_config(None, {}), progress=False
    )
    run = document["runs"][0]
    assert run["errata"]["disputed"] == 1 and run["errata"]["disagreements"] == 1
    assert run["errata"]["agreement"] == 0.5  # the disputed answer stays a disagreement
    text = markdown_report(document)
    assert "1 on which its two readers differ kept as disagreements): 50.00%" in text
    assert "published accuracy" not in text  # no agreed reference error moves anything
