"""Leak check between a training split and the test probe set.

Training scenes are drawn from a seed space disjoint from the test probe's (see
`probe.generate`: every training draw comes from a `SeedSequence` with a split tag that no
test draw has). That makes a collision unlikely, not impossible to introduce by a later
change, so this module checks the result itself, in world coordinates (resolution, fps and
clip length do not matter: the same trajectories at another size are the same scene):

* trajectory: no training object follows a test object's trajectory (its `Motion`);
* camera: no training clip has a test clip's moving camera path (the static camera is one
  fixed pose shared by every exocentric clip of both splits, by design, so it is not a leak);
* object configuration: no training scene holds the same set of objects (shape, colour,
  size and trajectory) under the same camera as a test scene;
* question + video: no training question is asked, word for word, about a scene identical
  to the one a test question is asked about.

Floats are compared after rounding to 6 decimals (micrometres and micro-degrees), so a
copy that went through JSON still counts as the same.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

from vlm4d_tasks.probe.scene import CameraPath, Motion, Scene, SceneObject

__all__ = ["Leak", "find_leaks", "scene_key"]

DIGITS = 6


@dataclass(frozen=True)
class Leak:
    kind: str  # "trajectory" | "camera" | "scene" | "question"
    train: str  # the training scene (and question) that leaks
    test: str  # the test scene (and question) it repeats

    def __str__(self) -> str:
        return f"{self.kind}: train {self.train} repeats test {self.test}"


def _rounded(values: tuple) -> tuple:
    out = []
    for value in values:
        if isinstance(value, tuple):
            out.append(_rounded(value))
        elif isinstance(value, float):
            out.append(round(value, DIGITS) + 0.0)  # + 0.0: -0.0 and 0.0 are one key
        else:
            out.append(value)
    return tuple(out)


def motion_key(motion: Motion) -> tuple:
    return _rounded(astuple(motion))


def camera_key(camera: CameraPath) -> tuple:
    return _rounded(astuple(camera))


def object_key(obj: SceneObject) -> tuple:
    return (obj.shape, obj.colour, round(obj.size, DIGITS), motion_key(obj.motion))


def scene_key(scene: Scene) -> tuple:
    """Everything that fixes what a clip shows, but its size, frame rate and length."""
    return (
        camera_key(scene.camera),
        tuple(sorted(object_key(obj) for obj in scene.objects)),
        scene.floor,
        scene.palette,
        scene.walls,
        scene.texture_seed,
    )


def find_leaks(
    train: list[tuple[Scene, list[str]]], test: list[tuple[Scene, list[str]]]
) -> list[Leak]:
    """Every way a training scene repeats a test scene (empty: no leak).

    Each side is a list of (scene, the questions asked about it). Linear in the number of
    scenes and questions (hash lookups)."""
    trajectories: dict[tuple, str] = {}
    cameras: dict[tuple, str] = {}
    scenes: dict[tuple, str] = {}
    questions: dict[tuple, str] = {}
    for scene, asked in test:
        key = scene_key(scene)
        scenes.setdefault(key, scene.scene_id)
        if scene.camera.moves:
            cameras.setdefault(camera_key(scene.camera), scene.scene_id)
        for obj in scene.objects:
            trajectories.setdefault(motion_key(obj.motion), f"{scene.scene_id} ({obj.name})")
        for question in asked:
            questions.setdefault((question, key), f"{scene.scene_id}: {question!r}")
    leaks: list[Leak] = []
    for scene, asked in train:
        key = scene_key(scene)
        if key in scenes:
            leaks.append(Leak("scene", scene.scene_id, scenes[key]))
        if scene.camera.moves and camera_key(scene.camera) in cameras:
            leaks.append(Leak("camera", scene.scene_id, cameras[camera_key(scene.camera)]))
        for obj in scene.objects:
            hit = trajectories.get(motion_key(obj.motion))
            if hit is not None:
                leaks.append(Leak("trajectory", f"{scene.scene_id} ({obj.name})", hit))
        for question in asked:
            hit = questions.get((question, key))
            if hit is not None:
                leaks.append(Leak("question", f"{scene.scene_id}: {question!r}", hit))
    return leaks
