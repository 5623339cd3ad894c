"""`vlm4d eval`: lmms-eval with the VLM4D tasks already on its task path.

A thin pass-through: every argument it does not know goes to lmms-eval's CLI unchanged, and it
adds `--include_path <the installed vlm4d_tasks/tasks folder>`, so

    vlm4d eval --model qwen2_5_vl --model_args pretrained=Qwen/Qwen2.5-VL-7B-Instruct \\
        --tasks vlm4d_mc --output_path results/

runs the benchmark without naming a path. Its own options set the variables the tasks read
when they load (`VLM4D_DATASET`, `VLM4D_VIDEO_ROOT`, `VLM4D_JUDGE`, `VLM4D_FRAMES`), and
`--num-processes N` runs lmms-eval under `accelerate launch` with N processes.

Failing loudly, with the cause last. lmms-eval 0.7.3 catches an evaluation error, logs it and
exits 0; so before it starts, a preflight (`--no-preflight` skips it) checks what would make it
fail: the task names, the dataset folder (or, without one, that the hub answers), every video
of the selected tasks' questions, loaded through the tasks' own `process_docs`, and the model
name in lmms-eval's registry. A failed check exits 2 before any model loads. lmms-eval then runs
in a child process whose output is passed through as it comes and scanned: the run fails
(lmms-eval's status, else 1) when it logged an evaluation error, or wrote no `*_results.json`
under `--output_path` (printed no results table, without one). The last line of every failure
states the root cause and the fix (`diagnose`).

`vlm4d eval --tasks list` lists the VLM4D tasks from their YAMLs (`vlm4d tasks`), without
lmms-eval's index of every task.

`--protocol official` selects the official protocol (`vlm4d_tasks.lmms.protocol`): each task named
in `--tasks` becomes its `_official` variant (official prompt and decoding), lmms-eval gets
`--seed 215` unless a `--seed` is given, and the backends that take a per-request seed get
`seed=215` in `--gen_kwargs`. `--protocol dsr-suite` runs the `_dsr_suite` variants (DSR Suite's
prompt and decoding, from its declaration). Under both, the declared settings of the model
(`--protocol-model NAME`, else `pretrained=`) that lmms-eval takes as arguments are added where
the user gave none: decoding in `--gen_kwargs`, frames and pixel budget in `--model_args` for
the model classes that take them, the `*_frames` tasks' frames as `VLM4D_FRAMES`; the run's
metadata records what was applied and what was not, with why (`protocol.declared`).
`--protocol greedy` checks that no task of another protocol is named.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlm4d_tasks.cli.tasks import tasks_folder
from vlm4d_tasks.lmms import compat
from vlm4d_tasks.settings import DATASET, FRAMES, JUDGE_MODE, PROTOCOL_MODEL, VIDEO_ROOT

# option -> the variable the tasks read, set in lmms-eval's environment (declared in settings.py)
ENVIRONMENT = {
    "dataset": DATASET.name,
    "videos": VIDEO_ROOT.name,
    "judge": JUDGE_MODE.name,
    "frames": FRAMES.name,
    "protocol_model": PROTOCOL_MODEL.name,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Every other argument is passed to lmms-eval unchanged (--model, --model_args, --tasks, "
        "--limit, --output_path, --log_samples, ...). `vlm4d eval --tasks list` lists the VLM4D "
        "tasks. Exit status: 0 when lmms-eval wrote results, 2 when the preflight or an "
        "argument fails, else lmms-eval's status or 1; the last line of a failure states its "
        "cause and the fix."
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
        choices=["greedy", "official", "dsr-suite"],
        help="run the tasks named in --tasks under this protocol (`vlm4d protocols` lists "
        "them): `official` runs their _official variants (the official prompt, temperature "
        "1.0, seed 215, and a published model's own decoding and frames), `dsr-suite` their "
        "_dsr_suite variants (DSR Suite's prompt, decoding, 32 frames, its reader beside "
        "ours); default: as named (the plain names are greedy)",
    )
    parser.add_argument(
        "--protocol-model",
        metavar="NAME",
        help="the published model whose per-model settings of the protocol apply (e.g. "
        "Qwen2.5-VL-7B-Instruct, as `vlm4d protocols official --json` names them), for a "
        "checkpoint whose pretrained= does not name it (sets VLM4D_PROTOCOL_MODEL); "
        "default: pretrained= of --model_args",
    )
    parser.add_argument(
        "--no-preflight",
        action="store_true",
        help="start lmms-eval without first checking the tasks, the dataset, every video and "
        "the model name",
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


def apply_protocol(
    passthrough: list[str], protocol: str | None, protocol_model: str | None = None
) -> list[str]:
    """lmms-eval's arguments with the tasks (and seeds) of `protocol`; None leaves them as is.

    Under `official` and `dsr-suite` the declared settings lmms-eval takes as arguments are
    added where the user gave none: a published model's decoding (`official`, the model
    `protocol_model` or `pretrained=` names) in `--gen_kwargs`, the declared frames and pixel
    budget in `--model_args` for the video model classes that take them
    (`protocol_run.MODEL_CLASS_ARGS`). The frames of the `*_frames` tasks are a variable
    (`protocol_frames`). What could not be applied is recorded by the run (`protocol.declared`)."""
    from vlm4d_tasks.lmms import protocol as protocols
    from vlm4d_tasks.lmms import protocol_declarations

    args = [a for a in passthrough if a != "--"]
    if protocol_model is not None:
        if protocol in (None, "greedy"):
            raise ValueError(
                f"--protocol-model {protocol_model} names a model of a declared protocol: "
                "give --protocol official (or dsr-suite) with it"
            )
        if protocol_declarations.declaration(protocol).model_settings(protocol_model) is None:
            known = sorted(protocol_declarations.declaration(protocol).models)
            raise ValueError(
                f"--protocol-model {protocol_model!r} names no model of the {protocol} "
                f"protocol's per-model settings ({len(known)}: {', '.join(known) or 'none'}); "
                f"`vlm4d protocols {protocol} --json` lists them"
            )
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
    if protocol == "official":
        out = _model_decoding(out, protocol_model)
    if protocol != "greedy":
        out = _model_frames(out, protocol, protocol_model)
    seed = protocols.get_protocol(protocol).seed
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


def _declared_block(args: list[str], protocol: str, protocol_model: str | None) -> dict:
    from vlm4d_tasks.lmms import protocol as protocols
    from vlm4d_tasks.lmms import protocol_declarations

    model = protocol_model or protocols.parse_args_string(_option(args, "--model_args")).get(
        "pretrained"
    )
    return protocol_declarations.declaration(protocol).applied(
        None if model is None else str(model)
    )


def _task_names(args: list[str]) -> list[str]:
    return [n.strip() for n in (_option(args, "--tasks") or "").split(",") if n.strip()]


def _model_frames(args: list[str], protocol: str, protocol_model: str | None) -> list[str]:
    """`args` with the declared frames and pixel budget in `--model_args`, for the video
    tasks of a model class that takes them; the user's own model arguments win."""
    from vlm4d_tasks.lmms import protocol as protocols
    from vlm4d_tasks.lmms import protocol_run

    names = _task_names(args)
    if not any(protocol_run.FRAMES_TASK not in n for n in names):
        return args  # only *_frames tasks: their frames are VLM4D_FRAMES
    block = _declared_block(args, protocol, protocol_model)
    model_class = _option(args, "--model")
    wanted: dict[str, Any] = {}
    kind, request = protocol_run.frames_request(block["frames"], model_class, False)
    if kind == "model_args":
        wanted.update(request)
    kind, request = protocol_run.resolution_request(block["resolution"], model_class, False)
    if kind == "model_args":
        wanted.update(request)
    given = _option(args, "--model_args")
    have = protocols.parse_args_string(given)
    extra = ",".join(f"{k}={v}" for k, v in wanted.items() if k not in have)
    if not extra:
        return args
    if given is None:
        return [*args, "--model_args", extra]
    return _set_option(args, "--model_args", f"{given},{extra}" if given else extra)


def protocol_frames(
    passthrough: list[str], protocol: str | None, protocol_model: str | None = None
) -> str | None:
    """The `VLM4D_FRAMES` value that applies `protocol`'s frame rule to the `*_frames` tasks of
    `passthrough` (after `apply_protocol`), or None (no such task, or no rule they can take:
    the run records why)."""
    from vlm4d_tasks.lmms import protocol_run

    if protocol in (None, "greedy"):
        return None
    if not any(protocol_run.FRAMES_TASK in n for n in _task_names(passthrough)):
        return None
    block = _declared_block(passthrough, protocol, protocol_model)
    kind, request = protocol_run.frames_request(block["frames"], None, True)
    return request if kind == "env" else None


def _model_decoding(args: list[str], protocol_model: str | None = None) -> list[str]:
    """`args` with the official scripts' decoding for the model `--model_args pretrained=...`
    names (`lmms.protocol` declaration `official`, per-model settings): the official tasks
    sample at temperature 1.0 with 1024 tokens, as the scripts do for 18 of the 23 published
    models; the other five decode greedily or with another token limit, and a run under the
    official protocol should do what the model's own script did. Settings the user gave in
    `--gen_kwargs` win. Greedy is written as `do_sample=False,temperature=0`: several lmms-eval
    model classes decide sampling from the temperature alone. Frames stay the model's
    arguments (`--frames`); the run's metadata records what differs (`protocol.declared`)."""
    from vlm4d_tasks.lmms import protocol as protocols
    from vlm4d_tasks.lmms import protocol_declarations

    model_args = protocols.parse_args_string(_option(args, "--model_args"))
    model = protocol_model or model_args.get("pretrained")
    matched = protocol_declarations.declaration("official").model_settings(model)
    if matched is None:
        return args
    decoding = matched[1].get("decoding") or {}
    task = protocol_declarations.declaration("official").decoding
    wanted: dict[str, Any] = {}
    if decoding.get("do_sample") is False and task.get("do_sample") is not False:
        wanted.update(do_sample=False, temperature=0)
    limit = decoding.get("max_new_tokens")
    if limit is not None and limit != task.get("max_new_tokens"):
        wanted["max_new_tokens"] = limit
    gen = _option(args, "--gen_kwargs")
    given = protocols.parse_args_string(gen)
    extra = ",".join(f"{k}={v}" for k, v in wanted.items() if k not in given)
    if not extra:
        return args
    if gen is None:
        return [*args, "--gen_kwargs", extra]
    return _set_option(args, "--gen_kwargs", f"{gen},{extra}" if gen else extra)


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
                hint = f" {_build_hint()}" if option == "dataset" else ""
                raise FileNotFoundError(f"--{option} {value}: no such folder.{hint}")
            value = path.resolve()
        env[variable] = str(value)
    return env


def _build_hint() -> str:
    from vlm4d_tasks.lmms.data import BUILD_HINT

    return BUILD_HINT


# --------------------------------------------------------------------------------------------
# Preflight: what would make lmms-eval fail, checked before it starts (and before a model loads)

MODEL_HELP = (
    "Use a name lmms-eval registers, or register your own model class under the "
    "`lmms_eval.models` entry-point group: README.md, section 'Adding your model'."
)
FIRST_MISSING = 10  # missing videos listed one per line


class PreflightError(Exception):
    """A check failed; the message is the cause and the fix, in one line."""


@dataclass
class VideoCheck:
    """The videos of the selected tasks' questions (within --limit / --offset)."""

    questions: int = 0
    videos: set[str] = field(default_factory=set)  # distinct video files checked
    missing: dict[str, list[str]] = field(default_factory=dict)  # path -> question uids
    roots: set[str] = field(default_factory=set)  # where the videos were looked for
    hub_tasks: list[str] = field(default_factory=list)  # questions would come from the hub
    hub_videos: list[str] = field(default_factory=list)  # tasks whose videos are the hub's
    no_video: list[str] = field(default_factory=list)  # tasks that give the model no video

    def problem(self) -> str | None:
        if not self.missing:
            return None
        paths = list(self.missing)
        questions = sum(len(uids) for uids in self.missing.values())
        where = ", ".join(sorted(self.roots))
        shown = ", ".join(paths[:3]) + (", ..." if len(paths) > 3 else "")
        return (
            f"{len(paths)} of {len(self.videos)} videos of the selected tasks are missing "
            f"({questions} questions; looked under {where}), first: {shown}. Put the release's "
            "videos there, pass --videos DIR (the release's layout), or rebuild the dataset "
            "with `vlm4d build-dataset ... --videos VIDEOS --out DIR`."
        )


@contextlib.contextmanager
def _environ(values: dict[str, str | None]):
    """os.environ with `values` (None: unset) within the block, for code that reads them."""
    before = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value:
                os.environ[name] = value
            else:
                os.environ.pop(name, None)
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _descriptor(entry) -> object:
    """What lmms-eval hands the task's `process_docs`: the rows of its YAML's data file."""
    kwargs = entry.config.get("dataset_kwargs") or {}
    files = kwargs.get("data_files") if isinstance(kwargs, dict) else None
    split = entry.config.get("test_split", "test")
    name = files.get(split) if isinstance(files, dict) else None
    if entry.config.get("dataset_path") != "json" or not isinstance(name, str):
        return None
    return json.loads((entry.path.parent / name).read_text(encoding="utf-8"))


def _function(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def reads_video(entry) -> bool:
    """Whether a task's visual input comes from the videos, as its `doc_to_visual` says: a
    function marked `reads_video = False` (the blind tasks' `doc_to_no_visual`), or none at
    all, reads no video. A function that cannot be imported here counts as reading them."""
    name = entry.config.get("doc_to_visual")
    if not isinstance(name, str) or not name.strip():
        return False
    try:
        function = _function(name.strip())
    except Exception:
        return True
    return bool(getattr(function, "reads_video", True))


# lmms-eval's --limit / --offset rule, copied (`compat`).
_window = compat.sample_window


def check_videos(
    entries, env: dict[str, str], limit=None, offset=None, model_reads_video: bool = True
) -> VideoCheck:
    """Load each task's questions as lmms-eval will (its `process_docs`, never downloading) and
    look for every video they name; `PreflightError` when the data cannot be loaded. With
    `model_reads_video=False` (a model that never asks for the visual input) the questions are
    loaded and no video is looked for."""
    from vlm4d_tasks.data.paths import VideoNotFoundError, contained_path, video_path
    from vlm4d_tasks.lmms import data as lmms_data

    check = VideoCheck()
    seen: dict[tuple[str, str], str | None] = {}  # (root, video) -> missing path, or None
    values = {name: env.get(name) for name in (lmms_data.DATASET_ENV, lmms_data.VIDEO_ROOT_ENV)}
    values["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"  # a check, not a load worth watching
    with _environ(values), lmms_data.local_only():
        for entry in entries:
            descriptor = _descriptor(entry)
            if entry.process_docs is None or descriptor is None:
                continue
            try:
                docs = _function(entry.process_docs)(descriptor)
            except lmms_data.DatasetNotLocalError:
                check.hub_tasks.append(entry.name)
                continue
            except lmms_data.DatasetNotFoundError as exc:
                raise PreflightError(f"dataset not found: {exc}") from exc
            except Exception as exc:  # what lmms-eval would stop on, said before it starts
                raise PreflightError(
                    f"task {entry.name}: its questions do not load: {type(exc).__name__}: {exc}"
                ) from exc
            if not (model_reads_video and reads_video(entry)):  # questions load; no video opened
                check.no_video.append(entry.name)
                continue
            source = lmms_data.current_source()
            if source is None or source.video_root is None:
                check.hub_videos.append(entry.name)
                continue
            root = source.video_root
            check.roots.add(str(root))
            for i in _window(len(docs), limit, offset):
                doc = docs[i]
                check.questions += 1
                key = (str(root), doc["video"])
                if key not in seen:  # questions share videos: look for each file once
                    try:
                        video_path(doc, root)
                        seen[key] = None
                    except VideoNotFoundError:
                        try:
                            seen[key] = str(contained_path(root, doc["video"]))
                        except ValueError:
                            seen[key] = f"{root}/{doc['video']} (unsafe path)"
                check.videos.add(doc["video"])
                if seen[key] is not None:
                    check.missing.setdefault(seen[key], []).append(doc["uid"])
    return check


def _check_hub(hub_tasks: list[str]) -> str:
    """The note for questions that come from the hub; `PreflightError` if it is unreachable."""
    from vlm4d_tasks.data.hub import (
        OFFICIAL_REPO_ID,
        OFFICIAL_REVISION,
        HubUnavailableError,
        ensure_reachable,
    )
    from vlm4d_tasks.lmms.data import official_dataset_folder

    try:
        ensure_reachable("")
    except HubUnavailableError as exc:
        raise PreflightError(_hub_problem(str(exc))) from exc
    folder = official_dataset_folder(OFFICIAL_REPO_ID, OFFICIAL_REVISION)
    return (
        f"no --dataset: the questions of {', '.join(hub_tasks)} come from the hub "
        f"({OFFICIAL_REPO_ID}@{OFFICIAL_REVISION}), built once into {folder}, and each video "
        "from the hub cache when the model asks for it (not checked here)"
    )


def _hub_problem(message: str) -> str:
    found = re.search(r"cannot reach the Hugging Face hub for (\S+) \((.*?)\)\.", message)
    if found:
        cause = f"{found.group(1)}: {found.group(2)}"
    else:
        cause = "HF_HUB_OFFLINE is set" if "HF_HUB_OFFLINE" in message else message.strip()
    return (
        "without --dataset the questions come from the Hugging Face hub, which cannot be "
        f"reached ({cause}). {_build_hint()}"
    )


# Run in a child process with lmms-eval's environment: the registry is what lmms-eval will see
# (entry-point plugins included), and importing it (a few seconds: it loads every plugin) runs
# beside the data checks and leaves this process, its logging and its output untouched. The
# script (`compat.MODEL_NAMES_SCRIPT`) names lmms-eval's registry API, so it lives in `compat`.
class ModelLookup:
    """lmms-eval's registered model names, looked up in a child process started at once."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", compat.MODEL_NAMES_SCRIPT], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip

    def names(self, timeout: float = 300) -> tuple[set[str] | None, str]:
        """(the names, "") or (None, why they are not known)."""
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.cancel()
            return None, f"no answer in {timeout:.0f} s"
        for line in reversed(out.splitlines()):
            if line.startswith(compat.MODEL_NAMES_MARK):
                answer = json.loads(line[len(compat.MODEL_NAMES_MARK) :])
                if "names" in answer:
                    return set(answer["names"]), ""
                return None, answer.get("error", "no names")
        return None, f"the lookup exited with status {self.process.returncode}"

    def cancel(self) -> None:
        """Stop the lookup if it still runs (a data problem needs no model name)."""
        if self.process.stdout is None or self.process.stdout.closed:
            return  # answered (communicate closed the pipe)
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


def check_model(name: str | None, lookup: ModelLookup) -> str:
    """A note on the model name; `PreflightError` when lmms-eval's registry does not know it."""
    shown = name or "hf"  # lmms-eval's default --model
    names, why = lookup.names()
    if names is None:  # e.g. an lmms-eval without `list_available_models`: say so, go on
        return f"model name not checked (lmms_eval.models: {why})"
    if shown in names:
        return f"model {shown} registered"
    close = difflib.get_close_matches(shown, sorted(names), n=3)
    near = f" (did you mean {', '.join(close)}?)" if close else ""
    given = f"model {shown!r}" if name else f"no --model given, and lmms-eval's default {shown!r}"
    raise PreflightError(f"{given} is not registered with lmms-eval{near}. {MODEL_HELP}")


def preflight(passthrough: list[str], env: dict[str, str]) -> list[str]:
    """Check tasks, data, videos and model before lmms-eval starts; return notes for the user.

    Raises `PreflightError` with the cause and its fix. Only the VLM4D tasks are checked
    (other lmms-eval tasks are left to lmms-eval). The model registry takes a few seconds to
    import, so it is read in a child process while the data is checked here, and a data
    problem is reported without waiting for it."""
    from vlm4d_tasks.cli.tasks import expand, task_index

    if _option(passthrough, "--config") is not None:
        return ["preflight skipped: the arguments come from --config"]
    tasks = _option(passthrough, "--tasks")
    if not tasks:
        raise PreflightError(
            "no --tasks given: name the tasks to run, e.g. --tasks vlm4d_mc "
            "(`vlm4d eval --tasks list` lists them)"
        )
    index = task_index()
    names = [n.strip() for n in tasks.split(",") if n.strip()]
    for name in names:
        if name.startswith("vlm4d") and not expand([name], index):
            close = difflib.get_close_matches(name, sorted(index), n=3)
            near = f" (did you mean {', '.join(close)}?)" if close else ""
            raise PreflightError(
                f"task {name!r} not found{near}; `vlm4d eval --tasks list` lists the VLM4D tasks"
            )
    entries = expand(names, index)
    notes = []
    others = [n for n in names if not expand([n], index)]
    if others:
        notes.append(f"not checked (not VLM4D tasks): {', '.join(others)}")
    lookup = ModelLookup(env)  # the slow check, in the background
    try:
        notes += _check_data(entries, env, passthrough)
        notes.append(check_model(_option(passthrough, "--model"), lookup))
    finally:
        lookup.cancel()
    return notes


def _check_data(entries, env: dict[str, str], passthrough: list[str]) -> list[str]:
    from vlm4d_tasks.lmms.models import VIDEO_FREE_MODELS

    limit, offset = _option(passthrough, "--limit"), _option(passthrough, "--offset")
    model = _option(passthrough, "--model")
    check = check_videos(entries, env, limit, offset, model not in VIDEO_FREE_MODELS)
    problem = check.problem()
    if problem:
        for path in list(check.missing)[:FIRST_MISSING]:
            uids = check.missing[path]
            more = f" and {len(uids) - 1} more" if len(uids) > 1 else ""
            print(f"vlm4d eval: missing video {path} (question {uids[0]}{more})", file=sys.stderr)
        raise PreflightError(problem)
    notes = []
    if check.hub_tasks:
        notes.append(_check_hub(check.hub_tasks))
    if check.roots:
        notes.append(
            f"{check.questions} questions, all {len(check.videos)} videos found under "
            f"{', '.join(sorted(check.roots))}"
        )
    if check.no_video:
        why = "no visual input" if model not in VIDEO_FREE_MODELS else f"{model} reads none"
        notes.append(f"no video needed for {', '.join(check.no_video)} ({why})")
    if check.hub_videos:
        notes.append(
            f"the videos of {', '.join(check.hub_videos)} come from the hub cache when the model "
            "asks for them (not checked here; --videos DIR names a local copy)"
        )
    return notes


# --------------------------------------------------------------------------------------------
# Running lmms-eval: its output streamed through, scanned for the cause of a failure

# The line patterns and messages scraped here are lmms-eval's (its log format and wording):
# they live in `compat`, with the version they were written against.


class OutputScan:
    """What a run of lmms-eval said that decides its outcome; bounded memory."""

    KEEP = 50

    def __init__(self) -> None:
        self.exceptions: list[tuple[str, str]] = []  # (type, message), in order of appearance
        self.errors: list[str] = []  # messages lmms-eval logged at ERROR
        self.results_printed = False
        self.interrupted = False  # by Ctrl-C
        self._partial = {"stdout": "", "stderr": ""}

    def feed(self, stream: str, data: bytes | str) -> None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        lines = re.split(r"[\r\n]", self._partial[stream] + text)
        self._partial[stream] = lines.pop()[-65536:]
        for line in lines:
            self.line(line)

    def close(self) -> None:
        for stream, rest in self._partial.items():
            if rest:
                self.line(rest)
            self._partial[stream] = ""

    def line(self, raw: str) -> None:
        line = compat.ANSI.sub("", raw).rstrip()
        found = compat.EXCEPTION_LINE.match(line)
        if found and len(self.exceptions) < self.KEEP:
            self.exceptions.append((found.group(1).rsplit(".", 1)[-1], found.group(2)))
        found = compat.ERROR_LOG.search(line)
        if found and len(self.errors) < self.KEEP:
            self.errors.append(found.group(1))
        if compat.RESULTS_BANNER.match(line):
            self.results_printed = True

    def exception(self, kind: str) -> str | None:
        return next((message for name, message in self.exceptions if name == kind), None)

    def mentions(self, pattern: str) -> re.Match | None:
        for text in [m for _, m in self.exceptions] + self.errors:
            found = re.search(pattern, text)
            if found:
                return found
        return None

    @property
    def evaluation_failed(self) -> bool:
        return any(
            e.startswith(compat.EVALUATION_ERROR) or e.startswith(compat.NO_TASKS)
            for e in self.errors
        )


def diagnose(scan: OutputScan, status: int = 1, missing_videos=None) -> str:
    """The root cause of a failed run and its fix, in one line, from what lmms-eval printed
    and its exit status. `missing_videos()`, called when a video was missing, recounts them
    (a `VideoCheck`)."""
    message = scan.exception("DatasetNotFoundError")
    if message:
        return f"dataset not found: {message}"
    message = scan.exception("VideoNotFoundError")
    if message:
        check = missing_videos() if missing_videos else None
        problem = check.problem() if check is not None else None
        return problem or (
            f"a video is missing: {message}. Put the release's videos in place, pass --videos "
            "DIR, or rebuild the dataset with `vlm4d build-dataset ... --videos VIDEOS`."
        )
    message = scan.exception("HubUnavailableError")
    if message:
        return _hub_problem(message)
    found = scan.mentions(compat.MODEL_NOT_FOUND)
    if found:
        return f"model {found.group(1)!r} is not registered with lmms-eval. {MODEL_HELP}"
    found = scan.mentions(compat.TASKS_NOT_FOUND)
    if found:
        return f"tasks not found: {found.group(1)}; `vlm4d eval --tasks list` lists the VLM4D tasks"
    if any(e.startswith(compat.NO_TASKS) for e in scan.errors):
        return "no --tasks given: `vlm4d eval --tasks list` lists the VLM4D tasks"
    root = scan.exceptions[0] if scan.exceptions else None
    evaluation = next((e for e in scan.errors if e.startswith(compat.EVALUATION_ERROR)), None)
    if evaluation:
        evaluation = evaluation.split(compat.VERBOSITY_HINT)[0]
    cause = f"{root[0]}: {root[1]}" if root else (evaluation or next(iter(scan.errors), None))
    if cause:
        return f"lmms-eval failed: {cause} (the output above has the details)"
    killed = f" (killed by signal {status - 128})" if status > 128 else ""
    return f"lmms-eval exited with status {status}{killed}; its output above says why"


def pair_run_files(results: Path, since: float) -> list[Path]:
    """Give the table and score the metric wrote during this run the run id of lmms-eval's
    `<run id>_results.json` beside them, so results, samples, table and score of one run
    share one prefix (the metric writes them before lmms-eval has named its files)."""
    from vlm4d_tasks.lmms.run import RUN_FILES

    run_id = results.name.removesuffix("_results.json")
    paired = []
    for kind in ("table.md", "score.json"):
        fresh = [
            p for p in results.parent.glob(f"*_{RUN_FILES}_{kind}")
            if p.stat().st_mtime >= since - 1
        ]  # fmt: skip
        target = results.parent / f"{run_id}_{RUN_FILES}_{kind}"
        if len(fresh) == 1 and fresh[0] != target and not target.exists():
            fresh[0].rename(target)
        if target.exists():
            paired.append(target)
    return paired


def run_files(results: Path, since: float) -> list[tuple[str, Path]]:
    """(kind, path) of every file of the run whose results file is `results`, found on disk
    (lmms-eval puts them in a sub-folder named after `pretrained=` or another model argument,
    so the folder is only known once they are written): samples, our table and score (given
    the run id first, `pair_run_files`), the results file last."""
    from vlm4d_tasks.lmms.run import RUN_FILES

    run_id = results.name.removesuffix("_results.json")
    files = [("samples", p) for p in sorted(results.parent.glob(f"{run_id}_samples_*.jsonl"))]
    for path in pair_run_files(results, since):
        kind = "table" if path.name.endswith(f"_{RUN_FILES}_table.md") else "score"
        files.append((kind, path))
    return [*files, ("results", results)]


def _results_files(output_path: str | None, since: float) -> list[Path]:
    if not output_path:
        return []
    folder = Path(output_path).expanduser()
    if not folder.exists():
        return []
    found = folder.rglob("*_results.json") if folder.is_dir() else []
    return sorted(p for p in found if p.stat().st_mtime >= since - 1)


def _pump(pipe, stream_name: str, scan: OutputScan, lock: threading.Lock) -> None:
    """Copy a child's pipe to our stream as it comes (progress bars too), scanning it. A closed
    stream of ours (`| head`) stops the copy, never the reading: the child must not block."""
    target = sys.stdout if stream_name == "stdout" else sys.stderr
    binary = getattr(target, "buffer", None)
    copying = True
    while True:
        chunk = pipe.read1(65536)
        if not chunk:
            break
        if copying:
            try:
                if binary is not None:
                    binary.write(chunk)
                    binary.flush()
                else:
                    target.write(chunk.decode("utf-8", "replace"))
                    target.flush()
            except (OSError, ValueError):
                copying = False
        with lock:
            scan.feed(stream_name, chunk)


def run_lmms_eval(command: list[str], env: dict[str, str]) -> tuple[int, OutputScan]:
    """Run lmms-eval, its output passed through as it comes; (exit status, what it said).

    A status is never negative: a child killed by signal N gives 128 + N, as a shell says."""
    scan, lock = OutputScan(), threading.Lock()
    env = {"PYTHONUNBUFFERED": "1", **env}  # live output through the pipes
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    threads = [
        threading.Thread(target=_pump, args=(pipe, name, scan, lock), daemon=True)
        for name, pipe in (("stdout", process.stdout), ("stderr", process.stderr))
    ]
    for thread in threads:
        thread.start()
    try:
        status = process.wait()
    except KeyboardInterrupt:  # the child got the same SIGINT: let it stop its own way
        scan.interrupted = True
        try:
            status = process.wait(timeout=30)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            process.kill()
            status = process.wait()
    for thread in threads:
        thread.join()
    scan.close()
    return (128 - status if status < 0 else status), scan


def _fail(message: str, status: int) -> int:
    sys.stdout.flush()
    print(f"vlm4d eval: {message}", file=sys.stderr)
    return status


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.cli import tasks as task_list

    try:
        protocol_model = getattr(args, "protocol_model", None)
        passthrough = apply_protocol(
            list(getattr(args, "passthrough", [])), args.protocol, protocol_model
        )
        listing = _option(passthrough, "--tasks")
        if listing in task_list.LISTINGS:  # our tasks only, from the YAMLs: no lmms-eval index
            sys.stdout.write("".join(f"{line}\n" for line in
                                     task_list.listing(task_list.LISTINGS[listing])))  # fmt: skip
            return 0
        # The base install (no extras) scores, reports and builds datasets but has no
        # lmms-eval: say which extra to install instead of a child's "No module named".
        from importlib.util import find_spec

        needed = {"lmms_eval": "lmms-eval"}
        if args.num_processes > 1:
            needed["accelerate"] = "accelerate"
        if missing := [dist for module, dist in needed.items() if find_spec(module) is None]:
            return _fail(
                f"{' and '.join(missing)} not installed in this environment ({sys.executable}); "
                "running models needs the lmms extra: pip install 'vlm4d-tasks[lmms]'",
                2,
            )
        command = lmms_eval_command(passthrough, args.num_processes)
        env = environment(args)
        frames = protocol_frames(passthrough, args.protocol, protocol_model)
        if frames is not None and getattr(args, "frames", None) is None:
            env[FRAMES.name] = frames  # the declared frames; --frames of the user's own wins
    except (ValueError, FileNotFoundError) as exc:
        return _fail(str(exc), 2)
    if not args.no_preflight:
        started = time.monotonic()
        try:
            notes = preflight(passthrough, env)
        except PreflightError as exc:
            return _fail(f"preflight: {exc}", 2)
        notes.append(f"{time.monotonic() - started:.1f} s; skip with --no-preflight")
        print(f"vlm4d eval: preflight passed: {'; '.join(notes)}", file=sys.stderr, flush=True)
    started = time.time()
    status, scan = run_lmms_eval(command, env)
    if scan.interrupted:
        return _fail("interrupted (Ctrl-C); lmms-eval stopped", 130)
    output_path = _option(passthrough, "--output_path")
    results = _results_files(output_path, started)
    if status == 0 and not scan.evaluation_failed:
        if results or (not output_path and scan.results_printed):
            for path in results:
                for kind, written in run_files(path, started):
                    print(f"vlm4d eval: {kind}: {written}", file=sys.stderr)
            return 0
        if not scan.exceptions:
            where = f"wrote no *_results.json under {output_path}" if output_path else (
                "printed no results")  # fmt: skip
            return _fail(f"lmms-eval {where}; its output above says why", 1)

    def recount() -> VideoCheck | None:
        from vlm4d_tasks.cli.tasks import expand, task_index

        names = (_option(passthrough, "--tasks") or "").split(",")
        try:
            return check_videos(expand(names, task_index()), env)
        except Exception:
            return None

    return _fail(diagnose(scan, status, recount), status or 1)
