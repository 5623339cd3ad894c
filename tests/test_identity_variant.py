"""The identity variant, the re-encode control of the mirrored and reversed tasks (issue 26,
point 4): a clip through the transformed clips' decode-encode path with nothing transformed
(`validity.clips`, on real H.264 files), the `vlm4d_mc_identity` tasks through lmms-eval's
`TaskManager` on a small dataset built here, consistency against the identity row on a made-up
pair of runs (`validity.baselines.consistency`), its place in the score document's declaration,
and the report's consistency table that shows it.
"""

from __future__ import annotations

import copy
import dataclasses
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from _video_factory import read_frame_number, write_numbered_video, write_video  # noqa: E402

from vlm4d_tasks.data.schema import Record  # noqa: E402
from vlm4d_tasks.metric.scoring import Verdict, join  # noqa: E402
from vlm4d_tasks.validity import consistency as C  # noqa: E402
from vlm4d_tasks.validity import transforms as T  # noqa: E402
from vlm4d_tasks.validity.clips import transform_frames, transformed_clip  # noqa: E402
from vlm4d_tasks.video.sampler import all_frames, sample  # noqa: E402

WIDTH, HEIGHT, COUNT = 96, 64, 20
# Lowest per-frame PSNR (dB) allowed between the identity clip and its source: one more H.264
# generation at crf 17 (x264's "visually lossless" range). Measured 41.7 dB on this clip. The
# failures it must catch are far below: the source's frame k against its frame k + 1 (a
# one-frame timing slip) is 25.6 dB here, a mirrored frame 11 dB, so 35 dB leaves about 7 dB
# for encoder variation and 9 dB of separation from the nearest failure.
PSNR_BOUND = 35.0
SOURCE = [{"repo_id": "shijiezhou/VLM4D", "revision": "main"}]


def textured_frame(index: int) -> np.ndarray:
    """Diagonal colour ramps moving with `index` and a bright square at x = 8 + 3 * index:
    detail everywhere, so that a frame out of place or a lossy encode shows in the PSNR."""
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    frame = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    frame[..., 0] = (2 * xs + 3 * index) % 256
    frame[..., 1] = (3 * ys) % 256
    frame[..., 2] = 128
    frame[20:32, 8 + 3 * index : 20 + 3 * index] = 240
    return frame


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("identity-src") / "textured.mp4"
    return write_video(path, textured_frame, fps=24, gop=8, size=(WIDTH, HEIGHT), count=COUNT)


# --------------------------------------------------------------------------------------------
# The clip


def test_identity_frames_are_an_unchanged_copy():
    frames = np.stack([textured_frame(k) for k in range(3)])
    out = transform_frames(frames, "identity")
    assert np.array_equal(out, frames) and out is not frames
    assert not np.shares_memory(out, frames)  # the caller may keep using its array


def test_identity_clip_is_the_source_re_encoded(clip, tmp_path):
    source = sample(clip, all_frames())
    out = transformed_clip(clip, "identity", tmp_path / "cache")
    assert out.name.endswith(".identity.mp4")
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.width, stream.height) == (WIDTH, HEIGHT)
    got = sample(out, all_frames())
    assert got.frames.shape == source.frames.shape == (COUNT, HEIGHT, WIDTH, 3)
    values = [psnr(got.frames[k], source.frames[k]) for k in range(COUNT)]
    assert min(values) > PSNR_BOUND, values
    # each frame is its own source frame, not a neighbour (which would also be fairly close)
    for k in range(COUNT):
        assert max(range(COUNT), key=lambda j: psnr(got.frames[k], source.frames[j])) == k
    assert got.fps == source.fps
    assert got.timestamps == pytest.approx([k / source.fps for k in range(COUNT)], abs=1e-4)


def test_identity_clip_is_byte_identical_on_a_second_run(clip, tmp_path):
    first = transformed_clip(clip, "identity", tmp_path / "one")
    second = transformed_clip(clip, "identity", tmp_path / "two")  # a fresh cache: encoded again
    assert first != second and first.read_bytes() == second.read_bytes()
    # its own cache entry: never the mirrored or reversed clip of the same source
    others = {transformed_clip(clip, kind, tmp_path / "one") for kind in ("mirror", "reverse")}
    assert first not in others and first.parent.parent == next(iter(others)).parent.parent


def test_identity_clip_has_the_transformed_clips_rate_and_timestamps(tmp_path):
    """The codec and timing change of the mirrored clip, without the mirror: from an MPEG-TS
    source (its clock starts at 1.4 s) at 30000/1001, both start at 0 at exactly that rate."""
    source = write_numbered_video(tmp_path / "ntsc.ts", 24, fps=Fraction(30000, 1001), gop=6)
    timings = {}
    for kind in ("identity", "mirror"):
        with av.open(str(transformed_clip(source, kind, tmp_path / "cache"))) as container:
            stream = container.streams.video[0]
            frames = list(container.decode(stream))
            timings[kind] = (stream.average_rate, [f.time for f in frames], stream.options)
            if kind == "identity":
                numbers = [read_frame_number(f.to_ndarray(format="rgb24")) for f in frames]
    assert timings["identity"] == timings["mirror"]
    rate, times, _ = timings["identity"]
    assert rate == Fraction(30000, 1001)
    assert times == pytest.approx([k * 1001 / 30000 for k in range(24)])
    assert numbers == list(range(24))


# --------------------------------------------------------------------------------------------
# The lmms-eval task


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from _lmms_dataset import write_annotations, write_videos

    from vlm4d_tasks.data.annotations import load_annotations
    from vlm4d_tasks.data.dataset_repo import build_dataset_repo

    root = tmp_path_factory.mktemp("identity-task")
    write_annotations(root / "annotations", per_video=2)
    write_videos(root / "videos")
    annotations = load_annotations(root / "annotations", ["real", "synthetic"])
    build_dataset_repo(annotations, root / "dataset", videos=root / "videos", copy_videos=True)
    return root / "dataset"


@pytest.fixture
def use_dataset(dataset, monkeypatch, tmp_path):
    monkeypatch.setenv("VLM4D_DATASET", str(dataset))
    monkeypatch.delenv("VLM4D_VIDEO_ROOT", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("VLM4D_FRAME_CACHE_DIR", str(tmp_path / "frames"))
    monkeypatch.delenv("VLM4D_JUDGE", raising=False)
    return dataset


def test_identity_group_is_indexed_with_its_two_subtasks(task_manager, use_dataset):
    assert {"vlm4d_real_mc_identity", "vlm4d_synthetic_mc_identity"} <= set(
        task_manager.all_subtasks
    )
    group = task_manager.load_task_or_group("vlm4d_mc_identity")
    ((_, subtasks),) = group.items()
    assert sorted(subtasks) == ["vlm4d_real_mc_identity", "vlm4d_synthetic_mc_identity"]


@pytest.mark.parametrize("subset", ["real", "synthetic"])
def test_identity_task_asks_the_base_questions_about_the_re_encoded_clip(
    subset, task_manager, use_dataset, tmp_path
):
    from vlm4d_tasks.lmms.protocol import PROTOCOLS

    (base,) = task_manager.load_task_or_group(f"vlm4d_{subset}_mc").values()
    (task,) = task_manager.load_task_or_group(f"vlm4d_{subset}_mc_identity").values()
    base_docs, docs = list(base.test_docs()), list(task.test_docs())
    # every base question, in order, only its uid and a flag marking it
    assert [d["uid"] for d in docs] == [f"{d['uid']}#identity" for d in base_docs]
    for doc, original in zip(docs, base_docs):
        assert T.base_uid(doc["uid"]) == original["uid"] and T.variant_of(doc["uid"]) == "identity"
        assert doc["flags"] == [*original["flags"], "transform:identity"]
        assert {k: v for k, v in doc.items() if k not in ("uid", "flags")} == {
            k: v for k, v in original.items() if k not in ("uid", "flags")
        }
        assert task.doc_to_text(doc) == base.doc_to_text(original)
        assert task.doc_to_target(doc) == base.doc_to_target(original)
    assert task.config.generation_kwargs == PROTOCOLS["greedy"].generation_kwargs
    assert task.config.metadata["version"] == 1.2
    assert set(task.aggregation()) == set(base.aggregation())
    assert task.config.doc_to_visual.__name__ == "doc_to_identity_video"
    (path,) = task.doc_to_visual(docs[0])
    assert path.endswith(".identity.mp4") and path.startswith(str(tmp_path / "frames" / "clips"))
    (original,) = base.doc_to_visual(base_docs[0])
    assert path == str(transformed_clip(original, "identity"))
    assert sample(path, all_frames()).frames.shape == sample(original, all_frames()).frames.shape


def test_vlm4d_tasks_lists_the_identity_group_and_tasks():
    from vlm4d_tasks.cli.tasks import listing

    lines = {line.split()[0]: line for line in listing()}
    assert lines["vlm4d_mc_identity"].split()[1] == "group"
    assert lines["vlm4d_mc_identity"].endswith(
        "= vlm4d_real_mc_identity + vlm4d_synthetic_mc_identity"
    )
    for subset in ("real", "synthetic"):
        assert lines[f"vlm4d_{subset}_mc_identity"].split()[1] == "task"


def test_identity_row_is_its_own_table_row(use_dataset):
    from vlm4d_tasks.lmms import variants
    from vlm4d_tasks.lmms.metric import OVERALL

    (doc,) = list(variants.real_identity_docs(SOURCE))[:1]
    out = variants.process_results_identity(doc, ["Therefore, the final answer is: A"])
    assert out[OVERALL]["row"] == "vlm4d_mc_identity"


# --------------------------------------------------------------------------------------------
# Consistency against the identity row (a made-up pair of runs)


def record(n: int, answer: str) -> Record:
    options = ["left", "right", "towards the camera", "away from the camera"]
    return Record(
        uid=f"real/q{n}", question_id=f"q{n}", subset="real", source="davis",
        perspective="exocentric", category="translational",
        question=f"Which way does object {n} move?", options=options, answer=answer,
        answer_text=options["ABCD".index(answer)], video=f"videos_real/davis/v{n}.mp4",
    )  # fmt: skip


RECORDS = [record(n, "A" if n < 6 else "C") for n in range(1, 9)]


def items(kind: str, right: set[int]) -> list:
    """Model answers to the `kind` form of RECORDS ("base" as released): right on `right`."""

    def identity(r: Record) -> Record:  # as the identity task writes it (checked above)
        return dataclasses.replace(r, uid=f"{r.uid}#identity", flags=["transform:identity"])

    form = {"base": lambda r: r, "identity": identity, "mirror": T.mirror}[kind]
    records = [form(r) for r in RECORDS]
    verdicts = []
    for n, rec in enumerate(records, 1):
        wrong = "ABCD"[("ABCD".index(rec.answer) + 1) % 4]
        verdicts.append(Verdict.chosen(rec.uid, rec.answer if n in right else wrong, "t"))
    return join(verdicts, records)


def runs(identity: bool = True) -> dict[str, list]:
    """One model's rows: base right on 1-6; identity (the codec alone) loses 6 and gains 7;
    mirror right on 1-3 and 7."""
    out = {"m [vlm4d_mc]": items("base", {1, 2, 3, 4, 5, 6}),
           "m [vlm4d_mc_mirror]": items("mirror", {1, 2, 3, 7})}  # fmt: skip
    if identity:
        out["m [vlm4d_mc_identity]"] = items("identity", {1, 2, 3, 4, 5, 7})
    return out


def test_consistency_against_the_identity_row():
    from vlm4d_tasks.validity.baselines import consistency

    entries = {e["variant"]: e for e in consistency(runs())}
    mirror, identity = entries["mirror"], entries["identity"]
    # mirror against the original, as before: right in both on 1-3 of 8
    assert mirror["model"] == "m [vlm4d_mc]" and mirror["consistency"] == 3 / 8
    assert mirror["base_accuracy"] == 6 / 8 and mirror["variant_accuracy"] == 4 / 8
    # against the identity row: right in both on 1-3 and 7 of 8, identity right on 6 of 8
    versus = mirror["versus_identity"]
    assert versus["row"] == "m [vlm4d_mc_identity]"
    assert versus["consistency"] == 4 / 8 and versus["base_accuracy"] == 6 / 8
    assert versus["variant_accuracy"] == 4 / 8 and versus["both_right"] == 4
    assert (versus["paired"], versus["resolved"]) == (8, 8)
    # the identity row against the original: same outcome on 1-5 and 8 of 8
    assert identity["model"] == "m [vlm4d_mc]" and identity["row"] == "m [vlm4d_mc_identity]"
    assert identity["consistency"] == 5 / 8 and identity["agreement"] == 6 / 8
    assert "versus_identity" not in identity
    # without an identity row in the run: the entries as they were, no new field
    without = consistency(runs(identity=False))
    assert [set(e) for e in without] == [set(mirror) - {"versus_identity"}]


def test_score_document_declares_and_carries_the_identity_figures():
    from vlm4d_tasks.pipeline.document import ScoreFileError, check_validity
    from vlm4d_tasks.pipeline.score import score_document

    document = score_document([], runs(), judge={"mode": "rule"}, resamples=20)
    entries = {e["variant"]: e for e in document["validity"]["consistency"]}
    assert entries["mirror"]["versus_identity"]["consistency"] == 0.5
    assert entries["identity"]["agreement"] == 0.75
    bad = copy.deepcopy(document["validity"])
    index = [e["variant"] for e in bad["consistency"]].index("mirror")
    bad["consistency"][index]["versus_identity"]["consistency"] = 1.5
    with pytest.raises(ScoreFileError, match=rf"validity\.consistency\[{index}\]\.versus_identity"
                                             r"\.consistency"):  # fmt: skip
        check_validity(bad, "s.json")


# --------------------------------------------------------------------------------------------
# The report


def test_report_shows_the_re_encode_control():
    from test_report_validity import board_of, document, section

    from vlm4d_tasks.report import leaderboard_render as render
    from vlm4d_tasks.validity.baselines import consistency

    entries = consistency(runs())
    text = render.report_markdown(board_of(("s.json", document(consistency=entries))))
    part = section(text, "### Consistency under transformed questions", "## By category")
    assert "*identity* is the re-encode control" in part
    assert "| Identity % | Consistency vs identity % | Same outcome % |" in part
    assert ("| `m [vlm4d_mc]` | identity | `m [vlm4d_mc_identity]` | 8 | 75.0 | 75.0 | 62.5 "
            "| – | – | 75.0 |") in part  # fmt: skip
    assert ("| `m [vlm4d_mc]` | mirror | `m [vlm4d_mc_mirror]` | 8 | 75.0 | 50.0 | 37.5 "
            "| 75.0 | 50.0 | – |") in part  # fmt: skip
    # without the identity row: the table and its paragraph as before
    without = consistency(runs(identity=False))
    plain = render.report_markdown(board_of(("s.json", document(consistency=without))))
    part = section(plain, "### Consistency under transformed questions", "## By category")
    assert "identity" not in part and "| Consistency % |\n" in part


def test_the_score_markdown_shows_the_re_encode_control():
    """`vlm4d score --markdown` (and an lmms-eval run's table) carry the same two figures."""
    from test_report_validity import document

    from vlm4d_tasks.report.score_report import markdown_report
    from vlm4d_tasks.validity.baselines import consistency

    text = markdown_report(document(consistency=consistency(runs())))
    assert "| Consistency vs identity | Same outcome as base |" in text
    assert "| m [vlm4d_mc_mirror] | mirror | 8 | 75.0 | 50.0 | 37.5 | 50.0 | – |" in text
    assert "| m [vlm4d_mc_identity] | identity | 8 | 75.0 | 75.0 | 62.5 | – | 75.0 |" in text
    plain = markdown_report(document(consistency=consistency(runs(identity=False))))
    assert "vs identity" not in plain and "| Consistency |\n" in plain


# --------------------------------------------------------------------------------------------
# End to end: the lmms-eval CLI


@pytest.mark.lmms
def test_lmms_eval_cli_reports_consistency_against_the_identity_row(tmp_path):
    import json
    import os
    import subprocess
    import sys

    from test_lmms_variants import SEED, TASKS, _outcomes, _samples, build_dataset

    dataset = build_dataset(tmp_path / "data", per_video=1)  # 4 real + 6 synthetic questions
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VLM4D_")},
        "VLM4D_DATASET": str(dataset),
        "VLM4D_FRAME_CACHE_DIR": str(tmp_path / "frames"),
        "HF_HOME": str(tmp_path / "hf"),
        "LMMS_EVAL_DATASETS_CACHE": str(tmp_path / "hf" / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
    }
    out = tmp_path / "out"
    command = [sys.executable, "-m", "lmms_eval", "--include_path", str(TASKS),
               "--model", "vlm4d_random", "--model_args", f"seed={SEED}",
               "--tasks", "vlm4d_mc,vlm4d_mc_identity,vlm4d_mc_mirror",
               "--output_path", str(out), "--log_samples"]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert sorted(out.rglob("*_results.json")), log[-4000:]

    outcomes: dict[str, dict[str, bool]] = {"mc": {}, "mc_identity": {}, "mc_mirror": {}}
    for row, found in outcomes.items():
        for subset in ("real", "synthetic"):
            found.update(_outcomes(_samples(out, f"vlm4d_{subset}_{row}")))
    base, identity, mirror = outcomes["mc"], outcomes["mc_identity"], outcomes["mc_mirror"]
    assert sorted(identity) == sorted(f"{uid}#identity" for uid in base)  # every base question
    # one identity clip per source clip, in the clip cache beside the mirrored ones
    videos = {d["video"] for s in ("real", "synthetic") for d in _docs(dataset, s)}
    assert len(sorted((tmp_path / "frames" / "clips").rglob("*.identity.mp4"))) == len(videos)

    (score_file,) = sorted(out.rglob("*_vlm4d_score.json"))
    entries = {
        e["variant"]: e for e in json.loads(score_file.read_text())["validity"]["consistency"]
    }
    # computed here from the logged samples, independently of validity.baselines
    by_base = {T.base_uid(uid): right for uid, right in identity.items()}
    same = [base[q] == by_base[q] for q in base]
    assert entries["identity"]["agreement"] == pytest.approx(sum(same) / len(same))
    assert entries["identity"]["consistency"] == pytest.approx(
        sum(base[q] and by_base[q] for q in base) / len(base)
    )
    versus = entries["mirror"]["versus_identity"]
    assert versus["row"].endswith("[vlm4d_mc_identity]")
    assert versus["consistency"] == pytest.approx(
        sum(by_base[T.base_uid(u)] and right for u, right in mirror.items()) / len(mirror)
    )
    assert entries["mirror"]["consistency"] == pytest.approx(
        C.consistency(base, mirror)["consistency"]
    )


def _docs(dataset: Path, subset: str) -> list[dict]:
    from vlm4d_tasks.data.dataset_repo import load_split

    return list(load_split(dataset, subset))
