"""What a score means next to what needs no video: the baseline rows and the debiased column
of a score document (`pipeline.score.score_document`, so `vlm4d score`, lmms-eval runs and
`vlm4d report` show the same numbers).

* `random`: a seeded uniform letter per question (`random_letter`, the `vlm4d_random` model's
  rule), the chance row.
* `option-text prior`: the blind leave-one-video-out prior of `validity.prior`, estimated
  within each subset (real and synthetic differ in question style and answer skew), the
  `vlm4d_prior` model's answers; it never sees the video or the question.
* `text-only predictor`: the cross-validated logistic regression of `validity.blind` (question
  and option texts, 5 folds grouped by video, fold seeds 0-2), fitted within each subset: the
  predictor the debiased set was pruned with. It needs at least 5 clips per subset; the row is
  left out otherwise. On the official release its letters are the shipped `blind_v1.json`
  (pinned by the content hash of each subset, written by `bench/debias.py --write`), so scoring
  the release costs nothing and does not depend on the machine's scikit-learn; other questions
  are fitted here (about 3 s for the release's 1816 questions on 2 cores).

Both blind baselines are fitted on the very questions they answer (the Test-set Stress-Test
design: the benchmark's own test questions, each scored without its clip's questions): an
in-sample, optimistic bound on what a blind model can reach on this benchmark, not an unbiased
estimate of a blind model's accuracy on new questions; their intervals cover the resampling of
these questions, not that optimism.
* `debiased`: each row's accuracy on the debiased question set (`validity.debias`), the
  shipped `debiased-v1` list when the records are the official release.

Only benchmark questions (real, synthetic) get these: the probe set has exact labels and a
balanced design of its own.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from vlm4d_tasks.data.schema import LETTERS, Record, Subset

PRIOR_ROW = "option-text prior (blind, leave-one-out)"
PREDICTOR_ROW = "text-only predictor (blind, 5-fold CV)"
PREDICTOR_FILE = "blind_v1.json"
# Seeds of the random-removal control of the debiased column (the mean over them is shown):
# `debias.matched_removal`, matched per subset and category.
RANDOM_SEEDS: tuple[int, ...] = tuple(range(20))
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


def predictions_document(records: Sequence[Record]) -> dict:
    """The content of `blind_v1.json`: per subset, the text-only predictor's letters (fitted
    within the subset, `blind` defaults) in uid order, pinned by `debias.content_sha256`."""
    from vlm4d_tasks.validity import blind
    from vlm4d_tasks.validity.debias import content_sha256

    subsets = {}
    for subset in sorted({r.subset for r in records}):
        pool = sorted((r for r in records if r.subset == subset), key=lambda r: r.uid)
        letters = blind.blind_predictions(pool)
        subsets[subset] = {"content_sha256": content_sha256(pool), "questions": len(pool),
                           "letters": "".join(letters[r.uid] for r in pool)}  # fmt: skip
    return {"folds": blind.DEFAULT_FOLDS, "seeds": list(blind.DEFAULT_SEEDS), "model": "logistic",
            "subsets": subsets}  # fmt: skip


@functools.lru_cache(maxsize=1)
def _shipped_predictions() -> dict:
    import json
    from importlib import resources

    text = resources.files("vlm4d_tasks.validity").joinpath(PREDICTOR_FILE).read_text("utf-8")
    return json.loads(text)


def predictor_letters(pool: Sequence[Record]) -> dict[str, str] | None:
    """uid -> the text-only predictor's letter, fitted on `pool` (one subset's questions):
    the shipped letters when `pool` is exactly a subset they were fitted on, else a fit here;
    None when `pool` has fewer clips than folds (no grouped folds to fit)."""
    from vlm4d_tasks.validity import blind
    from vlm4d_tasks.validity.debias import content_sha256

    ordered = sorted(pool, key=lambda r: r.uid)
    if not ordered:
        return {}
    entry = _shipped_predictions()["subsets"].get(ordered[0].subset)
    if entry is not None and entry["content_sha256"] == content_sha256(ordered):
        return dict(zip((r.uid for r in ordered), entry["letters"], strict=True))
    if len({r.video for r in ordered}) < blind.DEFAULT_FOLDS:
        return None
    return blind.blind_predictions(ordered)


def predictor_items(records: Sequence[Record]) -> list | None:
    """The text-only predictor's scored answers to `records`, fitted within each subset;
    None when a subset cannot be fitted (`predictor_letters`)."""
    letters: dict[str, str] = {}
    for subset in sorted({r.subset for r in records}):
        found = predictor_letters([r for r in records if r.subset == subset])
        if found is None:
            return None
        letters.update(found)
    return _items(records, letters, "predictor")


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
    chosen = [r for r in benchmark if r.uid in kept]
    return {
        "records": chosen,
        "status": status,
        "version": document["version"],
        "method": document["method"],
        "parameters": document["parameters"],
        "rows": rows,
        "audit": _card_audit(chosen, status),
    }


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _card_audit(kept: Sequence[Record], status: Mapping[str, str]) -> dict | None:
    """What the card says about the residual bias of the kept questions and the random-removal
    control (`debias.residual_bias`, `debias.control_effect`), from the shipped
    `debiased_v1_audit.json`, formatted; None unless it was computed on exactly these kept
    questions (each subset's content hash)."""
    from vlm4d_tasks.validity import debias

    audit = debias.load_audit()
    if audit is None or audit.get("version") != debias.DEBIASED_VERSION:
        return None
    shipped = sorted(s for s, state in status.items() if state == "shipped")
    for subset in shipped:
        group = [r for r in kept if r.subset == subset]
        entry = audit["subsets"].get(subset) or {}
        if entry.get("content_sha256") != debias.content_sha256(group):
            return None
    residual = [f for f in audit["residual"] if f["subset"] in shipped]
    control = audit.get("control")
    out: dict[str, Any] = {
        "seeds": ", ".join(str(s) for s in audit["fresh_seeds"]),
        "residual": [
            {
                "subset": f["subset"],
                "baseline": f["baseline"],
                "questions": f["questions"],
                "accuracy": _pct(f["accuracy"]),
                "range": f"{_pct(f['seed_min'])}-{_pct(f['seed_max'])}" if f["seeds"] else "-",
                "ci": f"{_pct(f['ci'][0])}-{_pct(f['ci'][1])}",
                "within": f["within_chance"],
            }
            for f in residual
        ],
        "all_within": all(f["within_chance"] for f in residual),
        "control": None,
    }
    # the control covers both subsets' runs: quoted only when every subset is the shipped one
    if control is not None and set(shipped) == set(audit["subsets"]):
        lo, hi = control["ci"] if control["ci"] else (None, None)
        out["control"] = {
            "seeds": len(control["seeds"]),
            "runs": control["runs"],
            "models": control["models"],
            "judged": control["judged"],
            "debiased_delta": f"{100 * control['debiased_delta']:+.2f}",
            "random_delta": f"{100 * control['random_delta']:+.2f}",
            "difference": f"{100 * control['difference']:+.2f}",
            "ci": None if lo is None else f"{100 * lo:+.2f} to {100 * hi:+.2f}",
            "lower": control["lower"],
            "higher": control["higher"],
            "ties": control["ties"],
            "p_value": f"{control['p_value']:.2f}",
        }
    return out


def validity_block(
    models: Mapping[str, Sequence[Any]], *, resamples: int, seed: int,
    records: Sequence[Record] | None = None, document: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:  # fmt: skip
    """The score document's `validity` block: the debiased set used, each row's debiased
    accuracy, and the baseline rows (paper layout plus their debiased accuracy), over the
    benchmark questions (`benchmark_records`). None when there are none. `document` replaces
    the shipped debiased set (tests)."""
    import numpy as np

    from vlm4d_tasks.metric.scoring import paper_row, summarize
    from vlm4d_tasks.validity.debias import DEBIASED_VERSION, matched_removal
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

    # The control: as many questions removed at random from each subset and category, so that
    # what debiasing does is measured against what removing questions (that mix) does.
    pruned = [r for r in records if r.subset in covered]
    random_sets = matched_removal(pruned, sorted(kept), RANDOM_SEEDS) if covered else {}

    # seed x question membership, built once: each row's 20 accuracies are then two products
    # (a loop over sets per row cost about 0.4 s on the release's 44 rows)
    position = {r.uid: i for i, r in enumerate(pruned)}
    membership = np.zeros((len(random_sets), len(pruned)), dtype=np.int64)
    for row, uids in enumerate(random_sets.values()):
        membership[row, [position[u] for u in uids]] = 1

    def on_random(items: Sequence[Any]) -> dict[str, Any] | None:
        if not covered:
            return None
        right = np.zeros(len(pruned), dtype=np.int64)
        resolved = np.zeros(len(pruned), dtype=np.int64)
        for it in items:
            at = position.get(it.record.uid)
            if at is not None and it.correct is not None:
                right[at] = int(it.correct)
                resolved[at] = 1
        values = [int(h) / int(n) for h, n in zip(membership @ right, membership @ resolved) if n]
        if not values:
            return None
        return {"seeds": list(RANDOM_SEEDS), "accuracy": round(sum(values) / len(values), 6),
                "min": round(min(values), 6), "max": round(max(values), 6)}  # fmt: skip

    # The baselines answer the questions the rows answered, so that they sit on the same ones.
    asked = [r for r in records if r.uid in answered]
    baselines = []
    rows = [(PRIOR_ROW, prior_items(asked)), (PREDICTOR_ROW, predictor_items(asked)),
            (random_row_name(seed), random_items(asked, seed=seed))]  # fmt: skip
    for name, items in rows:
        if items is None:
            continue
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
    (`validity.consistency.consistency`); for re-lettered rows, circular accuracy (all four rotations
    right, `validity.consistency.circular_accuracy`) as the consistency.

    The re-encode control, when the run has the same model's identity row (`label
    [vlm4d_mc_identity]`: the base questions about the clip re-encoded as the transformed clips
    are, nothing transformed): the identity row's own entry, against the base row, adds
    `agreement` (the share of paired questions with the same outcome, right or wrong), the
    codec and timing change alone; every other row whose clip is re-encoded (mirror, reverse)
    adds `versus_identity`, the same paired figures with the identity row in the base row's
    place (its `base_accuracy` is the identity row's), so that only the transformation
    differs."""
    from vlm4d_tasks.validity.consistency import circular_accuracy
    from vlm4d_tasks.validity.consistency import consistency as paired
    from vlm4d_tasks.validity.transforms import base_uid, variant_of

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
