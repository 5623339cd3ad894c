"""Compare the one false-positive rule (`categories`) with the official statistics script's
synthetic split ("the answer starts with 'no '") on both subsets of the release.

    python bench/false_positive_rules.py ../shared/vlm4d/annotations

Prints the counts per subset and every question where the two rules disagree, with its
question and answer, so that each disagreement can be explained (the dataset card does).
"""

from __future__ import annotations

import argparse

from vlm4d_tasks.data.annotations import load_annotations
from vlm4d_tasks.data.official import is_synthetic_false_positive
from vlm4d_tasks.data.schema import Category


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("annotations", help="folder with real_mc.json and synthetic_mc.json")
    args = parser.parse_args()
    records = load_annotations(args.annotations, ["real", "synthetic"]).records
    for subset in ("real", "synthetic"):
        ours = prefix = both = 0
        disagreements = []
        for r in (r for r in records if r.subset == subset):
            a = r.category == Category.FALSE_POSITIVE.value
            b = is_synthetic_false_positive(r.answer_text)
            ours += a
            prefix += b
            both += a and b
            if a != b:
                disagreements.append((r.uid, "rule only" if a else "prefix only", r))
        print(f"{subset}: rule {ours}, 'no ' prefix {prefix}, both {both}, "
              f"disagree {len(disagreements)}")  # fmt: skip
        for uid, side, r in disagreements:
            print(f"  {uid} [{side}] {r.question!r} -> {r.answer_text!r} ({r.category})")


if __name__ == "__main__":
    main()
