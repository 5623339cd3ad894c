"""Write small real videos with PyAV for tests and benchmarks.

Every frame written by :func:`numbered_frame` carries its own frame number as a row of bright
and dark blocks, so a test can read back which frame a decoder returned
(:func:`read_frame_number`) even after H.264 compression and resizing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

import numpy as np

BITS = 12  # frame numbers up to 4095
_ON, _OFF = 235, 20


def numbered_frame(index: int, size: tuple[int, int] = (64, 48), noise_seed: int | None = None):
    """An RGB frame (height, width, 3) whose top half encodes ``index`` in binary blocks.

    The blocks span the full width in two rows of six, so they stay readable when the frame is
    resized. The bottom half is a gradient, or seeded noise when ``noise_seed`` is given.
    """
    if not 0 <= index < 2**BITS:
        raise ValueError(f"frame number {index} does not fit in {BITS} bits")
    width, height = size
    frame = np.empty((height, width, 3), dtype=np.uint8)
    top = height // 2
    per_row = BITS // 2
    for bit in range(BITS):
        row, col = divmod(bit, per_row)
        y0, y1 = row * top // 2, (row + 1) * top // 2
        x0, x1 = col * width // per_row, (col + 1) * width // per_row
        frame[y0:y1, x0:x1] = _ON if (index >> bit) & 1 else _OFF
    if noise_seed is None:
        ramp = np.linspace(0, 255, width, dtype=np.float64)
        frame[top:] = ((ramp + 3 * index) % 256).astype(np.uint8)[None, :, None]
    else:
        rng = np.random.default_rng([noise_seed, index])
        frame[top:] = rng.integers(0, 256, size=(height - top, width, 3), dtype=np.uint8)
    return frame


def read_frame_number(frame: Any) -> int:
    """Read back the number written by :func:`numbered_frame` (numpy array or PIL image)."""
    array = np.asarray(frame)
    height, width = array.shape[:2]
    top = height // 2
    per_row = BITS // 2
    gray = array.astype(np.float64).mean(axis=2)
    value = 0
    for bit in range(BITS):
        row, col = divmod(bit, per_row)
        y0, y1 = row * top // 2, (row + 1) * top // 2
        x0, x1 = col * width // per_row, (col + 1) * width // per_row
        # The centre of the block: edges blur under compression and scaling.
        cy0, cy1 = y0 + (y1 - y0) // 4, y1 - (y1 - y0) // 4
        cx0, cx1 = x0 + (x1 - x0) // 4, x1 - (x1 - x0) // 4
        if gray[cy0 : max(cy1, cy0 + 1), cx0 : max(cx1, cx0 + 1)].mean() > (_ON + _OFF) / 2:
            value |= 1 << bit
    return value


def write_video(
    path: str | os.PathLike[str],
    frames_or_fn: Iterable[np.ndarray] | Callable[[int], np.ndarray],
    fps: int | float | Fraction = 24,
    gop: int = 12,
    codec: str = "libx264",
    size: tuple[int, int] = (64, 48),
    *,
    count: int | None = None,
    bframes: int | None = None,
    fixed_gop: bool = True,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> str:
    """Encode frames into ``path``; the container follows the extension (.mp4, .mkv, .ts ...).

    ``frames_or_fn`` is either an iterable of RGB uint8 arrays of shape (height, width, 3) or a
    function ``index -> frame``, in which case ``count`` says how many frames to write.
    ``gop`` is the keyframe interval (x264 ``keyint``); ``bframes`` None keeps the encoder's
    default (x264: 3). ``fixed_gop`` turns x264's scene-cut keyframes off so that keyframes
    fall exactly every ``gop`` frames; False keeps x264's defaults apart from ``keyint``.
    x264 output does not depend on its thread count, so files are
    byte-identical across runs.
    """
    import av

    if callable(frames_or_fn):
        if count is None:
            raise ValueError("write_video: count is required when frames_or_fn is a function")
        fn = frames_or_fn
        frames: Iterable[np.ndarray] = (fn(i) for i in range(count))
    else:
        frames = frames_or_fn
    width, height = size
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(os.fspath(path), mode="w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        # As the ffmpeg CLI does: x264 then uses frame threads and one slice per frame (PyAV's
        # default, slice threading, would split every frame into slices).
        stream.codec_context.thread_type = "AUTO"
        codec_options = {}
        if codec == "libx264":
            # A fixed keyframe interval: scene-cut detection would add keyframes to noisy
            # content and make the GOP structure depend on the pixels.
            params = f"keyint={gop}" + (f":min-keyint={gop}:scenecut=0" if fixed_gop else "")
            if bframes is not None:
                params += f":bframes={bframes}"
            codec_options["x264-params"] = params
        elif bframes is not None:
            stream.codec_context.max_b_frames = bframes
        codec_options.update(options or {})
        stream.options = codec_options
        for array in frames:
            if array.shape != (height, width, 3):
                raise ValueError(f"write_video: frame shape {array.shape} != {(height, width, 3)}")
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return os.fspath(path)


def write_numbered_video(
    path: str | os.PathLike[str],
    count: int,
    fps: int | float | Fraction = 24,
    gop: int = 12,
    size: tuple[int, int] = (64, 48),
    **kwargs: Any,
) -> str:
    """A clip of ``count`` frames where frame k shows the number k."""
    return write_video(
        path, lambda i: numbered_frame(i, size), fps=fps, gop=gop, size=size, count=count, **kwargs
    )
