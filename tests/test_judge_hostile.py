"""The judge against hostile endpoints and caches (issue 12), on the real HTTP server of
tests/_judge_server.py: a total deadline per request, the run-level circuit breaker, secrets
redacted from every message, the endpoint in the cache key, unusable caches."""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import threading
import time

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

from vlm4d_tasks.metric.judge import Judge
from vlm4d_tasks.metric.judge_cache import TABLE, JudgeCache, JudgeCacheError
from vlm4d_tasks.metric.judge_transport import (
    DeadlineExceeded,
    JudgeConfigError,
    JudgeFatalError,
    JudgeSettings,
    call_with_deadline,
)
from vlm4d_tasks.metric.redact import public_url, redact, register_secret


def settings(server: ScriptedChatServer, **kw) -> JudgeSettings:
    defaults = dict(timeout=5.0, max_retries=0, concurrency=1, backoff_base=0.01, backoff_max=1.0)
    return JudgeSettings(model="local-judge", base_url=server.url, **{**defaults, **kw})


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def number_of(body: dict) -> int:
    """The item number of a make_items prompt ("object number 7")."""
    return int(prompt_of(body).split("object number ")[1].split(" ")[0])


# --- 1. a total deadline per request -----------------------------------------------------------


def test_trickling_reply_is_cut_at_the_total_deadline():
    # One byte every 40 ms: never silent for as long as the timeout, but the ~400-byte reply
    # would take ~16 s. A per-read timeout never fires; the request must end at 1 s.
    def trickle(body, n):
        return Action(content=good_verdict(body), trickle=0.04)

    with ScriptedChatServer(trickle) as server:
        judge = Judge(settings(server, timeout=1.0))
        start = time.monotonic()
        outcome = judge.judge(make_items(1)[0])
        elapsed = time.monotonic() - start
        assert elapsed < 2.5, f"one request held the judge for {elapsed:.1f} s"
        # the deadline shut the socket: the server sees its client go away (no leaked request)
        assert wait_until(lambda: server.aborted == 1, 5.0)
    assert not outcome.resolved and outcome.cause == "deadline exceeded"
    assert outcome.error == (
        "deadline exceeded: unresolved after 1 request(s): no complete reply within 1 s"
    )


def test_deadline_is_retried_like_any_failure():
    def trickle_once(body, n):
        return Action(content=good_verdict(body), trickle=0.04 if n == 0 else 0.0)

    with ScriptedChatServer(trickle_once) as server:
        start = time.monotonic()
        outcome = Judge(settings(server, timeout=0.5, max_retries=1)).judge(make_items(1)[0])
        assert time.monotonic() - start < 2.0
    assert outcome.resolved and outcome.letter == "A" and outcome.requests == 2


def test_deadline_ends_the_request_thread_too():
    # A reply that trickles, then stalls just before the deadline: the caller moves on at the
    # deadline, and the request's own thread must end then too (its socket is shut), not
    # stay blocked until a read timeout or the server's next byte, ~1 s later.
    def stalls(body, n):
        return Action(content=good_verdict(body), trickle=0.04, stall_after=0.8)

    def request_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "vlm4d-judge-request"}

    before = request_threads()
    with ScriptedChatServer(stalls) as server:
        outcome = Judge(settings(server, timeout=1.0)).judge(make_items(1)[0])
        assert outcome.cause == "deadline exceeded"
        assert wait_until(lambda: not request_threads() - before, 0.4), "a request outlived it"


def test_call_with_deadline_wraps_any_call():
    assert call_with_deadline(lambda: 42, 1.0) == 42
    with pytest.raises(KeyError):
        call_with_deadline(lambda: {}["missing"], 1.0)
    released = threading.Event()
    start = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="no complete reply within 0.2 s"):
        call_with_deadline(lambda: released.wait(10), 0.2, cancel=released.set)
    assert time.monotonic() - start < 1.0
    assert released.is_set()  # the transport was told to stop


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan"), float("inf")])
def test_timeout_must_be_a_positive_number(timeout):
    with pytest.raises(JudgeConfigError, match="timeout"):
        JudgeSettings(model="m", timeout=timeout)


# --- 1. the run-level circuit breaker ------------------------------------------------------------


def test_circuit_opens_after_consecutive_failures_of_any_kind():
    def failing(body, n):
        kind = number_of(body) % 3
        if kind == 0:
            return openai_error(503, "overloaded")
        if kind == 1:
            return Action(content="The second one, I think.")  # no verdict: malformed
        return Action(content=good_verdict(body), delay=2.0)  # beyond the deadline

    items = make_items(8)
    with ScriptedChatServer(failing) as server:
        judge = Judge(settings(server, timeout=0.5, max_consecutive_failures=3))
        outcomes = judge.judge_many(items, progress=False)
        assert len(server.requests) == 3  # nothing is sent once the circuit is open
        # the breaker spans the run: a later batch sends nothing either
        later = judge.judge_many(make_items(10)[8:], progress=False)
        assert len(server.requests) == 3
    causes = [o.cause for o in outcomes]
    assert causes == ["HTTP 503", "malformed reply", "deadline exceeded"] + ["circuit open"] * 5
    assert outcomes[0].error == (
        'HTTP 503: unresolved after 1 request(s): {"error": {"message": "overloaded", '
        '"type": "invalid_request_error", "param": null, "code": null}}'
    )
    reason = (
        "circuit open after 3 consecutive failures: not sent; last error: deadline exceeded: "
        "unresolved after 1 request(s): no complete reply within 0.5 s"
    )
    assert [o.error for o in outcomes[3:] + later] == [reason] * 7
    assert judge.circuit_open == reason
    assert all(o.requests == 0 for o in outcomes[3:] + later)


def test_a_resolved_answer_resets_the_count_and_retried_failures_do_not_count():
    def script(body, n):
        i = number_of(body)
        if i in (0, 1, 3, 4):
            return openai_error(500, "boom")
        if i == 2 and not any(number_of(b) == 2 for b in server.requests[:n]):
            return openai_error(503, "once")  # retried, then fine: not a failed answer
        return answer_well(body, n)

    with ScriptedChatServer(script) as server:
        judge = Judge(settings(server, max_retries=1, max_consecutive_failures=3))
        outcomes = judge.judge_many(make_items(8), progress=False)
        assert len(server.requests) == 4 * 2 + 2 + 3  # 4 failed answers, one retried, 3 fine
    # fail, fail, ok (after a retried 503), fail, fail, ok, ok, ok: never 3 in a row
    assert [o.resolved for o in outcomes] == [False, False, True, False, False, True, True, True]
    assert judge.circuit_open is None


def test_circuit_stops_the_retries_of_answers_in_flight():
    def script(body, n):
        # answer 0 fails at once (4 requests in a few ms); answer 1's first reply is slow
        return Action(status=503, body=b"down", delay=1.0 if number_of(body) == 1 else 0.0)

    with ScriptedChatServer(script) as server:
        s = settings(server, concurrency=2, max_retries=3, max_consecutive_failures=1)
        outcomes = Judge(s).judge_many(make_items(3), progress=False)
        assert len(server.requests) == 5  # not 3 answers x 4 requests
    assert [(o.cause, o.requests) for o in outcomes] == [
        ("HTTP 503", 4),
        ("circuit open", 1),  # stopped before its first retry
        ("circuit open", 0),
    ]
    assert outcomes[0].error == "HTTP 503: unresolved after 4 request(s): down"


# --- 3. secrets ----------------------------------------------------------------------------------


def test_redact_hides_every_kind_of_secret(monkeypatch):
    monkeypatch.setenv("VLM4D_JUDGE_API_KEY", "plain-judge-secret-123")
    register_secret("registered/secret+456")
    secrets = [
        "plain-judge-secret-123",
        "registered/secret+456",
        "registered%2Fsecret%2B456",  # as it appears in a URL
        "abc.def-123_token",
        "sk-proj-ABCDEF1234567890",
        "pa55w0rd",
        "q-secret-9",
        "zz-secret-77",
        "dXNlcjpwYXNz",
    ]
    text = (
        "invalid key Bearer abc.def-123_token; sk-proj-ABCDEF1234567890 rejected; "
        "https://alice:pa55w0rd@host.example/v1?api_key=q-secret-9&api-version=2024-06-01; "
        'plain-judge-secret-123 registered/secret+456 {"api_key": "zz-secret-77"} '
        "Authorization: Basic dXNlcjpwYXNz; GET /v1?x=registered%2Fsecret%2B456"
    )
    out = redact(text)
    for secret in secrets:
        assert secret not in out, secret
    # every query value of a URL is hidden, whatever its name (issue 23)
    assert out.count("[REDACTED]") == 10
    assert "api-version=[REDACTED]" in out and "host.example/v1" in out
    assert redact(out) == out  # idempotent
    # what the judge normally says is left alone, and so are placeholder keys like "EMPTY"
    for harmless in ['{"extracted_answer": "B: right", "correct": false}', "total_tokens=120",
                     "HTTP 503: overloaded", "EMPTY", "Bearer"]:  # fmt: skip
        assert redact(harmless) == harmless


def test_settings_hide_credentials_and_name_the_endpoint():
    s = JudgeSettings(
        model="m",
        base_url="https://alice:pw-secret-42@Example.COM:8443/v1/?api_key=k-secret-42&api-version=1",
    )
    assert s.endpoint == "https://example.com:8443/v1"  # no query: any value may be a token
    assert s.url == "https://Example.COM:8443/v1/chat/completions?api_key=k-secret-42&api-version=1"
    assert s.authorization() == "Basic " + base64.b64encode(b"alice:pw-secret-42").decode()
    for shown in (repr(s), str(s), redact(s.base_url)):
        assert "pw-secret-42" not in shown and "k-secret-42" not in shown
    assert public_url("http://u:p@h/v1/chat/completions/?token=t&x=1") == (
        "http://h/v1/chat/completions"
    )
    with pytest.raises(JudgeConfigError) as err:
        JudgeSettings(model="m", base_url="ftp://bob:hunter2-secret@host/v1")
    assert "hunter2-secret" not in str(err.value) and "fix:" in str(err.value)


def test_url_credentials_are_sent_as_auth_and_query_kept():
    with ScriptedChatServer() as server:
        host = server.url.split("//")[1]
        s = JudgeSettings(
            model="m", base_url=f"http://alice:pa55@{host}?api-version=7", max_retries=0
        )
        assert Judge(s).judge(make_items(1)[0]).resolved
        assert server.headers[0]["Authorization"] == "Basic " + base64.b64encode(
            b"alice:pa55"
        ).decode("ascii")
        assert server.paths == ["/v1/chat/completions?api-version=7"]


def test_openai_variables_of_the_model_under_test_are_never_sent(monkeypatch):
    # The openai client reads these by itself; they configure the model under test.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-model-under-test-0123456789")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-under-test")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-under-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv(
        "OPENAI_CUSTOM_HEADERS",
        "api-key: azure-under-test\nAuthorization: Bearer custom-under-test",
    )
    foreign = ("Authorization", "OpenAI-Organization", "OpenAI-Project", "api-key")
    with ScriptedChatServer() as server:
        assert Judge(settings(server)).judge(make_items(1)[0]).resolved  # no key: none sent
        assert Judge(settings(server, api_key="judge-key-42")).judge(make_items(1)[0]).resolved
    [without_key, with_key] = server.headers
    assert [name for name in foreign if name in without_key] == []
    assert [name for name in foreign if name in with_key] == ["Authorization"]
    assert with_key["Authorization"] == "Bearer judge-key-42"


def test_http_log_lines_are_redacted(caplog):
    caplog.set_level(logging.INFO)
    with ScriptedChatServer() as server:
        host = server.url.split("//")[1]
        s = JudgeSettings(model="m", base_url=f"http://{host}?api_key=query-secret-42&x=1")
        assert Judge(s).judge(make_items(1)[0]).resolved
        assert server.paths == ["/v1/chat/completions?api_key=query-secret-42&x=1"]  # sent
    assert "query-secret-42" not in caplog.text
    assert "/v1/chat/completions?api_key=[REDACTED]&x=[REDACTED]" in caplog.text  # redacted


def test_401_that_echoes_the_key_is_redacted():
    key = "judge-secret-0123456789abcdef"

    def echo(body, n, headers):
        return openai_error(401, f"invalid key {headers['Authorization']}: {key} is revoked")

    with ScriptedChatServer(echo) as server:
        with pytest.raises(JudgeFatalError) as err:
            Judge(settings(server, api_key=key)).judge_many(make_items(2), progress=False)
        assert server.headers[0]["Authorization"] == f"Bearer {key}"  # it was sent
    message = str(err.value)
    assert key not in message
    assert "HTTP 401" in message and "invalid key Bearer [REDACTED]: [REDACTED]" in message
    assert f"judge endpoint {server.url} (model local-judge)" in message and "fix:" in message


def test_unresolved_reasons_are_redacted():
    key = "another-judge-secret-987654"

    def echo(body, n, headers):
        return openai_error(500, f"upstream said: bad credential {headers['Authorization']}")

    with ScriptedChatServer(echo) as server:
        outcome = Judge(settings(server, api_key=key)).judge(make_items(1)[0])
    assert not outcome.resolved and key not in outcome.error
    assert "bad credential Bearer [REDACTED]" in outcome.error


# --- 4. the cache ----------------------------------------------------------------------------


def test_two_endpoints_with_one_model_name_do_not_share_verdicts(tmp_path):
    def abstains(body, n):
        return Action(content='{"extracted_answer": "No Valid Answer", "correct": false}')

    items = make_items(3)
    cache = JudgeCache(tmp_path / "judge.sqlite")
    with ScriptedChatServer() as good, ScriptedChatServer(abstains) as other:
        first = Judge(settings(good), cache).judge_many(items, progress=False)
        second = Judge(settings(other), cache).judge_many(items, progress=False)
        assert len(other.requests) == 3  # not served the first endpoint's verdicts
        # the same endpoint written another way, with other credentials, is the same judge
        same = JudgeSettings(
            model="local-judge", base_url=good.url + "/chat/completions/", api_key="other-key-1"
        )
        good.reset()
        again = Judge(same, cache).judge_many(items, progress=False)
        assert good.requests == []
    assert [o.letter for o in first] == ["A", "B", "C"]
    assert [o.letter for o in second] == [None, None, None]
    assert [o.letter for o in again] == ["A", "B", "C"] and all(o.cached for o in again)
    assert len(cache) == 6


def _fix_named(message: str, path) -> None:
    assert str(path) in message
    assert "fix: delete" in message and "VLM4D_CACHE_DIR" in message


def _not_a_cache(message: str, path) -> None:
    """Not known to be a cache of ours: another path is asked for, nothing said of deleting."""
    assert str(path) in message and "not a vlm4d judge cache" in message
    assert "fix: pass another path" in message and "delete" not in message


def test_corrupt_cache_file_is_a_clear_error(tmp_path):
    path = tmp_path / "judge.sqlite"
    path.write_bytes(b"this is not a database\n" * 200)
    with pytest.raises(JudgeCacheError, match="is not a SQLite file") as err:
        JudgeCache(path)
    _not_a_cache(str(err.value), path)


def test_directory_in_place_of_the_cache_is_a_clear_error(tmp_path):
    path = tmp_path / "judge.sqlite"
    path.mkdir()
    with pytest.raises(JudgeCacheError, match="is a directory") as err:
        JudgeCache(path)
    _not_a_cache(str(err.value), path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(JudgeCacheError, match="cannot create its folder"):
        JudgeCache(blocker / "judge.sqlite")


@pytest.mark.parametrize(
    "column, value, problem",
    [
        ("verdict_json", "not json", "field 'verdict_json' is not JSON"),
        ("verdict_json", json.dumps({"letter": "Z", "extracted_answer": "Z", "judge_correct": None}),
         "'letter' is 'Z'"),
        ("verdict_json", json.dumps(["A"]), "expected an object"),
        ("total_tokens", -3, "token counts"),
    ],
)  # fmt: skip
def test_bad_cache_row_is_a_clear_error(tmp_path, column, value, problem):
    path = tmp_path / "judge.sqlite"
    items = make_items(2)
    with ScriptedChatServer() as server:
        Judge(settings(server), JudgeCache(path)).judge_many(items, progress=False)
        with sqlite3.connect(path) as conn:
            conn.execute(f"UPDATE {TABLE} SET {column} = ?", (value,))
        server.reset()
        with pytest.raises(JudgeCacheError) as err:
            Judge(settings(server), JudgeCache(path)).judge_many(items, progress=False)
        assert server.requests == []
    message = str(err.value)
    assert problem in message and f"endpoint {server.url}, model local-judge" in message
    _fix_named(message, path)
