"""The measures of the consistency checks: consistency (a question answered right both as asked
and transformed: mirrored, reversed, or re-encoded as the identity control) and circular
accuracy (right under every re-lettering of its options, MMBench's CircularEval).

Computed from per-question outcomes keyed by uid, the variant's uid carrying its suffix
(`transforms.base_uid` pairs them); the rewriting of the questions themselves is
`validity.transforms`. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from vlm4d_tasks.data.schema import LETTERS
from vlm4d_tasks.validity.transforms import ROTATION, base_uid, variant_of


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def consistency(
    base: Mapping[str, bool | None], variant: Mapping[str, bool | None]
) -> dict[str, Any]:
    """How often a question is answered right in both forms.

    `base`: outcome per untransformed uid; `variant`: outcome per transformed uid (its
    `base_uid` pairs it). True / False is right / wrong, None unresolved (a judge failure).
    `consistency` is the share of the paired, resolved questions answered right in both forms;
    the accuracies beside it are over those same questions, so that the three compare.
    """
    pairs: dict[str, tuple[bool | None, bool | None]] = {}
    unpaired = 0
    for uid, outcome in sorted(variant.items()):
        key = base_uid(uid)
        if key == uid:
            raise ValueError(f"variant outcomes: uid {uid!r} names no transformation")
        if key in pairs:
            raise ValueError(f"variant outcomes: two variants of question {key!r}")
        if key not in base:
            unpaired += 1
            continue
        pairs[key] = (base[key], outcome)
    resolved = {k: v for k, v in pairs.items() if v[0] is not None and v[1] is not None}
    both = sum(1 for b, v in resolved.values() if b and v)
    base_right = sum(1 for b, _ in resolved.values() if b)
    variant_right = sum(1 for _, v in resolved.values() if v)
    return {
        "consistency": _share(both, len(resolved)),
        "base_accuracy": _share(base_right, len(resolved)),
        "variant_accuracy": _share(variant_right, len(resolved)),
        "paired": len(pairs),
        "resolved": len(resolved),
        "unresolved": len(pairs) - len(resolved),
        "both_right": both,
        "base_only_right": base_right - both,
        "variant_only_right": variant_right - both,
        "both_wrong": len(resolved) - base_right - variant_right + both,
        "base_without_variant": sum(1 for k in base if k not in pairs),
        "variant_without_base": unpaired,
    }


def circular_accuracy(
    outcomes: Mapping[str, bool | None], n_rotations: int = len(LETTERS)
) -> dict[str, Any]:
    """MMBench's circular evaluation over rotated records' outcomes (uid `<base>#rot<k>`).

    A question is right when all `n_rotations` rotations are right. A question with an
    unresolved rotation (None) is unresolved, also when another rotation is wrong: counting
    those as wrong while the all-right-but-unresolved ones drop out would bias the score
    downwards. A question missing a rotation (a run cut by `--limit`) is `incomplete` and left
    out. `per_question`: base uid -> True / False / None (unresolved or incomplete).
    """
    groups: dict[str, dict[int, bool | None]] = {}
    for uid, outcome in outcomes.items():
        variant = variant_of(uid)
        if variant is None or not re.fullmatch(rf"{ROTATION}\d+", variant):
            raise ValueError(f"circular outcomes: uid {uid!r} is not a rotation (<uid>#rot<k>)")
        groups.setdefault(base_uid(uid), {})[int(variant[len(ROTATION) :])] = outcome
    per_question: dict[str, bool | None] = {}
    incomplete = unresolved = 0
    for key in sorted(groups):
        got = groups[key]
        if set(got) != set(range(n_rotations)):
            incomplete += 1
            per_question[key] = None
        elif any(v is None for v in got.values()):
            unresolved += 1
            per_question[key] = None
        else:
            per_question[key] = all(got.values())
    scored = [v for v in per_question.values() if v is not None]
    resolved = [v for v in outcomes.values() if v is not None]
    return {
        "circular_accuracy": _share(sum(scored), len(scored)),
        "correct": sum(scored),
        "scored": len(scored),
        "questions": len(groups),
        "unresolved": unresolved,
        "incomplete": incomplete,
        "rotation_accuracy": _share(sum(resolved), len(resolved)),
        "per_question": per_question,
    }
