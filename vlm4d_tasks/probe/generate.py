"""Generate the probe subset: scene pairs, questions, videos, annotations and labels.

Output layout (DIR):
  videos_probe/scene_0001.mp4 ...   H.264 clips
  probe_mc.json                     the official VLM4D annotation format (answer = text)
  probe_records.jsonl               normalized `Record`s (with category and perspective)
  probe_labels.json                 scene geometry, per-frame tracks and answer facts
  .vlm4d-build.json                 each file's SHA-256, so a rerun replaces only its own files

Scenes come in pairs (odd: static camera, exocentric; even: the same objects and motion
seen by a moving camera, egocentric), so that perspective is the only difference.
Everything is a function of the settings: the same seed gives byte-identical files.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vlm4d_tasks.data import outdir
from vlm4d_tasks.data.annotations import PROBE_LABELS_FILE
from vlm4d_tasks.data.schema import LETTERS, Category, Perspective, Record, Source, Subset, make_uid
from vlm4d_tasks.probe import RECORDS_FILE
from vlm4d_tasks.probe import questions as q
from vlm4d_tasks.probe.sampling import (
    COUNT_KINDS,
    KINDS,
    MOVING_CAMERAS,
    Geometry,
    Story,
    sample_pair,
)
from vlm4d_tasks.probe.scene import Scene

VIDEO_DIR = "videos_probe"
MC_FILE = "probe_mc.json"
LABELS_FILE = PROBE_LABELS_FILE  # one name, shared with the dataset builder
LABELS_VERSION = 1
# Who wrote the folder, in its marker (`outdir.MARKER`), so that a rerun replaces only its own.
MADE_BY = "vlm4d generate-probe"


@dataclass(frozen=True)
class ProbeSettings:
    n_scenes: int = 40
    seed: int = 0
    width: int = 854
    height: int = 480
    fps: int = 24
    seconds: float = 4.0
    jobs: int = 0  # render processes; 0 = min(2, CPUs). The output does not depend on it.
    crf: int = 23

    @property
    def n_frames(self) -> int:
        return max(2, int(round(self.seconds * self.fps)))

    def check(self) -> None:
        if self.n_scenes < 1:
            raise ValueError(f"n_scenes must be >= 1, got {self.n_scenes}")
        if self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2:
            raise ValueError(
                f"width and height must be even and >= 16 (yuv420p), got {self.width}x{self.height}"
            )
        if self.jobs < 0:
            raise ValueError(f"jobs must be >= 0 (0: automatic), got {self.jobs}")
        if self.fps < 1 or self.seconds <= 0:
            raise ValueError(
                f"fps must be >= 1 and seconds > 0, got fps={self.fps} seconds={self.seconds}"
            )


@dataclass
class ProbePlan:
    """Everything but the pixels: scenes, records and labels."""

    scenes: list[Scene]
    records: list[Record]
    labels: dict


@dataclass
class ProbeResult:
    out_dir: str
    n_scenes: int
    n_questions: int
    n_frames: int
    by_category: dict[str, int]
    by_perspective: dict[str, int]
    by_letter: dict[str, int]
    seconds_total: float
    seconds_per_clip: list[float] = field(default_factory=list)
    moved_aside: Path | None = None  # where `force` moved a folder generate-probe did not make
    notes: list[str] = field(default_factory=list)  # warnings: earlier files kept, and why

    @property
    def mean_seconds_per_clip(self) -> float:
        return float(np.mean(self.seconds_per_clip)) if self.seconds_per_clip else 0.0


def video_name(index: int) -> str:
    return f"{VIDEO_DIR}/scene_{index:04d}.mp4"


def _drafts(scene: Scene, story: Story, rng: np.random.Generator) -> list[q.Draft]:
    offer_absent = bool(rng.random() < 0.25)
    drafts: list[q.Draft] = []
    if story.kind == "translate":
        drafts.append(q.direction_question(rng, scene, story.target, offer_absent))
        drafts.append(q.own_direction_question(rng, scene, story.target))
        if story.second:
            drafts.append(q.direction_question(rng, scene, story.second, False))
    elif story.kind == "rotate":
        drafts.append(q.rotation_question(rng, scene, story.target, offer_absent))
        if story.second:
            drafts.append(q.rotation_question(rng, scene, story.second, False))
    else:
        drafts.append(q.count_question(rng, scene, story.count_kind, story.target, story.reference))
    if story.absent:
        template_kind = "rotation" if story.kind == "rotate" else "direction"
        drafts.append(q.false_positive_question(rng, template_kind, story.absent))
    return drafts


def _balanced_letters(group_sizes: list[int], rng: np.random.Generator) -> list[str]:
    """One correct letter per question group, keeping the per-question counts balanced."""
    counts = dict.fromkeys(LETTERS, 0)
    letters = []
    for size in group_sizes:
        low = min(counts.values())
        choices = [letter for letter in LETTERS if counts[letter] == low]
        letter = choices[int(rng.integers(len(choices)))]
        counts[letter] += size
        letters.append(letter)
    return letters


def _round(values, digits: int = 4) -> list:
    return np.round(np.asarray(values, dtype=float), digits).tolist()


def _scene_label(
    scene: Scene, story: Story, twin: str | None, question_ids: list[str], index: int
) -> dict:
    s = scene.times()
    cx, cz, yaw = scene.camera.state(s)
    camera = asdict(scene.camera)
    camera["track_xz_yaw"] = _round(np.stack([cx, cz, yaw], axis=-1))
    objects = []
    for obj in scene.objects:
        x, y, z, heading = obj.motion.state(s)
        objects.append(
            {
                "name": obj.name,
                "shape": obj.shape,
                "colour": obj.colour,
                "size": round(obj.size, 4),
                "height": round(obj.height, 4),
                "motion": asdict(obj.motion),
                "track_xyz_heading": _round(np.stack([x, y, z, heading], axis=-1)),
            }
        )
    return {
        "scene_id": scene.scene_id,
        "video": video_name(index),
        "perspective": (
            Perspective.EGOCENTRIC if scene.camera.moves else Perspective.EXOCENTRIC
        ).value,
        "twin_scene": twin,
        "width": scene.width,
        "height": scene.height,
        "fps": scene.fps,
        "n_frames": scene.n_frames,
        "floor": scene.floor,
        "palette": scene.palette,
        "walls": scene.walls,
        "camera": camera,
        "objects": objects,
        "story": asdict(story),
        "question_ids": question_ids,
    }


def plan_probe(settings: ProbeSettings) -> ProbePlan:
    """Sample every scene and write every question (fast: no rendering)."""
    settings.check()
    geometry = Geometry(settings.width, settings.height, settings.fps, settings.n_frames)
    n_pairs = (settings.n_scenes + 1) // 2
    pairs = []
    for k in range(n_pairs):
        kind = KINDS[k % len(KINDS)]
        count_kind = COUNT_KINDS[(k // len(KINDS)) % len(COUNT_KINDS)] if kind == "count" else None
        ids = (f"scene_{2 * k + 1:04d}", f"scene_{2 * k + 2:04d}")
        rng = np.random.default_rng([settings.seed, k])
        motion = MOVING_CAMERAS[k % len(MOVING_CAMERAS)]
        static, moving, story = sample_pair(rng, kind, count_kind, geometry, ids, motion)
        members = [static, moving][: min(2, settings.n_scenes - 2 * k)]
        drafts = [
            _drafts(scene, story, np.random.default_rng([settings.seed, k, 1])) for scene in members
        ]
        if len(drafts) == 2:
            a, b = ([(d.correct, d.distractors, d.question) for d in ds] for ds in drafts)
            if a != b:
                raise AssertionError(f"scenes {ids}: the pair's questions differ: {a} vs {b}")
        pairs.append((members, story, drafts))

    groups = [(k, j) for k, (_, _, drafts) in enumerate(pairs) for j in range(len(drafts[0]))]
    sizes = [len(pairs[k][2]) for k, _ in groups]
    letter_rng = np.random.default_rng([settings.seed, 1 << 20])
    letter_of = dict(zip(groups, _balanced_letters(sizes, letter_rng), strict=True))
    order_of = {
        g: np.random.default_rng([settings.seed, g[0], g[1], 2]).permutation(3) for g in groups
    }

    scenes: list[Scene] = []
    records: list[Record] = []
    scene_labels: list[dict] = []
    question_labels: list[dict] = []
    qid_of: dict[tuple[int, int, int], str] = {}
    number = 0
    for k, (members, _, drafts) in enumerate(pairs):
        for m, _scene in enumerate(members):
            for j in range(len(drafts[m])):
                number += 1
                qid_of[(k, m, j)] = f"probe_{number:04d}"
    for k, (members, story, drafts) in enumerate(pairs):
        for m, scene in enumerate(members):
            index = 2 * k + m + 1
            perspective = Perspective.EGOCENTRIC if scene.camera.moves else Perspective.EXOCENTRIC
            ids = []
            for j, draft in enumerate(drafts[m]):
                qid = qid_of[(k, m, j)]
                ids.append(qid)
                letter = letter_of[(k, j)]
                wrong = [draft.distractors[i] for i in order_of[(k, j)]]
                options = (
                    wrong[: LETTERS.index(letter)]
                    + [draft.correct]
                    + wrong[LETTERS.index(letter) :]
                )
                records.append(
                    Record(
                        uid=make_uid(Subset.PROBE.value, qid),
                        question_id=qid,
                        subset=Subset.PROBE.value,
                        source=Source.PROBE.value,
                        perspective=perspective.value,
                        category=Category(draft.category).value,
                        question=draft.question,
                        options=options,
                        answer=letter,
                        answer_text=draft.correct,
                        video=video_name(index),
                        flags=[],
                    )
                )
                twin = qid_of.get((k, 1 - m, j))
                question_labels.append(
                    {
                        "question_id": qid,
                        "scene_id": scene.scene_id,
                        "twin_question_id": twin,
                        "kind": draft.kind,
                        "category": draft.category,
                        "perspective": perspective.value,
                        "camera_motion": scene.camera.motion,
                        "target": draft.target,
                        "answer": letter,
                        "answer_text": draft.correct,
                        "facts": draft.facts,
                    }
                )
            twin_scene = members[1 - m].scene_id if len(members) == 2 else None
            scene_labels.append(_scene_label(scene, story, twin_scene, ids, index))
            scenes.append(scene)
    labels = {
        "version": LABELS_VERSION,
        # Parallelism changes nothing in the output, so it is not recorded.
        "settings": {k: v for k, v in asdict(settings).items() if k != "jobs"}
        | {"n_frames": settings.n_frames},
        "conventions": {
            "world": "x east (camera right at yaw 0), y up, z north (camera forward at yaw 0), metres",
            "angles": "degrees; headings and yaws: 0 = north, growing clockwise as seen from above",
            "front": "an object's front is its white stripe (local +z)",
        },
        "scenes": scene_labels,
        "questions": question_labels,
    }
    return ProbePlan(scenes=scenes, records=records, labels=labels)


def official_entries(records: list[Record]) -> list[dict]:
    """Records in the official annotation format (answer is the TEXT of the right option)."""
    return [
        {
            "id": r.question_id,
            "video": r.video,
            "question_type": "multiple-choice",
            "question": r.question,
            "choices": dict(zip(LETTERS, r.options, strict=True)),
            "answer": r.answer_text,
        }
        for r in records
    ]


def _render_one(job: tuple[Scene, str, int]) -> float:
    from vlm4d_tasks.probe.render import render_clip

    scene, path, crf = job
    start = time.perf_counter()
    frames = render_clip(scene, path, crf=crf)
    if frames != scene.n_frames:
        raise RuntimeError(f"{path}: wrote {frames} frames, expected {scene.n_frames}")
    return time.perf_counter() - start


def write_annotations(plan: ProbePlan, out: Path) -> None:
    (out / MC_FILE).write_text(json.dumps(official_entries(plan.records), indent=1) + "\n")
    with open(out / RECORDS_FILE, "w", encoding="utf-8") as fh:
        for record in plan.records:
            fh.write(json.dumps(record.to_dict(), sort_keys=True) + "\n")
    (out / LABELS_FILE).write_text(json.dumps(plan.labels, indent=1) + "\n")


def generate_probe(
    out_dir: str | Path, settings: ProbeSettings, progress: bool = True, force: bool = False
) -> ProbeResult:
    """Write the whole probe subset to out_dir (see the module docstring for the layout).

    `out_dir` follows build-dataset's rules (`vlm4d_tasks.data.outdir`): it must be new, empty
    or written by an earlier generate-probe whose marker still matches its files; anything
    else raises `OutputFolderError`, unless `force` moves it aside to `OUT.old-N`. The set is
    written into a fresh folder beside it and swapped in at the end, so nothing is written
    through a link or file already there.
    """
    from tqdm import tqdm

    start = time.perf_counter()
    settings.check()
    output = outdir.prepare(out_dir, MADE_BY, force)
    plan = plan_probe(settings)
    per_clip: list[float] = []
    with outdir.staged(output) as out:
        (out / VIDEO_DIR).mkdir()
        write_annotations(plan, out)
        jobs = [
            (scene, str(out / video_name(i + 1)), settings.crf)
            for i, scene in enumerate(plan.scenes)
        ]
        bar = tqdm(total=len(jobs), desc="probe clips", unit="clip", disable=not progress)
        workers = settings.jobs or min(2, os.cpu_count() or 1)
        if workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers) as pool:
                for seconds in pool.map(_render_one, jobs):
                    per_clip.append(seconds)
                    bar.update()
        else:
            for job in jobs:
                per_clip.append(_render_one(job))
                bar.update()
        bar.close()
        outdir.commit(out, output)
    return ProbeResult(
        out_dir=str(output.out),
        n_scenes=len(plan.scenes),
        n_questions=len(plan.records),
        n_frames=settings.n_frames,
        by_category=dict(sorted(Counter(r.category for r in plan.records).items())),
        by_perspective=dict(sorted(Counter(r.perspective for r in plan.records).items())),
        by_letter=dict(sorted(Counter(r.answer for r in plan.records).items())),
        seconds_total=time.perf_counter() - start,
        seconds_per_clip=per_clip,
        moved_aside=output.moved_aside,
        notes=output.notes,
    )
