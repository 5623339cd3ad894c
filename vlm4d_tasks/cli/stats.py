"""`vlm4d stats DIR`: the counts table of a built dataset (the one its card shows)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", help="a folder written by `vlm4d build-dataset`")


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.data.dataset_repo import dataset_rows
    from vlm4d_tasks.data.stats import count_table, markdown_table

    print(markdown_table(count_table(dataset_rows(args.folder))), end="")
    return 0
