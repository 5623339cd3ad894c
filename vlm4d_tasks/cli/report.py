"""`vlm4d report`: the report of scored runs, or one score's Markdown table and PNG plot.

    vlm4d report RUN... --out DIR        # report.md, leaderboard.csv/.json, figures, report.html
    vlm4d report RUN... --out DIR --probe PROBE   # and the probe twin figure of probe runs
    vlm4d report scores.json --markdown table.md --plot table.png   # one score, re-rendered

RUN is a score JSON of `vlm4d score --json` (it may hold many models) or an lmms-eval output
folder (`--output_path` of a run of the VLM4D tasks: its `*_vlm4d_score.json` are read). Nothing
is run again: the numbers are the documents' (`vlm4d_tasks.report.leaderboard`): each measured
row with its chance-corrected and debiased accuracy, and the documents' baseline rows (blind
option-text prior, random) apart from the ranking. A row that answered the probe set also gets
the probe's static/moving twin figure: its labels come from the probe folder (`--probe`, or the
one the lmms-eval run's dataset was built from).

A file that is not a score (not JSON, not UTF-8, not a regular file, a field missing or of the
wrong type or range, NaN) is an error naming the file and the field, exit status 2; outputs'
missing folders are created, as `vlm4d score` does. On success stderr says where each output
went (for --out: the folder, its file count and, last, report.html).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

REPORT_FILES = ("report.md", "leaderboard.csv", "leaderboard.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs", nargs="+", metavar="RUN",
        help="a `vlm4d score --json` file, or an lmms-eval output folder with *_vlm4d_score.json",
    )  # fmt: skip
    parser.add_argument(
        "--out", metavar="DIR",
        help="write the report here: report.md, leaderboard.csv, leaderboard.json, the figures "
        "and report.html",
    )  # fmt: skip
    parser.add_argument(
        "--markdown", metavar="OUT",
        help="one score's Markdown table here (default without --out: stdout)",
    )  # fmt: skip
    parser.add_argument("--plot", metavar="OUT.png", help="one score's PNG plot here")
    parser.add_argument(
        "--compare", nargs=2, action="append", default=[], metavar=("A", "B"),
        help="also compare these two rows (their labels in the leaderboard); repeatable",
    )  # fmt: skip
    from vlm4d_tasks.cli.score import _non_negative_int, _resamples
    from vlm4d_tasks.metric.stats import DEFAULT_RESAMPLES
    from vlm4d_tasks.pipeline.document import MAX_RESAMPLES

    parser.add_argument(
        "--resamples", type=_resamples, default=None,
        help=f"bootstrap resamples of the paired comparisons (1 to {MAX_RESAMPLES}; "
        f"default {DEFAULT_RESAMPLES})",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=_non_negative_int, default=None, help="their seed (0 or more; default 0)"
    )
    parser.add_argument(
        "--probe", action="append", default=[], metavar="DIR",
        help="a folder of `vlm4d generate-probe` (its probe_labels.json): the static/moving "
        "camera twin figure of the rows that answered it; repeatable (default: the folder the "
        "lmms-eval run's dataset was built from, when it is still there)",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _figures(
    scores: list[dict[str, Any]], out: Path, progress: bool, probe: dict[str, Any]
) -> tuple[list[Path], list[str], dict[str, str]]:
    """The report's PNGs written into `out` (`report.figures`), why any is missing, and the
    paragraphs under them."""
    from vlm4d_tasks.report.figures import figure_notes, figure_texts, write_figures

    images = write_figures(scores, out, progress=None if progress else False, probe=probe)
    return list(images), list(figure_notes(scores)), figure_texts(scores, probe)


def _html(markdown: str, images: list[Path], out: Path) -> Path:
    """`out/report.html`: the report's Markdown with every figure embedded (`report.html`)."""
    from vlm4d_tasks.report.html import write_html

    return write_html(markdown, images, out / "report.html")


def _write_report(args: argparse.Namespace, sources: list, probes: list) -> list[Path]:
    import json

    from vlm4d_tasks.metric.judge import redact
    from vlm4d_tasks.metric.stats import DEFAULT_RESAMPLES, DEFAULT_SEED
    from vlm4d_tasks.report import leaderboard as lb
    from vlm4d_tasks.report import leaderboard_render as render
    from vlm4d_tasks.report.output import write_output

    board = lb.build(
        sources,
        pairs=[tuple(pair) for pair in args.compare],
        resamples=args.resamples or DEFAULT_RESAMPLES,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        progress=not args.no_progress,
    )
    out = Path(args.out)
    probe, probe_notes = lb.probe_diagnoses(sources, board.rows, probes)
    try:
        images, notes, paragraphs = _figures(
            [s.document for s in sources], out, not args.no_progress, probe
        )
    except OSError as exc:  # a figure's name taken by a folder, a FIFO nobody reads, a full disk
        raise _unwritable(exc) from None
    markdown = redact(
        render.report_markdown(
            board, figures=[p.name for p in images], figure_notes=notes + probe_notes,
            figure_texts=paragraphs,
        )
    )  # fmt: skip
    texts = {
        "report.md": markdown,
        "leaderboard.csv": redact(render.leaderboard_csv(board)),
        "leaderboard.json": redact(
            # strict JSON: a NaN would make the file unreadable to other parsers (none can
            # come from a checked score, `document.check_score`; should one, fail before writing)
            json.dumps(
                render.leaderboard_json(board),
                indent=1,
                ensure_ascii=False,
                allow_nan=False,
            )
        )
        + "\n",
    }
    written = list(images)
    for name, text in texts.items():
        write_output(out / name, "--out", text)
        written.append(out / name)
    try:
        written.append(_html(markdown, images, out))
    except OSError as exc:
        raise _unwritable(exc) from None
    return written


def _distinct_outputs(args: argparse.Namespace) -> None:
    """No output on a score file it reads (`--markdown scores.json` replaced the score with
    its table), and no two outputs on one path."""
    import os

    from vlm4d_tasks.cli.score import output_key
    from vlm4d_tasks.report.output import OutputError

    inputs = {os.path.realpath(run) for run in args.runs}
    outputs = [("--markdown", args.markdown), ("--plot", args.plot)]
    if args.out:
        outputs += [("--out", Path(args.out) / name) for name in (*REPORT_FILES, "report.html")]
    taken: dict[str, str] = {}
    for option, path in outputs:
        key = output_key(path) if path else None
        if key is None:
            continue
        if key in inputs:
            raise OutputError(
                f"{option} {path}: is one of the score files read, which it would overwrite; "
                "fix: choose another path"
            )
        if key in taken:
            raise OutputError(
                f"{option} {path}: is also the {taken[key]} output; fix: give each its own path"
            )
        taken[key] = option


def _unwritable(exc: OSError) -> Exception:
    from vlm4d_tasks.report.output import OutputError

    return OutputError(
        f"--out {exc.filename}: cannot write it ({exc.strerror or exc}); fix: choose another "
        "folder or remove what is in the way"
    )


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.data.files import terminal_safe
    from vlm4d_tasks.metric.judge import redact
    from vlm4d_tasks.pipeline.document import ScoreFileError
    from vlm4d_tasks.pipeline.rows import load_sources
    from vlm4d_tasks.report.leaderboard import CompareError, load_probe_set
    from vlm4d_tasks.report.output import OutputError, prepare_output, write_output
    from vlm4d_tasks.report.score_report import markdown_report, plot_report

    def say(message: str) -> None:
        # paths, names and fields come from outside: shown, never obeyed by the terminal
        print(terminal_safe(redact(f"vlm4d report: {message}")), file=sys.stderr)

    try:
        _distinct_outputs(args)
        for option, path in (("--markdown", args.markdown), ("--plot", args.plot)):
            if path:
                prepare_output(path, option)
        if args.out:
            for name in REPORT_FILES:
                prepare_output(Path(args.out) / name, "--out")
        probes = [load_probe_set(folder) for folder in args.probe]  # bad input before work
        sources = load_sources(args.runs, progress=not args.no_progress)
        single = args.markdown or args.plot or not args.out
        if single and len(sources) != 1:
            raise ScoreFileError(
                f"{len(sources)} score documents in {' '.join(args.runs)}: --markdown, --plot "
                "and the table on stdout render one score; fix: pass --out DIR for a report of "
                "several"
            )
        if single:
            score = sources[0].document
            markdown = redact(markdown_report(score))
            outputs = []
            if args.markdown:
                write_output(args.markdown, "--markdown", markdown)
                outputs.append(args.markdown)
            elif not args.out:
                sys.stdout.write(markdown)
            if args.plot:
                plot_report(score, args.plot)
                outputs.append(args.plot)
            for path in outputs:  # where each output went (on stdout only the table itself)
                say(f"wrote {path}")
        if args.out:
            written = _write_report(args, sources, probes)
            html = [p for p in written if p.name == "report.html"]
            say(f"wrote {len(written)} file(s) to {args.out}")
            if html:
                say(str(html[0]))
    except (ScoreFileError, OutputError, CompareError) as exc:
        say(f"error: {exc}")
        return 2
    return 0
