"""Measure the base install (`pip install vlm4d-tasks`, no extras): its size on disk and the
time of the three jobs it is for (build the dataset, score, report).

    python3 tools/base_install.py --annotations ../shared/vlm4d/annotations \\
        --responses '../shared/vlm4d/judged_responses/real_mc_cot/*.json'

creates the virtualenv (default /tmp/base-venv) when it is missing and installs the project
into it, not editable, under the lock as constraints (pip reaches the package index), then
prints one line per step: what ran, its exit status and seconds, and the venv's size (`du`).
The numbers quoted in README.md's install section come from this script. Not a test: it
needs the network and the official files, which the suite never uses.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "transformers", "accelerate", "lmms_eval", "decord")


def disk_usage(path: Path) -> int:
    """Bytes allocated under `path`, as `du` counts them (hard links once, symlinks not
    followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _, files in os.walk(path):
        for name in [".", *files]:
            info = os.lstat(os.path.join(folder, name))
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


def step(name: str, command: list[str]) -> int:
    started = time.monotonic()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.monotonic() - started
    print(f"{name}: exit {done.returncode}, {seconds:.1f} s", flush=True)
    if done.returncode:
        print(done.stderr.rstrip(), file=sys.stderr)
    return done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=Path("/tmp/base-venv"),
                        help="the base virtualenv (created and installed when missing)")  # fmt: skip
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock",
                        help="constraints for the install (empty: none)")  # fmt: skip
    parser.add_argument("--annotations", type=Path, required=True,
                        help="folder with real_mc.json / synthetic_mc.json")  # fmt: skip
    parser.add_argument("--responses", required=True, help="glob of response files to score")
    parser.add_argument("--out", type=Path, default=Path("/tmp"),
                        help="where base-ds/, base-score.json and base-report/ go")  # fmt: skip
    args = parser.parse_args(argv)

    venv, bin_dir = args.venv, args.venv / "bin"
    if not (bin_dir / "python").exists():
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        constraints = ["-c", str(args.lock)] if str(args.lock) not in ("", ".") else []
        subprocess.run([str(bin_dir / "pip"), "install", "--quiet", *constraints, str(ROOT)],
                       check=True)  # fmt: skip
        print(f"install: {time.monotonic() - started:.0f} s", flush=True)
    else:
        print(f"install: reusing {venv}", flush=True)
    present = subprocess.run(
        [str(bin_dir / "python"), "-c",
         f"import importlib.util as u; print(*[m for m in {HEAVY!r} if u.find_spec(m)])"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    print(f"size: {disk_usage(venv) / 2**20:.0f} MiB ({venv}); extras' packages present: "
          f"{', '.join(present) or 'none'}")  # fmt: skip

    responses = sorted(glob.glob(args.responses))
    if not responses:
        parser.error(f"--responses {args.responses!r} matches no file")
    dataset, score, report = (
        args.out / "base-ds",
        args.out / "base-score.json",
        args.out / "base-report",
    )
    vlm4d = str(bin_dir / "vlm4d")
    failed = 0
    failed |= step("build-dataset", [vlm4d, "build-dataset", "--annotations", str(args.annotations),
                                     "--out", str(dataset)])  # fmt: skip
    failed |= step(f"score ({len(responses)} files)",
                   [vlm4d, "score", *responses, "--annotations", str(args.annotations),
                    "--json", str(score), "--no-progress"])  # fmt: skip
    failed |= step("report", [vlm4d, "report", str(score), "--out", str(report)])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
