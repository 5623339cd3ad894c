"""DSR-Bench (DSR Suite, arXiv 2512.20557) questions -> normalized records, and its dataset folder.

DSR-Bench is 1,484 four-option questions (the data card and the project README say so) on
in-the-wild Koala-36M clips about dynamic spatial reasoning (the issue's 575 clips is not
confirmed by anything read here). It is published in two forms, both read here:

* the release's `benchmark.parquet` (Hugging Face `TencentARC/DSR_Suite-Data`). What is known
  of its columns comes from the code that reads it, DSR Suite's own VLMEvalKit copy
  (github.com/TencentARC/DSR_Suite, read in its fork Tiamat-Tech/DSR_Suite at 56a60bc of
  2026-01-07, the original being unavailable here;
  `model/qwen-vl-finetune/VLMEvalKit_mine/vlmeval/dataset/spatial_reasoning.py` lines 61-68):
  `videoID`, `question`, `options` (an array, `.tolist()`), `answer`; the video is
  `<video root>/<videoID>.mp4` (line 64) and the question index is the row number (line 62).
  The question type column (`type`) is named by the issue, not by that code; it is read when
  present, else the TSV's name `task_type`.
* the TSV that VLMEvalKit's `DSRBench` reads (github.com/open-compass/VLMEvalKit at e8e78f0,
  `vlmeval/dataset/dsrbench.py`): `index`, `video` (a path under the `dsr-bench` folder of
  the mirrored zip, line 133/197), `question`, `options` (a JSON or Python list literal,
  lines 184-189), `answer` (a letter, matched by `can_match_option`, cal_scores.py 80-84) and
  `task_type` (the 13 types below, lines 42-57; `group_col='task_type'`, line 217).

Both programs show the options as `question + "\\n" + "\\n".join(options)` (dsrbench.py 191,
spatial_reasoning.py 117): the options carry their own "A. " labels. The label is taken off
here when it is the option's own letter (so `options` holds texts, as in every record of this
project, and the prompt letters them again); a label that disagrees with its position is a
defect, flagged and left in place.

Data problems are flagged on the record and listed in the validation report, never dropped.
Only a file that is not a DSR-Bench table at all (unreadable, no question column) raises
`DsrBenchError`, naming the file and the field.

Imports nothing of ours above `data` (the ground floor).
"""

from __future__ import annotations

import ast
import csv
import enum
import io
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlm4d_tasks.data.annotations import (
    FLAG_DUPLICATE_ID,
    FLAG_DUPLICATE_OPTIONS,
    FLAG_ILL_TYPED,
    FLAG_MISSING,
    FLAG_UNSAFE_VIDEO_PATH,
    Problem,
)
from vlm4d_tasks.data.files import read_regular
from vlm4d_tasks.data.paths import unsafe_reason
from vlm4d_tasks.data.schema import LETTERS, same_text_key

if TYPE_CHECKING:
    from vlm4d_tasks.data.dataset_repo import BuildResult

# The `subset` of every DSR-Bench record: the report's question set and the table rows'
# subset, never one of VLM4D's (`schema.Subset`), so the two benchmarks never pool.
SUBSET = "dsr_bench"
SOURCE = "koala-36m"  # DSR-Bench's clips all come from Koala-36M (the release README)
REPO_ID = "TencentARC/DSR_Suite-Data"
CONFIG = "dsr_bench"
SPLIT = "test"
DATA_FILE = f"data/{CONFIG}/{SPLIT}.parquet"
MADE_BY = "vlm4d build-dataset --benchmark dsr-bench"
VIDEO_SUFFIX = ".mp4"  # spatial_reasoning.py line 64: f'{dataset_path}/{x}.mp4'


class DsrType(str, enum.Enum):
    """The 13 question types, in VLMEvalKit's order (dsrbench.py `_task_category`, lines
    43-57); the twelve templated ones are DSR Suite's `data/template.py` line 3."""

    ABS_DIS = "abs_dis"
    ABS_DIR = "abs_dir"
    ABS_ORI = "abs_ori"
    ABS_SPD = "abs_spd"
    ABS_SPD_COMP = "abs_spd_comp"
    ABS_DIR_PRED = "abs_dir_pred"
    REL_DIS = "rel_dis"
    REL_DIR = "rel_dir"
    REL_ORI = "rel_ori"
    REL_SPD = "rel_spd"
    REL_SPD_COMP = "rel_spd_comp"
    REL_DIR_PRED = "rel_dir_pred"
    NON_TEMP = "non_temp"  # the free-form questions (DSR Suite `data/qa_nontemp.py`)


class Frame(str, enum.Enum):
    """Whose viewpoint: fixed at one time (`abs_`, "from the perspective of X at t s") or
    following the agent (`rel_`, "following the perspective of X"); the free-form class has
    none (template.py lines 4-15)."""

    ABSOLUTE = "absolute"
    RELATIVE = "relative"
    FREE_FORM = "free_form"


class Quantity(str, enum.Enum):
    DISTANCE = "distance"
    DIRECTION = "direction"
    ORIENTATION = "orientation"
    SPEED = "speed"
    SPEED_COMPARISON = "speed_comparison"
    DIRECTION_PREDICTION = "direction_prediction"
    FREE_FORM = "free_form"


_QUANTITIES = {
    "dis": Quantity.DISTANCE,
    "dir": Quantity.DIRECTION,
    "ori": Quantity.ORIENTATION,
    "spd": Quantity.SPEED,
    "spd_comp": Quantity.SPEED_COMPARISON,
    "dir_pred": Quantity.DIRECTION_PREDICTION,
}


def split_type(kind: DsrType) -> tuple[Frame, Quantity]:
    """(frame, quantity) of a type: `abs_spd_comp` -> (absolute, speed_comparison)."""
    if kind is DsrType.NON_TEMP:
        return Frame.FREE_FORM, Quantity.FREE_FORM
    prefix, _, rest = kind.value.partition("_")
    return (Frame.ABSOLUTE if prefix == "abs" else Frame.RELATIVE), _QUANTITIES[rest]


# Flag vocabulary beyond the VLM4D one (`annotations.FLAG_*`), shown in the card.
FLAG_ANSWER_NOT_LETTER = "answer_not_a_letter"
FLAG_ANSWER_NO_OPTION = "answer_letter_has_no_option"
FLAG_OPTION_COUNT = "option_count_not_4"
FLAG_OPTION_LABEL = "option_label_mismatch"
FLAG_UNKNOWN_TYPE = "unknown_type"

FLAG_DESCRIPTIONS: dict[str, str] = {
    FLAG_ANSWER_NOT_LETTER: "the answer is not one of the letters A-D; `answer` and "
    "`answer_text` are empty (the question is kept and scored wrong for every model)",
    FLAG_ANSWER_NO_OPTION: "the answer letter names an option the question does not have; "
    "`answer_text` is empty",
    FLAG_OPTION_COUNT: "the question does not have exactly four options",
    FLAG_OPTION_LABEL: "an option's own label (\"B. ...\") is not its position's letter; the "
    "option text is kept whole, label included",
    FLAG_UNKNOWN_TYPE: "the type is none of the 13 known (`category` holds it as given, "
    "`frame` and `quantity` are empty)",
    FLAG_DUPLICATE_OPTIONS: "two or more options have the same text",
    FLAG_DUPLICATE_ID: "the question index occurs earlier in the file; `uid` gets a `#n` suffix",
    FLAG_UNSAFE_VIDEO_PATH: "the video path could leave the video folder; the video is never "
    "read, linked or copied",
    "missing_field:<name>": "the field is absent or empty in the source",
    "ill_typed_field:<name>": "the field has an unexpected type in the source",
}

# The columns of the record, in the dataset's order. The first twelve are VLM4D's
# (`schema.FIELDS`), so that `schema.Record.from_dict` reads a DSR-Bench row and the whole
# scoring path (extraction, judge, score document) serves both benchmarks.
FIELDS: tuple[str, ...] = (
    "uid", "question_id", "subset", "source", "perspective", "category", "question", "options",
    "answer", "answer_text", "video", "flags", "frame", "quantity", "video_id",
)  # fmt: skip


@dataclass(frozen=True)
class DsrRecord:
    """One DSR-Bench question. `category` is the DSR type (`DsrType`), `frame` absolute /
    relative / free_form, `quantity` what is asked; `perspective` is always None (a VLM4D
    field: egocentric / exocentric do not apply)."""

    uid: str
    question_id: str
    question: str
    options: list[str]
    answer: str  # A-D, or "" when the source's answer is not usable (flagged)
    answer_text: str
    category: str
    frame: str
    quantity: str
    video: str  # relative to the videos folder
    video_id: str
    flags: list[str] = field(default_factory=list)
    subset: str = SUBSET
    source: str = SOURCE
    perspective: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {name: data[name] for name in FIELDS}


class DsrBenchError(ValueError):
    """A source file that is not a DSR-Bench table at all; the message names file and field."""


@dataclass
class DsrBench:
    """The records of one source file, its problems and what it was."""

    records: list[DsrRecord]
    problems: list[Problem]
    file: str
    form: str  # "parquet" or "tsv"
    sha256: str


# --------------------------------------------------------------------------------------------
# Reading the two forms into raw rows


def _parquet_rows(data: bytes, path: Path) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise DsrBenchError(
            f"{path}: not a readable Parquet file ({exc}). Fix: pass the release's "
            "benchmark.parquet or VLMEvalKit's DSRBench.tsv"
        ) from None
    return table.to_pylist()


def _tsv_rows(data: bytes, path: Path) -> list[dict[str, Any]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DsrBenchError(
            f"{path}: not UTF-8 text (byte {exc.start}). Fix: pass VLMEvalKit's DSRBench.tsv "
            "as downloaded, or the release's benchmark.parquet"
        ) from None
    csv.field_size_limit(1 << 24)
    try:
        # pandas' to_csv(sep='\t') quotes as the csv module does (the writer of the TSV)
        return list(csv.DictReader(io.StringIO(text, newline=""), delimiter="\t"))
    except csv.Error as exc:
        raise DsrBenchError(f"{path}: not a tab-separated table ({exc})") from None


def _form(path: Path, data: bytes) -> str:
    # By content, not by name: a Parquet file starts and ends with b"PAR1".
    return "parquet" if data[:4] == b"PAR1" else "tsv"


# --------------------------------------------------------------------------------------------
# Normalising one row

_LABEL = re.compile(r"\s*\(?([A-Da-d])\s*[.:)]\s*")


def _option_list(raw: Any) -> list | None:
    """The options of a cell: a list (Parquet), or the TSV's JSON / Python literal (as
    dsrbench.py 185-189: json.loads, then ast.literal_eval). None when it is neither."""
    if isinstance(raw, list | tuple):
        return list(raw)
    if isinstance(raw, str):
        for parse in (json.loads, ast.literal_eval):
            try:
                value = parse(raw)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue
            if isinstance(value, list | tuple):
                return list(value)
    return None


def strip_labels(options: Sequence[str]) -> tuple[list[str], bool]:
    """Options without their own "A. " labels, and whether a label disagreed with its position.

    Labels come off only when every option has its own position's letter; otherwise the texts
    are kept whole (a mislabelled option is not silently relabelled)."""
    matches = [_LABEL.match(text) for text in options]
    if all(m is None for m in matches):
        return [text.strip() for text in options], False
    own = len(options) <= len(LETTERS) and all(
        m is not None and m[1].upper() == LETTERS[i] for i, m in enumerate(matches)
    )
    if own:
        return [text[m.end() :].strip() for text, m in zip(options, matches)], False
    return [text.strip() for text in options], True


def _answer_letter(raw: Any) -> str | None:
    """ "A", "a", " (B) ", "C." -> the letter; anything else None."""
    if not isinstance(raw, str):
        return None
    text = raw.strip().strip("()").rstrip(".").strip().upper()
    return text if text in LETTERS else None


def _type_of(raw: Any) -> DsrType | None:
    if not isinstance(raw, str):
        return None
    key = re.sub(r"[\s\-]+", "_", raw.strip().lower())
    try:
        return DsrType(key)
    except ValueError:
        return None


class _Problems:
    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Problem] = []

    def add(self, record: str, name: str, flag: str, message: str, flags: list[str]) -> None:
        if flag not in flags:
            flags.append(flag)
        self.items.append(Problem(self.file, record, name, flag, message))


def _text(row: Mapping[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None or (isinstance(value, float) and value != value):  # None, NaN
        return None
    return value if isinstance(value, str) else None


def normalize_row(
    row: Mapping[str, Any], position: int, form: str, problems: _Problems,
    seen: Counter,
) -> DsrRecord:  # fmt: skip
    """One source row -> a record; every defect flagged (`problems`), nothing dropped."""
    flags: list[str] = []
    raw_index = row.get("index")
    question_id = str(position) if raw_index in (None, "") else str(raw_index).strip()
    where = question_id

    def missing(name: str) -> None:
        problems.add(where, name, FLAG_MISSING.format(name), "absent or empty", flags)

    question = _text(row, "question")
    if not question:
        missing("question")
    raw_options = row.get("options", row.get("candidates"))
    options = _option_list(raw_options)
    if options is None:
        if raw_options in (None, ""):
            missing("options")
        else:
            problems.add(where, "options", FLAG_ILL_TYPED.format("options"),
                         f"not a list of option texts: {str(raw_options)[:80]!r}", flags)  # fmt: skip
        options = []
    options = [str(o) for o in options]
    options, mislabelled = strip_labels(options)
    if mislabelled:
        problems.add(where, "options", FLAG_OPTION_LABEL,
                     "an option's label is not its position's letter", flags)  # fmt: skip
    if len(options) != len(LETTERS):
        problems.add(where, "options", FLAG_OPTION_COUNT, f"{len(options)} options", flags)
    keys = [same_text_key(o) for o in options]
    if len(set(keys)) != len(keys):
        problems.add(where, "options", FLAG_DUPLICATE_OPTIONS, "two options are equal", flags)

    answer = _answer_letter(row.get("answer"))
    answer_text = ""
    if answer is None:
        problems.add(where, "answer", FLAG_ANSWER_NOT_LETTER,
                     f"{str(row.get('answer'))[:40]!r} is not one of A-D", flags)  # fmt: skip
        answer = ""
    elif LETTERS.index(answer) >= len(options):
        problems.add(where, "answer", FLAG_ANSWER_NO_OPTION,
                     f"letter {answer} but {len(options)} options", flags)  # fmt: skip
    else:
        answer_text = options[LETTERS.index(answer)]

    type_field = "type" if "type" in row else "task_type"
    raw_type = row.get(type_field)
    kind = _type_of(raw_type)
    if kind is None:
        if raw_type in (None, ""):
            missing(type_field)
        else:
            problems.add(where, type_field, FLAG_UNKNOWN_TYPE,
                         f"{str(raw_type)[:40]!r} is none of the 13 types", flags)  # fmt: skip
        category, frame, quantity = str(raw_type or ""), "", ""
    else:
        frame_value, quantity_value = split_type(kind)
        category, frame, quantity = kind.value, frame_value.value, quantity_value.value

    if form == "parquet":
        video_id = _text(row, "videoID") or ""
        video = f"{video_id}{VIDEO_SUFFIX}" if video_id else ""
        video_field = "videoID"
    else:
        video = _text(row, "video") or ""
        video_id = Path(video).stem if video else ""
        video_field = "video"
    if not video:
        missing(video_field)
    reason = unsafe_reason(video)
    if reason is not None:
        problems.add(where, video_field, FLAG_UNSAFE_VIDEO_PATH, f"path {video!r} {reason}", flags)

    seen[question_id] += 1
    uid = f"{SUBSET}/{question_id}"
    if seen[question_id] > 1:
        uid = f"{uid}#{seen[question_id]}"
        problems.add(where, "index", FLAG_DUPLICATE_ID,
                     f"index {question_id} occurs earlier; uid {uid}", flags)  # fmt: skip
    return DsrRecord(
        uid=uid, question_id=question_id, question=question or "", options=options,
        answer=answer, answer_text=answer_text, category=category, frame=frame,
        quantity=quantity, video=video, video_id=video_id, flags=flags,
    )  # fmt: skip


def load_dsr_bench(path: str | Path) -> DsrBench:
    """Read `benchmark.parquet` or VLMEvalKit's `DSRBench.tsv` (told apart by content).

    Raises `DsrBenchError` for a file that is not a DSR-Bench table (the message names the
    file and the field), FileNotFoundError / `files.InputFileError` for a path that is not a
    readable regular file."""
    import hashlib

    path = Path(path)
    fix = "fix: pass the release's benchmark.parquet or VLMEvalKit's DSRBench.tsv"
    data = read_regular(path, fix=fix)
    form = _form(path, data)
    rows = _parquet_rows(data, path) if form == "parquet" else _tsv_rows(data, path)
    if not rows:
        raise DsrBenchError(f"{path}: no questions (an empty table). Fix: {fix[5:]}")
    columns = set(rows[0])
    video = "videoID" if form == "parquet" else "video"
    for name in ("question", "answer", video):
        if name not in columns:
            raise DsrBenchError(
                f"{path}: field {name!r}: no such column (it has {sorted(columns)[:12]}); "
                f"not DSR-Bench's {form} form. Fix: {fix[5:]}"
            )
    problems = _Problems(str(path))
    seen: Counter = Counter()
    records = [normalize_row(row, i, form, problems, seen) for i, row in enumerate(rows)]
    return DsrBench(records, problems.items, str(path), form, hashlib.sha256(data).hexdigest())


# --------------------------------------------------------------------------------------------
# The dataset folder


def hf_features():
    """The `datasets.Features` of a record (imported lazily)."""
    from datasets import Features, Value

    try:  # datasets >= 4 names list columns `List`
        from datasets import List as Sequence_
    except ImportError:  # pragma: no cover - datasets < 4
        from datasets import Sequence as Sequence_

    strings = Sequence_(Value("string"))
    return Features({name: strings if name in ("options", "flags") else Value("string")
                     for name in FIELDS})  # fmt: skip


def counts_by(records: Sequence[DsrRecord], name: str) -> dict[str, int]:
    """Questions per value of field `name`, in sorted order (absent values never appear)."""
    return dict(sorted(Counter(getattr(r, name) for r in records).items()))


def validation_report(bench: DsrBench, missing_videos: Sequence[str] = ()) -> dict:
    """The shape of `dataset_repo.validation_report`, so `validation_markdown` renders it."""
    return {
        "files": [bench.file],
        "records": len(bench.records),
        "flagged_records": sorted({r.uid for r in bench.records if r.flags}),
        "problems": [vars(p) for p in bench.problems],
        "missing_videos": list(missing_videos),
        "provenance": {
            "files": [{"name": Path(bench.file).name, "sha256": bench.sha256, "form": bench.form}]
        },  # fmt: skip
    }


def render_card(bench: DsrBench, rows: int, size: int) -> str:
    from vlm4d_tasks.data.dataset_repo import _yaml_without_anchors
    from vlm4d_tasks.templating import render

    metadata = {
        "pretty_name": "DSR-Bench",
        "license": "apache-2.0",  # the release's card (TencentARC/DSR_Suite-Data README)
        "language": ["en"],
        "task_categories": ["video-text-to-text", "visual-question-answering"],
        "tags": [
            "video",
            "dynamic-spatial-reasoning",
            "4d",
            "multiple-choice",
            "benchmark",
            "lmms-eval",
        ],  # fmt: skip
        "size_categories": ["1K<n<10K" if rows >= 1000 else "n<1K"],
        "configs": [
            {
                "config_name": CONFIG,
                "data_files": [{"split": SPLIT, "path": DATA_FILE}],
                "default": True,
            }
        ],  # fmt: skip
        "dataset_info": [
            {
                "config_name": CONFIG,
                "features": hf_features()._to_yaml_list(),
                "splits": [{"name": SPLIT, "num_bytes": size, "num_examples": rows}],
            }
        ],  # fmt: skip
    }
    return render(
        __package__, "dsr_bench_card.jinja",
        metadata_yaml=_yaml_without_anchors(metadata).rstrip("\n"), rows=rows, bench=bench,
        config=CONFIG, fields=list(FIELDS), by_type=counts_by(bench.records, "category"),
        by_frame=counts_by(bench.records, "frame"), flag_descriptions=FLAG_DESCRIPTIONS,
        videos=len({r.video for r in bench.records}),
    )  # fmt: skip


def build_dsr_repo(
    bench: DsrBench, out: str | Path, *, videos: str | Path | None = None,
    copy_videos: bool = False, force: bool = False,
) -> BuildResult:  # fmt: skip
    """Write the dataset folder `out` (one config, `dsr_bench`, split `test`) with the same
    writer as VLM4D's (`dataset_repo`: staged beside `out`, swapped in, marker, videos linked
    or copied under their `video` paths and kept inside `videos`). Returns a
    `dataset_repo.BuildResult`."""
    from datasets import Dataset

    from vlm4d_tasks.data import outdir
    from vlm4d_tasks.data.dataset_repo import (
        REPORT_JSON,
        REPORT_MARKDOWN,
        BuildError,
        BuildResult,
        _place_videos,
        refuse_videos_inside,
        validation_markdown,
    )

    out = Path(out)
    if not bench.records:
        raise BuildError(f"{bench.file}: no questions to write; nothing was written")
    output = outdir.prepare(out, MADE_BY, force)
    refuse_videos_inside(videos, output, out)
    with outdir.staged(output) as tmp:
        (tmp / DATA_FILE).parent.mkdir(parents=True, exist_ok=True)
        dataset = Dataset.from_list([r.to_dict() for r in bench.records], features=hf_features())
        dataset.to_parquet(str(tmp / DATA_FILE))
        outdir.write_new(tmp / "README.md", render_card(bench, len(bench.records),
                                                        dataset.data.nbytes))  # fmt: skip
        missing: list[str] = []
        copied: dict[str, str] = {}
        if videos:
            reserved = [REPORT_JSON, REPORT_MARKDOWN, outdir.MARKER]
            missing, copied = _place_videos(bench.records, Path(videos), tmp, copy_videos,
                                            reserved)  # fmt: skip
        report = validation_report(bench, missing)
        outdir.write_new(tmp / REPORT_JSON, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        markdown = validation_markdown(report).replace(
            "# VLM4D validation", "# DSR-Bench validation"
        )
        outdir.write_new(tmp / REPORT_MARKDOWN, markdown)
        outdir.commit(tmp, output, known=copied)
    return BuildResult(out, {CONFIG: [DATA_FILE]}, {CONFIG: len(bench.records)}, bench.problems,
                       missing, output.moved_aside, output.notes)  # fmt: skip
