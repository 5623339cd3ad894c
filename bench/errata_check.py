"""Is the errata file complete? Every disagreement of the rule with the reference covered.

Usage: python bench/errata_check.py /work/shared/vlm4d/judged_responses

For every judged file (`{real,synthetic}_mc_{cot,direct-output}/MODEL.json`) the rule
extraction (`metric.extract`, with the question) is compared with the reference label
`correct`, as `bench/hybrid_calibration.py` does, and the shipped errata
(`vlm4d_tasks/metric/reference_errata.json`) are checked against the result:

- every disagreement has an entry (same question id and response text);
- every entry's span occurs in its answer, and its recorded reference label is the file's;
- no entry is left over (an answer the rule now reads as the reference does: delete it).

Prints the counts by class and what the known reference errors move: per file, the
reference's accuracy with the erratum applied (`reference_wrong` entries take their reading).
Exit 1 when anything is missing or stale, so a rule change that opens a new disagreement is
seen. Writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

# The scripts run from bench/ (python bench/NAME.py), which puts this folder on the path.
from extract_agreement import gold_letters

from vlm4d_tasks.metric.errata import load_errata, response_key
from vlm4d_tasks.metric.extract import LETTERS, extract


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("judged", type=Path, help="folder of judged response files")
    args = parser.parse_args(argv)
    files = sorted(args.judged.glob("*/*.json"))
    if not files:
        print(f"{args.judged}: no */*.json judged response files", file=sys.stderr)
        return 2
    errata = load_errata()
    by_key = {(e.id, e.response_sha256): e for e in errata.entries}
    used: set[tuple[str, str]] = set()
    problems: list[str] = []
    kinds: Counter = Counter()
    for path in files:
        name = f"{path.parent.name}/{path.name}"
        entries = json.loads(path.read_text(encoding="utf-8"))
        reference_right = corrected_right = 0
        for entry in entries:
            choices = entry["choices"]
            options = [choices[k] for k in LETTERS if k in choices]
            verdict = extract(entry["response"], options, entry.get("question"))
            gold = gold_letters(choices, entry["ground_truth_answer"])
            ours = verdict.letter is not None and verdict.letter in gold
            key = (entry["id"], response_key(entry["response"]))
            erratum = by_key.get(key)
            reference_right += bool(entry["correct"])
            corrected = erratum.corrected(gold) if erratum is not None else None
            corrected_right += bool(entry["correct"]) if corrected is None else corrected
            if ours == bool(entry["correct"]):
                continue
            if erratum is None:
                problems.append(f"{name} {entry['id']}: disagreement without an erratum "
                                f"(ours {verdict.letter}, rule {verdict.rule})")  # fmt: skip
                continue
            used.add(key)
            kinds[erratum.kind] += 1
            response = entry["response"]
            text = response if isinstance(response, str) else str(response)
            for span in (erratum.span, *(r.span for r in erratum.readers)):
                if span not in text:
                    problems.append(f"{name} {entry['id']}: span not in the answer: {span!r}")
            if erratum.reference_correct != bool(entry["correct"]):
                problems.append(f"{name} {entry['id']}: recorded reference label differs")
        if corrected_right != reference_right:
            n = len(entries)
            print(f"{name}: reference accuracy {reference_right / n:.2%} -> "
                  f"{corrected_right / n:.2%} with its known errors corrected "
                  f"({corrected_right - reference_right:+d} of {n})")  # fmt: skip
    for key in sorted(set(by_key) - used):
        problems.append(f"{by_key[key].file} {key[0]}: erratum of no current disagreement "
                        "(the rule now agrees, or the file is not here): delete it")  # fmt: skip
    print("covered disagreements: " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
    for line in problems:
        print(line)
    if problems:
        print(
            f"errata incomplete: {len(problems)} problem(s); fix: classify the new "
            "disagreements in vlm4d_tasks/metric/reference_errata.json",
            file=sys.stderr,
        )
        return 1
    print(f"errata complete: {len(used)} entries, every reader's span found")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
