"""Official annotation files -> records: normalization and every validation flag."""

from __future__ import annotations

import json

import pytest
from _annotation_fixtures import EXPECTED_FLAGS, REAL, SYNTHETIC

from vlm4d_tasks.data.annotations import (
    AnnotationError,
    load_annotation_file,
    load_annotations,
    load_probe_record_file,
    normalize_entry,
)
from vlm4d_tasks.data.schema import FIELDS, Record, Subset


def test_literal_entry_to_record():
    entry = {
        "id": "validation_3",
        "video": "https://huggingface.co/datasets/shijiezhou/VLM4D/resolve/main/"
        "videos_real/youtube-vos/0a1b2c.mp4",
        "question_type": "multiple-choice",
        "question": "How many times does the goat jump to the left?",
        "choices": {"A": 0, "B": 1, "C": 2, "D": 3},
        "answer": 2,
    }
    record, problems = normalize_entry(entry, Subset.REAL)
    assert problems == []
    assert record == Record(
        uid="real/validation_3",
        question_id="validation_3",
        subset="real",
        source="youtube-vos",
        perspective="exocentric",
        category="counting",
        question="How many times does the goat jump to the left?",
        options=["0", "1", "2", "3"],
        answer="C",
        answer_text="2",
        video="videos_real/youtube-vos/0a1b2c.mp4",
        flags=[],
    )


def test_fixture_loads_with_every_flag(annotations_dir):
    result = load_annotations(annotations_dir)
    assert len(result.records) == len(REAL) + len(SYNTHETIC)
    by_uid = {r.uid: r for r in result.records}
    assert len(by_uid) == len(result.records), "uids are unique"
    flagged = {r.uid: r.flags for r in result.records if r.flags}
    assert flagged == EXPECTED_FLAGS
    # every problem names the file, the record and the field
    for problem in result.problems:
        assert problem.file.endswith("real_mc.json")
        assert problem.record and problem.field
        assert problem.record in str(problem) and problem.file in str(problem)
    # a defect is kept, not dropped or fixed
    assert by_uid["real/validation_925"].answer == ""
    assert by_uid["real/validation_925"].answer_text == "upwards"
    assert by_uid["real/validation_926"].answer == "B"  # first of the two matches
    assert by_uid["real/validation_928"].source == "unknown"


def test_records_have_exactly_the_schema_fields(annotations_dir):
    for record in load_annotations(annotations_dir).records:
        row = record.to_dict()
        assert list(row) == list(FIELDS)
        for name, (kind, nullable) in FIELDS.items():
            assert isinstance(row[name], kind) or (nullable and row[name] is None), name
        assert all(isinstance(o, str) for o in row["options"])


def test_perspective_and_sources(annotations_dir):
    records = {r.uid: r for r in load_annotations(annotations_dir).records}
    assert records["real/validation_923"].perspective == "egocentric"
    assert records["real/validation_923"].source == "ego4d"
    assert records["real/validation_1"].perspective == "exocentric"
    assert records["synthetic/validation_1"].perspective is None
    assert records["synthetic/validation_1"].source == "cosmos"
    assert records["synthetic/validation_2"].category == "false_positive"
    assert records["real/validation_924"].category == "false_positive"


def test_subset_selection_and_qa_folder(tmp_path, annotations_dir):
    assert {r.subset for r in load_annotations(annotations_dir, ["synthetic"])} == {"synthetic"}
    release = tmp_path / "release"
    (release / "QA").mkdir(parents=True)
    for name in ("real_mc.json", "synthetic_mc.json"):
        (release / "QA" / name).write_bytes((annotations_dir / name).read_bytes())
    assert len(load_annotations(release)) == len(REAL) + len(SYNTHETIC)


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json at all", "not valid JSON"),
        ('{"id": "validation_1"}', "expected a JSON list"),
        ("[1, 2]", "entry #0 is int"),
    ],
)
def test_file_that_is_not_the_expected_json_fails_naming_it(tmp_path, content, message):
    path = tmp_path / "real_mc.json"
    path.write_text(content)
    with pytest.raises(AnnotationError, match=message) as info:
        load_annotation_file(path, "real")
    assert str(path) in str(info.value)


def test_missing_subset_file_is_named(tmp_path):
    (tmp_path / "real_mc.json").write_text(json.dumps(REAL[:1]))
    with pytest.raises(FileNotFoundError, match="synthetic_mc.json"):
        load_annotations(tmp_path, ["real", "synthetic"])


def test_unknown_enum_value_raises():
    with pytest.raises(ValueError):
        Subset("imaginary")


@pytest.mark.parametrize(
    "content, message",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("[" + "7" * 5000 + "]", "not valid JSON"),
        (b"\xff\xfe[]", "not valid JSON"),
        (
            '[{"id": "validation_1", "question": "left\\udc00"}]',
            "record validation_1: field 'question': a lone surrogate",
        ),
    ],
    ids=["deep-nesting", "huge-number", "not-utf8", "lone-surrogate"],
)
def test_json_the_parser_cannot_take_is_an_annotation_error(tmp_path, content, message):
    path = tmp_path / "real_mc.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(AnnotationError, match=message) as info:
        load_annotation_file(path, "real")
    assert str(path) in str(info.value)


@pytest.mark.parametrize("raw_id", ["", "   "])
def test_an_empty_id_is_flagged_and_the_problem_names_the_entry(raw_id):
    entry = {**REAL[0], "id": raw_id}
    record, problems = normalize_entry(entry, Subset.REAL, file="real_mc.json", index=4)
    assert record.question_id == "#4" and "missing_field:id" in record.flags
    assert all(p.record == "#4" for p in problems) and problems


@pytest.mark.parametrize(
    "line, message",
    [
        ("[1, 2]", "expected a record object"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (None, "field category or perspective"),
        ("options", "field options"),
    ],
)
def test_probe_record_file_errors_name_file_and_line(tmp_path, line, message):
    row = {
        "uid": "probe/p_1",
        "question_id": "p_1",
        "subset": "probe",
        "source": "probe",
        "perspective": None,
        "category": "translational",
        "question": "Which way does the ball move?",
        "options": ["left", "right", "up", "down"],
        "answer": "A",
        "answer_text": "left",
        "video": "videos_probe/scene_0001.mp4",
        "flags": [],
    }
    if line is None:
        line = json.dumps({**row, "category": "sideways"})
    elif line == "options":
        line = json.dumps({**row, "options": 4})
    path = tmp_path / "probe_records.jsonl"
    path.write_text(json.dumps(row) + "\n" + line + "\n")
    with pytest.raises(AnnotationError, match=message) as info:
        load_probe_record_file(path)
    assert f"{path}:2" in str(info.value)
