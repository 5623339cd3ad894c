"""On-disk cache of sampled frames, so the questions that share a VLM4D clip decode it once.

VLM4D asks 1816 questions about 1000 clips; the official code decodes a clip again for every
question. Entries are keyed by the video file's identity (absolute path, size and mtime_ns),
the sampling policy and the output size. Each entry is a raw ``.npy`` array plus a JSON sidecar
(indices, timestamps, fps, count). Several processes can share one cache directory:

- writes go to a temporary file that ``os.replace`` moves into place (readers never see half an
  entry; the sidecar is written last and marks the entry complete);
- a lock file per key (``fcntl.flock``) makes a second process wait for the first one's decode
  instead of decoding the same clip again;
- the directory is bounded: after each write, least recently used entries (sidecar mtime, which
  a hit refreshes) are deleted until the total is under ``max_bytes``.

Arrays are stored raw (uncompressed) and a hit maps the file: the frames come back as a
read-only ``numpy.memmap`` whose pages are read from the page cache (or disk) when used, with no
copy (``numpy.array(frames.frames)`` for a writable one). 32 full-HD frames take 200 MB, so pass
``size=`` when a model resizes anyway.

Configuration is read when a cache is created, never at import, through
`vlm4d_tasks.settings`: ``VLM4D_FRAME_CACHE_DIR`` (default ``$VLM4D_CACHE_DIR/frames``, else
``$XDG_CACHE_HOME/vlm4d/frames`` or ``~/.cache/vlm4d/frames``) and
``VLM4D_FRAME_CACHE_MAX_BYTES`` (default 8 GiB); a `FrameCache` given both reads none.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vlm4d_tasks.settings import DEFAULT_FRAME_CACHE_MAX_BYTES, Settings
from vlm4d_tasks.video.sampler import Frames, Policy, sample

FORMAT_VERSION = 1
DEFAULT_MAX_BYTES = DEFAULT_FRAME_CACHE_MAX_BYTES


def _default_dir(settings: Settings | None = None) -> Path:
    """`VLM4D_FRAME_CACHE_DIR`, else `$VLM4D_CACHE_DIR/frames` (the library-wide cache root:
    the judge cache is there too), else the XDG cache folder's `vlm4d/frames`; the variables
    from `settings` (default: `Settings.from_environ()`, read now)."""
    settings = Settings.from_environ() if settings is None else settings
    if settings.frame_cache_dir:
        return Path(settings.frame_cache_dir).expanduser()
    if settings.cache_dir:
        return Path(settings.cache_dir).expanduser() / "frames"
    # not one of ours: the XDG base directory rule, read where it is used
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vlm4d" / "frames"


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0
    evicted: int = 0


class FrameCache:
    """A directory of sampled frames shared by processes (see the module docstring)."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        max_bytes: int | None = None,
    ) -> None:
        if directory is None or max_bytes is None:  # the variables, for what was not given
            settings = Settings.from_environ()
            directory = _default_dir(settings) if directory is None else directory
            max_bytes = settings.frame_cache_max_bytes if max_bytes is None else max_bytes
        self.directory = Path(directory)
        self.max_bytes = int(max_bytes)
        self.stats = CacheStats()

    # -- keys -----------------------------------------------------------------------------
    def file_identity(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """What makes a video file the same file: path, size, mtime."""
        absolute = os.path.abspath(os.fspath(path))
        stat = os.stat(absolute)
        return {"path": absolute, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    def key(
        self, path: str | os.PathLike[str], policy: Policy, size: tuple[int, int] | None = None
    ) -> str:
        material = {
            "version": FORMAT_VERSION,
            "file": self.file_identity(path),
            "policy": policy.key,
            "size": None if size is None else [int(size[0]), int(size[1])],
        }
        blob = json.dumps(material, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def _paths(self, key: str) -> tuple[Path, Path, Path]:
        folder = self.directory / key[:2]
        return folder / f"{key}.npy", folder / f"{key}.json", folder / f"{key}.lock"

    # -- entries --------------------------------------------------------------------------
    def get(self, key: str) -> Frames | None:
        """The cached frames for ``key`` (a read-only numpy memmap), or None. A hit marks the
        entry recently used."""
        array_path, meta_path, _ = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text())
            if not isinstance(meta, dict):
                raise ValueError("not an entry sidecar")
            # Mapped, not read: copying 200 MB of frames into fresh memory costs 65-440 ms
            # (page faults), mapping them a few ms, and processes sharing the cache share the
            # pages. Entries are replaced by rename and deleted by unlink, never rewritten in
            # place, so a mapping stays valid whatever other processes do.
            frames = np.load(array_path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            # Missing, evicted between the two reads, or damaged: a miss.
            return None
        if meta.get("version") != FORMAT_VERSION or list(frames.shape) != meta.get("shape"):
            return None
        with contextlib.suppress(OSError):
            os.utime(meta_path)
        return Frames(
            path=meta["path"],
            policy=meta["policy"],
            frames=frames,
            indices=meta["indices"],
            timestamps=meta["timestamps"],
            fps=meta["fps"],
            count=meta["count"],
            wanted=meta["wanted"],
            decoded=0,
            converted=0,
            cached=True,
            message=meta["message"],
        )

    def put(self, key: str, frames: Frames) -> bool:
        """Store numpy ``frames`` under ``key``; False when one entry exceeds ``max_bytes``."""
        array = np.ascontiguousarray(frames.frames)
        if array.dtype != np.uint8 or array.ndim != 4:
            raise ValueError(f"FrameCache.put: expected uint8 (N, H, W, 3), got {array.shape}")
        if array.nbytes > self.max_bytes:
            return False
        array_path, meta_path, _ = self._paths(key)
        array_path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "version": FORMAT_VERSION,
            "path": frames.path,
            "policy": frames.policy,
            "indices": list(frames.indices),
            "timestamps": list(frames.timestamps),
            "fps": frames.fps,
            "count": frames.count,
            "wanted": frames.wanted,
            "message": frames.message,
            "shape": list(array.shape),
        }
        # The array first, then the sidecar: a sidecar means the entry is complete.
        with _atomic_file(array_path) as handle:
            np.save(handle, array, allow_pickle=False)
        with _atomic_file(meta_path) as handle:
            handle.write(json.dumps(meta, sort_keys=True).encode())
        self.stats.writes += 1
        self.evict(keep=key)
        return True

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold the per-key lock (blocks while another process decodes the same entry)."""
        _, _, lock_path = self._paths(key)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(lock_path):
            yield

    # -- the main entry point -------------------------------------------------------------
    def sample(
        self,
        path: str | os.PathLike[str],
        policy: Policy,
        *,
        size: tuple[int, int] | None = None,
        output: Literal["numpy", "pil"] = "numpy",
        workers: int | None = None,
    ) -> Frames:
        """:func:`vlm4d_tasks.video.sampler.sample` through the cache (``workers`` only affects how a
        miss is decoded, never the frames, so it is not part of the key)."""
        if output not in ("numpy", "pil"):
            raise ValueError(f"FrameCache.sample: output must be 'numpy' or 'pil', got {output!r}")
        if not os.path.isfile(path):
            # Let the sampler raise its VideoError naming the file.
            return sample(path, policy, size=size, output=output, workers=workers)
        key = self.key(path, policy, size)
        found = self.get(key)
        if found is None:
            with self.lock(key):
                found = self.get(key)  # another process may have finished meanwhile
                if found is None:
                    self.stats.misses += 1
                    found = sample(path, policy, size=size, output="numpy", workers=workers)
                    self.put(key, found)
                else:
                    self.stats.hits += 1
        else:
            self.stats.hits += 1
        if output == "pil":
            from PIL import Image

            found.frames = [Image.fromarray(frame) for frame in found.frames]
        return found

    # -- bounds ---------------------------------------------------------------------------
    def entries(self) -> list[tuple[float, int, str]]:
        """(last use, bytes, key) for every complete entry, oldest first."""
        found = []
        if not self.directory.is_dir():
            return found
        for meta_path in self.directory.glob("??/*.json"):
            key = meta_path.stem
            array_path = meta_path.with_suffix(".npy")
            try:
                used = meta_path.stat().st_mtime
                nbytes = meta_path.stat().st_size + array_path.stat().st_size
            except OSError:
                continue
            found.append((used, nbytes, key))
        return sorted(found)

    def total_bytes(self) -> int:
        return sum(nbytes for _, nbytes, _ in self.entries())

    def evict(self, keep: str | None = None) -> int:
        """Delete least recently used entries until the cache fits ``max_bytes``; returns the
        number deleted. Skipped while another process is evicting."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".evict.lock", "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0
            try:
                entries = self.entries()
                total = sum(nbytes for _, nbytes, _ in entries)
                deleted = 0
                for _, nbytes, key in entries:
                    if total <= self.max_bytes:
                        break
                    if key == keep:
                        continue
                    array_path, meta_path, lock_path = self._paths(key)
                    # The sidecar first: without it the entry is a miss, never half-read.
                    meta_path.unlink(missing_ok=True)
                    array_path.unlink(missing_ok=True)
                    _unlink_unused_lock(lock_path)
                    total -= nbytes
                    deleted += 1
                self.stats.evicted += deleted
                return deleted
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def clear(self) -> None:
        """Delete every entry."""
        for _, _, key in self.entries():
            array_path, meta_path, lock_path = self._paths(key)
            meta_path.unlink(missing_ok=True)
            array_path.unlink(missing_ok=True)
            _unlink_unused_lock(lock_path)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive `flock` on `path` (created if missing) for the block: the one way the
    caches (frames here, transformed clips in `validity.clips`) keep two processes from
    writing the same entry."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _unlink_unused_lock(lock_path: Path) -> None:
    # Only a lock nobody holds or waits on is removed; a waiter on a removed lock file would
    # at worst decode once more, never read a partial entry.
    try:
        with open(lock_path, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            lock_path.unlink(missing_ok=True)
    except OSError:
        pass


@contextlib.contextmanager
def _atomic_file(final: Path) -> Iterator[Any]:
    handle = tempfile.NamedTemporaryFile(
        dir=final.parent, prefix=f".{final.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            yield handle
        os.replace(handle.name, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise


@functools.lru_cache(maxsize=1)
def default_cache() -> FrameCache:
    """The process-wide cache configured by the environment (read on first use)."""
    return FrameCache()


def cached_sample(
    path: str | os.PathLike[str],
    policy: Policy,
    *,
    size: tuple[int, int] | None = None,
    output: Literal["numpy", "pil"] = "numpy",
    cache: FrameCache | None = None,
) -> Frames:
    """Sample ``path`` through ``cache`` (default: :func:`default_cache`)."""
    return (cache or default_cache()).sample(path, policy, size=size, output=output)
