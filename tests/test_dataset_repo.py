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

from vlm4d_tasks.data.annotations import load_annotations
from vlm4d_tasks.data.dataset_repo import build_dataset_repo, load_split
from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.data.stats import count_table, markdown_table
from vlm4d_tasks.validity.baselines import debiased_config

VLM4D = [sys.executable, "-m", "vlm4d_tasks.cli"]


def _card_metadata(folder: Path) -> dict:
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.fixture
def built(tmp_path, annotations_dir, hf_home):
    out = tmp_path / "vlm4d"
    annotations = load_annotations(annotations_dir)
    build_dataset_repo(annotations, out, debiased=debiased_config(annotations.records))
    return out


def test_load_dataset_round_trip(built, annotations_dir):
    expected = load_annotations(annotations_dir).records
    assert [Record.from_dict(row) for row in load_split(built, "all")] == expected
    # `all` is the default config
    assert [Record.from_dict(row) for row in load_split(built)] == expected
    real = load_split(built, "real")
    assert len(real) == len(REAL) and set(real["subset"]) == {"real"}
    assert len(load_split(built, "synthetic")) == len(SYNTHETIC)
    # the null perspective of synthetic rows and the list columns survive
    assert load_split(built, "synthetic")[0]["perspective"] is None
    assert load_split(built, "real")[2]["options"] == ["0", "1", "2", "3"]


def test_card_metadata_declares_configs(built):
    meta = _card_metadata(built)
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == {"all", "real", "synthetic"}  # no `debiased`: not the release
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


def test_fixture_questions_get_no_debiased_config_and_the_card_says_why(built):
    assert "debiased" not in {c["config_name"] for c in _card_metadata(built)["configs"]}
    card = (built / "README.md").read_text()
    assert "## The debiased config" in card
    assert "not the official release" in card


def test_debiased_config_holds_the_kept_questions_of_a_matching_list(
    tmp_path, annotations_dir, hf_home, monkeypatch
):
    """A debiased list made for these questions (the shipped one is made for the release's):
    the build writes the config `debiased` with exactly the kept questions, and the card its
    version, budget and counts."""
    from vlm4d_tasks.validity import debias

    records = load_annotations(annotations_dir).records
    real = [r for r in records if r.subset == "real"]
    kept = sorted(r.uid for r in real[::2])
    document = {
        "version": debias.DEBIASED_VERSION, "method": "test",
        "parameters": debias.PruneParameters().to_dict(),
        "subsets": {"real": {
            "content_sha256": debias.content_sha256(real), "questions": len(real),
            "kept": len(kept), "kept_uids": kept,
            "categories": {"translational": {"full": len(real), "kept": len(kept)}},
        }},
    }  # fmt: skip
    monkeypatch.setattr(debias, "load_debiased", lambda: debias.check_document(document))
    out = tmp_path / "vlm4d"
    annotations = load_annotations(annotations_dir)
    build_dataset_repo(annotations, out, debiased=debiased_config(annotations.records))
    rows = [Record.from_dict(row) for row in load_split(out, "debiased")]
    assert sorted(r.uid for r in rows) == kept
    assert rows == [r for r in records if r.uid in set(kept)]  # same records, release order
    card = (out / "README.md").read_text()
    assert f"`debiased` (debiased-v1, {len(kept)} questions)" in card
    assert f"| real | translational | {len(real)} | {len(kept)} |" in card
    assert "30% of the subset is gone (the budget)" in card
    # the synthetic fixture questions are not the release's: the card says so
    assert "`synthetic`: not the official release" in card


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


@pytest.mark.subprocess
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


@pytest.mark.subprocess
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


# -- the output folder: only the build's own files are ever replaced ------------------------
def _digest(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder`: kind and content (links are not followed)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        for name in dirnames + filenames:
            path = here / name
            key = str(path.relative_to(folder))
            if path.is_symlink():
                state[key] = ("link", os.readlink(path))
            elif path.is_dir():
                state[key] = ("dir",)
            else:
                state[key] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return state


def _last_line(done) -> str:
    return done.stderr.strip().splitlines()[-1]


def _build_cli(annotations_dir, out, *extra, cwd, home):
    args = ["build-dataset", "--annotations", str(annotations_dir), "--out", str(out), *extra]
    return _run(args, cwd, home)


def _no_leftovers(parent: Path) -> None:
    # No half-written build folder or old copy left beside --out.
    assert [p.name for p in parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.subprocess
def test_foreign_folder_is_refused_then_moved_aside_with_force(tmp_path, annotations_dir, hf_home):
    out = tmp_path / "work" / "thesis"
    (out / "data" / "mystuff").mkdir(parents=True)
    (out / "data" / "mystuff" / "thesis.tex").write_text("\\section{Results}\n")
    (out / "README.md").write_text("my own readme\n")
    before = _digest(out)
    done = _build_cli(annotations_dir, out, cwd=tmp_path, home=hf_home)
    assert done.returncode == 1
    last = _last_line(done)
    assert str(out) in last and "did not make" in last and "Fix:" in last and "--force" in last
    assert _digest(out) == before
    _no_leftovers(out.parent)

    done = _build_cli(annotations_dir, out, "--force", cwd=tmp_path, home=hf_home)
    assert done.returncode == 0, done.stderr
    aside = out.parent / "thesis.old-1"
    assert _digest(aside) == before  # moved whole, nothing deleted or mixed in
    assert f"aside to {aside}" in done.stdout
    assert len(load_split(out, "real")) == len(REAL)  # and the build took its place
    assert not (out / "data" / "mystuff").exists()
    _no_leftovers(out.parent)


@pytest.mark.subprocess
def test_rebuild_replaces_only_the_builds_own_files(tmp_path, annotations_dir, hf_home):
    out = tmp_path / "vlm4d"
    done = _build_cli(annotations_dir, out, cwd=tmp_path, home=hf_home)
    assert done.returncode == 0, done.stderr
    first = _digest(out)
    assert (out / ".vlm4d-build.json").is_file()
    # A user adds files to the built folder; they are not the build's to delete.
    (out / "data" / "mystuff").mkdir()
    (out / "data" / "mystuff" / "thesis.tex").write_text("mine\n")
    (out / ".git").mkdir()
    (out / ".git" / "config").write_text("[core]\n")
    (out / "notes.md").write_text("notes\n")
    mine = {k: v for k, v in _digest(out).items() if k not in first}
    # Rebuilt with fewer subsets: the stale synthetic data file goes, the user's files stay.
    done = _build_cli(
        annotations_dir, out, "--subsets", "real", cwd=tmp_path, home=hf_home
    )  # no --force needed
    assert done.returncode == 0, done.stderr
    after = _digest(out)
    assert {k: after.get(k) for k in mine} == mine
    assert not (out / "data" / "synthetic").exists()
    _no_leftovers(tmp_path)
    # The same inputs again: byte-identical to the first build (plus the user's files).
    done = _build_cli(annotations_dir, out, cwd=tmp_path, home=hf_home)
    assert done.returncode == 0, done.stderr
    assert _digest(out) == {**first, **mine}


@pytest.mark.subprocess
def test_a_users_file_where_the_build_writes_stops_it(tmp_path, annotations_dir, hf_home):
    out = tmp_path / "vlm4d"
    done = _build_cli(annotations_dir, out, "--subsets", "real", cwd=tmp_path, home=hf_home)
    assert done.returncode == 0, done.stderr
    (out / "data" / "synthetic").mkdir()
    (out / "data" / "synthetic" / "test.parquet").write_bytes(b"the user's own file")
    before = _digest(out)
    done = _build_cli(annotations_dir, out, cwd=tmp_path, home=hf_home)
    assert done.returncode == 1
    last = _last_line(done)
    assert "data/synthetic" in last and "not written by vlm4d build-dataset" in last
    assert "Fix:" in last
    assert _digest(out) == before
    _no_leftovers(tmp_path)
    done = _build_cli(annotations_dir, out, "--force", cwd=tmp_path, home=hf_home)
    assert done.returncode == 0, done.stderr
    assert _digest(tmp_path / "vlm4d.old-1") == before


@pytest.mark.subprocess
def test_an_empty_existing_folder_needs_no_force(tmp_path, annotations_dir, hf_home):
    out = tmp_path / "empty"
    out.mkdir()
    done = _build_cli(annotations_dir, out, cwd=tmp_path, home=hf_home)
    assert done.returncode == 0, done.stderr
    assert (out / "README.md").is_file()


def test_an_interrupted_build_leaves_the_old_output_intact(
    tmp_path, annotations_dir, hf_home, monkeypatch
):
    from vlm4d_tasks.data import dataset_repo

    out = tmp_path / "vlm4d"
    build_dataset_repo(load_annotations(annotations_dir), out)
    before = _digest(out)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C after the data files were written

    monkeypatch.setattr(dataset_repo, "render_card", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_dataset_repo(load_annotations(annotations_dir, ["real"]), out)
    assert _digest(out) == before
    _no_leftovers(tmp_path)


@pytest.mark.subprocess
def test_videos_inside_out_are_refused(tmp_path, annotations_dir, hf_home):
    out = tmp_path / "vlm4d"
    assert _build_cli(annotations_dir, out, cwd=tmp_path, home=hf_home).returncode == 0
    (out / "clips").mkdir()
    before = _digest(out)
    done = _build_cli(
        annotations_dir, out, "--videos", str(out / "clips"), cwd=tmp_path, home=hf_home
    )
    assert done.returncode == 1
    assert "is inside --out" in _last_line(done) and "Fix:" in _last_line(done)
    assert _digest(out) == before


@pytest.mark.subprocess
def test_out_that_is_a_file(tmp_path, annotations_dir, hf_home):
    out = tmp_path / "vlm4d"
    out.write_text("not a folder\n")
    done = _build_cli(annotations_dir, out, cwd=tmp_path, home=hf_home)
    assert done.returncode == 1
    last = _last_line(done)
    assert str(out) in last and "is a file" in last and "Fix:" in last
    assert out.read_text() == "not a folder\n"


@pytest.mark.subprocess
@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs")
def test_out_where_nothing_can_be_written(tmp_path, annotations_dir, hf_home):
    # sysfs refuses new entries to everyone, root included.
    done = _build_cli(annotations_dir, "/sys/kernel/vlm4d-out", cwd=tmp_path, home=hf_home)
    assert done.returncode == 1
    last = _last_line(done)
    assert "/sys/kernel/vlm4d-out" in last and "cannot create" in last and "Fix:" in last


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out(tmp_path, annotations_dir, hf_home):
    out = tmp_path / "vlm4d"
    assert _build_cli(annotations_dir, out, cwd=tmp_path, home=hf_home).returncode == 0
    before = _digest(out)
    os.chmod(out, 0o555)
    try:
        done = _build_cli(annotations_dir, out, cwd=tmp_path, home=hf_home)
    finally:
        os.chmod(out, 0o755)
    assert done.returncode == 1
    last = _last_line(done)
    assert "not writable" in last and "Fix:" in last
    assert _digest(out) == before


# -- input that used to end in a traceback ----------------------------------------------------
@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"real_mc.json": "[]"}, "real_mc.json: no questions"),
        ({}, "no annotation file"),
        ({"real_mc.json": "[" * 100_000 + "]" * 100_000}, "nested too deeply"),
        ({"real_mc.json": "[" + "7" * 5000 + "]"}, "not valid JSON"),
    ],
    ids=["empty-list", "empty-folder", "deep-nesting", "huge-number"],
)
def test_bad_annotation_input_is_a_clean_error(tmp_path, hf_home, files, expected):
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    for name, text in files.items():
        (annotations / name).write_text(text)
    done = _build_cli(annotations, tmp_path / "out", cwd=tmp_path, home=hf_home)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = _last_line(done)
    assert expected in last and "Fix:" in last
    assert str(annotations) in last
    assert not (tmp_path / "out").exists()


@pytest.mark.subprocess
def test_a_probe_only_folder_gets_the_probe_card(tmp_path):
    from _lmms_dataset import write_probe

    probe = write_probe(tmp_path / "probe", scenes=2)
    annotations = load_annotations(probe, ["probe"])
    build_dataset_repo(annotations, tmp_path / "out", videos=probe)
    card = (tmp_path / "out" / "README.md").read_text()
    assert card.startswith("---\n") and "pretty_name: VLM4D 4D probe" in card
    assert "1816" not in card and '"real"' not in card and "`all`" not in card
    assert "| seed | 0 |" in card and "| scenes | 2 |" in card
    assert f"This folder holds {len(annotations.records)} questions" in card
    rows = load_split(tmp_path / "out", "probe")
    assert len(rows) == len(annotations.records)
