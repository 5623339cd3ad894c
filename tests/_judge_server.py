"""A real OpenAI-style chat-completions server on 127.0.0.1 for the judge tests.

stdlib `http.server` in a thread on an ephemeral port. A `script(body, n)` callable decides the
reply to the n-th request (0-based) from its JSON body (a script that takes a third argument
also gets the request's headers): answer well, fail with a status, hang, trickle the reply
one byte at a time, send garbage. Every request is recorded (body, headers, path, arrival time);
the server tracks how many requests were in flight at once and how many replies the client
abandoned before their last byte.
"""

from __future__ import annotations

import inspect
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# the response block of our judge prompt: its markers carry a tag the response cannot contain
RESPONSE_SECTION = re.compile(r"^<<<RESPONSE ([0-9a-f]{16})\n(.*?)\nRESPONSE \1>>>$", re.S | re.M)
TEST_ANSWER = re.compile(r"\b(?:my answer is|Answer:) ([A-D])\b")
OPTION_LINE = re.compile(r"^([A-D]): (.*)$", re.M)


@dataclass
class Action:
    status: int = 200
    content: str | None = None  # the assistant message content (status 200)
    body: bytes | None = None  # raw body instead of a chat-completions payload
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a hang, if above the timeout)
    # Seconds between single bytes of the whole reply (status line, headers, body): an endpoint
    # that is never silent for long but never finishes either. 0 sends the reply at once.
    trickle: float = 0.0
    # With trickle: after this many seconds, stay silent for 5 s (a reply that stalls midway,
    # the connection left open). 0 never stalls.
    stall_after: float = 0.0
    usage: tuple[int, int] = (100, 20)
    # False: no Content-Length; the body ends when the connection closes (HTTP/1.0), so only
    # a client that counts the bytes it reads knows how long it is.
    send_length: bool = True


class RecordedHeaders(dict):
    """A request's headers as received, looked up by name in any case (`h["Authorization"]`,
    `"authorization" in h`): header names are case-insensitive (RFC 9110, 5.1), and clients
    differ (urllib sends "Authorization", the openai client "authorization")."""

    def _name(self, name: object) -> object:
        if isinstance(name, str):
            for key in self:
                if key.lower() == name.lower():
                    return key
        return name

    def __getitem__(self, name: object) -> str:
        return super().__getitem__(self._name(name))

    def __contains__(self, name: object) -> bool:
        return super().__contains__(self._name(name))

    def get(self, name: object, default: object = None) -> object:
        return super().get(self._name(name), default)


def prompt_of(body: dict) -> str:
    return body["messages"][-1]["content"]


def response_section(prompt: str) -> str:
    match = RESPONSE_SECTION.search(prompt)
    assert match, "the judge prompt has no response section"
    return match.group(2)


def good_verdict(body: dict) -> str:
    """What a careful judge would reply for the test responses ("my answer is C", "Answer: C")."""
    prompt = prompt_of(body)
    options = dict(OPTION_LINE.findall(prompt.split("Ground-truth answer:")[0]))
    found = TEST_ANSWER.findall(response_section(prompt))
    if not found:
        return json.dumps({"extracted_answer": "No Valid Answer", "correct": False})
    letter = found[-1]
    truth = re.search(r"Ground-truth answer: ([A-D]):", prompt).group(1)
    return json.dumps(
        {"extracted_answer": f"{letter}: {options[letter]}", "correct": letter == truth}
    )


def answer_well(body: dict, n: int) -> Action:
    return Action(content=good_verdict(body))


def openai_error(status: int, message: str, param: str | None = None) -> Action:
    payload = {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    }
    return Action(status=status, body=json.dumps(payload).encode())


class ScriptedChatServer:
    def __init__(self, script: Callable[[dict, int], Action] = answer_well) -> None:
        self.script = script
        self.requests: list[dict] = []
        self.headers: list[RecordedHeaders] = []
        self.paths: list[str] = []  # request target: path and query
        self.times: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.aborted = 0  # replies the client hung up on before their last byte
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server._lock:
                    n = len(server.requests)
                    server.requests.append(body)
                    server.headers.append(RecordedHeaders(self.headers))
                    server.paths.append(self.path)
                    server.times.append(time.monotonic())
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    script = server.script  # may be swapped between runs
                    if len(inspect.signature(script).parameters) >= 3:
                        action = script(body, n, RecordedHeaders(self.headers))
                    else:
                        action = script(body, n)
                    if action.delay:
                        time.sleep(action.delay)
                    if action.body is not None:
                        payload = action.body
                    else:
                        prompt_tokens, completion_tokens = action.usage
                        payload = json.dumps(
                            {
                                "id": f"chatcmpl-{n}",
                                "object": "chat.completion",
                                "model": body.get("model"),
                                "choices": [
                                    {
                                        "index": 0,
                                        "message": {"role": "assistant", "content": action.content},
                                        "finish_reason": "stop",
                                    }
                                ],
                                "usage": {
                                    "prompt_tokens": prompt_tokens,
                                    "completion_tokens": completion_tokens,
                                    "total_tokens": prompt_tokens + completion_tokens,
                                },
                            }
                        ).encode()
                    try:
                        self.send_response(action.status)
                        self.send_header("Content-Type", "application/json")
                        if action.send_length:
                            self.send_header("Content-Length", str(len(payload)))
                        for key, value in action.headers.items():
                            self.send_header(key, value)
                        if action.trickle:
                            self._trickle(b"".join(self._headers_buffer) + b"\r\n" + payload,
                                          action.trickle, action.stall_after)  # fmt: skip
                            self._headers_buffer = []
                        else:
                            self.end_headers()
                            for at in range(0, len(payload), 1 << 20):  # a big body in pieces
                                self.wfile.write(payload[at : at + (1 << 20)])
                    except (BrokenPipeError, ConnectionResetError):
                        with server._lock:
                            server.aborted += 1  # the client gave up (timeout)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _trickle(self, raw: bytes, interval: float, stall_after: float = 0.0) -> None:
                start = time.monotonic()
                for i in range(len(raw)):
                    if stall_after and time.monotonic() - start >= stall_after:
                        time.sleep(5.0)
                        stall_after = 0.0
                    self.wfile.write(raw[i : i + 1])
                    self.wfile.flush()
                    time.sleep(interval)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def prompts(self) -> list[str]:
        with self._lock:
            return [prompt_of(b) for b in self.requests]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.headers.clear()
            self.paths.clear()
            self.times.clear()
            self.max_in_flight = 0
            self.aborted = 0

    def __enter__(self) -> ScriptedChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def make_items(n: int, *, prefix: str = "real/validation_"):
    """n judge items whose responses say "my answer is X" (cycling A-D); truth is A."""
    from vlm4d_tasks.metric.judge import JudgeItem

    options = ["left", "right", "towards the camera", "not moving"]
    return [
        JudgeItem(
            key=f"{prefix}{i}",
            question=f"Which way does object number {i} move?",
            options=options,
            response=f"Looking at clip {i} frame by frame, my answer is {'ABCD'[i % 4]}.",
            answer_letter="A",
            answer_text="left",
        )
        for i in range(n)
    ]
