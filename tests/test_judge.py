"""The LLM judge against a real HTTP server on 127.0.0.1 (tests/_judge_server.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _judge_server import (
    Action,
    ScriptedChatServer,
    answer_well,
    good_verdict,
    make_items,
    openai_error,
    prompt_of,
)

from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric.grading import Mode, grade
from vlm4d_tasks.metric.judge import Judge, build_prompt, judge_stats, request_body
from vlm4d_tasks.metric.judge_cache import JudgeCache, default_cache_path
from vlm4d_tasks.metric.judge_reply import MalformedReply, parse_reply
from vlm4d_tasks.metric.judge_transport import (
    JudgeConfigError,
    JudgeFatalError,
    JudgeSettings,
    is_reasoning_model,
    parse_retry_after,
    rejected_parameter,
)
from vlm4d_tasks.metric.scoring import VerdictStatus, score_records

OPTIONS = ["left", "right", "towards the camera", "not moving"]


def settings(server: ScriptedChatServer, model: str = "local-judge", **kw) -> JudgeSettings:
    defaults = dict(timeout=5.0, max_retries=3, concurrency=2, backoff_base=0.01, backoff_max=2.0)
    return JudgeSettings(model=model, base_url=server.url, **{**defaults, **kw})


def expected_letter(i: int) -> str:
    return "ABCD"[i % 4]


# --- prompt, body and reply parsing ----------------------------------------------------------


def test_prompt_carries_the_paper_contract():
    item = make_items(1)[0]
    prompt = build_prompt(item)
    assert item.question in prompt
    assert item.response in prompt
    for letter, text in zip("ABCD", OPTIONS):
        assert f"{letter}: {text}\n" in prompt
    assert "Ground-truth answer: A: left" in prompt
    assert '"extracted_answer"' in prompt and "No Valid Answer" in prompt
    assert build_prompt(item) == prompt  # deterministic


@pytest.mark.parametrize(
    "model, reasoning",
    [
        ("o4-mini", True),
        ("o3", True),
        ("o1-preview", True),
        ("o4-mini-2025-04-16", True),
        ("openai/o3-mini", True),
        ("gpt-5", True),
        ("gpt-5-mini", True),
        ("gpt-4o", False),
        ("gpt-4o-mini", False),
        ("gpt-4.1", False),
        ("Qwen/Qwen2.5-72B-Instruct", False),
        ("llama-3.3-70b-o1-distill", False),
    ],
)
def test_reasoning_model_rule(model, reasoning):
    assert is_reasoning_model(model) is reasoning
    body = request_body(JudgeSettings(model=model), "hello")
    assert body["model"] == model
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    if reasoning:
        assert "temperature" not in body and "max_tokens" not in body
        assert body["max_completion_tokens"] >= 1024  # room for hidden reasoning
    else:
        assert body["temperature"] == 0 and "max_completion_tokens" not in body
        assert body["max_tokens"] > 0


@pytest.mark.parametrize(
    "content, letter, said_correct",
    [
        ('{"extracted_answer": "B: right", "correct": false}', "B", False),
        ('```json\n{"extracted_answer": "A: left", "correct": true}\n```', "A", True),
        ('{"extracted_answer": "C: towards the camera", "correct": "false"}\nHope this helps!',
         "C", False),
        ('Sure. {"extracted_answer": "No Valid Answer", "correct": false}', None, False),
        ("<think>B or maybe A?</think>\n{\"extracted_answer\": \"D: not moving\", "
         "\"correct\": false}", "D", False),
        ("{'extracted_answer': 'B: right', 'correct': False}", "B", False),
        ("B: right", "B", None),
        ("No Valid Answer", None, None),
        ('{"extracted_answer": "not moving", "correct": false}', "D", False),
        ('{"extracted_answer": "(C)", "correct": false}', "C", False),
        ('{"Extracted_Answer": "**A**: left", "correct": 1}', "A", True),
        ('{"a": 1} then {"extracted_answer": "A: left", "correct": true}', "A", True),
    ],
)  # fmt: skip
def test_parse_reply_tolerates_real_shapes(content, letter, said_correct):
    reply = parse_reply(content, OPTIONS)
    assert reply.letter == letter
    assert reply.judge_correct is said_correct
    expected = "No Valid Answer" if letter is None else f"{letter}: {OPTIONS['ABCD'.index(letter)]}"
    assert reply.extracted_answer == expected


@pytest.mark.parametrize(
    "content",
    [
        "",
        None,
        "I cannot help with that.",
        '{"correct": true}',
        '{"extracted_answer": "upwards", "correct": false}',
        '```json\n{"extracted_answer": \n```',
    ],
)
def test_parse_reply_rejects_unusable(content):
    with pytest.raises(MalformedReply):
        parse_reply(content, OPTIONS)


def test_retry_after_and_rejected_parameter_parsing():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_700_000_000.0
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 30))
    assert parse_retry_after(date, now=now) == pytest.approx(30.0)
    assert rejected_parameter("Unsupported parameter: 'temperature' is not supported") == (
        "temperature"
    )
    assert (
        rejected_parameter(
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        )
        == "max_tokens"
    )
    assert rejected_parameter("temperature must be 1 for this model") == "temperature"
    assert rejected_parameter("Invalid prompt: too long") is None


def test_settings_from_options_and_env(monkeypatch):
    for name in ("VLM4D_JUDGE_MODEL", "VLM4D_JUDGE_BASE_URL", "VLM4D_JUDGE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-model-under-test")
    monkeypatch.setenv("OPENAI_API_BASE", "http://model-under-test/v1")
    monkeypatch.setenv("MODEL_VERSION", "model-under-test")
    with pytest.raises(JudgeConfigError, match="VLM4D_JUDGE_MODEL"):
        JudgeSettings.resolve()
    monkeypatch.setenv("VLM4D_JUDGE_MODEL", "o4-mini")
    s = JudgeSettings.resolve()
    assert (s.model, s.api_key, s.base_url) == ("o4-mini", None, "https://api.openai.com/v1")
    assert s.url == "https://api.openai.com/v1/chat/completions"
    monkeypatch.setenv("VLM4D_JUDGE_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("VLM4D_JUDGE_API_KEY", "judge-key")
    s = JudgeSettings.resolve(timeout=7.0, concurrency=None)
    assert (s.api_key, s.url, s.timeout, s.concurrency) == (
        "judge-key",
        "http://127.0.0.1:9/v1/chat/completions",
        7.0,
        4,
    )
    with pytest.raises(JudgeConfigError, match="http"):
        JudgeSettings.resolve(base_url="localhost:8000/v1")
    # explicit arguments win over the environment
    s = JudgeSettings.resolve("gpt-4o", "http://x/v1/chat/completions", "other")
    assert (s.model, s.url, s.api_key) == ("gpt-4o", "http://x/v1/chat/completions", "other")


def test_default_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv("VLM4D_CACHE_DIR", raising=False)
    assert default_cache_path() == Path.home() / ".cache" / "vlm4d" / "judge.sqlite"
    monkeypatch.setenv("VLM4D_CACHE_DIR", str(tmp_path))
    assert default_cache_path() == tmp_path / "judge.sqlite"


# --- behaviour against the server -------------------------------------------------------------


def test_answers_well_with_tokens_auth_and_bounded_concurrency(tmp_path):
    def slow_good(body, n):
        return Action(content=good_verdict(body), delay=0.15, usage=(100 + n, 7))

    items = make_items(6)
    with ScriptedChatServer(slow_good) as server:
        s = settings(server, api_key="judge-key", concurrency=2)
        outcomes = Judge(s, JudgeCache(tmp_path / "c.sqlite")).judge_many(items, progress=False)
    assert [o.key for o in outcomes] == [i.key for i in items]
    assert [o.letter for o in outcomes] == [expected_letter(i) for i in range(6)]
    assert all(o.resolved and not o.cached and o.requests == 1 for o in outcomes)
    assert outcomes[1].extracted_answer == "B: right"
    assert outcomes[0].judge_correct is True and outcomes[1].judge_correct is False
    assert server.max_in_flight == 2
    assert all(h.get("Authorization") == "Bearer judge-key" for h in server.headers)
    assert all(b["temperature"] == 0 and b["max_tokens"] > 0 for b in server.requests)
    stats = judge_stats("local-judge", outcomes)
    assert stats.prompt_tokens == sum(100 + n for n in range(6))
    assert (stats.completion_tokens, stats.total_tokens) == (42, stats.prompt_tokens + 42)
    assert (stats.requests, stats.judged, stats.cached, stats.unresolved) == (6, 6, 0, 0)


def test_500_then_success_is_retried(tmp_path):
    failed: set[str] = set()

    def flaky(body, n):
        prompt = prompt_of(body)
        if prompt not in failed:
            failed.add(prompt)
            return openai_error(500, "internal error")
        return answer_well(body, n)

    with ScriptedChatServer(flaky) as server:
        outcomes = Judge(settings(server), None).judge_many(make_items(3), progress=False)
    assert [o.letter for o in outcomes] == ["A", "B", "C"]
    assert [o.requests for o in outcomes] == [2, 2, 2]
    assert len(server.requests) == 6


def test_429_honours_retry_after(tmp_path):
    def limited(body, n):
        if n == 0:
            return Action(status=429, body=b'{"error": {"message": "slow down"}}',
                          headers={"Retry-After": "1"})  # fmt: skip
        return answer_well(body, n)

    with ScriptedChatServer(limited) as server:
        s = settings(server, concurrency=1, backoff_base=0.001)
        outcome = Judge(s).judge(make_items(1)[0])
        gap = server.times[1] - server.times[0]
    assert outcome.resolved and outcome.letter == "A" and outcome.requests == 2
    assert gap >= 0.95  # waited as told, not the 1 ms backoff


def test_hang_longer_than_timeout_is_retried():
    def hang_once(body, n):
        return Action(content=good_verdict(body), delay=1.5 if n == 0 else 0.0)

    with ScriptedChatServer(hang_once) as server:
        judge = Judge(settings(server, timeout=0.3))  # loads the HTTP client library, once
        start = time.monotonic()
        outcome = judge.judge(make_items(1)[0])
        elapsed = time.monotonic() - start
    assert outcome.resolved and outcome.letter == "A" and outcome.requests == 2
    assert elapsed < 1.4  # gave up on the hanging request at the timeout


def test_garbage_until_the_last_retry_is_unresolved_not_wrong(tmp_path):
    items = make_items(3)
    bad_key = items[1].response

    def garbage_for_one(body, n):
        prompt = prompt_of(body)
        if bad_key in prompt:
            return Action(content="The answer seems to be the second one, I think." if n % 2
                          else None, body=None if n % 2 else b"{not json")  # fmt: skip
        return answer_well(body, n)

    cache = JudgeCache(tmp_path / "c.sqlite")
    with ScriptedChatServer(garbage_for_one) as server:
        judge = Judge(settings(server, max_retries=2, concurrency=1), cache)
        outcomes = judge.judge_many(items, progress=False)
        bad_requests = sum(bad_key in p for p in server.prompts)
        assert bad_requests == 3  # one call + two retries
        assert [o.resolved for o in outcomes] == [True, False, True]
        assert outcomes[1].error.startswith("malformed reply: unresolved after 3 request(s)")
        assert outcomes[1].cause == "malformed reply"
        stats = judge_stats("local-judge", outcomes)
        assert (stats.unresolved, stats.unresolved_ids) == (1, [items[1].key])
        assert stats.unresolved_causes == {"malformed reply": 1}
        assert len(cache) == 2  # the unresolved answer is not cached: a rerun asks again

        # Scored: the unresolved answer leaves the denominator and is listed, never "wrong".
        records = [_record(item) for item in items]
        server.reset()
        judge = Judge(settings(server, max_retries=0), cache)
        answers = {i.key: i.response for i in items}
        grading = grade(records, answers, Mode.LLM, [judge], progress=False)
        assert len(server.requests) == 1  # the two judged answers came from the cache
    statuses = [v.status for v in grading.verdicts]
    assert statuses == [VerdictStatus.ANSWERED, VerdictStatus.UNRESOLVED, VerdictStatus.ANSWERED]
    score = score_records(grading.verdicts, records)
    assert (score["n"], score["scored"], score["correct"]) == (3, 2, 1)
    assert score["accuracy"] == 0.5
    assert score["unresolved"] == 1 and score["unresolved_ids"] == [items[1].key]
    [unresolved] = score["unresolved_answers"]
    assert unresolved["id"] == items[1].key and unresolved["cause"] == "malformed reply"
    assert unresolved["reason"].startswith("malformed reply: unresolved after 1 request(s): ")


def test_400_unsupported_temperature_is_retried_once_without_it():
    def no_temperature(body, n):
        if "temperature" in body:
            return openai_error(
                400,
                "Unsupported parameter: 'temperature' is not supported with this model.",
                "temperature",
            )
        return answer_well(body, n)

    items = make_items(4)
    with ScriptedChatServer(no_temperature) as server:
        outcomes = Judge(settings(server, concurrency=1)).judge_many(items, progress=False)
    assert all(o.resolved for o in outcomes)
    assert len(server.requests) == 5  # one rejected request, then the parameter is dropped
    assert "temperature" in server.requests[0]
    assert all("temperature" not in b for b in server.requests[1:])


def test_400_max_tokens_switches_to_max_completion_tokens():
    def new_field_only(body, n):
        if "max_tokens" in body:
            return openai_error(
                400,
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
                "max_tokens",
            )
        return answer_well(body, n)

    with ScriptedChatServer(new_field_only) as server:
        outcome = Judge(settings(server, model="my-proxy-name")).judge(make_items(1)[0])
    assert outcome.resolved and outcome.requests == 2
    assert server.requests[1]["max_completion_tokens"] > 0


def test_reasoning_model_parameters_reach_the_server():
    def strict(body, n):
        if "temperature" in body or "max_tokens" in body:
            return openai_error(400, "Unsupported parameter: 'temperature'", "temperature")
        return answer_well(body, n)

    with ScriptedChatServer(strict) as server:
        outcome = Judge(settings(server, model="o4-mini")).judge(make_items(1)[0])
    assert outcome.resolved and outcome.requests == 1
    assert set(server.requests[0]) == {"model", "messages", "max_completion_tokens"}


def test_other_400_is_not_retried_and_401_stops_the_run():
    with ScriptedChatServer(lambda b, n: openai_error(400, "Invalid prompt")) as server:
        outcome = Judge(settings(server)).judge(make_items(1)[0])
        assert len(server.requests) == 1
    assert not outcome.resolved and "HTTP 400" in outcome.error

    with ScriptedChatServer(lambda b, n: openai_error(401, "Incorrect API key")) as server:
        with pytest.raises(JudgeFatalError, match="401"):
            Judge(settings(server, concurrency=1)).judge_many(make_items(3), progress=False)


def test_connection_refused_is_retried_then_unresolved_and_opens_the_circuit():
    with ScriptedChatServer() as server:
        url = server.url  # closed on exit: nothing listens there any more
    s = JudgeSettings(model="m", base_url=url, max_retries=2, backoff_base=0.001, timeout=1.0)
    outcome = Judge(s).judge(make_items(1)[0])
    assert not outcome.resolved and outcome.requests == 3
    assert outcome.cause == "connection failed"
    assert outcome.error.startswith("connection failed: unresolved after 3 request(s): ")
    # A whole run against a dead endpoint stops calling after 3 failed answers; the rest are
    # unresolved at once, with the reason (no exception: the run's score is still written).
    s = JudgeSettings(
        model="m", base_url=url, max_retries=0, concurrency=1, max_consecutive_failures=3
    )
    judge = Judge(s)
    outcomes = judge.judge_many(make_items(10), progress=False)
    assert [o.cause for o in outcomes] == ["connection failed"] * 3 + ["circuit open"] * 7
    assert sum(o.requests for o in outcomes) == 3
    assert outcomes[3].error.startswith(
        "circuit open after 3 consecutive failures: not sent; last error: connection failed: "
    )
    assert judge.circuit_open == outcomes[3].error


def test_rerun_is_served_from_the_cache(tmp_path):
    items = make_items(5)
    path = tmp_path / "judge.sqlite"
    with ScriptedChatServer() as server:
        first = Judge(settings(server), JudgeCache(path)).judge_many(items, progress=False)
        assert len(server.requests) == 5
        server.reset()
        again = Judge(settings(server), JudgeCache(path)).judge_many(items, progress=False)
        assert server.requests == []
        # another judge model does not share the first one's answers
        other = Judge(settings(server, model="other-judge"), JudgeCache(path))
        other.judge_many(items[:2], progress=False)
        assert len(server.requests) == 2
    assert [o.letter for o in again] == [o.letter for o in first]
    assert all(o.cached and o.requests == 0 for o in again)
    stats = judge_stats("local-judge", again)
    assert (stats.cached, stats.requests, stats.total_tokens) == (5, 0, 0)
    assert stats.cached_total_tokens == sum(o.total_tokens for o in first) == 5 * 120


def test_identical_prompts_are_sent_once():
    items = make_items(2)
    twin = type(items[0])(**{**items[0].__dict__, "key": "synthetic/validation_0"})
    with ScriptedChatServer() as server:
        outcomes = Judge(settings(server)).judge_many([items[0], items[1], twin], progress=False)
        assert len(server.requests) == 2
    assert [o.key for o in outcomes] == ["real/validation_0", "real/validation_1", twin.key]
    assert outcomes[2].letter == outcomes[0].letter
    assert judge_stats("m", outcomes).requests == 2


_WORKER = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from _judge_server import make_items
    from vlm4d_tasks.metric.judge import Judge, JudgeSettings
    from vlm4d_tasks.metric.judge_cache import JudgeCache
    settings = JudgeSettings(model="local-judge", base_url=sys.argv[2], concurrency=1,
                             backoff_base=0.01, timeout=10)
    outcomes = Judge(settings, JudgeCache(sys.argv[3])).judge_many(make_items(int(sys.argv[4])),
                                                                   progress=False)
    print(json.dumps([[o.key, o.letter, o.cached] for o in outcomes]))
    """
)


@pytest.mark.subprocess
def test_resume_after_kill(tmp_path):
    n = 12
    cache_path = tmp_path / "judge.sqlite"
    root = str(Path(__file__).resolve().parents[1])
    tests_dir = str(Path(__file__).resolve().parent)

    def slow(body, i):
        return Action(content=good_verdict(body), delay=0.25)

    with ScriptedChatServer(slow) as server:
        worker = subprocess.Popen(
            [sys.executable, "-c", _WORKER, tests_dir, server.url, str(cache_path), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": root},
        )
        deadline = time.monotonic() + 60
        while len(server.requests) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        worker.kill()
        worker.wait(timeout=30)
        assert worker.returncode != 0, "the worker finished before it could be killed"
        first_run = set(server.prompts)
        done = len(JudgeCache(cache_path))
        assert 3 <= done < n

        server.reset()
        result = subprocess.run(
            [sys.executable, "-c", _WORKER, tests_dir, server.url, str(cache_path), str(n)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": root},
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        second_run = server.prompts

    rows = json.loads(result.stdout)
    assert [r[1] for r in rows] == [expected_letter(i) for i in range(n)]  # complete
    assert sum(r[2] for r in rows) == done  # what was stored before the kill is reused
    assert len(second_run) == n - done  # only the missing answers are requested
    assert len(set(second_run)) == len(second_run)
    all_prompts = {build_prompt(item) for item in make_items(n)}
    assert set(second_run) | (first_run & all_prompts) == all_prompts


# --- modes ------------------------------------------------------------------------------------


def _record(item) -> Record:
    return Record(
        uid=item.key,
        question_id=item.key.split("/")[1],
        subset=item.key.split("/")[0],
        source="davis",
        perspective="exocentric",
        category="translational",
        question=item.question,
        options=list(item.options),
        answer=item.answer_letter,
        answer_text=item.answer_text,
        video="videos_real/davis/x.mp4",
    )


def test_modes_rule_llm_hybrid_and_crosscheck(tmp_path):
    from vlm4d_tasks.metric.extract import extract

    items = make_items(8)
    records = [_record(item) for item in items]
    # Half the responses state the answer plainly; the other half explain a letter with a
    # sentence naming another option, which extraction should not decide on its own.
    responses = {}
    for i, item in enumerate(items):
        letter = expected_letter(i)
        responses[item.key] = (
            f"After watching the clip, my answer is {letter}." if i % 2 == 0
            else f"Answer: {letter}. The object is {OPTIONS[(i + 1) % 4]} in this clip."
        )  # fmt: skip
    unsure = [k for k, r in responses.items() if not extract(r, OPTIONS).confident]
    assert 0 < len(unsure) < len(items), "need both confident and unsure extractions"

    def by_model(body, n):
        verdict = json.loads(good_verdict(body))
        if body["model"] == "judge-b" and "object number 3 " in prompt_of(body):
            verdict = {"extracted_answer": "No Valid Answer", "correct": False}
        return Action(content=json.dumps(verdict))

    cache = JudgeCache(tmp_path / "c.sqlite")
    with ScriptedChatServer(by_model) as server:
        rule = grade(records, responses, "rule")
        assert server.requests == [] and rule.sent_to_llm == 0
        assert all(v.decided_by.startswith("rule:") for v in rule.verdicts)

        judge_a = Judge(settings(server, model="judge-a"), cache)
        hybrid = grade(records, responses, "hybrid", [judge_a], progress=False)
        assert hybrid.sent_to_llm == len(unsure) == len(server.requests)
        judged = {v.uid for v in hybrid.verdicts if v.decided_by == "judge:judge-a"}
        assert judged == set(unsure)
        assert hybrid.to_dict()["judges"][0]["requests"] == len(unsure)

        server.reset()
        llm = grade(records, responses, "llm", [judge_a], progress=False)
        assert llm.sent_to_llm == 8
        assert len(server.requests) == 8 - len(unsure)  # the rest came from the cache
        assert [v.letter for v in llm.verdicts] == [expected_letter(i) for i in range(8)]
        assert llm.to_dict()["judges"][0]["cached"] == len(unsure)

        judge_b = Judge(settings(server, model="judge-b"), cache)
        cross = grade(records, responses, "crosscheck", [judge_a, judge_b], progress=False)
    assert [v.letter for v in cross.verdicts] == [v.letter for v in llm.verdicts]
    assert cross.disagreements == [
        {
            "id": "real/validation_3",
            "question_id": "validation_3",
            "verdicts": [
                {"judge": "judge-a", "verdict": "D: not moving"},
                {"judge": "judge-b", "verdict": "No Valid Answer"},
            ],
            "ground_truth": "A: left",
            "response": responses["real/validation_3"],
        }
    ]
    assert [j["model"] for j in cross.to_dict()["judges"]] == ["judge-a", "judge-b"]
    with pytest.raises(ValueError, match="needs 2 judge"):
        grade(records, responses, "crosscheck", [judge_a])
