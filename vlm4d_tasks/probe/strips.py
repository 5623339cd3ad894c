"""Frame strips of example probe scenes for the docs (docs/probe/*.png).

    python -m vlm4d_tasks.probe.strips --out docs/probe

Renders a few scenes of a small probe set (a static/moving pair, a rotation and a counting
scene) straight from the renderer, six frames side by side, with each question and its
answer underneath. Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import numpy as np

STRIP_FRAMES = 6
THUMB_WIDTH = 320


def choose_scenes(plan) -> list[int]:
    """Indices of scenes to show: the first translation pair whose object moves (both
    cameras), then the static scene of one rotation and of each kind of counting."""
    answer = {q["question_id"]: q for q in plan.labels["questions"]}
    chosen: list[int] = []
    seen: set[str] = set()
    for i, scene in enumerate(plan.labels["scenes"]):
        story = scene["story"]
        key = story["kind"] if story["kind"] != "count" else f"count_{story['count_kind']}"
        if key in seen or scene["camera"]["motion"] != "static":
            continue
        if key == "translate":
            first = answer[scene["question_ids"][0]]
            if first["answer_text"] == "not moving" or not scene["twin_scene"]:
                continue
            chosen += [i, i + 1]
        else:
            chosen.append(i)
        seen.add(key)
    return chosen


def render_strip(scene, questions: list[tuple[str, str]], path: Path) -> None:
    from PIL import Image, ImageDraw

    from vlm4d_tasks.probe.render import FrameRenderer

    renderer = FrameRenderer(scene)
    picks = np.linspace(0, scene.n_frames - 1, STRIP_FRAMES).round().astype(int)
    thumb_h = round(THUMB_WIDTH * scene.height / scene.width)
    frames = [
        Image.fromarray(renderer.frame(int(k))).resize((THUMB_WIDTH, thumb_h), Image.LANCZOS)
        for k in picks
    ]
    lines = [f"{scene.scene_id}: camera {scene.camera.motion}"]
    for question, answer in questions:
        lines += textwrap.wrap(f"Q: {question}  A: {answer}", width=150)
    text_h = 16 * len(lines) + 10
    sheet = Image.new("RGB", (THUMB_WIDTH * STRIP_FRAMES, thumb_h + text_h), "white")
    for i, frame in enumerate(frames):
        sheet.paste(frame, (i * THUMB_WIDTH, 0))
    draw = ImageDraw.Draw(sheet)
    for j, line in enumerate(lines):
        draw.text((8, thumb_h + 5 + 16 * j), line, fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)


def write_strips(out_dir: str | Path, seed: int = 0, n_scenes: int = 30) -> list[Path]:
    from vlm4d_tasks.probe.generate import ProbeSettings, plan_probe

    plan = plan_probe(ProbeSettings(n_scenes=n_scenes, seed=seed))
    answers = {r.question_id: (r.question, r.answer_text) for r in plan.records}
    written = []
    for i in choose_scenes(plan):
        scene = plan.scenes[i]
        ids = plan.labels["scenes"][i]["question_ids"]
        path = Path(out_dir) / f"strip_{scene.scene_id}.png"
        render_strip(scene, [answers[qid] for qid in ids], path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/probe", help="output folder (default: docs/probe)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path in write_strips(args.out, seed=args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
