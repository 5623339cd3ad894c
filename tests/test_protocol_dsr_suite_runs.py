"""`vlm4d eval --protocol dsr-suite` and `--protocol official` with a mapped model, end to end
through the real lmms-eval CLI (issue 27, Done when): the run's metadata records the declared
protocol, the settings applied and those that were not (with why).

Two small runs of the `vlm4d_random` baseline, started together (lmms-eval takes ~20 s to
start) on the tiny dataset of tests/_lmms_dataset.py:

* `dsr-suite` on the probe set (`vlm4d_probe_mc` -> `vlm4d_probe_mc_dsr_suite`, 3 questions):
  DSR Suite's decoding from the declaration, its reader's `dsr_suite_accuracy` beside our
  `accuracy`, both recomputed here from the logged answers;
* `official` with `--protocol-model Phi-4-multimodal-instruct` (the random baseline run as
  that published model, as a lab would name the model of a local checkpoint): the script's
  greedy decoding with 1000 tokens and its 16 frames applied to the `*_frames` task, and the
  video task's frames recorded as not applied (the random baseline takes no frame argument).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lmms

VLM4D = [sys.executable, "-m", "vlm4d_tasks.cli"]


class Run:
    def __init__(self, command: list[str], env: dict, out: Path) -> None:
        self.out = out
        out.mkdir(parents=True)
        self.log = out / "log.txt"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

    def wait(self) -> str:
        try:
            self.process.wait(timeout=600)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        text = self.log.read_text(errors="replace")
        assert self.process.returncode == 0, text[-4000:]
        return text

    def file(self, pattern: str) -> Path:
        (path,) = sorted(self.out.rglob(pattern))
        return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    import _lmms_dataset

    root = tmp_path_factory.mktemp("protocol_runs")
    dataset = _lmms_dataset.build(root)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VLM4D_")},
        "HF_HOME": str(root / "hf"),
        "LMMS_EVAL_DATASETS_CACHE": str(root / "hf" / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    base = [*VLM4D, "eval", "--dataset", str(dataset), "--model", "vlm4d_random"]
    base += ["--model_args", "seed=3", "--log_samples"]
    dsr = [*base, "--protocol", "dsr-suite", "--tasks", "vlm4d_probe_mc", "--limit", "3"]
    official = [*base, "--protocol", "official", "--protocol-model", "Phi-4-multimodal-instruct"]
    official += ["--tasks", "vlm4d_real_mc_frames,vlm4d_real_mc", "--limit", "2"]
    started = {
        "dsr": Run([*dsr, "--output_path", str(root / "dsr")], env, root / "dsr"),
        "official": Run([*official, "--output_path", str(root / "off")], env, root / "off"),
    }
    yield started
    for run in started.values():
        if run.process.poll() is None:
            run.process.kill()


def _samples(run: Run) -> list[dict]:
    (path,) = sorted(run.out.rglob("*_samples_*.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_dsr_suite_run_records_its_declaration_and_reports_both_readers(runs):
    from vlm4d_tasks.lmms.protocol import declaration
    from vlm4d_tasks.metric.dsr_scorer import read_answer

    run = runs["dsr"]
    run.wait()
    decl = declaration("dsr-suite")
    score = json.loads(run.file("*_vlm4d_score.json").read_text())
    protocol = score["run"]["protocol"]
    assert protocol["rows"] == {"vlm4d_probe_mc_dsr_suite": "dsr-suite"}
    # the decoding the task passed is the declaration's (read from protocols.json)
    run_decoding = protocol["decoding"]["dsr-suite"]
    for key in ("do_sample", "temperature", "top_p", "top_k", "max_new_tokens"):
        assert run_decoding[key] == decl.decoding[key], key
    declared = protocol["declared"]["dsr-suite"]
    assert declared["name"] == "dsr-suite" and declared["differs"] == {}
    applied, missing = declared["applied"], declared["not_applied"]
    # passed as declared, but the random baseline decodes nothing: not applied, with why
    for key in ("top_k", "max_new_tokens", "temperature", "top_p", "do_sample"):
        assert f"decoding.{key}" not in applied, key
        assert "answers without decoding" in missing[f"decoding.{key}"]["why"], key
    assert missing["decoding.top_k"]["run"] == 5
    assert "vlm4d_random" in declared["decoding_checked_against"]
    assert applied["scorer"].startswith("dsr-regex")
    assert applied["prompt"] == decl.prompt["templates"]
    # the random baseline takes no frame or pixel argument: said, with why
    row = "vlm4d_probe_mc_dsr_suite"
    assert "vlm4d_random" in missing[f"frames[{row}]"]["why"]
    assert "max_pixels" in missing[f"resolution[{row}]"]["why"]
    table = run.file("*_vlm4d_table.md").read_text()
    assert "Settings of the dsr-suite declaration not applied" in table
    assert "passed but not applied by the model class" in table

    # both readers over the same logged answers, each recomputed here
    samples = _samples(run)
    assert len(samples) == 3
    ours, theirs = [], []
    for sample in samples:
        item = sample["dsr_suite_accuracy"]
        response = item["response"]
        gold = item["record"]["answer"]
        assert sample["input"] == decl.render_prompt(item["record"])
        ours.append(item["letter"] == gold)
        theirs.append(read_answer(response).correct(gold))
        assert item["dsr_suite"]["correct"] == theirs[-1]
    results = json.loads(run.file("*_results.json").read_text())["results"][row]
    assert results["accuracy,none"] == pytest.approx(sum(ours) / 3)
    assert results["dsr_suite_accuracy,none"] == pytest.approx(sum(theirs) / 3)


def test_official_run_of_a_mapped_model_records_what_it_applied(runs):
    run = runs["official"]
    run.wait()
    score = json.loads(run.file("*_vlm4d_score.json").read_text())
    meta = score["run"]
    # `vlm4d eval` added the script's greedy decoding and 1000 tokens
    assert meta["gen_kwargs"] == "do_sample=False,temperature=0,max_new_tokens=1000"
    declared = meta["protocol"]["declared"]["official"]
    assert declared["model_settings"] == "Phi-4-multimodal-instruct_16frame"
    assert declared["model_named_by"].startswith("VLM4D_PROTOCOL_MODEL")
    assert declared["differs"] == {}
    applied, missing = declared["applied"], declared["not_applied"]
    # passed as the script says (no difference), yet the random baseline decodes nothing
    assert missing["decoding.do_sample"]["run"] is False
    assert missing["decoding.max_new_tokens"]["run"] == 1000
    assert "answers without decoding" in missing["decoding.max_new_tokens"]["why"]
    # the frames: 16 uniform frames for the *_frames task (VLM4D_FRAMES set by vlm4d eval) ...
    assert applied["frames[vlm4d_mc_frames_official]"].startswith("uniform-16 PIL frames")
    assert meta["visual_input"]["frames"] == "uniform-16 PIL frames"
    # ... and not for the video task, whose model class samples its own
    assert "vlm4d_random" in missing["frames[vlm4d_mc_official]"]["why"]
    assert not any(key.startswith("decoding.") for key in applied)
