"""Reading an input file that comes from a user or from data: a regular file of bounded size.

A path on the command line or in a folder can name a FIFO (opening it blocks until a writer
comes), a device (`/dev/zero` never ends) or a file far larger than any real input. Every
reader of user files goes through `read_regular` so that each of these fails at once with a
message that names the file, instead of hanging or filling memory.

The path is checked with stat first (so a device is never even opened: opening some has side
effects, a tape rewinds, a modem line rings), then opened with O_NONBLOCK (so a FIFO swapped
in after the check does not block the open), checked again with fstat on the open descriptor
(so a path swapped between the check and the open cannot slip through), and read up to the
limit plus one byte.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from pathlib import Path

# Official response files are 0.5-3 MB; the development sample's whole score document is 7 MB.
# 512 MiB leaves room for 100k-entry runs and keeps a hostile input far below the machine's
# memory.
MAX_INPUT_BYTES = 512 * 1024 * 1024


class InputFileError(ValueError):
    """An input path that is not a readable regular file of bounded size."""

    def __init__(self, path: str | Path, cause: str, fix: str) -> None:
        self.path = str(path)
        self.cause = cause
        self.fix = fix
        super().__init__(f"{path}: {cause}; {fix}")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def check_regular(
    path: str | Path,
    *,
    limit: int = MAX_INPUT_BYTES,
    fix: str = "fix: pass a regular file",
) -> os.stat_result:
    """The status of `path` (symlinks followed) when it is a regular file of at most `limit`
    bytes, without opening it; anything else raises InputFileError (FileNotFoundError for a
    missing path). For callers that hand the path to a reader of their own (a hash); a
    reader should still use `read_regular`, which checks the open file again."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise InputFileError(path, f"cannot read it ({exc.strerror or exc})", fix) from None
    _check_status(path, info, limit, fix)
    return info


def _check_status(path: Path, info: os.stat_result, limit: int, fix: str) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise InputFileError(path, "is a directory, not a file", fix)
    if not stat.S_ISREG(info.st_mode):
        raise InputFileError(path, f"is {_kind(info.st_mode)}, not a regular file", fix)
    if info.st_size > limit:
        raise InputFileError(
            path, f"is {info.st_size:,} bytes, more than the {limit:,} read at most", fix
        )


def read_regular(
    path: str | Path,
    *,
    limit: int = MAX_INPUT_BYTES,
    fix: str = "fix: pass a regular file",
) -> bytes:
    """The bytes of `path`, which must be a regular file (symlinks to one are followed) of at
    most `limit` bytes; anything else raises InputFileError (FileNotFoundError for a missing
    path, so callers can keep their own "no such file" message)."""
    path = Path(path)
    check_regular(path, limit=limit, fix=fix)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise InputFileError(path, "is a directory, not a file", fix) from None
    except OSError as exc:
        raise InputFileError(path, f"cannot read it ({exc.strerror or exc})", fix) from None
    try:
        _check_status(path, os.fstat(fd), limit, fix)
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        total = 0
        while True:
            # The size can grow after fstat (a file being written): stop at the limit anyway.
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise InputFileError(path, f"holds more than the {limit:,} bytes read at most", fix)
        return b"".join(chunks)
    except OSError as exc:
        raise InputFileError(path, f"cannot read it ({exc.strerror or exc})", fix) from None
    finally:
        os.close(fd)


def read_regular_text(
    path: str | Path,
    *,
    limit: int = MAX_INPUT_BYTES,
    fix: str = "fix: pass a regular file",
) -> str:
    """`read_regular` decoded as UTF-8 (UnicodeDecodeError propagates for the caller's
    message)."""
    return read_regular(path, limit=limit, fix=fix).decode("utf-8")


def write_file(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all; OSError as `open` raises it.

    A regular file (or a missing one) is written to a new file in the same folder and renamed
    over `path`: a reader never sees half a file, a full disk leaves the old one, and a
    symlink at `path` (one planted in an output folder, pointing anywhere) is replaced, never
    written through. A path that already names something else (/dev/null, /dev/stdout, a
    FIFO that a reader holds open) is streamed into, as a shell redirection would; a FIFO
    that no process reads fails at once (ENXIO) instead of blocking forever.
    """
    path = Path(path)
    try:
        info: os.stat_result | None = os.stat(path)
    except OSError:  # missing, or a dangling or looping symlink: replaced like a file
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                raise OSError(
                    errno.ENXIO, "a FIFO (named pipe) that no process is reading", str(path)
                ) from None
            raise
        try:
            os.set_blocking(fd, True)
            _write_all(fd, data)
        finally:
            os.close(fd)
        return
    temporary = path.parent / f".vlm4d-{os.getpid()}-{secrets.token_hex(6)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            _write_all(fd, data)
            if info is not None:  # keep the replaced file's permissions, as an overwrite would
                os.fchmod(fd, stat.S_IMODE(info.st_mode))
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# Characters that a terminal acts on rather than shows: C0 and C1 controls (ESC starts the
# sequences that clear the screen, set the title or rewrite a line; a CR or a line break lets
# a name forge the "fix:" line), DEL, the bidirectional overrides and isolates that reorder
# what is shown, and lone surrogates (no UTF-8 encoder can write them).
_TERMINAL_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def terminal_safe(text: str) -> str:
    """`text` for one line of a terminal: every character in `_TERMINAL_UNSAFE` shown as its
    escape (`\\x1b`, `\\u202e`), so a name read from a file is printed, never obeyed."""
    return _TERMINAL_UNSAFE.sub(lambda m: ascii(m.group())[1:-1], text)
