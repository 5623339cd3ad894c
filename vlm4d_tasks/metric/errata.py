"""Known errors of the reference labels, and the answers on which careful readers differ.

The official release's judged responses carry a human-verified `correct` label per answer, and
`vlm4d score` reports how often the rule extraction agrees with it. Where the two disagree,
either side can be the wrong one. `reference_errata.json` (shipped beside this module) holds
every disagreement of the development sample, classified by reading the answer:

- `ours_wrong`: the rule misread the answer; the reference stands;
- `reference_wrong`: the reference label is wrong (a word salad accepted as "not moving");
  `reading` is what the answer does say (an option letter, or null for no valid answer);
- `ambiguous`: careful readers could go either way (a letter and the sentence explaining it
  name different options);
- `disputed`: the file's two readers classified it differently. Only what both readers agree
  on changes a label: a disputed answer keeps its reference label (it stays a disagreement).

Each entry keeps every reader's own classification (`readers`: class, reading, span, why); its
`class` is theirs when they agree (for a reference error, on the same reading too), else
`disputed`, and `parse_errata` refuses an entry whose class does not follow from its readers.

An entry is keyed by the question id and the SHA-256 of the response text, so it applies to
that exact answer only, whatever the file is called. Pure functions; the file is read once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vlm4d_tasks.data.schema import LETTERS

ERRATA_FILE = "reference_errata.json"
ERRATA_FORMAT = 2
READER_CLASSES = ("ours_wrong", "reference_wrong", "ambiguous")  # what one reader can say
CLASSES = (*READER_CLASSES, "disputed")  # an entry's class: the readers', or disputed
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ErrataError(ValueError):
    """The errata file does not have the shape this module reads."""


@dataclass(frozen=True)
class Reading:
    """One reader's classification of a disagreement."""

    kind: str  # one of READER_CLASSES
    reading: str | None
    span: str
    why: str


def agreed_class(readers: tuple[Reading, ...] | list[Reading]) -> str:
    """The entry's class its readers give: theirs when all agree (a reference error only on
    the same reading), else disputed."""
    kinds = {r.kind for r in readers}
    if len(kinds) != 1:
        return "disputed"
    kind = kinds.pop()
    if kind == "reference_wrong" and len({r.reading for r in readers}) != 1:
        return "disputed"
    return kind


@dataclass(frozen=True)
class Erratum:
    file: str  # where it was found: "<subset>_<prompt>/<model>.json" of the release
    id: str
    response_sha256: str
    reference_correct: bool
    kind: str  # one of CLASSES
    reading: str | None  # the letter a careful reader reads; None: no valid answer / none
    span: str  # the answer's text that decides it, quoted exactly
    why: str

    readers: tuple[Reading, ...] = ()

    def corrected(self, gold: tuple[str, ...] | list[str]) -> bool | None:
        """The label with this erratum applied: the reading's correctness for a reference
        error, None (no label) when ambiguous, and the reference's own label for our error or
        a disputed answer."""
        if self.kind == "reference_wrong":
            return self.reading is not None and self.reading in gold
        if self.kind == "ambiguous":
            return None
        return self.reference_correct


def response_key(response: object) -> str:
    """The SHA-256 of a response as text (a one-element list is its element, as extraction
    reads it)."""
    if isinstance(response, (list, tuple)) and len(response) == 1:
        response = response[0]
    text = response if isinstance(response, str) else str(response)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Errata:
    about: str
    method: str
    entries: tuple[Erratum, ...]

    @functools.cached_property
    def _by_key(self) -> dict[tuple[str, str], Erratum]:
        return {(e.id, e.response_sha256): e for e in self.entries}

    def find(self, question_id: str, response: object) -> Erratum | None:
        """The erratum of this exact answer, if there is one."""
        return self._by_key.get((question_id, response_key(response)))


def parse_errata(data: Any, where: str = ERRATA_FILE) -> Errata:
    """The errata of a parsed errata document, every field checked (ErrataError naming the
    entry and the field otherwise)."""
    if not isinstance(data, Mapping) or data.get("format") != ERRATA_FORMAT:
        raise ErrataError(f"{where}: expected an object with format {ERRATA_FORMAT}")
    entries = data.get("entries")
    if not isinstance(entries, list):
        raise ErrataError(f"{where}: entries: expected a list")
    out: list[Erratum] = []
    seen: set[tuple[str, str]] = set()
    for i, entry in enumerate(entries):
        at = f"{where}: entries[{i}]"
        if not isinstance(entry, Mapping):
            raise ErrataError(f"{at}: expected an object")
        _check_texts(entry, ("file", "id", "span", "why"), at)
        if not _SHA256.fullmatch(str(entry.get("response_sha256"))):
            raise ErrataError(f"{at}.response_sha256: expected 64 lower-case hex digits")
        if entry.get("class") not in CLASSES:
            raise ErrataError(f"{at}.class: expected one of {', '.join(CLASSES)}")
        reading = _reading(entry, at)
        reference = entry.get("reference")
        if not isinstance(reference, Mapping) or not isinstance(reference.get("correct"), bool):
            raise ErrataError(f"{at}.reference.correct: expected true or false")
        readers = _readers(entry.get("readers"), at)
        if entry["class"] != agreed_class(readers):
            raise ErrataError(
                f"{at}.class: {entry['class']!r} does not follow from its readers "
                f"({', '.join(r.kind for r in readers)}): expected {agreed_class(readers)!r}"
            )
        if entry["class"] == "reference_wrong" and reading != readers[0].reading:
            raise ErrataError(f"{at}.reading: expected its readers' reading")
        key = (entry["id"], entry["response_sha256"])
        if key in seen:
            raise ErrataError(f"{at}: a second entry for {entry['id']} with the same response")
        seen.add(key)
        out.append(Erratum(
            entry["file"], entry["id"], entry["response_sha256"], reference["correct"],
            entry["class"], reading, entry["span"], entry["why"], readers,
        ))  # fmt: skip
    return Errata(str(data.get("about", "")), str(data.get("method", "")), tuple(out))


def _check_texts(item: Mapping, keys: tuple[str, ...], at: str) -> None:
    for key in keys:
        if not isinstance(item.get(key), str) or not item[key]:
            raise ErrataError(f"{at}.{key}: expected a non-empty string")


def _reading(item: Mapping, at: str) -> str | None:
    reading = item.get("reading")
    if reading is not None and reading not in LETTERS:
        raise ErrataError(f"{at}.reading: expected a letter A-D or null")
    return reading


def _readers(data: Any, at: str) -> tuple[Reading, ...]:
    if not isinstance(data, list) or not data:
        raise ErrataError(f"{at}.readers: expected a non-empty list")
    out = []
    for j, reader in enumerate(data):
        where = f"{at}.readers[{j}]"
        if not isinstance(reader, Mapping):
            raise ErrataError(f"{where}: expected an object")
        if reader.get("class") not in READER_CLASSES:
            raise ErrataError(f"{where}.class: expected one of {', '.join(READER_CLASSES)}")
        reading = _reading(reader, where)
        _check_texts(reader, ("span", "why"), where)
        out.append(Reading(reader["class"], reading, reader["span"], reader["why"]))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def load_errata() -> Errata:
    """The shipped errata (`reference_errata.json`), read and checked once."""
    from importlib.resources import files

    text = files("vlm4d_tasks.metric").joinpath(ERRATA_FILE).read_text(encoding="utf-8")
    return parse_errata(json.loads(text))


def gold_letters(record: Any) -> tuple[str, ...]:
    """The letters a verdict would be scored right for (`scoring.is_correct`: the record's
    answer letter, or an option whose text is its answer text; two for a defective record)."""
    from vlm4d_tasks.metric.scoring import Verdict, is_correct

    return tuple(
        letter
        for letter in LETTERS[: len(record.options)]
        if is_correct(Verdict.chosen(record.uid, letter, "errata"), record)
    )


def agreement_with_errata(
    items: Any, answer_of: Mapping[str, tuple[str, object]], errata: Errata | None = None
) -> dict[str, Any] | None:
    """A run's agreement with its reference labels once the known errata are applied, or None
    when no erratum is about one of its answers (the file is not covered).

    items: the run's scored items (`record`, `correct` (None: unresolved) and `reference`);
    answer_of: record uid -> (the file's question id, the response as given). A reference
    error takes its reading's correctness; an ambiguous answer is left out of the agreement
    (its reference label stays in the reference's accuracy, as published); our own errors
    and disputed answers stay disagreements. `reference_accuracy` is the reference's accuracy with its known errors
    corrected: how far they move the published number."""
    errata = load_errata() if errata is None else errata
    kinds: dict[str, int] = dict.fromkeys(CLASSES, 0)
    agree = compared = right = labelled = 0
    for item in items:
        if item.reference is None:
            continue
        question_id, response = answer_of[item.record.uid]
        erratum = errata.find(question_id, response)
        label: bool | None = item.reference
        published = item.reference
        if erratum is not None:
            kinds[erratum.kind] += 1
            label = erratum.corrected(gold_letters(item.record))
            if erratum.kind == "reference_wrong":
                published = bool(label)
        labelled += 1
        right += published
        if label is not None and item.correct is not None:
            compared += 1
            agree += item.correct == label
    if not any(kinds.values()):
        return None
    return {
        "entries": sum(kinds.values()),
        **{f"{kind}": count for kind, count in kinds.items()},
        "agreement": round(agree / compared, 6) if compared else None,
        "agreement_n": compared,
        "disagreements": compared - agree,
        "reference_accuracy": round(right / labelled, 6),
    }
