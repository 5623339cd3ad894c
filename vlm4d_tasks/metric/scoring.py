"""VLM4D accuracy from verdicts: per-run scores, breakdowns, the paper's table, bootstrap CIs.

Pure functions over `Record`s and `Verdict`s, shared by `vlm4d score` and the lmms-eval tasks.
The metric follows the paper (VLM4D, ICCV 2025, Sec. 4): accuracy is the share of questions
whose extracted option is the ground truth; a response that commits to no option ("No Valid
Answer") counts as wrong. An answer the LLM judge could not decide (UNRESOLVED, after its
retries) is neither right nor wrong: it is left out of the denominator and reported with its
id, cause and reason. A question whose ground truth matches none of its options (a defect
of the data, e.g. a response file whose `answer` text is none of its `choices`) cannot be
answered right: it stays in the denominator and counts as wrong, as it did in the paper's
numbers (its judge compared the response with that text), and it is counted and listed
(`ground_truth_unmatched`), never silently. The paper's table splits real questions by perspective (egocentric / exocentric) and
synthetic ones into directional and false-positive questions, and its overall column is over
all questions of both subsets (question-weighted, not the mean of the two subset scores).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vlm4d_tasks.data.schema import LETTERS, Category, Perspective, Record, Subset, same_text_key
from vlm4d_tasks.metric.stats import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    bootstrap_ci,
    chance_corrected,
)


class VerdictStatus(str, enum.Enum):
    ANSWERED = "answered"  # an option was chosen (right or wrong)
    NO_VALID_ANSWER = "no_valid_answer"  # no option chosen: counts as wrong
    UNRESOLVED = "unresolved"  # the judge failed: excluded from the accuracy, listed


@dataclass(frozen=True)
class Verdict:
    """Which option a response chose, and who decided (e.g. "rule:boxed", "judge:o4-mini").

    For an UNRESOLVED verdict `evidence` is the reason and `cause` its kind ("deadline
    exceeded", "HTTP 503", "circuit open", ...; see `vlm4d_tasks.metric.judge`).
    """

    uid: str
    letter: str | None
    status: VerdictStatus
    decided_by: str
    evidence: str = ""
    cause: str = ""

    def __post_init__(self) -> None:
        status = VerdictStatus(self.status)
        object.__setattr__(self, "status", status)
        if self.letter is not None and self.letter not in LETTERS:
            raise ValueError(f"verdict {self.uid}: field 'letter': {self.letter!r} is not A-D")
        if (self.letter is None) != (status is not VerdictStatus.ANSWERED):
            raise ValueError(f"verdict {self.uid}: letter {self.letter!r} with status {status}")

    @classmethod
    def chosen(cls, uid: str, letter: str | None, decided_by: str, evidence: str = "") -> Verdict:
        status = VerdictStatus.NO_VALID_ANSWER if letter is None else VerdictStatus.ANSWERED
        return cls(uid, letter, status, decided_by, evidence)

    @classmethod
    def unresolved(
        cls, uid: str, decided_by: str, evidence: str = "", *, cause: str = "unresolved"
    ) -> Verdict:
        return cls(uid, None, VerdictStatus.UNRESOLVED, decided_by, evidence, cause or "unresolved")


def ground_truth_matches(record: Record) -> bool:
    """Whether the record's ground truth names one of its options (the loaders set `answer`
    to "" when the answer text matches none)."""
    return record.answer in LETTERS or any(
        same_text_key(option) == same_text_key(record.answer_text) for option in record.options
    )


def is_correct(verdict: Verdict, record: Record) -> bool | None:
    """True/False, or None when unresolved.

    The chosen option is right when it is the record's answer letter, or when its text equals
    the ground-truth text (the official ground truth is a text; a defective question whose
    answer text equals two options accepts both, as a judge reading the texts would).
    """
    if verdict.status is VerdictStatus.UNRESOLVED:
        return None
    if verdict.letter is None:
        return False
    if verdict.letter == record.answer:
        return True
    index = LETTERS.index(verdict.letter)
    return index < len(record.options) and same_text_key(record.options[index]) == same_text_key(
        record.answer_text
    )


@dataclass(frozen=True)
class ScoredItem:
    record: Record
    verdict: Verdict
    correct: bool | None  # None = unresolved
    reference: bool | None = None  # a human-verified label, when the input carries one


@dataclass(frozen=True)
class Accuracy:
    """Accuracy of a group of questions; `accuracy` is over `scored` (= n - unresolved), `ci95`
    is clustered by video, `chance_corrected` is (accuracy - 1/4) / (3/4)."""

    n: int
    scored: int
    correct: int
    accuracy: float | None
    ci95: tuple[float, float] | None
    no_valid_answer: int
    unresolved: int
    videos: int = 0  # clusters of the interval: the distinct videos of the scored questions

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "scored": self.scored,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "chance_corrected": chance_corrected(self.accuracy),
            "videos": self.videos,
            "no_valid_answer": self.no_valid_answer,
            "unresolved": self.unresolved,
        }


def summarize(
    items: Sequence[ScoredItem], *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> Accuracy:
    """Accuracy of `items`, with its 95% interval clustered by video (`bootstrap_ci`)."""
    resolved = [item for item in items if item.correct is not None]
    correct = sum(item.correct for item in resolved)
    accuracy = round(correct / len(resolved), 6) if resolved else None
    ci = bootstrap_ci(
        [item.correct for item in resolved],
        [item.record.video for item in resolved],
        n_resamples=n_resamples, seed=seed,
    )  # fmt: skip
    return Accuracy(
        n=len(items),
        scored=len(resolved),
        correct=correct,
        accuracy=accuracy,
        ci95=ci,
        no_valid_answer=sum(item.verdict.status is VerdictStatus.NO_VALID_ANSWER for item in items),
        unresolved=len(items) - len(resolved),
        videos=len({item.record.video for item in resolved}),
    )


def group_items(
    items: Iterable[ScoredItem], key: Callable[[ScoredItem], str | None]
) -> dict[str, list[ScoredItem]]:
    """Items grouped on the exact value of `key`, sorted by key; None keys are left out.

    Only values that occur form groups, so an absent category never shows up as 0.0.
    """
    groups: dict[str, list[ScoredItem]] = {}
    for item in items:
        value = key(item)
        if value is not None:
            groups.setdefault(value, []).append(item)
    return dict(sorted(groups.items()))


def _perspective(item: ScoredItem) -> str | None:
    return Perspective(item.record.perspective).value if item.record.perspective else None


def _category(item: ScoredItem) -> str:
    # Category(...) raises on an unknown value instead of forming a stray group. A DSR-Bench
    # question's category is its DSR type, checked (and flagged if unknown) where it was read.
    from vlm4d_tasks.data.dsr_bench import SUBSET as DSR_BENCH

    if item.record.subset == DSR_BENCH:
        return item.record.category
    return Category(item.record.category).value


BREAKDOWNS: dict[str, Callable[[ScoredItem], str | None]] = {
    "by_perspective": _perspective,
    "by_category": _category,
}


def join(
    verdicts: Sequence[Verdict],
    records: Sequence[Record],
    reference: Mapping[str, bool] | None = None,
) -> list[ScoredItem]:
    """Pair each record with its verdict (by uid); every record needs exactly one verdict."""
    by_uid: dict[str, Verdict] = {}
    for verdict in verdicts:
        if verdict.uid in by_uid:
            raise ValueError(f"two verdicts for record {verdict.uid}")
        by_uid[verdict.uid] = verdict
    known = {record.uid for record in records}
    extra = sorted(set(by_uid) - known)
    if extra:
        raise ValueError(f"verdicts for unknown records: {extra[:5]}")
    items = []
    for record in records:
        if record.uid not in by_uid:
            raise ValueError(f"record {record.uid}: no verdict")
        verdict = by_uid[record.uid]
        ref = None if reference is None else reference.get(record.uid)
        items.append(ScoredItem(record, verdict, is_correct(verdict, record), ref))
    return items


def score_items(
    items: Sequence[ScoredItem], *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> dict[str, Any]:
    """Accuracy, breakdowns, no-valid-answer and unresolved counts, and reference agreement."""
    result: dict[str, Any] = summarize(items, n_resamples=n_resamples, seed=seed).to_dict()
    unresolved = [item for item in items if item.verdict.status is VerdictStatus.UNRESOLVED]
    result["unresolved_ids"] = [item.record.uid for item in unresolved]
    result["unresolved_answers"] = [
        {
            "id": item.record.uid,
            "decided_by": item.verdict.decided_by,
            "cause": item.verdict.cause or "unresolved",
            "reason": item.verdict.evidence,
        }
        for item in unresolved
    ]
    # Counted wrong and kept in the denominator (see the module docstring), but listed.
    unmatched = [item.record.uid for item in items if not ground_truth_matches(item.record)]
    result["ground_truth_unmatched"] = len(unmatched)
    result["ground_truth_unmatched_ids"] = unmatched
    for name, key in BREAKDOWNS.items():
        result[name] = {
            value: summarize(group, n_resamples=n_resamples, seed=seed).to_dict()
            for value, group in group_items(items, key).items()
        }
    referenced = [item for item in items if item.reference is not None]
    if referenced:
        result["reference_accuracy"] = round(
            sum(item.reference for item in referenced) / len(referenced), 6
        )
        compared = [item for item in referenced if item.correct is not None]
        agree = [item.correct == item.reference for item in compared]
        result["agreement"] = round(sum(agree) / len(agree), 6) if agree else None
        result["agreement_n"] = len(agree)
        result["disagreement_ids"] = [
            item.record.uid for item, same in zip(compared, agree) if not same
        ]
    return result


def score_records(
    verdicts: Sequence[Verdict],
    records: Sequence[Record],
    *,
    reference: Mapping[str, bool] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Score one run: see `score_items`. `reference` maps uid -> a human-verified label."""
    return score_items(join(verdicts, records, reference), n_resamples=n_resamples, seed=seed)


# The paper's table (VLM4D Table 2): column -> which questions it covers.
PAPER_COLUMNS: dict[str, Callable[[Record], bool]] = {
    "real_egocentric": lambda r: (
        r.subset == Subset.REAL.value and r.perspective == Perspective.EGOCENTRIC.value
    ),
    "real_exocentric": lambda r: (
        r.subset == Subset.REAL.value and r.perspective == Perspective.EXOCENTRIC.value
    ),
    "real": lambda r: r.subset == Subset.REAL.value,
    "synthetic_directional": lambda r: (
        r.subset == Subset.SYNTHETIC.value and r.category != Category.FALSE_POSITIVE.value
    ),
    "synthetic_false_positive": lambda r: (
        r.subset == Subset.SYNTHETIC.value and r.category == Category.FALSE_POSITIVE.value
    ),
    "synthetic": lambda r: r.subset == Subset.SYNTHETIC.value,
    "overall": lambda r: True,
}


@dataclass(frozen=True)
class PaperRow:
    """One model's line of the paper's table; columns without questions are absent."""

    model: str
    columns: dict[str, Accuracy] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "columns": {name: acc.to_dict() for name, acc in self.columns.items()},
        }


def paper_row(
    model: str,
    items: Sequence[ScoredItem],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> PaperRow:
    columns = {}
    for name, covers in PAPER_COLUMNS.items():
        chosen = [item for item in items if covers(item.record)]
        if chosen:
            columns[name] = summarize(chosen, n_resamples=n_resamples, seed=seed)
    return PaperRow(model, columns)


def paper_table(
    models: Mapping[str, Sequence[ScoredItem]],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> list[PaperRow]:
    """The paper's layout, one row per model, in the mapping's order.

    Each model's items are the real and synthetic questions it answered (from one or two runs);
    "overall" pools all of them, so it weighs each question equally.
    """
    return [
        paper_row(model, items, n_resamples=n_resamples, seed=seed)
        for model, items in models.items()
    ]
