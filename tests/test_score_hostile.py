"""`vlm4d score` and `vlm4d report` under hostile input (issue 12), end to end in a
subprocess: every bad input is an error that names the file and the field, exits non-zero and
says the cause and the fix on the last line of stderr (never a traceback); a hung judge opens
the circuit and every unresolved answer is listed with its reason; no secret is printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _judge_server import Action, ScriptedChatServer, answer_well, good_verdict, openai_error

pytestmark = pytest.mark.subprocess

MOVE = {"A": "left", "B": "right", "C": "not moving", "D": "up"}


def entry(qid: str, response: str, answer: str = "left") -> dict:
    return {"id": qid, "question": f"Where does object {qid} go?", "choices": MOVE,
            "response": response, "answer": answer}  # fmt: skip


def dump(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def vlm4d(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vlm4d_tasks.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def last_line(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1]


def assert_error(result, command: str, *needles: str, code: int = 2) -> str:
    """A clean error: exit status, no traceback, cause + fix on the last line of stderr."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stderr
    line = last_line(result)
    assert line.startswith(f"vlm4d {command}: error: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


@pytest.fixture
def answers(tmp_path: Path) -> list[Path]:
    """A real file (4 answers) and a synthetic file (3 answers) of one model."""
    real = [entry(f"validation_{i}", f"Final Answer: {'ABCD'[i % 4]}") for i in range(1, 5)]
    syn = [entry(f"validation_{i}", f"Answer: {'ABCD'[i % 4]}") for i in range(1, 4)]
    return [
        dump(tmp_path / "responses" / "real_mc_cot" / "m.json", real),
        dump(tmp_path / "responses" / "synthetic_mc_cot" / "m.json", syn),
    ]


def judge_env(server: ScriptedChatServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"VLM4D_JUDGE_MODEL": "local-judge", "VLM4D_JUDGE_BASE_URL": server.url,
            "VLM4D_CACHE_DIR": str(tmp_path / "cache"), **extra}  # fmt: skip


# --- 1 + 2: a hung judge; every unresolved reason in the outputs ---------------------------------


def test_trickling_judge_opens_the_circuit_and_every_reason_is_reported(tmp_path, answers):
    def first_three_then_trickle(body, n):
        if n < 3:
            return answer_well(body, n)
        return Action(content=good_verdict(body), trickle=0.05)  # ~20 s per reply

    out = tmp_path / "out"
    args = ["score", *answers, "--judge", "llm", "--judge-timeout", "1", "--judge-retries", "0",
            "--judge-max-failures", "2", "--judge-concurrency", "1", "--no-progress",
            "--json", out / "s.json", "--markdown", out / "s.md"]  # fmt: skip
    with ScriptedChatServer(first_three_then_trickle) as server:
        env = judge_env(server, tmp_path)
        start = time.monotonic()
        result = vlm4d(*args, env=env)
        elapsed = time.monotonic() - start
        assert len(server.requests) == 5  # 3 answered, 2 cut at the deadline, then no more

        reason = (
            "circuit open after 2 consecutive failures: not sent; last error: deadline "
            "exceeded: unresolved after 1 request(s): no complete reply within 1 s"
        )
        line = assert_error(result, "score", f"judge local-judge: {reason}", code=3)
        assert line.endswith(
            "2 answer(s) left unresolved, listed with the reason in the outputs; fix: check "
            "the judge endpoint (or raise --judge-timeout / --judge-max-failures) and rerun: "
            "judged answers are cached, the rerun resumes"
        )
        assert elapsed < 15  # two 1-s deadlines, not 2 x 20 s of trickling and more
        assert (
            "scored 7 answers in 2 file(s) in" in result.stderr
            and "; unresolved: 4 (circuit open: 2, deadline exceeded: 2; reasons in the outputs)"
            in result.stderr
        )

        score = json.loads((out / "s.json").read_text())
        assert score["summary"]["unresolved_causes"] == {"circuit open": 2, "deadline exceeded": 2}
        assert score["judge"]["circuit_open"] == {"local-judge": reason}
        listed = [a for run in score["runs"] for a in run["unresolved_answers"]]
        deadline = "deadline exceeded: unresolved after 1 request(s): no complete reply within 1 s"
        # answers are sent in order: real 1-3 answered, real 4 and synthetic 1 cut at the
        # deadline (the circuit opens), synthetic 2 and 3 never sent
        assert listed == [
            {"id": "real/validation_4", "decided_by": "judge:local-judge",
             "cause": "deadline exceeded", "reason": deadline},
            {"id": "synthetic/validation_1", "decided_by": "judge:local-judge",
             "cause": "deadline exceeded", "reason": deadline},
            {"id": "synthetic/validation_2", "decided_by": "judge:local-judge",
             "cause": "circuit open", "reason": reason},
            {"id": "synthetic/validation_3", "decided_by": "judge:local-judge",
             "cause": "circuit open", "reason": reason},
        ]  # fmt: skip
        md = (out / "s.md").read_text()
        assert "Unresolved answers by cause: circuit open 2, deadline exceeded 2." in md
        assert "## Unresolved answers" in md
        for answer in listed:
            assert f"`{answer['id']}`" in md.split("## Unresolved answers")[1]
        assert f"  - {deadline}: " in md and f"  - {reason}: " in md

        # Nothing is lost: the endpoint recovers, a rerun asks only what is still unresolved.
        server.script = answer_well
        server.reset()
        result = vlm4d(*args, env=env)
        assert result.returncode == 0, result.stderr
        assert len(server.requests) == 4
        assert last_line(result).endswith("; unresolved: 0")


# --- 3: secrets ------------------------------------------------------------------------------------

KEY = "judge-secret-0123456789abcdef"
URL_PASSWORD = "pa55w0rd-xyz"
URL_KEY = "url-secret-31337"
SECRETS = (KEY, URL_PASSWORD, URL_KEY, "sk-live-abcdefghijklmnop")


def echoing(status: int):
    def script(body, n, headers):
        return openai_error(
            status,
            f"invalid key {headers.get('Authorization')}; key={KEY}; request "
            f"/v1/chat/completions?api_key={URL_KEY}; did you mean sk-live-abcdefghijklmnop?",
        )

    return script


def test_no_secret_reaches_stderr_json_or_markdown(tmp_path, answers):
    out = tmp_path / "out"
    with ScriptedChatServer(echoing(401)) as server:
        host = server.url.split("//")[1]
        env = judge_env(server, tmp_path, VLM4D_JUDGE_API_KEY=KEY)
        env["VLM4D_JUDGE_BASE_URL"] = f"http://alice:{URL_PASSWORD}@{host}?api_key={URL_KEY}"
        result = vlm4d("score", *answers, "--judge", "llm", "--no-progress", "--json",
                       out / "a.json", env=env)  # fmt: skip
        assert server.headers[0]["Authorization"] == f"Bearer {KEY}"  # the key was sent
        assert server.paths[0] == f"/v1/chat/completions?api_key={URL_KEY}"
        line = assert_error(result, "score", "HTTP 401", "invalid key Bearer [REDACTED]",
                            f"judge endpoint {server.url} (model local-judge)", "fix: check")  # fmt: skip
        for secret in SECRETS:
            assert secret not in result.stderr + result.stdout, secret
        assert not (out / "a.json").exists()  # a refused key stops the run before any output

        # A failure that is not fatal: the echoed secrets would land in the reasons.
        server.script = echoing(500)
        result = vlm4d("score", *answers, "--judge", "llm", "--no-progress", "--judge-retries",
                       "0", "--judge-max-failures", "0", "--json", out / "b.json",
                       "--markdown", out / "b.md", env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    files = (out / "b.json").read_text() + (out / "b.md").read_text()
    for secret in SECRETS:
        assert secret not in files + result.stderr + result.stdout, secret
    score = json.loads((out / "b.json").read_text())
    assert score["judge"]["endpoints"] == [server.url]
    [reason] = {a["reason"] for run in score["runs"] for a in run["unresolved_answers"]}
    assert reason.startswith(
        'HTTP 500: unresolved after 1 request(s): {"error": {"message": "invalid key Bearer '
        "[REDACTED]; key=[REDACTED]; request /v1/chat/completions?api_key=[REDACTED]; did "
        'you mean [REDACTED]?"'
    )
    assert "HTTP 500: 7" in last_line(result)
    assert line.count("[REDACTED]") >= 3


# --- 4: an unusable cache ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["corrupt", "directory"])
def test_unusable_cache_is_a_clear_error(tmp_path, answers, kind):
    cache = tmp_path / "cache" / "judge.sqlite"
    if kind == "corrupt":
        dump(cache, {"not": "a database"})
    else:
        cache.mkdir(parents=True)
    with ScriptedChatServer() as server:
        result = vlm4d("score", *answers, "--judge", "llm", "--no-progress",
                       env=judge_env(server, tmp_path))  # fmt: skip
        assert server.requests == []
    assert_error(result, "score", f"judge cache {cache}: ", "fix: pass another", "VLM4D_CACHE_DIR")


# --- 5: tracebacks that are errors now ------------------------------------------------------------


def test_real_id_without_a_number_needs_annotations(tmp_path):
    path = dump(tmp_path / "real_mc" / "m.json", [entry("validation", "Final Answer: A")])
    result = vlm4d("score", path, "--no-progress")
    assert_error(result, "score", f"{path}: record validation: field 'id': 'validation' has no",
                 "fix: pass --annotations DIR")  # fmt: skip


def test_lone_surrogate_in_a_response_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "real_mc" / "m.json"
    path.parent.mkdir(parents=True)
    text = json.dumps([entry("validation_1", "I pick A"), entry("validation_2", "B")])
    path.write_text(text.replace("I pick A", "I pick \\ud800 A"), encoding="utf-8")
    with ScriptedChatServer() as server:
        result = vlm4d("score", path, "--judge", "llm", "--no-progress",
                       env=judge_env(server, tmp_path))  # fmt: skip
        assert server.requests == []
    assert_error(result, "score", f"{path}: record validation_1: field 'response': a lone "
                 "surrogate '\\ud800' at character 7", "fix: re-export the file as UTF-8")  # fmt: skip


def test_outputs_in_missing_folders_are_created(tmp_path, answers):
    deep = tmp_path / "new" / "deeper"
    result = vlm4d("score", *answers, "--no-progress", "--json", deep / "s.json",
                   "--markdown", deep / "md" / "s.md", "--plot", deep / "png" / "s.png")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((deep / "s.json").read_text())["summary"]["n"] == 7
    assert (deep / "md" / "s.md").read_text().startswith("# VLM4D accuracy")
    assert (deep / "png" / "s.png").read_bytes()[:4] == b"\x89PNG"
    result = vlm4d("report", deep / "s.json", "--markdown", tmp_path / "r" / "r.md",
                   "--plot", tmp_path / "r2" / "r.png")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r" / "r.md").read_text() == (deep / "md" / "s.md").read_text()
    assert (tmp_path / "r2" / "r.png").exists()


@pytest.mark.parametrize("option", ["--json", "--markdown", "--plot"])
def test_unwritable_outputs_fail_before_any_work(tmp_path, answers, option):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = vlm4d("score", *answers, "--no-progress", option, blocker / "out.png")
    assert_error(result, "score", f"{option} {blocker / 'out.png'}: cannot create its folder: "
                 f"{blocker} is a file, not a folder; fix: choose another path")  # fmt: skip
    result = vlm4d("score", *answers, "--no-progress", option, tmp_path)
    assert_error(result, "score", f"{option} {tmp_path}: is a directory", "fix: name a file")
    result = vlm4d("report", tmp_path / "missing.json", "--plot", tmp_path)
    assert_error(result, "report", f"--plot {tmp_path}: is a directory")


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--resamples", "0", "argument --resamples: expected a whole number of at least 1, got '0'"),
        ("--resamples", "-5", "argument --resamples: expected a whole number of at least 1"),
        ("--judge-timeout", "0", "argument --judge-timeout: expected a number of seconds above 0"),
        ("--judge-timeout", "-1", "argument --judge-timeout: expected a number of seconds above 0"),
        ("--judge-timeout", "nan", "argument --judge-timeout: expected a number of seconds above 0"),
        ("--judge-retries", "-1", "argument --judge-retries: expected a whole number of at least 0"),
        ("--judge-concurrency", "0", "argument --judge-concurrency: expected a whole number of at"),
    ],
)  # fmt: skip
def test_out_of_range_numbers_are_argument_errors(answers, option, value, message):
    result = vlm4d("score", *answers, "--no-progress", "--judge", "llm", option, value)
    assert_error(result, "score", message)


def test_directory_as_a_response_file(tmp_path, answers):
    folder = answers[0].parent
    result = vlm4d("score", folder, "--no-progress")
    assert_error(result, "score", f"{folder}: is a directory, not a response file",
                 f"fix: pass the JSON files inside it (e.g. {folder}/*.json)")  # fmt: skip
    result = vlm4d("score", tmp_path / "real_mc" / "nope.json", "--no-progress")
    assert_error(result, "score", "nope.json: no such file")


@pytest.fixture
def score_file(tmp_path, answers) -> Path:
    path = tmp_path / "s.json"
    result = vlm4d("score", *answers, "--no-progress", "--json", path)
    assert result.returncode == 0, result.stderr
    return path


def _broken(score: dict, change) -> dict:
    score = json.loads(json.dumps(score))
    change(score)
    return score


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda s: s["runs"][0].pop("accuracy"), "runs[0].accuracy: missing"),
        (lambda s: s["runs"][1].update(n="7"), "runs[1].n: expected a whole number, got '7'"),
        (lambda s: s.update(runs={"a": 1}), "runs: expected a list"),
        (lambda s: s["models"][0]["columns"].update(overall=0.5),
         "models[0].columns.overall: expected an object, got 0.5"),
        (lambda s: s["models"][0]["columns"]["real"].update(ci95=[0.1]),
         "models[0].columns.real.ci95: expected null or [low, high]"),
        (lambda s: s["runs"][0]["by_category"].update(translational={"n": 1}),
         "runs[0].by_category.translational.accuracy: missing"),
        (lambda s: s["summary"].update(agreement=0.5), "summary.agreement_n: missing"),
        (lambda s: s.pop("models"), "models: missing"),
        (lambda s: s["runs"][0].update(unresolved_answers=[{"id": "x"}]),
         "runs[0].unresolved_answers[0].reason: missing"),
    ],
)  # fmt: skip
def test_report_on_a_wrong_shaped_score_names_the_field(tmp_path, score_file, change, field):
    bad = dump(tmp_path / "bad.json", _broken(json.loads(score_file.read_text()), change))
    result = vlm4d("report", bad)
    assert_error(result, "report", f"{bad}: not a `vlm4d score` JSON: {field}",
                 "fix: pass a file written by `vlm4d score --json`")  # fmt: skip


def test_report_on_files_that_are_not_score_json(tmp_path):
    cases = {
        "text.json": (b"hello", "not valid JSON (Expecting value: line 1 column 1 (char 0))"),
        "latin1.json": ('{"runs": "\xe9"}'.encode("latin-1"), "not UTF-8 text"),
        "list.json": (
            b"[]",
            "not a `vlm4d score` JSON: the top level: expected a JSON object, got list",
        ),
    }
    for name, (raw, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(raw)
        assert_error(vlm4d("report", path), "report", f"{path}: {message}", "fix: pass a file")
    assert_error(vlm4d("report", tmp_path), "report", f"{tmp_path}: is a directory")
    missing = tmp_path / "missing.json"
    assert_error(vlm4d("report", missing), "report", f"{missing}: cannot read it")


# --- 6: ground truth that matches no option ------------------------------------------------------


def test_ground_truth_matching_no_option_is_flagged_and_counted_wrong(tmp_path):
    path = dump(
        tmp_path / "real_mc" / "m.json",
        [entry("validation_1", "Final Answer: A"),
         entry("validation_2", "Final Answer: B", answer="sideways")],
    )  # fmt: skip
    out = tmp_path / "s.json"
    result = vlm4d("score", path, "--no-progress", "--json", out)
    assert result.returncode == 0, result.stderr
    [run] = json.loads(out.read_text())["runs"]
    # kept in the denominator, counted wrong (as the paper's judge did), but flagged and listed
    assert (run["n"], run["scored"], run["correct"], run["accuracy"]) == (2, 2, 1, 0.5)
    assert run["ground_truth_unmatched"] == 1
    assert run["ground_truth_unmatched_ids"] == ["real/validation_2"]
    assert json.loads(out.read_text())["summary"]["ground_truth_unmatched"] == 1
    assert last_line(result).endswith(
        "; unresolved: 0; ground truth matches no option: 1 (counted wrong; ids in the outputs)"
    )
    assert "ground truth matches no option 1" in result.stdout
    assert "  - ground truth matches no option: `real/validation_2`" in result.stdout
    assert "Ground truth that matches none of the question's options: 1 question(s)" in (
        result.stdout
    )


def test_two_files_for_one_model_and_subset_fail_before_any_judge_call(tmp_path, answers):
    twin = dump(tmp_path / "other" / "real_mc_cot" / "m.json", json.loads(answers[0].read_text()))
    with ScriptedChatServer() as server:
        result = vlm4d("score", *answers, twin, "--judge", "llm", "--no-progress",
                       env=judge_env(server, tmp_path))  # fmt: skip
        assert server.requests == []
    assert_error(result, "score", f"{twin}: a second real file for m (cot)",
                 "fix: score the two files in separate runs")  # fmt: skip
