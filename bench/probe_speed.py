"""Speed of the probe generator: seconds per clip at the default 480p and on the fast path.

    .venv/bin/python bench/probe_speed.py [--n-scenes 40] [--jobs 2] [--json out.json]

Goals (issue 6): `vlm4d generate-probe --n-scenes 40` (854x480, 24 fps, 4 s) under two
minutes on 2 cores; a 160x120 / 2 s / 8 fps clip in well under a second.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from vlm4d_tasks.probe.generate import ProbeSettings, generate_probe, plan_probe

CASES = {
    "default_480p": {},
    "fast_160x120_2s_8fps": {"width": 160, "height": 120, "fps": 8, "seconds": 2.0},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-scenes", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--json", help="write the numbers here too")
    args = parser.parse_args(argv)
    rows = {}
    for name, overrides in CASES.items():
        settings = ProbeSettings(n_scenes=args.n_scenes, jobs=args.jobs, **overrides)
        start = time.perf_counter()
        plan_probe(settings)
        plan_seconds = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as out:
            result = generate_probe(out, settings, progress=False)
        rows[name] = {
            "clips": result.n_scenes,
            "frames_per_clip": result.n_frames,
            "jobs": args.jobs,
            "seconds_total": round(result.seconds_total, 2),
            "seconds_planning": round(plan_seconds, 2),
            "seconds_per_clip_mean": round(result.mean_seconds_per_clip, 3),
            "seconds_per_clip_max": round(max(result.seconds_per_clip), 3),
            "cpu_count": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
        r = rows[name]
        print(
            f"{name}: {r['clips']} clips x {r['frames_per_clip']} frames in {r['seconds_total']} s "
            f"({r['jobs']} jobs; per clip mean {r['seconds_per_clip_mean']} s, max "
            f"{r['seconds_per_clip_max']} s; load {r['load_average_1min']})"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
