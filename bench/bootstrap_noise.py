"""Simulation noise and cost of the bootstrap intervals of one `vlm4d score` run.

A run is one response file (a real file: 1,371 questions on 600 clips) scored with the
annotations: its accuracy, the breakdowns by perspective and category, the paper table's
columns, the validity block and the paired comparisons, each with a seeded 95% interval from
`vlm4d_tasks.metric.stats.bootstrap_ci`. The file is scored once, recording the outcomes and
clusters of every interval; each interval is then recomputed under `--seeds` seeds at each
resample count. Printed per resample count: the standard deviation of every interval endpoint
over the seeds, in percentage points (median and largest over the run's endpoints; what a
reader may see move if the seed changed), the bootstrap's CPU time per run (all of a run's
intervals once, median over the seeds) and the wall time of the whole `score_response_files`
at that count (grading included; the best of `--repeat`).

    PYTHONPATH=. .venv/bin/python bench/bootstrap_noise.py \\
        --file /work/shared/vlm4d/judged_responses/real_mc_cot/Aria-Chat_8frame.json \\
        --annotations /work/shared/vlm4d/annotations

Works on any version of `stats` that has `bootstrap_ci(outcomes, clusters, n_resamples=,
seed=)`, so the same script measures the code before and after a change.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", required=True, help="one response file")
    parser.add_argument("--annotations", required=True, help="the annotations folder")
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--resamples", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--repeat", type=int, default=3, help="wall-time repeats per count")
    args = parser.parse_args()

    from vlm4d_tasks.metric import stats

    calls: list[tuple[list[float], list[str] | None, float]] = []
    original = stats.bootstrap_ci

    def recording(outcomes: Any, clusters: Any = None, **kw: Any) -> Any:
        calls.append((list(outcomes), None if clusters is None else list(clusters),
                      kw.get("level", stats.CI_LEVEL)))  # fmt: skip
        return original(outcomes, clusters, **kw)

    # Patched before the pipeline is imported: `scoring` binds `bootstrap_ci` by name.
    stats.bootstrap_ci = recording
    from vlm4d_tasks.pipeline.score import JudgeConfig, score_response_files

    def score(resamples: int) -> float:
        # a repeat must pay for its intervals, not find them in the memo of the one before
        getattr(getattr(stats, "_interval", None), "cache_clear", lambda: None)()
        start = time.perf_counter()
        score_response_files([args.file], JudgeConfig(), annotations=args.annotations,
                             resamples=resamples, progress=False)  # fmt: skip
        return time.perf_counter() - start

    score(1)
    stats.bootstrap_ci = original
    recorded = list(calls)
    sizes = sorted({len(o) for o, _, _ in recorded})
    print(f"{args.file}: {len(recorded)} intervals a run (n from {sizes[0]} to {sizes[-1]})")
    print(f"{'resamples':>10} {'median SD':>10} {'max SD':>8} {'bootstrap CPU/run':>18} "
          f"{'score wall':>11}")  # fmt: skip
    print(f"{1:>10} {'':>10} {'':>8} {'':>18} {min(score(1) for _ in range(args.repeat)):>10.2f}s")
    for resamples in args.resamples:
        ends: list[list[tuple[float, float]]] = [[] for _ in recorded]
        per_run = []
        for seed in range(args.seeds):
            # CPU time: the machine may be shared, and the bootstrap uses one thread
            start = time.process_time()
            for i, (outcomes, clusters, level) in enumerate(recorded):
                ci = original(outcomes, clusters, n_resamples=resamples, seed=seed, level=level)
                ends[i].append(ci)
            per_run.append(time.process_time() - start)
        sds = [
            100 * statistics.pstdev(ci[side] for ci in column)
            for column in ends for side in (0, 1)
        ]  # fmt: skip
        wall = min(score(resamples) for _ in range(args.repeat))
        print(f"{resamples:>10} {statistics.median(sds):>9.3f}p {max(sds):>7.3f}p "
              f"{statistics.median(per_run):>17.3f}s {wall:>10.2f}s")  # fmt: skip


if __name__ == "__main__":
    main()
