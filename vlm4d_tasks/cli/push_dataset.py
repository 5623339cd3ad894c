"""`vlm4d push-dataset OUT --repo-id ID`: upload a built dataset folder (`build-dataset`, or
`export-train --format hf`) to the hub."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "folder",
        help="a folder written by `vlm4d build-dataset` (VLM4D or DSR-Bench) or `vlm4d export-train --format hf`",
    )
    parser.add_argument("--repo-id", required=True, help="target dataset repo, e.g. me/VLM4D")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--token", default=None, help="hub token (default: the logged-in one)")


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.data.hub import push_dataset

    print(push_dataset(args.folder, args.repo_id, private=args.private, token=args.token))
    return 0
