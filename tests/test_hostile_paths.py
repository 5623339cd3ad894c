"""A record's `video` path is data, and data is hostile: it never leads outside its root.

The attacks are the ones observed against `vlm4d build-dataset --videos` (issue 12): a `..`
after `resolve/main/`, an absolute path after `resolve/main/`, and `..` inside a plain path.
They run through the real CLI in a subprocess, with sentinel files outside `--out` whose
content and type must not change and no new file appearing beside them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _annotation_fixtures import HUB, entry

from vlm4d_tasks.data.annotations import (
    FLAG_DESCRIPTIONS,
    FLAG_UNSAFE_VIDEO_PATH,
    load_annotation_file,
    normalize_entry,
    video_path_from_url,
)
from vlm4d_tasks.data.paths import (
    UnsafePathError,
    VideoNotFoundError,
    contained_path,
    unsafe_reason,
    video_path,
)
from vlm4d_tasks.data.schema import Subset
from vlm4d_tasks.lmms import data as lmms_data

VLM4D = [sys.executable, "-m", "vlm4d_tasks.cli"]

UNSAFE = [
    "/etc/passwd",
    "//etc/passwd",
    "../keep/notes.txt",
    "videos_real/davis/../../../keep/notes.txt",
    "videos_real/..",
    "videos_real\\..\\..\\x.mp4",
    "C:/Windows/x.mp4",
    "c:x.mp4",
    "videos_real/x.mp4\x00.txt",
    "videos_real//x.mp4",
    "videos_real/./x.mp4",
    "./x.mp4",
    "videos_real/",
    "videos_real/.. /x.mp4",
    "videos_real/.../x.mp4",
    "",
]
SAFE = ["videos_real/davis/x.mp4", "x.mp4", "..hidden/x.mp4", ".hidden/x.mp4", "a/b:c.mp4"]


@pytest.mark.parametrize("relative", UNSAFE)
def test_unsafe_paths_are_refused_by_the_one_function(tmp_path, relative):
    assert unsafe_reason(relative) is not None
    with pytest.raises(UnsafePathError) as info:
        contained_path(tmp_path, relative)
    assert repr(relative) in str(info.value)


@pytest.mark.parametrize("relative", SAFE)
def test_safe_paths_join_under_the_root(tmp_path, relative):
    assert unsafe_reason(relative) is None
    assert contained_path(tmp_path, relative) == tmp_path / relative


def test_not_a_string_is_refused(tmp_path):
    for value in (None, 3, ["a"]):
        with pytest.raises(UnsafePathError):
            contained_path(tmp_path, value)


def test_a_folder_link_that_leaves_the_root_is_refused(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (outside / "davis").mkdir(parents=True)
    (outside / "davis" / "x.mp4").write_bytes(b"x")
    root.mkdir()
    (root / "videos_real").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="resolves to"):
        contained_path(root, "videos_real/davis/x.mp4")
    # a link inside the root that stays inside it is fine
    (root / "inner").mkdir()
    (root / "alias").symlink_to(root / "inner", target_is_directory=True)
    assert contained_path(root, "alias/y.mp4") == root / "alias/y.mp4"


def test_a_file_link_as_last_component_is_allowed(tmp_path):
    # How `build-dataset --videos` and the hub cache store videos: a link per file.
    root = tmp_path / "root"
    (root / "videos_real").mkdir(parents=True)
    (tmp_path / "blob").write_bytes(b"x")
    (root / "videos_real" / "x.mp4").symlink_to(tmp_path / "blob")
    assert contained_path(root, "videos_real/x.mp4") == root / "videos_real/x.mp4"


# -- the loader flags them, keeps the record -----------------------------------------------
@pytest.mark.parametrize(
    ("video", "expected_path"),
    [
        (HUB + "../keep/notes.txt", "../keep/notes.txt"),
        (HUB + "/abs/path/x.mp4", "/abs/path/x.mp4"),
        ("videos_real/davis/../../../keep/notes.txt", "videos_real/davis/../../../keep/notes.txt"),
        ("/etc/passwd", "/etc/passwd"),
        ("../../x.mp4", "../../x.mp4"),  # was silently turned into "x.mp4"
        (HUB + "videos_real\\davis\\x.mp4", "videos_real\\davis\\x.mp4"),
        ("videos_real/davis/x\x00.mp4", "videos_real/davis/x\x00.mp4"),
    ],
)
def test_loader_flags_unsafe_video_paths_and_keeps_the_record(video, expected_path):
    raw = entry("validation_7", "", "Which way is the tram moving?", ["a", "b", "c", "d"], "a")
    raw["video"] = video
    record, problems = normalize_entry(raw, Subset.REAL, file="real_mc.json")
    assert record.video == expected_path  # kept as found, not repaired
    assert FLAG_UNSAFE_VIDEO_PATH in record.flags
    (problem,) = [p for p in problems if p.flag == FLAG_UNSAFE_VIDEO_PATH]
    assert (problem.file, problem.record, problem.field) == (
        "real_mc.json",
        "validation_7",
        "video",
    )
    assert record.answer == "A" and record.question  # the rest of the record is intact


def test_clean_paths_are_not_flagged():
    assert video_path_from_url(HUB + "videos_real/davis/x.mp4") == "videos_real/davis/x.mp4"
    assert video_path_from_url("./videos_real/davis/x.mp4") == "videos_real/davis/x.mp4"
    raw = entry("validation_1", "videos_real/davis/x.mp4", "Which way?", ["a", "b", "c", "d"], "a")
    record, problems = normalize_entry(raw, Subset.REAL)
    assert record.flags == [] and problems == []


def test_flag_is_documented():
    assert FLAG_UNSAFE_VIDEO_PATH in FLAG_DESCRIPTIONS


# -- the attacks, through the real CLI --------------------------------------------------------
def _snapshot(folder: Path, skip: Path) -> dict[str, tuple]:
    """Every entry under `folder` but `skip`: kind and content (links are not followed)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d != skip]
        for name in dirnames + filenames:
            path = here / name
            key = str(path.relative_to(folder))
            if path.is_symlink():
                state[key] = ("link", os.readlink(path))
            elif path.is_dir():
                state[key] = ("dir",)
            else:
                state[key] = ("file", path.read_bytes())
    return state


@pytest.fixture
def attack(tmp_path):
    """A scene: annotations whose video paths aim outside `--out`, sentinels where they aim."""
    scene = tmp_path / "scene"
    videos = scene / "a" / "b" / "videos"  # deeper than out, so `..` lands elsewhere in each
    out = scene / "out"
    (videos / "videos_real" / "davis").mkdir(parents=True)
    (videos / "videos_real" / "davis" / "ok.mp4").write_bytes(b"a real video")
    # sentinels: what the attack paths reach from --out
    (scene / "keep").mkdir()
    (scene / "keep" / "self.txt").write_text("replaced by a link to itself before the fix\n")
    (scene / "x").mkdir()
    (scene / "x" / "victim.txt").write_text("replaced by a link before the fix\n")
    (scene / "x" / "notes.txt").write_text("reached by an unflagged path before the fix\n")
    # decoys: what the same paths reach from --videos (what an attacker would plant there)
    (scene / "a" / "b" / "x").mkdir(parents=True)
    (scene / "a" / "b" / "x" / "victim.txt").write_text("decoy\n")
    (scene / "a" / "b" / "x" / "notes.txt").write_text("decoy\n")
    (scene / "a" / "b" / "planted").mkdir()
    (scene / "a" / "b" / "planted" / "new.mp4").write_text("decoy\n")
    absolute = str((scene / "keep" / "self.txt").resolve())
    question = ["Which way is the tram moving?", ["left", "right", "up", "down"], "left"]
    entries = [
        entry("validation_1", "videos_real/davis/ok.mp4", *question),
        entry("validation_2", "/" + absolute, *question),  # resolve/main//abs/...: self-link
        entry("validation_3", "../x/victim.txt", *question),  # replaced by a link
        entry("validation_4", "../planted/new.mp4", *question),  # a link planted outside
    ]
    entries.append(
        {**entry("validation_5", "", *question), "video": "videos_real/davis/../../../x/notes.txt"}
    )
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    (annotations / "real_mc.json").write_text(json.dumps(entries), encoding="utf-8")
    return scene, annotations, videos, out


def _build(annotations, videos, out, *extra, home):
    env = {**os.environ, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    args = ["build-dataset", "--annotations", str(annotations), "--videos", str(videos)]
    return subprocess.run(
        [*VLM4D, *args, "--out", str(out), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.subprocess
@pytest.mark.parametrize("copy", [False, True], ids=["link", "copy"])
def test_build_never_writes_outside_out(attack, tmp_path, copy):
    scene, annotations, videos, out = attack
    before = _snapshot(scene, skip=out)
    done = _build(
        annotations, videos, out, *(["--copy-videos"] if copy else []), home=tmp_path / "hf"
    )
    assert done.returncode == 0, done.stderr
    assert not os.path.lexists(scene / "planted")  # no link planted beside --out
    assert not (scene / "keep" / "self.txt").is_symlink()  # not replaced by a link to itself
    assert _snapshot(scene, skip=out) == before  # every content and type, and nothing new
    # the safe video is placed, the others are not, and the report lists each attack
    placed = out / "videos_real" / "davis" / "ok.mp4"
    assert placed.read_bytes() == b"a real video" and placed.is_symlink() != copy
    report = json.loads((out / "validation_report.json").read_text())
    flagged = {p["record"] for p in report["problems"] if p["flag"] == FLAG_UNSAFE_VIDEO_PATH}
    assert flagged == {"validation_2", "validation_3", "validation_4", "validation_5"}
    assert all(p["field"] == "video" for p in report["problems"] if p["record"] in flagged)
    assert "unsafe_video_path" in (out / "README.md").read_text()  # the card documents it
    rows = [r for r in load_annotation_file(annotations / "real_mc.json", "real").records]
    assert len(rows) == 5  # flagged, never dropped


@pytest.mark.subprocess
def test_a_videos_folder_reached_through_an_outside_link_is_an_error(tmp_path, hf_home):
    # A safe-looking path that a link in the videos folder turns outside it: the build stops
    # with the record and the fix, and writes nothing.
    outside = tmp_path / "outside" / "davis"
    outside.mkdir(parents=True)
    (outside / "ok.mp4").write_bytes(b"x")
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "videos_real").symlink_to(tmp_path / "outside", target_is_directory=True)
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    question = ["Which way is the tram moving?", ["left", "right", "up", "down"], "left"]
    raw = [entry("validation_1", "videos_real/davis/ok.mp4", *question)]
    (annotations / "real_mc.json").write_text(json.dumps(raw), encoding="utf-8")
    done = _build(annotations, videos, tmp_path / "out", home=hf_home)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "record real/validation_1: field 'video'" in last and "Fix:" in last
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.subprocess
@pytest.mark.parametrize("video", ["README.md", "validation_report.json", "README.md/x.mp4"])
def test_a_video_path_that_names_a_file_of_the_build_is_an_error(tmp_path, hf_home, video):
    # Linked first and written after, the card went through the link into the videos folder.
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "README.md").write_text("the user's own readme\n")
    (videos / "validation_report.json").write_text("{}\n")
    before = _snapshot(videos, skip=videos / "none")
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    question = ["Which way is the tram moving?", ["left", "right", "up", "down"], "left"]
    raw = [{**entry("validation_1", "", *question), "video": video}]
    (annotations / "real_mc.json").write_text(json.dumps(raw), encoding="utf-8")
    if video.endswith("x.mp4"):
        (videos / "README.md").unlink()
        (videos / "README.md").mkdir()
        (videos / "README.md" / "x.mp4").write_bytes(b"x")
        before = _snapshot(videos, skip=videos / "none")
    done = _build(annotations, videos, tmp_path / "out", home=hf_home)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "record real/validation_1: field 'video'" in last and "collides" in last
    assert "Fix:" in last
    assert _snapshot(videos, skip=videos / "none") == before
    assert not (tmp_path / "out").exists()


# -- video_path and the lmms-eval glue ------------------------------------------------------
def test_video_path_refuses_paths_outside_its_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.mp4").write_bytes(b"x")
    for video in ("../secret.mp4", str(tmp_path / "secret.mp4"), "a/../../secret.mp4"):
        with pytest.raises(VideoNotFoundError) as info:
            video_path({"uid": "real/validation_9", "video": video}, root)
        assert "real/validation_9" in str(info.value) and "'video'" in str(info.value)


def test_video_path_never_asks_the_hub_for_an_unsafe_path(monkeypatch):
    from vlm4d_tasks.data import hub

    asked = []
    monkeypatch.setattr(hub, "download_video", lambda *args: asked.append(args))
    with pytest.raises(VideoNotFoundError, match="real/validation_9"):
        video_path({"uid": "real/validation_9", "video": "../../etc/passwd"})
    assert asked == []


@pytest.mark.parametrize("hub_source", [False, True], ids=["local", "hub"])
def test_lmms_glue_finds_videos_through_the_same_check(tmp_path, monkeypatch, hub_source):
    from vlm4d_tasks.data import hub

    root = tmp_path / "dataset"
    (root / "videos_real").mkdir(parents=True)
    (root / "videos_real" / "ok.mp4").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"secret")
    fetched = []

    def fake_download(video, repo_id, revision):
        fetched.append((video, repo_id, revision))
        return root / video

    monkeypatch.setattr(hub, "download_video", fake_download)
    source = (
        lmms_data.DatasetSource(root, None, "hub", "me/VLM4D", "rev1")
        if hub_source
        else lmms_data.DatasetSource(root, root, "local")
    )
    monkeypatch.setattr(lmms_data, "_current", source)
    good = {"uid": "real/validation_1", "video": "videos_real/ok.mp4"}
    assert lmms_data.video_file(good) == root / "videos_real/ok.mp4"
    for video in ("../secret.mp4", str(tmp_path / "secret.mp4")):
        with pytest.raises(VideoNotFoundError, match="real/validation_2"):
            lmms_data.video_file({"uid": "real/validation_2", "video": video})
    assert fetched == ([("videos_real/ok.mp4", "me/VLM4D", "rev1")] if hub_source else [])
