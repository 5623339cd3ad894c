"""Probe scenes mirrored left-right or played backwards, as scenes.

The probe set's check of the consistency transformations (``vlm4d_tasks.validity``): a probe
clip mirrored or reversed frame by frame must show what rendering the mirrored or
time-reversed scene shows, and the question transformations must give the labels that
``probe.questions`` computes on that scene. Both functions are pure: new frozen dataclasses,
the input untouched.

Mirror. The projection (``scene.project``) takes a point's offset from the camera
(wx, wz), turns it by the yaw a into the camera's right x0 = wx cos a - wz sin a and depth
z0 = wx sin a + wz cos a, and maps x0 / depth to the image column. Reflecting the whole world,
camera included, in the vertical plane x = 0 (x -> -x; a yaw or heading h -> -h, since
h = 0 is north and h grows clockwise) turns (wx, a) into (-wx, -a), so x0 -> -x0 while the
depth and the height stay: every point lands at column W - u, row v, for every camera pose,
whether the camera stands, pans, walks or turns. The plane x = 0 is the static probe
camera's own vertical plane (it stands at the origin looking north), so a static camera is
unchanged, and the plane of symmetry of the arena's walls (x = +-11 m). Rotations change
sense (headings negate), so "clockwise" becomes "counter-clockwise". The probe's shapes and
their front stripes are symmetric about their own front-back plane, so a reflected object is
the same object turned to the reflected heading.

What does not mirror: the renderer fixes the floor and wall textures and the light direction
in world coordinates, so the rendered mirrored scene has the same objects in mirrored places
on an unmirrored floor (the 1 m checker's colours swap under x -> -x, tiles are random), with
the light from the other side. The geometry, and so every label, is that of the mirror image.

Reverse. Frame k of the clip shows normalised time s_k = k / (n - 1); the reversed scene shows
at s what the original shows at 1 - s. Every trajectory of the probe is closed under that
substitution: the eased travel start -> end becomes end -> start (smoothstep(1 - s) =
1 - smoothstep(s)), a constant spin heading0 + spin s becomes (heading0 + spin) - spin s, a
there-and-back spin and floor bounces are symmetric in time, and an oscillation of c legs
either ends where it started (c even: symmetric) or ends at the far end (c odd: start and end
swap). The camera's eased path and yaw swap their ends the same way.
"""

from __future__ import annotations

from dataclasses import replace

from vlm4d_tasks.probe.scene import Motion, Scene, SceneObject

__all__ = ["mirror_scene", "reverse_scene"]


def mirror_scene(scene: Scene) -> Scene:
    """``scene`` reflected in the vertical plane x = 0: its rendering is the left-right
    mirror image of the original's geometry (see the module docstring)."""
    camera = scene.camera
    mirrored_camera = replace(
        camera,
        start=_reflect(camera.start),
        end=_reflect(camera.end),
        yaw0=_negate(camera.yaw0),
        yaw1=_negate(camera.yaw1),
    )
    return replace(
        scene,
        camera=mirrored_camera,
        objects=tuple(_mirror_object(obj) for obj in scene.objects),
    )


def reverse_scene(scene: Scene) -> Scene:
    """``scene`` played backwards: frame k of the result is frame n - 1 - k of the original
    (see the module docstring)."""
    camera = scene.camera
    reversed_camera = replace(
        camera, start=camera.end, end=camera.start, yaw0=camera.yaw1, yaw1=camera.yaw0
    )
    return replace(
        scene,
        camera=reversed_camera,
        objects=tuple(replace(obj, motion=_reverse_motion(obj)) for obj in scene.objects),
    )


def _negate(value: float) -> float:
    # 0.0 - v rather than -v: a static camera's yaw 0.0 stays 0.0, not -0.0, so the mirrored
    # scene's dataclass fields (and any JSON written from them) stay the same as the original's.
    return 0.0 - value


def _reflect(point: tuple[float, float]) -> tuple[float, float]:
    return (_negate(point[0]), point[1])


def _mirror_object(obj: SceneObject) -> SceneObject:
    motion = obj.motion
    return replace(
        obj,
        motion=replace(
            motion,
            start=_reflect(motion.start),
            end=_reflect(motion.end),
            heading0=_negate(motion.heading0),
            spin=_negate(motion.spin),
        ),
    )


def _reverse_motion(obj: SceneObject) -> Motion:
    motion = obj.motion
    if motion.path == "linear":
        motion = replace(motion, start=motion.end, end=motion.start)
    elif motion.path == "oscillate":
        # w(s) = (1 - cos(pi c s)) / 2, so w(1 - s) = w(s) for even c and 1 - w(s) for odd c.
        if motion.cycles % 2:
            motion = replace(motion, start=motion.end, end=motion.start)
    else:
        raise ValueError(f"{obj.name}: cannot reverse motion path {motion.path!r}")
    if motion.spin_mode == "constant":
        motion = replace(motion, heading0=motion.heading0 + motion.spin, spin=_negate(motion.spin))
    elif motion.spin_mode not in ("none", "reverse"):
        # "reverse" (there and back) is symmetric in time; "none" has no spin.
        raise ValueError(f"{obj.name}: cannot reverse spin mode {motion.spin_mode!r}")
    # Bounces: |cos(pi b s)| is symmetric in time for whole b.
    return motion
