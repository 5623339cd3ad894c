"""Frame sampling on real H.264 files written with PyAV (see _video_factory)."""

from __future__ import annotations

import dataclasses
import os
import struct
from pathlib import Path

import av
import numpy as np
import pytest
from _video_factory import numbered_frame, read_frame_number, write_numbered_video, write_video
from PIL import Image

from vlm4d_tasks.video import sampler as video
from vlm4d_tasks.video.sampler import All, Fps, Uniform, VideoError

COUNT = 100  # frames in the main test clips, at 24 fps: 4.17 s


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, str]:
    """Numbered clips: B-frames and two GOP lengths, several containers, no B-frames."""
    folder = tmp_path_factory.mktemp("clips")
    made = {}
    for name, kwargs in {
        "gop12.mp4": {"gop": 12},
        "gop250.mp4": {"gop": 250},
        "nob.mp4": {"gop": 12, "bframes": 0},
        "gop12.mkv": {"gop": 12},
        "gop12.ts": {"gop": 12},
        "gop250.mkv": {"gop": 250},
    }.items():
        made[name] = write_numbered_video(folder / name, COUNT, fps=24, **kwargs)
    return made


def numbers(frames) -> list[int]:
    return [read_frame_number(frame) for frame in frames]


# -- policies: pure functions --------------------------------------------------------------
@pytest.mark.parametrize(
    ("count", "n"),
    [
        (count, n)
        for count in (8, 9, 33, 48, 100, 101, 449, 450, 1000)
        for n in (1, 4, 8, 16, 32)
        if count >= n  # short clips are tested separately
    ],
)
def test_uniform_matches_numpy_linspace(count, n):
    expected = np.linspace(0, count - 1, n).astype(int).tolist()
    assert Uniform(n).indices(count, 24.0) == expected


def test_uniform_on_short_clip_returns_each_frame_once():
    assert Uniform(8).indices(5, 24.0) == [0, 1, 2, 3, 4]
    assert Uniform(8).wanted(5, 24.0) == 8
    assert Uniform(8).indices(0, 24.0) == []


@pytest.mark.parametrize(
    ("count", "fps", "rate", "max_frames", "expected_n"),
    [
        (100, 24.0, 1.0, 64, 4),  # 4.17 s -> int 4 s -> 4 frames
        (96, 24.0, 1.0, 64, 4),  # exactly 4 s
        (95, 24.0, 1.0, 64, 3),  # 3.96 s -> 3
        (450, 30.0, 1.0, 64, 15),
        (3000, 30.0, 1.0, 64, 64),  # 100 s, capped
        (3000, 30.0, 1.0, 32, 32),
        (150, 30.0, 2.0, 64, 10),  # 2 fps over 5 whole seconds
        (149, 30.0, 2.0, 64, 8),  # 4.97 s -> 4 s -> 8
        (10, 24.0, 1.0, 64, 1),  # shorter than a second: one frame, not zero
    ],
)
def test_fps_rule_by_hand(count, fps, rate, max_frames, expected_n):
    expected = np.linspace(0, count - 1, expected_n).astype(int).tolist()
    policy = Fps(rate, max_frames)
    assert policy.indices(count, fps) == expected
    assert len(policy.indices(count, fps)) == expected_n


def test_fps_examples_written_out():
    assert Fps(1.0).indices(100, 24.0) == [0, 33, 66, 99]
    assert Fps(1.0).indices(10, 24.0) == [0]


def test_fps_needs_a_frame_rate():
    with pytest.raises(ValueError, match="frame rate"):
        Fps(1.0).indices(100, 0.0)


def test_all_policy():
    assert All().indices(5, 24.0) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_uniform_rejects_bad_n(bad):
    with pytest.raises(ValueError):
        Uniform(bad)


def test_fps_rejects_bad_arguments():
    with pytest.raises(ValueError):
        Fps(0)
    with pytest.raises(ValueError):
        Fps(1.0, 0)


def test_policies_are_frozen_and_hashable():
    policy = Uniform(8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.n = 9  # type: ignore[misc]
    assert {Uniform(8), Uniform(8), Fps(1.0), All()} == {Uniform(8), Fps(1.0), All()}


def test_policy_keys_differ():
    keys = {Uniform(8).key, Uniform(32).key, Fps(1.0).key, Fps(1.0, 32).key, All().key}
    assert len(keys) == 5


def test_required_frames_is_the_union_of_keyframe_to_target_spans():
    keyframes = (0, 12, 24)
    assert video.required_frames(keyframes, [0]) == 1
    assert video.required_frames(keyframes, [5]) == 6
    assert video.required_frames(keyframes, [5, 7]) == 8
    assert video.required_frames(keyframes, [5, 13]) == 6 + 2
    assert video.required_frames(keyframes, [30]) == 7


# -- sampling real files -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gop12.mp4", "gop250.mp4", "nob.mp4", "gop12.mkv", "gop12.ts"])
@pytest.mark.parametrize(
    ("policy", "n"),
    [(Uniform(8), 8), (Uniform(32), 32), (Uniform(1), 1), (Fps(1.0), 4), (All(), COUNT)],
)
def test_sample_returns_the_official_frames(clips, name, policy, n):
    result = video.sample(clips[name], policy)
    expected = np.linspace(0, COUNT - 1, n).astype(int).tolist()
    assert result.indices == expected
    assert numbers(result.frames) == expected  # the pixels of frame k show k
    assert result.frames.shape == (n, 48, 64, 3)
    assert result.frames.dtype == np.uint8
    assert result.count == COUNT
    assert result.fps == pytest.approx(24.0)
    assert not result.short and result.message == ""
    assert result.converted == n  # only the returned frames are converted to RGB
    assert n <= result.decoded <= COUNT  # no frame decoded twice


@pytest.mark.parametrize("name", ["gop12.mp4", "gop250.mp4", "gop12.ts", "gop250.mkv"])
def test_sparse_frames_are_pixel_identical_to_a_full_decode(clips, name):
    everything = video.sample(clips[name], All()).frames
    for policy in (Uniform(8), Uniform(32), Fps(1.0), Uniform(3)):
        result = video.sample(clips[name], policy)
        np.testing.assert_array_equal(result.frames, everything[result.indices])


def _count_opens(monkeypatch, first=None) -> list[str]:
    """The files PyAV opens from now on, in order (the sampler opens clips with `av.open`);
    `first` may change the first container opened before the sampler reads it."""
    opened: list[str] = []
    real_open = av.open

    def open_(file, *args, **kwargs):
        container = real_open(file, *args, **kwargs)
        if first is not None and not opened:
            first(container)
        opened.append(str(file))
        return container

    monkeypatch.setattr(av, "open", open_)
    return opened


def test_parallel_decoders_give_the_same_result_as_one(clips, monkeypatch):
    # workers=3 on a machine made to look like 3 cores: uniform-32 has targets in every GOP,
    # so three decoders share the ranges, each with the file opened once more (`sample`).
    path = clips["gop12.mp4"]
    policy = Uniform(32)
    opens = _count_opens(monkeypatch)
    single = video.sample(path, policy, workers=1)
    assert opens == [path]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    parallel = video.sample(path, policy, workers=3)
    assert opens == [path] * 4  # three decoders
    np.testing.assert_array_equal(parallel.frames, single.frames)
    assert numbers(parallel.frames) == parallel.indices
    assert (parallel.decoded, parallel.converted) == (single.decoded, single.converted)


@pytest.mark.parametrize("name", ["gop12.mp4", "gop250.mp4", "nob.mp4", "gop12.mkv", "gop12.ts"])
def test_quick_open_reads_what_a_full_decode_shows(clips, name):
    # `probe` and `sample` open a clip without decoding a picture; everything they read from
    # the stream (count, rate, size, keyframes, timestamps) must be what a fully probed open
    # and a decode of every frame show, and the frames those of a full decode.
    path = clips[name]
    with av.open(path) as container:
        stream = container.streams.video[0]
        decoded = list(container.decode(stream))
        everything = np.stack([f.to_ndarray(format="rgb24") for f in decoded])
        rate, time_base, header = float(stream.average_rate), float(stream.time_base), stream.frames
    info = video.probe(path)
    assert info.count == len(decoded)
    assert info.fps == rate
    assert (info.width, info.height) == (decoded[0].width, decoded[0].height)
    assert info.keyframes == tuple(k for k, frame in enumerate(decoded) if frame.key_frame)
    first = decoded[0].pts
    expected = [(f.pts - first) * time_base for f in decoded]
    assert info.timestamps == pytest.approx(expected, abs=1e-6)
    assert info.header_frames == header
    result = video.sample(path, Uniform(8), workers=1)
    np.testing.assert_array_equal(result.frames, everything[result.indices])


def test_a_decoder_that_drops_pictures_after_the_quick_open_gets_a_full_one(clips, monkeypatch):
    # A decoder that learns an undeclared reorder delay late drops its first pictures. x264
    # always declares the delay, so the decoder of the first open is told to drop pictures
    # (PyAV's `skip_frame`): the clip must be opened again and sampled as from a full decode,
    # both attempts' work counted.
    path = clips["gop12.mp4"]
    expected = video.sample(path, Uniform(8), workers=1)

    def drop_pictures(container) -> None:
        container.streams.video[0].codec_context.skip_frame = "NONKEY"

    opens = _count_opens(monkeypatch, first=drop_pictures)
    result = video.sample(path, Uniform(8), workers=1)
    assert opens == [path, path]
    np.testing.assert_array_equal(result.frames, expected.frames)
    assert result.indices == expected.indices
    assert result.decoded > expected.decoded


def _remux_with_pts_as_dts(source: str, out: Path) -> str:
    """`source` in Matroska with every packet's pts replaced by its dts (decode order)."""
    with av.open(source) as reader, av.open(str(out), "w") as writer:
        stream = reader.streams.video[0]
        copy = writer.add_stream_from_template(stream)
        for packet in reader.demux(stream):
            if packet.size:
                packet.pts, packet.stream = packet.dts, copy
                writer.mux(packet)
    return str(out)


def test_a_decoder_whose_output_runs_backwards_gets_a_full_open(clips, tmp_path, monkeypatch):
    # Pts that follow decode order while the clip has B-frames: the decoder emits pictures in
    # presentation order, so their pts run backwards. The quickly opened attempt must give up
    # and the clip be opened again; its frames are those of a full decode.
    path = _remux_with_pts_as_dts(clips["gop12.mp4"], tmp_path / "pts-in-decode-order.mkv")
    opens = _count_opens(monkeypatch)
    result = video.sample(path, Uniform(8), workers=1)
    assert opens == [path, path]
    expected = np.linspace(0, COUNT - 1, 8).astype(int).tolist()
    assert result.indices == expected
    assert numbers(result.frames) == expected


def test_timestamps_are_seconds_from_the_first_frame(clips):
    result = video.sample(clips["gop12.mp4"], Uniform(8))
    assert result.timestamps == pytest.approx([k / 24 for k in result.indices], abs=1e-3)
    ts = video.sample(clips["gop12.ts"], Uniform(8))
    assert ts.timestamps == pytest.approx(result.timestamps, abs=1e-3)


@dataclasses.dataclass(frozen=True)
class Listed:
    """A test policy that asks for given frames."""

    frames: tuple[int, ...]

    @property
    def key(self) -> str:
        return "listed-" + "-".join(map(str, self.frames))

    def wanted(self, count: int, fps: float) -> int:
        return len(self.frames)

    def indices(self, count: int, fps: float) -> list[int]:
        return list(self.frames)


def test_keyframe_targets_decode_one_frame_each(clips):
    info = video.probe(clips["gop12.mp4"])
    assert info.keyframes == tuple(range(0, COUNT, 12))
    result = video.sample(clips["gop12.mp4"], Listed(info.keyframes))
    assert numbers(result.frames) == list(info.keyframes)
    assert result.decoded == len(info.keyframes)


def test_without_b_frames_decoding_is_exactly_the_minimum(clips):
    info = video.probe(clips["nob.mp4"])
    for policy in (Uniform(8), Uniform(32), Fps(1.0), Listed((5, 30, 31, 99))):
        result = video.sample(clips["nob.mp4"], policy)
        assert result.decoded == video.required_frames(info.keyframes, result.indices)


def test_b_frames_that_nothing_references_are_not_decoded(clips):
    # One target at the end of a 250-frame GOP: every reference frame before it is needed,
    # the non-reference B-frames are not.
    result = video.sample(clips["gop250.mp4"], Listed((COUNT - 1,)))
    assert numbers(result.frames) == [COUNT - 1]
    assert COUNT // 3 < result.decoded < COUNT


def test_resize_in_the_same_pass(clips):
    result = video.sample(clips["gop12.mp4"], Uniform(8), size=(128, 96))
    assert result.frames.shape == (8, 96, 128, 3)
    assert numbers(result.frames) == result.indices
    small = video.sample(clips["gop12.mp4"], Uniform(8), size=(48, 36))
    assert small.frames.shape == (8, 36, 48, 3)


def test_pil_output(clips):
    result = video.sample(clips["gop12.mp4"], Uniform(8), output="pil", size=(96, 72))
    assert all(isinstance(image, Image.Image) for image in result.frames)
    assert {image.size for image in result.frames} == {(96, 72)}
    assert {image.mode for image in result.frames} == {"RGB"}
    assert numbers(result.frames) == result.indices


def test_bad_arguments(clips):
    with pytest.raises(ValueError, match="output"):
        video.sample(clips["gop12.mp4"], Uniform(8), output="torch")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size"):
        video.sample(clips["gop12.mp4"], Uniform(8), size=(0, 10))


def test_short_clip_returns_what_exists(tmp_path):
    path = write_numbered_video(tmp_path / "short.mp4", 5)
    result = video.sample(path, Uniform(8))
    assert result.indices == [0, 1, 2, 3, 4]
    assert numbers(result.frames) == [0, 1, 2, 3, 4]
    assert result.short
    assert result.wanted == 8
    assert "5 frames" in result.message and "8" in result.message and path in result.message
    assert not video.sample(path, Uniform(5)).short


def test_single_frame_clip(tmp_path):
    path = write_numbered_video(tmp_path / "one.mp4", 1)
    result = video.sample(path, Fps(1.0))
    assert result.indices == [0] and numbers(result.frames) == [0]


# -- headers that lie ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gop12.mkv", "gop12.ts"])
def test_containers_without_a_frame_count(clips, name):
    info = video.probe(clips[name])
    assert info.header_frames == 0  # Matroska and MPEG-TS store no frame count
    assert info.count == COUNT


def _patch_avi_frame_count(path: Path, claimed: int) -> None:
    data = bytearray(path.read_bytes())
    avih, strh = data.find(b"avih"), data.find(b"strh")
    struct.pack_into("<I", data, avih + 8 + 16, claimed)  # avih dwTotalFrames
    struct.pack_into("<I", data, strh + 8 + 32, claimed)  # strh dwLength
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("claimed", [500, 7])
def test_avi_whose_header_lies_about_the_count(tmp_path, claimed):
    # AVI stores no pts: with B-frames its pts follow decode order, so this also checks the
    # linear path that trusts the decoder's output order instead.
    path = tmp_path / "lie.avi"
    write_numbered_video(path, 60, gop=12)
    _patch_avi_frame_count(path, claimed)
    info = video.probe(path)
    assert info.header_frames == claimed
    assert info.count == 60
    result = video.sample(path, Uniform(8))
    expected = np.linspace(0, 59, 8).astype(int).tolist()
    assert result.indices == expected
    assert numbers(result.frames) == expected


def test_vp9_webm(tmp_path):
    path = write_video(
        tmp_path / "clip.webm", lambda i: numbered_frame(i), codec="libvpx-vp9", count=40, gop=10
    )
    result = video.sample(path, Uniform(8))
    assert numbers(result.frames) == result.indices == np.linspace(0, 39, 8).astype(int).tolist()
    assert video.probe(path).header_frames == 0


# -- bad input ------------------------------------------------------------------------------
def _zero_frame(path: Path, with_audio: bool) -> str:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        if with_audio:
            _write_audio(container)
        else:
            container.start_encoding()
    return str(path)


def _write_audio(container) -> None:
    audio = container.add_stream("aac", rate=16000)
    for i in range(10):
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 16000, i * 1024
        for packet in audio.encode(frame):
            container.mux(packet)
    for packet in audio.encode(None):
        container.mux(packet)


def _audio_only(path: Path) -> str:
    with av.open(str(path), "w") as container:
        _write_audio(container)
    return str(path)


def _expect_error(path, match: str) -> VideoError:
    with pytest.raises(VideoError, match=match) as caught:
        video.sample(path, Uniform(8))
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ValueError)
    return caught.value


def test_missing_file(tmp_path):
    _expect_error(str(tmp_path / "nope.mp4"), "not found")


def test_text_file(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 20)
    _expect_error(str(path), "not a readable video")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    _expect_error(str(path), "not a readable video")


def test_directory(tmp_path):
    _expect_error(str(tmp_path), "directory")


def test_truncated_mp4_without_its_index(clips, tmp_path):
    data = Path(clips["gop12.mp4"]).read_bytes()  # moov at the end: cut off
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])
    _expect_error(str(path), "not a readable video")


def test_truncated_faststart_mp4(tmp_path):
    # The index survives at the front and promises frames the file no longer holds.
    full = write_numbered_video(
        tmp_path / "fast.mp4", 60, container_options={"movflags": "faststart"}
    )
    data = Path(full).read_bytes()
    for fraction, name in ((0.6, "cut.mp4"), (0.9, "cut2.mp4")):
        path = tmp_path / name
        path.write_bytes(data[: int(len(data) * fraction)])
        _expect_error(str(path), "truncated")


@pytest.mark.parametrize("name", ["gop12.mkv", "gop12.ts"])
@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.99])
def test_truncated_matroska_and_transport_stream(clips, tmp_path, name, fraction):
    # Neither container keeps a frame count, and their demuxers stop quietly at the cut: the
    # cut clip decodes as a shorter one. The Matroska segment size and the TS packet size tell.
    data = Path(clips[name]).read_bytes()
    cut = int(len(data) * fraction)
    cut -= cut % 188 == 0  # a TS cut exactly between packets cannot be told apart
    path = tmp_path / f"cut-{name}"
    path.write_bytes(data[:cut])
    _expect_error(str(path), "truncated")
    with pytest.raises(VideoError, match="truncated"):
        video.probe(path)
    assert video.probe(clips[name]).count == COUNT  # the complete file is fine


def test_zero_frame_video_stream(tmp_path):
    _expect_error(_zero_frame(tmp_path / "zero.mkv", with_audio=True), "no frames")


def test_zero_frame_mp4(tmp_path):
    # The MP4 demuxer drops a track without samples: no video stream at all.
    _expect_error(_zero_frame(tmp_path / "zero.mp4", with_audio=False), "no video stream")


def test_audio_only(tmp_path):
    error = _expect_error(_audio_only(tmp_path / "sound.m4a"), "no video stream")
    assert "audio" in str(error)


def test_probe_reports_bad_input_too(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        video.probe(tmp_path / "nope.mp4")


@pytest.mark.subprocess
def test_no_av_import_at_module_import():
    # Importing the module must stay cheap for the modules that import it.
    import subprocess
    import sys

    code = "import sys, vlm4d_tasks.video.sampler; print('av' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert out.stdout.strip() == "False"


def test_a_policy_must_give_sorted_unique_indices_in_range(clips):
    for bad in ((5, 3), (3, 3), (0, COUNT)):
        with pytest.raises(ValueError, match="not sorted, unique"):
            video.sample(clips["gop12.mp4"], Listed(bad))


def test_a_policy_may_give_no_frames(clips):
    result = video.sample(clips["gop12.mp4"], Listed(()))
    assert result.frames.shape == (0, 48, 64, 3)
    assert result.decoded == 0 and result.converted == 0 and result.short is False
