"""Object textures and colours of one's own in the generator configuration (issue 28: "object
shapes, colours and textures").

Real files: YAML configurations in tmp folders (a bad texture or colour is among the bad
configurations of tests/test_probe_train.py, through the CLI), tiny
clips (96x64, 4 frames) through the whole generator, single frames from the renderer.
"""

from __future__ import annotations

import colorsys
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

from vlm4d_tasks.probe.config import GeneratorConfig, load_config  # noqa: E402
from vlm4d_tasks.probe.generate import (  # noqa: E402
    LABELS_FILE,
    MC_FILE,
    RECORDS_FILE,
    ProbeSettings,
    generate_probe,
    plan_probe,
)
from vlm4d_tasks.probe.render import TEXTURE_DARK, FrameRenderer  # noqa: E402
from vlm4d_tasks.probe.scene import (  # noqa: E402
    COLOURS,
    TEXTURES,
    CameraPath,
    Motion,
    Scene,
    SceneObject,
)

TINY = {"width": 96, "height": 64, "fps": 4, "seconds": 1.0, "jobs": 1}
OLD_OBJECT_KEYS = {"name", "shape", "colour", "size", "height", "motion", "track_xyz_heading"}


def _config(tmp_path: Path, text: str) -> GeneratorConfig:
    path = tmp_path / "g.yaml"
    path.write_text(text)
    config, _ = load_config(path)
    return config


def _without_texture(scene: Scene) -> Scene:
    return replace(scene, objects=tuple(replace(o, texture="plain") for o in scene.objects))


def _hue(rgb: np.ndarray) -> np.ndarray:
    return np.array([360.0 * colorsys.rgb_to_hsv(*(c / 255 for c in px))[0] for px in rgb])


def test_textures_change_the_object_pixels_and_nothing_else(tmp_path):
    textured = _config(tmp_path, "objects: {textures: [checker, stripes, noise]}\n")
    assert textured.textures == ("checker", "stripes", "noise")
    plain = ProbeSettings(n_scenes=6, split="train", **TINY)
    settings = replace(plain, generator=textured)
    a, b = plan_probe(plain), plan_probe(settings)
    # The same scenes, questions and answers: texture draws come after every geometric one.
    assert [r.to_dict() for r in a.records] == [r.to_dict() for r in b.records]
    assert [_without_texture(s) for s in b.scenes] == a.scenes
    drawn = [o.texture for s in b.scenes for o in s.objects]
    assert set(drawn) <= set(textured.textures) and len(set(drawn)) > 1, drawn
    # The pair's two scenes show the same objects, textures included.
    for static, moving in zip(b.scenes[::2], b.scenes[1::2], strict=True):
        assert static.objects == moving.objects

    generate_probe(tmp_path / "plain", replace(plain, n_scenes=2), progress=False)
    generate_probe(tmp_path / "tex", replace(settings, n_scenes=2), progress=False)
    for name in (MC_FILE, RECORDS_FILE):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "tex" / name).read_bytes()
    labels = [json.loads((tmp_path / d / LABELS_FILE).read_text()) for d in ("plain", "tex")]
    # The train split records each object's texture and RGB; only those (and the
    # configuration in settings.generator) tell the two runs apart.
    for scene_a, scene_b, scene in zip(
        labels[0]["scenes"], labels[1]["scenes"], b.scenes[:2], strict=True
    ):
        objects = zip(scene_a["objects"], scene_b["objects"], scene.objects, strict=True)
        for obj_a, obj_b, obj in objects:
            assert obj_a["texture"] == "plain" and obj_b["texture"] == obj.texture
            assert obj_b["rgb"] == list(COLOURS[obj.colour])
            assert {k: v for k, v in obj_a.items() if k != "texture"} == {
                k: v for k, v in obj_b.items() if k != "texture"
            }
    assert labels[0]["questions"] == labels[1]["questions"]
    assert labels[1]["settings"]["generator"]["textures"] == list(textured.textures)
    videos = [(tmp_path / d / "videos_probe" / "train_000001.mp4").read_bytes() for d in ("plain", "tex")]  # fmt: skip
    assert videos[0] != videos[1]

    # Pixels: the background is untouched, the textured objects' own pixels differ.
    scene = b.scenes[0]
    bare = FrameRenderer(replace(scene, objects=())).frame(0).astype(int)
    flat = FrameRenderer(_without_texture(scene)).frame(0).astype(int)
    rich = FrameRenderer(scene).frame(0).astype(int)
    body = np.any(flat != bare, axis=-1)
    assert np.array_equal(rich[~body], flat[~body])
    assert np.any(rich[body] != flat[body])


def test_the_test_split_labels_keep_their_fields():
    plan = plan_probe(ProbeSettings(n_scenes=2, **TINY))
    for scene in plan.labels["scenes"]:
        for obj in scene["objects"]:
            assert set(obj) == OLD_OBJECT_KEYS
    assert "generator" not in plan.labels["settings"]


@pytest.mark.parametrize("texture", [t for t in TEXTURES if t != "plain"])
def test_a_texture_keeps_the_front_marker_and_the_colour(texture):
    # A cube facing the camera (heading 180): its front face carries the white marker.
    cube = SceneObject("cube", "blue", 1.0, Motion((0.0, 4.0), (0.0, 4.0), heading0=180.0))
    camera = CameraPath("static", (0, 0), (0, 0), 0, 0)
    scene = Scene("t", 192, 128, 4, 2, camera, (cube,))
    bare = FrameRenderer(replace(scene, objects=())).frame(0).astype(int)
    flat = FrameRenderer(scene).frame(0).astype(int)
    rich = FrameRenderer(replace(scene, objects=(replace(cube, texture=texture),))).frame(0)
    rich = rich.astype(int)
    # The object's pixels: the plain cube's saturated ones (its shadow on the floor is grey).
    body = np.any(flat != bare, axis=-1) & (flat.max(-1) - flat.min(-1) > 60)
    marker = np.any(flat != bare, axis=-1) & (flat.min(-1) > 200)
    assert marker.sum() > 30
    # The marker's pixels are the plain object's, and still the brightest of the object.
    assert np.array_equal(rich[marker], flat[marker])
    paint = body & ~marker
    assert rich[paint].sum(-1).max() < rich[marker].sum(-1).min()
    changed = np.any(rich[paint] != flat[paint], axis=-1)
    assert changed.mean() > 0.2, changed.mean()
    # Brightness changes, hue does not: every object pixel stays blue.
    ratio = rich[paint].sum(-1) / flat[paint].sum(-1)
    assert ratio.min() >= TEXTURE_DARK - 0.03 and ratio.max() <= 1.0
    hue = _hue(rich[paint])
    want = _hue(np.array([COLOURS["blue"]]))[0]
    assert np.all(np.abs(hue - want) < 12), (hue.min(), hue.max(), want)


OWN = "objects: {colours: [red, blue, {name: teal, rgb: [0, 150, 150]}, {name: lime, rgb: [150, 230, 20]}]}\n"  # fmt: skip


def test_own_colours_are_named_in_questions_and_drawn_in_their_rgb(tmp_path):
    config = _config(tmp_path, OWN)
    assert config.colour_names() == ("red", "blue", "teal", "lime")
    assert config.own_colours() == {"teal": (0, 150, 150), "lime": (150, 230, 20)}
    settings = ProbeSettings(n_scenes=12, split="train", generator=config, **TINY)
    plan = plan_probe(settings)
    own = {"teal": (0, 150, 150), "lime": (150, 230, 20)}
    asked = " ".join(r.question for r in plan.records)
    for name in own:
        assert f"{name} " in asked, name
    teal_scene = None
    for scene, label in zip(plan.scenes, plan.labels["scenes"], strict=True):
        for obj, obj_label in zip(scene.objects, label["objects"], strict=True):
            assert obj.colour in config.colour_names()
            assert obj.albedo == own.get(obj.colour, COLOURS.get(obj.colour))
            assert obj_label["rgb"] == list(obj.albedo) and obj_label["colour"] == obj.colour
            if obj.colour == "teal" and teal_scene is None:
                teal_scene = replace(scene, objects=(obj,))
    # The configuration travels through shard and resume manifests unchanged.
    assert ProbeSettings.from_record(settings.to_record()).generator == config
    assert plan.labels["settings"]["generator"]["colours"][2] == {
        "name": "teal",
        "rgb": [0, 150, 150],
    }
    # The renderer paints the teal object teal (hue 180), where no named hue lies.
    assert teal_scene is not None
    scene = replace(teal_scene, width=192, height=128)
    frame = FrameRenderer(scene).frame(0).astype(int)
    bare = FrameRenderer(replace(scene, objects=())).frame(0).astype(int)
    body = np.any(frame != bare, axis=-1) & (frame.max(-1) - frame.min(-1) > 40)
    assert body.sum() > 20
    assert np.median(np.abs(_hue(frame[body]) - 180.0)) < 8
