"""The README's "Adding your model" recipe, as written: its files are taken from the README,
installed with pip into a temporary target, and run through the section's own commands (the
probe set, generated and built, then `vlm4d eval --tasks vlm4d_probe_mc`), no release needed."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILE_BLOCK = re.compile(r"```(?:toml|python)\n# (my_vlm4d_model/[^\n]+)\n(.*?)```", re.S)


def readme_files() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return {path: body for path, body in FILE_BLOCK.findall(text)}


def readme_try_commands() -> list[list[str]]:
    """The commands of the section's bash block that runs the model on the probe set."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Adding your model", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```bash\n(.*?)```", section, re.S) if "generate-probe" in b]
    assert len(blocks) == 1, "the plugin section shows one way to run on the probe set"
    lines = [line.split("#", 1)[0].strip() for line in blocks[0].splitlines()]
    return [shlex.split(line) for line in lines if line]


def test_readme_has_the_three_plugin_files():
    assert sorted(readme_files()) == [
        "my_vlm4d_model/my_vlm4d_model/__init__.py",
        "my_vlm4d_model/my_vlm4d_model/model.py",
        "my_vlm4d_model/pyproject.toml",
    ]


@pytest.mark.pip
@pytest.mark.lmms
def test_readme_plugin_installs_and_runs_on_the_probe_set_as_written(tmp_path):
    for path, body in readme_files().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(body, encoding="utf-8")
    target = tmp_path / "target"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
               "--no-build-isolation", "--no-index", "--target", str(target),
               str(tmp_path / "my_vlm4d_model")]  # fmt: skip
    done = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLM4D_")}
    path = os.pathsep.join(p for p in (str(target), env.get("PYTHONPATH")) if p)
    env.update(PYTHONPATH=path, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"),
               LMMS_EVAL_DATASETS_CACHE=str(tmp_path / "hf" / "datasets"))  # fmt: skip
    commands = readme_try_commands()
    assert [c[:2] for c in commands] == [
        ["vlm4d", "generate-probe"], ["vlm4d", "build-dataset"], ["vlm4d", "eval"]
    ]  # fmt: skip
    assert "my_model" in commands[-1] and "vlm4d_probe_mc" in commands[-1]
    for command in commands:  # as written, in a fresh folder; `vlm4d` is this interpreter's
        run = [sys.executable, "-m", "vlm4d_tasks.cli", *command[1:]]
        done = subprocess.run(run, capture_output=True, text=True, timeout=600, env=env,
                              cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, command + [done.stdout[-3000:], done.stderr[-3000:]]
    # its last line names the results file it wrote
    last = done.stderr.rstrip().splitlines()[-1]
    assert last.startswith("vlm4d eval: results: "), last
    results = tmp_path / last.removeprefix("vlm4d eval: results: ")
    accuracy = json.loads(results.read_text())["results"]["vlm4d_probe_mc"]["accuracy,none"]
    records = [json.loads(line) for line in (tmp_path / "probe" / "probe_records.jsonl")
               .read_text().splitlines()]  # fmt: skip
    # The recipe's model always answers A: its accuracy is the share of questions whose answer is A.
    assert accuracy == sum(r["answer"] == "A" for r in records) / len(records)
