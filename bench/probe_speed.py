"""Speed of the probe generator: seconds per clip, and where the time goes (render vs encode).

    .venv/bin/python bench/probe_speed.py [--n-scenes 40] [--jobs 2] [--json out.json]
                                          [--cases NAME ...]

Cases: the test default (854x480, 24 fps, 4 s, the probe set), the training default
(`generate.TRAIN_CLIP`, what `--split train` renders unless told otherwise: 448x252, 8 fps,
4 s, what video LLMs consume after their own resizing and frame sampling), the same with
every object textured (`objects.textures: [checker, stripes, noise]`; the textured/plain
ratio is printed: goal within 1.5x), and a tiny clip. For each: a whole `generate_probe` run
with `--jobs` processes (wall time per clip, what a user waits for), then, in this process
alone, the same clips rendered to memory and encoded from memory, timed apart (render vs
encode). `--cases` runs only the cases named.

Goals: issue 6, `vlm4d generate-probe --n-scenes 40` under two minutes on 2 cores; issue 28,
10,000 training clips in under an hour on 2 cores at the training default (0.72 s of wall
time per clip at 2 jobs), and rendering within 2x of encoding. The projection printed is the
measured wall time per clip times 10,000: the planning of a 10,000-scene split (35 s
measured, 3.5 ms a scene) and its leak check (1 s) come on top.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from vlm4d_tasks.probe.config import GeneratorConfig
from vlm4d_tasks.probe.generate import TRAIN_CLIP, ProbeSettings, generate_probe, plan_probe

TRAIN_DEFAULT = {"split": "train", **TRAIN_CLIP}  # what `--split train` renders by default
# Textures are drawn after the geometry: the same scenes as TRAIN_DEFAULT, only the pixels differ.
TEXTURED = GeneratorConfig(textures=("checker", "stripes", "noise"))
CASES = {
    "test_default_854x480_24fps_4s": {},
    "train_default_448x252_8fps_4s": TRAIN_DEFAULT,
    "train_textured_448x252_8fps_4s": {**TRAIN_DEFAULT, "generator": TEXTURED},
    "tiny_160x120_8fps_2s": {"width": 160, "height": 120, "fps": 8, "seconds": 2.0},
}
TARGET_CLIPS = 10_000


def split_times(settings: ProbeSettings, out: str, limit: int) -> tuple[float, float, int]:
    """Seconds spent rendering and encoding the plan's first `limit` clips, one process."""
    from vlm4d_tasks.probe.render import FrameRenderer
    from vlm4d_tasks.video.encode import encode_mp4

    render = encode = 0.0
    scenes = plan_probe(settings).scenes[:limit]
    for i, scene in enumerate(scenes):
        start = time.perf_counter()
        frames = list(FrameRenderer(scene).frames())
        render += time.perf_counter() - start
        start = time.perf_counter()
        encode_mp4(iter(frames), f"{out}/{i}.mp4", scene.width, scene.height, scene.fps)
        encode += time.perf_counter() - start
    return render, encode, len(scenes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-scenes", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--json", help="write the numbers here too")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    args = parser.parse_args(argv)
    rows = {}
    for name in args.cases:
        overrides = CASES[name]
        settings = ProbeSettings(n_scenes=args.n_scenes, jobs=args.jobs, **overrides)
        start = time.perf_counter()
        plan_probe(settings)
        plan_seconds = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            result = generate_probe(f"{tmp}/run", settings, progress=False)
            render, encode, n = split_times(settings, tmp, min(args.n_scenes, 20))
        wall = result.seconds_total / result.n_scenes
        rows[name] = {
            "clips": result.n_scenes,
            "size": f"{settings.width}x{settings.height}",
            "frames_per_clip": result.n_frames,
            "jobs": args.jobs,
            "seconds_total": round(result.seconds_total, 2),
            "seconds_planning": round(plan_seconds, 2),
            "wall_seconds_per_clip": round(wall, 3),
            "seconds_per_clip_mean": round(result.mean_seconds_per_clip, 3),
            "seconds_per_clip_max": round(max(result.seconds_per_clip), 3),
            "render_seconds_per_clip": round(render / n, 4),
            "encode_seconds_per_clip": round(encode / n, 4),
            "render_over_encode": round(render / encode, 2),
            f"projected_hours_for_{TARGET_CLIPS}": round(wall * TARGET_CLIPS / 3600, 2),
            "cpu_count": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
        r = rows[name]
        print(
            f"{name}: {r['clips']} clips x {r['frames_per_clip']} frames in {r['seconds_total']} s "
            f"with {r['jobs']} jobs = {r['wall_seconds_per_clip']} s of wall time per clip "
            f"({TARGET_CLIPS:,} clips: {r[f'projected_hours_for_{TARGET_CLIPS}']} h); one "
            f"process: render {r['render_seconds_per_clip']} s + encode "
            f"{r['encode_seconds_per_clip']} s per clip (render/encode "
            f"{r['render_over_encode']}); load {r['load_average_1min']}"
        )
    plain, textured = "train_default_448x252_8fps_4s", "train_textured_448x252_8fps_4s"
    if plain in rows and textured in rows:
        # Render time, one process: the whole runs' wall times also hold the process pool's
        # start and the leak check, which the first case run pays more of.
        a, b = rows[plain]["render_seconds_per_clip"], rows[textured]["render_seconds_per_clip"]
        rows["textured_over_plain_render"] = round(b / a, 2)
        print(
            f"textured / plain training clip: render {b} vs {a} s per clip = "
            f"{rows['textured_over_plain_render']}x (goal: within 1.5x)"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
