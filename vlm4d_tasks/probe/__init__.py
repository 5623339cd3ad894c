"""The 4D probe set: procedurally rendered videos with exact spatiotemporal labels.

A controlled companion to VLM4D (ICCV 2025): numpy-rendered scenes of simple named objects
whose 3D trajectories and camera poses are known, so every answer is exact by construction
(in the spirit of the DSR Suite pipeline, which generates QA from camera poses and 3D
tracks). Scenes come in pairs, the same object motion under a static and a moving camera,
to test the paper's finding that models confuse camera motion with object motion.

Modules: `scene` (geometry), `render` (numpy ray caster + H.264), `questions` (answers from
geometry), `answers` (free-form answers and rationales), `sampling` (random scene pairs),
`config` (the generator's YAML configuration), `generate` (the subset on disk: test or train
split, shards, merge, resume), `leaks` (train/test leak check), `export` (fine-tuning data
for LLaMA-Factory, LLaVA or a hub dataset), `strips` (doc figures).
Importing this package loads none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vlm4d_tasks.data.annotations import PROBE_RECORDS_FILE

if TYPE_CHECKING:
    from vlm4d_tasks.data.schema import Record

__all__ = ["RECORDS_FILE", "ProbeSettings", "generate_probe", "load_probe_records"]

RECORDS_FILE = PROBE_RECORDS_FILE  # one name, shared with the dataset builder


def load_probe_records(directory: str | Path) -> list[Record]:
    """The records of a probe set written by `vlm4d generate-probe --out DIRECTORY`."""
    from vlm4d_tasks.data.annotations import load_probe_record_file

    path = Path(directory) / RECORDS_FILE
    # exists(), not is_file(): a FIFO or device here is named by the reader as what it is
    # (data.files refuses it at once), not reported as missing.
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no probe records here (run `vlm4d generate-probe --out {directory}`)"
        )
    return load_probe_record_file(path).records


def generate_probe(out_dir, settings=None, progress: bool = True, force: bool = False, **options):
    """Write a probe set; see `vlm4d_tasks.probe.generate.generate_probe` (`options`: shard,
    leak_reference)."""
    from vlm4d_tasks.probe.generate import ProbeSettings
    from vlm4d_tasks.probe.generate import generate_probe as _generate

    return _generate(
        out_dir, settings or ProbeSettings(), progress=progress, force=force, **options
    )


def __getattr__(name: str):
    # `from vlm4d_tasks.probe import ProbeSettings` without importing numpy at package import.
    if name == "ProbeSettings":
        from vlm4d_tasks.probe.generate import ProbeSettings

        return ProbeSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
