"""Random scene pairs for the probe set: one object story seen by a static camera and by a
moving one.

The pair isolates perspective, the paper's central finding (models confuse camera motion
with object motion): both clips hold the same objects on the same 3D trajectories, only the
camera differs (exocentric: static; egocentric: panning, walking, sliding, turning or arcing).
Draws are rejected until every object stays in view and apart, and every label the story
asks about is unambiguous for both cameras (see `questions`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from vlm4d_tasks.probe import questions as q
from vlm4d_tasks.probe.config import MOVING_CAMERAS as MOVING_CAMERAS  # where callers look
from vlm4d_tasks.probe.config import GeneratorConfig
from vlm4d_tasks.probe.scene import (
    ABSENT_SHAPES,
    CameraPath,
    Motion,
    Scene,
    SceneObject,
    screen_boxes,
)

KINDS: tuple[str, ...] = ("translate", "rotate", "count")
COUNT_KINDS: tuple[str, ...] = ("bounces", "turns", "passes")
DEFAULT = GeneratorConfig()
MAX_TRIES = 400


@dataclass(frozen=True)
class Story:
    """What a pair of scenes is about, i.e. which questions to ask."""

    kind: str  # translate | rotate | count
    target: str
    count_kind: str | None = None
    reference: str | None = None  # the object passed in front of ("passes")
    second: str | None = None  # another object asked about
    absent: str | None = None  # the object named by the false-positive question


@dataclass(frozen=True)
class Geometry:
    width: int
    height: int
    fps: int
    n_frames: int


def count_limit(kind: str, n_frames: int) -> int:
    """Largest count that stays visible at this frame count (a few frames per event)."""
    per_event = 8 if kind == "turns" else 6
    return int(max(1, min(4 if kind != "turns" else 3, n_frames // per_event)))


def _heading_to_camera(x: float, z: float) -> float:
    return math.degrees(math.atan2(0.0 - x, 0.0 - z))


def _linear(rng, direction: str, speed: float = 1.0) -> Motion:
    """A straight path in a camera-frame direction (the static camera looks north)."""
    jitter = math.radians(rng.uniform(-10, 10))
    if direction == "still":
        x, z = rng.uniform(-1.6, 1.6), rng.uniform(4.5, 8.0)
        return Motion((x, z), (x, z))
    if direction in ("left", "right"):
        length = rng.uniform(1.6, 2.4) * speed
        mid = (rng.uniform(-0.7, 0.7), rng.uniform(5.0, 7.5))
        angle = (90.0 if direction == "right" else -90.0) + math.degrees(jitter)
    else:
        length = rng.uniform(2.0, 3.0) * speed
        mid = (rng.uniform(-1.2, 1.2), rng.uniform(5.6, 6.6))
        angle = (0.0 if direction == "away" else 180.0) + math.degrees(jitter)
    dx = math.sin(math.radians(angle)) * length / 2
    dz = math.cos(math.radians(angle)) * length / 2
    return Motion((mid[0] - dx, mid[1] - dz), (mid[0] + dx, mid[1] + dz))


def _still(rng) -> Motion:
    z = rng.uniform(4.5, 8.5)
    x = rng.uniform(-1.0, 1.0) * (0.5 * z - 0.8)
    return Motion((x, z), (x, z), heading0=float(rng.uniform(0, 360)))


def _add_still(rng, objects: list[SceneObject], spec, fits) -> None:
    """Add a still object where it fits beside the others (or leave it out)."""
    for _ in range(30):
        candidate = SceneObject(spec[0], spec[1], spec[2], _still(rng))
        if fits(objects + [candidate]):
            objects.append(candidate)
            return


def _objects(rng, n: int, config: GeneratorConfig) -> list[tuple[str, str, float]]:
    shapes = rng.permutation(config.shapes)[:n]
    colours = rng.permutation(sorted(config.colour_names()))[:n]
    return [
        (str(s), str(c), float(rng.uniform(*config.size)))
        for s, c in zip(shapes, colours, strict=True)
    ]


def _absent_name(rng, objects: list[SceneObject], config: GeneratorConfig) -> str:
    used_colours = {o.colour for o in objects}
    present = {o.name for o in objects}
    if rng.random() < 0.5:
        # A present shape in a colour that is nowhere in the scene: the harder distractor.
        shape = objects[int(rng.integers(len(objects)))].shape
        colour = str(rng.choice(sorted(set(config.colour_names()) - used_colours)))
    else:
        shape = str(rng.choice(ABSENT_SHAPES))
        colour = str(rng.choice(sorted(config.colour_names())))
    name = f"{colour} {shape}"
    assert name not in present
    return name


def _story_objects(
    rng, kind: str, count_kind: str | None, n_frames: int, fits, config: GeneratorConfig
):
    """Objects and the story about them; still extras are placed where `fits` accepts them."""
    with_fp = rng.random() < 0.3
    if kind == "translate":
        n = int(rng.choice([1, 2, 3], p=[0.25, 0.45, 0.3]))
        specs = _objects(rng, n, config)
        direction = str(rng.choice(list(q.CAMERA_DIRECTIONS)))
        facing = rng.choice(["towards", "away"])
        heading = (180.0 if facing == "towards" else 0.0) + rng.uniform(-15, 15)
        objects = [
            SceneObject(
                *specs[0],
                replace(_linear(rng, direction, config.object_speed), heading0=float(heading)),
            )
        ]
        second = None
        if n > 1 and rng.random() < 0.5:
            # A second mover in another direction: answers must bind motion to the object.
            other = str(
                rng.choice([d for d in q.CAMERA_DIRECTIONS if d not in (direction, "still")])
            )
            motion = replace(
                _linear(rng, other, config.object_speed), heading0=float(rng.uniform(0, 360))
            )
            objects.append(SceneObject(*specs[1], motion))
            second = objects[1].name
        for spec in specs[len(objects) :]:
            _add_still(rng, objects, spec, fits)
        if second is None and len(objects) > 1 and rng.random() < 0.4:
            second = objects[1].name  # a still object: "not moving"
        story = Story("translate", objects[0].name, second=second)
    elif kind == "rotate":
        n = int(rng.choice([1, 2, 3], p=[0.3, 0.4, 0.3]))
        specs = _objects(rng, n, config)
        sense = str(rng.choice(list(q.ROTATIONS), p=[0.3, 0.3, 0.16, 0.12, 0.12]))
        x, z = rng.uniform(-1.2, 1.2), rng.uniform(4.5, 7.0)
        heading0 = float(rng.uniform(0, 360))
        if sense in ("cw", "ccw"):
            spin = rng.uniform(300, 600) * config.object_speed * (1 if sense == "cw" else -1)
            mode = "constant"
        elif sense == "none":
            spin, mode = 0.0, "none"
        else:
            spin = rng.uniform(240, 330) * config.object_speed * (1 if sense == "cw_ccw" else -1)
            mode = "reverse"
        objects = [
            SceneObject(
                *specs[0],
                Motion((x, z), (x, z), heading0=heading0, spin=float(spin), spin_mode=mode),
            )
        ]
        for spec in specs[1:]:
            _add_still(rng, objects, spec, fits)
        second = objects[1].name if len(objects) > 1 and rng.random() < 0.3 else None
        story = Story("rotate", objects[0].name, second=second)
    elif count_kind == "passes":
        count = int(rng.integers(1, count_limit(count_kind, n_frames) + 1))
        n = int(rng.choice([2, 3], p=[0.6, 0.4]))
        specs = _objects(rng, n, config)
        xr, zr = rng.uniform(-0.6, 0.6), rng.uniform(6.8, 8.2)
        zm = zr - rng.uniform(1.8, 2.4)
        width = rng.uniform(1.1, 1.5)
        side = 1.0 if rng.random() < 0.5 else -1.0
        mover = Motion(
            (xr - side * width, zm),
            (xr + side * width, zm),
            path="oscillate",
            cycles=count,
            heading0=float(180.0 + rng.uniform(-20, 20)),
        )
        reference = Motion((xr, zr), (xr, zr), heading0=float(rng.uniform(0, 360)))
        objects = [SceneObject(*specs[0], mover), SceneObject(*specs[1], reference)]
        for spec in specs[2:]:
            _add_still(rng, objects, spec, fits)
        story = Story("count", objects[0].name, count_kind="passes", reference=objects[1].name)
    else:
        count = int(rng.integers(1, count_limit(count_kind, n_frames) + 1))
        n = int(rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))
        specs = _objects(rng, n, config)
        x, z = rng.uniform(-1.2, 1.2), rng.uniform(4.8, 7.0)
        if count_kind == "bounces":
            end = (x + rng.uniform(-0.6, 0.6), z) if rng.random() < 0.5 else (x, z)
            height = float(rng.uniform(0.5, 0.9))
            target = Motion(
                (x, z),
                end,
                heading0=float(rng.uniform(0, 360)),
                bounces=count,
                bounce_height=height,
            )
        else:
            sense = 1.0 if rng.random() < 0.5 else -1.0
            # Start facing away from the camera: each full turn then shows the front once.
            heading0 = float(_heading_to_camera(x, z) + 180.0 + rng.uniform(-20, 20))
            target = Motion(
                (x, z),
                (x, z),
                heading0=heading0,
                spin=float(sense * 360.0 * count),
                spin_mode="constant",
            )
        objects = [SceneObject(*specs[0], target)]
        for spec in specs[1:]:
            _add_still(rng, objects, spec, fits)
        story = Story("count", objects[0].name, count_kind=count_kind)
    if with_fp:
        story = replace(story, absent=_absent_name(rng, objects, config))
    return objects, story


def _dress(rng, objects: tuple[SceneObject, ...], config: GeneratorConfig):
    """The objects with their configured RGB and a texture each. Drawn after every geometric
    draw, so textures never change a scene's geometry or questions; with one texture (the
    default) nothing is drawn."""
    own = config.own_colours()
    textures = config.textures
    if len(textures) > 1:
        picks = [textures[int(i)] for i in rng.integers(len(textures), size=len(objects))]
    else:
        picks = [textures[0]] * len(objects)
    return tuple(
        replace(obj, rgb=own.get(obj.colour), texture=texture)
        for obj, texture in zip(objects, picks, strict=True)
    )


def _moving_camera(
    rng, base: CameraPath, motion: str | None = None, config: GeneratorConfig = DEFAULT
) -> CameraPath:
    motion = motion or str(rng.choice(config.camera_motions))
    sign = 1.0 if rng.random() < 0.5 else -1.0
    k = config.camera_speed  # 1.0 leaves every draw as it was: x * 1.0 == x
    if motion == "pan":
        return replace(base, motion=motion, yaw1=sign * rng.uniform(12, 20) * k)
    if motion == "walk":
        return replace(base, motion=motion, end=(0.0, rng.uniform(0.9, 1.6) * k))
    if motion == "truck":
        return replace(base, motion=motion, end=(sign * rng.uniform(0.8, 1.4) * k, 0.0))
    if motion == "turn":
        end = (rng.uniform(-0.3, 0.3) * k, rng.uniform(0.6, 1.2) * k)
        return replace(base, motion=motion, end=end, yaw1=sign * rng.uniform(8, 15) * k)
    # arc: slide sideways while turning to keep looking at the middle of the scene
    dx = sign * rng.uniform(1.0, 1.6) * k
    end = (dx, rng.uniform(0.0, 0.4))
    return replace(base, motion=motion, end=end, yaw1=math.degrees(math.atan2(-dx, 6.0 - end[1])))


def in_view(
    scene: Scene, allowed_overlaps: set[frozenset[str]] = frozenset(), occlusion: bool = False
) -> bool:
    """Every object fully on screen, not too close, and (unless `occlusion`) apart from the
    others all along."""
    box = screen_boxes(scene)
    margin = 0.01 * scene.width
    if np.any(box["depth"] < 1.5):
        return False
    if np.any(box["u0"] < margin) or np.any(box["u1"] > scene.width - margin):
        return False
    if np.any(box["v0"] < margin) or np.any(box["v1"] > scene.height - margin):
        return False
    if occlusion:
        return True
    names = [o.name for o in scene.objects]
    gap = 0.01 * scene.width
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if frozenset((names[i], names[j])) in allowed_overlaps:
                continue
            apart = (
                (box["u1"][i] + gap < box["u0"][j])
                | (box["u1"][j] + gap < box["u0"][i])
                | (box["v1"][i] + gap < box["v0"][j])
                | (box["v1"][j] + gap < box["v0"][i])
            )
            if not np.all(apart):
                return False
    return True


def labels_ok(scene: Scene, story: Story) -> bool:
    """Every label the story asks about is unambiguous, and visible as such in this view."""
    names = [story.target] + ([story.second] if story.second else [])
    if story.kind == "translate":
        for name in names:
            if q.camera_direction(scene, name) is None:
                return False
        if q.own_direction(scene, story.target) is None or q.facing(scene, story.target) is None:
            return False
    elif story.kind == "rotate":
        # The object's own spin must dominate any turning of the viewpoint around it.
        s = scene.times()
        cx, cz, _ = scene.camera.state(s)
        for name in names:
            x, _, z, heading = scene.object_named(name).motion.state(s)
            bearing = np.degrees(np.unwrap(np.arctan2(cx - x, cz - z)))
            spin_rate = np.diff(heading)
            view_rate = np.diff(bearing)
            moving = np.abs(spin_rate) > 1e-9
            if np.any(moving & (np.abs(spin_rate) < 3 * np.abs(view_rate))):
                return False
    elif story.count_kind == "turns":
        if q.apparent_turn_peaks(scene, story.target) != q.count_turns(scene, story.target):
            return False
    elif story.count_kind == "passes":
        try:
            n = q.count_passes(scene, story.target, story.reference)
        except ValueError:
            return False
        if q.image_crossings(scene, story.target, story.reference) != n:
            return False
    return True


def story_labels(scene: Scene, story: Story) -> dict[str, object]:
    """The answers the story's questions will have in this scene, from its geometry."""
    labels: dict[str, object] = {}
    for name in filter(None, (story.target, story.second)):
        if story.kind == "translate":
            labels[f"direction:{name}"] = q.camera_direction(scene, name)
        elif story.kind == "rotate":
            labels[f"rotation:{name}"] = q.rotation_sense(scene, name)
    if story.kind == "translate":
        labels["own"] = q.own_direction(scene, story.target)
    elif story.count_kind == "bounces":
        labels["count"] = q.count_bounces(scene, story.target)
    elif story.count_kind == "turns":
        labels["count"] = q.count_turns(scene, story.target)
    elif story.count_kind == "passes":
        labels["count"] = q.count_passes(scene, story.target, story.reference)
    return labels


def sample_pair(
    rng: np.random.Generator,
    kind: str,
    count_kind: str | None,
    geometry: Geometry,
    ids: tuple[str, str],
    camera_motion: str | None = None,
    config: GeneratorConfig = DEFAULT,
) -> tuple[Scene, Scene, Story]:
    """A (static camera, moving camera) pair of scenes about one story.

    `camera_motion` is the preferred motion of the moving camera (the generator cycles
    through them so that all are represented); if it does not fit, any other may be used.
    """
    base = CameraPath("static", (0.0, 0.0), (0.0, 0.0), 0.0, 0.0)
    for _ in range(MAX_TRIES):
        template = Scene(
            scene_id=ids[0],
            width=geometry.width,
            height=geometry.height,
            fps=geometry.fps,
            n_frames=geometry.n_frames,
            camera=base,
            objects=(),
            floor=str(rng.choice(list(config.floors))),
            palette=config.palettes[int(rng.integers(len(config.palettes)))],
            walls=bool(rng.random() < config.walls_probability),
            texture_seed=int(rng.integers(2**31)),
            ambient=config.ambient,
            diffuse=config.diffuse,
        )

        def fits(objects: list[SceneObject], template: Scene = template) -> bool:
            return in_view(replace(template, objects=tuple(objects)), occlusion=config.occlusion)

        objects, story = _story_objects(rng, kind, count_kind, geometry.n_frames, fits, config)
        static = replace(template, objects=tuple(objects))
        allowed = {frozenset((story.target, story.reference))} if story.reference else set()
        if not (in_view(static, allowed, config.occlusion) and labels_ok(static, story)):
            continue
        expected = story_labels(static, story)
        for attempt in range(25):
            motion = camera_motion if attempt < 15 else None
            camera = _moving_camera(rng, base, motion, config)
            moving = replace(static, scene_id=ids[1], camera=camera)
            if not (in_view(moving, allowed, config.occlusion) and labels_ok(moving, story)):
                continue
            # The pair must agree on every answer: only the camera differs.
            if story_labels(moving, story) == expected:
                objects = _dress(rng, static.objects, config)
                return (
                    replace(static, objects=objects),
                    replace(moving, objects=objects),
                    story,
                )
    raise RuntimeError(f"no valid {kind} scene pair for {ids} after {MAX_TRIES} draws")
