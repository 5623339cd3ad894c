"""Blind baselines on VLM4D, and what the `debiased` question set changes.

Usage: python bench/debias.py ANNOTATIONS_DIR [--judged JUDGED_DIR] [--write]

Prunes the questions with `vlm4d_tasks.validity.debias.prune` (defaults: the `debiased-v1`
rules) and prints, as Markdown tables, on the full set, the debiased set and sets with the same
number of questions removed at random from each subset and category (`debias.matched_removal`,
20 seeds; mean and min-max):

* questions per subset and category;
* the blind baselines, raw and chance-corrected ((acc - 1/4) / (3/4)), per subset and overall:
  the option-text prior (`prior.py`, both variants) and the cross-validated text predictor
  (`blind.py`), each estimated within the subset's questions of the set; overall pools the
  subsets' hits;
* the pruning rounds;
* the residual bias of the debiased set, by what the pruning did not select on
  (`debias.residual_bias`): per subset, the option-text prior (leave-one-video-out), the text
  predictor re-fit under 10 fold seeds the pruning never used and a second model family (naive
  Bayes), each with its 95% interval clustered by video and whether it holds chance;
* with --judged (`{real,synthetic}_mc_{cot,direct-output}/MODEL.json`, human-verified
  `correct` labels), each model's accuracy (mean of `correct`) on the same sets, joined on the
  question (uid = subset/id), and the control's effect: per run, debiased minus random
  removal, its mean with a 95% interval clustered by model, and the sign test over the runs
  (`debias.control_effect`).

--write writes `vlm4d_tasks/validity/debiased_v1.json`, `debiased_v1_audit.json` (the residual
bias and, with --judged, the control, which the dataset card quotes) and `blind_v1.json` (the
text predictor's letters, the score documents' baseline row), only from the official release
(its files must match the pinned SHA-256). Without it, the script says whether each shipped
file equals this run's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vlm4d_tasks.data.annotations import load_annotations
from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric.responses import ResponseFileError, load_response_file, stale_kinds
from vlm4d_tasks.metric.stats import chance_corrected
from vlm4d_tasks.validity import baselines as validity_baselines
from vlm4d_tasks.validity import blind, debias, prior

RANDOM_SEEDS = debias.CONTROL_SEEDS
BASELINES = ("prior (rate)", "prior (smoothed)", "blind CV predictor")


def baseline_hits(records: Sequence[Record]) -> dict[str, dict[str, tuple[int, int]]]:
    """baseline -> subset -> (hits, questions); each baseline estimated within each subset."""
    out: dict[str, dict[str, tuple[int, int]]] = {b: {} for b in BASELINES}
    groups: dict[str, list[Record]] = {}
    for record in records:
        groups.setdefault(record.subset, []).append(record)
    for subset, group in sorted(groups.items()):
        choices = {
            BASELINES[0]: prior.prior_choices(group, variant="rate"),
            BASELINES[1]: prior.prior_choices(group, variant="smoothed"),
            BASELINES[2]: blind.blind_predictions(group),
        }
        for name, chosen in choices.items():
            hits = sum(1 for r in group if r.answer and chosen[r.uid] == r.answer)
            out[name][subset] = (hits, len(group))
    return out


def with_overall(per_subset: dict[str, tuple[int, int]]) -> dict[str, float]:
    rates = {s: h / n for s, (h, n) in per_subset.items()}
    hits = sum(h for h, _ in per_subset.values())
    total = sum(n for _, n in per_subset.values())
    return {**rates, "overall": hits / total}


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def spread(values: Sequence[float]) -> str:
    return f"{pct(float(np.mean(values)))} [{pct(min(values))}-{pct(max(values))}]"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def load_judged(directory: Path, annotations: dict[str, Record]) -> dict[tuple[str, str], dict]:
    """(model, setting) -> uid -> the file's human-verified `correct`."""
    files = sorted(directory.glob("*/*.json"))
    if not files:
        raise SystemExit(f"{directory}: no */*.json judged response files")
    out: dict[tuple[str, str], dict[str, bool]] = {}
    for path in files:
        try:
            loaded = load_response_file(path)
        except ResponseFileError as exc:
            raise SystemExit(str(exc)) from None
        labels = out.setdefault((loaded.name, loaded.variant), {})
        stale = 0
        for response in loaded.responses:
            uid = loaded.uid(response)
            if uid not in annotations:
                raise SystemExit(f"{path}: record {response.question_id}: no question {uid}")
            if response.reference_correct is None:
                raise SystemExit(f"{path}: record {response.question_id}: field 'correct' missing")
            stale += bool(stale_kinds(response, annotations[uid]))
            labels[uid] = response.reference_correct
        if stale:
            print(f"note: {path}: {stale} entries differ from the annotations (joined on id)")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "annotations", type=Path, help="folder with real_mc.json, synthetic_mc.json"
    )
    parser.add_argument("--judged", type=Path, help="folder of judged response files")
    parser.add_argument("--write", action="store_true", help="write the shipped debiased set")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    loaded = load_annotations(args.annotations)
    records = loaded.records
    official = loaded.provenance is not None and loaded.provenance.official
    if args.write and not official:
        print(f"{args.annotations}: not the official release; refusing --write", file=sys.stderr)
        return 2
    by_uid = {r.uid: r for r in records}
    subsets = sorted({r.subset for r in records})

    with tqdm(desc="pruning", unit="round", leave=False) as bar:

        def on_round(entry: debias.Round) -> None:
            bar.set_postfix_str(f"{entry.subset} {entry.questions} q")
            bar.update(1)

        result = debias.prune(records, on_round=on_round)
    kept = set(result.kept)
    randoms = debias.matched_removal(records, result.kept, RANDOM_SEEDS)

    sets: dict[str, list[Record]] = {
        "full": list(records),
        "debiased": [r for r in records if r.uid in kept],
    }
    for seed, uids in randoms.items():
        chosen = set(uids)
        sets[f"random-{seed}"] = [r for r in records if r.uid in chosen]
    hits = {
        name: baseline_hits(group)
        for name, group in tqdm(sets.items(), desc="baselines", unit="set", leave=False)
    }

    print(f"# Blind baselines and the debiased set ({debias.DEBIASED_VERSION})\n")
    print(f"annotations: {args.annotations} (official release: {'yes' if official else 'no'})")
    print(f"pruning parameters: {result.parameters.to_dict()}")
    print(f"random removal: the same count per subset and category, seeds {list(RANDOM_SEEDS)}\n")

    print("## Questions per category\n")
    rows = []
    for subset, cats in result.counts.items():
        for category, c in cats.items():
            share = 1 - c["kept"] / c["full"]
            rows.append([subset, category, str(c["full"]), str(c["kept"]), f"{100 * share:.1f}%"])
        full = sum(c["full"] for c in cats.values())
        kept_n = sum(c["kept"] for c in cats.values())
        rows.append(
            [subset, "**all**", str(full), str(kept_n), f"{100 * (1 - kept_n / full):.1f}%"]
        )
    total_kept = len(result.kept)
    share = 100 * (1 - total_kept / len(records))
    rows.append(["**all**", "", str(len(records)), str(total_kept), f"{share:.1f}%"])
    print(table(["subset", "category", "full", "debiased", "removed"], rows) + "\n")

    print("## Blind baselines: accuracy % (chance-corrected %)\n")
    print("Random: mean [min-max] over the seeds. Chance is 25.0 (0.0 corrected).\n")
    columns = [*subsets, "overall"]
    rows = []
    for baseline in BASELINES:
        for name in ("full", "debiased", "random"):
            if name == "random":
                accs = [with_overall(hits[f"random-{s}"][baseline]) for s in RANDOM_SEEDS]
                cells = []
                for col in columns:
                    raw = [a[col] for a in accs]
                    cc = [chance_corrected(a) for a in raw]
                    cells.append(f"{spread(raw)} ({spread(cc)})")
            else:
                acc = with_overall(hits[name][baseline])
                cells = [f"{pct(acc[c])} ({pct(chance_corrected(acc[c]))})" for c in columns]
            rows.append([baseline, name, *cells])
    print(table(["baseline", "set", *columns], rows) + "\n")

    print("## Pruning rounds\n")
    rows = [
        [
            r.subset,
            str(r.round),
            str(r.questions),
            pct(r.blind_accuracy),
            pct(r.prior_accuracy["rate"]),
            pct(r.prior_accuracy["smoothed"]),
            f"{r.max_bias:.3f}",
            f"{r.mean_bias:.3f}",
            str(len(r.removed)),
            r.stop or "",
        ]
        for r in result.rounds
    ]
    header = ["subset", "round", "questions", "blind CV %", "prior rate %", "prior smoothed %"]
    header += ["max s(x)", "mean s(x)", "removed", "stop"]
    print(table(header, rows) + "\n")

    with tqdm(desc="residual bias", unit="fit", leave=False) as bar:

        def on_step(what: str) -> None:
            bar.set_postfix_str(what)
            bar.update(1)

        figures = debias.residual_bias(sets["debiased"], on_step=on_step)
    print("## Residual bias of the debiased set, by what the pruning did not select on\n")
    print(
        f"Kept questions only. Fold seeds {list(debias.FRESH_SEEDS)} (the pruning used "
        f"{list(result.parameters.seeds)}): accuracy is their mean, range their min-max; "
        "the 95% interval resamples videos. Chance is 25.0.\n"
    )
    rows = [
        [
            f.subset, f.baseline, str(f.questions), pct(f.accuracy),
            f"{pct(f.seed_min)}-{pct(f.seed_max)}" if f.seeds else "-",
            f"{pct(f.ci[0])}-{pct(f.ci[1])}", "yes" if f.within_chance else "no",
        ]
        for f in figures
    ]  # fmt: skip
    header = ["subset", "baseline", "questions", "accuracy %", "seed range %", "95% CI %"]
    print(table([*header, "within noise of chance"], rows) + "\n")
    effect = None

    if args.judged is not None:
        judged = load_judged(args.judged, by_uid)
        print("## Models: accuracy % (mean of the human-verified `correct`)\n")
        print("Random: mean [min-max] over the seeds; delta = debiased (or random) - full.\n")
        header = ["model", "setting"]
        for col in columns:
            header += [f"{col} full", f"{col} debiased", f"{col} random"]
        header += ["overall delta debiased", "overall delta random"]
        rows = []
        deltas: dict[str, list[float]] = {"debiased": [], "random": []}
        control_runs: dict[tuple[str, str], tuple[float, float, float]] = {}
        full_overall, debiased_overall = [], []
        for (model, setting), labels in sorted(judged.items()):

            def acc(group: Sequence[Record], labels=labels) -> dict[str, float]:
                per = {}
                for subset in subsets:
                    values = [
                        labels[r.uid] for r in group if r.subset == subset and r.uid in labels
                    ]
                    per[subset] = (sum(values), len(values))
                per = {s: v for s, v in per.items() if v[1]}
                return with_overall(per) if per else {}

            full = acc(sets["full"])
            deb = acc(sets["debiased"])
            rand = [acc(sets[f"random-{s}"]) for s in RANDOM_SEEDS]
            control_runs[(model, setting)] = (
                full["overall"],
                deb["overall"],
                float(np.mean([r["overall"] for r in rand])),
            )
            row = [model, setting]
            for col in columns:
                row += [pct(full.get(col)), pct(deb.get(col))]
                row.append(spread([r[col] for r in rand]) if col in full else "-")
            d_deb = deb["overall"] - full["overall"]
            d_rand = [r["overall"] - full["overall"] for r in rand]
            deltas["debiased"].append(d_deb)
            deltas["random"].append(float(np.mean(d_rand)))
            full_overall.append(full["overall"])
            debiased_overall.append(deb["overall"])
            row += [f"{100 * d_deb:+.1f}", f"{100 * np.mean(d_rand):+.1f}"]
            rows.append(row)
        print(table(header, rows) + "\n")
        from scipy.stats import spearmanr

        rho = spearmanr(full_overall, debiased_overall).statistic
        print(
            f"mean overall delta over {len(rows)} runs: debiased "
            f"{100 * np.mean(deltas['debiased']):+.1f} points, random "
            f"{100 * np.mean(deltas['random']):+.1f} points; Spearman rank correlation of the "
            f"runs' overall accuracy, full vs debiased: {rho:.3f}\n"
        )
        effect = debias.control_effect(control_runs)
        lo, hi = effect.ci if effect.ci else (float("nan"), float("nan"))
        print(
            f"control, matched per subset and category ({len(RANDOM_SEEDS)} seeds): over "
            f"{effect.runs} runs of {effect.models} distinct models, debiased {100 * effect.debiased_delta:+.2f} "
            f"points, random removal {100 * effect.random_delta:+.2f}; debiased - random "
            f"{100 * effect.difference:+.2f} points (95% interval clustered by model "
            f"{100 * lo:+.2f} to {100 * hi:+.2f}); {effect.lower} runs lower, {effect.higher} higher, "
            f"{effect.ties} tied; two-sided sign test p = {effect.p_value:.3g}\n"
        )

    document = debias.debiased_document(records, result)
    judged = None if args.judged is None else "the development sample's judged runs"
    audit = debias.audit_document(sets["debiased"], figures, effect, judged=judged)
    outputs = [
        (debias.DEBIASED_FILE, debias.dumps_document(document)),
        (debias.AUDIT_FILE, debias.dumps_document(audit)),
        (validity_baselines.PREDICTOR_FILE,
         debias.dumps_document(validity_baselines.predictions_document(records))),
    ]  # fmt: skip
    for name, text in outputs:
        target = Path(debias.__file__).with_name(name)
        if args.write:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target} ({len(text)} bytes)")
        elif target.exists():
            same = target.read_text(encoding="utf-8") == text
            print(f"shipped {target.name}: {'identical to' if same else 'DIFFERS from'} this run")
        else:
            print(f"shipped {target.name}: missing (--write writes it)")
    target = Path(debias.__file__).with_name(debias.DEBIASED_FILE)
    if official and target.exists():
        shipped = debias.debiased_uids(records)
        print(f"debiased_uids on these records: source {shipped.source}, {len(shipped.kept)} kept")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
