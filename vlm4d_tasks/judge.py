"""LLM judge for VLM4D answers, over any OpenAI-compatible chat-completions endpoint.

The paper (VLM4D, ICCV 2025, Sec. 4) asks an LLM judge, given the question, the options, the
model's response and the ground truth, to extract the chosen option as "X: option text" or
"No Valid Answer" and to say whether it is correct (o4-mini, cross-checked with o3, then by
hand). This module sends that prompt (`templates/judge_prompt.jinja`) to a local vLLM/SGLang
server or a hosted API with the standard library only (urllib in a thread pool), and:

* reads its settings from arguments or from VLM4D_JUDGE_MODEL / VLM4D_JUDGE_BASE_URL /
  VLM4D_JUDGE_API_KEY, when called (never from the variables of the model under test);
* sends what each model accepts: reasoning models (o1/o3/o4-mini..., the gpt-5 family) get
  `max_completion_tokens` and no `temperature`, other models `temperature=0` and
  `max_tokens`; a 400 error that names one of these parameters is retried once without it
  (or with the other token field), and the client remembers that for the rest of the run;
* retries 429, 5xx, timeouts, connection errors and unparseable replies with exponential
  backoff and seeded jitter, honouring Retry-After; after the last retry the answer is
  UNRESOLVED: counted and listed, never dropped and never marked wrong;
* caches every successful judgment as it arrives (`judge_cache.JudgeCache`), so a rerun makes
  no repeated call and an interrupted run resumes.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import timezone
from typing import Any

from vlm4d_tasks.judge_cache import CachedJudgment, JudgeCache, prompt_sha256
from vlm4d_tasks.official import NO_VALID_ANSWER, option_label
from vlm4d_tasks.schema import LETTERS, same_text_key

PROMPT_TEMPLATE = "judge_prompt.jinja"
ENV_MODEL = "VLM4D_JUDGE_MODEL"
ENV_BASE_URL = "VLM4D_JUDGE_BASE_URL"
ENV_API_KEY = "VLM4D_JUDGE_API_KEY"
DEFAULT_BASE_URL = "https://api.openai.com/v1"

# Reasoning models by name: OpenAI's o-series ("o1", "o3-mini", "o4-mini-2025-04-16") and the
# gpt-5 family, optionally behind a provider prefix ("openai/o4-mini"). They reject
# `temperature` and count hidden reasoning in `max_completion_tokens`, so they get more room.
_REASONING_MODEL = re.compile(r"^(?:[\w.-]+/)*(?:o\d+(?:[-_.].*)?|gpt-5(?:[-_.].*)?)$", re.I)
STANDARD_MAX_TOKENS = 256
REASONING_MAX_TOKENS = 4096

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
FATAL_STATUS = frozenset({401, 403, 404})  # wrong key, model or URL: every call would fail


def is_reasoning_model(model: str) -> bool:
    return bool(_REASONING_MODEL.match(model.strip()))


class JudgeConfigError(ValueError):
    """Missing or unusable judge settings."""


class JudgeFatalError(RuntimeError):
    """The endpoint refuses every request (401/403/404): the run stops, the cache is kept."""


class MalformedReply(ValueError):
    """A judge reply with no usable verdict (counts as a failed call: retried)."""


@dataclass(frozen=True)
class JudgeSettings:
    model: str
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = None
    timeout: float = 60.0  # seconds per request (connect and each read)
    max_retries: int = 4  # failed calls retried this many times before UNRESOLVED
    concurrency: int = 4
    backoff_base: float = 1.0  # seconds; doubles per failure, times a jitter in [0.5, 1.5)
    backoff_max: float = 60.0  # also caps a server's Retry-After
    max_tokens: int | None = None  # None: by model kind (see STANDARD/REASONING_MAX_TOKENS)
    seed: int = 0  # seeds the jitter
    # Stop the run (JudgeFatalError) after this many answers in a row ended unresolved because
    # the endpoint could not be reached at all; 0 never stops.
    unreachable_after: int = 8

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
        if not base_url.startswith(("http://", "https://")):
            raise JudgeConfigError(f"judge base URL {base_url!r} must start with http(s)://")
        api_key = api_key if api_key is not None else os.environ.get(ENV_API_KEY)
        given = {k: v for k, v in overrides.items() if v is not None}
        return cls(model=model, base_url=base_url, api_key=api_key or None, **given)

    @property
    def url(self) -> str:
        base = self.base_url.rstrip("/")
        return base if base.endswith("/chat/completions") else base + "/chat/completions"

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


def build_prompt(item: JudgeItem) -> str:
    from vlm4d_tasks.templating import render

    return render(
        PROMPT_TEMPLATE,
        question=item.question,
        options=[(letter, str(text)) for letter, text in zip(LETTERS, item.options)],
        response=item.response,
        answer_letter=item.answer_letter,
        answer_text=item.answer_text,
    )


# --- reply parsing -------------------------------------------------------------------------


@dataclass(frozen=True)
class JudgeReply:
    letter: str | None  # None = "No Valid Answer"
    extracted_answer: str  # normalized: "C: right" / "No Valid Answer"
    judge_correct: bool | None  # what the judge said; correctness is recomputed from `letter`


_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```(?:json|JSON)?")
_NO_VALID = re.compile(r"no\s+valid\s+answer", re.I)
_LEADING_LETTER = re.compile(r"^\s*[\"'(\[*]*\s*([A-D])\s*(?:[\])*\"']*\s*(?:[:.)\-]|$))")
_KEYED_ANSWER = re.compile(r"extracted[_ ]answer[\"']?\s*[:=]\s*[\"']?([^\"'\n}]+)", re.I)
_KEYED_CORRECT = re.compile(r"correct[\"']?\s*[:=]\s*[\"']?(true|false|yes|no)\b", re.I)
_ANSWER_KEYS = ("extracted_answer", "extractedanswer", "extracted answer", "answer")


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "yes", "false", "no"}:
        return value.strip().lower() in {"true", "yes"}
    return None


def _json_objects(text: str) -> list[dict]:
    decoder = json.JSONDecoder()
    found = []
    for match in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            found.append(obj)
    return found


def _letter_of(extracted: str, options: Sequence[str]) -> str | None:
    """Letter named by an extraction string; raises MalformedReply when it names none."""
    text = extracted.strip()
    if _NO_VALID.search(text):
        return None
    match = _LEADING_LETTER.match(text)
    if match:
        return match.group(1)
    key = same_text_key(text.strip(" .\"'"))
    hits = [L for L, o in zip(LETTERS, options) if same_text_key(o) == key]
    if len(hits) == 1:
        return hits[0]
    raise MalformedReply(f"extracted answer {extracted!r} names no option")


def parse_reply(content: object, options: Sequence[str]) -> JudgeReply:
    """The verdict in a judge reply: JSON (possibly fenced or followed by text), a
    python-ish `extracted_answer: ...` line, or a bare "B: left" / "No Valid Answer"."""
    if not isinstance(content, str) or not content.strip():
        raise MalformedReply("empty reply")
    text = _FENCE.sub("", _THINK.sub("", content)).strip()
    extracted: str | None = None
    judge_correct: bool | None = None
    for obj in reversed(_json_objects(text)):  # the last object is the final answer
        lowered = {str(k).strip().lower(): v for k, v in obj.items()}
        value = next((lowered[k] for k in _ANSWER_KEYS if k in lowered), None)
        if value is None:
            continue
        extracted = NO_VALID_ANSWER if value == "" else str(value)
        judge_correct = _as_bool(lowered.get("correct"))
        break
    if extracted is None:
        keyed = _KEYED_ANSWER.search(text)
        if keyed:
            extracted = keyed.group(1)
            flag = _KEYED_CORRECT.search(text)
            judge_correct = _as_bool(flag.group(1)) if flag else None
        else:
            first_line = text.splitlines()[0] if text else ""
            extracted = first_line
    letter = _letter_of(extracted, options)
    return JudgeReply(letter, option_label(letter, options), judge_correct)


# --- HTTP ----------------------------------------------------------------------------------


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, unreachable: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.unreachable = unreachable  # no connection at all (refused, unknown host)


class _Rejected(Exception):
    """A 4xx that retrying cannot fix; `param` is set when the error names a body parameter."""

    def __init__(self, reason: str, param: str | None = None):
        super().__init__(reason)
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
_BODY_PARAMS = ("temperature", "max_tokens", "max_completion_tokens")


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
    lock: threading.Lock = field(default_factory=threading.Lock)

    def learn(self, param: str) -> None:
        with self.lock:
            if param == "temperature":
                self.send_temperature = False
            elif param == self.token_field:
                other = {"max_tokens": "max_completion_tokens", "max_completion_tokens": None}
                self.token_field = other[param]


def request_body(settings: JudgeSettings, prompt: str, rules: _BodyRules | None = None) -> dict:
    """The chat-completions body for `prompt` under the model's parameter rules."""
    if rules is None:
        rules = _initial_rules(settings)
    body: dict[str, Any] = {
        "model": settings.model,
        "messages": [{"role": "user", "content": prompt}],
    }
    with rules.lock:
        if rules.send_temperature:
            body["temperature"] = 0
        if rules.token_field:
            default = REASONING_MAX_TOKENS if settings.reasoning else STANDARD_MAX_TOKENS
            body[rules.token_field] = settings.max_tokens or default
    return body


def _initial_rules(settings: JudgeSettings) -> _BodyRules:
    if settings.reasoning:
        return _BodyRules(send_temperature=False, token_field="max_completion_tokens")
    return _BodyRules(send_temperature=True, token_field="max_tokens")


def _post(settings: JudgeSettings, body: dict) -> tuple[str, dict]:
    """One request; returns (message content, usage) or raises _Retryable / _Rejected."""
    data = json.dumps(body).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if settings.api_key:
        headers["Authorization"] = f"Bearer {settings.api_key}"
    request = urllib.request.Request(settings.url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=settings.timeout) as reply:
            raw = reply.read()
    except urllib.error.HTTPError as exc:
        try:
            detail = exc.read().decode("utf-8", "replace")[:500]
        except (OSError, http.client.HTTPException):
            detail = ""
        reason = f"HTTP {exc.code}: {detail}".strip()
        if exc.code in RETRYABLE_STATUS or exc.code >= 500:
            raise _Retryable(reason, parse_retry_after(exc.headers.get("Retry-After"))) from exc
        if exc.code in FATAL_STATUS:
            raise JudgeFatalError(f"{settings.url} (model {settings.model}): {reason}") from exc
        param = rejected_parameter(detail) if exc.code == 400 else None
        raise _Rejected(reason, param) from exc
    except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        unreachable = isinstance(exc, urllib.error.URLError) and not isinstance(
            reason, TimeoutError
        )
        raise _Retryable(f"{type(exc).__name__}: {exc}", unreachable=unreachable) from exc
    try:
        payload = json.loads(raw)
        content = payload["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise MalformedReply(f"not a chat-completions reply: {raw[:200]!r}") from exc
    usage = payload.get("usage") if isinstance(payload, dict) else None
    return content, usage if isinstance(usage, dict) else {}


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
    error: str = ""
    raw_reply: str = ""
    unreachable: bool = False  # unresolved because no connection could be made


def _tokens(usage: dict) -> tuple[int, int, int]:
    def num(name: str) -> int:
        value = usage.get(name)
        return int(value) if isinstance(value, (int, float)) else 0

    prompt, completion = num("prompt_tokens"), num("completion_tokens")
    return prompt, completion, num("total_tokens") or prompt + completion


class Judge:
    """A judge model behind one endpoint, with its cache. Thread-safe; reuse for a whole run."""

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
        self._sleep = sleep

    @property
    def model(self) -> str:
        return self.settings.model

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
        error, unreachable = "", False
        while True:
            body = request_body(self.settings, prompt, self._rules)
            requests += 1
            try:
                content, usage = _post(self.settings, body)
                for i, n in enumerate(_tokens(usage)):
                    tokens[i] += n
                reply = parse_reply(content, options)
            except _Rejected as exc:
                if exc.param and exc.param not in relearned and exc.param in body:
                    relearned.add(exc.param)
                    self._rules.learn(exc.param)
                    continue  # retried at once, without the parameter; not a failure
                error = str(exc)
                break
            except (_Retryable, MalformedReply) as exc:
                error = str(exc)
                unreachable = getattr(exc, "unreachable", False)
                retry_after = getattr(exc, "retry_after", None)
                failures += 1
                if failures > self.settings.max_retries:
                    break
                self._sleep(self._delay(failures, retry_after, rng))
                continue
            verdict = {
                "letter": reply.letter,
                "extracted_answer": reply.extracted_answer,
                "judge_correct": reply.judge_correct,
            }
            if self.cache is not None:
                self.cache.put(model, prompt, CachedJudgment(content, verdict, *tokens))
            return JudgeOutcome(
                key, model, True, reply.letter, reply.extracted_answer, reply.judge_correct,
                requests=requests, prompt_tokens=tokens[0], completion_tokens=tokens[1],
                total_tokens=tokens[2], raw_reply=content,
            )  # fmt: skip
        return JudgeOutcome(
            key, model, False, requests=requests, prompt_tokens=tokens[0],
            completion_tokens=tokens[1], total_tokens=tokens[2],
            error=f"unresolved after {requests} request(s): {error}", unreachable=unreachable,
        )  # fmt: skip

    def judge(self, item: JudgeItem) -> JudgeOutcome:
        return self.judge_prompt(item.key, build_prompt(item), item.options)

    def judge_many(
        self, items: Sequence[JudgeItem], *, progress: bool = True
    ) -> list[JudgeOutcome]:
        """Judge items concurrently (at most `settings.concurrency` requests in flight).

        Results come back in input order. Cached answers are served first without the pool;
        identical prompts are sent once. A fatal endpoint error (401/403/404, or
        `unreachable_after` answers in a row without a connection) stops the run (raised)
        after the requests in flight finish; what was judged so far stays in the cache.
        """
        prompts = [build_prompt(item) for item in items]
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
                streak = 0
                try:
                    for future in as_completed(futures):
                        outcome = future.result()
                        streak = streak + 1 if outcome.unreachable else 0
                        limit = self.settings.unreachable_after
                        if limit and streak >= limit:
                            raise JudgeFatalError(
                                f"{self.settings.url} (model {self.model}) unreachable: "
                                f"{streak} answers in a row failed: {outcome.error}"
                            )
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

    def _from_cache(self, key: str, prompt: str) -> JudgeOutcome | None:
        hit = None if self.cache is None else self.cache.get(self.model, prompt)
        if hit is None:
            return None
        v = hit.verdict
        return JudgeOutcome(
            key, self.model, True, v.get("letter"), v.get("extracted_answer"),
            v.get("judge_correct"), cached=True, prompt_tokens=hit.prompt_tokens,
            completion_tokens=hit.completion_tokens, total_tokens=hit.total_tokens,
            raw_reply=hit.raw_reply,
        )  # fmt: skip


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "answers": self.answers,
            "cached": self.cached,
            "judged": self.judged,
            "requests": self.requests,
            "unresolved": self.unresolved,
            "unresolved_ids": list(self.unresolved_ids),
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "total": self.total_tokens,
                "cached_total": self.cached_total_tokens,
            },
        }


def judge_stats(model: str, outcomes: Sequence[JudgeOutcome]) -> JudgeStats:
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
    )
