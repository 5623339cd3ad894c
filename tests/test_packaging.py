"""A wheel carries the templates and task files, and the package loads them from it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.pip
def test_wheel_install_finds_templates(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("vlm4d_tasks-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # Every template and task file of the checkout is in the wheel, beside its user.
    shipped = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "vlm4d_tasks").rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and (p.suffix in (".jinja", ".yaml", ".py", ".json") or p.name.endswith("_template_yaml"))
    )
    assert [t for t in shipped if t not in names] == []
    # Run from a folder without the checkout, the unpacked wheel first on the path: the
    # templates load through importlib.resources from the wheel's files.
    code = (
        "import vlm4d_tasks, vlm4d_tasks.templating as t;"
        "print(vlm4d_tasks.__file__);"
        "print(' '.join(t.template_names('vlm4d_tasks.lmms.tasks')));"
        "from vlm4d_tasks.metric.judge import system_prompt; print(len(system_prompt('official')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    module_file, templates, system = done.stdout.splitlines()[:3]
    assert module_file.startswith(str(site))
    expected = sorted(p.name for p in (ROOT / "vlm4d_tasks/lmms/tasks").glob("*.jinja"))
    assert templates.split() == expected and int(system) > 100
    tasks = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "vlm4d_tasks/lmms/tasks").rglob("*")
        if p.is_file() and p.suffix != ".pyc" and "__pycache__" not in p.parts
    )
    assert [t for t in tasks if t not in names] == []
