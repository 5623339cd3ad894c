"""The leaderboard of `vlm4d report`: measured rows, published rows for context, the validity
columns and baselines, paired tests and the probe diagnoses.

Everything is computed from score documents (`pipeline.score.score_document`: the JSON of
`vlm4d score --json` and the `<run id>_vlm4d_score.json` of an lmms-eval run); no model or judge
is run again. The rows themselves and the paired comparisons are `pipeline.rows` (the pipeline
writes comparisons into the document too); this module adds what only a report shows:

- `published_tables`: published numbers for context (`published.json`: the paper's Human
  performance and Random selection rows, and the official leaderboard of the released benchmark),
  each row labelled with its source and protocol. They are kept apart from measured rows:
  `standing` places a measured row among them only with a mark (†).
- validity (the document's `validity` block, `validity.baselines.validity_block`): the baseline
  rows (the blind option-text prior, random) apart and unranked, labelled with the documents
  that computed them (`baseline_rows`); and each model's consistency under transformed questions
  when a document records it (`consistency_rows`). A document written before the block still
  renders: blanks and a note.
- `probe_diagnoses`: for a row that answered the probe set, its static/moving camera twin
  diagnosis (`probe.diagnose`) from the document's outcomes and the probe folder's labels
  (the folder given, or the one the lmms-eval run's dataset was built from).
- `build`: all of it for a set of documents, the `Leaderboard` the renderers take.
Rendering it (`report_markdown`, CSV, JSON) is `leaderboard_render`'s job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from vlm4d_tasks.data.schema import LETTERS
from vlm4d_tasks.metric.stats import CI_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, Comparison
from vlm4d_tasks.metric.text import md_code, md_text
from vlm4d_tasks.pipeline.document import ScoreFileError
from vlm4d_tasks.pipeline.rows import (
    COLUMNS,
    Cell,
    MeasuredRow,
    Source,
    _cell,
    compare_rows,
    default_pairs,
    measured_rows,
    validity_block,
)
from vlm4d_tasks.report.breakdowns import DSR_NO_DEBIASED, DsrCells, dsr_cells, dsr_set

PUBLISHED_MARK = "†"


# --------------------------------------------------------------------------------------------
# Published rows


@lru_cache(maxsize=1)
def _published_text() -> str:
    from importlib.resources import files

    return files("vlm4d_tasks.report").joinpath("published.json").read_text(encoding="utf-8")


def published() -> dict[str, Any]:
    """The package's `published.json` (a fresh copy): notes, columns and the tables of
    published rows (percent, one decimal), each row with its `source` and `protocol`."""
    return json.loads(_published_text())


@dataclass(frozen=True)
class Standing:
    """Where a measured row's overall accuracy falls among an official leaderboard's rows."""

    label: str
    table: str
    overall: float  # percent
    place: int  # 1 = above every published row
    of: int  # published rows + this one
    above: tuple[str, float] | None  # the published row just above (model, percent)
    below: tuple[str, float] | None
    same_name: float | None  # the published overall of the row of the same model name

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label, "table": self.table, "overall_percent": self.overall,
            "place": self.place, "of": self.of,
            "above": list(self.above) if self.above else None,
            "below": list(self.below) if self.below else None,
            "same_name_overall_percent": self.same_name,
        }  # fmt: skip


def standing(rows: Sequence[MeasuredRow], tables: Sequence[Mapping[str, Any]]) -> list[Standing]:
    """For each measured row of a known prompt setting that answered exactly the questions of
    the official leaderboard of that setting (every column's count equal): its place among
    that leaderboard's rows by overall accuracy (compared at one decimal, as published; a tie
    places it below). Rows on other questions are not placed: their numbers are not
    comparable."""
    out = []
    for row in rows:
        table = next(
            (t for t in tables if t.get("questions") and t["rows"]
             and t["rows"][0].get("prompt") == row.prompt),
            None,
        )  # fmt: skip
        if table is None or row.prompt is None:
            continue
        if any(
            row.columns.get(c) is None or row.columns[c].questions != n
            for c, n in table["questions"].items()
        ):
            continue
        overall = row.columns["overall"].percent
        if overall is None:
            continue
        shown = float(f"{overall:.1f}")
        ranked = sorted(
            ((r["percent"]["overall"], r["model"]) for r in table["rows"]),
            key=lambda pair: (-pair[0], pair[1]),
        )
        higher = [(m, p) for p, m in ranked if p >= shown]
        lower = [(m, p) for p, m in ranked if p < shown]
        same = next((r["percent"]["overall"] for r in table["rows"] if r["model"] == row.name),
                    None)  # fmt: skip
        out.append(Standing(
            row.label, table["id"], overall, len(higher) + 1, len(ranked) + 1,
            higher[-1] if higher else None, lower[0] if lower else None, same,
        ))  # fmt: skip
    return out


# --------------------------------------------------------------------------------------------
# Leaderboards: rows grouped by (question set, protocol), each ranked on its own

UNDECLARED = "undeclared"

# The question sets, in the order the report shows their tables (the full benchmark first),
# each with the words of its heading.
QUESTION_SETS: dict[str, str] = {
    "full": "Full benchmark (both subsets, every question)",
    "real": "Real subset only",
    "synthetic": "Synthetic subset only",
    "debiased": "Debiased question set",
    "partial": "Partial run (not the benchmark's questions: `--limit`, one category, others)",
    "identity": "Transformed questions: identity (re-encoded clips, the re-encode control)",
    "mirror": "Transformed questions: mirror (frames flipped left-right, left and right swapped)",
    "reverse": "Transformed questions: reverse (clips played backwards, directions reversed)",
    "circular": "Transformed questions: circular (options re-lettered)",
    "blind": "Blind task (no visual input)",
    "probe": "Probe set (static/moving camera twins)",
    "dsr_bench": "DSR-Bench (another benchmark's questions: DSR Suite, arXiv 2512.20557)",
}
SUBSET_COLUMNS: dict[str, tuple[str, ...]] = {
    "real": ("real_egocentric", "real_exocentric", "real"),
    "synthetic": ("synthetic_directional", "synthetic_false_positive", "synthetic"),
}
_TRANSFORMED = re.compile(r"_(mirror|reverse|circular|identity)$")


@dataclass(frozen=True)
class GroupKey:
    """Which leaderboard a row belongs in: rows are comparable only on the same questions
    (`questions`, a `QUESTION_SETS` key, and their `count`) under the same protocol (the
    document's, else `UNDECLARED`)."""

    questions: str
    count: int  # the row's questions (unresolved answers included)
    protocol: str

    @property
    def id(self) -> str:
        """The group's name in leaderboard.json/.csv: "full/1816/undeclared"."""
        return f"{self.questions}/{self.count}/{self.protocol}"

    def title(self) -> str:
        """The heading of its table (Markdown: the protocol, a name from a file, is escaped)."""
        protocol = (
            "protocol undeclared (not recorded in the score document: declare it with "
            "`vlm4d score --protocol`)"
            if self.protocol == UNDECLARED else f"protocol {md_code(self.protocol)}"
        )  # fmt: skip
        return f"{QUESTION_SETS[self.questions]}: {self.count} questions; {protocol}"


@lru_cache(maxsize=1)
def _release_counts() -> tuple[tuple[str, int], ...]:
    """The release's questions per column (the official leaderboard's `questions`)."""
    table = next(t for t in published()["tables"] if t.get("questions"))
    return tuple(table["questions"].items())


@lru_cache(maxsize=1)
def _debiased_uids() -> dict[str, frozenset[str]]:
    from vlm4d_tasks.validity import debias

    document = debias.load_debiased()
    return {s: frozenset(part["kept_uids"]) for s, part in document["subsets"].items()}


def group_key(
    document: Mapping[str, Any], model: str, *, release: Mapping[str, int] | None = None,
    debiased: Mapping[str, frozenset[str]] | None = None,
) -> GroupKey:  # fmt: skip
    """The leaderboard of table row `model` of a score document, from what the document
    records alone: its runs' subsets, task names (an lmms-eval row) and question ids, the
    row's question counts, and the protocol (`run.protocol` of an lmms-eval run, or
    `produced_by.protocol` of `vlm4d score --protocol`; neither: `UNDECLARED`).

    The question set, first match: a probe run; a blind task (`*_blind`: no visual input); a
    transformed variant (its task `*_mirror`... or its question ids `#mirror`, `#rot1`...);
    the debiased set (exactly its questions of each subset answered); the full benchmark,
    one subset (every column's count equal to the release's, `release`: per column); else a
    partial run. `debiased`: the kept question ids per subset (default: the shipped list)."""
    from vlm4d_tasks.pipeline.rows import _protocol
    from vlm4d_tasks.validity.transforms import variant_of

    runs = [r for r in document.get("runs", []) if r.get("model") == model]
    columns = next((r.get("columns") or {} for r in document.get("models", [])
                    if r.get("model") == model), {})  # fmt: skip
    lmms = "run" in document
    first = runs[0] if runs else {}
    setting = str(first.get("name" if lmms else "variant") or "")
    protocol = _protocol(document, setting)[0] or UNDECLARED
    overall = (columns.get("overall") or {}).get("n")
    count = overall if isinstance(overall, int) else sum(int(r.get("n") or 0) for r in runs)

    def key(questions: str) -> GroupKey:
        return GroupKey(questions, count, protocol)

    subsets = {str(r.get("subset")) for r in runs}
    if "probe" in subsets:
        return key("probe")
    from vlm4d_tasks.data.dsr_bench import SUBSET as DSR_BENCH

    if DSR_BENCH in subsets:  # another benchmark: never ranked with VLM4D's rows
        return key(DSR_BENCH)
    names = {str(r.get(f) or "") for r in runs for f in ("name", "variant")} if lmms else set()
    if any("blind" in name.split("_") for name in names):
        return key("blind")
    for name in sorted(names):
        match = _TRANSFORMED.search(name)
        if match:
            return key(match[1])
    ids = [o.get("id") for r in runs for o in (r.get("outcomes") or []) if isinstance(o, Mapping)]
    for uid in ids:
        variant = variant_of(str(uid)) if uid else None
        if variant is not None:  # "rot2" (circular's rotations), "mirror", "mirror#rot1"...
            step = variant.split("#")[0]
            return key("circular" if step.startswith("rot") else step)
    release = dict(_release_counts()) if release is None else release

    def n(column: str) -> int | None:
        value = (columns.get(column) or {}).get("n")
        return value if isinstance(value, int) else None

    complete = {s for s, cols in SUBSET_COLUMNS.items()
                if all(n(c) == release.get(c) for c in cols)}  # fmt: skip
    answered = subsets & set(SUBSET_COLUMNS)
    if answered and answered == subsets and answered <= complete:
        return key("full" if answered == set(SUBSET_COLUMNS) else answered.pop())
    kept = _debiased_uids() if debiased is None else debiased
    if answered and answered == subsets and all(s in kept for s in answered):
        mine = {s: [r for r in runs if r.get("subset") == s] for s in answered}
        if all(isinstance(r.get("outcomes"), list) for r in runs):  # by question id
            same = all({o["id"] for r in mine[s] for o in r["outcomes"]} == kept[s] for s in mine)
        else:  # a document written before outcomes: by count
            same = all(sum(int(r.get("n") or 0) for r in mine[s]) == len(kept[s]) for s in mine)
        if same:
            return key("debiased")
    return key("partial")


def group_order(key: GroupKey, rows: int = 0) -> tuple:
    """Where a group's table stands: by question set (`QUESTION_SETS`), more questions
    first, then the group of more rows, then by protocol (undeclared last)."""
    return (list(QUESTION_SETS).index(key.questions), -key.count, -rows,
            key.protocol == UNDECLARED, key.protocol)  # fmt: skip


def order_groups(keys: Sequence[GroupKey]) -> list[GroupKey]:
    """The distinct `keys` (one per row) in the report's order: the first is the main group,
    the one the shared figures show."""
    counts: dict[GroupKey, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return sorted(counts, key=lambda k: group_order(k, counts[k]))


@dataclass
class Group:
    """One leaderboard of the report: its rows, ranked among themselves only."""

    key: GroupKey
    rows: list[MeasuredRow]


def group_rows(sources: Sequence[Source], rows: Sequence[MeasuredRow]) -> list[Group]:
    """`rows` (sorted by overall accuracy) in their leaderboards (`group_key`, `order_groups`),
    each row's `group` set and its `rank` counted within its own group."""
    documents = {source.path: source.document for source in sources}
    keys = [group_key(documents[row.source], row.model) for row in rows]
    groups = [Group(key, []) for key in order_groups(keys)]
    where = {group.key: group for group in groups}
    for row, key in zip(rows, keys):
        row.group = key.id
        where[key].rows.append(row)
    for group in groups:
        ranked = [row for row in group.rows if row.rank is not None]
        for rank, row in enumerate(ranked, 1):
            row.rank = rank
    return groups


# --------------------------------------------------------------------------------------------
# Validity: the debiased column, the baseline rows and consistency (`validity.baselines`)

CONSISTENCY_VARIANTS = {  # what each variant of `validity.consistency` changed in the question
    "mirror": "every frame flipped left-right, left and right swapped in the question",
    "reverse": "the clip played backwards, the directions reversed in the question",
    "circular": "the options re-lettered (each rotation of A-D)",
}


def _consistency_block(source: Source) -> dict[str, Any] | None:
    from vlm4d_tasks.pipeline.document import check_validity

    return check_validity(source.document.get("validity"), source.path)


@dataclass
class BaselineRow:
    """A baseline row of one or more score documents (`validity.baselines`): no model, it never
    sees the video; shown apart from the measured rows and never ranked."""

    label: str  # unique in the report
    model: str  # the document's row name, e.g. "option-text prior (blind, leave-one-out)"
    sources: list[str]  # the documents that computed exactly this row
    columns: dict[str, Cell]
    debiased: Cell | None
    # mean accuracy after removing as many questions at random (`validity.baselines`)
    random_removed: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "model": self.model,
            "sources": list(self.sources),
            "columns": {name: cell.to_dict() for name, cell in self.columns.items()},
            "debiased": self.debiased.to_dict() if self.debiased is not None else None,
            "random_removed": self.random_removed,
        }


def baseline_rows(sources: Sequence[Source]) -> list[BaselineRow]:
    """The baseline rows of `sources`, in the order they first appear.

    A document computes its baselines on the questions its own rows answered, so two
    documents over the same questions (the two prompt settings scored apart, lmms-eval runs of
    one task) hold byte-identical rows: those are shown once, listing every document they came
    from, since repeating them would only lengthen the table. Rows that differ (other
    questions: a `--limit` run, one subset only; another seed) are all kept, each labelled with
    its documents' run ids, because a measured row must be read against the baseline of its
    own questions."""
    merged: dict[str, BaselineRow] = {}
    for source in sources:
        block = validity_block(source)
        for row in [] if block is None else block["baselines"]:
            key = json.dumps(row, sort_keys=True)
            if key in merged:
                if source.path not in merged[key].sources:
                    merged[key].sources.append(source.path)
                continue
            debiased = row.get("debiased")
            merged[key] = BaselineRow(
                row["model"], row["model"], [source.path],
                {c: _cell(acc) for c, acc in row["columns"].items() if c in COLUMNS},
                _cell(debiased) if debiased is not None else None,
                (row.get("random_removed") or {}).get("accuracy"),
            )  # fmt: skip
    rows = list(merged.values())
    run_ids = {source.path: source.run_id for source in sources}
    for row in rows:
        if sum(other.model == row.model for other in rows) > 1:
            row.label = f"{row.model} <{', '.join(run_ids[p] for p in row.sources)}>"
    labels = [row.label for row in rows]
    for i, row in enumerate(rows):  # run ids alike (files of one name in two folders)
        if labels.count(labels[i]) > 1:
            row.label = f"{labels[i]} #{labels[: i + 1].count(labels[i])}"
    return rows


def consistency_rows(sources: Sequence[Source]) -> list[dict[str, Any]]:
    """Every document's `validity.consistency` entries (a model's accuracy on transformed
    questions beside its accuracy on the originals), each with its `source`, in document
    order."""
    out = []
    for source in sources:
        block = _consistency_block(source)
        for entry in [] if block is None else block.get("consistency") or []:
            out.append({**entry, "source": source.path})
    return out


# --------------------------------------------------------------------------------------------
# Probe runs: the static/moving camera twins

PROBE_LABELS = "probe_labels.json"  # beside probe_records.jsonl (`probe.generate.LABELS_FILE`)
PROBE_RECORDS = "probe_records.jsonl"  # `probe.RECORDS_FILE`


@dataclass(frozen=True)
class ProbeSet:
    """A probe folder of `vlm4d generate-probe`: its questions, their labels (camera motion,
    twins, the motion the picture suggests) and the SHA-256 of its records file."""

    folder: Path
    records: tuple[Any, ...]  # `data.schema.Record`s
    labels: dict[str, Any]
    sha256: str

    def by_uid(self) -> dict[str, Any]:
        return {record.uid: record for record in self.records}


def load_probe_set(folder: str | Path) -> ProbeSet:
    """The probe set in `folder`; ScoreFileError naming the file when it is not one."""
    import hashlib

    from vlm4d_tasks.data.files import read_regular, read_regular_text
    from vlm4d_tasks.probe import load_probe_records

    folder = Path(folder)
    fix = "fix: pass the folder written by `vlm4d generate-probe --out DIR`"
    labels_path = folder / PROBE_LABELS
    try:
        # regular files only (`data.files`): a FIFO or a device there fails at once
        labels = json.loads(read_regular_text(labels_path, fix=fix))
        digest = hashlib.sha256(read_regular(folder / PROBE_RECORDS, fix=fix)).hexdigest()
        records = load_probe_records(folder)
    except (OSError, ValueError) as exc:  # a missing file, bad JSON, a bad record line
        raise ScoreFileError(f"{folder}: not a probe set ({exc}); {fix}") from None
    if not isinstance(labels, dict) or not isinstance(labels.get("questions"), list):
        raise ScoreFileError(f"{labels_path}: field questions: expected a list; {fix}")
    return ProbeSet(folder, tuple(records), labels, digest)


def _probe_runs(source: Source) -> dict[str, list[Mapping[str, Any]]]:
    """The document's probe runs by table row (model)."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for run in source.document.get("runs", []):
        if run.get("subset") == "probe":
            out.setdefault(str(run.get("model")), []).append(run)
    return out


def _recorded_sha256(document: Mapping[str, Any]) -> str | None:
    """The SHA-256 of the probe records an lmms-eval run was given (its dataset's
    provenance), or None when the document does not record it."""
    dataset = (document.get("run") or {}).get("dataset") or {}
    files = (dataset.get("annotations") or {}).get("files") or []
    found = [f.get("sha256") for f in files if isinstance(f, Mapping)
             and f.get("name") == PROBE_RECORDS]  # fmt: skip
    return found[0] if found and isinstance(found[0], str) else None


def probe_folders(document: Mapping[str, Any]) -> list[Path]:
    """Where the probe set of an lmms-eval run's document should be: beside the records file
    its dataset was built from, as the dataset folder's `validation_report.json` names it (a
    relative name is tried from the current folder, as `make demo` builds and reports from
    one place, and from the dataset folder's parent). Empty for a document that records no
    dataset (the JSON of `vlm4d score`)."""
    from vlm4d_tasks.data.dataset_repo import REPORT_JSON
    from vlm4d_tasks.data.files import read_regular_text

    dataset = (document.get("run") or {}).get("dataset") or {}
    if not isinstance(dataset, Mapping) or not isinstance(dataset.get("folder"), str):
        return []
    built = Path(dataset["folder"])
    try:
        report = json.loads(read_regular_text(built / REPORT_JSON))
    except (OSError, ValueError):  # InputFileError too: a FIFO there is no report
        return []
    files = report.get("files") if isinstance(report, dict) else None
    folders: list[Path] = []
    for name in files if isinstance(files, list) else []:
        if not isinstance(name, str) or Path(name).name != PROBE_RECORDS:
            continue
        for folder in (Path(name).parent, built.parent / Path(name).parent):
            if folder not in folders and (folder / PROBE_LABELS).is_file():
                folders.append(folder)
    return folders


def _probe_mismatch(runs: Sequence[Mapping[str, Any]], probe: ProbeSet,
                    recorded: str | None) -> str | None:  # fmt: skip
    """Why `probe` is not the probe set these runs answered, or None when it is: the records'
    hash the run recorded, else every question id with the same ground truth."""
    if recorded is not None and recorded != probe.sha256:
        return f"its {PROBE_RECORDS} is not the file the run was given (another SHA-256)"
    known = probe.by_uid()
    for run in runs:
        for outcome in run.get("outcomes") or []:
            record = known.get(outcome["id"])
            if record is None:
                return f"it has no question {outcome['id']}"
            if outcome.get("truth") not in (None, record.answer_text):
                return f"its question {outcome['id']} has another answer"
            chosen = outcome.get("chosen")
            if chosen is not None and chosen not in record.options:
                return f"its question {outcome['id']} has no option {chosen!r}"
    return None


def diagnose_outcomes(runs: Sequence[Mapping[str, Any]], probe: ProbeSet) -> Any:
    """The probe diagnosis (`probe.diagnose.diagnose_scored`: twin pairs, accuracy by camera
    motion, camera-motion confusion) of the outcomes of a row's probe runs, as the score
    document decided them (nothing is judged again): `correct` as recorded, the chosen letter
    from the `chosen` option text. The outcomes must carry `chosen` and match `probe`
    (`_probe_mismatch`)."""
    from vlm4d_tasks.metric.scoring import ScoredItem, Verdict
    from vlm4d_tasks.probe.diagnose import diagnose_scored

    known = probe.by_uid()
    items = []
    for run in runs:
        for outcome in run.get("outcomes") or []:
            record = known[outcome["id"]]
            if outcome["correct"] is None:
                verdict = Verdict.unresolved(record.uid, "score document", "unresolved there")
            else:
                chosen = outcome["chosen"]
                letter = None if chosen is None else LETTERS[record.options.index(chosen)]
                verdict = Verdict.chosen(record.uid, letter, "score document")
            items.append(ScoredItem(record, verdict, outcome["correct"]))
    return diagnose_scored(list(probe.records), probe.labels, items)


def probe_diagnoses(
    sources: Sequence[Source], rows: Sequence[MeasuredRow],
    probes: Sequence[ProbeSet | str | Path] = (),
) -> tuple[dict[str, Any], list[str]]:  # fmt: skip
    """The probe diagnosis of every measured row with probe runs (by row label), and a note
    for each such row that gets none (why, and the fix).

    The probe set of a row is the first of `probes` (`vlm4d report --probe DIR`: probe sets
    or their folders) and then of the folders its document points to (`probe_folders`) whose
    questions are the ones the row answered (`_probe_mismatch`). A folder of `probes` that is
    not a probe set raises ScoreFileError."""
    given = [p if isinstance(p, ProbeSet) else load_probe_set(p) for p in probes]
    found: dict[Path, ProbeSet | None] = {}
    by_source = {source.path: source for source in sources}
    diagnoses: dict[str, Any] = {}
    notes = []
    for row in rows:
        source = by_source.get(row.source)
        runs = _probe_runs(source).get(row.model, []) if source else []
        if not runs:
            continue
        fix = "fix: pass the probe folder of `vlm4d generate-probe` with --probe DIR"
        if any(not isinstance(r.get("outcomes"), list) for r in runs) or any(
            "chosen" not in o for r in runs for o in r["outcomes"]
        ):
            notes.append(
                f"No probe twin figure for {md_code(row.label)}: its score document does not "
                "record "
                "which option each answer chose (runs' `outcomes` without `chosen`); fix: "
                "rerun the lmms-eval aggregation (or `vlm4d score`) with this version."
            )
            continue
        candidates = list(given)
        for folder in probe_folders(source.document) if source else []:
            if folder not in found:
                try:
                    found[folder] = load_probe_set(folder)
                except ScoreFileError:  # a folder that moved on: only --probe may say where
                    found[folder] = None
            candidate = found[folder]
            if candidate is not None:
                candidates.append(candidate)
        recorded = _recorded_sha256(source.document) if source else None
        reasons = []
        for probe in candidates:
            why = _probe_mismatch(runs, probe, recorded)
            if why is None:
                diagnoses[row.label] = diagnose_outcomes(runs, probe)
                break
            reasons.append(f"{probe.folder}: {why}")
        else:
            tried = "; ".join(reasons) if reasons else "its probe folder was not found"
            notes.append(f"No probe twin figure for {md_code(row.label)}: {md_text(tried)}; {fix}.")
    return diagnoses, notes


# --------------------------------------------------------------------------------------------
# The report's files


class CompareError(ValueError):
    """A comparison asked for by a label that names no row."""


@dataclass
class Leaderboard:
    """Everything the report shows, computed once from the sources."""

    sources: list[Source]
    rows: list[MeasuredRow]
    published: dict[str, Any]
    standings: list[Standing]
    comparisons: list[Comparison]
    bootstrap: dict[str, Any] = field(default_factory=dict)
    baselines: list[BaselineRow] = field(default_factory=list)
    consistency: list[dict[str, Any]] = field(default_factory=list)
    # the leaderboards (`group_rows`), the main one first; `rows` is them in that order
    groups: list[Group] = field(default_factory=list)
    # published numbers of other papers (`literature.load_literature()`), never ranked; None:
    # the package has none
    literature: dict[str, Any] | None = None
    # the breakdowns of each DSR-Bench row by label (`breakdowns.dsr_cells`): its tables show
    # these in place of VLM4D's columns and categories
    dsr: dict[str, DsrCells] = field(default_factory=dict)


def build(
    sources: Sequence[Source], *, pairs: Sequence[tuple[str, str]] = (),
    resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, progress: bool = False,
    literature: Mapping[str, Any] | None = None,
) -> Leaderboard:  # fmt: skip
    """The leaderboard of `sources`: measured rows, published tables, standings and the
    comparisons (`default_pairs`, then the `pairs` asked for by label). An unknown label
    raises CompareError naming it. Rows are ranked within their leaderboard only
    (`group_rows`): by question set and protocol. `literature`: the other papers' numbers to
    show apart (default: the package's, `load_literature_rows`)."""
    rows = measured_rows(sources)
    groups = group_rows(sources, rows)
    rows = [row for group in groups for row in group.rows]
    dsr = _dsr_breakdowns(sources, groups)
    full = {row.label for g in groups if g.key.questions == "full" for row in g.rows}
    by_label = {row.label: row for row in rows}
    chosen = default_pairs(rows)
    for a, b in pairs:
        for label in (a, b):
            if label not in by_label:
                known = ", ".join(repr(r.label) for r in rows[:5])  # one line, whatever a name
                raise CompareError(
                    f"--compare {label!r}: no row of that label (rows: {known}"
                    f"{', ...' if len(rows) > 5 else ''}); fix: use a label from the Model "
                    "column of the leaderboard (report.md)"
                )
        if (a, b) not in {(x.label, y.label) for x, y in chosen}:
            chosen.append((by_label[a], by_label[b]))
    tables = published()
    # the official leaderboards are of the full benchmark: a blind or transformed run over
    # as many questions has no place among them
    placed = [row for row in rows if row.label in full]
    return Leaderboard(
        list(sources), rows, tables, standing(placed, tables["tables"]),
        compare_rows(chosen, resamples=resamples, seed=seed, progress=progress),
        {"resamples": resamples, "seed": seed, "level": CI_LEVEL, "cluster": "video"},
        baseline_rows(sources), consistency_rows(sources), groups,
        load_literature_rows() if literature is None else dict(literature), dsr,
    )  # fmt: skip


def _dsr_breakdowns(sources: Sequence[Source], groups: Sequence[Group]) -> dict[str, DsrCells]:
    """The breakdowns of the rows of DSR-Bench groups by label (`breakdowns.dsr_cells`); each
    such row's debiased status says the set is VLM4D's (`DSR_NO_DEBIASED`), not why VLM4D
    questions have none."""
    documents = {source.path: source.document for source in sources}
    out = {}
    for group in groups:
        if group.key.questions != dsr_set():
            continue
        for row in group.rows:
            out[row.label] = dsr_cells(documents[row.source], row.model)
            row.debiased_status = DSR_NO_DEBIASED
    return out


def load_literature_rows() -> dict[str, Any] | None:
    """The other papers' published VLM4D numbers (`report.literature.load_literature()`), or
    None when this package has none (the module or its data file missing)."""
    try:
        from vlm4d_tasks.report.literature import load_literature  # type: ignore[import-not-found]

        return dict(load_literature())
    except (ImportError, FileNotFoundError):
        return None


# 2: cells carry `chance_corrected` and `videos`; measured rows their `debiased` accuracy and
# the intervals' clusters; `baselines`, `consistency` and each input's `debiased` set added.
# 3: measured rows carry their `group` (ranks count within it), `groups` lists the
# leaderboards, `literature` the other papers' rows.
LEADERBOARD_FORMAT_VERSION = 3
