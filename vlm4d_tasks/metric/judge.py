"""LLM judge for VLM4D answers, over any OpenAI-compatible chat-completions endpoint.

The paper (VLM4D, ICCV 2025, Sec. 4) asks an LLM judge, given the question, the options, the
model's response and the ground truth, to extract the chosen option as "X: option text" or
"No Valid Answer" and to say whether it is correct (o4-mini, cross-checked with o3, then by
hand). This module holds the prompts and the verdicts: it renders that prompt
(`vlm4d_tasks/metric/judge_prompt.jinja`, or the official evaluation code's, `JUDGE_PROMPTS`),
builds the request body each model accepts, and turns what comes back into a `JudgeOutcome`
(in a thread pool, `Judge.judge_many`), counted per judge (`judge_stats`). The rest is done by
one module per job:

* `judge_transport`: one judge's settings (`JudgeSettings`, read from arguments or from the
  VLM4D_JUDGE_* variables through `vlm4d_tasks.settings`, never from the OPENAI_* variables of
  the model under test), the HTTP request under a TOTAL deadline with a capped reply and no
  redirect to another origin, the retries with backoff honouring Retry-After, and the
  run-level circuit breaker: an answer whose calls all fail is UNRESOLVED with its cause and
  reason, counted and listed, never dropped, never marked wrong;
* `judge_reply`: the reply parsed in one linear pass;
* `judge_cache`: every successful judgment cached as it arrives (keyed by endpoint, model and
  prompt), so a rerun makes no repeated call and an interrupted run resumes;
* `redact`: no secret printed or stored; every message, reason and cached reply passes it.

The body: reasoning models (o1/o3/o4-mini..., the gpt-5 family) get `max_completion_tokens`
and no `temperature`, other models `temperature=0` and `max_tokens`; a 400 error that names
one of these parameters is retried once without it (or with the other token field), and the
judge remembers that for the rest of the run (`_BodyRules`). Our prompt fences the response
with markers tagged by a hash of the prompt's fields (`response_boundary`), so that a response
cannot close its block.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any

from vlm4d_tasks.data.schema import LETTERS
from vlm4d_tasks.metric.judge_cache import CachedJudgment, JudgeCache, prompt_sha256
from vlm4d_tasks.metric.judge_transport import (
    CircuitBreaker,
    JudgeSettings,
    http_stack,
    send_with_retries,
)
from vlm4d_tasks.metric.redact import redact

PROMPT_TEMPLATE = "judge_prompt.jinja"
# The judge prompts: ours (one user message, the letter and text of the ground truth, the
# response between markers) and the official one of the VLM4D evaluation code (its system
# instruction, its user message, a structured-output schema, temperature 1, 1024 tokens), so
# that published labels can be reproduced under the judge that made them. Their names,
# `settings.JUDGE_PROMPTS`, are declared with the variable that picks one.
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

# Token room of a verdict: reasoning models (`JudgeSettings.reasoning`) count their hidden
# reasoning in `max_completion_tokens`, so they get more.
STANDARD_MAX_TOKENS = 256
REASONING_MAX_TOKENS = 4096


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
    """The user message for `item` under the judge prompt `style` (`settings.JUDGE_PROMPTS`).

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


# --- request body --------------------------------------------------------------------------


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
        http_stack()  # the client library loads once, here, not inside a call's deadline
        self._sleep = sleep
        self._breaker = CircuitBreaker(
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

    def judge_prompt(self, key: str, prompt: str, options: Sequence[str]) -> JudgeOutcome:
        """Judge one rendered prompt: cache, else the endpoint with retries."""
        model = self.settings.model
        hit = self._from_cache(key, prompt)
        if hit is not None:
            return hit
        sent = send_with_retries(
            self.settings,
            lambda: request_body(self.settings, prompt, self._rules),
            options,
            learn=self._rules.learn,
            breaker=self._breaker,
            # Jitter seeded per prompt: the same run waits the same way, whatever the threads do.
            rng=random.Random(f"{self.settings.seed}:{prompt_sha256(prompt)}"),
            sleep=self._sleep,
        )
        prompt_tokens, completion_tokens, total_tokens = sent.tokens
        reply = sent.reply
        if reply is None:
            return JudgeOutcome(
                key, model, False, requests=sent.requests, prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens, total_tokens=total_tokens,
                error=sent.error, cause=sent.cause,
            )  # fmt: skip
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
                CachedJudgment(redact(sent.content), verdict, *sent.tokens),
            )
        return JudgeOutcome(
            key, model, True, reply.letter, reply.extracted_answer, reply.judge_correct,
            requests=sent.requests, prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens, total_tokens=total_tokens,
            raw_reply=redact(sent.content),
        )  # fmt: skip

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
