"""The `vlm4d` command line.

Each subcommand lives in its own module under `vlm4d_tasks.cli` with two functions,
`add_arguments(parser)` and `run(args) -> int`; modules are imported only when their
command runs, so `vlm4d --help` stays fast and needs no heavy dependency.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# command name -> (module under vlm4d_tasks.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "build-dataset": ("build_dataset", "build the Hugging Face dataset folder from annotations"),
    "stats": ("stats", "print the counts of a built dataset"),
    "push-dataset": ("push_dataset", "upload a built dataset folder to the Hugging Face hub"),
    "generate-probe": (
        "generate_probe",
        "render the procedural 4D probe subset (videos + questions)",
    ),
    "diagnose-probe": ("diagnose_probe", "camera-motion diagnosis of a model on the probe set"),
    "export-train": (
        "export_train",
        "probe folder -> fine-tuning data (LLaMA-Factory, LLaVA-Video or Hugging Face dataset)",
    ),
    "score": ("score", "score model-response files (paper table, JSON/Markdown/PNG)"),
    "report": (
        "report",
        "the report of score files and lmms-eval runs: report.md, leaderboard.csv/.json, "
        "report.html and figures (--out DIR); or one score's Markdown table and PNG plot",
    ),
    "eval": ("eval", "run lmms-eval with the VLM4D tasks on its path (arguments pass through)"),
    "tasks": ("tasks", "list the VLM4D lmms-eval tasks and groups, one line each"),
    "protocols": ("protocols", "list the evaluation protocols (--json: whole, with sources)"),
}


def build_parser(load_command_args: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlm4d", description=__doc__.splitlines()[0])
    from vlm4d_tasks import __version__

    parser.add_argument("--version", action="version", version=f"vlm4d-tasks {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        # Only the chosen command's module is imported to declare its arguments.
        if name == load_command_args:
            _module(module).add_arguments(cmd)
    return parser


def _module(name: str):
    return importlib.import_module(f"vlm4d_tasks.cli.{name}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Started with stdout or stderr closed (`>&-`), Python sets them to None and the first
    # print raises after the work; what would go there is dropped, the files still written.
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    chosen = next((a for a in argv if not a.startswith("-")), None)
    if chosen not in COMMANDS:
        chosen = None
    parser = build_parser(chosen)
    if chosen is not None and chosen in {"eval"}:
        # pass-through commands take their own arguments verbatim
        args, rest = parser.parse_known_args(argv)
        args.passthrough = rest
    else:
        args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(_module(COMMANDS[args.command][0]).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
