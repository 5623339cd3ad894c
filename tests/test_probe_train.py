"""Training data from the probe generator (issue 28): the train split and its leak check,
answers in several forms, shards, merge and resume.

Real files throughout: the generator writes tiny clips (96x64, 4 frames) into tmp folders,
and shard/merge/resume runs are compared with an unsharded run byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("av")

from vlm4d_tasks.probe import generate as gen  # noqa: E402
from vlm4d_tasks.probe import questions as q  # noqa: E402
from vlm4d_tasks.probe.answers import free_form_answer, rationale  # noqa: E402
from vlm4d_tasks.probe.generate import (  # noqa: E402
    RECORDS_FILE,
    TRAIN_FIELDS,
    ProbeRunError,
    ProbeSettings,
    Shard,
    generate_probe,
    merge_shards,
    plan_probe,
)
from vlm4d_tasks.probe.leaks import find_leaks  # noqa: E402
from vlm4d_tasks.probe.scene import CameraPath, Motion, Scene, SceneObject  # noqa: E402

TINY = {"width": 96, "height": 64, "fps": 4, "seconds": 1.0, "jobs": 1}
SMALL = {"width": 160, "height": 120, "fps": 8, "seconds": 2.0}
VLM4D = [sys.executable, "-m", "vlm4d_tasks.cli", "generate-probe"]


def _generate_probe(capsys, *args: str) -> tuple[int, str]:
    """`vlm4d generate-probe ARGS` run in this process (an error exits before any rendering):
    its exit code and the last line it wrote to stderr."""
    from vlm4d_tasks.cli import main

    capsys.readouterr()
    try:
        code = main(["generate-probe", *args])
    except SystemExit as exit:  # argparse's own refusals
        code = exit.code
    lines = capsys.readouterr().err.splitlines()
    return code, lines[-1] if lines else ""


def _digest(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under `folder`, dot files included."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# -- item 1: the train split and its leak check ----------------------------------------------


def test_train_scenes_come_from_another_seed_space_than_test_scenes():
    test = ProbeSettings(seed=5)
    train = replace(test, split="train")
    assert gen.draw(test, 3).random() != gen.draw(train, 3).random()
    # The test stream is the one the probe set always used: default_rng([seed, pair]).
    import numpy as np

    assert gen.draw(test, 3).random() == np.random.default_rng([5, 3]).random()
    a, b = (
        plan_probe(replace(test, n_scenes=4, **SMALL)),
        plan_probe(replace(train, n_scenes=4, **SMALL)),
    )
    assert [s.scene_id for s in a.scenes] == [f"scene_000{i}" for i in (1, 2, 3, 4)]
    assert [s.scene_id for s in b.scenes] == [f"train_00000{i}" for i in (1, 2, 3, 4)]
    assert a.scenes[0].objects != b.scenes[0].objects


def test_leak_check_passes_on_the_real_split():
    train = plan_probe(ProbeSettings(n_scenes=200, split="train", **SMALL))
    test = plan_probe(ProbeSettings())
    assert find_leaks(train.asked(), test.asked()) == []
    gen.check_leaks(train)  # raises on a leak


def _moving_pair(plan):
    return next(i for i, s in enumerate(plan.scenes) if s.camera.moves)


def test_leak_check_fails_on_each_crafted_overlap():
    train = plan_probe(ProbeSettings(n_scenes=8, split="train", **SMALL))
    test = plan_probe(ProbeSettings(n_scenes=8, **SMALL))
    base = train.asked()
    t_scene, t_questions = test.asked()[_moving_pair(test)]

    def leaks_with(i: int, scene: Scene, questions: list[str]) -> set[str]:
        crafted = list(base)
        crafted[i] = (scene, questions)
        return {leak.kind for leak in find_leaks(crafted, test.asked())}

    own = base[1][0]
    # One object on a test trajectory, everything else the train scene's own.
    moved = replace(own.objects[0], motion=t_scene.objects[0].motion)
    assert leaks_with(1, replace(own, objects=(moved, *own.objects[1:])), []) == {"trajectory"}
    # A test clip's moving camera path.
    assert leaks_with(1, replace(own, camera=t_scene.camera), []) == {"camera"}
    # The whole test scene, renamed and at another size: every key repeats, and its question.
    copy = replace(t_scene, scene_id="train_999999", width=448, height=252)
    assert leaks_with(1, copy, t_questions) == {"scene", "camera", "trajectory", "question"}
    # A JSON round trip of the floats does not hide the copy.
    jittered = replace(
        own.objects[0],
        motion=replace(
            t_scene.objects[0].motion, heading0=t_scene.objects[0].motion.heading0 + 1e-9
        ),
    )
    assert leaks_with(1, replace(own, objects=(jittered,)), []) == {"trajectory"}
    with pytest.raises(ProbeRunError, match=r"leak check: .*Fix:"):
        gen.check_leaks(replace(train, scenes=[copy] + train.scenes[1:]), test=_settings_of(test))


def _settings_of(plan) -> ProbeSettings:
    s = plan.labels["settings"]
    return ProbeSettings(
        n_scenes=s["n_scenes"], seed=s["seed"], width=s["width"], height=s["height"],
        fps=s["fps"], seconds=s["seconds"],
    )  # fmt: skip


def test_the_command_refuses_a_train_split_that_repeats_the_test_set(tmp_path, monkeypatch, capsys):
    """The leak check runs inside `generate-probe --split train`: with the train draws
    crafted to be the test draws, it exits 2 before writing anything."""
    from vlm4d_tasks.cli import main

    real = gen.draw
    monkeypatch.setattr(gen, "draw", lambda s, *path: real(replace(s, split="test"), *path))
    out = tmp_path / "train"
    code = main(
        ["generate-probe", "--out", str(out), "--split", "train", "--n-scenes", "4", "--quiet"]
    )
    assert code == 2
    assert not out.exists() and list(tmp_path.iterdir()) == []
    last = capsys.readouterr().err.splitlines()[-1]
    assert "leak check:" in last and "train_000001" in last and "scene_0001" in last
    assert "nothing was rendered. Fix:" in last


def test_the_train_split_defaults_to_the_training_clip(tmp_path):
    from vlm4d_tasks.cli import main

    out = tmp_path / "t"
    flags = ["--split", "train", "--n-scenes", "2", "--seconds", "0.5", "--jobs", "1", "--quiet"]
    assert main(["generate-probe", "--out", str(out), *flags]) == 0
    settings = json.loads((out / gen.LABELS_FILE).read_text())["settings"]
    assert (settings["width"], settings["height"], settings["fps"]) == (448, 252, 8)
    assert settings["split"] == "train" and settings["seconds"] == 0.5


def test_the_test_split_writes_exactly_the_fields_it_always_did():
    plan = plan_probe(ProbeSettings(n_scenes=4, **SMALL))
    rows = gen.record_rows(plan)
    assert all(set(TRAIN_FIELDS).isdisjoint(row) for row in rows)
    assert "split" not in plan.labels["settings"]
    assert list(plan.labels["settings"]) == [
        "n_scenes", "seed", "width", "height", "fps", "seconds", "crf", "n_frames",
    ]  # fmt: skip


# -- item 2: answers in several forms --------------------------------------------------------

CAMERA_VERBS = {
    "static": "is static",
    "pan": "pans to the",
    "walk": "walks forward",
    "truck": "trucks to the",
    "turn": "turns to the",
    "arc": "arcs to the",
}


@pytest.fixture(scope="module")
def train_plan():
    return plan_probe(ProbeSettings(n_scenes=60, split="train", seed=3, **SMALL))


def test_train_records_carry_every_answer_form(train_plan):
    rows = gen.record_rows(train_plan)
    for row in rows:
        assert set(TRAIN_FIELDS) <= set(row)
        assert row["split"] == "train"
        assert row["answer_text"].lower() in row["answer_free_form"].lower()
        assert row["rationale"].endswith(f"So the answer is: {row['answer_text']}.")
    by_kind = {label["kind"] for label in train_plan.labels["questions"]}
    assert {"direction_camera", "direction_object", "rotation", "count_turns"} <= by_kind


def test_rationales_state_facts_consistent_with_the_labels(train_plan):
    scenes = {s["scene_id"]: s for s in train_plan.labels["scenes"]}
    rows = gen.record_rows(train_plan)
    for row, label in zip(rows, train_plan.labels["questions"], strict=True):
        scene = scenes[label["scene_id"]]
        # Lower-cased first letters: a fact reads the same at the start of a sentence.
        text = row["rationale"].replace(". The ", ". the ").replace(". Its ", ". its ")
        # The camera: the record's field, the labels' and the rationale's verb agree.
        assert row["camera_motion"] == scene["camera"]["motion"] == label["camera_motion"]
        assert CAMERA_VERBS[row["camera_motion"]] in text
        if row["camera_motion"] in ("pan", "turn"):
            side = "right" if scene["camera"]["yaw1"] > scene["camera"]["yaw0"] else "left"
            assert f"to the {side}" in text
        # The objects: how many, and which.
        n = len(scene["objects"])
        assert f"holds {n} object{'s' if n > 1 else ''}:" in text
        article = {o["name"]: "an" if o["name"][0] in "aeiou" else "a" for o in scene["objects"]}
        assert all(f"{article[n]} {n}" in text for n in article)
        kind, facts, answer = label["kind"], label["facts"], row["answer_text"]
        if kind == "direction_camera":
            moved = "stays in the same place" if facts["label"] == "still" else f"moves {answer}"
            assert f"the {label['target']} {moved}" in text
        elif kind == "direction_object" and facts["label"] != "still":
            assert f"from its own point of view it moves {answer}" in text
            assert f"points {facts['facing_camera']}" in text.replace("towards the", "towards")
        elif kind == "rotation":
            sense = q.ROTATIONS[facts["label"]].split(",")[0]
            assert ("keeps pointing the same way" in text) == (facts["label"] == "none")
            if facts["label"] != "none":
                assert f"turns {sense}" in text
        elif kind.startswith("count_"):
            numbers = [int(x) for x in re.findall(r"\b(\d+) (?:times?|full turns?)\b", text)]
            assert numbers == [facts["count"]], text
        elif kind.startswith("absent_"):
            absent = facts["absent"]
            assert f"No object in the scene is a{'n' * (absent[0] in 'aeiou')} {absent}." in text


def test_rationale_of_a_hand_built_scene():
    camera = CameraPath("pan", (0.0, 0.0), (0.0, 0.0), 0.0, 15.0)
    cube = SceneObject("cube", "red", 0.8, Motion((1.0, 6.0), (-1.0, 6.0), heading0=180.0))
    cone = SceneObject("cone", "blue", 0.9, Motion((-1.0, 8.0), (-1.0, 8.0)))
    scene = Scene("hand", 320, 180, 12, 24, camera, (cube, cone))
    draft = q.own_direction_question(__import__("numpy").random.default_rng(0), scene, "red cube")
    assert free_form_answer(draft) == "The red cube moves to its own right."
    assert rationale(scene, draft) == (
        "The camera pans to the right: it stays in place and turns. "
        "The scene holds 2 objects: a red cube and a blue cone. "
        "Relative to where the camera is facing, the red cube moves left. "
        "Its white stripe (its front) points towards the camera, so from its own point of "
        "view it moves to its own right. "
        "So the answer is: to its own right."
    )


# -- item 3: shards, merge, resume -----------------------------------------------------------


@pytest.mark.parametrize("split", ["train", "test"])
def test_shards_merge_into_exactly_the_unsharded_run(tmp_path, split):
    settings = ProbeSettings(n_scenes=7, seed=1, split=split, **TINY)
    generate_probe(tmp_path / "one", settings, progress=False)
    for i in (1, 0):  # any order, any machine
        generate_probe(tmp_path / f"s{i}", settings, progress=False, shard=Shard(i, 2))
    assert len(list((tmp_path / "s0" / "videos_probe").iterdir())) == 4  # pairs 0 and 2
    merge_shards([tmp_path / "s0", tmp_path / "s1"], tmp_path / "merged")
    one, merged = _digest(tmp_path / "one"), _digest(tmp_path / "merged")
    assert len(one) == 7 + 3 + 1 and merged == one
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # The same through the command line, as a Slurm array would run it.
    from vlm4d_tasks.cli import main

    flags = ["--split", split, "--n-scenes", "7", "--seed", "1", "--width", "96", "--height"]
    flags += ["64", "--fps", "4", "--seconds", "1", "--jobs", "1", "--quiet"]
    for i in (0, 1):
        out = str(tmp_path / f"cli{i}")
        assert main(["generate-probe", "--out", out, "--shard", f"{i}/2", *flags]) == 0
    shards = [str(tmp_path / "cli0"), str(tmp_path / "cli1")]
    assert main(["generate-probe", "--out", str(tmp_path / "cli"), "--merge", *shards]) == 0
    assert _digest(tmp_path / "cli") == one


def test_merge_refuses_a_missing_repeated_or_changed_shard(tmp_path, capsys):
    settings = ProbeSettings(n_scenes=4, split="train", **TINY)
    for i in (0, 1):
        generate_probe(tmp_path / f"s{i}", settings, progress=False, shard=Shard(i, 2))
    with pytest.raises(ProbeRunError, match=r"shard\(s\) 1/2 missing.*Fix:"):
        merge_shards([tmp_path / "s0"], tmp_path / "m")
    with pytest.raises(ProbeRunError, match=r"shard 0/2 again.*Fix:"):
        merge_shards([tmp_path / "s0", tmp_path / "s0"], tmp_path / "m")
    other = tmp_path / "other"
    generate_probe(other, replace(settings, seed=9), progress=False, shard=Shard(1, 2))
    with pytest.raises(ProbeRunError, match=r"field 'settings' differs"):
        merge_shards([tmp_path / "s0", other], tmp_path / "m")
    clip = tmp_path / "s1" / "videos_probe" / "train_000003.mp4"
    clip.write_bytes(clip.read_bytes() + b"\0")
    with pytest.raises(ProbeRunError, match=r"train_000003.mp4: its SHA-256 .*Fix: make shard 1/2"):
        merge_shards([tmp_path / "s0", tmp_path / "s1"], tmp_path / "m")
    assert not (tmp_path / "m").exists()
    code, last = _generate_probe(
        capsys, "--out", str(tmp_path / "m"), "--merge", str(tmp_path / "s0")
    )
    assert code == 2
    assert "missing" in last and "Fix:" in last


def test_an_interrupted_run_resumes_and_writes_the_same_bytes(tmp_path, monkeypatch):
    settings = ProbeSettings(n_scenes=6, split="train", **TINY)
    generate_probe(tmp_path / "fresh", settings, progress=False)
    real, rendered = gen._render_one, []

    def dies_after_two(job):
        if len(rendered) == 2:
            raise KeyboardInterrupt  # a preempted job
        rendered.append(job[1])
        return real(job)

    monkeypatch.setattr(gen, "_render_one", dies_after_two)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        generate_probe(out, settings, progress=False)
    partial = tmp_path / ".run.partial"
    assert not out.exists() and len(list((partial / "videos_probe").iterdir())) == 2
    # Another setting cannot pick the unfinished run up by mistake.
    with pytest.raises(
        ProbeRunError, match=r"unfinished run with other settings \(differing: settings.seed\)"
    ):
        generate_probe(out, replace(settings, seed=4), progress=False)
    monkeypatch.setattr(gen, "_render_one", lambda job: (rendered.append(job[1]), real(job))[1])
    rendered.clear()
    result = generate_probe(out, settings, progress=False)
    assert result.n_skipped == 2 and len(rendered) == 4
    assert _digest(out) == _digest(tmp_path / "fresh")
    assert not partial.exists()


def test_a_clip_cut_short_is_rendered_again(tmp_path, monkeypatch):
    """A clip whose bytes differ from what the run recorded (cut by the interruption) is not
    trusted: resume renders it again."""
    settings = ProbeSettings(n_scenes=2, split="train", **TINY)
    real, calls = gen._render_one, []

    def once(job):
        if calls:
            raise KeyboardInterrupt
        calls.append(job[1])
        return real(job)

    monkeypatch.setattr(gen, "_render_one", once)
    with pytest.raises(KeyboardInterrupt):
        generate_probe(tmp_path / "run", settings, progress=False)
    clip = Path(calls[0])
    clip.write_bytes(clip.read_bytes()[:100])
    monkeypatch.setattr(gen, "_render_one", real)
    result = generate_probe(tmp_path / "run", settings, progress=False)
    assert result.n_skipped == 0
    assert json.loads((tmp_path / "run" / RECORDS_FILE).read_text().splitlines()[0])["split"]


def test_shard_option_is_checked_at_once(tmp_path, capsys):
    code, last = _generate_probe(capsys, "--out", str(tmp_path / "x"), "--shard", "2/2", "--quiet")
    assert code == 2 and "0 <= i < N" in last
    assert not (tmp_path / "x").exists()


# -- item 4: the generator configuration -----------------------------------------------------


def _documented_yaml() -> str:
    from vlm4d_tasks.probe import config

    doc = config.__doc__
    start = doc.index("    objects:")
    end = doc.index("\n\n", start)
    return "\n".join(line[4:] for line in doc[start:end].splitlines()) + "\n"


def test_the_documented_configuration_is_the_default(tmp_path):
    from vlm4d_tasks.probe.config import GeneratorConfig, load_config

    path = tmp_path / "default.yaml"
    path.write_text(_documented_yaml())
    config, clip = load_config(path)
    d = ProbeSettings()
    assert config == GeneratorConfig() and config.is_default()
    assert clip == {"width": d.width, "height": d.height, "fps": d.fps, "seconds": d.seconds}


def test_the_default_configuration_writes_the_same_bytes_as_none(tmp_path):
    from vlm4d_tasks.cli import main

    path = tmp_path / "default.yaml"
    path.write_text(_documented_yaml())
    flags = ["--n-scenes", "4", "--width", "96", "--height", "64", "--fps", "4", "--seconds", "1"]
    flags += ["--jobs", "1", "--quiet"]
    assert main(["generate-probe", "--out", str(tmp_path / "none"), *flags]) == 0
    assert (
        main(["generate-probe", "--out", str(tmp_path / "yaml"), "--config", str(path), *flags])
        == 0
    )
    assert _digest(tmp_path / "none") == _digest(tmp_path / "yaml")
    # The clip section sets the size when no flag does.
    path.write_text("clip: {width: 96, height: 64, fps: 4, seconds: 1.0}\n")
    assert (
        main(
            [
                "generate-probe",
                "--out",
                str(tmp_path / "clip"),
                "--config",
                str(path),
                *flags[:2],
                *flags[10:],
            ]
        )
        == 0
    )
    assert _digest(tmp_path / "clip") == _digest(tmp_path / "none")


def test_a_configuration_changes_what_the_scenes_contain(tmp_path):
    from vlm4d_tasks.probe.config import load_config

    path = tmp_path / "g.yaml"
    path.write_text(
        "objects: {shapes: [cube, sphere, cone], colours: [red, green, blue, yellow], size: [0.8, 0.9]}\n"
        "scene: {floors: [tiles], palettes: [2], walls_probability: 1.0,"
        " lighting: {ambient: 0.7, diffuse: 0.3}}\n"
        "camera: {motions: [pan, truck], speed: 1.2}\n"
        "motion: {speed: 1.3, occlusion: true}\n"
    )
    config, clip = load_config(path)
    assert clip == {}
    plan = plan_probe(ProbeSettings(n_scenes=20, split="train", generator=config, **SMALL))
    for scene in plan.scenes:
        assert (scene.floor, scene.palette, scene.walls) == ("tiles", 2, True)
        assert (scene.ambient, scene.diffuse) == (0.7, 0.3)
        assert scene.camera.motion in ("static", "pan", "truck")
        for obj in scene.objects:
            assert obj.shape in config.shapes and obj.colour in config.colours
            assert 0.8 <= obj.size <= 0.9
    assert {s.camera.motion for s in plan.scenes} == {"static", "pan", "truck"}
    assert plan.labels["settings"]["generator"] == config.to_dict()
    # The same story with the default speed travels less far.
    slow = plan_probe(ProbeSettings(n_scenes=20, split="train", **SMALL))
    assert plan.scenes[0].objects[0].motion != slow.scenes[0].objects[0].motion
    assert (
        ProbeSettings.from_record(ProbeSettings(generator=config).to_record()).generator == config
    )


def test_lighting_reaches_the_pixels():
    import numpy as np

    from vlm4d_tasks.probe.render import FrameRenderer

    cube = SceneObject("cube", "blue", 1.0, Motion((0.0, 5.0), (0.0, 5.0)))
    scene = Scene("l", 96, 64, 4, 2, CameraPath("static", (0, 0), (0, 0), 0, 0), (cube,))
    dim = FrameRenderer(scene).frame(0).astype(int)
    bright = FrameRenderer(replace(scene, ambient=0.9, diffuse=0.1)).frame(0).astype(int)
    body = (dim[..., 2] > 150) & (dim[..., 0] < 100)
    assert body.sum() > 20 and np.all(bright[body].sum(-1) >= dim[body].sum(-1))
    assert bright[body].sum() > dim[body].sum()


@pytest.mark.parametrize(
    "text, field, fix",
    [
        ("objects: {shapes: [cube, torus, cone]}\n", "objects.shapes", "use only"),
        ("objects: {colours: [red, blue, green]}\n", "objects.colours", "at least 4"),
        ("objects: {shapes: cube}\n", "objects.shapes", "write a list"),
        ("scene: {walls_probability: 2}\n", "scene.walls_probability", "in range"),
        ("scene: {lights: {ambient: 1}}\n", "scene.lights", "scene.lighting"),
        ("camera: {motions: [static]}\n", "camera.motions", "use only"),
        ("motion: {occlusion: maybe}\n", "motion.occlusion", "true or false"),
        ("clip: {fps: fast}\n", "clip.fps", "write one"),
        ("clip: {frames: 9}\n", "clip.frames", "clip.seconds"),
        ("objects: [cube]\n", "objects", "mapping"),
        ("objects: {shapes: [cube, sphere\n", "line", "YAML syntax"),
        # textures and colours of one's own (tests/test_probe_textures.py)
        ("objects: {textures: [plain, marble]}\n", "objects.textures", "use only"),
        ("objects: {textures: []}\n", "objects.textures", "at least 1"),
        ("objects: {colours: [red, blue, green, pink]}\n", "objects.colours entry 4", "{name: NAME, rgb: [R, G, B]}"),
        ("objects: {colours: [red, blue, green, {name: blue, rgb: [250, 0, 200]}]}\n", "objects.colours entry 4", "its own name"),
        ("objects: {colours: [red, blue, green, {name: teal, rgb: [0, 300, 150]}]}\n", "objects.colours entry 4", "whole numbers from 0 to 255"),
        ("objects: {colours: [red, blue, green, {name: Teal, rgb: [0, 150, 150]}]}\n", "objects.colours entry 4", "'sky blue'"),
        ("objects: {colours: [red, blue, green, {name: teal}]}\n", "objects.colours entry 4", "{name: NAME, rgb: [R, G, B]}"),
        ("objects: {colours: [red, blue, green, {name: ash, rgb: [128, 128, 128]}]}\n", "objects.colours entry 4", "saturation >= 0.4"),
        ("objects: {colours: [red, blue, green, {name: crimson, rgb: [200, 30, 40]}]}\n", "objects.colours entry 4", "at least 60 apart"),
        ("objects: {colours: [red, blue, {name: teal, rgb: [0, 150, 150]}]}\n", "objects.colours", "at least 4"),
    ],
)  # fmt: skip
def test_a_bad_configuration_names_file_field_and_fix(tmp_path, capsys, text, field, fix):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, last = _generate_probe(
        capsys, "--out", str(tmp_path / "o"), "--config", str(path), "--quiet"
    )
    assert code == 2
    assert str(path) in last and field in last and "Fix:" in last and fix in last, last
    assert not (tmp_path / "o").exists()


@pytest.mark.subprocess  # in its own process: were the FIFO opened, the wait would hang the suite
def test_a_fifo_as_configuration_is_refused_at_once(tmp_path):
    import os

    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    done = subprocess.run(
        VLM4D + ["--out", str(tmp_path / "o"), "--config", str(fifo), "--quiet"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "FIFO" in done.stderr.splitlines()[-1]


def test_a_link_in_place_of_the_working_folder_is_never_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "key").write_text("private\n")
    (tmp_path / ".run.partial").symlink_to(victim, target_is_directory=True)
    settings = ProbeSettings(n_scenes=2, **TINY)
    with pytest.raises(ProbeRunError, match=r"\.run\.partial is in the way.*Fix: move"):
        generate_probe(tmp_path / "run", settings, progress=False)
    assert [p.name for p in victim.iterdir()] == ["key"] and not (tmp_path / "run").exists()


def test_an_out_folder_whose_parents_do_not_exist_is_made(tmp_path):
    """`make demo` in a fresh clone writes `demo-out/probe`: the working folder's parents are
    made, as the finished folder's always were."""
    out = tmp_path / "new" / "nested" / "probe"
    generate_probe(out, ProbeSettings(n_scenes=2, **TINY), progress=False)
    assert (out / "probe_mc.json").is_file()
    assert not (out.parent / ".probe.partial").exists()


def test_option_errors_are_the_last_line_on_stderr(tmp_path, capsys):
    out = str(tmp_path / "o")
    code, last = _generate_probe(capsys, "--out", out, "--merge", out, "--shard", "0/2")
    assert code == 2 and "takes no --shard" in last and "Fix:" in last
    code, last = _generate_probe(capsys, "--out", out, "--jobs", "0", "--quiet")
    assert code == 2 and "--jobs must be >= 1" in last
