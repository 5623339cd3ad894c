"""`vlm4d diagnose-probe` on a tiny probe set and samples logs shaped like lmms-eval's."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from _judge_server import Action, ScriptedChatServer, prompt_of

from vlm4d_tasks.metric.stats import count_share
from vlm4d_tasks.probe import load_probe_records

pytestmark = pytest.mark.subprocess

VLM4D = [sys.executable, "-m", "vlm4d_tasks.cli"]


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    out = tmp_path_factory.mktemp("probe")
    subprocess.run(
        VLM4D
        + [
            "generate-probe",
            "--out",
            str(out),
            "--n-scenes",
            "4",
            "--width",
            "160",
            "--height",
            "120",
            "--fps",
            "8",
            "--seconds",
            "2",
            "--quiet",
        ],
        check=True,
        timeout=300,
    )
    return out


def _samples(path, records, response_of):
    """A samples log as lmms-eval writes it: each line carries the vlm4d item of the document
    (`process_results`) under the metric name."""
    from vlm4d_tasks.lmms.metric import process_results

    with open(path, "w") as fh:
        for doc_id, record in enumerate(records):
            items = process_results(record.to_dict(), [response_of(record)], row="vlm4d_probe_mc")
            fh.write(json.dumps({"doc_id": doc_id, "accuracy": items["accuracy"]}) + "\n")
    return path


def _wrong(record):
    letter = next(letter for letter in "ABCD" if letter != record.answer)
    return f"Therefore, the final answer is: {letter}"


def _right(record):
    return f"Therefore, the final answer is: {record.answer}"


@pytest.mark.parametrize(
    "name, response_of, percent",
    [("oracle", _right, "100.0"), ("contrarian", _wrong, "0.0")],
)
def test_report_follows_the_chosen_letters(tmp_path, probe, name, response_of, percent):
    records = load_probe_records(probe)
    samples = _samples(tmp_path / f"{name}.jsonl", records, response_of)
    out = tmp_path / "report.md"
    done = subprocess.run(
        VLM4D + ["diagnose-probe", str(probe), str(samples), "--markdown", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    n = len(records)
    correct = n if percent == "100.0" else 0
    assert f"Probe accuracy: {count_share(correct, n)}" in done.stdout
    assert out.read_text() == done.stdout
    assert "twin pairs" in done.stdout


def _oracle_judge(body, n):
    """A judge that finds the ground truth in every response (it reads the truth off its own
    prompt), whatever the response says."""
    truth = re.search(r"Ground-truth answer: ([A-D]): (.*)", prompt_of(body))
    verdict = {"extracted_answer": f"{truth[1]}: {truth[2]}", "correct": True}
    return Action(content=json.dumps(verdict))


def test_llm_judge_diagnoses_the_judges_verdicts(tmp_path, probe):
    # The responses commit to nothing the extraction can read: under `rule` every answer is
    # "no valid answer"; under `llm` the judge decides, and the diagnosis follows the judge.
    records = load_probe_records(probe)
    samples = _samples(tmp_path / "vague.jsonl", records, lambda r: "It moves, I think.")
    n = len(records)
    rule = subprocess.run(VLM4D + ["diagnose-probe", str(probe), str(samples)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert rule.returncode == 0, rule.stderr
    assert f"Probe accuracy: {count_share(0, n)}" in rule.stdout
    with ScriptedChatServer(_oracle_judge) as server:
        env = {**os.environ, "VLM4D_JUDGE_MODEL": "local-judge",
               "VLM4D_JUDGE_BASE_URL": server.url,
               "VLM4D_JUDGE_CACHE": str(tmp_path / "judge.sqlite")}  # fmt: skip
        done = subprocess.run(
            VLM4D + ["diagnose-probe", str(probe), str(samples), "--judge", "llm", "--no-progress"],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        # one request per distinct prompt (the twins of a pair ask the same question)
        assert 0 < len(server.requests) == len(set(server.prompts)) <= n
    assert f"Probe accuracy: {count_share(n, n)}" in done.stdout
    groups = [line for line in done.stdout.splitlines() if line.startswith("| ") and "%" not in line
              and "---" not in line and "twin" not in line and line.count("|") == 3]  # fmt: skip
    assert groups and all(" 100.0 (" in line for line in groups), groups
    assert (tmp_path / "judge.sqlite").is_file()  # VLM4D_JUDGE_CACHE honoured


def test_malformed_samples_line_is_named(tmp_path, probe):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"doc_id": 0, "accuracy": {"uid": "probe/probe_0001"}}\n')
    done = subprocess.run(
        VLM4D + ["diagnose-probe", str(probe), str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert f"{bad}:1" in done.stderr and "accuracy.record/response" in done.stderr


def test_markdown_through_a_planted_symlink_replaces_the_link(tmp_path, probe):
    # --markdown named by a symlink that points at another file: the report replaces the link,
    # the file it pointed at is untouched; and the samples it reads are never written over.
    records = load_probe_records(probe)
    samples = _samples(tmp_path / "oracle.jsonl", records, _right)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    link = tmp_path / "report.md"
    link.symlink_to(victim)
    done = subprocess.run(
        VLM4D + ["diagnose-probe", str(probe), str(samples), "--markdown", str(link)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "keep me\n"
    assert not link.is_symlink() and link.read_text() == done.stdout
    before = samples.read_bytes()
    over = subprocess.run(
        VLM4D + ["diagnose-probe", str(probe), str(samples), "--markdown", str(samples)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert over.returncode != 0
    assert "is an input of this command" in over.stderr.splitlines()[-1]
    assert samples.read_bytes() == before


@pytest.mark.parametrize(
    "option, value, cause",
    [("--seed", "-1", "not in 0-"), ("--n-scenes", "1000000000", "not in 1-"),
     ("--n-scenes", "x", "not a whole number")],
)  # fmt: skip
def test_generate_probe_refuses_out_of_range_settings_at_once(tmp_path, option, value, cause):
    done = subprocess.run(
        VLM4D + ["generate-probe", "--out", str(tmp_path / "p"), option, value, "--quiet"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert cause in done.stderr.splitlines()[-1]
    assert not (tmp_path / "p").exists()
