"""tools/check_env.py: the environment must be exactly the lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "check_env.py"
LOCK = ROOT / "requirements.lock"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=300
    )


@pytest.mark.subprocess
def test_this_environment_is_the_lock():
    done = _run(str(LOCK))
    assert done.returncode == 0, done.stderr


@pytest.mark.subprocess
def test_a_different_version_or_a_leftover_fails(tmp_path):
    lines = LOCK.read_text().splitlines()
    pins = [ln for ln in lines if "==" in ln and not ln.startswith("#")]
    name, version = pins[0].split("==")
    edited = [f"{name}==0.0.0.dev0" if ln == pins[0] else ln for ln in lines]
    edited = [ln for ln in edited if ln != pins[1]]  # pins[1] is now a leftover
    lock = tmp_path / "edited.lock"
    lock.write_text("\n".join(edited) + "\nnot-installed-package==1.0\n")
    done = _run(str(lock))
    assert done.returncode == 1
    assert f"{name} is {version}, the lock says 0.0.0.dev0" in done.stderr
    assert f"{pins[1]} is installed but not in the lock" in done.stderr
    assert "not-installed-package==1.0 is in the lock but not installed" in done.stderr
    assert "make clean install" in done.stderr.strip().splitlines()[-1]


def test_the_lock_pins_every_package_and_the_known_bounds():
    pins = dict(
        ln.split("==") for ln in LOCK.read_text().splitlines() if ln and not ln.startswith("#")
    )
    assert all(version for version in pins.values())
    # lmms-eval 0.7.3 needs filelock < 4 (setup.cfg says why).
    assert int(pins["filelock"].split(".")[0]) < 4
    assert pins["lmms_eval"] == "0.7.3"
