"""The evaluation protocols of the tasks: which task each runs, its decoding, frame settings.

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

Two more are other papers' or harnesses' evaluations: `dsr-suite` (DSR Suite's VLM4D baseline,
tasks ending in `_dsr_suite`) and `vlmevalkit-dsrbench` (the DSR-Bench tasks).

This module is pure (no file read, no lmms-eval import). The declarations (`protocols.json`,
one per protocol: prompt, frames, resolution, decoding, scorer, each setting with the
repository, file and line it was read from) are read lazily by `lmms.protocol_declarations`;
what a run applied of its protocol is `lmms.protocol_run`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from vlm4d_tasks.lmms.protocol_declarations import Declaration, declaration
from vlm4d_tasks.video.sampler import Fps, Uniform, fps, uniform

GREEDY = "greedy"
OFFICIAL = "official"
DSR_SUITE = "dsr-suite"
VLMEVALKIT_DSRBENCH = "vlmevalkit-dsrbench"  # the DSR-Bench tasks: VLMEvalKit's DSRBench rules
DSR_BENCH_TASK = "dsr_bench"  # DSR-Bench's task (and row) names: dsr_bench, dsr_bench_<frames>
OFFICIAL_SUFFIX = "_official"  # task (and table row) names of the official protocol
DSR_SUITE_SUFFIX = "_dsr_suite"  # task (and table row) names of the DSR Suite protocol
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

# The tasks that have an `_official` variant: the release's questions in the paper's settings,
# and the probe set (chain of thought), so that the protocol can be run offline. The category
# entry points are ours: they have no official counterpart.
OFFICIAL_VARIANTS: tuple[str, ...] = (
    "vlm4d_mc", "vlm4d_mc_direct", "vlm4d_mc_frames",
    "vlm4d_real_mc", "vlm4d_synthetic_mc", "vlm4d_real_mc_direct",
    "vlm4d_synthetic_mc_direct", "vlm4d_real_mc_frames", "vlm4d_synthetic_mc_frames",
    "vlm4d_probe_mc",
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


# The tasks that have a `_dsr_suite` variant. DSR Suite asks for the letter only: the chain of
# thought and direct tasks map to the same variant (its one prompt); the probe set has one so
# that the protocol can be run offline.
DSR_SUITE_VARIANTS: dict[str, str] = {
    "vlm4d_mc": "vlm4d_mc", "vlm4d_mc_direct": "vlm4d_mc",
    "vlm4d_real_mc": "vlm4d_real_mc", "vlm4d_real_mc_direct": "vlm4d_real_mc",
    "vlm4d_synthetic_mc": "vlm4d_synthetic_mc", "vlm4d_synthetic_mc_direct": "vlm4d_synthetic_mc",
    "vlm4d_mc_frames": "vlm4d_mc_frames", "vlm4d_real_mc_frames": "vlm4d_real_mc_frames",
    "vlm4d_synthetic_mc_frames": "vlm4d_synthetic_mc_frames",
    "vlm4d_probe_mc": "vlm4d_probe_mc",
}  # fmt: skip
SUFFIXES: dict[str, str] = {OFFICIAL: OFFICIAL_SUFFIX, DSR_SUITE: DSR_SUITE_SUFFIX}
PROTOCOL_NAMES: tuple[str, ...] = (GREEDY, OFFICIAL, DSR_SUITE, VLMEVALKIT_DSRBENCH)


def get_protocol(name: str) -> Protocol:
    """The protocol named `name`: `greedy`, `official` (both in `PROTOCOLS`), `dsr-suite` or
    `vlmevalkit-dsrbench`, whose decoding is read from their declarations (loaded then, never
    at import)."""
    if name in PROTOCOLS:
        return PROTOCOLS[name]
    if name == DSR_SUITE:
        return _dsr_suite_protocol()
    if name == VLMEVALKIT_DSRBENCH:
        return _vlmevalkit_dsrbench_protocol()
    raise ValueError(f"unknown protocol {name!r}; expected one of {', '.join(PROTOCOL_NAMES)}")


@functools.lru_cache(maxsize=1)
def _dsr_suite_protocol() -> Protocol:
    decl = declaration(DSR_SUITE)
    return Protocol(
        DSR_SUITE, {"direct": DSR_SUITE, "cot": DSR_SUITE}, generation_kwargs_of(decl), None,
        decl.summary,
    )  # fmt: skip


@functools.lru_cache(maxsize=1)
def _vlmevalkit_dsrbench_protocol() -> Protocol:
    decl = declaration(VLMEVALKIT_DSRBENCH)
    template = decl.prompt["templates"]["direct"]  # one prompt: the letter only
    return Protocol(
        VLMEVALKIT_DSRBENCH, {"direct": template, "cot": template}, generation_kwargs_of(decl),
        None, decl.summary,
    )  # fmt: skip


def is_dsr_bench(name: str) -> bool:
    """A DSR-Bench task or row (`dsr_bench`, `dsr_bench_32frame`, ...): VLMEvalKit's rules."""
    return name == DSR_BENCH_TASK or name.startswith(DSR_BENCH_TASK + "_")


def generation_kwargs_of(decl: Declaration) -> dict[str, Any]:
    """The task YAMLs' `generation_kwargs` of a declaration's decoding: every key it fixes (not
    null; the seed is a run option, `--seed`, as for the official tasks), and no stop string."""
    out = {
        key: decl.decoding[key]
        for key in ("max_new_tokens", "temperature", "top_p", "top_k", "do_sample")
        if decl.decoding.get(key) is not None
    }
    out["until"] = []
    return out


def protocol_of(name: str) -> Protocol:
    """The protocol of a task or table row name: `..._official` is official, `..._dsr_suite`
    DSR Suite's, `dsr_bench...` VLMEvalKit's DSRBench (`vlmevalkit-dsrbench`), else greedy."""
    if is_dsr_bench(name):
        return get_protocol(VLMEVALKIT_DSRBENCH)
    if name.endswith(DSR_SUITE_SUFFIX):
        return get_protocol(DSR_SUITE)
    return PROTOCOLS[OFFICIAL if name.endswith(OFFICIAL_SUFFIX) else GREEDY]


def task_for(name: str, protocol: str) -> str:
    """The name of task `name` under `protocol` (`vlm4d_mc` -> `vlm4d_mc_official`,
    `vlm4d_mc_dsr_suite`).

    A task of another protocol, or one without a variant of this protocol, is an error, never
    silently run under the protocol it has.
    """
    if protocol not in PROTOCOL_NAMES:
        raise ValueError(
            f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOL_NAMES)}"
        )
    base, has = name, GREEDY
    for other, suffix in SUFFIXES.items():
        if name.endswith(suffix):
            base, has = name.removesuffix(suffix), other
    if is_dsr_bench(name):
        # DSR-Bench's tasks are VLMEvalKit's protocol and have no variant of another
        if protocol != VLMEVALKIT_DSRBENCH:
            raise ValueError(
                f"task {name} is of the {VLMEVALKIT_DSRBENCH} protocol, not {protocol}; "
                "it has no variant of another protocol"
            )
        return name
    if protocol == VLMEVALKIT_DSRBENCH:
        raise ValueError(
            f"task {name} has no {protocol} variant; the {protocol} protocol covers the "
            f"DSR-Bench tasks ({DSR_BENCH_TASK}, {DSR_BENCH_TASK}_<frames>)"
        )
    if protocol == GREEDY:
        if has != GREEDY:
            raise ValueError(f"task {name} is of the {has} protocol, not greedy")
        return name
    if has not in (GREEDY, protocol):
        raise ValueError(f"task {name} is of the {has} protocol, not {protocol}")
    if protocol == OFFICIAL and base in OFFICIAL_VARIANTS:
        return base + OFFICIAL_SUFFIX
    if protocol == DSR_SUITE and base in DSR_SUITE_VARIANTS.values():
        return base + DSR_SUITE_SUFFIX
    if protocol == DSR_SUITE and base in DSR_SUITE_VARIANTS:
        return DSR_SUITE_VARIANTS[base] + DSR_SUITE_SUFFIX
    covered = OFFICIAL_VARIANTS if protocol == OFFICIAL else tuple(DSR_SUITE_VARIANTS)
    raise ValueError(
        f"task {name} has no {protocol} variant; the {protocol} protocol covers "
        f"{', '.join(covered)}"
    )


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
