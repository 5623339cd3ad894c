"""Time mirrored and reversed clips (``vlm4d_tasks.validity.clips.transformed_clip``).

For every clip and kind: the first call (hash the source, decode every frame, transform,
encode H.264 into the cache) and a second, cached call (hash the source, find the file), which
is what every further question about the same clip costs.

    .venv/bin/python bench/clip_transforms.py [VIDEO ...] [--cache-dir DIR] [--json OUT.json]

Without videos it renders probe clips to time on (``--n-scenes`` scenes of the probe's
default 854x480, 24 fps, 4 s: DAVIS-sized). The cache is a fresh temporary folder unless
``--cache-dir`` is given (then a clip already there is not a first call; the script says so).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vlm4d_tasks.validity.clips import KINDS, transformed_clip  # noqa: E402
from vlm4d_tasks.video.sampler import probe  # noqa: E402


def render_probe_clips(folder: Path, n_scenes: int, seed: int) -> list[Path]:
    from vlm4d_tasks.probe.generate import ProbeSettings, plan_probe
    from vlm4d_tasks.probe.render import render_clip

    plan = plan_probe(ProbeSettings(n_scenes=n_scenes, seed=seed))
    paths = []
    for scene in plan.scenes:
        path = folder / f"{scene.scene_id}.mp4"
        start = time.perf_counter()
        render_clip(scene, path)
        print(
            f"rendered {path.name} ({scene.camera.motion} camera) in"
            f" {time.perf_counter() - start:.1f} s",
            file=sys.stderr,
        )
        paths.append(path)
    return paths


def time_clip(path: Path, kind: str, cache_dir: Path) -> dict:
    start = time.perf_counter()
    out = transformed_clip(path, kind, cache_dir)
    first = time.perf_counter() - start
    mtime = out.stat().st_mtime_ns
    start = time.perf_counter()
    again = transformed_clip(path, kind, cache_dir)
    cached = time.perf_counter() - start
    if again != out or out.stat().st_mtime_ns != mtime:
        raise RuntimeError(f"{path}: the cached call rewrote {out}")
    return {
        "first_s": round(first, 3),
        "cached_s": round(cached, 5),
        "out_bytes": out.stat().st_size,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--cache-dir", type=Path, help="default: a fresh temporary folder")
    parser.add_argument("--n-scenes", type=int, default=3, help="probe clips without VIDEO")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the rows here too")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        videos = args.videos or render_probe_clips(scratch_dir, args.n_scenes, args.seed)
        cache_dir = args.cache_dir or scratch_dir / "cache"
        if args.cache_dir and any(args.cache_dir.rglob("*.mp4")):
            print(
                f"note: {args.cache_dir} already holds clips; a clip found there is timed"
                " as a cached call twice",
                file=sys.stderr,
            )
        rows = []
        for path in videos:
            info = probe(path)
            for kind in KINDS:
                row = {
                    "video": str(path.name),
                    "size": f"{info.width}x{info.height}",
                    "frames": info.count,
                    "fps": round(info.fps, 3),
                    "source_bytes": os.path.getsize(path),
                    "kind": kind,
                    **time_clip(path, kind, cache_dir),
                }
                row["first_ms_per_frame"] = round(1000 * row["first_s"] / info.count, 2)
                rows.append(row)
    header = [
        "video",
        "size",
        "frames",
        "kind",
        "first_s",
        "first_ms_per_frame",
        "cached_s",
        "source_bytes",
        "out_bytes",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(row[key]) for key in header) + " |")
    print(f"cpu_count {os.cpu_count()}, load average (1 min) {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
