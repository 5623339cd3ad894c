"""`vlm4d generate-probe`: write the procedural 4D probe subset (videos + annotations)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict

# About 2 s per clip on 2 cores (bench/probe_speed.py): 10,000 clips is most of a day, so a
# larger count is a typo, not a plan; numpy's seeds are 0..2**32-1.
MAX_SCENES = 10_000


def _bounded(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in {low}-{high}")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vlm4d_tasks.probe.generate import ProbeSettings

    d = ProbeSettings()
    parser.add_argument(
        "--out",
        required=True,
        help="output folder (videos_probe/, probe_mc.json, ...): new, empty or written by an "
        "earlier generate-probe (whose files it replaces, keeping any other)",
    )
    parser.add_argument(
        "--n-scenes",
        type=_bounded(1, MAX_SCENES),
        default=d.n_scenes,
        help=f"number of clips, 1-{MAX_SCENES} (default {d.n_scenes})",
    )
    parser.add_argument(
        "--seed",
        type=_bounded(0, 2**32 - 1),
        default=d.seed,
        help=f"random seed, 0-{2**32 - 1} (default {d.seed})",
    )
    parser.add_argument(
        "--width", type=int, default=d.width, help=f"frame width, even (default {d.width})"
    )
    parser.add_argument(
        "--height", type=int, default=d.height, help=f"frame height, even (default {d.height})"
    )
    parser.add_argument(
        "--fps", type=int, default=d.fps, help=f"frames per second (default {d.fps})"
    )
    parser.add_argument(
        "--seconds", type=float, default=d.seconds, help=f"clip length (default {d.seconds})"
    )
    parser.add_argument(
        "--crf", type=int, default=d.crf, help=f"x264 quality, lower is better (default {d.crf})"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="parallel render processes (default: min(2, CPUs)); output does not depend on it",
    )
    parser.add_argument(
        "--json", help="also write the run summary (counts, timings) to this JSON file"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into an existing folder that generate-probe did not make: the folder is "
        "moved aside to OUT.old-N (nothing in it is deleted) and the probe set takes its place",
    )


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.data.outdir import OutputFolderError
    from vlm4d_tasks.probe.generate import ProbeSettings, generate_probe

    jobs = args.jobs if args.jobs is not None else min(2, os.cpu_count() or 1)
    if jobs < 1:
        print(f"vlm4d generate-probe: --jobs must be >= 1, got {jobs}")
        return 2
    settings = ProbeSettings(
        n_scenes=args.n_scenes,
        seed=args.seed,
        width=args.width,
        height=args.height,
        fps=args.fps,
        seconds=args.seconds,
        jobs=jobs,
        crf=args.crf,
    )
    try:
        settings.check()
    except ValueError as exc:
        print(f"vlm4d generate-probe: {exc}")
        return 2
    try:
        result = generate_probe(args.out, settings, progress=not args.quiet, force=args.force)
    except OutputFolderError as exc:
        # One line, the last one on stderr: the cause, then the fix.
        print(f"vlm4d generate-probe: {exc}", file=sys.stderr)
        return 2
    for note in result.notes:
        print(f"vlm4d generate-probe: warning: {note}", file=sys.stderr)
    if result.moved_aside is not None:
        print(f"moved the earlier {args.out} aside to {result.moved_aside} (nothing deleted)")
    per_clip = result.mean_seconds_per_clip
    print(
        f"wrote {result.n_scenes} clips ({settings.width}x{settings.height}, {settings.fps} fps, "
        f"{result.n_frames} frames) and {result.n_questions} questions to {result.out_dir}"
    )
    print(
        f"categories: {result.by_category}; perspectives: {result.by_perspective}; answers: {result.by_letter}"
    )
    print(
        f"time: {result.seconds_total:.1f} s total, {per_clip:.2f} s per clip "
        f"(render + encode, {settings.jobs} process(es))"
    )
    if args.json:
        summary = {
            "settings": asdict(settings),
            "n_scenes": result.n_scenes,
            "n_questions": result.n_questions,
            "by_category": result.by_category,
            "by_perspective": result.by_perspective,
            "by_letter": result.by_letter,
            "seconds_total": round(result.seconds_total, 3),
            "seconds_per_clip": [round(s, 3) for s in result.seconds_per_clip],
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=1)
            fh.write("\n")
    return 0
