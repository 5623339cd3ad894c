"""Tests of the 4D probe set (vlm4d_tasks.probe).

Labels are checked against the PIXELS of the decoded videos, never against the generator's
variables: each object is found by the hue of its colour name, the white front stripe by
its brightness, and the direction, rotation sense and counts that these image tracks show
must match the answers. Moving-camera clips are compared with a re-render of the same clip
in which the object stands still, so that the camera's own motion cancels out.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from vlm4d_tasks.data.schema import LETTERS, Record  # noqa: E402
from vlm4d_tasks.probe import load_probe_records  # noqa: E402
from vlm4d_tasks.probe.generate import (  # noqa: E402
    LABELS_FILE,
    MC_FILE,
    ProbeSettings,
    generate_probe,
    plan_probe,
)

# Hue (degrees) of each colour name, as a person would pick it: not read from the generator.
HUES = {"red": 2, "orange": 31, "yellow": 54, "green": 132, "blue": 223, "purple": 275}
PIXEL_SETTINGS = {"width": 320, "height": 180, "fps": 12, "seconds": 3.0}
SEEDS = (3, 11)
N_SCENES = 24

CAMERA_WORDS = {
    "left": "left",
    "right": "right",
    "towards the camera": "towards",
    "away from the camera": "away",
    "not moving": "still",
}
OWN_WORDS = {
    "forward": "forward",
    "backward": "backward",
    "to its own left": "left",
    "to its own right": "right",
    "not moving": "still",
}
# Motion seen in the camera frame -> motion in the object's own frame, by where it faces.
OWN_FROM_CAMERA = {
    "towards": {"left": "right", "right": "left", "towards": "forward", "away": "backward"},
    "away": {"left": "left", "right": "right", "towards": "backward", "away": "forward"},
}


# -- pixel helpers ---------------------------------------------------------------------------


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def hsv(rgb: np.ndarray):
    x = rgb.astype(np.float32) / 255.0
    mx, mn = x.max(-1), x.min(-1)
    d = np.maximum(mx - mn, 1e-6)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    h = (
        np.where(mx == r, ((g - b) / d) % 6, np.where(mx == g, (b - r) / d + 2, (r - g) / d + 4))
        * 60
    )
    s = (mx - mn) / np.maximum(mx, 1e-6)
    return h, s, mx


def _shift_all(mask: np.ndarray, op) -> np.ndarray:
    """Combine each pixel with its 3x3 neighbourhood (op: np.logical_and / np.logical_or)."""
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)), constant_values=op is np.logical_or and False)
    out = mask.copy()
    h, w = mask.shape[1:]
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            out = op(out, padded[:, dy : dy + h, dx : dx + w])
    return out


def colour_mask(frames: np.ndarray, colour: str, hsv_frames=None) -> np.ndarray:
    """Pixels of a colour, opened (eroded then dilated) to drop the stray pixels that video
    compression leaves on the edges of other objects."""
    h, s, v = hsv(frames) if hsv_frames is None else hsv_frames
    dh = np.abs((h - HUES[colour] + 180) % 360 - 180)
    raw = (dh < 10) & (s > 0.45) & (v > 0.2)
    return _shift_all(_shift_all(raw, np.logical_and), np.logical_or) & raw


def marker_mask(frames: np.ndarray) -> np.ndarray:
    return frames.min(-1) > 226


class Track:
    """Per-frame image track of one object: area, centroid and its stripe's offset."""

    def __init__(self, frames: np.ndarray, colour: str, hsv_frames=None):
        body = colour_mask(frames, colour, hsv_frames)
        white = marker_mask(frames)
        n = len(frames)
        self.area = np.zeros(n)
        self.cx = np.full(n, np.nan)
        self.cy = np.full(n, np.nan)
        self.marker_area = np.zeros(n)
        self.marker_dx = np.full(n, np.nan)
        self.on_border = np.ones(n, bool)  # touching the image border: maybe cut off
        height, width = frames.shape[1:3]
        for k in range(n):
            ys, xs = np.nonzero(body[k])
            if len(xs) < 4:
                continue
            y0, y1, x0, x1 = ys.min() - 3, ys.max() + 4, xs.min() - 3, xs.max() + 4
            self.on_border[k] = y0 < 0 or x0 < 0 or y1 > height or x1 > width
            y0, x0 = max(y0, 0), max(x0, 0)
            stripe = np.zeros_like(white[k])
            stripe[y0:y1, x0:x1] = white[k][y0:y1, x0:x1]
            whole = body[k] | stripe
            wy, wx = np.nonzero(whole)
            self.area[k] = len(wx)
            self.cx[k], self.cy[k] = wx.mean(), wy.mean()
            sy, sx = np.nonzero(stripe)
            self.marker_area[k] = len(sx)
            if len(sx) >= 3:
                self.marker_dx[k] = (sx.mean() - self.cx[k]) / math.sqrt(self.area[k])


def motion_from_pixels(u0, a0, u1, a1, width: int, hfov: float) -> tuple[str, float]:
    """Camera-frame direction of an object that went from (u0, area a0) to (u1, area a1):
    the apparent size gives the depth ratio, the image position the lateral offset."""
    f = (width / 2) / math.tan(math.radians(hfov) / 2)
    depth_ratio = math.sqrt(a0 / a1)  # z1 / z0
    lateral = ((u1 - width / 2) * depth_ratio - (u0 - width / 2)) / f  # (x1 - x0) / z0
    forward = depth_ratio - 1.0  # (z1 - z0) / z0
    if math.hypot(lateral, forward) < 0.05:
        return "still", math.hypot(lateral, forward)
    angle = math.degrees(math.atan2(lateral, forward))
    bins = {"away": 0.0, "right": 90.0, "towards": 180.0, "left": -90.0}
    label = min(bins, key=lambda k: abs((angle - bins[k] + 180) % 360 - 180))
    return label, math.hypot(lateral, forward)


def count_peaks(x: np.ndarray, prominence: float) -> int:
    """Local maxima that rise at least `prominence` above the lowest point on both sides
    before a higher peak (a small version of the usual topographic prominence)."""
    x = np.asarray(x, float)
    peaks = 0
    for i in range(len(x)):
        left = x[max(0, i - 1)] if i > 0 else -np.inf
        right = x[i + 1] if i + 1 < len(x) else -np.inf
        if not (x[i] > left and x[i] >= right):
            continue
        lo_left = x[i]
        for j in range(i - 1, -1, -1):
            if x[j] > x[i]:
                break
            lo_left = min(lo_left, x[j])
        lo_right = x[i]
        for j in range(i + 1, len(x)):
            if x[j] > x[i]:
                break
            lo_right = min(lo_right, x[j])
        if x[i] - max(lo_left, lo_right) >= prominence:
            peaks += 1
    return peaks


def runs(mask: np.ndarray) -> int:
    mask = np.asarray(mask, bool)
    return int(np.count_nonzero(mask[1:] & ~mask[:-1]) + int(mask[0]))


# -- fixtures --------------------------------------------------------------------------------


class ProbeSet:
    def __init__(self, root: Path, seed: int):
        self.root = root
        self.settings = ProbeSettings(n_scenes=N_SCENES, seed=seed, jobs=1, **PIXEL_SETTINGS)
        self.result = generate_probe(root, self.settings, progress=False)
        self.plan = plan_probe(self.settings)
        self.records = load_probe_records(root)
        self.labels = json.loads((root / LABELS_FILE).read_text())
        self.scene_of = {s.scene_id: s for s in self.plan.scenes}
        self.scene_label = {s["scene_id"]: s for s in self.labels["scenes"]}
        self.question_label = {q["question_id"]: q for q in self.labels["questions"]}
        self._frames: dict[str, np.ndarray] = {}
        self._tracks: dict[tuple[str, str], Track] = {}
        self._hsv: dict[str, tuple] = {}

    def frames(self, video: str) -> np.ndarray:
        if video not in self._frames:
            self._frames[video] = decode(self.root / video)
        return self._frames[video]

    def track(self, video: str, colour: str) -> Track:
        if video not in self._hsv:
            self._hsv[video] = hsv(self.frames(video))
        if (video, colour) not in self._tracks:
            self._tracks[(video, colour)] = Track(self.frames(video), colour, self._hsv[video])
        return self._tracks[(video, colour)]

    def questions(self, kind_prefix: str):
        for record in self.records:
            label = self.question_label[record.question_id]
            if label["kind"].startswith(kind_prefix):
                yield record, label, self.scene_of[label["scene_id"]]


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def probe(request, tmp_path_factory) -> ProbeSet:
    return ProbeSet(tmp_path_factory.mktemp(f"probe{request.param}"), request.param)


def colour_of(name: str) -> str:
    colour = name.split()[0]
    assert colour in HUES, name
    return colour


def target_of(record: Record, question_label: dict) -> str:
    name = question_label["target"]
    assert f"the {name}" in record.question, (record.question_id, record.question)
    return name


# -- files, format, options ------------------------------------------------------------------


def test_every_video_decodes_with_stated_length_and_size(probe):
    videos = sorted({r.video for r in probe.records})
    assert len(videos) == N_SCENES
    n_frames = round(PIXEL_SETTINGS["seconds"] * PIXEL_SETTINGS["fps"])
    for video in videos:
        with av.open(str(probe.root / video)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert stream.codec_context.pix_fmt == "yuv420p"
            assert float(stream.average_rate) == PIXEL_SETTINGS["fps"]
            frames = [f for f in container.decode(video=0)]
        assert len(frames) == n_frames, video
        assert (frames[0].width, frames[0].height) == (
            PIXEL_SETTINGS["width"],
            PIXEL_SETTINGS["height"],
        )


def test_records_schema_ids_and_official_format_agree(probe):
    official = json.loads((probe.root / MC_FILE).read_text())
    assert len(official) == len(probe.records) == probe.result.n_questions
    for number, (entry, record) in enumerate(zip(official, probe.records, strict=True), start=1):
        assert record.question_id == f"probe_{number:04d}" == entry["id"]
        assert record.uid == f"probe/{record.question_id}"
        assert (record.subset, record.source, record.flags) == ("probe", "probe", [])
        assert record.video.startswith("videos_probe/scene_") and record.video == entry["video"]
        assert entry["question_type"] == "multiple-choice"
        assert entry["question"] == record.question
        assert list(entry["choices"]) == list(LETTERS)
        assert list(entry["choices"].values()) == record.options
        assert entry["answer"] == record.answer_text
        moving = probe.scene_label[probe.question_label[record.question_id]["scene_id"]]["camera"][
            "motion"
        ]
        assert record.perspective == ("exocentric" if moving == "static" else "egocentric")


def test_options_have_exactly_one_correct_answer(probe):
    for record in probe.records:
        assert len(record.options) == 4 and len(set(record.options)) == 4, record.question_id
        assert record.options.count(record.answer_text) == 1, record.question_id
        assert record.options[record.answer_index] == record.answer_text
        assert all(isinstance(o, str) and o for o in record.options)


def test_answer_letters_are_balanced(probe):
    counts = [sum(r.answer == letter for r in probe.records) for letter in LETTERS]
    assert max(counts) - min(counts) <= 2, counts


def test_all_four_categories_and_both_perspectives(probe):
    assert {r.category for r in probe.records} == {
        "translational",
        "rotational",
        "counting",
        "false_positive",
    }
    assert {r.perspective for r in probe.records} == {"egocentric", "exocentric"}


def test_pairs_differ_only_in_the_camera(probe):
    twins = 0
    for record in probe.records:
        label = probe.question_label[record.question_id]
        if label["twin_question_id"] is None:
            continue
        twins += 1
        other = next(r for r in probe.records if r.question_id == label["twin_question_id"])
        assert (other.question, other.options, other.answer) == (
            record.question,
            record.options,
            record.answer,
        )
        assert {other.perspective, record.perspective} == {"egocentric", "exocentric"}
        a = probe.scene_label[label["scene_id"]]
        b = probe.scene_label[a["twin_scene"]]
        assert [o["track_xyz_heading"] for o in a["objects"]] == [
            o["track_xyz_heading"] for o in b["objects"]
        ]
        assert a["camera"]["track_xz_yaw"] != b["camera"]["track_xz_yaw"]
    assert twins >= len(probe.records) - 4


def test_static_camera_clips_have_a_still_background_and_moving_ones_do_not(probe):
    for scene in probe.plan.scenes:
        frames = probe.frames(probe.scene_label[scene.scene_id]["video"])
        _, sat, _ = hsv(frames[[0, -1]])
        background = (sat[0] < 0.3) & (sat[1] < 0.3) & ~marker_mask(frames[[0, -1]]).any(0)
        diff = np.abs(frames[0].astype(int) - frames[-1].astype(int)).max(-1)[background]
        changed = np.mean(diff > 12)
        if scene.camera.moves:
            assert changed > 0.15, (scene.scene_id, scene.camera.motion, changed)
        else:
            assert changed < 0.06, (scene.scene_id, changed)


# -- labels against pixels -------------------------------------------------------------------


def _still_twin(scene, name: str):
    """The same clip with `name` frozen at its start position."""
    objects = tuple(
        replace(o, motion=replace(o.motion, end=o.motion.start)) if o.name == name else o
        for o in scene.objects
    )
    return replace(scene, objects=objects)


def _render_video(scene, path: Path) -> np.ndarray:
    """Render and encode a (modified) scene through the same H.264 path, then decode it."""
    from vlm4d_tasks.probe.render import render_clip

    render_clip(scene, path)
    return decode(path)


def _pixel_direction(probe: ProbeSet, record: Record, name: str, scene) -> str:
    colour = colour_of(name)
    track = probe.track(record.video, colour)
    if scene.camera.moves:
        # Compare with the object frozen in place under the same camera path at the end.
        still = _render_video(_still_twin(scene, name), probe.root / "counterfactual.mp4")
        ref = Track(still, colour)
        # The latest frame where both are whole: the frozen one may leave the picture.
        whole = np.nonzero(~ref.on_border & ~track.on_border & (ref.area > 0) & (track.area > 0))[0]
        k = int(whole[-1])
        assert k >= 0.45 * (scene.n_frames - 1), (record.question_id, name, k)
        u0, a0, u1, a1 = ref.cx[k], ref.area[k], track.cx[k], track.area[k]
    else:
        u0, a0, u1, a1 = track.cx[0], track.area[0], track.cx[-1], track.area[-1]
    assert min(a0, a1) > 20, (record.question_id, name, a0, a1)
    label, _ = motion_from_pixels(u0, a0, u1, a1, scene.width, scene.camera.hfov)
    return label


@pytest.mark.slow
def test_camera_frame_directions_match_pixels(probe):
    checked = 0
    for record, label, scene in probe.questions("direction_camera"):
        name = target_of(record, label)
        seen = _pixel_direction(probe, record, name, scene)
        assert seen == CAMERA_WORDS[record.answer_text], (
            record.question_id,
            scene.camera.motion,
            name,
            seen,
            record.answer_text,
        )
        checked += 1
    assert checked >= 6


@pytest.mark.slow
def test_own_frame_directions_match_pixels(probe):
    checked = 0
    for record, label, scene in probe.questions("direction_object"):
        name = target_of(record, label)
        track = probe.track(record.video, colour_of(name))
        stripe_share = track.marker_area / np.maximum(track.area, 1)
        faces = "towards" if np.median(stripe_share) > 0.03 else "away"
        assert np.all(stripe_share > 0.03) or np.all(stripe_share < 0.01), (
            record.question_id,
            stripe_share,
        )
        seen = _pixel_direction(probe, record, name, scene)
        own = "still" if seen == "still" else OWN_FROM_CAMERA[faces][seen]
        assert own == OWN_WORDS[record.answer_text], (
            record.question_id,
            faces,
            seen,
            record.answer_text,
        )
        checked += 1
    assert checked >= 3


def _stripe_velocity(track: Track) -> np.ndarray:
    """Frame-to-frame motion of the stripe across the object (object widths per frame), over
    frames where the stripe shows in both; NaN elsewhere. Seen from above, a clockwise turn
    carries the camera-facing side from right to left, so it is negative."""
    dx = np.diff(track.marker_dx)
    return np.where(np.isfinite(dx), dx, np.nan)


@pytest.mark.slow
def test_rotation_sense_matches_pixels(probe):
    checked = 0
    for record, label, scene in probe.questions("rotation"):
        name = target_of(record, label)
        answer = record.answer_text
        if answer == "not rotating" and scene.camera.moves:
            continue  # an arcing camera makes a still object seem to turn: checked on its twin
        track = probe.track(record.video, colour_of(name))
        v = _stripe_velocity(track)
        if answer == "not rotating":
            assert np.nanmax(np.abs(v), initial=0) < 0.05, (record.question_id, v)
            checked += 1
            continue
        # Velocity i spans frames i and i+1; drop those next to the turning point (mid-clip).
        middle = (scene.n_frames - 1) / 2
        centre = np.arange(len(v)) + 0.5
        halves = {
            "first": v[centre < middle - 1 + 1e-9],
            "second": v[centre > middle + 1 - 1e-9],
        }
        signs = {k: np.sign(h[np.isfinite(h) & (np.abs(h) > 0.01)]) for k, h in halves.items()}
        everything = np.concatenate(list(signs.values()))
        if answer in ("clockwise", "counter-clockwise"):
            expected = -1 if answer == "clockwise" else 1
            assert len(everything) >= 2 and np.mean(everything == expected) >= 0.75, (
                record.question_id,
                v,
            )
        else:
            first = -1 if answer.startswith("clockwise") else 1
            for half, sign in (("first", first), ("second", -first)):
                s = signs[half]
                assert len(s) >= 1 and np.mean(s == sign) >= 0.75, (record.question_id, half, v)
        checked += 1
    assert checked >= 3


@pytest.mark.slow
def test_counts_match_pixels(probe):
    checked = 0
    for record, label, scene in probe.questions("count_"):
        name = target_of(record, label)
        frames = probe.frames(record.video)
        track = probe.track(record.video, colour_of(name))
        expected = int(record.answer_text)
        if label["kind"] == "count_bounces":
            # Floor contacts are the lowest points of the object in the image (largest y).
            bottom = track.cy + np.sqrt(track.area) / 2
            seen = count_peaks(bottom, prominence=0.25 * (np.nanmax(bottom) - np.nanmin(bottom)))
        elif label["kind"] == "count_turns":
            seen = runs(track.marker_area / np.maximum(track.area, 1) > 0.02)
        else:
            reference = label["facts"]["reference"]
            assert f"the {reference}" in record.question
            ref = probe.track(record.video, colour_of(reference))
            # Use the reference's centre only where it is not hidden behind the mover.
            clear = ref.area >= 0.8 * ref.area.max()
            ref_x = np.interp(np.arange(len(frames)), np.nonzero(clear)[0], ref.cx[clear])
            side = np.sign(track.cx - ref_x)
            seen = int(np.count_nonzero(side[1:] != side[:-1]))
        assert seen == expected, (
            record.question_id,
            label["kind"],
            scene.camera.motion,
            seen,
            expected,
        )
        checked += 1
    assert checked >= 3


@pytest.mark.slow
def test_false_positive_objects_are_absent(probe):
    checked = 0
    for record, label, scene in probe.questions("absent_"):
        name = label["target"]
        assert record.answer_text == f"there is no {name} in the video"
        assert f"the {name}" in record.question
        assert name not in {o["name"] for o in probe.scene_label[scene.scene_id]["objects"]}
        colour = colour_of(name)
        if all(o.colour != colour for o in scene.objects):
            share = colour_mask(probe.frames(record.video), colour).mean()
            assert share < 2e-4, (record.question_id, name, share)
        checked += 1
    assert checked >= 1


# -- determinism, fast path, CLI -------------------------------------------------------------

SMALL = {"width": 160, "height": 120, "fps": 8, "seconds": 2.0}


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _generate_in_subprocess(out: Path, seed: int, jobs: int, hash_seed: str) -> None:
    """`vlm4d generate-probe` in a fresh interpreter with its own PYTHONHASHSEED."""
    cmd = [sys.executable, "-m", "vlm4d_tasks.cli", "generate-probe", "--out", str(out)]
    cmd += ["--n-scenes", "6", "--seed", str(seed), "--jobs", str(jobs), "--quiet"]
    cmd += ["--width", "160", "--height", "120", "--fps", "8", "--seconds", "2"]
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr


@pytest.mark.subprocess
def test_same_seed_gives_identical_bytes_in_any_process(tmp_path):
    # Separate processes, hash seeds and job counts: the 6 scenes include moving cameras,
    # whose clips libx264's macroblock tree once encoded differently from run to run.
    runs = {"a": (5, 1, "0"), "b": (5, 2, "1"), "c": (5, 1, "12345"), "d": (6, 1, "0")}
    for name, (seed, jobs, hash_seed) in runs.items():
        _generate_in_subprocess(tmp_path / name, seed, jobs, hash_seed)
    a, b, c, d = (_digest(tmp_path / x) for x in "abcd")
    assert len(a) == 6 + 3 + 1  # the clips, the three annotation files, the marker
    assert a == b == c
    assert a != d and a.keys() == d.keys()


@pytest.mark.subprocess
def test_cli_writes_a_loadable_probe_set(tmp_path):
    out = tmp_path / "probe"
    summary = tmp_path / "summary.json"
    cmd = [
        sys.executable,
        "-m",
        "vlm4d_tasks.cli",
        "generate-probe",
        "--out",
        str(out),
        "--n-scenes",
        "3",
    ]
    cmd += ["--width", "160", "--height", "120", "--fps", "8", "--seconds", "2", "--seed", "2"]
    cmd += ["--quiet", "--json", str(summary)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "s per clip" in done.stdout
    records = load_probe_records(out)
    official = json.loads((out / MC_FILE).read_text())
    assert [r.question_id for r in records] == [e["id"] for e in official]
    assert sorted(p.name for p in (out / "videos_probe").iterdir()) == [
        f"scene_000{i}.mp4" for i in (1, 2, 3)
    ]
    stats = json.loads(summary.read_text())
    assert stats["n_scenes"] == 3 and len(stats["seconds_per_clip"]) == 3

    bad_cmd = cmd[:5] + [str(tmp_path / "x"), "--width", "161", "--quiet"]
    bad = subprocess.run(bad_cmd, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "even" in bad.stderr.splitlines()[-1]


def test_load_probe_records_names_file_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="probe_records.jsonl"):
        load_probe_records(tmp_path)
    (tmp_path / "probe_records.jsonl").write_text('{"question_id": "probe_0001"}\n')
    with pytest.raises(ValueError, match=r"probe_records.jsonl:1 \(probe_0001\): missing field"):
        load_probe_records(tmp_path)


# -- geometry conventions on hand-built scenes -----------------------------------------------


def _scene(objects, camera=None, n_frames=24):
    from vlm4d_tasks.probe.scene import CameraPath, Scene

    camera = camera or CameraPath("static", (0.0, 0.0), (0.0, 0.0), 0.0, 0.0)
    return Scene("hand", 320, 180, 12, n_frames, camera, tuple(objects))


def test_labels_follow_the_stated_conventions():
    from vlm4d_tasks.probe import questions as q
    from vlm4d_tasks.probe.scene import CameraPath, Motion, SceneObject

    east = SceneObject("cube", "red", 0.8, Motion((-1.0, 6.0), (1.0, 6.0), heading0=180.0))
    scene = _scene([east])
    # The camera looks north; +x (east) is its right. Facing the camera (heading 180, south),
    # the cube's own right is west, so moving east is moving to its own left.
    assert q.camera_direction(scene, "red cube") == "right"
    assert q.apparent_direction(scene, "red cube") == "right"
    assert q.own_direction(scene, "red cube") == "left"
    assert q.facing(scene, "red cube") == "towards"

    still = SceneObject("sphere", "blue", 0.8, Motion((0.0, 6.0), (0.0, 6.0)))
    pan = CameraPath("pan", (0.0, 0.0), (0.0, 0.0), 0.0, -20.0)  # turns left (west)
    panned = _scene([still], pan)
    assert q.camera_direction(panned, "blue sphere") == "still"
    # ... but it slides to the right across the picture: the trap.
    assert q.apparent_direction(panned, "blue sphere") == "right"
    walk = CameraPath("walk", (0.0, 0.0), (0.0, 2.0), 0.0, 0.0)
    assert q.apparent_direction(_scene([still], walk), "blue sphere") == "towards"

    spin = SceneObject(
        "cone", "green", 0.8, Motion((0, 6), (0, 6), heading0=0.0, spin=400.0, spin_mode="constant")
    )
    back = SceneObject(
        "cone", "green", 0.8, Motion((0, 6), (0, 6), spin=-300.0, spin_mode="reverse")
    )
    assert q.rotation_sense(_scene([spin]), "green cone") == "cw"  # heading grows: north -> east
    assert q.count_turns(_scene([spin]), "green cone") == 1
    assert q.rotation_sense(_scene([back]), "green cone") == "ccw_cw"
    hop = SceneObject("sphere", "yellow", 0.8, Motion((0, 6), (0, 6), bounces=3, bounce_height=0.7))
    assert q.count_bounces(_scene([hop]), "yellow sphere") == 3

    mover = SceneObject(
        "cube", "red", 0.7, Motion((-1.2, 5.0), (1.2, 5.0), path="oscillate", cycles=3)
    )
    post = SceneObject("cylinder", "blue", 0.7, Motion((0.0, 7.5), (0.0, 7.5)))
    assert q.count_passes(_scene([mover, post]), "red cube", "blue cylinder") == 3
    assert q.image_crossings(_scene([mover, post]), "red cube", "blue cylinder") == 3


def test_ambiguous_directions_are_refused():
    from vlm4d_tasks.probe import questions as q
    from vlm4d_tasks.probe.scene import CameraPath, Motion, SceneObject

    diagonal = SceneObject("cube", "red", 0.8, Motion((0.0, 6.0), (1.0, 7.0)))  # 45 degrees
    assert q.camera_direction(_scene([diagonal]), "red cube") is None
    sideways = SceneObject("cube", "red", 0.8, Motion((0.0, 6.0), (2.0, 6.6)))  # 73 degrees
    assert q.camera_direction(_scene([sideways]), "red cube") == "right"
    # A camera that turns 40 degrees right makes the same motion half "away".
    turn = CameraPath("turn", (0.0, 0.0), (0.0, 0.5), 0.0, 40.0)
    assert q.camera_direction(_scene([sideways], turn), "red cube") is None


# -- the pair diagnostic ---------------------------------------------------------------------


def test_diagnosis_separates_an_oracle_from_a_camera_fooled_model():
    from vlm4d_tasks.probe.diagnose import diagnose, to_markdown
    from vlm4d_tasks.probe.questions import CAMERA_DIRECTIONS

    plan = plan_probe(ProbeSettings(n_scenes=60, seed=0, **SMALL))
    records, labels = plan.records, plan.labels
    facts = {q["question_id"]: q for q in labels["questions"]}
    oracle = {r.question_id: r.answer for r in records}
    perfect = diagnose(records, labels, oracle)
    assert perfect.overall.accuracy == 1.0
    n_pairs = sum(
        1 for q in labels["questions"] if q["perspective"] == "exocentric" and q["twin_question_id"]
    )
    assert perfect.pairs == {"both": n_pairs, "static_only": 0, "moving_only": 0, "neither": 0}
    assert perfect.confusion_traps > 0 and perfect.confusion_chose_apparent == 0

    fooled = dict(oracle)
    for r in records:
        f = facts[r.question_id]
        apparent = f["facts"].get("apparent")
        if r.perspective == "egocentric" and apparent and apparent != f["facts"]["label"]:
            if CAMERA_DIRECTIONS[apparent] in r.options:
                fooled[r.question_id] = LETTERS[r.options.index(CAMERA_DIRECTIONS[apparent])]
    d = diagnose(records, labels, fooled)
    assert d.confusion_rate == 1.0
    assert d.pairs["static_only"] == d.confusion_traps and d.pairs["moving_only"] == 0
    ego = d.by_category_perspective["translational/egocentric"].accuracy
    exo = d.by_category_perspective["translational/exocentric"].accuracy
    assert exo == 1.0 and ego < 1.0
    assert "Camera-motion confusion" in to_markdown(d)

    silent = diagnose(records, labels, dict.fromkeys(oracle))
    assert silent.unanswered == len(records) and silent.overall.correct == 0
    partial = diagnose(records, labels, {records[0].question_id: records[0].answer})
    assert partial.overall.total == 1 and partial.notes
    with pytest.raises(ValueError, match="not one of"):
        diagnose(records, labels, {records[0].question_id: "E"})
    with pytest.raises(KeyError):
        diagnose(records, labels, {"probe_9999": "A"})
