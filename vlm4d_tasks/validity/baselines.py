"""What a score means next to what needs no video: the baseline rows and the debiased column
of a score document (`pipeline.score.score_document`, so `vlm4d score`, lmms-eval runs and
`vlm4d report` show the same numbers).

* `random`: a seeded uniform letter per question (`random_letter`, the `vlm4d_random` model's
  rule), the chance row.
* `option-text prior`: the blind leave-one-video-out prior of `validity.prior`, estimated
  within each subset (real and synthetic differ in question style and answer skew), the
  `vlm4d_prior` model's answers; it never sees the video or the question.
* `debiased`: each row's accuracy on the debiased question set (`validity.debias`), the
  shipped `debiased-v1` list when the records are the official release.

Only benchmark questions (real, synthetic) get these: the probe set has exact labels and a
balanced design of its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from vlm4d_tasks.data.schema import LETTERS, Record, Subset

PRIOR_ROW = "option-text prior (blind, leave-one-out)"
# Seeds of the random-removal control of the debiased column (the mean over them is shown).
RANDOM_SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
BENCHMARK = (Subset.REAL.value, Subset.SYNTHETIC.value)


def random_letter(seed: int, key: str) -> str:
    """The letter for `key` under `seed`, uniform over A-D, from a hash of both, so that an
    answer never depends on batch size, process count or order."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return LETTERS[int.from_bytes(digest[:8], "big") % len(LETTERS)]


def random_row_name(seed: int) -> str:
    return f"random (seed {seed})"


def _items(records: Sequence[Record], letters: Mapping[str, str], decided_by: str) -> list:
    from vlm4d_tasks.metric.scoring import Verdict, join

    verdicts = [Verdict.chosen(r.uid, letters[r.uid], decided_by) for r in records]
    return join(verdicts, records)


def prior_items(records: Sequence[Record], *, variant: str = "rate") -> list:
    """The prior's scored answers to `records`, its pool being each record's subset."""
    from vlm4d_tasks.validity.prior import prior_choices

    letters: dict[str, str] = {}
    for subset in sorted({r.subset for r in records}):
        pool = [r for r in records if r.subset == subset]
        letters.update(prior_choices(pool, variant=variant))
    return _items(records, letters, "prior")


def random_items(records: Sequence[Record], *, seed: int = 0) -> list:
    return _items(records, {r.uid: random_letter(seed, r.uid) for r in records}, "random")


def benchmark_records(
    models: Mapping[str, Sequence[Any]], records: Sequence[Record] | None = None
) -> list[Record]:
    """The distinct benchmark questions, in uid order: `records` when given (the annotations
    the answers were joined to), else those the rows answered, the first row in name order
    winning, so that the result does not depend on the order the files were given in."""
    by_uid: dict[str, Record] = {}
    if records is not None:
        by_uid = {r.uid: r for r in records if r.subset in BENCHMARK}
    else:
        for _name, items in sorted(models.items()):
            for item in items:
                if item.record.subset in BENCHMARK:
                    by_uid.setdefault(item.record.uid, item.record)
    return [by_uid[uid] for uid in sorted(by_uid)]


def debiased_set(records: Sequence[Record], document: Mapping[str, Any] | None = None):
    """(kept uids, per-subset status) of the shipped debiased set for `records`.

    A subset gets the shipped list only when its questions are exactly those the list was
    pruned from (`debias.shipped_kept`, by content hash); otherwise its status says so and it
    has no debiased accuracy. Pruning is never run while scoring: it takes about 20 s on the
    release on this 2-core machine and would make a score depend on the machine's scikit-learn;
    `bench/debias.py` and `debias.debiased_uids` do it on purpose.
    """
    from vlm4d_tasks.validity import debias

    shipped = debias.shipped_kept(records, document=None if document is None else dict(document))
    kept: set[str] = set()
    status: dict[str, str] = {}
    for subset, uids in sorted(shipped.items()):
        if uids is None:
            status[subset] = "not the official release: no debiased list"
        else:
            kept.update(uids)
            status[subset] = "shipped"
    return kept, status


def debiased_config(records: Sequence[Record]) -> dict:
    """The dataset build's `debiased` config: the benchmark questions the shipped debiased set
    keeps (`validity.debias`, versioned), for each subset whose questions are the ones it was
    pruned from; and what the card says about it (method, parameters, counts, and why a subset
    has none). A folder of other questions gets no such config: the list is pinned to the
    release's content, and pruning (`bench/debias.py`) is a deliberate step, not a side effect
    of a build. The caller passes it to `data.dataset_repo.build_dataset_repo(debiased=...)`."""
    from vlm4d_tasks.validity import debias

    benchmark = [r for r in records if r.subset in BENCHMARK]
    if not benchmark:
        return {"records": [], "status": {}}
    document = debias.load_debiased()
    kept, status = debiased_set(benchmark, document)
    rows = []
    for subset, state in status.items():
        if state != "shipped":
            continue
        for category, count in sorted(document["subsets"][subset]["categories"].items()):
            rows.append({"subset": subset, "category": category, **count})
    return {
        "records": [r for r in benchmark if r.uid in kept],
        "status": status,
        "version": document["version"],
        "method": document["method"],
        "parameters": document["parameters"],
        "rows": rows,
    }


def validity_block(
    models: Mapping[str, Sequence[Any]], *, resamples: int, seed: int,
    records: Sequence[Record] | None = None, document: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:  # fmt: skip
    """The score document's `validity` block: the debiased set used, each row's debiased
    accuracy, and the baseline rows (paper layout plus their debiased accuracy), over the
    benchmark questions (`benchmark_records`). None when there are none. `document` replaces
    the shipped debiased set (tests)."""
    from vlm4d_tasks.metric.scoring import paper_row, summarize
    from vlm4d_tasks.validity.debias import DEBIASED_VERSION, random_removal
    from vlm4d_tasks.validity.transforms import variant_of

    consistency_rows = consistency(models)
    # Transformed questions (`#mirror`, `#rot2`, ...) are other questions: they get no
    # baseline or debiased number, only the consistency with their base row.
    models = {
        name: [it for it in items if variant_of(it.record.uid) is None]
        for name, items in models.items()
    }
    models = {name: items for name, items in models.items() if items}
    records = benchmark_records(models, records)
    if not records:
        return {"consistency": consistency_rows} if consistency_rows else None
    kept, status = debiased_set(records, document)
    covered = {subset for subset, state in status.items() if state == "shipped"}
    answered = {uid for items in models.values() for uid in (it.record.uid for it in items)}

    def on_debiased(items: Sequence[Any]) -> dict[str, Any] | None:
        if not covered:
            return None
        chosen = [it for it in items if it.record.uid in kept]
        return summarize(chosen, n_resamples=resamples, seed=seed).to_dict()

    # The control: as many questions removed per subset at random (same category floors), so
    # that what debiasing does is measured against what removing questions does.
    pruned = [r for r in records if r.subset in covered]
    removed = {s: sum(1 for r in pruned if r.subset == s and r.uid not in kept) for s in covered}
    random_sets = random_removal(pruned, removed, RANDOM_SEEDS) if covered else {}

    def on_random(items: Sequence[Any]) -> dict[str, Any] | None:
        if not covered:
            return None
        values = []
        for uids in random_sets.values():
            chosen = set(uids)
            outcomes = [it.correct for it in items
                        if it.record.uid in chosen and it.correct is not None]  # fmt: skip
            if outcomes:
                values.append(sum(outcomes) / len(outcomes))
        if not values:
            return None
        return {"seeds": list(RANDOM_SEEDS), "accuracy": round(sum(values) / len(values), 6),
                "min": round(min(values), 6), "max": round(max(values), 6)}  # fmt: skip

    # The baselines answer the questions the rows answered, so that they sit on the same ones.
    asked = [r for r in records if r.uid in answered]
    baselines = []
    for name, items in ((PRIOR_ROW, prior_items(asked)),
                        (random_row_name(seed), random_items(asked, seed=seed))):  # fmt: skip
        row = paper_row(name, items, n_resamples=resamples, seed=seed).to_dict()
        row["debiased"] = on_debiased(items)
        row["random_removed"] = on_random(items)
        baselines.append(row)
    return {
        "debiased": {
            "version": DEBIASED_VERSION,
            "subsets": status,
            "kept": len(kept & answered),
            "of": len(asked),
        },
        "models": {
            name: {"debiased": on_debiased(items), "random_removed": on_random(items)}
            for name, items in models.items()
        },
        "baselines": baselines,
        **({"consistency": consistency_rows} if consistency_rows else {}),
    }


BASE_ROW = "vlm4d_mc"  # the chain-of-thought row the variant tasks transform
# the re-encode control: base questions, the clip through the transformed clips' encoder
IDENTITY_ROW = "vlm4d_mc_identity"
IDENTITY = "identity"


def _label_and_row(name: str) -> tuple[str, str | None]:
    """An lmms-eval run's table rows are named `label [row]`."""
    if name.endswith("]") and " [" in name:
        label, _, row = name[:-1].rpartition(" [")
        return label, row
    return name, None


def consistency(models: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """One entry per row of transformed questions (an lmms-eval run's `vlm4d_mc_mirror`,
    `_reverse`, `_circular` rows): its accuracy, and against the same model's base row
    (`label [vlm4d_mc]`, when the run has it) the share of questions right in both forms
    (`transforms.consistency`); for re-lettered rows, circular accuracy (all four rotations
    right, `transforms.circular_accuracy`) as the consistency.

    The re-encode control, when the run has the same model's identity row (`label
    [vlm4d_mc_identity]`: the base questions about the clip re-encoded as the transformed clips
    are, nothing transformed): the identity row's own entry, against the base row, adds
    `agreement` (the share of paired questions with the same outcome, right or wrong), the
    codec and timing change alone; every other row whose clip is re-encoded (mirror, reverse)
    adds `versus_identity`, the same paired figures with the identity row in the base row's
    place (its `base_accuracy` is the identity row's), so that only the transformation
    differs."""
    from vlm4d_tasks.validity.transforms import base_uid, circular_accuracy, variant_of
    from vlm4d_tasks.validity.transforms import consistency as paired

    out = []
    for name, items in sorted(models.items()):
        kinds = {variant_of(it.record.uid) for it in items}
        if not items or None in kinds:
            continue
        kind = "circular" if all(k.startswith("rot") for k in kinds) else "+".join(sorted(kinds))
        label, _row = _label_and_row(name)
        base_name = f"{label} [{BASE_ROW}]"
        base = {it.record.uid: it.correct for it in models.get(base_name, ())}
        outcomes = {it.record.uid: it.correct for it in items}
        resolved = [v for v in outcomes.values() if v is not None]
        entry: dict[str, Any] = {
            "model": base_name if base else None,
            "variant": kind,
            "row": name,
            "n": len(items),
            "variant_accuracy": round(sum(resolved) / len(resolved), 6) if resolved else None,
        }
        if kind == "circular":
            circular = circular_accuracy(outcomes)
            entry.update({k: v for k, v in circular.items() if k != "per_question"})
            entry["consistency"] = circular["circular_accuracy"]
            if base:
                questions = [q for q, v in circular["per_question"].items() if v is not None]
                right = [base[q] for q in questions if base.get(q) is not None]
                entry["base_accuracy"] = round(sum(right) / len(right), 6) if right else None
        elif base:
            entry.update(paired(base, outcomes))
        if kind == IDENTITY:
            if base:
                agreeing = entry["both_right"] + entry["both_wrong"]
                entry["agreement"] = agreeing / entry["resolved"] if entry["resolved"] else None
        elif kind != "circular":  # the re-lettered rows show the original clip: no control
            identity_name = f"{label} [{IDENTITY_ROW}]"
            identity = {base_uid(it.record.uid): it.correct for it in models.get(identity_name, ())}
            if identity:
                entry["versus_identity"] = {"row": identity_name, **paired(identity, outcomes)}
        out.append(entry)
    return out
