"""VLMEvalKit's rule-based letter matcher of DSR-Bench, as a scoring function beside ours.

VLMEvalKit scores `DSRBench` (github.com/open-compass/VLMEvalKit at e8e78f0,
`vlmeval/dataset/dsrbench.py` line 211, `build_mcq_score_fn` without a judge model) with
`compute_mcq_score` (`vlmeval/dataset/utils/spatial_bench/cal_scores.py` lines 77-92): the
letter `can_match_option(prediction)` (`matching_func.py` lines 39-203, with no `choices`, so
the letters A-F) against `can_match_option(answer)`, a hit when both are the same letter. This
module gives the same letter as that function, step by step (the numbers are its own):

2. the first `<answer ...> X ... </answer>` block;
3. within the last 800 characters, a letter right before `</answer>`, else before `</think>`;
4. the last 6 non-empty lines after the last `</think>` (else `<think>`), read from the
   bottom: a line that is one letter (markdown and brackets allowed), a line that starts
   "A." / "B)", or a line whose standalone upper-case tokens are one letter;
5. the same on the last 6 lines of the last 800 characters;
6. the first "final answer: X" / "the answer is X" / "答案 X" ... phrase (case-insensitive, as
   its pattern is compiled with `(?i)` although its comment says upper case only);
7. one distinct standalone upper-case letter in the whole text (option lines left out);
   otherwise no letter (VLMEvalKit's `False`).

Linear: where the original patterns could backtrack on long runs (whitespace between `\\s*`
groups, runs of brackets before a letter, several `<answer` openings before one `>`), the same
decision is made without them: whitespace runs are collapsed to one space where every pattern
sees whitespace only through `\\s*` / `\\s+` (which keeps every match), the answer block and the
inline tokens are found by a single scan. The agreement with the original function was checked
on generated answers (see the README); the tests pin each step on literal answers.
"""

from __future__ import annotations

import re

LETTERS = "ABCDEF"  # no `choices`: cal_scores.py line 83 calls can_match_option(pred_raw)
TAIL_LINES = 6
TAIL_WINDOW = 800

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\ufeff]")
_SPACES = re.compile(r"\s+")
_CLOSE_ANSWER = re.compile(r"<\s*/\s*answer\s*>", re.IGNORECASE)
_OPEN_ANSWER = re.compile(r"<\s*answer\b", re.IGNORECASE)
_BLOCK_PUNCT = set(".．:：)]】、")
_THINK_END = re.compile(r"</\s*think\s*>", re.IGNORECASE)
_THINK_START = re.compile(r"<\s*think\s*>", re.IGNORECASE)


def _tail_pattern(tag: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?<![A-Za-z])[\(\[\{{（【]?\s*([{LETTERS}])\s*[\)\]\}}）】]?\s*</\s*{tag}\s*>",
        re.IGNORECASE,
    )


_TAIL_ANSWER = _tail_pattern("answer")
_TAIL_THINK = _tail_pattern("think")
_OPTION_LINE = re.compile(r"^(?:[*_>\-\s]*)(?:option|选项)\s+[A-J]\s*[:：]", re.IGNORECASE)
_LABELLED_LINE = re.compile(r"^\s*([A-F])\s*[\.．:：\)\]】、-]\s+", re.IGNORECASE)
_SINGLE_LEAD = set("*_`>（）[]【】()")
_SINGLE_TRAIL = set("*_`（）[]【】()")  # MD_SINGLE's closing class has no ">"
_TIGHT = set(".,:;!?)]】》」』，。；、：）")
_INLINE_SUFFIX = set("*_`）]})")
_PHRASE = re.compile(
    r"(?i)(?:final\s*answer|the\s*answer\s*is|answer(?:\s*is)?|correct\s*answer|"
    r"答案|最终答案|结论|所以|因此|我选(?:择)?|选择|选)"
    r"\s*[:：>＝=]?\s*"
    r"[\(\[\{（【]?\s*"
    rf"([{LETTERS}])"
    r"\s*[\)\]\}）】]?"
    r"(?:\b|[.)、。])"
)
_GLOBAL_TOKEN = re.compile(
    rf"(?<![A-Za-z])[\(\[\{{（【]?\s*([{LETTERS}])\s*[\)\]\}}）】]?(?![A-Za-z])"
)


def _collapsed(text: str) -> str:
    return _SPACES.sub(" ", text)


def _answer_block(text: str) -> str | None:
    """Step 2: `<answer ...>` then a letter A-J (any case), with a `</answer>` after it."""
    closings = [m.start() for m in _CLOSE_ANSWER.finditer(text)]
    if not closings:
        return None
    last_close = closings[-1]
    gt, tried = -1, -1
    for opening in _OPEN_ANSWER.finditer(text):
        if gt < opening.end():  # the next `>` moves forward only: one pass over the text
            gt = text.find(">", opening.end())
        if gt < 0:
            return None  # no later opening can close either
        if gt == tried:
            continue  # an earlier opening reached this `>` and failed: so does this one
        tried = gt
        at = gt + 1
        while at < len(text) and text[at].isspace():
            at += 1
        if at < len(text) and text[at].upper() in "ABCDEFGHIJ" and text[at].isascii():
            if last_close >= at + 1:
                return text[at].upper()
    return None


def _single_letter_line(line: str) -> str | None:
    """Step 4's `MD_SINGLE.fullmatch` on a stripped line: marks, one letter A-F, marks."""
    at, end = 0, len(line)
    while at < end and line[at] in _SINGLE_LEAD:
        at += 1
    while at < end and line[at].isspace():
        at += 1
    if at >= end or line[at] not in "ABCDEFabcdef":
        return None
    letter, at = line[at].upper(), at + 1
    while at < end and line[at].isspace():
        at += 1
    while at < end and line[at] in _SINGLE_TRAIL:
        at += 1
    while at < end and line[at].isspace():
        at += 1
    return letter if at == end else None


def _inline_tokens(line: str) -> set[str]:
    """Step 4's `TOKEN_INLINE.findall`: upper-case A-F not preceded by a Latin letter and
    followed, after optional closing marks, by the end, whitespace or tight punctuation."""
    found = set()
    for at, char in enumerate(line):
        if char not in LETTERS or (at and line[at - 1].isascii() and line[at - 1].isalpha()):
            continue
        k = at + 1
        while True:
            if k == len(line) or line[k].isspace() or line[k] in _TIGHT:
                found.add(char)
                break
            if line[k] not in _INLINE_SUFFIX:
                break
            k += 1
    return found


def _pick_from_lines(lines: list[str]) -> str | None:
    for line in reversed([ln.strip() for ln in lines if ln.strip()]):
        line = _collapsed(line)
        if _OPTION_LINE.search(line):
            continue
        single = _single_letter_line(line)
        if single:
            return single
        labelled = _LABELLED_LINE.match(line)
        if labelled:
            return labelled.group(1).upper()
        tokens = _inline_tokens(line)
        if len(tokens) == 1:
            return tokens.pop()
    return None


def _after_last(pattern: re.Pattern[str], text: str) -> str | None:
    last = None
    for last in pattern.finditer(text):  # noqa: B007 - the last match is wanted
        pass
    return None if last is None else text[last.end() :].strip()


def can_match_option(answer_text: object) -> str | None:
    """The letter VLMEvalKit's `can_match_option` reads in `answer_text`, or None where it
    returns False (no reliable letter, or not a string)."""
    if not isinstance(answer_text, str):
        return None
    text = _ZERO_WIDTH.sub("", answer_text.strip())
    block = _answer_block(text)
    if block:
        return block
    tail = _collapsed(text[-TAIL_WINDOW:])
    for pattern in (_TAIL_ANSWER, _TAIL_THINK):
        match = pattern.search(tail)
        if match:
            return match.group(1).upper()
    segment = _after_last(_THINK_END, text)
    if segment is None:
        segment = _after_last(_THINK_START, text)
    if segment is None:
        segment = text
    pick = _pick_from_lines(segment.splitlines()[-TAIL_LINES:])
    if pick:
        return pick
    pick = _pick_from_lines(text[-TAIL_WINDOW:].splitlines()[-TAIL_LINES:])
    if pick:
        return pick
    phrase = _PHRASE.search(_collapsed(text))
    if phrase:
        return phrase.group(1).upper()
    cleaned = "\n".join(ln for ln in text.splitlines() if not _OPTION_LINE.search(_collapsed(ln)))
    tokens = set(_GLOBAL_TOKEN.findall(_collapsed(cleaned)))
    return tokens.pop() if len(tokens) == 1 else None


def hit(prediction: object, answer: object) -> bool:
    """`compute_mcq_score`'s hit (cal_scores.py 80-87): `exact_match` of the two readings as
    strings, so two unreadable texts (both `False`) are a hit there too; a DSR-Bench answer
    letter is always readable."""
    return can_match_option(str(prediction)) == can_match_option(str(answer).strip())
