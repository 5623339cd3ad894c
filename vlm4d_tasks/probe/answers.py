"""Answers in several forms from one scene's geometry: a free-form sentence and a rationale.

VLM4D's supervised fine-tuning result (Table 2: multiple-choice and free-form training mixes)
needs training targets beyond the option letter. Both forms here are written from the same
facts the letter comes from (`probe.questions` computes them from the 3D trajectories and
camera poses), so they cannot disagree with it: the rationale states the camera's motion,
what the scene holds (object count and names), the object's motion in the camera's frame and
in its own frame (its white stripe is its front), the counts, and ends with the answer text,
a short chain of thought for a chain-of-thought SFT mix.

Pure functions of a `Scene` and a `questions.Draft`; nothing is rendered or read.
"""

from __future__ import annotations

import numpy as np

from vlm4d_tasks.probe import questions as q
from vlm4d_tasks.probe.scene import CameraPath, Scene

__all__ = ["ANSWER_LEAD", "camera_sentence", "free_form_answer", "rationale"]

# The rationale's last sentence starts with this, then the answer text verbatim.
ANSWER_LEAD = "So the answer is:"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _side(value: float) -> str:
    # Yaws grow clockwise seen from above and x points to the static camera's right, so a
    # positive yaw change or x displacement is to the right.
    return "right" if value > 0 else "left"


def _times(n: int) -> str:
    return f"{n} time" if n == 1 else f"{n} times"


def camera_sentence(camera: CameraPath) -> str:
    """What the camera does over the clip, in one sentence that names its motion."""
    dx = camera.end[0] - camera.start[0]
    dyaw = camera.yaw1 - camera.yaw0
    if camera.motion == "static":
        return "The camera is static: it stays in place and keeps looking the same way."
    if camera.motion == "pan":
        return f"The camera pans to the {_side(dyaw)}: it stays in place and turns."
    if camera.motion == "walk":
        return "The camera walks forward, towards the scene, without turning."
    if camera.motion == "truck":
        return f"The camera trucks to the {_side(dx)}: it slides sideways without turning."
    if camera.motion == "turn":
        return f"The camera turns to the {_side(dyaw)} while it moves forward."
    if camera.motion == "arc":
        return f"The camera arcs to the {_side(dx)} around the scene, turning to keep it in view."
    raise ValueError(f"unknown camera motion {camera.motion!r}")


def indefinite(name: str) -> str:
    """`name` with its indefinite article: "a red cube", "an orange cone"."""
    return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"


def _listing(names: list[str]) -> str:
    items = [indefinite(name) for name in names]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def objects_sentence(scene: Scene) -> str:
    names = [obj.name for obj in scene.objects]
    noun = "object" if len(names) == 1 else "objects"
    return f"The scene holds {len(names)} {noun}: {_listing(names)}."


def free_form_answer(draft: q.Draft) -> str:
    """The answer as a short sentence; it holds the answer text verbatim."""
    t, answer = f"the {draft.target}", draft.correct
    if draft.category == "false_positive":
        return _capital(answer) + "."
    if draft.kind in ("direction_camera", "direction_object"):
        if answer == q.CAMERA_DIRECTIONS["still"]:
            return f"{_capital(t)} is {answer}."
        return f"{_capital(t)} moves {answer}."
    if draft.kind == "rotation":
        if answer == q.ROTATIONS["none"]:
            return f"{_capital(t)} is {answer}."
        return f"Seen from above, {t} rotates {answer}."
    n = int(answer)
    if draft.kind == "count_bounces":
        return f"{_capital(t)} bounces on the floor {_times(n)}."
    if draft.kind == "count_turns":
        return f"{_capital(t)} makes {n} full turn{'' if n == 1 else 's'} about its vertical axis."
    if draft.kind == "count_passes":
        return f"{_capital(t)} passes in front of the {draft.facts['reference']} {_times(n)}."
    raise ValueError(f"unknown question kind {draft.kind!r}")


def _camera_frame(scene: Scene, name: str) -> str | None:
    label = q.camera_direction(scene, name)
    if label is None:
        return None
    if label == "still":
        return f"the {name} stays in the same place in the scene"
    return f"relative to where the camera is facing, the {name} moves {q.CAMERA_DIRECTIONS[label]}"


def _own_frame(scene: Scene, name: str) -> str | None:
    own, facing = q.own_direction(scene, name), q.facing(scene, name)
    if own is None or own == "still" or facing is None:
        return None
    where = "towards the camera" if facing == "towards" else "away from the camera"
    return (
        f"its white stripe (its front) points {where}, so from its own point of view it "
        f"moves {q.OWN_DIRECTIONS[own]}"
    )


def _translation(scene: Scene, draft: q.Draft) -> list[str]:
    name = draft.target
    steps = []
    camera = _camera_frame(scene, name)
    if camera is not None:
        steps.append(_capital(camera) + ".")
    own = _own_frame(scene, name)
    if own is not None:
        steps.append(_capital(own) + ".")
    apparent = draft.facts.get("apparent")
    label = q.camera_direction(scene, name)
    if scene.camera.moves and apparent is not None and apparent != label:
        seems = "still" if apparent == "still" else f"to move {q.CAMERA_DIRECTIONS[apparent]}"
        steps.append(
            f"In the picture it may seem {seems}, but that comes from the camera's own motion."
        )
    return steps


def _rotation(scene: Scene, draft: q.Draft) -> list[str]:
    motion = scene.object_named(draft.target).motion
    label = q.rotation_sense(scene, draft.target)
    t = f"the {draft.target}"
    if label == "none":
        return [f"Seen from above, the white stripe of {t} keeps pointing the same way."]
    degrees = int(round(abs(motion.spin)))
    if label in ("cw", "ccw"):
        return [
            f"Seen from above, {t} turns {q.ROTATIONS[label]} through about {degrees} degrees, "
            "as its white stripe shows."
        ]
    first, second = label.split("_")
    return [
        f"Seen from above, {t} turns {q.ROTATIONS[first]} by about {degrees} degrees, "
        f"then back {q.ROTATIONS[second]}, as its white stripe shows."
    ]


def _count(scene: Scene, draft: q.Draft) -> list[str]:
    t = f"the {draft.target}"
    if draft.kind == "count_bounces":
        n = q.count_bounces(scene, draft.target)
        return [f"{_capital(t)} leaves the floor and lands again: {_times(n)} in all."]
    if draft.kind == "count_turns":
        n = q.count_turns(scene, draft.target)
        _, _, _, heading = scene.object_named(draft.target).motion.state(np.array([0.0, 1.0]))
        degrees = int(round(abs(float(heading[1] - heading[0]))))
        return [
            f"{_capital(t)} spins in place through {degrees} degrees; a full turn is 360 "
            f"degrees, so it makes {n} full turn{'' if n == 1 else 's'}."
        ]
    reference = draft.facts["reference"]
    n = q.count_passes(scene, draft.target, reference)
    return [
        f"{_capital(t)} moves side to side between the camera and the {reference}, crossing "
        f"in front of it {_times(n)}."
    ]


def rationale(scene: Scene, draft: q.Draft) -> str:
    """A short chain of thought from the scene's facts, ending with the answer text."""
    steps = [camera_sentence(scene.camera), objects_sentence(scene)]
    if draft.category == "false_positive":
        steps.append(f"No object in the scene is {indefinite(draft.target)}.")
    elif draft.kind in ("direction_camera", "direction_object"):
        steps += _translation(scene, draft)
    elif draft.kind == "rotation":
        steps += _rotation(scene, draft)
    else:
        steps += _count(scene, draft)
    steps.append(f"{ANSWER_LEAD} {draft.correct}.")
    return " ".join(steps)
