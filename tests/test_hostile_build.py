"""Hostile folders and videos for the commands that write a whole folder (issue 23, items 2, 10
and 11): a forged `.vlm4d-build.json`, links planted in a probe folder, a video name no file
system can hold, a video link that leads out of `--videos`.

Everything runs through the real CLI in a subprocess, on real files and real symbolic links;
files outside the command's own are compared byte for byte before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _annotation_fixtures import entry

from vlm4d_tasks.data.outdir import MARKER
from vlm4d_tasks.data.paths import NAME_MAX, UnsafePathError, contained_path, unsafe_reason

VLM4D = [sys.executable, "-m", "vlm4d_tasks.cli"]
QUESTION = ["Which way is the tram moving?", ["left", "right", "up", "down"], "left"]
# A probe set small enough to render in a fraction of a second.
TINY_PROBE = ["--n-scenes", "1", "--width", "32", "--height", "32", "--fps", "4"]
TINY_PROBE += ["--seconds", "0.5", "--quiet", "--jobs", "1"]


def _run(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(VLM4D + args, env=env, capture_output=True, text=True, timeout=300)


def _build(annotations: Path, out: Path, *extra: str, home: Path) -> subprocess.CompletedProcess:
    return _run(
        ["build-dataset", "--annotations", str(annotations), "--out", str(out), *extra], home
    )


def _probe(out: Path, *extra: str, home: Path) -> subprocess.CompletedProcess:
    return _run(["generate-probe", "--out", str(out), *TINY_PROBE, *extra], home)


def _state(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder`: kind and content (links are not followed)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        for name in dirnames + filenames:
            path = here / name
            key = path.relative_to(folder).as_posix()
            if path.is_symlink():
                state[key] = ("link", os.readlink(path))
            elif path.is_dir():
                state[key] = ("dir",)
            else:
                state[key] = ("file", path.read_bytes())
    return state


def _last_line(done: subprocess.CompletedProcess) -> str:
    return done.stderr.strip().splitlines()[-1]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _users_folder(out: Path) -> None:
    """A folder of somebody's work: notes and a git repository."""
    (out / ".git").mkdir(parents=True)
    (out / ".git" / "config").write_text("[core]\n\trepositoryformatversion = 0\n")
    (out / "NOTES.md").write_text("three months of notes\n")


def _annotations(folder: Path, videos: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    entries = [entry(f"validation_{i}", "", *QUESTION) for i in range(1, len(videos) + 1)]
    for item, video in zip(entries, videos, strict=True):
        item["video"] = video  # as given: no hub prefix to strip
    (folder / "real_mc.json").write_text(json.dumps(entries), encoding="utf-8")
    return folder


# -- item 2: a marker is a claim, not a proof ---------------------------------------------------
@pytest.mark.subprocess
def test_a_forged_marker_without_hashes_deletes_nothing(tmp_path, annotations_dir, hf_home):
    # The attack of the issue: a marker in the old format listing the user's files.
    out = tmp_path / "thesis"
    _users_folder(out)
    marker = {"made_by": "vlm4d build-dataset", "files": ["NOTES.md", ".git/config"]}
    (out / MARKER).write_text(json.dumps(marker))
    before = _state(out)
    done = _build(annotations_dir, out, home=hf_home)
    assert done.returncode == 1, done.stdout
    last = _last_line(done)
    assert str(out) in last and "without their content hashes" in last
    assert "--force" in last and "Fix:" in last
    assert _state(out) == before
    # --force moves the whole folder aside, the way it does for any folder the build did not make
    done = _build(annotations_dir, out, "--force", home=hf_home)
    assert done.returncode == 0, done.stderr
    assert _state(tmp_path / "thesis.old-1") == before
    assert (out / "README.md").is_file() and not (out / "NOTES.md").exists()


@pytest.mark.subprocess
def test_a_forged_marker_with_hashes_deletes_only_proven_files(tmp_path, annotations_dir, hf_home):
    """A marker in today's format that lists the user's files: with a wrong hash, with the
    right hash under a dot-folder, outside the folder, and through a link to a folder outside.
    The build succeeds, every one of them is still there, and a warning line names them."""
    out = tmp_path / "thesis"
    _users_folder(out)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not in --out\n")
    (out / "shortcut").symlink_to(outside, target_is_directory=True)
    config = (out / ".git" / "config").read_bytes()
    secret = (outside / "secret.txt").read_bytes()
    files = {
        "NOTES.md": {"size": 22, "sha256": "0" * 64},
        ".git/config": {"size": len(config), "sha256": _sha256(config)},
        "shortcut/secret.txt": {"size": len(secret), "sha256": _sha256(secret)},
        "../outside/secret.txt": {"size": len(secret), "sha256": _sha256(secret)},
        "README.md": "no hash",
    }
    marker = {"made_by": "vlm4d build-dataset", "version": 2, "files": files}
    (out / MARKER).write_text(json.dumps(marker))
    (out / "README.md").write_text("the user's readme, listed without a hash\n")
    before = {k: v for k, v in _state(out).items() if k != MARKER}
    outside_before = _state(outside)
    done = _build(annotations_dir, out, "--force", home=hf_home)
    # README.md (no hash) sits where the build writes: --force moved the folder aside whole
    assert done.returncode == 0, done.stderr
    aside = tmp_path / "thesis.old-1"
    assert {k: v for k, v in _state(aside).items() if k != MARKER} == before
    assert _state(outside) == outside_before

    # The same folder without the README: the build swaps in, keeps every file, says why.
    (aside / "README.md").unlink()
    os.rename(aside, tmp_path / "second")
    second = tmp_path / "second"
    before = {k: v for k, v in _state(second).items() if k != MARKER}
    done = _build(annotations_dir, second, home=hf_home)
    assert done.returncode == 0, done.stderr
    after = _state(second)
    assert {k: after.get(k) for k in before} == before  # all kept, links as links
    assert (second / "README.md").is_file()  # and the build is in place
    assert _state(outside) == outside_before
    warning = [line for line in done.stderr.splitlines() if "warning:" in line]
    assert len(warning) == 1
    assert "NOTES.md (its content changed since (sha256 differs))" in warning[0]
    assert ".git/config (a part of its path starts with '.'" in warning[0]
    assert "../outside/secret.txt (the path has a '..' component; ignored)" in warning[0]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.subprocess
def test_a_changed_file_of_the_build_is_kept_not_deleted(tmp_path, annotations_dir, hf_home):
    out = tmp_path / "vlm4d"
    assert _build(annotations_dir, out, home=hf_home).returncode == 0
    # The user edits a file the build wrote, then rebuilds without that subset: the file is
    # no longer what the build wrote, so it is not the build's to delete.
    stale = out / "data" / "synthetic" / "test.parquet"
    stale.write_bytes(stale.read_bytes() + b"the user's appendix")
    edited = stale.read_bytes()
    done = _build(annotations_dir, out, "--subsets", "real", home=hf_home)
    assert done.returncode == 0, done.stderr
    assert stale.read_bytes() == edited
    assert "data/synthetic/test.parquet (its content changed since" in done.stderr
    # The kept file is the user's from now on: not in the new marker, no second warning.
    marker = json.loads((out / MARKER).read_text())
    assert "data/synthetic/test.parquet" not in marker["files"]
    done = _build(annotations_dir, out, "--subsets", "real", home=hf_home)
    assert done.returncode == 0 and "warning" not in done.stderr
    assert stale.read_bytes() == edited


@pytest.mark.subprocess
def test_an_edited_file_where_the_build_writes_stops_it(tmp_path, annotations_dir, hf_home):
    out = tmp_path / "vlm4d"
    assert _build(annotations_dir, out, home=hf_home).returncode == 0
    (out / "README.md").write_text("my edited card\n")
    before = _state(out)
    done = _build(annotations_dir, out, home=hf_home)
    assert done.returncode == 1
    last = _last_line(done)
    assert "README.md (its content changed since" in last and "--force" in last
    assert _state(out) == before


@pytest.mark.subprocess
def test_the_marker_records_each_files_hash_and_each_links_target(tmp_path, hf_home):
    videos = tmp_path / "videos"
    (videos / "videos_real" / "davis").mkdir(parents=True)
    (videos / "videos_real" / "davis" / "a.mp4").write_bytes(b"video a")
    annotations = _annotations(tmp_path / "annotations", ["videos_real/davis/a.mp4"])
    for mode in ("link", "copy"):
        out = tmp_path / mode
        extra = ["--copy-videos"] if mode == "copy" else []
        done = _build(annotations, out, "--videos", str(videos), *extra, home=hf_home)
        assert done.returncode == 0, done.stderr
        files = json.loads((out / MARKER).read_text())["files"]
        assert set(files) == {p for p, s in _state(out).items() if s[0] != "dir"} - {MARKER}
        for relative, recorded in files.items():
            path = out / relative
            if path.is_symlink():
                assert recorded == {"symlink": os.readlink(path)}
            else:
                data = path.read_bytes()
                assert recorded == {"size": len(data), "sha256": _sha256(data)}
        video = files["videos_real/davis/a.mp4"]
        assert ("symlink" in video) == (mode == "link")


@pytest.mark.subprocess
def test_a_video_path_under_a_dot_folder_is_refused(tmp_path, hf_home):
    # The build never writes where a rebuild would never delete.
    videos = tmp_path / "videos"
    (videos / ".cache").mkdir(parents=True)
    (videos / ".cache" / "a.mp4").write_bytes(b"x")
    annotations = _annotations(tmp_path / "annotations", [".cache/a.mp4"])
    done = _build(annotations, tmp_path / "out", "--videos", str(videos), home=hf_home)
    assert done.returncode == 1
    last = _last_line(done)
    assert "record real/validation_1: field 'video'" in last and "'.'" in last
    assert "Fix:" in last
    assert not (tmp_path / "out").exists()


# -- item 10: generate-probe gets the same ownership rules -------------------------------------
@pytest.mark.subprocess
def test_generate_probe_refuses_a_folder_it_did_not_make(tmp_path, hf_home):
    out = tmp_path / "work"
    _users_folder(out)
    before = _state(out)
    done = _probe(out, home=hf_home)
    assert done.returncode == 2
    last = _last_line(done)
    assert str(out) in last and "did not make" in last and "--force" in last and "Fix:" in last
    assert _state(out) == before
    done = _probe(out, "--force", home=hf_home)
    assert done.returncode == 0, done.stderr
    assert _state(tmp_path / "work.old-1") == before
    assert f"aside to {tmp_path / 'work.old-1'}" in done.stdout
    assert (out / "probe_mc.json").is_file() and not (out / "NOTES.md").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.subprocess
@pytest.mark.parametrize("planted", ["probe_mc.json", "videos_probe"])
def test_generate_probe_never_writes_through_a_link(tmp_path, hf_home, planted):
    out = tmp_path / "probe"
    assert _probe(out, home=hf_home).returncode == 0
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "key").write_text("a private key\n")
    # A link planted where the generator writes: to a file, or to a folder outside.
    target = victim / "key" if planted == "probe_mc.json" else victim
    path = out / planted
    if path.is_dir():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
    else:
        path.unlink()
    path.symlink_to(target, target_is_directory=target.is_dir())
    before, victim_before = _state(out), _state(victim)
    done = _probe(out, "--seed", "7", home=hf_home)
    assert done.returncode == 2
    last = _last_line(done)
    assert planted in last and "Fix:" in last and "--force" in last
    assert _state(victim) == victim_before and _state(out) == before
    done = _probe(out, "--seed", "7", "--force", home=hf_home)
    assert done.returncode == 0, done.stderr
    assert _state(victim) == victim_before  # moved aside with the folder, never followed
    assert _state(tmp_path / "probe.old-1") == before


@pytest.mark.subprocess
def test_generate_probe_reruns_over_its_own_folder_and_keeps_the_users_files(tmp_path, hf_home):
    out = tmp_path / "probe"
    assert _probe(out, home=hf_home).returncode == 0
    first = _state(out)
    (out / "notes.md").write_text("mine\n")
    done = _probe(out, "--seed", "3", home=hf_home)
    assert done.returncode == 0, done.stderr
    second = _state(out)
    assert second["notes.md"] == ("file", b"mine\n")
    assert second["probe_mc.json"] != first["probe_mc.json"]  # replaced: another seed
    assert "warning" not in done.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# -- item 11: video names and links --------------------------------------------------------------
def test_a_component_longer_than_name_max_is_refused_with_its_cause(tmp_path):
    assert unsafe_reason("videos_real/" + "a" * NAME_MAX) is None
    for name in ("a" * (NAME_MAX + 1), "é" * 128):  # 256 bytes either way
        reason = unsafe_reason(f"videos_real/{name}.mp4")
        assert reason is not None and "name too long" in reason
        with pytest.raises(UnsafePathError) as info:
            contained_path(tmp_path, f"videos_real/{name}.mp4")
        assert "name too long" in str(info.value) and "could leave" not in str(info.value)


@pytest.mark.subprocess
def test_a_300_character_video_name_is_flagged_and_the_build_goes_on(tmp_path, hf_home):
    videos = tmp_path / "videos"
    (videos / "videos_real" / "davis").mkdir(parents=True)
    (videos / "videos_real" / "davis" / "ok.mp4").write_bytes(b"a real video")
    long_name = "videos_real/davis/" + "n" * 300 + ".mp4"
    annotations = _annotations(tmp_path / "annotations", ["videos_real/davis/ok.mp4", long_name])
    out = tmp_path / "out"
    done = _build(annotations, out, "--videos", str(videos), home=hf_home)
    assert done.returncode == 0, done.stderr
    assert "free space" not in done.stderr and "writable" not in done.stderr
    assert (out / "videos_real" / "davis" / "ok.mp4").read_bytes() == b"a real video"
    report = json.loads((out / "validation_report.json").read_text())
    (problem,) = [p for p in report["problems"] if p["record"] == "validation_2"]
    assert problem["field"] == "video" and problem["flag"] == "unsafe_video_path"
    assert "name too long" in problem["message"]
    assert "real/validation_2" in report["flagged_records"]  # flagged, kept
    assert "name too long" in done.stdout  # the printed report says it too


@pytest.mark.subprocess
def test_a_path_too_long_for_the_file_system_names_the_record(tmp_path, hf_home):
    # Every part fits NAME_MAX, the whole does not fit PATH_MAX: the error names the record.
    videos = tmp_path / "videos"
    videos.mkdir()
    long_path = "/".join(["p" * 250] * 17) + ".mp4"
    annotations = _annotations(tmp_path / "annotations", [long_path])
    done = _build(annotations, tmp_path / "out", "--videos", str(videos), home=hf_home)
    assert done.returncode == 1
    last = _last_line(done)
    assert "record real/validation_1: field 'video'" in last and "too long" in last
    assert "free space" not in last and "Fix:" in last
    assert not (tmp_path / "out").exists()


@pytest.mark.subprocess
@pytest.mark.parametrize("copy", [True, False], ids=["copy", "link"])
def test_a_video_link_that_leaves_the_videos_folder_is_refused(tmp_path, hf_home, copy):
    secret = tmp_path / "home" / ".ssh" / "id_ed25519"
    secret.parent.mkdir(parents=True)
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    videos = tmp_path / "videos"
    (videos / "videos_real" / "davis").mkdir(parents=True)
    (videos / "videos_real" / "davis" / "ok.mp4").symlink_to(secret)
    annotations = _annotations(tmp_path / "annotations", ["videos_real/davis/ok.mp4"])
    extra = ["--copy-videos"] if copy else []
    done = _build(annotations, tmp_path / "out", "--videos", str(videos), *extra, home=hf_home)
    assert done.returncode == 1
    last = _last_line(done)
    assert "record real/validation_1: field 'video'" in last
    assert "videos_real/davis/ok.mp4" in last and "outside" in last and "Fix:" in last
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.subprocess
def test_video_links_inside_the_videos_folder_and_the_hub_cache_are_fine(tmp_path, hf_home):
    # Inside the folder: a link to a file elsewhere in it.
    videos = tmp_path / "videos"
    (videos / "store").mkdir(parents=True)
    (videos / "store" / "blob").write_bytes(b"inner video")
    (videos / "videos_real" / "davis").mkdir(parents=True)
    (videos / "videos_real" / "davis" / "a.mp4").symlink_to("../../store/blob")
    # huggingface_hub's cache: the snapshot's files are links into the repo's blobs/.
    repo = tmp_path / "hub" / "datasets--me--VLM4D"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "0123abcd").write_bytes(b"hub video")
    snapshot = repo / "snapshots" / ("a" * 40)
    (snapshot / "videos_real" / "davis").mkdir(parents=True)
    (snapshot / "videos_real" / "davis" / "a.mp4").symlink_to("../../../../blobs/0123abcd")
    annotations = _annotations(tmp_path / "annotations", ["videos_real/davis/a.mp4"])
    for root, content in ((videos, b"inner video"), (snapshot, b"hub video")):
        for copy in (False, True):
            out = tmp_path / f"out-{root.name}-{copy}"
            extra = ["--copy-videos"] if copy else []
            done = _build(annotations, out, "--videos", str(root), *extra, home=hf_home)
            assert done.returncode == 0, done.stderr
            placed = out / "videos_real" / "davis" / "a.mp4"
            assert placed.read_bytes() == content and placed.is_symlink() != copy
