"""Responses -> verdicts, in one of five modes (the judging step of the VLM4D metric).

* ``rule`` (default): deterministic extraction only (`vlm4d_tasks.metric.extract`), no network.
* ``llm``: every answer goes to the LLM judge, as in the paper (VLM4D, ICCV 2025, Sec. 4).
* ``hybrid``: extraction first; only the answers it is not confident about go to the judge.
* ``crosscheck``: two judge models judge every answer, as the paper did (o4-mini and o3);
  the first judge's verdict is scored and every disagreement is listed (id, both verdicts)
  for a human to settle. An answer the first judge left unresolved stays unresolved.
* ``dsr-suite``: DSR Suite's regex reader (`vlm4d_tasks.metric.dsr_scorer`), offline, so the
  answers of a `dsr-suite` run can be read as that paper read them and as ours does (`rule`).

A judge failure is never a wrong answer: it becomes an UNRESOLVED verdict (see `scoring`) that
carries its cause ("deadline exceeded", "HTTP 503", "circuit open", ...) and its reason.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vlm4d_tasks.data.official import option_label
from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric.scoring import Verdict


class Mode(str, enum.Enum):
    RULE = "rule"
    LLM = "llm"
    HYBRID = "hybrid"
    CROSSCHECK = "crosscheck"
    DSR_SUITE = "dsr-suite"  # DSR Suite's regex reader (metric.dsr_scorer), offline


JUDGES_NEEDED = {Mode.RULE: 0, Mode.LLM: 1, Mode.HYBRID: 1, Mode.CROSSCHECK: 2, Mode.DSR_SUITE: 0}


@dataclass
class Grading:
    """The verdicts of one run and what it took to reach them."""

    mode: Mode
    verdicts: list[Verdict]
    sent_to_llm: int = 0
    judges: list[dict[str, Any]] = field(default_factory=list)  # JudgeStats.to_dict() each
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode.value}
        if self.mode not in (Mode.RULE, Mode.DSR_SUITE):
            out["sent_to_llm"] = self.sent_to_llm
            out["judges"] = self.judges
        if self.mode is Mode.CROSSCHECK:
            out["disagreements"] = self.disagreements
        return out


def _response_text(response: object) -> str:
    if response is None:
        return ""
    return response if isinstance(response, str) else str(response)


def rule_verdict(record: Record, response: object) -> tuple[Verdict, bool]:
    """The extraction verdict of one response, and whether the extraction is confident."""
    from vlm4d_tasks.metric.extract import extract

    found = extract(response, record.options, record.question)
    verdict = Verdict.chosen(record.uid, found.letter, f"rule:{found.rule}", found.evidence)
    return verdict, bool(found.confident)


def dsr_verdict(record: Record, response: object) -> Verdict:
    """The verdict of DSR Suite's reader: a letter A-D it read, else no valid answer (its `E`
    and a whole answer that is no letter count wrong there too)."""
    from vlm4d_tasks.metric.dsr_scorer import read_answer

    reading = read_answer(_response_text(response))
    return Verdict.chosen(record.uid, reading.letter, f"dsr:{reading.rule}", reading.evidence)


def _judge_items(records: Sequence[Record], responses: Mapping[str, object]):
    from vlm4d_tasks.metric.judge import JudgeItem

    return [
        JudgeItem(
            key=r.uid,
            question=r.question,
            options=r.options,
            response=_response_text(responses[r.uid]),
            answer_letter=r.answer,
            answer_text=r.answer_text,
        )
        for r in records
    ]


def _judge_verdict(outcome) -> Verdict:
    decided_by = f"judge:{outcome.model}"
    if not outcome.resolved:
        return Verdict.unresolved(outcome.key, decided_by, outcome.error, cause=outcome.cause)
    return Verdict.chosen(outcome.key, outcome.letter, decided_by, outcome.extracted_answer or "")


def _stats(judge, outcomes) -> dict[str, Any]:
    from vlm4d_tasks.metric.judge import judge_stats

    endpoint = getattr(judge, "endpoint", "")
    return judge_stats(judge.model, outcomes, endpoint).to_dict()


def grade(
    records: Sequence[Record],
    responses: Mapping[str, object],
    mode: Mode | str = Mode.RULE,
    judges: Sequence[Any] = (),
    *,
    progress: bool = True,
) -> Grading:
    """Verdicts for `records` (responses by record uid) in `mode`; `judges` are `judge.Judge`s."""
    mode = Mode(mode)
    if len(judges) < JUDGES_NEEDED[mode]:
        raise ValueError(f"mode {mode.value!r} needs {JUDGES_NEEDED[mode]} judge model(s)")
    missing = [r.uid for r in records if r.uid not in responses]
    if missing:
        raise ValueError(f"no response for records {missing[:5]}")

    if mode is Mode.RULE:
        return Grading(mode, [rule_verdict(r, responses[r.uid])[0] for r in records])
    if mode is Mode.DSR_SUITE:
        return Grading(mode, [dsr_verdict(r, responses[r.uid]) for r in records])

    if mode is Mode.HYBRID:
        verdicts: list[Verdict] = []
        unsure: list[int] = []
        for i, record in enumerate(records):
            verdict, confident = rule_verdict(record, responses[record.uid])
            verdicts.append(verdict)
            if not confident:
                unsure.append(i)
        outcomes = judges[0].judge_many(
            _judge_items([records[i] for i in unsure], responses), progress=progress
        )
        for i, outcome in zip(unsure, outcomes):
            verdicts[i] = _judge_verdict(outcome)
        stats = [_stats(judges[0], outcomes)]
        return Grading(mode, verdicts, sent_to_llm=len(unsure), judges=stats)

    items = _judge_items(records, responses)
    primary = judges[0].judge_many(items, progress=progress)
    verdicts = [_judge_verdict(o) for o in primary]
    stats = [_stats(judges[0], primary)]
    if mode is Mode.LLM:
        return Grading(mode, verdicts, sent_to_llm=len(items), judges=stats)

    second = judges[1].judge_many(items, progress=progress)
    stats.append(_stats(judges[1], second))
    disagreements = []
    for record, a, b in zip(records, primary, second):
        label_a, label_b = (
            option_label(o.letter, record.options) if o.resolved else "UNRESOLVED" for o in (a, b)
        )
        if label_a != label_b:
            disagreements.append(
                {
                    "id": record.uid,
                    "question_id": record.question_id,
                    "verdicts": [
                        {"judge": a.model, "verdict": label_a},
                        {"judge": b.model, "verdict": label_b},
                    ],
                    "ground_truth": option_label(record.answer, record.options)
                    if record.answer
                    else record.answer_text,
                    "response": _response_text(responses[record.uid]),
                }
            )
    return Grading(
        mode, verdicts, sent_to_llm=len(items), judges=stats, disagreements=disagreements
    )
