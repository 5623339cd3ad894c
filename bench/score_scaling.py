"""Time of `vlm4d score` against the number of entries in a raw response file.

Usage: python bench/score_scaling.py [--sizes 12500,25000,50000,100000] [--budget 600]
           [--from FILE] [--json OUT]

Scoring should take time linear in a file's entries (issue 23, item 5: a per-answer scan of
the whole file made it quadratic, 12.5k entries 5.5 s, 100k 207 s). For each size, writes a
raw response file of that many entries (official raw format: id, question, choices, response,
answer) to a temporary folder `real_mc_cot/`, runs the real command on it
(`python -m vlm4d_tasks.cli score FILE --no-progress`, rule mode, default bootstrap) and prints
the wall time, the time per 1,000 entries and the growth exponent against the previous size
(log of the time ratio over log of the size ratio: about 1 for linear work, 2 for quadratic).
A size is skipped once a quadratic growth from the last time would pass --budget seconds, so
an old checkout can be measured too (`PYTHONPATH=/path/to/old/checkout python bench/...`).

Entries are generated (seeded, the same bytes every run) unless --from names a response file
in either official format, whose entries are then repeated with fresh ids.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_OBJECTS = ("car", "bus", "person", "dog", "cyclist", "truck")
_DIRECTIONS = ("left", "right", "not moving", "towards the camera")
_STYLES = (
    "Therefore, the final answer is: {letter}",
    "{letter}",
    "Answer: {letter} ({text})",
    "The {obj} moves {text} across the frames, so the answer is {letter}.",
    "Looking at the frames, the {obj} appears to go {text}.",
    "I cannot tell from these frames.",
)


def generated_entries(n: int, seed: int = 0) -> list[dict[str, object]]:
    """`n` raw-format entries: direction questions, shuffled options, varied answer styles."""
    rng = random.Random(seed)
    entries = []
    for i in range(n):
        obj = rng.choice(_OBJECTS)
        options = list(_DIRECTIONS[:3]) + [f"there is no {obj} in the video"]
        rng.shuffle(options)
        truth = rng.choice(options)
        picked = rng.randrange(4)
        style = rng.choice(_STYLES)
        entries.append(
            {
                "id": f"validation_{i + 1}",
                "question": f"What direction is the {obj} moving towards?",
                "choices": dict(zip("ABCD", options)),
                "response": style.format(letter="ABCD"[picked], text=options[picked], obj=obj),
                "answer": truth,
            }
        )
    return entries


def entries_from(path: Path, n: int) -> list[dict[str, object]]:
    """`n` entries cycled from a response file, renumbered, in the raw format."""
    source = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for i in range(n):
        entry = source[i % len(source)]
        answer = entry.get("answer", entry.get("ground_truth_answer"))
        out.append(
            {
                "id": f"validation_{i + 1}",
                "question": entry["question"],
                "choices": entry["choices"],
                "response": entry["response"],
                "answer": answer,
            }
        )
    return out


def time_score(path: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "vlm4d_tasks.cli", "score", str(path), "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "VLM4D_JUDGE": "rule"},
        cwd=path.parent,  # not the checkout's folder, so that PYTHONPATH picks the package
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"vlm4d score failed on {path}:\n{done.stderr}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="12500,25000,50000,100000", help="entries per file")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds one run may take")
    parser.add_argument("--from", dest="source", type=Path, help="response file to repeat")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rows: list[dict[str, object]] = []
    print(f"{'entries':>8} {'seconds':>9} {'s/1k':>7} {'exponent':>8}")
    previous: tuple[int, float] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "real_mc_cot"
        folder.mkdir()
        for n in sizes:
            if previous is not None and previous[1] * (n / previous[0]) ** 2 > args.budget:
                print(f"{n:>8} {'skipped':>9}  (a quadratic growth would pass --budget)")
                continue
            entries = entries_from(args.source, n) if args.source else generated_entries(n)
            path = folder / f"model_{n}.json"
            path.write_text(json.dumps(entries), encoding="utf-8")
            seconds = time_score(path)
            path.unlink()
            exponent = ""
            if previous is not None:
                exponent = f"{math.log(seconds / previous[1]) / math.log(n / previous[0]):.2f}"
            print(f"{n:>8} {seconds:>9.2f} {1000 * seconds / n:>7.3f} {exponent:>8}", flush=True)
            rows.append({"entries": n, "seconds": round(seconds, 3)})
            previous = (n, seconds)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
