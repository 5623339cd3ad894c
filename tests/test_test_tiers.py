"""The test tiers (`make test-fast`): the guard in tests/conftest.py, in a real pytest run.

A small suite is written beside a copy of the project's conftest.py and setup.cfg's pytest
section, and run in a pytest subprocess as the fast tier runs it (the Makefile's marker
expression) and as the whole suite runs it.
"""

from __future__ import annotations

import configparser
import re
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

SUITE = """
import os
import platform
import subprocess
import sys

import pytest


def test_unmarked_starts_python():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_unmarked_swallows_the_refusal():
    try:
        subprocess.run([sys.executable, "-c", "pass"])
    except BaseException:
        pass


def test_unmarked_os_system():
    os.system("true")


def test_a_library_probe_goes_through():
    assert platform.processor() is not None  # `uname -p`, the first time in a process


def test_no_process():
    assert True


@pytest.mark.subprocess
def test_marked_starts_python():
    subprocess.run([sys.executable, "-c", "pass"], check=True)
"""


def fast_tier_expression() -> str:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return re.search(r"^FAST_TIER := (.+)$", makefile, re.MULTILINE).group(1)


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copy(ROOT / "tests" / "conftest.py", pytester.path / "conftest.py")
    setup = configparser.ConfigParser(interpolation=None)
    setup.read(ROOT / "setup.cfg", encoding="utf-8")
    pytest_section = dict(setup["tool:pytest"])
    pytest_section.pop("testpaths", None)
    ini = "[pytest]\n" + "".join(
        f"{k} = {v}\n".replace("\n", "\n    ", v.count("\n")) for k, v in pytest_section.items()
    )
    pytester.makefile(".ini", pytest=ini)
    pytester.makepyfile(test_suite=SUITE)
    return pytester


@pytest.mark.subprocess
def test_every_tier_fails_unmarked_tests_that_start_a_process(suite):
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "-m", fast_tier_expression())
    result.assert_outcomes(passed=2, failed=3, deselected=1)
    out = result.stdout.str()
    for name in ("starts_python", "swallows_the_refusal", "os_system"):
        assert f"FAILED test_suite.py::test_unmarked_{name}" in out
    assert "test_suite.py::test_unmarked_os_system starts a process (true)" in out
    assert "mark it @pytest.mark.subprocess" in out
    # a marked test is not guarded; the whole suite (what CI runs) fails the same unmarked ones
    marked = suite.runpytest_subprocess("-p", "no:cacheprovider", "-k", "test_marked_starts_python")
    marked.assert_outcomes(passed=1, deselected=5)
    whole = suite.runpytest_subprocess("-p", "no:cacheprovider")
    whole.assert_outcomes(passed=3, failed=3)


@pytest.mark.subprocess
def test_an_unknown_marker_is_an_error(suite):
    suite.makepyfile(test_typo="import pytest\n\n@pytest.mark.subproces\ndef test_x():\n    pass\n")
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "test_typo.py")
    assert result.ret != 0
    assert "'subproces' not found in `markers` configuration option" in result.stdout.str()
