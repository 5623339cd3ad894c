"""The normalized VLM4D question record: one schema for real, synthetic and probe data.

Every other module (dataset builder, extraction, scoring, lmms-eval glue, probe generator)
speaks in these records. Enumerated fields are `Enum`s so that an unknown value raises
instead of silently forming a new group.

How enumerated values are compared (one rule, in `data/`, `video/`, `probe/` and the lmms-eval
data and prompt glue): a record (or a dataset row) holds the plain string value, checked
against its `Enum` once, where the record is made (`Subset(...)`, `Category(...)` in the
annotation loader and the probe generator). Such a field is compared with a member's value,
`record.subset == Subset.REAL.value`, never with a bare literal (`== "real"`: a typo would
match nothing, silently) and never with the member itself (the `str` mixin makes that equal
too, which hides which of the two a variable holds). Two members are compared with `is`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

LETTERS: tuple[str, ...] = ("A", "B", "C", "D")


class Subset(str, enum.Enum):
    REAL = "real"
    SYNTHETIC = "synthetic"
    PROBE = "probe"


class Perspective(str, enum.Enum):
    EGOCENTRIC = "egocentric"
    EXOCENTRIC = "exocentric"


class Category(str, enum.Enum):
    TRANSLATIONAL = "translational"
    ROTATIONAL = "rotational"
    COUNTING = "counting"
    FALSE_POSITIVE = "false_positive"


class Source(str, enum.Enum):
    DAVIS = "davis"
    YOUTUBE_VOS = "youtube-vos"
    EGO4D = "ego4d"
    COSMOS = "cosmos"  # the world-model clips of the synthetic split
    PROBE = "probe"


# Field name -> (python type, nullable). The order is the column order of the dataset.
FIELDS: dict[str, tuple[type, bool]] = {
    "uid": (str, False),
    "question_id": (str, False),
    "subset": (str, False),
    "source": (str, False),
    "perspective": (str, True),
    "category": (str, False),
    "question": (str, False),
    "options": (list, False),
    "answer": (str, False),
    "answer_text": (str, False),
    "video": (str, False),
    "flags": (list, False),
}


@dataclass(frozen=True)
class Record:
    """One multiple-choice question. See the dataset card for field meanings."""

    uid: str
    question_id: str
    subset: str
    source: str
    perspective: str | None
    category: str
    question: str
    options: list[str]
    answer: str
    answer_text: str
    video: str
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Record:
        return cls(**{name: row[name] for name in FIELDS})

    @property
    def answer_index(self) -> int:
        return LETTERS.index(self.answer)


def field_of(record: Any, name: str) -> Any:
    """Field `name` of a `Record` or of a dataset row (a mapping, as lmms-eval passes docs)."""
    return record[name] if isinstance(record, Mapping) else getattr(record, name)


def same_text_key(text: object) -> str:
    """The form in which two option or answer texts are compared: whitespace collapsed,
    case folded. The loader (answer text -> letter), the scorer and the judge all use it, so
    they agree on which option a text names."""
    return " ".join(str(text).split()).casefold()


def make_uid(subset: str, question_id: str) -> str:
    return f"{Subset(subset).value}/{question_id}"


def hf_features():
    """The `datasets.Features` of a record (imported lazily: `datasets` is heavy)."""
    from datasets import Features, Value

    try:  # datasets >= 4 names list columns `List`; older releases `Sequence`
        from datasets import List as Sequence
    except ImportError:  # pragma: no cover - datasets < 4
        from datasets import Sequence

    return Features(
        {
            "uid": Value("string"),
            "question_id": Value("string"),
            "subset": Value("string"),
            "source": Value("string"),
            "perspective": Value("string"),
            "category": Value("string"),
            "question": Value("string"),
            "options": Sequence(Value("string")),
            "answer": Value("string"),
            "answer_text": Value("string"),
            "video": Value("string"),
            "flags": Sequence(Value("string")),
        }
    )
