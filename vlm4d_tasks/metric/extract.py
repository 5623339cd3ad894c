"""Deterministic answer extraction: which option of a VLM4D question did a response choose?

The VLM4D paper (Zhou et al., ICCV 2025, "Towards Spatiotemporal Awareness in Vision Language
Models", Sec. 4, evaluation) does not parse answers with a regular expression: each response
goes to an LLM judge (o4-mini, cross-checked with o3 and by hand) that reads it with the
options and returns the chosen option, written "C: right", or "No Valid Answer". The released
judged responses show how that judge decides, and the rules below follow it:

- an explicit commitment ("Therefore, the final answer is: C", "Answer: B", a bare "D")
  chooses that option; when a response commits more than once, the last commitment counts;
- a letter whose attached option label names a different option ("D: left" while D is
  "right", or in passing: 'option B: "Away" would be the best choice') is no valid answer:
  the judge marks it wrong whichever of the two is correct. Such decided no-answers (also
  "A or B", "B\nC", a bare list of the options) are confident: the reference judge agreed on
  all 72 development answers of these shapes.
  An explanatory sentence after the letter that names another option ("Answer: B. The bus
  moves towards the camera" while B is "right") keeps the letter, as the reference judge did
  in 156 of the 166 such development answers, and is not confident: the other 10 went the
  other way, so a hybrid scorer asks;
- a response without a letter is matched on the meaning of its conclusion ("The car is
  moving towards the camera." chooses the option "towards the camera");
- a response that commits to nothing, names several options, refuses or is garbled is
  "No Valid Answer": never a guess from whatever letter appears somewhere in the text.

Option texts are matched on their first `MAX_OPTION_CHARS` (200) characters: a response file
carries its own options, and a megabyte-long one would otherwise make every mention or letter
in an answer cost as much as that option (the official options have at most 77 characters).
A verdict on such options is marked `options_capped` and not confident (`long_option_text` is
the flag the record gets, see `data.annotations`), so a hybrid scorer asks the judge; time
stays linear in the answer's length and in the options' length.

Which options a piece of text names (literally, or by shared motion concepts, negations
dropped) is `metric.mentions`; this module decides what the response commits to.

`extract(response, options, question=None)` is pure and deterministic. Each verdict names the rule that
decided and quotes the span it rests on; `confident=False` marks verdicts that a hybrid scorer
should hand to the LLM judge instead (conflicts, answers read from prose or unfinished
reasoning, a letter whose explanation names another option). No rule re-reads the text once
per mention, letter or cut, so the time grows linearly with the response's length and a model
that loops until its token limit does not stall a run (`bench/extract_scaling.py`; labels are
read through bounded windows, see _label_window).

Rules, in the order they are tried (the `rule` field of a verdict):

1. Input: `empty` (None, blank), `not_text` (numbers, dicts, lists of several generations).
   `<think>` blocks are dropped when an answer follows them; markdown, `$`, `\boxed{}` and
   `\text{}` wrappers are removed.
2. Letter commitments; the last one counts. Strong: `final_answer_phrase` ("the final answer
   is: C", "Answer: B", "答案是 C", "Therefore, B."), `choose_phrase` ("I choose D"),
   `letter_is_correct` ("B is the correct answer"), `letter_line` (a line that is just a
   letter, optionally with its option text), `hedged_letter` ("D is likely the correct
   answer", not confident). Weak, only when no strong one exists:
   `option_reference` ("consistent with option D"), `closing_letter` ("... (B)" at the end).
   A commitment can still yield no answer: `several_letters` ("A or B"),
   `contradictory_letters` ("B\nC"), `enumeration_only` (the options listed line by line),
   `letter_text_conflict` ("D: left" while D is "right"). Not confident: a letter whose
   line in the response's own list of the options states another option ("C) It's not
   possible to determine" while C is "left").
3. Prose without a letter: `answer_phrase_text` ("the final answer is: not moving"),
   `final_answer_unresolved` ("the final answer is: N/A"), `option_text` (the conclusion, or
   any sentence of a short answer, names exactly one option, literally or by a synonym such
   as "stationary" for "not moving"), `absence_claim` (a refusal that rests on the "no X
   there" option), `late_conclusion` (reasoning that breaks off, garbled or cut, after an
   inference such as "this indicates that ..." naming exactly one option),
   `several_options_named`, `refusal_option` (a refusal when "not sure" / "not enough
   information" is an option), `refusal`, `no_commitment` (not confident when it discusses
   options, or when a short plain answer shares an option's words: "holding the smartphone"
   for "pick up the phone"), `settled_after_conclusion` (an undecided conclusion, then "However,
   it is probably moving forwards."; not confident). With the question given,
   `yes_no_restatement`: a yes/no question answered by restating it ("... the ball did hit
   the rim." is Yes); the question's point of reference ("... with respect to the dart
   board?") is read as the camera ("moving towards the dart board" is "coming toward"), and
   in a question of which way something moves a side ("the rotors on the left side") is a
   place, not an answer.
   `zero_count`: "there are no instances where ..." is the count 0 (not confident). Not
   confident either: an answer phrase that goes on to another option ("both
   counter-clockwise, one clockwise"), a bound on a count ("at least once"), another limb
   than the option's, a long option matched by one of its ideas, a place ("to the left of
   the suitcase"), where a motion starts ("away from the right side"), words run together
   (a broken generation). An answer of mixed scripts that commits to nothing is a confident
   `no_commitment` (the garbled output of a broken generation).
   A purpose clause that restates the question ("To determine whether it moves left or
   right, we ...") names no claim; Chinese direction words ("向右") read as their English.

A final letter is never overruled by an option named just before it ("... only involve 'Left'.
Therefore, the final answer is: C" while C is "Right"): in the released judged responses the
judge keeps the letter in such cases (hundreds of agreements, a handful of exceptions).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, replace

from vlm4d_tasks.data.annotations import MAX_OPTION_CHARS
from vlm4d_tasks.data.official import option_label
from vlm4d_tasks.metric.mentions import (
    ARTICLES,
    TYPOGRAPHY,
    Options,
    asks_motion,
    concept_spans,
    normalise,
    options_for,
    question_anchor,
    stem_word,
    stem_words,
)

LETTERS: tuple[str, ...] = ("A", "B", "C", "D")
NO_ANSWER = None  # letter value when nothing is committed to


@dataclass(frozen=True)
class Extraction:
    """The verdict on one response.

    letter: "A".."D", or None when the response commits to no valid option.
    confident: False when a hybrid scorer should ask the LLM judge instead.
    rule: the name of the rule that decided.
    evidence: the span of the response that decided.
    option_text: the chosen option's text ("" when letter is None).
    options_capped: an option was longer than MAX_OPTION_CHARS and matched on its start only
    (then not confident).
    """

    letter: str | None
    confident: bool
    rule: str
    evidence: str = ""
    option_text: str = ""
    options_capped: bool = False

    @property
    def label(self) -> str:
        """The official `extracted_answer` format: "C: right" or "No Valid Answer"."""
        # The verdict keeps only the chosen option's text, so every slot holds it.
        return option_label(self.letter, (self.option_text,) * len(LETTERS))


# ============================================================================================
# Cleaning: think blocks, markup


_THINK_CLOSE = re.compile(r"</think\s*>", re.IGNORECASE)
_THINK_OPEN = re.compile(r"<think\s*>", re.IGNORECASE)
_LATEX_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit|mbox|boxed|fbox)\s*\{([^{}]*)\}")
_MARKUP = re.compile(
    r"\*+|__|`+|\$+|\\\(|\\\)|\\\[|\\\]|</?(?:b|strong|em|i|answer)>|^#+ ", re.I | re.M
)
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")


def _split_think(text: str) -> tuple[str, bool]:
    """Drop `<think>` reasoning when an answer follows it; returns (text, reasoning_only)."""
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        after = text[closes[-1].end() :]
        if re.search(r"[A-Za-z0-9]", after):
            return after, False
        return _THINK_OPEN.sub(" ", _THINK_CLOSE.sub(" ", text)), True
    if _THINK_OPEN.search(text):  # the reasoning was cut off before the model answered
        return _THINK_OPEN.sub(" ", text), True
    return text, False


def _clean(text: str) -> str:
    """Remove markup around answers (markdown emphasis, LaTeX, `$`); keep the lines."""
    text = text.translate(TYPOGRAPHY)
    for _ in range(3 if "\\" in text else 0):  # nested wrappers such as \boxed{\text{C}}
        text = _LATEX_WRAP.sub(r"\1", text)
    text = _MARKUP.sub("", text)
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return text.strip()


# ============================================================================================
# Letter commitments

# A letter as models write it: C, (C), [C], "C", option C, letter C, and with stray
# punctuation inside the bracket, "(;B)", which garbles nothing about which letter it is. It
# must not continue a word; whether "A" is the article is decided in _is_article.
_L = (
    r"(?:(?:option|choice|letter)\s*)?(?:[(\[][;:,.]*\s*|\"|')?(?P<letter>[A-Da-d])"
    r"(?:\)|\]|\"|')?(?![A-Za-z0-9_'-])"
)


@dataclass(frozen=True)
class _Pattern:
    """A commitment pattern. `keywords`: the pattern cannot match unless one of these occurs
    in the lower-cased text (a cheap test that skips the regex); `closing`: it is anchored at
    the end of the response, so only the last characters are searched; `plain`: the same
    pattern without a rare part that cannot match unless `rare` occurs in the text, used
    when it does not (trying that part may cost a scan to the end of the line at every
    letter, quadratic in a long answer)."""

    rule: str
    regex: re.Pattern[str]
    keywords: tuple[str, ...] = ()
    closing: bool = False
    plain: re.Pattern[str] | None = None
    rare: re.Pattern[str] | None = None


_ANSWER_WORDS = ("answer", "option", "choice", "response", "conclusion")
_LETTER_FIRST = r"(?<![A-Za-z0-9])(?:(?:option|choice|answer)\s+)?" + _L
_VERDICT = (
    r"(?:is|seems|would be)\s+(?:the\s+|my\s+)?(?:most\s+)?(?:final|correct|right|best|"
    r"accurate|appropriate)(?:\s+(?:answer|option|choice))?"
)
_COMMIT_PATTERNS: tuple[_Pattern, ...] = (
    _Pattern(
        "final_answer_phrase",
        re.compile(
            # "answers are": a plural that still names one letter ("the final answers are: A.";
            # the reference read A); several letters after it are `several_letters`.
            r"\b(?:answer|option|choice|response|conclusion|answers(?=\s+are\b))(?:\s+(?!is\b|"
            r"not\b|choices\b|options\b)[a-z]+){0,3}?\s*(?:would be|will be|should be|"
            r"must be|is|are|=|:|-)\s*"
            r"(?:that\s+)?(?::\s*)?" + _L,
            re.IGNORECASE,
        ),
        _ANSWER_WORDS,
    ),
    _Pattern(
        "final_answer_phrase",
        re.compile(r"(?:答案(?:\s*(?:是|为))?|(?:选项|选择)\s*(?:是|为|:))\s*(?::\s*)?" + _L),
        ("答案", "选项", "选择"),
    ),
    _Pattern(  # "Answer C." closing a line
        "final_answer_phrase",
        re.compile(r"\banswer\s+" + _L + r"(?=[\s.!)]*(?:$|\n))", re.IGNORECASE),
        ("answer",),
    ),
    _Pattern(  # "Therefore, B." closing the response
        "final_answer_phrase",
        re.compile(r"(?:\b(?:therefore|thus|hence|so)|因此)\s*,?\s*" + _L + r"(?=[\s.!)]*$)", re.I),
        closing=True,
    ),
    _Pattern(
        "choose_phrase",
        re.compile(
            r"\bI\s*(?:(?:would|will|'d|'ll)\s*)?(?:choose|chose|select|selected|pick|picked|"
            r"take|took|go with|went with|answer)\s*(?::\s*)?" + _L,
            re.IGNORECASE,
        ),
        ("choose", "chose", "select", "pick", "take", "took", "go with", "went with", "answer"),
    ),
    _Pattern(  # "I think it's B." closing a line
        "choose_phrase",
        re.compile(
            r"\b(?:I think|I believe|I'd say|I would say|it's|it is|it must be|it should be)\s+"
            + _L
            + r"(?=[\s.!)]*(?:$|\n))",
            re.IGNORECASE,
        ),
        ("think", "believe", "say", "it's", "it is", "must be", "should be"),
    ),
    _Pattern(
        "letter_is_correct",
        re.compile(_LETTER_FIRST + r"\s*(?:\([^)\n]*\)\s*)?" + _VERDICT, re.IGNORECASE),
        ("final", "correct", "right", "best", "accurate", "appropriate"),
        plain=re.compile(_LETTER_FIRST + r"\s*" + _VERDICT, re.IGNORECASE),
        rare=re.compile(r"\)\s*" + _VERDICT, re.IGNORECASE),  # "B (left) is correct"
    ),
    _Pattern(
        "letter_is_correct",
        re.compile(
            r"(?<![A-Za-z0-9])" + _L + r"\s+is\s+the\s+(?:answer|option|choice)\b", re.IGNORECASE
        ),
        ("is the answer", "is the option", "is the choice"),
    ),
    _Pattern(  # "D is likely the correct answer ... before I can be certain": a judge confirms
        "hedged_letter",
        re.compile(
            _LETTER_FIRST + r"\s*(?:is|seems)\s+(?:most\s+)?(?:likely|probably)\s+(?:to\s+be\s+)?"
            r"(?:the\s+)?(?:correct|right|best)\s+(?:answer|option|choice)\b",
            re.IGNORECASE,
        ),
        ("likely", "probably"),
    ),
)
_REFERENCE = (
    r"(?:align(?:s|ed)? with|consistent with|correspond(?:s|ing)? to|match(?:es)?|points? to|"
    r"in line with)\s+"
)
_REFERENCE_WORDS = ("align", "consistent", "correspond", "match", "point", "in line")
# Weak commitments count only when no strong one exists: "consistent with option D".
_WEAK_PATTERNS: tuple[_Pattern, ...] = (
    _Pattern(
        "option_reference",
        re.compile(_REFERENCE + r"(?:the\s+)?(?:option|choice|letter)\s*" + _L, re.IGNORECASE),
        _REFERENCE_WORDS,
    ),
    _Pattern(
        "option_reference",
        re.compile(_REFERENCE + r"\((?P<letter>[A-D])\)", re.IGNORECASE),
        _REFERENCE_WORDS,
    ),
)
# Weak commitments that close the response: "... it is moving towards D.", "... (B)".
_CLOSING_PATTERNS: tuple[_Pattern, ...] = (
    _Pattern(
        "closing_letter",
        re.compile(
            r"\b(?:is|are|moving|moves|going|goes|heading)\s+(?:towards?\s+)?(?:option\s+)?"
            r"(?P<letter>[A-D])[\s.!]*$"
        ),
        closing=True,
    ),
    _Pattern("closing_letter", re.compile(r"\((?P<letter>[A-D])\)[\s.!]*$"), closing=True),
)
_WEAK_RULES = frozenset(p.rule for p in _WEAK_PATTERNS + _CLOSING_PATTERNS)
# Commitments a judge should confirm: the weak ones, and a letter given as likely.
_UNSURE_RULES = _WEAK_RULES | {"hedged_letter"}
_CLOSING_SPAN = 80  # characters searched by closing patterns
_STANDALONE = re.compile(
    r"^(?:(?:final\s+)?answer\s*:?\s*|letter\s*)?" + _L + r"\s*(?:[.:)\-,]|$)", re.IGNORECASE
)
_LINE_LABEL = re.compile(r"^\s*(?:[-*>]+\s*)?(?:option\s+|choice\s+)?\(?([A-D])\s*[.:)]", re.I)
_MORE_LETTERS = re.compile(
    r"^\s*(?:[,/&]|or|and)?\s*\(?([A-D])\)?(?=\s*(?:$|[,.;:)!?]|or\b|and\b|\(?[A-D]\b))"
)


# Words that cannot follow the article "a", so "A" before them is the letter.
_NOT_AFTER_ARTICLE = frozenset(
    "because since as and or is was which with from for but so given based here there in on at "
    "to of by it this that the an be are were seems would".split()
)


@dataclass(frozen=True)
class _Commit:
    rule: str
    letter: str
    start: int
    end: int
    line_end: int  # the rest of the line after the letter is often the option's text


@functools.lru_cache(maxsize=64)
def _chunks(n: int) -> re.Pattern[str]:
    """Up to `n` chunks of (cleaned) text, each ending where normalise would make the same
    tokens of the text before and after as of the whole: at whitespace, or where a run of
    punctuation starts or ends ("C.汽车": an answer in Chinese has no spaces). Not next to an
    apostrophe, which joins words ("don't")."""
    edge = r"""(?=\s|\Z|(?<![.,;:!?()\[\]{}"'])[.,;:!?()\[\]{}"]|(?<=[.,;:!?()\[\]{}"])(?![.,;:!?()\[\]{}"']))"""
    return re.compile(rf"(?:\s*\S+?{edge}){{1,{n}}}")


def _normalised_head(text: str, start: int, tokens: int, numeric: bool) -> str:
    """`normalise(text[start:])`, or its start: the first `tokens` tokens or more of it.

    Cut where _chunks cuts, the head's tokens are exactly the first ones of the whole: a
    question about the next few words then reads a few words, not the rest of a long answer,
    once per letter in it."""
    chunks = tokens + 1
    while True:
        m = _chunks(chunks).match(text, start)
        end = m.end() if m else len(text)
        head = normalise(text[start:end], numeric)
        if end >= len(text) or len(head.split()) >= tokens:
            return head
        chunks *= 4


_CLAUSE_END = re.compile(r"\s*(?:$|[.,;:!?)\]\n])")
_NEXT_WORD = re.compile(r"\s+([a-z]+)")


def _is_article(text: str, m: re.Match[str], options: Options) -> bool:
    """Whether a matched letter is really a word: "A car", lower-case "a" or "c" mid-clause."""
    letter = m.group("letter")
    at_clause_end = _CLAUSE_END.match(text, m.end())
    if letter.islower():
        return not at_clause_end
    word = _NEXT_WORD.match(text, m.end())
    if letter != "A" or not word or m.group(0)[-1] in ")]\"'":
        return False  # a wrapped letter ("'A'", "(A)") is never the article
    if word.group(1) in _NOT_AFTER_ARTICLE:
        return False  # "A because ...", "A is correct": the letter, not the article
    # "A moving car" is an article; "A not moving" spells option A's text.
    first = options.first_text
    head = _normalised_head(text, m.end(), len(first.split()) + 1, options.numeric)
    return not head.startswith(first)


def _collect(text: str, patterns: Sequence[_Pattern], options: Options) -> list[_Commit]:
    found = []
    valid = LETTERS[: len(options.items)]
    lowered = text.lower()
    closing_from = max(0, len(text) - _CLOSING_SPAN)
    for pattern in patterns:
        if pattern.keywords and not any(k in lowered for k in pattern.keywords):
            continue
        regex = pattern.regex
        if pattern.plain is not None and not pattern.rare.search(text):
            regex = pattern.plain
        matches = regex.finditer(text, closing_from) if pattern.closing else regex.finditer(text)
        line_end = -1
        for m in matches:
            letter = m.group("letter").upper()
            if letter not in valid or _is_article(text, m, options):
                continue
            if m.end() > line_end:  # matches come in order: find each line's end once
                line_end = text.find("\n", m.end())
                line_end = len(text) if line_end < 0 else line_end
            found.append(_Commit(pattern.rule, letter, m.start(), m.end(), line_end))
    return found


def _find_commits(text: str, options: Options) -> list[_Commit]:
    commits = _collect(text, _COMMIT_PATTERNS, options)
    # A line holding only a letter (maybe with its option text) commits as well.
    offset = 0
    for line in text.split("\n"):
        m = _STANDALONE.match(line)
        letter = m.group("letter").upper() if m else ""
        if m and letter in LETTERS[: len(options.items)] and not _is_article(line, m, options):
            start, end = offset + m.start("letter"), offset + m.end()
            commits.append(_Commit("letter_line", letter, start, end, offset + len(line)))
        offset += len(line) + 1
    if not commits:
        commits = _collect(text, _WEAK_PATTERNS, options) or _collect(
            text, _CLOSING_PATTERNS, options
        )
    commits.sort(key=lambda c: (c.start, -c.end))
    unique: list[_Commit] = []
    for c in commits:  # one commitment per place: phrase and letter line may overlap
        if unique and c.start < unique[-1].end:
            continue
        unique.append(c)
    return unique


_LABEL_START = re.compile(r"[\s.:)\]\-,=]*[\"'(\[]*\s*")  # what _label_of strips in front
_LABEL_CLOSE = "\"')].!,;"  # ... and at the end
_NOT_LABEL_CLOSE = re.compile(r"[^\s\"')\].!,;]")


def _label_of(tail: str) -> str:
    """The label written right after a letter: "left" in "D: left", "towards" in "(C) towards."."""
    # rstrip rather than the regex "[...]+$", which retries from every character of a long
    # run of "!!!!" that does not end the line.
    return tail[_LABEL_START.match(tail).end() :].rstrip().rstrip(_LABEL_CLOSE).rstrip()


_LABEL_CUT = re.compile(r"[,;(]|\s-\s|\. |\s(?:as|because|since|which|so|and)\s")
_PUNCTUATION = frozenset(".,;:!?()[]{}\"'")  # what normalise turns into a "," token


def _label_window(
    text: str,
    commit: _Commit,
    options: Options,
    known: Container[tuple[str, bool]] = (),
    windows: dict[str, tuple[str, bool]] | None = None,
) -> tuple[str, bool]:
    """The label after a commitment's letter, or the start of a long one: (label, complete).

    A label runs to the end of its line, which in a looping answer holds every later
    commitment too. Only its first words can match an option or make it a short label, so a
    label with more words than any option and than a short label is read only up to a chunk
    edge past them, plus one character so that a _LABEL_CUT before the edge (" as ") is
    whole (complete=False). A word follows, so _label_of would strip nothing up to there.
    `known`: windows already found long, which need not be read again.

    A label whose words are all articles never gains words ("答案是A答案是A...", the letter
    read as the article "a"), so a window is also long past `options.label_chars` characters:
    every commitment then reads a bounded window and the line is read in linear time.

    `windows`: the verdicts on whole windows (up to `label_chars` and one character) already
    read, decided without looking past them: a loop that repeats its windows costs a lookup
    per commitment, however long the options make a window."""
    start = _LABEL_START.match(text, commit.end, commit.line_end).end()
    if not _NOT_LABEL_CLOSE.search(text, start, commit.line_end):
        return _label_of(text[commit.end : commit.line_end]), True  # "C!!!!!!": nothing
    # Past `label_chars` a window is long whatever its words: a chunk of text with no space
    # or punctuation (a line of "答案是A...") would otherwise run to the end of the line.
    limit = min(commit.line_end, start + options.label_chars)
    window = text[start : limit + 1] if limit < commit.line_end else None
    if window is not None:
        if (window, False) in known:
            return window, False  # a loop repeats its windows: no regex again
        if windows is not None and window in windows:
            return windows[window]
    chunks = 16
    while True:
        m = _chunks(chunks).match(text, start, limit)
        end = m.end() if m else limit
        if end >= limit and limit < commit.line_end:
            return text[start : limit + 1], False
        if end < commit.line_end and not _NOT_LABEL_CLOSE.search(text, end, limit + 1):
            if not _NOT_LABEL_CLOSE.search(text, end, commit.line_end):
                # The rest is what _label_of strips at the end; read past the window, so the
                # verdict is not the window's alone.
                return _label_of(text[commit.end : commit.line_end]), True
        if end >= commit.line_end:
            return _label_of(text[commit.end : commit.line_end]), True
        label = text[start : end + 1]
        if (label, False) in known:
            return label, False
        normalised = normalise(label[:-1], options.numeric)
        words = len(normalised.replace(" , ", " ").split())
        stems = len(stem_words(normalised).replace(" , ", " ").split())
        if words > 3 and stems > options.stem_words:
            if window is not None and windows is not None:
                windows[window] = (label, False)
            return label, False
        chunks *= 4


def _label_stems(label: str, complete: bool, options: Options) -> Iterator[str]:
    """The stems of the label (when complete) and of its prefixes up to each cut, in that
    order, until a prefix has more words than any option: longer ones only have more.

    A prefix's words are those of the prefix before it and of the text between the two cuts,
    so each piece of text is normalised once instead of once per later cut."""
    if complete:
        yield stem_words(normalise(label, options.numeric)).replace(" , ", " ").strip()
    last_cut = len(label) if complete else len(label) - 1
    words: list[str] = []
    start = 0
    for m in _LABEL_CUT.finditer(label):
        cut = m.start()
        if cut >= last_cut:
            return
        new = stem_words(normalise(label[start:cut], options.numeric)).split()
        if start and label[start - 1] in _PUNCTUATION and label[start] in _PUNCTUATION:
            del new[:1]  # one run of punctuation across the cut makes one "," token
        if start and not new:
            start = cut
            continue  # the same words as the previous piece
        start = cut
        words += new
        stem = (" " + " ".join(words) + " ").replace(" , ", " ").strip()
        if len(stem.split()) > options.stem_words:
            return
        yield stem


def _label_conflicts(label: str, complete: bool, letter: str, options: Options) -> bool:
    """True when the label after the letter names another option than the letter does."""
    if not label:
        return False
    chosen = options.by_letter(letter)
    others = {o.stem.strip() for o in options.items if o.stem != chosen.stem}
    for stem in _label_stems(label, complete, options):
        if stem == chosen.stem.strip():
            return False
        if stem in others:
            return True  # "D: left" while D is "right" and B is "left"
    if not complete:
        return False  # a sentence, see below
    words = normalise(label, options.numeric).replace(" , ", " ").split()
    if not words or len(words) > 3:
        return False  # a sentence: the judge reads the letter and not what the sentence says
    if " ".join(stem_word(w) for w in words if w not in ARTICLES).startswith(chosen.stem.strip()):
        return False  # the chosen text with a unit: "B (3 cars)"
    # A short label that is no option: another count ("B: 3" while B is 5) or another motion
    # ("B: Away" while B is "no bus there"). Unknown words do not conflict.
    if words[0].isdigit():
        return options.numeric and words[0] != chosen.text[:MAX_OPTION_CHARS]
    label_concepts = {n for _, _, n in concept_spans(" " + " ".join(words) + " ") if n != "ZERO"}
    return bool(label_concepts) and not label_concepts <= chosen.concepts


# ============================================================================================
# Rules

_REFUSAL = re.compile(
    r"\b(?:I'?m sorry|I am sorry|I cannot|I can ?not|I can't|I am unable|I'm unable|unable to "
    r"(?:determine|answer|provide|tell)|cannot (?:be )?(?:determined?|tell|say|provide)|can't "
    r"(?:be )?(?:determined?|tell|say)|(?:not |im)possible to (?:determine|tell|say|know|answer)|"
    r"cannot conclude|can't conclude|"
    r"no (?:correct|right|definitive) answer|none of the (?:above|options|choices)|(?:not clear|"
    r"unclear)(?: \w+){0,4}? (?:whether|if|what|which|where|how)|not applicable)",
    re.IGNORECASE,
)
_CONCLUSION = re.compile(
    r"\b(?:therefore|thus|hence|so|in conclusion|overall|final answer|the answer|answer|"
    r"conclusion|conclude|consequently|in summary|in total|altogether)\b|答案|因此",
    re.IGNORECASE,
)
_ANSWER_TEXT = re.compile(
    r"(?:(?:answer|option|choice)\s*(?:is|would be|:)|答案\s*(?:是|为)?)\s*:?\s*(?:that\s+)?"
    r"([^\n]+)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])|\n+")
_LETTER_REFERENCE = re.compile(r"(?:\b(?:option|choice)\s+|\()([A-D])\b", re.IGNORECASE)
_SHORT_RESPONSE = 3  # sentences: a short answer states its claim in any of them


def _no_answer(rule: str, evidence: str = "", confident: bool = True) -> Extraction:
    return Extraction(NO_ANSWER, confident, rule, evidence.strip()[:200])


def _answer(letter: str, options: Options, rule: str, evidence: str, confident: bool):
    text = options.by_letter(letter).text
    return Extraction(letter, confident, rule, evidence.strip()[:200], text)


def _from_commits(text: str, options: Options, commits: list[_Commit]) -> Extraction:
    last = commits[-1]
    tail = text[last.end : last.line_end]
    evidence = text[last.start : last.line_end]
    more = _MORE_LETTERS.match(tail)
    if more and more.group(1) != last.letter:
        return _no_answer("several_letters", evidence)  # "A or B", "(A B C D)"
    if len(commits) >= 2 and commits[-2].letter != last.letter:
        between = text[commits[-2].end : last.start]
        if not re.search(r"[A-Za-z]{3,}", between):
            # "B\nC" or "Answer: C\nD": two answers and no words that explain the change.
            return _no_answer("contradictory_letters", text[commits[-2].start : last.end])
    if last.rule == "letter_line" and len(_enumerated(text)) >= 3:
        return _no_answer("enumeration_only", evidence)  # "A. left\nB. right\nC. ..."
    checked: dict[tuple[str, bool], bool] = {}  # a looping answer repeats the same labels
    windows: dict[str, tuple[str, bool]] = {}  # ... and the same windows around them
    for c in commits:  # every commitment to the chosen letter must agree with its label
        if c.letter != last.letter:
            continue
        label = _label_window(text, c, options, checked, windows)
        if label not in checked:
            checked[label] = _label_conflicts(*label, c.letter, options)
        if checked[label]:
            return _no_answer("letter_text_conflict", text[c.start : c.line_end])
    for m in _LABELLED_REFERENCE.finditer(text):
        # 'option B: "Away" would be the best choice ... the final answer is: B' while B is "no
        # bus there": the chosen letter is given another option's label in passing.
        label = m.group(2).strip()
        if m.group(1) == last.letter and len(label.split()) <= _SHORT_LABEL_WORDS:
            if _label_conflicts(label, True, last.letter, options):
                return _no_answer("letter_text_conflict", m.group(0))
    # "Answer: B. The bus moves towards the camera" while B is "right": the judge mostly keeps
    # the letter, but not always; let a hybrid scorer ask it.
    confident = _explained_as_chosen(text, commits, last.letter, options)
    if confident and _relisted_as_other(text, last.letter, options):
        confident = False
    if last.rule in _UNSURE_RULES:
        confident = False
    return _answer(last.letter, options, last.rule, evidence, confident)


# A letter given a label in passing: 'option B: "Away"', "(C) towards", "D - left". The label is
# read up to 40 characters, so the scan is linear.
_LABELLED_REFERENCE = re.compile(
    r"(?:\b(?:option|choice)\s+|(?<![A-Za-z'])\(?)([A-D])\s*(?:\)|:|\s-\s)\s*[\"'\u201c\u2018]?"
    r"([A-Za-z][^\"'\u201d\u2019.,;:\n()]{0,40})"
)
_SHORT_LABEL_WORDS = 3  # a longer label is a sentence about the option, not a name for it

_EXPLANATION_CHARS = 300  # a sentence explaining a letter is read this far: linear in a loop


def _explained_as_chosen(
    text: str, commits: Sequence[_Commit], letter: str, options: Options
) -> bool:
    """False when a sentence right after a commitment to `letter` describes another option:
    "Answer: B. The curling team is moving towards the camera ... the final answer is: B."
    with B "right" and C "towards the camera". The letter and the description disagree and
    the reference judge went either way (issue 25: the description in VideoLLaMA3-2B's
    answers, the letter elsewhere), so a hybrid scorer asks. Every commitment to the chosen
    letter counts, not only the last: a closing "the final answer is: B" repeats the letter
    without settling the conflict. Each distinct explanation is read once, at most
    `_EXPLANATION_CHARS` characters of it."""
    seen: set[str] = set()
    for c in commits:
        if c.letter != letter:
            continue
        explained = _label_of(text[c.end : min(c.line_end, c.end + _EXPLANATION_CHARS)])
        if explained in seen:
            continue
        seen.add(explained)
        named = options.named(explained) if len(explained.split()) > 3 else []
        if named and options.by_letter(letter) not in named:
            return False
    return True


def _relisted_as_other(text: str, letter: str, options: Options) -> bool:
    """The response lists the options again in its own words, and the line it labels with the
    chosen letter states something else ("C) It's not possible to determine the direction"
    while C is "left"): its letter may point into its own list, not the question's."""
    chosen = options.by_letter(letter)
    if not chosen.concepts:
        return False
    for line in text.split("\n"):
        m = _LINE_LABEL.match(line)
        if not m or m.group(1).upper() != letter:
            continue
        said = {n for _, _, n in concept_spans(normalise(line[m.end() :], options.numeric))}
        if said and not said & chosen.concepts:
            return True
    return False


def _enumerated(text: str) -> set[str]:
    """Letters used as line labels ("A. left", "- Option B: right")."""
    return {m.group(1).upper() for line in text.split("\n") if (m := _LINE_LABEL.match(line))}


# "To determine whether the duck swims forward or backward, we look at ...": the purpose clause
# restates the question, so the options it names are not claims.
_TASK_VERBS = r"(?:determine|decide|answer|figure out|find out|tell|identify|establish|assess)"
_PURPOSE_CLAUSE = re.compile(
    r"^(?:first,? |now,? )?(?:to|in order to) " + _TASK_VERBS + r"\b[^.!?]*?,\s*"
    r"(?=(?:we|I|let's|let us|one|you)\b)|^(?:to|in order to) " + _TASK_VERBS + r"\b[^,]*$",
    re.IGNORECASE,
)


def _decide_sentence(sentence: str, options: Options, rule: str, confident: bool):
    """The verdict one sentence supports, or None when it names no option."""
    sentence = _PURPOSE_CLAUSE.sub("", sentence)
    if len(set(_LETTER_REFERENCE.findall(sentence))) >= 2:
        return None  # "option A says ..., option B says ...": describes options, claims none
    refusal = _REFUSAL.search(sentence)
    named = options.named(sentence)
    if refusal:
        claim = _claim_before_but(sentence, refusal.start(), options)
        if claim is not None:
            # "The bus is moving towards its left side, but it's not possible to determine its
            # destination": the refusal is about something else than the answer.
            return _answer(claim.letter, options, "claim_before_refusal", sentence, False)
        # "There is no fairy, so its direction cannot be determined" picks "no fairy there";
        # "I cannot determine it" picks "not enough information" when that is an option.
        named = [o for o in named if o.concepts & {"UNSURE", "ABSENT"}]
        if not named:
            return _no_answer("refusal", sentence)
        if len(named) == 1 and "UNSURE" in named[0].concepts:
            rule = "refusal_option"
    if len(named) == 1:
        if options.numeric and _COUNT_BOUND.search(sentence):
            confident = False  # "hit the ball at least once" bounds the count, does not give it
        if _other_limb(sentence, named[0].text) or _partly_said(sentence, named[0], options):
            confident = False
        if _SIDE_NOT_GOAL.search(sentence) or _GLUED.search(sentence):
            confident = False
        return _answer(named[0].letter, options, rule, sentence, confident)
    if len(named) > 1:
        return _no_answer("several_options_named", sentence, False)
    return None


_LIMB = re.compile(r"\b(hand|arm|leg|foot|feet|finger|knee|elbow|shoulder)s?\b", re.IGNORECASE)


_NO_INSTANCE = re.compile(
    r"\b(?:no|not (?:\w+ ){0,3}any|never any) (?:instances?|occurrences?|occasions?|times)\b",
    re.IGNORECASE,
)
# A side that is not where the motion goes: "on the sidewalk to the left of the suitcase"
# places something, "moves the ruler away from the right side" says where the motion starts.
_SIDE_NOT_GOAL = re.compile(
    r"\bto (?:the )?(?:left|right) of\b|\baway from (?:the |its |his |her |their )?(?:left|right)\b",
    re.IGNORECASE,
)
# Words run together ("its motion isriceadence within tight windowsSo clearly"): a broken
# generation, whose sentence may not say what its words seem to.
_GLUED = re.compile(r"[a-z]{3}[A-Z][a-z]")


_LONG_OPTION_WORDS = 9  # "there are no people in the video" (7) is a short option


def _partly_said(sentence: str, option, options: Options) -> bool:
    """A long option ("At first yes, but then he passes the pedestrian and is getting further
    away.") matched by one of its ideas ("the cyclist is getting further away"), not in its
    own words: the sentence may leave out the rest of it, so a judge should read it."""
    if len(option.text.split()) < _LONG_OPTION_WORDS:
        return False
    return option.stem.strip() not in stem_words(normalise(sentence, options.numeric))


def _other_limb(sentence: str, option: str) -> bool:
    """ "picking up brushes with their right hand" does not say "They used their right foot
    instead": the direction matches, the limb does not."""
    wanted = {m.group(1).lower() for m in _LIMB.finditer(option)}
    said = {m.group(1).lower() for m in _LIMB.finditer(sentence)}
    return bool(wanted) and bool(said) and not wanted & said


_COUNT_BOUND = re.compile(
    r"\b(?:at (?:least|most)|more than|less than|fewer than|up to|no more than)\s+\w+",
    re.IGNORECASE,
)


_BUT = re.compile(r",?\s+(?:but|however|though|although)\b[^.]*$", re.IGNORECASE)


def _claim_before_but(sentence: str, refusal_at: int, options: Options):
    """The one option a sentence claims before a "but ..." clause that holds its refusal, or
    None: the clause before must name exactly one option and no refusal of its own."""
    head = sentence[:refusal_at]
    cut = _BUT.search(head)
    if cut is None:
        return None
    before = head[: cut.start()]
    if _REFUSAL.search(before):
        return None
    named = options.named(before)
    return named[0] if len(named) == 1 else None


_SETTLING = re.compile(r"^(?:however|but|still|nevertheless|that said)\b,?", re.IGNORECASE)


def _settled_after(sentences: list[str], conclusion: str, options: Options) -> Extraction | None:
    """The one option the last sentence names when the conclusion before it named several or
    refused and it begins "However, ...": a judge should confirm it."""
    if len(sentences) < 2 or sentences[-2] != conclusion:
        return None
    last = sentences[-1]
    if not _SETTLING.match(last) or _REFUSAL.search(last):
        return None
    verdict = _decide_sentence(last, options, "settled_after_conclusion", False)
    return verdict if verdict is not None and verdict.letter is not None else None


def _absence_claim(sentences: list[str], options: Options) -> Extraction | None:
    absent = [o for o in options.items if "ABSENT" in o.concepts]
    if len(absent) != 1:
        return None
    for sentence in sentences:
        if options.named(sentence) == absent:
            return _answer(absent[0].letter, options, "absence_claim", sentence, False)
    return None


def _from_prose(text: str, options: Options) -> Extraction | None:
    """A response without a letter: the option its conclusion names."""
    phrases = list(_ANSWER_TEXT.finditer(text))
    if phrases:
        phrase = phrases[-1]  # "The final answer is: not moving."
        claim = _SENTENCE_END.split(phrase.group(1))[0]
        verdict = _decide_sentence(claim, options, "answer_phrase_text", True)
        if verdict is not None and verdict.letter is not None and verdict.confident:
            # "So, the answer is both counter-clockwise, one clockwise.": the phrase goes on to
            # say more than the option it names, so a judge should read it.
            chosen = options.by_letter(verdict.letter)
            said = {n for _, _, n in concept_spans(normalise(claim, options.numeric))}
            others = set().union(*(o.concepts for o in options.items if o is not chosen))
            if not options.numeric and (said - chosen.concepts) & others:
                return replace(verdict, confident=False)
        if verdict is not None:
            return verdict
        if re.search(r"final answer|answer is", phrase.group(0), re.IGNORECASE) and re.search(
            r"[A-Za-z0-9]", claim
        ):
            # "the final answer is: N/A" or "$LETTER": the model gave up at the answer.
            return _no_answer("final_answer_unresolved", phrase.group(0))
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    conclusions = [s for s in sentences if _CONCLUSION.search(s)]
    if conclusions:
        verdict = _decide_sentence(conclusions[-1], options, "option_text", True)
        if verdict is not None and verdict.letter is None:
            # "Therefore, it is not known if it moves forwards or backwards. However, we can
            # assume it is probably moving forwards.": the hedge after the conclusion settles.
            verdict = _settled_after(sentences, conclusions[-1], options) or verdict
        if verdict is not None and verdict.rule == "refusal":
            # "There are no dogs in the video. So the question is not applicable": the
            # refusal rests on the absence that the "no dog there" option states.
            return _absence_claim(sentences, options) or verdict
        if verdict is not None:
            return verdict
    if len(sentences) <= _SHORT_RESPONSE:
        for sentence in sentences:
            if options.numeric and _FRAME_TALLY.search(sentence):
                continue
            verdict = _decide_sentence(sentence, options, "option_text", True)
            if verdict is not None:
                return verdict
        return None
    if not conclusions and not (options.numeric and _FRAME_TALLY.search(sentences[-1])):
        verdict = _decide_sentence(sentences[-1], options, "option_text", False)
        if verdict is not None:
            return verdict
    return _late_conclusion(sentences, options)


# A count in one image ("Image 1 confirms one deer ...") is a running tally, not the total.
_FRAME_TALLY = re.compile(r"\b(?:image|frame|picture)[ _]?\d", re.IGNORECASE)


# An inference drawn from the observations: "it's clear that ...", "this indicates ...".
_INFERENCE = re.compile(
    r"\b(?:it(?:'s| is) (?:clear|evident|apparent|obvious)|(?:this|which|that) (?:clearly )?"
    r"(?:indicates|suggests|shows|means|confirms)|indicating|suggesting|therefore|thus|hence|"
    r"in conclusion|we can conclude|it can be concluded|definitively|definitely)\b",
    re.IGNORECASE,
)
_LATE_WINDOW = 3  # sentences before the end in which an unfinished answer may conclude


def _late_conclusion(sentences: list[str], options: Options) -> Extraction | None:
    """Reasoning that breaks off (garbled text, a cut) after drawing its conclusion:
    "This indicates that the train turns counter-clockwise. Therefore, when at one poi".
    The latest inference among the last sentences that names an option after its marker
    decides, and only when it names exactly one; a judge should confirm it. Counts are left
    alone: unfinished counting is a running tally ("image 1 shows one deer"), not a total."""
    if options.numeric:
        return None
    for sentence in reversed(sentences[-_LATE_WINDOW:]):
        inference = _INFERENCE.search(sentence)
        if not inference:
            continue
        claim = sentence[inference.end() :]
        verdict = _decide_sentence(claim, options, "late_conclusion", False)
        if verdict is not None:
            return verdict if verdict.letter is not None else None
    return None


# Words too common in the questions and answers to tie a description to an option.
_COMMON_WORDS = frozenset(
    "there their they them this that with from into onto have been being which what where "
    "when while video image images frame frames camera scene person people shows seen".split()
)
_WORDS = {n: re.compile(rf"[a-z]{{{n},}}") for n in (3, 4)}


def _content_words(
    text: str, shortest: int = 4, ignore: frozenset[str] = _COMMON_WORDS
) -> set[str]:
    """The stems (`stem_word`: "towards" and "toward", "bending" and "bends" meet) of the words
    of `shortest` letters or more, the `ignore`d words left out; linear."""
    return {stem_word(w) for w in _WORDS[shortest].findall(text.lower()) if w not in ignore}


# Where a response that commits to nothing would state its conclusion: options named only
# before its last 600 characters are the reasoning's, and the reference judge found no answer
# in all but one of the 5 such development answers (that one a loop of "Pick").
_CONCLUSION_CHARS = 600


def _mixed_up(text: str) -> bool:
    """English interleaved with other scripts ("a movement across的心态.However,当所有图片"): the
    garbled output of a broken generation. Without a commitment the reference judge found no
    answer in any of the 11 development answers with 5-50% non-ASCII characters, so a hybrid
    scorer need not ask. An answer written in another script (more than half) is not garbled."""
    share = sum(not ch.isascii() for ch in text) / len(text)
    return 0.05 < share < 0.5


def _describes_an_option(text: str, options: Options) -> bool:
    """A short answer in plain words (at most `_SHORT_RESPONSE` distinct sentences, four words or
    more, almost all ASCII: not the garbled text of a broken generation) that shares a content
    word with an option: it states a claim the options may cover in other words."""
    # Distinct sentences: a looping answer reads as its short form.
    sentences = dict.fromkeys(s.strip() for s in _SENTENCE_END.split(text) if s.strip())
    if len(sentences) > _SHORT_RESPONSE or len(re.findall(r"[A-Za-z]{2,}", text)) < 4:
        return False
    if sum(ch.isascii() for ch in text) < 0.98 * len(text):
        return False
    words = set().union(*(_content_words(o.text) for o in options.items))
    return bool(_content_words(text) & words)


# Words of a yes/no question that carry no claim ("Does the person move closer ...?").
_QUESTION_WORDS = frozenset(
    "does did do is are was were can could has have had any the their throughout "
    "during whole entire video clip".split()
)
_DENIAL = re.compile(r"\b(?:not|never|no|cannot)\b|n't\b", re.IGNORECASE)
# "I'm unsure whether the ball hits the backboard": the question asked again, not answered.
_EMBEDDED_QUESTION = re.compile(r"\b(?:whether|if)\b", re.IGNORECASE)
_DIRECTION_WORDS = frozenset(
    "left right up down clockwise counterclockwise anticlockwise forward backward toward "
    "away closer further farther".split()
)


def _claim_words(text: str) -> set[str]:
    return _content_words(text, 3, _QUESTION_WORDS | _COMMON_WORDS)


def _partly_restated(text: str, options: Options, question: str, verdict: Extraction) -> bool:
    """A yes/no question, a verdict for another option, and a sentence that restates most of
    the question with a denial: "Is the person lifting the weights moving toward the mirror?"
    "The person is not moving towards the mirror. They are standing still ..." reads as "No"
    as well as "standing still"."""
    plain = {o.text.strip(" .").lower() for o in options.items}
    if not {"yes", "no"} <= plain or verdict.letter is None:
        return False
    if verdict.option_text.strip(" .").lower() in {"yes", "no"}:
        return False
    asked = _claim_words(question)
    if len(asked) < 3:
        return False
    for sentence in (s.strip() for s in _SENTENCE_END.split(text)[:_SHORT_RESPONSE]):
        said = _claim_words(sentence)
        if _DENIAL.search(sentence) and 2 * len(asked & said) >= len(asked):
            return True
    return False


def _yes_no_restatement(
    text: str, options: Options, question: str, verdict: Extraction | None
) -> Extraction | None:
    """A yes/no question answered by restating it: "Does the person move closer to the oven?"
    "... Therefore, the person does not move closer to the oven." is "No" (a negation in the
    restating sentence), "... the ball did hit the rim." is "Yes". Only when the options hold
    one "yes" and one "no", the reading so far chose neither, and the sentence carries the
    question's claim words (all of them, at least two) with no direction the question does
    not ask about, and neither asks again ("whether ...") nor refuses ("picks up brushes with their right hand" does not restate
    "... with their left hand?"). The reference judge read these answers so; it is a reading
    of meaning, so not confident."""
    yes = [o for o in options.items if o.text.strip(" .").lower() == "yes"]
    no = [o for o in options.items if o.text.strip(" .").lower() == "no"]
    if len(yes) != 1 or len(no) != 1:
        return None
    if verdict is not None and verdict.letter in (yes[0].letter, no[0].letter):
        return None
    asked = _claim_words(question)
    if len(asked) < 2:
        return None
    asked_directions = {w for w in asked if w in _DIRECTION_WORDS}
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    conclusions = [s for s in sentences if _CONCLUSION.search(s)]
    for sentence in conclusions[-1:] + sentences[:_SHORT_RESPONSE]:
        said = _claim_words(sentence)
        if {w for w in said if w in _DIRECTION_WORDS} - asked_directions:
            continue
        if _EMBEDDED_QUESTION.search(sentence) or _REFUSAL.search(sentence):
            continue
        if asked <= said:
            chosen = no[0] if _DENIAL.search(sentence) else yes[0]
            return _answer(chosen.letter, options, "yes_no_restatement", sentence, False)
    return None


def extract(response: object, options: Sequence[object], question: str | None = None) -> Extraction:
    """Return which option `response` commits to.

    response: the model's raw output (a one-element list is unwrapped; None or a non-string
    is "no valid answer"). options: the option texts in A-D order; integers are allowed
    (counting questions) and compared as text; each is matched on its first
    MAX_OPTION_CHARS characters (a longer one makes the verdict `options_capped`, not
    confident). question: the question asked, when known; it lets a yes/no question be
    answered by restating it ("Does the ball hit the rim?" "... the ball did hit the rim."),
    and names the point motion is measured from ("... with respect to the dart board?"). A
    question that is not text is ignored.
    """
    if not isinstance(question, str):
        question = None  # a response file's field, not to be trusted
    opts = options_for(
        tuple(str(o) for o in options), question_anchor(question), asks_motion(question)
    )
    verdict = _extract(response, opts, question)
    if opts.capped:
        return replace(verdict, confident=False, options_capped=True)
    return verdict


def _extract(response: object, opts: Options, question: str | None = None) -> Extraction:
    if isinstance(response, (list, tuple)) and len(response) == 1:
        response = response[0]  # lmms-eval keeps one generation per document in a list
    if response is None:
        return _no_answer("empty")
    if not isinstance(response, str):
        return _no_answer("not_text", repr(response))
    raw, reasoning_only = _split_think(response)
    text = _clean(raw)
    if not re.search(r"[A-Za-z0-9]", text):
        return _no_answer("empty", text)
    commits = _find_commits(text, opts)
    verdict = _from_commits(text, opts, commits) if commits else _from_prose(text, opts)
    if not commits and question is not None:
        restated = _yes_no_restatement(text, opts, question, verdict)
        if restated is None and verdict is not None and verdict.confident:
            if _partly_restated(text, opts, question, verdict):
                verdict = replace(verdict, confident=False)
        verdict = restated or verdict
    if verdict is None:
        refusal = _REFUSAL.search(text)
        if refusal:
            unsure = [o for o in opts.items if "UNSURE" in o.concepts]
            if len(unsure) == 1:
                return _answer(unsure[0].letter, opts, "refusal_option", refusal.group(0), False)
            return _no_answer("refusal", refusal.group(0))
        zero = [o for o in opts.items if o.concepts == {"ZERO"}] if opts.numeric else []
        none_seen = _NO_INSTANCE.search(text)
        if len(zero) == 1 and none_seen:
            # "there does not appear to be any instances where the motorbike lands and shifts
            # to the right": no instance is a count of 0, read from prose, so not confident.
            return _answer(zero[0].letter, opts, "zero_count", none_seen.group(0), False)
        # Reasoning that names options without concluding, or a short plain description in
        # an option's words ("The left hand is holding the smartphone" for "pick up the
        # phone"): a judge may still read a choice, and the reference judge often did.
        unsure = bool(opts.named(text[-_CONCLUSION_CHARS:])) or _describes_an_option(text, opts)
        return _no_answer("no_commitment", text[-200:], confident=not unsure or _mixed_up(text))
    if reasoning_only and verdict.letter is not None:
        # Read from unfinished or unanswered reasoning: let a judge confirm it.
        return Extraction(
            verdict.letter, False, verdict.rule, verdict.evidence, verdict.option_text
        )
    return verdict
