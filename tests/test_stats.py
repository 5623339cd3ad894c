"""`vlm4d_tasks.metric.stats`, each statistic against a computation written here independently
of it: the bootstraps against the same resampling written out in plain Python over the same
seeded draws, the drawing itself against the exact distribution of resampled clusters, and
both against their statistical properties on simulated data (coverage, width, noise),
McNemar against scipy and exact fractions, the chance correction and the stratified standard
error against their formulas, the paired comparison and `count_share` against hand-made
cases."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest

from vlm4d_tasks.metric import stats

# --------------------------------------------------------------------------------------------
# Chance correction


@pytest.mark.parametrize("accuracy", [0.0, 0.25, 0.5, 0.8, 1.0])
def test_chance_correction_is_its_formula(accuracy):
    # (acc - 1/4) / (1 - 1/4) in exact fractions, then rounded as the documents carry it
    exact = (Fraction(accuracy) - Fraction(1, 4)) / (1 - Fraction(1, 4))
    assert stats.chance_corrected(accuracy) == round(float(exact), 6)


def test_chance_correction_anchors_and_option_counts():
    # guessing among four scores 0, a perfect run 1, a run that is always wrong -1/3
    assert stats.chance_corrected(0.25) == 0.0
    assert stats.chance_corrected(1.0) == 1.0
    assert stats.chance_corrected(0.0) == -0.333333
    # two options: chance is a half
    assert stats.chance_corrected(0.5, n_options=2) == 0.0
    assert stats.chance_corrected(0.75, n_options=2) == 0.5
    assert stats.chance_corrected(None) is None
    with pytest.raises(ValueError, match="at least 2 options"):
        stats.chance_corrected(0.5, n_options=1)


# --------------------------------------------------------------------------------------------
# Bootstrap intervals


def _kinds(values, clusters):
    """Each cluster's outcome sum and question count, in plain Python; the distinct pairs in
    sorted order and how many clusters share each."""
    per = {}
    for value, cluster in zip(values, clusters):
        total, count = per.get(cluster, (0, 0))
        per[cluster] = (total + value, count + 1)
    shared = Counter(per.values())
    kinds = sorted(shared)
    return kinds, [shared[kind] for kind in kinds]


def _reference(values, clusters=None, resamples=10_000, seed=0, level=0.95):
    """The clustered bootstrap as multinomial counts of the kinds of cluster: every resample's
    counts from one `multinomial` call of `default_rng(seed)` (no chunks), each resample's
    drawn right answers over drawn questions summed in Python, the two quantiles."""
    kinds, sizes = _kinds(values, range(len(values)) if clusters is None else clusters)
    k = sum(sizes)
    rows = np.random.default_rng(seed).multinomial(k, np.array(sizes) / k, size=resamples)
    means = [
        sum(int(c) * s for c, (s, _) in zip(row, kinds))
        / sum(int(c) * n for c, (_, n) in zip(row, kinds))
        for row in rows
    ]  # fmt: skip
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return round(float(lo), 6), round(float(hi), 6)


def test_the_default_is_at_least_10000_resamples_everywhere():
    # 1,000 left about 0.3 points of simulation noise in the endpoints (issue 26)
    assert stats.DEFAULT_RESAMPLES >= 10_000
    rnd = random.Random(3)
    outcomes = [rnd.random() < 0.4 for _ in range(80)]
    clips = [f"c{i // 3}" for i in range(80)]
    default = stats.bootstrap_ci(outcomes, clips, seed=2)
    assert default == _reference(outcomes, clips, stats.DEFAULT_RESAMPLES, 2)
    assert default != stats.bootstrap_ci(outcomes, clips, n_resamples=1000, seed=2)
    assert stats.share_ci(30, 80, seed=2) == _reference([1] * 30 + [0] * 50, None,
                                                         stats.DEFAULT_RESAMPLES, 2)  # fmt: skip
    # what `vlm4d score` and `vlm4d report` run with unless told otherwise
    import argparse

    from vlm4d_tasks.cli import report, score

    parser = argparse.ArgumentParser()
    score.add_arguments(parser)
    assert parser.parse_args(["run.json"]).resamples == stats.DEFAULT_RESAMPLES
    assert f"default {stats.DEFAULT_RESAMPLES}" in parser.format_help().replace("\n", " ")
    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    assert f"default {stats.DEFAULT_RESAMPLES}" in " ".join(parser.format_help().split())


def test_percentile_bootstrap_is_the_multinomial_reference():
    rnd = random.Random(11)
    outcomes = [rnd.random() < 0.35 for _ in range(173)]
    for resamples, seed, level in ((1000, 0, 0.95), (333, 5, 0.95), (800, 2, 0.9)):
        got = stats.bootstrap_ci(outcomes, n_resamples=resamples, seed=seed, level=level)
        assert got == _reference([int(o) for o in outcomes], None, resamples, seed, level)
    # any numbers, not only 0/1 (the paired comparison passes differences)
    diffs = [rnd.choice((-1, 0, 0, 1)) for _ in range(91)]
    assert stats.bootstrap_ci(diffs, seed=3) == _reference(diffs, None, seed=3)
    assert stats.bootstrap_ci([]) is None


def test_clustered_bootstrap_is_the_multinomial_reference():
    rnd = random.Random(5)
    clusters = [f"clip{rnd.randrange(23)}" for _ in range(97)]
    outcomes = [int(rnd.random() < 0.55) for _ in clusters]
    got = stats.bootstrap_ci(outcomes, clusters, n_resamples=400, seed=8)
    assert got == _reference(outcomes, clusters, 400, 8)
    # neither the input order nor the clusters' names matter, only what each cluster holds
    order = list(range(97))
    rnd.shuffle(order)
    assert got == stats.bootstrap_ci([outcomes[i] for i in order], [clusters[i] for i in order],
                                     n_resamples=400, seed=8)  # fmt: skip
    renamed = [f"other-{c[::-1]}" for c in clusters]
    assert got == stats.bootstrap_ci(outcomes, renamed, n_resamples=400, seed=8)
    with pytest.raises(ValueError, match="3 clusters for 2 outcomes"):
        stats.bootstrap_ci([1, 0], ["a", "b", "c"])


def test_drawing_kinds_is_drawing_clusters():
    # The textbook scheme draws 5 cluster indices with replacement: all 5^5 draws, equally
    # likely, give the exact distribution of the resampled mean. The multinomial of the kinds
    # must give the same distribution (here 100,000 resamples, each value within 4.5 standard
    # errors), so that the speed did not change what is computed. Clusters "c" and "d" are of
    # one kind (1 right of 2).
    clips = {"a": [1], "b": [0, 0], "c": [1, 0], "d": [0, 1], "e": [1, 1, 0]}
    names = sorted(clips)
    exact = Counter()
    for draw in itertools.product(names, repeat=len(names)):
        right = sum(sum(clips[n]) for n in draw)
        asked = sum(len(clips[n]) for n in draw)
        # a float division of two integers is the exact ratio rounded once, as numpy's is
        exact[right / asked] += Fraction(1, len(names) ** len(names))
    kinds, sizes = _kinds([v for n in names for v in clips[n]],
                          [n for n in names for _ in clips[n]])  # fmt: skip
    assert sizes == [1, 1, 2, 1]
    r = 100_000
    means = stats.resample_means([s for s, _ in kinds], [n for _, n in kinds], sizes,
                                 n_resamples=r, seed=4)  # fmt: skip
    seen = Counter(means.tolist())
    assert set(seen) <= set(exact)
    for value, p in exact.items():
        assert abs(seen[value] / r - p) <= 4.5 * math.sqrt(p * (1 - p) / r), value


def test_chunks_of_resamples_do_not_change_the_numbers(monkeypatch):
    # 40 kinds of one cluster each (float sums: every cluster its own kind): one chunk of
    # 2,000,000 // 40 rows, or (patched) 3 rows at a time. The generator draws row after row,
    # so the same floats either way, and those of one `multinomial` call summed by hand.
    rnd = random.Random(2)
    kinds = [(rnd.randrange(64) / 16, float(rnd.randrange(1, 5))) for _ in range(40)]
    sums, counts = [s for s, _ in kinds], [n for _, n in kinds]
    whole = stats.resample_means(sums, counts, [1] * 40, n_resamples=500, seed=9)
    monkeypatch.setattr(stats, "_CHUNK_CELLS", 120)
    chunked = stats.resample_means(sums, counts, [1] * 40, n_resamples=500, seed=9)
    assert whole.tobytes() == chunked.tobytes()
    rows = np.random.default_rng(9).multinomial(40, np.full(40, 1 / 40), size=500)
    by_hand = [
        sum(int(c) * s for c, s in zip(row, sums)) / sum(int(c) * n for c, n in zip(row, counts))
        for row in rows
    ]  # fmt: skip
    assert whole.tolist() == by_hand
    with pytest.raises(ValueError, match="sizes >= 1"):
        stats.resample_means([1.0], [1.0], [0])


_IN_ANOTHER_PROCESS = """
import hashlib, random
from vlm4d_tasks.metric import stats
rnd = random.Random(7)
clips = [f"clip-{rnd.randrange(300)}" for _ in range(700)]
outcomes = [rnd.random() < 0.45 for _ in clips]
diffs = [rnd.choice((-1, 0, 1)) for _ in clips]
print(stats.bootstrap_ci(outcomes, clips), stats.bootstrap_ci(outcomes, clips, seed=5))
print(stats.clustered_bootstrap_ci(diffs, clips), stats.share_ci(311, 700))
print(hashlib.sha256(stats.resample_means([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [50, 20, 9],
                                          seed=1).tobytes()).hexdigest())
"""


@pytest.mark.subprocess
def test_the_same_seed_gives_the_same_bytes_in_any_process():
    # cluster keys are strings, whose hashes (so set and dict orders) change with the process's
    # PYTHONHASHSEED; the intervals must not
    import os
    import subprocess
    import sys

    outputs = set()
    for hash_seed in ("0", "1", "987654"):
        done = subprocess.run(
            [sys.executable, "-c", _IN_ANOTHER_PROCESS], capture_output=True, text=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed}, timeout=120, check=True,
        )  # fmt: skip
        outputs.add(done.stdout)
    assert len(outputs) == 1
    lines = outputs.pop().splitlines()
    assert len(lines) == 3 and "None" not in lines[0] and len(lines[2]) == 64


def test_endpoint_noise_at_the_default_is_below_a_tenth_of_a_point():
    # A simulated real run: 1,371 questions on 600 clips (1 to 4 questions each, answers of one
    # clip alike more often than not). Over 8 seeds, each endpoint of the default interval moves
    # by less than 0.1 points (SD: 0.03 here); at 1,000 resamples it moved by 0.09 to 0.10.
    rng = np.random.default_rng(26)
    sizes = np.bincount(np.concatenate([np.arange(600), rng.choice(600, 771)]), minlength=600)
    clips = [f"v{c}" for c in range(600) for _ in range(sizes[c])]
    ability = rng.beta(2, 2, 600)
    outcomes = [bool(rng.random() < ability[int(c[1:])]) for c in clips]
    assert len(outcomes) == 1371
    ends = np.array([stats.bootstrap_ci(outcomes, clips, seed=seed) for seed in range(8)])
    noise = 100 * ends.std(axis=0)
    assert (noise < 0.1).all(), noise
    few = np.array([stats.bootstrap_ci(outcomes, clips, n_resamples=1000, seed=seed)
                    for seed in range(8)])  # fmt: skip
    assert (100 * few.std(axis=0) > 2 * noise).all()


def test_percentile_bootstrap_covers_the_true_accuracy_about_95_times_in_100():
    # 300 simulated runs of 120 questions at a true accuracy of 0.3 (seeded): a 95% interval
    # misses the truth about 5 times in 100; an interval at the wrong level, or one that
    # resamples too few questions, would miss far more often.
    rng = np.random.default_rng(2024)
    covered = 0
    widths = []
    for _ in range(300):
        outcomes = rng.random(120) < 0.3
        lo, hi = stats.bootstrap_ci(outcomes, n_resamples=500, seed=int(rng.integers(1 << 31)))
        covered += lo <= 0.3 <= hi
        widths.append(hi - lo)
        assert lo <= outcomes.mean() <= hi  # the interval holds its own point estimate
    assert 0.92 <= covered / 300 <= 0.98, covered
    # +-1.96 binomial standard errors: 2 * 1.96 * sqrt(0.3 * 0.7 / 120) = 0.164
    assert 0.14 < float(np.mean(widths)) < 0.18


def test_percentile_bootstrap_narrows_with_more_questions():
    rng = np.random.default_rng(9)
    small = rng.random(100) < 0.6
    large = rng.random(1600) < 0.6
    w_small = np.subtract(*stats.bootstrap_ci(small, seed=0)[::-1])
    w_large = np.subtract(*stats.bootstrap_ci(large, seed=0)[::-1])
    # 16 times the questions: a quarter of the width, give or take the resampling noise
    assert 3.2 < w_small / w_large < 4.8, (w_small, w_large)
    # a higher level is a wider interval over the same draws
    lo90, hi90 = stats.bootstrap_ci(small, seed=0, level=0.9)
    lo95, hi95 = stats.bootstrap_ci(small, seed=0)
    assert lo95 <= lo90 < hi90 <= hi95 and (lo95, hi95) != (lo90, hi90)


def test_clustered_bootstrap_hand_cases():
    # One cluster: every resample is that cluster, the interval is the point.
    assert stats.bootstrap_ci([1, 0, 1, 1], ["v"] * 4) == (0.75, 0.75)
    # Clusters of one question each are the per-question bootstrap (keys that sort in input
    # order, so the same draws pick the same questions).
    values = [1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1]
    keys = [f"q{i:02d}" for i in range(len(values))]
    assert stats.bootstrap_ci(values, keys, seed=4) == stats.bootstrap_ci(values, seed=4)
    # Two clips: "a" with 3 right answers, "b" with 1 wrong one. A resample is aa (1), ab or ba
    # (3 of 4 right: pooled questions, not the mean of clip means, which would be 1/2) or bb
    # (0), with probabilities 1/4, 1/2, 1/4; its 30% and 70% quantiles are both 3/4.
    values, clips = [1, 1, 1, 0], ["a", "a", "a", "b"]
    assert stats.bootstrap_ci(values, clips, n_resamples=4000, seed=1, level=0.4) == (0.75, 0.75)
    assert stats.bootstrap_ci(values, clips, n_resamples=4000, seed=1) == (0.0, 1.0)


def test_clustered_interval_is_wider_when_a_clip_decides_its_questions():
    # 40 clips of 6 questions each answered alike within a clip: 40 independent draws, not 240,
    # so the clustered interval is about sqrt(6) = 2.4 times as wide as the per-question one.
    outcomes = [clip % 5 < 2 for clip in range(40) for _ in range(6)]
    clips = [f"clip{clip:02d}" for clip in range(40) for _ in range(6)]
    plain = stats.bootstrap_ci(outcomes, seed=0)
    clustered = stats.bootstrap_ci(outcomes, clips, seed=0)
    assert 2.0 < (clustered[1] - clustered[0]) / (plain[1] - plain[0]) < 2.9


def test_clustered_bootstrap_ci_of_differences():
    diffs = [1, 0, -1, 1, 1, 0, 0, 0, 1, -1]
    clusters = ["v1"] + ["v2"] * 2 + ["v3"] * 3 + ["v4"] * 4
    got = stats.clustered_bootstrap_ci(diffs, clusters, resamples=300, seed=7)
    assert got == _reference(diffs, clusters, 300, 7)
    assert stats.clustered_bootstrap_ci([], []) is None
    with pytest.raises(ValueError, match="one cluster per difference"):
        stats.clustered_bootstrap_ci([1, 0], ["v"])


def test_share_ci_is_the_bootstrap_of_the_counts():
    # 37 right of 90 as outcomes: the bootstrap of 37 ones and 53 zeros
    assert stats.share_ci(37, 90, n_resamples=700, seed=6) == _reference(
        [1] * 37 + [0] * 53, None, 700, 6
    )
    # what the report's pooled bars computed before the statistic moved here
    old = stats.bootstrap_ci([True] * 37 + [False] * 53, n_resamples=700, seed=6)
    assert stats.share_ci(37, 90, n_resamples=700, seed=6) == old
    assert stats.share_ci(5, 5) == (1.0, 1.0) and stats.share_ci(0, 4) == (0.0, 0.0)
    assert stats.share_ci(0, 0) is None
    for part, whole in ((6, 5), (-1, 3)):
        with pytest.raises(ValueError, match="0 <= part <= whole"):
            stats.share_ci(part, whole)


# --------------------------------------------------------------------------------------------
# McNemar


def _exact_mcnemar(a: int, b: int) -> Fraction:
    """Twice the smaller binomial tail of Bin(a + b, 1/2), capped at 1, in fractions."""
    n = a + b
    tail = sum(Fraction(math.comb(n, k), 2**n) for k in range(min(a, b) + 1))
    return min(Fraction(1), 2 * tail)


def test_mcnemar_by_hand():
    # 6 discordant pairs one way, 1 the other: 2 * P(X <= 1), X ~ Bin(7, 1/2) = 2 * 8/128
    assert stats.mcnemar_exact(6, 1) == stats.mcnemar_exact(1, 6) == 0.125
    # 4 to 1: 2 * (C(5, 0) + C(5, 1)) / 2^5 = 2 * 6 / 32
    assert stats.mcnemar_exact(4, 1) == 0.375
    assert stats.mcnemar_exact(5, 0) == 2 / 32
    # balanced or nearly: twice a tail above 1/2 is capped at 1
    assert stats.mcnemar_exact(3, 3) == stats.mcnemar_exact(2, 3) == 1.0
    assert stats.mcnemar_exact(0, 0) == 1.0
    with pytest.raises(ValueError, match="must be >= 0"):
        stats.mcnemar_exact(-1, 4)


def test_mcnemar_is_the_exact_p_value_rounded_once():
    pairs = [(a, b) for a in range(0, 121, 7) for b in range(0, 121, 5)]
    pairs += [(420, 380), (2, 998), (700, 655), (1500, 1480), (0, 1100)]
    for a, b in pairs:
        if a + b:
            assert stats.mcnemar_exact(a, b) == float(_exact_mcnemar(a, b)), (a, b)
    # far in the tail the exact value is below the smallest float: 0, never negative or NaN
    assert stats.mcnemar_exact(0, 1200) == float(Fraction(2, 2**1200)) == 0.0


def test_mcnemar_is_scipys_binomial_test():
    scipy_stats = pytest.importorskip("scipy.stats")
    # scipy sums float probabilities, ours is exact: they agree to 1e-12, not to the bit
    # (bench/mcnemar.py measures by how much)
    for a in range(0, 61, 3):
        for b in range(0, 61, 4):
            if a + b:
                expected = scipy_stats.binomtest(a, a + b, 0.5).pvalue
                assert stats.mcnemar_exact(a, b) == pytest.approx(expected, rel=1e-12), (a, b)
    for a, b in ((420, 380), (1325, 1375), (900, 1100)):
        expected = scipy_stats.binomtest(a, a + b, 0.5).pvalue
        assert stats.mcnemar_exact(a, b) == pytest.approx(expected, rel=1e-12), (a, b)


# --------------------------------------------------------------------------------------------
# The paired comparison


def _run(pattern: str, videos: list[str | None]) -> list[dict]:
    marks = {"1": True, "0": False, "-": None}
    return [{"id": f"q{i}", "correct": marks[c], "video": v}
            for i, (c, v) in enumerate(zip(pattern, videos))]  # fmt: skip


def test_compare_a_tiny_pair_of_runs_by_hand():
    videos = ["v1", "v1", "v2", "v3", "v3", None, "v4"]
    # q6 is unresolved for B and "extra" was never asked of B: both are left out
    a = _run("1111101", videos) + [{"id": "extra", "correct": True, "video": "v9"}]
    b = _run("000100-", videos)
    c = stats.compare(a, b, labels=("cot", "direct"), resamples=600, seed=2)
    # on q0..q5: A right on 5 of 6, B on 1; A alone right on q0, q1, q2, q4; B alone never
    assert (c.a, c.b, c.n) == ("cot", "direct", 6)
    assert (c.a_accuracy, c.b_accuracy, c.difference) == (0.833333, 0.166667, 0.666667)
    assert (c.a_only, c.b_only) == (4, 0)
    assert c.p_value == 2 / 16  # 2 * P(X <= 0), X ~ Bin(4, 1/2)
    # v1, v2, v3 and q5 (no video: its own cluster)
    assert c.videos == 4
    diffs = [1, 1, 1, 0, 1, 0]
    clusters = ["v1", "v1", "v2", "v3", "v3", "question:q5"]
    assert c.ci95 == _reference(diffs, clusters, 600, 2)
    d = c.to_dict()
    assert d["ci95"] == list(c.ci95) and d["p_value"] == 0.125 and "why" not in d
    # the order the outcomes come in does not matter
    assert stats.compare(a[::-1], b[::-1], labels=("cot", "direct"), resamples=600, seed=2) == c
    # swapping the runs swaps the roles and the sign
    s = stats.compare(b, a, resamples=600, seed=2)
    assert (s.a_only, s.b_only, s.difference, s.p_value) == (0, 4, -0.666667, 0.125)


def test_compare_without_common_questions_says_why():
    a = _run("11", ["v1", "v2"])
    c = stats.compare(a, _run("--", ["v1", "v2"]), resamples=10)
    assert (c.n, c.difference, c.ci95, c.p_value) == (0, None, None, 1.0)
    assert c.to_dict()["why"] == "no question answered by both"


# --------------------------------------------------------------------------------------------
# Pooled standard error, shares


def test_stratified_stderr_by_hand_and_by_the_binomial_formula():
    # (6/8)^2 0.2^2 + (2/8)^2 0.4^2 = 0.0225 + 0.01
    assert stats.stratified_stderr([6, 2], [0.2, 0.4]) == pytest.approx(math.sqrt(0.0325))
    assert stats.stratified_stderr([50], [0.07]) == pytest.approx(0.07)
    # With each stratum's CLT error sqrt(p(1-p)/n), the pooled one is
    # sqrt(sum(n_i p_i (1 - p_i)) / N^2): 1371 real questions at 0.6, 445 synthetic at 0.4
    sizes, shares = [1371, 445], [0.6, 0.4]
    errors = [math.sqrt(p * (1 - p) / n) for n, p in zip(sizes, shares)]
    pooled = math.sqrt(sum(n * p * (1 - p) for n, p in zip(sizes, shares))) / sum(sizes)
    assert stats.stratified_stderr(sizes, errors) == pytest.approx(pooled, rel=1e-12)
    with pytest.raises(ValueError, match="2 strata sizes for 1"):
        stats.stratified_stderr([1, 2], [0.1])
    with pytest.raises(ValueError, match="must hold questions"):
        stats.stratified_stderr([0, 0], [0.1, 0.1])


def test_count_share_shows_a_percentage_from_30_questions():
    assert stats.MIN_N_FOR_PERCENT == 30
    assert stats.count_share(1, 1) == "1 of 1 (n < 30: no percentage)"
    assert stats.count_share(29, 29) == "29 of 29 (n < 30: no percentage)"
    assert stats.count_share(0, 0) == "0 of 0 (n < 30: no percentage)"
    assert stats.count_share(15, 30) == "15 of 30 (50.0%)"
    assert stats.count_share(1, 30) == "1 of 30 (3.3%)"
    assert stats.count_share(12, 40) == "12 of 40 (30.0%)"
