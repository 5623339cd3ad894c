"""Hostile inputs, round 3 (an independent re-check of issue 23 with new payloads).

Everything runs the real `vlm4d` command: in a subprocess with a timeout where a bug would
hang (a FIFO), in process otherwise. Files, FIFOs and symlinks are real ones in tmp_path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlm4d_tasks.cli import main

HANG = 60  # seconds: a command that blocks on a FIFO never ends
CHOICES = {"A": "left", "B": "right", "C": "not moving", "D": "up"}


def entry(number: int, **fields) -> dict:
    record = {"id": f"validation_{number}", "question": f"Where does object {number} go?",
              "choices": CHOICES, "response": "The answer is A: left", "answer": "left"}  # fmt: skip
    record.update(fields)
    return record


def dump(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def subprocess_vlm4d(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vlm4d_tasks.cli", *map(str, args)],
        capture_output=True, text=True, timeout=HANG, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture
def score_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> Path:
    """A real score document of two answers."""
    responses = dump(tmp_path / "in" / "real_mc" / "m.json", [entry(1), entry(2, response="B")])
    out = tmp_path / "score.json"
    code, _, err = run(capsys, "score", responses, "--no-progress", "--json", out)
    assert code == 0, err
    return out


def test_deeply_nested_response_is_scored_not_a_traceback(tmp_path, capsys):
    # 900 levels parse with json.loads; the lone-surrogate check walked them by recursion
    nested = '{"k":' * 900 + '"A"' + "}" * 900
    text = json.dumps([entry(1, response="@")]).replace('"@"', nested)
    path = dump(tmp_path / "real_mc" / "deep.json", text)
    code, out, err = run(capsys, "score", path, "--no-progress")
    assert code == 0, err
    assert "n=1" in out


def test_escape_sequences_from_a_file_never_reach_the_terminal(tmp_path, capsys):
    # an id that clears the screen and sets the window title, in an error line
    path = dump(tmp_path / "real_mc" / "m.json", [entry(1, id="x\x1b[2J\x1b]0;pwn\x07\u202e")])
    code, _, err = run(capsys, "score", path, "--no-progress")
    assert code == 2
    assert "\x1b" not in err and "\x07" not in err and "\u202e" not in err
    assert "x\\x1b[2J\\x1b]0;pwn\\x07\\u202e" in err  # shown, escaped


def test_escape_sequences_in_a_file_name_never_reach_the_terminal(tmp_path, capsys):
    folder = tmp_path / "real_mc\x1b[31m"
    path = dump(folder / "m\x1b]0;t\x07.json", "not json")
    code, _, err = run(capsys, "score", path, "--no-progress")
    assert code == 2
    assert "\x1b" not in err and "\x07" not in err
    assert "m\\x1b]0;t\\x07.json" in err.splitlines()[-1]


def test_report_error_lines_are_terminal_safe(tmp_path, capsys):
    bad = dump(tmp_path / "s\x1b[2J\r.json", "[]")
    code, _, err = run(capsys, "report", bad, "--no-progress")
    assert code == 2
    assert "\x1b" not in err and "\r" not in err


def test_report_out_replaces_planted_symlinks_instead_of_writing_through(
    tmp_path, capsys, score_json
):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    out = tmp_path / "report"
    out.mkdir()
    for name in ("report.md", "report.html", "leaderboard.csv", "accuracy_by_category.png"):
        (out / name).symlink_to(victim)
    code, _, err = run(capsys, "report", score_json, "--out", out, "--no-progress")
    assert code == 0, err
    assert victim.read_text(encoding="utf-8") == "keep me"
    for name in ("report.md", "report.html", "leaderboard.csv", "accuracy_by_category.png"):
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 0


def test_score_json_through_a_symlink_replaces_the_link(tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    link = tmp_path / "out.json"
    link.symlink_to(victim)
    responses = dump(tmp_path / "real_mc" / "m.json", [entry(1)])
    code, _, err = run(capsys, "score", responses, "--no-progress", "--json", link)
    assert code == 0, err
    assert victim.read_text(encoding="utf-8") == "keep me"
    assert json.loads(link.read_text(encoding="utf-8"))["summary"]["n"] == 1


@pytest.mark.subprocess
def test_output_fifo_without_reader_fails_at_once(tmp_path):
    responses = dump(tmp_path / "real_mc" / "m.json", [entry(1)])
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    result = subprocess_vlm4d("score", responses, "--no-progress", "--json", fifo)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2
    assert "FIFO" in result.stderr.splitlines()[-1] and "fix:" in result.stderr.splitlines()[-1]


def test_output_to_dev_null_still_streams(tmp_path, capsys):
    responses = dump(tmp_path / "real_mc" / "m.json", [entry(1)])
    code, _, err = run(capsys, "score", responses, "--no-progress", "--json", os.devnull)
    assert code == 0, err
    assert Path(os.devnull).exists() and not Path(os.devnull).is_file()


def test_report_figure_name_taken_by_a_folder_is_an_error(tmp_path, capsys, score_json):
    out = tmp_path / "report"
    (out / "accuracy_by_category.png").mkdir(parents=True)
    code, _, err = run(capsys, "report", score_json, "--out", out, "--no-progress")
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert "accuracy_by_category.png" in last and "fix:" in last


def test_plot_through_a_symlink_replaces_the_link(tmp_path, capsys, score_json):
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"keep me")
    link = tmp_path / "plot.png"
    link.symlink_to(victim)
    code, _, err = run(capsys, "report", score_json, "--plot", link, "--no-progress")
    assert code == 0, err
    assert victim.read_bytes() == b"keep me"
    assert link.read_bytes().startswith(b"\x89PNG")


def test_control_and_bidi_characters_of_a_name_stay_out_of_the_markdown(tmp_path, capsys):
    # 8-bit CSI (U+009B) and a right-to-left override in the file name (the model's name)
    path = dump(tmp_path / "real_mc" / "m\x9b2J\u202eevil.json", [entry(1)])
    code, out, err = run(capsys, "score", path, "--no-progress", "--markdown", tmp_path / "t.md")
    assert code == 0, err
    for text in (out, (tmp_path / "t.md").read_text(encoding="utf-8")):
        assert "\x9b" not in text and "\u202e" not in text
        assert "2J" in text and "evil" in text  # the rest of the name is kept


def test_a_byte_order_mark_is_read_as_utf8(tmp_path, capsys):
    path = tmp_path / "real_mc" / "m.json"
    path.parent.mkdir()
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([entry(1)]).encode("utf-8"))
    code, out, err = run(capsys, "score", path, "--no-progress")
    assert code == 0, err
    assert "n=1" in out


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('"correct": false, "correct": true', "'correct'"),
        ('"id": "validation_1", "id": "validation_2"', "'id'"),
        ('"choices": {"A": "left", "B": "right", "C": "x", "D": "up", "A": "right"}',
         "'choices.A'"),
    ],
)  # fmt: skip
def test_a_field_given_twice_is_refused(tmp_path, capsys, text, field):
    # json.loads keeps the last value, other readers the first: the verdict would depend on it
    base = {"question": "q", "response": "A", "ground_truth_answer": "left", "id": "validation_1",
            "choices": CHOICES, "correct": True}  # fmt: skip
    name = text.split('"')[1]
    body = ", ".join(json.dumps(k) + ": " + json.dumps(v) for k, v in base.items() if k != name)
    path = dump(tmp_path / "real_mc" / "m.json", "[{" + body + ", " + text + "}]")
    code, _, err = run(capsys, "score", path, "--no-progress")
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert f"field {field}" in last and "more than once" in last and "fix:" in last


# --- judge settings ----------------------------------------------------------------------


@pytest.mark.subprocess
def test_judge_retries_are_capped_on_the_command_line(tmp_path):
    # A server answering 429 "Retry-After: 0" got 7,600 requests in 18 s for one answer and
    # the run never ended: now the setting is refused before any request.
    from _judge_server import Action, ScriptedChatServer

    path = dump(tmp_path / "real_mc" / "m.json", [entry(1, response="maybe")])
    slow_down = Action(status=429, body=b'{"error": {"message": "slow down"}}',
                       headers={"Retry-After": "0"})  # fmt: skip
    with ScriptedChatServer(lambda body, n: slow_down) as server:
        try:
            result = subprocess.run(
                [sys.executable, "-m", "vlm4d_tasks.cli", "score", str(path), "--no-progress",
                 "--judge", "llm", "--judge-model", "j", "--judge-base-url", server.url,
                 "--judge-cache", str(tmp_path / "c.sqlite"), "--judge-retries", "1000000000"],
                capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(f"still retrying after 30 s: {len(server.requests)} requests")
        assert server.requests == []
    assert result.returncode == 2
    assert "from 0 to 100" in result.stderr.splitlines()[-1]


def test_judge_retries_are_capped_in_the_environment():
    from vlm4d_tasks.metric.judge_transport import JudgeConfigError, JudgeSettings
    from vlm4d_tasks.pipeline.score import judge_config

    env = {"VLM4D_JUDGE_RETRIES": "101", "VLM4D_JUDGE_MODEL": "j"}
    with pytest.raises(JudgeConfigError, match="VLM4D_JUDGE_RETRIES"):
        judge_config({"judge": "llm"}, environ=env)
    with pytest.raises(JudgeConfigError, match="max_retries"):
        JudgeSettings(model="j", base_url="http://127.0.0.1:9/v1", max_retries=10**9)


@pytest.mark.parametrize(
    "url",
    [
        "http://user:hunter2secret@[::1:8000/v1",  # unclosed IPv6 bracket
        "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:8000/v1",  # full-width digits
        "http://a..b:8000/v1",  # an empty label
        "http://" + "a" * 64 + ".test:8000/v1",  # a label over 63 characters
    ],
)
def test_a_judge_url_the_http_stack_cannot_use_is_a_settings_error(tmp_path, capsys, url):
    # each raised inside the HTTP client (a traceback), one answer at a time
    path = dump(tmp_path / "real_mc" / "m.json", [entry(1, response="maybe")])
    code, _, err = run(capsys, "score", path, "--no-progress", "--judge", "llm",
                       "--judge-model", "j", "--judge-base-url", url,
                       "--judge-cache", tmp_path / "c.sqlite", "--judge-retries", "0")  # fmt: skip
    assert code == 2, err
    last = err.strip().splitlines()[-1]
    assert "judge base URL" in last and "fix:" in last
    assert "hunter2secret" not in err


# --- report ------------------------------------------------------------------------------


def test_a_carriage_return_in_a_name_cannot_start_a_csv_row(tmp_path, capsys):
    # the writer quoted cells with "\n" but not a lone "\r", which readers take for a row end:
    # "m\r=cmd" became a row whose first cell was the formula "=cmd ..."
    import csv

    path = dump(tmp_path / "in" / "real_mc" / "m\r=HYPERLINK(1).json", [entry(1)])
    score = tmp_path / "score.json"
    code, _, err = run(capsys, "score", path, "--no-progress", "--json", score)
    assert code == 0, err
    code, _, err = run(capsys, "report", score, "--out", tmp_path / "r", "--no-progress")
    assert code == 0, err
    with open(tmp_path / "r" / "leaderboard.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert {len(row) for row in rows} == {len(rows[0])}
    assert not [cell for row in rows for cell in row if cell.startswith(("=", "+", "@"))]
    assert any("=HYPERLINK(1)" in row[2] for row in rows)


def test_a_file_name_that_is_not_utf8_is_scored_and_written(tmp_path, capsys):
    # its bytes came through as lone surrogates, and writing the score JSON raised
    # UnicodeEncodeError after all the work
    folder = tmp_path / "real_mc"
    folder.mkdir()
    raw = os.path.join(os.fsencode(folder), b"m\xff\xfe.json")
    with open(raw, "wb") as handle:
        handle.write(json.dumps([entry(1)]).encode("utf-8"))
    out = tmp_path / "score.json"
    code, _, err = run(capsys, "score", os.fsdecode(raw), "--no-progress", "--json", out)
    assert code == 0, err
    assert json.loads(out.read_text(encoding="utf-8"))["runs"][0]["name"] == "m\ufffd\ufffd"


@pytest.mark.subprocess
def test_closed_stdout_still_writes_the_outputs(tmp_path):
    # `vlm4d score ... >&-`: sys.stdout is None, and printing the table raised AttributeError
    # (a traceback and exit 1 after the work)
    responses = dump(tmp_path / "real_mc" / "m.json", [entry(1)])
    out = tmp_path / "score.json"
    command = [sys.executable, "-m", "vlm4d_tasks.cli", "score", str(responses), "--no-progress",
               "--json", str(out)]  # fmt: skip
    result = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *command],
        capture_output=False, stderr=subprocess.PIPE, text=True, timeout=HANG,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0
    assert json.loads(out.read_text(encoding="utf-8"))["summary"]["n"] == 1


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("command", "option", "value"),
    [
        ("score", "--resamples", "1000000000"),  # ran for hours, 1.6 GB after 30 s
        ("report", "--resamples", "1000000000"),
        ("score", "--seed", "-1"),  # numpy: "expected non-negative integer", a traceback
        ("report", "--seed", "-1"),
    ],
)
def test_bootstrap_settings_out_of_range_are_refused(tmp_path, capsys, command, option, value):
    responses = dump(tmp_path / "real_mc" / "m.json", [entry(1)])
    score = tmp_path / "score.json"
    assert run(capsys, "score", responses, "--no-progress", "--json", score)[0] == 0
    target = responses if command == "score" else score
    extra = ["--out", tmp_path / "r", "--compare", "m (x)", "m (y)"] if command == "report" else []
    try:  # a subprocess: an unchecked 1e9 resamples would hold the test for hours
        result = subprocess_vlm4d(command, target, "--no-progress", option, value, *extra)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{command} {option} {value} was not refused: still running")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2
    assert option in result.stderr.splitlines()[-1]


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]  # the IHDR chunk: width and height, big-endian
    assert header.startswith(b"\x89PNG")
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_a_very_long_name_does_not_make_a_giant_figure(tmp_path, capsys, score_json):
    # a 100,000-character model name in a score document made a 366-megapixel PNG
    long_name = "N" * 20_000
    document = json.loads(score_json.read_text(encoding="utf-8"))
    text = json.dumps(document).replace('"m"', json.dumps(long_name))
    assert long_name in text
    hostile = dump(tmp_path / "hostile.json", text)
    out = tmp_path / "r"
    code, _, err = run(capsys, "report", hostile, "--out", out, "--no-progress",
                       "--plot", tmp_path / "plot.png", "--markdown", tmp_path / "t.md")  # fmt: skip
    assert code == 0, err
    figures = [*out.glob("*.png"), tmp_path / "plot.png"]
    assert len(figures) >= 2
    for figure in figures:
        width, height = png_size(figure)
        assert width * height < 4_000_000, (figure.name, width, height)
    assert long_name in (out / "report.md").read_text(encoding="utf-8")  # the table keeps it


@pytest.mark.parametrize("same", ["input", "outputs"])
def test_an_output_on_an_input_or_on_another_output_is_refused(tmp_path, capsys, same):
    # `--json responses.json` replaced the response file with its score (exit 0)
    responses = dump(tmp_path / "real_mc" / "m.json", [entry(1)])
    before = responses.read_bytes()
    target = responses if same == "input" else tmp_path / "out.txt"
    code, _, err = run(capsys, "score", responses, "--no-progress", "--json", target,
                       "--markdown", tmp_path / "out.txt")  # fmt: skip
    assert code == 2, err
    assert "fix:" in err.strip().splitlines()[-1]
    assert responses.read_bytes() == before


@pytest.mark.parametrize("option", ["--markdown", "--out"])
def test_report_never_writes_over_the_score_it_reads(tmp_path, capsys, score_json, option):
    before = score_json.read_bytes()
    if option == "--out":  # a score file saved as report.md inside the --out folder
        target = tmp_path / "r"
        target.mkdir()
        score = target / "report.md"
        score.write_bytes(before)
    else:
        target, score = score_json, score_json
    code, _, err = run(capsys, "report", score, option, target, "--no-progress")
    assert code == 2, err
    assert "fix:" in err.strip().splitlines()[-1]
    assert score.read_bytes() == before
