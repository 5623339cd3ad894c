"""`make demo`: the library's main job end to end, offline.

Builds the dataset from the official annotations beside the project
(`../shared/vlm4d/annotations`) when that folder exists, else from the hub, and prints its
statistics.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SHARED_ANNOTATIONS = Path(__file__).resolve().parents[2] / "shared" / "vlm4d" / "annotations"


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vlm4d_tasks.demo")
    parser.add_argument("--out", default="demo-out", help="folder for everything the demo writes")
    parser.add_argument(
        "--annotations",
        default=None,
        help=f"official annotations (default: {SHARED_ANNOTATIONS} if present)",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)

    from vlm4d_tasks.cli import main as vlm4d

    annotations = args.annotations or (
        str(SHARED_ANNOTATIONS) if SHARED_ANNOTATIONS.is_dir() else None
    )
    _step(f"build the dataset from {annotations or 'the hub'}")
    build = ["build-dataset", "--out", str(out / "vlm4d")]
    if annotations:
        build += ["--annotations", annotations]
    if vlm4d(build):
        return 1
    _step("statistics")
    return vlm4d(["stats", str(out / "vlm4d")])


if __name__ == "__main__":
    sys.exit(main())
