"""Where a record's video file is: under a local root, or in the hub cache.

A record's `video` field comes from data (the official annotation files, or any file a user
passes), so it is hostile until proven otherwise: every file path made from it goes through
`contained_path`, which refuses a path that could leave its root. `vlm4d build-dataset`
(linking and copying videos), `video_path` and the lmms-eval glue all use it; the annotation
loader uses its first half, `unsafe_reason`, to flag such records `unsafe_video_path`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from vlm4d_tasks.data.schema import field_of


class VideoNotFoundError(FileNotFoundError):
    """A question's video file is missing; the message names the file and the question."""


class UnsafePathError(ValueError):
    """A path from data that could leave its root; the message names the path and why."""


_DRIVE = re.compile(r"^[A-Za-z]:")
# NAME_MAX of Linux, macOS and Windows file systems: a longer part names no file anywhere, and
# using it fails with ENAMETOOLONG, far from the record that holds it.
NAME_MAX = 255
_TOO_LONG = "(name too long)"


def unsafe_reason(relative: object) -> str | None:
    """Why a relative path from data could leave the folder it is joined to; None if it cannot.

    Refused: anything but a non-empty string, NUL, a backslash (a separator on Windows), an
    absolute path, a drive letter (`C:`), and `..`, `.` or empty components (`a//b`), along
    with components of nothing but dots and spaces (Windows reads `.. ` as `..`), and
    components longer than `NAME_MAX` bytes, which no file system can hold. This is the part of
    `contained_path` that needs no root (the annotation loader flags with it).
    """
    if not isinstance(relative, str):
        return f"is {type(relative).__name__}, not a string"
    if not relative:
        return "is empty"
    if "\x00" in relative:
        return "contains a NUL character"
    if "\\" in relative:
        return "contains a backslash"
    if relative.startswith("/"):
        return "is absolute"
    if _DRIVE.match(relative):
        return "starts with a drive letter"
    parts = relative.split("/")
    if ".." in parts:
        return "has a '..' component"
    if any(not part.strip(". ") for part in parts):
        return "has an empty or '.' component"
    longest = max(len(part.encode("utf-8", "surrogatepass")) for part in parts)
    if longest > NAME_MAX:
        return (
            f"has a component of {longest} bytes, longer than the {NAME_MAX} a file name may "
            f"have {_TOO_LONG}"
        )
    return None


def contained_path(root: str | Path, relative: object) -> Path:
    """`root / relative`, for a `relative` path that comes from data; never outside `root`.

    Raises `UnsafePathError` when `relative` fails `unsafe_reason`, or when its folders,
    resolved with their symbolic links, lead outside `root` (resolved too). The last component
    may itself be a symbolic link to a file: `build-dataset --videos` links videos that way and
    the hub cache stores files that way; such a link belongs to the folder's owner, not to the
    data, and nothing writes through it (the build only creates paths that do not exist yet).
    The path returned is `root / relative` as given, not resolved.
    """
    reason = unsafe_reason(relative)
    if reason is not None:
        leaves = "" if reason.endswith(_TOO_LONG) else f", so it could leave {root}"
        raise UnsafePathError(f"path {relative!r} {reason}{leaves}")
    assert isinstance(relative, str)  # for the type checker: unsafe_reason checked it
    base = Path(root).resolve()
    folder = (base / relative).parent.resolve()
    if folder != base and base not in folder.parents:
        raise UnsafePathError(
            f"path {relative!r} leads outside {root}: its folder resolves to {folder}"
            " (through a symbolic link)"
        )
    return Path(root) / relative


def video_path(
    record: Any,
    root: str | Path | None = None,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
) -> Path:
    """The local path of `record`'s video (a `Record` or a dataset row).

    With `root` (a dataset folder built with `--videos`, a copy of the release, or a probe
    folder) the file is `root / record.video`, checked by `contained_path`; without it the
    video comes from the hub cache (the official release, or `repo_id` at `revision`).
    A video path that could leave its root is refused with `VideoNotFoundError` (it is
    never opened).
    """
    video, uid = field_of(record, "video"), field_of(record, "uid")
    if root is None:
        from vlm4d_tasks.data.hub import OFFICIAL_REPO_ID, OFFICIAL_REVISION, download_video

        reason = unsafe_reason(video)
        if reason is not None:
            raise VideoNotFoundError(
                f"question {uid}: field 'video': path {video!r} {reason}; it is not downloaded"
            )
        try:
            return download_video(video, repo_id or OFFICIAL_REPO_ID, revision or OFFICIAL_REVISION)
        except Exception as exc:
            raise VideoNotFoundError(
                f"video {video!r} of question {uid} is not available: {exc}"
            ) from exc
    try:
        path = contained_path(root, video)
    except UnsafePathError as exc:
        raise VideoNotFoundError(f"question {uid}: field 'video': {exc}; it is not opened") from exc
    if not path.is_file():
        raise VideoNotFoundError(f"video of question {uid} not found: {path}")
    return path
