"""Every `VLM4D_*` environment variable, declared once: its name, parse rule, default, what it
does, whether it is a secret, and who reads it (`VARIABLES`; the README's table is made from it,
`markdown_table`, and tests/test_settings.py keeps the two equal).

`Settings.from_environ(environ=None)` reads each variable once and parses it; the entry points
build one and pass it down: the command-line commands, `pipeline.score.judge_config`, and the
lmms-eval glue (`vlm4d_tasks/lmms/`: lmms-eval calls our task functions, so they build it
there). Functions of the ground floor that have a variable as their default (the frame cache's
folder, the release check's `allow_unofficial`) take the value as a parameter and fall back to a
`Settings` built then. No other module reads a `VLM4D_*` variable (tests/test_settings.py walks
the package's AST for one).

A bad value is parsed once, when the settings are built, and its error (naming the variable, the
value and the fix) is raised where the value is used (`Settings.value`): a command that does not
use a variable is not stopped by it (rule mode reads no judge variable, an option replaces its
variable), and `Settings.check()` raises every error at once for a caller that wants them
early. An empty variable is unset. Prefix families (`VLM4D_JUDGE_MODEL_<n>`: the judge `n`, 2
and up, of a mode that asks several; crosscheck asks judge 2) are declared once each.

Variables we read that are not ours stay beside their readers, by their owners' rules:
`HF_HOME` and `XDG_CACHE_HOME` (`lmms/data.py`: where the Hugging Face cache is, as
`huggingface_hub` finds it; `video/cache.py`: the frame cache's default folder, the XDG rule),
`OPENAI_CUSTOM_HEADERS` (`metric/judge_transport.py`: the openai client would send those
headers of the model under test to the judge, so each is named to be omitted), and the variable
`--judge-api-key-env` names (`pipeline/score.py`: a name the user chooses).

This module imports nothing of ours, so every floor may import it; nothing is read at import.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

# Choices and bounds that the parse rules check. The judge modes are `metric.grading.Mode`'s
# values (tests/test_settings.py checks that they agree); the prompts are declared here and
# `metric.judge` takes them from here.
JUDGE_MODES = ("rule", "llm", "hybrid", "crosscheck", "dsr-suite")
JUDGE_PROMPTS = ("vlm4d", "official")
# The longest total deadline of one judge request, in seconds. A reasoning model's longest
# verdict takes minutes; an hour is far beyond any answer worth waiting for, and keeps the
# deadline a number the clock can wait on (1e20 s overflows time_t).
MAX_JUDGE_TIMEOUT = 3600.0
# The most retries of one answer. Each waits its backoff or the server's Retry-After, which may
# be 0: without a cap, a server that answers every request 429 "Retry-After: 0" is sent
# requests in a tight loop that never ends (7,600 in 18 s).
MAX_JUDGE_RETRIES = 100
DEFAULT_FRAME_CACHE_MAX_BYTES = 8 * 1024**3
_TRUE, _FALSE = frozenset({"1", "true", "yes"}), frozenset({"0", "false", "no"})


class SettingsError(ValueError):
    """A variable with a value that its parse rule refuses; the message names the variable, the
    value, what is expected and the fix."""


def _text(raw: str) -> str:
    return raw


def _choice(choices: tuple[str, ...], *, fold: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower() if fold else raw
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def _whole(minimum: int, maximum: float = math.inf) -> Callable[[str], int]:
    want = (
        f"a whole number from {minimum} to {maximum:g}"
        if math.isfinite(maximum)
        else f"a whole number of at least {minimum}"
    )

    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"expected {want}") from None
        if not minimum <= value <= maximum:
            raise ValueError(f"expected {want}")
        return value

    return parse


def _seconds(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= MAX_JUDGE_TIMEOUT):  # NaN fails too
        raise ValueError(f"expected a number of seconds above 0, at most {MAX_JUDGE_TIMEOUT:g}")
    return value


def _bytes(raw: str) -> int:
    try:
        value = int(float(raw))  # "8e9" is accepted, as it always was
    except (ValueError, OverflowError):
        raise ValueError("expected a number of bytes") from None
    if value < 0:
        raise ValueError("must be >= 0")
    return value


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected 1, true or yes (or 0, false, no)")


def _keys(raw: str) -> tuple[str, ...]:
    return tuple(key for key in raw.split(",") if key)


@dataclass(frozen=True)
class Variable:
    """One environment variable (or a prefix family: `name` ends in `<n>`)."""

    name: str
    kind: str  # the parse rule, in words
    default: Any  # the value when unset or empty
    default_text: str  # the default as the README says it
    doc: str  # what it does
    readers: tuple[str, ...]  # the modules that use its value
    parse: Callable[[str], Any] = _text
    secret: bool = False  # never printed: redaction hides every value it holds
    internal: bool = False  # set by the package for its own child processes, not by users
    example_bad: str | None = None  # a value the parse rule refuses (tested)

    @property
    def family(self) -> bool:
        return self.name.endswith("<n>")

    @property
    def prefix(self) -> str:
        """A family's members start with this, then a number (2 and up)."""
        return self.name.removesuffix("<n>")


_JUDGE = ("pipeline/score.py (judge_config)",)
JUDGE_MODE = Variable(
    "VLM4D_JUDGE", f"one of {', '.join(JUDGE_MODES)} (any case)", "rule", "`rule`",
    "how answers are decided in the lmms-eval tasks (`vlm4d eval --judge` sets it; "
    "`vlm4d score` and `diagnose-probe` take `--judge`)",
    _JUDGE, _choice(JUDGE_MODES, fold=True), example_bad="oracle",
)  # fmt: skip
JUDGE_MODEL = Variable(
    "VLM4D_JUDGE_MODEL", "text", None, "none (required by the judge modes)",
    "the judge model (`--judge-model`)",
    (*_JUDGE, "metric/judge_transport.py (JudgeSettings.resolve)"),
)  # fmt: skip
JUDGE_BASE_URL = Variable(
    "VLM4D_JUDGE_BASE_URL", "http(s) URL", None, "`https://api.openai.com/v1`",
    "the judge's OpenAI-compatible endpoint (`--judge-base-url`); credentials in it are sent as "
    "Basic auth and never printed",
    (*_JUDGE, "metric/judge_transport.py (JudgeSettings.resolve)"),
)  # fmt: skip
JUDGE_API_KEY = Variable(
    "VLM4D_JUDGE_API_KEY", "text", None, "none",
    "the judge's API key (`--judge-api-key-env` names another variable); a secret: never "
    "printed or stored",
    (*_JUDGE, "metric/judge_transport.py (JudgeSettings.resolve)", "metric/redact.py"),
    secret=True,
)  # fmt: skip
JUDGE_MODEL_N = Variable(
    "VLM4D_JUDGE_MODEL_<n>", "text", None, "none",
    "judge `n`'s model: crosscheck's second judge is `VLM4D_JUDGE_MODEL_2` (`--judge-model-2`)",
    _JUDGE,
)  # fmt: skip
JUDGE_BASE_URL_N = Variable(
    "VLM4D_JUDGE_BASE_URL_<n>", "http(s) URL", None, "the first judge's",
    "judge `n`'s endpoint (`--judge-base-url-2`)", _JUDGE,
)  # fmt: skip
JUDGE_API_KEY_N = Variable(
    "VLM4D_JUDGE_API_KEY_<n>", "text", None, "the first judge's",
    "judge `n`'s API key (`--judge-api-key-env-2` names another variable); a secret",
    (*_JUDGE, "metric/redact.py"), secret=True,
)  # fmt: skip
JUDGE_CONCURRENCY = Variable(
    "VLM4D_JUDGE_CONCURRENCY", "whole number, at least 1", 4, "4",
    "judge requests in flight (`--judge-concurrency`)",
    _JUDGE, _whole(1), example_bad="0",
)  # fmt: skip
JUDGE_TIMEOUT = Variable(
    "VLM4D_JUDGE_TIMEOUT", f"seconds, above 0, at most {MAX_JUDGE_TIMEOUT:g}", 60.0,
    f"60 s (at most {MAX_JUDGE_TIMEOUT:g})",
    "total deadline of one judge request: connect, every read and parsing the reply "
    "(`--judge-timeout`)",
    _JUDGE, _seconds, example_bad="1e20",
)  # fmt: skip
JUDGE_RETRIES = Variable(
    "VLM4D_JUDGE_RETRIES", f"whole number, 0 to {MAX_JUDGE_RETRIES}", 4,
    f"4 (at most {MAX_JUDGE_RETRIES})",
    "retries of a failed judge call before the answer is unresolved (`--judge-retries`)",
    _JUDGE, _whole(0, MAX_JUDGE_RETRIES), example_bad="101",
)  # fmt: skip
JUDGE_MAX_FAILURES = Variable(
    "VLM4D_JUDGE_MAX_FAILURES", "whole number, at least 0", 5, "5",
    "circuit breaker: after this many answers in a row end unresolved no request is sent; 0 "
    "never opens (`--judge-max-failures`)",
    _JUDGE, _whole(0), example_bad="-1",
)  # fmt: skip
JUDGE_PROMPT = Variable(
    "VLM4D_JUDGE_PROMPT", f"one of {', '.join(JUDGE_PROMPTS)}", "vlm4d", "`vlm4d`",
    "the judge prompt: ours, or the official evaluation code's (`--judge-prompt`)",
    (*_JUDGE, "metric/judge_transport.py (JudgeSettings.resolve)"),
    _choice(JUDGE_PROMPTS), example_bad="mine",
)  # fmt: skip
JUDGE_CACHE = Variable(
    "VLM4D_JUDGE_CACHE", "path", None, "`$VLM4D_CACHE_DIR/judge.sqlite`",
    "the SQLite cache of judge verdicts (`--judge-cache`)", _JUDGE,
)  # fmt: skip
CACHE_DIR = Variable(
    "VLM4D_CACHE_DIR", "path", None, "`~/.cache/vlm4d` (frames: `$XDG_CACHE_HOME/vlm4d`)",
    "the cache root: the judge cache (`judge.sqlite`) and the frame cache (`frames/`)",
    ("metric/judge_cache.py", "video/cache.py"),
)  # fmt: skip
FRAME_CACHE_DIR = Variable(
    "VLM4D_FRAME_CACHE_DIR", "path", None,
    "`$VLM4D_CACHE_DIR/frames`, else `$XDG_CACHE_HOME/vlm4d/frames`",
    "the frame cache's folder (sampled frames, and the validity clips in `clips/`)",
    ("video/cache.py", "validity/clips.py"),
)  # fmt: skip
FRAME_CACHE_MAX_BYTES = Variable(
    "VLM4D_FRAME_CACHE_MAX_BYTES", "bytes, at least 0", DEFAULT_FRAME_CACHE_MAX_BYTES,
    "8 GiB", "the frame cache's size bound (least recently used entries go first)",
    ("video/cache.py",), _bytes, example_bad="lots",
)  # fmt: skip
FRAMES = Variable(
    "VLM4D_FRAMES", "N, Nframe or 1fps (checked by `lmms.protocol.frame_setting`)", None,
    "the task's `frames` (8)", "frames sampled per question by the `*_frames` tasks "
    "(`vlm4d eval --frames` sets it)", ("lmms/task.py",),
)  # fmt: skip
PROTOCOL_MODEL = Variable(
    "VLM4D_PROTOCOL_MODEL", "a model name", None, "`pretrained=` of `--model_args`",
    "the published model whose per-model settings of a declared protocol a run follows and "
    "records (`vlm4d eval --protocol-model` sets it), e.g. for a local checkpoint",
    ("lmms/run.py",),
)  # fmt: skip
DATASET = Variable(
    "VLM4D_DATASET", "folder", None, "the official release",
    "the dataset folder (made by `vlm4d build-dataset`) the lmms-eval tasks read (`vlm4d eval "
    "--dataset` sets it)", ("lmms/data.py",),
)  # fmt: skip
VIDEO_ROOT = Variable(
    "VLM4D_VIDEO_ROOT", "folder", None, "the dataset folder",
    "another folder with the videos in the release's layout (`vlm4d eval --videos` sets it)",
    ("lmms/data.py",),
)  # fmt: skip
ALLOW_UNOFFICIAL_ANNOTATIONS = Variable(
    "VLM4D_ALLOW_UNOFFICIAL_ANNOTATIONS", "1, true, yes (or 0, false, no)", False, "off",
    "accept question files whose hashes are not the release's (recorded in the outputs; "
    "`--allow-unofficial-annotations`)",
    ("data/release.py", "cli/score.py", "cli/build_dataset.py"), _flag, example_bad="maybe",
)  # fmt: skip
PLUGIN_WARNED = Variable(
    "VLM4D_TASKS_PLUGIN_WARNED", "comma-separated keys", (), "none",
    "internal: the lmms-eval warnings already printed, so that the child processes of "
    "`vlm4d eval` print each once", ("lmms/compat.py",), _keys, internal=True,
)  # fmt: skip

VARIABLES: tuple[Variable, ...] = (
    JUDGE_MODE, JUDGE_MODEL, JUDGE_BASE_URL, JUDGE_API_KEY, JUDGE_MODEL_N, JUDGE_BASE_URL_N,
    JUDGE_API_KEY_N, JUDGE_CONCURRENCY, JUDGE_TIMEOUT, JUDGE_RETRIES, JUDGE_MAX_FAILURES,
    JUDGE_PROMPT, JUDGE_CACHE, CACHE_DIR, FRAME_CACHE_DIR, FRAME_CACHE_MAX_BYTES, FRAMES,
    PROTOCOL_MODEL, DATASET, VIDEO_ROOT, ALLOW_UNOFFICIAL_ANNOTATIONS, PLUGIN_WARNED,
)  # fmt: skip
_MEMBER = re.compile(r"([2-9]|[1-9]\d+)")  # a family member's number: 2 and up, as written


def _error(name: str, raw: str, why: str, variable: Variable) -> SettingsError:
    return SettingsError(
        f"{name}={raw!r}: {why}; fix: set {name} to {variable.kind}, or unset it "
        f"(default: {variable.default_text})"
    )


@dataclass(frozen=True, repr=False)
class Settings:
    """The parsed variables of one environment (see the module docstring). Build it with
    `from_environ`; read a value through its property (or `value`), which raises the
    variable's `SettingsError` when its value was bad."""

    values: Mapping[str, Any]  # variable name -> parsed value (a family: {n: value})
    errors: Mapping[str, SettingsError]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of `environ` (default: `os.environ`, read now): each declared variable
        read once and parsed; unset or empty gives its default."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        errors: dict[str, SettingsError] = {}
        families = [v for v in VARIABLES if v.family]
        for variable in VARIABLES:
            if variable.family:
                values[variable.name] = {}
                continue
            raw = env.get(variable.name)
            if not raw:
                values[variable.name] = variable.default
                continue
            try:
                values[variable.name] = variable.parse(raw)
            except ValueError as exc:
                errors[variable.name] = _error(variable.name, raw, str(exc), variable)
        for name, raw in env.items():
            for family in families:
                number = name[len(family.prefix) :] if name.startswith(family.prefix) else ""
                if raw and _MEMBER.fullmatch(number):
                    values[family.name][int(number)] = family.parse(raw)
        frozen = {k: MappingProxyType(v) if isinstance(v, dict) else v for k, v in values.items()}
        return cls(MappingProxyType(frozen), MappingProxyType(errors))

    def value(self, variable: Variable) -> Any:
        """The parsed value of `variable` (its default when unset); its SettingsError if bad."""
        if variable.name in self.errors:
            raise self.errors[variable.name]
        return self.values[variable.name]

    def check(self, *variables: Variable) -> None:
        """Raise the errors of `variables` (default: all), every one in one message."""
        names = [v.name for v in variables] if variables else list(self.errors)
        found = [self.errors[n] for n in names if n in self.errors]
        if len(found) == 1:
            raise found[0]
        if found:
            raise SettingsError("; ".join(str(e) for e in found))

    def member(self, family: Variable, n: int) -> Any:
        """Family member `n` (e.g. `VLM4D_JUDGE_MODEL_2`), or None when unset."""
        return self.value(family).get(n)

    def __repr__(self) -> str:  # names only: values may be secrets
        given = sorted(n for n, v in self.values.items() if v not in (None, {}, ()))
        return f"Settings(set={given})"

    # One typed property per variable, named for what it holds.
    @property
    def judge_mode(self) -> str:
        return self.value(JUDGE_MODE)

    @property
    def judge_model(self) -> str | None:
        return self.value(JUDGE_MODEL)

    @property
    def judge_base_url(self) -> str | None:
        return self.value(JUDGE_BASE_URL)

    @property
    def judge_api_key(self) -> str | None:
        return self.value(JUDGE_API_KEY)

    @property
    def judge_model_2(self) -> str | None:
        return self.member(JUDGE_MODEL_N, 2)

    @property
    def judge_base_url_2(self) -> str | None:
        return self.member(JUDGE_BASE_URL_N, 2)

    @property
    def judge_api_key_2(self) -> str | None:
        return self.member(JUDGE_API_KEY_N, 2)

    @property
    def judge_concurrency(self) -> int:
        return self.value(JUDGE_CONCURRENCY)

    @property
    def judge_timeout(self) -> float:
        return self.value(JUDGE_TIMEOUT)

    @property
    def judge_retries(self) -> int:
        return self.value(JUDGE_RETRIES)

    @property
    def judge_max_failures(self) -> int:
        return self.value(JUDGE_MAX_FAILURES)

    @property
    def judge_prompt(self) -> str:
        return self.value(JUDGE_PROMPT)

    @property
    def judge_cache(self) -> str | None:
        return self.value(JUDGE_CACHE)

    @property
    def cache_dir(self) -> str | None:
        return self.value(CACHE_DIR)

    @property
    def frame_cache_dir(self) -> str | None:
        return self.value(FRAME_CACHE_DIR)

    @property
    def frame_cache_max_bytes(self) -> int:
        return self.value(FRAME_CACHE_MAX_BYTES)

    @property
    def frames(self) -> str | None:
        return self.value(FRAMES)

    @property
    def protocol_model(self) -> str | None:
        return self.value(PROTOCOL_MODEL)

    @property
    def dataset(self) -> str | None:
        return self.value(DATASET)

    @property
    def video_root(self) -> str | None:
        return self.value(VIDEO_ROOT)

    @property
    def allow_unofficial_annotations(self) -> bool:
        return self.value(ALLOW_UNOFFICIAL_ANNOTATIONS)

    @property
    def plugin_warned(self) -> tuple[str, ...]:
        return self.value(PLUGIN_WARNED)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of every secret variable (family members included) in `environ` (default:
    `os.environ`, read now, at each call: a key set after start-up is hidden too)."""
    env = os.environ if environ is None else environ
    secrets = [v for v in VARIABLES if v.secret]
    names = [v.name for v in secrets if not v.family]
    prefixes = tuple(v.prefix for v in secrets if v.family)
    # the names only, then the few values wanted: redaction calls this for every message, and
    # os.environ decodes each value it yields
    names += [
        name
        for name in env
        if name.startswith(prefixes)
        and any(_MEMBER.fullmatch(name[len(p) :]) for p in prefixes if name.startswith(p))
    ]
    return [value for value in (env.get(name) for name in names) if value]


def markdown_table() -> str:
    """The README's table of the variables, one row each, in declaration order."""
    rows = ["| variable | default | what it does |", "| --- | --- | --- |"]
    for v in VARIABLES:
        rows.append(f"| `{v.name}` | {v.default_text} | {v.doc} |")
    return "\n".join(rows) + "\n"
