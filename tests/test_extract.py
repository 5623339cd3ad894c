"""Tests for vlm4d_tasks.metric.extract: every rule, the hard cases, and properties.

All responses here are written for these tests (in the styles models use); none comes from
the judged reference data.
"""

from __future__ import annotations

import random

import pytest

from vlm4d_tasks.metric.extract import LETTERS, NO_ANSWER, Extraction, extract
from vlm4d_tasks.metric.mentions import asks_motion, question_anchor, stem_word

DIRECTION = ["not moving", "left", "right", "no car there"]
CAMERA = [
    "towards the camera",
    "away from the camera",
    "not moving",
    "there are no dogs in the video",
]
SPIN = ["clockwise", "counter-clockwise", "not spinning", "no wheel there"]
COUNT = [3, 0, 2, 1]  # counting questions have integer options
HANDS = ["wave", "hold the cup", "rest on the table", "point"]
PATHS = ["right to left", "left to right", "not moving", "top to bottom"]
UNSURE = ["left", "right", "straight", "not enough information in the scene to answer"]
ARTICLE = ["a dog", "a cat", "a bicycle", "a pedestrian"]

# (response, options, letter, rule)
CASES = [
    # -- explicit commitments -------------------------------------------------------------
    pytest.param("C", DIRECTION, "C", "letter_line", id="bare-letter"),
    pytest.param("  b.\n", DIRECTION, "B", "letter_line", id="bare-lowercase-letter-dot"),
    pytest.param("(D)", DIRECTION, "D", "letter_line", id="bare-parenthesised"),
    pytest.param("C: right", DIRECTION, "C", "letter_line", id="letter-with-own-text"),
    pytest.param("Answer: B", DIRECTION, "B", "final_answer_phrase", id="answer-colon"),
    pytest.param(
        "The cyclist keeps to the same side of the road in every frame and the background "
        "slides past.\n\nTherefore, the final answer is: $C",
        DIRECTION,
        "C",
        "final_answer_phrase",
        id="cot-final-answer-dollar",
    ),
    pytest.param(
        "Final Answer: $D$", DIRECTION, "D", "final_answer_phrase", id="final-answer-latex"
    ),
    pytest.param(
        "The wheel turns with the hands of a clock.\n\n**Final answer: (A)**",
        SPIN,
        "A",
        "final_answer_phrase",
        id="markdown-bold",
    ),
    pytest.param(
        "Looking at the hub, the spokes sweep to the right at the top.\n\\boxed{A}",
        SPIN,
        "A",
        "letter_line",
        id="boxed",
    ),
    pytest.param(
        "So the answer is $\\boxed{\\text{B}}$.", SPIN, "B", "final_answer_phrase", id="boxed-text"
    ),
    pytest.param(
        "Answer: (A) Towards the camera, as the dog grows larger in every frame.",
        CAMERA,
        "A",
        "final_answer_phrase",
        id="answer-paren-with-text",
    ),
    pytest.param(
        "I would choose option D because nothing resembling a dog appears.",
        CAMERA,
        "D",
        "choose_phrase",
        id="i-choose",
    ),
    pytest.param(
        "Hard to be sure from two frames, but I think it's B.",
        DIRECTION,
        "B",
        "choose_phrase",
        id="i-think-its",
    ),
    pytest.param(
        "Considering the shadows, B is the correct answer.",
        CAMERA,
        "B",
        "letter_is_correct",
        id="letter-is-correct",
    ),
    pytest.param(
        "The answer is A because the car never leaves its parking spot.",
        DIRECTION,
        "A",
        "final_answer_phrase",
        id="capital-A-before-because-is-the-letter",
    ),
    pytest.param(
        "Analysis of the frames shows it rolling further down the street, consistent with option C",
        DIRECTION,
        "C",
        "option_reference",
        id="weak-option-reference",
    ),
    pytest.param(
        "The dog trots steadily towards the photographer (A)",
        CAMERA,
        "A",
        "closing_letter",
        id="closing-parenthesised-letter",
    ),
    pytest.param("最终答案是：B", DIRECTION, "B", "final_answer_phrase", id="chinese-final-answer"),
    pytest.param(
        "Each frame shows the car by the kerb.\n\nTherefore, the final answer is: (;B)",
        DIRECTION,
        "B",
        "final_answer_phrase",
        id="stray-punctuation-inside-bracket",
    ),
    pytest.param(
        "Final answer: [, C]", DIRECTION, "C", "final_answer_phrase", id="stray-comma-in-bracket"
    ),
    pytest.param(
        "The driver would have to steer towards 'Left.'\n\nTherefore, the final answer is: C.",
        DIRECTION,
        "C",
        "final_answer_phrase",
        id="final-letter-wins-over-text-named-before-it",
    ),
    pytest.param(
        "<think>The car starts on the left... maybe it is B? No, it ends on the right side, so C."
        "</think>\nAnswer: C",
        DIRECTION,
        "C",
        "final_answer_phrase",
        id="think-block-then-answer",
    ),
    pytest.param(
        "<think>Option B says left. But the car clearly ends up on the right.</think>\n\nC",
        DIRECTION,
        "C",
        "letter_line",
        id="think-block-letters-ignored",
    ),
    # -- change of mind: the last commitment wins -------------------------------------------
    pytest.param(
        "At first glance the answer is B. Looking again at the last two frames, the car has "
        "drifted to the other side of the lane.\n\nTherefore, the final answer is: C",
        DIRECTION,
        "C",
        "final_answer_phrase",
        id="change-of-mind",
    ),
    # -- answers that list every option while reasoning ---------------------------------------
    pytest.param(
        "Let's check each option:\n- Option A: not moving - the car clearly moves.\n"
        "- Option B: left - the car heads the other way.\n- Option C: right - matches.\n"
        "- Option D: no car there - a car is visible.\n\nTherefore, the final answer is: C.",
        DIRECTION,
        "C",
        "final_answer_phrase",
        id="lists-every-option-then-commits",
    ),
    # -- integer options ------------------------------------------------------------------
    pytest.param("C: 2", COUNT, "C", "letter_line", id="count-letter-and-number"),
    pytest.param(
        "There are two ducks moving to the left.", COUNT, "C", "option_text", id="count-words"
    ),
    pytest.param(
        "No duck moves to the left at any point.", COUNT, "B", "option_text", id="count-zero"
    ),
    pytest.param(
        "In frame 3, one of the ducks turns; overall 1 duck swims to the left.",
        COUNT,
        "D",
        "option_text",
        id="count-ignores-frame-numbers-and-one-of",
    ),
    # -- prose without a letter -----------------------------------------------------------
    pytest.param(
        "The car is moving to the right.", DIRECTION, "C", "option_text", id="prose-right"
    ),
    pytest.param(
        "The dog is stationary; it stays in the same spot throughout.",
        CAMERA,
        "C",
        "option_text",
        id="prose-synonym-stationary",
    ),
    pytest.param(
        "The wheel rotates anticlockwise.", SPIN, "B", "option_text", id="prose-anticlockwise"
    ),
    pytest.param(
        "The person's left hand is holding the cup.", HANDS, "B", "option_text", id="prose-stemming"
    ),
    pytest.param(
        "The truck on the right is moving towards the left.",
        DIRECTION,
        "B",
        "option_text",
        id="prose-motion-beats-location",
    ),
    pytest.param(
        "The car is not moving left or right; it is parked and not moving.",
        DIRECTION,
        "A",
        "option_text",
        id="prose-negated-list",
    ),
    pytest.param(
        "The knife slides from the right end to the left end of the board.",
        PATHS,
        "A",
        "option_text",
        id="prose-path",
    ),
    pytest.param(
        "To determine whether the car moves left or right, we look at its bumper. The bumper "
        "drifts right in every frame.",
        DIRECTION,
        "C",
        "option_text",
        id="purpose-clause-restating-the-question-is-no-claim",
    ),
    pytest.param(
        "The car keeps moving 向右 in all frames.",
        DIRECTION,
        "C",
        "option_text",
        id="chinese-direction-word",
    ),
    pytest.param(
        "Only one option fits the clip: two ducks swim to the left.",
        COUNT,
        "C",
        "option_text",
        id="count-ignores-one-option",
    ),
    pytest.param(
        "To judge the spin, I follow the red valve on the rim. In the first frames the valve "
        "sits at the top. It then passes the left edge and reaches the bottom. This indicates "
        "that the wheel turns counter-clockwise. Therefore, when the zqx of the vrl kpt",
        SPIN,
        "B",
        "late_conclusion",
        id="late-conclusion-before-garbled-ending",
    ),
    pytest.param(
        "I follow the red valve on the rim through the clip. The valve sits at the top in the "
        "first frame. It then passes the left edge. By comparing the frames, it's clear that the "
        "wheel is spinning counter-clockwise. The rim and the zqx, vrl (kpt).",
        SPIN,
        "B",
        "late_conclusion",
        id="late-conclusion-its-clear-that",
    ),
    pytest.param(
        "The final answer is: not spinning.",
        SPIN,
        "C",
        "answer_phrase_text",
        id="answer-phrase-text",
    ),
    pytest.param(
        "Several people walk past, but there is no dog anywhere in the video. So the question "
        "about the dog's direction is not applicable.",
        CAMERA,
        "D",
        "absence_claim",
        id="absence-before-refusal",
    ),
    pytest.param(
        "I'm sorry, I cannot determine which way the person turned from these frames.",
        UNSURE,
        "D",
        "refusal_option",
        id="refusal-maps-to-not-enough-information",
    ),
    # -- no valid answer ------------------------------------------------------------------
    pytest.param(
        "I'm sorry, but I can't help identify the direction from these images.",
        DIRECTION,
        None,
        "refusal",
        id="refusal",
    ),
    pytest.param("", DIRECTION, None, "empty", id="empty-string"),
    pytest.param("   \n\t", DIRECTION, None, "empty", id="whitespace"),
    pytest.param("B\nC", DIRECTION, None, "contradictory_letters", id="two-bare-letters"),
    pytest.param("Answer: A\nD", DIRECTION, None, "contradictory_letters", id="answer-then-letter"),
    pytest.param(
        "It could be either. Therefore, the final answer is: B or C",
        DIRECTION,
        None,
        "several_letters",
        id="a-or-b",
    ),
    pytest.param(
        "Therefore, the final answer is: D: left",
        DIRECTION,
        None,
        "letter_text_conflict",
        id="letter-names-other-option",
    ),
    pytest.param("B: 3", COUNT, None, "letter_text_conflict", id="letter-with-wrong-count"),
    pytest.param(
        "The wheel spins. The final answer is (A) counter-clockwise.",
        SPIN,
        None,
        "letter_text_conflict",
        id="clockwise-vs-counter-clockwise",
    ),
    pytest.param(
        "A. not moving\nB. left\nC. right\nD. no car there",
        DIRECTION,
        None,
        "enumeration_only",
        id="options-listed-no-choice",
    ),
    pytest.param(
        "Option A says the dog approaches, option B says it leaves, option C says it stays and "
        "option D says there is no dog. Each of these is plausible from a single frame.",
        CAMERA,
        None,
        "no_commitment",
        id="mentions-all-letters-commits-to-none",
    ),
    pytest.param(
        "The car is moving left and then right.",
        DIRECTION,
        None,
        "several_options_named",
        id="prose-two-options",
    ),
    pytest.param(
        "I follow the red valve on the rim through the clip. The valve sits at the top in the "
        "first frame. It then passes the left edge. This suggests that it turns clockwise or "
        "counter-clockwise. The rim and the zqx, vrl (kpt).",
        SPIN,
        None,
        "no_commitment",
        id="late-inference-naming-two-options",
    ),
    pytest.param(
        "I follow the car across the frames. It is small in frame one. This indicates that it "
        "moves to the left. Frame four is dark. Frame five is dark too. The zqx vrl kpt",
        DIRECTION,
        None,
        "no_commitment",
        id="inference-too-far-from-the-end",
    ),
    pytest.param(
        "I count the ducks frame by frame. Frame one is empty. In frame two, this suggests two "
        "ducks. In frame three the zqx vrl kpt",
        COUNT,
        None,
        "no_commitment",
        id="unfinished-count-is-a-running-tally",
    ),
    pytest.param(
        "The car is not static at any point.",
        DIRECTION,
        None,
        "no_commitment",
        id="negated-synonym-of-not-moving",
    ),
    pytest.param(
        "After looking at every frame carefully, the final answer is: N/A",
        DIRECTION,
        None,
        "final_answer_unresolved",
        id="final-answer-placeholder",
    ),
    pytest.param(
        "A car drives along the street while a man waits at the crossing.",
        ARTICLE,
        None,
        "no_commitment",
        id="article-A-is-not-a-letter",
    ),
    pytest.param(
        "The final answer is: E",
        DIRECTION,
        None,
        "final_answer_unresolved",
        id="letter-out-of-range",
    ),
]


@pytest.mark.parametrize(("response", "options", "letter", "rule"), CASES)
def test_rules(response: str, options: list, letter: str | None, rule: str) -> None:
    verdict = extract(response, options)
    assert (verdict.letter, verdict.rule) == (letter, rule), verdict
    if letter is not None:
        assert verdict.evidence, "a chosen letter always quotes the span that decided it"


@pytest.mark.parametrize(
    ("response", "rule"),
    [(None, "empty"), (3, "not_text"), (2.5, "not_text"), ({"A": 1}, "not_text"), ([], "not_text")],
)
def test_non_string_responses_are_no_valid_answer(response: object, rule: str) -> None:
    verdict = extract(response, DIRECTION)
    assert verdict == Extraction(NO_ANSWER, True, rule, verdict.evidence)
    assert verdict.label == "No Valid Answer"


def test_single_generation_in_a_list_is_unwrapped() -> None:
    assert extract(["Answer: D"], DIRECTION).letter == "D"
    assert extract(["B", "C"], DIRECTION).rule == "not_text"


def test_label_matches_official_format() -> None:
    assert extract("Therefore, the final answer is: C", DIRECTION).label == "C: right"
    assert extract("C: 2", COUNT).label == "C: 2"
    assert extract("no idea", DIRECTION).label == "No Valid Answer"


def test_confidence_flags_what_a_judge_should_see() -> None:
    assert extract("Therefore, the final answer is: B", DIRECTION).confident
    # A letter labelled with another option's text is decided (the reference judge marked
    # all 33 development answers of this shape wrong): no answer, confidently.
    conflict = extract("Therefore, the final answer is: D: left", DIRECTION)
    assert (conflict.letter, conflict.rule, conflict.confident) == (
        None,
        "letter_text_conflict",
        True,
    )
    # Read from reasoning that never reached an answer: a judge should confirm.
    unfinished = extract("<think>The car ends on the right, so C", DIRECTION)
    assert (unfinished.letter, unfinished.confident) == ("C", False)


def test_explanatory_sentence_after_letter_is_not_a_conflict() -> None:
    # The reference judge reads the letter and does not re-grade the explanation.
    verdict = extract("Answer: B. The bus drives off towards the camera.", DIRECTION)
    assert verdict.letter == "B"


def test_duplicate_option_texts_do_not_conflict() -> None:
    options = ["not sure", "not moving", "away from the camera", "away from the camera"]
    assert extract("D: away from the camera", options).letter == "D"


# -- properties ---------------------------------------------------------------------------

_FRAGMENTS = [
    "A",
    "B",
    "C",
    "D",
    "a",
    "(C)",
    "Answer:",
    "the final answer is",
    "Therefore,",
    "option",
    "left",
    "right",
    "not moving",
    "no car there",
    "\n",
    ".",
    ":",
    "$",
    "**",
    "<think>",
    "</think>",
    "\\boxed{",
    "}",
    "I'm sorry",
    "or",
    "not",
    "the car",
    "moves",
    "towards",
    "2",
    "二",
    "答案是",
]


def _random_response(rng: random.Random) -> str:
    return " ".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(0, 30)))


@pytest.mark.parametrize("seed", range(5))
def test_letter_is_always_a_valid_letter_or_none(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        options = rng.choice([DIRECTION, CAMERA, SPIN, COUNT, HANDS])
        verdict = extract(_random_response(rng), options)
        assert verdict.letter in (*LETTERS, None)
        assert isinstance(verdict.rule, str) and verdict.rule
        assert verdict.label == (
            "No Valid Answer"
            if verdict.letter is None
            else f"{verdict.letter}: {options[LETTERS.index(verdict.letter)]}"
        )


@pytest.mark.parametrize("seed", range(3))
def test_extraction_is_deterministic(seed: int) -> None:
    rng = random.Random(seed)
    responses = [_random_response(rng) for _ in range(200)]
    first = [extract(r, SPIN) for r in responses]
    second = [extract(r, SPIN) for r in reversed(responses)][::-1]
    assert first == second


def test_fewer_options_never_yield_a_missing_letter() -> None:
    assert extract("D", ["yes", "no"]).letter is None
    assert extract("B", ["yes", "no"]).letter == "B"


@pytest.mark.parametrize("letter", LETTERS)
def test_every_letter_in_every_common_wrapper(letter: str) -> None:
    wrappers = [
        "{}",
        "({})",
        "{}.",
        "**{}**",
        "Answer: {}",
        "The answer is {}.",
        "Final Answer: ${}$",
        "\\boxed{{{}}}",
        "Therefore, the final answer is: {}",
        "I choose option {}.",
    ]
    for wrapper in wrappers:
        assert extract(wrapper.format(letter), DIRECTION).letter == letter, wrapper


def test_explanation_naming_another_option_lowers_confidence() -> None:
    verdict = extract("Answer: C. The car is moving towards the left of the frame.", DIRECTION)
    assert (verdict.letter, verdict.confident) == ("C", False)
    agreeing = extract("Answer: C. The car is moving towards the right of the frame.", DIRECTION)
    assert (agreeing.letter, agreeing.confident) == ("C", True)


def test_a_repeated_letter_does_not_settle_an_explanation_naming_another_option() -> None:
    """Issue 25: "Answer: C. <a sentence describing left> ... the final answer is: C" with C
    "right": the closing letter repeats the choice, the explanation still contradicts it, and
    the reference judge went either way on such answers, so a hybrid scorer must ask."""
    text = (
        "Answer: C. The car is moving towards the left of the frame, past the parked vans. "
        "Therefore, the final answer is: C."
    )
    assert (extract(text, DIRECTION).letter, extract(text, DIRECTION).confident) == ("C", False)
    agreeing = text.replace("towards the left", "towards the right")
    assert (extract(agreeing, DIRECTION).letter, extract(agreeing, DIRECTION).confident) == (
        "C",
        True,
    )
    # A looping answer repeats the same explanation: read once, still linear.
    looping = "Answer: C. The car is moving towards the right of the frame. " * 20_000
    assert extract(looping, DIRECTION).confident


def test_a_plural_answer_phrase_naming_one_letter_commits() -> None:
    """Issue 25: "Therefore, the final answers are: A." was no valid answer (the reference: A)."""
    verdict = extract("Therefore, the final answers are: A.", DIRECTION)
    assert (verdict.letter, verdict.rule) == ("A", "final_answer_phrase")
    several = extract("So the final answers are A and B.", DIRECTION)
    # Two letters are no answer, decided (none of 22 such development answers disagreed).
    assert (several.letter, several.rule, several.confident) == (None, "several_letters", True)
    listing = extract("The options are: A) not moving, B) left. I pick C.", DIRECTION)
    assert listing.letter == "C"  # "options are" lists the options, commits to none


YES_NO = ["No", "There is no basketball", "Yes", "It's unclear"]


@pytest.mark.parametrize(
    ("question", "response", "letter"),
    [
        (
            "Did the basketball hit the rim?",
            "It flies up. Therefore, the basketball did hit the rim.",
            "C",
        ),
        (
            "Does the person move closer to the oven throughout the video?",
            "The person is not moving closer to the oven. They walk to the sink.",
            "A",
        ),
        (
            "Does the artist switch the brush she holds in her right hand?",
            "The artist never switches the brush she holds in her right hand.",
            "A",
        ),
    ],
)
def test_a_yes_no_question_answered_by_restating_it(question: str, response: str, letter: str):
    """Issue 25: the reference read "the ball did hit the rim" as Yes; the rule needs the
    question to see the restatement, and it reads meaning, so it is not confident."""
    assert extract(response, YES_NO).letter is None
    verdict = extract(response, YES_NO, question)
    assert (verdict.letter, verdict.rule, verdict.confident) == (
        letter,
        "yes_no_restatement",
        False,
    )


@pytest.mark.parametrize(
    ("question", "response"),
    [  # a claim word missing, another direction, the question asked again
        ("Does the artist switch the brush she holds in her right hand?",
         "The artist is holding a brush in her right hand and painting."),
        ("Did the artist pick up any brushes with her left hand?",
         "The artist picks up brushes with her right hand."),
        ("Does the basketball hit the rim?",
         "The frames leave open whether the basketball hits the rim."),
    ],
)  # fmt: skip
def test_what_is_not_a_restatement_of_a_yes_no_question(question: str, response: str) -> None:
    assert extract(response, YES_NO, question).letter is None


def test_a_total_concludes_a_count() -> None:
    """Issue 25: "... one by one ... He picks up 4 logs in total." counts 4, not one."""
    text = "The man picks up logs one by one with his right arm. He picks up 4 logs in total."
    assert extract(text, [4, 2, 3, 1]).letter == "A"


def test_a_claim_before_a_refusal_of_something_else_stands() -> None:
    """Issue 25: the refusal is about the destination, the direction is stated before it."""
    text = (
        "Looks like the bus is moving towards its left side, but it's not possible to "
        "determine its final destination."
    )
    verdict = extract(text, ["left", "no bus there", "right", "not moving"])
    assert (verdict.letter, verdict.rule, verdict.confident) == ("A", "claim_before_refusal", False)
    refused = extract("It's not possible to determine whether it moves left.", DIRECTION)
    assert (refused.letter, refused.rule) == (None, "refusal")


def test_a_conclusion_naming_one_option_is_confident() -> None:
    """Issue 25: "Therefore, <a claim naming one option>." agreed with the reference on 515 of
    519 development answers while it was sent to the judge; it is the answer, as a grader reads it."""
    text = "The car starts near the kerb and keeps going. Therefore, the car is moving right."
    verdict = extract(text, DIRECTION)
    assert (verdict.letter, verdict.rule, verdict.confident) == ("C", "option_text", True)
    both = "The car starts near the kerb. Therefore, it moves left and then right."
    assert not extract(both, DIRECTION).confident


def test_a_short_plain_description_in_an_options_words_is_unsure() -> None:
    """Issue 25: without the question (which names the dart board as its point of reference),
    "The person is moving towards the dart board." commits to no option, yet the reference
    judge read "coming toward" in such answers: a hybrid scorer asks."""
    options = ["right", "left", "coming toward", "going away"]
    described = extract("The person is moving towards the dart board.", options)
    assert (described.letter, described.rule, described.confident) == (None, "no_commitment", False)
    unrelated = extract("The person is holding a dart near the wall.", options)
    assert (unrelated.rule, unrelated.confident) == ("no_commitment", True)
    garbled = extract("The person moves towards 对不对向posure 或突兀地挤在湿度的大分量墙", options)
    assert (garbled.rule, garbled.confident) == ("no_commitment", True)
    reasoning = (
        "First I look at the board. Then I look at the wall. The dart stays in the hand. "
        "The person looks towards the board for a while."
    )
    assert extract(reasoning, options).confident  # longer reasoning that never concluded


def test_no_commitment_is_unsure_only_when_options_are_discussed() -> None:
    silent = extract("The clip shows a street at dusk with a few parked vehicles.", DIRECTION)
    assert (silent.letter, silent.rule, silent.confident) == (None, "no_commitment", True)
    discussed = extract(
        "Frame one shows the street. Frame two shows a car near the kerb. In frame three it "
        "drifts to the left. Frame four is blurred and hard to read.",
        DIRECTION,
    )
    assert (discussed.letter, discussed.rule, discussed.confident) == (None, "no_commitment", False)


def test_late_conclusion_is_not_confident() -> None:
    verdict = extract(
        "I follow the car across the frames. It is small in frame one. It grows in frame two. "
        "This indicates that it is moving to the right. Then the zqx vrl kpt",
        DIRECTION,
    )
    assert (verdict.letter, verdict.rule, verdict.confident) == ("C", "late_conclusion", False)
    assert verdict.evidence == "that it is moving to the right."


def test_negation_cancels_positive_wording_of_negative_concepts() -> None:
    # "stationary" is a positive word for "not moving": a preceding "not" denies it...
    assert extract("The car does not remain stationary.", DIRECTION).letter is None
    assert extract("The car is not 静止.", DIRECTION).letter is None
    # ...while wording that is itself a negation survives a negation before it.
    assert extract("No, the car is not moving.", DIRECTION).letter == "A"


# -- long answers ---------------------------------------------------------------------------
# A model that loops until its token limit writes hundreds of kilobytes. Extraction used to
# rescan the text once per mention, letter or cut, so such answers took minutes to hours and
# stalled a scoring run; now its time is linear in the length (bench/extract_scaling.py
# measures it). The timeout only guards against a hang: these take well under a second each.

_PARAGRAPH = (
    "Let me look at the frames again. In the first frame the car is near the left edge. In "
    "the next frames it moves towards the right side of the road. Therefore, the car is "
    "moving to the right. "
)

# (start, unit, end, options): the answer is start + unit * n + end.
LOOPS = [
    pytest.param("", "left right ", "", DIRECTION, id="two-options-looping"),
    pytest.param("", "The answer is B. ", "", DIRECTION, id="answer-phrase-looping-on-one-line"),
    pytest.param("", "Answer: C (right)\n", "", DIRECTION, id="answer-on-every-line"),
    pytest.param("", _PARAGRAPH, "", DIRECTION, id="chain-of-thought-repeated"),
    pytest.param(
        "",
        _PARAGRAPH,
        _PARAGRAPH[: _PARAGRAPH.rindex(" right")],
        DIRECTION,
        id="chain-of-thought-cut-off-before-its-answer",
    ),
    pytest.param("<think>", _PARAGRAPH, "", DIRECTION, id="think-never-closed"),
    pytest.param("", "答案是C。汽车向右移动。", "", DIRECTION, id="chinese-without-spaces"),
    # "A" reads as the article "a": its label never gains a word (once minutes at 32 KB).
    pytest.param("", "答案是A", "", DIRECTION, id="chinese-letter-a-on-one-line"),
    pytest.param("", "答案是A ", "", DIRECTION, id="chinese-letter-a-with-spaces"),
    pytest.param(
        "",
        "In frame 3 the car is near the centre of the road. ",
        "\n\nTherefore, the final answer is: C",
        DIRECTION,
        id="conclusion-after-long-reasoning",
    ),
    pytest.param(
        "C: left. ",
        "The car keeps moving along the road. ",
        "",
        DIRECTION,
        id="label-conflict-before-a-long-line",
    ),
    pytest.param(
        "C: right, ", "and it keeps going right, ", "", DIRECTION, id="agreeing-label-long-line"
    ),
    pytest.param("Answer:", "\n", "C", DIRECTION, id="blank-lines-before-the-letter"),
    pytest.param("Answer:", "\n", "right", DIRECTION, id="blank-lines-before-the-text"),
    pytest.param("Therefore, the final answer is C", "!", "", DIRECTION, id="exclamation-run"),
    pytest.param("The car is not left", " .", " right.", DIRECTION, id="negated-list-of-dots"),
    pytest.param("", "I think the correct option is a (", "hmm", DIRECTION, id="open-brackets"),
    pytest.param("", "The answer is A moving car. ", "", DIRECTION, id="article-a-looping"),
    pytest.param("", "It is not moving, not left, ", "right.", DIRECTION, id="negations-looping"),
    pytest.param("", "1 2 ", "", COUNT, id="counts-looping"),
    pytest.param("", "clockwise counter-clockwise ", "", SPIN, id="nested-options-looping"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("start", "unit", "end", "options"), LOOPS)
def test_long_looping_answer_reads_as_its_short_form(
    start: str, unit: str, end: str, options: list
) -> None:
    short = extract(start + unit * 3 + end, options)
    long = extract(start + unit * (200_000 // len(unit)) + end, options)
    assert (long.letter, long.rule, long.confident) == (short.letter, short.rule, short.confident)


@pytest.mark.timeout(60)
def test_long_random_answer_finishes_with_a_valid_verdict() -> None:
    rng = random.Random(0)
    response = " ".join(rng.choice(_FRAGMENTS) for _ in range(60_000))
    verdict = extract(response, DIRECTION)
    assert verdict.letter in (*LETTERS, None)
    assert len(verdict.evidence) <= 200


def test_a_long_label_still_conflicts_or_agrees_by_its_first_words() -> None:
    # A label longer than any option is read only as far as an option could reach.
    tail = " ".join(["the car keeps moving along the road"] * 50)
    assert extract(f"C: left, {tail}", DIRECTION).rule == "letter_text_conflict"
    assert extract(f"C: right, {tail}", DIRECTION).letter == "C"
    assert extract(f"C: {tail}", DIRECTION).letter == "C"  # a sentence: the letter counts


# Issue 25: conflict shapes decided on purpose, and confidence where a judge should look.
DIRECTION_AWAY = ["not moving", "there are no buses in the video", "left", "right"]


def test_decided_no_answers_are_confident() -> None:
    for text, rule in (
        ("Therefore, the final answer is: B or C", "several_letters"),
        ("B\nC", "contradictory_letters"),
        ("A. left\nB. right\nC. not moving\nD. away", "enumeration_only"),
    ):
        verdict = extract(text, DIRECTION)
        assert (verdict.letter, verdict.rule, verdict.confident) == (None, rule, True), text


def test_letter_labelled_in_passing_with_another_option_is_a_conflict() -> None:
    text = (
        'If I must choose, option B: "Away" would be the best choice.  '
        "Therefore, the final answer is: B"
    )
    verdict = extract(text, DIRECTION_AWAY)
    assert (verdict.letter, verdict.rule) == (None, "letter_text_conflict")
    # Its own label, or a label of another letter, is no conflict of the chosen letter.
    same = 'Option B: "there are no buses" fits.  Therefore, the final answer is: B'
    assert extract(same, DIRECTION_AWAY).letter == "B"


def test_answer_phrase_that_goes_on_to_another_option_is_not_confident() -> None:
    options = ["both counter-clockwise", "one clockwise, one counter-clockwise", "both clockwise"]
    options.append("not spinning")
    mixed = extract("So, the answer is both counter-clockwise, one clockwise.", options)
    assert (mixed.letter, mixed.confident) == ("A", False)
    plain = extract("So, the answer is both counter-clockwise.", options)
    assert (plain.letter, plain.confident) == ("A", True)


def test_a_bound_on_a_count_is_not_a_confident_count() -> None:
    options = ["2", "3", "1", "0"]
    bound = extract("The player has hit the ball to the right at least once.", options)
    assert (bound.letter, bound.confident) == ("C", False)
    exact = extract("The player has hit the ball to the right once.", options)
    assert (exact.letter, exact.confident) == ("C", True)


def test_no_instance_is_a_zero_count_read_from_prose() -> None:
    options = ["3", "0", "1", "2"]
    text = "There does not appear to be any instances where the motorbike lands and turns right."
    verdict = extract(text, options)
    assert (verdict.letter, verdict.rule, verdict.confident) == ("B", "zero_count", False)


def test_another_limb_is_not_a_confident_match() -> None:
    options = ["No", "The brushes were already on the easel", "They used their right foot instead"]
    options.append("Yes")
    hand = extract("The artist is seen picking up brushes with their right hand.", options)
    assert hand.confident is False
    foot = extract("The artist used their right foot instead.", options)
    assert (foot.letter, foot.confident) == ("C", True)


def test_a_long_option_matched_by_one_idea_is_not_confident() -> None:
    options = ["No", "At first yes, but then he passes the pedestrian and is getting further away."]
    options += ["the cyclist is staying at the same distance", "Yes"]
    text = "Therefore, the correct answer is that the cyclist is getting further away."
    assert extract(text, options).confident is False


def test_relisted_options_under_the_chosen_letter_make_it_not_confident() -> None:
    options = ["not moving", "right", "left", "no robotic scorpion there"]
    text = (
        "Let's discuss each option:\nA) It is moving towards the right.\n"
        "B) It is moving towards the left.\nC) It's not possible to determine the direction.\n"
        "D) There is no robotic scorpion.\n\nTherefore, the final answer is: C"
    )
    assert extract(text, options).confident is False
    faithful = text.replace("C) It's not possible to determine the direction.", "C) left.")
    assert extract(faithful, options).confident is True


def test_garbled_mixed_script_without_commitment_is_a_confident_no_answer() -> None:
    text = (
        "In image 2 the car seems to go left 当所有图片都完成后. Image 3 我得出结论 the frame. "
        "Image 4 综上所述 the road. Image 5 在画面中央和右侧 goes on 我们可以看出 or"
    )
    clean = (
        "In image 2 the car seems to go left. Image 3 shows the frame. Image 4 the road. Image 5"
    )
    assert extract(clean, DIRECTION).confident is False  # English reasoning: a judge may read it
    verdict = extract(text, DIRECTION)
    assert (verdict.letter, verdict.rule, verdict.confident) == (None, "no_commitment", True)


def test_definitive_claim_in_unfinished_reasoning_is_read_not_confidently() -> None:
    text = (
        "The first image shows a police car. The second image shows it again. Its lights are on. "
        "Since the lights are illuminated, it is definitively moving to the right. "
        "Thus, the movement of the car in each frame can be deduced to coordinate with its"
    )
    verdict = extract(text, DIRECTION)
    assert (verdict.letter, verdict.rule, verdict.confident) == ("C", "late_conclusion", False)


def test_a_partial_restatement_of_a_yes_no_question_makes_another_option_unsure() -> None:
    options = ["The person is standing still", "Not enough information in the scene to answer"]
    options += ["Yes", "No"]
    question = "Is the person lifting the weights moving toward the mirror?"
    text = "The person is not moving towards the mirror. They are standing still and lifting."
    verdict = extract(text, options, question)
    assert (verdict.letter, verdict.confident) == ("A", False)
    # Without the question, or without a denial, the description stands.
    assert extract(text, options).confident is True
    plain = "They are standing still and lifting the weights."
    assert extract(plain, options, question).confident is True


def test_irregular_and_doubled_verb_forms_meet_their_stem() -> None:
    assert stem_word("sitting") == stem_word("sit")
    assert stem_word("stopped") == stem_word("stop")
    assert stem_word("bent") == stem_word("bending")
    assert stem_word("rolling") == "roll"  # a double of the stem itself stays
    options = ["He sat down", "He stood up straight", "He bent over.", "He stretched his arms out"]
    sitting = extract("The cook is seen sitting down near the table.", options)
    assert (sitting.letter, sitting.confident) == ("A", True)
    bending = extract("In the last frames the chef is bending over the counter.", options)
    assert (bending.letter, bending.confident) == ("C", True)


def test_the_questions_point_of_reference_plays_the_cameras_part() -> None:
    options = ["left", "right", "coming toward", "going away"]
    question = "Which way does the cyclist move with respect to the traffic light?"
    assert question_anchor(question) == "traffic light"
    assert question_anchor("Which way does the cyclist move with respect to the camera?") == ""
    towards = extract("The cyclist rides towards the traffic light.", options, question)
    assert (towards.letter, towards.confident) == ("C", True)
    away = extract("The cyclist rides away from the trafficlight.", options, question)
    assert away.letter == "D"
    # Without the question the light is just a place; a direction still is a direction.
    assert extract("The cyclist rides towards the traffic light.", options).letter is None
    assert extract("The cyclist rides towards the left.", options, question).letter == "A"


def test_motion_towards_oneself_is_towards() -> None:
    options = ["down", "to the right", "away from their selves", "towards their selves to eat"]
    verdict = extract("The woman pulls the bowl towards herself to eat from it.", options)
    assert verdict.letter == "D"
    assert extract("He pushes the bowl away from himself.", options).letter == "C"


def test_both_the_left_and_right_is_both_ways_when_an_option_says_so() -> None:
    options = ["right", "left", "not moving", "both ways"]
    text = "The dog turns to the left first. So the dog runs in both the left and right directions."
    verdict = extract(text, options)
    assert (verdict.letter, verdict.confident) == ("D", True)
    assert extract("The swing goes back and forth all the time.", options).letter == "D"
    # Without such an option it still names two: no answer.
    assert extract("So the car moves both left and right.", DIRECTION).letter is None


def test_a_however_after_an_undecided_conclusion_settles_it() -> None:
    options = ["forwards", "both ways", "not moving", "backwards"]
    text = (
        "The train is on the track. Its front is hidden by trees. "
        "Therefore, it is not shown whether it moves forwards or backwards. "
        "However, it most probably moves forwards."
    )
    verdict = extract(text, options)
    assert (verdict.letter, verdict.rule, verdict.confident) == (
        "A",
        "settled_after_conclusion",
        False,
    )
    undecided = text.replace("However, it most probably moves forwards.", "It is far away.")
    assert extract(undecided, options).letter is None


def test_the_count_of_one_image_is_a_running_tally() -> None:
    options = ["1", "2", "3", "0"]
    text = (
        "Step 1: look at each image in turn. Step 2: count the cats that walk to the left. "
        "Looking at the frames: image 1 shows one cat walking to the left"
    )
    assert extract(text, options).letter is None
    total = text.replace("image 1 shows one cat", "in all frames there is one cat")
    assert extract(total, options).letter == "A"


def test_a_hedged_letter_commits_without_confidence() -> None:
    text = (
        "B is likely the correct answer because the car faces left. Before I can be certain, "
        "I would have to check that it is driving (B) and not parked (A)."
    )
    verdict = extract(text, DIRECTION)
    assert (verdict.letter, verdict.rule, verdict.confident) == ("B", "hedged_letter", False)


def test_a_start_of_motion_or_run_together_words_are_not_confident() -> None:
    options = ["to the right", "down", "up", "to the left"]
    source = extract("The ruler is moved away from the right edge of the page.", options)
    assert (source.letter, source.confident) == ("A", False)
    assert extract("The ruler is moved to the right of the page.", options).confident is False
    glued = extract("The box is not moving, and its motion isriceadence windowsSo", DIRECTION)
    assert (glued.letter, glued.confident) == ("A", False)
    assert extract("The box is not moving, and it rests on the table.", DIRECTION).confident


def test_a_side_where_something_is_does_not_answer_which_way_it_moves() -> None:
    moving = "What direction is the drone moving towards?"
    assert asks_motion(moving)
    assert not asks_motion("Which direction is the person who made the first move sitting?")
    assert not asks_motion("On which side of the road is the car parked?")
    text = "The drone has four rotors. The rotors on the left side are blurred."
    assert extract(text, DIRECTION, moving).letter is None
    assert extract(text, DIRECTION).letter == "B"  # no question: the side is all it says
    parked = extract(
        "The car is parked on the left side of the road.",
        DIRECTION,
        "On which side of the road is the car parked?",
    )
    assert parked.letter == "B"
    assert extract("The drone flies to the left.", DIRECTION, moving).letter == "B"


def test_a_question_that_is_not_text_is_ignored() -> None:
    text = "Does the car move? The car did move to the left."
    for question in (7, ["Does the car move?"], {"q": 1}):
        assert extract(text, DIRECTION, question) == extract(text, DIRECTION)  # type: ignore[arg-type]
