"""The inputs users have (issue 25): a ground truth given as a letter, a file whose ground
truths mostly match no option, lmms-eval's samples log and a `{uid: answer}` mapping, each
scored by `vlm4d score` (its public `main`) on files written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlm4d_tasks.cli import main

MOVE = {"A": "left", "B": "right", "C": "not moving", "D": "up"}
TRUTHS = ["left", "right", "not moving", "up", "left", "right"]
ANSWERS = ["A", "B", "C", "A", "A", "D"]  # 4 of 6 right


def entry(number: int, answer: str, *, choices: dict | None = None, truth_key: str = "answer"):
    return {"id": f"validation_{number}", "question": f"Where does object {number} go?",
            "choices": choices or MOVE, "response": f"Final Answer: {ANSWERS[number - 1]}",
            truth_key: answer}  # fmt: skip


def dump(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def score(capsys, *args) -> tuple[int, dict | None, str]:
    """Exit status, the score JSON (None when none was written) and stderr of `vlm4d score`."""
    out = Path(args[0]).parent / "score.json"
    code = main(["score", *map(str, args), "--no-progress", "--json", str(out)])
    err = capsys.readouterr().err
    return code, json.loads(out.read_text()) if out.exists() else None, err


def last_line(err: str) -> str:
    return err.strip().splitlines()[-1]


# --- 1. a letter in `answer` -------------------------------------------------------------------


@pytest.mark.parametrize("form", ["{}", "{}.", "({})", " {} "])
def test_letter_ground_truth_is_read_as_its_options_text(tmp_path, capsys, form):
    letters = {text: letter for letter, text in MOVE.items()}
    as_text = dump(tmp_path / "text" / "real_mc" / "m.json",
                   [entry(i, t) for i, t in enumerate(TRUTHS, 1)])  # fmt: skip
    as_letter = dump(tmp_path / "letter" / "real_mc" / "m.json",
                     [entry(i, form.format(letters[t])) for i, t in enumerate(TRUTHS, 1)])  # fmt: skip
    code, text_score, _ = score(capsys, as_text)
    assert code == 0
    code, letter_score, err = score(capsys, as_letter)
    assert code == 0, err
    [run] = letter_score["runs"]
    assert (run["n"], run["correct"], run["ground_truth_unmatched"]) == (6, 4, 0)
    assert run["ground_truth_letters"] == 6
    # the same verdicts and truths as the file that gave the texts
    assert run["outcomes"] == text_score["runs"][0]["outcomes"]
    assert "ground_truth_letters" not in text_score["runs"][0]
    lines = err.strip().splitlines()
    assert lines[-2] == (
        "note: 6 ground truth(s) in 1 file(s) were given as a letter (A-D) and read as that "
        "option's text"
    )
    assert lines[-1].startswith("scored 6 answers in 1 file(s)")
    from vlm4d_tasks.report.score_report import markdown_report

    assert "read as that option's text: 6." in markdown_report(letter_score)
    assert "given as a letter" not in markdown_report(text_score)


def test_letter_in_ground_truth_answer_of_a_judged_file(tmp_path, capsys):
    data = [entry(i, "ABCDAB"[i - 1], truth_key="ground_truth_answer") for i in range(1, 7)]
    for item in data:
        item["correct"] = True
    code, result, err = score(capsys, dump(tmp_path / "synthetic_mc" / "m.json", data))
    assert code == 0, err
    assert result["runs"][0]["correct"] == 4
    assert result["runs"][0]["ground_truth_letters"] == 6


def test_letter_that_is_another_options_text_is_refused(tmp_path, capsys):
    choices = {"A": "B", "B": "left", "C": "right", "D": "up"}
    data = [entry(1, "left", choices=choices), entry(2, "B", choices=choices)]
    path = dump(tmp_path / "real_mc" / "m.json", data)
    code, result, err = score(capsys, path)
    assert (code, result) == (2, None)
    assert last_line(err) == (
        f"vlm4d score: error: {path}: record validation_2: field 'answer': 'B' is ambiguous: "
        "the letter of option B ('left') or the text of option A; fix: give 'answer' as the "
        "text of the correct option (the official format)"
    )


def test_letter_with_an_option_written_as_a_letter_is_refused(tmp_path, capsys):
    # "C" could be the letter C, or a stale text that was an option like "(D)" is
    choices = {"A": "left", "B": "right", "C": "not moving", "D": "(D)"}
    path = dump(tmp_path / "real_mc" / "m.json", [entry(1, "C.", choices=choices)])
    code, _, err = score(capsys, path, "--subset", "real")
    assert code == 2
    assert f"{path}: record validation_1: field 'answer': 'C.' is ambiguous: the letter of " \
           "option C ('not moving') or a text missing from the options (option D is written " \
           "as a letter)" in last_line(err)  # fmt: skip


def test_letter_that_is_its_own_options_text_is_read_as_before(tmp_path, capsys):
    choices = {"A": "A", "B": "B", "C": "left", "D": "right"}
    path = dump(tmp_path / "real_mc" / "m.json",
                [entry(1, "A", choices=choices), entry(2, "left", choices=choices)])  # fmt: skip
    code, result, err = score(capsys, path)
    assert code == 0, err
    [run] = result["runs"]
    assert run["ground_truth_unmatched"] == 0 and "ground_truth_letters" not in run
    assert [o["truth"] for o in run["outcomes"]] == ["A", "left"]


# --- 2. a file whose ground truths mostly match no option --------------------------------------


def test_file_with_most_ground_truths_matching_no_option_fails(tmp_path, capsys):
    data = [entry(i, t) for i, t in enumerate(TRUTHS, 1)]
    for item in data[:4]:
        item["answer"] = "sideways"
    path = dump(tmp_path / "real_mc" / "m.json", data)
    code, result, err = score(capsys, path)
    assert (code, result) == (2, None)
    assert last_line(err) == (
        f"vlm4d score: error: {path}: 4 of 6 entries: field 'answer' matches no option of its "
        "question (e.g. record validation_1: 'sideways', options ['left', 'right', 'not "
        "moving', 'up']), so each would count wrong; fix: give 'answer' as the text of the "
        "correct option (or its letter A-D) with the choices the model was shown, or leave "
        "the file out"
    )


def test_half_or_fewer_unmatched_still_scored_and_listed(tmp_path, capsys):
    data = [entry(i, t) for i, t in enumerate(TRUTHS, 1)]
    for item in data[:3]:
        item["answer"] = "sideways"
    code, result, err = score(capsys, dump(tmp_path / "real_mc" / "m.json", data))
    assert code == 0, err
    [run] = result["runs"]
    assert (run["n"], run["ground_truth_unmatched"]) == (6, 3)
    assert "ground truth matches no option: 3 (counted wrong" in last_line(err)


def _annotations(folder: Path, truths: list[str]) -> Path:
    url = "https://huggingface.co/datasets/shijiezhou/VLM4D/resolve/main/videos_real/davis/"
    dump(folder / "real_mc.json", [
        {"id": f"validation_{i}", "video": f"{url}v{i}.mp4", "question_type": "multiple-choice",
         "question": f"Where does object {i} go?", "choices": MOVE, "answer": t}
        for i, t in enumerate(truths, 1)
    ])  # fmt: skip
    dump(folder / "synthetic_mc.json", [])
    return folder


def test_stale_entries_score_as_before(tmp_path, capsys):
    """A file whose ground truths changed since (stale: answer_changed, and one option set
    changed so its truth matches no option) is scored with the stale entries counted."""
    folder = _annotations(tmp_path / "ann", TRUTHS)
    data = [entry(i, t) for i, t in enumerate(TRUTHS, 1)]
    data[1]["answer"] = "left"  # answer changed
    data[2]["choices"] = {"A": "left", "B": "right", "C": "down", "D": "up"}  # set changed
    data[2]["answer"] = "sideways"  # and matches no option
    code, result, err = score(capsys, dump(tmp_path / "real_mc" / "m.json", data),
                              "--annotations", folder)  # fmt: skip
    assert code == 0, err
    [run] = result["runs"]
    assert run["stale"]["by_kind"] == {"option_set_changed": 1, "answer_changed": 2}
    assert run["ground_truth_unmatched_ids"] == ["real/validation_3"]
    assert "stale entries: 2 (answer changed: 2, option set changed: 1)" in last_line(err)


# --- 3. lmms-eval's samples log and a {uid: answer} mapping ------------------------------------

RESPONSES = [f"Final Answer: {a}" for a in ANSWERS]


def _official(tmp_path: Path, folder: Path) -> dict:
    """The score of the same answers as an official response file, with the annotations."""
    data = [entry(i, t) for i, t in enumerate(TRUTHS, 1)]
    path = dump(tmp_path / "official" / "real_mc" / "m.json", data)
    code = main(["score", str(path), "--annotations", str(folder), "--no-progress",
                 "--json", str(tmp_path / "official.json")])  # fmt: skip
    assert code == 0
    return json.loads((tmp_path / "official.json").read_text())


def samples_lines(folder: Path, responses: list[str], task: str = "vlm4d_real_mc") -> list[dict]:
    """Lines as lmms-eval --log_samples writes them for a vlm4d task: its metric items are
    made by the task's own `process_results`."""
    from vlm4d_tasks.data.annotations import load_records
    from vlm4d_tasks.lmms.metric import process_results

    records = load_records(folder, ["real"])
    return [
        {"doc_id": i, "target": r.answer, "filtered_resps": text, "token_counts": [None],
         "doc_hash": "0" * 64, **process_results(r.to_dict(), [text], row=task),
         "input": f"Question: {r.question}"}
        for i, (r, text) in enumerate(zip(records, responses))
    ]  # fmt: skip


def write_lines(path: Path, lines: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    return path


def _same_scores(got: dict, want: dict) -> None:
    [run], [official] = got["runs"], want["runs"]
    for key in ("n", "correct", "accuracy", "no_valid_answer", "ground_truth_unmatched"):
        assert run[key] == official[key], key
    assert run["outcomes"] == official["outcomes"]


@pytest.mark.parametrize("annotated", [False, True])
def test_lmms_eval_samples_log_is_scored(tmp_path, capsys, annotated):
    folder = _annotations(tmp_path / "ann", TRUTHS)
    want = _official(tmp_path, folder)
    path = write_lines(tmp_path / "logs" / "20260101_000000_samples_vlm4d_real_mc.jsonl",
                       samples_lines(folder, RESPONSES))  # fmt: skip
    extra = ["--annotations", folder] if annotated else []
    code, result, err = score(capsys, path, *extra)
    assert code == 0, err
    _same_scores(result, want)
    [run] = result["runs"]
    assert (run["name"], run["model"], run["subset"]) == (
        "20260101_000000",
        "20260101_000000 (vlm4d_mc)",
        "real",
    )
    assert result["models"][0]["model"] == "20260101_000000 (vlm4d_mc)"
    assert ("stale" in run) is annotated


def test_samples_log_is_told_by_content_not_name(tmp_path, capsys):
    folder = _annotations(tmp_path / "ann", TRUTHS)
    want = _official(tmp_path, folder)
    lines = samples_lines(folder, RESPONSES)
    path = write_lines(tmp_path / "answers.json", lines)  # .json, no lmms-eval name
    code, result, err = score(capsys, path)
    assert code == 0, err
    _same_scores(result, want)
    one = write_lines(tmp_path / "one" / "x.txt", lines[:1])  # one line: one JSON object
    code, result, err = score(capsys, one)
    assert code == 0, err
    assert result["runs"][0]["n"] == 1


def test_malformed_samples_line_names_file_line_and_field(tmp_path, capsys):
    folder = _annotations(tmp_path / "ann", TRUTHS)
    lines = samples_lines(folder, RESPONSES)
    lines[2]["accuracy"]["record"]["options"] = ["left", "right"]
    path = write_lines(tmp_path / "run_samples_vlm4d_real_mc.jsonl", lines)
    code, result, err = score(capsys, path)
    assert (code, result) == (2, None)
    assert last_line(err) == (
        f"vlm4d score: error: {path}:3: field 'accuracy.record.options': expected a list of 4 "
        "texts, got ['left', 'right']; fix: pass the *_samples_<task>.jsonl that lmms-eval "
        "--log_samples wrote for a vlm4d task, unedited"
    )
    lines = samples_lines(folder, RESPONSES)
    lines[4] = {"doc_id": 4, "target": "A", "exact_match": 1.0}  # another task's sample
    code, _, err = score(capsys, write_lines(path, lines))
    assert code == 2
    assert f"{path}:5: field 'accuracy': missing or not an object" in last_line(err)
    text = path.read_text().replace('"doc_id": 4', '"doc_id": 4,,', 1)
    path.write_text(text)
    code, _, err = score(capsys, path)
    assert code == 2
    assert f"{path}:5: not valid JSON (Expecting property name" in last_line(err)


def test_samples_log_with_a_repeated_question_is_refused(tmp_path, capsys):
    folder = _annotations(tmp_path / "ann", TRUTHS)
    lines = samples_lines(folder, RESPONSES)
    path = write_lines(tmp_path / "run_samples_vlm4d_real_mc.jsonl", [*lines, lines[0]])
    code, _, err = score(capsys, path)
    assert code == 2
    assert f"{path}:7: field 'accuracy.record.uid': real/validation_1 is also on line 1" in (
        last_line(err))  # fmt: skip


def test_uid_answer_mapping_is_scored_with_the_annotations(tmp_path, capsys):
    folder = _annotations(tmp_path / "ann", TRUTHS)
    want = _official(tmp_path, folder)
    mapping = {f"real/validation_{i}": text for i, text in enumerate(RESPONSES, 1)}
    path = dump(tmp_path / "answers.jsonl", mapping)  # told by content: a JSON object
    code, result, err = score(capsys, path, "--annotations", folder)
    assert code == 0, err
    _same_scores(result, want)
    assert result["runs"][0]["model"] == "answers"
    # bare question ids, with the subset from --subset
    bare = dump(tmp_path / "bare" / "answers.json",
                {f"validation_{i}": t for i, t in enumerate(RESPONSES, 1)})  # fmt: skip
    code, result, err = score(capsys, bare, "--annotations", folder, "--subset", "real")
    assert code == 0, err
    _same_scores(result, want)


def test_uid_answer_mapping_errors(tmp_path, capsys):
    folder = _annotations(tmp_path / "ann", TRUTHS)
    path = dump(tmp_path / "answers.json", {"real/validation_1": "Final Answer: A"})
    code, result, err = score(capsys, path)
    assert (code, result) == (2, None)
    assert last_line(err) == (
        f"vlm4d score: error: {path}: a {{uid: answer}} mapping holds no question, options or "
        "ground truth; fix: pass --annotations DIR (the folder of real_mc.json / "
        "synthetic_mc.json)"
    )
    cases = {
        '{"real/validation_9": "A"}': "key 'real/validation_9': no question real/validation_9 "
        "in the annotations; fix: check --annotations",
        '{"real/validation_1": ["A"]}': "key 'real/validation_1': expected the model's answer "
        "as text, got ['A']; fix: a mapping holds",
        '{"validation_1": "A"}': "key 'validation_1': names no subset; fix: write each key as "
        'a uid, "real/<id>" or "synthetic/<id>", or pass --subset',
        '{"real/validation_1": "A", "real/validation_1": "B"}': "key 'real/validation_1' "
        "appears more than once",
    }
    for text, needle in cases.items():
        path.write_text(text)
        code, _, err = score(capsys, path, "--annotations", folder)
        assert code == 2, text
        assert f"vlm4d score: error: {path}: {needle}" in last_line(err), (text, err)


def test_samples_logs_of_one_run_form_one_row(tmp_path, capsys):
    from vlm4d_tasks.data.annotations import load_records
    from vlm4d_tasks.lmms.metric import process_results

    folder = _annotations(tmp_path / "ann", TRUTHS)
    syn = json.loads((folder / "real_mc.json").read_text())
    for item in syn:
        item["video"] = item["video"].replace("videos_real/davis/", "videos_synthetic/")
    dump(folder / "synthetic_mc.json", syn)
    paths = []
    for subset in ("real", "synthetic"):
        task = f"vlm4d_{subset}_mc"
        lines = [
            {"doc_id": i, **process_results(r.to_dict(), [text], row=task)}
            for i, (r, text) in enumerate(zip(load_records(folder, [subset]), RESPONSES))
        ]
        paths.append(write_lines(tmp_path / "logs" / f"run7_samples_{task}.jsonl", lines))
    code, result, err = score(capsys, *paths)
    assert code == 0, err
    assert [(r["model"], r["subset"]) for r in result["runs"]] == [
        ("run7 (vlm4d_mc)", "real"), ("run7 (vlm4d_mc)", "synthetic")]  # fmt: skip
    [row] = result["models"]
    assert (row["model"], row["columns"]["overall"]["n"]) == ("run7 (vlm4d_mc)", 12)


# --- 4. the README's example files -------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def _example_annotations(folder: Path) -> Path:
    """The annotations the example response file belongs to, written at run time from the
    file's own questions (the project ships no annotation file)."""
    entries = json.loads((EXAMPLES / "real_mc_cot" / "example-model.json").read_text("utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    records = [{"id": e["id"], "video": f"https://example.org/videos_real/{e['id']}.mp4",
                "question_type": "multiple-choice", "question": e["question"],
                "choices": e["choices"], "answer": e["answer"]} for e in entries]  # fmt: skip
    (folder / "real_mc.json").write_text(json.dumps(records), encoding="utf-8")
    return folder


def test_readme_example_files_score_as_documented(tmp_path, capsys):
    readme = (EXAMPLES.parents[1] / "README.md").read_text(encoding="utf-8")
    for name in ("real_mc_cot/example-model.json", "answers_example.json"):
        assert f"docs/examples/{name}" in readme
    assert not list(EXAMPLES.rglob("*_mc.json"))  # no annotation file in the tree
    results = []
    for path, extra in (
        (EXAMPLES / "real_mc_cot" / "example-model.json", []),  # carries its questions
        (EXAMPLES / "answers_example.json",
         ["--annotations", str(_example_annotations(tmp_path / "annotations")),
          "--allow-unofficial-annotations"]),
    ):  # fmt: skip
        out = tmp_path / f"{path.stem}.json"
        code = main(["score", str(path), *extra, "--no-progress", "--json", str(out)])
        assert code == 0, capsys.readouterr().err
        [run] = json.loads(out.read_text())["runs"]
        assert (run["n"], run["correct"], run["no_valid_answer"], run["accuracy"]) == (
            4, 2, 1, 0.5)  # fmt: skip
        assert run.get("stale", {"count": 0})["count"] == 0
        # the same verdicts (the response file names no video; the annotations do)
        results.append([{k: v for k, v in o.items() if k != "video"} for o in run["outcomes"]])
    assert results[0] == results[1]


def test_unofficial_annotations_without_the_flag_is_an_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("VLM4D_ALLOW_UNOFFICIAL_ANNOTATIONS", raising=False)
    example = tmp_path / "real_mc_cot" / "example-model.json"
    example.parent.mkdir()
    example.write_bytes((EXAMPLES / "real_mc_cot" / "example-model.json").read_bytes())
    code, result, err = score(capsys, example, "--annotations",
                              _example_annotations(tmp_path / "annotations"))  # fmt: skip
    assert (code, result) == (2, None)
    line = last_line(err)
    assert line.startswith("vlm4d score: error: annotation file(s) differ from the official")
    assert line.endswith("(or pass --allow-unofficial-annotations) to use these; the run then "
                         "records it.")  # fmt: skip


# --- 5. --model-name and --protocol ------------------------------------------------------------


def test_model_name_and_protocol_go_into_the_document_and_the_report(tmp_path, capsys):
    real = dump(tmp_path / "real_mc_cot" / "run-a.json",
                [entry(i, t) for i, t in enumerate(TRUTHS, 1)])  # fmt: skip
    synthetic = dump(tmp_path / "synthetic_mc_cot" / "run-b.json",
                     [entry(i, t) for i, t in enumerate(TRUTHS, 1)])  # fmt: skip
    protocol = "greedy, 8 frames, official CoT prompt"
    code, result, err = score(capsys, real, synthetic, "--model-name", " Qwen2.5-VL-7B ",
                              "--protocol", protocol)  # fmt: skip
    assert code == 0, err
    assert result["produced_by"] == {"model": "Qwen2.5-VL-7B", "protocol": protocol}
    # the files of two names are one model's: one row
    assert [r["model"] for r in result["runs"]] == ["Qwen2.5-VL-7B (cot)"] * 2
    assert [m["model"] for m in result["models"]] == ["Qwen2.5-VL-7B (cot)"]
    out = tmp_path / "report"
    assert main(["report", str(real.parent / "score.json"), "--out", str(out)]) == 0
    capsys.readouterr()
    report = (out / "report.md").read_text()
    assert f" | {protocol} |" in report  # the table's protocol column
    assert (f"- `Qwen2.5-VL-7B (cot)`: response files scored by `vlm4d score` (prompt setting "
            f"`cot`); protocol {protocol} (declared with --protocol).") in report  # fmt: skip
    assert f',cot,"{protocol}",' in (out / "leaderboard.csv").read_text()
    from vlm4d_tasks.report.score_report import markdown_report

    assert (f"Declared by the user (`--model-name` / `--protocol`): model `Qwen2.5-VL-7B`, "
            f"protocol `{protocol}`.") in markdown_report(result)  # fmt: skip


def test_without_declaration_nothing_is_recorded(tmp_path, capsys):
    path = dump(tmp_path / "real_mc" / "m.json", [entry(i, t) for i, t in enumerate(TRUTHS, 1)])
    code, result, err = score(capsys, path)
    assert code == 0, err
    assert "produced_by" not in result and result["runs"][0]["model"] == "m"
    out = tmp_path / "report"
    assert main(["report", str(path.parent / "score.json"), "--out", str(out)]) == 0
    assert "how the answers were generated is not recorded" in (out / "report.md").read_text()


@pytest.mark.parametrize("value", ["", "   ", "two\nlines", "x" * 201])
def test_declared_texts_are_one_short_line(tmp_path, capsys, value):
    path = dump(tmp_path / "real_mc" / "m.json", [entry(1, "left")])
    for option in ("--model-name", "--protocol"):
        with pytest.raises(SystemExit) as stopped:
            main(["score", str(path), option, value])
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {option}: expected one line of 1 to 200 printable characters" in err
