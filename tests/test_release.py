"""The official release pinned by content (vlm4d_tasks/data/release.py)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlm4d_tasks.data import release
from vlm4d_tasks.data.annotations import load_annotations


@pytest.fixture
def strict(monkeypatch):
    """The default a user gets: only the official content is accepted."""
    monkeypatch.delenv(release.ALLOW_UNOFFICIAL_ENV, raising=False)


@pytest.fixture
def pinned_to_fixture(monkeypatch, annotations_dir):
    """Pretend the suite's fixture files are the official release (their hashes pinned)."""
    pins = {
        name: hashlib.sha256((annotations_dir / name).read_bytes()).hexdigest()
        for name in ("real_mc.json", "synthetic_mc.json")
    }
    monkeypatch.setattr(release, "OFFICIAL_SHA256", pins)
    return pins


def test_other_content_is_refused_with_both_hashes(strict, annotations_dir):
    real = annotations_dir / "real_mc.json"
    with pytest.raises(release.ReleaseMismatchError) as err:
        load_annotations(annotations_dir)
    message = str(err.value)
    assert str(real) in message
    assert hashlib.sha256(real.read_bytes()).hexdigest() in message
    assert release.OFFICIAL_SHA256["real_mc.json"] in message
    assert release.ALLOW_UNOFFICIAL_ENV in message


def test_official_content_is_accepted_and_recorded(strict, pinned_to_fixture, annotations_dir):
    provenance = load_annotations(annotations_dir).provenance
    assert provenance.official and not provenance.unofficial_allowed
    assert {f.name: f.sha256 for f in provenance.files} == pinned_to_fixture
    assert provenance.to_dict()["official"] is True


def test_one_changed_byte_is_a_mismatch(strict, pinned_to_fixture, annotations_dir):
    path = annotations_dir / "synthetic_mc.json"
    path.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(release.ReleaseMismatchError, match="synthetic_mc.json"):
        load_annotations(annotations_dir, ["synthetic"])
    # Only the files that are read are checked.
    assert load_annotations(annotations_dir, ["real"]).provenance.official


def test_override_is_recorded(strict, annotations_dir):
    provenance = load_annotations(annotations_dir, allow_unofficial=True).provenance
    assert provenance.unofficial_allowed and not provenance.official
    assert all(not f.official for f in provenance.files)


def test_environment_override(monkeypatch, annotations_dir):
    monkeypatch.setenv(release.ALLOW_UNOFFICIAL_ENV, "1")
    assert load_annotations(annotations_dir).provenance.unofficial_allowed


def test_hub_commit_comes_from_the_snapshot_path(strict, pinned_to_fixture, tmp_path):
    sha = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "datasets--shijiezhou--VLM4D" / "snapshots" / sha / "QA"
    snapshot.mkdir(parents=True)
    from _annotation_fixtures import write_annotations

    write_annotations(snapshot)
    assert load_annotations(snapshot).provenance.hub_commit == sha
    assert release.hub_commit_of(tmp_path) is None


@pytest.mark.subprocess
def test_build_dataset_cli_fails_on_other_content(annotations_dir, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "vlm4d_tasks.cli", "build-dataset"]
        + ["--annotations", str(annotations_dir), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != release.ALLOW_UNOFFICIAL_ENV},
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "differ from the official release" in last and "Fix:" in last
    assert not (tmp_path / "out").exists()


def test_pinned_hashes_are_sha256_hex():
    assert set(release.OFFICIAL_SHA256) == {"real_mc.json", "synthetic_mc.json"}
    for digest in release.OFFICIAL_SHA256.values():
        assert len(digest) == 64 and int(digest, 16) >= 0


def test_file_sha256_matches_hashlib(tmp_path):
    path = Path(tmp_path / "x.bin")
    path.write_bytes(b"\x00" * (3 << 20) + b"tail")
    assert release.file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_card_and_report_record_the_hashes(annotations_dir, tmp_path):
    import json

    from vlm4d_tasks.data.dataset_repo import REPORT_JSON, build_dataset_repo

    annotations = load_annotations(annotations_dir, allow_unofficial=True)
    build_dataset_repo(annotations, tmp_path / "out")
    card = (tmp_path / "out" / "README.md").read_text()
    report = json.loads((tmp_path / "out" / REPORT_JSON).read_text())
    for f in annotations.provenance.files:
        assert f"| `{f.name}` | `{f.sha256}` | no |" in card
    assert "differ from the official release" in card
    assert report["provenance"] == annotations.provenance.to_dict()
