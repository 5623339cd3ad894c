"""The dataset repository folder: real `datasets.load_dataset` round trips and the CLI."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _annotation_fixtures import REAL, SYNTHETIC

from vlm4d_tasks.annotations import load_annotations
from vlm4d_tasks.dataset_repo import build_dataset_repo, load_dataset_records, load_split
from vlm4d_tasks.stats import count_table, markdown_table

VLM4D = [sys.executable, "-m", "vlm4d_tasks.cli"]


def _card_metadata(folder: Path) -> dict:
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.fixture
def built(tmp_path, annotations_dir, hf_home):
    out = tmp_path / "vlm4d"
    build_dataset_repo(load_annotations(annotations_dir), out)
    return out


def test_load_dataset_round_trip(built, annotations_dir):
    expected = load_annotations(annotations_dir).records
    assert load_dataset_records(built, "all") == expected
    assert load_dataset_records(built) == expected  # `all` is the default config
    real = load_split(built, "real")
    assert len(real) == len(REAL) and set(real["subset"]) == {"real"}
    assert len(load_split(built, "synthetic")) == len(SYNTHETIC)
    # the null perspective of synthetic rows and the list columns survive
    assert load_split(built, "synthetic")[0]["perspective"] is None
    assert load_split(built, "real")[2]["options"] == ["0", "1", "2", "3"]


def test_card_metadata_declares_configs(built):
    meta = _card_metadata(built)
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == {"all", "real", "synthetic"}
    assert [c["config_name"] for c in meta["configs"] if c.get("default")] == ["all"]
    for config in meta["configs"]:
        for entry in config["data_files"]:
            assert set(entry) == {"split", "path"} and entry["split"] == "test"
    info = {i["config_name"]: i for i in meta["dataset_info"]}
    assert info["all"]["splits"][0]["num_examples"] == len(REAL) + len(SYNTHETIC)
    assert [f["name"] for f in info["real"]["features"]][:3] == ["uid", "question_id", "subset"]
    assert meta["license"] == "mit"


def test_card_shows_counts_rules_and_problems(built, annotations_dir):
    card = (built / "README.md").read_text()
    records = load_annotations(annotations_dir).records
    assert markdown_table(count_table(records)) in card
    for rule in ("how_many", "absent_answer", "rotation_words", "default"):
        assert f"`{rule}`" in card
    assert "validation_925" in card and "answer_matches_no_option" in card
    assert "@inproceedings{zhou2025vlm4d" in card
    report = (built / "validation_report.md").read_text()
    assert "validation_926" in report and "duplicate_id" in report


def test_build_is_byte_identical(tmp_path, annotations_dir, hf_home):
    def digest(folder: Path) -> dict[str, str]:
        return {
            str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    a, b = tmp_path / "a", tmp_path / "b"
    build_dataset_repo(load_annotations(annotations_dir), a)
    build_dataset_repo(load_annotations(annotations_dir), b)
    assert digest(a) == digest(b)


def test_videos_are_linked_and_missing_ones_reported(tmp_path, annotations_dir, hf_home):
    videos = tmp_path / "release"
    present = "videos_real/davis/tram-run.mp4"
    (videos / present).parent.mkdir(parents=True)
    (videos / present).write_bytes(b"not really a video")
    result = build_dataset_repo(load_annotations(annotations_dir), tmp_path / "out", videos=videos)
    assert (tmp_path / "out" / present).read_bytes() == b"not really a video"
    assert present not in result.missing_videos
    assert "videos_synthetic/synth_001.mp4" in result.missing_videos
    build_dataset_repo(
        load_annotations(annotations_dir), tmp_path / "copy", videos=videos, copy_videos=True
    )
    assert not (tmp_path / "copy" / present).is_symlink()
    assert (tmp_path / "copy" / present).read_bytes() == b"not really a video"


def _run(args, cwd, env_home):
    env = {**os.environ, "HF_HOME": str(env_home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        VLM4D + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_build_default_out_then_load_dataset_by_name(tmp_path, annotations_dir, hf_home):
    done = _run(["build-dataset", "--annotations", str(annotations_dir)], tmp_path, hf_home)
    assert done.returncode == 0, done.stderr
    assert "validation_925" in done.stdout  # the report is printed
    assert (tmp_path / "vlm4d" / "README.md").is_file()
    # `load_dataset("vlm4d")` as users write it, from the folder where they built it
    code = (
        "from datasets import load_dataset; "
        "print(len(load_dataset('vlm4d', 'real')['test']), len(load_dataset('vlm4d')['test']))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HOME": str(hf_home)},
        timeout=300,
    )
    assert loaded.stdout.split() == [str(len(REAL)), str(len(REAL) + len(SYNTHETIC))], loaded.stderr

    stats = _run(["stats", "vlm4d"], tmp_path, hf_home)
    assert stats.returncode == 0, stats.stderr
    assert stats.stdout.strip() in (tmp_path / "vlm4d" / "README.md").read_text()


def test_cli_bad_annotation_file_names_it(tmp_path, hf_home):
    (tmp_path / "real_mc.json").write_text("{broken")
    done = _run(
        [
            "build-dataset",
            "--annotations",
            str(tmp_path),
            "--subsets",
            "real",
            "--out",
            str(tmp_path / "o"),
        ],
        tmp_path,
        hf_home,
    )
    assert done.returncode == 1
    assert "real_mc.json" in done.stderr and "not valid JSON" in done.stderr
