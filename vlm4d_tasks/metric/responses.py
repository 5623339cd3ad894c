"""Reading model-response files in the official VLM4D formats.

The official evaluation writes one JSON list per model and subset, in one of two shapes:

* raw output: ``{id, question, choices: {A..D}, response, answer}`` where ``answer`` is the
  ground-truth TEXT;
* judged output: ``{id, question, choices, response, ground_truth_answer, extracted_answer,
  correct}`` where ``extracted_answer`` is "B: left" / "No Valid Answer" and ``correct`` is the
  (human-verified) label.

The subset comes from the caller or from the path (see `official.subset_from_path`). Records
are joined to the normalized annotations by (subset, id) when those are given; otherwise a
record is built from the file itself with the official rules (`vlm4d_tasks.data.official`).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from vlm4d_tasks.data import official
from vlm4d_tasks.data.annotations import FLAG_LONG_OPTION, MAX_OPTION_CHARS
from vlm4d_tasks.data.files import MAX_INPUT_BYTES, InputFileError, read_regular_text
from vlm4d_tasks.data.schema import LETTERS, Record, Source, Subset, make_uid, same_text_key

FORMAT_FIX = (
    "fix: correct the entry (official format: id, question, choices A-D, response, and answer "
    "or ground_truth_answer) or leave the file out"
)


READ_FIX = (
    f"fix: pass the response file itself, a regular JSON file of at most "
    f"{MAX_INPUT_BYTES // 2**20} MiB (save a pipe's or a command's output to a file first)"
)


class ResponseFileError(ValueError):
    """A response file or entry that cannot be read; the message names file, record, field,
    and ends with the fix."""

    def __init__(self, message: str, fix: str = FORMAT_FIX) -> None:
        super().__init__(f"{message}; {fix}")


@dataclass(frozen=True)
class Response:
    question_id: str
    question: str
    options: list[str]  # A-D order, as text
    response: object  # the model's raw output (usually a string; kept as given)
    answer_text: str  # ground truth, as text
    reference_correct: bool | None = None
    reference_extracted: str | None = None
    answer_field: str = "answer"  # where the ground truth was read, for error messages
    answer_letter: str | None = None  # the letter the file gave as ground truth, if it did


@dataclass(frozen=True)
class ResponseFile:
    path: str
    name: str  # file stem, e.g. "gpt-4o_32frame"
    subset: Subset
    variant: str  # prompt setting from the folder name ("cot", "direct-output"), or ""
    responses: list[Response] = field(default_factory=list)
    # The records the file carries itself (an lmms-eval samples log holds the dataset's):
    # graded against when no annotations are given. None: built from the entries.
    records: list[Record] | None = None

    @property
    def judged(self) -> bool:
        return any(r.reference_correct is not None for r in self.responses)

    @property
    def letter_answers(self) -> int:
        """How many ground truths the file gave as a letter (read as that option's text)."""
        return sum(1 for r in self.responses if r.answer_letter is not None)

    def uid(self, response: Response) -> str:
        return make_uid(self.subset.value, response.question_id)


def _text(value: object, *, file: str, record: str, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ResponseFileError(
            f"{file}: record {record}: field {name!r}: expected text, got {value!r}"
        )
    return _unicode(str(value), file=file, record=record, name=name)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _unicode(value: object, *, file: str, record: str, name: str) -> object:
    """`value` unchanged, unless a string in it holds a lone surrogate: JSON's "\\ud800"
    escape decodes to one, but it is no character, so no UTF-8 text (a judge prompt, the
    score files) can carry it."""
    for text in _strings(value):
        bad = _SURROGATE.search(text)
        if bad:
            raise ResponseFileError(
                f"{file}: record {record}: field {name!r}: a lone surrogate "
                f"{bad.group()!r} at character {bad.start()} is not valid Unicode (a broken "
                "\\u escape)",
                "fix: re-export the file as UTF-8 or repair that escape",
            )
    return value


def _strings(value: object) -> list[str]:
    # A loop, not recursion: a response nested as deep as json.loads allows (a list in a list
    # ... 900 deep) must not reach Python's recursion limit here.
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            for key, inner in item.items():
                stack.extend((inner, key))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


class _RepeatedKeys(dict):
    """A JSON object in which a key appeared more than once (`json.loads` keeps the last)."""

    repeated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, object]]) -> dict:
    """`json.loads`'s object hook: a plain dict, or `_RepeatedKeys` naming the keys that
    repeat, so that `parse_entry` can refuse an entry whose "correct" or "id" is ambiguous."""
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    seen: set[str] = set()
    repeated = []
    for key, _ in pairs:
        if key in seen:
            repeated.append(key)
        seen.add(key)
    marked = _RepeatedKeys(value)
    marked.repeated = tuple(repeated)
    return marked


def parse_entry(entry: object, *, file: str, index: int) -> Response:
    """One JSON entry -> `Response`; raises `ResponseFileError` naming file, record and field."""
    if not isinstance(entry, dict):
        raise ResponseFileError(f"{file}: entry #{index}: expected an object")
    record = str(entry.get("id", f"#{index}"))
    for where, value in (("", entry), ("choices.", entry.get("choices"))):
        repeated = getattr(value, "repeated", ())
        if repeated:
            raise ResponseFileError(
                f"{file}: record {record}: field {where + repeated[0]!r} appears more than once "
                "in one object (JSON readers differ on which one counts)",
                "fix: keep one value per field",
            )
    for name in ("id", "question", "choices", "response"):
        if name not in entry:
            raise ResponseFileError(f"{file}: record {record}: field {name!r} is missing")
    choices = entry["choices"]
    if not isinstance(choices, dict) or sorted(choices) != list(LETTERS):
        raise ResponseFileError(
            f"{file}: record {record}: field 'choices': expected keys A-D, got {choices!r}"
        )
    if "ground_truth_answer" in entry:
        answer_key = "ground_truth_answer"
    elif "answer" in entry:
        answer_key = "answer"
    else:
        raise ResponseFileError(
            f"{file}: record {record}: field 'answer' (or 'ground_truth_answer') is missing"
        )
    correct = entry.get("correct")
    if correct is not None and not isinstance(correct, bool):
        raise ResponseFileError(
            f"{file}: record {record}: field 'correct': expected true/false, got {correct!r}"
        )
    extracted = entry.get("extracted_answer")
    options = [_text(choices[k], file=file, record=record, name=f"choices.{k}") for k in LETTERS]
    answer_text = _text(entry[answer_key], file=file, record=record, name=answer_key)
    answer_text, answer_letter = read_letter_answer(
        answer_text, options, file=file, record=record, name=answer_key
    )
    return Response(
        question_id=_text(entry["id"], file=file, record=record, name="id"),
        question=_text(entry["question"], file=file, record=record, name="question"),
        options=options,
        response=_unicode(entry["response"], file=file, record=record, name="response"),
        answer_text=answer_text,
        answer_field=answer_key,
        answer_letter=answer_letter,
        reference_correct=correct,
        reference_extracted=None
        if extracted is None
        else _text(extracted, file=file, record=record, name="extracted_answer"),
    )


# "B", "B." or "(B)": how a ground truth given as a letter is written (the built dataset's
# `answer` column, a letter copied from a results table).
_LETTER_FORM = re.compile(r"\(([A-D])\)|([A-D])\.?")


def letter_form(text: str) -> str | None:
    """The letter `text` is written as ("B", "B.", "(B)", spaces around allowed), or None."""
    found = _LETTER_FORM.fullmatch(text.strip())
    return None if found is None else found.group(1) or found.group(2)


def read_letter_answer(
    answer: str, options: Sequence[str], *, file: str, record: str, name: str
) -> tuple[str, str | None]:
    """The ground truth as text, and the letter it was given as (None when given as text).

    The official files give the ground truth as its option's text; a file made from the built
    dataset gives its letter, which matches no option text, so every answer would count wrong.
    A letter is read as its option's text when that is unambiguous: the answer is no option's
    text, or is exactly the text of the option it letters ("A" for an option "A"). When an
    option's text is itself written as a letter, "B" could be that text missing from the
    options (stale) as well as the letter B: refused, as is a letter that is the text of
    another option."""
    letter = letter_form(answer)
    if letter is None:
        return answer, None
    index = LETTERS.index(letter)
    key = same_text_key(answer)
    as_text = [i for i, option in enumerate(options) if same_text_key(option) == key]
    if as_text == [index]:
        return answer, None  # the text and the letter name one option: read as before
    lettered = [LETTERS[i] for i, option in enumerate(options) if letter_form(option) is not None]
    if as_text:
        why = f"the text of option {', '.join(LETTERS[i] for i in as_text)}"
    elif lettered:
        why = (
            f"a text missing from the options (option {', '.join(lettered)} is written as a letter)"
        )
    else:
        return options[index], letter
    raise ResponseFileError(
        f"{file}: record {record}: field {name!r}: {answer!r} is ambiguous: the letter of "
        f"option {letter} ({options[index]!r}) or {why}",
        f"fix: give {name!r} as the text of the correct option (the official format)",
    )


def _utf8(text: str) -> str:
    """A path as text that UTF-8 can write: a file name's bytes that are not UTF-8 come from
    the OS as lone surrogates ("\udcff"), which no score file, Markdown or figure can hold;
    each is shown as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _read_input(path: Path) -> str:
    """The text of one input file: a regular UTF-8 file of bounded size, byte-order mark
    dropped; every other case a `ResponseFileError` naming the file."""
    if path.is_dir():
        raise ResponseFileError(
            f"{path}: is a directory, not a response file",
            f"fix: pass the JSON files inside it (e.g. {path}/*.json)",
        )
    if not path.exists():
        raise ResponseFileError(f"{path}: no such file", "fix: check the path")
    try:
        # A FIFO or a device (/dev/zero) would hang or never end: refused before any read.
        text = read_regular_text(path)
    except InputFileError as exc:
        raise ResponseFileError(f"{path}: {exc.cause}", READ_FIX) from None
    except UnicodeDecodeError as exc:
        raise ResponseFileError(
            f"{path}: not UTF-8 text ({exc})", "fix: re-export the file as UTF-8 JSON"
        ) from None
    except OSError as exc:
        raise ResponseFileError(
            f"{path}: cannot read it ({exc.strerror or exc})",
            "fix: check the path and its permissions",
        ) from None
    if text.startswith("\ufeff"):  # a byte-order mark, as Windows editors save UTF-8
        text = text[1:]
    return text


def _json(text: str, where: str) -> object:
    """`text` decoded (repeated keys marked, see `_object`), or a `ResponseFileError`."""
    try:
        return json.loads(text, object_pairs_hook=_object)
    except RecursionError:
        raise ResponseFileError(
            f"{where}: not valid JSON (nested too deeply to read)",
            "fix: pass a response file (a JSON list of records)",
        ) from None
    except ValueError as exc:  # JSONDecodeError, and numbers longer than Python converts
        raise ResponseFileError(
            f"{where}: not valid JSON ({exc})", "fix: pass a response file (a JSON list)"
        ) from None


def _path_subset(path: Path, subset: Subset | str | None) -> Subset:
    chosen = Subset(subset) if subset is not None else official.subset_from_path(path)
    if chosen is None:
        raise ResponseFileError(
            f"{path}: cannot tell the subset",
            "fix: name a folder real_mc*/synthetic_mc* or pass --subset",
        )
    return chosen


def load_response_file(path: str | Path, subset: Subset | str | None = None) -> ResponseFile:
    """Read one response file in an official format (a JSON list of records); `subset`
    defaults to the one its path names."""
    path = Path(path)
    if path.is_dir() or not path.exists():
        _read_input(path)  # raises the error that names it
    chosen = _path_subset(path, subset)
    return _official_file(path, chosen, _json(_read_input(path), str(path)))


def _official_file(path: Path, subset: Subset, data: object) -> ResponseFile:
    if not isinstance(data, list):
        raise ResponseFileError(
            f"{path}: expected a JSON list of records, got {type(data).__name__}",
            "fix: pass a response file (a JSON list of records)",
        )
    responses = [parse_entry(entry, file=str(path), index=i) for i, entry in enumerate(data)]
    seen: set[str] = set()
    for response in responses:
        if response.question_id in seen:
            raise ResponseFileError(
                f"{path}: record {response.question_id}: field 'id' repeats",
                "fix: keep one answer per question id",
            )
        seen.add(response.question_id)
    return ResponseFile(
        path=_utf8(str(path)),
        name=_utf8(path.stem),
        subset=subset,
        variant=official.variant_from_path(path),
        responses=responses,
    )


# --------------------------------------------------------------------------------------------
# The other inputs `vlm4d score` reads: lmms-eval's samples log and a {uid: answer} mapping


SAMPLES_FIX = (
    "fix: pass the *_samples_<task>.jsonl that lmms-eval --log_samples wrote for a vlm4d task, "
    "unedited"
)
MAPPING_FIX = (
    'fix: a mapping holds the model\'s answers by question, {"real/<id>": "<answer text>", '
    "...} (or bare ids with --subset); the official format is a JSON list of records"
)
# The samples log's name, as lmms-eval writes it: "<run id>_samples_<task>.jsonl".
_SAMPLES_NAME = re.compile(r"(?P<run>.+?)_samples_(?P<task>.+)")
_SUBSET_IN_TASK = re.compile(r"_(?:real|synthetic|probe)(?=_|$)")


@dataclass(frozen=True)
class AnswerMap:
    """A `{uid: answer}` mapping's answers of one subset, before the annotations supply the
    question, its options and its ground truth (`resolve`)."""

    path: str
    name: str
    variant: str
    subset: Subset
    answers: list[tuple[str, str, object]]  # (key as written, question id, the model's answer)


def load_inputs(path: str | Path, subset: Subset | str | None = None) -> list:
    """The response files (`ResponseFile`, `AnswerMap`) in one input file, its form told by
    its content: a JSON list (the official formats), lmms-eval's samples log (JSON lines, each
    a sample of a vlm4d task: one `ResponseFile` per subset, carrying the dataset's records)
    or a JSON object `{uid: answer}` (one `AnswerMap` per subset). `subset` (--subset) is the
    subset of an official file or a mapping's bare ids, and must agree with a sample's."""
    path = Path(path)
    text = _read_input(path)
    start = text.lstrip()[:1]
    if start != "{":
        # the official list, or not JSON at all: reported as before
        chosen = _path_subset(path, subset)
        return [_official_file(path, chosen, _json(text, str(path)))]
    try:
        data = json.loads(text, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            _json(text, str(path))  # raises the error that says where
        return _samples_files(path, text, subset)  # more than one JSON value: JSON lines
    except (RecursionError, ValueError):
        _json(text, str(path))
        raise
    if isinstance(data, dict) and isinstance(data.get("accuracy"), dict) and "doc_id" in data:
        return _samples_files(path, text, subset)  # a samples log of one line
    return _answer_maps(path, data, subset)


def _samples_files(path: Path, text: str, subset: Subset | str | None) -> list[ResponseFile]:
    wanted = Subset(subset) if subset is not None else None
    named = _SAMPLES_NAME.fullmatch(path.stem)
    name = named.group("run") if named else path.stem
    # the task without its subset: a run's vlm4d_real_mc and vlm4d_synthetic_mc are one row
    variant = _SUBSET_IN_TASK.sub("", named.group("task"), count=1) if named else ""
    parts: dict[Subset, tuple[list[Response], list[Record]]] = {}
    lines: dict[str, int] = {}
    # split on "\n" only: a JSON line may hold a raw U+2028, which splitlines() would cut
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        record, response = _sample(_json(line, where), where)
        if wanted is not None and record.subset != wanted.value:
            raise ResponseFileError(
                f"{where}: field 'accuracy.record.subset': {record.subset!r}, but --subset "
                f"says {wanted.value}",
                "fix: leave --subset out for a samples log (its records name their subset)",
            )
        if record.uid in lines:
            raise ResponseFileError(
                f"{where}: field 'accuracy.record.uid': {record.uid} is also on line "
                f"{lines[record.uid]}",
                "fix: score a log with one answer per question (one task's samples file)",
            )
        lines[record.uid] = number
        responses, records = parts.setdefault(Subset(record.subset), ([], []))
        responses.append(Response(
            question_id=record.question_id, question=record.question,
            options=list(record.options), response=response, answer_text=record.answer_text,
            answer_field="accuracy.record.answer_text",
        ))  # fmt: skip
        records.append(record)
    if not parts:
        raise ResponseFileError(f"{path}: holds no sample", SAMPLES_FIX)
    return [
        ResponseFile(path=_utf8(str(path)), name=_utf8(name), subset=chosen,
                     variant=_utf8(variant), responses=responses, records=records)
        for chosen, (responses, records) in sorted(parts.items(), key=lambda p: p[0].value)
    ]  # fmt: skip


def _sample(line: object, where: str) -> tuple[Record, object]:
    """The record and the response of one samples line (`lmms.metric.process_results`'s item
    under the `accuracy` metric), every field checked."""
    from vlm4d_tasks.data.schema import FIELDS

    if not isinstance(line, dict):
        raise ResponseFileError(f"{where}: expected a JSON object, got {line!r:.80}", SAMPLES_FIX)
    item = line.get("accuracy")
    if not isinstance(item, dict):
        raise ResponseFileError(
            f"{where}: field 'accuracy': missing or not an object (not a sample of a vlm4d task)",
            SAMPLES_FIX,
        )
    row = item.get("record")
    if not isinstance(row, dict):
        raise ResponseFileError(f"{where}: field 'accuracy.record': missing or not an object",
                                SAMPLES_FIX)  # fmt: skip
    if "response" not in item:
        raise ResponseFileError(f"{where}: field 'accuracy.response' is missing", SAMPLES_FIX)
    for name, (kind, nullable) in FIELDS.items():
        value = row.get(name)
        good = isinstance(value, kind) or (nullable and value is None)
        if name in row and name in ("options", "flags") and good:
            good = all(isinstance(v, str) for v in value)
            good = good and (name != "options" or len(value) == len(LETTERS))
        if name not in row or not good:
            want = {"options": "a list of 4 texts", "flags": "a list of texts"}.get(name, "text")
            raise ResponseFileError(
                f"{where}: field 'accuracy.record.{name}': expected {want}, got "
                f"{row.get(name, 'nothing')!r:.80}",
                SAMPLES_FIX,
            )
        _unicode(value, file=where, record=str(row.get("uid")), name=f"accuracy.record.{name}")
    if row["subset"] not in {s.value for s in Subset}:
        raise ResponseFileError(
            f"{where}: field 'accuracy.record.subset': {row['subset']!r} is none of "
            f"{', '.join(s.value for s in Subset)}",
            SAMPLES_FIX,
        )
    if row["uid"] != make_uid(row["subset"], row["question_id"]):
        raise ResponseFileError(
            f"{where}: field 'accuracy.record.uid': {row['uid']!r} is not "
            f"{make_uid(row['subset'], row['question_id'])!r} (its subset and question_id)",
            SAMPLES_FIX,
        )
    response = _unicode(item["response"], file=where, record=row["uid"],
                        name="accuracy.response")  # fmt: skip
    return Record.from_dict(row), response


def _answer_maps(path: Path, data: object, subset: Subset | str | None) -> list[AnswerMap]:
    if not isinstance(data, dict):  # a bare number or string: JSON, but no input of ours
        raise ResponseFileError(
            f"{path}: expected a JSON list of records, got {type(data).__name__}",
            "fix: pass a response file (a JSON list of records)",
        )
    if "format_version" in data and "runs" in data:
        raise ResponseFileError(
            f"{path}: is a score document (vlm4d score --json), not answers",
            "fix: pass it to vlm4d report, or pass the response files here",
        )
    repeated = getattr(data, "repeated", ())
    if repeated:
        raise ResponseFileError(
            f"{path}: key {repeated[0]!r} appears more than once in the mapping (JSON readers "
            "differ on which one counts)",
            "fix: keep one answer per question",
        )
    if not data:
        raise ResponseFileError(f"{path}: an empty mapping holds no answer", MAPPING_FIX)
    given = Subset(subset) if subset is not None else official.subset_from_path(path)
    parts: dict[Subset, list[tuple[str, str, object]]] = {}
    seen: dict[str, str] = {}
    subsets = {s.value: s for s in Subset}
    for key, answer in data.items():
        _unicode(key, file=str(path), record=repr(key), name="key")
        prefix, slash, rest = key.partition("/")
        chosen, question_id = (subsets[prefix], rest) if slash and prefix in subsets else (
            given, key)  # fmt: skip
        if chosen is None:
            raise ResponseFileError(
                f"{path}: key {key!r}: names no subset",
                'fix: write each key as a uid, "real/<id>" or "synthetic/<id>", or pass --subset',
            )
        if subset is not None and chosen is not Subset(subset):
            raise ResponseFileError(
                f"{path}: key {key!r}: its subset {chosen.value} is not --subset {subset}",
                "fix: leave --subset out, or the key's subset prefix",
            )
        if not question_id.strip():
            raise ResponseFileError(f"{path}: key {key!r}: no question id", MAPPING_FIX)
        if not isinstance(answer, str):
            raise ResponseFileError(
                f"{path}: key {key!r}: expected the model's answer as text, got {answer!r:.80}",
                MAPPING_FIX,
            )
        _unicode(answer, file=str(path), record=key, name="answer")
        uid = make_uid(chosen.value, question_id)
        if uid in seen:
            raise ResponseFileError(
                f"{path}: key {key!r}: the question {uid} is also key {seen[uid]!r}",
                "fix: keep one answer per question",
            )
        seen[uid] = key
        parts.setdefault(chosen, []).append((key, question_id, answer))
    return [
        AnswerMap(path=_utf8(str(path)), name=_utf8(path.stem),
                  variant=official.variant_from_path(path), subset=chosen, answers=answers)
        for chosen, answers in sorted(parts.items(), key=lambda p: p[0].value)
    ]  # fmt: skip


def resolve(
    item: ResponseFile | AnswerMap, annotations: Mapping[str, Record] | None
) -> ResponseFile:
    """A response file of `load_inputs`, with a mapping's questions, options and ground truths
    taken from the annotations (a mapping holds only the answers)."""
    if isinstance(item, ResponseFile):
        return item
    if annotations is None:
        raise ResponseFileError(
            f"{item.path}: a {{uid: answer}} mapping holds no question, options or ground truth",
            "fix: pass --annotations DIR (the folder of real_mc.json / synthetic_mc.json)",
        )
    responses = []
    for key, question_id, answer in item.answers:
        record = annotations.get(make_uid(item.subset.value, question_id))
        if record is None:
            raise ResponseFileError(
                f"{item.path}: key {key!r}: no question "
                f"{make_uid(item.subset.value, question_id)} in the annotations",
                "fix: check --annotations and the key (a uid: real/<id>, synthetic/<id>) or "
                "leave the entry out",
            )
        responses.append(Response(
            question_id=question_id, question=record.question, options=list(record.options),
            response=answer, answer_text=record.answer_text,
            answer_field="answer (of the annotations)",
        ))  # fmt: skip
    return ResponseFile(path=item.path, name=item.name, subset=item.subset,
                        variant=item.variant, responses=responses)  # fmt: skip


def record_from_response(response: Response, subset: Subset, *, file: str = "") -> Record:
    """A record built from the response file alone, with the official rules.

    Perspective of a real question: the id rule (id > 922 = egocentric). Category: the rules
    of `vlm4d_tasks.data.categories`, the same for both subsets as with the annotations (on the
    release's synthetic questions its false-positive rule equals the official "answer starts
    with 'no '" split).
    """
    from vlm4d_tasks.data.annotations import normalize_entry

    entry = {
        "id": response.question_id,
        "question": response.question,
        "choices": dict(zip(LETTERS, response.options)),
        "answer": response.answer_text,
        "video": "",
    }
    record, _ = normalize_entry(entry, subset, file=file)
    perspective = None
    source = Source.COSMOS.value if subset is Subset.SYNTHETIC else "unknown"
    if subset is Subset.REAL:
        try:
            perspective = official.real_perspective(response.question_id)
        except ValueError:
            raise ResponseFileError(
                f"{file}: record {response.question_id}: field 'id': "
                f"{response.question_id!r} has no number, so the official rule (real ids above "
                f"{official.REAL_LAST_EXOCENTRIC_ID} are egocentric) cannot tell its perspective",
                "fix: pass --annotations DIR (the perspective then comes from the video folder) "
                "or correct the id",
            ) from None
        if perspective.value == "egocentric":
            source = Source.EGO4D.value
        perspective = perspective.value
    return replace(record, perspective=perspective, source=source)


class StaleKind(str, enum.Enum):
    """How a response entry differs from the annotation of its question."""

    OPTIONS_REORDERED = "options_reordered"  # same options, other letters: graded as asked
    OPTION_SET_CHANGED = "option_set_changed"
    ANSWER_CHANGED = "answer_changed"
    QUESTION_CHANGED = "question_changed"


# The kinds that change what was asked or what counts as right: graded against the file's own
# ground truth with a flag, or left out with `--strict`. Re-lettering changes neither.
CHANGED_MEANING = frozenset(set(StaleKind) - {StaleKind.OPTIONS_REORDERED})


def stale_kinds(response: Response, annotation: Record) -> tuple[StaleKind, ...]:
    """Every way `response`'s question, options and ground truth differ from `annotation`."""
    kinds = []
    if same_text_key(response.question) != same_text_key(annotation.question):
        kinds.append(StaleKind.QUESTION_CHANGED)
    asked = [same_text_key(o) for o in response.options]
    annotated = [same_text_key(o) for o in annotation.options]
    if sorted(asked) != sorted(annotated):
        kinds.append(StaleKind.OPTION_SET_CHANGED)
    elif asked != annotated:
        kinds.append(StaleKind.OPTIONS_REORDERED)
    if same_text_key(response.answer_text) != same_text_key(annotation.answer_text):
        kinds.append(StaleKind.ANSWER_CHANGED)
    return tuple(kinds)


def as_asked(response: Response, annotation: Record) -> Record:
    """The question as the model was shown it: the file's question, options (in the file's
    order) and ground truth, with the annotation's uid, perspective, category and source.

    Grading this record maps the model's letters and option texts through the options it saw,
    and a chosen option is right when its text is the ground truth it was asked with.
    """
    key = same_text_key(response.answer_text)
    letters = [LETTERS[i] for i, o in enumerate(response.options) if same_text_key(o) == key]
    stale = [f"stale:{kind.value}" for kind in stale_kinds(response, annotation)]
    if any(len(o) > MAX_OPTION_CHARS for o in response.options):
        stale.append(FLAG_LONG_OPTION)  # the file's own options: `normalize_entry`'s check
    return replace(
        annotation,
        question=response.question,
        options=list(response.options),
        answer=letters[0] if letters else "",
        answer_text=response.answer_text,
        flags=[*annotation.flags, *(f for f in stale if f not in annotation.flags)],
    )


def check_ground_truths(file: ResponseFile, records: Sequence[Record]) -> None:
    """Refuse a file in which more than half of the ground truths name none of their
    question's options: its score would measure the file, not the model (each such answer
    counts wrong: 0.0% with exit 0 for a file of letters or of another release's options).
    Half, because an entry gone stale is a rare defect of a real file (none of the release's
    90 files has one with the annotations), while a file in the wrong shape misses on nearly
    every entry; a minority is scored, counted wrong and listed, as before."""
    from vlm4d_tasks.metric.scoring import ground_truth_matches

    unmatched = [r for r in records if not ground_truth_matches(r)]
    if 2 * len(unmatched) <= len(records):
        return
    first = unmatched[0]
    fields = {file.uid(r): r.answer_field for r in file.responses}
    name = fields.get(first.uid, "answer")
    raise ResponseFileError(
        f"{file.path}: {len(unmatched)} of {len(records)} entries: field {name!r} matches no "
        f"option of its question (e.g. record {first.question_id}: {first.answer_text!r}, "
        f"options {list(first.options)}), so each would count wrong",
        f"fix: give {name!r} as the text of the correct option (or its letter A-D) with the "
        "choices the model was shown, or leave the file out",
    )


@dataclass(frozen=True)
class Joined:
    """The records a file's responses are graded against, and how each one is stale."""

    records: list[Record]
    stale: dict[str, tuple[StaleKind, ...]]  # uid -> kinds, only for entries that differ


def records_for(file: ResponseFile, annotations: Mapping[str, Record] | None = None) -> Joined:
    """The record of every response: as asked (`as_asked`) joined to the annotations by uid,
    or built from the file itself when there are no annotations."""
    if annotations is None:
        if file.records is not None:
            return Joined(list(file.records), {})
        records = [record_from_response(r, file.subset, file=file.path) for r in file.responses]
        return Joined(records, {})
    records, stale = [], {}
    for response in file.responses:
        uid = file.uid(response)
        if uid not in annotations:
            raise ResponseFileError(
                f"{file.path}: record {response.question_id}: field 'id': "
                f"no question {uid} in the annotations",
                "fix: check --annotations (and --subset) or leave the file out",
            )
        records.append(as_asked(response, annotations[uid]))
        kinds = stale_kinds(response, annotations[uid])
        if kinds:
            stale[uid] = kinds
    return Joined(records, stale)


def stale_summary(stale: Mapping[str, Sequence[StaleKind]], excluded: bool) -> dict:
    """What a run reports about its stale entries (JSON): counts per kind and the entries."""
    from collections import Counter

    counts = Counter(kind.value for kinds in stale.values() for kind in kinds)
    return {
        "count": len(stale),
        "by_kind": {kind.value: counts[kind.value] for kind in StaleKind if counts[kind.value]},
        "changed_meaning": sum(1 for kinds in stale.values() if CHANGED_MEANING & set(kinds)),
        "excluded": excluded,
        "entries": [{"id": uid, "kinds": [k.value for k in kinds]} for uid, kinds in stale.items()],
    }
