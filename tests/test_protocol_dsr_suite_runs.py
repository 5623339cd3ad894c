"""`vlm4d eval --protocol dsr-suite` and `--protocol official` with a mapped model, end to end
through the real lmms-eval CLI (issue 27, Done when): the run's metadata records the declared
protocol, the settings applied and those that were not (with why).

Three small runs of the `vlm4d_random` baseline, started together (lmms-eval takes ~20 s to
start) on the tiny dataset of tests/_lmms_dataset.py:

* `dsr-suite` on the probe set (`vlm4d_probe_mc` -> `vlm4d_probe_mc_dsr_suite`, 3 questions):
  DSR Suite's decoding from the declaration, its reader's `dsr_suite_accuracy` beside our
  `accuracy`, both recomputed here from the logged answers;
* `official` on the same probe set (`vlm4d_probe_mc` -> `vlm4d_probe_mc_official`) with
  `--protocol-model Phi-4-multimodal-instruct` (the random baseline run as that published
  model, as a lab would name the model of a local checkpoint): the script's greedy decoding
  with 1000 tokens, the official prompt, and the video task's frames recorded as not applied
  (the random baseline takes no frame argument);
* `official` on the release-format questions' `*_frames` task (the probe set has no frames
  variant), the same model: its 16 frames applied.
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
    probe = [*official, "--tasks", "vlm4d_probe_mc", "--limit", "3"]
    frames = [*official, "--tasks", "vlm4d_real_mc_frames", "--limit", "2"]
    started = {
        "dsr": Run([*dsr, "--output_path", str(root / "dsr")], env, root / "dsr"),
        "official": Run([*probe, "--output_path", str(root / "off")], env, root / "off"),
        "frames": Run([*frames, "--output_path", str(root / "fr")], env, root / "fr"),
    }
    yield started
    for run in started.values():
        if run.process.poll() is None:
            run.process.kill()


def _samples(run: Run) -> list[dict]:
    (path,) = sorted(run.out.rglob("*_samples_*.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_dsr_suite_run_records_its_declaration_and_reports_both_readers(runs):
    from vlm4d_tasks.lmms.protocol_declarations import declaration
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


def _official_declared(run: Run) -> tuple[dict, dict]:
    meta = json.loads(run.file("*_vlm4d_score.json").read_text())["run"]
    # `vlm4d eval` added the script's greedy decoding and 1000 tokens
    assert meta["gen_kwargs"] == "do_sample=False,temperature=0,max_new_tokens=1000"
    declared = meta["protocol"]["declared"]["official"]
    assert declared["model_settings"] == "Phi-4-multimodal-instruct_16frame"
    assert declared["model_named_by"].startswith("VLM4D_PROTOCOL_MODEL")
    assert declared["differs"] == {}
    return meta, declared


def test_official_run_of_a_mapped_model_on_the_probe_set_records_what_it_applied(runs):
    from vlm4d_tasks.lmms.prompts import render_prompt

    run = runs["official"]
    run.wait()
    meta, declared = _official_declared(run)
    protocol = meta["protocol"]
    assert protocol["rows"] == {"vlm4d_probe_mc_official": "official"}
    # the task's sampling at temperature 1.0 with 1024 tokens, overridden by the script's
    # greedy decoding with 1000 tokens; the protocol's seed 215 (`vlm4d eval` adds `--seed`)
    assert protocol["decoding"]["official"] == {
        "do_sample": False, "max_new_tokens": 1000, "temperature": 0, "top_p": 1.0, "until": [],
    }  # fmt: skip
    assert protocol["seed"]["lmms_eval"] == [215] * 4
    applied, missing = declared["applied"], declared["not_applied"]
    # passed as the script says (no difference), yet the random baseline decodes nothing
    assert missing["decoding.do_sample"]["run"] is False
    assert missing["decoding.max_new_tokens"]["run"] == 1000
    assert "answers without decoding" in missing["decoding.max_new_tokens"]["why"]
    assert not any(key.startswith("decoding.") for key in applied)
    assert applied["prompt"] == declared["prompt"]["templates"]
    assert declared["prompt"]["templates"]["cot"] == "prompt_official_cot.jinja"
    # the video task's frames: the model class samples its own, and this one takes none
    assert "vlm4d_random" in missing["frames[vlm4d_probe_mc_official]"]["why"]
    assert not any(key.startswith("frames[") for key in applied)
    # the probe questions, asked with the official chain-of-thought prompt byte for byte
    samples = _samples(run)
    assert len(samples) == 3
    for sample in samples:
        record = sample["accuracy"]["record"]
        assert record["subset"] == "probe"
        assert sample["input"] == render_prompt(record, "official_cot")
        assert sample["input"].startswith("\nQuestion: ")


def test_official_run_of_a_mapped_model_applies_its_frames_to_a_frames_task(runs):
    # on the release-format questions: the probe set has no `*_frames` variant
    run = runs["frames"]
    run.wait()
    meta, declared = _official_declared(run)
    assert meta["protocol"]["rows"] == {"vlm4d_mc_frames_official": "official"}
    applied, missing = declared["applied"], declared["not_applied"]
    assert missing["decoding.max_new_tokens"]["run"] == 1000
    # 16 uniform frames for the *_frames task (VLM4D_FRAMES set by vlm4d eval)
    assert applied["frames[vlm4d_mc_frames_official]"].startswith("uniform-16 PIL frames")
    assert meta["visual_input"]["frames"] == "uniform-16 PIL frames"
    assert not any(key.startswith("decoding.") for key in applied)
