"""Build and load the VLM4D dataset as a Hugging Face dataset repository folder.

The folder holds Parquet data files (explicit features, one split `test` per config) and a
`README.md` rendered from `dataset_card.jinja` (beside this module) whose YAML `configs` declare the subsets, so
that `datasets.load_dataset(folder, config)` works without a loading script (`datasets` >= 4
refuses those) and `huggingface_hub.upload_folder` publishes it as is.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vlm4d_tasks.data import outdir
from vlm4d_tasks.data.annotations import (
    FLAG_DESCRIPTIONS,
    FLAG_UNSAFE_VIDEO_PATH,
    PROBE_LABELS_FILE,
    Annotations,
    Problem,
)
from vlm4d_tasks.data.outdir import MARKER, OutputFolderError, copy_hashed, taken, write_new
from vlm4d_tasks.data.paths import UnsafePathError, contained_path
from vlm4d_tasks.data.schema import FIELDS, Record, Subset

SPLIT = "test"
DEFAULT_CONFIG = "all"
DEBIASED_CONFIG = "debiased"
DEBIASED_FILE = f"data/{DEBIASED_CONFIG}/test.parquet"
# The configs of the benchmark proper; `all` is the 1816 questions of the paper. The probe
# subset is a config of its own and never part of `all`.
BENCHMARK_SUBSETS = (Subset.REAL, Subset.SYNTHETIC)
REPORT_JSON = "validation_report.json"
REPORT_MARKDOWN = "validation_report.md"
# Who wrote a folder, in its marker (`outdir.MARKER`: each file's size and SHA-256, so that a
# rebuild deletes only what is provably the build's own; see `outdir`).
MADE_BY = "vlm4d build-dataset"


class BuildError(OutputFolderError):
    """The dataset folder cannot be written as asked; the message says the cause and the fix.
    `--out` itself refused is an `OutputFolderError` (the base class) from `outdir`."""


@dataclass
class BuildResult:
    out: Path
    configs: dict[str, list[str]]  # config name -> data file paths (relative)
    counts: dict[str, int]  # config name -> rows
    problems: list[Problem]
    missing_videos: list[str] = field(default_factory=list)
    moved_aside: Path | None = None  # where `--force` moved a folder the build did not make
    notes: list[str] = field(default_factory=list)  # warnings: earlier files kept, and why


def data_file(subset: Subset | str) -> str:
    return f"data/{Subset(subset).value}/{SPLIT}.parquet"


def _configs_for(subsets: Sequence[Subset]) -> dict[str, list[str]]:
    configs: dict[str, list[str]] = {}
    benchmark = [s for s in BENCHMARK_SUBSETS if s in subsets]
    if benchmark:
        configs[DEFAULT_CONFIG] = [data_file(s) for s in benchmark]
    for subset in subsets:
        configs[subset.value] = [data_file(subset)]
    return configs


def default_config(configs: dict[str, list[str]]) -> str:
    return DEFAULT_CONFIG if DEFAULT_CONFIG in configs else next(iter(configs))


def _write_parquet(records: list[Record], path: Path) -> int:
    """Write the records; return the in-memory (Arrow) size the card's `num_bytes` wants."""
    from datasets import Dataset

    from vlm4d_tasks.data.schema import hf_features

    path.parent.mkdir(parents=True, exist_ok=True)
    dataset = Dataset.from_list([r.to_dict() for r in records], features=hf_features())
    dataset.to_parquet(str(path))
    return dataset.data.nbytes


def _yaml_without_anchors(data: dict) -> str:
    """YAML with repeated blocks written out: the card is read by people, who should not have
    to resolve `&id001` anchors between the configs' identical feature lists."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True)


def card_metadata(
    configs: dict[str, list[str]],
    counts: dict[str, int],
    sizes: dict[str, int],
    pretty_name: str = "VLM4D",
) -> dict:
    """The YAML header of the card: configs, dataset_info, licence, tags."""
    from vlm4d_tasks.data.schema import hf_features

    features = hf_features()._to_yaml_list()
    default = default_config(configs)
    return {
        "pretty_name": pretty_name,
        "license": "mit",
        "language": ["en"],
        "task_categories": ["video-text-to-text", "visual-question-answering"],
        "tags": ["video", "spatiotemporal", "4d", "multiple-choice", "benchmark", "lmms-eval"],
        "size_categories": ["1K<n<10K"],
        "configs": [
            {
                "config_name": name,
                "data_files": [{"split": SPLIT, "path": files if len(files) > 1 else files[0]}],
                **({"default": True} if name == default else {}),
            }
            for name, files in configs.items()
        ],
        "dataset_info": [
            {
                "config_name": name,
                "features": features,
                "splits": [{"name": SPLIT, "num_bytes": sizes[name], "num_examples": counts[name]}],
            }
            for name in configs
        ],
    }


def render_card(
    records: Sequence[Record],
    annotations: Annotations,
    configs: dict[str, list[str]],
    counts: dict[str, int],
    sizes: dict[str, int],
    debiased: dict | None = None,
) -> str:
    """The folder's README.md: the benchmark's card, or the probe set's own card when the
    folder holds only the probe set. `debiased` is the `debiased` config's description
    (`vlm4d_tasks.validity.baselines.debiased_config`)."""
    from vlm4d_tasks import __version__
    from vlm4d_tasks.data import categories
    from vlm4d_tasks.data.stats import count_table, markdown_table
    from vlm4d_tasks.templating import render

    probe_only = bool(records) and all(r.subset == Subset.PROBE.value for r in records)
    metadata = card_metadata(
        configs, counts, sizes, pretty_name="VLM4D 4D probe" if probe_only else "VLM4D"
    )
    if probe_only:
        metadata["size_categories"] = ["n<1K" if len(records) < 1000 else "1K<n<10K"]
        metadata["tags"] = [*metadata["tags"], "synthetic", "diagnostic"]
    common = dict(
        metadata_yaml=_yaml_without_anchors(metadata).rstrip("\n"),
        configs=configs,
        counts=counts,
        default_config=default_config(configs),
        counts_table=markdown_table(count_table(records)),
        fields=list(FIELDS),
        problems=annotations.problems,
        provenance=annotations.provenance,
    )
    if probe_only:
        return render(
            __package__,
            "probe_card.jinja",
            **common,
            settings=probe_settings(annotations),
            generator_version=__version__,
            videos=len({r.video for r in records}),
        )
    return render(
        __package__,
        "dataset_card.jinja",
        **common,
        category_rules=categories.RULES,
        category_doc=categories.__doc__,
        flag_descriptions=FLAG_DESCRIPTIONS,
        has_probe=any(r.subset == Subset.PROBE.value for r in records),
        debiased=debiased,
    )


def probe_settings(annotations: Annotations) -> dict | None:
    """The generator's settings and label version, from the probe_labels.json beside the
    probe records that were loaded (None when it is not there)."""
    for file in annotations.files:
        labels = Path(file).parent / PROBE_LABELS_FILE
        if labels.is_file():
            try:
                data = json.loads(labels.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            if isinstance(data, dict) and isinstance(data.get("settings"), dict):
                return {"version": data.get("version"), **data["settings"]}
    return None


def validation_report(annotations: Annotations, missing_videos: Sequence[str] = ()) -> dict:
    return {
        "files": annotations.files,
        "records": len(annotations.records),
        "flagged_records": sorted({r.uid for r in annotations.records if r.flags}),
        "problems": [vars(p) for p in annotations.problems],
        "missing_videos": list(missing_videos),
        "provenance": annotations.provenance.to_dict() if annotations.provenance else None,
    }


def validation_markdown(report: dict) -> str:
    lines = [
        "# VLM4D validation report",
        "",
        f"{report['records']} records from {len(report['files'])} file(s); "
        f"{len(report['flagged_records'])} flagged; {len(report['problems'])} problem(s).",
        "",
    ]
    if report["problems"]:
        lines += ["| file | record | field | flag | problem |", "|---|---|---|---|---|"]
        for p in report["problems"]:
            lines.append(
                f"| {Path(p['file']).name} | {p['record']} | {p['field']} | "
                f"{p['flag']} | {p['message'].replace('|', '/')} |"
            )
        lines.append("")
    if report["missing_videos"]:
        lines += [f"{len(report['missing_videos'])} video(s) missing from the video folder:", ""]
        lines += [f"- {v}" for v in report["missing_videos"]] + [""]
    return "\n".join(lines)


def _hub_blobs(root: Path) -> Path | None:
    """The `blobs` folder when `root` (resolved) lies in a snapshot of a huggingface_hub cache:
    there every file is a link to `<repo>/blobs/<hash>`, outside the snapshot but not the cache."""
    for folder in (root, *root.parents):
        if folder.parent.name == "snapshots" and (folder.parent.parent / "blobs").is_dir():
            return folder.parent.parent / "blobs"
    return None


def _video_source(videos: Path, video: str, where: str) -> Path | None:
    """The resolved file to link or copy for `video`, or None when it is missing.

    A link inside `--videos` may point anywhere, and its target is what a copy (or an upload
    of a linked folder; pushes are public by default) would publish: the full path must
    resolve inside `--videos` (or the hub cache's blobs, see `_hub_blobs`)."""
    src = contained_path(videos, video)
    root = videos.resolve()
    if os.path.lexists(src):
        real = src.resolve()
        blobs = _hub_blobs(root)
        if root not in real.parents and (blobs is None or blobs not in real.parents):
            raise BuildError(
                f"{where}: {video!r} in --videos {videos} is a symbolic link that leads outside "
                f"it, to {real}; nothing was written, since linking or copying it would put that "
                "file in the dataset. Fix: put the video itself in the videos folder (a link to "
                "a file inside the folder is fine), or correct the path"
            )
    return src.resolve() if src.is_file() else None


def _place_videos(
    records: Iterable[Record], videos: Path, out: Path, copy: bool, reserved: Iterable[str]
) -> tuple[list[str], dict[str, str]]:
    """Link (or copy) every record's video from `videos` to the same path under `out`; return
    the missing videos and the SHA-256 of each copy.

    Both ends go through `contained_path`, and the source must resolve inside `videos`
    (`_video_source`). A record flagged `unsafe_video_path` is skipped: its video is never
    read, linked or copied (the flag is in the validation report). `out` is the build's own
    fresh folder, so nothing is replaced: a video path that names one of the build's files
    (`reserved`), runs into another video, or has a part starting with '.' (where a rebuild
    deletes nothing, see `outdir`) is an error naming the record.
    """
    uids: dict[str, list[str]] = {}
    for record in records:
        if record.video and FLAG_UNSAFE_VIDEO_PATH not in record.flags:
            uids.setdefault(record.video, []).append(record.uid)
    reserved = set(reserved)
    missing: list[str] = []
    copied: dict[str, str] = {}
    for video in sorted(uids):
        where = f"record {uids[video][0]}: field 'video'"
        if any(part.startswith(".") for part in video.split("/")):
            raise BuildError(
                f"{where}: path {video!r} has a part starting with '.', and the build writes "
                "nothing there (a rebuild never deletes under a dot-folder such as .git, so it "
                "could not replace it); nothing was written. Fix: correct the video path, or "
                "build without --videos"
            )
        try:
            src = _video_source(videos, video, where)
            dst = contained_path(out, video)
            if src is None:
                missing.append(video)
                continue
            if any(video == r or video.startswith(r + "/") for r in reserved) or taken(out, video):
                raise BuildError(
                    f"{where}: path {video!r} collides with another file of the dataset "
                    "folder. Fix: correct the video path in the annotation file"
                )
            dst.parent.mkdir(parents=True, exist_ok=True)
            if copy:
                copied[video] = copy_hashed(src, dst)
            else:
                os.symlink(src, dst)
        except UnsafePathError as exc:
            raise BuildError(
                f"{where}: {exc}. Fix: pass as --videos the folder that really holds the videos "
                "(not one reached through a symbolic link inside it), or correct the path"
            ) from exc
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:
                raise
            raise BuildError(
                f"{where}: path {video!r} ({len(video.encode())} bytes) is too long for the file "
                f"system under --videos {videos} or --out ({exc.strerror}); nothing was written. "
                "Fix: shorten the video path in the annotation file (a name may have at most "
                "255 bytes, a whole path about 4,096)"
            ) from exc
    return missing, copied


def refuse_videos_inside(videos: str | Path | None, output: outdir.Output, out: object) -> None:
    """A build replaces --out whole: videos read from inside it would go with it."""
    if videos is None:
        return
    source = Path(videos).resolve()
    if source == output.target or output.target in source.parents:
        raise BuildError(
            f"--videos {videos} is inside --out {out}, which the build replaces; nothing "
            "was written. Fix: keep the videos in a folder of their own and pass that"
        )


def build_dataset_repo(
    annotations: Annotations,
    out: str | Path,
    *,
    videos: str | Path | None = None,
    copy_videos: bool = False,
    force: bool = False,
    debiased: dict | None = None,
) -> BuildResult:
    """Write the dataset repository folder `out` for the records of `annotations`.

    `debiased` is the `debiased` config and its description for the card, made by the caller
    with `vlm4d_tasks.validity.baselines.debiased_config(annotations.records)`: the debiased
    set is a result of `validity`, which sits above this module, so it is passed in rather than
    imported. None writes no `debiased` config and no card section about it.

    The build is written beside `out` and swapped in at the end; of an existing `out` it
    deletes only the files an earlier build provably wrote, or moves it aside whole with
    `force` (see `outdir`). Raises `OutputFolderError` (a `BuildError` for the build's own
    checks), with the cause and the fix, when `out` cannot be written.
    """
    out = Path(out)
    records = annotations.records
    subsets = [s for s in Subset if any(r.subset == s.value for r in records)]
    if not subsets:
        read = ", ".join(annotations.files) or "no annotation file"
        raise BuildError(
            f"no questions to write (read: {read}); nothing was written. "
            "Fix: pass the folder with the release's real_mc.json / synthetic_mc.json"
        )
    output = outdir.prepare(out, MADE_BY, force)
    refuse_videos_inside(videos, output, out)
    with outdir.staged(output) as tmp:
        file_bytes = {
            data_file(subset): _write_parquet(
                [r for r in records if r.subset == subset.value], tmp / data_file(subset)
            )
            for subset in subsets
        }
        configs = _configs_for(subsets)
        counts = {
            name: sum(1 for r in records if data_file(r.subset) in files)
            for name, files in configs.items()
        }
        if debiased is not None and debiased["records"]:
            file_bytes[DEBIASED_FILE] = _write_parquet(debiased["records"], tmp / DEBIASED_FILE)
            configs[DEBIASED_CONFIG] = [DEBIASED_FILE]
            counts[DEBIASED_CONFIG] = len(debiased["records"])
        sizes = {name: sum(file_bytes[f] for f in files) for name, files in configs.items()}
        card = render_card(records, annotations, configs, counts, sizes, debiased=debiased)
        write_new(tmp / "README.md", card)
        missing: list[str] = []
        copied: dict[str, str] = {}
        if videos:
            reserved = [REPORT_JSON, REPORT_MARKDOWN, MARKER]
            missing, copied = _place_videos(records, Path(videos), tmp, copy_videos, reserved)
        report = validation_report(annotations, missing)
        write_new(tmp / REPORT_JSON, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        write_new(tmp / REPORT_MARKDOWN, validation_markdown(report))
        outdir.commit(tmp, output, known=copied)
    return BuildResult(
        out, configs, counts, annotations.problems, missing, output.moved_aside, output.notes
    )


def load_split(folder: str | Path, config: str | None = None, split: str = SPLIT):
    """`datasets.load_dataset(folder, config)[split]`, the way users load it."""
    from datasets import load_dataset

    return load_dataset(str(folder), config, split=split)


def dataset_rows(folder: str | Path) -> list[dict]:
    """Every row of every subset in a built folder (each subset's own config, once)."""
    from datasets import get_dataset_config_names

    names = get_dataset_config_names(str(folder))
    rows: list[dict] = []
    for subset in Subset:
        if subset.value in names:
            rows.extend(load_split(folder, subset.value))
    return rows
