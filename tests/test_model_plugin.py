"""The README's "Adding your model" recipe, as written: its files are taken from the README,
installed with pip into a temporary target, and run through `vlm4d eval` on the probe set."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILE_BLOCK = re.compile(r"```(?:toml|python)\n# (my_vlm4d_model/[^\n]+)\n(.*?)```", re.S)


def readme_files() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return {path: body for path, body in FILE_BLOCK.findall(text)}


def test_readme_has_the_three_plugin_files():
    assert sorted(readme_files()) == [
        "my_vlm4d_model/my_vlm4d_model/__init__.py",
        "my_vlm4d_model/my_vlm4d_model/model.py",
        "my_vlm4d_model/pyproject.toml",
    ]


def test_readme_plugin_installs_and_runs_through_vlm4d_eval(tmp_path):
    import _lmms_dataset

    for path, body in readme_files().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body, encoding="utf-8")
    target = tmp_path / "target"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
               "--no-build-isolation", "--no-index", "--target", str(target),
               str(tmp_path / "my_vlm4d_model")]  # fmt: skip
    done = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    dataset = _lmms_dataset.build(tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM4D_")}
    env.update(PYTHONPATH=str(target), HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"),
               LMMS_EVAL_DATASETS_CACHE=str(tmp_path / "hf" / "datasets"))  # fmt: skip
    out = tmp_path / "results"
    run = [sys.executable, "-m", "vlm4d_tasks.cli", "eval", "--dataset", str(dataset),
           "--model", "my_model", "--model_args", "pretrained=none", "--tasks", "vlm4d_probe_mc",
           "--output_path", str(out), "--log_samples"]  # fmt: skip
    done = subprocess.run(run, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (results,) = out.rglob("*_results.json")
    accuracy = json.loads(results.read_text())["results"]["vlm4d_probe_mc"]["accuracy,none"]
    (samples,) = out.rglob("*_samples_vlm4d_probe_mc.jsonl")
    records = [json.loads(line)["accuracy"]["record"] for line in samples.read_text().splitlines()]
    # The recipe's model always answers A: its accuracy is the share of questions whose answer is A.
    assert accuracy == sum(r["answer"] == "A" for r in records) / len(records)
