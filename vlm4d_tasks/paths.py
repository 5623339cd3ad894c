"""Where a record's video file is: under a local root, or in the hub cache."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


class VideoNotFoundError(FileNotFoundError):
    """A question's video file is missing; the message names the file and the question."""


def _field(record: Any, name: str) -> str:
    return record[name] if isinstance(record, Mapping) else getattr(record, name)


def video_path(record: Any, root: str | Path | None = None) -> Path:
    """The local path of `record`'s video (a `Record` or a dataset row).

    With `root` (a dataset folder built with `--videos`, a copy of the release, or a probe
    folder) the file is `root / record.video`; without it the video comes from the official
    release through the hub cache.
    """
    video, uid = _field(record, "video"), _field(record, "uid")
    if root is None:
        from vlm4d_tasks.hub import download_video

        try:
            return download_video(video)
        except Exception as exc:
            raise VideoNotFoundError(
                f"video {video!r} of question {uid} is not available: {exc}"
            ) from exc
    path = Path(root) / video
    if not path.is_file():
        raise VideoNotFoundError(f"video of question {uid} not found: {path}")
    return path
