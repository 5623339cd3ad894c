"""A small numpy software renderer for the 4D probe scenes (H.264 encoding: `video.encode`).

Every pixel casts one ray through a pinhole camera (no OpenGL): the floor is a textured
plane, optional walls close an arena, and each object is an analytic primitive (sphere,
box, cylinder, cone) intersected in its own local frame. Depth order between objects uses a
z-buffer; objects are always in front of floor and walls (they stand inside the arena, above
the floor). Shading is flat Lambert plus ambient (the scene's `ambient` and `diffuse`), with a soft blob shadow under each object.
A white stripe marks every object's front so that its heading, and so its rotation, shows.
An object's texture (`texture_factor`) scales its colour's brightness by a pattern fixed in
its own frame, computed only for the pixels it covers; the marker is drawn over it.

Speed: the camera keeps a constant height and pitch, so the ray of a pixel only turns with
the yaw; floor hit distances, mip level and fog are per-row constants computed once per
clip, and floor and wall colours come from tables of packed RGBA (one uint32 gather per
pixel). Only the pixels inside an object's projected bounding box are ray-cast against it.
A static camera's background is drawn once per clip.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vlm4d_tasks.probe.scene import MARKER_COLOUR, TEXTURES, Scene, SceneObject, project
from vlm4d_tasks.video.encode import encode_mp4

LIGHT = np.array([-0.45, 1.0, -0.6]) / np.linalg.norm([-0.45, 1.0, -0.6])
TEX_BITS = 8
TEX_SIZE = 1 << TEX_BITS  # texels per texture side (a power of two: wrap with a bit mask)
TEX_PER_M = 32.0  # texels per metre, so one texture covers 8 m x 8 m
TEX_OFFSET = 4096.0  # metres added before the int cast so that indices stay non-negative
MIX_LEVELS = 64  # texture levels between the light and dark floor colours
MIX_MAX = 1.3  # the darkest level (grout lines)
FAR = 400.0  # floor hits beyond this are pure fog
ARENA_HALF = 11.0
WALL_HEIGHT = 3.2
# Textures only darken, down to this share of the colour: brightness alone changes, so the
# hue and saturation a question's colour name refers to stay, and the white front marker
# stays the brightest part of the object.
TEXTURE_DARK = 0.72

# (floor light, floor dark, wall, fog/horizon, zenith); all unsaturated (HSV saturation < 0.3)
PALETTES: tuple[tuple[tuple[int, int, int], ...], ...] = (
    ((172, 172, 166), (104, 104, 108), (178, 172, 160), (206, 212, 218), (150, 178, 210)),
    ((168, 160, 146), (112, 104, 94), (160, 166, 170), (214, 210, 204), (160, 184, 212)),
    ((160, 168, 162), (98, 106, 102), (182, 176, 168), (204, 214, 214), (146, 174, 204)),
)


def floor_texture(kind: str, seed: int) -> np.ndarray:
    """(TEX_SIZE, TEX_SIZE) float32 floor texture as a mix between the palette's light (0)
    and dark (1) floor colours (up to MIX_MAX for grout); one tile is one metre."""
    i = np.arange(TEX_SIZE)
    tile_i = (i // int(TEX_PER_M))[:, None]
    tile_j = (i // int(TEX_PER_M))[None, :]
    if kind == "checker":
        return ((tile_i + tile_j) & 1).astype(np.float32)
    if kind != "tiles":
        raise ValueError(f"unknown floor kind {kind!r}")
    rng = np.random.default_rng(seed)
    n = TEX_SIZE // int(TEX_PER_M)
    tone = rng.uniform(0.2, 0.8, size=(n, n)).astype(np.float32)
    grain = rng.uniform(-0.08, 0.08, size=(TEX_SIZE, TEX_SIZE)).astype(np.float32)
    mix = np.clip(tone[tile_i, tile_j] + grain, 0, 1)
    grout = ((i % int(TEX_PER_M)) < 2)[:, None] | ((i % int(TEX_PER_M)) < 2)[None, :]
    mix[grout] = MIX_MAX  # grout lines a little darker than the dark colour
    return mix.astype(np.float32)


def wall_texture() -> np.ndarray:
    """(TEX_SIZE, TEX_SIZE) float32 brightness of the walls: 2 m panels with seams and a
    skirting board (row 0 is the floor line)."""
    i = np.arange(TEX_SIZE)
    tone = np.where((i // 64) % 2 == 0, 1.0, 0.9)[None, :] * np.ones((TEX_SIZE, 1))
    tone[:, (i % 64) < 2] *= 0.7
    tone[: int(0.3 * TEX_PER_M)] *= 0.6
    return tone.astype(np.float32)


class FrameRenderer:
    """Renders the frames of one scene; build once per clip (precomputes per-row constants)."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        cam = scene.camera
        w, h = scene.width, scene.height
        self.focal = (w / 2.0) / math.tan(math.radians(cam.hfov) / 2.0)
        self.xc = (np.arange(w) + 0.5 - w / 2.0) / self.focal
        yc = -(np.arange(h) + 0.5 - h / 2.0) / self.focal
        p = math.radians(cam.pitch)
        # Unnormalised ray direction at yaw 0: (xc[col], dy[row], dz[row]).
        self.dy = yc * math.cos(p) - math.sin(p)
        self.dz = yc * math.sin(p) + math.cos(p)
        self.xc32, self.dy32, self.dz32 = (
            a.astype(np.float32) for a in (self.xc, self.dy, self.dz)
        )
        ground = np.nonzero(self.dy < -1e-4)[0]
        self.g0 = int(ground[0]) if len(ground) else h
        palette = PALETTES[scene.palette]
        self.fog = np.array(palette[3], np.float32)
        zenith = np.array(palette[4], np.float32)
        elev = np.clip(self.dy / np.sqrt(self.dy**2 + self.dz**2), 0, None)
        wsky = np.clip(elev / 0.45, 0, 1)[:, None]
        sky = (self.fog * (1 - wsky) + zenith * wsky).astype(np.uint8)  # (h, 3)
        # RGBA with A = 0, like every table below: no byte of a frame is left uninitialised.
        self.sky = np.concatenate([sky, np.zeros((h, 1), np.uint8)], axis=1)
        self._init_floor()
        if scene.walls:
            self._init_walls()
        self._static_bg: np.ndarray | None = None

    def _init_floor(self) -> None:
        scene, cam = self.scene, self.scene.camera
        rows = slice(self.g0, scene.height)
        # Floor hit: the ray parameter t is constant per row (constant height and pitch).
        t = np.minimum(-cam.height / self.dy[rows], FAR)
        self.t_floor = t
        self.gx0 = t[:, None] * self.xc[None, :]  # hit offset from the camera at yaw 0
        self.gz0 = (t * self.dz[rows])[:, None]
        self.horizontal = t[:, None] * np.sqrt(self.xc[None, :] ** 2 + self.dz[rows, None] ** 2)
        # Footprint of a pixel on the floor, metres: past ~0.12 m the 1 m tiles would alias,
        # so the texture fades to its mean colour (a one-level mip map), then into fog.
        # Both weights are taken per row (at the image's centre column).
        footprint = np.maximum(t / self.focal, np.abs(np.gradient(self.gz0[:, 0])))
        w_mip = np.clip((footprint - 0.12) / 0.3, 0, 1)
        dist = t * np.sqrt(self.dy[rows] ** 2 + self.dz[rows] ** 2)
        w_fog = 1.0 - np.exp(-np.maximum(dist - 10.0, 0.0) / 45.0)
        shade = scene.ambient + scene.diffuse * LIGHT[1]
        light, dark = (np.array(c, np.float64) for c in PALETTES[scene.palette][:2])
        mix = floor_texture(scene.floor, scene.texture_seed).ravel()
        self.floor_level = np.round(mix / MIX_MAX * (MIX_LEVELS - 1)).astype(np.int32)
        mean = light + mix.mean() * (dark - light)
        # Per row: colour = base + mix * step, folding shading, mip and fog ...
        a = ((1 - w_mip) * (1 - w_fog) * shade)[:, None]
        base = a * light + (w_mip * (1 - w_fog) * shade)[:, None] * mean + w_fog[:, None] * self.fog
        step = a * (dark - light)
        # ... tabulated for every texture level, as RGBA packed in one uint32: a moving
        # camera's floor then costs two gathers per pixel.
        levels = np.arange(MIX_LEVELS) / (MIX_LEVELS - 1) * MIX_MAX
        lut = np.clip(base[:, None, :] + levels[None, :, None] * step[:, None, :], 0, 255)
        lut = np.concatenate([lut, np.zeros(lut.shape[:2] + (1,))], axis=-1).astype(np.uint8)
        # Rows whose texture weight is negligible are a constant colour: drawn once.
        textured = np.nonzero(a[:, 0] > 1e-3)[0]
        self.gt = self.g0 + (int(textured[0]) if len(textured) else len(t))
        k = self.gt - self.g0
        self.floor_const = lut[:k, :1]  # constant rows: every level has the same colour
        self.floor_lut = lut[k:].reshape(-1, 4).view(np.uint32).ravel()
        self.floor_row_offset = (np.arange(len(t) - k, dtype=np.int32) * MIX_LEVELS)[:, None]
        self.gx0_tex = (self.gx0[k:] * TEX_PER_M).astype(np.float32)
        self.gz0_tex = (self.gz0[k:] * TEX_PER_M).astype(np.float32)

    def _init_walls(self) -> None:
        scene, cam = self.scene, self.scene.camera
        # Colours tabulated per (wall, texture tone), packed RGBA: east, west, north, south.
        tones, self.wall_level = np.unique(wall_texture().ravel(), return_inverse=True)
        self.wall_level = self.wall_level.astype(np.int32)
        self.wall_tones = len(tones)
        normals = np.array([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 0.0, 1.0]])
        shade = scene.ambient + scene.diffuse * np.maximum(0.0, normals @ LIGHT)
        rgb = shade[:, None, None] * tones[None, :, None] * np.array(PALETTES[scene.palette][2])
        rgba = np.concatenate([rgb, np.zeros(rgb.shape[:2] + (1,))], axis=-1)
        self.wall_lut = (
            np.clip(rgba, 0, 255).astype(np.uint8).reshape(-1, 4).view(np.uint32).ravel()
        )
        # Rows that can show a wall whatever the yaw: sky rows, and floor rows whose hits can
        # lie beyond the nearest wall (a pixel's horizontal hit distance ignores the yaw).
        max_cam = max(abs(c) for c in (*cam.start, *cam.end))
        far = np.nonzero(self.horizontal.max(1) > ARENA_HALF - max_cam - 0.5)[0]
        self.wall_rows = self.g0 + (int(far[-1]) + 1 if len(far) else 0)
        floor_t = np.full(scene.height, np.inf)
        floor_t[self.g0 :] = self.t_floor
        self.wall_floor_t = floor_t[: self.wall_rows, None].astype(np.float32)

    # -- background ------------------------------------------------------------------------

    def background(self, cx: float, cz: float, yaw: float) -> np.ndarray:
        """Sky, floor and walls for one camera pose, (h, w, 4) uint8 RGBA (A unused: four
        bytes a pixel let the floor be written as one uint32 gather)."""
        scene = self.scene
        img = np.empty((scene.height, scene.width, 4), np.uint8)
        img[: self.g0] = self.sky[: self.g0, None, :]
        img[self.g0 : self.gt] = self.floor_const
        c, s = np.float32(math.cos(math.radians(yaw))), np.float32(math.sin(math.radians(yaw)))
        if self.gt < scene.height:
            ox = np.float32((cx + TEX_OFFSET) * TEX_PER_M)
            oz = np.float32((cz + TEX_OFFSET) * TEX_PER_M)
            gx = self.gx0_tex * c
            gx += self.gz0_tex * s + ox
            gz = self.gx0_tex * -s
            gz += self.gz0_tex * c + oz
            index = gz.astype(np.int32)
            index &= TEX_SIZE - 1
            index <<= TEX_BITS
            index |= gx.astype(np.int32) & (TEX_SIZE - 1)
            level = np.take(self.floor_level, index)
            level += self.floor_row_offset
            np.take(self.floor_lut, level, out=img[self.gt :].view(np.uint32)[..., 0])
        if scene.walls and self.wall_rows > 0:
            self._draw_walls(img, cx, cz, c, s)
        return img

    def _draw_walls(self, img: np.ndarray, cx: float, cz: float, c, s) -> None:
        rows = self.wall_rows
        cam = self.scene.camera
        xc = self.xc[None, :].astype(np.float32)
        dz = self.dz[:rows, None].astype(np.float32)
        dy = self.dy[:rows, None].astype(np.float32)
        dxw = xc * c + dz * s
        dzw = dz * c - xc * s
        # Distance to the wall ahead along x and along z (inside the arena, so positive).
        with np.errstate(divide="ignore"):
            tx = np.where(dxw > 0, np.float32(ARENA_HALF - cx), np.float32(ARENA_HALF + cx))
            tx /= np.abs(dxw)
            tz = np.where(dzw > 0, np.float32(ARENA_HALF - cz), np.float32(ARENA_HALF + cz))
            tz /= np.abs(dzw)
        on_x = tx < tz  # hits a wall of constant x (east or west)
        tw = np.minimum(tx, tz)
        yh = tw * dy
        yh += np.float32(cam.height)
        hit = (yh < WALL_HEIGHT) & (tw < self.wall_floor_t)
        if not hit.any():
            return
        along = np.where(on_x, tw * dzw + np.float32(cz), tw * dxw + np.float32(cx))
        iu = ((along + np.float32(TEX_OFFSET)) * np.float32(TEX_PER_M)).astype(np.int32)
        iu &= TEX_SIZE - 1
        iv = np.clip((yh * np.float32(TEX_PER_M)).astype(np.int32), 0, TEX_SIZE - 1)
        iv <<= TEX_BITS
        iv |= iu
        ahead = np.where(on_x, dxw, dzw) <= 0  # the west or south wall of the pair
        wall = ahead.astype(np.int32)
        wall += np.where(on_x, 0, 2)
        wall *= self.wall_tones
        wall += np.take(self.wall_level, iv)
        packed = np.take(self.wall_lut, wall)
        np.copyto(img[:rows].view(np.uint32)[..., 0], packed, where=hit)

    # -- frames ----------------------------------------------------------------------------

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` as (h, w, 3) uint8 RGB."""
        return np.ascontiguousarray(self.frame_rgba(index)[..., :3])

    def frame_rgba(self, index: int) -> np.ndarray:
        """Frame `index` as (h, w, 4) uint8 RGBA, the renderer's own layout (A unused)."""
        scene = self.scene
        s = scene.times()[index]
        cx, cz, yaw = (float(v) for v in scene.camera.state(np.array(s)))
        if scene.camera.moves:
            img = self.background(cx, cz, yaw)
        else:
            if self._static_bg is None:
                self._static_bg = self.background(cx, cz, yaw)
            img = self._static_bg.copy()
        states = [tuple(float(v) for v in obj.motion.state(np.array(s))) for obj in scene.objects]
        pose = (cx, cz, yaw)
        for obj, state in zip(scene.objects, states, strict=True):
            self._draw_shadow(img, obj, state, pose)
        zbuf = np.full((scene.height, scene.width), np.inf, np.float32)
        for obj, state in zip(scene.objects, states, strict=True):
            self._draw_object(img, zbuf, obj, state, pose)
        return img

    def frames(self) -> Iterator[np.ndarray]:
        """All frames, RGBA (what `encode_mp4` takes)."""
        for k in range(self.scene.n_frames):
            yield self.frame_rgba(k)

    def _bbox(self, corners: np.ndarray, pose) -> tuple[int, int, int, int] | None:
        """Pixel box (v0, v1, u0, u1) holding the projection of a convex hull's corners."""
        scene = self.scene
        cx, cz, yaw = pose
        u, v, zc = project(scene.camera, cx, cz, yaw, corners, scene.width, scene.height)
        if np.any(zc <= 0.05):
            return (0, scene.height, 0, scene.width) if np.any(zc > 0.05) else None
        u0 = int(max(0, math.floor(u.min()) - 1))
        u1 = int(min(scene.width, math.ceil(u.max()) + 1))
        v0 = int(max(0, math.floor(v.min()) - 1))
        v1 = int(min(scene.height, math.ceil(v.max()) + 1))
        if u0 >= u1 or v0 >= v1:
            return None
        return v0, v1, u0, u1

    def _draw_shadow(self, img, obj: SceneObject, state, pose) -> None:
        ox, oy, oz, _ = state
        cx, cz, yaw = pose
        rho = obj.half_width * 1.35
        corners = np.array([[ox + i * rho, 0.0, oz + j * rho] for i in (-1, 1) for j in (-1, 1)])
        box = self._bbox(corners, pose)
        if box is None:
            return
        v0, v1, u0, u1 = box
        v0 = max(v0, self.g0)
        if v0 >= v1:
            return
        c, s = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
        gx0 = self.gx0[v0 - self.g0 : v1 - self.g0, u0:u1]
        gz0 = self.gz0[v0 - self.g0 : v1 - self.g0]
        gx = cx + gx0 * c + gz0 * s
        gz = cz + gz0 * c - gx0 * s
        d2 = ((gx - ox) ** 2 + (gz - oz) ** 2) / (rho * rho)
        # The shadow softens and fades as the object leaves the floor (bounces).
        strength = 0.5 * math.exp(-oy / 0.8)
        factor = 1.0 - strength * np.clip(1.0 - d2, 0.0, 1.0) ** 1.5
        region = img[v0:v1, u0:u1, :3]
        region[:] = (region * factor[..., None]).astype(np.uint8)

    def _draw_object(self, img, zbuf, obj: SceneObject, state, pose) -> None:
        ox, oy, oz, heading = state
        cx, cz, yaw = pose
        ch, sh = math.cos(math.radians(heading)), math.sin(math.radians(heading))
        a, hgt = obj.half_width, obj.height
        local = np.array([[i * a, y, j * a] for i in (-1, 1) for j in (-1, 1) for y in (0, hgt)])
        # Local (right, up, front) -> world: right = (cos, -sin), front = (sin, cos).
        corners = np.stack(
            [
                ox + local[:, 0] * ch + local[:, 2] * sh,
                oy + local[:, 1],
                oz - local[:, 0] * sh + local[:, 2] * ch,
            ],
            axis=-1,
        )
        box = self._bbox(corners, pose)
        if box is None:
            return
        v0, v1, u0, u1 = box
        # The ray in the object's frame (local x = its right, local z = its front) only
        # depends on the yaw relative to the heading; dy is a column (constant along rows).
        # float32: half the memory traffic; millimetre precision is plenty at these distances.
        rel = math.radians(yaw - heading)
        cr, sr = np.float32(math.cos(rel)), np.float32(math.sin(rel))
        xc = self.xc32[None, u0:u1]
        dz = self.dz32[v0:v1, None]
        dy = self.dy32[v0:v1, None]
        lx = xc * cr + dz * sr
        lz = dz * cr - xc * sr
        wx, wz = cx - ox, cz - oz
        origin = (wx * ch - wz * sh, self.scene.camera.height - oy, wx * sh + wz * ch)
        t, normal, marker = intersect(obj, origin, (lx, dy, lz))
        region_z = zbuf[v0:v1, u0:u1]
        hit = t < region_z
        if not hit.any():
            return
        np.copyto(region_z, t, where=hit)
        light = (LIGHT[0] * ch - LIGHT[2] * sh, LIGHT[1], LIGHT[0] * sh + LIGHT[2] * ch)
        nx, ny, nz = (n[hit] for n in normal)
        lambert = np.maximum(0.0, nx * light[0] + ny * light[1] + nz * light[2])
        shade = self.scene.ambient + self.scene.diffuse * lambert
        if obj.texture != "plain":
            th = t[hit]
            point = (
                origin[0] + th * lx[hit],
                origin[1] + th * np.broadcast_to(dy, lx.shape)[hit],
                origin[2] + th * lz[hit],
            )
            shade = shade * texture_factor(obj, *point)
        colour = shade[:, None] * np.array(obj.albedo, float)
        # The marker is nearly self-lit so that it stays the brightest thing in the frame.
        on_marker = marker[hit]
        colour[on_marker] = (0.94 + 0.06 * lambert[on_marker])[:, None] * np.array(
            MARKER_COLOUR, float
        )
        region = img[v0:v1, u0:u1, :3]
        region[hit] = np.clip(colour, 0, 255).astype(np.uint8)


def _cells(coordinate: np.ndarray, cell: float) -> np.ndarray:
    """Lattice index of each coordinate. The cell sizes below put the flat faces (a cube's
    sides at +-size/2, its base and top, a cylinder's caps) inside cells, never on a cell
    border, where rounding would speckle the face."""
    return np.floor(coordinate / np.float32(cell)).astype(np.int64)


def _hash01(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray) -> np.ndarray:
    """A value in [0, 1] per integer lattice cell (a spatial hash; int64 products wrap)."""
    with np.errstate(over="ignore"):
        h = (ix * 73856093) ^ (iy * 19349663) ^ (iz * 83492791)
        h = (h ^ (h >> 13)) * 1274126177
    return ((h >> 7) & 1023).astype(np.float32) / np.float32(1023)


def texture_factor(obj: SceneObject, px: np.ndarray, py: np.ndarray, pz: np.ndarray):
    """Brightness factor in [TEXTURE_DARK, 1] of `obj`'s texture at points of its surface,
    given in its local frame (base centre at the origin, y up, +z = front), metres.

    checker: a solid 3D checker, three cells across the object; stripes: horizontal bands a
    fifth of its width (across the vertical front marker, never along it); noise: two
    scales of hashed cells, blotchy. Fixed to the object, so the pattern turns with it."""
    size = obj.size
    dark = np.float32(1.0 - TEXTURE_DARK)
    # Heights from below the base: the base (y = 0) is then inside a cell.
    if obj.texture == "checker":
        cell = size / 3.0
        parity = (_cells(px, cell) + _cells(py + cell / 2, cell) + _cells(pz, cell)) & 1
        return np.float32(1.0) - dark * parity.astype(np.float32)
    if obj.texture == "stripes":
        cell = size / 5.0  # a quarter cell up: a cylinder's top (5.5 cells) stays inside one
        return np.float32(1.0) - dark * (_cells(py + cell / 4, cell) & 1).astype(np.float32)
    if obj.texture == "noise":
        blotches = []
        for cell in (size / 2.6, size / 7.4):
            y = py + cell / 2
            blotches.append(_hash01(_cells(px, cell), _cells(y, cell), _cells(pz, cell)))
        return np.float32(1.0) - dark * (
            np.float32(0.6) * blotches[0] + np.float32(0.4) * blotches[1]
        )
    if obj.texture == "plain":
        return np.ones_like(px)
    raise ValueError(f"unknown texture {obj.texture!r}: use one of {', '.join(TEXTURES)}")


def intersect(obj: SceneObject, origin, direction):
    """Ray/primitive intersection in the object's local frame (base centre at the origin,
    y up, +z = front). Returns (t, normal (nx, ny, nz), marker mask); t = inf on a miss."""
    ox, oy, oz = origin
    dx, dy, dz = direction
    a = obj.half_width
    h = obj.height
    inf = np.inf
    if obj.shape == "sphere":
        cy = oy - a
        qa = dx * dx + dy * dy + dz * dz
        qb = ox * dx + cy * dy + oz * dz
        qc = ox * ox + cy * cy + oz * oz - a * a
        disc = qb * qb - qa * qc
        ok = disc > 0
        t = np.where(ok, (-qb - np.sqrt(np.where(ok, disc, 0))) / qa, inf)
        t = np.where(t > 0, t, inf)
        px, py, pz = ox + t * dx, oy + t * dy, oz + t * dz
        with np.errstate(invalid="ignore"):
            normal = (px / a, (py - a) / a, pz / a)
            marker = (pz > 0) & (np.abs(px) < 0.3 * a) & (np.abs(py - a) < 0.6 * a)
    elif obj.shape == "cube":
        lo = (-a, 0.0, -a)
        hi = (a, h, a)
        tnear = np.full(dx.shape, -inf, dx.dtype)
        tfar = np.full(dx.shape, inf, dx.dtype)
        axis = np.zeros(dx.shape, np.int8)
        sign = np.zeros(dx.shape, dx.dtype)
        for k, (o, d) in enumerate(((ox, dx), (oy, dy), (oz, dz))):
            d = np.where(np.abs(d) < 1e-12, 1e-12, d)
            t1 = (lo[k] - o) / d
            t2 = (hi[k] - o) / d
            tmin = np.minimum(t1, t2)
            tmax = np.maximum(t1, t2)
            better = tmin > tnear
            axis = np.where(better, k, axis)
            sign = np.where(better, -np.sign(d), sign)
            tnear = np.maximum(tnear, tmin)
            tfar = np.minimum(tfar, tmax)
        ok = (tnear < tfar) & (tnear > 0)
        t = np.where(ok, tnear, inf)
        normal = tuple(np.where(axis == k, sign, 0.0) for k in range(3))
        px = ox + np.where(ok, t, 0) * dx
        marker = (axis == 2) & (sign > 0) & (np.abs(px) < 0.3 * a)
    elif obj.shape in ("cylinder", "cone"):
        # Side surface x^2 + z^2 = r(y)^2 with r(y) = a (cylinder) or k (h - y) (cone).
        k = a / h if obj.shape == "cone" else 0.0
        q = h - oy
        qa = dx * dx + dz * dz - k * k * dy * dy
        qb = ox * dx + oz * dz + k * k * q * dy
        if obj.shape == "cone":
            qc = ox * ox + oz * oz - k * k * q * q
        else:
            qc = ox * ox + oz * oz - a * a
        disc = qb * qb - qa * qc
        ok = (disc >= 0) & (np.abs(qa) > 1e-12)
        root = np.sqrt(np.where(ok, disc, 0))
        safe_qa = np.where(np.abs(qa) > 1e-12, qa, 1.0)
        t_side = inf
        for r in ((-qb - root) / safe_qa, (-qb + root) / safe_qa):
            y = oy + r * dy
            valid = ok & (r > 0) & (y >= 0) & (y <= h)
            t_side = np.minimum(t_side, np.where(valid, r, inf))
        dy_safe = np.where(np.abs(dy) < 1e-12, 1e-12, dy)
        caps = [(0.0, a, -1.0)] + ([(h, a, 1.0)] if obj.shape == "cylinder" else [])
        t = t_side
        cap_n = np.zeros(dx.shape, dx.dtype)
        for y_cap, radius, ny in caps:
            tc = (y_cap - oy) / dy_safe
            cxp, czp = ox + tc * dx, oz + tc * dz
            valid = (tc > 0) & (cxp * cxp + czp * czp <= radius * radius)
            tc = np.where(valid, tc, inf)
            closer = tc < t
            cap_n = np.where(closer, ny, cap_n)
            t = np.minimum(t, tc)
        on_side = np.isfinite(t) & (cap_n == 0)
        tt = np.where(np.isfinite(t), t, 0)
        px, py, pz = ox + tt * dx, oy + tt * dy, oz + tt * dz
        radial = np.sqrt(px * px + pz * pz) + 1e-12
        if obj.shape == "cone":
            # Gradient of x^2 + z^2 - k^2 (h - y)^2, normalised.
            gy = k * k * (h - py)
            norm = np.sqrt(radial**2 + gy**2) + 1e-12
            side_n = (px / norm, gy / norm, pz / norm)
            r_here = k * (h - py)
        else:
            side_n = (px / radial, np.zeros_like(px), pz / radial)
            r_here = a
        normal = (
            np.where(on_side, side_n[0], 0.0),
            np.where(on_side, side_n[1], cap_n),
            np.where(on_side, side_n[2], 0.0),
        )
        marker = on_side & (pz > 0) & (np.abs(px) < 0.3 * r_here) & (py < 0.8 * h)
    else:
        raise ValueError(f"cannot render shape {obj.shape!r}")
    return t, normal, marker


def render_clip(scene: Scene, path: str | Path, crf: int = 23) -> int:
    """Render and encode one scene to `path`; returns the frame count."""
    renderer = FrameRenderer(scene)
    return encode_mp4(renderer.frames(), path, scene.width, scene.height, scene.fps, crf=crf)
