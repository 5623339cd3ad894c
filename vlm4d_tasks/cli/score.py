"""`vlm4d score`: accuracy of model-response files, in the paper's layout.

Reads response files in the official formats (raw or judged; see `vlm4d_tasks.metric.responses`),
decides each answer (`--judge rule|llm|hybrid|crosscheck`, see `vlm4d_tasks.metric.grading`),
scores them (`vlm4d_tasks.metric.scoring`) and writes JSON / Markdown / PNG (`vlm4d_tasks.metric.report`).
The real and synthetic files of one model (same file name, same prompt setting folder) form
one row of the paper's table.

Exit status: 0 when scored (a few unresolved answers are listed, not an error); 2 on bad
input or settings, before any output is written (outputs' missing folders are created first);
3 when the judge's circuit breaker opened: the outputs are written, every answer it left
unresolved is listed with the reason, and a rerun resumes from the judge cache. Every line
printed and every file written passes `judge.redact`, so no API key or URL credential leaks.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any

SCORE_FORMAT_VERSION = 1
EXIT_BAD_INPUT = 2
EXIT_CIRCUIT_OPEN = 3


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="response JSON files")
    parser.add_argument(
        "--annotations",
        metavar="DIR",
        help="folder with real_mc.json / synthetic_mc.json: perspective and "
        "category from the normalized records (default: official rules)",
    )
    parser.add_argument(
        "--subset",
        choices=["real", "synthetic"],
        help="subset of every file (default: from a real_mc*/synthetic_mc* path part)",
    )
    parser.add_argument(
        "--judge",
        default="rule",
        choices=["rule", "llm", "hybrid", "crosscheck"],
        help="rule: extraction only (default, offline); llm: every answer to the "
        "judge; hybrid: the judge only where extraction is unsure; "
        "crosscheck: two judges, disagreements listed",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="with --annotations: leave out entries whose question, option set or ground truth "
        "differs from the annotation (re-lettered options are always graded, as asked)",
    )
    from vlm4d_tasks.cli.build_dataset import add_release_argument

    add_release_argument(parser)
    parser.add_argument("--json", metavar="OUT", help="write the full score JSON here")
    parser.add_argument("--markdown", metavar="OUT", help="write the Markdown table here")
    parser.add_argument("--plot", metavar="OUT.png", help="write the PNG plot here")
    group = parser.add_argument_group("LLM judge (modes llm, hybrid, crosscheck)")
    group.add_argument("--judge-model", help="judge model (default: $VLM4D_JUDGE_MODEL)")
    group.add_argument(
        "--judge-base-url",
        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 "
        "(default: $VLM4D_JUDGE_BASE_URL, else the OpenAI API)",
    )
    group.add_argument(
        "--judge-api-key-env",
        default="VLM4D_JUDGE_API_KEY",
        metavar="VAR",
        help="environment variable holding the API key (default: %(default)s)",
    )
    group.add_argument(
        "--judge-model-2", help="second judge for crosscheck (default: $VLM4D_JUDGE_MODEL_2)"
    )
    group.add_argument(
        "--judge-base-url-2",
        help="second judge's base URL (default: $VLM4D_JUDGE_BASE_URL_2, else the first judge's)",
    )
    group.add_argument(
        "--judge-api-key-env-2",
        metavar="VAR",
        help="environment variable with the second judge's key (default: the first's)",
    )
    group.add_argument(
        "--judge-concurrency", type=_positive_int, default=4, help="requests in flight"
    )
    group.add_argument(
        "--judge-timeout",
        type=_positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="total deadline of one request: connect, send and every read (default: %(default)s)",
    )
    group.add_argument(
        "--judge-retries",
        type=_non_negative_int,
        default=4,
        help="retries of a failed call before the answer is UNRESOLVED (default: %(default)s)",
    )
    group.add_argument(
        "--judge-max-failures",
        type=_non_negative_int,
        default=5,
        metavar="N",
        help="circuit breaker: after N answers in a row ended unresolved, send no more "
        "requests and leave the rest unresolved with the reason; 0 never stops "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--judge-prompt",
        choices=["vlm4d", "official"],
        default=None,
        help="vlm4d: our judge prompt (default); official: the VLM4D evaluation code's judge "
        "instruction, messages and output schema, temperature 1, 1024 tokens "
        "(default: $VLM4D_JUDGE_PROMPT, else vlm4d)",
    )
    group.add_argument(
        "--judge-cache",
        metavar="PATH",
        help="SQLite cache (default: $VLM4D_CACHE_DIR/judge.sqlite or ~/.cache/vlm4d/judge.sqlite)",
    )
    parser.add_argument(
        "--resamples", type=_positive_int, default=1000, help="bootstrap resamples (at least 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap and jitter seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _judges(args: argparse.Namespace, mode) -> tuple[list, Any]:
    from vlm4d_tasks.metric.grading import JUDGES_NEEDED
    from vlm4d_tasks.metric.judge import Judge, JudgeConfigError, JudgeSettings
    from vlm4d_tasks.metric.judge_cache import JudgeCache

    needed = JUDGES_NEEDED[mode]
    if needed == 0:
        return [], None
    common = {
        "concurrency": args.judge_concurrency,
        "timeout": args.judge_timeout,
        "max_retries": args.judge_retries,
        "max_consecutive_failures": args.judge_max_failures,
        "seed": args.seed,
        "prompt": args.judge_prompt,
    }
    first = JudgeSettings.resolve(
        args.judge_model, args.judge_base_url, os.environ.get(args.judge_api_key_env), **common
    )
    settings = [first]
    if needed > 1:
        model_2 = args.judge_model_2 or os.environ.get("VLM4D_JUDGE_MODEL_2")
        if not model_2:
            raise JudgeConfigError(
                "crosscheck needs a second judge; fix: pass --judge-model-2 or set "
                "VLM4D_JUDGE_MODEL_2"
            )
        base_2 = args.judge_base_url_2 or os.environ.get("VLM4D_JUDGE_BASE_URL_2") or first.base_url
        key_2 = (os.environ.get(args.judge_api_key_env_2) if args.judge_api_key_env_2
                 else first.api_key)  # fmt: skip
        settings.append(JudgeSettings.resolve(model_2, base_2, key_2 or "", **common))
    cache = JudgeCache(args.judge_cache)
    return [Judge(s, cache) for s in settings], cache


def _model_name(file) -> str:
    return f"{file.name} ({file.variant})" if file.variant else file.name


def score_files(args: argparse.Namespace) -> dict[str, Any]:
    from vlm4d_tasks.data.official import option_label
    from vlm4d_tasks.metric import responses as rf
    from vlm4d_tasks.metric import scoring
    from vlm4d_tasks.metric.grading import Mode, grade
    from vlm4d_tasks.metric.judge import redact_data

    mode = Mode(args.judge)
    files = [rf.load_response_file(path, args.subset) for path in args.files]
    annotations = None
    if args.annotations:
        from vlm4d_tasks.data.annotations import load_records

        subsets = sorted({f.subset.value for f in files})
        allow = True if getattr(args, "allow_unofficial_annotations", False) else None
        annotations = {
            r.uid: r for r in load_records(args.annotations, subsets, allow_unofficial=allow)
        }

    # Every check that can fail on the input runs before the first judge call.
    seen: set[tuple[str, str]] = set()
    for file in files:
        key = (_model_name(file), file.subset.value)
        if key in seen:
            raise rf.ResponseFileError(
                f"{file.path}: a second {file.subset.value} file for {key[0]}",
                "fix: score the two files in separate runs, or rename one",
            )
        seen.add(key)
    joined = [rf.records_for(file, annotations) for file in files]

    judges, cache = _judges(args, mode)
    runs: list[dict[str, Any]] = []
    model_items: dict[str, list] = {}
    from tqdm import tqdm

    try:
        for file, join in tqdm(
            list(zip(files, joined)), desc="score", unit="file", disable=args.no_progress
        ):
            model = _model_name(file)
            records = join.records
            if getattr(args, "strict", False):
                # Entries asked differently from the annotation are left out, not graded.
                records = [
                    r for r in records if not rf.CHANGED_MEANING & set(join.stale.get(r.uid, ()))
                ]
            answers = {file.uid(r): r.response for r in file.responses}
            reference = (
                {file.uid(r): r.reference_correct for r in file.responses} if file.judged else None
            )
            grading = grade(records, answers, mode, judges, progress=not args.no_progress)
            items = scoring.join(grading.verdicts, records, reference)
            run: dict[str, Any] = {
                "name": file.name,
                "model": model,
                "variant": file.variant,
                "subset": file.subset.value,
                "file": file.path,
            }
            run.update(scoring.score_items(items, n_resamples=args.resamples, seed=args.seed))
            run["grading"] = grading.to_dict()
            if reference is not None:
                by_uid = {file.uid(r): r for r in file.responses}
                run["disagreements"] = [
                    {
                        "id": item.record.uid,
                        "ours": option_label(item.verdict.letter, item.record.options)
                        if item.verdict.status.value != "unresolved"
                        else "UNRESOLVED",
                        "decided_by": item.verdict.decided_by,
                        "reference_extracted": by_uid[item.record.uid].reference_extracted,
                        "reference_correct": item.reference,
                    }
                    for item in items
                    if item.correct is not None and item.correct != item.reference
                ]
            if annotations is not None:
                run["stale"] = rf.stale_summary(join.stale, getattr(args, "strict", False))
            runs.append(run)
            model_items.setdefault(model, []).extend(items)
    finally:
        if cache is not None:
            cache.close()

    table = scoring.paper_table(model_items, n_resamples=args.resamples, seed=args.seed)
    judge: dict[str, Any] = {"mode": mode.value, "models": [j.model for j in judges]}
    if judges:
        judge["endpoints"] = [j.endpoint for j in judges]
        judge["prompt"] = judges[0].settings.prompt
        judge["circuit_open"] = {j.model: j.circuit_open for j in judges if j.circuit_open}
    score = {
        "format_version": SCORE_FORMAT_VERSION,
        "judge": judge,
        "bootstrap": {"resamples": args.resamples, "seed": args.seed, "level": 0.95},
        "annotations": args.annotations,
        "summary": summary(runs),
        "runs": runs,
        "models": [row.to_dict() for row in table],
    }
    # Whatever a judge or a response file echoed, no secret reaches the outputs.
    return redact_data(score)


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
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
        for stats in run["grading"].get("judges", []):
            total = judges.setdefault(
                stats["model"],
                {"answers": 0, "requests": 0, "cached": 0, "unresolved": 0,
                 "unresolved_causes": {}, "tokens": {}},
            )  # fmt: skip
            for key in ("answers", "requests", "cached", "unresolved"):
                total[key] += stats[key]
            causes = Counter(total["unresolved_causes"]) + Counter(stats["unresolved_causes"])
            total["unresolved_causes"] = cause_counts(causes.elements())
            for key, value in stats["tokens"].items():
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
    return out


OUTPUTS = (("json", "--json"), ("markdown", "--markdown"), ("plot", "--plot"))


def prepare_outputs(args: argparse.Namespace) -> None:
    """Before any work: every output's folder exists (created) and is writable."""
    from vlm4d_tasks.metric.report import prepare_output

    for name, option in OUTPUTS:
        if getattr(args, name, None):
            prepare_output(getattr(args, name), option)


def write_outputs(score: dict[str, Any], args: argparse.Namespace) -> str:
    from vlm4d_tasks.metric.judge import redact
    from vlm4d_tasks.metric.report import markdown_report, plot_report, write_output

    markdown = redact(markdown_report(score))
    if getattr(args, "json", None):
        text = redact(json.dumps(score, indent=1, sort_keys=False, ensure_ascii=False))
        write_output(args.json, "--json", text + "\n")
    if getattr(args, "markdown", None):
        write_output(args.markdown, "--markdown", markdown)
    if getattr(args, "plot", None):
        plot_report(score, args.plot)
    return markdown


def summary_line(score: dict[str, Any], seconds: float) -> str:
    """The closing line on stderr: counts, unresolved answers per cause, data problems."""
    total = score["summary"]
    line = (
        f"scored {total['n']} answers in {total['runs']} file(s) in {seconds:.1f} s; "
        f"unresolved: {total['unresolved']}"
    )
    if total["unresolved_causes"]:
        causes = ", ".join(f"{c}: {n}" for c, n in total["unresolved_causes"].items())
        line += f" ({causes}; reasons in the outputs)"
    stale = total.get("stale")
    if stale is not None:
        kinds = ", ".join(f"{k.replace('_', ' ')}: {n}" for k, n in stale["by_kind"].items())
        line += f"; stale entries: {stale['count']}" + (f" ({kinds})" if kinds else "")
        if stale["changed_meaning"]:
            line += f", {stale['changed_meaning']} asked differently from the annotation: " + (
                "left out (--strict)" if stale["excluded"] else "graded as the file asked them"
            )
    if total["ground_truth_unmatched"]:
        line += (
            f"; ground truth matches no option: {total['ground_truth_unmatched']} (counted "
            "wrong; ids in the outputs)"
        )
    return line


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.data.annotations import AnnotationError
    from vlm4d_tasks.metric.judge import JudgeConfigError, JudgeFatalError, redact
    from vlm4d_tasks.metric.judge_cache import JudgeCacheError
    from vlm4d_tasks.metric.report import OutputError
    from vlm4d_tasks.metric.responses import ResponseFileError

    def error(message: object) -> None:
        print(redact(f"vlm4d score: error: {message}"), file=sys.stderr)

    start = time.perf_counter()
    try:
        prepare_outputs(args)
        score = score_files(args)
        markdown = write_outputs(score, args)
    except FileNotFoundError as exc:  # the annotations folder
        error(f"{exc}; fix: check --annotations")
        return EXIT_BAD_INPUT
    except AnnotationError as exc:
        error(f"{exc}; fix: pass the folder of the official real_mc.json / synthetic_mc.json")
        return EXIT_BAD_INPUT
    except (
        ResponseFileError, JudgeConfigError, JudgeFatalError, JudgeCacheError, OutputError
    ) as exc:  # fmt: skip
        error(exc)
        return EXIT_BAD_INPUT
    sys.stdout.write(markdown)
    print("\n" + redact(summary_line(score, time.perf_counter() - start)), file=sys.stderr)
    opened = score["judge"].get("circuit_open") or {}
    if opened:
        for model, reason in opened.items():
            causes = score["summary"]["judges"][model]["unresolved_causes"]
            left = causes.get("circuit open", 0)
            error(
                f"judge {model}: {reason}; {left} answer(s) left unresolved, listed with the "
                "reason in the outputs; fix: check the judge endpoint (or raise --judge-timeout "
                "/ --judge-max-failures) and rerun: judged answers are cached, the rerun resumes"
            )
        return EXIT_CIRCUIT_OPEN
    return 0
