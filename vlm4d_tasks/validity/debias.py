"""The `debiased` question set: VLM4D without the questions its text alone answers.

Iterative Bias Pruning (IBP) of the Test-set Stress-Test (Brown et al., arXiv 2511.04655,
Sec. 4, Algorithm 1; VSI-Bench-Debiased), with the cross-validated blind predictor of
`vlm4d_tasks.validity.blind` as the diagnostic. Each subset (real, synthetic) is pruned on its
own, with the predictor trained on that subset's questions only (the subsets differ in
question style and answer skews, as IBP's per-group allocation does). A round:

1. runs the blind predictor on the subset's remaining questions (k-fold, grouped by video,
   averaged over seeds) and takes each question's bias score s(x), the probability it gives
   the right option;
2. stops when its blind accuracy is within `accuracy_margin` of chance (1/4), when the budget
   is spent, or when no question can be removed;
3. otherwise removes up to `step` questions with the highest s(x), only those with
   s(x) > 1/4 + `score_margin` (above chance by a margin, so noise at chance is not pruned),
   ranked by (-s(x) rounded to 12 decimals, uid), so floating-point noise and record order
   cannot reorder ties, and never taking a (subset, category) below its floor.

Defaults (`PruneParameters`) and why:

* `budget` 0.30: at most 30% of each subset is removed, so at least 960 real and 312
  synthetic questions stay (accuracy intervals of about +-3 and +-5 points). A set pruned much
  further measures a different benchmark; the TsT repository's VSI-Bench runs use budgets of
  200 to 2500 questions.
* `step` 20 per round: small against the budget (about 20 real and 7 synthetic rounds), so
  the ranking is re-estimated as the shortcuts it found are removed (26 rounds on the
  release: about 20 s on this project's 2-core machine).
* `score_margin` 0.05 and `accuracy_margin` 0.02: a question is "predictable" only when its
  held-out probability of the right option is above 0.30; pruning a subset stops when the
  blind predictor is within 2 points of chance (its standard error at ~1000 questions is
  about 1.4 points). That is the stopping rule, not a measure of what is left: the predictor
  is the one the pruning selected against (`residual_bias` measures the rest).
* `min_keep_per_category` 0.5: at least half of each motion category (translational,
  rotational, counting, false positive) of each subset stays (rounded up), so the debiased set
  still covers every category the paper reports; it is the category balance a shortcut-rich
  category would otherwise lose.

On the release (`debiased-v1`, `python bench/debias.py ANNOTATIONS`), the real subset stops
with 1031 of 1371 questions kept, its selecting predictor at 26.9%; the synthetic subset spends
its budget (312 of 445 kept) with the blind predictor still at 54% (68% before): its skews
(left is right about twice as often as right, "not moving" and "no X there" about one time in
ten) run through its questions. Measured by what the pruning did not select on
(`residual_bias`, 95% intervals clustered by video), the kept real questions are less biased,
not at chance: the option-text prior 32.1% (29.2-35.1), the predictor under 10 fresh fold seeds
27.5% (25.4-29.7), naive Bayes 26.6% (24.6-28.7, the only one within noise of chance); synthetic
49.7%, 51.2% and 44.0%. The set is less biased, not unbiased.

`matched_removal` removes as many questions at random from each subset and category as the
pruning did (20 seeds), the comparison that shows what pruning does beyond removing questions
(`control_effect`: on the judged runs, with its interval and sign test); `random_removal`, the
older control, matches the subset count only, under the same floors.
The shipped `debiased_v1.json` holds the kept uids for the official release (pinned by the
SHA-256 of `(uid, question, options, answer)` per subset); `debiased_uids` uses it when the
records are that release and otherwise prunes the records given.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources

import numpy as np

from vlm4d_tasks.data.schema import LETTERS, Category, Record
from vlm4d_tasks.validity import blind, prior

DEBIASED_VERSION = "debiased-v1"
DEBIASED_FILE = "debiased_v1.json"
METHOD = (
    "Iterative Bias Pruning (Brown et al., arXiv 2511.04655) per subset with the cross-validated "
    "blind text predictor of vlm4d_tasks.validity.blind; see vlm4d_tasks/validity/debias.py"
)
CHANCE = 1 / len(LETTERS)


@dataclass(frozen=True)
class PruneParameters:
    """The rules of a pruning run (see the module docstring for the defaults' reasons)."""

    budget: float = 0.30
    step: int = 20
    score_margin: float = 0.05
    accuracy_margin: float = 0.02
    min_keep_per_category: float = 0.5
    folds: int = blind.DEFAULT_FOLDS
    seeds: tuple[int, ...] = blind.DEFAULT_SEEDS

    def __post_init__(self) -> None:
        if not 0 <= self.budget <= 1:
            raise ValueError(f"budget: a share of questions in [0, 1], got {self.budget!r}")
        if not 0 <= self.min_keep_per_category <= 1:
            raise ValueError(
                f"min_keep_per_category: a share in [0, 1], got {self.min_keep_per_category!r}"
            )
        if self.step < 1:
            raise ValueError(f"step: at least 1 question per round, got {self.step!r}")
        if not self.seeds:
            raise ValueError("seeds: at least one seed")
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))

    def to_dict(self) -> dict:
        return {**asdict(self), "seeds": list(self.seeds)}


@dataclass(frozen=True)
class Round:
    """One round of one subset: the state of its pool at the start, and what was removed."""

    subset: str
    round: int  # 1-based, per subset
    questions: int
    blind_accuracy: float  # the cross-validated predictor on the pool
    prior_accuracy: dict[str, float]  # variant -> the option-text prior on the pool
    max_bias: float
    mean_bias: float
    removed: list[str]  # in rank order
    stop: str | None = None  # why pruning of this subset stopped here ("budget", ...)


@dataclass(frozen=True)
class DebiasResult:
    parameters: PruneParameters
    kept: list[str]  # sorted
    removed: dict[str, int]  # uid -> the round it was removed in (sorted by uid)
    rounds: list[Round]
    counts: dict[str, dict[str, dict[str, int]]]  # subset -> category -> {"full", "kept"}

    def to_dict(self) -> dict:
        return {
            "parameters": self.parameters.to_dict(),
            "kept": self.kept,
            "removed": self.removed,
            "rounds": [asdict(r) for r in self.rounds],
            "counts": self.counts,
        }


def _by_subset(records: Sequence[Record]) -> dict[str, list[Record]]:
    groups: dict[str, list[Record]] = {}
    for record in sorted(records, key=lambda r: r.uid):
        groups.setdefault(record.subset, []).append(record)
    return dict(sorted(groups.items()))


def _category(record: Record) -> str:
    try:
        return Category(record.category).value
    except ValueError:
        raise ValueError(
            f"record {record.uid}: field 'category': unknown category {record.category!r}"
        ) from None


def category_floors(records: Sequence[Record], min_keep: float) -> dict[str, int]:
    """Category -> how many of its questions must stay (the share rounded up)."""
    counts = Counter(_category(r) for r in records)
    # round() first: 0.5 * 9 is exact, but a share like 0.7 * 10 is 7.000000000000001.
    return {c: math.ceil(round(min_keep * n, 9)) for c, n in sorted(counts.items())}


def category_counts(
    records: Sequence[Record], kept: Sequence[str]
) -> dict[str, dict[str, dict[str, int]]]:
    """subset -> category -> {"full": questions, "kept": of them in `kept`}."""
    keep = set(kept)
    out: dict[str, dict[str, dict[str, int]]] = {}
    for subset, group in _by_subset(records).items():
        cats: dict[str, dict[str, int]] = {}
        for record in group:
            entry = cats.setdefault(_category(record), {"full": 0, "kept": 0})
            entry["full"] += 1
            entry["kept"] += record.uid in keep
        out[subset] = dict(sorted(cats.items()))
    return out


def _rank_key(uid: str, score: float) -> tuple[float, str]:
    return (-round(score, 12), uid)


def _prune_subset(
    subset: str,
    records: list[Record],
    params: PruneParameters,
    on_round: Callable[[Round], None] | None,
) -> list[Round]:
    floors = category_floors(records, params.min_keep_per_category)
    left = Counter(_category(r) for r in records)
    budget = math.floor(round(params.budget * len(records), 9))
    pool = list(records)
    removed_total = 0
    rounds: list[Round] = []
    number = 0
    while True:
        number += 1
        probabilities = blind.blind_probabilities(pool, folds=params.folds, seeds=params.seeds)
        scores = blind.bias_scores_from(pool, probabilities)
        choices = {uid: prior.best_letter(p) for uid, p in probabilities.items()}
        state = {
            "subset": subset,
            "round": number,
            "questions": len(pool),
            "blind_accuracy": prior.accuracy(pool, choices),
            "prior_accuracy": {v: prior.prior_accuracy(pool, variant=v) for v in prior.VARIANTS},
            "max_bias": max(scores.values()),
            "mean_bias": float(np.mean([scores[r.uid] for r in pool])),
        }
        stop = None
        if removed_total >= budget:
            stop = "budget"
        elif state["blind_accuracy"] <= CHANCE + params.accuracy_margin:
            stop = "near_chance"
        take: list[Record] = []
        if stop is None:
            threshold = CHANCE + params.score_margin
            ranked = sorted(
                (r for r in pool if round(scores[r.uid], 12) > threshold),
                key=lambda r: _rank_key(r.uid, scores[r.uid]),
            )
            room = min(params.step, budget - removed_total)
            for record in ranked:
                if len(take) == room:
                    break
                category = _category(record)
                if left[category] - 1 >= floors[category]:
                    take.append(record)
                    left[category] -= 1
            if not take:
                stop = "no_candidate"
        entry = Round(**state, removed=[r.uid for r in take], stop=stop)
        rounds.append(entry)
        if on_round is not None:
            on_round(entry)
        if stop is not None:
            return rounds
        gone = {r.uid for r in take}
        pool = [r for r in pool if r.uid not in gone]
        removed_total += len(take)


def prune(
    records: Sequence[Record],
    *,
    budget: float = PruneParameters.budget,
    step: int = PruneParameters.step,
    score_margin: float = PruneParameters.score_margin,
    accuracy_margin: float = PruneParameters.accuracy_margin,
    min_keep_per_category: float = PruneParameters.min_keep_per_category,
    folds: int = PruneParameters.folds,
    seeds: Sequence[int] = PruneParameters.seeds,
    on_round: Callable[[Round], None] | None = None,
) -> DebiasResult:
    """Iterative bias pruning of each subset of `records` (module docstring); `on_round` is
    called after every round (progress)."""
    params = PruneParameters(
        budget=budget,
        step=step,
        score_margin=score_margin,
        accuracy_margin=accuracy_margin,
        min_keep_per_category=min_keep_per_category,
        folds=folds,
        seeds=tuple(seeds),
    )
    prior.pool_keys(records)  # one uid per question, four options each: fail before any work
    rounds: list[Round] = []
    for subset, group in _by_subset(records).items():
        rounds += _prune_subset(subset, group, params, on_round)
    removed = {uid: r.round for r in rounds for uid in r.removed}
    kept = sorted(r.uid for r in records if r.uid not in removed)
    return DebiasResult(
        parameters=params,
        kept=kept,
        removed=dict(sorted(removed.items())),
        rounds=rounds,
        counts=category_counts(records, kept),
    )


def random_removal(
    records: Sequence[Record],
    n_remove: int | Mapping[str, int],
    seeds: Sequence[int],
    *,
    min_keep_per_category: float = PruneParameters.min_keep_per_category,
) -> dict[int, list[str]]:
    """seed -> the kept uids (sorted) after removing questions uniformly at random under the
    category floors of `prune`: `n_remove` from each subset named in a mapping (subset ->
    count; the comparison with a pruned set), or from the whole pool for an int."""
    groups = _by_subset(records)
    if isinstance(n_remove, Mapping):
        unknown = sorted(set(n_remove) - set(groups))
        if unknown:
            raise ValueError(f"n_remove: no questions of subset(s) {unknown} in the records")
        plan = [(groups[s], int(n)) for s, n in sorted(n_remove.items())]
    else:
        plan = [(sorted(records, key=lambda r: r.uid), int(n_remove))]
    out: dict[int, list[str]] = {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        gone: set[str] = set()
        for pool, count in plan:
            if count < 0:
                raise ValueError(f"n_remove: a count of questions, got {count}")
            by_subset = _by_subset(pool)
            floors = {
                (s, c): n
                for s, g in by_subset.items()
                for c, n in category_floors(g, min_keep_per_category).items()
            }
            left = Counter((r.subset, _category(r)) for r in pool)
            removable = sum(left[k] - floors[k] for k in left)
            if count > removable:
                raise ValueError(
                    f"n_remove: {count} questions cannot be removed while keeping "
                    f"{min_keep_per_category:.0%} of each category ({removable} can)"
                )
            taken = 0
            for i in rng.permutation(len(pool)):
                if taken == count:
                    break
                record = pool[i]
                key = (record.subset, _category(record))
                if left[key] - 1 >= floors[key]:
                    gone.add(record.uid)
                    left[key] -= 1
                    taken += 1
        out[int(seed)] = sorted(r.uid for r in records if r.uid not in gone)
    return out


# --- the shipped set -------------------------------------------------------------------------


def content_sha256(records: Sequence[Record]) -> str:
    """SHA-256 of the (uid, question, options, answer) of `records` in uid order: what the
    pruning read, so equal hashes mean the shipped set applies."""
    rows = sorted([r.uid, r.question, list(r.options), r.answer] for r in records)
    text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def debiased_document(records: Sequence[Record], result: DebiasResult) -> dict:
    """The content of `debiased_v1.json` for a pruning `result` of `records`."""
    subsets = {}
    keep = set(result.kept)
    for subset, group in _by_subset(records).items():
        kept = [r.uid for r in group if r.uid in keep]
        subsets[subset] = {
            "content_sha256": content_sha256(group),
            "questions": len(group),
            "kept": len(kept),
            "categories": result.counts[subset],
            "kept_uids": sorted(kept),
        }
    return {
        "version": DEBIASED_VERSION,
        "method": METHOD,
        "parameters": result.parameters.to_dict(),
        "subsets": subsets,
    }


def dumps_document(document: dict) -> str:
    """Stable text: sorted keys, one uid per line, a final newline."""
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def check_document(document: object, where: str = DEBIASED_FILE) -> dict:
    """Raise `ValueError` naming the field unless `document` is a self-consistent debiased set."""

    def fail(field_name: str, message: str) -> None:
        raise ValueError(f"{where}: field {field_name!r}: {message}")

    if not isinstance(document, dict):
        raise ValueError(f"{where}: expected a JSON object")
    if document.get("version") != DEBIASED_VERSION:
        fail("version", f"expected {DEBIASED_VERSION!r}, got {document.get('version')!r}")
    try:
        PruneParameters(**document.get("parameters", {}))
    except (TypeError, ValueError) as exc:
        fail("parameters", str(exc))
    subsets = document.get("subsets")
    if not isinstance(subsets, dict) or not subsets:
        fail("subsets", "expected an object of subsets")
    for subset, entry in subsets.items():
        uids = entry.get("kept_uids")
        if not isinstance(uids, list) or uids != sorted(set(uids)):
            fail(f"subsets.{subset}.kept_uids", "expected sorted, distinct uids")
        if any(not str(u).startswith(f"{subset}/") for u in uids):
            fail(f"subsets.{subset}.kept_uids", f"a uid outside subset {subset!r}")
        kept = sum(c["kept"] for c in entry["categories"].values())
        full = sum(c["full"] for c in entry["categories"].values())
        if not entry.get("kept") == kept == len(uids):
            fail(
                f"subsets.{subset}.kept",
                f"{entry.get('kept')}, {kept} by category, {len(uids)} uids",
            )
        if entry.get("questions") != full:
            fail(f"subsets.{subset}.questions", f"{entry.get('questions')}, {full} by category")
    return document


def load_debiased() -> dict:
    """The shipped debiased set (`debiased_v1.json`), checked for self-consistency."""
    text = resources.files("vlm4d_tasks.validity").joinpath(DEBIASED_FILE).read_text("utf-8")
    return check_document(json.loads(text))


@dataclass(frozen=True)
class DebiasedSet:
    version: str
    kept: list[str]  # sorted uids
    sources: dict[str, str]  # subset -> "shipped" (the official set) or "computed" (pruned here)
    result: DebiasResult | None = field(default=None, compare=False)  # when any was computed

    @property
    def source(self) -> str:
        found = set(self.sources.values())
        return found.pop() if len(found) == 1 else "mixed"


def shipped_kept(
    records: Sequence[Record], *, document: dict | None = None
) -> dict[str, list[str] | None]:
    """subset -> the shipped kept uids when that subset of `records` is exactly the pool the
    shipped list was pruned from (same `content_sha256`), else None. Never prunes."""
    document = load_debiased() if document is None else check_document(document)
    out: dict[str, list[str] | None] = {}
    for subset, group in _by_subset(records).items():
        entry = document["subsets"].get(subset)
        matches = entry is not None and entry["content_sha256"] == content_sha256(group)
        out[subset] = list(entry["kept_uids"]) if matches else None
    return out


def debiased_uids(records: Sequence[Record], *, document: dict | None = None) -> DebiasedSet:
    """The debiased set's uids among `records`: the shipped ones for each subset whose content
    is the official release's (`shipped_kept`), and for any other subset the uids `prune`
    keeps under the shipped parameters. Subsets are pruned independently, so mixing is exact."""
    document = load_debiased() if document is None else check_document(document)
    kept: list[str] = []
    sources: dict[str, str] = {}
    to_prune: list[Record] = []
    groups = _by_subset(records)
    for subset, uids in shipped_kept(records, document=document).items():
        if uids is not None:
            kept += uids
            sources[subset] = "shipped"
        else:
            to_prune += groups[subset]
            sources[subset] = "computed"
    result = None
    if to_prune:
        params = PruneParameters(**document["parameters"])
        result = prune(to_prune, **{**asdict(params), "seeds": params.seeds})
        kept += result.kept
    return DebiasedSet(document["version"], sorted(kept), sources, result)


# --- checks that do not rest on the selecting predictor ---------------------------------------
#
# The pruning stops when *its* predictor (`blind`, the pruning's seeds) is near chance, so that
# figure is biased toward chance by construction: the pruning removed exactly the questions that
# predictor answered. The residual bias of a pruned set is therefore measured by what it did not
# select on: the option-text prior (`prior`, leave-one-video-out), the same predictor re-fit
# under fold seeds the pruning never used, and a second model family (`blind.MODELS`). Each
# figure carries a 95% bootstrap interval clustered by video, so "within noise of chance" is
# the interval containing 1/4, not a point estimate near it.

# Fold seeds of the residual-bias check: none of them is a pruning seed (`residual_bias` checks).
FRESH_SEEDS: tuple[int, ...] = tuple(range(100, 110))
# Seeds of the random-removal control matched per subset and category (`matched_removal`).
CONTROL_SEEDS: tuple[int, ...] = tuple(range(20))
PRIOR_FIGURE = "option-text prior (leave-one-video-out)"


def predictor_figure_name(model: str) -> str:
    return f"text-only predictor, {model.replace('_', ' ')} (fresh fold seeds)"


@dataclass(frozen=True)
class BiasFigure:
    """One blind baseline on one subset's questions: its accuracy (the mean over `seeds` when
    it has fold seeds), the seeds' range, and a 95% interval clustered by video."""

    subset: str
    baseline: str
    questions: int
    accuracy: float
    seed_min: float
    seed_max: float
    seeds: tuple[int, ...]  # () for a baseline without fold seeds (the prior)
    ci: tuple[float, float]

    @property
    def within_chance(self) -> bool:
        """The interval contains chance (1/4): the figure is within noise of it."""
        return self.ci[0] <= CHANCE <= self.ci[1]

    def to_dict(self) -> dict:
        return {**asdict(self), "seeds": list(self.seeds), "ci": list(self.ci),
                "within_chance": self.within_chance}  # fmt: skip


def bias_figure(
    subset: str,
    baseline: str,
    records: Sequence[Record],
    hits: Sequence[Mapping[str, bool]],
    seeds: Sequence[int] = (),
    *,
    n_resamples: int | None = None,
    seed: int = 0,
) -> BiasFigure:
    """The figure of `baseline` from its hits (uid -> right), one mapping per fold seed (one
    mapping for a baseline without seeds). The interval resamples videos (`prior.clip_key`)
    over each question's share of right answers across the seeds, so it is the interval of the
    seeds' mean accuracy; a question whose answer names no option counts as wrong."""
    from vlm4d_tasks.metric.stats import DEFAULT_RESAMPLES, bootstrap_ci

    if not records:
        raise ValueError(f"{subset}: no questions for {baseline!r}")
    if not hits or (seeds and len(seeds) != len(hits)):
        raise ValueError(f"{baseline}: {len(hits)} sets of hits for seeds {list(seeds)}")
    per_seed = [sum(bool(h.get(r.uid)) for r in records) / len(records) for h in hits]
    shares = [sum(bool(h.get(r.uid)) for h in hits) / len(hits) for r in records]
    ci = bootstrap_ci(
        shares,
        [prior.clip_key(r) for r in records],
        n_resamples=DEFAULT_RESAMPLES if n_resamples is None else n_resamples,
        seed=seed,
    )
    assert ci is not None  # records is not empty
    return BiasFigure(
        subset=subset,
        baseline=baseline,
        questions=len(records),
        accuracy=round(float(np.mean(per_seed)), 6),
        seed_min=round(min(per_seed), 6),
        seed_max=round(max(per_seed), 6),
        seeds=tuple(int(s) for s in seeds),
        ci=ci,
    )


def residual_bias(
    records: Sequence[Record],
    *,
    seeds: Sequence[int] = FRESH_SEEDS,
    pruning_seeds: Sequence[int] = PruneParameters.seeds,
    folds: int = PruneParameters.folds,
    models: Sequence[str] = blind.MODELS,
    n_resamples: int | None = None,
    on_step: Callable[[str], None] | None = None,
) -> list[BiasFigure]:
    """Per subset of `records` (a pruned set's kept questions): the option-text prior
    ("rate", leave-one-video-out, pooled within the subset) and each predictor family of
    `models` re-fit once per fold seed of `seeds` on the subset's questions. `seeds` must not
    overlap `pruning_seeds`: a seed the pruning used is the figure it selected against."""
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("seeds: at least one fresh fold seed")
    reused = sorted(set(seeds) & {int(s) for s in pruning_seeds})
    if reused:
        raise ValueError(f"seeds: {reused} were used by the pruning; pass seeds it never used")
    out: list[BiasFigure] = []
    for subset, group in _by_subset(records).items():
        chosen = prior.prior_choices(group, variant="rate")
        hits = [{r.uid: bool(r.answer) and chosen[r.uid] == r.answer for r in group}]
        out.append(bias_figure(subset, PRIOR_FIGURE, group, hits, n_resamples=n_resamples))
        for model in models:
            per_seed = []
            for s in seeds:
                if on_step is not None:
                    on_step(f"{subset} {model} seed {s}")
                letters = blind.blind_predictions(group, folds=folds, seeds=(s,), model=model)
                per_seed.append({r.uid: bool(r.answer) and letters[r.uid] == r.answer
                                 for r in group})  # fmt: skip
            out.append(bias_figure(subset, predictor_figure_name(model), group, per_seed, seeds,
                                   n_resamples=n_resamples))  # fmt: skip
    return out


def matched_removal(
    records: Sequence[Record], kept: Sequence[str], seeds: Sequence[int] = CONTROL_SEEDS
) -> dict[int, list[str]]:
    """seed -> the kept uids (sorted) after removing, from every (subset, category) of
    `records`, as many questions as the pruned set `kept` removed from it, uniformly at random:
    the control of a pruned set with its exact subset and category mix (category floors hold
    because the pruned set's counts do)."""
    keep = set(kept)
    groups: dict[tuple[str, str], list[Record]] = {}
    for record in sorted(records, key=lambda r: r.uid):
        groups.setdefault((record.subset, _category(record)), []).append(record)
    plan = [(g, sum(r.uid not in keep for r in g)) for _, g in sorted(groups.items())]
    out: dict[int, list[str]] = {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        gone: set[str] = set()
        for group, count in plan:
            for i in rng.choice(len(group), size=count, replace=False):
                gone.add(group[int(i)].uid)
        out[int(seed)] = sorted(r.uid for r in records if r.uid not in gone)
    return out


@dataclass(frozen=True)
class ControlEffect:
    """What pruning does to the judged runs beyond removing questions: per run, its accuracy on
    the pruned set minus its mean accuracy on the matched random removals, summarised."""

    runs: int
    models: int  # distinct models among the runs (a model's settings are not independent)
    debiased_delta: float  # mean over runs of (pruned set - full set)
    random_delta: float  # mean over runs of (random removal, mean over seeds - full set)
    difference: float  # mean over runs of (pruned set - random removal)
    ci: tuple[float, float] | None  # 95% bootstrap of `difference`, clustered by model
    lower: int  # runs scoring lower on the pruned set than under random removal
    higher: int
    ties: int
    p_value: float  # two-sided sign test of lower against higher (ties left out)

    def to_dict(self) -> dict:
        return {**asdict(self), "ci": None if self.ci is None else list(self.ci)}


def control_effect(
    runs: Mapping[tuple[str, str], tuple[float, float, float]],
    *,
    n_resamples: int | None = None,
    seed: int = 0,
) -> ControlEffect:
    """`runs`: (model, setting) -> (full, pruned, random-removal mean) accuracy. The sign test
    is the exact binomial test at p = 1/2 (`metric.stats.mcnemar_exact` computes it); the
    interval resamples models, since two settings of one model move together."""
    from vlm4d_tasks.metric.stats import DEFAULT_RESAMPLES, bootstrap_ci, mcnemar_exact

    if not runs:
        raise ValueError("control_effect: no runs")
    keys = sorted(runs)
    diffs = [runs[k][1] - runs[k][2] for k in keys]
    # a difference this small is float noise of equal accuracies: a tie, not a sign
    lower = sum(d < -1e-12 for d in diffs)
    higher = sum(d > 1e-12 for d in diffs)
    ci = bootstrap_ci(
        diffs,
        [model for model, _ in keys],
        n_resamples=DEFAULT_RESAMPLES if n_resamples is None else n_resamples,
        seed=seed,
    )
    return ControlEffect(
        runs=len(keys),
        models=len({model for model, _ in keys}),
        debiased_delta=round(float(np.mean([runs[k][1] - runs[k][0] for k in keys])), 6),
        random_delta=round(float(np.mean([runs[k][2] - runs[k][0] for k in keys])), 6),
        difference=round(float(np.mean(diffs)), 6),
        ci=ci,
        lower=lower,
        higher=higher,
        ties=len(keys) - lower - higher,
        p_value=mcnemar_exact(lower, higher),
    )


AUDIT_FILE = "debiased_v1_audit.json"


def audit_document(
    records: Sequence[Record],
    figures: Sequence[BiasFigure],
    effect: ControlEffect | None,
    *,
    seeds: Sequence[int] = FRESH_SEEDS,
    control_seeds: Sequence[int] = CONTROL_SEEDS,
    judged: str | None = None,
) -> dict:
    """The content of `debiased_v1_audit.json` (what the dataset card quotes): the residual
    bias of the kept questions (`residual_bias`) and, when judged runs were given, the matched
    random-removal control (`control_effect`); pinned to the pruned pool like the kept list."""
    return {
        "version": DEBIASED_VERSION,
        "subsets": {
            s: {"content_sha256": content_sha256(g)} for s, g in _by_subset(records).items()
        },  # fmt: skip
        "fresh_seeds": [int(s) for s in seeds],
        "residual": [f.to_dict() for f in figures],
        "control": None
        if effect is None
        else {
            "matched": "per subset and category",
            "seeds": [int(s) for s in control_seeds],
            "judged": judged,
            **effect.to_dict(),
        },  # fmt: skip
    }


def load_audit() -> dict | None:
    """The shipped `debiased_v1_audit.json`, or None when it is not shipped."""
    path = resources.files("vlm4d_tasks.validity").joinpath(AUDIT_FILE)
    if not path.is_file():
        return None
    return json.loads(path.read_text("utf-8"))
