"""The statistics of the metric, in one place: every interval, test and correction that this
package computes for a score document, `vlm4d report` or an lmms-eval table is computed here,
and nowhere else (lmms-eval computes its subtasks' own standard errors).

* `chance_corrected`: accuracy rescaled so that guessing scores 0 and a perfect run 1.
* `bootstrap_ci`: the percentile bootstrap interval of a mean, per question or clustered by
  video; every accuracy interval of a score document (`scoring.summarize`).
* `share_ci`: the same interval for a share given as counts (the pooled bars of the report's
  figures, `report.figures`).
* `mcnemar_exact`: McNemar's exact test of two runs on the same questions.
* `clustered_bootstrap_ci`: the video-clustered interval of a paired difference.
* `Comparison` / `compare`: the paired comparison of two runs (accuracies, difference, its
  interval, the discordant pairs, McNemar's p), for the documents' and the report's pairs.
* `stratified_stderr`: the standard error of a pooled accuracy of disjoint strata (the VLM4D
  groups' rows in lmms-eval's table, from its subtasks', `lmms.plugin.group_stderrs`).
* `count_share` / `MIN_N_FOR_PERCENT`: when a share is shown as a percentage.

Counting (correct / scored, consistency, circular accuracy, the probe's rates) stays beside the
records it counts; only what turns counts into an interval, a test or a correction lives here.
Pure functions; seeded, so the same outcomes give the same numbers in any process.
`tests/test_stats.py` checks each against a computation written independently of it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vlm4d_tasks.data.schema import LETTERS

DEFAULT_RESAMPLES = 10_000


DEFAULT_SEED = 0


CI_LEVEL = 0.95


def chance_corrected(accuracy: float | None, n_options: int = len(LETTERS)) -> float | None:
    """Accuracy rescaled so that guessing among `n_options` scores 0 and a perfect run 1:
    (acc - 1/k) / (1 - 1/k). Below-chance runs go negative; None stays None."""
    if accuracy is None:
        return None
    if n_options < 2:
        raise ValueError(f"chance correction needs at least 2 options, got {n_options}")
    chance = 1.0 / n_options
    return round((accuracy - chance) / (1.0 - chance), 6)


def bootstrap_ci(
    outcomes: Sequence[float],
    clusters: Sequence[str] | None = None,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = CI_LEVEL,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of `outcomes` (seeded); None if empty.

    With `clusters` (one key per outcome: the question's video), whole clusters are resampled
    with replacement and each resample's statistic is the sum of the drawn clusters' outcomes
    over the sum of their question counts (1371 real questions share 600 clips, and answers
    about one clip are not independent, so the i.i.d. interval is too narrow). Without, each
    question is its own cluster: the plain bootstrap. Outcomes may be 0/1 or any numbers (the
    paired comparison passes differences). How the resamples are drawn: `resample_means`.
    """
    import numpy as np

    values = np.asarray(outcomes, dtype=np.float64)
    if values.size == 0:
        return None
    if clusters is None:
        sums, counts = values, np.ones_like(values)
    else:
        if len(clusters) != values.size:
            raise ValueError(f"{len(clusters)} clusters for {values.size} outcomes")
        index: dict[str, int] = {}
        at = np.fromiter((index.setdefault(c, len(index)) for c in clusters), dtype=np.int64,
                         count=values.size)  # fmt: skip
        sums = np.bincount(at, weights=values, minlength=len(index))
        counts = np.bincount(at, minlength=len(index)).astype(np.float64)
    kinds, sizes = np.unique(np.stack([sums, counts], axis=1), axis=0, return_counts=True)
    key = (tuple(kinds[:, 0].tolist()), tuple(kinds[:, 1].tolist()), tuple(sizes.tolist()))
    # arbitrary floats can make every cluster a kind: such keys would fill the cache
    compute = _interval if len(sizes) <= _CACHED_KINDS else _interval.__wrapped__
    return compute(*key, n_resamples, seed, level)


_CHUNK_CELLS = 2_000_000  # draws held at once: 16 MB of counts


def resample_means(
    sums: Sequence[float], counts: Sequence[float], sizes: Sequence[int], *,
    n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
) -> Any:  # fmt: skip
    """The `n_resamples` statistics of the cluster bootstrap, as a float64 numpy array, for
    clusters given by kind: `sizes[t]` clusters whose outcomes sum to `sums[t]` over
    `counts[t]` questions (K = sum(sizes) clusters in all).

    A resample draws K clusters uniformly with replacement, and its statistic (drawn sums over
    drawn counts) depends only on how many draws fell on each kind: a multinomial of K draws
    over the kinds with probabilities sizes / K, which is what is drawn (one
    `Generator.multinomial` row per resample, from `numpy.random.default_rng(seed)`). The
    distribution is exactly that of drawing cluster indices, at the cost of one binomial per
    kind (3 to 35 kinds in a real run's intervals, 2 unclustered) instead of one draw per
    cluster (600): all 27 intervals of a real file at 10,000 resamples took 0.41 s of CPU
    against 0.69 s drawing indices (`bench/bootstrap_noise.py`). Rows are drawn in chunks so that
    memory stays at a few MB even when every cluster is its own kind (arbitrary floats); the
    generator draws row after row, so the chunking does not change the numbers.
    """
    import numpy as np

    sums = np.asarray(sums, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.int64)
    if not sums.shape == counts.shape == sizes.shape or sums.ndim != 1 or sums.size == 0:
        raise ValueError("resample_means: sums, counts and sizes must be 1-D, non-empty, equal")
    if (sizes < 1).any() or (counts <= 0).any():
        raise ValueError("resample_means: every kind needs sizes >= 1 and counts > 0")
    k = int(sizes.sum())
    rng = np.random.default_rng(seed)
    out = np.empty(n_resamples, dtype=np.float64)
    chunk = max(1, _CHUNK_CELLS // sums.size)
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        drawn = rng.multinomial(k, sizes / k, size=stop - start)
        # numpy's own sums, not BLAS (`@`): their order, so their rounding, is the same on
        # every machine and thread count
        out[start:stop] = (drawn * sums).sum(axis=1) / (drawn * counts).sum(axis=1)
    return out


_CACHED_KINDS = 256


# A score document asks for the interval of the same questions several times (a run's
# accuracy is also its table row's real average and overall; the report's figures pool the
# same counts again): 22 intervals of a real run are 16 distinct ones. Keyed by the kinds, so
# a hit is the same computation, the same floats.
@functools.lru_cache(maxsize=1024)
def _interval(
    sums: tuple[float, ...], counts: tuple[float, ...], sizes: tuple[int, ...],
    n_resamples: int, seed: int, level: float,
) -> tuple[float, float]:  # fmt: skip
    import numpy as np

    statistics = resample_means(sums, counts, sizes, n_resamples=n_resamples, seed=seed)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(statistics, [alpha, 1.0 - alpha])
    return (round(float(lo), 6), round(float(hi), 6))


def share_ci(
    part: int, whole: int, *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
    level: float = CI_LEVEL,
) -> tuple[float, float] | None:  # fmt: skip
    """`bootstrap_ci` of `part` right answers out of `whole` questions, when only the counts are
    known (a share pooled over several runs' breakdowns): `part` ones and `whole - part` zeros,
    each its own cluster, passed as their two kinds (no list of `whole` outcomes is built).
    None when `whole` is 0."""
    if not 0 <= part <= whole:
        raise ValueError(f"a share needs 0 <= part <= whole, got {part} of {whole}")
    if whole == 0:
        return None
    kinds = [(value, size) for value, size in ((0.0, whole - part), (1.0, part)) if size]
    return _interval(tuple(value for value, _ in kinds), (1.0,) * len(kinds),
                     tuple(size for _, size in kinds), n_resamples, seed, level)  # fmt: skip


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """McNemar's exact test: the two-sided binomial test of the discordant pairs (`a_only`
    questions only A got right, `b_only` only B) against p = 1/2, the test
    `scipy.stats.binomtest(a_only, a_only + b_only).pvalue` computes (the distribution is
    symmetric, so twice the smaller tail, at most 1); 1.0 without discordant pairs.

    Ours rather than scipy's, measured (`bench/mcnemar.py`, scipy 1.17.1): the tail is summed
    in integers and divided once by 2^(n-1), a division Python rounds correctly, so the float
    is the exact p-value rounded once (bit for bit the float of the former `Fraction`
    computation on all 90,601 pairs with a_only, b_only <= 300 and on 429 pairs with n of 500
    to 5000). scipy sums float probabilities: it differs on 87% of the grid's pairs (up to 264
    ulps, relative 3e-14), on 81% of the large ones (up to 2,596 ulps in the tails) and on 28
    of the 31 comparisons of the release's score document, so it would change the documents'
    bytes. It is also slower: 1,136 against 34 us a call on that grid, 971 against 612 us at
    n >= 500 (2 busy cores). `tests/test_stats.py` keeps the two within 1e-12.
    """
    if a_only < 0 or b_only < 0:
        raise ValueError(f"McNemar: discordant counts must be >= 0, got {a_only} and {b_only}")
    n = a_only + b_only
    if n == 0:
        return 1.0
    # sum of C(n, k) for k <= min; each term from the last by one small multiply and divide
    term = tail = 1
    for k in range(min(a_only, b_only)):
        term = term * (n - k) // (k + 1)
        tail += term
    if 2 * tail >= 1 << n:
        return 1.0
    return tail / (1 << (n - 1))


def clustered_bootstrap_ci(
    differences: Sequence[float], clusters: Sequence[str], *,
    resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, level: float = CI_LEVEL,
) -> tuple[float, float] | None:  # fmt: skip
    """Percentile interval of the mean of `differences` (per question: A right minus B right)
    under a bootstrap that resamples clusters (videos): `bootstrap_ci`, the interval
    of every accuracy too. None when there are no questions."""
    if len(differences) != len(clusters):
        raise ValueError("one cluster per difference")
    return bootstrap_ci(differences, clusters, n_resamples=resamples, seed=seed, level=level)


@dataclass(frozen=True)
class Comparison:
    """Row A against row B on the questions both answered (unresolved answers left out)."""

    a: str
    b: str
    n: int  # questions both answered
    videos: int
    a_accuracy: float | None
    b_accuracy: float | None
    difference: float | None  # A - B
    ci95: tuple[float, float] | None  # paired bootstrap over videos
    a_only: int  # discordant pairs: A right, B wrong
    b_only: int
    p_value: float  # McNemar exact, two-sided
    why: str = ""  # set when no comparison could be made

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a, "b": self.b, "n": self.n, "videos": self.videos,
            "a_accuracy": self.a_accuracy, "b_accuracy": self.b_accuracy,
            "difference": self.difference,
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "a_only": self.a_only, "b_only": self.b_only, "p_value": self.p_value,
            "test": "McNemar exact (two-sided binomial on the discordant pairs)",
            "interval": "paired bootstrap, videos resampled",
            **({"why": self.why} if self.why else {}),
        }  # fmt: skip


def compare(
    a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]], *, labels=("A", "B"),
    resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
) -> Comparison:  # fmt: skip
    """Paired comparison of two runs' outcomes (`{id, correct, video}` per question): on the
    questions both answered (same id, neither unresolved), the accuracies, their difference,
    McNemar's exact p and the video-clustered bootstrap interval of the difference. A question
    without a video is its own cluster."""
    first = {o["id"]: o for o in a if o["correct"] is not None}
    common = [(first[o["id"]], o) for o in b if o["correct"] is not None and o["id"] in first]
    common.sort(key=lambda pair: pair[0]["id"])
    n = len(common)
    if n == 0:
        return Comparison(*labels, 0, 0, None, None, None, None, 0, 0, 1.0,
                          why="no question answered by both")  # fmt: skip
    a_right = sum(x["correct"] for x, _ in common)
    b_right = sum(y["correct"] for _, y in common)
    a_only = sum(x["correct"] and not y["correct"] for x, y in common)
    b_only = sum(y["correct"] and not x["correct"] for x, y in common)
    clusters = [x.get("video") or f"question:{x['id']}" for x, _ in common]
    ci = clustered_bootstrap_ci(
        [int(x["correct"]) - int(y["correct"]) for x, y in common], clusters,
        resamples=resamples, seed=seed,
    )  # fmt: skip
    return Comparison(
        *labels, n, len(set(clusters)), round(a_right / n, 6), round(b_right / n, 6),
        round((a_right - b_right) / n, 6), ci, a_only, b_only, mcnemar_exact(a_only, b_only),
    )  # fmt: skip


def stratified_stderr(sizes: Sequence[int], errors: Sequence[float]) -> float:
    """Standard error of the pooled mean of disjoint strata whose sizes are fixed by the design
    (VLM4D's real and synthetic questions share no video): sqrt(sum((n_i / N)^2 * se_i^2)),
    `sizes` the questions each stratum scored and `errors` its standard error."""
    if len(sizes) != len(errors):
        raise ValueError(f"{len(sizes)} strata sizes for {len(errors)} standard errors")
    total = sum(sizes)
    if total <= 0:
        raise ValueError(f"the strata must hold questions, got sizes {list(sizes)}")
    return math.sqrt(sum((n / total) ** 2 * e**2 for n, e in zip(sizes, errors)))


# Below this many questions a share is given as counts alone ("1 of 1", not "100.0%"): at 30
# the 95% interval of a share is still about +-17 points wide, and under it one question moves
# the percentage by more than 3 points, so a percentage reads as a finding that is not there.
MIN_N_FOR_PERCENT = 30


def count_share(part: int, whole: int) -> str:
    """ "12 of 40 (30.0%)"; below `MIN_N_FOR_PERCENT` the counts alone, saying why:
    "1 of 1 (n < 30: no percentage)"."""
    if whole < MIN_N_FOR_PERCENT:
        return f"{part} of {whole} (n < {MIN_N_FOR_PERCENT}: no percentage)"
    return f"{part} of {whole} ({100 * part / whole:.1f}%)"
