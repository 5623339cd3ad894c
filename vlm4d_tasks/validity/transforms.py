"""The question side of the consistency checks: mirror, reverse and re-lettering of records.

A model that sees motion must answer a question about a mirrored or a time-reversed clip the
way the transformed scene dictates, and must not care which letter the right option has. The
clip side (`vlm4d_tasks.validity.clips`) mirrors or reverses the video; here the question,
options and answer text are rewritten to match, or the question is left out when it does not
transform cleanly. Consistency (a question answered right in both forms) and circular accuracy
(right under every re-lettering) are computed from per-question outcomes. The groups follow
DSI-Bench's standard / hflip / reverse evaluation; circular evaluation is MMBench's
(VLMEvalKit's CircularEval: a question counts only when every rotation of its options is right).

Everything here is pure: records in, records out, deterministic, no file read.

Rewriting. Each transformation has a vocabulary of phrases (`Term`s: a pattern and its
counterparts, or none for a phrase kept as it is). One regular expression holds all of them, so
a text is rewritten in one left-to-right pass: a phrase once replaced is never looked at again
(left -> right never becomes left again). Matching is case-insensitive and word-bounded; the
replacement takes the case of what it replaces ("Left" -> "Right", "LEFT" -> "RIGHT"), and of
several spellings of the counterpart (counter-clockwise, counterclockwise, anticlockwise, ...)
the one the record itself uses is chosen, so that the transformed options are usually the same
texts as the original's, at other letters. A question that offers both directions ("left or
right?", "clockwise or counter-clockwise?", "towards or away from the camera?") is kept as it
is: it asks the same either way, and swapping would change the prompt for nothing (or break an
elliptical "towards or away from"). The question, every option and the answer text are
rewritten alike; the options keep their positions, and the answer letter is recomputed from
the rewritten answer text by the annotation loader's own rule (`annotations.normalize_entry`),
which also re-validates the record: a transformed record whose validation finds a problem the
original did not have (two options become the same text, the answer matches another option) is
dropped (rule `ill_formed`). The record keeps its `question_id`, `video` (the clip side
transforms the video), category, source and perspective; its uid gets a suffix (`#mirror`,
`#reverse`, `#rot<k>`; `base_uid` removes it) and its flags the flag `transform:<kind>`.

Mirror (every frame flipped left-right). A mirrored clip shows the mirror image of the scene,
so every left/right swaps (directions of motion, sides, hands, "its own left", "left-most"),
and so does every rotation sense (clockwise <-> counter-clockwise, anticlockwise, ...).
Nothing else changes. Rules (`mirror_rule`), the first that applies decides:

- `reads_text` (dropped): the question asks to read a number or text in the picture, which the
  mirror makes unreadable ("what is the number of the closest go-kart?");
- `compass_direction` (dropped): the question names compass directions; whether they mean the
  picture's axes (east flips) or the world's (it does not) is not stated;
- `unlisted_direction_word` (dropped): a word that looks like left/right or a rotation sense
  that the vocabulary does not know how to swap (e.g. "leftover");
- `ill_formed` (dropped): see above;
- `mirrored` (kept): something was swapped;
- `unchanged` (kept as it is): nothing to swap (none of these words, or only in an "A or B" of
  the question); only the clip changes.

The past tense of "leave" ("the shuttlecock never left the ground") and idioms with "right"
("right away", "right now", "right after", "right before", "all right") are not directions and
are kept.

Reverse (the clip played backwards). Every motion runs the other way: towards <-> away from
(the camera, each other, a person), coming closer <-> going further away, left <-> right of
motion, up <-> down (upwards, uphill, upstairs), forwards <-> backwards, north <-> south,
east <-> west, inward <-> outward, clockwise <-> counter-clockwise, and the actions that are each
other's reversal: entering <-> exiting, picking up <-> putting down, landing <-> taking off,
rising <-> falling, increasing <-> decreasing. What does not move does not change: sides and
places ("left hand", "the left excavator", "on the left", "to the left of", "upper left"; in a
question about a side, a hand or a place, "which hand", "on which side", "where", the options'
left/right too), facing directions ("facing away from the camera"), speeds compared between
objects, absence, counts of things in a state. "Closer", "further away", "towards X" and "away
from X" are directions only after a verb of motion or as an option of their own ("the tram
further away" names a tram; such a phrase elsewhere is left to `unlisted_direction_word`).
A turn named by its goal or source swaps them: "turn to face the fridge" becomes "turn away
from the fridge", "turn from the cabinet" "turn towards the cabinet" (reversed, the person
starts facing the thing and turns away from it; the rotation sense swaps too). "Above" and
"below" as a whole option of a motion question are directions and swap like up and down;
anywhere else they name a place and are left to `unlisted_direction_word`.
A two-step answer "A, then B" becomes "reverse(B), then reverse(A)" ("left then right" stays
"left then right"). Questions that do not transform cleanly are dropped by these rules
(`reverse_rule`), the first that applies decides:

- `ordered_events`: the question or an option anchors a moment or an order (first, before,
  after, then, start, end, begin, finally, last, next, later, earlier, eventually, initially,
  until): reversed, "at the start" is the end and "A then B" (outside the two-step answers
  above) is "B then A" of other events;
- `speed_change`: speeding up / slowing down / accelerating / braking: reversed, a car that
  speeds up while moving forwards slows down while moving backwards; kept out rather than
  rewritten because the question's subject and verb would both have to change;
- `turning`: turning (or a turn) with left/right in the question or the options. Reversed, a
  turn is driven backwards: the heading still rotates the other way, but whether a car that
  reverses along a left-hand arc "turns left" (the steering) or "right" (the heading change)
  is a matter of wording that the question does not settle. Turning with a rotation sense
  (clockwise / counter-clockwise) or with no direction (how many full turns) is a rotation and
  is kept;
- `asymmetric_action`: an action whose reversal is a different action that the vocabulary has
  no word for (throw -> catch, pour, cut, place, jump, fall, hit, touch, take, open, ...: the
  list `ASYMMETRIC_ACTIONS`, from the release's questions);
- `counting_events`: a count of events ("how many times", "how many flips") other than the
  events whose reversal is the same kind of event (spins, revolutions, rotations, turns, pans,
  swings, steps, passes, laps): counts of things in a state ("how many people are moving to
  the left") are kept, with the state reversed;
- `goal_or_source`: the question names where a motion goes to or comes from ("move to go to the
  sink", "where did the ball come from", "spin to face the door" after any verb but a turn),
  which swaps in a reversed clip without a direction word that could be swapped; or an option
  of a motion question names where the thing ends up ("To the right of the cook" beside
  "Towards the cook"): reversed, that place is where it starts;
- `left_right_not_motion`: left/right (or above/below) that would have to be read as a
  direction of motion in a question that names no motion at all (no verb of motion: "which
  way is the koala facing?"), so it may as well name a side, which reversing keeps;
- `unlisted_direction_word`: a direction word that no phrase of the vocabulary covers (e.g.
  "into", "flying away on", "higher", "closest");
- `ill_formed`: see above;
- `reversed` (kept): something was swapped;
- `time_symmetric` (kept as it is): nothing in the texts changes when the clip runs backwards
  ("how many people are not moving?", "is the runner slower or faster than the cyclist?").

Re-lettering (`rotations`): the four circular shifts of the options, shift k putting option
k + i at position i (shift 0 is the original order); the answer letter follows its text.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vlm4d_tasks.data.schema import LETTERS, Category, Record, Subset

MIRROR = "mirror"
REVERSE = "reverse"
ROTATION = "rot"
KINDS: tuple[str, ...] = (MIRROR, REVERSE)
FLAG_PREFIX = "transform:"

_SUFFIX = re.compile(r"#(mirror|reverse|identity|rot\d+)$")  # identity: `lmms.variants`


@dataclass(frozen=True)
class Rule:
    """A rule that decides what a transformation does with a question."""

    name: str
    kept: bool
    description: str


MIRROR_RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule("reads_text", False, "asks to read a number or text, which mirroring reverses"),
        Rule("compass_direction", False, "names compass directions (picture's or world's?)"),
        Rule("unlisted_direction_word", False, "a left/right-like word the vocabulary lacks"),
        Rule("ill_formed", False, "the mirrored record fails the loader's validation"),
        Rule("mirrored", True, "left/right or rotation senses swapped"),
        Rule(
            "unchanged", True, 'nothing to swap outside an "A or B" of the question: kept as it is'
        ),
    )
}
REVERSE_RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule("ordered_events", False, "anchors a moment or an order (first, after, end, ...)"),
        Rule("speed_change", False, "speeding up / slowing down"),
        Rule("turning", False, "turning left/right: the reversed turn's name is ambiguous"),
        Rule("asymmetric_action", False, "an action whose reversal is another action"),
        Rule("counting_events", False, "counts events whose reversal is another event"),
        Rule("goal_or_source", False, "names where a motion goes to or comes from"),
        Rule("left_right_not_motion", False, "left/right, above/below in a question of no motion"),
        Rule("unlisted_direction_word", False, "a direction word the vocabulary lacks"),
        Rule("ill_formed", False, "the reversed record fails the loader's validation"),
        Rule("reversed", True, "directions of motion and rotation senses swapped"),
        Rule("time_symmetric", True, "nothing changes when the clip runs backwards"),
    )
}


# --------------------------------------------------------------------------------------------
# Vocabulary


@dataclass(frozen=True)
class Term:
    """A phrase of a vocabulary: `pattern` (a regex, matched case-insensitively) and the
    phrases that replace it (`counterparts`, the default first; the record's own spelling is
    preferred), or `None` for a phrase kept as it is (it only stops the words in it from being
    read as directions)."""

    kind: str  # the vocabulary class ("left_right", "rotation_sense", ...; "keep" when kept)
    pattern: str
    counterparts: tuple[str, ...] | None


def _keep(pattern: str) -> Term:
    return Term("keep", pattern, None)


def _either_or(pairs: Iterable[tuple[str, str]]) -> list[Term]:
    """Kept: "a or b" and "b or a". A question that offers both directions asks the same
    either way; swapping would only reorder its words (a needless change of the prompt)."""
    out: list[Term] = []
    for a, b in pairs:
        for one, other in ((a, b), (b, a)):
            out.append(_keep(r"\b" + one + r"\s+or\s+" + other + r"\b"))
    return out


def _terms(kind: str, entries: Iterable[tuple[str, tuple[str, ...]]]) -> list[Term]:
    """Terms from (regex, counterparts); a space in the regex matches any whitespace."""
    return [
        Term(kind, r"\b" + pattern.replace(" ", r"\s+"), counterparts)
        for pattern, counterparts in entries
    ]


def _pairs(kind: str, pairs: Iterable[tuple[str, str]]) -> list[Term]:
    """Terms for (a, b) phrase pairs, both ways; spaces match any whitespace."""
    out: list[Term] = []
    for a, b in pairs:
        for one, other in ((a, b), (b, a)):
            words = [re.escape(w) for w in one.split()]
            out.append(Term(kind, r"\b" + r"\s+".join(words) + r"\b", (other,)))
    return out


_CCW = r"\b(?:counter|anti)[\s-]?cl[a-z]{0,5}wise\b"  # counter-clockwise, Counter Clockwise, ...
_CW = r"\bcl[a-z]{0,5}wise\b"  # clockwise and the release's typos (clckswise, clockswise)
_CCW_SPELLINGS = (
    "counter-clockwise", "counterclockwise", "anticlockwise", "anti-clockwise", "counter clockwise",
)  # fmt: skip
_TO_THE = r"(?:to\s+the\s+)?"
_EITHER_LEFT_RIGHT = _either_or([(_TO_THE + "left", _TO_THE + "right")])
_EITHER_ROTATION = _either_or([(_CW, _CCW)])
_ROTATION_SENSE = [
    Term("rotation_sense", _CCW, ("clockwise",)),
    Term("rotation_sense", _CW, _CCW_SPELLINGS),
]
# A stem "left"/"right" followed by the end of the word, -wards, -most or a hyphen (left-hand).
_LR_END = r"(?=(?:wards?|most)?\b|-)"
_LEFT_RIGHT = [
    Term("left_right", r"\bleft" + _LR_END, ("right",)),
    Term("left_right", r"\bright" + _LR_END, ("left",)),
]
# Not directions: the past tense of "leave", idioms with "right".
_NOT_DIRECTIONS = [
    _keep(r"\b(?:never|has|had|have|having|just|already)\s+left\b"),
    _keep(r"(?<!the\x20)\bright\s+(?:away|now|after|before)\b"),  # not "to the right before"
    _keep(r"\ball\s+right\b"),
]

MIRROR_TERMS: tuple[Term, ...] = (
    *_NOT_DIRECTIONS, *_EITHER_LEFT_RIGHT, *_EITHER_ROTATION, *_ROTATION_SENSE, *_LEFT_RIGHT,
)  # fmt: skip
_MIRROR_SENSITIVE = re.compile(r"\b(?:left|right)\w*|\w*cl[a-z]{0,5}wise\w*", re.IGNORECASE)
_COMPASS = re.compile(r"\b(?:north|south|east|west)\w*", re.IGNORECASE)
_READS_TEXT = re.compile(
    r"\bwhat\s+(?:is\s+)?the\s+(?:number|word|text|name)\s+(?:of|on|written)\b|\bread(?:s|ing)?\b"
    r"|\bwritten\b|\bjersey\b|\bdigits?\b|\blicen[cs]e\s+plate\b|\bwhat\s+does\s+the\s+\w+\s+say\b",
    re.IGNORECASE,
)

# Reverse. Words after left/right that make it an adjective of a place ("the left excavator",
# "left hand"), unless the next word is one of these (then left/right is a direction).
_FUNCTION_WORDS = (
    "of in on at from to or and then before after while with as into onto for more less than but "
    "when during is are was were be been direction directions way ways the a an his her their "
    "its it he she they him them by until through over again once twice times time two three "
    "towards toward away up down forward forwards backward backwards turn turns turning if so too "
    "only each both instead"
).split()
_NOUN = r"(?!(?:" + "|".join(_FUNCTION_WORDS) + r")\b)[a-z]+\b"
_POSITION_LR = [
    _keep(r"\b(?:upper|lower|top|bottom)[\s-](?:left|right)\b"),
    _keep(r"\b(?:to|on|at|from)\s+the\s+(?:left|right)\s+of\b"),
    _keep(r"\b(?:left|right)\s+of\b"),
    _keep(r"\bon\s+(?:the|his|her|their|its)\s+(?:left|right)\b"),
    _keep(r"\b(?:left|right)(?:-?most)?(?:\s+|-)" + _NOUN),
]
# "the left or right ramp": asks which of two things; its left/right options are places.
_WHICH_SIDE = Term(
    "which_side", r"\b(?:on\s+the\s+)?(?:left|right)\s+or\s+(?:left|right)(?:\s+|-)" + _NOUN, None
)
_FACING = _keep(
    r"\bfac(?:e|es|ed|ing)\s+(?:(?:to|towards?)\s+(?:the\s+)?)?(?:left|right"
    r"|away(?:\s+from(?:\s+the)?\s+camera)?|(?:the\s+)?camera|forwards?|backwards?|up|down"
    r"|north|south|east|west)\b"
)
# What may follow "towards" / "away from" as the thing approached: a person, the camera, each
# other; not a direction ("towards the left": left/right carries it) or a time ("the end").
_THING = (
    r"\s+(?:the\s+(?!(?:left|right|top|bottom|front|back|end|start|beginning|middle|center"
    r"|centre|same|opposite|other|side)\b)\w|camera\b|each\s+other\b|one\s+another\b|him\b"
    r"|her\b|them\b|us\b|me\b|it\b|himself\b|herself\b|itself\b|themselves\b|their\s+selves\b"
    r"|(?:his|their|its)\s+(?!left\b|right\b)\w|a\b|an\b)"
)
_OBJECT = f"(?={_THING})"
# Verbs of motion after which "closer", "further away", "towards X", "away from X" describe the
# motion; elsewhere they may name a place ("the tram further away"), which reversing keeps.
_MOTION_VERBS = (
    "moving move moves moved coming come comes came going go goes went getting get gets got "
    "driving drive drives drove walking walk walks walked running run runs ran flying fly flies "
    "flew swimming swim swims swam riding ride rides rode skating rolling heading heads headed "
    "drifting crawling travelling traveling swinging swing swings paddling sliding climbing"
    " and or"  # "left and towards the camera"
).split()
_AFTER_MOTION = "(?:" + "|".join(rf"(?<=\b{verb}\x20)" for verb in _MOTION_VERBS) + "|^)"
# A whole option that is one bare word ("towards", "away").
_ALONE = r"(?=[\s.!?]*$)"
# A turn named by its goal or source ("turn to face the fridge", "turn from the cabinet"):
# reversed, the person starts facing that thing and turns away from it, so the goal becomes
# the source and the rotation sense swaps with it. After any other verb "to face X" is left to
# `goal_or_source`.
_AFTER_TURN = (
    "(?:" + "|".join(rf"(?<=\b{verb}\x20)" for verb in
                     "turn turns turned turning rotate rotates rotated rotating".split()) + ")"
)  # fmt: skip
_TURN_GOAL = [
    *_terms(
        "turn_goal",
        [
            (_AFTER_TURN + "to face" + _OBJECT, ("away from",)),
            (_AFTER_TURN + "towards?" + _OBJECT, ("away from",)),
            (_AFTER_TURN + "away from" + _OBJECT, ("towards", "toward")),
            (_AFTER_TURN + "from" + _OBJECT, ("towards", "toward")),
        ],
    ),
]
# "above" / "below" as a whole option of a motion question are directions ("which direction
# was the butter moved?": above / right / below / left): they swap as up / down do. Anywhere
# else they name a place or a viewpoint, which `_REVERSE_SENSITIVE` leaves out unless kept here.
_ABOVE_BELOW = [
    _keep(r"\b(?:seen|viewed|looking|looked|filmed|shot)\s+from\s+(?:above|below)\b"),
    *_terms("above_below", [("^above" + _ALONE, ("below",)), ("^below" + _ALONE, ("above",))]),
]

REVERSE_TERMS: tuple[Term, ...] = (
    *_NOT_DIRECTIONS,
    *_TURN_GOAL,
    *_ABOVE_BELOW,
    _FACING,
    _keep(r"\bupside\s+down\b"),
    _WHICH_SIDE,
    *_POSITION_LR,
    # "A or B" (elliptical ones too: swapping one half of "towards or away from" breaks it)
    *_EITHER_LEFT_RIGHT,
    *_EITHER_ROTATION,
    _keep(r"\btowards?\s+or\s+away\s+from\b"),
    *_either_or(
        [
            (
                r"(?:(?:coming|moving|getting|going)\s+)?closer",
                r"(?:(?:coming|moving|getting|going)\s+)?(?:further|farther)(?:\s+away)?",
            ),
            ("upwards", "downwards"),
            ("upward", "downward"),
            ("uphill", "downhill"),
            ("up", "down"),
            ("forwards", "backwards"),
            ("forward", "backward"),
            ("north", "south"),
            ("east", "west"),
            ("inwards?", "outwards?"),
            ("landing", r"taking\s+off"),
            (r"picking\s+up", r"putting\s+down"),
            (r"pick\s+up", r"put\s+down"),
            ("entering", "exiting"),
            ("rising", "falling"),
        ]
    ),  # fmt: skip
    *_ROTATION_SENSE,
    *_terms(
        "towards_away",
        [
            ("coming closer", ("going further away", "going farther away")),
            ("going (?:further|farther) away", ("coming closer",)),
            ("moving closer", ("moving further away", "moving farther away")),
            ("moving (?:further|farther) away", ("moving closer",)),
            ("getting closer", ("getting further away", "getting farther away")),
            ("getting (?:further|farther) away", ("getting closer",)),
            ("get closer", ("get further away", "get farther away")),
            ("get (?:further|farther) away", ("get closer",)),
            ("comes closer", ("moves away",)),
            ("moves away(?! from)", ("comes closer",)),
            ("come closer", ("move away",)),
            ("move away(?! from)", ("come closer",)),
            ("coming towards?", ("going away",)),
            ("going away", ("coming towards", "coming toward")),
            (
                "closer towards? the camera",
                (
                    "further away from the camera",
                    "further away from camera",
                    "farther away from the camera",
                ),
            ),
            (
                "(?:further|farther) away from (?:the )?camera",
                ("closer towards the camera", "closer toward the camera"),
            ),
            ("moving away(?! from)", ("approaching",)),
            ("approaching", ("moving away",)),
            # after a verb of motion, or opening an option: "the tram further away" names a tram
            (_AFTER_MOTION + "closer to", ("further away from", "farther away from")),
            (_AFTER_MOTION + "(?:further|farther) away from", ("closer to",)),
            (_AFTER_MOTION + "(?:further|farther) away", ("closer",)),
            (_AFTER_MOTION + "closer", ("further away", "farther away")),
            (_AFTER_MOTION + "away from" + _OBJECT, ("towards", "toward")),
            (_AFTER_MOTION + "towards?" + _OBJECT, ("away from",)),
            # the release's "toward from the camera and to the right" (synthetic) means towards
            ("^towards? from" + _OBJECT, ("away from",)),
            ("^towards?" + _ALONE, ("away",)),
            ("^away" + _ALONE, ("towards", "toward")),
        ],
    ),  # fmt: skip
    # "moving towards?" asks for a direction and names none; "towards" before a thing that is
    # not after a verb of motion is left to the check for unlisted words
    _keep(rf"\btowards?\b(?!{_THING})"),
    *_terms(
        "paired_action",
        [
            ("picking up", ("putting down",)),
            ("putting down", ("picking up",)),
            ("picks up", ("puts down",)),
            ("puts down", ("picks up",)),
            ("(?:pick|picked) up", ("put down",)),
            ("put down", ("pick up", "picked up")),
            ("entering", ("exiting", "leaving")),
            ("(?:exiting|leaving)", ("entering",)),
            ("entered", ("exited",)),
            ("exited", ("entered",)),
            ("enters", ("exits", "leaves")),
            ("(?:exits|leaves)", ("enters",)),
            ("enter", ("exit",)),
            ("exit", ("enter",)),
            ("landing", ("taking off",)),
            ("taking off", ("landing",)),
            ("rising", ("falling",)),
            ("falling", ("rising",)),
            ("increasing", ("decreasing",)),
            ("decreasing", ("increasing",)),
            ("increases", ("decreases",)),
            ("decreases", ("increases",)),
        ],
    ),
    Term("paired_action", r"\bleaves\b", ("enters",)),
    *_pairs(
        "up_down",
        [
            ("upwards", "downwards"),
            ("upward", "downward"),
            ("uphill", "downhill"),
            ("upstairs", "downstairs"),
            ("up", "down"),
        ],
    ),
    *_pairs("forwards_backwards", [("forwards", "backwards"), ("forward", "backward")]),
    *_pairs("compass", [("north", "south"), ("east", "west")]),
    *_pairs("inward_outward", [("inwards", "outwards"), ("inward", "outward")]),
    *_LEFT_RIGHT,
)

_REVERSE_SENSITIVE = re.compile(
    r"\b(?:left|right)\w*|\w*cl[a-z]{0,5}wise\w*|\btowards?\b|\baway\b|\bclose[rs]t?\b|\bnear"
    r"(?:er|est)\b|\b(?:further|farther|furthest|farthest)\b|\bapproach\w*|\breced\w*|\bup"
    r"(?:wards?|hill|stairs)?\b|\bdown(?:wards?|hill|stairs)?\b|\b(?:for|back)wards?\b"
    r"|\b(?:north|south|east|west)\w*|\b(?:in|out)wards?\b|\binto\b|\bout\s+of\b|\bonto\b"
    r"|\benter\w*|\bexit\w*|\bleav(?:e|es|ing)\b|\barriv\w*|\bdepart\w*|\bris(?:e|es|ing)\b"
    r"|\brose\b|\bfall(?:s|ing)?\b|\bfell\b|\bsink\w*|\bsank\b|\bascend\w*|\bdescend\w*"
    r"|\bhigher\b|\blower\b|\bland(?:s|ed|ing)?\b|\btak(?:e|es|ing)\s+off\b|\btook\s+off\b"
    r"|\bincreas\w*|\bdecreas\w*|\bgr[eo]w(?:s|ing|n)?\b|\bshr[iu]nk\w*"
    r"|\babove\b|\bbelow\b|\bbeneath\b|\bunder(?:neath)?\b",
    re.IGNORECASE,
)

# Reverse exclusion rules (on the texts with the vocabulary's phrases masked out).
_ORDERED = re.compile(
    r"\b(?:first|before|after|afterwards|then|start|starts|started|starting|end|ends|ended"
    r"|ending|begin|begins|beginning|began|begun|initially|final|finally|last|next|later"
    r"|earlier|eventually|until)\b",
    re.IGNORECASE,
)
_SPEED_CHANGE = re.compile(
    r"\b(?:speed(?:s|ing)?\s+up|sped\s+up|slow(?:s|ed|ing)?\s+down|accelerat\w*|decelerat\w*"
    r"|brak(?:e|es|ed|ing)|(?:gain|los)\w*\s+speed|faster\s+and\s+faster|slower\s+and\s+slower)\b",
    re.IGNORECASE,
)
_TURN = re.compile(r"\b(?:tur\w*n(?:s|ed|ing)?|trun\w*|u-turns?)\b", re.IGNORECASE)
_ANY_LEFT_RIGHT = re.compile(r"\b(?:left|right)\b", re.IGNORECASE)
# Actions whose reversal is another action (throw -> catch, place -> take away, jump -> a
# landing that turns into a take-off): the verbs of the release's questions, in every form.
ASYMMETRIC_ACTIONS: tuple[str, ...] = (
    "jump hop leap hit throw toss kick shoot serve pour place put pluck dribble flip frontflip "
    "backflip somersault dive fall drop reach pull push cut chop slice grab open close lift catch "
    "spray strike crack peel scoop sweep swipe stir wipe wash rinse fold insert remove drag draw "
    "trim tape apply transfer handle switch swap lean look wave touch sit lay lie bend land bring "
    "shake nod clap eat drink write build break crash bounce knock stretch flatten adjust spill "
    "fill empty dip gaze use lead follow chase overtake trail"
).split()
_IRREGULAR = (
    "threw thrown shot fell fallen caught struck swept drew drawn took sat laid lying bent stood "
    "brought ate drank wrote written built broke broken led dove"
).split()


def _verb_forms(verb: str) -> str:
    """A regex for the regular forms of `verb`: place(s/d), placing; drop(s), dropped, dropping;
    empty, empties, emptied; (no noun that merely starts with the verb: drag / dragon)."""
    if verb.endswith("e"):
        return verb[:-1] + "(?:e|es|ed|ing)"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "(?:y|ies|ied|ying)"
    return verb + verb[-1] + "?(?:s|es|ed|ing)?"


_ASYMMETRIC = re.compile(
    r"\b(?:"
    + "|".join([*map(_verb_forms, ASYMMETRIC_ACTIONS), *_IRREGULAR])
    # "take" except "take to the left" (steps), "taking off" (a pair), "take a turn"...
    + r"|tak(?:e|es|en|ing)(?!\s+(?:to\s+the|towards?|away|forwards?|backwards?|off)\b)"
    + r"|(?<!straight\x20)ahead|handed\s+(?:to|over|it|him|her|them)"
    + r"|stand(?:s|ing)?\s+up)\b",
    re.IGNORECASE,
)
_HOW_MANY = re.compile(r"\bhow\s+many\b", re.IGNORECASE)
_EVENT_COUNT = re.compile(
    r"\bhow\s+many\s+(?:full\s+|complete\s+|[\w-]+wise\s+)*(?:times|spins|revolutions|rotations"
    r"|turns|pans|swings|steps|passes|laps|flips|jumps|hops|kicks|hits|shots|throws|bounces"
    r"|strokes|scoops|spoonfuls|spoons|somersaults|keepy)\b",
    re.IGNORECASE,
)
_SYMMETRIC_EVENTS = re.compile(
    r"\b(?:spin\w*|spun|revolution\w*|revolv\w*|rotat\w*|tur\w*n(?:s|ed|ing)?|pan(?:s|ned"
    r"|ning)?|swing\w*|swung|steps?|pass(?:es|ed|ing)?|past|laps?)\b",
    re.IGNORECASE,
)
# "where" asking for a place ("where is the fridge?"), not "relative to where the camera is".
_WHERE = r"\bwhere\s+(?:is|are|was|were|does|do|did|can|could|will|would|has|have|had)\b"
_GOAL_OR_SOURCE = re.compile(
    r"\bto\s+(?:get|go|pick|place|open|reach|see|enter|exit|drape|pour|put|take|make|grab"
    r"|fetch|catch|hit|jump|empty|move)\b|\b(?:come|comes|came|coming)\s+from\b"
    r"|\b(?:go|goes|went|gone|move|moves|moved|moving)\s+to\b(?!\s+the\s+(?:left|right)\b)"
    r"|\bto\s+the\s+(?:ground|sky|floor|surface|water)\b|" + _WHERE + r".*\bfrom\b",
    re.IGNORECASE,
)
# A goal or source the vocabulary did not rewrite (on the masked texts): "move to face X", a
# turn "to" / "from" something that is not a thing `_TURN_GOAL` knows.
_UNSWAPPED_GOAL = re.compile(
    r"\bto\s+face\b|\b(?:tur\w*n(?:s|ed|ing)?|rotat\w*)\s+(?:to|from|towards?|away\s+from)\b",
    re.IGNORECASE,
)
# An option of a motion question that names where the thing ends up ("To the right of the
# cook" beside "Towards the cook"): reversed, that place is where it starts, and whether the
# option then names a direction or a place is not settled.
_PLACE_AS_GOAL = re.compile(r"^\s*to\s+the\s+(?:left|right)\s+of\b", re.IGNORECASE)
_MOTION = re.compile(
    r"\b(?:mov\w*|go|goes|going|went|gone|head(?:s|ed|ing)|com(?:e|es|ing)|came|driv\w*|drove"
    r"|walk\w*|run|runs|running|ran|rid(?:e|es|ing)|rode|swim\w*|swam|fl(?:y|ies|ying|ew|own)"
    r"|travel\w*|roll\w*|slid\w*|crawl\w*|climb\w*|paddl\w*|pedal\w*|skat\w*|ski(?:s|ing)?"
    r"|surf\w*|spin\w*|spun|rotat\w*|revolv\w*|revolutions?|pan(?:s|ned|ning)?|sail\w*|drift\w*"
    r"|float\w*|swing\w*|swung|steps?|motion|movement|flow\w*|land\w*|taking\s+off|ris(?:e|es|ing)"
    r"|fall\w*|enter\w*|exit\w*)\b",
    re.IGNORECASE,
)
_POSITION_QUESTION = re.compile(
    r"\b(?:which|what)\s+(?:sides?|hands?|arms?|foot|feet|legs?|one|stack|lane|corner)\b"
    r"|\bon\s+which\b|" + _WHERE + r"|\bquadrant\b|\blocated\b|\bpositioned\b"
    r"|\bwith\s+(?:the|his|her|their|its)\s+(?:\w+\s+)?(?:hands?|arms?|foot|feet|legs?)\b",
    re.IGNORECASE,
)
# A two-step answer: "left then right", "Up and then back down.", "clockwise, then ...".
_SEQUENCE = re.compile(
    r"^(?P<a>.+?)(?P<sep>\s*,?\s+(?:and\s+)?then\s+(?:back\s+)?)(?P<b>.+?)(?P<end>[\s.!]*)$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class _Vocabulary:
    terms: tuple[Term, ...]
    regex: re.Pattern[str]  # all terms in one alternation, group `t<i>` for term i


# In a question about a side or place ("which hand", "which side of the van"), reversing keeps
# the left/right of the options: the reverse vocabulary with left/right kept as they are.
_PLACES = "reverse_places"


@functools.cache
def _vocabulary(kind: str) -> _Vocabulary:
    """Compiled once, on first use (nothing is compiled at import)."""
    if kind == MIRROR:
        terms = MIRROR_TERMS
    elif kind == REVERSE:
        terms = REVERSE_TERMS
    else:
        places = {"left_right", "above_below"}
        terms = tuple(_keep(t.pattern) if t.kind in places else t for t in REVERSE_TERMS)
    parts = [f"(?P<t{i}>{term.pattern})" for i, term in enumerate(terms)]
    return _Vocabulary(terms, re.compile("|".join(parts), re.IGNORECASE))


# --------------------------------------------------------------------------------------------
# Rewriting


def _case_class(text: str) -> str:
    letters = [c for c in text if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return "upper"
    if letters and letters[0].isupper():
        words = [w for w in re.split(r"[\s-]+", text) if w]
        return "title" if len(words) > 1 and all(w[0].isupper() for w in words) else "capital"
    return "lower"


def _apply_case(template: str, text: str) -> str:
    """`text` in the case of `template` (lower, Capital, Title Words, UPPER)."""
    case = _case_class(template)
    if case == "upper":
        return text.upper()
    if case == "title":
        return re.sub(r"(^|[\s-])(\w)", lambda m: m.group(1) + m.group(2).upper(), text.lower())
    if case == "capital":
        return text[:1].upper() + text[1:]
    return text.lower()


@functools.cache
def _spelling(candidate: str) -> re.Pattern[str]:
    """A phrase as a word-bounded pattern; its spaces and hyphens match either."""
    words = map(re.escape, re.split(r"[\s-]+", candidate))
    return re.compile(r"(?<!\w)" + r"[\s-]+".join(words) + r"(?!\w)", re.IGNORECASE)


@dataclass
class _Context:
    """One record's texts, for choosing among spellings: the record's own spelling first."""

    texts: tuple[str, ...]

    def spelled(self, candidates: tuple[str, ...], matched: str) -> str:
        """The counterpart to write for `matched`: the first candidate the record uses (its
        occurrence written in `matched`'s case, if there is one), else the default; in
        `matched`'s case."""
        case = _case_class(matched)
        compatible = {case, "title"} if case == "capital" else {case}
        for candidate in candidates:
            pattern = _spelling(candidate)
            found = [m.group(0) for text in self.texts for m in pattern.finditer(text)]
            for occurrence in found:
                if _case_class(occurrence) in compatible:
                    return occurrence
            if found:
                return _apply_case(matched, found[0].lower())
        return _apply_case(matched, candidates[0])


@dataclass(frozen=True)
class _Rewritten:
    text: str
    masked: str  # the original with every matched phrase replaced by " "
    swapped: tuple[str, ...]  # the kinds of the terms that replaced something
    kept: tuple[str, ...] = ()  # the kinds of the terms kept as they are


def _rewrite(text: str, kind: str, context: _Context) -> _Rewritten:
    vocabulary = _vocabulary(kind)
    if kind != MIRROR:
        sequence = _reverse_sequence(text, kind, context)
        if sequence is not None:
            return sequence
    lead = text[: len(text) - len(text.lstrip())]
    core = text[len(lead) :]
    swapped: list[str] = []
    kept: list[str] = []
    masked: list[str] = []
    out: list[str] = []
    last = 0
    for match in vocabulary.regex.finditer(core):
        term = vocabulary.terms[int(match.lastgroup[1:])]
        out.append(core[last : match.start()])
        masked.append(core[last : match.start()] + " ")
        if term.counterparts is None:
            out.append(match.group(0))
            kept.append(term.kind)
        else:
            out.append(context.spelled(term.counterparts, match.group(0)))
            swapped.append(term.kind)
        last = match.end()
    out.append(core[last:])
    masked.append(core[last:])
    return _Rewritten(lead + "".join(out), lead + "".join(masked), tuple(swapped), tuple(kept))


def _reverse_sequence(text: str, kind: str, context: _Context) -> _Rewritten | None:
    """A two-step answer "A then B" reversed: "reverse(B) then reverse(A)", when A and B are
    each one phrase of the vocabulary (so "then" orders two motions of this answer only)."""
    match = _SEQUENCE.match(text)
    if match is None:
        return None
    parts = {}
    for name in ("a", "b"):
        part = match.group(name)
        found = _vocabulary(kind).regex.fullmatch(part.strip())
        if found is None:
            return None
        term = _vocabulary(kind).terms[int(found.lastgroup[1:])]
        if term.counterparts is None:
            return None
        parts[name] = (part, context.spelled(term.counterparts, part.strip()), term.kind)
    (a, new_a, kind_a), (b, new_b, kind_b) = parts["a"], parts["b"]
    text_out = _apply_case(a, new_b) + match.group("sep") + _apply_case(b, new_a)
    return _Rewritten(text_out + match.group("end"), " ", (kind_a, kind_b))


# --------------------------------------------------------------------------------------------
# Records


def _texts(record: Record) -> tuple[str, ...]:
    return (record.question, *record.options, record.answer_text)


def _check(record: Any) -> Record:
    if not isinstance(record, Record):
        raise TypeError(f"expected a Record, got {type(record).__name__}: {record!r:.80}")
    for name in ("uid", "question", "answer_text", "video", "subset"):
        if not isinstance(getattr(record, name), str):
            raise ValueError(f"record {record.uid!r}: field {name!r}: expected a string, "
                             f"got {getattr(record, name)!r}")  # fmt: skip
    if not isinstance(record.options, list) or not all(isinstance(o, str) for o in record.options):
        raise ValueError(f"record {record.uid!r}: field 'options': expected a list of strings, "
                         f"got {record.options!r}")  # fmt: skip
    if not isinstance(record.flags, list):
        raise ValueError(f"record {record.uid!r}: field 'flags': expected a list, "
                         f"got {record.flags!r}")  # fmt: skip
    try:
        subset = Subset(record.subset)
    except ValueError:
        raise ValueError(f"record {record.uid!r}: field 'subset': unknown subset "
                         f"{record.subset!r}") from None  # fmt: skip
    # The loader's checks, so that a transformed record is judged against a sound original.
    checked, problems = _loader_check(record, record.question, record.options, record.answer_text,
                                      subset)  # fmt: skip
    unlisted = [p for p in problems if p.flag not in record.flags]
    if unlisted:
        raise ValueError(f"record {record.uid!r}: field {unlisted[0].field!r}: "
                         f"{unlisted[0].message}, which its flags do not list")  # fmt: skip
    if checked.answer != record.answer:
        raise ValueError(f"record {record.uid!r}: field 'answer': {record.answer!r}, but the "
                         f"answer text {record.answer_text!r} is option "
                         f"{checked.answer or 'none'!r}")  # fmt: skip
    return record


def _loader_check(record: Record, question: str, options: Sequence[str], answer_text: str,
                  subset: Subset):  # fmt: skip
    """The annotation loader's normalization of these texts: (record, problems)."""
    from vlm4d_tasks.data.annotations import normalize_entry

    entry = {
        "id": record.question_id,
        "video": record.video,
        "question": question,
        "choices": dict(zip(LETTERS, options)),
        "answer": answer_text,
    }
    return normalize_entry(entry, subset, file="<transform>")


def _rebuild(
    record: Record, question: str, options: Sequence[str], answer_text: str, variant: str
) -> Record | None:
    """The transformed record, validated as the loader validates an official entry (answer
    letter = the first option whose text is the answer text), or None when that validation
    finds a problem the original did not have."""
    checked, _ = _loader_check(record, question, options, answer_text, Subset(record.subset))
    if not set(checked.flags) <= set(record.flags):
        return None
    flag = f"{FLAG_PREFIX}{variant}"
    # The same question about the same clip (the clip side transforms the video), new texts.
    return dataclasses.replace(
        record,
        uid=f"{record.uid}#{variant}",
        question=question,
        options=list(options),
        answer=checked.answer,
        answer_text=answer_text,
        flags=[*record.flags, *([] if flag in record.flags else [flag])],
    )


@dataclass(frozen=True)
class _Outcome:
    rule: str
    record: Record | None


def _unlisted(rewritten: Iterable[_Rewritten], sensitive: re.Pattern[str]) -> bool:
    return any(sensitive.search(r.masked) for r in rewritten)


def _mirror(record: Record) -> _Outcome:
    record = _check(record)
    context = _Context(_texts(record))
    question = _rewrite(record.question, MIRROR, context)
    options = [_rewrite(o, MIRROR, context) for o in record.options]
    answer = _rewrite(record.answer_text, MIRROR, context)
    everything = [question, *options]
    if _READS_TEXT.search(record.question):
        return _Outcome("reads_text", None)
    if any(_COMPASS.search(text) for text in (record.question, *record.options)):
        return _Outcome("compass_direction", None)
    if _unlisted(everything, _MIRROR_SENSITIVE):
        return _Outcome("unlisted_direction_word", None)
    changed = any(r.swapped for r in everything)
    out = _rebuild(record, question.text, [o.text for o in options], answer.text, MIRROR)
    if out is None:
        return _Outcome("ill_formed", None)
    return _Outcome("mirrored" if changed else "unchanged", out)


def _reverse(record: Record) -> _Outcome:
    record = _check(record)
    context = _Context(_texts(record))
    question = _rewrite(record.question, REVERSE, context)
    # A question about a side or a place: its left/right (options too) are places, kept.
    places = bool(_POSITION_QUESTION.search(question.masked)) or "which_side" in question.kept
    vocabulary = _PLACES if places else REVERSE
    if places:
        question = _rewrite(record.question, vocabulary, context)
    options = [_rewrite(o, vocabulary, context) for o in record.options]
    answer = _rewrite(record.answer_text, vocabulary, context)
    everything = [question, *options]
    masked = [r.masked for r in everything]
    raw = [record.question, *record.options]

    def found(pattern: re.Pattern[str], texts: Iterable[str] = masked) -> bool:
        return any(pattern.search(text) for text in texts)

    if found(_ORDERED):
        return _Outcome("ordered_events", None)
    if found(_SPEED_CHANGE, raw):
        return _Outcome("speed_change", None)
    if found(_TURN, raw) and found(_ANY_LEFT_RIGHT, raw):
        return _Outcome("turning", None)
    if found(_ASYMMETRIC):
        return _Outcome("asymmetric_action", None)
    counting = record.category == Category.COUNTING.value or _HOW_MANY.search(record.question)
    if (
        counting
        and _EVENT_COUNT.search(record.question)
        and not _SYMMETRIC_EVENTS.search(record.question)
        and "paired_action" not in question.swapped  # "how many times ... pick up" -> put down
    ):
        return _Outcome("counting_events", None)
    if (
        found(_GOAL_OR_SOURCE, [record.question])
        or found(_UNSWAPPED_GOAL)
        or (not places and found(_PLACE_AS_GOAL, record.options))
    ):
        return _Outcome("goal_or_source", None)
    directional = {"left_right", "above_below"}
    if any(directional & set(r.swapped) for r in everything) and not _MOTION.search(
        record.question
    ):
        return _Outcome("left_right_not_motion", None)
    if _unlisted(everything, _REVERSE_SENSITIVE):
        return _Outcome("unlisted_direction_word", None)
    out = _rebuild(record, question.text, [o.text for o in options], answer.text, REVERSE)
    if out is None:
        return _Outcome("ill_formed", None)
    changed = _texts(out) != _texts(record)
    return _Outcome("reversed" if changed else "time_symmetric", out)


def mirror(record: Record) -> Record | None:
    """The question about the clip flipped left-right (see the module docstring), or None
    when a rule drops it (`mirror_rule` says which)."""
    return _mirror(record).record


def mirror_rule(record: Record) -> str:
    """The name of the `MIRROR_RULES` rule that decides what `mirror` does with `record`."""
    return _mirror(record).rule


def reverse(record: Record) -> Record | None:
    """The question about the clip played backwards (see the module docstring), or None when
    it does not transform cleanly (`reverse_rule` says why)."""
    return _reverse(record).record


def reverse_rule(record: Record) -> str:
    """The name of the `REVERSE_RULES` rule that decides what `reverse` does with `record`."""
    return _reverse(record).rule


def transform(record: Record, kind: str) -> Record | None:
    """`mirror` or `reverse` by name."""
    if kind == MIRROR:
        return mirror(record)
    if kind == REVERSE:
        return reverse(record)
    raise ValueError(f"unknown transformation {kind!r}: expected one of {list(KINDS)}")


def transform_rule(record: Record, kind: str) -> str:
    """`mirror_rule` or `reverse_rule` by name."""
    if kind == MIRROR:
        return mirror_rule(record)
    if kind == REVERSE:
        return reverse_rule(record)
    raise ValueError(f"unknown transformation {kind!r}: expected one of {list(KINDS)}")


def rule_counts(records: Iterable[Record], kind: str) -> dict[tuple[str, str], dict[str, int]]:
    """How many questions each rule of `kind` decides, per (subset, category): every rule of
    `MIRROR_RULES` / `REVERSE_RULES` in their order, zeros included, groups sorted."""
    rules = MIRROR_RULES if kind == MIRROR else REVERSE_RULES if kind == REVERSE else None
    if rules is None:
        raise ValueError(f"unknown transformation {kind!r}: expected one of {list(KINDS)}")
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for record in records:
        group = counts.setdefault((record.subset, record.category), dict.fromkeys(rules, 0))
        group[transform_rule(record, kind)] += 1
    return dict(sorted(counts.items()))


def rotations(record: Record) -> list[Record]:
    """The circular shifts of the options: shift k puts option (k + i) mod n at position i
    (k = 0 is the original order); the answer letter follows its text; uid `<uid>#rot<k>`."""
    record = _check(record)
    out = []
    n = len(record.options)
    for k in range(n):
        options = record.options[k:] + record.options[:k]
        rotated = _rebuild(record, record.question, options, record.answer_text, f"{ROTATION}{k}")
        if rotated is None:  # cannot happen: an order of sound options raises no new problem
            raise RuntimeError(f"record {record.uid!r}: rotation {k} fails validation")
        out.append(rotated)
    return out


# --------------------------------------------------------------------------------------------
# Uids and scores


def base_uid(uid: str) -> str:
    """The uid of the question a transformed record came from (`#mirror`, `#reverse`,
    `#rot<k>` removed; a duplicate id's `#2` stays)."""
    while (match := _SUFFIX.search(uid)) is not None:
        uid = uid[: match.start()]
    return uid


def variant_of(uid: str) -> str | None:
    """The transformation a uid names ("mirror", "reverse", "rot2"; several joined by "#"),
    or None for an untransformed question."""
    base = base_uid(uid)
    return uid[len(base) + 1 :] if len(uid) > len(base) else None
