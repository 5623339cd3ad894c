"""The score document as a file: reading one back (`load_score`), checking it against its
declaration (`check_score`, `check_validity`: `document_model.ScoreDocument`) and the JSON
Schema made from that declaration (`score_schema`, shipped as `score_document.schema.json`).

The document is written by `pipeline.score.score_document`, which checks it too
(`check_written`); `vlm4d report` and every other reader load it through here, so a
hand-edited or foreign file fails with its name, the field and the fix rather than deep
inside a table. pydantic is imported only when a document is checked.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Any


class ScoreFileError(ValueError):
    """A score file that cannot be rendered; the message names the file and the field."""


SCORE_FIX = "fix: pass a file written by `vlm4d score --json` (or an lmms-eval run's *_score.json)"


def load_score(path: str | Path) -> dict[str, Any]:
    """A saved score JSON, checked to have every field the report uses (`check_score`).

    Read with `data.files.read_regular_text` (a FIFO or a device fails at once, the size is
    bounded); NaN and Infinity, which Python's json accepts and strict JSON does not, are
    refused with the field that holds them, so that no output inherits them."""
    from vlm4d_tasks.data.files import InputFileError, read_regular_text

    path = Path(path)
    try:
        text = read_regular_text(path, fix=SCORE_FIX)
    except InputFileError as exc:
        raise ScoreFileError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise ScoreFileError(f"{path}: not UTF-8 text ({exc}); {SCORE_FIX}") from None
    except OSError as exc:  # FileNotFoundError: `read_regular` leaves it to the caller
        raise ScoreFileError(
            f"{path}: cannot read it ({exc.strerror or exc}); {SCORE_FIX}"
        ) from None
    found: list[str] = []  # the walk naming a NaN's field runs only when the parse met one

    def constant(text: str) -> NonFinite:
        found.append(text)
        return NonFinite(text)

    def number(text: str) -> float | NonFinite:
        value = float(text)
        return value if math.isfinite(value) else constant(text)

    try:
        data = json.loads(text, parse_constant=constant, parse_float=number)
    except json.JSONDecodeError as exc:
        raise ScoreFileError(f"{path}: not valid JSON ({exc}); {SCORE_FIX}") from None
    except RecursionError:
        raise ScoreFileError(
            f"{path}: not a `vlm4d score` JSON: nested too deeply to read; {SCORE_FIX}"
        ) from None
    if found:
        _refuse_non_finite(data, path)
    check_score(data, path)
    return data


class NonFinite(str):
    """NaN, Infinity or -Infinity (or a number too large for a float) where a score file has a
    number: kept as its text so that the check can name the field holding it."""


def _refuse_non_finite(data: object, path: str | Path) -> None:
    """ScoreFileError naming the first field (in document order) that holds a `NonFinite`."""
    stack: list[tuple[str, object]] = [("", data)]
    while stack:  # iterative: the depth json.loads allows would overflow a recursive walk
        where, value = stack.pop()
        if isinstance(value, NonFinite):
            raise _fail(
                path, where, f"expected a finite number, got {value} (strict JSON has no NaN or "
                "Infinity)", run=_run_of(data, where),
            )  # fmt: skip
        if isinstance(value, dict):
            items = [(f"{where}.{key}" if where else str(key), v) for key, v in value.items()]
        elif isinstance(value, list):
            items = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
        else:
            continue
        stack.extend(reversed(items))


def _run_of(data: object, where: str) -> str | None:
    """The run a field path `runs[i]...` belongs to, named in the message."""
    match = re.match(r"runs\[(\d+)\]", where)
    runs = data.get("runs") if isinstance(data, dict) else None
    if match is None or not isinstance(runs, list) or int(match[1]) >= len(runs):
        return None
    return _run_label(runs[int(match[1])])


def _run_label(run: object) -> str | None:
    if not isinstance(run, dict):
        return None
    parts = [f"{run[key]!r:.60}" for key in ("model", "subset") if isinstance(run.get(key), str)]
    return " ".join(parts) or None


# A count above this is no real run (the release has 1816 questions; the largest response file
# anticipated has 100k entries): the figures build one list entry per question from counts.
MAX_COUNT = 10_000_000


# Bootstrap resamples are paid again at each one (`stats.resample_means`): 10 times the default
# is far above any use (0.01 points of simulation noise), and a hostile value cannot hold the
# report for hours.
MAX_RESAMPLES = 100_000


CHANCE_FLOOR = -1 / 3 - 1e-6  # (0 - 25%) / 75%: the chance-corrected accuracy of 0 correct


def _fail(path: str | Path, where: str, problem: str, *, run: str | None = None) -> ScoreFileError:
    return ScoreFileError(
        f"{path}: not a `vlm4d score` JSON: {where or 'the top level'}: {problem}"
        + (f" (run {run})" if run else "")
        + f"; {SCORE_FIX}"
    )


def check_score(data: object, path: str | Path = "<score>") -> None:
    """Raise ScoreFileError unless `data` is a score document as declared
    (`document_model.ScoreDocument`): every field that `vlm4d report` reads (the Markdown, the
    plot, the leaderboard and its figures) there, of its type and range: finite numbers,
    accuracies as fractions in [0, 1], counts from 0 to `MAX_COUNT`, resamples from 1 to
    `MAX_RESAMPLES`. A saved score may be old, hand-edited or another file altogether; the
    message names the file, the field (and the run it belongs to) and the fix."""
    from vlm4d_tasks.pipeline.document_model import ScoreDocument

    if not isinstance(data, dict):
        raise _fail(path, "", f"expected a JSON object, got {type(data).__name__}")
    _validate(ScoreDocument, data, path)


def check_validity(block: object, path: str | Path = "<score>") -> dict[str, Any] | None:
    """A score document's `validity` block (`validity.baselines.validity_block`), checked
    against its declaration (`document_model.Validity`; ScoreFileError naming the file and the
    field); None when there is none (a document written before it existed, or without
    benchmark questions)."""
    from vlm4d_tasks.pipeline.document_model import Validity

    if block is None:
        return None
    if not isinstance(block, dict):
        raise _fail(path, "validity", f"expected an object, got {block!r:.80}")
    _validate(Validity, block, path, prefix=("validity",))
    return block


class ScoreDocumentError(RuntimeError):
    """A document the pipeline is about to write is not one its declaration allows: a bug of
    the writer (or of the declaration), never of the user's input."""


def check_written(document: dict[str, Any]) -> None:
    """Raise ScoreDocumentError unless the document `pipeline.score.score_document` made is a
    score document as declared, so that a writer that drifts from the declaration fails
    where it writes (in the tests), not in a reader's hands."""
    try:
        check_score(document, "<the score document being written>")
    except ScoreFileError as exc:
        message = str(exc).removesuffix(f"; {SCORE_FIX}")
        raise ScoreDocumentError(
            f"{message}; a bug: the writer (pipeline.score.score_document) and the declaration "
            "(pipeline/document_model.py) disagree; fix one of them"
        ) from None


def _validate(model: Any, data: dict, path: str | Path, prefix: tuple = ()) -> None:
    """`model.model_validate(data)`; its first error as a ScoreFileError (`_describe`)."""
    from pydantic import ValidationError

    try:
        model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where, problem = _describe(model, data, error)
        where = _path(prefix + where)
        root = data if not prefix else None
        raise _fail(path, where, problem, run=_run_of(root, where)) from None


# pydantic's error types of a value out of its range (the rest: of the wrong type).
_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal",
                           "vlm4d_order"})  # fmt: skip


def _describe(model: Any, data: object, error: Mapping[str, Any]) -> tuple[tuple, str]:
    """(field path, problem) of one pydantic error, in the words of the field's `Want`:
    "missing", "expected a whole number, got '7'", "expected a number from 0 to 1, got 1.5";
    a problem inside a `[low, high]` pair is the pair's."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    loc = tuple(error["loc"])
    if kind in ("vlm4d_missing", "vlm4d_problem"):  # a rule across fields: names its field
        loc += (ctx["field"],)
    want, nullable, depth = _want_at(model, loc)
    loc = loc[:depth]
    if kind in ("missing", "vlm4d_missing"):
        return loc, "missing"
    if kind == "vlm4d_problem":
        return loc, ctx["problem"]
    value = _value_at(data, loc)
    if kind == "finite_number":
        return loc, f"expected a finite number, got {value!r:.80}"
    what = want.what if want is not None else _FALLBACK.get(kind, "another value")
    if nullable:
        what = f"null or {what}" if what.startswith("[") else f"{what} or null"
    if kind in _RANGE_ERRORS and want is not None and want.limits:
        what = f"{what} {want.limits}"
    return loc, f"expected {what}, got {value!r:.80}"


_FALLBACK = {
    "int_type": "a whole number", "float_type": "a number", "string_type": "a string",
    "bool_type": "true or false", "list_type": "a list", "dict_type": "an object",
    "model_type": "an object",
}  # fmt: skip


def _want_at(model: Any, loc: tuple) -> tuple[Any, bool, int]:
    """The `Want` of the field at `loc` in `model` (or None), whether it may be null, and how
    much of `loc` names it (less than all for an item of a `whole` field such as a pair)."""
    from typing import Annotated, Union, get_args, get_origin

    from pydantic import BaseModel

    from vlm4d_tasks.pipeline.document_model import Want

    kinds = {int: "a whole number", float: "a number", str: "a string", bool: "true or false",
             list: "a list", dict: "an object"}  # fmt: skip
    annotation, metadata = model, []
    depth = 0
    while True:
        nullable = False
        while True:  # unwrap Annotated[...] and `X | None`
            if get_origin(annotation) is Annotated:
                metadata = [*metadata, *annotation.__metadata__]
                annotation = get_args(annotation)[0]
            elif get_origin(annotation) in (Union, UnionType) and type(None) in get_args(
                annotation
            ):
                nullable = True
                annotation = next(a for a in get_args(annotation) if a is not type(None))
            else:
                break
        want = next((m for m in metadata if isinstance(m, Want)), None)
        if depth == len(loc) or (want is not None and want.whole):
            break
        part = loc[depth]
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                break
            annotation, metadata = field.annotation, list(field.metadata)
        elif origin is list and isinstance(part, int):
            annotation, metadata = get_args(annotation)[0], []
        elif origin is dict and isinstance(part, str):
            annotation, metadata = get_args(annotation)[1], []
        else:
            break
        depth += 1
    if want is None:
        base = get_origin(annotation) or annotation
        if isinstance(base, type) and issubclass(base, BaseModel):
            want = Want("an object")
        elif base in kinds:
            want = Want(kinds[base])
    return want, nullable, depth


def _value_at(data: object, loc: tuple) -> object:
    for part in loc:
        try:
            data = data[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _path(loc: tuple) -> str:
    """`runs[3].accuracy.ci95` of ("runs", 3, "accuracy", "ci95")."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --------------------------------------------------------------------------------------------
# The JSON Schema, shipped beside this module


SCHEMA_FILE = "score_document.schema.json"


def score_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a score document, made from its declaration
    (`document_model.ScoreDocument.model_json_schema()`). Defaults and the titles pydantic
    derives from field names are dropped: a default of `None` means "may be absent", which
    `required` already says, not "may be null". The rules across fields (a count within the
    one it is part of, `low <= high`, what `why` or `agreement` require) are checked by
    `check_score` only."""
    from vlm4d_tasks.pipeline.document_model import ScoreDocument

    def clean(node: Any, names: bool = False) -> Any:
        # `names`: the keys are field names (of `properties`, `$defs`), never dropped
        if isinstance(node, dict):
            return {key: clean(value, key in ("properties", "$defs") and not names)
                    for key, value in node.items()
                    if names or key not in ("default", "title")}  # fmt: skip
        if isinstance(node, list):
            return [clean(value) for value in node]
        return node

    schema = clean(ScoreDocument.model_json_schema())
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "VLM4D score document", **schema}  # fmt: skip


def schema_text() -> str:
    """The shipped schema file's text: `score_schema()` as indented JSON, one final newline."""
    return json.dumps(score_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m vlm4d_tasks.pipeline.document --schema`: the schema to standard output
    (redirect it to vlm4d_tasks/pipeline/score_document.schema.json after changing the
    declaration; `tests/test_score_document.py` fails while the two differ)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m vlm4d_tasks.pipeline.document")
    parser.add_argument("--schema", action="store_true", required=True,
                        help="print the score document's JSON Schema")  # fmt: skip
    parser.parse_args(argv)
    sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
