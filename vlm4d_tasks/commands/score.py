"""`vlm4d score`: accuracy of model-response files, in the paper's layout.

Reads response files in the official formats (raw or judged; see `vlm4d_tasks.responses`),
decides each answer (`--judge rule|llm|hybrid|crosscheck`, see `vlm4d_tasks.grading`),
scores them (`vlm4d_tasks.scoring`) and writes JSON / Markdown / PNG (`vlm4d_tasks.report`).
The real and synthetic files of one model (same file name, same prompt setting folder) form
one row of the paper's table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

SCORE_FORMAT_VERSION = 1


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
    group.add_argument("--judge-concurrency", type=int, default=4, help="requests in flight")
    group.add_argument("--judge-timeout", type=float, default=60.0, help="seconds per request")
    group.add_argument(
        "--judge-retries",
        type=int,
        default=4,
        help="retries of a failed call before the answer is UNRESOLVED",
    )
    group.add_argument(
        "--judge-cache",
        metavar="PATH",
        help="SQLite cache (default: $VLM4D_CACHE_DIR/judge.sqlite or ~/.cache/vlm4d/judge.sqlite)",
    )
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap and jitter seed")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _judges(args: argparse.Namespace, mode) -> tuple[list, Any]:
    from vlm4d_tasks.grading import JUDGES_NEEDED
    from vlm4d_tasks.judge import Judge, JudgeSettings
    from vlm4d_tasks.judge_cache import JudgeCache

    needed = JUDGES_NEEDED[mode]
    if needed == 0:
        return [], None
    common = {
        "concurrency": args.judge_concurrency,
        "timeout": args.judge_timeout,
        "max_retries": args.judge_retries,
        "seed": args.seed,
    }
    first = JudgeSettings.resolve(
        args.judge_model, args.judge_base_url, os.environ.get(args.judge_api_key_env), **common
    )
    settings = [first]
    if needed > 1:
        model_2 = args.judge_model_2 or os.environ.get("VLM4D_JUDGE_MODEL_2")
        if not model_2:
            raise SystemExit(
                "crosscheck needs a second judge: --judge-model-2 or VLM4D_JUDGE_MODEL_2"
            )
        base_2 = args.judge_base_url_2 or os.environ.get("VLM4D_JUDGE_BASE_URL_2") or first.base_url
        key_2 = (os.environ.get(args.judge_api_key_env_2) if args.judge_api_key_env_2
                 else first.api_key)  # fmt: skip
        settings.append(JudgeSettings.resolve(model_2, base_2, key_2 or "", **common))
    cache = JudgeCache(args.judge_cache)
    return [Judge(s, cache) for s in settings], cache


def score_files(args: argparse.Namespace) -> dict[str, Any]:
    from vlm4d_tasks import responses as rf
    from vlm4d_tasks import scoring
    from vlm4d_tasks.grading import Mode, grade
    from vlm4d_tasks.official import option_label

    mode = Mode(args.judge)
    files = [rf.load_response_file(path, args.subset) for path in args.files]
    annotations = None
    if args.annotations:
        from vlm4d_tasks.annotations import load_records

        subsets = sorted({f.subset.value for f in files})
        annotations = {r.uid: r for r in load_records(args.annotations, subsets)}

    judges, cache = _judges(args, mode)
    runs: list[dict[str, Any]] = []
    model_items: dict[str, list] = {}
    seen: set[tuple[str, str]] = set()
    from tqdm import tqdm

    try:
        for file in tqdm(files, desc="score", unit="file", disable=args.no_progress):
            model = f"{file.name} ({file.variant})" if file.variant else file.name
            if (model, file.subset.value) in seen:
                raise SystemExit(f"{file.path}: a second {file.subset.value} file for {model}")
            seen.add((model, file.subset.value))
            records = rf.records_for(file, annotations)
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
                run["annotation_mismatches"] = rf.annotation_mismatches(file, records)
            runs.append(run)
            model_items.setdefault(model, []).extend(items)
    finally:
        if cache is not None:
            cache.close()

    table = scoring.paper_table(model_items, n_resamples=args.resamples, seed=args.seed)
    return {
        "format_version": SCORE_FORMAT_VERSION,
        "judge": {"mode": mode.value, "models": [j.model for j in judges]},
        "bootstrap": {"resamples": args.resamples, "seed": args.seed, "level": 0.95},
        "annotations": args.annotations,
        "summary": summary(runs),
        "runs": runs,
        "models": [row.to_dict() for row in table],
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over all runs; agreement pooled over every answer with a reference label."""
    out: dict[str, Any] = {
        "runs": len(runs),
        "n": sum(r["n"] for r in runs),
        "no_valid_answer": sum(r["no_valid_answer"] for r in runs),
        "unresolved": sum(r["unresolved"] for r in runs),
    }
    judges: dict[str, dict[str, Any]] = {}
    for run in runs:
        for stats in run["grading"].get("judges", []):
            total = judges.setdefault(
                stats["model"],
                {"answers": 0, "requests": 0, "cached": 0, "unresolved": 0, "tokens": {}},
            )
            for key in ("answers", "requests", "cached", "unresolved"):
                total[key] += stats[key]
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


def write_outputs(score: dict[str, Any], args: argparse.Namespace) -> str:
    from vlm4d_tasks.report import markdown_report, plot_report

    markdown = markdown_report(score)
    if getattr(args, "json", None):
        Path(args.json).write_text(
            json.dumps(score, indent=1, sort_keys=False, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
    if args.markdown:
        Path(args.markdown).write_text(markdown, encoding="utf-8")
    if args.plot:
        plot_report(score, args.plot)
    return markdown


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.judge import JudgeConfigError, JudgeFatalError
    from vlm4d_tasks.responses import ResponseFileError

    start = time.perf_counter()
    try:
        score = score_files(args)
    except (ResponseFileError, JudgeConfigError, JudgeFatalError, FileNotFoundError) as exc:
        print(f"vlm4d score: error: {exc}", file=sys.stderr)
        return 2
    markdown = write_outputs(score, args)
    sys.stdout.write(markdown)
    unresolved = sum(run["unresolved"] for run in score["runs"])
    print(
        f"\nscored {sum(run['n'] for run in score['runs'])} answers in {len(score['runs'])} "
        f"file(s) in {time.perf_counter() - start:.1f} s; unresolved: {unresolved}",
        file=sys.stderr,
    )
    return 0
