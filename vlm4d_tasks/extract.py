"""Deterministic answer extraction: which option of a VLM4D question did a response choose?

The VLM4D paper (Zhou et al., ICCV 2025, "Towards Spatiotemporal Awareness in Vision Language
Models", Sec. 4 "Evaluation") does not parse answers with a regular expression: every response
goes to an LLM judge (o4-mini, cross-checked with o3 and by hand) that reads it together with
the options and returns the chosen option or "No Valid Answer". The released judged responses
show how that judge decides:

- an explicit commitment ("Therefore, the final answer is: C", "Answer: B", a bare "D") chooses
  that option; when the model commits more than once, the last commitment counts;
- a letter whose attached option text names a different option ("D: left" when D is "right")
  is not a valid answer: the judge marks it wrong whichever of the two is correct;
- a response without a letter is matched on the meaning of its conclusion ("The car is
  moving towards the camera." chooses the option "towards the camera");
- a response that commits to nothing, lists several letters, refuses or is garbled is
  "No Valid Answer", never a guess from any letter that appears somewhere in the text.

`extract` reproduces those verdicts offline with small, ordered, named rules. Each verdict
carries the rule that decided and the span of the response it rests on; `confident=False`
marks verdicts that a hybrid scorer should send to the LLM judge instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

LETTERS: tuple[str, ...] = ("A", "B", "C", "D")
NO_ANSWER = None  # letter value when nothing is committed to
NO_VALID_ANSWER_LABEL = "No Valid Answer"  # the official judge's wording


@dataclass(frozen=True)
class Extraction:
    """The verdict on one response.

    `letter` is "A".."D" or None ("no valid answer"); `rule` names the rule that decided and
    `evidence` is the span of the response that decided it.
    """

    letter: str | None
    confident: bool
    rule: str
    evidence: str = ""
    option_text: str = ""

    @property
    def label(self) -> str:
        """The official `extracted_answer` format: "C: right" or "No Valid Answer"."""
        if self.letter is None:
            return NO_VALID_ANSWER_LABEL
        return f"{self.letter}: {self.option_text}" if self.option_text else self.letter


# --------------------------------------------------------------------------------------------
# Text normalisation


_THINK_CLOSE = re.compile(r"</think\s*>", re.IGNORECASE)
_THINK_OPEN = re.compile(r"<think\s*>", re.IGNORECASE)
_LATEX_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit|mbox)\s*\{([^{}]*)\}")
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{([^{}]*)\}")
_MARKUP = re.compile(r"\*\*|__|`+|\$+|\\\(|\\\)|\\\[|\\\]|</?(?:b|strong|em|i|answer)>", re.I)
_SPACES = re.compile(r"[ \t\u00a0]+")
_TRANSLATE = str.maketrans(
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
    }
)


def _split_think(text: str) -> tuple[str, bool]:
    """Drop `<think>` reasoning when an answer follows it; returns (text, reasoning_only)."""
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        after = text[closes[-1].end() :]
        if after.strip():
            return after, False
        return _THINK_OPEN.sub(" ", _THINK_CLOSE.sub(" ", text)), True
    if _THINK_OPEN.search(text):  # reasoning was cut off before the model answered
        return _THINK_OPEN.sub(" ", text), True
    return text, False


def _clean(text: str) -> str:
    """Remove markup that wraps answers (markdown bold, LaTeX, `$`) but keep line structure."""
    text = text.translate(_TRANSLATE)
    text = _BOXED.sub(r"\1", text)
    for _ in range(2):  # nested wrappers such as \text{\textbf{C}}
        text = _LATEX_WRAP.sub(r"\1", text)
    text = _MARKUP.sub("", text)
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return text.strip()


_NUMBER_WORDS = {
    "zero": "0",
    "none": "0",
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


def _norm(text: str) -> str:
    """Lower-case words separated by single spaces; hyphens and punctuation become spaces."""
    text = text.translate(_TRANSLATE).lower()
    text = re.sub(r"[^a-z0-9']+", " ", text)
    return f" {text.strip()} "


# --------------------------------------------------------------------------------------------
# Meaning of option texts: literal occurrence first, then shared concepts

# Phrases that mean the same motion. Order matters: longer, more specific phrases first so
# that "counter-clockwise" is never read as "clockwise".
_CONCEPTS: tuple[tuple[str, str], ...] = (
    ("CCW", r"counter ?clockwise|anti ?clockwise|counter clock wise"),
    ("CW", r"clockwise|clock wise"),
    (
        "UNSURE",
        r"not sure|unclear|not clear|cannot (?:be )?(?:determined?|tell|say)|can't (?:be )?"
        r"(?:determined?|tell|say)|(?:not|im)possible to (?:determine|tell|say|know)|"
        r"(?:not|insufficient|no) (?:enough )?information|unable to determine|"
        r"not enough information",
    ),
    (
        "ABSENT",
        r"(?:there (?:is|are) )?no \w+(?: \w+)?(?: \w+)? (?:there|in the (?:video|scene|image|"
        r"frames?))|(?:is|are) not (?:visible|present|seen|shown)|(?:does|do) not (?:appear|"
        r"exist)|there (?:is|are) no \w+|no \w+ (?:is|are) (?:visible|present|seen|shown)",
    ),
    (
        "STILL",
        r"not moving|no movement|not move|doesn't move|didn't move|does not move|did not move|"
        r"stationary|standing still|stands still|staying still|stays still|remains? still|"
        r"(?:stay|stays|staying|remains?|remaining) (?:in place|in the same (?:place|position|"
        r"spot|location))|motionless|static|still in (?:place|position)|not in motion",
    ),
    (
        "NOTURN",
        r"not (?:spinning|rotating|turning)|no (?:spin|spinning|rotation|turn|turning)|"
        r"does not (?:spin|rotate|turn)|doesn't (?:spin|rotate|turn)",
    ),
    (
        "TOWARD",
        r"(?:towards?|approaching|closer to|nearer to) (?:the )?(?:camera|viewer|observer)|"
        r"coming (?:closer|toward|towards)|getting closer|closer towards|towards?(?= *$)",
    ),
    (
        "AWAY",
        r"away from (?:the )?(?:camera|viewer|observer)|(?:going|moving|getting) (?:further|"
        r"farther) away|further away|farther away|moving away|going away|receding|away(?= *$)",
    ),
    ("LTR", r"left to (?:the )?right"),
    ("RTL", r"right to (?:the )?left"),
    ("LEFT", r"left(?:ward|wards)?"),
    ("RIGHT", r"right(?:ward|wards)?"),
    ("UPHILL", r"uphill"),
    ("DOWNHILL", r"downhill"),
    ("UP", r"up(?:ward|wards)?|ascending|rising|upper"),
    ("DOWN", r"down(?:ward|wards)?|descending|falling|lower"),
    ("FWD", r"forwards?|ahead"),
    ("BACK", r"backwards?|reversing|in reverse"),
)
_CONCEPT_RES = tuple((name, re.compile(rf"(?<![a-z0-9])(?:{pat})(?![a-z0-9])")) for name, pat in _CONCEPTS)
# A mention directly negated ("not left", "rather than right") is not a claim.
_NEGATION = re.compile(r"(?:\bnot|n't|\bnor|\bneither|rather than|instead of|\bno)\s+(?:\w+\s+)?$")


def _concept_spans(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping concept mentions in normalised text, earlier patterns taking priority."""
    taken: list[tuple[int, int, str]] = []
    for name, pattern in _CONCEPT_RES:
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e, _ in taken):
                continue
            taken.append((m.start(), m.end(), name))
    return sorted(taken)


def _concepts_of(text: str) -> frozenset[str]:
    return frozenset(name for _, _, name in _concept_spans(text))


@dataclass(frozen=True)
class _Option:
    letter: str
    text: str  # as given, str() of ints
    norm: str  # normalised, padded with spaces
    concepts: frozenset[str]


def _make_options(options: Sequence[object]) -> list[_Option]:
    made = []
    for letter, raw in zip(LETTERS, options):
        text = str(raw).strip()
        norm = _norm(_NUMBER_WORD_RE.sub(lambda m: _NUMBER_WORDS[m.group(1)], text.lower()))
        made.append(_Option(letter, text, norm, _concepts_of(norm)))
    return made


def _literal_hits(text: str, options: list[_Option]) -> list[tuple[int, int, _Option]]:
    """Occurrences of whole option texts in normalised `text`, longest first, not negated."""
    spans: list[tuple[int, int, _Option]] = []
    for opt in sorted(options, key=lambda o: -len(o.norm)):
        needle = opt.norm.strip()
        if not needle:
            continue
        for m in re.finditer(rf"(?<![a-z0-9']){re.escape(needle)}(?![a-z0-9'])", text):
            if any(m.start() < e and s < m.end() for s, e, _ in spans):
                continue  # part of a longer option ("clockwise" in "counter clockwise")
            if not opt.concepts & {"STILL", "NOTURN", "ABSENT"} and _NEGATION.search(
                text[: m.start()]
            ):
                continue
            spans.append((m.start(), m.end(), opt))
    return sorted(spans, key=lambda s: s[0])


def _concept_hits(text: str, options: list[_Option]) -> list[tuple[int, int, _Option]]:
    """Mentions of a concept that exactly one option carries (synonym matching)."""
    hits = []
    for start, end, name in _concept_spans(text):
        if name not in {"STILL", "NOTURN", "ABSENT", "UNSURE"} and _NEGATION.search(text[:start]):
            continue
        owners = [o for o in options if name in o.concepts]
        if len(owners) == 1:
            hits.append((start, end, owners[0]))
    return hits


def _options_named(text: str, options: list[_Option]) -> list[_Option]:
    """Distinct options that `text` names, literally or else by meaning, in order of mention."""
    normed = _norm(_NUMBER_WORD_RE.sub(lambda m: _NUMBER_WORDS[m.group(1)], text.lower()))
    hits = _literal_hits(normed, options) or _concept_hits(normed, options)
    seen: list[_Option] = []
    for _, _, opt in hits:
        if opt not in seen:
            seen.append(opt)
    return seen


# --------------------------------------------------------------------------------------------
# Letter commitments

# A letter as models write it: C, (C), [C], "C", 'C', option C, choice C. The letter must not
# continue a word, and a following word must not make it an English article ("A car").
_L = r"(?:\(|\[|\"|'|(?:option|choice)\s+)?(?P<letter>[A-Da-d])(?:\)|\]|\"|')?(?![A-Za-z0-9_'-])"
_COMMIT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "final_answer_phrase",
        re.compile(
            r"(?:answer|option|choice|response)\s*(?:would be|will be|should be|must be|is|=|:|"
            r"-)\s*(?:that\s+)?(?:option\s+|choice\s+)?:?\s*" + _L,
            re.IGNORECASE,
        ),
    ),
    (
        "choose_phrase",
        re.compile(
            r"\bI\s*(?:would|will|'d|'ll)?\s*(?:choose|select|pick|go with|answer)\s*:?\s*"
            r"(?:option\s+|choice\s+)?" + _L,
            re.IGNORECASE,
        ),
    ),
    (
        "letter_is_correct",
        re.compile(
            r"(?:option|choice|answer)\s+" + _L + r"\s*(?:\([^)]*\)\s*)?(?:is|seems|would be)\s+"
            r"(?:the\s+)?(?:most\s+)?(?:correct|right|best|accurate|appropriate)",
            re.IGNORECASE,
        ),
    ),
)
_STANDALONE = re.compile(r"^(?:answer\s*:?\s*)?" + _L + r"\s*(?:[.:)\-,]|$)", re.IGNORECASE)
_LINE_LABEL = re.compile(r"^\s*(?:[-*#>]+\s*)?(?:option\s+|choice\s+)?\(?([A-D])\s*[.:)]", re.I)


@dataclass(frozen=True)
class _Commit:
    rule: str
    letter: str
    start: int
    end: int
    tail: str  # text after the letter on the same line: the option text models often attach


def _is_article(text: str, m: re.Match[str], options: list[_Option]) -> bool:
    """'A' followed by a lower-case word reads as an article unless it spells option A."""
    letter = m.group("letter")
    rest = text[m.end() :]
    if letter in "bcd":  # lower-case b/c/d stand alone only at the end of a clause
        return not re.match(r"\s*(?:$|[.,;:!?)\]\n])", rest)
    if letter not in "Aa":
        return False
    word = re.match(r"\s+([a-z][a-z'-]*)", rest)
    if letter == "a" and not re.match(r"\s*(?:$|[.,;:!?)\]\n])", rest):
        return True
    if not word:
        return False
    return not _norm(rest).startswith(options[0].norm) if options else True


def _find_commits(text: str, options: list[_Option]) -> list[_Commit]:
    commits: list[_Commit] = []
    for rule, pattern in _COMMIT_PATTERNS:
        for m in pattern.finditer(text):
            if _is_article(text, m, options):
                continue
            letter = m.group("letter").upper()
            if letter not in LETTERS[: len(options)]:
                continue
            line_end = text.find("\n", m.end())
            tail = text[m.end() : line_end if line_end >= 0 else len(text)]
            commits.append(_Commit(rule, letter, m.start(), m.end(), tail))
    # A line that holds only a letter (optionally with its option text) commits too; an
    # enumeration of options line by line does not, so those lines are skipped below.
    offset = 0
    for line in text.split("\n"):
        m = _STANDALONE.match(line)
        if m and not _is_article(line, m, options):
            letter = m.group("letter").upper()
            if letter in LETTERS[: len(options)]:
                commits.append(
                    _Commit(
                        "letter_line", letter, offset + m.start(), offset + m.end(), line[m.end() :]
                    )
                )
        offset += len(line) + 1
    commits.sort(key=lambda c: (c.start, c.end))
    # Keep one commitment per position (a phrase and a letter line may find the same letter).
    unique: list[_Commit] = []
    for c in commits:
        if unique and c.start < unique[-1].end:
            if c.rule != "letter_line" and unique[-1].rule == "letter_line":
                unique[-1] = c
            continue
        unique.append(c)
    return unique


def _enumerated_letters(text: str) -> set[str]:
    """Letters used as line labels ("A. left", "- Option B: right"): a list of options."""
    return {m.group(1).upper() for line in text.split("\n") if (m := _LINE_LABEL.match(line))}


# --------------------------------------------------------------------------------------------
# Consistency of a letter with the text attached to it


def _label_of(tail: str) -> str:
    """The option label written right after a letter ("D: left", "(C) towards."), if any.

    An explanatory sentence after the letter ("Answer: B. The bus moves ...") is no label:
    the judge reads the letter there and ignores what the sentence claims.
    """
    tail = re.sub(r"^[\s.:)\]\-,=]+", "", tail).strip()
    tail = re.sub(r"^[\"'(\[]+|[\"')\].!,;]+$", "", tail).strip()
    return tail


def _tail_conflicts(commit: _Commit, options: list[_Option]) -> bool:
    """True when the label after the letter names a different option than the letter does."""
    label = _label_of(commit.tail)
    if not label:
        return False
    chosen = options[LETTERS.index(commit.letter)]
    pieces = [label] + [label[: m.start()] for m in _LABEL_CUT.finditer(label)]
    for piece in pieces:
        normed = _norm(_NUMBER_WORD_RE.sub(lambda m: _NUMBER_WORDS[m.group(1)], piece.lower()))
        if normed.strip() == chosen.norm.strip():
            return False
        if any(normed.strip() == o.norm.strip() for o in options if o.norm != chosen.norm):
            return True  # "D: left" while D is "right" and B is "left"
    words = _norm(_NUMBER_WORD_RE.sub(lambda m: _NUMBER_WORDS[m.group(1)], label.lower())).split()
    if not words or len(words) > 3 or _norm(label).startswith(chosen.norm):
        return False  # a sentence, or the chosen text followed by more words ("3 cars")
    # A short label that is no option at all: a different count ("B: 3" when B is 5) or a
    # different motion ("B: Away" when B is "no bus there"). Unknown words do not conflict.
    if words[0].isdigit():
        return chosen.norm.strip().isdigit() and words[0] != chosen.norm.strip()
    label_concepts = _concepts_of(_norm(label))
    return bool(label_concepts) and not label_concepts <= chosen.concepts


_LABEL_CUT = re.compile(r"(?:[,;(]|\s-\s|\. |\s(?:as|because|since|which|so|and)\s)")


# --------------------------------------------------------------------------------------------
# Rules

_REFUSAL = re.compile(
    r"\b(?:I'?m sorry|I am sorry|I cannot|I can ?not|I can't|I am unable|I'm unable|unable to "
    r"(?:determine|answer|provide)|cannot (?:be )?determined?|can't (?:be )?determined?|"
    r"not possible to determine|impossible to (?:determine|tell|say)|no correct answer|"
    r"none of the (?:above|options|choices))",
    re.IGNORECASE,
)
_CONCLUSION = re.compile(
    r"\b(?:therefore|thus|hence|so|in conclusion|overall|final answer|the answer|answer|"
    r"conclusion|consequently|this (?:means|indicates|suggests)|which means)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])|\n+")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _no_answer(rule: str, evidence: str = "", confident: bool = True) -> Extraction:
    return Extraction(NO_ANSWER, confident, rule, evidence[:200])


def _answer(letter: str, options: list[_Option], rule: str, evidence: str, confident: bool):
    text = options[LETTERS.index(letter)].text
    return Extraction(letter, confident, rule, evidence.strip()[:200], text)


def _from_commits(text: str, options: list[_Option], commits: list[_Commit]) -> Extraction:
    last = commits[-1]
    evidence = text[last.start : last.end + len(last.tail)]
    letters_only = re.sub(r"[^A-Za-z]", "", text)
    if len(commits) >= 2 and commits[-2].letter != last.letter:
        between = text[commits[-2].end : last.start]
        between = between.replace(commits[-2].tail, "", 1) if commits[-2].tail else between
        if not re.search(r"[A-Za-z]{3,}", between):
            # "B\nC" or "Answer: C\nD": two answers with nothing that explains the change.
            return _no_answer("contradictory_letters", text[commits[-2].start : last.end], False)
    if last.rule == "letter_line":
        listed = _enumerated_letters(text)
        if len(listed) >= 3 and len(letters_only) > 1:
            return _no_answer("enumeration_only", evidence, False)
    # Every commitment to the final letter must agree with the text attached to it.
    for c in commits:
        if c.letter == last.letter and _tail_conflicts(c, options):
            return _no_answer("letter_text_conflict", text[c.start : c.end + len(c.tail)], False)
    return _answer(last.letter, options, last.rule, evidence, True)


def _from_prose(text: str, options: list[_Option]) -> Extraction | None:
    """A response without a letter: match the option its conclusion names."""
    # "The final answer is: not moving" names the option right after a commitment phrase.
    m = None
    for m in re.finditer(r"(?:answer|option|choice)\s*(?:is|:)\s*:?\s*([^\n]+)", text, re.I):
        pass
    if m is not None:
        named = _options_named(m.group(1), options)
        if len(named) == 1:
            return _answer(named[0].letter, options, "answer_phrase_text", m.group(0), True)
    sentences = _sentences(text)
    if not sentences:
        return None
    conclusions = [s for s in sentences if _CONCLUSION.search(s)]
    candidates = [conclusions[-1]] if conclusions else [sentences[-1]]
    if len(sentences) <= 3:  # short answers state the claim in any sentence
        candidates = list(reversed(sentences))
    for sentence in candidates:
        named = _options_named(sentence, options)
        if len(named) == 1:
            return _answer(named[0].letter, options, "option_text", sentence, len(sentences) <= 3)
        if len(named) > 1:
            return _no_answer("several_options_named", sentence, False)
    return None


def extract(response: object, options: Sequence[object]) -> Extraction:
    """Return which option `response` commits to.

    `options` are the option texts in A-D order (integers allowed: counting questions).
    The letter is one of "A".."D" or None when the response commits to no valid option.
    """
    if isinstance(response, (list, tuple)) and len(response) == 1:
        response = response[0]  # lmms-eval sometimes keeps one generation in a list
    if response is None:
        return _no_answer("empty")
    if not isinstance(response, str):
        return _no_answer("not_text", repr(response)[:200])
    opts = _make_options(options)
    raw, reasoning_only = _split_think(response)
    text = _clean(raw)
    if not re.search(r"[A-Za-z0-9]", text):
        return _no_answer("empty", text)
    commits = _find_commits(text, opts)
    if commits:
        verdict = _from_commits(text, opts, commits)
    else:
        verdict = _from_prose(text, opts)
        if verdict is None:
            refusal = _REFUSAL.search(text)
            if refusal:
                unsure = [o for o in opts if "UNSURE" in o.concepts]
                if len(unsure) == 1:
                    return _answer(unsure[0].letter, opts, "refusal_option", refusal.group(0), False)
                return _no_answer("refusal", refusal.group(0))
            return _no_answer("no_commitment", text[-200:])
    if reasoning_only and verdict.letter is not None:
        # The answer was read from unfinished reasoning: let a judge confirm it.
        return Extraction(verdict.letter, False, verdict.rule, verdict.evidence, verdict.option_text)
    return verdict
