"""`vlm4d eval`: lmms-eval with the VLM4D tasks already on its task path.

A thin pass-through: every argument it does not know goes to lmms-eval's CLI unchanged, and it
adds `--include_path <the installed vlm4d_tasks/tasks folder>`, so

    vlm4d eval --model qwen2_5_vl --model_args pretrained=Qwen/Qwen2.5-VL-7B-Instruct \\
        --tasks vlm4d_mc --output_path results/

runs the benchmark without naming a path. Its own options set the variables the tasks read
when they load (`VLM4D_DATASET`, `VLM4D_VIDEO_ROOT`, `VLM4D_JUDGE`, `VLM4D_FRAMES`), and
`--num-processes N` runs lmms-eval under `accelerate launch` with N processes. lmms-eval runs in
a child process: its exit code is this command's.

`--protocol official` selects the official protocol (`vlm4d_tasks.lmms.protocol`): each task named
in `--tasks` becomes its `_official` variant (official prompt and decoding), lmms-eval gets
`--seed 215` unless a `--seed` is given, and the backends that take a per-request seed get
`seed=215` in `--gen_kwargs`. `--protocol greedy` checks that no official task is named.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ENVIRONMENT = {  # option -> variable read by the tasks (see vlm4d_tasks.lmms.data / vlm4d_tasks.lmms.task)
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
        type=_frame_setting,
        metavar="N",
        help="frames per clip for the *_frames tasks: N, or a published setting such as "
        "32frame or 1fps (the official 1 fps rule) (sets VLM4D_FRAMES)",
    )
    parser.add_argument(
        "--protocol",
        choices=["greedy", "official"],
        help="run the tasks named in --tasks under this protocol: `official` runs their "
        "_official variants (the official prompt, temperature 1.0, seed 215); default: as "
        "named (the plain names are greedy)",
    )
    parser.add_argument(
        "--num-processes",
        type=int,
        default=1,
        metavar="N",
        help="run under `accelerate launch` with N processes (default 1)",
    )


def _frame_setting(text: str) -> str:
    from vlm4d_tasks.lmms.protocol import frame_setting

    try:
        frame_setting(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def apply_protocol(passthrough: list[str], protocol: str | None) -> list[str]:
    """lmms-eval's arguments with the tasks (and seeds) of `protocol`; None leaves them as is."""
    from vlm4d_tasks.lmms import protocol as protocols

    args = [a for a in passthrough if a != "--"]
    if protocol is None:
        return args

    def tasks(value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        if names == ["list"] or any(n.startswith("list_") for n in names):
            return value  # `--tasks list` and friends: nothing runs
        return ",".join(protocols.task_for(n, protocol) for n in names)

    out, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--tasks" and i + 1 < len(args):
            out += [arg, tasks(args[i + 1])]
            i += 2
            continue
        if arg.startswith("--tasks="):
            arg = "--tasks=" + tasks(arg.partition("=")[2])
        out.append(arg)
        i += 1
    seed = protocols.PROTOCOLS[protocol].seed
    if seed is None:
        return out
    if not any(a == "--seed" or a.startswith("--seed=") for a in out):
        out += ["--seed", str(seed)]
    if _option(out, "--model") in protocols.SEED_BACKENDS:
        gen = _option(out, "--gen_kwargs")
        if gen is None:
            out += ["--gen_kwargs", f"seed={seed}"]
        elif "seed" not in protocols.parse_args_string(gen):
            out = _set_option(out, "--gen_kwargs", f"{gen},seed={seed}" if gen else f"seed={seed}")
    return out


def _option(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.partition("=")[2]
    return None


def _set_option(args: list[str], name: str, value: str) -> list[str]:
    out = list(args)
    for i, arg in enumerate(out):
        if arg == name and i + 1 < len(out):
            out[i + 1] = value
            return out
        if arg.startswith(name + "="):
            out[i] = f"{name}={value}"
            return out
    return [*out, name, value]


def tasks_folder() -> Path:
    """The installed task folder (YAMLs), found through the package like lmms-eval plugins."""
    from importlib.util import find_spec

    spec = find_spec("vlm4d_tasks.lmms.tasks")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the package vlm4d_tasks.lmms.tasks is not installed")
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
    try:
        passthrough = apply_protocol(list(getattr(args, "passthrough", [])), args.protocol)
        command = lmms_eval_command(passthrough, args.num_processes)
        env = environment(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"vlm4d eval: {exc}", file=sys.stderr)
        return 2
    return subprocess.call(command, env=env)
