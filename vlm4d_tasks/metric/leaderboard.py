"""The leaderboard of `vlm4d report`: measured rows, published rows for context, paired tests.

Everything is computed from score documents (`pipeline.score_document`: the JSON of
`vlm4d score --json` and the `<run id>_vlm4d_score.json` of an lmms-eval run); no model or judge
is run again. Pure functions over those documents, apart from `load_sources` (reads them) and
`probe_diagnoses` (reads the probe folders' questions and labels).

- `measured_rows`: one row per table row of each document, in the paper's layout (VLM4D, ICCV
  2025, Table 2: real egocentric / exocentric / average, synthetic directional / false positive /
  average, overall) with the document's 95% bootstrap intervals, sorted by overall accuracy; its
  category table (translational, rotational, counting, false positive) pools the model's runs by
  question counts (correct / scored over the runs), not means of means.
- `published_tables`: published numbers for context (`published.json`: the paper's Human
  performance and Random selection rows, and the official leaderboard of the released benchmark),
  each row labelled with its source and protocol. They are kept apart from measured rows:
  `standing` places a measured row among them only with a mark (†).
- validity (the document's `validity` block, `validity.baselines.validity_block`): beside
  each measured row its chance-corrected overall accuracy and its accuracy on the debiased
  question set (`debiased_cell`); the baseline rows (the blind option-text prior, random) apart
  and unranked, labelled with the documents that computed them (`baseline_rows`); and each
  model's consistency under transformed questions when a document records it
  (`consistency_rows`). A document written before the block still renders: blanks and a note.
- `compare`: two rows on the questions both answered: the accuracy difference, McNemar's exact
  test on the discordant pairs, and a paired bootstrap interval that resamples videos (several
  questions share a video, so their outcomes are not independent).
- `probe_diagnoses`: for a row that answered the probe set, its static/moving camera twin
  diagnosis (`probe.diagnose`) from the document's outcomes and the probe folder's labels
  (the folder given, or the one the lmms-eval run's dataset was built from).
Rendering them (`report_markdown`, CSV, JSON) is `leaderboard_render`'s job.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

from vlm4d_tasks.data.schema import LETTERS
from vlm4d_tasks.metric.report import (
    COLUMN_TITLES,
    ScoreFileError,
    load_score,
    md_code,
    md_text,
)
from vlm4d_tasks.metric.scoring import CI_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED

# 2: cells carry `chance_corrected` and `videos`; measured rows their `debiased` accuracy and
# the intervals' clusters; `baselines`, `consistency` and each input's `debiased` set added.
LEADERBOARD_FORMAT_VERSION = 2
COLUMNS: tuple[str, ...] = tuple(COLUMN_TITLES)
CATEGORY_TITLES: dict[str, str] = {
    "translational": "Translational",
    "rotational": "Rotational",
    "counting": "Counting",
    "false_positive": "False positive",
}
PROMPT_TITLES = {"cot": "chain of thought", "direct-output": "direct output"}
PUBLISHED_MARK = "†"
SCORE_FILE_SUFFIX = "_vlm4d_score.json"  # what the lmms-eval tasks write (`lmms.run.Run.write`)


# --------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Source:
    """One score document and where it came from (`path` as given, or the file in a folder)."""

    path: str
    document: dict[str, Any]

    @property
    def run_id(self) -> str:
        """The file's name without `_vlm4d_score.json` / `.json`: an lmms-eval run id."""
        name = Path(self.path).name
        return (
            name[: -len(SCORE_FILE_SUFFIX)] if name.endswith(SCORE_FILE_SUFFIX) else Path(name).stem
        )


def score_files(paths: Iterable[str | Path]) -> list[Path]:
    """The score files named by `paths`: a file as is, a folder (an lmms-eval `--output_path`)
    searched for `*_vlm4d_score.json` at any depth, sorted; each file once. A folder without one
    raises ScoreFileError."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(path.rglob(f"*{SCORE_FILE_SUFFIX}"))
            if not inside:
                raise ScoreFileError(
                    f"{path}: is a directory without any *{SCORE_FILE_SUFFIX}; fix: pass a file "
                    "written by `vlm4d score --json`, or the --output_path of an lmms-eval run "
                    "of the VLM4D tasks (they write <run id>_vlm4d_score.json there)"
                )
            found.extend(inside)
        else:
            found.append(path)
    seen: set[Path] = set()
    unique = []
    for path in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def load_sources(paths: Iterable[str | Path], *, progress: bool = True) -> list[Source]:
    """The checked score documents of `paths` (`score_files`, `report.load_score`)."""
    from tqdm import tqdm

    files = score_files(paths)
    return [
        Source(str(path), load_score(path))
        for path in tqdm(files, desc="load", unit="file", disable=not progress or len(files) < 2)
    ]


# --------------------------------------------------------------------------------------------
# Measured rows


@dataclass(frozen=True)
class Cell:
    """One accuracy: `correct` of `n` scored questions, with the document's interval."""

    accuracy: float | None
    n: int  # scored questions (unresolved judge answers left out)
    correct: int | None = None
    ci95: tuple[float, float] | None = None
    questions: int | None = None  # all questions of the group, unresolved included
    videos: int | None = None  # the interval's clusters (distinct videos), when recorded

    @property
    def percent(self) -> float | None:
        # From the counts when known, so that a tie such as 213/400 formats as the official
        # numbers do (53.25 -> "53.2", Python's rounding); the stored fraction has 6 decimals.
        if self.correct is not None and self.n:
            return 100 * self.correct / self.n
        return None if self.accuracy is None else 100 * self.accuracy

    @property
    def chance_corrected(self) -> float | None:
        """(accuracy - 25%) / 75% in percent: 0 is guessing among the four options, 100 is
        perfect (`scoring.chance_corrected`). Computed from `percent` rather than read from the
        document's `chance_corrected`: it is a fixed function of the accuracy (the two agree to
        the document's 6 decimals), so it stays consistent with the accuracy shown beside it,
        and documents written before the field existed get it too."""
        from vlm4d_tasks.metric.scoring import chance_corrected

        value = self.percent
        return None if value is None else 100 * chance_corrected(value / 100)

    def to_dict(self) -> dict[str, Any]:
        corrected = self.chance_corrected
        return {
            "accuracy": self.accuracy,
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "chance_corrected": None if corrected is None else round(corrected / 100, 6),
            "n": self.n,
            "correct": self.correct,
            "questions": self.questions,
            "videos": self.videos,
        }


@dataclass
class MeasuredRow:
    """A table row of a score document, as the report shows it."""

    label: str  # unique in the report (the model, plus its run when two documents share it)
    model: str  # the document's row name
    name: str  # the model without its setting: rows of one name are its settings
    setting: str  # the prompt setting of a response file or the task of an lmms-eval row
    prompt: str | None  # "cot" / "direct-output": which official leaderboard it compares with
    protocol: str | None  # "greedy" / "official" (lmms-eval), None: not recorded
    protocol_text: str  # how the answers were made, one sentence
    verdicts: str  # how they were judged
    source: str
    columns: dict[str, Cell]
    categories: dict[str, Cell]
    outcomes: list[dict[str, Any]] | None  # per question, pooled over the row's runs
    rank: int | None = None
    # Accuracy on the document's debiased question set (`validity.models[model].debiased`);
    # None with `debiased_status` saying why (`debiased_cell`).
    debiased: Cell | None = None
    debiased_status: str = ""
    clusters: str | None = None  # the document's `bootstrap.clusters`: "video", None = questions

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "label": self.label,
            "model": self.model,
            "name": self.name,
            "setting": self.setting,
            "prompt": self.prompt,
            "protocol": self.protocol,
            "protocol_text": self.protocol_text,
            "verdicts": self.verdicts,
            "source": self.source,
            "columns": {name: cell.to_dict() for name, cell in self.columns.items()},
            "categories": {name: cell.to_dict() for name, cell in self.categories.items()},
            "debiased": self.debiased.to_dict() if self.debiased is not None else None,
            "debiased_status": self.debiased_status,
            "interval_clusters": self.clusters or "questions",
        }


def _cell(acc: Mapping[str, Any]) -> Cell:
    """A column or group of a score document (`scoring.Accuracy.to_dict`)."""
    ci = acc.get("ci95")
    scored = acc.get("scored", acc.get("n", 0) - acc.get("unresolved", 0))
    return Cell(acc.get("accuracy"), scored, acc.get("correct"), tuple(ci) if ci else None,
                acc.get("n"), acc.get("videos"))  # fmt: skip


def pool(groups: Iterable[Mapping[str, Any]]) -> Cell | None:
    """Groups of several runs (e.g. one category's real and synthetic questions) as one: the
    correct answers over the scored questions of all of them (question-weighted), no interval.
    None when there are no groups."""
    scored = correct = questions = 0
    any_group = False
    for group in groups:
        any_group = True
        cell = _cell(group)
        count = cell.correct
        if count is None:  # an older document without counts: from its rounded accuracy
            count = round((cell.accuracy or 0.0) * cell.n)
        scored += cell.n
        correct += count
        questions += cell.questions if cell.questions is not None else cell.n
    if not any_group:
        return None
    return Cell(round(correct / scored, 6) if scored else None, scored, correct, None, questions)


def _outcomes(run: Mapping[str, Any], where: str, path: str) -> list[dict[str, Any]] | None:
    """A run's per-question outcomes (`pipeline.outcome`), checked; None for a document
    written before they were recorded. `truth` and `chosen` (the option texts) came later
    still: an outcome without them is accepted (the report then draws no direction
    confusion matrix for the run, `figures.figure_notes`)."""
    items = run.get("outcomes")
    if items is None:
        return None
    fix = "fix: score the responses again with this version of `vlm4d score`"
    if not isinstance(items, list):
        raise ScoreFileError(f"{path}: {where}.outcomes: expected a list; {fix}")
    for i, item in enumerate(items):
        ok = (
            isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and item.get("correct") in (True, False, None)
            and isinstance(item.get("video", ""), (str, type(None)))
        )
        if not ok:
            raise ScoreFileError(
                f"{path}: {where}.outcomes[{i}]: expected {{id, correct, video}}, got "
                f"{item!r:.80}; {fix}"
            )
        for key in ("truth", "chosen"):
            if not isinstance(item.get(key, ""), (str, type(None))):
                raise ScoreFileError(
                    f"{path}: {where}.outcomes[{i}].{key}: expected an option text or null, "
                    f"got {item[key]!r:.60}; {fix}"
                )
        if ("truth" in item) != ("chosen" in item):
            missing = "chosen" if "truth" in item else "truth"
            raise ScoreFileError(
                f"{path}: {where}.outcomes[{i}]: has {'truth' if 'truth' in item else 'chosen'} "
                f"but no {missing} (both or neither); {fix}"
            )
    return items


def prompt_of(setting: str) -> str | None:
    """Which official leaderboard a row compares with: its prompt setting (a response file's
    `cot` / `direct-output`, or an lmms-eval task: `*direct*` direct output, the probe none)."""
    if setting in PROMPT_TITLES:
        return setting
    if not setting.startswith("vlm4d_") or "probe" in setting:
        return None
    return "direct-output" if "direct" in setting else "cot"


def _verdicts(document: Mapping[str, Any]) -> str:
    judge = document.get("judge") or {}
    mode = judge.get("mode", "rule")
    models = judge.get("models") or []
    if mode == "rule" or not models:
        return f"{md_code(mode)} (deterministic answer extraction)"
    prompt = "official judge prompt" if judge.get("prompt") == "official" else "our judge prompt"
    return f"{md_code(mode)}, judge {', '.join(md_code(m) for m in models)} ({prompt})"


def _protocol(document: Mapping[str, Any], setting: str) -> tuple[str | None, str]:
    """The protocol of a row and one sentence on it (lmms-eval runs record theirs)."""
    run = document.get("run")
    if not isinstance(run, Mapping):
        return None, (
            "response files scored by `vlm4d score` (prompt setting "
            f"{md_code(setting or 'none')}); "
            "how the answers were generated is not recorded"
        )
    block = run.get("protocol") or {}
    name = (block.get("rows") or {}).get(setting)
    if name is None:
        return None, f"lmms-eval task {md_code(setting)}; no protocol recorded"
    parts = [f"{md_code(name)} protocol, lmms-eval task {md_code(setting)}"]
    decoding = (block.get("decoding") or {}).get(name) or {}
    shown = {k: v for k, v in decoding.items() if k != "until"}
    if shown:
        parts.append("decoding " + md_code(", ".join(f"{k}={v}" for k, v in shown.items())))
    frames = block.get("model_frame_args") or {}
    if frames:
        parts.append("frames " + md_code(", ".join(f"{k}={v}" for k, v in sorted(frames.items()))))
    seed = (block.get("seed") or {}).get("lmms_eval")
    if seed is not None:
        parts.append(f"lmms-eval seed {md_text(seed)}")
    if run.get("model"):
        model_args = run.get("model_args")
        parts.append(f"model {md_code(run['model'])}"
                     + (f" ({md_code(model_args)})" if model_args else ""))  # fmt: skip
    if run.get("limit") is not None:
        parts.append(f"--limit {md_text(run['limit'])}")
    return name, "; ".join(parts)


def measured_rows(sources: Sequence[Source]) -> list[MeasuredRow]:
    """Every table row of every document, ranked by overall accuracy (highest first; rows
    without an overall accuracy last, ties by label). A model named in two documents is
    labelled with each document's run id."""
    from vlm4d_tasks.validity.baselines import BENCHMARK  # the subsets with a validity block

    rows: list[MeasuredRow] = []
    for source in sources:
        document = source.document
        runs = document.get("runs", [])
        validity = validity_block(source)
        clusters = (document.get("bootstrap") or {}).get("clusters")
        for row in document.get("models", []):
            model = row["model"]
            mine = [(i, r) for i, r in enumerate(runs) if r.get("model") == model]
            first = mine[0][1] if mine else {}
            if "run" in document and first:
                setting = str(first.get("name") or "")
                suffix = f" [{setting}]"
                name = model[: -len(suffix)] if model.endswith(suffix) else model
            else:
                setting = str(first.get("variant") or "")
                name = str(first.get("name") or model)
            protocol, protocol_text = _protocol(document, setting)
            categories = {}
            for category in CATEGORY_TITLES:
                cell = pool(
                    r["by_category"][category]
                    for _, r in mine
                    if category in (r.get("by_category") or {})
                )
                if cell is not None:
                    categories[category] = cell
            outcomes: list[dict[str, Any]] | None = []
            for i, r in mine:
                got = _outcomes(r, f"runs[{i}]", source.path)
                if got is None or outcomes is None:
                    outcomes = None
                else:
                    outcomes.extend(got)
            rows.append(MeasuredRow(
                label=model, model=model, name=name, setting=setting,
                prompt=prompt_of(setting), protocol=protocol, protocol_text=protocol_text,
                verdicts=_verdicts(document), source=source.path,
                columns={c: _cell(acc) for c, acc in row["columns"].items() if c in COLUMNS},
                categories=categories, outcomes=outcomes if mine else None,
                clusters=clusters if isinstance(clusters, str) else None,
            ))  # fmt: skip
            rows[-1].debiased, rows[-1].debiased_status = debiased_cell(
                validity, model, benchmark=not mine or any(
                    r.get("subset") in BENCHMARK for _, r in mine)
            )  # fmt: skip
    by_model: dict[str, list[MeasuredRow]] = {}
    for row in rows:
        by_model.setdefault(row.model, []).append(row)
    run_ids = {source.path: source.run_id for source in sources}
    for same in by_model.values():
        if len({r.source for r in same}) > 1:
            for row in same:
                row.label = f"{row.model} <{run_ids[row.source]}>"
    labels = [row.label for row in rows]
    for i, row in enumerate(rows):  # still the same (a document listing a model twice)
        if labels.count(labels[i]) > 1:
            row.label = f"{labels[i]} #{labels[: i + 1].count(labels[i])}"

    def overall(row: MeasuredRow) -> float:
        cell = row.columns.get("overall")
        return -1.0 if cell is None or cell.percent is None else cell.percent

    rows.sort(key=lambda r: (-overall(r), r.label))
    for rank, row in enumerate(rows, 1):
        row.rank = rank if overall(row) >= 0 else None
    return rows


# --------------------------------------------------------------------------------------------
# Published rows


@lru_cache(maxsize=1)
def _published_text() -> str:
    from importlib.resources import files

    return files("vlm4d_tasks.metric").joinpath("published.json").read_text(encoding="utf-8")


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
# Validity: the debiased column, the baseline rows and consistency (`validity.baselines`)

DEBIASED_MEASURED = "measured"
NOT_IN_FILE = (
    "not in this score file (written before score documents carried a `validity` block); fix: "
    "score the answers again with this version of `vlm4d score` (or rerun the lmms-eval "
    "aggregation)"
)
CONSISTENCY_VARIANTS = {  # what each variant of `validity.consistency` changed in the question
    "mirror": "every frame flipped left-right, left and right swapped in the question",
    "reverse": "the clip played backwards, the directions reversed in the question",
    "circular": "the options re-lettered (each rotation of A-D)",
}


def validity_block(source: Source) -> dict[str, Any] | None:
    """The document's `validity` block (`validity.baselines.validity_block`), checked field by
    field (`report.check_validity`: ScoreFileError naming the file and the field); None for a
    document written before it existed, or without benchmark questions."""
    from vlm4d_tasks.metric.report import check_validity

    block = check_validity(source.document.get("validity"), source.path)
    # a block of consistency alone (no benchmark questions of their own) has no debiased set
    # or baselines: `consistency_rows` reads it through `_consistency_block`
    return block if block is not None and "debiased" in block else None


def _consistency_block(source: Source) -> dict[str, Any] | None:
    from vlm4d_tasks.metric.report import check_validity

    return check_validity(source.document.get("validity"), source.path)


def unavailable_subsets(block: Mapping[str, Any]) -> list[str]:
    """The subsets of a validity block without a debiased list, each with its reason."""
    subsets = block["debiased"]["subsets"]
    return [md_text(f"{subset} ({state})") for subset, state in sorted(subsets.items())
            if state != "shipped"]  # fmt: skip


def debiased_cell(
    block: Mapping[str, Any] | None, model: str, *, benchmark: bool = True
) -> tuple[Cell | None, str]:
    """A table row's accuracy on the debiased set and its status: `DEBIASED_MEASURED`, or why
    there is none (`NOT_IN_FILE`; no debiased list for the document's questions; none of the
    row's questions is in the set). `benchmark`: the row answered real or synthetic questions
    (the probe set has no debiased set, and a document of probe runs alone no validity block)."""
    if not benchmark:
        return None, "no real or synthetic questions (the probe set has no debiased set)"
    entry = None if block is None else block["models"].get(model)
    if entry is None:
        return None, NOT_IN_FILE
    if entry.get("debiased") is None:
        return None, "no debiased set for these questions: " + (
            ", ".join(unavailable_subsets(block)) or "none recorded"
        )
    cell = _cell(entry["debiased"])
    if not cell.n or cell.percent is None:
        return None, "none of its scored questions is in the debiased set"
    return cell, DEBIASED_MEASURED


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
# Paired comparison


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """McNemar's exact test: the two-sided binomial test of the discordant pairs (`a_only`
    questions only A got right, `b_only` only B) against p = 1/2, as
    `scipy.stats.binomtest(a_only, a_only + b_only).pvalue` computes it (the distribution is
    symmetric, so twice the smaller tail, at most 1). Exact arithmetic; 1.0 without discordant
    pairs."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(a_only, b_only) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


def clustered_bootstrap_ci(
    differences: Sequence[float], clusters: Sequence[str], *,
    resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, level: float = CI_LEVEL,
) -> tuple[float, float] | None:  # fmt: skip
    """Percentile interval of the mean of `differences` (per question: A right minus B right)
    under a bootstrap that resamples clusters (videos): `scoring.bootstrap_ci`, the interval
    of every accuracy too. None when there are no questions."""
    from vlm4d_tasks.metric.scoring import bootstrap_ci

    if len(differences) != len(clusters):
        raise ValueError("one cluster per difference")
    return bootstrap_ci(differences, clusters, n_resamples=resamples, seed=seed, level=level)


@dataclass(frozen=True)
class Comparison:
    """Row A against row B on the questions both answered (unresolved answers left out)."""

    a: str
    b: str
    n: int  # questions both answered
    videos: int
    a_accuracy: float | None
    b_accuracy: float | None
    difference: float | None  # A - B
    ci95: tuple[float, float] | None  # paired bootstrap over videos
    a_only: int  # discordant pairs: A right, B wrong
    b_only: int
    p_value: float  # McNemar exact, two-sided
    why: str = ""  # set when no comparison could be made

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a, "b": self.b, "n": self.n, "videos": self.videos,
            "a_accuracy": self.a_accuracy, "b_accuracy": self.b_accuracy,
            "difference": self.difference,
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "a_only": self.a_only, "b_only": self.b_only, "p_value": self.p_value,
            "test": "McNemar exact (two-sided binomial on the discordant pairs)",
            "interval": "paired bootstrap, videos resampled",
            **({"why": self.why} if self.why else {}),
        }  # fmt: skip


def compare(
    a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]], *, labels=("A", "B"),
    resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
) -> Comparison:  # fmt: skip
    """Paired comparison of two runs' outcomes (`{id, correct, video}` per question): on the
    questions both answered (same id, neither unresolved), the accuracies, their difference,
    McNemar's exact p and the video-clustered bootstrap interval of the difference. A question
    without a video is its own cluster."""
    first = {o["id"]: o for o in a if o["correct"] is not None}
    common = [(first[o["id"]], o) for o in b if o["correct"] is not None and o["id"] in first]
    common.sort(key=lambda pair: pair[0]["id"])
    n = len(common)
    if n == 0:
        return Comparison(*labels, 0, 0, None, None, None, None, 0, 0, 1.0,
                          why="no question answered by both")  # fmt: skip
    a_right = sum(x["correct"] for x, _ in common)
    b_right = sum(y["correct"] for _, y in common)
    a_only = sum(x["correct"] and not y["correct"] for x, y in common)
    b_only = sum(y["correct"] and not x["correct"] for x, y in common)
    clusters = [x.get("video") or f"question:{x['id']}" for x, _ in common]
    ci = clustered_bootstrap_ci(
        [int(x["correct"]) - int(y["correct"]) for x, y in common], clusters,
        resamples=resamples, seed=seed,
    )  # fmt: skip
    return Comparison(
        *labels, n, len(set(clusters)), round(a_right / n, 6), round(b_right / n, 6),
        round((a_right - b_right) / n, 6), ci, a_only, b_only, mcnemar_exact(a_only, b_only),
    )  # fmt: skip


def default_pairs(rows: Sequence[MeasuredRow]) -> list[tuple[MeasuredRow, MeasuredRow]]:
    """The comparisons a report makes unasked: each model's settings against each other (two
    prompts, two protocols: rows of one name), then each row against the next one down in the
    ranking among rows of the same setting (is the gap real?). Only rows with outcomes."""
    usable = [r for r in rows if r.outcomes]
    pairs: list[tuple[MeasuredRow, MeasuredRow]] = []
    seen: set[tuple[str, str]] = set()

    def add(x: MeasuredRow, y: MeasuredRow) -> None:
        key = (x.label, y.label)
        if key not in seen and key[::-1] not in seen:
            seen.add(key)
            pairs.append((x, y))

    for i, x in enumerate(usable):
        for y in usable[i + 1 :]:
            if x.name == y.name and x.setting != y.setting:
                add(x, y)
    for setting in dict.fromkeys(r.setting for r in usable):
        same = [r for r in usable if r.setting == setting and r.rank is not None]
        for x, y in zip(same, same[1:]):
            add(x, y)
    return pairs


def compare_rows(
    pairs: Sequence[tuple[MeasuredRow, MeasuredRow]], *, resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED, progress: bool = False,
) -> list[Comparison]:  # fmt: skip
    """`compare` for each pair of rows; a row without outcomes gives a comparison that says why."""
    from tqdm import tqdm

    out = []
    for x, y in tqdm(pairs, desc="compare", unit="pair", disable=not progress or len(pairs) < 2):
        if x.outcomes is None or y.outcomes is None:
            out.append(Comparison(
                x.label, y.label, 0, 0, None, None, None, None, 0, 0, 1.0,
                why="a score written without per-question outcomes; fix: score it again with "
                "this version of `vlm4d score`",
            ))  # fmt: skip
            continue
        out.append(compare(x.outcomes, y.outcomes, labels=(x.label, y.label),
                           resamples=resamples, seed=seed))  # fmt: skip
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


def build(
    sources: Sequence[Source], *, pairs: Sequence[tuple[str, str]] = (),
    resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, progress: bool = False,
) -> Leaderboard:  # fmt: skip
    """The leaderboard of `sources`: measured rows, published tables, standings and the
    comparisons (`default_pairs`, then the `pairs` asked for by label). An unknown label
    raises CompareError naming it."""
    rows = measured_rows(sources)
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
    return Leaderboard(
        list(sources), rows, tables, standing(rows, tables["tables"]),
        compare_rows(chosen, resamples=resamples, seed=seed, progress=progress),
        {"resamples": resamples, "seed": seed, "level": CI_LEVEL, "cluster": "video"},
        baseline_rows(sources), consistency_rows(sources),
    )  # fmt: skip
