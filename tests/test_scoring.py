"""Scoring arithmetic on a small hand-checked example, official rules, response-file parsing."""

from __future__ import annotations

import json

import pytest

from vlm4d_tasks.data import official
from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric.responses import (
    ResponseFileError,
    load_response_file,
    record_from_response,
    records_for,
)
from vlm4d_tasks.metric.scoring import (
    Verdict,
    VerdictStatus,
    group_items,
    is_correct,
    join,
    paper_table,
    score_records,
)
from vlm4d_tasks.metric.stats import bootstrap_ci
from vlm4d_tasks.report.score_report import markdown_report

OPTS = ["left", "right", "not moving", "no dragon there"]


def rec(uid: str, answer: str, *, perspective=None, category="translational", options=OPTS):
    subset, qid = uid.split("/")
    return Record(
        uid=uid,
        question_id=qid,
        subset=subset,
        source="davis" if subset == "real" else "cosmos",
        perspective=perspective,
        category=category,
        question="Which way?",
        options=list(options),
        answer=answer,
        answer_text=options["ABCD".index(answer)],
        video="v.mp4",
    )


REAL = [
    rec("real/validation_1", "A", perspective="exocentric"),
    rec("real/validation_2", "B", perspective="exocentric", category="rotational"),
    rec("real/validation_950", "C", perspective="egocentric"),
    rec("real/validation_951", "D", perspective="egocentric", category="counting"),
]
REAL_VERDICTS = [
    Verdict.chosen("real/validation_1", "A", "rule:boxed"),  # right
    Verdict.chosen("real/validation_2", "C", "rule:boxed"),  # wrong
    Verdict.chosen("real/validation_950", "C", "rule:boxed"),  # right
    Verdict.chosen("real/validation_951", "D", "rule:boxed"),  # right
]
SYN = [
    rec("synthetic/validation_1", "A"),
    rec("synthetic/validation_2", "B"),
    rec("synthetic/validation_3", "D", category="false_positive"),
    rec("synthetic/validation_4", "D", category="false_positive"),
    rec("synthetic/validation_5", "A"),
    rec("synthetic/validation_6", "B"),
]
SYN_VERDICTS = [
    Verdict.chosen("synthetic/validation_1", "A", "rule:boxed"),  # right
    Verdict.chosen("synthetic/validation_2", None, "rule:no_commitment"),  # no answer: wrong
    Verdict.chosen("synthetic/validation_3", "D", "rule:boxed"),  # right
    Verdict.chosen("synthetic/validation_4", "A", "rule:boxed"),  # wrong
    Verdict.unresolved("synthetic/validation_5", "judge:o4-mini", "HTTP 503"),  # excluded
    Verdict.chosen("synthetic/validation_6", "B", "judge:o4-mini"),  # right
]


def test_run_score_by_hand():
    reference = {
        "real/validation_1": True,
        "real/validation_2": False,
        "real/validation_950": False,  # we say right: one disagreement
        "real/validation_951": True,
    }
    score = score_records(REAL_VERDICTS, REAL, reference=reference)
    assert (score["n"], score["scored"], score["correct"]) == (4, 4, 3)
    assert score["accuracy"] == 0.75
    assert score["by_perspective"]["egocentric"]["accuracy"] == 1.0
    assert score["by_perspective"]["exocentric"]["accuracy"] == 0.5
    # exact category values; an absent category is left out, a present one at 0 stays 0.0
    assert set(score["by_category"]) == {"counting", "rotational", "translational"}
    assert score["by_category"]["rotational"]["accuracy"] == 0.0
    assert score["by_category"]["translational"]["correct"] == 2
    assert score["reference_accuracy"] == 0.5
    assert (score["agreement"], score["agreement_n"]) == (0.75, 4)
    assert score["disagreement_ids"] == ["real/validation_950"]

    syn = score_records(SYN_VERDICTS, SYN)
    assert (syn["n"], syn["scored"], syn["correct"]) == (6, 5, 3)
    assert syn["accuracy"] == 0.6  # 3 of 5: the unresolved answer is not in the denominator
    assert (syn["no_valid_answer"], syn["unresolved"]) == (1, 1)
    assert syn["unresolved_ids"] == ["synthetic/validation_5"]
    assert syn["by_perspective"] == {}  # synthetic questions have no perspective
    assert syn["by_category"]["translational"]["scored"] == 3
    assert syn["by_category"]["false_positive"]["accuracy"] == 0.5
    assert "agreement" not in syn


def test_paper_table_by_hand_and_markdown():
    items = join(REAL_VERDICTS, REAL) + join(SYN_VERDICTS, SYN)
    [row] = paper_table({"m": items})
    acc = {name: a.accuracy for name, a in row.columns.items()}
    assert acc == {
        "real_egocentric": 1.0,  # 2/2
        "real_exocentric": 0.5,  # 1/2
        "real": 0.75,  # 3/4
        "synthetic_directional": 0.666667,  # 2/3 (one unresolved left out)
        "synthetic_false_positive": 0.5,  # 1/2
        "synthetic": 0.6,  # 3/5
        "overall": 0.666667,  # 6/9, question-weighted (the mean of 75 and 60 would be 67.5)
    }
    assert row.columns["overall"].unresolved == 1
    only_real = paper_table({"r": join(REAL_VERDICTS, REAL)})[0]
    assert list(only_real.columns) == ["real_egocentric", "real_exocentric", "real", "overall"]

    score = {
        "judge": {"mode": "rule", "models": []},
        "runs": [
            {"subset": "real", "model": "m", "accuracy": 0.75, "ci95": [0.5, 1.0], "n": 4,
             "no_valid_answer": 0, "unresolved": 0},
            {"subset": "synthetic", "model": "m", "accuracy": 0.6, "ci95": None, "n": 6,
             "no_valid_answer": 1, "unresolved": 1},
        ],
        "models": [row.to_dict(), only_real.to_dict()],
    }  # fmt: skip
    md = markdown_report(score)
    assert "| m | 100.0 | 50.0 | 75.0 | 66.7 | 50.0 | 60.0 | 66.7 |" in md
    assert "| r | 100.0 | 50.0 | 75.0 | – | – | – | 75.0 |" in md
    assert "listed in the JSON: 1." in md and "(1 such answers)" in md
    assert "- `real/m`: 75.0% [50.0, 100.0]; n=4" in md
    # Several models: the no-answer total says it is pooled; each run's count is in its line.
    two = {**score, "runs": [*score["runs"], {**score["runs"][1], "model": "r2",
                                              "no_valid_answer": 2}]}  # fmt: skip
    md2 = markdown_report(two)
    assert "(3 such answers over 2 models; each run's count is listed below)" in md2
    assert "no valid answer 2" in md2


def test_defective_answer_text_accepts_every_matching_option():
    options = ["left", "right", "left", "not moving"]
    record = rec("real/validation_7", "A", options=options)
    assert is_correct(Verdict.chosen(record.uid, "A", "t"), record) is True
    assert is_correct(Verdict.chosen(record.uid, "C", "t"), record) is True
    assert is_correct(Verdict.chosen(record.uid, "B", "t"), record) is False
    assert is_correct(Verdict.chosen(record.uid, None, "t"), record) is False
    assert is_correct(Verdict.unresolved(record.uid, "judge:x"), record) is None


def test_verdict_validation_and_join_errors():
    with pytest.raises(ValueError, match="not A-D"):
        Verdict.chosen("real/validation_1", "E", "t")
    with pytest.raises(ValueError, match="status"):
        Verdict("real/validation_1", "A", VerdictStatus.UNRESOLVED, "t")
    with pytest.raises(ValueError, match="real/validation_951: no verdict"):
        join(REAL_VERDICTS[:3], REAL)
    with pytest.raises(ValueError, match="two verdicts"):
        join(REAL_VERDICTS + REAL_VERDICTS[:1], REAL)
    with pytest.raises(ValueError, match="unknown records"):
        join(REAL_VERDICTS + SYN_VERDICTS[:1], REAL)


def test_unknown_category_raises_instead_of_forming_a_group():
    bad = rec("real/validation_1", "A", perspective="exocentric", category="directional")
    with pytest.raises(ValueError, match="directional"):
        score_records([REAL_VERDICTS[0]], [bad])


def test_group_items_uses_exact_values_and_skips_none():
    items = join(REAL_VERDICTS, REAL) + join(SYN_VERDICTS, SYN)
    groups = group_items(items, lambda i: i.record.perspective)
    assert list(groups) == ["egocentric", "exocentric"]
    assert [len(g) for g in groups.values()] == [2, 2]


def test_bootstrap_ci():
    outcomes = [True] * 30 + [False] * 70
    ci = bootstrap_ci(outcomes, n_resamples=1000, seed=0)
    assert ci == bootstrap_ci(outcomes, n_resamples=1000, seed=0)  # seeded
    lo, hi = ci
    assert lo < 0.3 < hi
    # the binomial standard error is 0.046: a 95% interval is about +-0.09
    assert 0.2 <= lo <= 0.23 and 0.37 <= hi <= 0.4
    wide = bootstrap_ci(outcomes[::10], seed=0)
    assert wide[1] - wide[0] > hi - lo
    assert bootstrap_ci([True] * 5) == (1.0, 1.0)
    assert bootstrap_ci([]) is None


def _direct_cluster_bootstrap(outcomes, clusters, resamples, seed, level=0.95):
    """The clustered bootstrap written out one resample at a time, with plain Python sums."""
    import numpy as np

    keys = sorted(set(clusters))
    members = {k: [o for o, c in zip(outcomes, clusters) if c == k] for k in keys}
    # clusters alike in (right, asked) are interchangeable: a resample is how many of its
    # len(keys) draws fell on each such kind, a multinomial (what `stats.resample_means` draws)
    kinds = sorted({(sum(m), len(m)) for m in members.values()})
    shares = [sum((sum(m), len(m)) == kind for m in members.values()) / len(keys) for kind in kinds]
    rng = np.random.default_rng(seed)
    stats = []
    for drawn in rng.multinomial(len(keys), shares, size=resamples):
        right = sum(int(d) * r for d, (r, _) in zip(drawn, kinds))
        total = sum(int(d) * n for d, (_, n) in zip(drawn, kinds))
        stats.append(right / total)
    lo, hi = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return round(float(lo), 6), round(float(hi), 6)


def test_clustered_bootstrap_ci_against_a_direct_computation():
    import random

    rnd = random.Random(7)
    clusters = [f"v{rnd.randrange(40)}" for _ in range(150)]
    outcomes = [rnd.random() < 0.4 for _ in clusters]
    ci = bootstrap_ci(outcomes, clusters, n_resamples=700, seed=3)
    assert ci == _direct_cluster_bootstrap(outcomes, clusters, 700, 3)
    # the order of the questions does not matter (cluster keys are sorted)
    order = sorted(range(150), key=lambda i: rnd.random())
    assert ci == bootstrap_ci([outcomes[i] for i in order], [clusters[i] for i in order],
                              n_resamples=700, seed=3)  # fmt: skip
    # one question per cluster is the plain bootstrap (keys that sort in the input order)
    assert bootstrap_ci(outcomes, [f"{i:03d}" for i in range(150)], seed=1) == bootstrap_ci(
        outcomes, seed=1
    )


def test_clustered_interval_is_wider_when_a_clip_decides_its_questions():
    # 30 clips, 5 questions each, all answered alike within a clip: 30 independent draws,
    # not 150, so the clustered interval must be about sqrt(5) times wider.
    outcomes = [clip % 3 == 0 for clip in range(30) for _ in range(5)]
    clusters = [f"clip{clip}" for clip in range(30) for _ in range(5)]
    plain = bootstrap_ci(outcomes, seed=0)
    clustered = bootstrap_ci(outcomes, clusters, seed=0)
    ratio = (clustered[1] - clustered[0]) / (plain[1] - plain[0])
    assert 1.8 < ratio < 2.7, ratio


def test_accuracy_reports_chance_corrected_and_clustered_interval():
    from vlm4d_tasks.metric.scoring import score_items
    from vlm4d_tasks.metric.stats import chance_corrected

    assert chance_corrected(0.25) == 0.0 and chance_corrected(1.0) == 1.0
    assert chance_corrected(0.0) == pytest.approx(-1 / 3, abs=1e-6)
    assert chance_corrected(None) is None
    scored = score_items(join(REAL_VERDICTS, REAL) + join(SYN_VERDICTS, SYN), seed=0)
    assert scored["chance_corrected"] == chance_corrected(scored["accuracy"])
    assert scored["videos"] == len({r.video for r in REAL + SYN})


@pytest.mark.parametrize(
    "qid, perspective", [("validation_1", "exocentric"), ("validation_922", "exocentric"),
                         ("validation_923", "egocentric"), ("validation_1371", "egocentric")]
)  # fmt: skip
def test_official_perspective_rule(qid, perspective):
    assert official.real_perspective(qid).value == perspective


def test_official_rules():
    assert official.is_synthetic_false_positive("no dragon there")
    assert official.is_synthetic_false_positive("No plane ")
    assert not official.is_synthetic_false_positive("north")
    assert not official.is_synthetic_false_positive("nowhere")
    assert official.subset_from_path("x/real_mc_cot/gpt.json").value == "real"
    assert official.subset_from_path("x/synthetic_mc_direct-output/gpt.json").value == "synthetic"
    assert official.subset_from_path("runs/synthetic_mc.json").value == "synthetic"
    assert official.subset_from_path("real_mc/synthetic_mc_cot/m.json").value == "synthetic"
    assert official.subset_from_path("outputs/model.json") is None
    assert official.variant_from_path("x/real_mc_direct-output/m.json") == "direct-output"
    assert official.variant_from_path("x/real_mc/m.json") == ""
    assert official.option_label("B", OPTS) == "B: right"
    assert official.option_label(None, OPTS) == "No Valid Answer"
    with pytest.raises(ValueError, match="no trailing number"):
        official.id_number("validation")


def _write(path, entries):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def test_both_official_response_formats(tmp_path):
    raw = _write(
        tmp_path / "real_mc_cot" / "m.json",
        [{"id": "validation_923", "question": "How many cups?", "choices":
          {"A": 1, "B": 2, "C": 3, "D": 4}, "response": "3", "answer": 3}],
    )  # fmt: skip
    judged = _write(
        tmp_path / "synthetic_mc_direct-output" / "m.json",
        [{"id": "validation_4", "question": "Where is the dragon flying?",
          "choices": {"A": "left", "B": "right", "C": "no dragon there", "D": "up"},
          "response": None, "ground_truth_answer": "no dragon there",
          "extracted_answer": "No Valid Answer", "correct": False}],
    )  # fmt: skip
    f = load_response_file(raw)
    assert (f.name, f.subset.value, f.variant, f.judged) == ("m", "real", "cot", False)
    assert f.responses[0].options == ["1", "2", "3", "4"] and f.responses[0].answer_text == "3"
    [r] = records_for(f).records
    assert (r.uid, r.answer, r.perspective, r.category) == (
        "real/validation_923", "C", "egocentric", "counting",
    )  # fmt: skip

    g = load_response_file(judged)
    assert (g.subset.value, g.variant, g.judged) == ("synthetic", "direct-output", True)
    assert g.responses[0].response is None
    assert g.responses[0].reference_extracted == "No Valid Answer"
    s = record_from_response(g.responses[0], g.subset)
    assert (s.answer, s.category, s.perspective) == ("C", "false_positive", None)
    # --subset overrides the path
    assert load_response_file(judged, "real").subset.value == "real"


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"id": "validation_1", "question": "q", "choices": {"A": "a"}, "response": "A",
          "answer": "a"}, "record validation_1: field 'choices'"),
        ({"id": "validation_2", "question": "q", "choices": dict(zip("ABCD", OPTS)),
          "answer": "left"}, "record validation_2: field 'response' is missing"),
        ({"id": "validation_3", "question": "q", "choices": dict(zip("ABCD", OPTS)),
          "response": "A"}, "record validation_3: field 'answer'"),
        ({"id": "validation_4", "question": "q", "choices": dict(zip("ABCD", OPTS)),
          "response": "A", "ground_truth_answer": "left", "correct": "yes"},
         "record validation_4: field 'correct'"),
        ({"id": "validation_5", "question": ["q"], "choices": dict(zip("ABCD", OPTS)),
          "response": "A", "answer": "left"}, "record validation_5: field 'question'"),
    ],
)  # fmt: skip
def test_bad_entries_name_file_record_and_field(tmp_path, entry, message):
    path = _write(tmp_path / "real_mc" / "bad.json", [entry])
    with pytest.raises(ResponseFileError) as err:
        load_response_file(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_unknown_subset_and_missing_annotation_are_errors(tmp_path):
    path = _write(tmp_path / "outputs" / "m.json", [])
    with pytest.raises(ResponseFileError, match="cannot tell the subset"):
        load_response_file(path)
    path = _write(
        tmp_path / "real_mc" / "m.json",
        [{"id": "validation_99", "question": "q", "choices": dict(zip("ABCD", OPTS)),
          "response": "A", "answer": "left"}],
    )  # fmt: skip
    with pytest.raises(ResponseFileError, match="validation_99: field 'id': no question real/"):
        records_for(load_response_file(path), {r.uid: r for r in REAL})


def test_unresolved_reasons_and_unmatched_ground_truth_are_listed():
    from dataclasses import replace

    from vlm4d_tasks.metric.scoring import ground_truth_matches

    # a ground truth that names no option: the loaders leave `answer` empty
    broken = replace(rec("real/validation_3", "A"), answer="", answer_text="sideways")
    records = [rec("real/validation_1", "A"), rec("real/validation_2", "B"), broken]
    verdicts = [
        Verdict.chosen("real/validation_1", "A", "rule:boxed"),
        Verdict.unresolved(
            "real/validation_2",
            "judge:j",
            "HTTP 503: unresolved after 5 request(s): overloaded",
            cause="HTTP 503",
        ),  # fmt: skip
        Verdict.chosen("real/validation_3", "A", "rule:boxed"),
    ]
    assert [ground_truth_matches(r) for r in records] == [True, True, False]
    score = score_records(verdicts, records)
    # the unmatched question stays in the denominator as a wrong answer; it is flagged
    assert (score["n"], score["scored"], score["correct"], score["accuracy"]) == (3, 2, 1, 0.5)
    assert score["ground_truth_unmatched"] == 1
    assert score["ground_truth_unmatched_ids"] == ["real/validation_3"]
    assert score["unresolved_answers"] == [
        {"id": "real/validation_2", "decided_by": "judge:j", "cause": "HTTP 503",
         "reason": "HTTP 503: unresolved after 5 request(s): overloaded"},
    ]  # fmt: skip
    assert Verdict.unresolved("x/y", "judge:j").cause == "unresolved"

    md = markdown_report(
        {"judge": {"mode": "llm", "models": ["j"]}, "models": [],
         "runs": [{"subset": "real", "model": "m", "accuracy": 0.5, "n": 3,
                   "no_valid_answer": 0, **score}]}
    )  # fmt: skip
    assert "Unresolved answers by cause: HTTP 503 1." in md
    assert (
        "## Unresolved answers\n\n- `real/m`: 1\n"
        "  - HTTP 503: unresolved after 5 request(s): overloaded: `real/validation_2`\n"
    ) in md
    assert "ground truth matches no option 1" in md
    assert "  - ground truth matches no option: `real/validation_3`" in md
