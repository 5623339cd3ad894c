"""A small DSR-Bench source in both published forms, with real H.264 clips.

Written here in the documented schema (the columns DSR Suite's and VLMEvalKit's readers use,
see `vlm4d_tasks.data.dsr_bench`), never copied from the release: every one of the 13 types,
answers spread over A-D, options labelled "A. ..." as both readers print them. The TSV is what
pandas' `to_csv(sep='\\t')` writes for VLMEvalKit (options as a Python list literal).
"""

from __future__ import annotations

import csv
from pathlib import Path

from vlm4d_tasks.data.dsr_bench import DsrType

LETTERS = "ABCD"
FRAMES = 24
FPS = 8
VIDEO_IDS = ("koalaA01", "koalaB02", "koalaC03")
_TEXTS = {
    "dis": ["gets closer", "gets farther", "stays the same", "first closer then farther"],
    "dir": ["left to front", "front to right", "behind to left", "right to behind"],
    "ori": ["turns left", "turns right", "no turn", "turns around"],
    "spd": ["speeds up", "slows down", "constant", "stops"],
    "spd_comp": ["the first is faster", "the second is faster", "same speed", "both stopped"],
    "dir_pred": ["forward-left", "backward", "right", "up"],
    "non_temp": ["it passes the car", "it stays behind", "it turns back", "it jumps"],
}


def questions() -> list[dict]:
    """One question per type on each clip, in order; the answer letter cycles A-D."""
    out = []
    for v, video_id in enumerate(VIDEO_IDS):
        for kind in DsrType:
            key = kind.value.split("_", 1)[1] if kind is not DsrType.NON_TEMP else "non_temp"
            texts = _TEXTS[key]
            n = len(out)
            answer = LETTERS[n % 4]
            out.append({
                "videoID": video_id,
                "question": f"Between 1.0s and 3.0s, question {n} about {kind.value} on clip {v}?",
                "options": [f"{LETTERS[i]}. {text}" for i, text in enumerate(texts)],
                "answer": answer,
                "type": kind.value,
            })  # fmt: skip
    return out


def write_parquet(path: Path, rows: list[dict] | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = questions() if rows is None else rows
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_tsv(path: Path, rows: list[dict] | None = None, folder: str = "videos") -> Path:
    """VLMEvalKit's form: index, video (a path under the dsr-bench folder), question, options
    (a list literal), answer, task_type."""
    rows = questions() if rows is None else rows
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["index", "video", "question", "options", "answer", "task_type"])
        for i, row in enumerate(rows):
            video = f"{folder}/{row['videoID']}.mp4"
            writer.writerow([i, video, row["question"], repr(list(row["options"])),
                             row["answer"], row["type"]])  # fmt: skip
    return path


def write_videos(root: Path, folder: str = "") -> list[Path]:
    from _video_factory import numbered_frame, write_video

    paths = []
    for n, video_id in enumerate(VIDEO_IDS):
        path = root / folder / f"{video_id}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, lambda i, n=n: numbered_frame(i, noise_seed=n), fps=FPS, count=FRAMES)
        paths.append(path)
    return paths


def build(root: Path) -> Path:
    """benchmark.parquet + clips -> a dataset folder through `vlm4d build-dataset`'s library."""
    from vlm4d_tasks.data.dsr_bench import build_dsr_repo, load_dsr_bench

    source = write_parquet(root / "benchmark.parquet")
    write_videos(root / "videos")
    out = root / "dsr_dataset"
    build_dsr_repo(load_dsr_bench(source), out, videos=root / "videos", copy_videos=True)
    return out
