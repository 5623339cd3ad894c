"""DSR-Bench as a second question set: the reader of both published forms, the build, the
prompt and frame rules of VLMEvalKit's `DSRBench`, and its place in scoring and the report.

The source files are written here in the documented schema (`_dsr_bench_fixture`), never read
from the release (the hub cannot be reached)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vlm4d_tasks.data import dsr_bench as dsr
from vlm4d_tasks.data.files import InputFileError

ROW = {
    "videoID": "abc123",
    "question": "Between 1.0s and 4.0s, from the perspective of camera at 1.0s, how does the "
    "distance between car and dog change?",
    "options": ["A. gets closer", "B. gets farther", "C. stays the same", "D. closer then farther"],
    "answer": "C",
    "type": "abs_dis",
}


def _parquet(tmp_path: Path, rows: list[dict]) -> Path:
    import _dsr_bench_fixture as fixture

    return fixture.write_parquet(tmp_path / "benchmark.parquet", rows)


def test_a_parquet_row_becomes_exactly_this_record(tmp_path):
    bench = dsr.load_dsr_bench(_parquet(tmp_path, [ROW]))
    assert bench.form == "parquet" and bench.problems == []
    assert bench.records[0].to_dict() == {
        "uid": "dsr_bench/0", "question_id": "0", "subset": "dsr_bench", "source": "koala-36m",
        "perspective": None, "category": "abs_dis", "question": ROW["question"],
        "options": ["gets closer", "gets farther", "stays the same", "closer then farther"],
        "answer": "C", "answer_text": "stays the same", "video": "abc123.mp4", "flags": [],
        "frame": "absolute", "quantity": "distance", "video_id": "abc123",
    }  # fmt: skip


def test_the_tsv_form_gives_the_same_questions(tmp_path):
    import _dsr_bench_fixture as fixture

    parquet = dsr.load_dsr_bench(fixture.write_parquet(tmp_path / "b.parquet"))
    tsv = dsr.load_dsr_bench(fixture.write_tsv(tmp_path / "DSRBench.tsv", folder="clips"))
    assert (parquet.form, tsv.form) == ("parquet", "tsv")
    assert len(tsv.records) == len(parquet.records) == 39
    for a, b in zip(parquet.records, tsv.records):
        assert b.video == f"clips/{a.video}"  # the TSV's own path, under the dsr-bench folder
        assert {**a.to_dict(), "video": ""} == {**b.to_dict(), "video": ""}
    # every type, and the viewpoints they imply
    assert dsr.counts_by(parquet.records, "frame") == {"absolute": 18, "free_form": 3,
                                                       "relative": 18}  # fmt: skip
    assert set(dsr.counts_by(parquet.records, "category")) == {t.value for t in dsr.DsrType}


def test_types_split_into_viewpoint_and_quantity():
    assert dsr.split_type(dsr.DsrType.ABS_SPD_COMP) == (dsr.Frame.ABSOLUTE,
                                                         dsr.Quantity.SPEED_COMPARISON)  # fmt: skip
    assert dsr.split_type(dsr.DsrType.REL_DIR_PRED) == (dsr.Frame.RELATIVE,
                                                         dsr.Quantity.DIRECTION_PREDICTION)  # fmt: skip
    assert dsr.split_type(dsr.DsrType.NON_TEMP) == (dsr.Frame.FREE_FORM, dsr.Quantity.FREE_FORM)


def test_defects_are_flagged_and_kept_never_dropped(tmp_path):
    rows = [
        {**ROW, "answer": "E"},
        {**ROW, "options": ["A. left", "B. left", "C. up", "D. down"]},
        {**ROW, "options": ["A. left", "B. right", "C. up"], "answer": "D"},
        {**ROW, "options": ["A. left", "C. right", "B. up", "D. down"]},
        {**ROW, "type": "absolute distance"},
        {**ROW, "videoID": "../../etc/passwd"},
        {**ROW, "question": None},
    ]
    bench = dsr.load_dsr_bench(_parquet(tmp_path, rows))
    assert len(bench.records) == len(rows)
    flags = [r.flags for r in bench.records]
    assert flags == [
        ["answer_not_a_letter"],
        ["duplicate_options"],
        ["option_count_not_4", "answer_letter_has_no_option"],
        ["option_label_mismatch"],
        ["unknown_type"],
        ["unsafe_video_path"],
        ["missing_field:question"],
    ]
    first, _, third, mislabelled, unknown, *_ = bench.records
    assert (first.answer, first.answer_text) == ("", "")
    assert third.answer == "D" and third.answer_text == ""
    assert mislabelled.options[1] == "C. right"  # kept whole, not relabelled
    assert (unknown.category, unknown.frame, unknown.quantity) == ("absolute distance", "", "")
    # each problem names the file, the record and the field
    problem = bench.problems[0]
    assert (Path(problem.file).name, problem.record, problem.field) == (
        "benchmark.parquet",
        "0",
        "answer",
    )
    assert str(bench.problems[-1]).endswith("record 6: field 'question': absent or empty")


def test_a_repeated_tsv_index_gets_a_suffix_and_a_flag(tmp_path):
    import csv

    path = tmp_path / "DSRBench.tsv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["index", "video", "question", "options", "answer", "task_type"])
        writer.writerow([7, "v/x.mp4", "q1", repr(["A. a", "B. b", "C. c", "D. d"]), "A",
                         "rel_ori"])  # fmt: skip
        writer.writerow([7, "v/y.mp4", "q2", json.dumps(["a", "b", "c", "d"]), "b", "non_temp"])
    bench = dsr.load_dsr_bench(path)
    assert [r.uid for r in bench.records] == ["dsr_bench/7", "dsr_bench/7#2"]
    assert bench.records[1].flags == ["duplicate_id"]
    # a JSON list literal (no labels) and a lower-case answer letter read as VLMEvalKit does
    assert bench.records[1].options == ["a", "b", "c", "d"] and bench.records[1].answer == "B"


def test_a_file_that_is_not_dsr_bench_names_the_file_and_field(tmp_path):
    bad = tmp_path / "other.tsv"
    bad.write_text("id\tprompt\n1\tx\n", encoding="utf-8")
    with pytest.raises(dsr.DsrBenchError, match=r"other.tsv: field 'question': no such column"):
        dsr.load_dsr_bench(bad)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputFileError, match="FIFO"):  # refused at once, never opened
        dsr.load_dsr_bench(fifo)
    broken = tmp_path / "b.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(dsr.DsrBenchError, match=r"b.parquet: not a readable Parquet file"):
        dsr.load_dsr_bench(broken)


# --------------------------------------------------------------------------------------------
# `vlm4d build-dataset --benchmark dsr-bench`


def test_build_dataset_cli_writes_a_folder_load_dataset_reads(tmp_path, capsys):
    import _dsr_bench_fixture as fixture
    from datasets import load_dataset

    from vlm4d_tasks.cli import main

    source = fixture.write_tsv(tmp_path / "DSRBench.tsv", folder="videos")
    fixture.write_videos(tmp_path / "dsr-bench", folder="videos")
    out = tmp_path / "out"
    code = main(["build-dataset", "--benchmark", "dsr-bench", "--source", str(source),
                 "--videos", str(tmp_path / "dsr-bench"), "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    rows = load_dataset(str(out), split="test")
    assert rows.num_rows == 39 and rows[0]["uid"] == "dsr_bench/0"
    assert rows.column_names == list(dsr.FIELDS)
    # the videos are linked under their paths, resolving inside --videos
    clip = out / "videos" / "koalaA01.mp4"
    assert clip.is_symlink() and (tmp_path / "dsr-bench") in clip.resolve().parents
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "config_name: dsr_bench" in card and "| `rel_dir_pred` | 3 |" in card
    report = json.loads((out / "validation_report.json").read_text(encoding="utf-8"))
    assert report["records"] == 39 and report["missing_videos"] == []


def test_build_dataset_cli_bad_source_exits_2_with_cause_and_fix(tmp_path, capsys):
    from vlm4d_tasks.cli import main

    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\n1\t2\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["build-dataset", "--benchmark", "dsr-bench", "--source", str(bad),
                 "--out", str(out)]) == 2  # fmt: skip
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "bad.tsv: field 'question': no such column" in last and "Fix: pass" in last
    assert not out.exists()
    assert main(["build-dataset", "--benchmark", "dsr-bench", "--out", str(out)]) == 2
    assert "needs --source FILE" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# VLMEvalKit's prompt and frame rules


def test_prompt_is_vlmevalkits_dsrbench_text():
    from vlm4d_tasks.lmms.dsr_task import doc_to_text

    doc = {"uid": "dsr_bench/0", "question": "Q?", "options": ["up", "down", "left", "right"]}
    assert doc_to_text(doc) == (
        "These are the frames of a video. Select the best answer to the following "
        "multiple-choice question based on the video. Respond with only the letter (A, B, C, "
        "or D) of the correct option.\nQuestion: Q?\nA. up\nB. down\nC. left\nD. right\n"
        "Answer: "
    )
    assert doc_to_text(doc, {"pre_prompt": "<", "post_prompt": ">"}).startswith("<These")


def test_frame_rules_give_vlmevalkits_indices():
    from vlm4d_tasks.lmms.dsr_task import VlmEvalKitFps, frame_policy

    # dsrbench.py 142: np.linspace(0, n - 1, nframe, dtype=int)
    for count in (100, 731):
        expected = np.linspace(0, count - 1, 32, dtype=int).tolist()
        assert frame_policy("32frame").indices(count, 30.0) == expected
    # dsrbench.py 146-150: int(i * fps) for i in range(int(count / fps)): one frame per second
    # from the start, uncapped (VLM4D's 1 fps rule would spread at most 64 by linspace)
    assert VlmEvalKitFps().indices(100, 29.97) == [0, 29, 59]
    assert len(VlmEvalKitFps().indices(30 * 90, 30.0)) == 90
    assert VlmEvalKitFps().indices(10, 30.0) == [0]  # under a second: frame 0, not nothing
    with pytest.raises(ValueError, match="64frame, 32frame, 30frame or 1fps"):
        frame_policy("2fps")


# --------------------------------------------------------------------------------------------
# Scoring and the report


def _scored_items(rights: list[bool]):
    from vlm4d_tasks.data.schema import Record
    from vlm4d_tasks.metric.scoring import Verdict, join

    records = []
    for i, kind in enumerate([dsr.DsrType.ABS_DIS, dsr.DsrType.REL_DIR, dsr.DsrType.ABS_DIS]):
        row = {**ROW, "type": kind.value}
        record = dsr.normalize_row(row, i, "parquet", dsr._Problems("f"), Counter())
        records.append(Record.from_dict(record.to_dict()))
    verdicts = [Verdict.chosen(r.uid, r.answer if ok else "A", "rule:test")
                for r, ok in zip(records, rights)]  # fmt: skip
    return join(verdicts, records)


def test_scoring_breaks_dsr_questions_down_by_their_type():
    from vlm4d_tasks.metric.scoring import score_items

    scored = score_items(_scored_items([True, False, False]), n_resamples=10)
    assert {k: (v["correct"], v["n"]) for k, v in scored["by_category"].items()} == {
        "abs_dis": (1, 2),
        "rel_dir": (0, 1),
    }
    assert scored["by_perspective"] == {}


def test_report_puts_dsr_rows_in_their_own_table():
    from vlm4d_tasks.pipeline import score as pipeline
    from vlm4d_tasks.report import leaderboard as lb

    runs, models = pipeline.rows_to_runs({"dsr_bench": _scored_items([True, True, False])},
                                         "m (x)", "rule", resamples=10, seed=0)  # fmt: skip
    document = pipeline.score_document(runs, models, judge={"mode": "rule", "models": []},
                                       resamples=10, seed=0, run={"protocol": None})  # fmt: skip
    key = lb.group_key(document, "m (x) [dsr_bench]")
    assert (key.questions, key.count) == ("dsr_bench", 3)
    assert key.title().startswith("DSR-Bench")


# --------------------------------------------------------------------------------------------
# The tasks' questions and frames (in process, on a built folder)

SOURCE = [{"repo_id": "TencentARC/DSR_Suite-Data", "revision": "main"}]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    import _dsr_bench_fixture as fixture

    return fixture.build(tmp_path_factory.mktemp("dsr_built"))


def test_tasks_read_the_folder_and_decode_vlmevalkits_frames(built, monkeypatch, tmp_path):
    from _video_factory import read_frame_number

    from vlm4d_tasks.lmms import dsr_task

    monkeypatch.setenv("VLM4D_DATASET", str(built))
    monkeypatch.delenv("VLM4D_VIDEO_ROOT", raising=False)
    monkeypatch.setenv("VLM4D_FRAME_CACHE_DIR", str(tmp_path / "frames"))
    docs = dsr_task.load_docs(SOURCE)
    assert len(docs) == 39 and set(docs["subset"]) == {"dsr_bench"}
    doc = docs[0]
    assert dsr_task.doc_to_video(doc) == [str(built / "koalaA01.mp4")]
    # 24 frames at 8 fps: 1 fps is frames 0, 8, 16 (int(i * 8) for the 3 whole seconds)
    frames = dsr_task.doc_to_frames(doc, {"frames": "1fps"})
    assert [read_frame_number(f) for f in frames] == [0, 8, 16]
    # 30 frames of a 24-frame clip: each frame once (VLMEvalKit's linspace would repeat some)
    frames = dsr_task.doc_to_frames(doc, {"frames": "30frame"})
    assert [read_frame_number(f) for f in frames] == list(range(24))
    # metrics: accuracy, its viewpoint, its type; the items are VLM4D's scoring items
    result = dsr_task.process_results_32frame(doc, ["Answer: B"])
    assert sorted(result) == ["abs_dis", "absolute", "accuracy", "vlmevalkit_accuracy"]
    assert result["vlmevalkit_accuracy"]["letter"] == "B"
    assert result["vlmevalkit_accuracy"]["score"] == int(doc["answer"] == "B")
    assert result["accuracy"]["row"] == "dsr_bench_32frame"
    assert (result["accuracy"]["letter"], result["accuracy"]["record"]["category"]) == ("B",
                                                                                       "abs_dis")  # fmt: skip


def test_tasks_without_a_dsr_folder_say_how_to_build_one(built, monkeypatch, tmp_path):
    from vlm4d_tasks.lmms import data as lmms_data
    from vlm4d_tasks.lmms import dsr_task

    monkeypatch.delenv("VLM4D_DATASET", raising=False)
    with pytest.raises(lmms_data.DatasetNotFoundError, match="--benchmark dsr-bench --source"):
        dsr_task.load_docs(SOURCE)
    # a folder of another benchmark: named, with the recipe
    other = tmp_path / "other"
    (other / "data" / "real").mkdir(parents=True)
    readme = (built / "README.md").read_text(encoding="utf-8").replace("dsr_bench", "real")
    (other / "README.md").write_text(readme, encoding="utf-8")
    (other / "data" / "real" / "test.parquet").write_bytes(
        (built / "data" / "dsr_bench" / "test.parquet").read_bytes()
    )
    monkeypatch.setenv("VLM4D_DATASET", str(other))
    with pytest.raises(ValueError, match=r"no config 'dsr_bench' \(it has \['real'\]\)"):
        dsr_task.load_docs(SOURCE)


# --------------------------------------------------------------------------------------------
# VLMEvalKit's letter matcher (`metric.vlmevalkit_mcq`): each step on a literal answer, with the
# letter VLMEvalKit's own `can_match_option` (matching_func.py at e8e78f0) returns for it


@pytest.mark.parametrize(
    ("answer", "letter"),
    [
        ("<answer> b. because it moves left </answer> The answer is C", "B"),  # 2: the block
        ("I think it is (C) </answer>", "C"),  # 3: before </answer>
        ("Reasoning...\n<think>maybe A</think>\nD", "A"),  # 3: before </think>, in the tail
        ("The options are A and B.\nB) moves away\n", "B"),  # 4: a labelled line
        ("**C**", "C"),  # 4: a line that is one letter
        (
            "Looking at the car.\nIt moves left, so the answer is D, not A or B.\n"
            "So option C looks wrong but A fits",
            "D",
        ),  # 6: the first phrase  # fmt: skip
        ("Final answer: b", "B"),  # 6: case-insensitive, as compiled
        ("answer" + " " * 50 + "c.", "C"),  # 6 across a run of spaces
        ("Option A: left\nOption B: right\nI pick B because", "B"),  # 7: option lines left out
        ("The car goes left (see A) and then B happens?", None),  # two letters: none
        ("I cannot tell.", None),
    ],
)
def test_vlmevalkit_matcher_reads_what_vlmevalkit_reads(answer, letter):
    from vlm4d_tasks.metric import vlmevalkit_mcq

    assert vlmevalkit_mcq.can_match_option(answer) == letter
    assert vlmevalkit_mcq.hit(answer, "A") is (letter == "A")


def test_vlmevalkit_matcher_is_linear_where_the_original_backtracks():
    """VLMEvalKit's patterns take about a minute on "answer" + 3,000 spaces + "x" (nested
    whitespace groups); the port reads 100 KB adversarial answers at once."""
    import time

    from vlm4d_tasks.metric import vlmevalkit_mcq

    for text in ["answer" + " " * 100_000 + "x", "<answer" * 20_000 + ">", "*" * 100_000 + "A",
                 "A" + " " * 100_000 + "<x", "A " * 50_000]:  # fmt: skip
        start = time.perf_counter()
        vlmevalkit_mcq.can_match_option(text)
        assert time.perf_counter() - start < 2.0, text[:20]
