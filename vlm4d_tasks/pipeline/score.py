"""The VLM4D metric, one path: responses -> verdicts -> scored items -> score document.

`vlm4d score` (response files), the lmms-eval tasks (`vlm4d_tasks.lmms.metric`) and
`vlm4d diagnose-probe` (lmms-eval's samples log) all go through here, so that they judge with
the same settings, decide with the same grading (`grading.grade`: extraction, LLM judge,
hybrid, crosscheck), count with the same rules (`scoring`) and write the same document
(`score_document`, rendered by the `report` package). The metric is the paper's (VLM4D, ICCV 2025, Sec. 4):
accuracy over the questions, "No Valid Answer" counted wrong, a judge failure (UNRESOLVED)
left out of the denominator and listed.

1. Judge settings: `judge_config` reads the command-line options and the environment, in
   this one place (an option wins over its variable); `open_judges` makes the judges of a
   mode from it, sharing one cache.
2. Verdicts: `grade_answers` decides `Answer`s (a record and the model's response) in the
   mode and pairs each with its record: `ScoredItem`s.
3. Document: `run_entry` scores the items of one run, `score_document` assembles runs, the
   paper's table, the judge block, the bootstrap settings and the summary;
   `score_response_files` does all of it for response files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vlm4d_tasks import settings as variables
from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric import scoring, stats
from vlm4d_tasks.metric.errata import agreement_with_errata
from vlm4d_tasks.metric.grading import JUDGES_NEEDED, Grading, Mode, grade

SCORE_FORMAT_VERSION = 1

# --------------------------------------------------------------------------------------------
# 1. Judge settings and judges

# The variables, declared in `vlm4d_tasks.settings` (names, parse rules, defaults).
ENV_MODE = variables.JUDGE_MODE.name  # how `vlm4d eval --judge` reaches the lmms-eval process
ENV_MODEL = variables.JUDGE_MODEL.name
ENV_BASE_URL = variables.JUDGE_BASE_URL.name
ENV_API_KEY = variables.JUDGE_API_KEY.name
ENV_MODEL_2 = variables.JUDGE_MODEL_N.prefix + "2"


@dataclass(frozen=True, repr=False)
class JudgeConfig:
    """Everything that decides how answers are judged, resolved once (see `judge_config`).

    Hashable: a run that keeps verdicts keys them by the config that made them.
    """

    mode: str = Mode.RULE.value
    model: str | None = None
    base_url: str | None = None  # may carry credentials: never printed
    api_key: str | None = None
    model_2: str | None = None  # crosscheck's second judge
    base_url_2: str | None = None
    api_key_2: str | None = None
    concurrency: int = 4
    timeout: float = 60.0
    retries: int = 4
    max_failures: int = 5
    prompt: str = "vlm4d"
    cache: str | None = None  # None: `judge_cache.default_cache_path()`
    seed: int = 0  # seeds the retry jitter

    def __repr__(self) -> str:  # no key, no URL credential
        return f"JudgeConfig(mode={self.mode!r}, model={self.model!r}, model_2={self.model_2!r})"


def _option(options: Any, name: str) -> Any:
    if options is None:
        return None
    if isinstance(options, Mapping):
        return options.get(name)
    return getattr(options, name, None)


def _number(value: Any, variable: variables.Variable) -> Any:
    """A number from an option: as argparse checked it, or a string (a mapping of options)
    parsed by its variable's rule."""
    if not isinstance(value, str):
        return value
    return variables.Settings.from_environ({variable.name: value}).value(variable)


def judge_config(
    options: Any = None,
    environ: Mapping[str, str] | None = None,
    *,
    settings: variables.Settings | None = None,
) -> JudgeConfig:
    """The judge settings from command-line `options` (an argparse namespace or a mapping with
    the `vlm4d score` option names: `judge`, `judge_model`, ...; None: none) and the
    environment: `settings` when the caller built them, else those of `environ` (default
    `os.environ`, read now). An option wins over its variable.

    In `rule` mode nothing else is used: no judge is made. Raises `JudgeConfigError` (naming the
    variable) on an unknown mode or prompt or a number out of range.
    """
    from vlm4d_tasks.metric.judge_transport import JudgeConfigError

    env = variables.Settings.from_environ(environ) if settings is None else settings
    try:
        return _judge_config(options, environ, env)
    except variables.SettingsError as exc:
        raise JudgeConfigError(str(exc)) from None


def _judge_config(options: Any, environ: Mapping[str, str] | None, env: variables.Settings):
    from vlm4d_tasks.metric.judge_transport import JudgeConfigError

    def pick(option: str, value: Callable[[], Any]) -> Any:
        given = _option(options, option)
        return given if given is not None else value()

    raw_mode = _option(options, "judge")
    if raw_mode is None:
        mode = Mode(env.judge_mode)
    else:
        try:
            mode = Mode(str(raw_mode).strip().lower())
        except ValueError:
            choices = ", ".join(m.value for m in Mode)
            raise JudgeConfigError(f"--judge={raw_mode!r}: expected one of {choices}") from None
    if JUDGES_NEEDED[mode] == 0:
        return JudgeConfig(mode=mode.value)

    # Keys are read from variables (an option names the variable): never on a command line.
    # A variable named by the option is the user's, not one of ours: read here, from `environ`.
    named = os.environ if environ is None else environ
    key_variable = _option(options, "judge_api_key_env") or ENV_API_KEY
    if key_variable == ENV_API_KEY:
        api_key = env.judge_api_key
    else:
        api_key = named.get(key_variable)
        if api_key is None:
            api_key = env.judge_api_key
    key_variable_2 = _option(options, "judge_api_key_env_2")
    api_key_2 = (named.get(key_variable_2) if key_variable_2 else None) or env.judge_api_key_2
    prompt = pick("judge_prompt", lambda: env.judge_prompt)
    if prompt not in variables.JUDGE_PROMPTS:
        raise JudgeConfigError(
            f"--judge-prompt={prompt!r}: expected one of {', '.join(variables.JUDGE_PROMPTS)}"
        )
    cache = pick("judge_cache", lambda: env.judge_cache)
    return JudgeConfig(
        mode=mode.value,
        model=pick("judge_model", lambda: env.judge_model),
        base_url=pick("judge_base_url", lambda: env.judge_base_url),
        api_key=api_key or None,
        model_2=pick("judge_model_2", lambda: env.judge_model_2),
        base_url_2=pick("judge_base_url_2", lambda: env.judge_base_url_2),
        api_key_2=api_key_2 or None,
        concurrency=_number(pick("judge_concurrency", lambda: env.judge_concurrency),
                            variables.JUDGE_CONCURRENCY),
        timeout=_number(pick("judge_timeout", lambda: env.judge_timeout), variables.JUDGE_TIMEOUT),
        retries=_number(pick("judge_retries", lambda: env.judge_retries), variables.JUDGE_RETRIES),
        max_failures=_number(pick("judge_max_failures", lambda: env.judge_max_failures),
                             variables.JUDGE_MAX_FAILURES),
        prompt=prompt,
        cache=str(cache) if cache else None,
        seed=int(_option(options, "seed") or 0),
    )  # fmt: skip


def judge_settings(config: JudgeConfig) -> list:
    """The `judge.JudgeSettings` of each judge the mode needs (none in `rule` mode)."""
    from vlm4d_tasks.metric.judge_transport import (
        DEFAULT_BASE_URL,
        JudgeConfigError,
        JudgeSettings,
    )

    needed = JUDGES_NEEDED[Mode(config.mode)]
    if needed == 0:
        return []
    if not config.model:
        raise JudgeConfigError(
            f"no judge model: pass --judge-model or set {ENV_MODEL} "
            f"(with the endpoint in --judge-base-url / {ENV_BASE_URL})"
        )
    common = {
        "concurrency": config.concurrency,
        "timeout": config.timeout,
        "max_retries": config.retries,
        "max_consecutive_failures": config.max_failures,
        "seed": config.seed,
        "prompt": config.prompt,
    }
    base_url = config.base_url or DEFAULT_BASE_URL
    settings = [JudgeSettings(model=config.model, base_url=base_url, api_key=config.api_key,
                              **common)]  # fmt: skip
    if needed > 1:
        if not config.model_2:
            raise JudgeConfigError(
                f"crosscheck needs a second judge; fix: pass --judge-model-2 or set {ENV_MODEL_2}"
            )
        settings.append(JudgeSettings(
            model=config.model_2, base_url=config.base_url_2 or base_url,
            api_key=config.api_key_2 or config.api_key, **common,
        ))  # fmt: skip
    return settings


@dataclass
class JudgePanel:
    """The judges of one mode (none in `rule` mode), sharing one cache. Reuse it for a whole
    run (each judge's circuit breaker spans every batch it judges); `close` when done."""

    mode: str
    judges: tuple = ()
    cache: Any = None

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> JudgePanel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def block(self) -> dict[str, Any]:
        """The score document's `judge` block: mode, models, and for a judged run the
        endpoints (without credentials), the prompt and any circuit breaker that opened."""
        out: dict[str, Any] = {"mode": self.mode, "models": [j.model for j in self.judges]}
        if self.judges:
            out["endpoints"] = [j.endpoint for j in self.judges]
            out["prompt"] = self.judges[0].settings.prompt
            out["circuit_open"] = {j.model: j.circuit_open for j in self.judges if j.circuit_open}
        return out


def open_judges(config: JudgeConfig) -> JudgePanel:
    """The judge factory: `judge.Judge`s of `config` over one `judge_cache.JudgeCache`."""
    from vlm4d_tasks.metric.judge import Judge
    from vlm4d_tasks.metric.judge_cache import JudgeCache

    settings = judge_settings(config)
    if not settings:
        return JudgePanel(config.mode)
    cache = JudgeCache(config.cache)
    return JudgePanel(config.mode, tuple(Judge(s, cache) for s in settings), cache)


# --------------------------------------------------------------------------------------------
# 2. Verdicts


@dataclass(frozen=True)
class Answer:
    """One response to one question, as the model was asked it (`record`)."""

    record: Record
    response: object  # the model's output as given (usually a string)
    reference: bool | None = None  # a human-verified label, when the input carries one


def answer_from_item(item: Mapping[str, Any]) -> Answer:
    """The answer of one lmms-eval item (`lmms.metric.process_results`: `record`, `response`),
    also as read back from lmms-eval's samples log. Raises KeyError / TypeError / ValueError on
    an item of another shape."""
    return Answer(Record.from_dict(item["record"]), item["response"])


@dataclass
class Graded:
    items: list[scoring.ScoredItem]  # in the order of the answers
    gradings: list[Grading] = field(default_factory=list)  # one per judging batch


def grade_answers(
    answers: Sequence[Answer], mode: Mode | str, judges: Sequence[Any] = (), *,
    progress: bool = True,
) -> Graded:  # fmt: skip
    """Verdicts for `answers` in `mode` (`grading.grade`), paired with their records.

    `grade` needs one answer per question, so answers that repeat a question (two tasks of a
    run may answer it differently) go into further batches, each sent concurrently; there is
    always at least one batch.
    """
    batches: list[list[int]] = []
    seen: dict[str, int] = {}
    for i, answer in enumerate(answers):
        n = seen[answer.record.uid] = seen.get(answer.record.uid, -1) + 1
        if n == len(batches):
            batches.append([])
        batches[n].append(i)
    items: list[scoring.ScoredItem | None] = [None] * len(answers)
    gradings = []
    for batch in batches or [[]]:
        records = [answers[i].record for i in batch]
        responses = {answers[i].record.uid: answers[i].response for i in batch}
        grading = grade(records, responses, mode, judges, progress=progress)
        reference = {answers[i].record.uid: answers[i].reference for i in batch}
        if all(value is None for value in reference.values()):
            reference = None
        for i, scored in zip(batch, scoring.join(grading.verdicts, records, reference)):
            items[i] = scored
        gradings.append(grading)
    return Graded([item for item in items if item is not None], gradings)


# --------------------------------------------------------------------------------------------
# 3. The score document


def run_entry(
    items: Sequence[scoring.ScoredItem], *, name: str, model: str, variant: str, subset: str,
    file: str | None, grading: Mapping[str, Any], resamples: int, seed: int,
) -> dict[str, Any]:  # fmt: skip
    """One run of the document: who answered (`name`, `model`, `variant`, `subset`, `file`),
    the scores of its items (`scoring.score_items`) and how they were graded."""
    run: dict[str, Any] = {"name": name, "model": model, "variant": variant, "subset": subset,
                           "file": file}  # fmt: skip
    run.update(scoring.score_items(items, n_resamples=resamples, seed=seed))
    run["grading"] = dict(grading)
    # Per question (sorted by id, so the task order of a run does not matter): what paired
    # comparisons of two runs need (`stats.compare`) and what the report's direction
    # confusion matrix needs (`figures.direction_confusion`). `correct` None = unresolved.
    run["outcomes"] = sorted(map(outcome, items), key=lambda entry: entry["id"])
    return run


def outcome(item: scoring.ScoredItem) -> dict[str, Any]:
    """One question's outcome in a run: `id`, `correct` (None: unresolved), `video`, `truth`
    (the ground-truth text) and `chosen` (the text of the option chosen, as the model was
    shown the options; None for no valid answer or unresolved).

    Texts, not letters: a response file may letter its options otherwise than the annotation,
    and the score document keeps no options, so a letter could not be read back."""
    letter = item.verdict.letter
    index = scoring.LETTERS.index(letter) if letter is not None else None
    chosen = (
        item.record.options[index] if index is not None and index < len(item.record.options)
        else None
    )  # fmt: skip
    return {
        "id": item.record.uid, "correct": item.correct, "video": item.record.video,
        "truth": item.record.answer_text, "chosen": chosen,
    }  # fmt: skip


def summary(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals over all runs; agreement pooled over every answer with a reference label."""
    from collections import Counter

    from vlm4d_tasks.metric.judge import cause_counts

    out: dict[str, Any] = {
        "runs": len(runs),
        "n": sum(r["n"] for r in runs),
        "no_valid_answer": sum(r["no_valid_answer"] for r in runs),
        "unresolved": sum(r["unresolved"] for r in runs),
        "unresolved_causes": cause_counts(
            a["cause"] for r in runs for a in r["unresolved_answers"]
        ),
        "ground_truth_unmatched": sum(r["ground_truth_unmatched"] for r in runs),
    }
    if any("stale" in r for r in runs):
        by_kind: Counter[str] = Counter()
        for r in runs:
            by_kind.update(r.get("stale", {}).get("by_kind", {}))
        out["stale"] = {
            "count": sum(r.get("stale", {}).get("count", 0) for r in runs),
            "changed_meaning": sum(r.get("stale", {}).get("changed_meaning", 0) for r in runs),
            "by_kind": dict(sorted(by_kind.items())),
            "excluded": any(r.get("stale", {}).get("excluded") for r in runs),
        }
    judges: dict[str, dict[str, Any]] = {}
    for run in runs:
        for judge_stats in run["grading"].get("judges", []):
            total = judges.setdefault(
                judge_stats["model"],
                {"answers": 0, "requests": 0, "cached": 0, "unresolved": 0,
                 "unresolved_causes": {}, "tokens": {}},
            )  # fmt: skip
            for key in ("answers", "requests", "cached", "unresolved"):
                total[key] += judge_stats[key]
            causes = Counter(total["unresolved_causes"]) + Counter(judge_stats["unresolved_causes"])
            total["unresolved_causes"] = cause_counts(causes.elements())
            for key, value in judge_stats["tokens"].items():
                total["tokens"][key] = total["tokens"].get(key, 0) + value
    if judges:
        out["sent_to_llm"] = sum(r["grading"].get("sent_to_llm", 0) for r in runs)
        out["judges"] = judges
    judged = [r for r in runs if r.get("agreement") is not None]
    if judged:
        compared = sum(r["agreement_n"] for r in judged)
        agreeing = sum(r["agreement_n"] - len(r["disagreement_ids"]) for r in judged)
        worst = min(judged, key=lambda r: r["agreement"])
        out["agreement"] = round(agreeing / compared, 6)
        out["agreement_n"] = compared
        out["agreement_min"] = {"run": f"{worst['subset']}/{worst['model']}",
                                "agreement": worst["agreement"]}  # fmt: skip
        covered = [r for r in judged if r.get("errata")]
        if covered:
            # The known errata applied (`metric.errata`): the covered runs' answers compared
            # with the corrected labels, the others' as measured.
            pooled = sum(r["errata"]["agreement_n"] if r.get("errata") else r["agreement_n"]
                         for r in judged)  # fmt: skip
            wrong = sum(r["errata"]["disagreements"] if r.get("errata")
                        else len(r["disagreement_ids"]) for r in judged)  # fmt: skip
            out["agreement_with_errata"] = round(1 - wrong / pooled, 6) if pooled else None
            out["errata_runs"] = len(covered)
    return out


def score_document(
    runs: Sequence[dict[str, Any]],
    models: Mapping[str, Sequence[scoring.ScoredItem]],
    *,
    judge: Mapping[str, Any],
    resamples: int = stats.DEFAULT_RESAMPLES,
    seed: int = stats.DEFAULT_SEED,
    annotations: str | None = None,
    run: Mapping[str, Any] | None = None,
    judge_batches: Iterable[Mapping[str, Any]] | None = None,
    validity: bool = True,
    records: Sequence[Record] | None = None,
    comparisons: bool = True,
) -> dict[str, Any]:
    """The score JSON of `vlm4d score` and of an lmms-eval run: format version, judge block
    (`JudgePanel.block`), bootstrap settings, the annotations folder, the summary, the runs
    (`run_entry`) and the paper's table (one row per model of `models`, in its order). An
    lmms-eval run adds its metadata (`run`) and its judge batches. With `validity`, the
    benchmark questions also get the baseline rows (random, the blind option-text prior) and
    every row its accuracy on the debiased set (`validity.baselines`), over `records` (the
    annotations the answers were joined to) when given. With `comparisons`, the paired
    comparisons the report makes unasked (`paired_comparisons`). Every string passes
    `redact.redact`, so no key or URL credential a judge or a file echoed reaches an output."""
    from vlm4d_tasks.metric.redact import redact_data

    table = scoring.paper_table(models, n_resamples=resamples, seed=seed)
    document: dict[str, Any] = {
        "format_version": SCORE_FORMAT_VERSION,
        "judge": dict(judge),
        "bootstrap": {
            "resamples": resamples,
            "seed": seed,
            "level": stats.CI_LEVEL,
            "clusters": "video",
        },  # fmt: skip
        "annotations": annotations,
        "summary": summary(runs),
        "runs": list(runs),
        "models": [row.to_dict() for row in table],
    }
    if validity:
        from vlm4d_tasks.validity.baselines import validity_block

        block = validity_block(models, resamples=resamples, seed=seed, records=records)
        if block is not None:
            document["validity"] = block
    if comparisons:
        document["comparisons"] = paired_comparisons(document, resamples=resamples, seed=seed)
    if run is not None:
        document["run"] = dict(run)
    if judge_batches is not None:
        document["judge_batches"] = list(judge_batches)
    document = redact_data(document)
    # Checked against its declaration as written (not re-serialised: the bytes stay the
    # writer's), so that a writer drifting from the declaration fails here, in the tests.
    from vlm4d_tasks.pipeline.document import check_written

    check_written(document)
    return document


def paired_comparisons(
    document: Mapping[str, Any], *, resamples: int, seed: int
) -> list[dict[str, Any]]:
    """The paired comparisons of the document's rows that `vlm4d report` makes unasked
    (`rows.default_pairs`: each model's settings against each other, and each row
    against the next one down): McNemar's exact p and a video-clustered bootstrap interval
    of the difference, on the questions both rows answered."""
    from vlm4d_tasks.pipeline.rows import Source, compare_rows, default_pairs, measured_rows

    pairs = default_pairs(measured_rows([Source("<this score>", dict(document))]))
    return [c.to_dict() for c in compare_rows(pairs, resamples=resamples, seed=seed)]


def score_json(score: Mapping[str, Any]) -> str:
    """The score document as written to a file (redacted, one trailing newline)."""
    import json

    from vlm4d_tasks.metric.judge import redact

    # allow_nan=False: NaN is not JSON, and every reader of the document (vlm4d report,
    # others' tools) would have to guess what it means.
    return (
        redact(json.dumps(score, indent=1, ensure_ascii=False, default=str, allow_nan=False)) + "\n"
    )


# --------------------------------------------------------------------------------------------
# Response files (`vlm4d score`)


def model_name(file: Any) -> str:
    """A response file's row in the table: its name and prompt setting, "gpt-4o (cot)"."""
    return f"{file.name} ({file.variant})" if file.variant else file.name


def _disagreements(items: Sequence[scoring.ScoredItem], file: Any) -> list[dict[str, Any]]:
    """The answers whose verdict differs from the file's reference label."""
    from vlm4d_tasks.data.official import option_label

    by_uid = {file.uid(r): r for r in file.responses}
    return [
        {
            "id": item.record.uid,
            "ours": "UNRESOLVED" if item.correct is None
            else option_label(item.verdict.letter, item.record.options),
            "decided_by": item.verdict.decided_by,
            "reference_extracted": by_uid[item.record.uid].reference_extracted,
            "reference_correct": item.reference,
        }
        for item in items
        if item.correct is not None and item.correct != item.reference
    ]  # fmt: skip


def score_response_files(
    paths: Sequence[str],
    config: JudgeConfig,
    *,
    subset: str | None = None,
    annotations: str | None = None,
    strict: bool = False,
    allow_unofficial: bool | None = None,
    resamples: int = stats.DEFAULT_RESAMPLES,
    seed: int = stats.DEFAULT_SEED,
    progress: bool = True,
    model: str | None = None,
    protocol: str | None = None,
) -> dict[str, Any]:
    """The score document of response files (`responses.load_inputs`: the official formats,
    lmms-eval's samples log, a `{uid: answer}` mapping): one run per file and subset, one
    table row per model (the real and synthetic files of one name and prompt setting). With
    `annotations` each answer is joined to its record (stale entries listed; with `strict`
    the ones asked differently are left out). `model` and `protocol` declare what produced
    the answers (`--model-name`, `--protocol`): `model` names every file's row, and both are
    recorded in the document's `produced_by`. Every check of the input runs before the first
    judge call."""
    from tqdm import tqdm

    from vlm4d_tasks.metric import responses as rf

    # Each path may hold several runs (a mapping or samples log of two subsets).
    loaded = [item for path in paths for item in rf.load_inputs(path, subset)]
    annotated = None
    if annotations:
        from vlm4d_tasks.data.annotations import load_records

        subsets = sorted({f.subset.value for f in loaded})
        annotated = {
            r.uid: r for r in load_records(annotations, subsets, allow_unofficial=allow_unofficial)
        }
    files = [rf.resolve(item, annotated) for item in loaded]
    if model:
        from dataclasses import replace

        files = [replace(file, name=model) for file in files]
    seen: set[tuple[str, str]] = set()
    for file in files:
        key = (model_name(file), file.subset.value)
        if key in seen:
            raise rf.ResponseFileError(
                f"{file.path}: a second {file.subset.value} file for {key[0]}",
                "fix: score the two files in separate runs, or rename one",
            )
        seen.add(key)
    joined = [rf.records_for(file, annotated) for file in files]
    for file, join in zip(files, joined):
        rf.check_ground_truths(file, join.records)

    runs: list[dict[str, Any]] = []
    models: dict[str, list[scoring.ScoredItem]] = {}
    with open_judges(config) as panel:
        for file, join in tqdm(
            list(zip(files, joined)), desc="score", unit="file", disable=not progress
        ):
            records = join.records
            if strict:
                # Entries asked differently from the annotation are left out, not graded.
                records = [
                    r for r in records if not rf.CHANGED_MEANING & set(join.stale.get(r.uid, ()))
                ]
            by_uid = {file.uid(r): r for r in file.responses}
            # `judged` scans the whole file: asked once per file, not once per answer (asked
            # per answer it made scoring quadratic in the file's entries).
            judged = file.judged
            answers = [
                Answer(r, by_uid[r.uid].response,
                       by_uid[r.uid].reference_correct if judged else None)
                for r in records
            ]  # fmt: skip
            graded = grade_answers(answers, config.mode, panel.judges, progress=progress)
            run = run_entry(
                graded.items, name=file.name, model=model_name(file), variant=file.variant,
                subset=file.subset.value, file=file.path, grading=graded.gradings[0].to_dict(),
                resamples=resamples, seed=seed,
            )  # fmt: skip
            if file.letter_answers:
                run["ground_truth_letters"] = file.letter_answers
            if judged:
                run["disagreements"] = _disagreements(graded.items, file)
                corrected = agreement_with_errata(
                    graded.items, {file.uid(r): (r.question_id, r.response) for r in file.responses}
                )
                if corrected is not None:
                    run["errata"] = corrected
            if annotated is not None:
                run["stale"] = rf.stale_summary(join.stale, strict)
            runs.append(run)
            models.setdefault(model_name(file), []).extend(graded.items)
    document = score_document(
        runs, models, judge=panel.block(), resamples=resamples, seed=seed,
        annotations=annotations, records=None if annotated is None else list(annotated.values()),
    )  # fmt: skip
    if model or protocol:
        from vlm4d_tasks.metric.redact import redact_data

        # only when declared: a document without them keeps its bytes
        document["produced_by"] = redact_data({"model": model, "protocol": protocol})
    return document


# --------------------------------------------------------------------------------------------
# Table rows (the lmms-eval tasks)


def rows_to_runs(
    rows: Mapping[str, Sequence[scoring.ScoredItem]], label: str, mode: str, *,
    resamples: int = stats.DEFAULT_RESAMPLES, seed: int = stats.DEFAULT_SEED,
) -> tuple[list[dict[str, Any]], dict[str, list[scoring.ScoredItem]]]:  # fmt: skip
    """The runs and table rows of named groups of items (an lmms-eval run's tasks): one table
    row `label [row]` per group, one run per group and subset, sorted by name so that the
    table does not depend on the order the tasks ran in. A run's `grading` counts the answers
    a judge decided (its batches span tasks, so their statistics are listed apart)."""
    runs: list[dict[str, Any]] = []
    models: dict[str, list[scoring.ScoredItem]] = {}
    for row, group in sorted(rows.items()):
        items = list(group)
        name = f"{label} [{row}]"
        models[name] = items
        for subset in sorted({it.record.subset for it in items}):
            part = [it for it in items if it.record.subset == subset]
            grading: dict[str, Any] = {"mode": mode}
            if mode != Mode.RULE.value:
                grading["sent_to_llm"] = sum(
                    it.verdict.decided_by.startswith("judge:") for it in part
                )
            runs.append(run_entry(part, name=row, model=name, variant=row, subset=subset,
                                  file=None, grading=grading, resamples=resamples, seed=seed))  # fmt: skip
    return runs, models
