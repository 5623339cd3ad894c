"""The consistency transformations' rules on real annotations: what mirror and reverse keep.

    python bench/transform_rules.py ANNOTATIONS_DIR [--examples N]

ANNOTATIONS_DIR holds real_mc.json / synthetic_mc.json (the official release, e.g.
../shared/vlm4d/annotations). Prints, per subset and category, how many questions each rule of
`vlm4d_tasks.validity.transforms` decides: for the mirror, mirrored / unchanged / dropped (and
why); for the reverse, kept or left out by each named rule. Then, per rule, the first N
questions it decides (by uid) with what the transformation makes of them. Every kept record is
checked again as the annotation loader checks a record (answer letter = the first option whose
text is the answer text, no new validation problem); a failure is printed and the exit status
is 1. Deterministic: the same files give the same output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vlm4d_tasks.data.annotations import load_annotations, normalize_entry
from vlm4d_tasks.data.schema import LETTERS, Subset
from vlm4d_tasks.validity import transforms


def table(records, kind: str) -> list[str]:
    """A Markdown table: one row per (subset, category) and a total, one column per rule."""
    counts = transforms.rule_counts(records, kind)
    rules = transforms.MIRROR_RULES if kind == transforms.MIRROR else transforms.REVERSE_RULES
    kept = [name for name, rule in rules.items() if rule.kept]
    names = [*kept, *(name for name in rules if name not in kept)]
    head = ["subset", "category", "n", "kept", *(f"{n} ({'kept' if rules[n].kept else 'out'})"
                                                   for n in names)]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    totals = dict.fromkeys(names, 0)
    for (subset, category), row in counts.items():
        n = sum(row.values())
        lines.append("| " + " | ".join([subset, category, str(n), str(sum(row[k] for k in kept)),
                                        *(str(row[name]) for name in names)]) + " |")  # fmt: skip
        for name in names:
            totals[name] += row[name]
    n = sum(totals.values())
    lines.append("| " + " | ".join(["all", "", str(n), str(sum(totals[k] for k in kept)),
                                    *(str(totals[name]) for name in names)]) + " |")  # fmt: skip
    return lines


def revalidate(original, out) -> str | None:
    """Why `out` fails the loader's checks, or None."""
    entry = {"id": out.question_id, "video": out.video, "question": out.question,
             "choices": dict(zip(LETTERS, out.options)), "answer": out.answer_text}  # fmt: skip
    checked, _ = normalize_entry(entry, Subset(out.subset))
    if checked.answer != out.answer:
        return f"answer letter {out.answer!r}, the loader finds {checked.answer!r}"
    new = set(checked.flags) - set(original.flags)
    return f"new validation problems {sorted(new)}" if new else None


def examples(records, kind: str, per_rule: int) -> tuple[list[str], list[str]]:
    rules = transforms.MIRROR_RULES if kind == transforms.MIRROR else transforms.REVERSE_RULES
    shown: dict[str, list[str]] = {name: [] for name in rules}
    failures = []
    for record in sorted(records, key=lambda r: r.uid):
        rule = transforms.transform_rule(record, kind)
        out = transforms.transform(record, kind)
        if out is not None and (problem := revalidate(record, out)):
            failures.append(f"{record.uid}: {kind}: {problem}")
        if len(shown[rule]) >= per_rule:
            continue
        line = f"- `{record.uid}` {record.question!r} {record.options} -> {record.answer}"
        if out is not None:
            if out.question != record.question:
                line += f"\n  question: {out.question!r}"
            line += f"\n  options: {out.options} -> {out.answer} ({out.answer_text!r})"
        shown[rule].append(line)
    lines = []
    for name, rule in rules.items():
        lines.append(f"\n{kind} rule `{name}` ({'kept' if rule.kept else 'left out'}: "
                     f"{rule.description}):")  # fmt: skip
        lines += shown[name] or ["- (none)"]
    return lines, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "annotations", type=Path, help="folder with real_mc.json / synthetic_mc.json"
    )
    parser.add_argument("--examples", type=int, default=3, help="examples per rule (default 3)")
    args = parser.parse_args(argv)
    records = load_annotations(args.annotations, ["real", "synthetic"]).records
    out: list[str] = [f"{len(records)} questions from {args.annotations}"]
    failures: list[str] = []
    for kind in transforms.KINDS:
        out += ["", f"## {kind}", "", *table(records, kind)]
    for kind in transforms.KINDS:
        lines, failed = examples(records, kind, args.examples)
        out += ["", f"## {kind}: examples", *lines]
        failures += failed
    rotated = sum(len(transforms.rotations(r)) for r in records)
    for record in records:
        for rotation in transforms.rotations(record):
            if problem := revalidate(record, rotation):
                failures.append(f"{rotation.uid}: {problem}")
    out += ["", f"rotations: {rotated} records from {len(records)} questions"]
    out += [f"revalidation failures: {len(failures)}", *failures]
    sys.stdout.write("\n".join(out) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
