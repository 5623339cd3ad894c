"""The generator's configuration (`vlm4d generate-probe --config FILE`): what the scenes may
contain, for studies of which properties of synthetic videos make training data help (the
VLM4D paper's open question 2).

    objects:
      shapes: [cube, sphere, cylinder, cone]   # at least 3 (a scene holds up to 3 objects)
      colours: [blue, green, orange, purple, red, yellow]   # at least 4 (one stays absent)
      textures: [plain]                        # surface patterns, one drawn per object
      size: [0.7, 1.05]                        # footprint width range, metres
    scene:
      floors: [checker, tiles]                 # floor textures
      palettes: [0, 1, 2]                      # floor, wall and sky colour sets
      walls_probability: 0.25                  # share of scenes inside walls
      lighting: {ambient: 0.45, diffuse: 0.55} # flat Lambert shading
    camera:
      motions: [pan, walk, truck, turn, arc]   # the moving camera's paths, taken in turn
      speed: 1.0                               # scale of its travel and turn
    motion:
      speed: 1.0                               # scale of objects' travel and spin
      occlusion: false                         # true: objects may overlap in the picture
    clip: {width: 854, height: 480, fps: 24, seconds: 4.0}

Colours. An entry is a named hue (red, orange, yellow, green, blue, purple: `scene.COLOURS`)
or a colour of your own, `{name: teal, rgb: [0, 150, 150]}`; the name is what questions say
("the teal cube"): lower-case words, unique in the list. An own colour must be saturated
(HSV saturation >= 0.4, value >= 0.3: floor, walls and sky are unsaturated, the front marker
is white) and at least 60 apart (RGB distance) from every other listed colour, so that the
object a question names is the one a viewer sees.

Textures (`objects.textures`): `plain` (one colour), `checker` (a 3D checker, cells a third
of the object wide), `stripes` (horizontal bands, across the vertical front marker),
`noise` (a blotchy two-scale pattern). Each is a brightness pattern fixed to the object
(it turns with it), from 0.72 to 1 times the colour: hue and saturation stay the colour's,
and the white front marker stays on top, the brightest thing on the object. Each object
draws its texture from the list with its scene's random stream AFTER every geometric draw,
so the same seed gives the same scenes, questions and answers whatever the textures
(only the pixels differ: an ablation of texture alone); with one texture nothing is drawn.

Every key is optional; a missing one keeps the default above, and the defaults are the
test probe set's: a run with this file (or none) writes the same bytes. The labels stay
exact whatever the configuration (they come from the geometry); with `occlusion: true` an
object may be hidden for part of a clip, which the labels do not model. A non-default
configuration is recorded in probe_labels.json (`settings.generator`).
"""

from __future__ import annotations

import colorsys
import math
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from vlm4d_tasks.probe.scene import COLOURS, SHAPES, TEXTURES

__all__ = ["ConfigError", "GeneratorConfig", "load_config"]

MOVING_CAMERAS: tuple[str, ...] = ("pan", "walk", "truck", "turn", "arc")
FLOORS: tuple[str, ...] = ("checker", "tiles")
N_PALETTES = 3
# Own colours: what sets them apart from the scenery (unsaturated) and from each other.
MIN_SATURATION = 0.4
MIN_VALUE = 0.3
MIN_COLOUR_DISTANCE = 60.0  # RGB; the closest named pair, orange and yellow, is 72 apart
_COLOUR_NAME = re.compile(r"[a-z]+(?: [a-z]+)*")
_NAME_LENGTH = 24
# A colour entry: a named hue, or (name, (r, g, b)) for a colour of one's own.
ColourEntry = str | tuple[str, tuple[int, int, int]]
_CONFIG_LIMIT = 1024 * 1024  # a configuration is a few hundred bytes


class ConfigError(ValueError):
    """A configuration that cannot be used: the message names the file, the field and the fix."""


@dataclass(frozen=True)
class GeneratorConfig:
    shapes: tuple[str, ...] = SHAPES
    colours: tuple[ColourEntry, ...] = tuple(sorted(COLOURS))
    textures: tuple[str, ...] = ("plain",)
    size: tuple[float, float] = (0.7, 1.05)
    floors: tuple[str, ...] = FLOORS
    palettes: tuple[int, ...] = (0, 1, 2)
    walls_probability: float = 0.25
    ambient: float = 0.45
    diffuse: float = 0.55
    camera_motions: tuple[str, ...] = MOVING_CAMERAS
    camera_speed: float = 1.0
    object_speed: float = 1.0
    occlusion: bool = False

    def is_default(self) -> bool:
        return self == GeneratorConfig()

    def colour_names(self) -> tuple[str, ...]:
        """The names of the colours, as questions say them."""
        return tuple(c if isinstance(c, str) else c[0] for c in self.colours)

    def own_colours(self) -> dict[str, tuple[int, int, int]]:
        """Name -> RGB of the colours given as RGB (named hues are `scene.COLOURS`)."""
        return {c[0]: tuple(c[1]) for c in self.colours if not isinstance(c, str)}

    def to_dict(self) -> dict:
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        out["colours"] = [_colour_json(c) for c in self.colours]
        return out

    @classmethod
    def from_dict(cls, data: dict, where: str = "generator") -> GeneratorConfig:
        """The configuration `to_dict` wrote (lists back to tuples), checked."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {unknown}. Fix: remove them")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        values = _entries(values)
        config = cls(**values)
        config.check(where)
        return config

    def check(self, where: str = "generator") -> None:
        def fail(field: str, cause: str, fix: str) -> None:
            raise ConfigError(f"{where}: field {field}: {cause}. Fix: {fix}")

        def choices(field: str, values: tuple, allowed: tuple, least: int) -> None:
            if not isinstance(values, tuple):
                fail(field, f"{values!r} is not a list", f"write a list, e.g. {list(allowed)}")
            bad = [v for v in values if v not in allowed]
            if bad:
                fail(field, f"{bad} not among {list(allowed)}", f"use only {list(allowed)}")
            if len(set(values)) != len(values):
                fail(field, "lists a value twice", "list each value once")
            if len(values) < least:
                fail(field, f"{len(values)} given, {least} needed", f"list at least {least}")

        def number(field: str, value: object, low: float, high: float) -> None:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or not low <= value <= high:
                fail(field, f"{value!r} is not a number in [{low}, {high}]", "give one in range")

        choices("objects.shapes", self.shapes, SHAPES, 3)
        self._check_colours(fail)
        choices("objects.textures", self.textures, TEXTURES, 1)
        if not isinstance(self.size, tuple) or len(self.size) != 2:
            fail("objects.size", f"{list(self.size)} is not [low, high]", "give two numbers")
        for value in self.size:
            number("objects.size", value, 0.3, 1.4)
        if self.size[0] > self.size[1]:
            fail("objects.size", f"low {self.size[0]} > high {self.size[1]}", "swap them")
        choices("scene.floors", self.floors, FLOORS, 1)
        choices("scene.palettes", self.palettes, tuple(range(N_PALETTES)), 1)
        number("scene.walls_probability", self.walls_probability, 0.0, 1.0)
        number("scene.lighting.ambient", self.ambient, 0.0, 1.0)
        number("scene.lighting.diffuse", self.diffuse, 0.0, 1.0)
        choices("camera.motions", self.camera_motions, MOVING_CAMERAS, 1)
        number("camera.speed", self.camera_speed, 0.25, 2.0)
        number("motion.speed", self.object_speed, 0.25, 2.0)
        if not isinstance(self.occlusion, bool):
            fail(
                "motion.occlusion",
                f"{self.occlusion!r} is not true or false",
                "write true or false",
            )

    def _check_colours(self, fail) -> None:
        field = "objects.colours"
        named = ", ".join(sorted(COLOURS))
        own = "{name: NAME, rgb: [R, G, B]}"
        if not isinstance(self.colours, tuple):
            fail(field, f"{self.colours!r} is not a list", f"write a list, e.g. [{named}]")
        seen: dict[str, tuple[int, int, int]] = {}
        for n, entry in enumerate(self.colours, 1):
            at = f"{field} entry {n}"
            if isinstance(entry, str):
                if entry not in COLOURS:
                    fail(
                        at,
                        f"{entry!r} is not a named hue ({named})",
                        f"use a named hue or give your own as {own}",
                    )
                name, rgb = entry, COLOURS[entry]
            elif _is_own(entry):
                name, rgb = entry[0], tuple(entry[1])
                if not (_COLOUR_NAME.fullmatch(name) and len(name) <= _NAME_LENGTH):
                    fail(
                        at,
                        f"name {name!r} is not lower-case words (a-z, single spaces)",
                        f"name it like 'teal' or 'sky blue' (at most {_NAME_LENGTH} characters)",
                    )
                if not all(type(v) is int and 0 <= v <= 255 for v in rgb):
                    fail(
                        at,
                        f"rgb {list(rgb)!r} is not three whole numbers 0-255",
                        "give red, green and blue as whole numbers from 0 to 255",
                    )
                _, sat, val = colorsys.rgb_to_hsv(*(v / 255 for v in rgb))
                if sat < MIN_SATURATION or val < MIN_VALUE:
                    fail(
                        at,
                        f"{name} {list(rgb)} is too grey, dark or white (HSV saturation "
                        f"{sat:.2f}, value {val:.2f}) to tell from the floor, walls and the "
                        "white front marker",
                        f"give a saturation >= {MIN_SATURATION} and a value >= {MIN_VALUE}",
                    )
            else:
                fail(
                    at,
                    f"{entry!r} is neither a named hue nor {own}",
                    f"write a named hue ({named}) or {own}",
                )
            if name in seen:
                fail(at, f"two colours are named {name!r}", "give each colour its own name")
            for other, other_rgb in seen.items():
                distance = math.dist(rgb, other_rgb)
                if distance < MIN_COLOUR_DISTANCE:
                    fail(
                        at,
                        f"{name} {list(rgb)} is {distance:.0f} from {other} {list(other_rgb)} "
                        f"(RGB distance): a viewer could not tell which one a question names",
                        f"make them at least {MIN_COLOUR_DISTANCE:.0f} apart or drop one",
                    )
            seen[name] = rgb
        if len(seen) < 4:
            fail(field, f"{len(seen)} given, 4 needed", "list at least 4")


def _is_own(entry: object) -> bool:
    return (
        isinstance(entry, tuple)
        and len(entry) == 2
        and isinstance(entry[0], str)
        and isinstance(entry[1], tuple)
        and len(entry[1]) == 3
    )


def _colour_json(entry: ColourEntry) -> object:
    return entry if isinstance(entry, str) else {"name": entry[0], "rgb": list(entry[1])}


def _entries(values: dict[str, object]) -> dict[str, object]:
    """`{name: N, rgb: [R, G, B]}` colour entries (YAML or JSON) as (N, (R, G, B)); anything
    else is left for `check` to name."""
    colours = values.get("colours")
    if not isinstance(colours, tuple):
        return values
    out = []
    for entry in colours:
        if isinstance(entry, dict) and set(entry) == {"name", "rgb"}:
            rgb = entry["rgb"]
            entry = (entry["name"], tuple(rgb) if isinstance(rgb, list) else rgb)
        out.append(entry)
    return values | {"colours": tuple(out)}


# YAML section -> {YAML key: GeneratorConfig field (or a nested section)}.
_LAYOUT: dict[str, dict[str, object]] = {
    "objects": {
        "shapes": "shapes",
        "colours": "colours",
        "textures": "textures",
        "size": "size",
    },
    "scene": {
        "floors": "floors",
        "palettes": "palettes",
        "walls_probability": "walls_probability",
        "lighting": {"ambient": "ambient", "diffuse": "diffuse"},
    },
    "camera": {"motions": "camera_motions", "speed": "camera_speed"},
    "motion": {"speed": "object_speed", "occlusion": "occlusion"},
}
CLIP_FIELDS = ("width", "height", "fps", "seconds")


def _flatten(data: object, layout: dict, prefix: str, path: str, out: dict) -> None:
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: field {prefix or '(top level)'}: expected a mapping (key: value), got "
            f"{type(data).__name__}. Fix: write it as in the example in vlm4d_tasks/probe/config.py"
        )
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if key not in layout:
            raise ConfigError(
                f"{path}: field {name}: unknown. Fix: use one of "
                f"{', '.join(f'{prefix}.{k}' if prefix else k for k in layout)}"
            )
        target = layout[key]
        if isinstance(target, dict):
            _flatten(value, target, name, path, out)
        elif isinstance(value, list):
            out[target] = tuple(value)
        else:
            out[target] = value


def load_config(path: str | Path) -> tuple[GeneratorConfig, dict[str, object]]:
    """The generator configuration in the YAML file `path`, and its `clip` settings (width,
    height, fps, seconds: those it gives). Raises ConfigError naming the file and field."""
    import yaml

    from vlm4d_tasks.data.files import InputFileError, read_regular_text

    path = Path(path)
    try:
        text = read_regular_text(path, limit=_CONFIG_LIMIT, fix="fix: pass a YAML file")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file. Fix: pass the path of a YAML file") from None
    except InputFileError as exc:
        raise ConfigError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc}). Fix: save it as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigError(
            f"{path}: not valid YAML{line} ({getattr(exc, 'problem', None) or exc}). "
            "Fix: correct the YAML syntax"
        ) from None
    if data is None:
        data = {}
    clip = data.pop("clip", {}) if isinstance(data, dict) else {}
    values: dict[str, object] = {}
    _flatten(data, _LAYOUT, "", str(path), values)
    if not isinstance(clip, dict):
        raise ConfigError(f"{path}: field clip: expected a mapping. Fix: clip: {{width: 448}}")
    for key, value in clip.items():
        if key not in CLIP_FIELDS:
            raise ConfigError(
                f"{path}: field clip.{key}: unknown. Fix: use one of "
                + ", ".join(f"clip.{k}" for k in CLIP_FIELDS)
            )
        kinds = (int, float) if key == "seconds" else (int,)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise ConfigError(
                f"{path}: field clip.{key}: {value!r} is not a "
                f"{'number' if key == 'seconds' else 'whole number'}. Fix: write one"
            )
    try:
        config = GeneratorConfig(**_entries(values))
        config.check(str(path))
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}. Fix: see vlm4d_tasks/probe/config.py") from None
    return config, dict(clip)
