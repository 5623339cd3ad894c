"""What `vlm4d report` shows of a score document's validity block (`report.leaderboard`):
chance-corrected and debiased overall accuracy beside each measured row, the baseline rows
apart and unranked, the paragraph on both (with the debiased set's caveat), the consistency
table, the new leaderboard.csv / leaderboard.json fields; on hand-made documents whose numbers
are computed by hand here, on documents written before the block existed, and on a document
made by the pipeline itself."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import subprocess
import sys

import pytest

from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric.scoring import Verdict, join
from vlm4d_tasks.pipeline import rows as score_rows
from vlm4d_tasks.pipeline import score as pipeline
from vlm4d_tasks.pipeline.document import ScoreFileError
from vlm4d_tasks.report import leaderboard as lb
from vlm4d_tasks.report import leaderboard_render as render
from vlm4d_tasks.report.html import render_html
from vlm4d_tasks.validity.baselines import PREDICTOR_ROW, PRIOR_ROW

PRIOR = PRIOR_ROW
RANDOM = "random (seed 0)"


def acc(correct: int, n: int, ci: tuple[float, float] | None = None, videos: int | None = None):
    """An accuracy dict as `scoring.Accuracy.to_dict` writes it (nothing unresolved)."""
    out = {"n": n, "scored": n, "correct": correct, "accuracy": round(correct / n, 6),
           "ci95": list(ci) if ci else None, "no_valid_answer": 0, "unresolved": 0}  # fmt: skip
    if videos is not None:  # the fields of documents with a validity block
        out["chance_corrected"] = round((correct / n - 0.25) / 0.75, 6)
        out["videos"] = videos
    return out


def row(model: str, correct: int, n: int = 40, ci=None, videos: int | None = 20) -> dict:
    """A paper-table row of real questions only: real = overall."""
    return {"model": model, "columns": {"real": acc(correct, n, ci, videos),
                                        "overall": acc(correct, n, ci, videos)}}  # fmt: skip


def run(model: str, n: int = 40) -> dict:
    return {"name": model, "model": model, "variant": "cot", "subset": "real", "file": None,
            "n": n, "accuracy": 0.5, "no_valid_answer": 0, "unresolved": 0,
            "grading": {"mode": "rule"}}  # fmt: skip


def document(*, prior: int = 20, consistency: list | None = None) -> dict:
    """Three models on 40 real questions of 20 videos: a 30 right, b 10, c 8; the debiased set
    keeps 20 of the 40 (12 videos): a 12 right, b 4, c 5. The prior gets `prior` of 40 and 6
    of the 20 kept, random 11 and 5."""
    rows = [row("a", 30, ci=(0.6, 0.85)), row("b", 10, ci=(0.15, 0.4)), row("c", 8)]
    debiased = {"a": acc(12, 20, (0.45, 0.75), 12), "b": acc(4, 20, (0.05, 0.35), 12),
                "c": acc(5, 20, (0.1, 0.4), 12)}  # fmt: skip
    baselines = [{**row(PRIOR, prior, ci=(0.35, 0.65)), "debiased": acc(6, 20, (0.1, 0.5), 12)},
                 {**row(RANDOM, 11), "debiased": acc(5, 20, None, 12)}]  # fmt: skip
    validity = {
        "debiased": {"version": "debiased-v1", "subsets": {"real": "shipped"}, "kept": 20,
                     "of": 40},
        "models": {name: {"debiased": value} for name, value in debiased.items()},
        "baselines": baselines,
    }  # fmt: skip
    if consistency is not None:
        validity["consistency"] = consistency
    return {
        "format_version": 3,
        "judge": {"mode": "rule", "models": []},
        "bootstrap": {"resamples": 1000, "seed": 0, "level": 0.95, "clusters": "video"},
        "runs": [run("a"), run("b"), run("c")],
        "models": rows,
        "validity": validity,
    }


def old_document() -> dict:
    """The same rows as written before the validity block and video-clustered intervals."""
    new = document()
    rows = [row("a", 30, ci=(0.6, 0.85), videos=None), row("b", 10, videos=None)]
    return {"judge": new["judge"], "bootstrap": {"resamples": 1000, "seed": 0, "level": 0.95},
            "runs": new["runs"][:2], "models": rows}  # fmt: skip


def board_of(*documents: tuple[str, dict]) -> lb.Leaderboard:
    return lb.build([score_rows.Source(path, doc) for path, doc in documents], resamples=50)


def section(text: str, start: str, end: str) -> str:
    assert start in text, start
    return text[text.index(start) : text.index(end, text.index(start))]


# --------------------------------------------------------------------------------------------
# The leaderboard and the baseline rows


def test_rows_show_chance_corrected_and_debiased_accuracy_beside_the_overall():
    text = render.report_markdown(board_of(("r/s.json", document())))
    board = section(text, "## Leaderboard", "### Baselines")
    # a: 30/40 = 75.0%, chance-corrected (75 - 25) / 75 = 66.7; debiased 12/20 = 60.0%
    assert "| 1 | `a` | – | – | 75.0 [60.0, 85.0] | – | – | – | 75.0 [60.0, 85.0] | 66.7 | " \
           "60.0 [45.0, 75.0] | 40 | not recorded |" in board  # fmt: skip
    # b: 10/40 = 25.0%, exactly chance: 0.0; c: 8/40 = 20%, below chance: (20 - 25) / 75
    assert "| 25.0 [15.0, 40.0] | 0.0 | 20.0 [5.0, 35.0] | 40 |" in board
    assert "| 3 | `c` |" in board and "| -6.7 | 25.0 [10.0, 40.0] | 40 |" in board
    # The baselines are neither ranked nor in the measured table (the prior, 20/40 = 50%, would
    # rank second).
    assert PRIOR not in board and RANDOM not in board
    assert "The intervals resample videos, not questions (1000 resamples)" in board


def test_baselines_are_apart_labelled_and_read_against_the_rows():
    text = render.report_markdown(board_of(("r/s.json", document())))
    part = section(text, "### Baselines on the same questions (not models: not ranked)",
                   "## By category")  # fmt: skip
    assert "they never see the video, so they are kept apart from the ranking" in part
    # prior 20/40 = 50.0%, chance-corrected 33.3, debiased 6/20 = 30.0%; random 11/40 = 27.5%,
    # (27.5 - 25) / 75 = 3.3, debiased 5/20 = 25.0% (no interval recorded)
    assert f"| {PRIOR} | – | – | 50.0 [35.0, 65.0] | – | – | – | 50.0 [35.0, 65.0] | 33.3 | " \
           "30.0 [10.0, 50.0] | 40 | `r/s.json` |" in part  # fmt: skip
    assert f"| {RANDOM} | – | – | 27.5 | – | – | – | 27.5 | 3.3 | 25.0 | 40 | `r/s.json` |" in part
    # 50% is above b (25%) and c (20%), not a (75%); so is 27.5%. On the debiased set the
    # prior's 30% is above b (20%) and c (25%), random's 25% only above b (a tie is not below).
    assert f"`{PRIOR}` scores above 2 of 3 measured rows on the same questions overall " \
           "(real: 2 of 3; debiased set: 2 of 3)." in part  # fmt: skip
    assert f"`{RANDOM}` scores above 2 of 3 measured rows on the same questions overall " \
           "(real: 2 of 3; debiased set: 1 of 3)." in part  # fmt: skip
    # ranks stay those of the measured rows alone
    assert [(r.rank, r.label) for r in board_of(("r/s.json", document())).rows] == [
        (1, "a"), (2, "b"), (3, "c")]  # fmt: skip


def test_the_paragraph_explains_both_numbers_and_the_caveat():
    text = render.report_markdown(board_of(("r/s.json", document())))
    assert "**Chance-corr.** is the overall accuracy corrected for chance, (accuracy − 25%) / " \
           "75%: 0 is guessing" in text  # fmt: skip
    assert "**Debiased** is the overall accuracy on the 20 of 40 questions kept by " \
           "`debiased-v1` (iterative bias pruning" in text  # fmt: skip
    assert "with its 95% bootstrap interval clustered by video (12 videos)." in text
    # the caveat carries the prior's own numbers: 6/20 on the debiased set, 20/40 on all
    assert "**Caveat on the debiased set.** It is less biased, not unbiased: the option-text " \
           "prior, which sees neither the video nor the question, still scores 30.0% on it " \
           "against 50.0% on all its questions (chance is 25%)." in text  # fmt: skip
    assert "not with the full-set columns, and not with the published rows" in text
    # with the random-removal control (`validity.baselines`), its mean is beside them
    doc = document()
    doc["validity"]["baselines"][0]["random_removed"] = {"seeds": [0, 1], "accuracy": 0.4875,
                                                         "min": 0.45, "max": 0.525}  # fmt: skip
    text = render.report_markdown(board_of(("r/s.json", doc)))
    assert "still scores 30.0% on it against 50.0% on all its questions and 48.8% when as " \
           "many questions are removed at random from each subset and category instead" in text  # fmt: skip
    assert render.leaderboard_json(board_of(("r/s.json", doc)))["baselines"][0]["random_removed"] \
        == 0.4875  # fmt: skip


def test_a_subset_without_a_debiased_list_is_named():
    doc = document()
    doc["validity"]["debiased"]["subsets"]["synthetic"] = "not the official release: no list"
    doc["validity"]["models"]["b"]["debiased"] = None
    text = render.report_markdown(board_of(("s.json", doc)))
    assert "(no debiased list for synthetic (not the official release: no list): its rows' " \
           "debiased accuracy covers the other subsets only)" in text  # fmt: skip
    assert "| 25.0 [15.0, 40.0] | 0.0 | – | 40 |" in text
    assert "Debiased – for `b`: no debiased set for these questions: synthetic (not the " \
           "official release: no list)." in text  # fmt: skip


# --------------------------------------------------------------------------------------------
# leaderboard.csv and leaderboard.json


def test_csv_and_json_carry_the_new_fields():
    board = board_of(("r/s.json", document()))
    rows = list(csv.DictReader(io.StringIO(render.leaderboard_csv(board))))
    assert [(r["table"], r["model"]) for r in rows[:5]] == [
        ("measured", "a"), ("measured", "b"), ("measured", "c"), ("baseline", PRIOR),
        ("baseline", RANDOM),
    ]  # fmt: skip
    a, _, c, prior, _ = rows[:5]
    assert {k: a[k] for k in ("overall_chance_corrected", "overall_videos", "interval_clusters",
                              "debiased_percent", "debiased_ci_low", "debiased_ci_high",
                              "debiased_n", "debiased_videos", "debiased_status")} == {
        "overall_chance_corrected": "66.6667", "overall_videos": "20",
        "interval_clusters": "video", "debiased_percent": "60.0000",
        "debiased_ci_low": "45.0000", "debiased_ci_high": "75.0000", "debiased_n": "20",
        "debiased_videos": "12", "debiased_status": "measured",
    }  # fmt: skip
    assert c["overall_chance_corrected"] == "-6.6667"
    assert (prior["rank"], prior["source"], prior["overall_percent"], prior["debiased_percent"]) \
        == ("", "r/s.json", "50.0000", "30.0000")  # fmt: skip
    published = [r for r in rows[5:] if not r["table"].startswith("literature:")]
    assert published and all(r["table"].startswith("published:") for r in published)
    assert all(r["debiased_percent"] == "" for r in published)

    data = render.leaderboard_json(board)
    assert data["format_version"] == 3
    first = data["measured"][0]
    assert first["columns"]["overall"]["chance_corrected"] == round(2 / 3, 6)
    assert first["columns"]["overall"]["videos"] == 20
    assert first["debiased"]["accuracy"] == 0.6 and first["debiased"]["ci95"] == [0.45, 0.75]
    assert (first["debiased_status"], first["interval_clusters"]) == ("measured", "video")
    assert [(b["label"], b["sources"]) for b in data["baselines"]] == [
        (PRIOR, ["r/s.json"]), (RANDOM, ["r/s.json"])]  # fmt: skip
    assert data["baselines"][0]["debiased"]["correct"] == 6
    assert data["inputs"][0]["debiased"] == document()["validity"]["debiased"]
    assert data["inputs"][0]["bootstrap"]["clusters"] == "video"
    assert data["consistency"] == []


# --------------------------------------------------------------------------------------------
# Several documents: identical baselines once, different ones each with its documents


def test_identical_baselines_are_shown_once_and_different_ones_with_their_documents():
    same = document()
    for r in same["models"] + same["runs"]:
        r["model"] = r["model"].upper()
    same["validity"]["models"] = {k.upper(): v for k, v in same["validity"]["models"].items()}
    other = document(prior=34)  # another question set: its prior differs
    for r in other["models"] + other["runs"]:
        r["model"] += "2"
    other["validity"]["models"] = {k + "2": v for k, v in other["validity"]["models"].items()}
    board = board_of(("x/one.json", document()), ("y/two.json", same), ("z/three.json", other))
    assert [(b.label, b.sources) for b in board.baselines] == [
        (f"{PRIOR} <one, two>", ["x/one.json", "y/two.json"]),
        # one random row in all: its name needs no run ids
        (RANDOM, ["x/one.json", "y/two.json", "z/three.json"]),
        (f"{PRIOR} <three>", ["z/three.json"]),
    ]  # fmt: skip
    text = render.report_markdown(board)
    # Each prior is read against the rows of its own documents: 50% beats b, c, B, C; 85% of
    # the third document's prior beats a2 (75%), b2, c2.
    assert f"`{PRIOR} <one, two>` scores above 4 of 6 measured rows" in text
    assert f"`{PRIOR} <three>` scores above 3 of 3 measured rows" in text
    # "<" escaped: GitHub would take "<three>" for an HTML tag and drop it
    assert f"| {PRIOR} \\<three> | – | – | 85.0 [35.0, 65.0] |" in text
    assert "| `x/one.json`, `y/two.json` |" in text


# --------------------------------------------------------------------------------------------
# Older documents


def test_an_older_document_still_renders_with_blanks_and_notes(tmp_path):
    board = board_of(("old.json", old_document()))
    assert board.baselines == [] and board.consistency == []
    text = render.report_markdown(board)
    # chance-corrected is a function of the accuracy: shown; debiased is not in the file
    assert "| 75.0 [60.0, 85.0] | 66.7 | – | 40 |" in text
    assert f"Debiased – for `a`, `b`: {score_rows.NOT_IN_FILE}." in text
    assert "No baseline rows or debiased set from `old.json`: not in these score files" in text
    assert "### Baselines" not in text and "**Debiased**" not in text
    assert "The intervals resample questions (1000 resamples): their score documents were " \
           "written before intervals were clustered by video" in text  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(render.leaderboard_csv(board))))
    assert (rows[0]["debiased_percent"], rows[0]["debiased_status"]) == ("", score_rows.NOT_IN_FILE)
    assert (rows[0]["interval_clusters"], rows[0]["overall_videos"]) == ("questions", "")
    assert render.leaderboard_json(board)["inputs"][0]["debiased"] is None

    # beside a new document: only the old one's rows are named
    mixed = render.report_markdown(board_of(("old.json", old_document()), ("new.json", document())))
    assert "The intervals of `a <old>`, `b <old>` resample questions" in mixed
    assert f"Debiased – for `a <old>`, `b <old>`: {score_rows.NOT_IN_FILE}." in mixed
    assert "| 1 | `a <new>` |" in mixed and "### Baselines on the same questions" in mixed


def test_a_probe_row_has_no_debiased_accuracy_and_is_not_called_old():
    cell, status = score_rows.debiased_cell(None, "p", benchmark=False)
    assert cell is None and "no real or synthetic questions" in status
    assert score_rows.debiased_cell(None, "p") == (None, score_rows.NOT_IN_FILE)
    block = document()["validity"]
    block["models"]["p"] = {"debiased": acc(0, 1) | {"n": 0, "scored": 0, "accuracy": None}}
    assert score_rows.debiased_cell(block, "p") == (
        None, "none of its scored questions is in the debiased set")  # fmt: skip


# --------------------------------------------------------------------------------------------
# Consistency


CONSISTENCY = [
    {"model": "a", "variant": "mirror", "row": "a [vlm4d_mc_mirror]", "n": 40,
     "base_accuracy": 0.75, "variant_accuracy": 0.5, "consistency": 0.45, "paired": 40},
    {"model": "a", "variant": "circular", "row": "a [vlm4d_mc_circular]", "n": 40,
     "base_accuracy": 0.75, "variant_accuracy": None, "consistency": None},
]  # fmt: skip


def test_consistency_is_a_small_table_when_present():
    text = render.report_markdown(board_of(("s.json", document(consistency=CONSISTENCY))))
    part = section(text, "### Consistency under transformed questions", "## By category")
    assert "*mirror*: every frame flipped left-right" in part
    assert "*circular*: the options re-lettered" in part and "*reverse*" not in part
    assert "| `a` | mirror | `a [vlm4d_mc_mirror]` | 40 | 75.0 | 50.0 | 45.0 |" in part
    assert "| `a` | circular | `a [vlm4d_mc_circular]` | 40 | 75.0 | – | – |" in part
    assert "Score document" not in part  # one document: no column naming it
    data = render.leaderboard_json(board_of(("s.json", document(consistency=CONSISTENCY))))
    assert data["consistency"][0] == {**CONSISTENCY[0], "source": "s.json"}
    assert "### Consistency" not in render.report_markdown(board_of(("s.json", document())))

    two = board_of(("s.json", document(consistency=CONSISTENCY)),
                   ("t.json", document(consistency=CONSISTENCY[:1])))  # fmt: skip
    part = section(render.report_markdown(two), "### Consistency", "## By category")
    assert "| Score document |" in part and part.count("`t.json`") == 1


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda v: v["consistency"][0].update(n="40"), r"validity\.consistency\[0\]\.n"),
        (lambda v: v["consistency"][1].pop("variant"), r"validity\.consistency\[1\]\.variant"),
        (lambda v: v["models"]["a"]["debiased"].update(accuracy="high"),
         r"validity\.models\.a\.debiased\.accuracy"),
        (lambda v: v["baselines"][1]["columns"]["overall"].update(ci95=[0.1]),
         r"validity\.baselines\[1\]\.columns\.overall\.ci95"),
        (lambda v: v["debiased"].pop("kept"), r"validity\.debiased\.kept"),
        (lambda v: v["debiased"]["subsets"].update(real=1), r"validity\.debiased\.subsets\.real"),
    ],
)  # fmt: skip
def test_a_malformed_validity_block_is_named(edit, field):
    doc = document(consistency=copy.deepcopy(CONSISTENCY))
    edit(doc["validity"])
    with pytest.raises(ScoreFileError, match=rf"^bad\.json: not a `vlm4d score` JSON: {field}: "):
        board_of(("bad.json", doc))


@pytest.mark.subprocess
def test_a_malformed_validity_block_fails_the_single_score_path_too(tmp_path):
    """`vlm4d report score.json --markdown` (one saved score, `document.check_score`) checks
    the block as the leaderboard does: exit 2, the last line names the file and field."""
    doc = pipeline_document()
    doc["validity"]["baselines"][0]["columns"]["overall"]["accuracy"] = "0.5"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    done = subprocess.run(
        [sys.executable, "-m", "vlm4d_tasks.cli", "report", str(path), "--markdown",
         str(tmp_path / "out.md")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert "bad.json" in last and "validity.baselines[0].columns.overall.accuracy" in last
    assert not (tmp_path / "out.md").exists()


# --------------------------------------------------------------------------------------------
# A document made by the pipeline; the page; the command


def _records() -> list[Record]:
    options = ["left", "right", "not moving", "no car there"]
    return [
        Record(uid=f"real/validation_{i}", question_id=f"validation_{i}", subset="real",
               source="davis", perspective="exocentric", category="translational",
               question="Which way does the car move?", options=options,
               answer="A" if i % 3 else "B", answer_text=options[0 if i % 3 else 1],
               video=f"videos_real/v{i // 2}.mp4")
        for i in range(1, 9)
    ]  # fmt: skip


def pipeline_document() -> dict:
    """Model m answers A to 8 real questions (right where the answer is A, 6 of 8): made by
    `score_document`, so with the validity block `vlm4d score` writes."""
    records = _records()
    items = join([Verdict.chosen(r.uid, "A", "rule:test") for r in records], records)
    entry = pipeline.run_entry(items, name="m", model="m (cot)", variant="cot", subset="real",
                               file=None, grading={"mode": "rule"}, resamples=100, seed=0)  # fmt: skip
    return pipeline.score_document([entry], {"m (cot)": items}, judge={"mode": "rule"},
                                   resamples=100, seed=0, records=records)  # fmt: skip


def test_a_pipeline_document_renders_its_own_validity_block():
    doc = pipeline_document()
    board = board_of(("s.json", doc))
    [m] = board.rows
    # 6 of 8: 75.0%, chance-corrected 66.7; the fixture is not the release: no debiased list
    assert m.columns["overall"].correct == 6 and m.clusters == "video"
    assert m.columns["overall"].videos == 5  # v0 .. v4
    assert m.debiased is None and "not the official release" in m.debiased_status
    # 5 clips: enough for the text-only predictor's 5 folds, so its row is there too
    assert [b.model for b in board.baselines] == [PRIOR, PREDICTOR_ROW, RANDOM]
    text = render.report_markdown(board)
    assert "| 75.0 [" in text and "| 66.7 | – | 8 |" in text
    # the random row's numbers are the document's, reproduced by its rule
    expected = doc["validity"]["baselines"][2]["columns"]["overall"]["correct"]
    assert board.baselines[2].columns["overall"].correct == expected


def test_page_keeps_intervals_whole_and_the_baselines_apart():
    text = render.report_markdown(board_of(("r/s.json", document())))
    page = render_html(text, [])
    # "value [low, high]": the interval may go under its value but never breaks itself
    assert '<td style="text-align:right" class="interval">75.0 <span class="ci">[60.0, 85.0]' \
           "</span></td>" in page  # fmt: skip
    assert '<td style="text-align:right">66.7</td>' in page  # a bare number stays as it was
    assert '<h3 id="baselines-on-the-same-questions-not-models-not-ranked">' in page
    assert "http" not in page.replace('http-equiv="Content-Security-Policy"', "")


@pytest.mark.subprocess
def test_report_command_on_a_saved_document(tmp_path):
    path = tmp_path / "score.json"
    path.write_text(json.dumps(document(consistency=CONSISTENCY)), encoding="utf-8")
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "vlm4d_tasks.cli", "report", str(path), "--out", str(out),
         "--no-progress"], capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "3 measured row(s) and 2 baseline row(s) from 1 score document(s)" in text
    assert "### Consistency under transformed questions" in text
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Caveat on the debiased set." in page

    bad = document()
    bad["validity"]["baselines"][0]["model"] = 7
    path.write_text(json.dumps(bad), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "vlm4d_tasks.cli", "report", str(path), "--out", str(out),
         "--no-progress"], capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "validity.baselines[0].model: expected a string, got 7" in done.stderr
