"""Writing the files a command was asked for: each checked before any work (`prepare_output`)
and written whole, by rename (`write_output`), so a failed run leaves no half file and a
planted symlink is replaced, not followed.
"""

from __future__ import annotations

import os
from pathlib import Path


class OutputError(ValueError):
    """An output path that cannot be written; the message names the option and the path."""


def prepare_output(path: str | Path, option: str) -> Path:
    """An output path made ready before any work: its missing parent folders are created
    (always, for every output of `vlm4d score` and `vlm4d report`); a path that is a folder,
    or whose folder cannot be made or written, raises OutputError."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path}: is a directory; fix: name a file, e.g. {path}/out")
    if option == "--plot" and path.suffix.lower() != ".png":
        raise OutputError(f"{option} {path}: the plot is a PNG; fix: name a file ending in .png")
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise OutputError(
            f"{option} {path}: cannot create its folder: {blocker} is a file, not a folder; "
            "fix: choose another path"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{option} {path}: cannot create its folder {path.parent} ({exc.strerror or exc}); "
            "fix: choose another path"
        ) from None
    if not os.access(path.parent, os.W_OK):
        raise OutputError(
            f"{option} {path}: folder {path.parent} is not writable; fix: choose another path"
        )
    return path


def write_output(path: str | Path, option: str, text: str | bytes) -> None:
    """`text` written to `path` whole or not at all (`data.files.write_file`: a symlink there
    is replaced, not written through; a FIFO nobody reads fails at once)."""
    from vlm4d_tasks.data.files import write_file

    try:
        write_file(path, text if isinstance(text, bytes) else text.encode("utf-8"))
    except OSError as exc:
        raise OutputError(
            f"{option} {path}: cannot write it ({exc.strerror or exc}); fix: choose another path"
        ) from None
