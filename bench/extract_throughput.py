"""Throughput of `vlm4d_tasks.metric.extract.extract` in responses per second.

Usage: python bench/extract_throughput.py [--n 20000] [--seed 0] [--repeat 3] [--judged DIR]

Builds a seeded synthetic corpus of responses in the styles models write (bare letters,
"Answer: B", chain of thought ending in a final-answer phrase, prose without a letter,
think blocks, refusals) and times extraction over it; with --judged it also times the real
responses of a judged-responses folder (`*/*.json`, as in /work/shared/vlm4d/judged_responses).
Prints one line per corpus: responses, best-of-repeat seconds, responses/second.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from pathlib import Path

from vlm4d_tasks.metric.extract import LETTERS, extract

_OPTION_SETS: tuple[tuple[str, ...], ...] = (
    ("left", "right", "not moving", "no car there"),
    ("towards the camera", "away from the camera", "not moving", "there are no dogs in the video"),
    ("clockwise", "counter-clockwise", "not spinning", "no wheel there"),
    ("0", "1", "2", "3"),
    ("forwards", "backwards", "uphill", "downhill"),
)
_FILLER = (
    "In the first frame the object is near the centre of the image.",
    "As the frames progress, its position changes relative to the background.",
    "The camera itself appears to be stationary throughout the clip.",
    "Looking at the shadows and the road markings helps to judge the motion.",
    "Option A does not fit what is visible, and option C is unlikely as well.",
    "Comparing the last frame with the first one shows a clear displacement.",
)


def _response(rng: random.Random, options: Sequence[str]) -> str:
    i = rng.randrange(4)
    letter, text = LETTERS[i], options[i]
    reasoning = " ".join(rng.choice(_FILLER) for _ in range(rng.randint(2, 12)))
    style = rng.randrange(9)
    if style == 0:
        return letter
    if style == 1:
        return f"{letter}: {text}"
    if style == 2:
        return f"Answer: {letter}"
    if style == 3:
        return f"{reasoning}\n\nTherefore, the final answer is: {letter}"
    if style == 4:
        return f"{reasoning}\n\nTherefore, the final answer is: **{letter}** ({text})."
    if style == 5:
        return f"<think>{reasoning} Maybe {LETTERS[(i + 1) % 4]}?</think>\n\\boxed{{{letter}}}"
    if style == 6:
        return f"The object is moving {text}. {reasoning}"
    if style == 7:
        return f"{reasoning} I'm sorry, I cannot determine the direction from these frames."
    return f"{reasoning}\nA. {options[0]}\nB. {options[1]}\nC. {options[2]}\nD. {options[3]}"


def synthetic_corpus(n: int, seed: int) -> list[tuple[str, Sequence[str]]]:
    """`n` (response, options) pairs; the same seed gives the same corpus."""
    rng = random.Random(seed)
    corpus = []
    for _ in range(n):
        options = list(rng.choice(_OPTION_SETS))
        rng.shuffle(options)
        corpus.append((_response(rng, options), options))
    return corpus


def judged_corpus(folder: Path) -> list[tuple[object, Sequence[object]]]:
    corpus = []
    for path in sorted(folder.glob("*/*.json")):
        for entry in json.loads(path.read_text(encoding="utf-8")):
            choices = entry["choices"]
            corpus.append((entry["response"], [choices[k] for k in LETTERS if k in choices]))
    if not corpus:
        raise SystemExit(f"{folder}: no */*.json judged response files")
    return corpus


def time_corpus(corpus: Sequence[tuple[object, Sequence[object]]], repeat: int) -> float:
    """Best wall time over `repeat` passes (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for response, options in corpus:
            extract(response, options)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="synthetic responses")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--judged", type=Path, help="also time a judged-responses folder")
    args = parser.parse_args(argv)
    corpora = {f"synthetic (seed {args.seed})": synthetic_corpus(args.n, args.seed)}
    if args.judged:
        corpora[f"judged ({args.judged})"] = judged_corpus(args.judged)
    for name, corpus in corpora.items():
        seconds = time_corpus(corpus, args.repeat)
        print(
            f"{name}: {len(corpus)} responses in {seconds:.2f} s = "
            f"{len(corpus) / seconds:,.0f} responses/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
