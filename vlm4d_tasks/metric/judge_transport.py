"""The judge's transport: one judge's settings, the HTTP request to its endpoint, the total
deadline, the reply cap, the retries with backoff and the run-level circuit breaker.

`metric.judge` decides what to send (the prompt, the body) and what a reply means; this module
gets a reply there and back, and:

* validates one judge's settings (`JudgeSettings`; the VLM4D_JUDGE_* variables it may read come
  from `vlm4d_tasks.settings`), names its endpoint without credentials (`endpoint`, part of the
  cache key) and sends the key as a Bearer token, or the URL's userinfo as Basic auth;
* gives every request a TOTAL deadline (`timeout`, at most MAX_TIMEOUT: connect, send, every
  read and the parsing of the reply together, `call_with_deadline`), so an endpoint that
  trickles its reply cannot hold a request longer;
* reads at most MAX_REPLY_BYTES of a reply, on the wire and once inflated, parses it in one
  linear pass (`judge_reply.parse_reply`), and follows no redirect to another scheme, host or
  port;
* overrides every header the openai client would fill from the OPENAI_* variables of the model
  under test;
* retries 429, 5xx, deadlines, connection errors and unparseable replies with exponential
  backoff and seeded jitter, honouring Retry-After (`send_with_retries`); a 400 that names a
  body parameter is re-sent once without it; after the last retry the answer is unresolved
  with its cause and reason;
* opens a run-level circuit breaker (`CircuitBreaker`) after `max_consecutive_failures`
  answers in a row ended unresolved (any cause): no new request is sent;
* redacts every message, reason and exception text (`redact.redact`).
"""

from __future__ import annotations

import base64
import email.utils
import functools
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timezone
from typing import Any, TypeVar

from vlm4d_tasks.metric.judge_reply import JudgeReply, MalformedReply, parse_reply
from vlm4d_tasks.metric.redact import (
    host_ok,
    public_url,
    redact,
    register_secret,
    shown_url,
    url_secrets,
)
from vlm4d_tasks.settings import (
    JUDGE_API_KEY,
    JUDGE_BASE_URL,
    JUDGE_MODEL,
    JUDGE_PROMPTS,
    JUDGE_TIMEOUT,
    MAX_JUDGE_RETRIES,
    MAX_JUDGE_TIMEOUT,
    Settings,
    SettingsError,
)

ENV_MODEL = JUDGE_MODEL.name
ENV_BASE_URL = JUDGE_BASE_URL.name
ENV_API_KEY = JUDGE_API_KEY.name

DEFAULT_BASE_URL = "https://api.openai.com/v1"
CHECK_SETTINGS = (
    f"check the judge's API key ({ENV_API_KEY}), model ({ENV_MODEL}) and base URL ({ENV_BASE_URL})"
)

log = logging.getLogger(__name__)

# Reasoning models by name: OpenAI's o-series ("o1", "o3-mini", "o4-mini-2025-04-16") and the
# gpt-5 family, optionally behind a provider prefix ("openai/o4-mini"). They reject
# `temperature` and count hidden reasoning in `max_completion_tokens`, so they get more room.
_REASONING_MODEL = re.compile(r"^(?:[\w.-]+/)*(?:o\d+(?:[-_.].*)?|gpt-5(?:[-_.].*)?)$", re.I)

# The bounds of `timeout` and `max_retries`, and why: `vlm4d_tasks.settings`.
MAX_TIMEOUT = MAX_JUDGE_TIMEOUT
MAX_RETRIES = MAX_JUDGE_RETRIES

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
                f"--judge-timeout or set {JUDGE_TIMEOUT.name} to such a number",
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
        *,
        settings: Settings | None = None,
        **overrides: Any,
    ) -> JudgeSettings:
        """Settings from the arguments, else from the VLM4D_JUDGE_* variables of `settings`
        (default: `Settings.from_environ()`, read now)."""
        env = Settings.from_environ() if settings is None else settings
        try:
            model = model or env.judge_model
            if not model:
                raise JudgeConfigError(
                    f"no judge model: pass --judge-model or set {ENV_MODEL} "
                    "(with the endpoint in --judge-base-url / " + ENV_BASE_URL + ")"
                )
            base_url = base_url or env.judge_base_url or DEFAULT_BASE_URL
            api_key = api_key if api_key is not None else env.judge_api_key
            if overrides.get("prompt") is None:
                overrides["prompt"] = env.judge_prompt
        except SettingsError as exc:
            raise JudgeConfigError(str(exc)) from None
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


# The transport is the openai client over its httpx2 stack. Ours on top of it, each for a
# reason the client does not cover: the TOTAL deadline (httpx2's timeouts bound each connect,
# write and read, so a trickling endpoint never trips them), the auth headers (the client
# would send OPENAI_* settings of the model under test) and the one retry loop
# (`send_with_retries`, so the client gets max_retries=0).

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
def http_stack() -> tuple[Any, ssl.SSLContext]:
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
        openai, ssl_context = http_stack()
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
    openai, _ = http_stack()
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


def _tokens(usage: dict) -> tuple[int, int, int]:
    def num(name: str) -> int:
        value = usage.get(name)
        return int(value) if isinstance(value, (int, float)) else 0

    prompt, completion = num("prompt_tokens"), num("completion_tokens")
    return prompt, completion, num("total_tokens") or prompt + completion


class CircuitBreaker:
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


# --- retries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What `send_with_retries` ended with: a parsed reply, or the cause and reason why not."""

    requests: int  # HTTP requests sent, retries included
    tokens: tuple[int, int, int]  # prompt, completion, total, over every request sent
    content: object = None  # the reply's message content, as received
    reply: JudgeReply | None = None  # None: unresolved
    cause: str = ""  # the kind of failure: DEADLINE_EXCEEDED, "HTTP 503", CIRCUIT_OPEN, ...
    error: str = ""  # why it is unresolved, redacted


def _three(tokens: list[int]) -> tuple[int, int, int]:
    return tokens[0], tokens[1], tokens[2]


def backoff_delay(
    settings: JudgeSettings, failures: int, retry_after: float | None, rng: random.Random
) -> float:
    """Seconds to wait before retry `failures`: the server's Retry-After, else exponential
    backoff times a jitter in [0.5, 1.5); either capped at `backoff_max`."""
    if retry_after is not None:
        return min(retry_after, settings.backoff_max)
    return min(
        settings.backoff_max,
        settings.backoff_base * 2 ** (failures - 1) * rng.uniform(0.5, 1.5),
    )


def send_with_retries(
    settings: JudgeSettings,
    make_body: Callable[[], dict],
    options: Sequence[str],
    *,
    learn: Callable[[str], None],
    breaker: CircuitBreaker,
    rng: random.Random,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """One answer's requests until a reply parses, the retries run out, a 4xx ends it or the
    breaker is open; the breaker is told how it ended (not when it was open already).

    The one retry loop (the openai client runs with max_retries=0). The client's own could not:
    ask the circuit breaker before each retry, count every request and keep the cause of the
    last failure, retry our deadline and malformed replies, re-send without a parameter a 400
    named (`learn(param)`, then `make_body()` again), seed the jitter (`rng`), or cap
    Retry-After at backoff_max."""
    failures, requests, tokens = 0, 0, [0, 0, 0]
    relearned: set[str] = set()
    cause, detail = "", ""
    while True:
        blocked = breaker.open_reason()
        if blocked is not None:  # not a call: not counted again
            return Delivery(requests, _three(tokens), cause=CIRCUIT_OPEN, error=redact(blocked))
        body = make_body()
        requests += 1
        try:
            content, usage, reply = _post(settings, body, options)
            for i, n in enumerate(_tokens(usage)):
                tokens[i] += n
            if isinstance(reply, MalformedReply):
                raise reply
        except _Rejected as exc:
            if exc.param and exc.param not in relearned and exc.param in body:
                relearned.add(exc.param)
                learn(exc.param)
                continue  # retried at once, without the parameter; not a failure
            cause, detail = exc.cause, exc.detail
            break
        except (_Retryable, MalformedReply) as exc:
            if isinstance(exc, _Retryable):
                cause, detail = exc.cause, exc.detail
            else:
                cause, detail = MALFORMED_REPLY, str(exc)
            failures += 1
            if failures > settings.max_retries:
                break
            sleep(backoff_delay(settings, failures, getattr(exc, "retry_after", None), rng))
            continue
        breaker.record(True)
        return Delivery(requests, _three(tokens), content, reply)
    error = redact(
        f"{cause}: unresolved after {requests} request(s)" + (f": {detail}" if detail else "")
    )
    breaker.record(False, error)
    return Delivery(requests, _three(tokens), cause=cause, error=error)
