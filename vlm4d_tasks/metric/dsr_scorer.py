"""The answer reader of DSR Suite's VLM4D baseline, as a scoring function beside ours.

DSR Suite (arXiv 2512.20557; github.com/TencentARC/DSR_Suite, commit ae81203,
`model/qwen_test_vlm4d_baseline.py` lines 26-38 and 105-109) reads a model's answer with six
regular expressions tried in order, each searched with `re.IGNORECASE | re.MULTILINE`; the first
that matches gives the letter (upper-cased). When none matches, the whole answer, stripped, is
compared with the gold letter. A lab reproducing the paper's number reads the same answers both
ways: this scorer, and our extraction (`vlm4d_tasks.metric.extract`).

The patterns are the script's, unchanged, so its quirks are kept: they accept `E` (never right
on VLM4D's four options) and match `(a)` anywhere, a chain of thought's first parenthesised
letter included. The script finds the gold letter by comparing answer texts and falls back to
`D` when none is equal; here the record's own gold letter is used (the same on every released
question whose answer text is one of its options).

Linear: every pattern is anchored on a literal or a single letter and scans forward once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# model/qwen_test_vlm4d_baseline.py lines 26-33, in the script's order.
ANSWER_PATTERNS: tuple[str, ...] = (
    r"\(([A-E])\)",  # (A)
    r"Ans\s*=\s*['\"]?([A-E])['\"]?",  # Ans='C'
    r"Answer\s*[:=]\s*([A-E])",  # Answer: B
    r"Option\s+([A-E])",  # Option D
    r"\b([A-E])\s*(?:is|was)\s*correct",  # A is correct
    r"\b([A-E])[\.\)]\s*$",  # C.  /  D)
)
_COMPILED = tuple(re.compile(p, re.IGNORECASE | re.MULTILINE) for p in ANSWER_PATTERNS)
WHOLE_ANSWER = "whole answer"  # no pattern matched: the stripped answer is the choice


@dataclass(frozen=True)
class DsrReading:
    """What the DSR Suite reader took from one answer, and why.

    `choice` is what the script compares with the gold letter: a pattern's letter, or the
    whole stripped answer. `letter` is that choice when it is one of A-D (the options), else
    None (no valid answer: the script counts it wrong). `rule` is `pattern N` (1-6, the
    script's order) or `whole answer`; `evidence` the matched text.
    """

    choice: str
    letter: str | None
    rule: str
    evidence: str

    def correct(self, gold: str) -> bool:
        """The script's test (line 109): `answer == i`."""
        return self.choice == gold


def extract_answer(text: str) -> tuple[str, int, str] | None:
    """The script's `extract_answer`: (letter, pattern number 1-6, matched text), or None."""
    for number, pattern in enumerate(_COMPILED, start=1):
        match = pattern.search(text)
        if match:
            return match.group(1).upper(), number, match.group(0)
    return None


def read_answer(response: object) -> DsrReading:
    """Line 108: `extract_answer(output_text[0]) or output_text[0].strip()`."""
    text = "" if response is None else response if isinstance(response, str) else str(response)
    found = extract_answer(text)
    if found is not None:
        letter, number, evidence = found
        return DsrReading(
            letter, letter if letter in "ABCD" else None, f"pattern {number}", evidence
        )
    choice = text.strip()
    letter = choice if len(choice) == 1 and choice in "ABCD" else None
    return DsrReading(choice, letter, WHOLE_ANSWER, choice[:200])


def score(response: object, gold: str) -> bool:
    """Whether the script counts `response` right for a question whose answer is `gold`."""
    return read_answer(response).correct(gold)
