"""Cross-validated blind predictors: how predictable is each answer from the text alone?

The Test-set Stress-Test (TsT; Brown et al., "Benchmark designers should 'train on the test
set' to expose exploitable non-visual shortcuts", arXiv 2511.04655; code:
github.com/vision-x-nyu/test-set-training) trains a model on k-1 folds of the *test set's*
non-visual inputs and scores the held-out fold: the probability it gives the right option is
that question's bias score, s(x). A benchmark whose questions can be answered that way
measures text shortcuts, not vision; VSI-Bench-Debiased prunes the questions with the highest
s(x) (`vlm4d_tasks.validity.debias`).

Here the blind model is a logistic regression over (question, option) pairs, trained with
scikit-learn (no weights to download), on features a model could read without the video:

* the option's text (its `option_key`), its template (the option with the words it shares with
  the question replaced by `<q>`: "there are no buses in the video" and "no wheelchair there"
  become "there are no <q> in the video" and "no <q> there", so the false-positive options of
  different questions are one feature) and its words;
* question words crossed with the option template ("turning" x "left"), and the question's
  opening words crossed with the template (the question type);
* the option's letter;
* the option-text prior (`prior.py`, "smoothed") of its text and of its template, counted on
  the training folds only, leave-one-out for the training questions themselves (so that a
  text seen once is not a free label in training and an unseen one at test).

A second model family, for checks that should not rest on the one the pruning used
(`debias.residual_bias`): ``model="naive_bayes"``, a Bernoulli naive Bayes over the same text
indicators (a generative model with no prior columns and no shared weights with the logistic
one). A question's four pair probabilities are normalised to sum to 1. Folds are grouped by video, so
that no clip has questions on both sides, and assigned from a seeded permutation of the
sorted video names; every result is averaged over the seeds' fold splits. Same records (in any
order) and seeds give the same numbers in every process: nothing depends on dict, set or hash
order (feature columns follow the sorted feature strings; questions are taken in uid order).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vlm4d_tasks.data.schema import LETTERS, Record
from vlm4d_tasks.validity.prior import (
    QuestionKeys,
    best_letter,
    option_counts,
    pool_keys,
)

DEFAULT_FOLDS = 5
DEFAULT_SEEDS: tuple[int, ...] = (0, 1, 2)
MODELS: tuple[str, ...] = ("logistic", "naive_bayes")
# Inverse regularisation strength of the logistic regression.
C = 1.0

_WORD = re.compile(r"[0-9a-z]+(?:-[0-9a-z]+)*")
_QUESTION_TOKEN = "<q>"


def _stem(word: str) -> str:
    # Crude plural folding, enough to see "buses" in "bus" and "dogs" in "dog".
    for suffix in ("es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


@dataclass(frozen=True)
class _Pair:
    """The text features of one (question, option) pair; fold-independent, computed once."""

    key: str
    template: str
    strings: tuple[str, ...]


def _template(option: str, question_stems: frozenset[str]) -> str:
    words = _words(option)
    return " ".join(_QUESTION_TOKEN if _stem(w) in question_stems else w for w in words)


def _pairs(record: Record, keys: QuestionKeys) -> list[_Pair]:
    q_words = _words(record.question)
    q_stems = frozenset(_stem(w) for w in q_words if len(w) > 2)
    opening = " ".join(q_words[:3])
    pairs = []
    for letter, key in zip(LETTERS, keys.keys):
        template = _template(key, q_stems)
        strings = [f"k={key}", f"t={template}", f"p={letter}", f"o={opening}|{template}"]
        strings += [f"w={w}" for w in template.split()]
        strings += [f"x={w}|{template}" for w in sorted(set(q_words))]
        pairs.append(_Pair(key, template, tuple(strings)))
    return pairs


@dataclass(frozen=True)
class _Prepared:
    records: tuple[Record, ...]
    keys: tuple[QuestionKeys, ...]
    templates: tuple[QuestionKeys, ...]  # the same questions keyed by option template
    features: object  # scipy CSR matrix of text indicators, 4 rows per question
    labels: np.ndarray  # 4 per question, 1 for the right option
    answered: np.ndarray  # per question: its answer names an option
    videos: tuple[str, ...]


def _indicator_matrix(rows: Sequence[Sequence[str]]):
    """0/1 CSR matrix over the sorted vocabulary of feature strings: the same columns in
    every process (no hashing), and no column that no pair uses (which keeps liblinear fast)."""
    from scipy.sparse import csr_matrix

    vocabulary = {s: i for i, s in enumerate(sorted({s for row in rows for s in row}))}
    indices, indptr = [], [0]
    for row in rows:
        indices += sorted({vocabulary[s] for s in row})
        indptr.append(len(indices))
    data = np.ones(len(indices))
    return csr_matrix((data, indices, indptr), shape=(len(rows), len(vocabulary)))


def _prepare(records: Sequence[Record]) -> _Prepared:
    ordered = tuple(sorted(records, key=lambda r: r.uid))
    keys = tuple(pool_keys(ordered))
    strings, templates, labels = [], [], []
    for record, q in zip(ordered, keys):
        pairs = _pairs(record, q)
        strings += [p.strings for p in pairs]
        right = None if q.right is None else pairs[q.keys.index(q.right)].template
        templates.append(QuestionKeys(q.uid, tuple(p.template for p in pairs), right))
        labels += [int(record.answer == letter) for letter in LETTERS]
    for record in ordered:
        if not record.video:
            raise ValueError(f"record {record.uid}: field 'video': empty (folds group by video)")
    return _Prepared(
        records=ordered,
        keys=keys,
        templates=tuple(templates),
        features=_indicator_matrix(strings),
        labels=np.asarray(labels, dtype=np.int8),
        answered=np.asarray([q.right is not None for q in keys]),
        videos=tuple(r.video for r in ordered),
    )


def _require_sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ImportError(
            "the blind predictor needs scikit-learn (a requirement of vlm4d-tasks) and it is not "
            "importable in this environment; fix: pip install 'scikit-learn>=1.3,<2'"
        ) from None


def fold_assignment(videos: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """Fold of each question, grouped by video: the sorted video names in a seeded random
    order, each given to the fold with the fewest questions so far (ties: lowest fold)."""
    names = sorted(set(videos))
    if len(names) < folds:
        raise ValueError(f"{folds} folds need at least {folds} videos, got {len(names)}")
    sizes: dict[str, int] = {}
    for v in videos:
        sizes[v] = sizes.get(v, 0) + 1
    order = np.random.default_rng(seed).permutation(len(names))
    load = [0] * folds
    fold_of = {}
    for i in order:
        target = min(range(folds), key=lambda f: (load[f], f))
        fold_of[names[i]] = target
        load[target] += sizes[names[i]]
    return np.asarray([fold_of[v] for v in videos])


def _prior_columns(
    train: Sequence[QuestionKeys], rows: Sequence[QuestionKeys], *, loo: bool
) -> np.ndarray:
    counts = option_counts(train)
    return np.asarray(
        [counts.score(k, "smoothed", own=q if loo else None) for q in rows for k in q.keys]
    )


def _fold_probabilities(prep: _Prepared, test: np.ndarray, model: str = "logistic") -> np.ndarray:
    """Normalised option probabilities (n_test x 4) from a model fit on the other questions."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegression

    train = np.flatnonzero(~test & prep.answered)
    held = np.flatnonzero(test)
    train_rows = (train[:, None] * 4 + np.arange(4)).ravel()
    held_rows = (held[:, None] * 4 + np.arange(4)).ravel()
    if model == "naive_bayes":
        from sklearn.naive_bayes import BernoulliNB

        nb = BernoulliNB(alpha=1.0)
        nb.fit(prep.features[train_rows], prep.labels[train_rows])
        p = nb.predict_proba(prep.features[held_rows])[:, 1].reshape(-1, 4)
        return p / p.sum(axis=1, keepdims=True)

    def dense(idx: np.ndarray, loo: bool) -> csr_matrix:
        cols = []
        for table in (prep.keys, prep.templates):
            pool = [table[i] for i in train]
            cols.append(_prior_columns(pool, [table[i] for i in idx], loo=loo))
        return csr_matrix(np.column_stack(cols))

    x_train = hstack([prep.features[train_rows], dense(train, True)], format="csr")
    x_held = hstack([prep.features[held_rows], dense(held, False)], format="csr")
    # The dual coordinate-descent solver: with more feature columns than training pairs it
    # reaches the same optimum 5-40x faster than the primal one (measured on the release), and
    # `random_state` fixes its coordinate order.
    model = LogisticRegression(C=C, solver="liblinear", dual=True, max_iter=1000, random_state=0)
    model.fit(x_train, prep.labels[train_rows])
    p = model.predict_proba(x_held)[:, 1].reshape(-1, 4)
    return p / p.sum(axis=1, keepdims=True)


def blind_probabilities(
    records: Sequence[Record],
    *,
    folds: int = DEFAULT_FOLDS,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    model: str = "logistic",
) -> dict[str, list[float]]:
    """uid -> the cross-validated probability of each option (A-D), averaged over the seeds'
    fold splits; every question is scored by models that never saw it or its video. `model`:
    one of `MODELS` (the module docstring)."""
    if not seeds:
        raise ValueError("blind_probabilities needs at least one seed")
    if model not in MODELS:
        raise ValueError(f"model: one of {', '.join(MODELS)}, got {model!r}")
    _require_sklearn()
    prep = _prepare(records)
    total = np.zeros((len(prep.records), 4))
    for seed in seeds:
        assignment = fold_assignment(prep.videos, folds, seed)
        for fold in range(folds):
            test = assignment == fold
            total[test] += _fold_probabilities(prep, test, model)
    mean = total / len(seeds)
    return {r.uid: [float(v) for v in row] for r, row in zip(prep.records, mean)}


def bias_scores_from(
    records: Sequence[Record], probabilities: dict[str, list[float]]
) -> dict[str, float]:
    """uid -> the probability given to the right option (0 when the answer names no option)."""
    return {
        r.uid: probabilities[r.uid][LETTERS.index(r.answer)] if r.answer else 0.0 for r in records
    }


def bias_scores(
    records: Sequence[Record],
    *,
    folds: int = DEFAULT_FOLDS,
    seeds: Sequence[int] = DEFAULT_SEEDS,
) -> dict[str, float]:
    """uid -> s(x): the cross-validated blind probability of the right option (chance: 0.25)."""
    return bias_scores_from(records, blind_probabilities(records, folds=folds, seeds=seeds))


def blind_predictions(
    records: Sequence[Record],
    *,
    folds: int = DEFAULT_FOLDS,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    model: str = "logistic",
) -> dict[str, str]:
    """uid -> the letter the blind predictor picks (ties: the earliest letter)."""
    probabilities = blind_probabilities(records, folds=folds, seeds=seeds, model=model)
    return {uid: best_letter(p) for uid, p in probabilities.items()}
