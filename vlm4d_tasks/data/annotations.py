"""Official VLM4D annotation files -> normalized `Record`s, with validation.

The release (https://huggingface.co/datasets/shijiezhou/VLM4D, `QA/real_mc.json` and
`QA/synthetic_mc.json`) is a JSON list per subset of
``{id, video, question_type, question, choices: {A..D}, answer}`` where ``answer`` is the
*text* of the correct choice and ``video`` a full hub URL. Ids restart in each file.

Data problems are never silently fixed or dropped: each is recorded in the record's
``flags`` and in the `ValidationReport`. Only a file that is not the expected JSON at all
raises (`AnnotationError`, naming the file).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlm4d_tasks.data.categories import categorize
from vlm4d_tasks.data.files import InputFileError, check_regular, read_regular_text
from vlm4d_tasks.data.official import ANNOTATION_FILES, real_perspective
from vlm4d_tasks.data.paths import unsafe_reason
from vlm4d_tasks.data.release import Provenance, check_files
from vlm4d_tasks.data.schema import (
    FIELDS,
    LETTERS,
    Category,
    Perspective,
    Record,
    Source,
    Subset,
    make_uid,
    same_text_key,
)

# The probe generator also writes the normalized records (category and perspective are
# known by construction there, so they are not re-derived from text).
PROBE_RECORDS_FILE = "probe_records.jsonl"
# Beside it, the generator's settings and label version, which the probe set's card shows.
PROBE_LABELS_FILE = "probe_labels.json"

# Video folder (prefix of the path inside the dataset repo) -> source.
VIDEO_FOLDERS: dict[str, Source] = {
    "videos_real/davis/": Source.DAVIS,
    "videos_real/youtube-vos/": Source.YOUTUBE_VOS,
    "videos_real/ego4d/": Source.EGO4D,
    "videos_synthetic/": Source.COSMOS,
    "videos_probe/": Source.PROBE,
}
UNKNOWN_SOURCE = "unknown"


_HUB_PATH = re.compile(r"/resolve/[^/]+/(.+)$")

# Flag vocabulary (documented in the dataset card).
FLAG_ANSWER_NO_MATCH = "answer_matches_no_option"
FLAG_ANSWER_SEVERAL = "answer_matches_several_options"
FLAG_DUPLICATE_OPTIONS = "duplicate_options"
FLAG_DUPLICATE_ID = "duplicate_id"
FLAG_UNKNOWN_VIDEO_FOLDER = "unknown_video_folder"
FLAG_UNSAFE_VIDEO_PATH = "unsafe_video_path"
FLAG_PERSPECTIVE_MISMATCH = "perspective_disagrees_with_id"
FLAG_LONG_OPTION = "long_option_text"
FLAG_MISSING = "missing_field:{}"
FLAG_ILL_TYPED = "ill_typed_field:{}"

# Answer extraction (`metric.extract`) matches at most this many characters of an option's text:
# the official options have at most 77, and a response file, which carries its own options,
# could otherwise make every mention in an answer cost as much as its longest option.
MAX_OPTION_CHARS = 200

FLAG_DESCRIPTIONS: dict[str, str] = {
    FLAG_ANSWER_NO_MATCH: "the answer text equals none of the options; `answer` is empty",
    FLAG_ANSWER_SEVERAL: "the answer text equals several options; `answer` is the first",
    FLAG_DUPLICATE_OPTIONS: "two or more options have the same text",
    FLAG_DUPLICATE_ID: "the id occurs earlier in the same file; `uid` gets a `#n` suffix",
    FLAG_UNKNOWN_VIDEO_FOLDER: "the video is not under a known folder; `source` is `unknown`",
    FLAG_UNSAFE_VIDEO_PATH: "the video path could leave the video folder (absolute, a `..`, `.` "
    "or empty part, a backslash, a drive letter or NUL) or names no file (a part over 255 bytes); "
    "the video is never read, linked or copied",
    FLAG_PERSPECTIVE_MISMATCH: "the video folder and the official id rule disagree on egocentric",
    FLAG_LONG_OPTION: f"an option's text is longer than {MAX_OPTION_CHARS} characters: answer "
    "extraction matches only its start, and its verdicts are marked not confident",
    "missing_field:<name>": "the field is absent in the release",
    "ill_typed_field:<name>": "the field has an unexpected type in the release",
}


class AnnotationError(ValueError):
    """An annotation file that is not the expected JSON at all."""


@dataclass(frozen=True)
class Problem:
    file: str
    record: str  # the official id, or "#<index>" when the id itself is unusable
    field: str
    flag: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: record {self.record}: field {self.field!r}: {self.message}"


@dataclass
class Annotations:
    records: list[Record]
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    provenance: Provenance | None = None  # the files' hashes, official or not

    def extend(self, other: Annotations) -> None:
        """Add another load's records, problems, files and provenance (e.g. the probe set)."""
        self.records += other.records
        self.problems += other.problems
        self.files += other.files
        if other.provenance is not None:
            self.provenance = (
                other.provenance
                if self.provenance is None
                else self.provenance.merged(other.provenance)
            )

    def __iter__(self):
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


def video_path_from_url(video: str) -> str:
    """Path inside the dataset repo: the part of a hub URL after `resolve/<revision>/`.

    Returned as found (only leading `./` is dropped): a path that could leave the video folder
    is flagged `unsafe_video_path` by the loader, not silently repaired.
    """
    match = _HUB_PATH.search(video)
    return match.group(1) if match else re.sub(r"^(\./)+", "", video)


def source_of(video: str) -> str:
    for prefix, source in VIDEO_FOLDERS.items():
        if video.startswith(prefix):
            return source.value
    return UNKNOWN_SOURCE


def _option_text(value: Any) -> str:
    # Counting options are integers in the release; the record keeps their text.
    # Kept as released, trailing spaces included (52 real options end with one): the official
    # prompt shows them so; comparisons go through `same_text_key`, which ignores them.
    return str(value) if isinstance(value, (str, int)) else ""


class _Checker:
    """Collects the flags and problems of one entry."""

    def __init__(self, file: str, record: str):
        self.file, self.record = file, record
        self.flags: list[str] = []
        self.problems: list[Problem] = []

    def flag(self, flag: str, field_name: str, message: str) -> None:
        if flag not in self.flags:
            self.flags.append(flag)
        self.problems.append(Problem(self.file, self.record, field_name, flag, message))

    def text(self, entry: dict, name: str) -> str:
        if name not in entry:
            self.flag(FLAG_MISSING.format(name), name, "missing")
            return ""
        value = entry[name]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.flag(FLAG_ILL_TYPED.format(name), name, f"expected a string, got {value!r}")
            return ""
        return str(value)


def normalize_entry(
    entry: Any, subset: Subset, *, file: str = "<memory>", index: int = 0
) -> tuple[Record, list[Problem]]:
    """One official entry -> (record, problems). Never raises on bad content."""
    if not isinstance(entry, dict):
        raise AnnotationError(f"{file}: entry #{index} is {type(entry).__name__}, not an object")
    raw_id = entry.get("id")
    usable_id = isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool)
    usable_id = usable_id and bool(str(raw_id).strip())
    # A problem always names its record: the id, or the entry's position when the id is unusable.
    check = _Checker(file, str(raw_id) if usable_id else f"#{index}")

    question_id = check.text(entry, "id")
    if "id" in entry and isinstance(raw_id, str) and not usable_id:
        check.flag(FLAG_MISSING.format("id"), "id", f"the id is empty ({raw_id!r})")
    question_id = question_id if usable_id else f"#{index}"
    question = check.text(entry, "question")
    answer_text = check.text(entry, "answer")
    video = video_path_from_url(check.text(entry, "video"))

    options: list[str] = []
    choices = entry.get("choices")
    if choices is None:
        check.flag(FLAG_MISSING.format("choices"), "choices", "missing")
    elif not isinstance(choices, dict) or sorted(choices) != list(LETTERS):
        check.flag(
            FLAG_ILL_TYPED.format("choices"),
            "choices",
            f"expected an object with keys A-D, got {choices!r}",
        )
        if isinstance(choices, dict):
            options = [_option_text(choices[k]) for k in LETTERS if k in choices]
    else:
        for letter in LETTERS:
            value = choices[letter]
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                check.flag(
                    FLAG_ILL_TYPED.format("choices"),
                    f"choices.{letter}",
                    f"expected a string or integer, got {value!r}",
                )
            options.append(_option_text(value))

    long = [LETTERS[i] for i, o in enumerate(options) if len(o) > MAX_OPTION_CHARS]
    if long:
        check.flag(
            FLAG_LONG_OPTION,
            "choices",
            f"option(s) {', '.join(long)} longer than {MAX_OPTION_CHARS} characters",
        )

    keys = [same_text_key(o) for o in options]
    duplicated = sorted({o for o, n in Counter(keys).items() if n > 1 and o})
    if duplicated:
        check.flag(FLAG_DUPLICATE_OPTIONS, "choices", f"repeated option text {duplicated}")

    answer = ""
    if answer_text or "answer" in entry:
        matches = [LETTERS[i] for i, k in enumerate(keys) if k == same_text_key(answer_text)]
        if not matches:
            check.flag(
                FLAG_ANSWER_NO_MATCH,
                "answer",
                f"answer {answer_text!r} matches none of the options {options}",
            )
        else:
            answer = matches[0]
            if len(matches) > 1:
                check.flag(
                    FLAG_ANSWER_SEVERAL,
                    "answer",
                    f"answer {answer_text!r} matches options {', '.join(matches)}",
                )

    unsafe = unsafe_reason(video) if video else None
    if unsafe is not None:
        check.flag(
            FLAG_UNSAFE_VIDEO_PATH,
            "video",
            f"video path {video!r} {unsafe}; the video is never read, linked or copied",
        )

    source = source_of(video)
    if source == UNKNOWN_SOURCE and video:
        check.flag(FLAG_UNKNOWN_VIDEO_FOLDER, "video", f"unknown video folder in {video!r}")

    perspective = None
    if subset is Subset.REAL:
        egocentric = source == Source.EGO4D.value
        perspective = (Perspective.EGOCENTRIC if egocentric else Perspective.EXOCENTRIC).value
        # The official id rule (`official.real_perspective`) cross-checks the video folder;
        # an id without a number cannot be checked (it is flagged as missing or ill-typed).
        try:
            by_id = real_perspective(question_id) is Perspective.EGOCENTRIC
        except ValueError:
            by_id = egocentric
        if source != UNKNOWN_SOURCE:
            if by_id != egocentric:
                check.flag(
                    FLAG_PERSPECTIVE_MISMATCH,
                    "video",
                    f"video {video!r} is {perspective} but the id rule says otherwise",
                )

    record = Record(
        uid=make_uid(subset.value, question_id),
        question_id=question_id,
        subset=subset.value,
        source=source,
        perspective=perspective,
        category=categorize(question, options, answer_text).value,
        question=question,
        options=options,
        answer=answer,
        answer_text=answer_text,
        video=video,
        flags=check.flags,
    )
    return record, check.problems


def _mark_duplicate_ids(records: list[Record], file: str) -> tuple[list[Record], list[Problem]]:
    seen: Counter[str] = Counter()
    out, problems = [], []
    for rec in records:
        seen[rec.question_id] += 1
        n = seen[rec.question_id]
        if n > 1:
            problems.append(
                Problem(
                    file,
                    rec.question_id,
                    "id",
                    FLAG_DUPLICATE_ID,
                    f"id {rec.question_id!r} occurs {n} times",
                )
            )
            rec = Record(
                **{
                    **rec.to_dict(),
                    "uid": f"{rec.uid}#{n}",
                    "flags": [*rec.flags, FLAG_DUPLICATE_ID],
                }
            )
        out.append(rec)
    return out, problems


def _read_text(path: Path) -> str:
    """The file's text; a FIFO, a device or an oversized file raises AnnotationError at once
    (naming the file) instead of hanging or filling memory."""
    try:
        return read_regular_text(path)
    except InputFileError as exc:
        raise AnnotationError(f"{exc.path}: {exc.cause}") from None


def read_json_list(path: Path) -> list:
    try:
        data = json.loads(_read_text(path))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read the file ({exc.strerror})") from exc
    except RecursionError as exc:
        raise AnnotationError(f"{path}: not valid JSON (nested too deeply to read)") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        # ValueError: json.JSONDecodeError, and numbers longer than Python converts.
        raise AnnotationError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, list):
        raise AnnotationError(
            f"{path}: expected a JSON list of questions, got {type(data).__name__}"
        )
    for index, entry in enumerate(data):
        _check_unicode(entry, f"{path}: record {_record_name(entry, index)}")
    return data


_SURROGATE = re.compile("[\ud800-\udfff]")


def _record_name(entry: Any, index: int) -> str:
    raw_id = entry.get("id") if isinstance(entry, dict) else None
    if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) and str(raw_id).strip():
        return ascii(raw_id) if _SURROGATE.search(str(raw_id)) else str(raw_id)
    return f"#{index}"


def _check_unicode(entry: Any, where: str) -> None:
    """A lone surrogate (JSON's "\\ud800" escape decodes to one) is no character: no UTF-8
    file (the Parquet data, the card) can hold it, so the file cannot be used as it is."""
    stack: list[tuple[str, Any]] = [("", entry)]
    while stack:  # iterative: the parser accepts nesting deeper than a recursive walk would
        name, value = stack.pop()
        texts = [value] if isinstance(value, str) else []
        if isinstance(value, dict):
            texts = list(value)
            stack.extend((f"{name}.{k}" if name else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{name}[{i}]", v) for i, v in enumerate(value))
        for text in texts:
            bad = _SURROGATE.search(text)
            if bad:
                raise AnnotationError(
                    f"{where}: field {ascii(name or text)}: a lone surrogate {bad.group()!r} "
                    f"at character {bad.start()} is not valid Unicode (a broken \\u escape)"
                )


def load_annotation_file(path: str | Path, subset: Subset | str) -> Annotations:
    """Read and normalize one official annotation file."""
    path, subset = Path(path), Subset(subset)
    records, problems = [], []
    for index, entry in enumerate(read_json_list(path)):
        record, found = normalize_entry(entry, subset, file=str(path), index=index)
        records.append(record)
        problems.extend(found)
    records, dup_problems = _mark_duplicate_ids(records, str(path))
    return Annotations(records, problems + dup_problems, [str(path)])


def load_probe_record_file(path: str | Path) -> Annotations:
    """Normalized probe records (JSON Lines, written by `vlm4d generate-probe`).

    The file is the generator's own output, so a line that is not a complete record is an
    error (naming file, line and question); the content is validated like an official entry.
    """
    path = Path(path)
    records, problems = [], []
    try:
        text = _read_text(path)
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: not UTF-8 text ({exc})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except RecursionError as exc:
            raise AnnotationError(f"{path}:{number}: not valid JSON: nested too deeply") from exc
        except ValueError as exc:  # json.JSONDecodeError, or a number too long to convert
            raise AnnotationError(f"{path}:{number}: not valid JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise AnnotationError(
                f"{path}:{number}: expected a record object, got {type(row).__name__}"
            )
        _check_unicode(row, f"{path}:{number} ({_record_name(row, number - 1)})")
        where = f"{path}:{number} ({row.get('question_id', '?')})"
        missing = [name for name in FIELDS if name not in row]
        if missing:
            raise AnnotationError(f"{where}: missing field(s) {missing}")
        if row["subset"] != Subset.PROBE.value:
            raise AnnotationError(f"{where}: field subset is {row['subset']!r}, not 'probe'")
        if not isinstance(row["options"], list):
            raise AnnotationError(f"{where}: field options is {row['options']!r}, not a list")
        official = {
            "id": row["question_id"],
            "video": row["video"],
            "question": row["question"],
            "choices": dict(zip(LETTERS, row["options"])),
            "answer": row["answer_text"],
        }
        record, found = normalize_entry(official, Subset.PROBE, file=str(path), index=number - 1)
        # Category and perspective are exact by construction: keep the generator's (checked).
        try:
            category = Category(row["category"]).value
            perspective = None if row["perspective"] is None else Perspective(row["perspective"])
        except ValueError as exc:
            raise AnnotationError(f"{where}: field category or perspective: {exc}") from exc
        record = Record(
            **{
                **record.to_dict(),
                "category": category,
                "perspective": None if perspective is None else perspective.value,
            }
        )
        records.append(record)
        problems.extend(found)
    records, dup_problems = _mark_duplicate_ids(records, str(path))
    return Annotations(records, problems + dup_problems, [str(path)])


def find_subset_files(directory: Path) -> dict[Subset, Path]:
    """The annotation files present in a folder (also looks into a `QA/` sub-folder).

    For the probe subset the normalized records file is preferred over `probe_mc.json`.
    """
    found: dict[Subset, Path] = {}
    for folder in (directory, directory / "QA"):
        candidates = [(Subset.PROBE, PROBE_RECORDS_FILE)] + list(ANNOTATION_FILES.items())
        for subset, name in candidates:
            if subset not in found and (folder / name).exists():
                # Checked here, before anything hashes or reads it: a FIFO named real_mc.json
                # would block the reader, and reporting it as missing would mislead.
                try:
                    check_regular(folder / name)
                except InputFileError as exc:
                    raise AnnotationError(f"{exc.path}: {exc.cause}") from None
                found[subset] = folder / name
    return found


def load_annotations(
    source: str | Path | None = None,
    subsets: Iterable[Subset | str] | None = None,
    *,
    allow_unofficial: bool | None = None,
) -> Annotations:
    """Records of the requested subsets from a local folder, or from the hub when None.

    `source` is a folder with `real_mc.json` / `synthetic_mc.json` (or the `QA/` folder of
    the release, or a probe folder); None downloads the official files from the hub. The
    official files are checked against the release's pinned hashes (`release.py`): a file
    with other content raises `ReleaseMismatchError` unless `allow_unofficial` (None: the
    environment decides), and the result's `provenance` records what was read.
    """
    if source is None:
        from vlm4d_tasks.data.hub import download_annotations

        source = download_annotations()
    directory = Path(source)
    if not directory.is_dir():
        raise FileNotFoundError(f"annotation folder not found: {directory}")
    files = find_subset_files(directory)
    wanted = [Subset(s) for s in subsets] if subsets is not None else list(files)
    missing = [s.value for s in wanted if s not in files]
    if missing:
        names = ", ".join(ANNOTATION_FILES[Subset(s)] for s in missing)
        raise FileNotFoundError(f"{directory}: no annotation file for {missing} (expected {names})")
    provenance = check_files(
        {files[s].name: files[s] for s in wanted}, allow_unofficial=allow_unofficial
    )
    result = Annotations([], [], [], provenance)
    for subset in sorted(wanted, key=list(Subset).index):
        path = files[subset]
        part = (
            load_probe_record_file(path)
            if path.name == PROBE_RECORDS_FILE
            else load_annotation_file(path, subset)
        )
        result.records += part.records
        result.problems += part.problems
        result.files += part.files
    return result


def load_records(
    source: str | Path | None = None,
    subsets: Sequence[Subset | str] | None = None,
    *,
    allow_unofficial: bool | None = None,
) -> list[Record]:
    """The records only (problems stay in each record's `flags`)."""
    return load_annotations(source, subsets, allow_unofficial=allow_unofficial).records
