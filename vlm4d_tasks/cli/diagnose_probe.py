"""`vlm4d diagnose-probe`: the probe set's camera-motion diagnosis of a model's answers.

Reads the letters a model chose from lmms-eval's per-sample log (`--log_samples`) of a probe
task, and reports accuracy by category x perspective and by camera motion, the static/moving
twin-pair table and the camera-motion confusion rate (`vlm4d_tasks.probe.diagnose`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("probe", help="the folder written by `vlm4d generate-probe`")
    parser.add_argument("samples", help="lmms-eval's *_samples_<task>.jsonl of a probe task")
    parser.add_argument("--markdown", metavar="OUT", help="also write the report here")


def choices_from_samples(path: str | Path) -> dict[str, str | None]:
    """question_id -> chosen letter (None: no valid answer) from an lmms-eval samples log."""
    choices: dict[str, str | None] = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                verdict = json.loads(line)["accuracy"]
                choices[verdict["record"]["question_id"]] = verdict["letter"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(
                    f"{path}:{number}: not a vlm4d sample (field accuracy.record/letter): {exc}"
                ) from exc
    return choices


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.probe import load_probe_records
    from vlm4d_tasks.probe.diagnose import diagnose, to_markdown

    try:
        records = load_probe_records(args.probe)
        labels = json.loads((Path(args.probe) / "probe_labels.json").read_text(encoding="utf-8"))
        report = to_markdown(diagnose(records, labels, choices_from_samples(args.samples)))
    except (OSError, ValueError, KeyError) as exc:
        print(f"vlm4d diagnose-probe: {exc}", file=sys.stderr)
        return 1
    print(report, end="")
    if args.markdown:
        Path(args.markdown).write_text(report, encoding="utf-8")
    return 0
