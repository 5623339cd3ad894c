"""Hub code paths. The hub cannot be reached here: the failure must be fast and say what to
do; the download logic is checked with `huggingface_hub` replaced at its boundary."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import vlm4d_tasks
from vlm4d_tasks.data import hub
from vlm4d_tasks.data.annotations import load_annotations
from vlm4d_tasks.data.paths import VideoNotFoundError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.subprocess
def test_unreachable_hub_fails_fast_with_advice(tmp_path):
    # A real huggingface_hub call against an endpoint where nothing listens.
    env = {
        **os.environ,
        "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    env.pop("HF_HUB_OFFLINE", None)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "vlm4d_tasks.cli", "build-dataset", "--out", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - start
    assert done.returncode == 1
    assert "cannot reach the Hugging Face hub" in done.stderr
    assert "--annotations DIR" in done.stderr
    assert elapsed < 15, f"no retries expected, took {elapsed:.0f}s"


def test_download_annotations_uses_list_repo_files(monkeypatch, tmp_path, annotations_dir):
    import huggingface_hub

    calls = []

    def fake_list(repo_id, repo_type, revision):
        calls.append(("list", repo_id, repo_type, revision))
        return ["README.md", "QA/real_mc.json", "QA/synthetic_mc.json", "videos_real/x.mp4"]

    def fake_download(repo_id, filename, repo_type, revision):
        calls.append(("get", filename))
        target = tmp_path / "cache" / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((annotations_dir / Path(filename).name).read_bytes())
        return str(target)

    # the hub itself is the boundary that cannot exist here
    monkeypatch.setattr(hub, "ensure_reachable", lambda hint: None)
    monkeypatch.setattr(huggingface_hub, "list_repo_files", fake_list)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    records = load_annotations(None).records
    assert calls[0] == ("list", "shijiezhou/VLM4D", "dataset", hub.OFFICIAL_REVISION)
    assert {c[1] for c in calls[1:]} == {"QA/real_mc.json", "QA/synthetic_mc.json"}
    assert {r.subset for r in records} == {"real", "synthetic"}


def test_video_path_local_root(tmp_path):
    record = {"uid": "real/validation_1", "video": "videos_real/davis/a.mp4"}
    with pytest.raises(VideoNotFoundError) as info:
        vlm4d_tasks.video_path(record, tmp_path)
    assert "real/validation_1" in str(info.value) and "videos_real/davis/a.mp4" in str(info.value)
    (tmp_path / "videos_real/davis").mkdir(parents=True)
    (tmp_path / "videos_real/davis/a.mp4").write_bytes(b"x")
    assert vlm4d_tasks.video_path(record, tmp_path) == tmp_path / "videos_real/davis/a.mp4"


def test_video_path_through_hub_cache(monkeypatch, tmp_path):
    import huggingface_hub

    cached = tmp_path / "blob.mp4"
    cached.write_bytes(b"x")
    seen = []

    def fake_download(repo_id, filename, repo_type, revision, local_files_only=False):
        seen.append((filename, local_files_only))
        return str(cached)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    record = {"uid": "synthetic/validation_2", "video": "videos_synthetic/synth_001.mp4"}
    assert vlm4d_tasks.video_path(record) == cached
    assert seen == [("videos_synthetic/synth_001.mp4", True)]  # the cache is asked first

    def failing(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", failing)
    with pytest.raises(VideoNotFoundError, match="synthetic/validation_2"):
        vlm4d_tasks.video_path(record)


def test_push_dataset_uploads_the_build_but_not_its_marker(monkeypatch, tmp_path, annotations_dir):
    # The hub is the boundary: HfApi is replaced, the file selection is huggingface_hub's own.
    import huggingface_hub
    from huggingface_hub.utils import filter_repo_objects

    from vlm4d_tasks.data.dataset_repo import MARKER, build_dataset_repo

    out = tmp_path / "out"
    build_dataset_repo(load_annotations(annotations_dir), out)
    uploaded = []

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            pass

        def upload_folder(self, *, folder_path, ignore_patterns=None, **kwargs):
            files = [p.relative_to(folder_path).as_posix() for p in Path(folder_path).rglob("*")]
            uploaded.extend(filter_repo_objects(files, ignore_patterns=ignore_patterns))
            return "https://example.invalid/commit"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    hub.push_dataset(out, "me/VLM4D")
    assert (out / MARKER).is_file() and MARKER not in uploaded
    assert "README.md" in uploaded and any(f.startswith("data/") for f in uploaded)
