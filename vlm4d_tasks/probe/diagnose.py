"""Diagnostics that only the probe set allows: its static/moving camera pairs.

VLM4D reports that models confuse camera motion with object motion. On the probe set each
egocentric question has an exocentric twin with the same text, options and answer, so the
effect of the camera is measurable directly:

- accuracy by category x perspective and by camera motion;
- the pair table: both twins right, only the static one, only the moving one, neither;
- camera-motion confusion: on moving-camera direction questions where the picture alone
  suggests another answer (`facts.apparent` in the labels: the object's motion across the
  image taken at face value), how often the model picks that apparent answer.

Pure functions over the records, the labels JSON and the scored answers; no model needed.
Right and wrong come from the metric's own pipeline (`vlm4d_tasks.pipeline.score`: the
verdicts of the judge mode used, `scoring.is_correct`), so the diagnosis is about exactly the
answers the results table scored; an answer the judge left unresolved is left out and noted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from vlm4d_tasks.data.schema import LETTERS, Perspective, Record
from vlm4d_tasks.metric.scoring import ScoredItem, Verdict, VerdictStatus, join
from vlm4d_tasks.metric.text import md_table
from vlm4d_tasks.probe.questions import CAMERA_DIRECTIONS


@dataclass
class Rate:
    correct: int = 0
    total: int = 0

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.total if self.total else None


@dataclass
class ProbeDiagnosis:
    overall: Rate
    by_category_perspective: dict[str, Rate]
    by_camera_motion: dict[str, Rate]
    pairs: dict[str, int]
    confusion_traps: int
    confusion_chose_apparent: int
    unanswered: int
    notes: list[str] = field(default_factory=list)
    unresolved: int = 0  # answers the judge could not decide: left out, never counted wrong

    @property
    def confusion_rate(self) -> float | None:
        if not self.confusion_traps:
            return None
        return self.confusion_chose_apparent / self.confusion_traps

    def to_dict(self) -> dict:
        out = asdict(self)
        out["overall"]["accuracy"] = self.overall.accuracy
        for group in ("by_category_perspective", "by_camera_motion"):
            for key, rate in getattr(self, group).items():
                out[group][key]["accuracy"] = rate.accuracy
        out["confusion_rate"] = self.confusion_rate
        return out


def diagnose(
    records: list[Record], labels: dict, choices: Mapping[str, str | None]
) -> ProbeDiagnosis:
    """The diagnosis of letters given directly (an oracle, a hand-made answer sheet): `choices`
    maps question_id to the chosen letter (None: no valid answer), scored by the metric's rule
    (`scoring.join`) and diagnosed by `diagnose_scored`.

    Questions missing from `choices` are left out (and counted in `notes`); a None choice
    counts as answered wrongly and is also counted in `unanswered`.
    """
    by_id = {r.question_id: r for r in records}
    unknown = sorted(set(choices) - set(by_id))
    if unknown:
        raise KeyError(f"choices name questions that are not in the records: {unknown[:5]}")
    for qid, choice in choices.items():
        if choice is not None and choice not in LETTERS:
            raise ValueError(f"question {qid}: choice {choice!r} is not one of {LETTERS}")
    chosen = [r for r in records if r.question_id in choices]
    verdicts = [Verdict.chosen(r.uid, choices[r.question_id], "given") for r in chosen]
    return diagnose_scored(records, labels, join(verdicts, chosen))


def diagnose_scored(
    records: list[Record], labels: dict, scored: Sequence[ScoredItem]
) -> ProbeDiagnosis:
    """The diagnosis of a model's scored answers (`pipeline.score.grade_answers`): right and
    wrong as the metric decided them, the chosen letter from the verdict.

    Questions without a scored answer are left out (and counted in `notes`); an unresolved
    answer is left out too (counted in `unresolved` and `notes`); no valid answer counts as
    wrong and in `unanswered`.
    """
    facts = {q["question_id"]: q for q in labels["questions"]}
    by_id = {r.question_id: r for r in records}
    answered = {item.record.question_id: item for item in scored}
    unknown = sorted(set(answered) - set(by_id))
    if unknown:
        raise KeyError(f"answers name questions that are not in the records: {unknown[:5]}")
    overall = Rate()
    by_cp: dict[str, Rate] = defaultdict(Rate)
    by_motion: dict[str, Rate] = defaultdict(Rate)
    right: dict[str, bool] = {}
    traps = chose_apparent = unanswered = unresolved = 0
    for qid, record in by_id.items():
        if qid not in answered:
            continue
        item = answered[qid]
        if item.correct is None:
            unresolved += 1
            continue
        choice = item.verdict.letter
        unanswered += item.verdict.status is VerdictStatus.NO_VALID_ANSWER
        ok = item.correct
        right[qid] = ok
        label = facts[qid]
        for rate in (
            overall,
            by_cp[f"{record.category}/{record.perspective}"],
            by_motion[label["camera_motion"]],
        ):
            rate.total += 1
            rate.correct += ok
        apparent = label["facts"].get("apparent")
        if (
            record.perspective == Perspective.EGOCENTRIC.value
            and apparent
            and apparent != label["facts"]["label"]
        ):
            text = CAMERA_DIRECTIONS[apparent]
            if text in record.options:
                traps += 1
                chose_apparent += choice == LETTERS[record.options.index(text)]
    pairs = {"both": 0, "static_only": 0, "moving_only": 0, "neither": 0}
    for qid, ok in right.items():
        label = facts[qid]
        twin = label["twin_question_id"]
        if label["perspective"] != Perspective.EXOCENTRIC.value or twin not in right:
            continue
        key = {(True, True): "both", (True, False): "static_only", (False, True): "moving_only"}
        pairs[key.get((ok, right[twin]), "neither")] += 1
    notes = []
    missing = len(by_id) - len(right) - unresolved
    if missing:
        notes.append(f"{missing} question(s) without a choice were left out")
    if unresolved:
        notes.append(f"{unresolved} answer(s) the judge left unresolved were left out")
    return ProbeDiagnosis(
        overall=overall,
        by_category_perspective=dict(sorted(by_cp.items())),
        by_camera_motion=dict(sorted(by_motion.items())),
        pairs=pairs,
        confusion_traps=traps,
        confusion_chose_apparent=chose_apparent,
        unanswered=unanswered,
        notes=notes,
        unresolved=unresolved,
    )


def _pct(rate: Rate) -> str:
    return (
        "-" if rate.accuracy is None else f"{100 * rate.accuracy:.1f} ({rate.correct}/{rate.total})"
    )


def to_markdown(diagnosis: ProbeDiagnosis) -> str:
    from vlm4d_tasks.metric.stats import count_share  # no headline percentage of a handful

    overall = diagnosis.overall
    lines = [
        "Probe accuracy: "
        + ("-" if overall.accuracy is None else count_share(overall.correct, overall.total)),
        "",
    ]
    groups = [[key, _pct(rate)] for key, rate in diagnosis.by_category_perspective.items()]
    groups += [[f"camera: {key}", _pct(rate)] for key, rate in diagnosis.by_camera_motion.items()]
    lines += md_table(["group", "accuracy %"], groups, "ll")
    p = diagnosis.pairs
    pairs = [str(n) for n in (sum(p.values()), p["both"], p["static_only"], p["moving_only"],
                              p["neither"])]  # fmt: skip
    header = ["twin pairs", "both right", "static only", "moving only", "neither"]
    lines += ["", *md_table(header, [pairs], "lllll"), ""]
    if diagnosis.confusion_rate is None:
        lines.append("Camera-motion confusion: no question where the picture misleads.")
    else:
        from vlm4d_tasks.metric.stats import count_share  # no percentage of a handful

        chose = count_share(diagnosis.confusion_chose_apparent, diagnosis.confusion_traps)
        lines.append(
            f"Camera-motion confusion: chose the motion the picture suggests on {chose} "
            "moving-camera questions where it differs from the truth."
        )
    lines += [f"Note: {n}" for n in diagnosis.notes]
    return "\n".join(lines) + "\n"
