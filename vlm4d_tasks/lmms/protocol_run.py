"""What a run applied of its protocol: the `protocol` block of a run's metadata and its line.

`describe_run` records, for the protocol a run's tasks belong to, the settings it declares
(`lmms.protocol_declarations`) and, for each, whether the run applied it, could not (with why)
or passed it without knowing whether the model class uses it (`GENERATION_KWARGS`: how each
lmms-eval model class hands decoding keys on, read in lmms-eval's source). `markdown_line` is
the table's line about it. Pure: no lmms-eval import.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vlm4d_tasks.lmms.protocol import (
    DSR_SUITE,
    DSR_SUITE_SUFFIX,
    FRAME_MODEL_ARGS,
    GREEDY,
    OFFICIAL,
    VLMEVALKIT_DSRBENCH,
    frame_setting,
    get_protocol,
    parse_args_string,
    protocol_of,
)
from vlm4d_tasks.lmms.protocol_declarations import DECODING_KEYS, declaration


def describe_run(
    rows: Iterable[str],
    gen_kwargs: Any = None,
    seed: Any = None,
    model_args: Any = None,
    *,
    model_class: str | None = None,
    protocol_model: str | None = None,
    frames: str | None = None,
    force_simple: bool = False,
    lmms_eval_version: str | None = None,
) -> dict[str, Any]:
    """The protocol block of a run's metadata: which protocol each table row used, and how.

    `gen_kwargs` is lmms-eval's `--gen_kwargs` (it updates every task's `generation_kwargs`),
    `seed` its `--seed`, `model_args` its `--model_args` (the frame arguments are kept),
    `model_class` its `--model` (`force_simple` its `--force_simple`; `lmms_eval_version` the
    installed lmms-eval, against which the classes' decoding tables are checked), `frames` the
    run's `VLM4D_FRAMES`. The model whose per-model
    settings apply is `protocol_model` (`VLM4D_PROTOCOL_MODEL`, `vlm4d eval --protocol-model`)
    when given, else `pretrained=` of `model_args`. `declared` holds, per protocol, what its
    declaration says for that model and which of those settings the run applied
    (`applied`), passed without a way to know whether the model used them
    (`passed_unverified`) or did not apply (`not_applied`, each with the reason).
    """
    by_row = {row: protocol_of(row).name for row in sorted(rows)}
    used = sorted(set(by_row.values()))
    override = parse_args_string(gen_kwargs)
    decoding = {}
    for name in used:
        effective = {**get_protocol(name).generation_kwargs, **override}
        decoding[name] = {key: effective[key] for key in sorted(effective)}
    parsed_model_args = parse_args_string(model_args)
    frame_args = {k: v for k, v in parsed_model_args.items() if k in FRAME_MODEL_ARGS}
    model = protocol_model or parsed_model_args.get("pretrained")
    declared = {}
    for name in used:
        block = declared_for(name, model, decoding[name])
        block.update(
            check_settings(
                block, decoding[name], override,
                [row for row, protocol in by_row.items() if protocol == name],
                model_class=model_class, model_args=parsed_model_args, frames=frames,
                force_simple=force_simple, lmms_eval_version=lmms_eval_version,
            )
        )  # fmt: skip
        if protocol_model:
            block["model_named_by"] = "VLM4D_PROTOCOL_MODEL (vlm4d eval --protocol-model)"
        declared[name] = block
    return {
        "name": used[0] if len(used) == 1 else "mixed" if used else None,
        "rows": by_row,
        "decoding": decoding,
        "gen_kwargs_override": override,
        "seed": {"lmms_eval": _plain(seed), "generation": override.get("seed")},
        "model_frame_args": frame_args,
        "declared": declared,
    }


def declared_for(
    protocol: str, model: Any, run_decoding: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What protocol `protocol`'s declaration says for `model` (its per-model settings when the
    name matches one), and where the run's decoding differs from it.

    `differs` lists each decoding setting the declaration fixes (not null, seed aside: the
    run's seeds are recorded beside) that `run_decoding` sets otherwise, as
    `{key: {"run": value, "declared": value}}`: an `official` run of VideoLLaMA3-7B with the
    tasks' sampling says there that the official script decoded it greedily with 2048 tokens.
    """
    block = declaration(protocol).applied(None if model is None else str(model))
    differs: dict[str, dict[str, Any]] = {}
    for key in _decoding_keys(block["decoding"]):
        want = block["decoding"].get(key)
        if run_decoding is None:
            continue
        have = run_decoding.get(key)
        if have != want and not (key == "temperature" and _zero(have) and _zero(want)):
            differs[key] = {"run": have, "declared": want}
    block["differs"] = differs
    return block


def _decoding_keys(decoding: Mapping[str, Any]) -> list[str]:
    """The decoding keys a declaration fixes that change the answers: not null, the seed
    aside (recorded beside), the sampler settings aside under greedy decoding."""
    ignored = {"seed"} | (
        {"temperature", "top_p", "top_k"} if decoding.get("do_sample") is False else set()
    )
    return [k for k in DECODING_KEYS if k not in ignored and decoding.get(k) is not None]


# Passing a key in `gen_kwargs` does not make a model use it: lmms-eval's classes each build
# their own call to generate() (or to an API) from a few keys and drop the rest. The table
# below was read from lmms-eval 0.7.3 as installed (`LMMS_EVAL_READ`), file:line under
# `lmms_eval/models/`, for the classes `MODEL_CLASS_ARGS` names, the backends of
# `SEED_BACKENDS` and our baselines. How a class treats one key:
#   forwards          the value reaches the backend as given;
#   from_temperature  the class passes no do_sample of its own choosing: it (or the API, or
#                     vLLM) samples exactly when temperature > 0;
#   if_sampling       forwarded only while do_sample is true (popped otherwise);
#   drops             never read: the checkpoint's or the API's own default applies;
#   capped            forwarded up to `limit`;
#   at_least          the class takes the larger of the value and a model argument (`arg`,
#                     default `limit`).
# A class not in the table is "not known": what it passes is recorded as passed, unverified.
LMMS_EVAL_READ = "0.7.3"
FORWARDS, FROM_TEMPERATURE = "forwards", "from_temperature"
IF_SAMPLING, DROPS = "if_sampling", "drops"
CAPPED, AT_LEAST = "capped", "at_least"


@dataclass(frozen=True)
class KeyHandling:
    """How a model class treats one generation kwarg, and where its code says so."""

    how: str
    where: str  # file:line under lmms_eval/models/ (ours: under vlm4d_tasks/)
    limit: int | None = None  # `capped`: the cap; `at_least`: the model argument's default
    arg: str | None = None  # `at_least`: the model argument


@dataclass(frozen=True)
class ClassDecoding:
    """The generation kwargs of one model class (`GENERATION_KWARGS`)."""

    file: str
    keys: Mapping[str, KeyHandling]
    decodes: bool = True  # False: the class answers without decoding (our baselines)


def _keys(file: str, **how: tuple) -> ClassDecoding:
    keys = {}
    for key, (kind, line, *extra) in how.items():
        where = line if ":" in line else f"{file}:{line}"
        keys[key] = KeyHandling(kind, where, *extra)
    return ClassDecoding(file, keys)


def _baseline(name: str, line: int) -> ClassDecoding:
    return ClassDecoding(f"vlm4d_tasks/lmms/models/{name}.py:{line}", {}, decodes=False)


# (lmms-eval model name, implementation) -> its decoding. `--model NAME` resolves to the chat
# implementation when NAME has one, else to the simple one; `--force_simple` picks the simple
# one of a name that has both (lmms_eval/models/registry_v2.py:82-97).
_GEMINI = _keys(
    "simple/gemini.py", do_sample=(FROM_TEMPERATURE, "217-221"),
    temperature=(FORWARDS, "217"), max_new_tokens=(FORWARDS, "216"),
    top_p=(DROPS, "219-227"), top_k=(DROPS, "219-227"),
)  # fmt: skip
GENERATION_KWARGS: dict[tuple[str, str], ClassDecoding] = {
    ("qwen2_vl", "simple"): _keys(
        "simple/qwen2_vl.py", do_sample=(FROM_TEMPERATURE, "416"), temperature=(FORWARDS, "417"),
        top_p=(FORWARDS, "418"), max_new_tokens=(FORWARDS, "420"),
        top_k=(DROPS, "412-421"),  # the generate() call names no top_k
    ),
    ("qwen2_5_vl", "chat"): _keys(
        "chat/qwen2_5_vl.py", do_sample=(FROM_TEMPERATURE, "131-134"),
        temperature=(FORWARDS, "145"), top_p=(FORWARDS, "146"), top_k=(FORWARDS, "149"),
        max_new_tokens=(FORWARDS, "148"),
    ),
    ("qwen2_5_vl", "simple"): _keys(
        "simple/qwen2_5_vl.py", do_sample=(FROM_TEMPERATURE, "327-330"),
        temperature=(FORWARDS, "339"), top_p=(FORWARDS, "340"), max_new_tokens=(FORWARDS, "342"),
        top_k=(DROPS, "334-344"),
    ),
    ("llava_onevision", "simple"): _keys(
        "simple/llava_onevision.py", do_sample=(FORWARDS, "596"), max_new_tokens=(FORWARDS, "596"),
        temperature=(IF_SAMPLING, "584-587"), top_p=(IF_SAMPLING, "584-587"),
        top_k=(IF_SAMPLING, "584-587"),
    ),
    ("claude", "simple"): _keys(
        "simple/claude.py", do_sample=(FROM_TEMPERATURE, "210"), temperature=(FORWARDS, "210"),
        top_p=(FORWARDS, "210"), top_k=(DROPS, "210"), max_new_tokens=(CAPPED, "198-199", 4096),
    ),
    ("internvideo2_5", "simple"): _keys(
        # only DEFAULT_GEN_KWARGS' keys (26-30) survive (277-287), handed to the checkpoint's own
        # chat() (its remote code, not lmms-eval's: "forwards" stops at lmms-eval's side)
        "simple/internvideo2_5.py", do_sample=(FORWARDS, "26-30"),
        max_new_tokens=(FORWARDS, "26-30"), temperature=(DROPS, "281-287"),
        top_p=(DROPS, "281-287"), top_k=(DROPS, "281-287"),
    ),
    ("videollama3", "simple"): _keys(
        "simple/videollama3.py", do_sample=(FORWARDS, "204"), temperature=(FORWARDS, "205"),
        top_p=(FORWARDS, "206"), top_k=(FORWARDS, "207"), max_new_tokens=(FORWARDS, "208"),
    ),
    # chat/gemini.py:266 builds the request's config with simple/gemini.py:215-227
    ("gemini", "chat"): _GEMINI,
    ("gemini", "simple"): _GEMINI,
    ("phi4_multimodal", "chat"): _keys(
        "chat/phi4_multimodal.py", do_sample=(FROM_TEMPERATURE, "111"),
        temperature=(FORWARDS, "112"), top_p=(FORWARDS, "113"), max_new_tokens=(FORWARDS, "115"),
        top_k=(DROPS, "109-118"),
    ),
    ("openai", "chat"): _keys(
        "chat/openai.py", do_sample=(FROM_TEMPERATURE, "207"), temperature=(FORWARDS, "207"),
        max_new_tokens=(FORWARDS, "206"), top_p=(FORWARDS, "209-212"),
        top_k=(DROPS, "209-212"),
    ),
    ("vllm", "chat"): _keys(
        # chat/vllm.py:73-76 -> simple/vllm.py:355-377 (SamplingParams have no do_sample)
        "simple/vllm.py", do_sample=(FROM_TEMPERATURE, "360-364"),
        temperature=(FORWARDS, "362"), top_p=(FORWARDS, "363"), top_k=(FORWARDS, "365-376"),
        max_new_tokens=(AT_LEAST, "simple/vllm.py:333-341", 4096, "max_new_tokens"),
    ),
    ("vllm", "simple"): _keys(
        "simple/vllm.py", do_sample=(FROM_TEMPERATURE, "360-364"),
        temperature=(FORWARDS, "362"), top_p=(FORWARDS, "363"), top_k=(FORWARDS, "365-376"),
        max_new_tokens=(AT_LEAST, "333-341", 1024, "max_new_tokens"),
    ),
    ("vllm_generate", "chat"): _keys(
        "simple/vllm.py", do_sample=(FROM_TEMPERATURE, "360-364"),
        temperature=(FORWARDS, "362"), top_p=(FORWARDS, "363"), top_k=(FORWARDS, "365-376"),
        max_new_tokens=(AT_LEAST, "chat/vllm_generate.py:90", 4096, "max_new_tokens"),
    ),
    # our baselines answer without a model: no generation kwarg reaches anything
    ("vlm4d_random", "simple"): _baseline("vlm4d_random", 31),
    ("vlm4d_prior", "simple"): _baseline("vlm4d_prior", 45),
    ("vlm4d_replay", "simple"): _baseline("vlm4d_replay", 144),
}  # fmt: skip


# lmms-eval 0.7.3 names (models/__init__.py) of the table with a chat implementation: both
# (AVAILABLE_SIMPLE_MODELS and AVAILABLE_CHAT_TEMPLATE_MODELS) or chat only; and aliases.
_CHAT_AND_SIMPLE = frozenset({"qwen2_5_vl", "gemini", "phi4_multimodal", "openai", "vllm"})


_CHAT_ONLY = frozenset({"vllm_generate"})


_MODEL_ALIASES = {"openai_compatible": "openai", "openai_compatible_chat": "openai",
                  "gemini_api": "gemini"}  # fmt: skip


def class_decoding(
    model_class: str | None, *, force_simple: bool = False, lmms_eval_version: str | None = None
) -> tuple[ClassDecoding | None, str]:
    """The decoding table entry of lmms-eval's `--model` (None when not known) and a phrase
    naming it, or saying why it is not known (another lmms-eval than the table was read
    from: its code may differ, so nothing is claimed for it but our baselines)."""
    if not model_class:
        return None, "no model class recorded"
    name = _MODEL_ALIASES.get(str(model_class), str(model_class))
    impl = (
        "chat"
        if name in _CHAT_ONLY or (name in _CHAT_AND_SIMPLE and not force_simple)
        else "simple"
    )
    found = GENERATION_KWARGS.get((name, impl))
    if found is None:
        return None, (
            f"model class {model_class!r} ({impl}) is not in vlm4d_tasks.lmms.protocol."
            f"GENERATION_KWARGS (read from lmms-eval {LMMS_EVAL_READ})"
        )
    if found.decodes and lmms_eval_version not in (None, LMMS_EVAL_READ):
        return None, (
            f"model class {model_class!r} was read in lmms-eval {LMMS_EVAL_READ}; this run "
            f"has lmms-eval {lmms_eval_version}"
        )
    where = found.file if not found.decodes else f"lmms_eval {LMMS_EVAL_READ} models/{found.file}"
    return found, f"model class {model_class!r} ({where})"


def decoding_state(
    key: str, want: Any, run_decoding: Mapping[str, Any], found: ClassDecoding | None,
    named: str, model_args: Mapping[str, Any] | None = None,
) -> tuple[str, Any]:  # fmt: skip
    """Whether declared decoding setting `key` = `want`, which the run passed as declared,
    reached the model: ("applied", file:line), ("not_applied", why) or ("passed_unverified",
    why). `found`, `named`: `class_decoding`'s answer."""
    if found is None:
        return (
            "passed_unverified",
            f"passed in gen_kwargs; whether it reaches the model is not known: {named}",
        )
    if not found.decodes:
        return (
            "not_applied",
            f"{named} answers without decoding: no generation kwarg reaches a model",
        )
    handling = found.keys.get(key)
    if handling is None or handling.how == DROPS:
        where = f" ({handling.where})" if handling else ""
        return "not_applied", (
            f"{named} does not hand {key} to the backend{where}: the backend's own default applies"
        )
    where = f"lmms_eval {LMMS_EVAL_READ} models/{handling.where}"
    if handling.how == FORWARDS:
        return "applied", where
    if handling.how == FROM_TEMPERATURE:
        temperature = run_decoding.get("temperature")
        samples = (
            isinstance(temperature, (int, float))
            and not isinstance(temperature, bool)
            and temperature > 0
        )
        if samples == bool(want):
            return "applied", f"{where} (sampling follows temperature {temperature})"
        return "not_applied", (
            f"{named} samples exactly when temperature > 0 ({where}), whatever do_sample says: "
            f"temperature {temperature} gives do_sample={samples}"
        )
    if handling.how == IF_SAMPLING:
        if run_decoding.get("do_sample"):
            return "applied", where
        return "not_applied", f"{named} drops {key} when do_sample is false ({where})"
    value = run_decoding.get(key)
    if handling.how == CAPPED:
        if isinstance(value, int) and value <= int(handling.limit or 0):
            return "applied", where
        return "not_applied", f"{named} caps {key} at {handling.limit} ({where})"
    if handling.how == AT_LEAST:
        given = (model_args or {}).get(handling.arg, handling.limit)
        try:
            effective = max(int(value), int(given))
        except (TypeError, ValueError):
            effective = None
        if effective == want:
            return "applied", f"{where} (the larger of {value} and {handling.arg}={given})"
        return "not_applied", (
            f"{named} takes the larger of the task's {key} and its model argument "
            f"{handling.arg} ({where}): {value} and {given} give {effective}; "
            f"`--model_args {handling.arg}={want}` applies the declared {key}"
        )
    return "passed_unverified", f"{named}: handling {handling.how!r} of {key} is not checked"


# lmms-eval 0.7.3 model classes (lmms_eval/models, the class `--model` selects) and the model
# arguments that set their frames and resolution (the tasks README, "Frame settings of the
# published numbers"): `count` takes a number of frames, `fps` a sampling rate, `max_pixels`
# a pixel budget per frame. A class not listed here has none that we know of.
MODEL_CLASS_ARGS: dict[str, dict[str, str]] = {
    "qwen2_5_vl": {"count": "max_num_frames", "fps": "fps", "max_pixels": "max_pixels"},
    "qwen2_vl": {"count": "max_num_frames", "max_pixels": "max_pixels"},
    "llava_onevision": {"count": "max_frames_num"},
    "claude": {"count": "max_frames_num"},
    "internvideo2_5": {"count": "max_frames_num", "segments": "max_frames_num"},
    "videollama3": {"model_fps_max": "max_num_frames"},
    "gemini": {"video_file": ""},
}  # fmt: skip


FRAMES_TASK = "_frames"  # row names of the tasks that hand the model sampled PIL frames


def frames_request(frames: Mapping[str, Any], model_class: str | None, frames_task: bool):
    """How a declared frame rule is applied: ("env", VLM4D_FRAMES value) for the `*_frames`
    tasks, ("model_args", {arg: value}) for a video model class that takes it, or
    ("none", reason). `frames` is a declaration's frames section (sources left out)."""
    rule = frames.get("rule")
    if rule in (None, "model"):
        return "none", None  # the model's own frames are the protocol's
    if rule == "per_model":
        return "none", "the frames are per model and no model of the declaration is named"
    if frames_task:
        if rule == "uniform":
            return "env", str(int(frames["count"]))
        if rule == "fps" and (frames.get("fps"), frames.get("max_frames")) == (1, 64):
            return "env", "1fps"
        if rule == "fps_for_max_frames":
            return "env", str(int(frames["max_frames"]))
        why = {
            "segments": f"{frames.get('count')} segment-centre frames: no frame setting of the "
            "*_frames tasks gives them (uniform linspace indices or the official 1 fps rule)",
            "model_fps": f"the model's processor at {frames.get('fps')} fps up to "
            f"{frames.get('max_frames')} frames: the *_frames tasks' 1fps rule stops at 64",
            "video_file": "the script uploaded the whole video file: run the video tasks "
            "(not *_frames)",
        }
        return "none", why.get(rule, f"frame rule {rule!r} has no *_frames setting")
    args = MODEL_CLASS_ARGS.get(str(model_class), {})
    known = f"model class {model_class!r}"
    if rule in ("uniform", "fps_for_max_frames") and "count" in args:
        return "model_args", {args["count"]: int(frames.get("count") or frames["max_frames"])}
    if rule == "fps" and "fps" in args:
        return "model_args", {args["fps"]: frames["fps"]}
    if rule == "segments" and "segments" in args:
        return "model_args", {args["segments"]: int(frames["count"])}
    if rule == "model_fps" and "model_fps_max" in args:
        return "model_args", {args["model_fps_max"]: int(frames["max_frames"])}
    if rule == "video_file" and "video_file" in args:
        return "model_args", {}
    return "none", (
        f"{known} takes no model argument for frame rule {rule!r} that vlm4d_tasks knows "
        "(lmms.protocol_run.MODEL_CLASS_ARGS); it samples the video its own way"
    )


def resolution_request(resolution: Mapping[str, Any], model_class: str | None, frames_task: bool):
    """("model_args", {max_pixels: N}) or ("none", reason) for a declared pixel budget."""
    budget = resolution.get("max_pixels")
    if budget is None:
        return "none", None
    if frames_task:
        return (
            "none",
            "the *_frames tasks hand PIL frames at the clip's own size; the model "
            "class resizes them its own way",
        )
    arg = MODEL_CLASS_ARGS.get(str(model_class), {}).get("max_pixels")
    if arg:
        return "model_args", {arg: int(budget)}
    return (
        "none",
        f"model class {model_class!r} takes no max_pixels argument that vlm4d_tasks knows",
    )


def check_settings(
    block: Mapping[str, Any],
    run_decoding: Mapping[str, Any],
    override: Mapping[str, Any],
    rows: Iterable[str],
    *,
    model_class: str | None = None,
    model_args: Mapping[str, Any] | None = None,
    frames: str | None = None,
    force_simple: bool = False,
    lmms_eval_version: str | None = None,
) -> dict[str, Any]:
    """`applied`, `passed_unverified` and `not_applied` (setting -> why) of a declaration
    block (`declared_for`) against what the run had: its decoding (task YAML plus
    `--gen_kwargs`), its model class (`--force_simple` picks the simple implementation) and
    arguments, its `VLM4D_FRAMES`, the rows of this protocol (a `*_frames` row samples frames
    itself, the others hand the model the video file).

    A decoding setting passed as declared is `applied` only when the class is known to hand it
    to its backend (`GENERATION_KWARGS`; the file:line in `applied_evidence`), `not_applied`
    when it is known not to (a class that drops top_k), `passed_unverified` when the class is
    not known. `applied` keeps its shape (setting -> declared value) for older readers."""
    applied: dict[str, Any] = {}
    missing: dict[str, Any] = {}
    unverified: dict[str, Any] = {}
    evidence: dict[str, str] = {}
    model_args = model_args or {}
    applied["prompt"] = block["prompt"].get("templates")
    found, named = class_decoding(
        model_class, force_simple=force_simple, lmms_eval_version=lmms_eval_version
    )
    for key in _decoding_keys(block["decoding"]):
        want = block["decoding"][key]
        label = f"decoding.{key}"
        if key in block.get("differs", {}):
            have = block["differs"][key]["run"]
            where = "--gen_kwargs" if key in override else "the task's generation_kwargs"
            missing[label] = {
                "run": have,
                "declared": want,
                "why": f"{where} set {json.dumps(have)}",
            }
            continue
        # passed as declared: whether the model class hands it on decides the rest
        state, note = decoding_state(key, want, run_decoding, found, named, model_args)
        if state == "applied":
            applied[label] = want
            evidence[label] = note
        elif state == "not_applied":
            missing[label] = {"run": run_decoding.get(key), "declared": want, "why": note}
        else:
            unverified[label] = {"run": run_decoding.get(key), "why": note}
    for row in sorted(set(rows)):
        frames_task = FRAMES_TASK in row
        if block["frames"].get("rule") == PER_TASK:
            _per_task_frames(block["frames"], row, applied, missing)
        else:
            kind, request = frames_request(block["frames"], model_class, frames_task)
            label = f"frames[{row}]"
            if kind == "env":
                used = frames or _task_frames(row)
                origin = f"VLM4D_FRAMES={used}" if frames else "the task's frames"
                try:
                    have = frame_setting(used).key
                except ValueError:
                    have = None  # the task itself refused it: no frames were sampled this way
                want = frame_setting(request).key
                if have == want:
                    applied[label] = f"{have} PIL frames ({origin})"
                else:
                    missing[label] = {
                        "run": have, "declared": want,
                        "why": f"the run sampled {used!r} ({origin}); `vlm4d eval --frames "
                        f"{request}` applies the declared frames",
                    }  # fmt: skip
            elif kind == "model_args":
                _check_args(request, model_args, label, applied, missing, "frames")
                if not request:
                    applied[label] = "the video file, as the declaration says"
            elif request:
                missing[label] = {"why": request}
        kind, request = resolution_request(block["resolution"], model_class, frames_task)
        label = f"resolution[{row}]"
        if kind == "model_args":
            _check_args(request, model_args, label, applied, missing, "resolution")
        elif request:
            missing[label] = {"why": request}
    if block["scorer"].get("name") == "dsr-regex":
        # the DSR Suite tasks report it as a metric of their own; any other reader is the
        # run's judge mode (the metadata's `judge` block)
        applied["scorer"] = "dsr-regex: the tasks' dsr_suite_accuracy, beside our accuracy"
    elif block["scorer"].get("name") == "can_match_option":
        applied["scorer"] = (
            "can_match_option: the tasks' vlmevalkit_accuracy (metric.vlmevalkit_mcq), beside "
            "our accuracy"
        )
    return {
        "applied": applied,
        "applied_evidence": evidence,
        "passed_unverified": unverified,
        "not_applied": missing,
        "decoding_checked_against": named,
    }


PER_TASK = "per_task"  # a declaration whose tasks each fix their own frames (`frames.tasks`)


def _per_task_frames(
    frames: Mapping[str, Any], row: str, applied: dict[str, Any], missing: dict[str, Any]
) -> None:
    """The frames of task `row` under a per-task frame rule: each task samples what its YAML
    fixes (VLM4D_FRAMES does not change it; tests check that each YAML says what the
    declaration says), or hands a video model the file."""
    label = f"frames[{row}]"
    want = (frames.get("tasks") or {}).get(row)
    if want is None:
        missing[label] = {"why": f"the declaration names no frames for task {row}"}
    elif want.get("rule") == "model":
        applied[label] = f"the video file ({want.get('variant')}); the model samples its frames"
    else:
        applied[label] = (
            f"{per_task_frames_key(want)} PIL frames (the task's, {want.get('variant')})"
        )


def per_task_frames_key(want: Mapping[str, Any]) -> str:
    """The frame policy key (`video.sampler` / `lmms.dsr_task`) of a per-task frame setting."""
    if want.get("rule") == "uniform":
        return f"uniform-{int(want['count'])}"
    if want.get("rule") == "vlmevalkit_fps":
        return f"vlmevalkit-fps-{float(want['fps']):g}"
    raise ValueError(
        f"per-task frame rule {want.get('rule')!r}: expected uniform or vlmevalkit_fps"
    )


def _task_frames(row: str) -> str:
    """The frames a `*_frames` task samples without VLM4D_FRAMES (its YAML's `frames`)."""
    if row.endswith(DSR_SUITE_SUFFIX):
        return str(int(declaration(DSR_SUITE).frames["max_frames"]))
    return "8"


def _check_args(
    wanted: Mapping[str, Any], model_args: Mapping[str, Any], label: str,
    applied: dict[str, Any], missing: dict[str, Any], what: str,
) -> None:  # fmt: skip
    for arg, value in wanted.items():
        have = model_args.get(arg)
        if have == value:
            applied[label] = f"{arg}={value} (--model_args)"
        else:
            given = "not set" if have is None else f"{arg}={have} was given"
            missing[label] = {
                "run": have, "declared": value,
                "why": f"{given} in --model_args; {arg}={value} sets the declared {what}",
            }  # fmt: skip


def _zero(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


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
        protocol = get_protocol(block["name"])
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
    for name, declared in sorted((block.get("declared") or {}).items()):
        if declared.get("model_settings"):
            line += (
                f" Per-model settings of the {name} declaration: `{declared['model_settings']}`."
            )
        differs = declared.get("differs") or {}
        if differs and declared.get("model_settings"):
            parts = ", ".join(
                f"{k} {json.dumps(v['run'])} (script {json.dumps(v['declared'])})"
                for k, v in sorted(differs.items())
            )
            line += (
                f" The {name} script decoded `{declared['model_settings']}` otherwise than this "
                f"run: {parts}."
            )
    for name, declared in sorted((block.get("declared") or {}).items()):
        missing = sorted(k for k in declared.get("not_applied") or {} if "decoding." not in k)
        if missing and (declared.get("model_settings") or name in (DSR_SUITE, VLMEVALKIT_DSRBENCH)):
            line += (
                f" Settings of the {name} declaration not applied (the metadata says why): "
                f"{', '.join(missing)}."
            )
        if name == GREEDY:
            continue  # the project's own decoding: a declared protocol's is what is at stake
        differs = declared.get("differs") or {}
        dropped = sorted(
            k.removeprefix("decoding.")
            for k in declared.get("not_applied") or {}
            if k.startswith("decoding.") and k.removeprefix("decoding.") not in differs
        )
        if dropped:
            line += (
                f" Decoding settings of the {name} declaration passed but not applied by the "
                f"model class (the metadata says why): {', '.join(dropped)}."
            )
        unverified = sorted(
            k.removeprefix("decoding.") for k in declared.get("passed_unverified") or {}
        )
        if unverified:
            line += (
                f" Passed as the {name} declaration says, not known to reach the model "
                f"({declared.get('decoding_checked_against')}): {', '.join(unverified)}."
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
