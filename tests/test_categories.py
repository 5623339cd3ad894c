"""One test per category rule, on questions written in the release's style."""

from __future__ import annotations

import pytest

from vlm4d_tasks.data.categories import RULES, categorize, categorize_with_rule
from vlm4d_tasks.data.schema import Category

MOTION = ["left", "right", "not moving", "there are no cars in the video"]


@pytest.mark.parametrize(
    "question, options, answer",
    [
        ("How many times does the horse jump to the right?", [0, 1, 2, 3], 1),
        ("How many full revolutions does the skater spin clockwise?", [1, 2, 4, 0], 2),
        ("how many people are moving to the left?", ["1", "2", "3", "4"], "2"),
        # "how many" decides even when the options are words
        ("How many steps does the person take?", ["one", "two", "three", "none"], "two"),
        # integer options without "how many"
        ("Count the turns the car makes.", ["0", "1", "2", "3"], "2"),
    ],
)
def test_counting(question, options, answer):
    assert categorize_with_rule(question, options, answer) == (Category.COUNTING, "how_many")


def test_counting_beats_false_positive_and_rotation():
    # a counting question whose answer is zero and that names rotation stays counting
    assert categorize("How many robots are spinning?", [0, 1, 2, 3], 0) is Category.COUNTING


@pytest.mark.parametrize(
    "answer",
    [
        "there are no cars in the video",
        "There is no lizard in the video",
        "no dragon there",
        "No plane",
        "no people are flying in the video",
        "No tape used.",
    ],
)
def test_false_positive(answer):
    options = ["left", "right", "not moving", answer]
    category, rule = categorize_with_rule("Which direction is it moving?", options, answer)
    assert (category, rule) == (Category.FALSE_POSITIVE, "absent_answer")


def test_absent_distractor_is_not_false_positive():
    assert categorize("What direction is the bus moving towards?", MOTION, "left") is (
        Category.TRANSLATIONAL
    )


@pytest.mark.parametrize("answer", ["no rotation", "no turn", "No movement"])
def test_absent_motion_is_not_false_positive(answer):
    assert (
        categorize("Which way does the cook rotate the bowl?", ["a", "b", "c", answer], answer)
        is not Category.FALSE_POSITIVE
    )


@pytest.mark.parametrize(
    "question, answer",
    [
        ("Is the dancer spinning clockwise or counter-clockwise?", "clockwise"),
        ("Is the person spinning clckswise or counter-clockwise?", "not spinning"),  # typo
        ("Is the boat rotating clockwise or counter-clockwise?", "not rotating"),
        ("Is the swan turning to the left or right from its own perspective?", "left"),
        ("Is the car turining to the left or right from its own perspective?", "right"),  # typo
        ("Which direction did the parrot turn from the camera perspective?", "left"),
        ("How is the jet-ski moving in the water?", "counterclockwise"),  # answer is a sense
        ("Does he pan his head to the right more than the left?", "yes"),
        ("Did the gymnast flip forwards or backwards?", "forwards"),
    ],
)
def test_rotational(question, answer):
    options = ["clockwise", "counter-clockwise", answer, "left"]
    assert categorize_with_rule(question, options, answer)[0] is Category.ROTATIONAL


@pytest.mark.parametrize(
    "question, answer",
    [
        ("What direction is the tram moving towards?", "right"),
        ("Is the dog coming closer or moving further away?", "coming closer"),
        ("Is the rollercoaster moving uphill or downhill at the end of the video?", "downhill"),
        ("From the camera perspective, what direction is the surfer moving towards?", "left"),
        ("Is the camel moving forwards or backwards from its own perspective?", "forwards"),
        # "return" contains "turn" but is not a turn
        ("Which direction does the ball return to?", "left"),
    ],
)
def test_translational(question, answer):
    options = ["left", "right", answer, "not moving"]
    assert categorize_with_rule(question, options, answer) == (Category.TRANSLATIONAL, "default")


def test_rules_cover_every_category_and_end_with_default():
    assert {r.category for r in RULES} == set(Category)
    assert RULES[-1].name == "default" and RULES[-1].category is Category.TRANSLATIONAL


def test_one_false_positive_rule_for_both_subsets():
    # An absent object, in the wordings of both subsets.
    for answer in (
        "there are no buses in the video",
        "no dragon there",
        "No plane",
        "There is no cat",
    ):
        assert (
            categorize("What direction is it moving?", ["a", "b", "c", answer], answer)
            == Category.FALSE_POSITIVE
        )
    # An absent motion of an object that is there (real/validation_993's kind) is not one.
    q = "What direction does the cook rotate the bowl?"
    opts = ["clockwise", "counter-clockwise", "no rotation", "there is no bowl"]
    assert categorize(q, opts, "no rotation") == Category.ROTATIONAL
