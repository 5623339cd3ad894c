"""Which options a text mentions: an option's text found literally, or through the motion
concepts it shares with the text ("stationary" is "not moving", "clockwise" a rotation), with
negated mentions dropped ("not left") and numbers read as words ("twice" is 2).

The meaning half of the rule extraction: `metric.extract` decides which option a response
commits to, this module says which options a piece of text names. Text is normalised first
(`normalise`: lower case, punctuation as tokens; `stem_words`: a crude stemmer), so a mention
is a match on words; every pattern is linear.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from vlm4d_tasks.data.annotations import MAX_OPTION_CHARS
from vlm4d_tasks.data.schema import LETTERS

# Typographic variants read as their ASCII forms (quotes, dashes, full-width punctuation).
TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\uff08": "(",
        "\uff09": ")",
        "\uff1a": ":",
        "\uff0c": ",",
        "\uff0e": ".",
        "\u3002": ".",
        "\uff01": "!",
        "\uff1b": ";",
    }
)


_NUMBER_WORDS = {
    "zero": "0",
    "one": "1",
    "once": "1",
    "single": "1",
    "two": "2",
    "twice": "2",
    "three": "3",
    "thrice": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "fifteen": "15",
    "twenty": "20",
}
_NUMBER_WORD_RE = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b")
# Numbers that label frames or steps ("in frame 3") are not counts.
_NUMBER_LABEL_RE = re.compile(
    r"\b(?:fram|frames?|imag|images?|steps?|options?|seconds?|image_)\s*$"
)
_NOT_A_COUNT = re.compile(r" (?:of|by|option|choic|answer)\b")  # after a number: "one of"
ARTICLES = frozenset({"a", "an", "the"})
_RESTATEMENT = re.compile(r" (?:which means|meaning|this means|that is|i e|in other words) ")
# "Moving left and then right" names two options: a conjunction keeps the second one too.
_CONJUNCTION = re.compile(r"^ (?:, )?(?:and|or|then|and then|but|,) $")
# Words that make "right"/"left" a place or a hand rather than a direction of motion.
_LOCATIVE = re.compile(r"\b(?:in|on|at) (?:[a-z']+ )?$")  # "in their right hand"
_BODY_PARTS = ("hand", "arm", "leg", "foot", "feet", "shoulder", "eye", "ear", "knee", "wrist")
_BODY_PARTS += ("palm", "finger")
_BODY_PART = re.compile(r"\s*(?:" + "|".join(_BODY_PARTS) + ")")
# Stemmed words after which a direction names the motion, not a place ("moving left"), maybe
# with one word between (see _ends_after).
_MOTION_SLOT = re.compile(
    r"\b(?:(?:mov|go|head|turn|rotat|spin|walk|run|swim|fly|driv|rid|travel|answer|skat|roll|"
    r"push|pull|jump|climb|swing|shift|step|wip|cut|put|plac)[a-z]*|toward|to|is|are|was|were|"
    r"and|then|or|but)(?= )"
)

# "There is no indication ..." denies a claim, not the object's presence.
_ABSTRACT = (
    r"(?:indication|evidence|sign|signs|way|information|need|clear|movement|motion|change|"
    r"reason|doubt|mention|definitive|specific|obvious|apparent|significant|noticeable|"
    r"further|additional|other|direction|visible|real|correct|answer|option)\b"
)
# "on the left (side)", "on its right": a place (named() reads "left side" as "left").
_ON_A_SIDE = re.compile(r"\bon (?:(?:the|its|his|her|their) )?$")
# The one who acts, in an egocentric clip the camera: "pulls the lid towards themselves".
_SELF = r"(?:themselves|themself|himself|herself|oneself|their selves|their self|his self)"
# Motion one way and back: "both ways" (not "both the left and right hands").
_BOTH_WAYS_WORDS = (
    r"both (?:ways|directions)|both (?:the )?(?:left and (?:the )?right|right and (?:the )?left)"
    r"(?! (?:hand|arm|leg|foot|feet|side|eye|ear)s? )|back and forth|to and fro"
)
_BOTH_WAYS = re.compile(rf" (?:in )?(?:{_BOTH_WAYS_WORDS})(?: directions?)? ")
# Phrases that mean the same thing. Order matters: earlier, more specific patterns win an
# overlap, so "counter-clockwise" is never read as "clockwise".
_CONCEPTS: tuple[tuple[str, str], ...] = (
    ("CCW", r"counter ?clockwise|anti ?clockwise|counter clock wise"),
    ("CW", r"clockwise|clock wise"),
    (
        "UNSURE",
        r"not sure|unclear|not clear|unsure|uncertain|cannot (?:be )?(?:determined?|tell|say)|"
        r"can't (?:be )?(?:determined?|tell|say)|(?:not |im)possible to (?:determine|tell|say|know)"
        r"|(?:not|insufficient|no) (?:enough )?information|unable to determine",
    ),
    (
        "ABSENT",
        r"(?:there (?:is|are) )?no (?:such )?(?!" + _ABSTRACT + r")\w+(?: \w+)?(?: \w+)? (?:there|"
        r"visible|present|in (?:the|this) (?:video|scene|image|frames?|videos))|(?:is|are) not "
        r"(?:visible|present|seen|shown|in the video)|(?:does|do) not (?:appear|exist)|there "
        r"(?:is|are) no (?!" + _ABSTRACT + r")\w+|no \w+ (?:is|are|can be) (?:visible|present|"
        r"seen|shown)|absent|cannot be seen|can't be seen|not (?:be )?seen",
    ),
    (
        "STILL",
        r"not moving|no movement|no motion|not move|doesn't move|didn't move|does not move|"
        r"did not move|stationary|standing still|stands still|staying still|stays still|remains?"
        r" still|(?:stay|stays|staying|stayed|remains?|remained|remaining) (?:in place|in the same"
        r" (?:place|position|spot|location))|motionless|static|still in (?:place|position)|"
        r"not in motion|steady in position",
    ),
    (
        "NOTURN",
        r"not (?:spinning|rotating|turning)|no (?:spin|spinning|rotation|turn|turning)|"
        r"(?:does|did) not (?:spin|rotate|turn)|(?:doesn't|didn't) (?:spin|rotate|turn)",
    ),
    (
        "TOWARD",
        r"(?:towards?|approaching|closer to|nearer to) (?:the )?(?:camera|viewer|observer)|"
        r"(?:towards?|closer to) " + _SELF + "|"
        r"coming (?:closer|toward|towards)|getting closer|closer towards|towards?(?= *$)",
    ),
    (
        "AWAY",
        r"away from (?:the )?(?:camera|viewer|observer)|away from " + _SELF + "|"
        r"(?:going|moving|getting) (?:further|"
        r"farther) away|further away|farther away|moving away|going away|receding|away(?= *$)",
    ),
    ("BOTHWAYS", _BOTH_WAYS_WORDS),
    ("LEFT", r"left(?:ward|wards)?"),
    ("RIGHT", r"right(?:ward|wards)?"),
    ("UPHILL", r"uphill"),
    ("DOWNHILL", r"downhill"),
    ("UP", r"up(?:ward|wards)?|ascending|rising|higher|upper|top"),
    ("DOWN", r"down(?:ward|wards)?|descending|lower|bottom"),
    ("FWD", r"forwards?|ahead"),
    ("BACK", r"backwards?|reversing|in reverse"),
    ("ZERO", r"zero|none|no \w+|not any|n't any|not a single|(?:not|never) \w+ (?:any|at all)"),
)
_CONCEPT_RES = tuple(
    (name, re.compile(rf"(?<![a-z0-9])(?:{pat})(?![a-z0-9])")) for name, pat in _CONCEPTS
)
# Concepts whose own wording is a negation: a preceding "not" does not cancel them.
_NEGATIVE_CONCEPTS = frozenset({"STILL", "NOTURN", "ABSENT", "UNSURE", "ZERO"})
# ... but only when the mention itself is worded as a negation: "not moving", "unclear", "there
# is no dog". "Not stationary" and "does not remain static" deny the concept.
_SELF_NEGATED = re.compile(
    r"(?:not|no|never|none|neither|nor|cannot|can't|doesn't|didn't|(?:does|did|do|is|are) not|"
    r"there (?:is|are) no|un|im|insufficient)"
)
# A mention right after a negation, or up to three words after it, is not a claim ("not
# left", "not to the left", "rather than right"; see _ends_after), nor is the rest of a list
# that follows it ("not left, right, or away"). The negations are "not", "n't", "nor",
# "neither", "no", "never", "rather than" and "instead of", written to start with a letter
# rather than "\b", which lets the regex engine skip ahead to the next n, r or i.
_NEGATION = re.compile(r"(?:n(?:'t|(?<=\bn)(?:ot|or|either|o|ever))|rather than|instead of)(?= )")
_NEXT_WORD_IN = re.compile(r" [a-z0-9']+(?= )")  # in normalised text
# Each character has one way to match: "[ ,]*(or )?(the )?[ ,]*" backtracked quadratically over
# a long ", , , ," before a word.
_LIST_GAP = re.compile(r"[ ,]*(?:(?:or|nor|and) (?:the )?[ ,]*|the [ ,]*)?")


# Models trained on Chinese text switch language mid-answer ("suggesting a 向右 trend"); the
# judge reads these directions, so they are read as their English words.
_CHINESE_WORDS = {
    "向左": "left",
    "朝左": "left",
    "往左": "left",
    "向右": "right",
    "朝右": "right",
    "往右": "right",
    "向上": "up",
    "向下": "down",
    "向前": "forward",
    "向后": "backward",
    "逆时针": "counterclockwise",
    "顺时针": "clockwise",
    "静止": "stationary",
    "不动": "not moving",
}
_CHINESE_RE = re.compile("|".join(_CHINESE_WORDS))


def normalise(text: str, numeric: bool) -> str:
    """Lower-case words separated by spaces, clause punctuation kept as " , " tokens."""
    text = text.translate(TYPOGRAPHY).lower()
    if not text.isascii():
        text = _CHINESE_RE.sub(lambda m: f" {_CHINESE_WORDS[m.group(0)]} ", text)
    if numeric:
        text = _NUMBER_WORD_RE.sub(lambda m: _NUMBER_WORDS[m.group(1)], text)
    text = re.sub(r"(?<=[a-z])'(?=[a-z])", "\0", text)  # keep "don't", drop quotes
    text = re.sub(r"[.,;:!?()\[\]{}\"']+", " , ", text)
    text = re.sub(r"[^a-z0-9\0,]+", " ", text).replace("\0", "'")
    return " " + " ".join(text.split()) + " "


# Irregular past forms read as their present ("bending over" is "He bent over."). Not "left":
# it is a direction far more often than the past of "leave".
_IRREGULAR = {
    "bent": "bend",
    "sat": "sit",
    "stood": "stand",
    "held": "hold",
    "took": "take",
    "taken": "take",
    "ran": "run",
    "threw": "throw",
    "thrown": "throw",
    "fell": "fall",
    "fallen": "fall",
    "came": "come",
    "rode": "ride",
    "drove": "drive",
    "flew": "fly",
    "swam": "swim",
    "rose": "rise",
    "spun": "spin",
    "caught": "catch",
    "brought": "bring",
    "gave": "give",
    "got": "get",
}
# A doubled consonant left by a suffix is single in the word's stem ("sitting" is "sit"), but
# not these, which double in the stem itself ("rolling" is "roll").
_KEPT_DOUBLES = frozenset({"ll", "ss", "ff", "zz"})


@functools.lru_cache(maxsize=1 << 16)  # answers repeat their words
def stem_word(word: str) -> str:
    """A crude stemmer so that "holding the plate" matches "hold the plate", "sitting" matches
    "sit" and "bent" matches "bending"."""
    word = _IRREGULAR.get(word, word)
    if len(word) >= 4:
        for suffix in ("ing", "ed", "es", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                if (
                    suffix in ("ing", "ed")
                    and word[-1] == word[-2]
                    and word[-1] not in "aeiou"
                    and word[-2:] not in _KEPT_DOUBLES
                ):
                    word = word[:-1]
                break
        if word.endswith("e") and len(word) >= 4:
            word = word[:-1]
    return word


_SAME_WORDS = {"into": "in", "onto": "on"}


def stem_words(normalised: str) -> str:
    words = [_SAME_WORDS.get(w) or stem_word(w) for w in normalised.split() if w not in ARTICLES]
    return " " + " ".join(words) + " "


def _ends_after(marker: re.Pattern[str], text: str, words: int) -> set[int]:
    """The positions where a mention may start right after `marker` and up to `words` more
    words ("not " and "not to the " before "left"), in normalised text.

    One pass over the text: a question asked once per mention ("what ends just before it?")
    made a long answer quadratic."""
    ends = set()
    for m in marker.finditer(text):
        end = m.end()
        ends.add(end + 1)
        for _ in range(words):
            word = _NEXT_WORD_IN.match(text, end)
            if not word:
                break
            end = word.end()
            ends.add(end + 1)
    return ends


def _ends_with(pattern: re.Pattern[str], text: str, end: int, spaces: int) -> bool:
    """Whether `pattern`, anchored at the end ("...$"), matches `text[:end]`.

    Its matches start at a word and hold at most `spaces` spaces, so only the last words before
    `end` are searched: asked once per mention, a search of the whole text before it would make
    a long answer cost quadratic time.
    """
    start = end
    for _ in range(spaces + 1):
        start = text.rfind(" ", 0, start)
        if start < 0:
            start = 0
            break
    return pattern.search(text, start, end) is not None


def _free_spans(spans: list, taken: list) -> list:
    """The spans (in text order, disjoint) that overlap none of `taken` (sorted, disjoint).

    One sweep over both lists: a mention checked against every earlier one made a looping
    answer quadratic."""
    if not taken:
        return spans
    free = []
    i = 0
    for span in spans:
        start, end = span[0], span[1]
        while i < len(taken) and taken[i][1] <= start:
            i += 1
        if i < len(taken) and taken[i][0] < end:
            continue
        free.append(span)
    return free


def concept_spans(normalised: str) -> list[tuple[int, int, str]]:
    """Non-overlapping concept mentions, earlier patterns taking priority, negations dropped."""
    taken: list[tuple[int, int, str]] = []
    for name, pattern in _CONCEPT_RES:
        found = [(m.start(), m.end(), name) for m in pattern.finditer(normalised)]
        if found:
            taken = sorted(taken + _free_spans(found, taken))
    worded = {
        s for s, _, n in taken if n in _NEGATIVE_CONCEPTS and _SELF_NEGATED.match(normalised, s)
    }
    return _drop_negated(normalised, taken, lambda start, _: start in worded)


def _drop_negated(text: str, spans: list, is_negative) -> list:
    """Drop mentions after a negation, continuing through a list: "not left, right, or away".

    `is_negative(start, payload)` says whether a mention is itself negative ("not moving"),
    which a preceding "not" does not cancel.
    """
    negations = _ends_after(_NEGATION, text, 3) if spans else set()
    if not negations:
        return list(spans)
    kept = []
    negated_until = -1
    for span in spans:
        start, end, payload = span
        if negated_until >= 0 and _LIST_GAP.fullmatch(text[negated_until:start]):
            negated_until = end
            continue
        negated_until = -1
        if start in negations and not is_negative(start, payload):
            negated_until = end
            continue
        kept.append(span)
    return kept


# An option that starts with a pronoun ("He bent over.") describes what its subject did; a
# response names the subject ("The baker is seen bending over"), so it is matched without it.
_SUBJECT_PRONOUN = re.compile(r"^ (?:he|she|they|it|it's|it is) (?=\w)")


@dataclass(frozen=True)
class Option:
    letter: str
    text: str  # as given (str() of ints), stripped; matched on its first MAX_OPTION_CHARS
    stem: str  # stemmed words, padded with spaces
    concepts: frozenset[str]


class Options:
    """The four options of one question, prepared for matching."""

    def __init__(self, options: Sequence[object], anchor: str = "", motion: bool = False) -> None:
        """anchor: the question's point of reference, normalised ("dart board" for "... moving
        with respect to the dart board?"); "" when it names none (then the camera). motion: the
        question asks which way something moves (`asks_motion`), so "the propellers on the
        left side" says where a part is, not the answer."""
        self.motion = motion
        full = [str(o).strip() for o in options]
        # "towards the dart board" answers "coming toward" when the question moves things with
        # respect to the dart board: its reference plays the camera's part in the concepts.
        self.anchor = (
            # "dartboard" is "dart board"
            re.compile(
                rf"\b(towards?|away from|closer to|nearer to) (?:{_OWNERS})?"
                + re.escape(anchor).replace(r"\ ", " ?")
                + " "
            )
            if anchor
            else None
        )
        # Every bound below (label windows, words read after a letter, needles) follows the
        # longest option: cut, they stay small whatever a response file puts in its options.
        self.capped = any(len(t) > MAX_OPTION_CHARS for t in full)
        texts = [t[:MAX_OPTION_CHARS] for t in full]
        self.numeric = bool(texts) and all(re.fullmatch(r"\d+", t) for t in texts)
        # "from left to right" names "right" unless an option spells out the whole path.
        self.has_paths = any(re.search(r"\bto (?:the )?(?:left|right)\b", t.lower()) for t in texts)
        # "Which hand ...?" questions offer "both": there "right hand" is the answer itself.
        self.about_limbs = any(re.search(r"\b(?:both|hands?)\b", t.lower()) for t in texts)
        self.items: list[Option] = []
        for letter, text, whole in zip(LETTERS, texts, full):
            normalised = _BOTH_WAYS.sub(
                " both ways ", self._anchored(normalise(text.rstrip(" ."), self.numeric))
            )
            concepts = {n for _, _, n in concept_spans(normalised) if n != "ZERO"}
            if self.numeric and text == "0":
                concepts = {"ZERO"}
            stem = stem_words(_SUBJECT_PRONOUN.sub(" ", normalised, count=1))
            if len(stem.split()) < 2:
                stem = stem_words(normalised)  # "It's stationary" stays whole
            self.items.append(Option(letter, whole, stem, frozenset(concepts)))
        self.both_ways = any("BOTHWAYS" in o.concepts for o in self.items)
        # The most words (stemmed, commas counted) in an option: a label with more is none.
        self.stem_words = max((len(o.stem.split()) for o in self.items), default=0)
        # A label longer than this many characters cannot be an option's text, whatever its
        # words (a line of "答案是A答案是A..." has none: see _label_window).
        self.label_chars = 4 * max((len(t) for t in texts), default=0) + 256
        # Option A's text, which "A" before a word may spell out ("A not moving").
        self.first_text = normalise(texts[0], self.numeric).rstrip(", ") if texts else ""

    def _anchored(self, normalised: str) -> str:
        return normalised if self.anchor is None else self.anchor.sub(r"\1 the camera ", normalised)

    def _prepared(self, text: str) -> str:
        """`text` normalised, the question's reference read as the camera's, and "both the left
        and right" read as "both ways" when an option says so (else it names left and right)."""
        normalised = self._anchored(normalise(text, self.numeric))
        if self.both_ways:
            normalised = _BOTH_WAYS.sub(" both ways ", normalised)
        return normalised

    def _a_place(self, text: str, start: int, end: int) -> bool:
        """Whether the "left"/"right" at text[start:end] says where something is rather than
        which way it goes: "in their right hand" (unless the options are about hands), and in a
        question of which way something moves, "on the left side"."""
        if (
            not self.about_limbs
            and _BODY_PART.match(text, end)
            and _ends_with(_LOCATIVE, text, start, 2)
        ):
            return True
        return self.motion and _ends_with(_ON_A_SIDE, text, start, 2)

    def by_letter(self, letter: str) -> Option:
        return self.items[LETTERS.index(letter)]

    def named(self, text: str) -> list[Option]:
        """Options that `text` claims, in order of mention: whole option texts first, else
        options whose every concept the text mentions (synonyms: "stationary" = "not moving")."""
        normalised = self._prepared(text)
        # "from the right end to the left end" is "right to left".
        normalised = re.sub(r"\b(left|right|top|bottom) (?:end|side|edge)\b", r"\1", normalised)
        if not self.has_paths:
            normalised = re.sub(
                r"(?:from )?(left|right) to (?:the )?(left|right)", r"\2", normalised
            )
        found = self._literal(normalised) or self._by_concept(normalised)
        restated = _RESTATEMENT.split(normalised)
        if len({o.letter for o in found}) > 1 and len(restated) > 1:
            # "towards the camera, which means it is coming closer": the restatement answers.
            found = self._literal(restated[-1]) or self._by_concept(restated[-1]) or found
        return list({o.letter: o for o in found}.values())  # in order of first mention

    def _literal(self, normalised: str) -> list[Option]:
        stemmed = stem_words(normalised)
        spans: list[tuple[int, int, Option]] = []
        for opt in sorted(self.items, key=lambda o: -len(o.stem)):
            needle = opt.stem.strip()
            if not needle or needle == ",":
                continue
            pattern = rf"(?<![a-z0-9']){re.escape(needle)}(?![a-z0-9'])"
            found = [(*m.span(), opt) for m in re.finditer(pattern, stemmed)]
            # Not inside a longer option ("clockwise" in "counter clockwise").
            accepted = _free_spans(found, spans)
            if self.numeric:
                accepted = [
                    (start, end, o)
                    for start, end, o in accepted
                    if not _ends_with(_NUMBER_LABEL_RE, stemmed, start - 1, 0)  # before its space
                    and not _NOT_A_COUNT.match(stemmed, end)
                ]  # "frame 3", "one of them", "one by one", "one option" are no counts
            if needle in {"left", "right"}:
                accepted = [s for s in accepted if not self._a_place(stemmed, s[0], s[1])]
            if accepted:
                spans = sorted(spans + accepted, key=lambda s: s[0])
        spans = _drop_negated(stemmed, spans, lambda _, o: bool(o.concepts & _NEGATIVE_CONCEPTS))
        # "towards the left": a preposition option followed by another option is its object.
        kept = spans
        if any(o.stem in (" toward ", " to ") for o in self.items):
            kept = [
                (s, e, o)
                for i, (s, e, o) in enumerate(spans)
                if not (
                    o.stem in (" toward ", " to ")
                    and i + 1 < len(spans)
                    and spans[i + 1][0] <= e + 1
                )
            ]
        if len({o.letter for _, _, o in kept}) > 1:
            # "The excavator on the right is moving towards the left": prefer the option
            # that follows a verb of motion over one that only says where something is.
            motion = _ends_after(_MOTION_SLOT, stemmed, 1)
            slots = [s in motion for s, _, _ in kept]
            if any(slots):
                for i in range(1, len(kept)):
                    # "both the left and right": a conjunction ties a mention to the one before.
                    if (
                        slots[i]
                        and not slots[i - 1]
                        and _CONJUNCTION.search(stemmed[kept[i - 1][1] : kept[i][0]])
                    ):
                        slots[i - 1] = True
                kept = [span for span, slot in zip(kept, slots) if slot]
        return [o for _, _, o in kept]

    def _by_concept(self, normalised: str) -> list[Option]:
        spans = [
            (s, e, n)
            for s, e, n in concept_spans(normalised)
            if n not in {"LEFT", "RIGHT"} or not self._a_place(normalised, s, e)
        ]
        mentioned = {n for _, _, n in spans}
        fits = [o for o in self.items if o.concepts and o.concepts <= mentioned]
        if not fits:
            return []
        most = max(len(o.concepts) for o in fits)
        best = [o for o in fits if len(o.concepts) == most]
        first = {n: s for s, _, n in reversed(spans)}
        return sorted(best, key=lambda o: min(first[n] for n in o.concepts))


@functools.lru_cache(maxsize=4096)
def options_for(texts: tuple[str, ...], anchor: str = "", motion: bool = False) -> Options:
    """Prepared options; a benchmark asks the same question of many models."""
    return Options(texts, anchor, motion)


# "What direction is the drone moving towards?": the answer is a way of moving, not a side.
_MOTION_QUESTION = re.compile(
    r"^\s*(?:what|which) (?:direction|way) (?:(?:is|are|was|were) [^?]*\b(?:moving|going|heading|"
    r"travell?ing|driving|flying|swimming|running|walking|rolling)|(?:does|do|did) [^?]*\b(?:move|"
    r"go|head|travel|drive|fly|swim|run|walk|roll))\b",
    re.IGNORECASE,
)


def asks_motion(question: str | None) -> bool:
    """Whether a question asks which way something moves (and not on which side it is)."""
    if not isinstance(question, str) or not question:
        return False
    return bool(_MOTION_QUESTION.match(question[:300])) and "side" not in question.lower()


_OWNERS = r"(?:the|a|an|his|her|their|its) "
# "... moving with respect to the dart board?", "... relative to the cook?": the point the
# question measures motion from. Read from the question's end, so the scan is linear.
_ANCHOR = re.compile(
    r"\b(?:with respect to|relative to|in relation to) (?:"
    + _OWNERS
    + r")?([a-z]+(?: [a-z]+){0,2}?)"
    r" ?(?:at first|throughout the video|at the (?:start|end) of the video)? ?\?\s*$",
    re.IGNORECASE,
)


def question_anchor(question: str | None) -> str:
    """The reference point a question names at its end ("dart board"), normalised, or ""."""
    if not isinstance(question, str) or not question:
        return ""
    m = _ANCHOR.search(question[-200:])
    if m is None:
        return ""
    anchor = normalise(m.group(1), False).strip(" ,")
    return "" if anchor in ("camera", "") else anchor
