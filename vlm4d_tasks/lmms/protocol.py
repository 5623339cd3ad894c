"""The two evaluation protocols of the VLM4D tasks, and the frame settings of published results.

VLM4D (ICCV 2025) evaluates with its own code, github.com/ShijieZhou-UCLA/VLM4D (MIT licence):

* prompts: `MULTI_CHOICE_COT_PROMPT` / `MULTI_CHOICE_DO_PROMPT` of `utils/constant.py`, filled by
  `utils/prepare_input.py` (`vlm4d_tasks/lmms/tasks/prompt_official_cot.jinja`, `prompt_official_direct.jinja`
  reproduce them byte for byte);
* decoding: `MAX_TOKENS = 1024`, `GENERATION_TEMPERATURE = 1.0` (sampling; no top-p is passed, so
  vLLM's and the OpenAI API's default 1.0 applies). `GENERATION_SEED = 215` is defined there but
  passed to no call; we pass it where the backend takes one;
* frames: each published file names its setting (`gpt-4o_32frame.json`, `..._1fps.json`):
  `--total_frames N` takes `numpy.linspace` indices over the decoded frames, `-1` the "1 fps"
  rule of `utils/video_process.py` (see `vlm4d_tasks.video.sampler`).

Two protocols follow from that. `greedy` is the default of the tasks (our paraphrased prompts,
deterministic decoding: reproducible to the byte, so a change of score is a change of model).
`official` is the official evaluation as far as lmms-eval lets us set it (task names ending in
`_official`). They can differ by points: sampling at temperature 1 against greedy decoding, and
the wording of the prompt. Numbers of different protocols are never ranked together unmarked:
the table rows carry the task name and the table says which protocol each row used.

Everything here is pure (no file read, no lmms-eval import).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from vlm4d_tasks.video.sampler import Fps, Uniform, fps, uniform

GREEDY = "greedy"
OFFICIAL = "official"
OFFICIAL_SUFFIX = "_official"  # task (and table row) names of the official protocol
OFFICIAL_SEED = 215  # utils/constant.py GENERATION_SEED


@dataclass(frozen=True)
class Protocol:
    """A protocol: prompt styles (`vlm4d_tasks.lmms.prompts.STYLES` keys) and decoding."""

    name: str
    prompts: Mapping[str, str]  # "cot" / "direct" -> prompt style
    generation_kwargs: Mapping[str, Any]  # exactly the task YAMLs' `generation_kwargs`
    seed: int | None  # the seed this protocol asks for (lmms-eval `--seed`, backend seed)
    summary: str = field(default="", compare=False)


PROTOCOLS: dict[str, Protocol] = {
    GREEDY: Protocol(
        GREEDY,
        {"cot": "cot", "direct": "direct"},
        {"max_new_tokens": 1024, "temperature": 0, "do_sample": False, "until": []},
        None,
        "our prompt wording from prompt_cot.jinja / prompt_direct.jinja, greedy decoding, "
        "1024 new tokens",
    ),
    OFFICIAL: Protocol(
        OFFICIAL,
        {"cot": "official_cot", "direct": "official_direct"},
        {"max_new_tokens": 1024, "temperature": 1.0, "do_sample": True, "top_p": 1.0, "until": []},
        OFFICIAL_SEED,
        "the official prompt wording byte for byte, sampling at temperature 1.0 (top-p 1.0), "
        f"1024 new tokens, seed {OFFICIAL_SEED}",
    ),
}

# The tasks that have an `_official` variant: the release's questions in the paper's settings.
# The category entry points and the probe set are ours: they have no official counterpart.
OFFICIAL_VARIANTS: tuple[str, ...] = (
    "vlm4d_mc", "vlm4d_mc_direct", "vlm4d_mc_frames",
    "vlm4d_real_mc", "vlm4d_synthetic_mc", "vlm4d_real_mc_direct",
    "vlm4d_synthetic_mc_direct", "vlm4d_real_mc_frames", "vlm4d_synthetic_mc_frames",
)  # fmt: skip

# lmms-eval 0.7.3 model names whose class hands `gen_kwargs["seed"]` to the backend (checked in
# lmms_eval/models: chat/openai.py and its subclass chat/litellm.py put it in the request,
# simple/vllm.py into SamplingParams, used by chat/vllm.py and chat/vllm_generate.py). Other
# classes ignore it or pass every generation kwarg to transformers' generate(), which rejects
# unknown ones: they get the seed only through lmms-eval's `--seed` (python, numpy, torch).
SEED_BACKENDS: frozenset[str] = frozenset({
    "openai", "openai_compatible", "openai_compatible_chat",
    "litellm", "litellm_chat", "litellm_compatible",
    "vllm", "vllm_generate",
})  # fmt: skip

# Model arguments of lmms-eval 0.7.3 model classes that set how many frames a video model takes
# (recorded in the run metadata; see the tasks README for which class reads which).
FRAME_MODEL_ARGS: tuple[str, ...] = (
    "max_num_frames", "max_frames_num", "max_frame_num", "nframes", "num_frames", "num_frame",
    "fps", "video_fps",
)  # fmt: skip


def protocol_of(name: str) -> Protocol:
    """The protocol of a task or table row name: `..._official` is official, else greedy."""
    return PROTOCOLS[OFFICIAL if name.endswith(OFFICIAL_SUFFIX) else GREEDY]


def task_for(name: str, protocol: str) -> str:
    """The name of task `name` under `protocol` (`vlm4d_mc` -> `vlm4d_mc_official`).

    A task of another protocol, or one without an official variant, is an error, never
    silently run under the protocol it has.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {sorted(PROTOCOLS)}")
    base = name.removesuffix(OFFICIAL_SUFFIX)
    if protocol == GREEDY:
        if name != base:
            raise ValueError(f"task {name} is of the official protocol, not greedy")
        return name
    if base not in OFFICIAL_VARIANTS:
        raise ValueError(
            f"task {name} has no official variant; the official protocol covers "
            f"{', '.join(OFFICIAL_VARIANTS)}"
        )
    return base + OFFICIAL_SUFFIX


# --------------------------------------------------------------------------------------------
# Frame settings of the published result files

# The one table: file-name suffix -> frame policy. `_{N}frame` is `--total_frames N` (uniform
# linspace indices); `_1fps` is `--total_frames -1`, which the official vLLM path (Qwen2-VL,
# Qwen2.5-VL, LLaVA-OneVision) reads with `video_to_ndarrays_fps(path, fps=1, max_frames=64)`.
_SUFFIXES: tuple[tuple[re.Pattern[str], Any], ...] = (
    (re.compile(r"(\d+)frames?"), lambda m: uniform(int(m.group(1)))),
    (re.compile(r"1fps"), lambda m: fps(1, 64)),
)


def frame_setting(text: str | int) -> Uniform | Fps:
    """The frame policy a setting names: `8` (N frames), `32frame`, `1fps`, or a published file.

    `"gpt-4o_32frame.json"` and `"_32frame"` give `uniform(32)`; `"Qwen2.5-VL-7B-Instruct_1fps"`
    gives `fps(1, 64)`, the official 1 fps reader. Anything else raises ValueError.
    """
    raw = str(text).strip()
    name = PurePath(raw).name if raw else raw
    name = name.removesuffix(".json").lower()
    candidate = name.rsplit("_", 1)[-1]
    if candidate.isdigit():
        candidate += "frame"
    for pattern, make in _SUFFIXES:
        match = pattern.fullmatch(candidate)
        if match:
            try:
                return make(match)
            except ValueError:
                break  # 0 frames: no visual input, not a frame setting
    raise ValueError(
        f"frame setting {text!r}: expected N, 'Nframe' or '1fps' (the suffixes of the "
        "published files, e.g. gpt-4o_32frame.json, Qwen2.5-VL-7B-Instruct_1fps.json)"
    )


# --------------------------------------------------------------------------------------------
# What a run used (for its metadata and its table)


def parse_args_string(text: Any) -> dict[str, Any]:
    """`a=1,b=x` -> {"a": 1, "b": "x"}, with lmms-eval's value conversion (bool, int, float)."""
    if isinstance(text, Mapping):
        return dict(text)
    out: dict[str, Any] = {}
    for part in str(text or "").split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            continue
        value = value.strip()
        if value.lower() in ("true", "false"):
            out[key.strip()] = value.lower() == "true"
            continue
        try:
            out[key.strip()] = int(value) if value.isnumeric() else float(value)
        except ValueError:
            out[key.strip()] = value
    return out


def describe_run(
    rows: Iterable[str], gen_kwargs: Any = None, seed: Any = None, model_args: Any = None
) -> dict[str, Any]:
    """The protocol block of a run's metadata: which protocol each table row used, and how.

    `gen_kwargs` is lmms-eval's `--gen_kwargs` (it updates every task's `generation_kwargs`),
    `seed` its `--seed`, `model_args` its `--model_args` (the frame arguments are kept).
    """
    by_row = {row: protocol_of(row).name for row in sorted(rows)}
    used = sorted(set(by_row.values()))
    override = parse_args_string(gen_kwargs)
    decoding = {}
    for name in used:
        effective = {**PROTOCOLS[name].generation_kwargs, **override}
        decoding[name] = {key: effective[key] for key in sorted(effective)}
    frames = {k: v for k, v in parse_args_string(model_args).items() if k in FRAME_MODEL_ARGS}
    return {
        "name": used[0] if len(used) == 1 else "mixed" if used else None,
        "rows": by_row,
        "decoding": decoding,
        "gen_kwargs_override": override,
        "seed": {"lmms_eval": _plain(seed), "generation": override.get("seed")},
        "model_frame_args": frames,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return list(value)
    return value


def markdown_line(block: Mapping[str, Any] | None) -> str:
    """One line for the results table saying which protocol its rows used."""
    if not block or not block.get("rows"):
        return "Protocol: none recorded."
    rows: Mapping[str, str] = block["rows"]
    if block.get("name") != "mixed":
        protocol = PROTOCOLS[block["name"]]
        line = (
            f"Protocol: **{protocol.name}** ({protocol.summary}). Numbers made under another "
            "protocol are not comparable with these."
        )
    else:
        parts = ", ".join(f"`{row}` {name}" for row, name in rows.items())
        line = (
            f"Protocols differ between rows ({parts}): rows of different protocols are not "
            "comparable and must not be ranked together."
        )
    override = block.get("gen_kwargs_override")
    if override:
        line += f" Decoding overridden by `--gen_kwargs`: {_kv(override)}."
    seeds = block.get("seed") or {}
    if OFFICIAL in rows.values() and seeds.get("lmms_eval") is not None:
        # sampled answers: the seeds this run actually had
        backend = seeds.get("generation")
        line += (
            f" Seeds: lmms-eval `--seed` {seeds['lmms_eval']}, "
            f"backend {backend if backend is not None else 'not set'}."
        )
    return line


def _kv(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
