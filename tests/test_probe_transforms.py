"""The probe set as the check of the consistency transformations (mirror, reverse).

A probe clip mirrored or reversed frame by frame (``validity.clips.transformed_clip``) must
show what the renderer shows for the mirrored or time-reversed scene
(``probe.transform.mirror_scene`` / ``reverse_scene``), and the question transformations
(``validity.transforms.mirror`` / ``reverse``) must give the answers that the generator's own
label functions (``probe.questions``) give on that scene.

What a fair pixel comparison is:

- Reverse: the renderer draws frame k from the scene's state at time k / (n - 1), so the
  reversed scene's raw frames are the original's in reverse order, pixel for pixel; the
  reversed clip and the rendered reversed scene differ only by compression (one more H.264
  generation for the transformed clip), a mean absolute difference of about 2 (0-255) per
  frame here, against 13-29 for the unreversed clip.
- Mirror: the renderer keeps the floor and wall textures and the light in world coordinates,
  so the rendered mirrored scene has the mirrored geometry on an unmirrored floor (the checker
  swaps colours under x -> -x) lit from the other side. Two comparisons are fair. (1) The
  objects, as the pixels show them: every object's mask (found by the hue of its colour name;
  floor, walls and sky are unsaturated) in the mirrored clip against the rendered mirrored
  scene, overlap and column of the centre; shading changes brightness, not hue. (2) The whole
  frame in a symmetric world: with the light's east-west component removed and uniform floor
  and wall textures (the renderer's module-level light and texture functions patched), the
  raw frames of the mirrored scene are the original's flipped pixel for pixel, and the clips
  agree up to compression.
- Geometry, without pixels: ``scene.screen_boxes`` of the mirrored scene are the original's
  boxes at W - u, and of the reversed scene the original's in reverse frame order.

The label check relabels every generated question on the transformed scene with the
generator's own question functions and compares the answer text with what the record
transformation gives; a record the transformation drops (None) is skipped and counted.
"""

from __future__ import annotations

import colorsys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

from vlm4d_tasks.data.schema import LETTERS, Record  # noqa: E402
from vlm4d_tasks.probe import questions as q  # noqa: E402
from vlm4d_tasks.probe import render  # noqa: E402
from vlm4d_tasks.probe.generate import ProbeSettings, plan_probe  # noqa: E402
from vlm4d_tasks.probe.render import FrameRenderer, render_clip  # noqa: E402
from vlm4d_tasks.probe.sampling import MOVING_CAMERAS  # noqa: E402
from vlm4d_tasks.probe.scene import (  # noqa: E402
    COLOURS,
    CameraPath,
    Motion,
    Scene,
    SceneObject,
    screen_boxes,
)
from vlm4d_tasks.probe.transform import mirror_scene, reverse_scene  # noqa: E402
from vlm4d_tasks.validity import transforms  # noqa: E402
from vlm4d_tasks.validity.clips import transformed_clip  # noqa: E402
from vlm4d_tasks.video.sampler import all_frames, sample  # noqa: E402

SMALL = {"width": 224, "height": 128, "fps": 8, "seconds": 2.0}
PIXEL_SEED, PIXEL_SCENES = 0, 22
# Seeds whose 30 scenes hold every motion the generator makes: oscillations with an odd and
# an even number of legs, and both there-and-back spins (clockwise first, counter-clockwise
# first). Planning needs no rendering: about 0.2 s a seed.
LABEL_SEEDS = (0, 1, 4, 7)
LABEL_SCENES = 30
# Per-frame mean absolute difference (0-255) between two clips that should show the same
# frames, each compressed on its own: measured 1.1-2.3; a wrong frame order or an unmirrored
# clip gives 6-29.
CLIP_MAD = 4.0
# Object masks: overlap (intersection over union) and centre column (pixels) between the
# mirrored clip and the rendered mirrored scene; measured >= 0.90 and <= 0.8 px (an
# unmirrored clip: overlap 0). Masks of fewer pixels than MIN_MASK (an object mostly hidden
# behind another; objects in view cover 300-2000 pixels here) are compared by size only.
MIN_IOU, MAX_CENTRE_DX, MIN_MASK = 0.8, 1.5, 100


def hue_of(colour: str) -> float:
    return 360.0 * colorsys.rgb_to_hsv(*(c / 255 for c in COLOURS[colour]))[0]


def object_mask(frames: np.ndarray, colour: str) -> np.ndarray:
    """Pixels of a saturated colour near the hue of ``colour`` (T, H, W)."""
    x = frames.astype(np.float32) / 255.0
    mx, mn = x.max(-1), x.min(-1)
    d = np.maximum(mx - mn, 1e-6)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    hue = 60 * np.where(
        mx == r, ((g - b) / d) % 6, np.where(mx == g, (b - r) / d + 2, (r - g) / d + 4)
    )
    saturation = (mx - mn) / np.maximum(mx, 1e-6)
    off = np.abs((hue - hue_of(colour) + 180) % 360 - 180)
    return (off < 12) & (saturation > 0.45) & (mx > 0.2)


def decoded(path: Path) -> np.ndarray:
    return sample(path, all_frames()).frames


def raw_frames(scene: Scene) -> np.ndarray:
    renderer = FrameRenderer(scene)
    return np.stack([renderer.frame(k) for k in range(scene.n_frames)])


def per_frame_mad(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b).mean(axis=(1, 2, 3))


def symmetric_world(patch: pytest.MonkeyPatch) -> None:
    """Make the renderer's world symmetric under x -> -x: light without an east-west
    component, one floor colour, plain walls. Only appearance changes, no geometry."""
    light = np.array([0.0, 1.0, -0.6])
    patch.setattr(render, "LIGHT", light / np.linalg.norm(light))
    size = render.TEX_SIZE
    patch.setattr(render, "floor_texture", lambda kind, seed: np.zeros((size, size), np.float32))
    patch.setattr(render, "wall_texture", lambda: np.ones((size, size), np.float32))


def pixel_scenes() -> list[Scene]:
    """A few generated scenes that together hold every moving camera, an oscillating object
    and a there-and-back spin (asserted, so that a generator change cannot lose them)."""
    plan = plan_probe(ProbeSettings(n_scenes=PIXEL_SCENES, seed=PIXEL_SEED, jobs=1, **SMALL))
    chosen: dict[str, Scene] = {}
    for scene in plan.scenes:
        paths = {o.motion.path for o in scene.objects}
        spins = {o.motion.spin_mode for o in scene.objects}
        for need, ok in [
            (scene.camera.motion, scene.camera.moves),
            ("oscillate", "oscillate" in paths),
            ("there-and-back spin", "reverse" in spins),
        ]:
            if ok and need not in chosen:
                chosen[need] = scene
    assert set(chosen) == {*MOVING_CAMERAS, "oscillate", "there-and-back spin"}, sorted(chosen)
    unique = {scene.scene_id: scene for scene in chosen.values()}
    return [unique[k] for k in sorted(unique)]


@dataclass
class Rendered:
    scene: Scene
    source: Path  # the scene rendered
    mirrored: Path  # mirror_scene rendered
    reversed: Path  # reverse_scene rendered
    mirrored_clip: Path  # transformed_clip(source, "mirror")
    reversed_clip: Path  # transformed_clip(source, "reverse")
    symmetric_source: Path  # the scene rendered in the symmetric world
    symmetric_mirrored: Path  # mirror_scene rendered in the symmetric world
    symmetric_mirrored_clip: Path  # transformed_clip(symmetric_source, "mirror")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> list[Rendered]:
    root = tmp_path_factory.mktemp("probe-transforms")
    cache = root / "cache"
    out = []
    for scene in pixel_scenes():
        paths = {
            name: root / f"{scene.scene_id}-{name}.mp4"
            for name in ("source", "mirrored", "reversed", "symmetric_source", "symmetric_mirrored")
        }
        render_clip(scene, paths["source"])
        render_clip(mirror_scene(scene), paths["mirrored"])
        render_clip(reverse_scene(scene), paths["reversed"])
        with pytest.MonkeyPatch.context() as patch:
            symmetric_world(patch)
            render_clip(scene, paths["symmetric_source"])
            render_clip(mirror_scene(scene), paths["symmetric_mirrored"])
        out.append(
            Rendered(
                scene=scene,
                mirrored_clip=transformed_clip(paths["source"], "mirror", cache),
                reversed_clip=transformed_clip(paths["source"], "reverse", cache),
                symmetric_mirrored_clip=transformed_clip(
                    paths["symmetric_source"], "mirror", cache
                ),
                **paths,
            )
        )
    return out


def label_plans():
    for seed in LABEL_SEEDS:
        yield seed, plan_probe(ProbeSettings(n_scenes=LABEL_SCENES, seed=seed, jobs=1, **SMALL))


@pytest.fixture(scope="module")
def plans():
    return list(label_plans())


# -- geometry ----------------------------------------------------------------------------------


def test_screen_boxes_of_the_transformed_scenes(plans):
    for _, plan in plans:
        for scene in plan.scenes:
            box = screen_boxes(scene)
            mirrored = screen_boxes(mirror_scene(scene))
            assert np.allclose(mirrored["u0"], scene.width - box["u1"], atol=1e-9)
            assert np.allclose(mirrored["u1"], scene.width - box["u0"], atol=1e-9)
            for key in ("v0", "v1", "depth"):
                assert np.allclose(mirrored[key], box[key], atol=1e-9), (scene.scene_id, key)
            backwards = screen_boxes(reverse_scene(scene))
            for key in box:
                assert np.allclose(backwards[key], box[key][:, ::-1], atol=1e-9), scene.scene_id


# Every path and spin the scene model has, for the reversal of each (the generator draws odd
# oscillations, but the model allows any number of legs).
_MOTIONS = [
    Motion((-1.0, 5.0), (1.5, 6.5)),
    Motion((-1.0, 5.0), (1.0, 5.0), path="oscillate", cycles=3, heading0=170.0),
    Motion((-1.0, 5.0), (1.0, 5.0), path="oscillate", cycles=2),
    Motion((0.5, 6.0), (0.5, 6.0), heading0=30.0, spin=-410.0, spin_mode="constant"),
    Motion((0.5, 6.0), (0.5, 6.0), heading0=-20.0, spin=280.0, spin_mode="reverse"),
    Motion((0.0, 6.0), (0.4, 6.0), heading0=10.0, bounces=3, bounce_height=0.7),
]


def _hand_made_scene() -> Scene:
    shapes = ("cube", "sphere", "cylinder", "cone", "cube", "sphere")
    return Scene(
        scene_id="hand_made",
        width=160,
        height=96,
        fps=8,
        n_frames=17,
        camera=CameraPath("turn", (0.2, 0.0), (-0.3, 1.0), yaw0=4.0, yaw1=-11.0),
        objects=tuple(
            SceneObject(shape, colour, 0.8, motion)
            for shape, colour, motion in zip(shapes, sorted(COLOURS), _MOTIONS, strict=True)
        ),
    )


def test_transformed_trajectories_are_the_mirror_image_and_the_time_reversal(plans):
    s = np.linspace(0.0, 1.0, 401)
    scenes = [_hand_made_scene()] + [scene for _, plan in plans for scene in plan.scenes]
    for scene in scenes:
        mirrored, backwards = mirror_scene(scene), reverse_scene(scene)
        cx, cz, yaw = scene.camera.state(s)
        mx, mz, myaw = mirrored.camera.state(s)
        assert np.allclose([mx, mz, myaw], [-cx, cz, -yaw], atol=1e-9)
        assert np.allclose(backwards.camera.state(s), scene.camera.state(1.0 - s), atol=1e-9)
        for obj, m, r in zip(scene.objects, mirrored.objects, backwards.objects, strict=True):
            x, y, z, heading = obj.motion.state(s)
            assert (m.shape, m.colour, m.size) == (obj.shape, obj.colour, obj.size)
            assert np.allclose(m.motion.state(s), [-x, y, z, -heading], atol=1e-9), obj
            assert np.allclose(r.motion.state(s), obj.motion.state(1.0 - s), atol=1e-9), obj
        # Mirroring twice is the identity, field for field; reversing twice up to rounding.
        assert mirror_scene(mirrored) == scene
        twice = reverse_scene(backwards)
        for obj, back in zip(scene.objects, twice.objects, strict=True):
            assert np.allclose(back.motion.state(s), obj.motion.state(s), atol=1e-9)
    static = next(scene for _, plan in plans for scene in plan.scenes if not scene.camera.moves)
    assert mirror_scene(static).camera == static.camera  # x = 0 is its own vertical plane


def test_an_unknown_motion_cannot_be_reversed():
    scene = _hand_made_scene()
    odd = replace(scene.objects[0], motion=replace(_MOTIONS[0], path="spiral"))
    with pytest.raises(ValueError, match=r"cube: cannot reverse motion path 'spiral'"):
        reverse_scene(replace(scene, objects=(odd,)))


# -- pixels ------------------------------------------------------------------------------------


def test_reversed_scene_renders_the_frames_in_reverse_order(rendered):
    for item in rendered:
        original = raw_frames(item.scene)
        backwards = raw_frames(reverse_scene(item.scene))
        # The same state up to float rounding of the times: allow a stray pixel, no more.
        differing = np.count_nonzero(np.any(backwards != original[::-1], axis=-1))
        assert differing <= 1e-4 * original[..., 0].size, item.scene.scene_id


def test_reversed_clip_matches_the_rendered_reversed_scene(rendered):
    contrasts = 0
    for item in rendered:
        clip, scene_clip = decoded(item.reversed_clip), decoded(item.reversed)
        assert clip.shape == scene_clip.shape
        assert per_frame_mad(clip, scene_clip).max() < CLIP_MAD, item.scene.scene_id
        # Not trivially so: played forwards, the clip is far from the reversed scene (unless
        # the scene is its own reversal, e.g. a static camera on a there-and-back spin).
        forwards = per_frame_mad(decoded(item.source), scene_clip).max()
        if forwards > 2 * CLIP_MAD:
            contrasts += 1
    assert contrasts >= len(rendered) - 1


def test_mirrored_clip_shows_every_object_where_the_mirrored_scene_has_it(rendered):
    checked = 0
    for item in rendered:
        clip, scene_clip = decoded(item.mirrored_clip), decoded(item.mirrored)
        assert clip.shape == scene_clip.shape
        for obj in item.scene.objects:
            got, want = object_mask(clip, obj.colour), object_mask(scene_clip, obj.colour)
            for k in range(len(clip)):
                where = f"{item.scene.scene_id} {obj.name} frame {k}"
                n_got, n_want = int(got[k].sum()), int(want[k].sum())
                if max(n_got, n_want) < MIN_MASK:
                    # Mostly hidden behind another object: a few pixels, which compression
                    # blurs; both clips must still agree that it is (almost) out of sight.
                    assert abs(n_got - n_want) < MIN_MASK / 2, where
                    continue
                union = np.count_nonzero(got[k] | want[k])
                assert np.count_nonzero(got[k] & want[k]) / union >= MIN_IOU, where
                centre_got = np.nonzero(got[k])[1].mean()
                centre_want = np.nonzero(want[k])[1].mean()
                assert abs(centre_got - centre_want) <= MAX_CENTRE_DX, where
                checked += 1
    assert checked > 100


def test_in_a_symmetric_world_the_mirrored_scene_is_the_mirrored_frames(rendered):
    for item in rendered:
        with pytest.MonkeyPatch.context() as patch:
            symmetric_world(patch)
            original = raw_frames(item.scene)
            mirrored = raw_frames(mirror_scene(item.scene))
        differing = np.count_nonzero(np.any(mirrored != original[:, :, ::-1], axis=-1))
        assert differing <= 1e-4 * original[..., 0].size, item.scene.scene_id
        clip, scene_clip = decoded(item.symmetric_mirrored_clip), decoded(item.symmetric_mirrored)
        assert per_frame_mad(clip, scene_clip).max() < CLIP_MAD, item.scene.scene_id
        # Not trivially so: the unmirrored clip is far from the mirrored scene.
        assert per_frame_mad(decoded(item.symmetric_source), scene_clip).max() > CLIP_MAD


# -- labels ------------------------------------------------------------------------------------

# What each transformation does to the generator's labels: the scene-level statement of the
# word swaps the record transformations make.
_MIRRORED_LABEL = {"left": "right", "right": "left", "cw": "ccw", "ccw": "cw"}
_MIRRORED_LABEL |= {"cw_ccw": "ccw_cw", "ccw_cw": "cw_ccw"}
_REVERSED_LABEL = {"left": "right", "right": "left", "towards": "away", "away": "towards"}
# Played backwards, "clockwise, then back" is again clockwise first: the second half's
# counter-clockwise return, run backwards, is a clockwise turn, and it now comes first.
_REVERSED_LABEL |= {"forward": "backward", "backward": "forward", "cw": "ccw", "ccw": "cw"}


def _scene_labels(scene: Scene, apparent: bool) -> dict[str, object]:
    labels: dict[str, object] = {}
    for obj in scene.objects:
        labels[f"camera {obj.name}"] = q.camera_direction(scene, obj.name)
        if apparent:
            labels[f"apparent {obj.name}"] = q.apparent_direction(scene, obj.name)
        labels[f"own {obj.name}"] = q.own_direction(scene, obj.name)
        labels[f"rotation {obj.name}"] = q.rotation_sense(scene, obj.name)
        labels[f"bounces {obj.name}"] = q.count_bounces(scene, obj.name)
        labels[f"turns {obj.name}"] = q.count_turns(scene, obj.name)
    return labels


# `apparent_direction` (the diagnosis of what the image alone suggests, never an asked label)
# is left out for reverse: it measures approach as depth_end / depth_start - 1, which is not
# antisymmetric in time, so near its "still" threshold a reversed clip can read "still" where
# the original reads "away" (seen in 4 of 120 scenes). Mirroring keeps it exactly.
@pytest.mark.parametrize(
    "transform, swap, apparent",
    [(mirror_scene, _MIRRORED_LABEL, True), (reverse_scene, _REVERSED_LABEL, False)],
    ids=["mirror", "reverse"],
)
def test_generator_labels_on_transformed_scenes_are_the_swapped_labels(
    plans, transform, swap, apparent
):
    seen: Counter[str] = Counter()
    for _, plan in plans:
        for scene in plan.scenes:
            before = _scene_labels(scene, apparent)
            after = _scene_labels(transform(scene), apparent)
            expected = {
                key: swap.get(value, value) if isinstance(value, str) else value
                for key, value in before.items()
            }
            assert after == expected, scene.scene_id
            seen.update(v for v in before.values() if isinstance(v, str))
    # The swaps were exercised, not vacuous.
    assert {"left", "right", "towards", "away", "cw", "ccw", "forward", "backward"} <= set(seen)
    assert seen["cw_ccw"] and seen["ccw_cw"]


def _relabel(scene: Scene, label: dict) -> q.Draft:
    """The generator's draft of the same question (kind, object) asked about ``scene``."""
    rng = np.random.default_rng(0)  # only the distractors depend on it
    kind, target = label["kind"], label["target"]
    if kind == "direction_camera":
        return q.direction_question(rng, scene, target, False)
    if kind == "direction_object":
        return q.own_direction_question(rng, scene, target)
    if kind == "rotation":
        return q.rotation_question(rng, scene, target, False)
    if kind.startswith("count_"):
        reference = label["facts"].get("reference")
        return q.count_question(rng, scene, kind.removeprefix("count_"), target, reference)
    if kind.startswith("absent_"):
        return q.false_positive_question(rng, kind.removeprefix("absent_"), target)
    raise AssertionError(f"{label['question_id']}: unknown question kind {kind!r}")


def _describe(record: Record) -> str:
    return (
        f"{record.question_id} {record.question!r} options {record.options} answer {record.answer}"
    )


@pytest.mark.parametrize("name", ["mirror", "reverse"])
def test_record_transformations_give_the_labels_of_the_transformed_scene(plans, name):
    record_transform = getattr(transforms, name)
    scene_transform = {"mirror": mirror_scene, "reverse": reverse_scene}[name]
    kept: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    disagreements = []
    for seed, plan in plans:
        scenes = {scene.scene_id: scene_transform(scene) for scene in plan.scenes}
        labels = {label["question_id"]: label for label in plan.labels["questions"]}
        for record in plan.records:
            label = labels[record.question_id]
            out = record_transform(record)
            if out is None:
                dropped[f"{label['kind']}: {transforms.transform_rule(record, name)}"] += 1
                continue
            kept[label["kind"]] += 1
            want = _relabel(scenes[label["scene_id"]], label)
            problems = []
            if out.answer_text != want.correct:
                problems.append(f"answer {out.answer_text!r}, the scene says {want.correct!r}")
            if (
                out.answer not in LETTERS
                or out.options[LETTERS.index(out.answer)] != out.answer_text
            ):
                problems.append(f"letter {out.answer} is not the answer text {out.answer_text!r}")
            if out.question != want.question:
                problems.append(f"question {out.question!r}, the generator asks {want.question!r}")
            if len(set(out.options)) != 4:
                problems.append(f"options {out.options} are not four distinct texts")
            if problems:
                disagreements.append(
                    f"seed {seed} {label['kind']} {_describe(record)} -> {_describe(out)}: "
                    + "; ".join(problems)
                )
    report = "\n".join(disagreements)
    assert not disagreements, f"{len(disagreements)} disagreements:\n{report}"
    assert sum(kept.values()) > 0, f"{name} dropped every question: {dict(dropped)}"
    print(f"{name}: kept {dict(kept)}; dropped {dict(dropped)}")  # shown with pytest -s
