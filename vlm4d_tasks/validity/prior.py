"""The option-text prior: a blind baseline that never sees the video or the question.

Each option is scored by how often its text is the right answer when it is offered, estimated
from the questions on the *other* clips of the pool (leave-one-video-out), and the baseline
picks the option with the highest score. It measures how much of a VLM4D score the answer
distribution alone can explain (e.g. a synthetic "left" that is right about twice as often as "right"), in the spirit
of the blind baselines of the Test-set Stress-Test (Brown et al., "Benchmark designers should
'train on the test set' to expose exploitable non-visual shortcuts", arXiv 2511.04655).

Leave-one-video-out, not leave-one-question-out: the questions on one clip often share option
texts and answers, so a question's siblings would tell the prior part of its own answer.
Counting them lifted the prior on the release's real subset from 43.1% to 43.7% and overall
from 47.7% to 48.1% (`bench/debias.py`); the folds of the text-only predictor (`blind.py`) are
grouped by video for the same reason. A clip is a record's `video`; a record without one is
its own clip.

Two estimates of the score of option text `t` for question `q` (counts over the pool without
the questions on `q`'s clip: `offered` = questions that offer `t`, `right` = those whose answer
is `t`):

* ``"rate"``: ``right / offered``, and 0 when no other question offers `t` (nothing is known
  about the text, so it scores below any text that was ever right);
* ``"smoothed"``: ``(right + 1/4) / (offered + 1)``, additive smoothing toward chance (one
  pseudo-question answered at the 1-in-4 rate of a four-way question), so a text seen once
  and right once (0.625; "rate" 1) no longer outranks one right 3 times in 4 (0.65; "rate"
  0.75), and an unseen text scores 1/4, not 0.

The pool is exactly the records given: pass one subset to estimate within it, or all records.
Option texts are compared by `option_key` (the project's `same_text_key`, without a trailing
period), and a text offered twice by one question (a defective entry) counts once for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from vlm4d_tasks.data.schema import LETTERS, Record, same_text_key

VARIANTS: tuple[str, ...] = ("rate", "smoothed")
# The pseudo-count of the "smoothed" variant: one extra offer, right at the four-way chance rate.
SMOOTHING_RIGHT = 0.25
SMOOTHING_OFFERED = 1.0


def option_key(text: object) -> str:
    """The form in which option texts are pooled: `same_text_key` (whitespace collapsed, case
    folded) without a trailing period, so "Left." and "left" are one text."""
    return same_text_key(text).rstrip(".").rstrip()


@dataclass(frozen=True)
class QuestionKeys:
    """A question's option keys in letter order and the key of its right option (None when
    its answer names no option: such a question is offered but never right)."""

    uid: str
    keys: tuple[str, ...]
    right: str | None

    @property
    def offered(self) -> frozenset[str]:
        return frozenset(self.keys)


def question_keys(record: Record) -> QuestionKeys:
    """The option keys of `record`; raises `ValueError` naming the record and field when the
    record is not a four-way question."""
    options = record.options
    if not isinstance(options, (list, tuple)) or len(options) != len(LETTERS):
        raise ValueError(
            f"record {record.uid}: field 'options': expected {len(LETTERS)} options, "
            f"got {options!r}"
        )
    keys = tuple(option_key(o) for o in options)
    if record.answer == "":
        right = None  # flagged `answer_matches_no_option` by the loader
    elif record.answer in LETTERS:
        right = keys[LETTERS.index(record.answer)]
    else:
        raise ValueError(
            f"record {record.uid}: field 'answer': expected a letter A-D or '', "
            f"got {record.answer!r}"
        )
    return QuestionKeys(record.uid, keys, right)


def pool_keys(records: Iterable[Record]) -> list[QuestionKeys]:
    """`question_keys` of every record; raises when a uid repeats (leave-one-out needs to know
    which question is "this one")."""
    out, seen = [], set()
    for record in records:
        if record.uid in seen:
            raise ValueError(f"record {record.uid}: field 'uid': repeats in the pool")
        seen.add(record.uid)
        out.append(question_keys(record))
    return out


@dataclass(frozen=True)
class OptionCounts:
    """How many questions of a pool offer each option key, and how many have it as answer."""

    offered: Mapping[str, int]
    right: Mapping[str, int]

    def score(
        self,
        key: str,
        variant: str,
        *,
        own: QuestionKeys | None = None,
        without: OptionCounts | None = None,
    ) -> float:
        """The score of `key` from these counts, without `own`'s contribution when `own` is a
        question of the pool (leave-one-out) and without `without`'s, the counts of a part of
        the pool (leave-one-video-out: the questions on one clip)."""
        offered = self.offered.get(key, 0)
        right = self.right.get(key, 0)
        if own is not None:
            offered -= key in own.offered
            right -= key == own.right
        if without is not None:
            offered -= without.offered.get(key, 0)
            right -= without.right.get(key, 0)
        return score_from_counts(right, offered, variant)


def option_counts(questions: Iterable[QuestionKeys]) -> OptionCounts:
    offered: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for q in questions:
        offered.update(q.offered)
        if q.right is not None:
            right[q.right] += 1
    return OptionCounts(dict(offered), dict(right))


def check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"unknown prior variant {variant!r}; expected one of {VARIANTS}")
    return variant


def score_from_counts(right: int, offered: int, variant: str) -> float:
    if variant == "rate":
        return right / offered if offered > 0 else 0.0
    if variant == "smoothed":
        return (right + SMOOTHING_RIGHT) / (offered + SMOOTHING_OFFERED)
    raise ValueError(f"unknown prior variant {variant!r}; expected one of {VARIANTS}")


def clip_key(record: Record) -> str:
    """The clip a question is asked about (its `video`; a record without one is its own clip)."""
    return record.video if record.video else f"uid:{record.uid}"


def prior_scores(records: Sequence[Record], *, variant: str = "rate") -> dict[str, list[float]]:
    """uid -> the score of each option (A-D order), from the questions on the other clips.

    O(N): the pool and each clip are counted once; each question subtracts its clip's counts.
    """
    check_variant(variant)
    questions = pool_keys(records)
    counts = option_counts(questions)
    clips: dict[str, list[QuestionKeys]] = {}
    for record, q in zip(records, questions):
        clips.setdefault(clip_key(record), []).append(q)
    held_out = {clip: option_counts(group) for clip, group in clips.items()}
    return {
        q.uid: [counts.score(k, variant, without=held_out[clip_key(record)]) for k in q.keys]
        for record, q in zip(records, questions)
    }


def best_letter(scores: Sequence[float]) -> str:
    """The letter of the highest score; a tie goes to the earliest letter. The letter order
    is the question's own (as released), the same in every process, while any set- or
    dict-based choice could follow the hash seed; and the release's answer letters are close
    to uniform (A-D: 447/435/457/477), so favouring early letters does not exploit a skew."""
    best = 0
    for i, value in enumerate(scores):
        if value > scores[best]:
            best = i
    return LETTERS[best]


def prior_choices(records: Sequence[Record], *, variant: str = "rate") -> dict[str, str]:
    """uid -> the letter the prior picks (ties: the earliest letter, see `best_letter`)."""
    return {uid: best_letter(s) for uid, s in prior_scores(records, variant=variant).items()}


def accuracy(records: Sequence[Record], choices: Mapping[str, str]) -> float | None:
    """Share of `records` whose answer is `choices[uid]` (None for no records). A question
    whose answer names no option cannot be right: it stays in the denominator, as in the
    paper's numbers."""
    if not records:
        return None
    hits = sum(1 for r in records if r.answer != "" and choices[r.uid] == r.answer)
    return hits / len(records)


def prior_accuracy(records: Sequence[Record], *, variant: str = "rate") -> float | None:
    """The prior baseline's accuracy on a pool (the pool is also where it is estimated)."""
    return accuracy(records, prior_choices(records, variant=variant))
