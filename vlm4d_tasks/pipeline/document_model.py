"""The score document, declared once: what `pipeline.score.score_document` writes (`vlm4d
score --json`, an lmms-eval run's `*_vlm4d_score.json`) and what every reader may rely on.

`document.check_score` validates a document against `ScoreDocument` (when it is written and
when it is read back) and turns the first problem into a message naming the file and the
field; `document.score_schema` is its JSON Schema, shipped as `score_document.schema.json`.

The rules of the declaration:

* Strict types: `"7"` is not a count, `1` is not `true`, a float is not a whole number; a
  number is finite (NaN and Infinity are not JSON).
* Every field the report reads is typed, with its range (counts 0 to `MAX_COUNT`, accuracies
  0 to 1, intervals `[low, high]` ordered, resamples 1 to `MAX_RESAMPLES`, chance-corrected
  accuracy from -1/3). Fields the report does not read are declared by name and left
  unchecked (`Unchecked`): a foreign or hand-edited file may hold anything there without
  being refused for it.
* Fields that older documents lack are optional; `= None` on a field whose type has no null
  means "may be absent", not "may be null".
* Unknown keys are allowed (`extra="allow"`) at every level: a reader of others' files (a
  newer writer, a tool that annotates the file) must not refuse what it does not use.

`Want` markers carry the words of the error messages ("a whole number", "from 0 to
10,000,000") beside the constraint they describe, so that the message and the check cannot
drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

# The bounds live in `document` (the command line reads them without importing pydantic).
from vlm4d_tasks.pipeline.document import CHANCE_FLOOR, MAX_COUNT, MAX_RESAMPLES


@dataclass(frozen=True)
class Want:
    """What a field holds, in the words of an error message: `what` for a value of the wrong
    type ("expected a whole number, got '7'"), `limits` added for one out of range ("expected
    a whole number from 0 to 10,000,000, got -5"). `whole`: a problem inside the value (an
    item of a `[low, high]` pair) is reported on the value itself."""

    what: str
    limits: str = ""
    whole: bool = False


def _ordered(pair: list[float]) -> list[float]:
    if pair[0] > pair[1]:
        raise PydanticCustomError("vlm4d_order", "low above high")
    return pair


# The kinds of field: each the pydantic constraint (hence the JSON Schema) and its words.
Count = Annotated[
    int, Field(ge=0, le=MAX_COUNT), Want("a whole number", f"from 0 to {MAX_COUNT:,}")
]
Resamples = Annotated[
    int, Field(ge=1, le=MAX_RESAMPLES), Want("a whole number", f"from 1 to {MAX_RESAMPLES:,}")
]
Seed = Annotated[int, Field(ge=0), Want("a whole number", "of at least 0")]  # numpy's are >= 0
Size = Annotated[float, Field(ge=0), Want("a number", "of at least 0")]
Fraction = Annotated[float, Field(ge=0, le=1), Want("a number", "from 0 to 1")]
Level = Annotated[float, Field(gt=0, lt=1), Want("a number", "between 0 and 1")]
Difference = Annotated[float, Field(ge=-1, le=1), Want("a number", "from -1 to 1")]
Chance = Annotated[float, Field(ge=CHANCE_FLOOR, le=1), Want("a number", "from -1/3 to 1")]
Interval = Annotated[
    list[Fraction], Field(min_length=2, max_length=2), AfterValidator(_ordered),
    Want("[low, high]", "with 0 <= low <= high <= 1", whole=True),
]  # fmt: skip
DifferenceInterval = Annotated[
    list[Difference], Field(min_length=2, max_length=2), AfterValidator(_ordered),
    Want("[low, high]", "with -1 <= low <= high <= 1", whole=True),
]  # fmt: skip
Text = str
Texts = list[str]


def Unchecked(description: str) -> Any:  # noqa: N802 (used like a type)
    """A field the report does not read: declared by name, any value accepted (NaN is still
    refused by `document.load_score`, since no output may inherit it)."""
    return Field(default=None, description=f"{description} Not read back: not checked.")


def _missing(field: str) -> PydanticCustomError:
    return PydanticCustomError("vlm4d_missing", "{field}: missing", {"field": field})


def _problem(field: str, problem: str) -> PydanticCustomError:
    return PydanticCustomError(
        "vlm4d_problem", "{field}: {problem}", {"field": field, "problem": problem}
    )


class Part(BaseModel):
    """Every object of the document: strict, finite, open to unknown keys (see the module
    docstring). Built on first use (`defer_build`): importing the declaration does no work."""

    model_config = ConfigDict(
        strict=True, extra="allow", allow_inf_nan=False, protected_namespaces=(),
        defer_build=True,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Accuracy cells (`scoring.Accuracy.to_dict`)


class Cell(Part):
    """An accuracy as a column of a table row: `n` may be absent (older tables' columns)."""

    accuracy: Fraction | None = Field(description="correct / scored; null when none scored")
    n: Count = Field(None, description="questions")
    ci95: Interval | None = Field(None, description="95% interval, clustered by video")
    chance_corrected: Chance | None = Field(None, description="(accuracy - 1/4) / (3/4)")
    scored: Count = Field(None, description="n - unresolved")
    correct: Count = None
    unresolved: Count = None
    no_valid_answer: Count = None
    videos: Count | None = Field(None, description="clusters of the interval")

    @model_validator(mode="after")
    def _parts_within_wholes(self) -> Cell:
        # The figures and the leaderboard count right answers out of scored ones (n -
        # unresolved when `scored` is not recorded): each count within the one it is part of.
        total = self.n
        scored = self.scored if "scored" in self.model_fields_set else total
        for key, part, whole in (
            ("scored", self.scored, total),
            ("unresolved", self.unresolved, total),
            ("correct", self.correct, scored),
        ):
            if part is not None and whole is not None and part > whole:
                raise _problem(key, f"{part} is more than the {whole} it is part of")
        return self


class Accuracy(Cell):
    """An accuracy with its question count (`scoring.Accuracy.to_dict`)."""

    n: Count = Field(description="questions")


# --------------------------------------------------------------------------------------------
# Runs (`pipeline.score.run_entry`)


class UnresolvedAnswer(Part):
    id: Text
    reason: Text = Field(description="the judge's or the rule's evidence")
    cause: Text = Field(None, description="why it is unresolved (`judge.cause_counts` keys)")
    decided_by: Any = Unchecked("Who left it unresolved (`judge:<model>`).")


class JudgeTokens(Part):
    total: Count = None
    prompt: Any = Unchecked("Prompt tokens.")
    completion: Any = Unchecked("Completion tokens.")
    cached_total: Any = Unchecked("Tokens of cached verdicts.")


class JudgeStats(Part):
    """One judge's statistics in one run (`judge.JudgeStats.to_dict`)."""

    model: Text
    requests: Count
    cached: Count
    unresolved: Count
    tokens: JudgeTokens
    endpoint: Any = Unchecked("The base URL, without credentials.")
    answers: Any = Unchecked("Answers sent to it.")
    judged: Any = Unchecked("Answers it judged afresh.")
    unresolved_ids: Any = Unchecked("The ids it left unresolved.")
    unresolved_causes: Any = Unchecked("Unresolved answers per cause.")


class Grading(Part):
    """How a run (or an lmms-eval judge batch) was graded (`grading.Grading.to_dict`)."""

    mode: Text = Field(None, description="rule, llm, hybrid, crosscheck or dsr-suite")
    sent_to_llm: Count = None
    judges: list[JudgeStats] = None
    disagreements: list[dict[str, Any]] = Field(None, description="crosscheck's disagreements")


class StaleEntry(Part):
    id: Text
    kinds: Texts


class Stale(Part):
    """Answers whose question differs from the annotation (`responses.stale_summary`)."""

    count: Count
    by_kind: dict[str, Count]
    entries: list[StaleEntry]
    changed_meaning: Count = None
    excluded: bool = Field(None, description="left out with --strict")


class Outcome(Part):
    """One question's outcome (`pipeline.score.outcome`): what paired comparisons and the
    direction confusion matrix read."""

    id: Text
    correct: bool | None = Field(description="null: unresolved")
    video: Text | None = None
    truth: Text | None = Field(None, description="the ground truth's option text")
    chosen: Text | None = Field(None, description="the chosen option's text")


class Errata(Part):
    """A run's agreement with its reference labels once the known errata are applied
    (`metric.errata.agreement_with_errata`)."""

    entries: Count
    ours_wrong: Count
    reference_wrong: Count
    ambiguous: Count
    disputed: Count = Field(0, description="classified differently by the errata's two readers")
    agreement: Fraction | None
    agreement_n: Count
    disagreements: Count
    reference_accuracy: Fraction = Field(description="the reference's, its known errors corrected")


class Run(Accuracy):
    """One scored run: a response file, or one row and subset of an lmms-eval run."""

    subset: Text
    model: Text = Field(description="its row of the table")
    name: Text | None = None
    variant: Text | None = None
    file: Text | None = None
    no_valid_answer: Count
    unresolved: Count
    reference_accuracy: Fraction | None = None
    agreement: Fraction | None = Field(None, description="with the file's reference labels")
    agreement_n: Count = None
    ground_truth_unmatched: Count = None
    ground_truth_unmatched_ids: Texts = None
    unresolved_ids: Texts = None
    disagreement_ids: Texts = None
    unresolved_answers: list[UnresolvedAnswer] = None
    by_perspective: dict[str, Accuracy] = None
    by_category: dict[str, Accuracy] = None
    grading: Grading = None
    stale: Stale = None
    outcomes: list[Outcome] = None
    disagreements: Any = Unchecked("The answers judged otherwise than the file's labels.")
    errata: Errata | None = Field(None, description="the known errata applied (metric.errata)")
    ground_truth_letters: Count = Field(
        None, description="ground truths given as a letter (A-D), read as that option's text"
    )


# --------------------------------------------------------------------------------------------
# The table, the summary, the comparisons


class Row(Part):
    """One row of the paper's table (`scoring.PaperRow.to_dict`)."""

    model: Text
    columns: dict[str, Cell]


class JudgeBlock(Part):
    """How answers were judged (`pipeline.score.JudgePanel.block`)."""

    mode: Text = None
    prompt: Text = None
    models: Texts = None
    endpoints: Any = Unchecked("The judges' base URLs, without credentials.")
    circuit_open: Any = Unchecked("The judges whose circuit breaker opened.")


class Bootstrap(Part):
    resamples: Resamples = None
    seed: Seed = None
    level: Level = None
    clusters: Text | None = Field(None, description="what the intervals resample (video)")


class JudgeTotals(Part):
    requests: Count
    cached: Count
    unresolved: Count
    tokens: JudgeTokens
    answers: Any = Unchecked("Answers sent to it.")
    unresolved_causes: Any = Unchecked("Unresolved answers per cause.")


class Worst(Part):
    run: Text
    agreement: Fraction


class Summary(Part):
    """Totals over the runs (`pipeline.score.summary`)."""

    agreement: Fraction | None = None
    agreement_n: Count = None
    agreement_min: Worst = None
    agreement_with_errata: Fraction | None = Field(
        None, description="the agreement once the known errata (metric.errata) are applied"
    )
    errata_runs: Count = Field(None, description="runs with an answer the errata cover")
    sent_to_llm: Count = None
    judges: dict[str, JudgeTotals] = None
    runs: Any = Unchecked("Runs.")
    n: Any = Unchecked("Questions over all runs.")
    no_valid_answer: Any = Unchecked("No valid answers over all runs.")
    unresolved: Any = Unchecked("Unresolved answers over all runs.")
    unresolved_causes: Any = Unchecked("Unresolved answers per cause.")
    ground_truth_unmatched: Any = Unchecked("Questions whose answer matches no option.")
    stale: Any = Unchecked("Stale answers over all runs.")

    @model_validator(mode="after")
    def _totals_complete(self) -> Summary:
        if self.agreement is not None:
            for key in ("agreement_n", "agreement_min"):
                if key not in self.model_fields_set:
                    raise _missing(key)
        if self.judges and "sent_to_llm" not in self.model_fields_set:
            raise _missing("sent_to_llm")
        return self


class Comparison(Part):
    """A paired comparison (`stats.Comparison.to_dict`); one with `why` was not made, and
    then has no numbers to check."""

    a: Text
    b: Text
    n: Count
    why: Text = Field(None, description="why no comparison could be made")
    a_accuracy: Fraction | None = None
    b_accuracy: Fraction | None = None
    difference: Difference | None = Field(None, description="A - B")
    ci95: DifferenceInterval | None = Field(None, description="paired bootstrap, by video")
    p_value: Fraction = Field(None, description="McNemar exact, two-sided")
    videos: Any = Unchecked("Videos of the questions both answered.")
    a_only: Any = Unchecked("Questions A answered right and B wrong.")
    b_only: Any = Unchecked("Questions B answered right and A wrong.")
    test: Any = Unchecked("The test's name.")
    interval: Any = Unchecked("The interval's method.")

    @model_validator(mode="after")
    def _made(self) -> Comparison:
        if self.why:
            return self
        for key in ("a_accuracy", "b_accuracy", "difference", "p_value"):
            if key not in self.model_fields_set:
                raise _missing(key)
        for key, want in (("a_accuracy", "a number"), ("b_accuracy", "a number"),
                          ("difference", "a number from -1 to 1")):  # fmt: skip
            if getattr(self, key) is None:
                raise _problem(key, f"expected {want}, got None")
        return self


# --------------------------------------------------------------------------------------------
# An lmms-eval run's metadata (`lmms.run.Run.metadata`)


class Protocol(Part):
    """Which protocol each table row used, and how (`lmms.protocol_run.describe_run`)."""

    rows: dict[str, Text] = Field(None, description="table row -> protocol")
    decoding: dict[str, dict[str, Any]] = Field(None, description="protocol -> decoding")
    model_frame_args: dict[str, Any] | None = None
    seed: dict[str, Any] | None = None


class AnnotationFile(Part):
    name: Text | None = None
    sha256: Text | None = None


class Provenance(Part):
    files: list[AnnotationFile] = None


class Dataset(Part):
    folder: Text | None = None
    annotations: Provenance | None = None


class RunBlock(Part):
    """What the report's protocol lines and the probe folder search read of a run."""

    model: Text | None = None
    model_args: Text | None = None
    limit: Size | None = Field(None, description="lmms-eval's --limit: a count or a fraction")
    protocol: Protocol | None = None
    dataset: Dataset | None = None
    seed: Any = Unchecked("lmms-eval's --seed.")


# --------------------------------------------------------------------------------------------
# The validity block (`validity.baselines.validity_block`)


class RandomRemoved(Part):
    """The control of the debiased column: as many questions removed at random from each
    subset and category (the mean, min and max over the seeds)."""

    accuracy: Fraction
    min: Fraction
    max: Fraction
    seeds: Any = Unchecked("The seeds of the removals.")


class DebiasedSet(Part):
    version: Text
    kept: Count
    of: Count
    subsets: dict[str, Text]


class ValidityModel(Part):
    debiased: Accuracy | None = None
    random_removed: RandomRemoved | None = None


class Baseline(Row):
    """A row that needs no video (random, the option-text prior, the text-only predictor):
    the paper's columns. The blind rows are fitted on the questions they answer (in-sample)."""

    columns: dict[str, Accuracy]
    debiased: Accuracy | None = None
    random_removed: RandomRemoved | None = None


class VersusIdentity(Part):
    """A re-encoded row (mirror, reverse) against the same model's identity row, the re-encode
    control: `base_accuracy` is the identity row's, over the paired questions."""

    row: Text
    paired: Count
    resolved: Count
    base_accuracy: Fraction | None
    variant_accuracy: Fraction | None
    consistency: Fraction | None


class Consistency(Part):
    """A row of transformed questions against its base row (`validity.baselines.consistency`)."""

    variant: Text
    row: Text
    model: Text | None = Field(description="the base row; null: the run has none")
    n: Count
    base_accuracy: Fraction | None = None
    variant_accuracy: Fraction | None = None
    consistency: Fraction | None = None
    agreement: Fraction | None = Field(
        None, description="identity row: share of paired questions with the base row's outcome"
    )
    versus_identity: VersusIdentity = None


class Validity(Part):
    """The debiased set, each row's debiased accuracy and the baseline rows; a run of
    transformed questions only has `consistency` alone."""

    debiased: DebiasedSet = None
    models: dict[str, ValidityModel] = None
    baselines: list[Baseline] = None
    consistency: list[Consistency] = None

    @model_validator(mode="after")
    def _whole_or_consistency_only(self) -> Validity:
        given = self.model_fields_set & {"debiased", "models", "baselines"}
        if given:
            for key in ("debiased", "models", "baselines"):
                if key not in given:
                    raise _missing(key)
        return self


# --------------------------------------------------------------------------------------------
# The document


class ProducedBy(Part):
    """What made the answers, as the user declared it (`vlm4d score --model-name/--protocol`)."""

    model: str | None = None
    protocol: str | None = None


class ScoreDocument(Part):
    """A score document of VLM4D (`vlm4d score --json`, an lmms-eval run's
    `*_vlm4d_score.json`): the runs, the paper's table and how they were made."""

    format_version: Any = Unchecked("The document's format version (1).")
    judge: JudgeBlock = None
    bootstrap: Bootstrap = None
    annotations: Any = Unchecked("The annotations folder the answers were joined to.")
    runs: list[Run]
    models: list[Row] = Field(description="the paper's table, one row per model")
    summary: Summary = None
    comparisons: list[Comparison] = None
    run: RunBlock | None = Field(None, description="an lmms-eval run's metadata")
    judge_batches: list[Grading] = Field(None, description="an lmms-eval run's judge batches")
    validity: Validity | None = None
    produced_by: ProducedBy | None = Field(
        None, description="declared with --model-name/--protocol"
    )
