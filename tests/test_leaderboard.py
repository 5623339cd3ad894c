"""`vlm4d report`'s data side (`vlm4d_tasks.report.leaderboard`): the tables' arithmetic on
hand-made score documents, the published rows kept apart, the paired test by hand, lmms-eval
output folders, and `vlm4d report RUN --out DIR` end to end."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric import stats as metric_stats
from vlm4d_tasks.metric.scoring import ScoredItem, Verdict
from vlm4d_tasks.pipeline import rows as score_rows
from vlm4d_tasks.pipeline import score as pipeline
from vlm4d_tasks.pipeline.document import ScoreFileError
from vlm4d_tasks.report import leaderboard as lb
from vlm4d_tasks.report import leaderboard_render as render

OPTIONS = ["left", "right", "not moving", "no cup there"]


def record(uid: str, *, category: str = "translational", perspective: str | None = None,
           video: str | None = None) -> Record:  # fmt: skip
    subset, qid = uid.split("/")
    if subset == "real" and perspective is None:
        perspective = "egocentric" if int(qid.split("_")[1]) > 922 else "exocentric"
    answer = "D" if category == "false_positive" else "A"
    return Record(
        uid=uid, question_id=qid, subset=subset, source="davis" if subset == "real" else "cosmos",
        perspective=perspective, category=category, question="Where does the cup go?",
        options=list(OPTIONS), answer=answer, answer_text=OPTIONS["ABCD".index(answer)],
        video=video or f"videos_{subset}/{qid}.mp4",
    )  # fmt: skip


def scored(rec: Record, right: bool | None) -> ScoredItem:
    """An item answered right (its answer letter), wrong (another letter) or unresolved."""
    if right is None:
        verdict = Verdict.unresolved(rec.uid, "judge:j", "HTTP 503", cause="HTTP 503")
    else:
        letter = rec.answer if right else ("B" if rec.answer != "B" else "C")
        verdict = Verdict.chosen(rec.uid, letter, "rule:test")
    item = pipeline.scoring.join([verdict], [rec])[0]
    assert item.correct is right
    return item


def response_document(models: dict[str, dict[str, list[ScoredItem]]]) -> dict:
    """A `vlm4d score`-shaped document: model -> subset -> items, one run per file."""
    runs, rows = [], {}
    for model, subsets in models.items():
        name, _, variant = model.partition(" (")
        for subset, items in subsets.items():
            runs.append(pipeline.run_entry(
                items, name=name, model=model, variant=variant.rstrip(")"), subset=subset,
                file=f"{subset}_mc_{variant.rstrip(')')}/{name}.json", grading={"mode": "rule"},
                resamples=200, seed=0,
            ))  # fmt: skip
            rows.setdefault(model, []).extend(items)
    return pipeline.score_document(runs, rows, judge={"mode": "rule", "models": []},
                                   resamples=200, seed=0)  # fmt: skip


# --------------------------------------------------------------------------------------------
# The run entry carries per-question outcomes


def test_run_entry_lists_each_question_outcome_sorted_by_id():
    items = [scored(record("real/validation_2"), True), scored(record("real/validation_10"), None),
             scored(record("real/validation_1"), False)]  # fmt: skip
    run = pipeline.run_entry(items, name="m", model="m", variant="cot", subset="real", file=None,
                             grading={"mode": "rule"}, resamples=10, seed=0)  # fmt: skip
    # truth: the ground-truth text; chosen: the chosen option's text (B of OPTIONS is "right"),
    # None when unresolved
    assert run["outcomes"] == [
        {"id": "real/validation_1", "correct": False, "video": "videos_real/validation_1.mp4",
         "truth": "left", "chosen": "right"},
        {"id": "real/validation_10", "correct": None, "video": "videos_real/validation_10.mp4",
         "truth": "left", "chosen": None},
        {"id": "real/validation_2", "correct": True, "video": "videos_real/validation_2.mp4",
         "truth": "left", "chosen": "left"},
    ]  # fmt: skip
    assert list(run)[-1] == "outcomes"  # added after every existing key


def test_outcome_texts_follow_the_options_as_the_model_was_shown_them():
    # A file that lettered the options otherwise (the record as asked): letter C is "left"
    # there, and no valid answer has no chosen text.
    shown = replace(record("real/validation_3"), options=["right", "not moving", "left", "no cup"],
                    answer="C")  # fmt: skip
    right = pipeline.scoring.join([Verdict.chosen(shown.uid, "C", "rule:test")], [shown])[0]
    assert pipeline.outcome(right) == {"id": "real/validation_3", "correct": True,
                                       "video": "videos_real/validation_3.mp4",
                                       "truth": "left", "chosen": "left"}  # fmt: skip
    blank = pipeline.scoring.join([Verdict.chosen(shown.uid, None, "rule:none")], [shown])[0]
    assert (blank.correct, pipeline.outcome(blank)["chosen"]) == (False, None)


# --------------------------------------------------------------------------------------------
# Table arithmetic


def _literal_document() -> dict:
    """Hand-made: model "a" has a real run (translational 3/4, rotational 1/1) and a synthetic
    run (translational 1/6, false positive 2/2); model "b" only a real run."""

    def group(correct, scored, n=None):
        return {"n": n or scored, "scored": scored, "correct": correct,
                "accuracy": round(correct / scored, 6), "ci95": None}  # fmt: skip

    def run(model, subset, by_category, n):
        return {"name": model, "model": model, "variant": "cot", "subset": subset, "file": None,
                "n": n, "accuracy": 0.5, "no_valid_answer": 0, "unresolved": 0,
                "by_category": by_category, "grading": {"mode": "rule"}}  # fmt: skip

    return {
        "judge": {"mode": "rule", "models": []},
        "runs": [
            run("a", "real", {"translational": group(3, 4), "rotational": group(1, 1)}, 5),
            run("a", "synthetic", {"translational": group(1, 6),
                                   "false_positive": group(2, 2)}, 8),  # fmt: skip
            run("b", "real", {"translational": group(2, 4, n=5)}, 5),
        ],
        "models": [
            {"model": "b", "columns": {"real": group(2, 4, n=5), "overall": group(2, 4, n=5)}},
            {"model": "a", "columns": {
                "real": {**group(4, 5), "ci95": [0.4, 1.0]},
                "synthetic": group(3, 8),
                "overall": {**group(7, 13), "ci95": [0.3, 0.8]},
            }},
        ],
    }  # fmt: skip


def test_categories_pool_runs_by_question_counts_not_means_of_means():
    rows = score_rows.measured_rows([score_rows.Source("s.json", _literal_document())])
    a = next(r for r in rows if r.model == "a")
    # translational: (3 + 1) / (4 + 6) = 0.4; the mean of the two runs' means would be 0.458
    assert a.categories["translational"] == score_rows.Cell(0.4, 10, 4, None, 10)
    assert a.categories["rotational"].accuracy == 1.0
    assert a.categories["false_positive"] == score_rows.Cell(1.0, 2, 2, None, 2)
    assert "counting" not in a.categories  # no questions: left out, never 0.0
    b = next(r for r in rows if r.model == "b")
    assert b.categories == {"translational": score_rows.Cell(0.5, 4, 2, None, 5)}


def test_leaderboard_ranks_by_overall_and_keeps_the_documents_intervals():
    rows = score_rows.measured_rows([score_rows.Source("s.json", _literal_document())])
    assert [(r.rank, r.model) for r in rows] == [(1, "a"), (2, "b")]  # 7/13 = 53.8% > 50%
    a = rows[0]
    assert a.columns["overall"].ci95 == (0.3, 0.8)
    assert a.columns["overall"].percent == pytest.approx(100 * 7 / 13)
    assert set(a.columns) == {"real", "synthetic", "overall"}
    assert a.outcomes is None  # a document without outcomes: no paired comparison
    text = render.report_markdown(lb.build([score_rows.Source("s.json", _literal_document())]))
    # then chance-corrected overall, (7/13 - 1/4) / (3/4) = 15/39 = 38.5%, computed for this
    # older document too; no debiased accuracy (it has no validity block)
    assert (
        "| 1 | `a` | – | – | 80.0 [40.0, 100.0] | – | – | 37.5 | 53.8 [30.0, 80.0] | 38.5 | – | 13 |"
        in text
    )
    assert "| `a` | 40.0 (n=10) | 100.0 (n=1) | – | 100.0 (n=2) |" in text
    assert "Not compared: `a`, `b`: their score documents were written before per-question " \
           "outcomes were recorded" in text  # fmt: skip


def test_a_tie_formats_as_the_official_numbers_do():
    # 213 of 400: exactly 53.25%, published by the official script as 53.2 (Python rounding)
    assert f"{score_rows.Cell(0.5325, 400, 213).percent:.1f}" == "53.2"


def test_rows_from_a_pipeline_document_and_their_settings():
    real = [record(f"real/validation_{i}") for i in (1, 2, 923, 924)]
    syn = [record("synthetic/validation_1"), record("synthetic/validation_2",
                                                     category="false_positive")]  # fmt: skip
    document = response_document({
        "m (cot)": {"real": [scored(r, i < 3) for i, r in enumerate(real)],
                    "synthetic": [scored(r, True) for r in syn]},
        "m (direct-output)": {"real": [scored(r, i == 0) for i, r in enumerate(real)],
                              "synthetic": [scored(r, False) for r in syn]},
    })  # fmt: skip
    rows = score_rows.measured_rows([score_rows.Source("s.json", document)])
    assert [(r.label, r.name, r.setting, r.prompt) for r in rows] == [
        ("m (cot)", "m", "cot", "cot"),
        ("m (direct-output)", "m", "direct-output", "direct-output"),
    ]
    assert rows[0].protocol is None and "not recorded" in rows[0].protocol_text
    assert rows[0].columns["overall"].correct == 5 and rows[0].columns["overall"].n == 6
    assert len(rows[0].outcomes) == 6
    # the two settings of one model are compared unasked
    assert [(x.label, y.label) for x, y in score_rows.default_pairs(rows)] == [
        ("m (cot)", "m (direct-output)")
    ]


# --------------------------------------------------------------------------------------------
# Published rows


def test_published_rows_are_labelled_with_source_and_protocol():
    data = lb.published()
    tables = {t["id"]: t for t in data["tables"]}
    assert list(tables) == ["paper", "official_cot", "official_direct-output"]
    assert [len(t["rows"]) for t in tables.values()] == [2, 23, 22]
    official = "official release, human-verified labels, official statistics arithmetic"
    for table in tables.values():
        for row in table["rows"]:
            assert row["protocol"] == "official"
            assert set(row["percent"]) == set(score_rows.COLUMNS)
    assert {r["source"] for r in tables["official_cot"]["rows"]} == {official}
    assert {r["source"] for r in tables["official_direct-output"]["rows"]} == {official}
    human, chance = tables["paper"]["rows"]
    assert (human["model"], human["source"]) == ("Human performance", "paper user study")
    assert (chance["model"], chance["source"]) == ("Random selection", "paper chance")
    assert list(human["percent"].values()) == [99.6, 99.7, 99.7, 91.8, 100.0, 95.9, 98.3]
    assert list(chance["percent"].values()) == [24.4, 23.2, 23.6, 25.5, 24.7, 25.1, 24.2]
    first = tables["official_cot"]["rows"][0]
    assert first["model"] == "gemini-2.5-pro-preview-06-05_1fps"
    assert list(first["percent"].values()) == [64.6, 62.9, 63.5, 54.8, 80.0, 57.3, 61.9]
    last = tables["official_direct-output"]["rows"][-1]
    assert last["model"] == "pixtral-12b_8frame"
    assert list(last["percent"].values()) == [33.2, 29.2, 30.5, 37.8, 28.9, 36.9, 32.0]
    # The official rows' pooled averages are consistent with their columns and counts.
    q = tables["official_cot"]["questions"]
    for row in tables["official_cot"]["rows"] + tables["official_direct-output"]["rows"]:
        p = row["percent"]
        real = (p["real_egocentric"] * q["real_egocentric"]
                + p["real_exocentric"] * q["real_exocentric"]) / q["real"]  # fmt: skip
        assert abs(real - p["real"]) <= 0.1, row["model"]
        overall = (p["real"] * q["real"] + p["synthetic"] * q["synthetic"]) / q["overall"]
        assert abs(overall - p["overall"]) <= 0.1, row["model"]


def test_published_rows_stay_apart_from_measured_rows_in_every_output():
    board = lb.build([score_rows.Source("s.json", _literal_document())])
    text = render.report_markdown(board)
    measured, _, rest = text.partition("## Published rows")
    assert "Human performance" not in measured and lb.PUBLISHED_MARK not in measured
    assert "| Human performance † | 99.6 |" in rest
    assert "| gemini-2.5-pro-preview-06-05_1fps † | 64.6 |" in rest
    assert "Source: official release, human-verified labels, official statistics arithmetic; " \
           "protocol: official." in rest  # fmt: skip
    # the note on the first arXiv version's synthetic split
    assert "earlier synthetic split of 800 questions" in rest
    assert "400 directional and 45 false-positive questions" in rest
    assert "compares with the release's figures" in rest

    rows = list(csv.DictReader(io.StringIO(render.leaderboard_csv(board))))
    assert [r["table"] for r in rows[:2]] == ["measured", "measured"]
    # two leaderboards: "b" answered the real questions only (`leaderboard.group_key`)
    assert [r["rank"] for r in rows[:2]] == ["1", "1"]
    published = [r for r in rows[2:] if not r["table"].startswith("literature:")]
    assert len(published) == 47 and all(r["table"].startswith("published:") for r in published)
    assert all(r["rank"] == "" and r["protocol"] == "official" for r in published)
    assert published[0]["source"] == "paper user study"

    data = render.leaderboard_json(board)
    assert [r["label"] for r in data["measured"]] == ["a", "b"]
    assert data["published"] == lb.published()


def test_standing_places_only_rows_over_the_release_questions_with_a_mark():
    rows = [
        {
            "model": m,
            "prompt": "cot",
            "percent": {"overall": p},
            "source": "s",
            "protocol": "official",
        }
        for m, p in (("x", 70.0), ("m", 40.0), ("y", 60.0))
    ]
    table = {"id": "t", "title": "T", "split": "all", "questions": {"overall": 10, "real": 6},
             "rows": rows}  # fmt: skip

    def row(label, prompt, overall, real):
        return score_rows.MeasuredRow(
            label=label, model=label, name=label.split()[0], setting="cot", prompt=prompt,
            protocol=None, protocol_text="", verdicts="", source="s",
            columns={"overall": score_rows.Cell(None, overall[1], overall[0], None, overall[1]),
                     "real": score_rows.Cell(None, real, 0, None, real)},
            categories={}, outcomes=None,
        )  # fmt: skip

    placed = lb.standing([row("m (cot)", "cot", (6, 10), 6), row("p", "cot", (6, 9), 6),
                          row("q", None, (6, 10), 6)], [table])  # fmt: skip
    assert len(placed) == 1  # "p" answered other questions, "q" has no prompt setting
    s = placed[0]
    # 60.0 ties with "y": placed below it, as a published number of the same value is kept
    assert (s.place, s.of, s.above, s.below, s.same_name) == (3, 4, ("y", 60.0), ("m", 40.0), 40.0)
    assert s.overall == pytest.approx(60.0)
    board = lb.Leaderboard([], [], {"notes": [], "tables": [table]}, placed,
                           [], {"resamples": 10, "seed": 0})  # fmt: skip
    assert (
        "| `m (cot)` | 60.0 | 3 of 4 | chain of thought | y 60.0† | m 40.0† | 40.0† | +20.0 |"
        in (render.report_markdown(board))
    )


# --------------------------------------------------------------------------------------------
# Paired comparison


def test_mcnemar_exact_by_hand():
    # 6 discordant pairs one way, 1 the other: 2 * P(X <= 1), X ~ Bin(7, 1/2) = 2 * 8/128
    assert metric_stats.mcnemar_exact(6, 1) == 0.125
    assert metric_stats.mcnemar_exact(1, 6) == 0.125
    assert metric_stats.mcnemar_exact(0, 0) == 1.0
    assert metric_stats.mcnemar_exact(3, 3) == 1.0
    assert metric_stats.mcnemar_exact(5, 0) == 2 / 32


def test_mcnemar_exact_is_scipys_binomial_test():
    stats = pytest.importorskip("scipy.stats")
    for a in range(0, 30, 3):
        for b in range(0, 30, 4):
            if a + b:
                expected = stats.binomtest(a, a + b, 0.5).pvalue
                assert metric_stats.mcnemar_exact(a, b) == pytest.approx(expected, rel=1e-12), (
                    a,
                    b,
                )
    assert metric_stats.mcnemar_exact(420, 380) == pytest.approx(stats.binomtest(420, 800).pvalue)


def _outcomes(pattern: str, videos: list[str] | None = None) -> list[dict]:
    return [{"id": f"q{i:02d}", "correct": {"1": True, "0": False, "-": None}[c],
             "video": videos[i] if videos else f"v{i}"} for i, c in enumerate(pattern)]  # fmt: skip


def test_paired_comparison_of_a_hand_computed_example():
    # 10 questions: 2 both right, 6 only A, 1 only B, 1 both wrong
    a = _outcomes("1111111100")
    b = _outcomes("1100000010")
    c = metric_stats.compare(a, b, labels=("A", "B"), resamples=500, seed=1)
    assert (c.n, c.a_only, c.b_only) == (10, 6, 1)
    assert (c.a_accuracy, c.b_accuracy, c.difference) == (0.8, 0.3, 0.5)
    assert c.p_value == 0.125
    assert c.videos == 10
    lo, hi = c.ci95
    assert -1.0 <= lo <= 0.5 <= hi <= 1.0


def test_paired_comparison_uses_only_questions_both_answered():
    a = _outcomes("11-10") + [{"id": "only-a", "correct": True, "video": "x"}]
    b = _outcomes("0010-")
    c = metric_stats.compare(a, b, resamples=50)
    # q00, q01 and q03 (A right, B wrong); q02 and q04 have an unresolved answer, "only-a"
    # was not asked of B
    assert (c.n, c.a_only, c.b_only, c.difference) == (3, 3, 0, 1.0)
    assert metric_stats.compare(a, [], resamples=10).why == "no question answered by both"


def test_clustered_bootstrap_against_a_direct_computation():
    # 4 videos holding 1, 2, 3 and 4 questions; differences A - B per question
    clusters = ["v1"] + ["v2"] * 2 + ["v3"] * 3 + ["v4"] * 4
    diffs = [1, 0, -1, 1, 1, 0, 0, 0, 1, -1]
    resamples, seed = 300, 7
    got = metric_stats.clustered_bootstrap_ci(diffs, clusters, resamples=resamples, seed=seed)

    # Directly: the 4 videos are of 4 kinds (sum, questions); a resample is how many of its 4
    # draws fell on each (the same seeded multinomial), expanded to their questions, averaged.
    kinds = sorted(
        (sum(d for d, c in zip(diffs, clusters) if c == k), clusters.count(k))
        for k in set(clusters)
    )
    counts = np.random.default_rng(seed).multinomial(4, [1 / 4] * 4, size=resamples)
    stats = []
    for row in counts:
        picked = [s for n, (s, _) in zip(row, kinds) for _ in range(n)]
        asked = [q for n, (_, q) in zip(row, kinds) for _ in range(n)]
        stats.append(sum(picked) / sum(asked))
    expected = np.quantile(stats, [0.025, 0.975])
    assert got == (round(float(expected[0]), 6), round(float(expected[1]), 6))

    # One video: every resample is that video, the interval is the point.
    assert metric_stats.clustered_bootstrap_ci([1, 0, 1, 1], ["v"] * 4) == (0.75, 0.75)
    # Same seed, same interval; a question-level bootstrap would be narrower here.
    assert (
        metric_stats.clustered_bootstrap_ci(diffs, clusters, resamples=resamples, seed=seed) == got
    )
    assert metric_stats.clustered_bootstrap_ci([], []) is None


def test_compare_clusters_by_video():
    # 2 videos of 5 questions each: A is right on all of one video's questions only
    videos = ["v1"] * 5 + ["v2"] * 5
    a = _outcomes("1111100000", videos)
    b = _outcomes("0000000000", videos)
    c = metric_stats.compare(a, b, resamples=400, seed=0)
    assert c.videos == 2 and c.difference == 0.5
    # resampling 2 videos: the difference is 0, 0.5 or 1, each resample
    assert c.ci95 == (0.0, 1.0)


# --------------------------------------------------------------------------------------------
# lmms-eval output folders


def _lmms_document(label: str, task: str, answers: dict[str, bool | None]) -> dict:
    """An lmms-eval run's score document, made as `lmms.run.Run.document` makes it."""
    from vlm4d_tasks.lmms.protocol_run import describe_run

    items = []
    for uid, right in answers.items():
        category = "false_positive" if uid.endswith("_fp") else "translational"
        shared = uid in ("real/validation_1", "real/validation_2")  # two questions, one video
        items.append(scored(record(uid.removesuffix("_fp"), category=category,
                                   video="videos_real/shared.mp4" if shared else None),
                            right))  # fmt: skip
    runs, models = pipeline.rows_to_runs({task: items}, label, "rule", resamples=100, seed=0)
    meta = {"protocol": describe_run([task], model_args="pretrained=x,fps=1", seed=[0, 1, 2]),
            "model": label.split()[0], "model_args": "pretrained=x,fps=1", "limit": None}  # fmt: skip
    return pipeline.score_document(runs, models, judge={"mode": "rule", "models": []},
                                   resamples=100, seed=0, run=meta, judge_batches=[])  # fmt: skip


ANSWERS_1 = {"real/validation_1": True, "real/validation_2": True, "real/validation_923": False,
             "synthetic/validation_1": True, "synthetic/validation_2_fp": False}  # fmt: skip
ANSWERS_2 = {"real/validation_1": False, "real/validation_2": True, "real/validation_923": None,
             "synthetic/validation_1": False, "synthetic/validation_2_fp": False}  # fmt: skip


def _lmms_folder(root: Path) -> Path:
    """Two runs of one model (greedy and official protocol) and one of another, as lmms-eval
    with the VLM4D tasks leaves them (`<output_path>/<model>/<run id>_vlm4d_score.json`)."""
    runs = {
        "m/20250101_000000_vlm4d_score.json": _lmms_document("m (x)", "vlm4d_mc", ANSWERS_1),
        "m/20250102_000000_vlm4d_score.json": _lmms_document(
            "m (x)", "vlm4d_mc_official", ANSWERS_2
        ),
        "n/20250103_000000_vlm4d_score.json": _lmms_document("n (x)", "vlm4d_mc", ANSWERS_2),
    }
    for name, document in runs.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(pipeline.score_json(document), encoding="utf-8")
        (path.parent / name.split("/")[1].replace("_vlm4d_score", "_results")).write_text("{}")
        (path.parent / name.split("/")[1].replace("_vlm4d_score.json", "_vlm4d_table.md")
         ).write_text("# table")  # fmt: skip
    return root


def test_an_lmms_eval_folder_is_read_through_its_score_files(tmp_path):
    folder = _lmms_folder(tmp_path / "results")
    sources = score_rows.load_sources([folder, folder / "n"], progress=False)  # each file once
    assert [Path(s.path).name for s in sources] == [
        "20250101_000000_vlm4d_score.json", "20250102_000000_vlm4d_score.json",
        "20250103_000000_vlm4d_score.json",
    ]  # fmt: skip
    rows = score_rows.measured_rows(sources)
    by_label = {r.label: r for r in rows}
    assert set(by_label) == {"m (x) [vlm4d_mc]", "m (x) [vlm4d_mc_official]", "n (x) [vlm4d_mc]"}
    greedy, official = by_label["m (x) [vlm4d_mc]"], by_label["m (x) [vlm4d_mc_official]"]
    assert (greedy.name, greedy.setting, greedy.protocol, greedy.prompt) == (
        "m (x)",
        "vlm4d_mc",
        "greedy",
        "cot",
    )
    assert official.protocol == "official" and official.name == "m (x)"
    assert "temperature=1.0" in official.protocol_text and "fps=1" in official.protocol_text
    assert greedy.columns["overall"].correct == 3 and greedy.columns["overall"].n == 5
    assert official.columns["overall"].n == 4  # one unresolved answer left out
    # the model's two protocols are compared unasked, on the 4 questions both answered
    board = lb.build(sources, resamples=100)
    [first, *_] = board.comparisons
    assert (first.a, first.b, first.n, first.a_only, first.b_only) == (
        "m (x) [vlm4d_mc]",
        "m (x) [vlm4d_mc_official]",
        4,
        2,
        0,
    )
    assert first.videos == 3  # real validation_1 and _2 share a video
    text = render.report_markdown(board)
    # the two protocols in two tables, neither ranked against the other (`group_key`)
    assert "protocol `greedy`" in text and "protocol `official`" in text
    assert "**Each table is ranked on its own**" in text
    assert "| `m (x) [vlm4d_mc]` | `m (x) [vlm4d_mc_official]` | 4 | 3 | 75.0 | 25.0 | +50.0 |" \
        in text  # fmt: skip


def test_a_model_in_two_documents_is_labelled_with_each_run_id():
    doc = _lmms_document("m (x)", "vlm4d_mc", ANSWERS_1)
    rows = score_rows.measured_rows([score_rows.Source("r/a_vlm4d_score.json", doc),
                             score_rows.Source("r/b_vlm4d_score.json", doc)])  # fmt: skip
    assert sorted(r.label for r in rows) == ["m (x) [vlm4d_mc] <a>", "m (x) [vlm4d_mc] <b>"]


def test_a_folder_without_score_files_and_bad_outcomes_are_named(tmp_path):
    (tmp_path / "x_results.json").write_text("{}")
    with pytest.raises(ScoreFileError, match=r"is a directory without any \*_vlm4d_score.json"):
        score_rows.load_sources([tmp_path], progress=False)
    doc = _lmms_document("m (x)", "vlm4d_mc", ANSWERS_1)
    doc["runs"][1]["outcomes"][0]["correct"] = "yes"
    with pytest.raises(ScoreFileError, match=r"s.json: runs\[1\].outcomes\[0\]: expected"):
        score_rows.measured_rows([score_rows.Source("s.json", doc)])


# --------------------------------------------------------------------------------------------
# `vlm4d report RUN... --out DIR`


def vlm4d(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vlm4d_tasks.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))  # fmt: skip


@pytest.mark.subprocess
def test_report_out_end_to_end(tmp_path):
    folder = _lmms_folder(tmp_path / "results")
    real = [record(f"real/validation_{i}") for i in (1, 2, 923)]
    score = tmp_path / "scores" / "s.json"
    score.parent.mkdir()
    document = response_document({"gpt (cot)": {"real": [scored(r, True) for r in real]}})
    score.write_text(pipeline.score_json(document), encoding="utf-8")
    out = tmp_path / "report"

    result = vlm4d("report", score, folder, "--out", out, "--no-progress",
                   "--compare", "gpt (cot)", "n (x) [vlm4d_mc]")  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("report.md", "leaderboard.csv", "leaderboard.json", "report.html"):
        assert (out / name).is_file(), name
    assert result.stderr.strip().splitlines()[-1] == f"vlm4d report: {out / 'report.html'}"
    text = (out / "report.md").read_text(encoding="utf-8")
    # the figures beside report.md, named in it (and embedded in report.html)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs and all(f"]({name})" in text for name in pngs)
    assert text.startswith("# VLM4D report\n")
    # The rows' protocols differ: the note links to their section, a link within report.html
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "[Protocols](#protocols-of-the-measured-rows)" in text
    assert '<a href="#protocols-of-the-measured-rows">Protocols</a>' in page
    assert '<h2 id="protocols-of-the-measured-rows">' in page and "[Protocols]" not in page
    assert "| 1 | `gpt (cot)` |" in text
    assert "## Published rows" in text and "## Paired comparisons" in text
    # asked for with --compare: on the 2 questions both answered (n's third is unresolved)
    assert "| `gpt (cot)` | `n (x) [vlm4d_mc]` | 2 | 2 | 100.0 | 50.0 | +50.0 |" in text
    assert "`official` protocol, lmms-eval task `vlm4d_mc_official`" in text
    data = json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))
    # its own leaderboard (3 questions, protocol undeclared), listed after the 5-question ones
    gpt = next(r for r in data["measured"] if r["label"] == "gpt (cot)")
    assert (gpt["rank"], gpt["group"]) == (1, "partial/3/undeclared")
    assert len(data["inputs"]) == 4
    assert {c["a"] for c in data["comparisons"]} >= {"gpt (cot)", "m (x) [vlm4d_mc]"}
    lines = (out / "leaderboard.csv").read_text(encoding="utf-8").splitlines()
    # measured, then baselines: two of the score JSON's 3 questions, two that the three
    # lmms-eval documents computed alike on their same 5 questions (shown once), then published
    assert len([line for line in lines if not line.startswith("literature:")]) == 1 + 4 + 4 + 47
    assert [(b["label"], len(b["sources"])) for b in data["baselines"]] == [
        ("option-text prior (blind, leave-one-out) <s>", 1), ("random (seed 0) <s>", 1),
        ("option-text prior (blind, leave-one-out) <20250101_000000, 20250102_000000, "
         "20250103_000000>", 3),
        ("random (seed 0) <20250101_000000, 20250102_000000, 20250103_000000>", 3),
    ]  # fmt: skip
    # same inputs, same bytes
    again = vlm4d("report", score, folder, "--out", tmp_path / "again", "--no-progress",
                  "--compare", "gpt (cot)", "n (x) [vlm4d_mc]")  # fmt: skip
    assert again.returncode == 0, again.stderr
    for name in ("report.md", "leaderboard.csv", "leaderboard.json"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name


@pytest.mark.subprocess
def test_report_errors_name_the_cause_and_the_fix(tmp_path):
    folder = _lmms_folder(tmp_path / "results")
    result = vlm4d("report", folder, "--out", tmp_path / "o", "--no-progress",
                   "--compare", "nope", "n (x) [vlm4d_mc]")  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--compare 'nope': no row of that label" in result.stderr.strip().splitlines()[-1]
    result = vlm4d("report", folder, "--no-progress")
    assert result.returncode == 2
    assert "3 score documents" in result.stderr and "fix: pass --out DIR" in result.stderr
    # one score in a folder still renders the table on stdout, as for a score file
    result = vlm4d("report", folder / "n", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# VLM4D accuracy")
