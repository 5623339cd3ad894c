"""`vlm4d score`: accuracy of model-response files, in the paper's layout.

Argument parsing and output writing around `vlm4d_tasks.pipeline.score`, which reads the
response files in the official formats (raw or judged), lmms-eval's samples log or a
`{uid: answer}` mapping (`metric.responses.load_inputs`), decides each answer (`--judge
rule|llm|hybrid|crosscheck`, settings from the options and the VLM4D_JUDGE_* variables) and
builds the score document, the same one the lmms-eval tasks write. Outputs: JSON, Markdown,
PNG (`vlm4d_tasks.report.score_report`). The real and synthetic files of one model (same file name,
same prompt setting folder) form one row of the paper's table.

Exit status: 0 when scored (a few unresolved answers are listed, not an error); 2 on bad
input or settings, before any output is written (outputs' missing folders are created first);
3 when the judge's circuit breaker opened: the outputs are written, every answer it left
unresolved is listed with the reason, and a rerun resumes from the judge cache. Every line
printed and every file written passes `redact.redact`, so no API key or URL credential leaks.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vlm4d_tasks.settings import Settings

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


def _resamples(text: str) -> int:
    """Bootstrap resamples: 1 to `pipeline.document.MAX_RESAMPLES`, the most `vlm4d report` reads back
    (1e9 held the run for hours and took gigabytes)."""
    from vlm4d_tasks.pipeline.document import MAX_RESAMPLES

    value = _positive_int(text)
    if value > MAX_RESAMPLES:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {MAX_RESAMPLES}, got {text!r}"
        )
    return value


def _judge_retries(text: str) -> int:
    """Retries of one answer: 0 to `judge_transport.MAX_RETRIES`."""
    from vlm4d_tasks.metric.judge_transport import MAX_RETRIES

    value = _non_negative_int(text)
    if value > MAX_RETRIES:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to {MAX_RETRIES}, got {text!r}"
        )
    return value


def _judge_seconds(text: str) -> float:
    """A judge deadline: above 0, at most `judge_transport.MAX_TIMEOUT` (NaN and inf fail too)."""
    from vlm4d_tasks.metric.judge_transport import MAX_TIMEOUT

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds above 0 and at most {MAX_TIMEOUT:g}, got {text!r}"
        )
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="+", metavar="FILE",
        help="response files, each told by its content: the official JSON list, lmms-eval's "
        "*_samples_<task>.jsonl (--log_samples), or a JSON mapping {uid: answer} (with "
        "--annotations)",
    )  # fmt: skip
    parser.add_argument(
        "--annotations",
        metavar="DIR",
        help="folder with real_mc.json / synthetic_mc.json: perspective and "
        "category from the normalized records (default: official rules)",
    )
    parser.add_argument(
        "--subset",
        choices=["real", "synthetic", "probe"],
        help="subset of every file (default: from a real_mc*/synthetic_mc*/probe_mc* path part)",
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
    add_judge_arguments(parser)
    from vlm4d_tasks.metric.stats import DEFAULT_RESAMPLES
    from vlm4d_tasks.pipeline.document import MAX_RESAMPLES

    parser.add_argument(
        "--resamples", type=_resamples, default=DEFAULT_RESAMPLES,
        help=f"bootstrap resamples (1 to {MAX_RESAMPLES}; default %(default)s)",
    )  # fmt: skip
    # numpy's generators take no negative seed (a traceback after the grading)
    parser.add_argument(
        "--seed", type=_non_negative_int, default=0, help="bootstrap and jitter seed (0 or more)"
    )
    parser.add_argument(
        "--model-name", type=_declared, metavar="NAME",
        help="the model that produced the answers: every file's row is named NAME (and its "
        "prompt setting); recorded in the score document (default: each file's name)",
    )  # fmt: skip
    parser.add_argument(
        "--protocol", type=_declared, metavar="TEXT",
        help="how the answers were produced (e.g. 'greedy, 8 frames, official CoT prompt'): "
        "recorded in the score document and shown in vlm4d report's protocol column",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


MAX_DECLARED_CHARS = 200


def _declared(text: str) -> str:
    """A declared name or protocol: one line of 1 to `MAX_DECLARED_CHARS` characters (it
    becomes a table cell and a figure label)."""
    value = text.strip()
    if not value or len(value) > MAX_DECLARED_CHARS or not value.isprintable():
        raise argparse.ArgumentTypeError(
            f"expected one line of 1 to {MAX_DECLARED_CHARS} printable characters, got "
            f"{text[:80]!r}"
        )
    return value


def add_judge_arguments(parser: argparse.ArgumentParser) -> None:
    """`--judge` and the judge's options, shared by `vlm4d score` and `vlm4d diagnose-probe`.

    Every option left out falls back to its VLM4D_JUDGE_* variable, then to the default: the
    settings are resolved in one place, `pipeline.score.judge_config`, for these commands and
    the lmms-eval tasks alike.
    """
    from vlm4d_tasks.metric.grading import Mode
    from vlm4d_tasks.metric.judge_transport import MAX_RETRIES

    parser.add_argument(
        "--judge",
        default="rule",
        choices=[m.value for m in Mode],
        help="rule: extraction only (default, offline); llm: every answer to the "
        "judge; hybrid: the judge only where extraction is unsure; "
        "crosscheck: two judges, disagreements listed",
    )
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
        help="environment variable with the second judge's key (default: "
        "VLM4D_JUDGE_API_KEY_2, else the first judge's key)",
    )
    group.add_argument(
        "--judge-concurrency",
        type=_positive_int,
        help="requests in flight (default: $VLM4D_JUDGE_CONCURRENCY, else 4)",
    )
    group.add_argument(
        "--judge-timeout",
        type=_judge_seconds,
        metavar="SECONDS",
        help="total deadline of one request: connect, send and every read "
        "(default: $VLM4D_JUDGE_TIMEOUT, else 60)",
    )
    group.add_argument(
        "--judge-retries",
        type=_judge_retries,
        help=f"retries of a failed call before the answer is UNRESOLVED, at most {MAX_RETRIES} "
        "(default: $VLM4D_JUDGE_RETRIES, else 4)",
    )
    group.add_argument(
        "--judge-max-failures",
        type=_non_negative_int,
        metavar="N",
        help="circuit breaker: after N answers in a row ended unresolved, send no more "
        "requests and leave the rest unresolved with the reason; 0 never stops "
        "(default: $VLM4D_JUDGE_MAX_FAILURES, else 5)",
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
        help="SQLite cache (default: $VLM4D_JUDGE_CACHE, else $VLM4D_CACHE_DIR/judge.sqlite or "
        "~/.cache/vlm4d/judge.sqlite)",
    )


def score_files(args: argparse.Namespace, settings: Settings | None = None) -> dict[str, Any]:
    """The score document of `args.files`, judged as `args` and the environment (`settings`,
    default: built now) say."""
    from vlm4d_tasks.pipeline.score import judge_config, score_response_files
    from vlm4d_tasks.settings import Settings

    settings = Settings.from_environ() if settings is None else settings
    # None: the release check reads its variable when it checks files (`data.release`)
    allow = True if getattr(args, "allow_unofficial_annotations", False) else None
    return score_response_files(
        args.files,
        judge_config(args, settings=settings),
        subset=args.subset,
        annotations=args.annotations,
        strict=getattr(args, "strict", False),
        allow_unofficial=allow,
        resamples=args.resamples,
        seed=args.seed,
        progress=not args.no_progress,
        model=getattr(args, "model_name", None),
        protocol=getattr(args, "protocol", None),
    )


OUTPUTS = (("json", "--json"), ("markdown", "--markdown"), ("plot", "--plot"))


def prepare_outputs(args: argparse.Namespace) -> None:
    """Before any work: every output's folder exists (created) and is writable."""
    from vlm4d_tasks.report.output import OutputError, prepare_output

    # `--json responses.json` would replace a response file with its score, `--json x
    # --markdown x` keep only the last output: both are refused before any work.
    inputs = {os.path.realpath(f) for f in getattr(args, "files", None) or []}
    taken: dict[str, str] = {}
    for name, option in OUTPUTS:
        path = getattr(args, name, None)
        key = output_key(path) if path else None
        if key is None:
            if path:
                prepare_output(path, option)
            continue
        if key in inputs:
            raise OutputError(
                f"{option} {path}: is one of the response files, which it would overwrite; "
                "fix: choose another path"
            )
        if key in taken:
            raise OutputError(
                f"{option} {path}: is also the {taken[key]} output; fix: give each output its "
                "own path"
            )
        taken[key] = option
        prepare_output(path, option)


def output_key(path: str | os.PathLike) -> str | None:
    """The file an output replaces: its folder resolved, its own name kept (a symlink there is
    replaced, not followed: `data.files.write_file`); None for a device or a pipe, which is
    streamed into and may be named twice (/dev/null)."""
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
    except OSError:
        pass
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(os.path.realpath(folder), name)


def write_outputs(score: dict[str, Any], args: argparse.Namespace) -> str:
    from vlm4d_tasks.pipeline.score import score_json
    from vlm4d_tasks.report.output import write_output
    from vlm4d_tasks.report.score_report import plot_report, score_markdown

    markdown = score_markdown(score)
    if getattr(args, "json", None):
        write_output(args.json, "--json", score_json(score))
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


def input_notes(score: dict[str, Any]) -> list[str]:
    """Lines printed before the summary about how the input was read."""
    lettered = {r["file"]: r["ground_truth_letters"] for r in score["runs"]
                if r.get("ground_truth_letters")}  # fmt: skip
    if not lettered:
        return []
    return [
        f"note: {sum(lettered.values())} ground truth(s) in {len(lettered)} file(s) were given "
        "as a letter (A-D) and read as that option's text"
    ]


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.data.annotations import AnnotationError
    from vlm4d_tasks.data.files import terminal_safe
    from vlm4d_tasks.data.release import ReleaseMismatchError
    from vlm4d_tasks.metric.judge import redact
    from vlm4d_tasks.metric.judge_cache import JudgeCacheError
    from vlm4d_tasks.metric.judge_transport import JudgeConfigError, JudgeFatalError
    from vlm4d_tasks.metric.responses import ResponseFileError
    from vlm4d_tasks.report.output import OutputError
    from vlm4d_tasks.settings import Settings, SettingsError

    def error(message: object) -> None:
        # file names, ids and a judge's reasons come from outside: shown, never obeyed
        print(terminal_safe(redact(f"vlm4d score: error: {message}")), file=sys.stderr)

    start = time.perf_counter()
    try:
        prepare_outputs(args)
        score = score_files(args, Settings.from_environ())  # the variables, read once
        markdown = write_outputs(score, args)
    except FileNotFoundError as exc:  # the annotations folder
        error(f"{exc}; fix: check --annotations")
        return EXIT_BAD_INPUT
    except AnnotationError as exc:
        error(f"{exc}; fix: pass the folder of the official real_mc.json / synthetic_mc.json")
        return EXIT_BAD_INPUT
    except ReleaseMismatchError as exc:  # its message ends with the fix
        error(exc)
        return EXIT_BAD_INPUT
    except (
        ResponseFileError, JudgeConfigError, JudgeFatalError, JudgeCacheError, OutputError,
        SettingsError,
    ) as exc:  # fmt: skip
        error(exc)
        return EXIT_BAD_INPUT
    sys.stdout.write(markdown)
    summary = terminal_safe(redact(summary_line(score, time.perf_counter() - start)))
    notes = [terminal_safe(redact(note)) for note in input_notes(score)]
    print("\n".join(["", *notes, summary]), file=sys.stderr)
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
