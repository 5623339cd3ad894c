"""The `--out` folder of a command that writes a whole folder (`vlm4d build-dataset`,
`vlm4d generate-probe`): which folders it may replace, and which files in them it may delete.

A command owns exactly the files it wrote that still hold what it wrote. It leaves a marker,
`MARKER`, recording each file's size and SHA-256 (for a symbolic link, its target). A marker is a
claim that anybody can write or copy, not a proof, so a rerun checks every entry against the
file before it deletes or replaces anything:

* `--out` absent or empty: the new folder is written beside it and renamed into place, so an
  interrupted run leaves nothing half-written under `--out`.
* `--out` made by an earlier run of the same command (its marker, with hashes): the new folder
  is written beside it and the two are swapped. Only the files that still match the marker are
  deleted. Everything else stays and is moved over to the new folder: files the marker does not
  list (a user's notes), files it lists whose content, size or kind changed, and anything under
  a dot-folder or dot-file (`.git`), which no run ever writes. A line says which listed files were
  kept and why. If a kept file sits where the new run writes, the run stops and changes nothing.
* A marker without hashes (versions before them): none of its files can be proven the command's,
  so the folder is refused like a foreign one (below).
* Any other non-empty folder, or a foreign or old-marker folder: refused, since deleting or
  mixing into somebody's folder cannot be undone. With `--force` the folder is renamed to
  `OUT.old-N` whole (nothing deleted, nothing mixed) and the new folder takes its place.
  `--force` resolves a clash of the previous case the same way.

Nothing is ever written through a symbolic link inside `--out`: the new folder is a fresh one
that the command creates, and the old files are only renamed or unlinked, never opened for writing.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vlm4d_tasks.data.files import InputFileError, read_regular_text
from vlm4d_tasks.data.paths import unsafe_reason

MARKER = ".vlm4d-build.json"
MARKER_VERSION = 2
# A marker lists one line per file; the full release with its ~1,000 videos is ~200 KB.
_MARKER_LIMIT = 32 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


class OutputFolderError(ValueError):
    """`--out` cannot be written as asked; the message says the cause and the fix."""


@dataclass(frozen=True)
class Marker:
    made_by: str
    files: dict[str, object] | None  # None: a marker of an earlier version, without hashes


@dataclass
class Output:
    """A checked `--out`: where the new folder goes and what is there now."""

    out: Path  # as the user gave it
    target: Path  # symbolic links of `out` itself followed
    state: str  # "new", "empty", "built" (an earlier run's), "foreign" (with force)
    made_by: str
    force: bool
    marker: Marker | None = None
    moved_aside: Path | None = None  # where a folder the command did not make went
    notes: list[str] = field(default_factory=list)  # warning lines for the user


def read_marker(folder: str | Path) -> Marker | None:
    """The marker in `folder`, or None if it has none or it is not one a command wrote."""
    path = Path(folder) / MARKER
    if path.is_symlink():
        return None
    try:
        data = json.loads(read_regular_text(path, limit=_MARKER_LIMIT))
    except (OSError, InputFileError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("made_by"), str):
        return None
    files = data.get("files")
    if isinstance(files, list):
        return Marker(data["made_by"], None)
    if not isinstance(files, dict):
        return None
    return Marker(data["made_by"], files)


def sha256_no_follow(path: str | Path) -> str:
    """SHA-256 of a regular file; a symbolic link, FIFO or device raises OSError at once."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        digest = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        os.close(fd)


def copy_hashed(source: Path, destination: Path) -> str:
    """Copy `source` (already checked) to the new path `destination`; return its SHA-256, so the
    marker needs no second read of a large video."""
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(destination, "xb") as dst:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            dst.write(chunk)
    shutil.copystat(source, destination)
    return digest.hexdigest()


def _dotted(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split("/"))


def _mismatch(path: Path, entry: object) -> str | None:
    """None when `path` is what the marker's `entry` says the command wrote; else why not."""
    if not isinstance(entry, dict):
        return "the marker records no content hash for it"
    try:
        info = os.lstat(path)
    except OSError as exc:
        return f"it cannot be checked ({exc.strerror or exc})"
    if "symlink" in entry:
        if not stat.S_ISLNK(info.st_mode):
            return "the marker records a symbolic link, and it is not one now"
        return None if os.readlink(path) == entry["symlink"] else "the link points elsewhere now"
    digest, size = entry.get("sha256"), entry.get("size")
    if not (isinstance(digest, str) and _SHA256.fullmatch(digest) and type(size) is int):
        return "the marker records no content hash for it"
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link now"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file now"
    if info.st_size != size:
        return "its content changed since (size differs)"
    try:
        same = sha256_no_follow(path) == digest
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    return None if same else "its content changed since (sha256 differs)"


def _stat_key(path: Path) -> tuple:
    info = os.lstat(path)
    return (info.st_dev, info.st_ino, info.st_mode, info.st_size, info.st_mtime_ns)


def _proven(folder: Path, files: Mapping[str, object]) -> tuple[dict[str, tuple], dict[str, str]]:
    """The files of `folder` that match the marker (path -> what they looked like when checked),
    and the marker's entries that do not (path -> why), for those present or outside it.

    The walk follows no link and enters no dot-folder: nothing there is ever the command's."""
    proven: dict[str, tuple] = {}
    doubts: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        links = [d for d in dirnames if (here / d).is_symlink()]
        dirnames[:] = [d for d in dirnames if d not in links and not d.startswith(".")]
        for name in filenames + links:
            relative = (here / name).relative_to(folder).as_posix()
            if relative == MARKER or relative not in files:
                continue
            if _dotted(relative):
                doubts[relative] = "a part of its path starts with '.', where nothing is deleted"
                continue
            why = _mismatch(here / name, files[relative])
            if why is None:
                proven[relative] = _stat_key(here / name)
            else:
                doubts[relative] = why
    for relative in files:
        if relative in proven or relative in doubts or relative == MARKER:
            continue
        reason = unsafe_reason(relative)
        if reason is not None:
            doubts[relative] = f"the path {reason}; ignored"
        elif _dotted(relative) and os.path.lexists(folder / relative):
            doubts[relative] = "a part of its path starts with '.', where nothing is deleted"
    return proven, doubts


def _listing(items: list[str], limit: int = 10) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def prepare(out: str | Path, made_by: str, force: bool = False) -> Output:
    """Check `--out` before anything is written; raise `OutputFolderError` when it is refused."""
    out = Path(out)
    target = out.resolve()
    if not target.name:
        raise OutputFolderError(f"--out {out} is a file system root. Fix: choose a folder below it")
    if os.path.lexists(target) and not target.is_dir():
        raise OutputFolderError(
            f"--out {out} is a file, not a folder; nothing was written. "
            f"Fix: choose a new or empty folder for --out (or one made by {made_by})"
        )
    output = Output(out, target, "new", made_by, force)
    if not target.exists():
        return output
    if not os.access(target, os.W_OK | os.X_OK):
        raise OutputFolderError(
            f"--out {out} is not writable; nothing was written. "
            f"Fix: make it writable (chmod -R u+w {out}) or choose another --out"
        )
    marker = read_marker(target)
    if marker is not None and marker.made_by == made_by and marker.files is not None:
        output.state, output.marker = "built", marker
        return output
    if marker is None and not any(target.iterdir()):
        output.state = "empty"
        return output
    if force:
        output.state = "foreign"
        return output
    aside = f"pass --force to move it aside to {_aside(target)} (nothing in it is deleted)"
    if marker is not None and marker.made_by == made_by:
        raise OutputFolderError(
            f"--out {out} was made by an earlier version of {made_by}: its {MARKER} lists "
            "files without their content hashes, so which of them are still the command's own "
            f"cannot be checked; nothing was written. Fix: {aside} and write in its place, "
            "or choose a new --out"
        )
    why = f"its {MARKER} says {marker.made_by} made it" if marker else f"it has no valid {MARKER}"
    raise OutputFolderError(
        f"--out {out} is a folder that {made_by} did not make ({why}) and is not empty; "
        f"nothing was written. Fix: choose a new or empty --out, or {aside} and write in "
        "its place"
    )


def _aside(target: Path) -> Path:
    n = 1
    while os.path.lexists(target.with_name(f"{target.name}.old-{n}")):
        n += 1
    return target.with_name(f"{target.name}.old-{n}")


def _new_folder(target: Path) -> Path:
    """A fresh folder beside `target` (same file system, so it can be renamed into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.building-{os.getpid()}-{secrets.token_hex(4)}")
        try:
            tmp.mkdir()  # the mode a plain mkdir gives (umask), unlike mkdtemp's 0700
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot find a free name for a new folder beside {target}")


def write_failure(output: Output, exc: OSError) -> str:
    """The message for an OSError while writing: its real cause, and the fix for that cause."""
    cause = exc.strerror or str(exc)
    where = f": {exc.filename}" if exc.filename else ""
    parent = output.target.parent
    if exc.errno == errno.ENAMETOOLONG:
        fix = (
            "Fix: shorten the name (a file name may have at most 255 bytes) or choose an "
            "--out with a shorter path"
        )
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = f"Fix: free space on the file system of {parent}, or choose another --out"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = f"Fix: make {parent} writable, or choose another --out"
    else:
        fix = f"Fix: check that {parent} is writable and has free space, or choose another --out"
    return (
        f"--out {output.out}: cannot write ({cause}{where}); the earlier contents of "
        f"{output.out}, if any, are unchanged. {fix}"
    )


@contextlib.contextmanager
def staged(output: Output) -> Iterator[Path]:
    """A fresh folder beside `--out` to write into; removed (never `--out`) if the block fails,
    with an OSError turned into an `OutputFolderError` that names its cause."""
    try:
        tmp = _new_folder(output.target)
    except OSError as exc:
        raise OutputFolderError(
            f"--out {output.out}: cannot create the new folder beside it in "
            f"{output.target.parent} ({exc.strerror or exc}); nothing was written. "
            "Fix: choose an --out in a folder you can write to"
        ) from exc
    try:
        yield tmp
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)  # the command's own folder, never `out`
        if isinstance(exc, OSError):
            raise OutputFolderError(write_failure(output, exc)) from exc
        raise


def _files_under(folder: Path) -> list[str]:
    """Relative paths of the files and links under `folder` (links are not followed)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        links = [d for d in dirnames if (here / d).is_symlink()]
        for name in filenames + links:
            found.append((here / name).relative_to(folder).as_posix())
    return sorted(found)


def marker_entries(folder: Path, known: Mapping[str, str] | None = None) -> dict[str, dict]:
    """What the marker records for each file in the new `folder`; `known` holds SHA-256s
    already computed while writing (copied videos)."""
    known = known or {}
    entries: dict[str, dict] = {}
    for relative in _files_under(folder):
        path = folder / relative
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            entries[relative] = {"symlink": os.readlink(path)}
        else:
            digest = known.get(relative) or sha256_no_follow(path)
            entries[relative] = {"size": info.st_size, "sha256": digest}
    return entries


def commit(tmp: Path, output: Output, known: Mapping[str, str] | None = None) -> None:
    """Write the marker into the finished `tmp` and put it in place of `--out`."""
    entries = marker_entries(tmp, known)
    # Same inputs, same bytes: no date, no version of the package.
    text = json.dumps(
        {"made_by": output.made_by, "version": MARKER_VERSION, "files": entries}, indent=1
    )
    write_new(tmp / MARKER, text + "\n")
    _install(tmp, output)


def write_new(path: Path, text: str) -> None:
    with open(path, "x", encoding="utf-8") as handle:  # never through an existing file or link
        handle.write(text)


def _copy_mode(source: Path, destination: Path) -> None:
    os.chmod(destination, stat.S_IMODE(os.stat(source).st_mode))


def taken(folder: Path, relative: str) -> bool:
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
    """The top-most entries of `folder` that are not in `owned` (nor the marker)."""
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


def _install(tmp: Path, output: Output) -> None:
    target, out = output.target, output.out
    if output.state in ("new", "empty"):
        if output.state == "empty":
            _copy_mode(target, tmp)
        os.rename(tmp, target)  # also replaces an empty folder, in one step
        return
    if output.state == "built":
        assert output.marker is not None and output.marker.files is not None
        proven, doubts = _proven(target, output.marker.files)
        keep = _unowned(target, set(proven))
        clash = [p for p in keep if taken(tmp, p)]
        if not clash:
            if doubts:
                output.notes.append(
                    f"{out}: kept {len(doubts)} file(s) that its {MARKER} lists but that are "
                    f"not provably {output.made_by}'s own, so nothing of them was deleted: "
                    + _listing([f"{p} ({why})" for p, why in sorted(doubts.items())])
                )
            _swap(tmp, output, keep, proven)
            return
        if not output.force:
            named = [f"{p} ({doubts[p]})" if p in doubts else p for p in clash]
            raise OutputFolderError(
                f"--out {out}: {_listing(named, 5)}: not written by {output.made_by} (or changed "
                "since it wrote them), and the new run writes the same path; nothing was "
                "changed. Fix: move them out of the folder, or pass --force to move the folder "
                f"aside to {_aside(target)} and write in its place"
            )
    aside = _aside(target)
    os.rename(target, aside)
    try:
        os.rename(tmp, target)
    except OSError:
        os.rename(aside, target)
        raise
    output.moved_aside = aside


def _swap(tmp: Path, output: Output, keep: list[str], proven: dict[str, tuple]) -> None:
    """Replace an earlier run's folder with the new one, keeping what is not proven its own."""
    target = output.target
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
        left = _remove_proven(old, proven)
    except OSError as exc:
        raise OutputFolderError(
            f"{target} holds the new folder, but tidying up the earlier one failed "
            f"({exc.strerror or exc}); what the command did not write is still in "
            f"{old}. Fix: move those files back into {target} by hand"
        ) from exc
    if left:
        output.notes.append(
            f"{old}: left in place, it holds files that changed while the command ran: "
            + _listing(left, 5)
        )


def _remove_proven(folder: Path, proven: dict[str, tuple]) -> list[str]:
    """Delete from `folder` the proven files (unless they changed since they were checked) and
    the marker, then the folders left empty; return what is left."""
    for dirpath, dirnames, filenames in os.walk(folder, topdown=False):
        here = Path(dirpath)
        links = [d for d in dirnames if (here / d).is_symlink()]
        for name in filenames + links:
            relative = (here / name).relative_to(folder).as_posix()
            if relative == MARKER or proven.get(relative) == _stat_key(here / name):
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
