"""`vlm4d eval`: lmms-eval with the VLM4D tasks already on its task path.

A thin pass-through: every argument it does not know goes to lmms-eval's CLI unchanged, and it
adds `--include_path <the installed vlm4d_tasks/tasks folder>`, so

    vlm4d eval --model qwen2_5_vl --model_args pretrained=Qwen/Qwen2.5-VL-7B-Instruct \\
        --tasks vlm4d_mc --output_path results/

runs the benchmark without naming a path. Its own options set the variables the tasks read
when they load (`VLM4D_DATASET`, `VLM4D_VIDEO_ROOT`, `VLM4D_JUDGE`, `VLM4D_FRAMES`), and
`--num-processes N` runs lmms-eval under `accelerate launch` with N processes. lmms-eval runs in
a child process: its exit code is this command's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ENVIRONMENT = {  # option -> variable read by the tasks (see vlm4d_tasks.lmms_data / lmms_task)
    "dataset": "VLM4D_DATASET",
    "videos": "VLM4D_VIDEO_ROOT",
    "judge": "VLM4D_JUDGE",
    "frames": "VLM4D_FRAMES",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Every other argument is passed to lmms-eval unchanged (--model, --model_args, --tasks, "
        "--limit, --output_path, --log_samples, ...). `vlm4d eval --tasks list` lists the tasks."
    )
    parser.add_argument(
        "--dataset",
        metavar="DIR",
        help="dataset folder made by `vlm4d build-dataset` (sets VLM4D_DATASET; "
        "default: the official release, built once into the HF cache)",
    )
    parser.add_argument(
        "--videos",
        metavar="DIR",
        help="folder with the videos in the release's layout (sets "
        "VLM4D_VIDEO_ROOT; default: the dataset folder, else the hub)",
    )
    parser.add_argument(
        "--judge",
        choices=["rule", "llm", "hybrid", "crosscheck"],
        help="how answers are decided (sets VLM4D_JUDGE; default rule); the LLM "
        "judge reads VLM4D_JUDGE_MODEL / _BASE_URL / _API_KEY",
    )
    parser.add_argument(
        "--frames",
        type=int,
        metavar="N",
        help="frames per clip for the *_frames tasks (sets VLM4D_FRAMES)",
    )
    parser.add_argument(
        "--num-processes",
        type=int,
        default=1,
        metavar="N",
        help="run under `accelerate launch` with N processes (default 1)",
    )


def tasks_folder() -> Path:
    """The installed task folder (YAMLs), found through the package like lmms-eval plugins."""
    from importlib.util import find_spec

    spec = find_spec("vlm4d_tasks.tasks")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the package vlm4d_tasks.tasks is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def lmms_eval_command(passthrough: list[str], num_processes: int = 1) -> list[str]:
    args = [a for a in passthrough if a != "--"]
    if any(a == "--include_path" or a.startswith("--include_path=") for a in args):
        raise ValueError(
            "vlm4d eval passes its own --include_path (lmms-eval takes one); to add other task "
            "folders, run lmms-eval directly with a --config file listing several include paths"
        )
    args += ["--include_path", str(tasks_folder())]
    if num_processes > 1:
        launch = [sys.executable, "-m", "accelerate.commands.launch",
                  "--num_processes", str(num_processes)]  # fmt: skip
        if not _has_cuda():
            launch.append("--cpu")
        return [*launch, "-m", "lmms_eval", *args]
    return [sys.executable, "-m", "lmms_eval", *args]


def _has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def environment(args: argparse.Namespace, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    for option, variable in ENVIRONMENT.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        if option in ("dataset", "videos"):
            path = Path(value).expanduser()
            if not path.is_dir():
                raise FileNotFoundError(f"--{option} {value}: no such folder")
            value = path.resolve()
        env[variable] = str(value)
    return env


def run(args: argparse.Namespace) -> int:
    if args.frames is not None and args.frames < 1:
        print("vlm4d eval: --frames must be at least 1", file=sys.stderr)
        return 2
    try:
        command = lmms_eval_command(list(getattr(args, "passthrough", [])), args.num_processes)
        env = environment(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"vlm4d eval: {exc}", file=sys.stderr)
        return 2
    return subprocess.call(command, env=env)
