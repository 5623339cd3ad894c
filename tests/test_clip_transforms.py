"""Mirrored and time-reversed clips (vlm4d_tasks.validity.clips), on real H.264 files.

Content is checked in the decoded pixels of the written clip: a bright square whose position
is known in every frame (mirrored: at W - x), frames that carry their own number (reversed:
frame k shows the number count - 1 - k), and every frame against ``transform_frames`` of the
source's frames up to compression error. The cache is checked through the file system (the
same inode and mtime on a second call, no encode) and across processes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from _video_factory import read_frame_number, write_numbered_video, write_video  # noqa: E402

from vlm4d_tasks.validity import clips  # noqa: E402
from vlm4d_tasks.validity.clips import transform_frames, transformed_clip  # noqa: E402
from vlm4d_tasks.video.cache import FrameCache  # noqa: E402
from vlm4d_tasks.video.sampler import VideoError, all_frames, sample  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, SQUARE = 96, 64, 12
# Mean absolute difference (0-255) allowed between a transformed clip's frames and the
# transformed source frames: one more H.264 generation at crf 17. Measured about 1.3 on
# these clips; a frame from the wrong position or the wrong time differs by 10 or more.
MAD_BOUND = 3.0


def square_frame(index: int) -> np.ndarray:
    """A bright square on a left-to-right ramp, its left edge at x = 8 + 3 * index."""
    frame = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
    frame[:, :, 2] = np.linspace(0, 200, WIDTH).astype(np.uint8)[None]
    x = 8 + 3 * index
    frame[20 : 20 + SQUARE, x : x + SQUARE] = 240
    return frame


def square_centre_x(frame: np.ndarray) -> float:
    """The bright square's centre, in pixel-edge coordinates (a pixel spans [x, x + 1))."""
    _, xs = np.nonzero(np.asarray(frame).min(axis=-1) > 170)
    return float(xs.mean()) + 0.5


def decoded(path: str | Path) -> np.ndarray:
    return sample(path, all_frames()).frames


def file_state(path: str | Path) -> tuple[str, int, int, int]:
    stat = os.stat(path)
    return (
        hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        stat.st_size,
        stat.st_mtime_ns,
        stat.st_ino,
    )


@pytest.fixture(scope="module")
def square_clip(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("clip-src") / "square.mp4"
    return write_video(path, square_frame, fps=24, gop=8, size=(WIDTH, HEIGHT), count=20)


@pytest.fixture(scope="module")
def numbered_clip(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("clip-src") / "numbered.mp4"
    return write_numbered_video(path, 30, gop=8, size=(WIDTH, HEIGHT))


@pytest.fixture
def encodes(monkeypatch) -> list[str]:
    """Records every encode that ``transformed_clip`` starts in this process."""
    calls: list[str] = []
    original = clips.encode_mp4

    def counting(frames, path, *args, **kwargs):
        calls.append(str(path))
        return original(frames, path, *args, **kwargs)

    monkeypatch.setattr(clips, "encode_mp4", counting)
    return calls


# -- the pure transformation -----------------------------------------------------------------


def test_transform_frames_mirrors_columns_and_reverses_time():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(5, 4, 7, 3), dtype=np.uint8)
    before = frames.copy()
    mirrored = transform_frames(frames, "mirror")
    reversed_ = transform_frames(frames, "reverse")
    for t in range(5):
        for x in range(7):
            assert np.array_equal(mirrored[t, :, x], frames[t, :, 6 - x])
        assert np.array_equal(reversed_[t], frames[4 - t])
    assert np.array_equal(frames, before)  # the input is untouched
    for kind in ("mirror", "reverse"):
        out = transform_frames(frames, kind)
        assert out.flags.c_contiguous and out.shape == frames.shape
        assert np.array_equal(transform_frames(out, kind), frames)  # each is an involution


def test_transform_frames_rejects_an_unknown_kind_and_a_wrong_shape():
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match=r"unknown clip transformation 'flip'.*mirror.*reverse"):
        transform_frames(frames, "flip")
    with pytest.raises(ValueError, match=r"\(T, H, W, C\).*\(4, 4, 3\)"):
        transform_frames(frames[0], "mirror")


# -- content of the written clips ------------------------------------------------------------


def test_mirrored_clip_shows_the_square_at_the_mirrored_position(square_clip, tmp_path):
    out = transformed_clip(square_clip, "mirror", tmp_path / "cache")
    frames = decoded(out)
    assert frames.shape == (20, HEIGHT, WIDTH, 3)
    for k, frame in enumerate(frames):
        x = 8 + 3 * k + SQUARE / 2  # the source square's centre
        assert square_centre_x(frame) == pytest.approx(WIDTH - x, abs=0.75), k
    # The ramp runs the other way too: bright blue on the left.
    assert frames[0, 50, :10, 2].mean() > frames[0, 50, -10:, 2].mean() + 100


def test_reversed_clip_starts_with_the_last_frame(numbered_clip, square_clip, tmp_path):
    out = transformed_clip(numbered_clip, "reverse", tmp_path / "cache")
    numbers = [read_frame_number(frame) for frame in decoded(out)]
    assert numbers == list(range(29, -1, -1))
    squares = decoded(transformed_clip(square_clip, "reverse", tmp_path / "cache"))
    assert [square_centre_x(f) for f in squares] == pytest.approx(
        [8 + 3 * k + SQUARE / 2 for k in range(19, -1, -1)], abs=0.75
    )


@pytest.mark.parametrize("kind", ["mirror", "reverse"])
def test_sampling_the_clip_gives_the_transformed_source_frames(square_clip, tmp_path, kind):
    source = sample(square_clip, all_frames())
    out = transformed_clip(square_clip, kind, tmp_path / "cache")
    got = sample(out, all_frames())
    want = transform_frames(source.frames, kind)
    assert got.frames.shape == want.shape
    per_frame = np.abs(got.frames.astype(np.int16) - want).mean(axis=(1, 2, 3))
    assert per_frame.max() < MAD_BOUND
    # Each frame is closer to its own counterpart than to any other frame of the clip.
    for k in range(len(want)):
        errors = np.abs(want.astype(np.int16) - got.frames[k]).mean(axis=(1, 2, 3))
        assert int(np.argmin(errors)) == k
    assert got.fps == source.fps
    assert got.timestamps == pytest.approx([k / source.fps for k in range(len(want))], abs=1e-4)


def test_reversed_clip_plays_at_the_source_rate_from_zero(tmp_path):
    # MPEG-TS starts its clock at 1.4 s and 29.97 fps is a ratio: neither may leak into the
    # transformed clip, which must start at t = 0 and play at exactly 30000/1001.
    source = write_numbered_video(tmp_path / "ntsc.ts", 24, fps=Fraction(30000, 1001), gop=6)
    out = transformed_clip(source, "reverse", tmp_path / "cache")
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == Fraction(30000, 1001)
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        frames = list(container.decode(stream))
    assert [f.time for f in frames] == pytest.approx([k * 1001 / 30000 for k in range(24)])
    assert [read_frame_number(f.to_ndarray(format="rgb24")) for f in frames] == list(
        range(23, -1, -1)
    )


def test_long_clips_are_reversed_in_spans_with_identical_output(numbered_clip, tmp_path):
    whole = transformed_clip(numbered_clip, "reverse", tmp_path / "whole")
    # Spans of 4 frames (not a divisor of 30), each decoded from the keyframe before it.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clips, "CHUNK_BYTES", WIDTH * HEIGHT * 3 * 4)
        spans = transformed_clip(numbered_clip, "reverse", tmp_path / "spans")
        mirrored_spans = transformed_clip(numbered_clip, "mirror", tmp_path / "spans")
    assert spans.read_bytes() == whole.read_bytes()
    mirrored = transformed_clip(numbered_clip, "mirror", tmp_path / "whole")
    assert mirrored_spans.read_bytes() == mirrored.read_bytes()


# -- the cache -------------------------------------------------------------------------------


def test_a_clip_is_written_once(square_clip, tmp_path, encodes):
    cache = tmp_path / "cache"
    first = transformed_clip(square_clip, "mirror", cache)
    assert len(encodes) == 1
    state = file_state(first)
    for _ in range(3):
        again = transformed_clip(square_clip, "mirror", cache)
        assert again == first
    assert len(encodes) == 1
    assert file_state(first) == state  # same bytes, same inode, same mtime: not rewritten
    # Nothing else lies around: one clip, its lock file, no temporary file.
    names = sorted(p.name for p in cache.rglob("*") if p.is_file())
    assert names == sorted([first.name, first.name.split(".")[0] + ".lock"])


def test_keys_follow_kind_and_content_not_path(square_clip, numbered_clip, tmp_path, encodes):
    cache = tmp_path / "cache"
    mirror = transformed_clip(square_clip, "mirror", cache)
    reverse = transformed_clip(square_clip, "reverse", cache)
    other = transformed_clip(numbered_clip, "mirror", cache)
    assert len({mirror, reverse, other}) == 3
    # A copy elsewhere is the same content: the same entry, no new encode.
    copy = tmp_path / "elsewhere" / "renamed.mp4"
    copy.parent.mkdir()
    copy.write_bytes(Path(square_clip).read_bytes())
    assert transformed_clip(copy, "mirror", cache) == mirror
    assert len(encodes) == 3
    # The same path with new content is a new entry; the old one stays valid.
    data = copy.read_bytes()
    rewritten = write_video(
        copy, lambda i: square_frame(19 - i), fps=24, gop=8, size=(WIDTH, HEIGHT), count=20
    )
    assert Path(rewritten).read_bytes() != data
    changed = transformed_clip(copy, "mirror", cache)
    assert changed != mirror and mirror.is_file()
    assert square_centre_x(decoded(changed)[0]) == pytest.approx(WIDTH - (8 + 57 + 6), abs=0.75)


def test_the_source_is_only_read(square_clip, tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    source = folder / "clip.mp4"
    source.write_bytes(Path(square_clip).read_bytes())
    before = file_state(source)
    for kind in ("mirror", "reverse"):
        transformed_clip(source, kind, tmp_path / "cache")
    assert file_state(source) == before
    assert [p.name for p in folder.iterdir()] == ["clip.mp4"]


_WORKER = r"""
import sys, time
from pathlib import Path
from vlm4d_tasks.validity import clips

source, kind, cache, go, ready = sys.argv[1:6]
encoded = []
original = clips.encode_mp4
def counting(frames, path, *args, **kwargs):
    encoded.append(path)
    return original(frames, path, *args, **kwargs)
clips.encode_mp4 = counting
Path(ready).touch()
deadline = time.monotonic() + 60
while not Path(go).exists() and time.monotonic() < deadline:
    time.sleep(0.002)
out = clips.transformed_clip(source, kind, cache)
print(out, len(encoded))
"""


def _workers(n: int, source: str, kind: str, cache: Path, go: Path, seeds: list[str]):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    procs = []
    for i, seed in enumerate(seeds[:n]):
        env_seed = dict(env, PYTHONHASHSEED=seed)
        ready = go.with_name(f"ready{i}")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, source, kind, str(cache), str(go), str(ready)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env_seed,
            )
        )
    return procs


def _results(procs) -> list[tuple[Path, int]]:
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        path, count = out.split()
        results.append((Path(path), int(count)))
    return results


@pytest.mark.subprocess
def test_same_bytes_in_processes_with_different_hash_seeds(square_clip, tmp_path):
    go = tmp_path / "go"
    go.touch()
    outputs = []
    for seed in ("0", "12345"):
        procs = _workers(1, square_clip, "reverse", tmp_path / f"cache{seed}", go, [seed])
        ((path, count),) = _results(procs)
        assert count == 1
        outputs.append(path)
    assert outputs[0].name == outputs[1].name  # the key does not depend on the process
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
    here = transformed_clip(square_clip, "reverse", tmp_path / "cache-here")
    assert here.read_bytes() == outputs[0].read_bytes()


@pytest.mark.subprocess
def test_two_processes_at_once_write_one_valid_file(tmp_path):
    # Large enough that the encode takes a while, so the second process arrives mid-encode.
    source = write_numbered_video(tmp_path / "long.mp4", 240, gop=12, size=(320, 240))
    cache, go = tmp_path / "cache", tmp_path / "go"
    procs = _workers(2, source, "mirror", cache, go, ["1", "2"])
    deadline = time.monotonic() + 60
    while not all(go.with_name(f"ready{i}").exists() for i in range(2)):
        assert time.monotonic() < deadline, "the worker processes did not start"
        time.sleep(0.01)
    go.touch()  # both imported and waiting: they call transformed_clip together
    results = _results(procs)
    assert results[0][0] == results[1][0]
    assert sorted(count for _, count in results) == [0, 1]  # one encoded, one waited
    out = results[0][0]
    files = [p for p in cache.rglob("*") if p.is_file() and p.suffix != ".lock"]
    assert files == [out]  # no temporary file left behind
    numbers = [read_frame_number(np.ascontiguousarray(f[:, ::-1])) for f in decoded(out)]
    assert numbers == list(range(240))


def test_default_folder_is_inside_the_frame_cache_and_never_evicted(
    square_clip, tmp_path, monkeypatch
):
    frames_dir = tmp_path / "frames"
    monkeypatch.setenv("VLM4D_FRAME_CACHE_DIR", str(frames_dir))
    out = transformed_clip(square_clip, "mirror")
    assert out.parent.parent == frames_dir / "clips"
    # The frame cache, even told to hold nothing, leaves the clips alone.
    cache = FrameCache(frames_dir, max_bytes=0)
    cache.sample(square_clip, all_frames())
    cache.evict()
    assert cache.total_bytes() == 0
    assert out.is_file() and len(decoded(out)) == 20


# -- bad input -------------------------------------------------------------------------------


def test_bad_sources_raise_errors_naming_the_file(tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(VideoError, match=r"missing\.mp4: file not found"):
        transformed_clip(missing, "mirror", tmp_path / "cache")
    with pytest.raises(VideoError, match="is a directory"):
        transformed_clip(tmp_path, "mirror", tmp_path / "cache")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(VideoError, match=r"notes\.mp4: not a readable video"):
        transformed_clip(text, "reverse", tmp_path / "cache")
    odd = write_video(
        tmp_path / "odd.mkv",
        lambda i: np.full((63, 95, 3), 10 * i, np.uint8),
        codec="ffv1",
        size=(95, 63),
        count=4,
    )
    with pytest.raises(VideoError, match=r"odd\.mkv: 95x63: .*even width and height"):
        transformed_clip(odd, "mirror", tmp_path / "cache")
    # Nothing half-written was left for a later call to pick up.
    assert not [p for p in (tmp_path / "cache").rglob("*.mp4*")]


def test_an_unknown_kind_is_refused_before_the_file_is_read(tmp_path):
    with pytest.raises(ValueError, match=r"unknown clip transformation 'rotate'"):
        transformed_clip(tmp_path / "missing.mp4", "rotate", tmp_path / "cache")
