"""Motion categories of VLM4D questions, derived by rule.

The release has no category labels; the paper (VLM4D, ICCV 2025, Sec. 3) describes its
questions as probing translational motion, rotational motion, spatiotemporal counting and
false positives. These rules assign exactly one category per question. They are applied in
order and the first that matches decides:

1. ``counting``: the question asks "how many" (every such question, whatever the options),
   or every option is a whole number.
2. ``false_positive``: the correct answer says the asked-about object is absent: it starts
   with "there is/are no" or with "no" followed by a thing ("there are no bears in the
   video", "no dragon there", "No plane"), but not by a motion ("no rotation", "no turn").
   A question whose *distractor* says so is not a false-positive question. This one rule
   serves both subsets; on the synthetic subset it equals the official statistics script's
   split (answer starts with "no "), which is wrong on real questions ("there are no ...",
   and "no rotation" for a bowl that is there).
3. ``rotational``: the question is about rotation: it names a rotation sense
   (clockwise / counter-clockwise), spinning, rotating, revolutions, flips, turning (a change
   of heading, e.g. "turning to the left from its own perspective") or panning; or the
   correct answer is a rotation sense.
4. ``translational``: everything else (the direction an object or the camera moves in:
   left/right, towards/away, up/down, forwards/backwards).

Keep the rules here, in one place; the dataset card quotes this docstring.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vlm4d_tasks.data.schema import Category

_HOW_MANY = re.compile(r"\bhow\s+many\b", re.IGNORECASE)
_INTEGER = re.compile(r"^\s*\d+\s*$")

# "there are no bears in the video", "there is no lizard in the video", "no dragon there",
# "No plane", "No tape used.". An answer that names an absent *motion* ("no rotation",
# "no turn") is a motion answer, not an absent object.
_ABSENT = re.compile(
    r"^\s*(?:there\s+(?:is|are)\s+no\b"
    r"|no\s+(?!(?:rotation|rotating|turn|turning|movement|motion|change|spin|spinning)\b)\w)",
    re.IGNORECASE,
)

# Rotation vocabulary, tolerant of the release's typos ("clckswise", "clockswise",
# "turining"). "turn" covers heading changes; "pan" the camera or a head panning.
_ROTATION = re.compile(
    r"(?:clo?c?k?s?wise|cl\w*wise|\bspin\w*|\brotat\w*|\brevolution\w*|\bflip\w*"
    r"|\btur\w*n(?:s|ed|ing)?\b|\bpan(?:s|ned|ning)?\b|\btwist\w*)",
    re.IGNORECASE,
)
_ROTATION_SENSE = re.compile(r"^\s*(?:counter-?\s?)?clockwise\s*$|^\s*counterclockwise\s*$", re.I)


@dataclass(frozen=True)
class CategoryRule:
    name: str
    category: Category
    applies: Callable[[str, Sequence[str], str], bool]
    description: str


def _is_counting(question: str, options: Sequence[str], answer_text: str) -> bool:
    return bool(_HOW_MANY.search(question)) or all(_INTEGER.match(str(o)) for o in options)


def _is_false_positive(question: str, options: Sequence[str], answer_text: str) -> bool:
    return bool(_ABSENT.search(str(answer_text)))


def _is_rotational(question: str, options: Sequence[str], answer_text: str) -> bool:
    return bool(_ROTATION.search(question)) or bool(_ROTATION_SENSE.match(str(answer_text)))


RULES: tuple[CategoryRule, ...] = (
    CategoryRule(
        "how_many",
        Category.COUNTING,
        _is_counting,
        'the question asks "how many", or every option is a whole number',
    ),
    CategoryRule(
        "absent_answer",
        Category.FALSE_POSITIVE,
        _is_false_positive,
        "the correct answer says the asked-about object is absent",
    ),
    CategoryRule(
        "rotation_words",
        Category.ROTATIONAL,
        _is_rotational,
        "the question names clockwise/counter-clockwise, spinning, rotating, "
        "revolutions, flips, turning or panning, or the answer is a rotation sense",
    ),
    CategoryRule(
        "default",
        Category.TRANSLATIONAL,
        lambda q, o, a: True,
        "everything else: the direction of movement",
    ),
)


def categorize(question: str, options: Sequence[object], answer_text: object) -> Category:
    """The category of one question (first matching rule of `RULES`)."""
    return categorize_with_rule(question, options, answer_text)[0]


def categorize_with_rule(
    question: str, options: Sequence[object], answer_text: object
) -> tuple[Category, str]:
    opts = [str(o) for o in options]
    for rule in RULES:
        if rule.applies(question, opts, str(answer_text)):
            return rule.category, rule.name
    raise AssertionError("the default rule always applies")
