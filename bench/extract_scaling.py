"""Extraction time against answer length: `vlm4d_tasks.metric.extract.extract` on long answers.

Usage: python bench/extract_scaling.py [--max-bytes 1048576] [--repeat 3] [--budget 60]
           [--kinds loop_left_right,...] [--json OUT]

A degenerate generation (a model that loops until its token limit) must not stall a scoring
run: extraction should take time linear in the answer's length (issue 12). For each kind of
long answer below, at lengths from 1 KB up to --max-bytes (x4 per step), prints the best of
--repeat extraction times, the growth exponent against the previous length (log4 of the time
ratio: about 1 for linear work, 2 for quadratic) and the verdict, which should not depend on
the length. A kind stops growing once the next length would likely exceed --budget seconds
(a quadratic extractor at 16x the last time), so the old code can be measured too.

Kinds (seeded, the same bytes every run):
- loop_left_right: "left right left right ..." (names two options, no letter);
- cot_paragraph: one chain-of-thought paragraph with a conclusion, repeated;
- cot_cut_off: the same, cut off by the token limit just before its conclusion's last word;
- random_words: seeded random words, option words and punctuation, no structure;
- conclusion_at_end: varied reasoning sentences, then "Therefore, the final answer is: C";
- answer_loop: "The answer is B. The answer is B. ..." on one line (a commitment per phrase);
- answer_lines: "Answer: C (right)" on every line;
- exclamations: "The final answer is C" followed by "!!!!..." ;
- dot_loop: "not left" followed by ". . . . ." and a last "right";
- chinese_loop: "答案是C。汽车向右移动。" repeated, no spaces;
- chinese_letter_a: "答案是A" repeated on one line (the letter reads as the article "a");
- think_unclosed: "<think>" and reasoning that never closes;
- blank_lines: "Answer:", blank lines, then "right";
- open_brackets: "I think the correct option is a (" repeated.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Callable

from vlm4d_tasks.metric.extract import extract

DIRECTION = ("not moving", "left", "right", "no car there")
_WORDS = (
    "the car moves left right towards away camera frame first then it is not moving and "
    "so therefore appears to be on side road background shifts slightly while object "
    "in clockwise counter-clockwise seems clear answer option final maybe"
).split()
_REASONING = (
    "In the first frame the car is near the left edge of the road.",
    "As the frames progress, its position changes relative to the parked vans.",
    "The camera itself appears to pan slowly, so the background shifts as well.",
    "Comparing the shadows of the trees helps to judge the direction of motion.",
    "Option A does not fit what is visible, and option D is unlikely as well.",
    "By the last frame the car has crossed the lane markings.",
)
_PARAGRAPH = (
    "Let me look at the frames again. In the first frame the car is near the left edge. In "
    "the next frames it moves towards the right side of the road. Therefore, the car is "
    "moving to the right. "
)


def _repeat(unit: str, size: int) -> str:
    """Whole copies of `unit` (a cut copy would change the answer's last sentence)."""
    return unit * max(1, round(size / len(unit)))


def _random_words(size: int, rng: random.Random) -> str:
    parts: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS) + rng.choice(("", "", "", ",", ".", "!"))
        parts.append(word)
        length += len(word) + 1
    return " ".join(parts)[:size]


def _conclusion_at_end(size: int, rng: random.Random) -> str:
    ending = "\n\nTherefore, the final answer is: C"
    parts: list[str] = []
    length = 0
    while length < size - len(ending):
        sentence = rng.choice(_REASONING)
        parts.append(sentence)
        length += len(sentence) + 1
    return " ".join(parts)[: size - len(ending)] + ending


KINDS: dict[str, Callable[[int, random.Random], str]] = {
    "loop_left_right": lambda size, rng: _repeat("left right ", size),
    "cot_paragraph": lambda size, rng: _repeat(_PARAGRAPH, size),
    "cot_cut_off": lambda size, rng: (
        _repeat(_PARAGRAPH, size) + _PARAGRAPH[: _PARAGRAPH.rindex(" right")]
    ),
    "random_words": _random_words,
    "conclusion_at_end": _conclusion_at_end,
    "answer_loop": lambda size, rng: _repeat("The answer is B. ", size),
    "answer_lines": lambda size, rng: _repeat("Answer: C (right)\n", size),
    "exclamations": lambda size, rng: "The final answer is C" + "!" * max(0, size - 21),
    "dot_loop": lambda size, rng: (
        "The car is not left" + _repeat(" .", max(0, size - 26)) + " right."
    ),
    "chinese_loop": lambda size, rng: _repeat("答案是C。汽车向右移动。", size // 3),
    "chinese_letter_a": lambda size, rng: _repeat("答案是A", size // 3),
    "think_unclosed": lambda size, rng: "<think>" + _repeat(_PARAGRAPH, size - 7),
    "blank_lines": lambda size, rng: "Answer:" + "\n" * max(0, size - 12) + "right",
    "open_brackets": lambda size, rng: _repeat("I think the correct option is a (", size) + "hmm",
}


def _time(response: str, repeat: int) -> tuple[float, str]:
    best = math.inf
    verdict = ""
    for _ in range(repeat):
        start = time.perf_counter()
        result = extract(response, DIRECTION)
        best = min(best, time.perf_counter() - start)
        verdict = f"{result.letter or '-'} {result.rule}"
    return best, verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-bytes", type=int, default=1 << 20)
    parser.add_argument("--repeat", type=int, default=3, help="runs per length, best kept")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds one run may take")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated kinds")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args(argv)
    sizes = []
    size = 1024
    while size <= args.max_bytes:
        sizes.append(size)
        size *= 4
    rows = []
    print(f"{'kind':<18} {'bytes':>9} {'seconds':>10} {'exponent':>8}  verdict")
    for kind in args.kinds.split(","):
        if kind not in KINDS:
            raise SystemExit(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
        previous = None
        for size in sizes:
            if previous is not None and previous * 16 > args.budget:
                print(f"{kind:<18} {size:>9} {'skipped':>10} {'':>8}  (over --budget)")
                continue
            response = KINDS[kind](size, random.Random(0))
            nbytes = len(response.encode("utf-8"))
            seconds, verdict = _time(response, args.repeat if size < 1 << 18 else 1)
            exponent = f"{math.log(seconds / previous, 4):.2f}" if previous and seconds > 0 else ""
            print(f"{kind:<18} {nbytes:>9} {seconds:>10.4f} {exponent:>8}  {verdict}")
            rows.append({"kind": kind, "bytes": nbytes, "seconds": seconds, "verdict": verdict})
            previous = seconds
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
