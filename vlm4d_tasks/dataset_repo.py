"""Build and load the VLM4D dataset as a Hugging Face dataset repository folder.

The folder holds Parquet data files (explicit features, one split `test` per config) and a
`README.md` rendered from `dataset_card.md` whose YAML `configs` declare the subsets, so
that `datasets.load_dataset(folder, config)` works without a loading script (`datasets` >= 4
refuses those) and `huggingface_hub.upload_folder` publishes it as is.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vlm4d_tasks.annotations import FLAG_DESCRIPTIONS, Annotations, Problem
from vlm4d_tasks.schema import FIELDS, Record, Subset

SPLIT = "test"
DEFAULT_CONFIG = "all"
# The configs of the benchmark proper; `all` is the 1816 questions of the paper. The probe
# subset is a config of its own and never part of `all`.
BENCHMARK_SUBSETS = (Subset.REAL, Subset.SYNTHETIC)
REPORT_JSON = "validation_report.json"
REPORT_MARKDOWN = "validation_report.md"


@dataclass
class BuildResult:
    out: Path
    configs: dict[str, list[str]]  # config name -> data file paths (relative)
    counts: dict[str, int]  # config name -> rows
    problems: list[Problem]
    missing_videos: list[str] = field(default_factory=list)


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

    from vlm4d_tasks.schema import hf_features

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
    configs: dict[str, list[str]], counts: dict[str, int], sizes: dict[str, int]
) -> dict:
    """The YAML header of the card: configs, dataset_info, licence, tags."""
    from vlm4d_tasks.schema import hf_features

    features = hf_features()._to_yaml_list()
    default = default_config(configs)
    return {
        "pretty_name": "VLM4D",
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
) -> str:

    from vlm4d_tasks import categories
    from vlm4d_tasks.stats import count_table, markdown_table
    from vlm4d_tasks.templating import render

    metadata = _yaml_without_anchors(card_metadata(configs, counts, sizes))
    return render(
        "dataset_card.jinja",
        metadata_yaml=metadata.rstrip("\n"),
        configs=configs,
        counts=counts,
        default_config=default_config(configs),
        counts_table=markdown_table(count_table(records)),
        category_rules=categories.RULES,
        category_doc=categories.__doc__,
        fields=list(FIELDS),
        flag_descriptions=FLAG_DESCRIPTIONS,
        problems=annotations.problems,
        has_probe=any(r.subset == Subset.PROBE.value for r in records),
    )


def validation_report(annotations: Annotations, missing_videos: Sequence[str] = ()) -> dict:
    return {
        "files": annotations.files,
        "records": len(annotations.records),
        "flagged_records": sorted({r.uid for r in annotations.records if r.flags}),
        "problems": [vars(p) for p in annotations.problems],
        "missing_videos": list(missing_videos),
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


def _place_videos(records: Iterable[Record], videos: Path, out: Path, copy: bool) -> list[str]:
    missing = []
    for video in sorted({r.video for r in records}):
        src, dst = videos / video, out / video
        if not src.is_file():
            missing.append(video)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        if copy:
            shutil.copy2(src, dst)
        else:
            os.symlink(src.resolve(), dst)
    return missing


def build_dataset_repo(
    annotations: Annotations,
    out: str | Path,
    *,
    videos: str | Path | None = None,
    copy_videos: bool = False,
) -> BuildResult:
    """Write the dataset repository folder `out` for the records of `annotations`."""
    out = Path(out)
    records = annotations.records
    subsets = [s for s in Subset if any(r.subset == s.value for r in records)]
    if not subsets:
        raise ValueError("no records to write")
    # Data files from an earlier build with other subsets would be stale: remove them.
    if (out / "data").is_dir():
        shutil.rmtree(out / "data")
    file_bytes = {
        data_file(subset): _write_parquet(
            [r for r in records if r.subset == subset.value], out / data_file(subset)
        )
        for subset in subsets
    }
    configs = _configs_for(subsets)
    counts = {
        name: sum(1 for r in records if data_file(r.subset) in files)
        for name, files in configs.items()
    }
    sizes = {name: sum(file_bytes[f] for f in files) for name, files in configs.items()}
    missing = _place_videos(records, Path(videos), out, copy_videos) if videos else []
    (out / "README.md").write_text(
        render_card(records, annotations, configs, counts, sizes), encoding="utf-8"
    )
    report = validation_report(annotations, missing)
    (out / REPORT_JSON).write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (out / REPORT_MARKDOWN).write_text(validation_markdown(report), encoding="utf-8")
    return BuildResult(out, configs, counts, annotations.problems, missing)


def load_split(folder: str | Path, config: str | None = None, split: str = SPLIT):
    """`datasets.load_dataset(folder, config)[split]`, the way users load it."""
    from datasets import load_dataset

    return load_dataset(str(folder), config, split=split)


def load_dataset_records(folder: str | Path, config: str | None = None) -> list[Record]:
    return [Record.from_dict(row) for row in load_split(folder, config)]


def dataset_rows(folder: str | Path) -> list[dict]:
    """Every row of every subset in a built folder (each subset's own config, once)."""
    from datasets import get_dataset_config_names

    names = get_dataset_config_names(str(folder))
    rows: list[dict] = []
    for subset in Subset:
        if subset.value in names:
            rows.extend(load_split(folder, subset.value))
    return rows
