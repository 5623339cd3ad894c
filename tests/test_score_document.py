"""The score document's declaration (`pipeline.document_model`) and its shipped JSON Schema
(`pipeline/score_document.schema.json`), issue 24.

Every kind of score document the project writes is checked against the SHIPPED schema file by
`jsonschema`, a validator independent of the pydantic declaration that made the schema:
`vlm4d score` in rule mode (with `--resamples`, paired comparisons and the validity block),
with an LLM judge (llm and crosscheck modes, a real HTTP server on 127.0.0.1 judging) and an
lmms-eval run's document (`lmms.run.Run.document`). A broken document fails both validators,
naming the field; a written document reads back as the same data; a writer that drifts from
the declaration fails when it writes.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
from _judge_server import Action, ScriptedChatServer, answer_well, prompt_of

from vlm4d_tasks.cli import main
from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric.scoring import Verdict, join
from vlm4d_tasks.pipeline import document
from vlm4d_tasks.pipeline.document import ScoreDocumentError, ScoreFileError, load_score
from vlm4d_tasks.pipeline.score import run_entry, score_document, score_json

SHIPPED = Path(document.__file__).with_name(document.SCHEMA_FILE)

MOVE = {"A": "left", "B": "right", "C": "not moving", "D": "up"}
HUB = "https://huggingface.co/datasets/shijiezhou/VLM4D/resolve/main/"


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SHIPPED.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_errors(data: object) -> list[str]:
    """The shipped schema's errors, each as `path: message` with the path as the report
    prints it (`runs[0].accuracy`): of a value that may be null (`anyOf`), its most relevant
    cause; of a missing property, the property's path."""
    out = []
    for found in validator().iter_errors(data):
        error = jsonschema.exceptions.best_match([found])
        path = list(error.absolute_path)
        if error.validator == "required":
            path += [name for name in error.validator_value if name not in error.instance][:1]
        where = ""
        for part in path:
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else part)
        out.append(f"{where}: {error.message}")
    return out


def assert_valid(data: dict) -> None:
    assert schema_errors(data) == []
    document.check_score(data)


def _dump(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    """Annotations of 4 real and 3 synthetic questions; model x answers both (its real file
    with reference labels, one of them wrong), model y the real ones in two settings."""
    questions = {
        "real": [("validation_1", "davis/a", "tram", "A"), ("validation_2", "davis/b", "dog", "B"),
                 ("validation_923", "ego4d/c", "cup", "C"), ("validation_924", "ego4d/d", "hand", "D")],
        "synthetic": [("validation_1", "e", "robot", "A"), ("validation_2", "f", "dragon", "C"),
                      ("validation_3", "g", "cart", "B")],
    }  # fmt: skip
    for subset, rows in questions.items():
        folder = "videos_real/" if subset == "real" else "videos_synthetic/"
        _dump(tmp_path / "annotations" / f"{subset}_mc.json", [
            {"id": qid, "video": f"{HUB}{folder}{video}.mp4", "question_type": "multiple-choice",
             "question": f"Where does the {thing} go?", "choices": MOVE, "answer": MOVE[truth]}
            for qid, video, thing, truth in rows
        ])  # fmt: skip
    said = ["Final Answer: A", "It goes right. Final Answer: B", "Final Answer: A",
            "I cannot tell from these frames."]  # fmt: skip
    real = [
        {"id": qid, "question": f"Where does the {thing} go?", "choices": MOVE,
         "response": said[i], "ground_truth_answer": MOVE[truth], "extracted_answer": "x",
         "correct": i != 2}
        for i, (qid, _video, thing, truth) in enumerate(questions["real"])
    ]  # fmt: skip
    syn = [
        {"id": qid, "question": f"Where does the {thing} go?", "choices": MOVE,
         "response": f"Final Answer: {'ABA'[i]}", "answer": MOVE[truth]}
        for i, (qid, _video, thing, truth) in enumerate(questions["synthetic"])
    ]  # fmt: skip
    _dump(tmp_path / "responses" / "real_mc_cot" / "x.json", real)
    _dump(tmp_path / "responses" / "synthetic_mc_cot" / "x.json", syn)
    for setting, answers in (("cot", "ABCA"), ("direct-output", "ABDD")):
        _dump(tmp_path / "responses" / f"real_mc_{setting}" / "y.json", [
            {"id": qid, "question": f"Where does the {thing} go?", "choices": MOVE,
             "response": f"Final Answer: {answers[i]}", "answer": MOVE[truth]}
            for i, (qid, _video, thing, truth) in enumerate(questions["real"])
        ])  # fmt: skip
    return tmp_path


def score(bench: Path, name: str, *options: str, files: list[Path] | None = None) -> Path:
    out = bench / name
    files = files or sorted((bench / "responses").glob("*/*.json"))
    code = main(["score", *map(str, files), "--annotations", str(bench / "annotations"),
                 "--json", str(out), "--no-progress", *options])  # fmt: skip
    assert code == 0
    return out


# --------------------------------------------------------------------------------------------
# The shipped schema is the declaration's


def test_the_shipped_schema_is_the_one_the_declaration_makes(capsys):
    assert SHIPPED.read_text(encoding="utf-8") == document.schema_text()
    assert document.main(["--schema"]) == 0  # the way to regenerate it
    assert capsys.readouterr().out == SHIPPED.read_text(encoding="utf-8")
    schema = json.loads(SHIPPED.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["runs", "models"]
    # the bounds of the old checks, now in the schema: counts, fractions, resamples, floor
    accuracy = schema["$defs"]["Accuracy"]["properties"]
    assert accuracy["n"] == {"description": "questions", "maximum": 10_000_000, "minimum": 0,
                             "type": "integer"}  # fmt: skip
    assert accuracy["accuracy"]["anyOf"][0] == {"maximum": 1, "minimum": 0, "type": "number"}
    assert accuracy["chance_corrected"]["anyOf"][0]["minimum"] == pytest.approx(-1 / 3, abs=1e-5)
    pair = accuracy["ci95"]["anyOf"][0]
    assert (pair["minItems"], pair["maxItems"]) == (2, 2)
    assert schema["$defs"]["Bootstrap"]["properties"]["resamples"]["maximum"] == 100_000
    # a reader of others' files does not choke on a key it does not know
    assert all(d.get("additionalProperties") is True for d in schema["$defs"].values())


# --------------------------------------------------------------------------------------------
# Every document the project writes validates against the shipped schema


def test_a_rule_score_with_resamples_comparisons_and_validity_validates(bench: Path):
    path = score(bench, "rule.json", "--resamples", "50")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["bootstrap"]["resamples"] == 50
    assert data["comparisons"] and "validity" in data and data["validity"]["baselines"]
    assert all("stale" in run for run in data["runs"])  # joined to the annotations
    assert data["summary"]["agreement_n"] == 4  # x's reference labels: agreement checked too
    assert_valid(data)
    assert load_score(path) == data  # round trip: the reader gets the data as written


def test_a_written_document_reads_back_as_the_writers_data(tmp_path: Path):
    written = doc_of_records()
    path = tmp_path / "s.json"
    path.write_text(score_json(written), encoding="utf-8")
    assert load_score(path) == written
    assert_valid(written)


@pytest.mark.parametrize("mode", ["llm", "crosscheck"])
def test_a_judged_score_validates(bench: Path, mode: str):
    def second_judge_abstains_on_the_tram(body, n):
        if body["model"] == "judge-b" and "tram" in prompt_of(body):
            return Action(content='{"extracted_answer": "No Valid Answer", "correct": false}')
        return answer_well(body, n)

    with ScriptedChatServer(second_judge_abstains_on_the_tram) as server:
        path = score(bench, f"{mode}.json", "--judge", mode, "--judge-model", "judge-a",
                     "--judge-model-2", "judge-b", "--judge-base-url", server.url,
                     "--judge-cache", str(bench / "cache.sqlite"), "--resamples", "20")  # fmt: skip
        assert server.requests
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["judge"]["mode"] == mode and "judge-a" in data["summary"]["judges"]
    assert data["runs"][0]["grading"]["judges"]
    if mode == "crosscheck":
        assert any(run["grading"]["disagreements"] for run in data["runs"])
    assert_valid(data)
    assert load_score(path) == data


def test_an_lmms_eval_run_document_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The document `lmms.run.Run` writes: the `run` block (versions, protocol, decoding,
    seeds), its judge batches, and a row of transformed questions (`validity.consistency`)."""
    from vlm4d_tasks.lmms.run import Run
    from vlm4d_tasks.metric.grading import Grading, Mode
    from vlm4d_tasks.metric.judge import judge_stats

    for variable in ("VLM4D_JUDGE", "VLM4D_JUDGE_MODEL"):
        monkeypatch.delenv(variable, raising=False)
    args = SimpleNamespace(model="vlm4d_random", model_args="seed=0,max_num_frames=8",
                           gen_kwargs="temperature=0", seed=[0, 1234, 1234, 1234], limit=8,
                           output_path=None, timezone=None)  # fmt: skip
    run = Run(args)
    records = records_of(8)
    mirrored = [Record(**{**r.to_dict(), "uid": f"{r.uid}#mirror"}) for r in records]
    for row, group in (("vlm4d_mc", records), ("vlm4d_mc_mirror", mirrored)):
        verdicts = [Verdict.chosen(r.uid, "A", "rule:test") for r in group]
        run.rows[row] = {it.record.uid: it for it in join(verdicts, group)}
    verdicts = [Verdict.chosen(r.uid, "A", "judge:j") for r in records]
    run.judge_batches = [Grading(Mode.HYBRID, verdicts, sent_to_llm=8,
                                 judges=[judge_stats("j", []).to_dict()]).to_dict()]  # fmt: skip
    try:
        written = run.document()
    finally:
        run.close()
    data = json.loads(score_json(written))
    assert data["run"]["protocol"]["rows"] == {"vlm4d_mc": "greedy", "vlm4d_mc_mirror": "greedy"}
    assert data["run"]["seed"] == [0, 1234, 1234, 1234] and data["judge_batches"]
    assert data["validity"]["consistency"][0]["variant"] == "mirror"
    assert_valid(data)
    path = tmp_path / "run_vlm4d_score.json"
    path.write_text(score_json(written), encoding="utf-8")
    assert load_score(path) == data


# --------------------------------------------------------------------------------------------
# A broken document fails both validators, naming the field


OPTIONS = ["left", "right", "not moving", "up"]


def records_of(count: int, subset: str = "real") -> list[Record]:
    return [
        Record(uid=f"{subset}/q{i}", question_id=f"q{i}", subset=subset, source="davis",
               perspective="egocentric" if i % 2 else "exocentric", category="translational",
               question="Which way does the car move?", options=list(OPTIONS),
               answer="A" if i % 3 else "B", answer_text=OPTIONS[0 if i % 3 else 1],
               video=f"videos/v{i // 2}.mp4")
        for i in range(1, count + 1)
    ]  # fmt: skip


def doc_of_records() -> dict:
    """Two rows answering 8 real questions (A always; A unless the video is v1), made by
    `score_document`: comparisons and the validity block included."""
    runs, models = [], {}
    records = records_of(8)
    for model, letter in (("m (cot)", lambda r: "A"), ("n (cot)", lambda r: "C" if "v1" in
                                                        r.video else "A")):  # fmt: skip
        items = join([Verdict.chosen(r.uid, letter(r), "rule:test") for r in records], records)
        runs.append(run_entry(items, name=model[0], model=model, variant="cot", subset="real",
                              file=None, grading={"mode": "rule"}, resamples=50, seed=0))  # fmt: skip
        models[model] = items
    return score_document(runs, models, judge={"mode": "rule", "models": []}, resamples=50,
                          seed=0, records=records)  # fmt: skip


@pytest.mark.parametrize(
    ("break_it", "field", "problem"),
    [
        (lambda d: d["runs"][0].update(accuracy=1.5), "runs[0].accuracy",
         "expected a number or null from 0 to 1, got 1.5 (run 'm (cot)' 'real')"),
        (lambda d: d["runs"][1].update(n="7"), "runs[1].n",
         "expected a whole number, got '7' (run 'n (cot)' 'real')"),
        (lambda d: d["models"][0].pop("columns"), "models[0].columns", "missing"),
        (lambda d: d["models"][0]["columns"]["overall"].update(ci95=[0.1]),
         "models[0].columns.overall.ci95", "expected null or [low, high], got [0.1]"),
        (lambda d: d["bootstrap"].update(resamples=100_001), "bootstrap.resamples",
         "expected a whole number from 1 to 100,000, got 100001"),
        (lambda d: d["runs"][0]["outcomes"][2].update(correct=1), "runs[0].outcomes[2].correct",
         "expected true or false or null, got 1 (run 'm (cot)' 'real')"),
        (lambda d: d["validity"]["baselines"][0].update(model=7), "validity.baselines[0].model",
         "expected a string, got 7"),
        (lambda d: d["comparisons"][0].update(difference=-1.5), "comparisons[0].difference",
         "expected a number or null from -1 to 1, got -1.5"),
        (lambda d: d["runs"][0]["by_category"]["translational"].update(chance_corrected=-0.5),
         "runs[0].by_category.translational.chance_corrected",
         "expected a number or null from -1/3 to 1, got -0.5 (run 'm (cot)' 'real')"),
        (lambda d: d.update(run={"limit": -1}), "run.limit",
         "expected a number or null of at least 0, got -1"),
        (lambda d: d.update(produced_by={"model": 3}), "produced_by.model",
         "expected a string or null, got 3"),
        (lambda d: d["runs"][0].update(ground_truth_letters=-2), "runs[0].ground_truth_letters",
         "expected a whole number from 0 to 10,000,000, got -2 (run 'm (cot)' 'real')"),
    ],
)  # fmt: skip
def test_a_broken_document_fails_both_validators_naming_the_field(
    tmp_path: Path, break_it, field: str, problem: str
):
    data = json.loads(score_json(doc_of_records()))
    assert_valid(data)
    break_it(data)
    errors = schema_errors(data)
    assert errors and all(e.startswith(f"{field}:") for e in errors), errors
    path = _dump(tmp_path / "bad.json", data)
    with pytest.raises(ScoreFileError) as caught:
        load_score(path)
    assert str(caught.value) == (
        f"{path}: not a `vlm4d score` JSON: {field}: {problem}; {document.SCORE_FIX}"
    )


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda d: d["runs"][0].update(ci95=[0.9, 0.1]),
         "runs[0].ci95: expected null or [low, high] with 0 <= low <= high <= 1, got [0.9, 0.1]"),
        (lambda d: d["runs"][0].update(correct=9), "runs[0].correct: 9 is more than the 8 it is"),
        (lambda d: d["comparisons"][0].pop("p_value"), "comparisons[0].p_value: missing"),
        (lambda d: d["summary"].update(agreement=0.5), "summary.agreement_n: missing"),
        (lambda d: d["validity"].pop("baselines"), "validity.baselines: missing"),
    ],
)  # fmt: skip
def test_rules_across_fields_are_checked_by_the_reader(tmp_path: Path, break_it, message: str):
    """What a JSON Schema does not say (an order, a count within its whole, what a field
    requires of another) `load_score` still checks, naming the field."""
    data = json.loads(score_json(doc_of_records()))
    break_it(data)
    with pytest.raises(ScoreFileError, match=r"^.*bad\.json: not a `vlm4d score` JSON: ") as e:
        load_score(_dump(tmp_path / "bad.json", data))
    assert message in str(e.value) and str(e.value).endswith(document.SCORE_FIX)


def test_unknown_keys_and_absent_optional_parts_are_accepted(tmp_path: Path):
    """Others' files: a key this version does not know, at any level, is no error; an older
    document without the parts added since (comparisons, validity, outcomes, the judge block)
    still loads."""
    data = json.loads(score_json(doc_of_records()))
    data["x_tool"] = {"note": [1, 2]}
    data["runs"][0]["x_tool"] = "kept"
    data["models"][0]["columns"]["overall"]["x_tool"] = None
    assert_valid(data)
    old = copy.deepcopy(data)
    for key in ("comparisons", "validity", "judge", "bootstrap", "summary", "format_version"):
        old.pop(key)
    for run in old["runs"]:
        for key in ("outcomes", "by_category", "by_perspective", "grading", "scored"):
            run.pop(key)
    assert_valid(old)
    assert load_score(_dump(tmp_path / "old.json", old)) == old


def test_a_nan_is_named_wherever_it_stands(tmp_path: Path):
    data = json.loads(score_json(doc_of_records()))
    data["run"] = {"seed": float("nan")}  # a field nobody reads: still no NaN
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ScoreFileError, match=r"run\.seed: expected a finite number, got NaN"):
        load_score(path)


# --------------------------------------------------------------------------------------------
# The writer is held to the declaration


def test_a_writer_that_drifts_from_the_declaration_fails_when_it_writes():
    records = records_of(4)
    items = join([Verdict.chosen(r.uid, "A", "rule:test") for r in records], records)
    entry = run_entry(items, name="m", model="m (cot)", variant="cot", subset="real", file=None,
                      grading={"mode": "rule"}, resamples=20, seed=0)  # fmt: skip
    entry["no_valid_answer"] = float(entry["no_valid_answer"])  # e.g. a count made a float
    with pytest.raises(ScoreDocumentError, match=r"runs\[0\]\.no_valid_answer: expected a whole "
                       r"number, got 0\.0 \(run 'm \(cot\)' 'real'\); a bug"):  # fmt: skip
        score_document([entry], {"m (cot)": items}, judge={"mode": "rule"}, resamples=20, seed=0)
