"""Build and load the VLM4D dataset as a Hugging Face dataset repository folder.

The folder holds Parquet data files (explicit features, one split `test` per config) and a
`README.md` rendered from `dataset_card.jinja` (beside this module) whose YAML `configs` declare the subsets, so
that `datasets.load_dataset(folder, config)` works without a loading script (`datasets` >= 4
refuses those) and `huggingface_hub.upload_folder` publishes it as is.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vlm4d_tasks.data.annotations import (
    FLAG_DESCRIPTIONS,
    FLAG_UNSAFE_VIDEO_PATH,
    Annotations,
    Problem,
)
from vlm4d_tasks.data.paths import UnsafePathError, contained_path, unsafe_reason
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
# Written by every build: the files it wrote, so that a rebuild replaces exactly those (see
# the comment above `read_marker`). No date or version: the same inputs give the same bytes.
MARKER = ".vlm4d-build.json"
MADE_BY = "vlm4d build-dataset"


class BuildError(ValueError):
    """The dataset folder cannot be written as asked; the message says the cause and the fix."""


@dataclass
class BuildResult:
    out: Path
    configs: dict[str, list[str]]  # config name -> data file paths (relative)
    counts: dict[str, int]  # config name -> rows
    problems: list[Problem]
    missing_videos: list[str] = field(default_factory=list)
    moved_aside: Path | None = None  # where `--force` moved a folder the build did not make


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
    folder holds only the probe set. `debiased` is `debiased_config`'s description."""
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


def debiased_config(records: Sequence[Record]) -> dict:
    """The `debiased` config: the benchmark questions the shipped debiased set keeps
    (`validity.debias`, versioned), for each subset whose questions are the ones it was pruned
    from; and what the card says about it (method, parameters, counts, and why a subset has
    none). A folder of other questions gets no such config: the list is pinned to the
    release's content, and pruning (`bench/debias.py`) is a deliberate step, not a side effect
    of a build."""
    from vlm4d_tasks.validity import debias
    from vlm4d_tasks.validity.baselines import debiased_set

    benchmark = [r for r in records if r.subset in {s.value for s in BENCHMARK_SUBSETS}]
    if not benchmark:
        return {"records": [], "status": {}}
    document = debias.load_debiased()
    kept, status = debiased_set(benchmark, document)
    rows = []
    for subset, state in status.items():
        if state != "shipped":
            continue
        for category, count in sorted(document["subsets"][subset]["categories"].items()):
            rows.append({"subset": subset, "category": category, **count})
    return {
        "records": [r for r in benchmark if r.uid in kept],
        "status": status,
        "version": document["version"],
        "method": document["method"],
        "parameters": document["parameters"],
        "rows": rows,
    }


def probe_settings(annotations: Annotations) -> dict | None:
    """The generator's settings and label version, from the probe_labels.json beside the
    probe records that were loaded (None when it is not there)."""
    from vlm4d_tasks.probe.generate import LABELS_FILE

    for file in annotations.files:
        labels = Path(file).parent / LABELS_FILE
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


def _place_videos(
    records: Iterable[Record], videos: Path, out: Path, copy: bool, reserved: Iterable[str]
) -> list[str]:
    """Link (or copy) every record's video from `videos` to the same path under `out`.

    Both ends go through `contained_path`. A record flagged `unsafe_video_path` is skipped: its
    video is never read, linked or copied (the flag is in the validation report). `out` is the
    build's own fresh folder, so nothing is replaced: a video path that names one of the
    build's files (`reserved`) or runs into another video is an error naming the record.
    """
    uids: dict[str, list[str]] = {}
    for record in records:
        if record.video and FLAG_UNSAFE_VIDEO_PATH not in record.flags:
            uids.setdefault(record.video, []).append(record.uid)
    reserved = set(reserved)
    missing = []
    for video in sorted(uids):
        where = f"record {uids[video][0]}: field 'video'"
        try:
            src, dst = contained_path(videos, video), contained_path(out, video)
        except UnsafePathError as exc:
            raise BuildError(
                f"{where}: {exc}. Fix: pass as --videos the folder that really holds the videos "
                "(not one reached through a symbolic link inside it), or correct the path"
            ) from exc
        if not src.is_file():
            missing.append(video)
            continue
        if any(video == r or video.startswith(r + "/") for r in reserved) or _taken(out, video):
            raise BuildError(
                f"{where}: path {video!r} collides with another file of the dataset folder. "
                "Fix: correct the video path in the annotation file"
            )
        dst.parent.mkdir(parents=True, exist_ok=True)
        if copy:
            shutil.copy2(src, dst)
        else:
            os.symlink(src.resolve(), dst)
    return missing


# ---------------------------------------------------------------------------------------------
# The output folder. What a build "owns" is exactly the files it wrote, listed in the marker
# file `MARKER` it leaves in the folder; a rebuild replaces those and nothing else:
#
# * `--out` absent or empty: the build is written into a fresh folder beside it and renamed
#   into place, so an interrupted build leaves nothing half-written under `--out`.
# * `--out` made by an earlier build (it has the marker): the new build is written beside it
#   and the two folders are swapped; files the earlier build did not write (a user's notes,
#   `.git`) are moved over to the new folder, and from the old one only the files its marker
#   lists are deleted. If a user's file sits where the new build writes, the build stops.
# * `--out` a non-empty folder the build did not make: refused, since deleting or mixing into
#   somebody's folder cannot be undone. With `--force` the folder is moved aside whole to
#   `OUT.old-N` (renamed, never deleted: nothing of the user's is lost or mixed with the
#   build's files) and the new build takes its place. `--force` also resolves a clash above
#   the same way.


def read_marker(folder: str | Path) -> set[str] | None:
    """The files an earlier build wrote into `folder` (its marker), or None if it has none."""
    path = Path(folder) / MARKER
    if path.is_symlink() or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("made_by") != MADE_BY:
        return None
    files = data.get("files")
    if not isinstance(files, list):
        return None
    if not all(isinstance(f, str) and unsafe_reason(f) is None for f in files):
        return None
    return set(files)


def _marker_text(files: Iterable[str]) -> str:
    return json.dumps({"made_by": MADE_BY, "files": sorted(files)}, indent=2) + "\n"


def _files_under(folder: Path) -> list[str]:
    """Relative paths of the files and links under `folder` (links are not followed)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        links = [d for d in dirnames if (here / d).is_symlink()]
        for name in filenames + links:
            found.append((here / name).relative_to(folder).as_posix())
    return sorted(found)


def _taken(folder: Path, relative: str) -> bool:
    """Whether `relative` exists in `folder`, or one of its parents there is not a folder."""
    parts = relative.split("/")
    for i in range(1, len(parts) + 1):
        path = folder.joinpath(*parts[:i])
        if not os.path.lexists(path):
            return False
        if i == len(parts) or path.is_symlink() or not path.is_dir():
            return True
    return False


def _unowned(folder: Path, owned: set[str]) -> list[str]:
    """The top-most entries of a built `folder` that the build did not write."""
    owned_dirs = {"/".join(p.split("/")[:i]) for p in owned for i in range(1, p.count("/") + 1)}
    found: list[str] = []

    def visit(relative: str) -> None:
        with os.scandir(folder / relative if relative else folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path = f"{relative}/{entry.name}" if relative else entry.name
                is_dir = entry.is_dir(follow_symlinks=False)
                if is_dir and path in owned_dirs:
                    visit(path)
                elif is_dir or (path not in owned and path != MARKER):
                    found.append(path)

    visit("")
    return found


def _remove_owned(folder: Path, owned: set[str]) -> list[str]:
    """Delete from `folder` the files a build wrote (and its marker), then the folders left
    empty; return what is left (nothing, unless somebody wrote there meanwhile)."""
    for dirpath, dirnames, filenames in os.walk(folder, topdown=False):
        here = Path(dirpath)
        links = [d for d in dirnames if (here / d).is_symlink()]
        for name in filenames + links:
            relative = (here / name).relative_to(folder).as_posix()
            if relative in owned or relative == MARKER:
                (here / name).unlink()
        for name in dirnames:
            if name not in links:
                with contextlib.suppress(OSError):  # only an empty folder goes
                    (here / name).rmdir()
    try:
        folder.rmdir()
    except OSError:
        return _files_under(folder) or [folder.name]
    return []


def _check_output(out: Path, force: bool) -> tuple[Path, str, set[str]]:
    """Where the build goes (symlinks of `--out` followed), what is there, the files it owns."""
    target = out.resolve()
    if not target.name:
        raise BuildError(f"--out {out} is a file system root. Fix: choose a folder below it")
    if os.path.lexists(target) and not target.is_dir():
        raise BuildError(
            f"--out {out} is a file, not a folder; nothing was written. "
            "Fix: choose a new or empty folder for --out (or one made by vlm4d build-dataset)"
        )
    if not target.exists():
        return target, "new", set()
    if not os.access(target, os.W_OK | os.X_OK):
        raise BuildError(
            f"--out {out} is not writable; nothing was written. "
            f"Fix: make it writable (chmod -R u+w {out}) or choose another --out"
        )
    owned = read_marker(target)
    if owned is not None:
        return target, "built", owned
    if not any(target.iterdir()):
        return target, "empty", set()
    if not force:
        raise BuildError(
            f"--out {out} is a folder that vlm4d build-dataset did not make (it has no {MARKER}) "
            "and is not empty; nothing was written. Fix: choose a new or empty --out, or pass "
            f"--force to move it aside to {_aside(target)} (nothing in it is deleted) and "
            "build in its place"
        )
    return target, "foreign", set()


def _aside(target: Path) -> Path:
    n = 1
    while os.path.lexists(target.with_name(f"{target.name}.old-{n}")):
        n += 1
    return target.with_name(f"{target.name}.old-{n}")


def _build_folder(target: Path) -> Path:
    """A fresh folder beside `target` (same file system, so it can be renamed into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.building-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            tmp.mkdir()  # the mode a plain mkdir gives (umask), unlike mkdtemp's 0700
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot find a free name for a build folder beside {target}")


def _copy_mode(source: Path, destination: Path) -> None:
    os.chmod(destination, stat.S_IMODE(os.stat(source).st_mode))


def _install(
    tmp: Path, target: Path, out: Path, state: str, owned: set[str], force: bool
) -> Path | None:
    """Put the finished build `tmp` in place of `target`; return where an old folder went."""
    if state in ("new", "empty"):
        if state == "empty":
            _copy_mode(target, tmp)
        os.rename(tmp, target)  # also replaces an empty folder, in one step
        return None
    if state == "built":
        keep = _unowned(target, owned)
        clash = [p for p in keep if _taken(tmp, p)]
        if not clash:
            _swap(tmp, target, keep, owned)
            return None
        if not force:
            raise BuildError(
                f"--out {out}: {', '.join(clash[:5])} {'was' if len(clash) == 1 else 'were'} not "
                "written by vlm4d build-dataset, and the new build writes the same path; nothing "
                "was changed. Fix: move them out of the folder, or pass --force to move the "
                f"folder aside to {_aside(target)} and build in its place"
            )
    aside = _aside(target)
    os.rename(target, aside)
    try:
        os.rename(tmp, target)
    except OSError:
        os.rename(aside, target)
        raise
    return aside


def _swap(tmp: Path, target: Path, keep: list[str], owned: set[str]) -> None:
    """Replace an earlier build with the new one, keeping the files it did not write."""
    _copy_mode(target, tmp)
    old = target.with_name(f".{target.name}.replaced-{os.getpid()}-{secrets.token_hex(4)}")
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except OSError:
        os.rename(old, target)
        raise
    # Interrupted from here on, a user's file is either in the new folder or in `old` beside
    # it: moved, never deleted.
    try:
        for relative in keep:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            os.rename(old / relative, target / relative)
        left = _remove_owned(old, owned)
    except OSError as exc:
        raise BuildError(
            f"{target} holds the new build, but tidying up the earlier one failed "
            f"({exc.strerror or exc}); what it held that the build did not write is still in "
            f"{old}. Fix: move those files back into {target} by hand"
        ) from exc
    if left:
        warnings.warn(
            f"{old}: left in place, it holds files no build wrote: {', '.join(left[:5])}",
            stacklevel=3,
        )


def _write_new(path: Path, text: str) -> None:
    with open(path, "x", encoding="utf-8") as handle:  # never through an existing file or link
        handle.write(text)


def build_dataset_repo(
    annotations: Annotations,
    out: str | Path,
    *,
    videos: str | Path | None = None,
    copy_videos: bool = False,
    force: bool = False,
) -> BuildResult:
    """Write the dataset repository folder `out` for the records of `annotations`.

    The build is written beside `out` and swapped in at the end; an existing `out` is
    replaced only if an earlier build made it, or moved aside with `force` (see the comment
    above `read_marker`). Raises `BuildError` (cause and fix) when `out` cannot be written.
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
    target, state, owned = _check_output(out, force)
    if videos is not None:
        source = Path(videos).resolve()
        if source == target or target in source.parents:
            raise BuildError(
                f"--videos {videos} is inside --out {out}, which the build replaces; nothing "
                "was written. Fix: keep the videos in a folder of their own and pass that"
            )
    try:
        tmp = _build_folder(target)
    except OSError as exc:
        raise BuildError(
            f"--out {out}: cannot create the build folder beside it in {target.parent} "
            f"({exc.strerror or exc}); nothing was written. "
            "Fix: choose an --out in a folder you can write to"
        ) from exc
    try:
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
        debiased = debiased_config(records)
        if debiased["records"]:
            file_bytes[DEBIASED_FILE] = _write_parquet(debiased["records"], tmp / DEBIASED_FILE)
            configs[DEBIASED_CONFIG] = [DEBIASED_FILE]
            counts[DEBIASED_CONFIG] = len(debiased["records"])
        sizes = {name: sum(file_bytes[f] for f in files) for name, files in configs.items()}
        card = render_card(records, annotations, configs, counts, sizes, debiased=debiased)
        _write_new(tmp / "README.md", card)
        reserved = [REPORT_JSON, REPORT_MARKDOWN, MARKER]
        missing = _place_videos(records, Path(videos), tmp, copy_videos, reserved) if videos else []
        report = validation_report(annotations, missing)
        _write_new(tmp / REPORT_JSON, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        _write_new(tmp / REPORT_MARKDOWN, validation_markdown(report))
        _write_new(tmp / MARKER, _marker_text(_files_under(tmp)))
        moved_aside = _install(tmp, target, out, state, owned, force)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)  # the build's own folder, never `out`
        if isinstance(exc, OSError):
            raise BuildError(
                f"--out {out}: cannot write the dataset ({exc.strerror or exc}"
                f"{f': {exc.filename}' if exc.filename else ''}); the earlier contents of "
                f"{out}, if any, are unchanged. Fix: check that {target.parent} is writable "
                "and has free space, or choose another --out"
            ) from exc
        raise
    return BuildResult(out, configs, counts, annotations.problems, missing, moved_aside)


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
