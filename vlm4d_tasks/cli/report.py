"""`vlm4d report`: Markdown table and PNG plot from a saved `vlm4d score --json` file.

A file that is not a score (not JSON, not UTF-8, a field missing or of the wrong type) is an
error naming the file and the field, exit status 2; outputs' missing folders are created,
as `vlm4d score` does.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("score", metavar="SCORE.json", help="output of `vlm4d score --json`")
    parser.add_argument(
        "--markdown", metavar="OUT", help="write the Markdown here (default: stdout)"
    )
    parser.add_argument("--plot", metavar="OUT.png", help="write the PNG plot here")


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.metric.judge import redact
    from vlm4d_tasks.metric.report import (
        OutputError,
        ScoreFileError,
        load_score,
        markdown_report,
        plot_report,
        prepare_output,
        write_output,
    )

    try:
        for option, path in (("--markdown", args.markdown), ("--plot", args.plot)):
            if path:
                prepare_output(path, option)
        score = load_score(args.score)
        markdown = redact(markdown_report(score))
        if args.markdown:
            write_output(args.markdown, "--markdown", markdown)
        else:
            sys.stdout.write(markdown)
        if args.plot:
            plot_report(score, args.plot)
    except (ScoreFileError, OutputError) as exc:
        print(redact(f"vlm4d report: error: {exc}"), file=sys.stderr)
        return 2
    return 0
