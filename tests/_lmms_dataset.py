"""A small VLM4D-shaped dataset with real H.264 videos, for the lmms-eval tests.

Questions are generated here in the release's style (not copied from it): real exocentric and
egocentric, synthetic directional and false-positive, covering all four motion categories, the
answers spread over A-D; videos are tiny clips written with PyAV. The probe subset comes from
the project's own generator (`vlm4d generate-probe`) at a tiny size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HUB = "https://huggingface.co/datasets/shijiezhou/VLM4D/resolve/main/"
# One record as the built dataset stores it, for tests of the prompts and results per document.
EGO_DOC = {
    "uid": "real/validation_930",
    "question_id": "validation_930",
    "subset": "real",
    "source": "ego4d",
    "perspective": "egocentric",
    "category": "translational",
    "question": "What direction is the cup moving towards?",
    "options": ["left", "right", "towards the camera", "away from the camera"],
    "answer": "B",
    "answer_text": "right",
    "video": "videos_real/ego4d/clip_1.mp4",
    "flags": [],
}
LETTERS = "ABCD"
FRAMES = 16
FPS = 8


def _question(kind: str, obj: str, answer_index: int) -> tuple[str, list, str]:
    if kind == "translational":
        options = ["left", "right", "towards the camera", "away from the camera"]
        question = f"What direction is the {obj} moving towards?"
    elif kind == "rotational":
        options = ["clockwise", "counter-clockwise", "not rotating", "flipping over"]
        question = f"Is the {obj} rotating clockwise or counter-clockwise?"
    elif kind == "counting":
        options = [1, 2, 3, 4]
        question = f"How many times does the {obj} jump?"
    else:  # false positive: the correct answer says the object is absent
        options = ["left", "right", "up", f"no {obj} there"]
        question = f"Which direction is the {obj} flying?"
        options[answer_index], options[3] = options[3], options[answer_index]
        return question, options, f"no {obj} there"
    # rotate so that the correct option sits at `answer_index`
    answer = options[0]
    options = options[1:]
    options.insert(answer_index, answer)
    return question, options, answer


KINDS = ("translational", "rotational", "counting", "false_positive")
OBJECTS = ("car", "dog", "kite", "boat", "cat", "drone")


def _entries(videos: list[str], first_id: int, per_video: int, counter: list[int]) -> list[dict]:
    out = []
    for v, video in enumerate(videos):
        for k in range(per_video):
            kind = KINDS[k % len(KINDS)]
            obj = OBJECTS[(v + k) % len(OBJECTS)]
            question, options, answer = _question(kind, obj, counter[0] % 4)
            counter[0] += 1
            out.append({
                "id": f"validation_{first_id + len(out)}",
                "video": HUB + video,
                "question_type": "multiple-choice",
                "question": question,
                "choices": dict(zip(LETTERS, options)),
                "answer": answer,
            })  # fmt: skip
    return out


REAL_EXO = ["videos_real/davis/tram.mp4", "videos_real/youtube-vos/0a1b.mp4"]
REAL_EGO = ["videos_real/ego4d/clip_1.mp4", "videos_real/ego4d/clip_2.mp4"]
SYNTHETIC = ["videos_synthetic/synth_001.mp4", "videos_synthetic/synth_002.mp4"]


def write_annotations(folder: Path, per_video: int = 6) -> dict[str, list[dict]]:
    """real_mc.json (exo ids <= 922, ego ids > 922) and synthetic_mc.json."""
    counter = [0]
    real = _entries(REAL_EXO, 1, per_video, counter) + _entries(REAL_EGO, 923, per_video, counter)
    synthetic = _entries(SYNTHETIC, 1, per_video + 2, counter)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "real_mc.json").write_text(json.dumps(real, indent=1), encoding="utf-8")
    (folder / "synthetic_mc.json").write_text(json.dumps(synthetic, indent=1), encoding="utf-8")
    return {"real": real, "synthetic": synthetic}


def write_probe(folder: Path, scenes: int = 4) -> Path:
    """A tiny probe set (videos_probe/ + probe_records.jsonl) from `vlm4d generate-probe`."""
    command = [sys.executable, "-m", "vlm4d_tasks.cli", "generate-probe", "--out", str(folder)]
    command += ["--n-scenes", str(scenes), "--width", "160", "--height", "120"]
    command += ["--seconds", "2", "--fps", str(FPS), "--seed", "0", "--quiet"]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return folder


def write_videos(root: Path) -> list[str]:
    from _video_factory import numbered_frame, write_video

    names = REAL_EXO + REAL_EGO + SYNTHETIC
    for n, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, lambda i, n=n: numbered_frame(i, noise_seed=n), fps=FPS, count=FRAMES)
    return names


def build(root: Path) -> Path:
    """Annotations + videos + the dataset folder (configs all/real/synthetic/probe)."""
    from vlm4d_tasks.data.annotations import load_annotations
    from vlm4d_tasks.data.dataset_repo import build_dataset_repo

    annotations_dir = root / "annotations"
    write_annotations(annotations_dir)
    # generate-probe writes only into a new folder (or its own), so it comes first; the probe's
    # videos_probe/ then sits beside the others
    write_probe(root / "videos")
    write_videos(root / "videos")
    annotations = load_annotations(annotations_dir, ["real", "synthetic"])
    probe = load_annotations(root / "videos", ["probe"])
    annotations.records += probe.records
    annotations.problems += probe.problems
    out = root / "dataset"
    build_dataset_repo(annotations, out, videos=root / "videos", copy_videos=True)
    return out
