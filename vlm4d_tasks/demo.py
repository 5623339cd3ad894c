"""`make demo`: the library's main job end to end, offline, on the embedded probe set.

1. render the procedural 4D probe set (videos + exactly labelled questions);
2. build it into a Hugging Face dataset folder and print its statistics;
3. run a baseline model through the real lmms-eval CLI on the `vlm4d_probe_mc` task and print
   the results table and the probe's camera-motion diagnosis;
4. when the official annotations sit beside the project (`../shared/vlm4d`), also build the
   real/synthetic dataset and score the published judged answers found there.

Every step goes through the `vlm4d` command line, as a user would run it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# The reference data beside the project (`make demo` runs from the checkout's root).
SHARED = Path("..") / "shared" / "vlm4d"


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _newest(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.rglob(pattern), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vlm4d_tasks.demo")
    parser.add_argument("--out", default="demo-out", help="folder for everything the demo writes")
    parser.add_argument("--n-scenes", type=int, default=24, help="probe clips to render")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--model",
        default="vlm4d_random",
        help="lmms-eval model (default: the seeded random baseline)",
    )
    parser.add_argument(
        "--shared", default=str(SHARED), help="the reference data folder, used when present"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)

    from vlm4d_tasks.cli import main as vlm4d

    probe, dataset, results = out / "probe", out / "vlm4d-probe", out / "lmms-eval"
    _step(f"render the probe set: {args.n_scenes} clips, seed {args.seed}")
    if vlm4d(
        [
            "generate-probe",
            "--out",
            str(probe),
            "--n-scenes",
            str(args.n_scenes),
            "--seed",
            str(args.seed),
        ]
    ):
        return 1

    _step("build the probe dataset")
    if vlm4d(
        [
            "build-dataset",
            "--annotations",
            str(probe),
            "--subsets",
            "probe",
            "--videos",
            str(probe),
            "--out",
            str(dataset),
        ]
    ):
        return 1
    _step("statistics")
    vlm4d(["stats", str(dataset)])

    _step(f"run {args.model} through lmms-eval on vlm4d_probe_mc")
    code = vlm4d(
        [
            "eval",
            "--dataset",
            str(dataset),
            "--model",
            args.model,
            "--tasks",
            "vlm4d_probe_mc",
            "--output_path",
            str(results),
            "--log_samples",
        ]
    )
    table = _newest(results, "*_table.md")
    if code or table is None:
        print(f"lmms-eval failed (exit {code}); see the output above", file=sys.stderr)
        return 1
    print(table.read_text(encoding="utf-8"))
    samples = _newest(results, "*_samples_vlm4d_probe_mc.jsonl")
    if samples is not None:
        _step("camera-motion diagnosis (static/moving camera twins)")
        vlm4d(
            [
                "diagnose-probe",
                str(probe),
                str(samples),
                "--markdown",
                str(results / "probe_diagnosis.md"),
            ]
        )
    print(f"results: {table.parent}")

    shared = Path(args.shared)
    if (shared / "annotations").is_dir():
        _step(f"the benchmark itself, from {shared}")
        if vlm4d(
            [
                "build-dataset",
                "--annotations",
                str(shared / "annotations"),
                "--out",
                str(out / "vlm4d"),
            ]
        ):
            return 1
        judged = sorted((shared / "judged_responses").glob("*/*.json"))
        if judged:
            _step(f"score {len(judged)} published judged response files (rule judge)")
            code = vlm4d(
                [
                    "score",
                    "--judge",
                    "rule",
                    "--annotations",
                    str(shared / "annotations"),
                    "--json",
                    str(out / "scores.json"),
                    "--markdown",
                    str(out / "scores.md"),
                    *map(str, judged),
                ]
            )
            if code:
                return code
    return _report(out, table.parent)


def _report(out: Path, results: Path) -> int:
    """The report of this demo's runs: the probe run, and the published answers when scored."""
    from vlm4d_tasks.cli import main as vlm4d

    _step("the report")
    runs = [str(results)] + ([str(out / "scores.json")] if (out / "scores.json").is_file() else [])
    code = vlm4d(["report", *runs, "--out", str(out / "report")])
    if code == 0:
        print(f"report: {(out / 'report' / 'report.html').resolve()}")
    return code


if __name__ == "__main__":
    sys.exit(main())
