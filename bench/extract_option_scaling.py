"""Extraction time against the length of the option texts: `extract` with long options.

Usage: python bench/extract_option_scaling.py [--answer-bytes 1048576] [--max-option-bytes
           1048576] [--budget 120] [--kinds answer_loop,...] [--json OUT]

A response file carries its own options, so their length is the file's to choose (issue 23,
item 11): extraction time must not grow with it. For each kind of answer of --answer-bytes,
prints the extraction time with the usual short options, then with all four options of 1 KB up
to --max-option-bytes (x4 per step), and the verdict. With options matched on their first
`MAX_OPTION_CHARS` characters the times stay those of the short options. A kind stops growing
once the next option length would likely pass --budget seconds (16x the last time: quadratic),
so an old checkout can be measured too (`PYTHONPATH=/path/to/old/checkout`, run from outside
this checkout's folder).

Kinds (seeded, the same bytes every run):
- answer_loop: "The answer is B. " on one line (a commitment per phrase, a label after each);
- letter_a_loop: "A car moves on. " (the letter A read as the article, checked against
  option A's text);
- commits_quoting: "Answer: X <the start of option X>" with X cycling (labels to check);
- conclusion_at_end: reasoning sentences, then "Therefore, the final answer is: C";
- option_words: the words the options are made of, no commitment (the prose rules).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable

from vlm4d_tasks.metric.extract import extract

SHORT = ("not moving", "left", "right", "no car there")
_WORDS = "the car moves left then right towards the camera and away from it slowly".split()
_REASONING = "In the first frame the car is near the left edge of the road. "


def long_options(size: int) -> list[str]:
    """Four options of about `size` characters, different words in different orders."""
    options = []
    for seed in range(4):
        rng = random.Random(seed)
        words: list[str] = []
        length = 0
        while length < size:
            words.append(rng.choice(_WORDS))
            length += len(words[-1]) + 1
        options.append(" ".join(words))
    return options


def _random_words(size: int) -> str:
    rng = random.Random(9)
    return " ".join(rng.choice(_WORDS) for _ in range(max(1, size // 6)))


def _repeat(unit: str, size: int) -> str:
    return unit * max(1, size // len(unit))


KINDS: dict[str, Callable[[int, list[str]], str]] = {
    "answer_loop": lambda size, options: _repeat("The answer is B. ", size),
    "letter_a_loop": lambda size, options: _repeat("A car moves on. ", size),
    "commits_quoting": lambda size, options: " ".join(
        f"Answer: {'ABCD'[i % 4]} {' '.join([options[i % 4]] * 20)[:60]}"
        for i in range(max(1, size // 72))
    ),
    "conclusion_at_end": lambda size, options: (
        _repeat(_REASONING, size) + "\n\nTherefore, the final answer is: C"
    ),
    "option_words": lambda size, options: _random_words(size),
}


def _time(answer: str, options: list[str] | tuple[str, ...]) -> tuple[float, str]:
    start = time.perf_counter()
    verdict = extract(answer, options)
    seconds = time.perf_counter() - start
    capped = " capped" if getattr(verdict, "options_capped", False) else ""
    return seconds, f"{verdict.letter or '-'} {verdict.rule}{capped}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answer-bytes", type=int, default=1 << 20)
    parser.add_argument("--max-option-bytes", type=int, default=1 << 20)
    parser.add_argument("--budget", type=float, default=120.0, help="seconds one run may take")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated kinds")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args(argv)
    sizes = [0]
    size = 1024
    while size <= args.max_option_bytes:
        sizes.append(size)
        size *= 4
    rows = []
    print(f"{'kind':<18} {'option bytes':>12} {'answer bytes':>12} {'seconds':>9}  verdict")
    for kind in args.kinds.split(","):
        if kind not in KINDS:
            raise SystemExit(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
        previous = None
        for size in sizes:
            if previous is not None and previous * 16 > args.budget:
                print(f"{kind:<18} {size:>12} {'':>12} {'skipped':>9}  (over --budget)")
                continue
            options = long_options(size) if size else list(SHORT)
            answer = KINDS[kind](args.answer_bytes, options)
            seconds, verdict = _time(answer, options)
            option_bytes = max(len(o.encode("utf-8")) for o in options)
            answer_bytes = len(answer.encode("utf-8"))
            print(f"{kind:<18} {option_bytes:>12} {answer_bytes:>12} {seconds:>9.3f}  {verdict}")
            rows.append({"kind": kind, "option_bytes": option_bytes,
                         "answer_bytes": answer_bytes, "seconds": round(seconds, 4),
                         "verdict": verdict})  # fmt: skip
            previous = seconds if size else None
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
