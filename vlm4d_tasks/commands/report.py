"""`vlm4d report`: Markdown table and PNG plot from a saved `vlm4d score --json` file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("score", metavar="SCORE.json", help="output of `vlm4d score --json`")
    parser.add_argument(
        "--markdown", metavar="OUT", help="write the Markdown here (default: stdout)"
    )
    parser.add_argument("--plot", metavar="OUT.png", help="write the PNG plot here")


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.report import load_score, markdown_report, plot_report

    try:
        score = load_score(args.score)
    except (OSError, ValueError) as exc:
        print(f"vlm4d report: error: {exc}", file=sys.stderr)
        return 2
    markdown = markdown_report(score)
    if args.markdown:
        Path(args.markdown).write_text(markdown, encoding="utf-8")
    else:
        sys.stdout.write(markdown)
    if args.plot:
        plot_report(score, args.plot)
    return 0
