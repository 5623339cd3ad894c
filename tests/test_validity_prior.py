"""The option-text prior (`vlm4d_tasks.validity.prior`) on hand-made pools whose expected
scores and letters are worked out in the comments. Each question has its own clip unless a
test says otherwise (the prior leaves out every question on the clip, not only the question)."""

from __future__ import annotations

import numpy as np
import pytest

from vlm4d_tasks.data.schema import LETTERS, Record
from vlm4d_tasks.validity.prior import (
    best_letter,
    option_key,
    prior_accuracy,
    prior_choices,
    prior_scores,
)


def make(
    uid: str,
    options: list[str],
    answer: str,
    category: str = "translational",
    video: str | None = None,
) -> Record:
    return Record(
        uid=f"real/{uid}",
        question_id=uid,
        subset="real",
        source="davis",
        perspective="exocentric",
        category=category,
        question="What direction is the thing moving towards?",
        options=options,
        answer=answer,
        answer_text=options[LETTERS.index(answer)] if answer else "upwards",
        video=video or f"videos_real/davis/{uid}.mp4",
        flags=[],
    )


# Pool A. Offered (questions): left 5, right 5, not moving 3 (q1 q2 q4), up 3 (q2 q3 q5),
# down 3 (q3 q4 q5), "no cat there" 1 (q1). Right answers: left 3 (q1 q2 q3), right 1 (q4),
# up 1 (q5).
POOL_A = [
    make("q1", ["left", "right", "not moving", "no cat there"], "A"),
    make("q2", ["right", "left", "not moving", "up"], "B"),
    make("q3", ["left", "right", "up", "down"], "A"),
    make("q4", ["not moving", "right", "left", "down"], "B"),
    make("q5", ["up", "down", "right", "left"], "A"),
]

# Pool B: a text seen once and right once ("forward") against one right 3 times in 4 ("left").
# Offered: left 5, right 5, forward 2 (p1 p2), up 4, down 4. Right: forward 1 (p1), left 4.
POOL_B = [
    make("p1", ["up", "forward", "right", "left"], "B"),
    make("p2", ["forward", "down", "left", "right"], "C"),
    make("p3", ["right", "left", "up", "down"], "B"),
    make("p4", ["down", "up", "right", "left"], "D"),
    make("p5", ["left", "down", "up", "right"], "A"),
]


def test_rate_scores_are_leave_one_out_counts_of_the_other_questions():
    scores = prior_scores(POOL_A, variant="rate")
    # q1 (answer left): left (3-1)/(5-1); right 1/4; not moving 0/2; "no cat there" is offered
    # by no other question: 0.
    assert scores["real/q1"] == [0.5, 0.25, 0.0, 0.0]
    # q4 (answer right): its own right answer does not count: right (1-1)/(5-1) = 0.
    assert scores["real/q4"] == [0.0, 0.0, 0.75, 0.0]
    # q5 (answer up): up (1-1)/(3-1) = 0; down 0/2; right 1/4; left 3/4.
    assert scores["real/q5"] == [0.0, 0.0, 0.25, 0.75]


def test_a_question_never_counts_its_own_answer():
    # q1 now answered by its unique text: under "rate" that text still scores 0 (no other
    # question offers it), so the prior cannot "know" it; "smoothed" gives it chance, 1/4.
    pool = [make("q1", ["left", "right", "not moving", "no cat there"], "D"), *POOL_A[1:]]
    assert prior_scores(pool, variant="rate")["real/q1"][3] == 0.0
    assert prior_scores(pool, variant="smoothed")["real/q1"][3] == 0.25
    # left is now right in q2 q3 only: for q1, 2 of the 4 other offers.
    assert prior_scores(pool, variant="rate")["real/q1"][0] == 0.5
    assert prior_choices(pool)["real/q1"] == "A"  # so the prior misses q1


def test_questions_on_the_same_clip_are_left_out_together():
    # s1 and s2 are asked about one clip and both answered "left"; o1-o3 have clips of their own
    # (answers right, left, right). For s1, leaving out only s1 would count s2: left right in 2
    # of 4 offers (s2, o2), right in 2 of 4 (o1, o3): a tie, so A, right. Leaving out the clip
    # counts o1-o3 only: left 1/3, right 2/3, up / down 0/3: B, wrong.
    clip = "videos_real/ego4d/shared.mp4"
    options = ["left", "right", "up", "down"]
    pool = [
        make("s1", options, "A", video=clip),
        make("s2", options, "A", video=clip),
        make("o1", options, "B"),
        make("o2", options, "A"),
        make("o3", options, "B"),
    ]
    assert prior_scores(pool)["real/s1"] == pytest.approx([1 / 3, 2 / 3, 0.0, 0.0])
    assert prior_scores(pool, variant="smoothed")["real/s2"] == pytest.approx(
        [1.25 / 4, 2.25 / 4, 0.25 / 4, 0.25 / 4]
    )
    # o2 (own clip) still counts both s1 and s2: left 2/4, right 2/4 -> A (right).
    assert prior_scores(pool)["real/o2"] == pytest.approx([0.5, 0.5, 0.0, 0.0])
    assert prior_choices(pool) == {
        "real/s1": "B", "real/s2": "B", "real/o1": "A", "real/o2": "A", "real/o3": "A",
    }  # fmt: skip
    # right: o2 only (per question it would be s1, s2 and o2: 3/5)
    assert prior_accuracy(pool) == pytest.approx(1 / 5)


def test_choices_and_the_tie_rule():
    # q2: left (B) 2/4 and up (D) 1/2 tie at 0.5 -> B, the earlier letter.
    # q3: left (A) 2/4 and up (C) 1/2 tie at 0.5 -> A.
    # q4: left (C) 3/4 -> C (wrong: right). q5: left (D) 3/4 -> D (wrong: up).
    choices = prior_choices(POOL_A, variant="rate")
    assert choices == {
        "real/q1": "A",
        "real/q2": "B",
        "real/q3": "A",
        "real/q4": "C",
        "real/q5": "D",
    }
    assert prior_accuracy(POOL_A, variant="rate") == pytest.approx(3 / 5)


def test_best_letter_takes_the_earliest_of_tied_maxima():
    assert best_letter([0.1, 0.5, 0.2, 0.5]) == "B"
    assert best_letter([0.0, 0.0, 0.0, 0.0]) == "A"
    assert best_letter([0.2, 0.2, 0.3, 0.3]) == "C"
    assert best_letter([0.0, 0.0, 0.0, 1e-12]) == "D"


def test_smoothed_variant_shrinks_rare_texts_toward_chance():
    rate = prior_scores(POOL_B, variant="rate")
    smoothed = prior_scores(POOL_B, variant="smoothed")
    # p2 (answer left, C): forward is offered by p1 only and right there: rate 1/1 = 1 beats
    # left's 3/4, so "rate" picks A (wrong). Smoothed: forward (1 + 1/4) / (1 + 1) = 0.625,
    # left (3 + 1/4) / (4 + 1) = 0.65: picks C (right).
    assert rate["real/p2"] == [1.0, 0.0, 0.75, 0.0]
    assert smoothed["real/p2"] == pytest.approx([0.625, 0.25 / 4, 0.65, 0.25 / 5])
    # p1 (answer forward, B): forward's only other offer (p2) was wrong: rate 0/1, smoothed
    # 0.25/2; left is right in all 4 others: rate 1, smoothed 4.25/5 = 0.85 -> D (wrong) in both.
    assert smoothed["real/p1"] == pytest.approx([0.25 / 4, 0.125, 0.25 / 5, 0.85])
    assert prior_choices(POOL_B, variant="rate") == {
        "real/p1": "D",
        "real/p2": "A",
        "real/p3": "B",
        "real/p4": "D",
        "real/p5": "A",
    }
    assert prior_choices(POOL_B, variant="smoothed")["real/p2"] == "C"
    assert prior_accuracy(POOL_B, variant="rate") == pytest.approx(3 / 5)
    assert prior_accuracy(POOL_B, variant="smoothed") == pytest.approx(4 / 5)


def test_option_key_pools_case_space_and_a_final_period():
    assert option_key(" To the  Right. ") == option_key("to the right") == "to the right"
    assert option_key(3) == "3"
    pool = [
        make("a", ["Left.", "right", "up", "down"], "A"),
        make("b", ["left", "right", "up", "down"], "A"),
        make("c", ["LEFT", "right", "up", "down"], "B"),
    ]
    # For c: "left" is right in both other questions.
    assert prior_scores(pool)["real/c"][0] == 1.0


def test_unanswerable_question_is_offered_but_never_right_and_counts_as_wrong():
    pool = [*POOL_A, make("x", ["left", "right", "up", "down"], "")]
    # q4 sees left offered 5 times by the others (x included), right in 3.
    assert prior_scores(pool)["real/q4"][2] == pytest.approx(3 / 5)
    assert prior_accuracy(pool) == pytest.approx(3 / 6)


def test_prior_scores_equal_a_brute_force_leave_one_video_out_count():
    rng = np.random.default_rng(7)
    texts = ["left", "right", "up", "down", "not moving", "away", "towards", "0", "1", "2"]
    pool = []
    for i in range(60):  # 60 questions on 24 clips, 1 to 5 questions a clip
        options = [str(t) for t in rng.choice(texts, size=4, replace=False)]
        clip = f"videos_real/davis/c{int(rng.integers(25))}.mp4"
        pool.append(make(f"r{i}", options, LETTERS[int(rng.integers(4))], video=clip))
    for variant in ("rate", "smoothed"):
        scores = prior_scores(pool, variant=variant)
        for record in pool:
            expected = []
            for text in record.options:
                others = [r for r in pool if r.video != record.video]
                offered = sum(text in r.options for r in others)
                right = sum(r.options[LETTERS.index(r.answer)] == text for r in others)
                if variant == "rate":
                    expected.append(right / offered if offered else 0.0)
                else:
                    expected.append((right + 0.25) / (offered + 1))
            assert scores[record.uid] == pytest.approx(expected), record.uid


def test_result_does_not_depend_on_record_order():
    forward = prior_scores(POOL_A + POOL_B, variant="smoothed")
    backward = prior_scores(list(reversed(POOL_A + POOL_B)), variant="smoothed")
    assert forward == backward
    assert prior_choices(POOL_A) == prior_choices(list(reversed(POOL_A)))


def test_bad_input_names_record_and_field():
    three = make("bad", ["left", "right", "up", "down"], "A")
    three = Record(**{**three.to_dict(), "options": ["left", "right", "up"]})
    with pytest.raises(ValueError, match=r"record real/bad: field 'options'"):
        prior_scores([three])
    with pytest.raises(ValueError, match=r"record real/q1: field 'uid'"):
        prior_scores([POOL_A[0], POOL_A[0]])
    lettered = Record(**{**POOL_A[0].to_dict(), "answer": "E"})
    with pytest.raises(ValueError, match=r"record real/q1: field 'answer'"):
        prior_scores([lettered])
    with pytest.raises(ValueError, match="unknown prior variant"):
        prior_scores(POOL_A, variant="mean")
    assert prior_accuracy([]) is None
