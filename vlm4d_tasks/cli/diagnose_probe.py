"""`vlm4d diagnose-probe`: the probe set's camera-motion diagnosis of a model's answers.

Reads a model's answers from lmms-eval's per-sample log (`--log_samples`) of a probe task,
decides them through the metric's pipeline (`vlm4d_tasks.pipeline.score`, `--judge` as in
`vlm4d score`, default rule), so that the diagnosis is about the verdicts the results table
scored, and reports accuracy by category x perspective and by camera motion, the
static/moving twin-pair table and the camera-motion confusion rate
(`vlm4d_tasks.probe.diagnose`).

Exit status: 0 when diagnosed; 1 on bad input (the probe folder, a samples line) or judge
settings, with one line naming the file and the cause.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vlm4d_tasks.cli.score import add_judge_arguments

    parser.add_argument("probe", help="the folder written by `vlm4d generate-probe`")
    parser.add_argument("samples", help="lmms-eval's *_samples_<task>.jsonl of a probe task")
    parser.add_argument("--markdown", metavar="OUT", help="also write the report here")
    add_judge_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def answers_from_samples(path: str | Path) -> list:
    """The answers (`pipeline.Answer`: the record asked and the response) of an lmms-eval
    samples log of a vlm4d task."""
    import io

    from vlm4d_tasks.data.files import read_regular_text
    from vlm4d_tasks.pipeline.score import answer_from_item

    answers = []
    with io.StringIO(read_regular_text(path)) as fh:  # a FIFO or /dev/zero: refused, no hang
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                answers.append(answer_from_item(json.loads(line)["accuracy"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"{path}:{number}: not a vlm4d sample (fields accuracy.record/response): {exc}"
                ) from exc
    return answers


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.data.files import read_regular_text
    from vlm4d_tasks.metric.judge import redact
    from vlm4d_tasks.metric.judge_cache import JudgeCacheError
    from vlm4d_tasks.metric.judge_transport import JudgeFatalError
    from vlm4d_tasks.pipeline.score import grade_answers, judge_config, open_judges
    from vlm4d_tasks.probe import load_probe_records
    from vlm4d_tasks.probe.diagnose import diagnose_scored, to_markdown
    from vlm4d_tasks.settings import Settings

    try:
        records = load_probe_records(args.probe)
        labels = json.loads(read_regular_text(Path(args.probe) / "probe_labels.json"))
        answers = answers_from_samples(args.samples)
        config = judge_config(args, settings=Settings.from_environ())  # the variables, read once
        with open_judges(config) as panel:
            graded = grade_answers(
                answers, config.mode, panel.judges, progress=not args.no_progress
            )
        report = to_markdown(diagnose_scored(records, labels, graded.items))
    except (OSError, ValueError, KeyError, JudgeFatalError, JudgeCacheError) as exc:
        print(redact(f"vlm4d diagnose-probe: {exc}"), file=sys.stderr)
        return 1
    print(report, end="")
    if args.markdown:
        from vlm4d_tasks.report.output import OutputError, write_output

        try:
            # a symlink at --markdown is replaced, not written through; a FIFO nobody reads
            # fails at once; and the samples or labels it read are never written over
            if Path(args.markdown).resolve() in {
                Path(args.samples).resolve(),
                (Path(args.probe) / "probe_labels.json").resolve(),
            }:
                raise OutputError(
                    f"--markdown {args.markdown}: is an input of this command; "
                    "fix: choose another path"
                )
            write_output(args.markdown, "--markdown", report)
        except OutputError as exc:
            print(f"vlm4d diagnose-probe: {exc}", file=sys.stderr)
            return 1
    return 0
