"""The on-disk frame cache: reuse, identity, eviction, and sharing between processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _video_factory import read_frame_number, write_numbered_video
from PIL import Image

from vlm4d_tasks.video import cache as frame_cache
from vlm4d_tasks.video import sampler as video
from vlm4d_tasks.video.cache import FrameCache
from vlm4d_tasks.video.sampler import Fps, Uniform, VideoError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> str:
    return write_numbered_video(tmp_path_factory.mktemp("cache-clips") / "clip.mp4", 60, gop=12)


@pytest.fixture
def cache(tmp_path) -> FrameCache:
    return FrameCache(tmp_path / "cache", max_bytes=1 << 30)


def test_second_request_is_a_hit_and_decodes_nothing(cache, clip):
    first = cache.sample(clip, Uniform(8))
    assert not first.cached and first.decoded > 0
    second = cache.sample(clip, Uniform(8))
    assert second.cached and second.decoded == 0 and second.converted == 0
    np.testing.assert_array_equal(first.frames, second.frames)
    for field in ("indices", "timestamps", "fps", "count", "wanted", "message", "policy"):
        assert getattr(first, field) == getattr(second, field), field
    assert (cache.stats.misses, cache.stats.hits, cache.stats.writes) == (1, 1, 1)


def test_policy_and_size_are_part_of_the_key(cache, clip):
    keys = {
        cache.key(clip, Uniform(8)),
        cache.key(clip, Uniform(32)),
        cache.key(clip, Fps(1.0)),
        cache.key(clip, Uniform(8), size=(32, 24)),
    }
    assert len(keys) == 4
    small = cache.sample(clip, Uniform(8), size=(32, 24))
    assert small.frames.shape == (8, 24, 32, 3)
    assert cache.sample(clip, Uniform(8)).frames.shape == (8, 48, 64, 3)
    assert cache.stats.misses == 2


def test_a_changed_file_is_a_miss(cache, tmp_path):
    path = write_numbered_video(tmp_path / "changing.mp4", 30)
    cache.sample(path, Uniform(4))
    write_numbered_video(path, 40)  # same path, new content, size and mtime
    again = cache.sample(path, Uniform(4))
    assert not again.cached
    assert again.count == 40
    assert [read_frame_number(f) for f in again.frames] == [0, 13, 26, 39]


def test_a_copy_elsewhere_is_another_file(cache, tmp_path, clip):
    # A file is known by its path, size and mtime: the same bytes elsewhere are a miss.
    copy = tmp_path / "elsewhere" / "copy.mp4"
    copy.parent.mkdir()
    shutil.copy(clip, copy)
    cache.sample(clip, Uniform(8))
    assert not cache.sample(copy, Uniform(8)).cached
    assert cache.sample(copy, Uniform(8)).cached


def test_pil_output_through_the_cache(cache, clip):
    cache.sample(clip, Uniform(4))
    hit = cache.sample(clip, Uniform(4), output="pil")
    assert hit.cached
    assert all(isinstance(image, Image.Image) for image in hit.frames)
    assert [read_frame_number(image) for image in hit.frames] == hit.indices


def test_short_clip_message_is_kept(cache, tmp_path):
    path = write_numbered_video(tmp_path / "short.mp4", 3)
    cache.sample(path, Uniform(8))
    hit = cache.sample(path, Uniform(8))
    assert hit.cached and hit.short and "3 frames" in hit.message


def test_errors_pass_through(cache, tmp_path):
    with pytest.raises(VideoError, match="not found"):
        cache.sample(tmp_path / "missing.mp4", Uniform(8))
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(VideoError, match="not a readable video"):
        cache.sample(bad, Uniform(8))
    assert cache.entries() == []


def test_entries_are_written_atomically(cache, clip):
    cache.sample(clip, Uniform(8))
    files = sorted(p.name for p in cache.directory.rglob("*") if p.is_file())
    assert not [name for name in files if name.endswith(".tmp")]
    key = cache.key(clip, Uniform(8))
    assert {f"{key}.npy", f"{key}.json"} <= set(files)
    meta = json.loads(_entry_file(cache, key, ".json").read_text())
    assert meta["indices"] == video.Uniform(8).indices(60, 24.0)


def test_damaged_entry_is_a_miss(cache, clip):
    first = cache.sample(clip, Uniform(8))
    key = cache.key(clip, Uniform(8))
    array = _entry_file(cache, key, ".npy")
    array.write_bytes(array.read_bytes()[:100])
    again = cache.sample(clip, Uniform(8))
    assert not again.cached
    np.testing.assert_array_equal(first.frames, again.frames)
    assert cache.sample(clip, Uniform(8)).cached  # rewritten


def test_a_hit_maps_the_entry_read_only_and_outlives_its_eviction(cache, clip):
    first = cache.sample(clip, Uniform(8))
    hit = cache.sample(clip, Uniform(8))
    assert isinstance(hit.frames, np.memmap) and not hit.frames.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        hit.frames[0, 0, 0, 0] = 1
    # Another process evicting the entry (unlink) leaves this mapping valid.
    for path in cache.directory.rglob("*.npy"):
        path.unlink()
    np.testing.assert_array_equal(hit.frames, first.frames)
    assert not cache.sample(clip, Uniform(8)).cached


def test_an_entry_without_frames_is_a_hit(cache, clip):
    class Nothing:
        key = "nothing"

        def wanted(self, count, fps):
            return 0

        def indices(self, count, fps):
            return []

    cache.sample(clip, Nothing())
    hit = cache.sample(clip, Nothing())
    assert hit.cached and hit.frames.shape == (0, 48, 64, 3) and hit.indices == []


def _entry_file(cache: FrameCache, key: str, suffix: str) -> Path:
    """The entry's array (".npy") or sidecar (".json"), wherever the cache files it."""
    (found,) = cache.directory.rglob(f"{key}{suffix}")
    return found


def _entry_bytes(cache: FrameCache, key: str) -> int:
    return sum(_entry_file(cache, key, suffix).stat().st_size for suffix in (".npy", ".json"))


def test_least_recently_used_entry_is_evicted(tmp_path, clip):
    cache = FrameCache(tmp_path / "lru", max_bytes=1 << 30)
    a = (Uniform(4), None)
    b = (Uniform(4), (64, 48))  # same pixels as A, another key
    c = (Uniform(4), (62, 48))
    cache.sample(clip, a[0], size=a[1])
    one = _entry_bytes(cache, cache.key(clip, *a))
    cache.max_bytes = int(2.5 * one)  # room for two entries, not three
    cache.sample(clip, b[0], size=b[1])
    key_a, key_b, key_c = (cache.key(clip, *x) for x in (a, b, c))
    now = time.time()
    for key, age in ((key_a, 300), (key_b, 200)):  # A older than B
        os.utime(_entry_file(cache, key, ".json"), (now - age, now - age))
    assert cache.sample(clip, a[0], size=a[1]).cached  # using A makes B the least recent
    cache.sample(clip, c[0], size=c[1])  # over budget: B goes
    assert cache.get(key_b) is None
    assert cache.get(key_a) is not None and cache.get(key_c) is not None
    assert cache.stats.evicted == 1
    assert cache.total_bytes() <= cache.max_bytes


def test_entry_larger_than_the_budget_is_not_stored(tmp_path, clip):
    cache = FrameCache(tmp_path / "tiny", max_bytes=1000)
    assert not cache.sample(clip, Uniform(8)).cached
    assert not cache.sample(clip, Uniform(8)).cached
    assert cache.entries() == []


def test_clear(cache, clip):
    cache.sample(clip, Uniform(8))
    cache.clear()
    assert cache.entries() == []
    assert not cache.sample(clip, Uniform(8)).cached


def test_configuration_from_the_environment_is_read_lazily(monkeypatch, tmp_path):
    monkeypatch.setenv("VLM4D_FRAME_CACHE_DIR", str(tmp_path / "env-cache"))
    monkeypatch.setenv("VLM4D_FRAME_CACHE_MAX_BYTES", "12345")
    cache = FrameCache()
    assert cache.directory == tmp_path / "env-cache"
    assert cache.max_bytes == 12345
    monkeypatch.setenv("VLM4D_FRAME_CACHE_MAX_BYTES", "lots")
    with pytest.raises(ValueError, match="VLM4D_FRAME_CACHE_MAX_BYTES"):
        FrameCache()
    monkeypatch.delenv("VLM4D_FRAME_CACHE_DIR")
    monkeypatch.delenv("VLM4D_FRAME_CACHE_MAX_BYTES")
    monkeypatch.setenv("VLM4D_CACHE_DIR", str(tmp_path / "vlm4d-root"))
    assert FrameCache().directory == tmp_path / "vlm4d-root" / "frames"
    monkeypatch.delenv("VLM4D_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    default = FrameCache()
    assert default.directory == tmp_path / "xdg" / "vlm4d" / "frames"
    assert default.max_bytes == frame_cache.DEFAULT_MAX_BYTES


def test_cached_sample_uses_the_default_cache(monkeypatch, tmp_path, clip):
    monkeypatch.setenv("VLM4D_FRAME_CACHE_DIR", str(tmp_path / "default"))
    frame_cache.default_cache.cache_clear()
    try:
        assert not frame_cache.cached_sample(clip, Uniform(8)).cached
        assert frame_cache.cached_sample(clip, Uniform(8)).cached
        assert (tmp_path / "default").is_dir()
    finally:
        frame_cache.default_cache.cache_clear()


# -- two processes ----------------------------------------------------------------------------
WORKER = """
import json, sys, time
from vlm4d_tasks.video.cache import FrameCache
from vlm4d_tasks.video.sampler import Uniform
directory, clip, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
while time.time() < start_at:
    time.sleep(0.005)
print("sampling", file=sys.stderr, flush=True)
result = FrameCache(directory).sample(clip, Uniform(8))
print(json.dumps({"cached": result.cached, "decoded": result.decoded,
                  "indices": result.indices, "checksum": int(result.frames.sum())}))
"""


def _workers(directory: Path, clip: str, count: int, delay: float = 0.0) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start_at = time.time() + delay
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(directory), clip, str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    return results


@pytest.mark.subprocess
def test_a_second_process_gets_a_hit(tmp_path, clip):
    directory = tmp_path / "shared"
    (first,) = _workers(directory, clip, 1)
    (second,) = _workers(directory, clip, 1)
    assert not first["cached"] and first["decoded"] > 0
    assert second["cached"] and second["decoded"] == 0
    assert second["indices"] == first["indices"] and second["checksum"] == first["checksum"]


@pytest.mark.subprocess
def test_concurrent_processes_decode_once(tmp_path, clip):
    # Both start at the same moment; the per-key lock makes one wait for the other's decode.
    results = _workers(tmp_path / "race", clip, 2, delay=1.5)
    assert sorted(r["cached"] for r in results) == [False, True]
    assert len({r["checksum"] for r in results}) == 1


@pytest.mark.subprocess
def test_a_process_waits_for_the_lock_holder_instead_of_decoding(tmp_path, clip):
    directory = tmp_path / "held"
    cache = FrameCache(directory)
    key = cache.key(clip, Uniform(8))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with cache.lock(key):
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(directory), clip, "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stderr.readline().strip() == "sampling"  # the worker is at the cache now
        time.sleep(1.0)
        assert proc.poll() is None  # and blocked on the lock
        cache.put(key, video.sample(clip, Uniform(8)))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["cached"] and result["decoded"] == 0
