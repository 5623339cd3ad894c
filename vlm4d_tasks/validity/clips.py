"""Mirrored, time-reversed and re-encoded copies of a clip, written once to a cache shared by
processes.

The clip side of the consistency checks (mirror: every frame flipped left-right; reverse: the
clip played backwards; identity: no transformation). The question side, which swaps the words
those transformations swap, is :mod:`vlm4d_tasks.validity.transforms`; the probe set checks that
the two agree with a scene rendered mirrored or backwards (``tests/test_probe_transforms.py``).

The identity copy is the control of the other two: a mirrored or reversed clip is decoded and
encoded again (another H.264 generation, constant frame rate, timestamps reset) while the
question's own clip is the original, so a drop in consistency could come from the codec and
timing change as well as from the transformation. The identity copy goes through exactly the
same path with nothing transformed: answers to it against the original measure the codec and
timing change alone, and mirrored or reversed answers against it measure the transformation
alone (``validity.baselines.consistency``).

:func:`transform_frames` is the transformation itself, on decoded RGB frames.
:func:`transformed_clip` applies it to a whole video file and returns the path of the result,
an H.264 MP4 in the cache:

- frames are those of :func:`vlm4d_tasks.video.sampler.sample` with ``all_frames()``
  (presentation order counted from the packets), so frame ``k`` of the mirrored clip is the
  mirror of the sampler's frame ``k`` of the source, frame ``k`` of the reversed clip is
  its frame ``count - 1 - k``, and frame ``k`` of the identity clip is its frame ``k``;
- the output has the source's frame size and (average) frame rate, constant frame rate,
  timestamps ``k / fps`` from 0 whatever the source's timestamps were (so a reversed clip
  plays forward in time at the source's rate), no audio;
- encoding is :func:`vlm4d_tasks.video.encode.encode_mp4` (libx264, yuv420p, one thread, no
  macroblock tree, bit-exact muxing): the same source gives the same bytes in every process;
  at crf :data:`CRF`, below the usual 23, so that the second generation of compression costs
  the transformed clip little against the source a model also sees;
- entries are keyed by the SHA-256 of the source's bytes (not its path or mtime: a copy of a
  clip shares its entry, a rewritten clip gets a new one), the kind and
  :data:`FORMAT_VERSION` with the encoder settings, so a clip that many questions share is
  written once;
- a file appears under its final name only complete (written to a temporary file in the same
  folder, then ``os.replace``), and a lock file per entry (``fcntl.flock``) makes a second
  process (lmms-eval under ``accelerate`` with 2 processes) wait for the first one's encode
  instead of encoding the same clip again;
- the default folder is ``clips/`` inside the frame cache's folder
  (``VLM4D_FRAME_CACHE_DIR``, else ``$VLM4D_CACHE_DIR/frames``, else
  ``~/.cache/vlm4d/frames``). Clips are not evicted: a path handed to a model must stay valid
  until the model opens it, and the folder holds at most one file per clip and kind, about the
  size of the source videos. The frame cache's eviction never touches it.

The source file is only read. A clip the sampler cannot read raises
:class:`vlm4d_tasks.video.sampler.VideoError` naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vlm4d_tasks.video.cache import file_lock
from vlm4d_tasks.video.encode import encode_mp4
from vlm4d_tasks.video.sampler import VideoError, probe, sample

KINDS: tuple[str, ...] = ("mirror", "reverse", "identity")
# Bump when the output of a transformation changes (encoder settings, frame selection), so
# that older cache entries are no longer used.
FORMAT_VERSION = 1
CRF = 17
# RGB frames held in memory at once. Reversing needs the last frames first, so a clip larger
# than this is decoded in spans, last span first (each span from the keyframe before it).
CHUNK_BYTES = 512 * 1024**2
_HASH_BLOCK = 1 << 20


def transform_frames(frames: np.ndarray, kind: str) -> np.ndarray:
    """Frames (T, H, W, C) transformed: "mirror" flips every frame left-right, "reverse"
    reverses time, "identity" changes nothing. Returns a new contiguous array; the input is not
    modified."""
    _check_kind(kind)
    array = np.asarray(frames)
    if array.ndim != 4:
        raise ValueError(
            f"transform_frames: expected frames of shape (T, H, W, C), got {array.shape}"
        )
    if kind == "mirror":
        return np.ascontiguousarray(array[:, :, ::-1])
    if kind == "identity":
        return np.array(array, copy=True, order="C")
    return np.ascontiguousarray(array[::-1])


def default_clip_dir() -> Path:
    """``clips/`` in the frame cache's folder (read from the environment on every call)."""
    from vlm4d_tasks.video.cache import FrameCache

    return FrameCache().directory / "clips"


def transformed_clip(
    source: str | os.PathLike[str], kind: str, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """The path of ``source`` mirrored, reversed or only re-encoded (``kind``), encoding it on
    the first call only (see the module docstring). ``cache_dir`` defaults to :func:`default_clip_dir`."""
    _check_kind(kind)
    source = os.fspath(source)
    digest = _content_hash(source)
    directory = Path(os.path.abspath(cache_dir if cache_dir is not None else default_clip_dir()))
    key = _key(digest, kind)
    final = directory / key[:2] / f"{key}.{kind}.mp4"
    if final.is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(final.with_name(f"{key}.lock")):
        if not final.is_file():  # another process may have written it while we waited
            _write(source, kind, final)
    return final


# -- internals -------------------------------------------------------------------------------


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown clip transformation {kind!r}: expected one of {list(KINDS)}")


def _content_hash(path: str) -> str:
    if not os.path.exists(path):
        raise VideoError(f"{path}: file not found")
    if os.path.isdir(path):
        raise VideoError(f"{path}: is a directory, not a video file")
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(_HASH_BLOCK):
                digest.update(block)
    except OSError as exc:
        raise VideoError(f"{path}: cannot read: {exc}") from exc
    return digest.hexdigest()


def _key(digest: str, kind: str) -> str:
    material = {
        "version": FORMAT_VERSION,
        "source_sha256": digest,
        "kind": kind,
        "encoder": {"codec": "libx264", "pix_fmt": "yuv420p", "crf": CRF},
    }
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class _Span:
    """Frames ``start`` to ``stop - 1``: a sampler policy for one chunk of a clip."""

    start: int
    stop: int

    @property
    def key(self) -> str:
        return f"span-{self.start}-{self.stop}"

    def wanted(self, count: int, fps: float) -> int:
        return self.stop - self.start

    def indices(self, count: int, fps: float) -> list[int]:
        return list(range(self.start, min(self.stop, count)))


def _spans(count: int, frame_bytes: int, kind: str) -> list[_Span]:
    per_chunk = max(1, CHUNK_BYTES // max(frame_bytes, 1))
    spans = [_Span(start, min(start + per_chunk, count)) for start in range(0, count, per_chunk)]
    return spans[::-1] if kind == "reverse" else spans


def _frames_out(source: str, kind: str, count: int, frame_bytes: int) -> Iterator[np.ndarray]:
    """The transformed frames of ``source`` in output order, one span decoded at a time."""
    written = 0
    for span in _spans(count, frame_bytes, kind):
        frames = sample(source, span).frames
        if len(frames) != span.stop - span.start:
            raise VideoError(
                f"{source}: frames {span.start}..{span.stop - 1} gave {len(frames)} frames"
            )
        for frame in transform_frames(frames, kind):
            written += 1
            yield frame
    if written != count:
        raise VideoError(f"{source}: decoded {written} frames, the packet index lists {count}")


def _write(source: str, kind: str, final: Path) -> None:
    info = probe(source)
    if not info.fps > 0:
        raise VideoError(f"{source}: no frame rate: cannot write a transformed clip")
    # The container's rate is a ratio (30000/1001); the sampler reports it as a float, from
    # which the ratio is recovered exactly for any rate with a denominator up to 10^5.
    rate = Fraction(info.fps).limit_denominator(100_000)
    frames = _frames_out(source, kind, info.count, info.width * info.height * 3)
    # The encoder needs the size before the first frame: take it from the decoded pixels,
    # which are what gets encoded (the header's size can differ, e.g. with cropping).
    first = next(frames)
    height, width = first.shape[:2]
    if width % 2 or height % 2:
        # libx264 cannot encode yuv420p at odd sizes; padding or cropping would move pixels.
        raise VideoError(
            f"{source}: {width}x{height}: a transformed clip needs an even width and height"
        )
    handle, temporary = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    os.close(handle)
    try:
        encode_mp4(itertools.chain([first], frames), temporary, width, height, rate, crf=CRF)
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
