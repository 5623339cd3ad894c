"""Check that the running environment is exactly the lock, and that `pip check` is clean.

    python tools/check_env.py requirements.lock
    python tools/check_env.py --no-lock        # only `pip check`

Exit 0 when every locked package is installed at its locked version, nothing else is installed
(the project itself aside) and `pip check` reports nothing but the known tag problems below;
exit 1 otherwise, with the differences listed and the fix on the last line. `make test` runs it
first, so a machine that kept an old package from an earlier install fails like a fresh one
would instead of passing on its leftovers.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PROJECT = "vlm4d-tasks"

# `pip check` lines that are not broken requirements. decord's only Linux wheel (0.6.0) is
# tagged cp36-cp36m although it is an abi3-free build that imports and runs on 3.11: pip
# installs it from its file name's tag and `pip check` then reads the WHEEL file's tag.
KNOWN_PIP_CHECK = {
    "decord 0.6.0 is not supported on this platform": "wheel mistagged cp36-cp36m; runs on 3.11",
}


def canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """{canonical name: version} from a `name==version` constraints file."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not name.strip() or not version.strip():
            raise SystemExit(f"{path}:{number}: expected 'name==version', got {raw!r}")
        pins[canonical(name.strip())] = version.strip()
    return pins


def installed() -> dict[str, str]:
    """{canonical name: version} of every distribution the running interpreter sees."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonical(name), dist.version)
    return found


def compare(lock: dict[str, str], env: dict[str, str]) -> list[str]:
    """Human-readable differences between the lock and the environment (empty: identical)."""
    problems = []
    for name in sorted(lock.keys() | env.keys()):
        if name == PROJECT:
            continue
        want, have = lock.get(name), env.get(name)
        if want is None:
            problems.append(f"{name}=={have} is installed but not in the lock")
        elif have is None:
            problems.append(f"{name}=={want} is in the lock but not installed")
        elif want != have:
            problems.append(f"{name} is {have}, the lock says {want}")
    return problems


def pip_check() -> list[str]:
    """`pip check` complaints, less the known tag problems."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    lines = [ln.strip() for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
    lines = [
        ln for ln in lines if ln not in KNOWN_PIP_CHECK and ln != "No broken requirements found."
    ]
    if done.returncode != 0 and not lines:
        return []  # every complaint was a known one
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", nargs="?", type=Path, help="the constraints file (name==version)")
    parser.add_argument("--no-lock", action="store_true", help="only run `pip check`")
    args = parser.parse_args(argv)
    if args.lock is None and not args.no_lock:
        parser.error("give the lock file, or --no-lock")
    problems = []
    if args.lock is not None:
        if not args.lock.is_file():
            print(f"error: lock file {args.lock} not found; run `make lock`", file=sys.stderr)
            return 1
        problems += compare(read_lock(args.lock), installed())
    problems += [f"pip check: {line}" for line in pip_check()]
    if problems:
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        where = f"the lock ({args.lock})" if args.lock else "its requirements"
        print(
            f"error: the environment ({sys.prefix}) differs from {where} in {len(problems)} "
            "place(s); fix: `make clean install` (or `make lock` if setup.cfg changed)",
            file=sys.stderr,
        )
        return 1
    print(f"environment ok: {len(installed())} distributions match {args.lock or 'pip check'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
