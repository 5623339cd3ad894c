"""The official release pinned by content: the SHA-256 of its two question files.

The hub dataset `shijiezhou/VLM4D` is addressed by a branch (`main`), which can move; a
revision sha could not be resolved when this pin was made. What makes numbers comparable is
the content of the question files, so that is what is pinned: `real_mc.json` and
`synthetic_mc.json` as published in the official GitHub repository's `data/` folder (the hub's
`QA/` copies are meant to be the same files). Every download and every local
`--annotations` folder is checked against these hashes; a mismatch is an error that shows both
hashes, unless the caller allows unofficial files, and then that choice is recorded wherever
the provenance goes (dataset card, validation report, run metadata).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vlm4d_tasks.settings import ALLOW_UNOFFICIAL_ANNOTATIONS, Settings

# sha256 of the official files (github.com/ShijieZhou-UCLA/VLM4D, data/), checked 2026-12-01.
OFFICIAL_SHA256: dict[str, str] = {
    "real_mc.json": "069e14c02998ec9bf3e825b784259d45e0bd0f7273b43a1fe0c12311b286a4e4",
    "synthetic_mc.json": "630da16f4b27bfb8281e43f2feb4c7c483cf1e37e15941bb280c3bffe3553700",
}
# Set to 1 to accept question files that differ from the official ones (a fixed or extended
# release of your own); the run records that it did. Declared in `vlm4d_tasks.settings`.
ALLOW_UNOFFICIAL_ENV = ALLOW_UNOFFICIAL_ANNOTATIONS.name

_SNAPSHOT = re.compile(r"/snapshots/([0-9a-f]{40})/")


class ReleaseMismatchError(ValueError):
    """An annotation file named like an official one whose content is not the official one."""


@dataclass(frozen=True)
class FileProvenance:
    name: str
    sha256: str
    official: bool  # the content equals the pinned official file


@dataclass
class Provenance:
    """Where a set of question files came from, recorded in the card and every run."""

    files: list[FileProvenance] = field(default_factory=list)
    unofficial_allowed: bool = False
    hub_commit: str | None = None  # the commit huggingface_hub resolved, for downloads

    @property
    def official(self) -> bool:
        """Every pinned-name file has the official content (and there is at least one)."""
        pinned = [f for f in self.files if f.name in OFFICIAL_SHA256]
        return bool(pinned) and all(f.official for f in pinned)

    def merged(self, other: Provenance) -> Provenance:
        commits = {self.hub_commit, other.hub_commit} - {None}
        return Provenance(
            files=self.files + other.files,
            unofficial_allowed=self.unofficial_allowed or other.unofficial_allowed,
            hub_commit=commits.pop() if len(commits) == 1 else None,
        )

    def to_dict(self) -> dict:
        return {
            "official": self.official,
            "unofficial_allowed": self.unofficial_allowed,
            "hub_commit": self.hub_commit,
            "files": [asdict(f) for f in self.files],
        }


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hub_commit_of(path: str | Path) -> str | None:
    """The commit sha in a huggingface_hub cache path (`.../snapshots/<sha>/...`), if any."""
    match = _SNAPSHOT.search(Path(path).resolve().as_posix() + "/")
    return match.group(1) if match else None


def check_files(paths: Mapping[str, Path], *, allow_unofficial: bool | None = None) -> Provenance:
    """Hash each file; raise `ReleaseMismatchError` when a file named like an official one has
    other content and unofficial files are not allowed (None: `VLM4D_ALLOW_UNOFFICIAL_ANNOTATIONS`
    of `Settings.from_environ()`, read only when a file differs).

    `paths` maps file names to paths; files with other names (the probe set) are hashed and
    recorded but have no official content to match.
    """
    files, mismatches = [], []
    for name, path in sorted(paths.items()):
        digest = file_sha256(path)
        expected = OFFICIAL_SHA256.get(name)
        files.append(FileProvenance(name, digest, digest == expected))
        if expected is not None and digest != expected:
            mismatches.append(f"{path}: sha256 {digest}, the official {name} has {expected}")
    if mismatches and allow_unofficial is None:
        allow_unofficial = Settings.from_environ().allow_unofficial_annotations
    if mismatches and not allow_unofficial:
        raise ReleaseMismatchError(
            "annotation file(s) differ from the official release: "
            + "; ".join(mismatches)
            + f". Fix: use the official files, or set {ALLOW_UNOFFICIAL_ENV}=1 (or pass "
            "--allow-unofficial-annotations) to use these; the run then records it."
        )
    commits = {hub_commit_of(p) for p in paths.values()} - {None}
    return Provenance(
        files=files,
        unofficial_allowed=bool(mismatches),
        hub_commit=commits.pop() if len(commits) == 1 else None,
    )
