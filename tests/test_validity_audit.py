"""The independent checks of the debiased set (issue 26, points 1, 7 and 8): the residual bias
by what the pruning did not select on, the random-removal control matched per subset and
category with its sign test, the text-only predictor's baseline row, and what the card says;
on questions made here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vlm4d_tasks.data.schema import LETTERS, Record
from vlm4d_tasks.metric.scoring import Verdict, join
from vlm4d_tasks.pipeline import score as pipeline
from vlm4d_tasks.report.score_report import markdown_report
from vlm4d_tasks.validity import baselines, blind, debias, prior

WORDS = ["left", "right", "up", "down", "not moving", "towards the camera", "away", "around"]
CATEGORIES = ["translational", "rotational", "counting", "false_positive"]


def make_pool(subset: str = "real", n: int = 80, seed: int = 0) -> list[Record]:
    """`n` questions on n/2 clips; the answer is "left" in about half of the questions that
    offer it, and otherwise a random position: a shortcut the blind models partly find."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        options = [str(w) for w in rng.choice(WORDS, size=4, replace=False)]
        answer = (options.index("left") if "left" in options and rng.random() < 0.6
                  else int(rng.integers(4)))  # fmt: skip
        records.append(Record(
            uid=f"{subset}/validation_{i}", question_id=f"validation_{i}", subset=subset,
            source="davis" if subset == "real" else "cosmos",
            perspective="exocentric" if subset == "real" else None,
            category=CATEGORIES[i % 4], question=f"Which way does object {i % 7} move?",
            options=options, answer=LETTERS[answer], answer_text=options[answer],
            video=f"videos_{subset}/clip{i // 2}.mp4",
        ))  # fmt: skip
    return records


# --------------------------------------------------------------------------------------------
# Residual bias (point 1)


def test_bias_figure_mean_range_and_clustered_interval():
    records = make_pool(n=8)
    # seed a: 6 of 8 right, seed b: 2 of 8 right
    a = {r.uid: i < 6 for i, r in enumerate(records)}
    b = {r.uid: i < 2 for i, r in enumerate(records)}
    figure = debias.bias_figure("real", "x", records, [a, b], (7, 9), n_resamples=200)
    assert (figure.accuracy, figure.seed_min, figure.seed_max) == (0.5, 0.25, 0.75)
    assert figure.seeds == (7, 9) and figure.questions == 8
    # the interval is that of each question's share of right answers over the seeds, videos
    # resampled (two questions per clip)
    from vlm4d_tasks.metric.stats import bootstrap_ci

    shares = [(a[r.uid] + b[r.uid]) / 2 for r in records]
    assert figure.ci == bootstrap_ci(shares, [r.video for r in records], n_resamples=200)
    assert figure.ci[0] <= 0.5 <= figure.ci[1]
    assert figure.within_chance == (figure.ci[0] <= 0.25 <= figure.ci[1])
    # always right: far from chance
    sure = debias.bias_figure("real", "x", records, [{r.uid: True for r in records}])
    assert sure.ci == (1.0, 1.0) and not sure.within_chance and sure.seeds == ()
    with pytest.raises(ValueError, match="2 sets of hits for seeds"):
        debias.bias_figure("real", "x", records, [a, b], (1,))


def test_residual_bias_refits_under_fresh_seeds_and_a_second_family():
    records = make_pool("real", 60) + make_pool("synthetic", 40, seed=1)
    figures = debias.residual_bias(records, seeds=(11, 12), n_resamples=100)
    by = {(f.subset, f.baseline): f for f in figures}
    assert [(f.subset, f.baseline) for f in figures] == [
        (s, name) for s in ("real", "synthetic")
        for name in (debias.PRIOR_FIGURE, *map(debias.predictor_figure_name, blind.MODELS))
    ]  # fmt: skip
    for subset in ("real", "synthetic"):
        group = [r for r in records if r.subset == subset]
        assert by[(subset, debias.PRIOR_FIGURE)].accuracy == pytest.approx(
            prior.prior_accuracy(group, variant="rate"), abs=1e-6
        )
        for model in blind.MODELS:
            figure = by[(subset, debias.predictor_figure_name(model))]
            # each seed a separate re-fit with that seed alone, within the subset
            per_seed = []
            for seed in (11, 12):
                letters = blind.blind_predictions(group, seeds=(seed,), model=model)
                per_seed.append(sum(letters[r.uid] == r.answer for r in group) / len(group))
            assert figure.seeds == (11, 12)
            assert figure.accuracy == pytest.approx(np.mean(per_seed), abs=1e-6)
            assert (figure.seed_min, figure.seed_max) == pytest.approx(
                (min(per_seed), max(per_seed)), abs=1e-6
            )
    # a pruning seed is the figure the pruning selected against: refused
    with pytest.raises(ValueError, match=r"\[1\] were used by the pruning"):
        debias.residual_bias(records, seeds=(1, 11))
    assert not set(debias.FRESH_SEEDS) & set(debias.PruneParameters().seeds)
    assert len(debias.FRESH_SEEDS) == 10


def test_the_second_family_is_another_model():
    records = make_pool(n=60)
    logistic = blind.blind_probabilities(records, seeds=(0,))
    bayes = blind.blind_probabilities(records, seeds=(0,), model="naive_bayes")
    assert logistic.keys() == bayes.keys()
    assert any(not np.allclose(logistic[u], bayes[u]) for u in logistic)
    assert all(sum(p) == pytest.approx(1.0) for p in bayes.values())
    with pytest.raises(ValueError, match="model: one of logistic, naive_bayes"):
        blind.blind_probabilities(records, model="forest")


# --------------------------------------------------------------------------------------------
# The random-removal control (point 8)


def test_matched_removal_keeps_each_subset_and_category_count():
    records = make_pool("real", 80) + make_pool("synthetic", 40, seed=1)
    rng = np.random.default_rng(3)
    kept = sorted(r.uid for r in records if rng.random() < 0.7)

    def counts(uids):
        chosen = set(uids)
        out = {}
        for r in records:
            if r.uid in chosen:
                out[(r.subset, r.category)] = out.get((r.subset, r.category), 0) + 1
        return out

    sets = debias.matched_removal(records, kept, debias.CONTROL_SEEDS)
    assert list(sets) == list(range(20))
    for uids in sets.values():
        assert counts(uids) == counts(kept) and uids == sorted(uids)
    assert len({tuple(uids) for uids in sets.values()}) == 20  # the seeds differ
    # record order does not matter; the same seed, the same set
    assert debias.matched_removal(list(reversed(records)), kept, (5,)) == {5: sets[5]}
    # matched per subset only, the category mix would drift: here it cannot
    only_translational = [r.uid for r in records if r.category != "translational"]
    for uids in debias.matched_removal(records, only_translational, (0, 1)).values():
        assert not any(r.category == "translational" for r in records if r.uid in set(uids))


def test_control_effect_sign_test_and_model_count():
    from scipy.stats import binomtest

    runs = {}
    for i, model in enumerate(["m1", "m2", "m3", "m4", "m5", "m6", "m7"]):
        for j, setting in enumerate(["cot", "direct"]):
            full = 0.5 + 0.01 * i
            pruned = full - 0.01 * (i + j) + (0.02 if i == 6 else 0.0)
            runs[(model, setting)] = (full, pruned, full - 0.002)
    effect = debias.control_effect(runs, n_resamples=200)
    diffs = [runs[k][1] - runs[k][2] for k in sorted(runs)]
    assert (effect.runs, effect.models) == (14, 7)
    lower = sum(d < 0 for d in diffs)
    higher = sum(d > 0 for d in diffs)
    assert (effect.lower, effect.higher, effect.ties) == (lower, higher, 14 - lower - higher)
    assert effect.p_value == pytest.approx(binomtest(lower, lower + higher).pvalue, rel=1e-9)
    assert effect.difference == pytest.approx(np.mean(diffs), abs=1e-6)
    assert effect.debiased_delta == pytest.approx(
        np.mean([v[1] - v[0] for v in runs.values()]), abs=1e-6
    )
    assert effect.random_delta == pytest.approx(-0.002, abs=1e-6)
    assert effect.ci[0] <= effect.difference <= effect.ci[1]
    # a run equal under both is a tie, left out of the test
    tied = debias.control_effect({("a", "cot"): (0.5, 0.4, 0.4), ("b", "cot"): (0.5, 0.3, 0.4)})
    assert (tied.lower, tied.higher, tied.ties, tied.p_value) == (1, 0, 1, 1.0)


# --------------------------------------------------------------------------------------------
# The text-only predictor's baseline row (point 7)


def _score(records: list[Record]) -> dict:
    items = join([Verdict.chosen(r.uid, "A", "rule:test") for r in records], records)
    entry = pipeline.run_entry(items, name="m", model="m (cot)", variant="cot", subset="real",
                               file=None, grading={"mode": "rule"}, resamples=50, seed=0)  # fmt: skip
    return pipeline.score_document([entry], {"m (cot)": items}, judge={"mode": "rule"},
                                   resamples=50, seed=0, records=records)  # fmt: skip


def test_predictor_row_in_the_score_document_and_its_markdown():
    records = make_pool(n=40)
    doc = _score(records)
    rows = {row["model"]: row for row in doc["validity"]["baselines"]}
    assert list(rows) == [baselines.PRIOR_ROW, baselines.PREDICTOR_ROW, "random (seed 0)"]
    letters = blind.blind_predictions(records)  # fitted within the subset, default seeds
    right = sum(letters[r.uid] == r.answer for r in records)
    overall = rows[baselines.PREDICTOR_ROW]["columns"]["overall"]
    assert (overall["correct"], overall["scored"]) == (right, 40)
    text = markdown_report(doc)
    line = next(x for x in text.splitlines() if x.startswith(f"| {baselines.PREDICTOR_ROW} |"))
    assert f"| {100 * right / 40:.1f} " in line
    # fewer clips than folds: no grouped folds, no row (the prior and random stay)
    few = _score(make_pool(n=8))
    assert [row["model"] for row in few["validity"]["baselines"]] == [
        baselines.PRIOR_ROW, "random (seed 0)"]  # fmt: skip


def test_shipped_letters_are_used_for_the_questions_they_were_fitted_on(monkeypatch):
    records = make_pool(n=40)
    shipped = baselines.predictions_document(records)
    assert shipped["subsets"]["real"]["content_sha256"] == debias.content_sha256(records)
    fitted = blind.blind_predictions(records)
    assert shipped["subsets"]["real"]["letters"] == "".join(
        fitted[r.uid] for r in sorted(records, key=lambda r: r.uid)
    )
    # a cache, not a second source of truth: another letter string is read as shipped...
    planted = json.loads(json.dumps(shipped))
    planted["subsets"]["real"]["letters"] = "A" * 40
    monkeypatch.setattr(baselines, "_shipped_predictions", lambda: planted)
    assert set(baselines.predictor_letters(records).values()) == {"A"}
    # ...only for exactly those questions: one answer changed, and it is fitted here
    changed = [*records[:-1], Record(**{**records[-1].to_dict(), "answer": "B",
                                        "answer_text": records[-1].options[1]})]  # fmt: skip
    assert set(baselines.predictor_letters(changed).values()) != {"A"}


def test_the_shipped_letters_file_covers_the_release_subsets():
    document = baselines._shipped_predictions()
    assert (document["folds"], document["seeds"]) == (
        blind.DEFAULT_FOLDS,
        list(blind.DEFAULT_SEEDS),
    )
    assert {s: e["questions"] for s, e in document["subsets"].items()} == {
        "real": 1371, "synthetic": 445}  # fmt: skip
    for entry in document["subsets"].values():
        assert len(entry["letters"]) == entry["questions"] and set(entry["letters"]) <= set(LETTERS)


# --------------------------------------------------------------------------------------------
# What the card says (points 1 and 8)


def _audit(records: list[Record], within: bool) -> dict:
    real = sum(r.subset == "real" for r in records)
    figure = debias.BiasFigure("real", debias.PRIOR_FIGURE, real, 0.321, 0.321, 0.321,
                               (), (0.2 if within else 0.291, 0.353))  # fmt: skip
    effect = debias.ControlEffect(22, 11, -0.0063, -0.0019, -0.0044, (-0.0089, -0.0001), 14, 8,
                                  0, 0.2863)  # fmt: skip
    return debias.audit_document(records, [figure], effect, judged="some judged runs")


def test_card_states_residual_bias_and_the_control_effect(
    tmp_path, annotations_dir, hf_home, monkeypatch
):
    from vlm4d_tasks.data.annotations import load_annotations
    from vlm4d_tasks.data.dataset_repo import build_dataset_repo

    annotations = load_annotations(annotations_dir)
    real = [r for r in annotations.records if r.subset == "real"]
    kept = sorted(r.uid for r in real[::2])
    document = {
        "version": debias.DEBIASED_VERSION, "method": "test",
        "parameters": debias.PruneParameters().to_dict(),
        "subsets": {"real": {
            "content_sha256": debias.content_sha256(real), "questions": len(real),
            "kept": len(kept), "kept_uids": kept,
            "categories": {"translational": {"full": len(real), "kept": len(kept)}},
        }},
    }  # fmt: skip
    monkeypatch.setattr(debias, "load_debiased", lambda: debias.check_document(document))
    # the audit covers both subsets, as the shipped one does; only real has a list here
    kept_records = [r for r in real if r.uid in set(kept)]
    kept_records += [r for r in annotations.records if r.subset == "synthetic"]
    for within, expected in ((False, "less biased than the full\nbenchmark, not unbiased"),
                             (True, "Every one of these is within noise of chance")):  # fmt: skip
        audit = _audit(kept_records, within)
        monkeypatch.setattr(debias, "load_audit", lambda audit=audit: audit)
        out = tmp_path / f"vlm4d-{within}"
        build_dataset_repo(
            annotations, out, debiased=baselines.debiased_config(annotations.records)
        )
        card = (out / "README.md").read_text()
        assert expected in card and "at chance" not in card
        assert f"| real | {debias.PRIOR_FIGURE} | {len(kept)} | 32.1 | - | " in card
        assert "fitted on the\nbenchmark's own questions by design" in card
        # the control covers both subsets; this list is for real only: not quoted
        assert "sign test" not in card
    # an audit of other questions is not quoted at all
    monkeypatch.setattr(debias, "load_audit", lambda: _audit(real, False))
    assert baselines.debiased_config(annotations.records)["audit"] is None


def test_card_quotes_the_control_with_its_uncertainty(monkeypatch):
    records = make_pool("real", 40) + make_pool("synthetic", 40, seed=1)
    status = {"real": "shipped", "synthetic": "shipped"}
    audit = _audit(records, False)
    monkeypatch.setattr(debias, "load_audit", lambda: audit)
    control = baselines._card_audit(records, status)["control"]
    assert control == {
        "seeds": 20, "runs": 22, "models": 11, "judged": "some judged runs",
        "debiased_delta": "-0.63", "random_delta": "-0.19", "difference": "-0.44",
        "ci": "-0.89 to -0.01", "lower": 14, "higher": 8, "ties": 0, "p_value": "0.29",
    }  # fmt: skip


def test_the_report_quotes_the_independent_check_of_the_shipped_set():
    """Issue 26, point 1: the report's caveat on the debiased set carries the residual-bias
    figures that do not rest on the pruning's own predictor, for the audited set only."""
    from test_report_validity import board_of, document

    from vlm4d_tasks.report import leaderboard_render as render
    from vlm4d_tasks.validity import debias

    audit = debias.load_audit()
    kept = sum({f["subset"]: f["questions"] for f in audit["residual"]}.values())
    doc = document()
    doc["validity"]["debiased"].update(
        kept=kept, subsets={"real": "shipped", "synthetic": "shipped"}
    )
    text = render.report_markdown(board_of(("s.json", doc)))
    assert "Checked by what the pruning did not select on (`debiased-v1`" in text
    real = next(f for f in audit["residual"] if f["subset"] == "real" and "naive" in f["baseline"])
    assert f"naive bayes (fresh fold seeds) {100 * real['accuracy']:.1f}%" in text
    assert "Not all are within noise of chance (25%): less biased, not at chance." in text
    other = render.report_markdown(board_of(("s.json", document())))  # 20 kept: another set
    assert "Checked by what the pruning" not in other
