"""`vlm4d build-dataset`: official annotations -> a Hugging Face dataset folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--annotations",
        metavar="DIR",
        default=None,
        help="folder with real_mc.json / synthetic_mc.json (or a probe folder); "
        "default: download the official files from the hub",
    )
    parser.add_argument(
        "--probe",
        metavar="DIR",
        default=None,
        help="also add the probe subset from a `vlm4d generate-probe` folder",
    )
    parser.add_argument(
        "--subsets",
        nargs="+",
        default=None,
        choices=["real", "synthetic", "probe"],
        help="subsets to include (default: every one found)",
    )
    parser.add_argument(
        "--out",
        metavar="OUT",
        default="vlm4d",
        help="output folder (default: ./vlm4d, so load_dataset('vlm4d') works)",
    )
    parser.add_argument(
        "--videos",
        metavar="DIR",
        default=None,
        help="folder with the videos in the release's layout; they are linked "
        "(or copied with --copy-videos) under their `video` paths",
    )
    parser.add_argument(
        "--copy-videos", action="store_true", help="copy the videos instead of symlinking them"
    )


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.annotations import load_annotations
    from vlm4d_tasks.dataset_repo import REPORT_MARKDOWN, build_dataset_repo
    from vlm4d_tasks.hub import HubUnavailableError

    try:
        annotations = load_annotations(args.annotations, args.subsets)
        if args.probe:
            probe = load_annotations(args.probe, ["probe"])
            annotations.records += probe.records
            annotations.problems += probe.problems
            annotations.files += probe.files
    except (HubUnavailableError, FileNotFoundError, ValueError) as exc:
        print(f"vlm4d build-dataset: {exc}", file=sys.stderr)
        return 1
    videos = args.videos
    if videos is None and args.annotations and args.subsets == ["probe"]:
        videos = args.annotations
    result = build_dataset_repo(annotations, args.out, videos=videos, copy_videos=args.copy_videos)
    print(f"wrote {Path(args.out)}:")
    for name, rows in result.counts.items():
        print(f"  config {name}: {rows} rows")
    print((Path(args.out) / REPORT_MARKDOWN).read_text(encoding="utf-8"))
    return 0
