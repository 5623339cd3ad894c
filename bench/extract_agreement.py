"""Agreement of `vlm4d_tasks.metric.extract` with human-verified VLM4D judge labels.

Usage: python bench/extract_agreement.py /work/shared/vlm4d/judged_responses [--out DIR]

The judged folder holds `{real,synthetic}_mc_{cot,direct-output}/MODEL.json`; every entry has
`choices` (dict A-D), `response`, `ground_truth_answer` (the correct option's TEXT) and
`correct` (the reference label, cross-checked by the benchmark's authors). A response agrees
when (our letter == the letter of the ground-truth text) equals `correct`.

Prints per-file and overall agreement and writes `extract_agreement.json` (numbers) and
`extract_disagreements.jsonl` (one line per disagreement: file, id, our letter, rule, evidence,
reference label) to --out (default: out/extract_agreement/, ignored by git).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from vlm4d_tasks.metric.extract import LETTERS, extract


def gold_letters(choices: dict[str, object], answer: object) -> list[str]:
    """Letters whose option text equals the ground-truth text (two for a defective entry)."""
    want = str(answer).strip().lower()
    return [k for k in LETTERS if k in choices and str(choices[k]).strip().lower() == want]


def score_file(path: Path) -> tuple[int, list[dict], Counter, Counter]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SystemExit(f"{path}: cannot read judged responses: {err}") from err
    disagreements = []
    rules: Counter = Counter()
    confidence: Counter = Counter()  # (confident, agrees) -> count
    for i, entry in enumerate(entries):
        for field in ("choices", "response", "ground_truth_answer", "correct"):
            if field not in entry:
                raise SystemExit(f"{path}: entry {i} ({entry.get('id')}) has no field {field!r}")
        choices = entry["choices"]
        # With the question, as the pipeline reads answers (`grading.rule_verdict`).
        verdict = extract(
            entry["response"], [choices[k] for k in LETTERS if k in choices], entry.get("question")
        )
        rules[verdict.rule] += 1
        gold = gold_letters(choices, entry["ground_truth_answer"])
        ours_correct = verdict.letter is not None and verdict.letter in gold
        confidence[(verdict.confident, ours_correct == bool(entry["correct"]))] += 1
        if ours_correct != bool(entry["correct"]):
            disagreements.append(
                {
                    "file": f"{path.parent.name}/{path.name}",
                    "id": entry.get("id"),
                    "ours": verdict.letter,
                    "rule": verdict.rule,
                    "confident": verdict.confident,
                    "evidence": verdict.evidence,
                    "reference_extracted": entry.get("extracted_answer"),
                    "reference_correct": bool(entry["correct"]),
                    "gold_letters": gold,
                }
            )
    return len(entries), disagreements, rules, confidence


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("judged", type=Path, help="folder of judged response files")
    parser.add_argument("--out", type=Path, default=Path("out") / "extract_agreement")
    args = parser.parse_args(argv)
    files = sorted(args.judged.glob("*/*.json"))
    if not files:
        print(f"{args.judged}: no */*.json judged response files", file=sys.stderr)
        return 2
    per_file = {}
    all_dis: list[dict] = []
    all_rules: Counter = Counter()
    all_confidence: Counter = Counter()
    total = 0
    width = max(len(f"{f.parent.name}/{f.name}") for f in files)
    for path in files:
        n, dis, rules, confidence = score_file(path)
        name = f"{path.parent.name}/{path.name}"
        per_file[name] = {"n": n, "disagreements": len(dis), "agreement": 1 - len(dis) / n}
        print(
            f"{name:<{width}}  n={n:5d}  disagree={len(dis):3d}  agreement={1 - len(dis) / n:.4f}"
        )
        all_dis.extend(dis)
        all_rules.update(rules)
        all_confidence.update(confidence)
        total += n
    overall = 1 - len(all_dis) / total
    worst = min(per_file.items(), key=lambda kv: kv[1]["agreement"])
    print(f"\noverall agreement {overall:.4f} ({total - len(all_dis)}/{total})")
    print(f"min per-file agreement {worst[1]['agreement']:.4f} ({worst[0]})")
    sure = all_confidence[(True, True)] + all_confidence[(True, False)]
    unsure = total - sure
    sure_agreement = all_confidence[(True, True)] / sure if sure else 0.0
    print(
        f"confident verdicts: {sure} ({sure / total:.2%}), agreement {sure_agreement:.4f}; "
        f"not confident (hybrid mode asks the judge): {unsure}"
    )
    print("rules: " + ", ".join(f"{k}={v}" for k, v in sorted(all_rules.items())))
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {
        "overall_agreement": overall,
        "n": total,
        "disagreements": len(all_dis),
        "min_file_agreement": worst[1]["agreement"],
        "min_file": worst[0],
        "confident": sure,
        "confident_agreement": sure_agreement,
        "rules": dict(sorted(all_rules.items())),
        "files": per_file,
    }
    (args.out / "extract_agreement.json").write_text(json.dumps(summary, indent=2) + "\n")
    with (args.out / "extract_disagreements.jsonl").open("w", encoding="utf-8") as fh:
        for row in all_dis:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"disagreements listed in {args.out / 'extract_disagreements.jsonl'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
