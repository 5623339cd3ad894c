"""Arbitrary JSON shapes and strings into the loaders: only the project's own errors come out.

Seeded (`derandomize=True`, no example database) and bounded, so a run is the same everywhere
and takes a few seconds. Inputs that once crashed are pinned with `@example`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _annotation_fixtures import HUB
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vlm4d_tasks.data.annotations import (
    FLAG_UNSAFE_VIDEO_PATH,
    AnnotationError,
    load_annotation_file,
    normalize_entry,
)
from vlm4d_tasks.data.paths import UnsafePathError, contained_path, unsafe_reason
from vlm4d_tasks.data.schema import FIELDS, LETTERS, Record, Subset
from vlm4d_tasks.metric.responses import ResponseFileError, load_response_file

FUZZ = settings(
    derandomize=True,
    database=None,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

DEEP = "[" * 100_000 + "]" * 100_000  # RecursionError in json.loads
HUGE_NUMBER = "[" + "7" * 5000 + "]"  # ValueError: more digits than int() converts

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.text(st.characters(exclude_categories=()), max_size=4)  # lone surrogates too
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
path_text = st.text(alphabet=st.sampled_from("ab./\\:C\x00é"), max_size=16) | st.text(max_size=16)
videos = (
    path_text
    | path_text.map(lambda s: HUB + s)
    | st.sampled_from(
        [
            HUB + "../keep/notes.txt",
            HUB + "/abs/path/x.mp4",
            "videos_real/davis/../../../keep/notes.txt",
            "videos_real/davis/ok.mp4",
        ]
    )
)
choice_sets = (
    json_values
    | st.fixed_dictionaries({letter: scalars for letter in LETTERS})
    | st.dictionaries(st.sampled_from("ABCDE"), json_values, max_size=5)
)
ids = st.from_regex(r"\Avalidation_[0-9]{1,5}\Z")
options = st.text(max_size=12) | st.integers(0, 9)
good_choices = st.fixed_dictionaries({letter: options for letter in LETTERS})
# Entries shaped like the official ones: complete with odd values, or with every field
# missing or of any type.
entries = st.fixed_dictionaries(
    {"id": ids, "video": videos, "question": st.text(max_size=40), "choices": good_choices},
    optional={"answer": options | scalars},
) | st.fixed_dictionaries(
    {},
    optional={
        "id": scalars | ids | json_values,
        "video": videos | json_values,
        "question": scalars | json_values,
        "choices": choice_sets,
        "answer": scalars | json_values,
        "question_type": scalars,
    },
)
documents = json_values | st.lists(entries | json_values, max_size=5)


def _file_text(data) -> str:
    kind, value = data
    return value if kind == "text" else json.dumps(value)


contents = st.tuples(st.just("json"), documents) | st.tuples(st.just("text"), st.text(max_size=60))


@FUZZ
@given(entry=entries | json_values, subset=st.sampled_from(list(Subset)))
@example(entry={"id": ""}, subset=Subset.REAL)  # once a problem that named no record
def test_normalize_entry_keeps_every_record_or_raises_annotation_error(entry, subset):
    try:
        record, problems = normalize_entry(entry, subset, file="fuzz.json", index=3)
    except AnnotationError as exc:
        assert not isinstance(entry, dict)
        assert "fuzz.json" in str(exc)
        return
    assert isinstance(record, Record)
    for name, (kind, nullable) in FIELDS.items():
        value = getattr(record, name)
        assert isinstance(value, kind) or (nullable and value is None), name
    assert all(isinstance(o, str) for o in record.options)
    for problem in problems:
        assert problem.file == "fuzz.json" and problem.record and problem.field
    if record.video and unsafe_reason(record.video) is not None:
        assert FLAG_UNSAFE_VIDEO_PATH in record.flags


@FUZZ
@given(data=contents, subset=st.sampled_from(["real", "synthetic"]))
@example(data=("text", DEEP), subset="real")
@example(data=("text", HUGE_NUMBER), subset="real")
@example(data=("text", "\udcff"), subset="real")
def test_annotation_file_loads_or_raises_annotation_error(tmp_path, data, subset):
    path = tmp_path / "real_mc.json"
    path.write_text(_file_text(data), encoding="utf-8", errors="surrogateescape")
    try:
        result = load_annotation_file(path, subset)
    except AnnotationError as exc:
        assert str(path) in str(exc)
        return
    assert len(result.records) == len(json.loads(path.read_text(encoding="utf-8")))


@FUZZ
@given(data=st.binary(max_size=80))
def test_annotation_file_of_any_bytes(tmp_path, data):
    path = tmp_path / "real_mc.json"
    path.write_bytes(data)
    try:
        load_annotation_file(path, "real")
    except AnnotationError as exc:
        assert str(path) in str(exc)


def _response_file(tmp_path: Path) -> Path:
    folder = tmp_path / "real_mc_cot"
    folder.mkdir(exist_ok=True)
    return folder / "model.json"


response_entries = st.fixed_dictionaries(
    {
        "id": ids | st.integers(),
        "question": st.text(max_size=30),
        "choices": good_choices,
        "response": st.text(max_size=30) | json_values,
        "answer": options,
    },
    optional={"ground_truth_answer": options, "extracted_answer": scalars, "correct": scalars},
) | st.fixed_dictionaries(
    {},
    optional={
        "id": scalars | json_values,
        "question": scalars | json_values,
        "choices": choice_sets,
        "response": json_values,
        "answer": scalars | json_values,
        "ground_truth_answer": scalars,
        "extracted_answer": scalars,
        "correct": scalars,
    },
)
response_contents = st.tuples(
    st.just("json"), json_values | st.lists(response_entries | json_values, max_size=5)
) | st.tuples(st.just("text"), st.text(max_size=60))


@FUZZ
@given(data=response_contents)
def test_response_file_loads_or_raises_response_file_error(tmp_path, data):
    path = _response_file(tmp_path)
    path.write_text(_file_text(data), encoding="utf-8")
    try:
        load_response_file(path)
    except ResponseFileError as exc:
        assert str(path) in str(exc)


# json.loads raises RecursionError / a plain ValueError on these, not JSONDecodeError.
@pytest.mark.parametrize("text", [DEEP, HUGE_NUMBER], ids=["deep-nesting", "huge-number"])
def test_response_file_deep_or_huge_json_is_a_clean_error(tmp_path, text):
    path = _response_file(tmp_path)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ResponseFileError):
        load_response_file(path)


@FUZZ
@given(relative=path_text | videos)
def test_contained_path_never_leaves_its_root(tmp_path, relative):
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    try:
        path = contained_path(root, relative)
    except UnsafePathError:
        assert unsafe_reason(relative) is not None  # no links under this root
        return
    resolved, base = path.parent.resolve(), root.resolve()
    assert resolved == base or base in resolved.parents
    assert path.name and path.name not in (".", "..")


# What models write, in pieces: conclusions, letters, option words, markup and noise.
_ANSWER_PIECES = st.sampled_from(
    ["Therefore, the final answer is: ", "Answer:", "\\boxed{", "}", "(", ")", "A", "B", "C",
     "D", "E", ":", ".", "\n", " ", "left", "right", "not moving", "no dragon there", "<think>",
     "</think>", "**", "option", "I think", "not", "or", "2", "3", "é", "\x00", "\ud800"]
)  # fmt: skip
answers = st.lists(_ANSWER_PIECES, max_size=40).map("".join) | st.text(max_size=200)
option_lists = st.lists(st.text(max_size=12) | st.integers(0, 20), min_size=0, max_size=5)


@FUZZ
@given(response=answers | json_values, options=option_lists)
@example(response="Therefore, the final answer is: C", options=["left", "right", "up", "down"])
@example(response="left right " * 50, options=["left", "right", "not moving", "up"])
def test_extract_never_raises_and_answers_with_an_offered_letter(response, options):
    from vlm4d_tasks.metric.extract import extract

    found = extract(response, options)
    assert found.letter is None or found.letter in LETTERS[: len(options)]
