"""The rows of score documents: what `vlm4d report` ranks and what the paired comparisons pair.

- `load_sources`: the checked documents of the files and folders given (`document.load_score`).
- `measured_rows`: one row per table row of each document, in the paper's layout (VLM4D, ICCV
  2025, Table 2: real egocentric / exocentric / average, synthetic directional / false positive /
  average, overall) with the document's 95% bootstrap intervals, sorted by overall accuracy; its
  category table (translational, rotational, counting, false positive) pools the model's runs by
  question counts (correct / scored over the runs), not means of means. Beside each its
  accuracy on the debiased question set (`debiased_cell`, from the document's `validity` block).
- `default_pairs` / `compare_rows`: the comparisons a report makes unasked, each by
  `metric.stats.compare` (McNemar's exact test, a video-clustered paired bootstrap interval).

They live below the report because the pipeline writes those comparisons into the score
document itself (`pipeline.score.paired_comparisons`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlm4d_tasks.metric.stats import DEFAULT_RESAMPLES, DEFAULT_SEED, Comparison, compare
from vlm4d_tasks.metric.text import md_code, md_text
from vlm4d_tasks.pipeline.document import ScoreFileError, load_score

COLUMN_TITLES: dict[str, str] = {
    "real_egocentric": "Real Ego",
    "real_exocentric": "Real Exo",
    "real": "Real Avg",
    "synthetic_directional": "Syn Dir",
    "synthetic_false_positive": "Syn FP",
    "synthetic": "Syn Avg",
    "overall": "Overall",
}


COLUMNS: tuple[str, ...] = tuple(COLUMN_TITLES)


CATEGORY_TITLES: dict[str, str] = {
    "translational": "Translational",
    "rotational": "Rotational",
    "counting": "Counting",
    "false_positive": "False positive",
}


PROMPT_TITLES = {"cot": "chain of thought", "direct-output": "direct output"}


SCORE_FILE_SUFFIX = "_vlm4d_score.json"  # what the lmms-eval tasks write (`lmms.run.Run.write`)


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
    """The checked score documents of `paths` (`score_files`, `document.load_score`)."""
    from tqdm import tqdm

    files = score_files(paths)
    return [
        Source(str(path), load_score(path))
        for path in tqdm(files, desc="load", unit="file", disable=not progress or len(files) < 2)
    ]


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
        perfect (`stats.chance_corrected`). Computed from `percent` rather than read from the
        document's `chance_corrected`: it is a fixed function of the accuracy (the two agree to
        the document's 6 decimals), so it stays consistent with the accuracy shown beside it,
        and documents written before the field existed get it too."""
        from vlm4d_tasks.metric.stats import chance_corrected

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
    # the report's leaderboard of the row (`report.leaderboard.GroupKey.id`): ranks and the
    # next-one-down comparisons stay within it; None outside a report
    group: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "group": self.group,
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
        declared = document.get("produced_by")
        declared = declared if isinstance(declared, Mapping) else {}
        protocol = declared.get("protocol") if isinstance(declared.get("protocol"), str) else None
        how = ("how the answers were generated is not recorded" if protocol is None
               else f"protocol {md_text(protocol)} (declared with --protocol)")  # fmt: skip
        return protocol, (
            "response files scored by `vlm4d score` (prompt setting "
            f"{md_code(setting or 'none')}); " + how
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


DEBIASED_MEASURED = "measured"


NOT_IN_FILE = (
    "not in this score file (written before score documents carried a `validity` block); fix: "
    "score the answers again with this version of `vlm4d score` (or rerun the lmms-eval "
    "aggregation)"
)


def validity_block(source: Source) -> dict[str, Any] | None:
    """The document's `validity` block (`validity.baselines.validity_block`), checked field by
    field (`report.check_validity`: ScoreFileError naming the file and the field); None for a
    document written before it existed, or without benchmark questions."""
    from vlm4d_tasks.pipeline.document import check_validity

    block = check_validity(source.document.get("validity"), source.path)
    # a block of consistency alone (no benchmark questions of their own) has no debiased set
    # or baselines: `consistency_rows` reads it through `_consistency_block`
    return block if block is not None and "debiased" in block else None


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


def default_pairs(rows: Sequence[MeasuredRow]) -> list[tuple[MeasuredRow, MeasuredRow]]:
    """The comparisons a report makes unasked: each model's settings against each other (two
    prompts, two protocols: rows of one name), then each row against the next one down in the
    ranking among rows of the same setting and leaderboard (`group`; is the gap real?). Only
    rows with outcomes."""
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
    for key in dict.fromkeys((r.setting, r.group) for r in usable):
        same = [r for r in usable if (r.setting, r.group) == key and r.rank is not None]
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


def unavailable_subsets(block: Mapping[str, Any]) -> list[str]:
    """The subsets of a validity block without a debiased list, each with its reason."""
    subsets = block["debiased"]["subsets"]
    return [md_text(f"{subset} ({state})") for subset, state in sorted(subsets.items())
            if state != "shipped"]  # fmt: skip
