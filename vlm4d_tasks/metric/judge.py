"""LLM judge for VLM4D answers, over any OpenAI-compatible chat-completions endpoint.

The paper (VLM4D, ICCV 2025, Sec. 4) asks an LLM judge, given the question, the options, the
model's response and the ground truth, to extract the chosen option as "X: option text" or
"No Valid Answer" and to say whether it is correct (o4-mini, cross-checked with o3, then by
hand). This module sends that prompt (`vlm4d_tasks/metric/judge_prompt.jinja`) to a local vLLM/SGLang
server or a hosted API through the openai client (in a thread pool), and:

* reads its settings from arguments or from VLM4D_JUDGE_MODEL / VLM4D_JUDGE_BASE_URL /
  VLM4D_JUDGE_API_KEY, when called (never from the variables of the model under test: the
  OPENAI_* ones the openai client would read are overridden in every request);
* sends what each model accepts: reasoning models (o1/o3/o4-mini..., the gpt-5 family) get
  `max_completion_tokens` and no `temperature`, other models `temperature=0` and
  `max_tokens`; a 400 error that names one of these parameters is retried once without it
  (or with the other token field), and the client remembers that for the rest of the run;
* gives every request a TOTAL deadline (`timeout`, at most MAX_TIMEOUT: connect, send, every
  read and the parsing of the reply together, `call_with_deadline`), so an endpoint that
  trickles its reply cannot hold a request longer;
* reads at most MAX_REPLY_BYTES of a reply, on the wire and once inflated, parses it in one
  linear pass (`judge_reply.parse_reply`; no recursion: '{"a":' * 2000 is a malformed reply,
  not a RecursionError), and
  follows no redirect to another scheme, host or port;
* fences the response in our prompt with markers tagged by a hash of the prompt's fields
  (`response_boundary`), so that a response cannot close its block;
* retries 429, 5xx, deadlines, connection errors and unparseable replies with exponential
  backoff and seeded jitter, honouring Retry-After; after the last retry the answer is
  UNRESOLVED with its cause and reason: counted and listed, never dropped, never marked wrong;
* opens a run-level circuit breaker after `max_consecutive_failures` answers in a row ended
  unresolved (any cause): no new request is sent and every remaining answer is unresolved
  with the reason, so a dead or hung endpoint costs minutes, not a day;
* caches every successful judgment as it arrives (`judge_cache.JudgeCache`, keyed by endpoint,
  model and prompt), so a rerun makes no repeated call and an interrupted run resumes;
* never prints or stores a secret: every message, reason, exception text and cached reply
  passes `redact.redact` (the API keys it was given or reads, Bearer tokens, sk-... keys, the judge
  URL's user, password and query values as written and percent-decoded, and in any URL the
  userinfo and every query value).
"""

from __future__ import annotations

import base64
import email.utils
import functools
import hashlib
import itertools
import json
import logging
import os
import random
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import timezone
from typing import Any, TypeVar

from vlm4d_tasks.data.schema import LETTERS
from vlm4d_tasks.metric.judge_cache import CachedJudgment, JudgeCache, prompt_sha256
from vlm4d_tasks.metric.judge_reply import (
    MalformedReply,
    parse_reply,
)
from vlm4d_tasks.metric.redact import (
    ENV_API_KEY,
    host_ok,
    public_url,
    redact,
    register_secret,
    shown_url,
    url_secrets,
)

PROMPT_TEMPLATE = "judge_prompt.jinja"
# The judge prompts: ours (one user message, the letter and text of the ground truth, the
# response between markers) and the official one of the VLM4D evaluation code (its system
# instruction, its user message, a structured-output schema, temperature 1, 1024 tokens), so
# that published labels can be reproduced under the judge that made them.
JUDGE_PROMPTS = ("vlm4d", "official")
OFFICIAL_SYSTEM_TEMPLATE = "judge_official_system.jinja"
OFFICIAL_USER_TEMPLATE = "judge_official_user.jinja"
OFFICIAL_TEMPERATURE = 1.0  # utils/api_utils.py: the structured-output call's default
OFFICIAL_MAX_TOKENS = 1024  # utils/eval_utils.py: max_tokens=1024
# The official output schema (pydantic `EvaluationOutput(extracted_answer: str, correct:
# bool)`), as the OpenAI structured-output `response_format` that `beta...parse` sends.
OFFICIAL_RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "EvaluationOutput",
        "strict": True,
        "schema": {
            "type": "object",
            "title": "EvaluationOutput",
            "properties": {
                "extracted_answer": {"type": "string", "title": "Extracted Answer"},
                "correct": {"type": "boolean", "title": "Correct"},
            },
            "required": ["extracted_answer", "correct"],
            "additionalProperties": False,
        },
    },
}
ENV_PROMPT = "VLM4D_JUDGE_PROMPT"
ENV_MODEL = "VLM4D_JUDGE_MODEL"
ENV_BASE_URL = "VLM4D_JUDGE_BASE_URL"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
CHECK_SETTINGS = (
    f"check the judge's API key ({ENV_API_KEY}), model ({ENV_MODEL}) and base URL ({ENV_BASE_URL})"
)

log = logging.getLogger(__name__)

# Reasoning models by name: OpenAI's o-series ("o1", "o3-mini", "o4-mini-2025-04-16") and the
# gpt-5 family, optionally behind a provider prefix ("openai/o4-mini"). They reject
# `temperature` and count hidden reasoning in `max_completion_tokens`, so they get more room.
_REASONING_MODEL = re.compile(r"^(?:[\w.-]+/)*(?:o\d+(?:[-_.].*)?|gpt-5(?:[-_.].*)?)$", re.I)
STANDARD_MAX_TOKENS = 256
# The longest total deadline of one request, in seconds. A reasoning model's longest verdict
# (REASONING_MAX_TOKENS) takes minutes; an hour is far beyond any answer worth waiting for,
# and keeps the deadline a number the clock can wait on (1e20 s overflows time_t).
MAX_TIMEOUT = 3600.0
# The most retries of one answer. Each waits its backoff (at most `backoff_max`) or the
# server's Retry-After, which may be 0: without a cap, a server that answers every request
# 429 "Retry-After: 0" is sent requests in a tight loop that never ends (7,600 in 18 s).
MAX_RETRIES = 100
REASONING_MAX_TOKENS = 4096

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
FATAL_STATUS = frozenset({401, 403, 404})  # wrong key, model or URL: every call would fail

# Causes of an unresolved answer (the summary counts answers per cause); HTTP errors are
# "HTTP <status>".
DEADLINE_EXCEEDED = "deadline exceeded"
CONNECTION_FAILED = "connection failed"
MALFORMED_REPLY = "malformed reply"
CIRCUIT_OPEN = "circuit open"
REPLY_TOO_LARGE = "reply too large"  # above MAX_REPLY_BYTES, on the wire or inflated
REDIRECT_REFUSED = "redirect refused"  # to another scheme, host or port


def is_reasoning_model(model: str) -> bool:
    return bool(_REASONING_MODEL.match(model.strip()))


class JudgeConfigError(ValueError):
    """Missing or unusable judge settings; the message says which and how to fix it."""


class JudgeFatalError(RuntimeError):
    """The endpoint refuses every request (401/403/404): the run stops, the cache is kept."""


class DeadlineExceeded(TimeoutError):
    """A call did not complete within its total deadline."""


_T = TypeVar("_T")


def call_with_deadline(
    call: Callable[[], _T], seconds: float, *, cancel: Callable[[], None] | None = None
) -> _T:
    """`call()`, or DeadlineExceeded once `seconds` have passed, whatever the call is doing.

    Per-read timeouts (httpx's included) bound each silence, not the request: an endpoint
    that sends a byte every few seconds never trips them. So the call runs in a helper thread
    and the caller waits at most `seconds`; at the deadline `cancel()` aborts the transport
    (here: shuts the request's sockets, `_Exchange.cancel`) so that the helper ends too, and
    the caller raises at once without waiting for it.
    """
    done = threading.Event()
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="vlm4d-judge-request", daemon=True).start()
    if not done.wait(seconds):
        if cancel is not None:
            try:
                cancel()
            except Exception:  # best effort: the caller is released either way
                pass
        raise DeadlineExceeded(f"no complete reply within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass(frozen=True, repr=False)
class JudgeSettings:
    model: str
    base_url: str = DEFAULT_BASE_URL  # may carry credentials: never printed (see `endpoint`)
    api_key: str | None = None
    timeout: float = 60.0  # seconds: the TOTAL deadline of one request (connect + all reads)
    max_retries: int = 4  # failed calls retried this many times before UNRESOLVED
    concurrency: int = 4
    backoff_base: float = 1.0  # seconds; doubles per failure, times a jitter in [0.5, 1.5)
    backoff_max: float = 60.0  # also caps a server's Retry-After
    max_tokens: int | None = None  # None: by model kind (see STANDARD/REASONING_MAX_TOKENS)
    seed: int = 0  # seeds the jitter
    # Circuit breaker: after this many answers in a row ended unresolved (any cause), no new
    # request is sent in this run and the remaining answers are unresolved; 0 never opens.
    max_consecutive_failures: int = 5
    prompt: str = "vlm4d"  # one of JUDGE_PROMPTS

    def __post_init__(self) -> None:
        def bad(name: str, value: object, want: str) -> JudgeConfigError:
            return JudgeConfigError(f"judge setting {name}={value!r}: must be {want}")

        number = isinstance(self.timeout, (int, float)) and not isinstance(self.timeout, bool)
        if not (number and 0 < self.timeout <= MAX_TIMEOUT):  # NaN fails too
            raise bad(
                "timeout",
                self.timeout,
                f"a number of seconds above 0, at most {MAX_TIMEOUT:g}; fix: pass "
                "--judge-timeout or set VLM4D_JUDGE_TIMEOUT to such a number",
            )
        if not 0 <= self.max_retries <= MAX_RETRIES:
            raise bad("max_retries", self.max_retries, f"from 0 to {MAX_RETRIES}")
        if self.concurrency < 1:
            raise bad("concurrency", self.concurrency, "1 or more")
        if self.max_consecutive_failures < 0:
            raise bad("max_consecutive_failures", self.max_consecutive_failures, "0 or more")
        if self.prompt not in JUDGE_PROMPTS:
            raise bad("prompt", self.prompt, f"one of {', '.join(JUDGE_PROMPTS)}")
        register_secret(self.api_key)
        # Before anything can print the URL: its credentials and query values, in every form.
        for secret in url_secrets(self.base_url):
            register_secret(secret)
        shown = shown_url(self.base_url)
        try:
            parts = urllib.parse.urlsplit(self.base_url.strip())
        except ValueError:  # an unclosed "[" of an IPv6 literal
            raise JudgeConfigError(
                f"judge base URL {shown!r} is not a URL (an IPv6 host goes in brackets, "
                f"http://[::1]:8000/v1); fix: pass --judge-base-url or set {ENV_BASE_URL}"
            ) from None
        if "@" in parts.path + parts.query + parts.fragment:
            # urlsplit took the host from inside the credentials: "https://alice:12/x@host"
            # would send the request (and the key) to host "alice", port 12.
            raise JudgeConfigError(
                f"judge base URL {shown!r} has an '@' after its host: a user name or password "
                "with an unencoded '/', '?' or '#'; fix: percent-encode them in the URL "
                f"(/ as %2F, ? as %3F, # as %23, @ as %40), or pass the key in {ENV_API_KEY} "
                "(or the variable --judge-api-key-env names)"
            )
        try:
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number
        except ValueError:
            usable = False
        if not usable:
            raise JudgeConfigError(
                f"judge base URL {shown!r} is not an http:// or https:// URL "
                f"with a host; fix: pass --judge-base-url or set {ENV_BASE_URL}, e.g. "
                "http://127.0.0.1:8000/v1"
            )
        if not host_ok(parts.hostname or ""):
            # else the HTTP client refuses it on the first request, with a traceback
            raise JudgeConfigError(
                f"judge base URL {shown!r}: its host is not a name that can be looked up (an "
                "empty or over-63-character label, or invalid IDNA); fix: write the host in "
                "ASCII (an IP address, or the xn-- form of the name)"
            )

    def __repr__(self) -> str:
        return f"JudgeSettings(model={self.model!r}, endpoint={self.endpoint!r}, ...)"

    @classmethod
    def resolve(
        cls,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        **overrides: Any,
    ) -> JudgeSettings:
        """Settings from the arguments, else from the VLM4D_JUDGE_* variables (read now)."""
        model = model or os.environ.get(ENV_MODEL)
        if not model:
            raise JudgeConfigError(
                f"no judge model: pass --judge-model or set {ENV_MODEL} "
                "(with the endpoint in --judge-base-url / " + ENV_BASE_URL + ")"
            )
        base_url = base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
        api_key = api_key if api_key is not None else os.environ.get(ENV_API_KEY)
        if overrides.get("prompt") is None and os.environ.get(ENV_PROMPT):
            overrides["prompt"] = os.environ[ENV_PROMPT]
        given = {k: v for k, v in overrides.items() if v is not None}
        return cls(model=model, base_url=base_url, api_key=api_key or None, **given)

    @property
    def url(self) -> str:
        """The chat-completions URL requests go to: no userinfo (sent as Basic auth instead),
        the base URL's query kept after the path."""
        parts = urllib.parse.urlsplit(self.base_url.strip())
        path = parts.path.rstrip("/")
        if not path.endswith("/chat/completions"):
            path += "/chat/completions"
        netloc = parts.netloc.rpartition("@")[2]
        return urllib.parse.urlunsplit((parts.scheme, netloc, path, parts.query, ""))

    @property
    def endpoint(self) -> str:
        """The base URL without credentials or query (`public_url`): how the endpoint is
        named in messages and files, and part of the cache key (two servers with one model
        name are two judges)."""
        return public_url(self.url).removesuffix("/chat/completions")

    def client_target(self) -> tuple[str, dict[str, str]]:
        """`url` as the openai client takes it: the base URL (it appends /chat/completions)
        and the query apart (it would append the path after a query in the base URL)."""
        base, _, query = self.url.partition("?")
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        return base.removesuffix("/chat/completions"), dict(pairs)

    def authorization(self) -> str | None:
        """The Authorization header: the API key as a Bearer token, else the base URL's
        userinfo as Basic auth, else none."""
        if self.api_key:
            return f"Bearer {self.api_key}"
        parts = urllib.parse.urlsplit(self.base_url)
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return None

    @property
    def reasoning(self) -> bool:
        return is_reasoning_model(self.model)


@dataclass(frozen=True)
class JudgeItem:
    """One answer to judge. `key` is the record uid (for listings only, not for the cache)."""

    key: str
    question: str
    options: Sequence[str]
    response: str
    answer_letter: str
    answer_text: str


def response_boundary(*texts: str) -> str:
    """The tag of the response block's markers: 16 hex digits of a sha256 of `texts` (all
    the prompt's fields), that none of them contains.

    A fixed end marker can be written by the response itself ("RESPONSE>>>" and a fake grader
    note after it) and what follows would read as outside the block. A tag derived from the
    texts cannot be in them except by a hash collision (checked: the counter moves on), and
    stays deterministic: the same inputs give byte-identical prompts, hence the same cache
    keys."""
    joined = "\0".join(texts)
    for n in itertools.count():
        tag = hashlib.sha256(f"{n}\0{joined}".encode()).hexdigest()[:16]
        if not any(tag in text for text in texts):
            return tag
    raise AssertionError("unreachable")  # pragma: no cover


def build_prompt(item: JudgeItem, style: str = "vlm4d") -> str:
    """The user message for `item` under the judge prompt `style` (see JUDGE_PROMPTS).

    Ours fences the response with `response_boundary` markers. The official one is sent as the
    official code built it (its promise: byte for byte): it has no block for a response to
    close, the response being the end of the message."""
    from vlm4d_tasks.templating import render

    if style == "official":
        return render(
            __package__,
            OFFICIAL_USER_TEMPLATE,
            question=item.question,
            options=[(letter, str(text)) for letter, text in zip(LETTERS, item.options)],
            response=item.response,
            answer_text=item.answer_text,
        )
    options = [(letter, str(text)) for letter, text in zip(LETTERS, item.options)]
    fields = (item.question, *(text for _, text in options), str(item.response),
              item.answer_letter, item.answer_text)  # fmt: skip
    return render(
        __package__,
        PROMPT_TEMPLATE,
        question=item.question,
        options=options,
        response=item.response,
        answer_letter=item.answer_letter,
        answer_text=item.answer_text,
        boundary=response_boundary(*fields),
    )


# --- HTTP ----------------------------------------------------------------------------------


class _Failure(Exception):
    """A failed call: `cause` is its kind (counted in the summary), `detail` the rest."""

    def __init__(self, cause: str, detail: str = ""):
        super().__init__(f"{cause}: {detail}" if detail else cause)
        self.cause = cause
        self.detail = detail


class _Retryable(_Failure):
    def __init__(self, cause: str, detail: str = "", retry_after: float | None = None):
        super().__init__(cause, detail)
        self.retry_after = retry_after


class _Rejected(_Failure):
    """A 4xx that retrying cannot fix; `param` is set when the error names a body parameter."""

    def __init__(self, cause: str, detail: str = "", param: str | None = None):
        super().__init__(cause, detail)
        self.param = param


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


_PARAM_NAMED = re.compile(r"(?:parameter|param)\W{0,3}['\"`]?([a-z_]+)", re.I)
_BODY_PARAMS = ("temperature", "max_tokens", "max_completion_tokens", "top_p", "response_format")


def rejected_parameter(message: str) -> str | None:
    """Which of our optional body parameters a 400 error message names, if any."""
    named = _PARAM_NAMED.search(message)
    if named and named.group(1) in _BODY_PARAMS:
        return named.group(1)
    positions = [(message.find(p), p) for p in _BODY_PARAMS if re.search(rf"\b{p}\b", message)]
    return min(positions)[1] if positions else None


@dataclass
class _BodyRules:
    """What this endpoint accepts, learned from 400 errors during the run (shared by threads)."""

    send_temperature: bool
    token_field: str | None  # "max_tokens", "max_completion_tokens", or None (send none)
    send_top_p: bool = True  # the official prompt only
    send_response_format: bool = True  # the official prompt only
    lock: threading.Lock = field(default_factory=threading.Lock)

    def learn(self, param: str) -> None:
        with self.lock:
            if param == "temperature":
                self.send_temperature = False
            elif param == "top_p":
                self.send_top_p = False
            elif param == "response_format":
                self.send_response_format = False
            elif param == self.token_field:
                other = {"max_tokens": "max_completion_tokens", "max_completion_tokens": None}
                self.token_field = other[param]


def system_prompt(style: str) -> str | None:
    """The system message of a judge prompt style (ours has none)."""
    from vlm4d_tasks.templating import render

    return render(__package__, OFFICIAL_SYSTEM_TEMPLATE) if style == "official" else None


def request_body(settings: JudgeSettings, prompt: str, rules: _BodyRules | None = None) -> dict:
    """The chat-completions body for `prompt` under the model's parameter rules."""
    if rules is None:
        rules = _initial_rules(settings)
    official = settings.prompt == "official"
    system = system_prompt(settings.prompt)
    messages = [{"role": "system", "content": system}] if system else []
    body: dict[str, Any] = {
        "model": settings.model,
        "messages": [*messages, {"role": "user", "content": prompt}],
    }
    with rules.lock:
        if rules.send_temperature:
            body["temperature"] = OFFICIAL_TEMPERATURE if official else 0
        if official and rules.send_top_p:
            body["top_p"] = 1.0
        if rules.token_field:
            default = REASONING_MAX_TOKENS if settings.reasoning else STANDARD_MAX_TOKENS
            default = OFFICIAL_MAX_TOKENS if official else default
            body[rules.token_field] = settings.max_tokens or default
        if official and rules.send_response_format:
            # Structured output where the endpoint supports it; a 400 naming response_format
            # drops it and the reply is parsed as JSON in text, like ours.
            body["response_format"] = OFFICIAL_RESPONSE_FORMAT
    return body


def _initial_rules(settings: JudgeSettings) -> _BodyRules:
    if settings.prompt == "official":
        # The official call sends temperature 1 to every model (o-series accept 1, their only
        # value) and max_completion_tokens to o-series, max_tokens to the others.
        field_name = "max_completion_tokens" if settings.reasoning else "max_tokens"
        return _BodyRules(send_temperature=True, token_field=field_name)
    if settings.reasoning:
        return _BodyRules(send_temperature=False, token_field="max_completion_tokens")
    return _BodyRules(send_temperature=True, token_field="max_tokens")


# The transport is the openai client over its httpx2 stack. Ours on top of it, each for a
# reason the client does not cover: the TOTAL deadline (httpx2's timeouts bound each connect,
# write and read, so a trickling endpoint never trips them), the auth headers (the client
# would send OPENAI_* settings of the model under test) and the one retry loop
# (`Judge.judge_prompt`, so the client gets max_retries=0).

# Headers the openai client fills from OPENAI_API_KEY / OPENAI_ORG_ID / OPENAI_PROJECT_ID /
# OPENAI_CUSTOM_HEADERS: those belong to the model under test, so every request sets them
# itself (ours, or omitted).
_ACCOUNT_HEADERS = ("Authorization", "OpenAI-Organization", "OpenAI-Project")


class _RedactRecords(logging.Filter):
    """A logger's records, redacted: httpx2 logs each request's URL at INFO, query (and any
    key in it) included."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


@functools.lru_cache(maxsize=1)
def _http_stack() -> tuple[Any, ssl.SSLContext]:
    """The openai module and the SSL context every request shares, made on first use (not at
    import: openai takes ~0.4 s to import, and rule-only runs never call a judge). One context
    for all: loading the CA bundle costs ~17 ms, the rest of a client ~0.1 ms (measured)."""
    try:
        import httpx2  # the HTTP stack of openai 3.x
        import openai
    except ImportError as exc:
        raise JudgeConfigError(
            f"the LLM judge needs the openai client ({exc}); fix: pip install 'openai>=3.57,<4'"
        ) from None
    # httpx2 logs each URL at INFO; openai (OPENAI_LOG=debug) each request's options, the
    # base URL and query among them
    for name in ("httpx2", "openai._base_client"):
        logging.getLogger(name).addFilter(_RedactRecords())
    return openai, httpx2.create_ssl_context()


# A judge reply is one chat completion: a verdict of a few hundred bytes, or at most
# REASONING_MAX_TOKENS (4,096) tokens of text, some 16 KB, in its JSON wrapper. 8 MiB is 500
# times that, so no honest reply comes near it, and it bounds what one request may hold in
# memory (times `concurrency`) whatever an endpoint sends: counted on the wire and again
# after gzip/deflate, so a small body that inflates to 1 GB is cut at 8 MiB, never read whole.
MAX_REPLY_BYTES = 8 * 1024 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: Any) -> tuple[str, str, int | None]:
    """(scheme, host, port) of an httpx URL, the port filled in for the scheme's default."""
    scheme = url.scheme.lower()
    return scheme, url.host.lower(), url.port or _DEFAULT_PORTS.get(scheme)


@functools.lru_cache(maxsize=1)
def _capped_stream_type() -> type:
    """The body stream `_Exchange` puts in place of httpx's (made on first use: httpx2 is
    imported lazily). It reads the raw body and inflates it itself, both under
    MAX_REPLY_BYTES, so that every reader above it (the openai client's error path too,
    which reads a 4xx/5xx body whole) sees a bounded body."""
    import zlib

    import httpx2

    def too_large(what: str) -> _Rejected:
        return _Rejected(
            REPLY_TOO_LARGE,
            f"the reply {what} more than {MAX_REPLY_BYTES // 2**20} MiB (the cap of one judge "
            "reply): not read further",
        )

    class CappedStream(httpx2.SyncByteStream):
        def __init__(self, stream: Any, encoding: str) -> None:
            self._stream = stream
            self._encoding = encoding
            self._inflated = 0

        def _room(self) -> int:
            return MAX_REPLY_BYTES + 1 - self._inflated  # one byte over tells "too large"

        def _count(self, piece: bytes) -> bytes:
            self._inflated += len(piece)
            if self._inflated > MAX_REPLY_BYTES:
                raise too_large("inflates to" if self._encoding else "is")
            return piece

        def __iter__(self) -> Any:
            wbits = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS}
            inflate = (
                zlib.decompressobj(wbits.get(self._encoding, zlib.MAX_WBITS))
                if self._encoding
                else None
            )
            received, first = 0, True
            for chunk in self._stream:
                received += len(chunk)
                if received > MAX_REPLY_BYTES:
                    raise too_large("sends")
                if inflate is None:
                    yield self._count(chunk)
                    continue
                data = chunk
                while True:
                    try:
                        # at most what still fits: the output of one call is bounded too
                        piece = inflate.decompress(data, self._room())
                    except zlib.error as exc:
                        if first and self._encoding == "deflate":
                            # "deflate" is zlib-wrapped by the RFC, raw from some servers
                            inflate, first = zlib.decompressobj(-zlib.MAX_WBITS), False
                            continue
                        raise _Rejected(
                            MALFORMED_REPLY, f"the {self._encoding} body does not inflate: {exc}"
                        ) from None
                    first = False
                    if not piece:
                        break
                    yield self._count(piece)
                    data = inflate.unconsumed_tail
            if inflate is not None:
                tail = inflate.flush()
                if tail:
                    yield self._count(tail)

        def close(self) -> None:
            self._stream.close()

    return CappedStream


class _Exchange:
    """One request on its own HTTP client, so that its deadline can end it from another thread
    without touching other requests (a shared pool cannot tell which connection is whose).

    `cancel` shuts the request's sockets, found through httpx's `trace` extension. Closing
    the client alone leaves a blocked read waiting for the server's next byte or the per-read
    timeout, and a connection still opening at the deadline would send the request after it
    (measured: a reply that stalls at 0.8 s of a 1-s deadline held its thread to 1.77 s when
    closed, to 1.01 s when shut, as with the old urllib transport; test_judge_hostile.py::
    test_deadline_ends_the_request_thread_too). A fresh connection per request, as before:
    one TLS handshake per call, against calls that take seconds."""

    def __init__(self, settings: JudgeSettings) -> None:
        openai, ssl_context = _http_stack()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._cancelled = False
        self._http = openai.DefaultHttpxClient(
            verify=ssl_context,
            event_hooks={"request": [self._attach_trace], "response": [self._check_reply]},
        )
        parts = urllib.parse.urlsplit(settings.url)
        scheme = parts.scheme.lower()
        self._origin = (scheme, (parts.hostname or "").lower(),
                        parts.port or _DEFAULT_PORTS.get(scheme))  # fmt: skip
        self._endpoint = settings.endpoint
        base, query = settings.client_target()
        self._client = openai.OpenAI(
            api_key=settings.api_key or "unused",  # never sent: see `headers`
            base_url=base,
            default_query=query,
            max_retries=0,
            timeout=settings.timeout,  # per connect/read: the backstop; the deadline is ours
            http_client=self._http,
        )
        custom = os.environ.get("OPENAI_CUSTOM_HEADERS", "").splitlines()
        names = [*_ACCOUNT_HEADERS, *(h.split(":")[0].strip() for h in custom if ":" in h)]
        self.headers: dict[str, Any] = dict.fromkeys(names, openai.Omit())
        authorization = settings.authorization()
        if authorization:
            self.headers["Authorization"] = authorization
        # The encodings `_capped_stream_type` inflates under its cap (httpx would offer br
        # and zstd too when their packages are installed).
        self.headers["Accept-Encoding"] = "gzip, deflate"

    def _check_reply(self, response: Any) -> None:
        """Before any byte of the body is read: refuse a redirect to another origin, and put
        the capped stream in place of httpx's.

        The openai client follows redirects; one to another scheme, host or port would have
        that host's verdicts cached under this endpoint (and the request re-sent there).
        Redirects within the endpoint's own origin are followed."""
        if response.has_redirect_location:
            try:
                target = response.request.url.join(response.headers["Location"])
                origin = _origin(target)
            except Exception:  # an unparseable Location: nowhere to go
                origin = ("?", "?", None)
            if origin != self._origin:
                scheme, host, port = origin
                raise _Rejected(
                    REDIRECT_REFUSED,
                    f"HTTP {response.status_code} to another host ({scheme}://{host}:{port}), "
                    f"not followed: its verdicts would be cached under {self._endpoint}; fix: "
                    "point the judge base URL at the endpoint that answers",
                )
        encodings = [
            e.strip().lower()
            for e in response.headers.get_list("content-encoding", split_commas=True)
            if e.strip().lower() not in ("", "identity")
        ]
        if len(encodings) > 1 or (encodings and encodings[0] not in ("gzip", "x-gzip", "deflate")):
            raise _Rejected(
                MALFORMED_REPLY,
                f"Content-Encoding {', '.join(encodings)!r}: only gzip or deflate are accepted "
                "(as the request's Accept-Encoding said)",
            )
        declared = response.headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > MAX_REPLY_BYTES:
            raise _Rejected(
                REPLY_TOO_LARGE,
                f"the reply declares {int(declared):,} bytes (Content-Length), more than "
                f"{MAX_REPLY_BYTES // 2**20} MiB (the cap of one judge reply): not read",
            )
        response.stream = _capped_stream_type()(response.stream, encodings[0] if encodings else "")
        # the body is inflated above: httpx must not decode it again
        for name in ("content-encoding", "content-length"):
            if name in response.headers:
                del response.headers[name]

    def _attach_trace(self, request: Any) -> None:
        request.extensions["trace"] = self._trace

    def _trace(self, event: str, info: dict) -> None:
        if event != "connection.connect_tcp.complete":
            return
        sock = info["return_value"].get_extra_info("socket")
        with self._lock:
            self._sockets.append(sock)
            if not self._cancelled:
                return
        _shut(sock)  # connected after the deadline: end at once

    def send(self, body: dict) -> bytes:
        """The reply body of a 2xx; openai's errors otherwise (the client is closed after)."""
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                **body, extra_headers=self.headers
            )
            return raw.content
        finally:
            self._http.close()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)
        self._http.close()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _read_reply(raw: bytes, options: Sequence[str]) -> tuple[object, dict, Any]:
    """(message content, usage, JudgeReply or the MalformedReply of its content) of a 2xx
    body; MalformedReply when the body is not a chat completion at all."""
    # Read as JSON here, not as openai's typed model: that is built without validation, so a
    # wrong-shaped body ('{}') passes and fails later as a stray TypeError / AttributeError.
    try:
        payload = json.loads(raw)
        content = payload["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError, RecursionError):
        # RecursionError: '[' * 100000 nests deeper than json's decoder recurses
        shown = redact(raw.decode("utf-8", "replace"))[:200]  # redacted, then cut
        raise MalformedReply(f"not a chat-completions reply: {shown!r}") from None
    usage = payload.get("usage") if isinstance(payload, dict) else None
    try:
        reply: Any = parse_reply(content, options)
    except MalformedReply as exc:
        reply = exc  # the tokens of a malformed reply are still counted
    return content, usage if isinstance(usage, dict) else {}, reply


def _post(
    settings: JudgeSettings, body: dict, options: Sequence[str] = ()
) -> tuple[object, dict, Any]:
    """One request, and the reading of its reply, under the total deadline `settings.timeout`
    (a reply that takes long to parse is cut like one that takes long to arrive); returns
    (message content, usage, JudgeReply or MalformedReply) or raises _Retryable / _Rejected /
    MalformedReply / JudgeFatalError, all redacted."""
    openai, _ = _http_stack()
    exchange = _Exchange(settings)
    try:
        return call_with_deadline(
            lambda: _read_reply(exchange.send(body), options),
            settings.timeout,
            cancel=exchange.cancel,
        )
    except _Rejected as exc:  # from `_Exchange._check_reply` or the capped stream
        raise _Rejected(exc.cause, redact(exc.detail)) from None
    except DeadlineExceeded as exc:
        raise _Retryable(DEADLINE_EXCEEDED, str(exc)) from None
    except openai.APIStatusError as exc:
        status = exc.status_code
        # redacted, then cut: a secret cut in two would pass redaction half by half
        detail = redact(exc.response.content.decode("utf-8", "replace"))[:500].strip()
        cause = f"HTTP {status}"
        if status in RETRYABLE_STATUS or status >= 500:
            retry_after = parse_retry_after(exc.response.headers.get("Retry-After"))
            raise _Retryable(cause, detail, retry_after) from None
        if status in FATAL_STATUS:
            raise JudgeFatalError(
                f"judge endpoint {settings.endpoint} (model {settings.model}) refused the "
                f"request: {cause}: {detail or 'no detail'}; fix: {CHECK_SETTINGS}; the "
                "verdicts judged so far are cached"
            ) from None
        param = rejected_parameter(detail) if status == 400 else None
        raise _Rejected(cause, detail, param) from None
    except openai.APITimeoutError:
        # a connect or read timeout of `timeout` seconds: no complete reply within it either
        reason = f"no complete reply within {settings.timeout:g} s"
        raise _Retryable(DEADLINE_EXCEEDED, reason) from None
    except openai.APIConnectionError as exc:
        error = exc.__cause__ or exc
        raise _Retryable(CONNECTION_FAILED, redact(f"{type(error).__name__}: {error}")) from None


# --- judging -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JudgeOutcome:
    key: str
    model: str
    resolved: bool
    letter: str | None = None
    extracted_answer: str | None = None
    judge_correct: bool | None = None
    cached: bool = False
    requests: int = 0  # HTTP requests sent for this item in this run
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    error: str = ""  # why it is unresolved (redacted), e.g. "HTTP 503: unresolved after 5 ..."
    raw_reply: str = ""
    cause: str = ""  # the kind of failure: DEADLINE_EXCEEDED, "HTTP 503", CIRCUIT_OPEN, ...


def _tokens(usage: dict) -> tuple[int, int, int]:
    def num(name: str) -> int:
        value = usage.get(name)
        return int(value) if isinstance(value, (int, float)) else 0

    prompt, completion = num("prompt_tokens"), num("completion_tokens")
    return prompt, completion, num("total_tokens") or prompt + completion


class _CircuitBreaker:
    """Counts answers that ended unresolved in a row (any cause, in completion order); at
    `limit` it opens for the rest of the run. A resolved answer resets the count."""

    def __init__(self, limit: int, name: str) -> None:
        self.limit = limit
        self.name = name
        self.streak = 0
        self.reason: str | None = None  # set once open
        self._lock = threading.Lock()

    def open_reason(self) -> str | None:
        with self._lock:
            return self.reason

    def record(self, resolved: bool, error: str = "") -> None:
        with self._lock:
            if self.reason is not None:
                return
            self.streak = 0 if resolved else self.streak + 1
            if self.limit and self.streak >= self.limit:
                self.reason = (
                    f"{CIRCUIT_OPEN} after {self.streak} consecutive failures: not sent; "
                    f"last error: {error}"
                )
        if self.reason is not None and not resolved:
            log.warning("%s", redact(f"judge {self.name}: {self.reason}"))


class Judge:
    """A judge model behind one endpoint, with its cache. Thread-safe; reuse for a whole run
    (its circuit breaker spans every batch it judges)."""

    def __init__(
        self,
        settings: JudgeSettings,
        cache: JudgeCache | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self._rules = _initial_rules(settings)
        _http_stack()  # the client library loads once, here, not inside a call's deadline
        self._sleep = sleep
        self._breaker = _CircuitBreaker(
            settings.max_consecutive_failures, f"{settings.model} at {settings.endpoint}"
        )

    @property
    def model(self) -> str:
        return self.settings.model

    @property
    def endpoint(self) -> str:
        return self.settings.endpoint

    @property
    def circuit_open(self) -> str | None:
        """Why the circuit breaker opened (no request is sent any more), or None."""
        return self._breaker.open_reason()

    def _delay(self, failures: int, retry_after: float | None, rng: random.Random) -> float:
        s = self.settings
        if retry_after is not None:
            return min(retry_after, s.backoff_max)
        return min(s.backoff_max, s.backoff_base * 2 ** (failures - 1) * rng.uniform(0.5, 1.5))

    def judge_prompt(self, key: str, prompt: str, options: Sequence[str]) -> JudgeOutcome:
        """Judge one rendered prompt: cache, else the endpoint with retries."""
        model = self.settings.model
        hit = self._from_cache(key, prompt)
        if hit is not None:
            return hit
        # Jitter seeded per prompt: the same run waits the same way, whatever the thread order.
        rng = random.Random(f"{self.settings.seed}:{prompt_sha256(prompt)}")
        failures, requests, tokens = 0, 0, [0, 0, 0]
        relearned: set[str] = set()
        cause, detail = "", ""

        def unresolved(cause: str, error: str) -> JudgeOutcome:
            return JudgeOutcome(
                key, model, False, requests=requests, prompt_tokens=tokens[0],
                completion_tokens=tokens[1], total_tokens=tokens[2], error=redact(error),
                cause=cause,
            )  # fmt: skip

        # The one retry loop (the openai client runs with max_retries=0). Its own loop could
        # not: ask the circuit breaker before each retry, count every request and keep the
        # cause of the last failure, retry our deadline and malformed replies, re-send
        # without a parameter a 400 named, seed the jitter, or cap Retry-After at backoff_max.
        while True:
            blocked = self._breaker.open_reason()
            if blocked is not None:
                return unresolved(CIRCUIT_OPEN, blocked)  # not a call: not counted again
            body = request_body(self.settings, prompt, self._rules)
            requests += 1
            try:
                content, usage, reply = _post(self.settings, body, options)
                for i, n in enumerate(_tokens(usage)):
                    tokens[i] += n
                if isinstance(reply, MalformedReply):
                    raise reply
            except _Rejected as exc:
                if exc.param and exc.param not in relearned and exc.param in body:
                    relearned.add(exc.param)
                    self._rules.learn(exc.param)
                    continue  # retried at once, without the parameter; not a failure
                cause, detail = exc.cause, exc.detail
                break
            except (_Retryable, MalformedReply) as exc:
                if isinstance(exc, _Retryable):
                    cause, detail = exc.cause, exc.detail
                else:
                    cause, detail = MALFORMED_REPLY, str(exc)
                failures += 1
                if failures > self.settings.max_retries:
                    break
                self._sleep(self._delay(failures, getattr(exc, "retry_after", None), rng))
                continue
            verdict = {
                "letter": reply.letter,
                "extracted_answer": reply.extracted_answer,
                "judge_correct": reply.judge_correct,
            }
            if self.cache is not None:
                self.cache.put(
                    self.endpoint,
                    model,
                    self._cache_text(prompt),
                    # redacted before it is stored: an endpoint may echo a key or a URL
                    CachedJudgment(redact(content), verdict, *tokens),
                )
            self._breaker.record(True)
            return JudgeOutcome(
                key, model, True, reply.letter, reply.extracted_answer, reply.judge_correct,
                requests=requests, prompt_tokens=tokens[0], completion_tokens=tokens[1],
                total_tokens=tokens[2], raw_reply=redact(content),
            )  # fmt: skip
        error = f"{cause}: unresolved after {requests} request(s)" + (
            f": {detail}" if detail else ""
        )
        outcome = unresolved(cause, error)
        self._breaker.record(False, outcome.error)
        return outcome

    def judge(self, item: JudgeItem) -> JudgeOutcome:
        return self.judge_prompt(item.key, build_prompt(item, self.settings.prompt), item.options)

    def judge_many(
        self, items: Sequence[JudgeItem], *, progress: bool = True
    ) -> list[JudgeOutcome]:
        """Judge items concurrently (at most `settings.concurrency` requests in flight).

        Results come back in input order. Cached answers are served first without the pool;
        identical prompts are sent once. Once the circuit breaker is open the remaining
        answers come back unresolved at once, with its reason. A fatal endpoint error
        (401/403/404) stops the run (raised) after the requests in flight finish; what was
        judged so far stays in the cache.
        """
        prompts = [build_prompt(item, self.settings.prompt) for item in items]
        results: list[JudgeOutcome | None] = [None] * len(items)
        pending: dict[str, list[int]] = {}
        for i, (item, prompt) in enumerate(zip(items, prompts)):
            hit = self._from_cache(item.key, prompt)
            if hit is not None:
                results[i] = hit
            else:
                pending.setdefault(prompt, []).append(i)
        if pending:
            from tqdm import tqdm

            bar = tqdm(
                total=len(pending), desc=f"judge {self.model}", unit="answer", disable=not progress
            )
            with ThreadPoolExecutor(max_workers=max(1, self.settings.concurrency)) as pool:
                futures = {}
                for prompt, indices in pending.items():
                    first = items[indices[0]]
                    job = pool.submit(self.judge_prompt, first.key, prompt, first.options)
                    futures[job] = indices
                try:
                    for future in as_completed(futures):
                        outcome = future.result()
                        for n, i in enumerate(futures[future]):
                            # a duplicate prompt shares the first one's call: only it counts
                            results[i] = (
                                outcome if n == 0
                                else replace(
                                    outcome, key=items[i].key, cached=outcome.resolved, requests=0,
                                    prompt_tokens=0, completion_tokens=0, total_tokens=0,
                                )
                            )  # fmt: skip
                        bar.update(1)
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
                finally:
                    bar.close()
        return [r for r in results if r is not None]

    def _cache_text(self, prompt: str) -> str:
        """What the cache is keyed by besides endpoint and model: everything sent that depends
        on the prompt style (our prompt as it is; the official one with its system message)."""
        system = system_prompt(self.settings.prompt)
        return prompt if system is None else f"[{self.settings.prompt}]\n{system}\n{prompt}"

    def _from_cache(self, key: str, prompt: str) -> JudgeOutcome | None:
        text = self._cache_text(prompt)
        hit = None if self.cache is None else self.cache.get(self.endpoint, self.model, text)
        if hit is None:
            return None
        v = hit.verdict
        return JudgeOutcome(
            key, self.model, True, v.get("letter"), v.get("extracted_answer"),
            v.get("judge_correct"), cached=True, prompt_tokens=hit.prompt_tokens,
            completion_tokens=hit.completion_tokens, total_tokens=hit.total_tokens,
            raw_reply=hit.raw_reply,
        )  # fmt: skip


def cause_counts(causes: Iterable[str]) -> dict[str, int]:
    """Answers per cause, most frequent first (ties by name): the summaries' `unresolved_causes`."""
    counts = Counter(causes)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True)
class JudgeStats:
    """Per-run counts of one judge model (the JSON report's `judge` entry)."""

    model: str
    answers: int  # answers sent to this judge (from the cache or the endpoint)
    cached: int
    judged: int  # answered by the endpoint in this run
    requests: int  # HTTP requests sent, retries included
    unresolved: int
    unresolved_ids: list[str]
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_total_tokens: int  # tokens the cached answers cost when they were made
    endpoint: str = ""  # the base URL without credentials
    unresolved_causes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "endpoint": self.endpoint,
            "answers": self.answers,
            "cached": self.cached,
            "judged": self.judged,
            "requests": self.requests,
            "unresolved": self.unresolved,
            "unresolved_ids": list(self.unresolved_ids),
            "unresolved_causes": dict(self.unresolved_causes),
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "total": self.total_tokens,
                "cached_total": self.cached_total_tokens,
            },
        }


def judge_stats(model: str, outcomes: Sequence[JudgeOutcome], endpoint: str = "") -> JudgeStats:
    fresh = [o for o in outcomes if not o.cached]
    return JudgeStats(
        model=model,
        answers=len(outcomes),
        cached=sum(o.cached for o in outcomes),
        judged=sum(o.resolved for o in fresh),
        requests=sum(o.requests for o in outcomes),
        unresolved=sum(not o.resolved for o in outcomes),
        unresolved_ids=[o.key for o in outcomes if not o.resolved],
        prompt_tokens=sum(o.prompt_tokens for o in fresh),
        completion_tokens=sum(o.completion_tokens for o in fresh),
        total_tokens=sum(o.total_tokens for o in fresh),
        cached_total_tokens=sum(o.total_tokens for o in outcomes if o.cached),
        endpoint=endpoint,
        unresolved_causes=cause_counts(o.cause for o in outcomes if not o.resolved),
    )
