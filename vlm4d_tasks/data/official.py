"""The official VLM4D release's own conventions, kept in one place.

VLM4D (ICCV 2025, "Towards Spatiotemporal Awareness in Vision Language Models") releases two
question files (`real_mc.json`, `synthetic_mc.json`) and judged model answers in folders named
`{real,synthetic}_mc_{cot,direct-output}`. The paper's results table splits them as follows,
and these are the rules the official release implies (see the release README):

* Real questions with id number > 922 ("validation_923" onwards) are the Ego4D clips, i.e.
  egocentric; ids up to 922 are DAVIS / YouTube-VOS clips, i.e. exocentric.
* A synthetic question is a false-positive question when its ground-truth answer text starts
  with "no " (e.g. "no dragon there"); the other synthetic questions are directional.
* The subset of a response file is named by a path component that starts with `real_mc` or
  `synthetic_mc` (the folder, or the file name itself).
* The judge's extraction is written "X: option text", or "No Valid Answer" when the response
  commits to no option; a no-valid-answer response counts as wrong.

These rules are used only when a response file is scored without the annotations; with the
annotations, perspective and category come from the normalized records.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePath

from vlm4d_tasks.data.schema import LETTERS, Perspective, Subset

REAL_LAST_EXOCENTRIC_ID = 922
NO_VALID_ANSWER = "No Valid Answer"
SYNTHETIC_FALSE_POSITIVE_PREFIX = "no "

# The question file of each subset: the release's two (under `QA/` on the hub, `data/` on
# GitHub), and ours for the probe set in the same format. The loader looks for these names
# and the hub download fetches them.
ANNOTATION_FILES: dict[Subset, str] = {
    Subset.REAL: "real_mc.json",
    Subset.SYNTHETIC: "synthetic_mc.json",
    Subset.PROBE: "probe_mc.json",
}

_ID_NUMBER = re.compile(r"(\d+)\s*$")
_SUBSET_PREFIXES: tuple[tuple[str, Subset], ...] = (
    ("real_mc", Subset.REAL),
    ("synthetic_mc", Subset.SYNTHETIC),
    ("probe_mc", Subset.PROBE),  # ours: the probe set's answers, scored like the others
)


def id_number(question_id: str) -> int:
    """The number of an official id ("validation_12" -> 12)."""
    match = _ID_NUMBER.search(str(question_id))
    if match is None:
        raise ValueError(f"question id {question_id!r} has no trailing number")
    return int(match.group(1))


def real_perspective(question_id: str) -> Perspective:
    """Official rule: real ids above 922 are the egocentric (Ego4D) questions."""
    if id_number(question_id) > REAL_LAST_EXOCENTRIC_ID:
        return Perspective.EGOCENTRIC
    return Perspective.EXOCENTRIC


def is_synthetic_false_positive(answer_text: object) -> bool:
    """Official rule: a synthetic question whose answer starts with "no " is a false positive."""
    return str(answer_text).strip().lower().startswith(SYNTHETIC_FALSE_POSITIVE_PREFIX)


def subset_from_path(path: str | PurePath) -> Subset | None:
    """`real` / `synthetic` from a path component starting with `real_mc` / `synthetic_mc`.

    The deepest matching component wins (the file name before its folder); None if none does.
    """
    parts = PurePath(path).parts
    for part in reversed(parts):
        stem = PurePath(part).stem if part.endswith(".json") else part
        for prefix, subset in _SUBSET_PREFIXES:
            if stem.lower().startswith(prefix):
                return subset
    return None


def variant_from_path(path: str | PurePath) -> str:
    """The prompt setting in a folder name: `real_mc_cot` -> "cot", `real_mc` -> ""."""
    for part in reversed(PurePath(path).parts[:-1]):
        for prefix, _ in _SUBSET_PREFIXES:
            if part.lower().startswith(prefix):
                return part[len(prefix) :].lstrip("_-")
    return ""


def option_label(letter: str | None, options: Sequence[object]) -> str:
    """The official extraction string: "C: right", or "No Valid Answer" for no letter."""
    if letter is None:
        return NO_VALID_ANSWER
    return f"{letter}: {options[LETTERS.index(letter)]}"
