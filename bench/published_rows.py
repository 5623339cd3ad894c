"""Recompute the official leaderboard rows of `vlm4d_tasks/report/published.json` from the
official repository's published judged outputs, with the official statistics arithmetic.

    python bench/published_rows.py DIR

DIR holds the official `processed_outputs_paper_results` folders (`real_mc_cot`,
`synthetic_mc_cot`, `real_mc_direct-output`, `synthetic_mc_direct-output`), one JSON list per
model and prompt setting. The arithmetic is the official `acc_final_statistics.py`'s:
- real: egocentric = question id (`validation_N`) above 922, exocentric the rest;
- synthetic: false positive = ground truth "no" or starting with "no " (case folded, stripped),
  directional the rest;
- every accuracy is the mean of the file's `correct` labels over its questions, and the real,
  synthetic and overall averages pool the questions (not means of the columns).

Prints every cell whose recomputed value (rounded to one decimal) differs from the published
number (rounded as Python formats it), every published row without files and every pair of files without a published row,
then one summary line. Exit status 1 when anything differs, else 0. Reads only DIR and the
package's `published.json`; the test suite never runs this (it needs the official files).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SETTINGS = {"cot": "official_cot", "direct-output": "official_direct-output"}


def is_fp(answer: str) -> bool:
    """The official false-positive rule (`acc_final_statistics.is_fp`)."""
    text = answer.strip().lower()
    return text == "no" or text.startswith("no ")


def _correct(rows: list[dict]) -> int:
    # `correct` is a JSON boolean in the published files; the official script sums it as is.
    return sum(bool(row["correct"]) for row in rows)


def official_row(real: list[dict], synthetic: list[dict]) -> dict[str, float]:
    """The seven columns of one model (percent, unrounded), as the official script counts."""
    ego = [x for x in real if int(x["id"].split("_")[-1]) > 922]
    exo = [x for x in real if int(x["id"].split("_")[-1]) <= 922]
    fp = [x for x in synthetic if is_fp(x["ground_truth_answer"])]
    directional = [x for x in synthetic if not is_fp(x["ground_truth_answer"])]
    groups = {
        "real_egocentric": [ego],
        "real_exocentric": [exo],
        "real": [ego, exo],
        "synthetic_directional": [directional],
        "synthetic_false_positive": [fp],
        "synthetic": [directional, fp],
        "overall": [ego, exo, directional, fp],
    }
    out = {}
    for column, parts in groups.items():
        total = sum(len(p) for p in parts)
        out[column] = 100 * sum(_correct(p) for p in parts) / total if total else 0.0
    return out


def _load(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="the official processed_outputs_paper_results")
    args = parser.parse_args(argv)

    from importlib.resources import files

    published = json.loads(
        files("vlm4d_tasks.report").joinpath("published.json").read_text(encoding="utf-8")
    )
    tables = {t["id"]: t for t in published["tables"]}
    cells = differing = missing = ties = 0
    for setting, table_id in SETTINGS.items():
        real_dir, syn_dir = args.dir / f"real_mc_{setting}", args.dir / f"synthetic_mc_{setting}"
        files_of = {
            p.stem for p in real_dir.glob("*.json") if (syn_dir / p.name).is_file()
        }  # the official script pairs the files of one name
        rows = {row["model"]: row for row in tables[table_id]["rows"]}
        for model in sorted(set(rows) - files_of):
            print(f"{setting}: {model}: published, but no real and synthetic files in {args.dir}")
            missing += 1
        for model in sorted(files_of - set(rows)):
            print(f"{setting}: {model}: files in {args.dir}, but no published row")
            missing += 1
        for model in sorted(files_of & set(rows)):
            computed = official_row(
                _load(real_dir / f"{model}.json"), _load(syn_dir / f"{model}.json")
            )
            for column, value in computed.items():
                cells += 1
                given = rows[model]["percent"][column]
                # Published to one decimal as Python formats it (`f"{x:.1f}"`: a tie such as
                # 53.25 goes to the even digit, 53.2); the exact value must format to it.
                ties += abs(value * 20 - round(value * 20)) < 1e-9 and value * 20 % 2 == 1
                if float(f"{value:.1f}") != given:
                    differing += 1
                    print(
                        f"{setting}: {model}: {column}: published {given:.1f}, "
                        f"recomputed {value:.3f}"
                    )
    print(
        f"{cells} cells recomputed from {args.dir}: {differing} differ from published.json; "
        f"{missing} row(s) without files or files without a row; {ties} cell(s) fall exactly "
        "halfway (x.x5) and are published rounded to the even digit"
    )
    return 1 if differing or missing else 0


if __name__ == "__main__":
    sys.exit(main())
