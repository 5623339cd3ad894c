"""Scene description of the 4D probe set: camera path, objects and their 3D trajectories.

The probe set follows the idea of the DSR Suite pipeline (questions generated from camera
poses and 3D object trajectories) so that every label of a question is known exactly by
construction. This module is pure geometry: no rendering, no questions.

World frame (metres): x points east (to the right of the camera at yaw 0), y up, z north
(where the camera at yaw 0 looks). Headings and yaws are in degrees, 0 = north, growing
clockwise as seen from above (north -> east -> south -> west), so a heading of 180 faces
a camera that sits south of the object and looks north.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SHAPES: tuple[str, ...] = ("cube", "sphere", "cylinder", "cone")
# Shapes that are only ever named in false-positive questions, never drawn.
ABSENT_SHAPES: tuple[str, ...] = ("torus", "pyramid")
# Saturated colours with well separated hues, so that an object is findable in the pixels by
# its hue alone; floor, walls and sky are kept unsaturated.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 35),
    "orange": (240, 135, 20),
    "yellow": (225, 205, 30),
    "green": (40, 165, 65),
    "blue": (40, 90, 220),
    "purple": (140, 55, 200),
}
# The marker stripe that makes an object's front (and so its rotation) visible.
MARKER_COLOUR: tuple[int, int, int] = (250, 250, 250)
# Surface patterns of objects (`render.texture_factor`); "plain" is the probe set's.
TEXTURES: tuple[str, ...] = ("plain", "checker", "stripes", "noise")

CAMERA_MOTIONS: tuple[str, ...] = ("static", "pan", "walk", "truck", "turn", "arc")


def smoothstep(s: np.ndarray | float) -> np.ndarray | float:
    """Ease-in/ease-out of s in [0, 1]: motions start and end smoothly."""
    return s * s * (3.0 - 2.0 * s)


@dataclass(frozen=True)
class Motion:
    """An object's trajectory over normalised clip time s in [0, 1].

    path "linear": eased travel from `start` to `end` (x, z).
    path "oscillate": back and forth along start -> end, `cycles` one-way legs
    (x(s) = mid - half * cos(pi * cycles * s)), starting at `start`.
    Heading: `heading0` plus a spin; "constant" turns `spin` degrees at a constant rate,
    "reverse" turns `spin` degrees in the first half and back in the second.
    Bounces: `bounces` floor contacts strictly inside the clip, apex `bounce_height`.
    """

    start: tuple[float, float]
    end: tuple[float, float]
    path: str = "linear"
    cycles: int = 0
    heading0: float = 0.0
    spin: float = 0.0
    spin_mode: str = "none"
    bounces: int = 0
    bounce_height: float = 0.0

    def state(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x, y_base, z, heading_deg) at times s (array)."""
        s = np.asarray(s, dtype=np.float64)
        x0, z0 = self.start
        x1, z1 = self.end
        if self.path == "linear":
            w = smoothstep(s)
        elif self.path == "oscillate":
            w = 0.5 - 0.5 * np.cos(np.pi * self.cycles * s)
        else:
            raise ValueError(f"unknown motion path {self.path!r}")
        x = x0 + (x1 - x0) * w
        z = z0 + (z1 - z0) * w
        if self.bounces:
            y = self.bounce_height * np.abs(np.cos(np.pi * self.bounces * s))
        else:
            y = np.zeros_like(s)
        if self.spin_mode == "none":
            heading = np.full_like(s, self.heading0)
        elif self.spin_mode == "constant":
            heading = self.heading0 + self.spin * s
        elif self.spin_mode == "reverse":
            heading = self.heading0 + self.spin * (1.0 - np.abs(2.0 * s - 1.0))
        else:
            raise ValueError(f"unknown spin mode {self.spin_mode!r}")
        return x, y, z, heading


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: float  # footprint width (cube edge, sphere/cylinder/cone base diameter), metres
    motion: Motion
    rgb: tuple[int, int, int] | None = None  # a configured colour's; None: COLOURS[colour]
    texture: str = "plain"  # one of TEXTURES

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def albedo(self) -> tuple[int, int, int]:
        return self.rgb if self.rgb is not None else COLOURS[self.colour]

    @property
    def half_width(self) -> float:
        return self.size / 2.0

    @property
    def height(self) -> float:
        return self.size * {"cube": 1.0, "sphere": 1.0, "cylinder": 1.1, "cone": 1.4}[self.shape]

    @property
    def bound_radius(self) -> float:
        """Radius of a sphere around the mid-height point that contains the object."""
        return math.sqrt(2.0 * self.half_width**2 + (self.height / 2.0) ** 2)


@dataclass(frozen=True)
class CameraPath:
    """A pinhole camera at constant height and pitch; position and yaw eased from start to end."""

    motion: str
    start: tuple[float, float]
    end: tuple[float, float]
    yaw0: float
    yaw1: float
    height: float = 1.6
    pitch: float = 15.0  # degrees down
    hfov: float = 55.0  # horizontal field of view, degrees

    @property
    def moves(self) -> bool:
        return self.motion != "static"

    def state(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x, z, yaw_deg) at times s."""
        s = np.asarray(s, dtype=np.float64)
        w = smoothstep(s)
        x = self.start[0] + (self.end[0] - self.start[0]) * w
        z = self.start[1] + (self.end[1] - self.start[1]) * w
        yaw = self.yaw0 + (self.yaw1 - self.yaw0) * w
        return x, z, yaw


@dataclass(frozen=True)
class Scene:
    scene_id: str
    width: int
    height: int
    fps: int
    n_frames: int
    camera: CameraPath
    objects: tuple[SceneObject, ...]
    floor: str = "checker"  # "checker" | "tiles"
    palette: int = 0  # index of the floor/wall palette
    walls: bool = False
    texture_seed: int = 0
    # Flat Lambert shading: colour = (ambient + diffuse * max(0, n . light)) * albedo.
    ambient: float = 0.45
    diffuse: float = 0.55

    def times(self) -> np.ndarray:
        """Normalised time of every frame: the first frame is s=0, the last s=1."""
        return np.linspace(0.0, 1.0, self.n_frames)

    def object_named(self, name: str) -> SceneObject:
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise KeyError(f"scene {self.scene_id}: no object named {name!r}")


def camera_axes(yaw_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal (right, front) unit vectors (x, z) for a yaw or heading."""
    a = np.radians(yaw_deg)
    right = np.stack([np.cos(a), -np.sin(a)], axis=-1)
    front = np.stack([np.sin(a), np.cos(a)], axis=-1)
    return right, front


def project(
    camera: CameraPath,
    cam_x: np.ndarray,
    cam_z: np.ndarray,
    yaw: np.ndarray,
    points: np.ndarray,
    width: int,
    height: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel coordinates (u, v) and camera depth of world points (..., 3) seen by the camera.

    The camera arrays broadcast against the points' leading axes.
    """
    f = (width / 2.0) / math.tan(math.radians(camera.hfov) / 2.0)
    wx = points[..., 0] - cam_x
    wy = points[..., 1] - camera.height
    wz = points[..., 2] - cam_z
    a = np.radians(yaw)
    x0 = wx * np.cos(a) - wz * np.sin(a)
    z0 = wx * np.sin(a) + wz * np.cos(a)
    p = math.radians(camera.pitch)
    yc = wy * math.cos(p) + z0 * math.sin(p)
    zc = -wy * math.sin(p) + z0 * math.cos(p)
    safe = np.where(np.abs(zc) < 1e-6, 1e-6, zc)
    u = width / 2.0 + f * x0 / safe
    v = height / 2.0 - f * yc / safe
    return u, v, zc


def object_corners(obj: SceneObject, s: np.ndarray) -> np.ndarray:
    """World corners (n_times, 8, 3) of the object's local bounding box over time."""
    x, y, z, heading = obj.motion.state(s)
    a, h = obj.half_width, obj.height
    local = np.array([[i * a, yy, j * a] for i in (-1, 1) for j in (-1, 1) for yy in (0.0, h)])
    ch, sh = np.cos(np.radians(heading))[:, None], np.sin(np.radians(heading))[:, None]
    # Local (right, up, front) -> world, with right = (cos, -sin) and front = (sin, cos).
    wx = x[:, None] + local[None, :, 0] * ch + local[None, :, 2] * sh
    wz = z[:, None] - local[None, :, 0] * sh + local[None, :, 2] * ch
    wy = y[:, None] + local[None, :, 1]
    return np.stack([wx, wy, wz], axis=-1)


def screen_boxes(scene: Scene) -> dict[str, np.ndarray]:
    """Per object and frame: the pixel box holding its projection, and its nearest depth.

    Arrays of shape (n_objects, n_frames): u0, u1, v0, v1, depth. Used to keep every object
    in view and apart from the others.
    """
    s = scene.times()
    cx, cz, yaw = scene.camera.state(s)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("u0", "u1", "v0", "v1", "depth")}
    for obj in scene.objects:
        corners = object_corners(obj, s)
        u, v, zc = project(
            scene.camera, cx[:, None], cz[:, None], yaw[:, None], corners, scene.width, scene.height
        )
        out["u0"].append(u.min(1))
        out["u1"].append(u.max(1))
        out["v0"].append(v.min(1))
        out["v1"].append(v.max(1))
        out["depth"].append(zc.min(1))
    return {k: np.array(v) for k, v in out.items()}
