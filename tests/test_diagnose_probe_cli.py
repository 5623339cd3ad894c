"""`vlm4d diagnose-probe` on a tiny probe set and samples logs shaped like lmms-eval's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vlm4d_tasks.probe import load_probe_records

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


def _samples(path, records, letter_of):
    with open(path, "w") as fh:
        for doc_id, record in enumerate(records):
            verdict = {"uid": record.uid, "record": record.to_dict(), "letter": letter_of(record)}
            fh.write(json.dumps({"doc_id": doc_id, "accuracy": verdict}) + "\n")
    return path


def _wrong(record):
    return next(letter for letter in "ABCD" if letter != record.answer)


@pytest.mark.parametrize(
    "name, letter_of, percent",
    [("oracle", lambda r: r.answer, "100.0"), ("contrarian", _wrong, "0.0")],
)
def test_report_follows_the_chosen_letters(tmp_path, probe, name, letter_of, percent):
    records = load_probe_records(probe)
    samples = _samples(tmp_path / f"{name}.jsonl", records, letter_of)
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
    assert f"Probe accuracy: {percent} ({correct}/{n})" in done.stdout
    assert out.read_text() == done.stdout
    assert "twin pairs" in done.stdout


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
    assert f"{bad}:1" in done.stderr and "accuracy.record/letter" in done.stderr
