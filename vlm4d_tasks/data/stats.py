"""Counts of a set of records: the table the dataset card shows and `vlm4d stats` prints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vlm4d_tasks.data.schema import Category, Perspective, Source, Subset, field_of

# Row groups of the table: (label, record field, the values in display order).
_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("source", "source", tuple(s.value for s in Source)),
    ("perspective", "perspective", tuple(p.value for p in Perspective)),
    ("category", "category", tuple(c.value for c in Category)),
)


def count_table(rows: Iterable[Any]) -> dict[str, dict[str, int]]:
    """{row label -> {subset -> count}} with a `total` column; empty rows left out."""
    rows = list(rows)
    subsets = [s.value for s in Subset if any(field_of(r, "subset") == s.value for r in rows)]
    table: dict[str, dict[str, int]] = {}

    def add(label: str, predicate) -> None:
        counts = Counter(field_of(r, "subset") for r in rows if predicate(r))
        if sum(counts.values()):
            table[label] = {s: counts.get(s, 0) for s in subsets} | {"total": sum(counts.values())}

    add("questions", lambda r: True)
    if rows:
        videos = {
            s: len({field_of(r, "video") for r in rows if field_of(r, "subset") == s})
            for s in subsets
        }
        table["videos"] = videos | {"total": len({field_of(r, "video") for r in rows})}
    for label, name, values in _GROUPS:
        known = set(values)
        others = sorted(
            {
                str(field_of(r, name))
                for r in rows
                if field_of(r, name) is not None and field_of(r, name) not in known
            }
        )
        for value in (*values, *others):
            add(f"{label}: {value}", lambda r, n=name, v=value: field_of(r, n) == v)
    add("flagged", lambda r: bool(field_of(r, "flags")))
    return table


def markdown_table(table: Mapping[str, Mapping[str, int]]) -> str:
    columns: Sequence[str] = list(next(iter(table.values())).keys()) if table else []
    lines = ["| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for label, counts in table.items():
        lines.append(f"| {label} | " + " | ".join(str(counts[c]) for c in columns) + " |")
    return "\n".join(lines) + "\n"
