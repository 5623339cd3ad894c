"""Questions of the probe set, with answers derived from the scene geometry.

VLM4D's four question categories (translational, rotational, counting, false positive)
are asked about procedurally rendered scenes. Every answer is computed here from the 3D
trajectories and camera poses (never from the sampler's intentions), following the DSR
Suite idea of generating QA from camera poses and 3D tracks. A label that the geometry
does not make unambiguous (a direction close to a bin boundary, a camera turn that changes
the answer) is reported as None, and the sampler draws another scene.

Directions "relative to where the camera is facing" describe the object's motion through
the world (not across the image): a still object seen by a panning camera is "not moving".
Rotation sense is stated as seen from above. The object's own frame takes the white stripe
as its front.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vlm4d_tasks.probe.scene import Scene, camera_axes, project

CAMERA_DIRECTIONS: dict[str, str] = {
    "left": "left",
    "right": "right",
    "towards": "towards the camera",
    "away": "away from the camera",
    "still": "not moving",
}
OWN_DIRECTIONS: dict[str, str] = {
    "forward": "forward",
    "backward": "backward",
    "left": "to its own left",
    "right": "to its own right",
    "still": "not moving",
}
ROTATIONS: dict[str, str] = {
    "cw": "clockwise",
    "ccw": "counter-clockwise",
    "none": "not rotating",
    "cw_ccw": "clockwise, then counter-clockwise",
    "ccw_cw": "counter-clockwise, then clockwise",
}
# Plausibility of each wrong option given the right one: opposites and "no motion" first.
_OPPOSITE = {
    "left": "right",
    "right": "left",
    "towards": "away",
    "away": "towards",
    "forward": "backward",
    "backward": "forward",
    "cw": "ccw",
    "ccw": "cw",
    "cw_ccw": "ccw_cw",
    "ccw_cw": "cw_ccw",
}
DIRECTION_MARGIN = 12.0  # degrees a direction must keep from a bin boundary
DENSE = 2001  # samples per clip for event counts


def absent_answer(name: str) -> str:
    return f"there is no {name} in the video"


def the(name: str) -> str:
    return f"the {name}"


# -- labels from geometry --------------------------------------------------------------------


def _direction_bin(angle: float) -> tuple[str, float]:
    """Bin a direction angle (0 = ahead/front, 90 = right) into 4 sectors; with margin."""
    a = (angle + 180.0) % 360.0 - 180.0
    centres = {"away": 0.0, "right": 90.0, "towards": 180.0, "left": -90.0}
    best, dist = min(
        ((k, abs((a - c + 180.0) % 360.0 - 180.0)) for k, c in centres.items()),
        key=lambda kv: kv[1],
    )
    return best, 45.0 - dist


def displacement(scene: Scene, name: str) -> np.ndarray:
    """World displacement (dx, dz) of an object from the first to the last frame."""
    x, _, z, _ = scene.object_named(name).motion.state(np.array([0.0, 1.0]))
    return np.array([x[1] - x[0], z[1] - z[0]])


def camera_direction(scene: Scene, name: str) -> str | None:
    """Where the object moves through the world relative to the camera's facing direction.

    The answer must be the same for the camera's heading at the start, middle and end of
    the clip (with a margin), so a turning camera cannot make it ambiguous.
    """
    d = displacement(scene, name)
    if np.hypot(*d) < 1e-6:
        return "still"
    labels = set()
    for s in (0.0, 0.5, 1.0):
        _, _, yaw = scene.camera.state(np.array(s))
        right, front = camera_axes(yaw)
        label, margin = _direction_bin(math.degrees(math.atan2(d @ right, d @ front)))
        if margin < DIRECTION_MARGIN:
            return None
        labels.add(label)
    return labels.pop() if len(labels) == 1 else None


def apparent_direction(scene: Scene, name: str) -> str:
    """What the image alone suggests: the object's motion across the picture and its change
    of size taken at face value, as if the camera had not moved. A model that confuses
    camera motion with object motion answers this instead of `camera_direction`."""
    obj = scene.object_named(name)
    s = np.array([0.0, 1.0])
    cx, cz, yaw = scene.camera.state(s)
    x, y, z, _ = obj.motion.state(s)
    centre = np.stack([x, y + obj.height / 2, z], axis=-1)
    u, _, depth = project(scene.camera, cx, cz, yaw, centre, scene.width, scene.height)
    f = (scene.width / 2.0) / math.tan(math.radians(scene.camera.hfov) / 2.0)
    lateral = ((u[1] - scene.width / 2) * depth[1] - (u[0] - scene.width / 2) * depth[0]) / (
        f * depth[0]
    )
    forward = depth[1] / depth[0] - 1.0
    if math.hypot(lateral, forward) < 0.08:
        return "still"
    return _direction_bin(math.degrees(math.atan2(lateral, forward)))[0]


def own_direction(scene: Scene, name: str) -> str | None:
    """Where the object moves relative to its own front (its heading must stay constant)."""
    motion = scene.object_named(name).motion
    if motion.spin_mode != "none":
        return None
    d = displacement(scene, name)
    if np.hypot(*d) < 1e-6:
        return "still"
    right, front = camera_axes(np.array(motion.heading0))
    label, margin = _direction_bin(math.degrees(math.atan2(d @ right, d @ front)))
    if margin < DIRECTION_MARGIN:
        return None
    return {"away": "forward", "towards": "backward", "left": "left", "right": "right"}[label]


def facing(scene: Scene, name: str, max_angle: float = 40.0) -> str | None:
    """Where the object's front points all clip long: "towards" the camera or "away" from it
    (within max_angle degrees), else None."""
    s = scene.times()
    cx, cz, _ = scene.camera.state(s)
    x, _, z, heading = scene.object_named(name).motion.state(s)
    to_camera = np.degrees(np.arctan2(cx - x, cz - z))
    off = np.abs((heading - to_camera + 180.0) % 360.0 - 180.0)
    if np.all(off <= max_angle):
        return "towards"
    if np.all(off >= 180.0 - max_angle):
        return "away"
    return None


def rotation_sense(scene: Scene, name: str) -> str:
    """Rotation about the vertical axis as seen from above, from the heading over time."""
    _, _, _, heading = scene.object_named(name).motion.state(np.linspace(0, 1, DENSE))
    step = np.diff(heading)
    signs = np.sign(step[np.abs(step) > 1e-9])
    if len(signs) == 0:
        return "none"
    runs = [int(signs[0])]
    for sign in signs[1:]:
        if sign != runs[-1]:
            runs.append(int(sign))
    word = {1: "cw", -1: "ccw"}
    if len(runs) == 1:
        return word[runs[0]]
    if len(runs) == 2:
        return f"{word[runs[0]]}_{word[runs[1]]}"
    raise ValueError(f"scene {scene.scene_id}: {name} changes rotation sense {len(runs) - 1} times")


def count_bounces(scene: Scene, name: str) -> int:
    """Floor contacts: local minima of the base height that touch the floor."""
    _, y, _, _ = scene.object_named(name).motion.state(np.linspace(0, 1, DENSE))
    inner = (y[1:-1] <= y[:-2]) & (y[1:-1] < y[2:]) & (y[1:-1] < 1e-2)
    return int(inner.sum())


def count_turns(scene: Scene, name: str) -> int:
    """Complete 360-degree turns about the vertical axis."""
    _, _, _, heading = scene.object_named(name).motion.state(np.array([0.0, 1.0]))
    return int(math.floor(abs(heading[1] - heading[0]) / 360.0 + 1e-9))


def count_passes(scene: Scene, mover: str, reference: str) -> int:
    """Times the mover crosses the camera's line of sight to the reference, in front of it:
    sign changes of the mover's lateral offset from the reference in the camera's frame."""
    s = np.linspace(0, 1, DENSE)
    cx, cz, yaw = scene.camera.state(s)
    right, front = camera_axes(yaw)
    xm, _, zm, _ = scene.object_named(mover).motion.state(s)
    xr, _, zr, _ = scene.object_named(reference).motion.state(s)
    # Bearing of each object from the camera, in the camera's frame.
    lat_m = (xm - cx) * right[:, 0] + (zm - cz) * right[:, 1]
    dep_m = (xm - cx) * front[:, 0] + (zm - cz) * front[:, 1]
    lat_r = (xr - cx) * right[:, 0] + (zr - cz) * right[:, 1]
    dep_r = (xr - cx) * front[:, 0] + (zr - cz) * front[:, 1]
    if np.any(dep_m >= dep_r):
        raise ValueError(f"scene {scene.scene_id}: {mover} is not always in front of {reference}")
    side = np.sign(lat_m / dep_m - lat_r / dep_r)
    return int(np.count_nonzero(side[1:] != side[:-1]))


def apparent_turn_peaks(scene: Scene, name: str) -> int:
    """How often the object's front points at the camera (what the pixels can count)."""
    s = scene.times()
    cx, cz, _ = scene.camera.state(s)
    x, _, z, heading = scene.object_named(name).motion.state(s)
    rel = heading - np.degrees(np.unwrap(np.arctan2(cx - x, cz - z)))
    lo, hi = sorted((rel[0], rel[-1]))
    return int(np.floor(hi / 360.0) - np.floor(lo / 360.0))


def image_crossings(scene: Scene, mover: str, reference: str) -> int:
    """Crossings of the two objects' projected centres across the image's x axis."""
    s = scene.times()
    cx, cz, yaw = scene.camera.state(s)
    xs = []
    for name in (mover, reference):
        obj = scene.object_named(name)
        x, y, z, _ = obj.motion.state(s)
        pts = np.stack([x, y + obj.height / 2, z], axis=-1)
        u, _, _ = project(scene.camera, cx, cz, yaw, pts, scene.width, scene.height)
        xs.append(u)
    side = np.sign(xs[0] - xs[1])
    return int(np.count_nonzero(side[1:] != side[:-1]))


# -- question drafts -------------------------------------------------------------------------


@dataclass
class Draft:
    """A question before its options are ordered: the correct text and three distractors."""

    kind: str
    category: str
    target: str
    question: str
    correct: str
    distractors: list[str]
    facts: dict = field(default_factory=dict)


def _pick(rng: np.random.Generator, candidates: dict[str, float], k: int = 3) -> list[str]:
    """k distinct candidates, drawn without replacement with the given weights."""
    names = sorted(candidates)
    weights = np.array([candidates[n] for n in names], float)
    chosen = rng.choice(len(names), size=k, replace=False, p=weights / weights.sum())
    return [names[i] for i in chosen]


def _label_distractors(rng, vocab: dict[str, str], label: str, absent: str | None) -> list[str]:
    weights = {}
    for key, text in vocab.items():
        if key == label:
            continue
        weights[text] = 1.0
        if _OPPOSITE.get(label) == key:
            weights[text] = 4.0
        elif key in ("still", "none"):
            weights[text] = 2.5
    if absent is not None:
        weights[absent] = 1.2
    return _pick(rng, weights)


def _render(template: str, **context) -> str:
    from vlm4d_tasks.templating import render

    return render("vlm4d_tasks.probe", template, **context).strip()


def direction_question(rng, scene: Scene, name: str, offer_absent: bool) -> Draft:
    label = camera_direction(scene, name)
    if label is None:
        raise ValueError(f"scene {scene.scene_id}: direction of {name} is ambiguous")
    absent = absent_answer(name) if offer_absent else None
    return Draft(
        kind="direction_camera",
        category="translational",
        target=name,
        question=_render("probe_direction_camera.jinja", object=the(name)),
        correct=CAMERA_DIRECTIONS[label],
        distractors=_label_distractors(rng, CAMERA_DIRECTIONS, label, absent),
        facts={
            "label": label,
            "apparent": apparent_direction(scene, name),
            "displacement_xz": [round(float(v), 4) for v in displacement(scene, name)],
        },
    )


def own_direction_question(rng, scene: Scene, name: str) -> Draft:
    label = own_direction(scene, name)
    if label is None:
        raise ValueError(f"scene {scene.scene_id}: own-frame direction of {name} is ambiguous")
    return Draft(
        kind="direction_object",
        category="translational",
        target=name,
        question=_render("probe_direction_object.jinja", object=the(name)),
        correct=OWN_DIRECTIONS[label],
        distractors=_label_distractors(rng, OWN_DIRECTIONS, label, None),
        facts={"label": label, "facing_camera": facing(scene, name)},
    )


def rotation_question(rng, scene: Scene, name: str, offer_absent: bool) -> Draft:
    label = rotation_sense(scene, name)
    absent = absent_answer(name) if offer_absent else None
    return Draft(
        kind="rotation",
        category="rotational",
        target=name,
        question=_render("probe_rotation.jinja", object=the(name)),
        correct=ROTATIONS[label],
        distractors=_label_distractors(rng, ROTATIONS, label, absent),
        facts={"label": label},
    )


def count_question(rng, scene: Scene, kind: str, name: str, reference: str | None = None) -> Draft:
    if kind == "bounces":
        n = count_bounces(scene, name)
    elif kind == "turns":
        n = count_turns(scene, name)
    elif kind == "passes":
        n = count_passes(scene, name, reference)
    else:
        raise ValueError(f"unknown count kind {kind!r}")
    near = {str(v): 3.0 if abs(v - n) == 1 else 1.0 for v in range(0, max(6, n + 3)) if v != n}
    context = {"object": the(name)}
    if reference is not None:
        context["reference"] = the(reference)
    return Draft(
        kind=f"count_{kind}",
        category="counting",
        target=name,
        question=_render(f"probe_count_{kind}.jinja", **context),
        correct=str(n),
        distractors=_pick(rng, near),
        facts={"count": n, **({"reference": reference} if reference else {})},
    )


def false_positive_question(rng, template_kind: str, absent_name: str) -> Draft:
    """Ask about an object that is not in the scene; the right answer says so."""
    if template_kind == "rotation":
        vocab, template = ROTATIONS, "probe_rotation.jinja"
    else:
        vocab, template = CAMERA_DIRECTIONS, "probe_direction_camera.jinja"
    weights = {text: (2.0 if key in ("still", "none") else 1.0) for key, text in vocab.items()}
    return Draft(
        kind=f"absent_{template_kind}",
        category="false_positive",
        target=absent_name,
        question=_render(template, object=the(absent_name)),
        correct=absent_answer(absent_name),
        distractors=_pick(rng, weights),
        facts={"absent": absent_name},
    )
