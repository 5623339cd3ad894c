"""Generate the probe subset: scene pairs, questions, videos, annotations and labels.

Output layout (DIR):
  videos_probe/scene_0001.mp4 ...   H.264 clips (train split: train_000001.mp4 ...)
  probe_mc.json                     the official VLM4D annotation format (answer = text)
  probe_records.jsonl               normalized `Record`s (with category and perspective)
  probe_labels.json                 scene geometry, per-frame tracks and answer facts
  .vlm4d-build.json                 each file's SHA-256, so a rerun replaces only its own files

Scenes come in pairs (odd: static camera, exocentric; even: the same objects and motion
seen by a moving camera, egocentric), so that perspective is the only difference.
Everything is a function of the settings: the same seed gives byte-identical files.

Splits. `split="test"` (the default) is the probe set as it always was, byte for byte: its
draws come from `default_rng([seed, ...])`. `split="train"` draws every scene from a
`SeedSequence` with the same path plus a split tag (`TRAIN_SPAWN_KEY`), an entropy no test
draw has, and the command checks the result against the test probe set (`probe.leaks`)
before it renders anything. Training records carry four more fields in probe_records.jsonl:
`split`, `camera_motion`, `answer_free_form` and `rationale` (`probe.answers`), all from the
same geometry as the letter. The test split's records do NOT carry them, so that the test
probe set stays byte-identical to earlier versions (the same facts are in probe_labels.json).
For the same reason only the train split's probe_labels.json gives each object's `rgb` and
`texture` (`probe.config`).

Scale. Every scene's draws depend only on (split, seed, pair index), and the letters and
question ids on the whole plan, which is cheap (no pixels), so `shard=(i, n)` renders the
pairs k with k % n == i into a shard folder (its videos and `probe_shard.json`) and
`merge_shards` assembles the shards into exactly the folder one unsharded run writes. A run
renders into `.OUT.partial` beside `--out` and records each finished clip there (size and
SHA-256), so an interrupted run, rerun with the same settings, skips its finished clips; the
folder becomes `--out` when the run completes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vlm4d_tasks.data import outdir
from vlm4d_tasks.data.annotations import PROBE_LABELS_FILE
from vlm4d_tasks.data.files import InputFileError, check_regular, read_regular_text
from vlm4d_tasks.data.schema import LETTERS, Category, Perspective, Record, Source, Subset, make_uid
from vlm4d_tasks.probe import RECORDS_FILE
from vlm4d_tasks.probe import questions as q
from vlm4d_tasks.probe.answers import free_form_answer, rationale
from vlm4d_tasks.probe.config import GeneratorConfig
from vlm4d_tasks.probe.sampling import (
    COUNT_KINDS,
    KINDS,
    Geometry,
    Story,
    sample_pair,
)
from vlm4d_tasks.probe.scene import Scene

VIDEO_DIR = "videos_probe"
MC_FILE = "probe_mc.json"
LABELS_FILE = PROBE_LABELS_FILE  # one name, shared with the dataset builder
SHARD_FILE = "probe_shard.json"
LABELS_VERSION = 1
SHARD_VERSION = 1
# Who wrote the folder, in its marker (`outdir.MARKER`), so that a rerun replaces only its own.
MADE_BY = "vlm4d generate-probe"
SPLITS = ("test", "train")
# Appended (as a spawn key) to every training draw's entropy: a test draw never has one, so
# no training draw can be seeded like a test draw ("trai" in ASCII, for the record).
TRAIN_SPAWN_KEY = (0x74726169,)
# The clip of the train split when neither a flag nor --config sets it: what video LLMs
# consume after their own resizing and frame sampling (Qwen2-VL: 448 px, a few fps), at a
# ninth of the test clip's pixels per second (bench/probe_speed.py measures both).
TRAIN_CLIP = {"width": 448, "height": 252, "fps": 8, "seconds": 4.0}
# The fields a training record has beyond `Record`'s (the contract with the exporters).
TRAIN_FIELDS = ("split", "camera_motion", "answer_free_form", "rationale")
# Files of an unfinished run, in `.OUT.partial`; never in a finished folder.
_PARTIAL_RUN = "partial_run.json"
_PARTIAL_DONE = "partial_done.jsonl"
_SMALL_JSON = 64 * 1024 * 1024  # a shard manifest lists one line per clip
MAX_VIDEO_BYTES = 1 << 32  # a probe clip is well under 10 MB; 4 GiB is a broken file


class ProbeRunError(ValueError):
    """A run that cannot go on as asked (a leak, a shard set that does not fit together, an
    unfinished run with other settings); the message says the cause and the fix."""


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
    split: str = "test"
    # What scenes may contain (`--config FILE`); the default is the test probe set's.
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)

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
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        self.generator.check()

    def identity(self) -> dict:
        """The settings the output depends on, as written in probe_labels.json (`jobs` is
        not: parallelism changes nothing). The test split's entry is what it always was."""
        out = {k: v for k, v in asdict(self).items() if k not in ("jobs", "split", "generator")}
        out["n_frames"] = self.n_frames
        if self.split != "test":
            out["split"] = self.split
        if not self.generator.is_default():
            out["generator"] = self.generator.to_dict()
        return out

    def to_record(self) -> dict:
        """Every setting but `jobs`, as JSON values (for shard and resume manifests)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("jobs", "generator")}
        return out | {"generator": self.generator.to_dict()}

    @classmethod
    def from_record(cls, data: dict) -> ProbeSettings:
        """The settings `to_record` wrote; TypeError or ValueError if they are not valid."""
        generator = GeneratorConfig.from_dict(data.get("generator", {}))
        settings = cls(**{k: v for k, v in data.items() if k != "generator"}, generator=generator)
        settings.check()
        return settings


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count`: the scene pairs k with k % count == index."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= i < N (e.g. 0/2 and 1/2)")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def scenes(self, n_scenes: int) -> list[int]:
        """0-based positions of the shard's scenes (both scenes of a pair stay together)."""
        return [i for i in range(n_scenes) if (i // 2) % self.count == self.index]


@dataclass
class ProbePlan:
    """Everything but the pixels: scenes, records and labels."""

    scenes: list[Scene]
    records: list[Record]
    labels: dict
    split: str = "test"
    # Per record: the TRAIN_FIELDS (answer forms from the same geometry); written to
    # probe_records.jsonl for the train split only.
    extras: list[dict] = field(default_factory=list)

    def asked(self, positions: list[int] | None = None) -> list[tuple[Scene, list[str]]]:
        """(scene, its question texts) for the scenes at `positions` (default: all)."""
        text = {r.question_id: r.question for r in self.records}
        chosen = range(len(self.scenes)) if positions is None else positions
        return [
            (self.scenes[i], [text[qid] for qid in self.labels["scenes"][i]["question_ids"]])
            for i in chosen
        ]


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
    n_skipped: int = 0  # clips an earlier, interrupted run had finished (resume)
    shard: Shard | None = None

    @property
    def mean_seconds_per_clip(self) -> float:
        return float(np.mean(self.seconds_per_clip)) if self.seconds_per_clip else 0.0


def scene_name(index: int, split: str = "test") -> str:
    """The id of the 1-based scene `index`; training ids can never be test ids."""
    return f"scene_{index:04d}" if split == "test" else f"{split}_{index:06d}"


def video_name(index: int, split: str = "test") -> str:
    return f"{VIDEO_DIR}/{scene_name(index, split)}.mp4"


def question_name(number: int, split: str = "test") -> str:
    return f"probe_{number:04d}" if split == "test" else f"{split}_q{number:07d}"


def draw(settings: ProbeSettings, *path: int) -> np.random.Generator:
    """The random stream at `path` for this split and seed (see the module docstring)."""
    if settings.split == "test":
        return np.random.default_rng([settings.seed, *path])
    spawn_key = TRAIN_SPAWN_KEY + (SPLITS.index(settings.split),)
    return np.random.default_rng(
        np.random.SeedSequence([settings.seed, *path], spawn_key=spawn_key)
    )


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
    scene: Scene,
    story: Story,
    twin: str | None,
    question_ids: list[str],
    video: str,
    split: str = "test",
) -> dict:
    s = scene.times()
    cx, cz, yaw = scene.camera.state(s)
    camera = asdict(scene.camera)
    camera["track_xz_yaw"] = _round(np.stack([cx, cz, yaw], axis=-1))
    objects = []
    for obj in scene.objects:
        x, y, z, heading = obj.motion.state(s)
        label = {
            "name": obj.name,
            "shape": obj.shape,
            "colour": obj.colour,
            "size": round(obj.size, 4),
            "height": round(obj.height, 4),
            "motion": asdict(obj.motion),
            "track_xyz_heading": _round(np.stack([x, y, z, heading], axis=-1)),
        }
        if split != "test":
            # What a study of which properties help needs per object; not in the test
            # split's labels, which keep their earlier bytes (a non-default configuration
            # is in their settings.generator).
            label |= {"rgb": list(obj.albedo), "texture": obj.texture}
        objects.append(label)
    return {
        "scene_id": scene.scene_id,
        "video": video,
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
    split = settings.split
    geometry = Geometry(settings.width, settings.height, settings.fps, settings.n_frames)
    n_pairs = (settings.n_scenes + 1) // 2
    pairs = []
    for k in range(n_pairs):
        kind = KINDS[k % len(KINDS)]
        count_kind = COUNT_KINDS[(k // len(KINDS)) % len(COUNT_KINDS)] if kind == "count" else None
        ids = (scene_name(2 * k + 1, split), scene_name(2 * k + 2, split))
        rng = draw(settings, k)
        cameras = settings.generator.camera_motions
        motion = cameras[k % len(cameras)]
        static, moving, story = sample_pair(
            rng, kind, count_kind, geometry, ids, motion, settings.generator
        )
        members = [static, moving][: min(2, settings.n_scenes - 2 * k)]
        drafts = [_drafts(scene, story, draw(settings, k, 1)) for scene in members]
        if len(drafts) == 2:
            a, b = ([(d.correct, d.distractors, d.question) for d in ds] for ds in drafts)
            if a != b:
                raise AssertionError(f"scenes {ids}: the pair's questions differ: {a} vs {b}")
        pairs.append((members, story, drafts))

    groups = [(k, j) for k, (_, _, drafts) in enumerate(pairs) for j in range(len(drafts[0]))]
    sizes = [len(pairs[k][2]) for k, _ in groups]
    letter_rng = draw(settings, 1 << 20)
    letter_of = dict(zip(groups, _balanced_letters(sizes, letter_rng), strict=True))
    order_of = {g: draw(settings, g[0], g[1], 2).permutation(3) for g in groups}

    scenes: list[Scene] = []
    records: list[Record] = []
    extras: list[dict] = []
    scene_labels: list[dict] = []
    question_labels: list[dict] = []
    qid_of: dict[tuple[int, int, int], str] = {}
    number = 0
    for k, (members, _, drafts) in enumerate(pairs):
        for m, _scene in enumerate(members):
            for j in range(len(drafts[m])):
                number += 1
                qid_of[(k, m, j)] = question_name(number, split)
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
                        video=video_name(index, split),
                        flags=[],
                    )
                )
                extras.append(
                    {
                        "split": split,
                        "camera_motion": scene.camera.motion,
                        "answer_free_form": free_form_answer(draft),
                        "rationale": rationale(scene, draft),
                    }
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
            scene_labels.append(
                _scene_label(scene, story, twin_scene, ids, video_name(index, split), split)
            )
            scenes.append(scene)
    labels = {
        "version": LABELS_VERSION,
        "settings": settings.identity(),
        "conventions": {
            "world": "x east (camera right at yaw 0), y up, z north (camera forward at yaw 0), metres",
            "angles": "degrees; headings and yaws: 0 = north, growing clockwise as seen from above",
            "front": "an object's front is its white stripe (local +z)",
        },
        "scenes": scene_labels,
        "questions": question_labels,
    }
    return ProbePlan(scenes=scenes, records=records, labels=labels, split=split, extras=extras)


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


def record_rows(plan: ProbePlan) -> list[dict]:
    """The rows of probe_records.jsonl: a `Record`, plus the TRAIN_FIELDS for the train split."""
    if plan.split == "test":
        return [record.to_dict() for record in plan.records]
    return [r.to_dict() | x for r, x in zip(plan.records, plan.extras, strict=True)]


def annotation_texts(plan: ProbePlan) -> dict[str, str]:
    """File name -> text of the three annotation files (the same bytes for the same plan)."""
    lines = "".join(json.dumps(row, sort_keys=True) + "\n" for row in record_rows(plan))
    return {
        MC_FILE: json.dumps(official_entries(plan.records), indent=1) + "\n",
        RECORDS_FILE: lines,
        LABELS_FILE: json.dumps(plan.labels, indent=1) + "\n",
    }


def plan_digest(plan: ProbePlan) -> str:
    """SHA-256 of the plan's annotation files: two runs agree on it only if they would write
    the same dataset (same settings, same code)."""
    digest = hashlib.sha256()
    for name, text in sorted(annotation_texts(plan).items()):
        digest.update(f"{name}\0{len(text)}\0".encode())
        digest.update(text.encode())
    return digest.hexdigest()


def write_annotations(plan: ProbePlan, out: Path) -> None:
    for name, text in annotation_texts(plan).items():
        with open(out / name, "w", encoding="utf-8") as fh:
            fh.write(text)


def check_leaks(
    plan: ProbePlan, positions: list[int] | None = None, test: ProbeSettings | None = None
) -> None:
    """Raise ProbeRunError if a training scene of `plan` (at `positions`) repeats a scene of
    the test probe set made with `test` (default: the published one, `ProbeSettings()`)."""
    from vlm4d_tasks.probe.leaks import find_leaks

    reference = plan_probe(test or ProbeSettings())
    leaks = find_leaks(plan.asked(positions), reference.asked())
    if leaks:
        shown = "; ".join(str(leak) for leak in leaks[:5])
        more = f" and {len(leaks) - 5} more" if len(leaks) > 5 else ""
        raise ProbeRunError(
            f"leak check: {len(leaks)} way(s) the {plan.split} split repeats the test probe set "
            f"(seed {reference.labels['settings']['seed']}, {len(reference.scenes)} scenes): "
            f"{shown}{more}; nothing was rendered. Fix: the {plan.split} split must not share "
            "a trajectory, camera path, scene or question with the test set; use the seeds "
            "`--split train` derives (do not copy test scenes into it) or choose another --seed"
        )


def _render_one(job: tuple[Scene, str, int]) -> tuple[float, int, str]:
    from vlm4d_tasks.probe.render import render_clip

    scene, path, crf = job
    start = time.perf_counter()
    frames = render_clip(scene, path, crf=crf)
    if frames != scene.n_frames:
        raise RuntimeError(f"{path}: wrote {frames} frames, expected {scene.n_frames}")
    seconds = time.perf_counter() - start
    return seconds, os.path.getsize(path), outdir.sha256_no_follow(path)


def _partial_folder(output: outdir.Output) -> Path:
    return output.target.with_name(f".{output.target.name}.partial")


def _differing(earlier: object, identity: dict) -> list[str]:
    """The names of the settings (or other identity fields) that differ, for the message."""
    earlier = earlier if isinstance(earlier, dict) else {}
    names = []
    for key in sorted(set(identity) | set(earlier)):
        a, b = earlier.get(key), identity.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            names += [f"{key}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif a != b and key != "plan_sha256":
            names.append(key)
    # Other settings give another plan anyway; the same settings, another code version.
    return names or ["the generator's code (plan_sha256)"]


def _open_partial(folder: Path, identity: dict, wanted: set[str]) -> dict[str, dict]:
    """The clips an interrupted run with the same `identity` finished in `folder` (video ->
    {size, sha256}); a new folder if there is none. Any doubt renders the clip again."""
    if not os.path.lexists(folder):
        try:
            # `--out demo-out/probe` in a fresh clone: its parents are this command's to make,
            # as `outdir.commit` makes them for the finished folder.
            folder.parent.mkdir(parents=True, exist_ok=True)
            folder.mkdir()
            (folder / VIDEO_DIR).mkdir()
            outdir.write_new(folder / _PARTIAL_RUN, json.dumps(identity, indent=1) + "\n")
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise outdir.OutputFolderError(
                f"cannot create {folder} beside --out ({exc.strerror or exc}); nothing was "
                "written. Fix: choose an --out in a folder you can write to"
            ) from exc
        return {}
    fix = (
        f"Fix: rerun with the settings of that run to finish it, or delete {folder} "
        "(it holds only clips this command rendered) and run again"
    )
    if folder.is_symlink() or not folder.is_dir():
        raise ProbeRunError(
            f"{folder} is in the way of this run's working folder and is not one; nothing was "
            f"written. Fix: move {folder} away and run again"
        )
    try:
        earlier = json.loads(read_regular_text(folder / _PARTIAL_RUN, limit=_SMALL_JSON))
    except (OSError, InputFileError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProbeRunError(
            f"{folder}: not an unfinished run of {MADE_BY} ({_PARTIAL_RUN}: {exc}); nothing "
            f"was written. {fix}"
        ) from None
    if earlier != identity:
        raise ProbeRunError(
            f"{folder} holds an unfinished run with other settings (differing: "
            f"{', '.join(_differing(earlier, identity))}); nothing was written. {fix}"
        )
    done: dict[str, dict] = {}
    try:
        text = read_regular_text(folder / _PARTIAL_DONE, limit=_SMALL_JSON)
    except (FileNotFoundError, InputFileError, UnicodeDecodeError):
        return done
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            video, size, sha = entry["video"], entry["size"], entry["sha256"]
        except (ValueError, TypeError, KeyError, RecursionError):
            continue  # a line cut short by the interruption: that clip is rendered again
        if video not in wanted or type(size) is not int or size <= 0:
            continue
        path = folder / video
        try:
            if os.path.getsize(path) == size and outdir.sha256_no_follow(path) == sha:
                done[video] = {"size": size, "sha256": sha}
        except OSError:
            continue
    return done


def _shard_manifest(
    plan: ProbePlan, settings: ProbeSettings, shard: Shard, hashes: dict[str, dict]
) -> str:
    videos = [plan.labels["scenes"][i]["video"] for i in shard.scenes(len(plan.scenes))]
    manifest = {
        "made_by": MADE_BY,
        "version": SHARD_VERSION,
        "shard": [shard.index, shard.count],
        "settings": settings.to_record(),
        "plan_sha256": plan_digest(plan),
        "videos": [{"video": v} | hashes[v] for v in videos],
    }
    return json.dumps(manifest, indent=1) + "\n"


def generate_probe(
    out_dir: str | Path,
    settings: ProbeSettings,
    progress: bool = True,
    force: bool = False,
    shard: Shard | None = None,
    leak_reference: ProbeSettings | None = None,
) -> ProbeResult:
    """Write the whole probe subset to out_dir (see the module docstring for the layout).

    `out_dir` follows build-dataset's rules (`vlm4d_tasks.data.outdir`): it must be new, empty
    or written by an earlier generate-probe whose marker still matches its files; anything
    else raises `OutputFolderError`, unless `force` moves it aside to `OUT.old-N`. The set is
    written into `.OUT.partial` beside it and swapped in at the end, so nothing is written
    through a link or file already there; an interrupted run leaves `.OUT.partial`, and the
    same command resumes from it.

    `shard`: render only that shard's scenes; out_dir then holds its videos and
    `probe_shard.json` for `merge_shards`. The train split is checked against the test
    probe set made with `leak_reference` (default `ProbeSettings()`) before anything is
    rendered (`ProbeRunError` on a leak).
    """
    from tqdm import tqdm

    start = time.perf_counter()
    settings.check()
    plan = plan_probe(settings)
    positions = shard.scenes(len(plan.scenes)) if shard else list(range(len(plan.scenes)))
    if settings.split != "test":
        check_leaks(plan, positions, leak_reference)
    output = outdir.prepare(out_dir, MADE_BY, force)
    partial = _partial_folder(output)
    identity = {
        "made_by": MADE_BY,
        "settings": settings.to_record(),
        "shard": None if shard is None else [shard.index, shard.count],
        "plan_sha256": plan_digest(plan),
    }
    identity = json.loads(json.dumps(identity))  # as it reads back from the file
    videos = {i: plan.labels["scenes"][i]["video"] for i in positions}
    hashes = _open_partial(partial, identity, set(videos.values()))
    per_clip: list[float] = []
    jobs = [
        (plan.scenes[i], str(partial / video), settings.crf)
        for i, video in videos.items()
        if video not in hashes
    ]
    todo = [video for video in videos.values() if video not in hashes]
    bar = tqdm(
        total=len(videos),
        initial=len(videos) - len(jobs),
        desc="probe clips" + (f" (shard {shard})" if shard else ""),
        unit="clip",
        disable=not progress,
    )
    workers = min(settings.jobs or min(2, os.cpu_count() or 1), max(1, len(jobs)))
    try:
        with open(partial / _PARTIAL_DONE, "a", encoding="utf-8") as done:

            def finished(video: str, result: tuple[float, int, str]) -> None:
                seconds, size, sha = result
                per_clip.append(seconds)
                hashes[video] = {"size": size, "sha256": sha}
                done.write(json.dumps({"video": video, **hashes[video]}) + "\n")
                done.flush()
                bar.update()

            if workers > 1:
                from concurrent.futures import ProcessPoolExecutor

                with ProcessPoolExecutor(max_workers=workers) as pool:
                    for video, result in zip(todo, pool.map(_render_one, jobs), strict=True):
                        finished(video, result)
            else:
                for video, job in zip(todo, jobs, strict=True):
                    finished(video, _render_one(job))
    except OSError as exc:
        raise outdir.OutputFolderError(
            outdir.write_failure(output, exc)
            + f" (the clips finished so far are kept in {partial}: rerun to resume)"
        ) from exc
    finally:
        bar.close()
    try:
        if shard is None:
            write_annotations(plan, partial)
        else:
            outdir.write_new(partial / SHARD_FILE, _shard_manifest(plan, settings, shard, hashes))
        (partial / _PARTIAL_RUN).unlink()
        (partial / _PARTIAL_DONE).unlink()
        known = {video: entry["sha256"] for video, entry in hashes.items()}
        outdir.commit(partial, output, known)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)  # the command's own folder, never `out`
        if isinstance(exc, OSError):
            raise outdir.OutputFolderError(outdir.write_failure(output, exc)) from exc
        raise
    records = [r for r in plan.records if r.video in hashes]
    return ProbeResult(
        out_dir=str(output.out),
        n_scenes=len(videos),
        n_questions=len(records),
        n_frames=settings.n_frames,
        by_category=dict(sorted(Counter(r.category for r in records).items())),
        by_perspective=dict(sorted(Counter(r.perspective for r in records).items())),
        by_letter=dict(sorted(Counter(r.answer for r in records).items())),
        seconds_total=time.perf_counter() - start,
        seconds_per_clip=per_clip,
        moved_aside=output.moved_aside,
        notes=output.notes,
        n_skipped=len(videos) - len(jobs),
        shard=shard,
    )


def _read_shard(folder: Path) -> dict:
    path = folder / SHARD_FILE
    fix = (
        "Fix: pass the folders written by `vlm4d generate-probe --shard i/N --out DIR`, "
        "each complete"
    )
    try:
        data = json.loads(read_regular_text(path, limit=_SMALL_JSON))
    except FileNotFoundError:
        raise ProbeRunError(
            f"{path}: missing, so {folder} is not a finished shard. {fix}"
        ) from None
    except (InputFileError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProbeRunError(f"{path}: not a shard manifest ({exc}). {fix}") from None
    fields = {
        "made_by": str,
        "version": int,
        "shard": list,
        "settings": dict,
        "plan_sha256": str,
        "videos": list,
    }
    for name, kind in fields.items():
        if not isinstance(data, dict) or not isinstance(data.get(name), kind):
            raise ProbeRunError(f"{path}: field {name!r} missing or not a {kind.__name__}. {fix}")
    if data["made_by"] != MADE_BY or data["version"] != SHARD_VERSION:
        raise ProbeRunError(
            f"{path}: field 'made_by'/'version' is {data['made_by']!r}/{data['version']!r}, "
            f"not {MADE_BY!r}/{SHARD_VERSION}. {fix}"
        )
    return data


def merge_shards(
    shard_dirs: list[str | Path], out_dir: str | Path, force: bool = False
) -> ProbeResult:
    """Assemble the folders of `--shard 0/N` ... `--shard N-1/N` into `out_dir`: byte for
    byte the folder one unsharded run with the same settings writes.

    Every shard must be there once, made with the same settings by the same code (the plan's
    SHA-256 agrees), and every video must still hold the bytes its shard recorded; anything
    else raises `ProbeRunError` naming the file and the field, and nothing is written. The
    leak check is not run again: each shard ran it on its own scenes before rendering them."""
    start = time.perf_counter()
    if not shard_dirs:
        raise ProbeRunError("no shard folders to merge. Fix: pass --merge DIR [DIR ...]")
    manifests = [(Path(d), _read_shard(Path(d))) for d in shard_dirs]
    first_dir, first = manifests[0]
    for folder, data in manifests[1:]:
        for name in ("settings", "plan_sha256"):
            if data[name] != first[name]:
                raise ProbeRunError(
                    f"{folder / SHARD_FILE}: field {name!r} differs from {first_dir / SHARD_FILE}"
                    "'s: the shards belong to different runs. Fix: merge only the shards of "
                    "one command line (same settings, same version)"
                )
    count = first["shard"][1] if len(first["shard"]) == 2 else 0
    seen: dict[int, Path] = {}
    for folder, data in manifests:
        index, n = (data["shard"] + [None, None])[:2]
        if n != count or type(index) is not int or not 0 <= index < count:
            raise ProbeRunError(
                f"{folder / SHARD_FILE}: field 'shard' is {data['shard']!r}, not [i, {count}]. "
                "Fix: merge only the shards of one command line"
            )
        if index in seen:
            raise ProbeRunError(
                f"{folder}: shard {index}/{count} again (also {seen[index]}). Fix: pass each "
                "shard folder once"
            )
        seen[index] = folder
    missing = [f"{i}/{count}" for i in range(count) if i not in seen]
    if missing:
        raise ProbeRunError(
            f"shard(s) {', '.join(missing)} missing (got {len(seen)} of {count}); nothing was "
            "written. Fix: pass every shard folder (run the missing shards first)"
        )
    try:
        settings = ProbeSettings.from_record(first["settings"])
    except (TypeError, ValueError) as exc:
        raise ProbeRunError(
            f"{first_dir / SHARD_FILE}: field 'settings' is not valid ({exc}). Fix: merge "
            "shards made by this version of generate-probe"
        ) from None
    plan = plan_probe(settings)
    if plan_digest(plan) != first["plan_sha256"]:
        raise ProbeRunError(
            f"{first_dir / SHARD_FILE}: field 'plan_sha256' does not match the dataset these "
            "settings give with this version of the generator. Fix: merge with the version "
            "that made the shards, or make them again"
        )
    sources: dict[str, tuple[Path, Shard, dict]] = {}
    for folder, data in manifests:
        shard = Shard(data["shard"][0], count)
        wanted = [plan.labels["scenes"][i]["video"] for i in shard.scenes(len(plan.scenes))]
        listed = [e.get("video") if isinstance(e, dict) else None for e in data["videos"]]
        if listed != wanted:
            raise ProbeRunError(
                f"{folder / SHARD_FILE}: field 'videos' does not list shard {shard}'s "
                f"{len(wanted)} clips. Fix: make that shard again"
            )
        for entry in data["videos"]:
            sources[entry["video"]] = (folder, shard, entry)
    output = outdir.prepare(out_dir, MADE_BY, force)
    known: dict[str, str] = {}
    with outdir.staged(output) as out:
        (out / VIDEO_DIR).mkdir()
        for video in (label["video"] for label in plan.labels["scenes"]):
            folder, shard, entry = sources[video]
            source = folder / video
            again = f"Fix: make shard {shard} again (--shard {shard}) and merge"
            try:
                check_regular(source, limit=MAX_VIDEO_BYTES)
            except (FileNotFoundError, InputFileError) as exc:
                raise ProbeRunError(f"{source}: {exc}. {again}") from None
            known[video] = outdir.copy_hashed(source, out / video)
            if known[video] != entry.get("sha256"):
                raise ProbeRunError(
                    f"{source}: its SHA-256 is not the one {folder / SHARD_FILE} records "
                    f"(the file changed since). {again}"
                )
        write_annotations(plan, out)
        outdir.commit(out, output, known)
    return ProbeResult(
        out_dir=str(output.out),
        n_scenes=len(plan.scenes),
        n_questions=len(plan.records),
        n_frames=settings.n_frames,
        by_category=dict(sorted(Counter(r.category for r in plan.records).items())),
        by_perspective=dict(sorted(Counter(r.perspective for r in plan.records).items())),
        by_letter=dict(sorted(Counter(r.answer for r in plan.records).items())),
        seconds_total=time.perf_counter() - start,
        moved_aside=output.moved_aside,
        notes=output.notes,
    )
