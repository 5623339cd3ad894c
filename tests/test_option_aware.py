"""Grade what the model was shown: option-aware scoring and stale response files.

A response file can carry its options in another order than the annotation (an older release,
a re-lettered run, a prompt that shuffles), or a question that changed since. The verdict maps
letters and option texts through the options the model saw; entries that differ from the
annotation are detected, counted by kind, and graded as asked or left out with `--strict`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric.responses import (
    Response,
    StaleKind,
    as_asked,
    load_response_file,
    records_for,
    stale_kinds,
)

HUB = "https://huggingface.co/datasets/shijiezhou/VLM4D/resolve/main/"
OPTIONS = ["left", "right", "not moving", "no dragon there"]


def _annotation(qid: str, question: str, answer: str, options=OPTIONS) -> dict:
    return {"id": qid, "video": HUB + f"videos_synthetic/{qid}.mp4",
            "question_type": "multiple-choice", "question": question,
            "choices": dict(zip("ABCD", options)), "answer": answer}  # fmt: skip


ANNOTATIONS = [
    _annotation("validation_1", "Where does the robot walk?", "left"),
    _annotation("validation_2", "Where does the cart roll?", "right"),
    _annotation("validation_3", "Where is the dragon flying?", "no dragon there"),
    _annotation("validation_4", "Does the lamp move?", "not moving"),
]
# What each model meant, as option text (a perfect model, then a mixed one).
MEANT = {
    "perfect": ["left", "right", "no dragon there", "not moving"],
    "mixed": ["right", "right", "left", "not moving"],
}
PERMUTATION = [3, 2, 0, 1]  # the file's option i is the annotation's option PERMUTATION[i]


def _response_entries(meant: list[str], *, permuted: bool, by: str) -> list[dict]:
    entries = []
    for annotation, text in zip(ANNOTATIONS, meant, strict=True):
        options = [annotation["choices"][k] for k in "ABCD"]
        if permuted:
            options = [options[i] for i in PERMUTATION]
        letter = "ABCD"[options.index(text)]
        said = f"Therefore, the final answer is: {letter}" if by == "letter" else f"It is {text}."
        entries.append({"id": annotation["id"], "question": annotation["question"],
                        "choices": dict(zip("ABCD", options)), "response": said,
                        "answer": annotation["answer"]})  # fmt: skip
    return entries


def _vlm4d(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VLM4D_ALLOW_UNOFFICIAL_ANNOTATIONS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "vlm4d_tasks.cli", *map(str, args)],
        capture_output=True, text=True, timeout=300, cwd=cwd, env=env,
    )  # fmt: skip


@pytest.fixture
def annotations(tmp_path: Path) -> Path:
    folder = tmp_path / "annotations"
    folder.mkdir()
    (folder / "synthetic_mc.json").write_text(json.dumps(ANNOTATIONS))
    return folder


def _score(tmp_path: Path, annotations: Path, entries: list[dict], *extra) -> dict:
    path = tmp_path / f"run{len(list(tmp_path.iterdir()))}" / "synthetic_mc_cot" / "m.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(entries))
    out = path.parent / "score.json"
    done = _vlm4d("score", path, "--annotations", annotations, "--no-progress", "--json", out,
                  *extra, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    score = json.loads(out.read_text())
    score["stderr"] = done.stderr
    return score


@pytest.mark.subprocess
@pytest.mark.parametrize("by", ["letter", "text"])
@pytest.mark.parametrize("model", sorted(MEANT))
def test_permuted_options_score_exactly_like_the_original(tmp_path, annotations, model, by):
    plain = _score(tmp_path, annotations, _response_entries(MEANT[model], permuted=False, by=by))
    shuffled = _score(tmp_path, annotations, _response_entries(MEANT[model], permuted=True, by=by))
    keys = ("n", "correct", "accuracy", "no_valid_answer", "by_category", "ci95")
    assert {k: plain["runs"][0][k] for k in keys} == {k: shuffled["runs"][0][k] for k in keys}
    assert plain["models"] == shuffled["models"]
    expected = {"perfect": 1.0, "mixed": 0.5}[model]
    assert shuffled["runs"][0]["accuracy"] == expected
    stale = shuffled["runs"][0]["stale"]
    assert stale["by_kind"] == {"options_reordered": 4} and stale["changed_meaning"] == 0
    assert "stale entries: 4 (options reordered: 4)" in shuffled["stderr"].splitlines()[-1]
    assert plain["runs"][0]["stale"]["count"] == 0


def _stale_file() -> list[dict]:
    entries = _response_entries(MEANT["perfect"], permuted=False, by="letter")
    entries[0]["question"] = "Where does the robot run?"  # question changed
    entries[1]["choices"]["D"] = "up"  # option set changed (the answer is still offered)
    entries[2]["answer"] = "left"  # answer changed: the file's truth says A
    return entries


@pytest.mark.subprocess
def test_each_stale_kind_is_detected_and_graded_against_the_files_truth(tmp_path, annotations):
    score = _score(tmp_path, annotations, _stale_file())
    run = score["runs"][0]
    kinds = {e["id"]: e["kinds"] for e in run["stale"]["entries"]}
    assert kinds == {
        "synthetic/validation_1": ["question_changed"],
        "synthetic/validation_2": ["option_set_changed"],
        "synthetic/validation_3": ["answer_changed"],
    }
    assert run["stale"]["changed_meaning"] == 3 and not run["stale"]["excluded"]
    # Graded as asked: validation_3's answer "C: no dragon there" is wrong under the file's
    # own ground truth ("left"); the other three are right.
    assert (run["n"], run["correct"]) == (4, 3)
    assert "graded as the file asked them" in score["stderr"].splitlines()[-1]


@pytest.mark.subprocess
def test_strict_leaves_changed_entries_out(tmp_path, annotations):
    score = _score(tmp_path, annotations, _stale_file(), "--strict")
    run = score["runs"][0]
    assert (run["n"], run["correct"]) == (1, 1)
    assert run["stale"]["excluded"] and run["stale"]["count"] == 3
    assert "left out (--strict)" in score["stderr"].splitlines()[-1]


@pytest.mark.subprocess
def test_reordered_entries_are_never_left_out_by_strict(tmp_path, annotations):
    entries = _response_entries(MEANT["mixed"], permuted=True, by="letter")
    score = _score(tmp_path, annotations, entries, "--strict")
    assert (score["runs"][0]["n"], score["runs"][0]["accuracy"]) == (4, 0.5)


def _record(options=OPTIONS, answer="A", answer_text="left") -> Record:
    return Record(uid="synthetic/validation_1", question_id="validation_1", subset="synthetic",
                  source="cosmos", perspective=None, category="translational",
                  question="Where does the robot walk?", options=list(options), answer=answer,
                  answer_text=answer_text, video="videos_synthetic/validation_1.mp4", flags=[])  # fmt: skip


def test_as_asked_keeps_identity_and_takes_what_was_shown():
    annotation = _record()
    shown = ["no dragon there", "not moving", "left", "right"]
    response = Response("validation_1", "Where does the robot walk?", shown, "C", "left")
    asked = as_asked(response, annotation)
    assert (asked.options, asked.answer, asked.answer_text) == (shown, "C", "left")
    assert (asked.uid, asked.category, asked.source) == (
        annotation.uid, annotation.category, annotation.source,
    )  # fmt: skip
    assert asked.flags == ["stale:options_reordered"]
    assert stale_kinds(response, annotation) == (StaleKind.OPTIONS_REORDERED,)


def test_whitespace_and_case_are_not_staleness():
    response = Response("validation_1", " where does the ROBOT walk? ", [" Left", "right ",
                        "not  moving", "no dragon there"], "A", "LEFT")  # fmt: skip
    assert stale_kinds(response, _record()) == ()


def test_lmms_path_grades_the_documents_own_letters():
    # An lmms-eval document carries the options doc_to_text rendered: a re-lettered document
    # is graded through its own letters, exactly like the original.
    from vlm4d_tasks.lmms.metric import process_results, scored_items

    original = _record().to_dict()
    shuffled = {**original, "options": ["no dragon there", "not moving", "left", "right"],
                "answer": "C"}  # fmt: skip
    verdicts = []
    for doc, said in ((original, "Therefore, the final answer is: A"),
                      (shuffled, "Therefore, the final answer is: C"),
                      (shuffled, "Therefore, the final answer is: A")):  # fmt: skip
        item = process_results(doc, [said], row="synthetic")["accuracy"]
        [scored] = scored_items([item])
        verdicts.append(scored.correct)
    assert verdicts == [True, True, False]


def test_loaded_file_joins_as_asked(tmp_path):
    path = tmp_path / "synthetic_mc" / "m.json"
    path.parent.mkdir()
    shown = ["not moving", "left", "right", "no dragon there"]
    path.write_text(json.dumps([{"id": "validation_1", "question": "Where does the robot walk?",
                                 "choices": dict(zip("ABCD", shown)), "response": "B",
                                 "answer": "left"}]))  # fmt: skip
    joined = records_for(load_response_file(path), {"synthetic/validation_1": _record()})
    assert joined.records[0].answer == "B"
    assert joined.stale == {"synthetic/validation_1": (StaleKind.OPTIONS_REORDERED,)}
