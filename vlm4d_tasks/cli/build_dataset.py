"""`vlm4d build-dataset`: official annotations -> a Hugging Face dataset folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--benchmark",
        choices=["vlm4d", "dsr-bench"],
        default="vlm4d",
        help="which benchmark to build (default: vlm4d); dsr-bench reads --source",
    )
    parser.add_argument(
        "--source",
        metavar="FILE",
        default=None,
        help="with --benchmark dsr-bench: the release's benchmark.parquet or the DSRBench.tsv "
        "that VLMEvalKit reads (told apart by content)",
    )
    parser.add_argument(
        "--annotations",
        metavar="DIR",
        default=None,
        help="folder with real_mc.json / synthetic_mc.json (or a probe folder); "
        "default: download the official files from the hub",
    )
    parser.add_argument(
        "--probe",
        metavar="DIR",
        default=None,
        help="also add the probe subset from a `vlm4d generate-probe` folder",
    )
    parser.add_argument(
        "--subsets",
        nargs="+",
        default=None,
        choices=["real", "synthetic", "probe"],
        help="subsets to include (default: every one found)",
    )
    parser.add_argument(
        "--out",
        metavar="OUT",
        default="vlm4d",
        help="output folder (default: ./vlm4d, so load_dataset('vlm4d') works)",
    )
    parser.add_argument(
        "--videos",
        metavar="DIR",
        default=None,
        help="folder with the videos in the release's layout; they are linked "
        "(or copied with --copy-videos) under their `video` paths",
    )
    parser.add_argument(
        "--copy-videos", action="store_true", help="copy the videos instead of symlinking them"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="build into an existing folder that build-dataset did not make (or whose marker "
        "has no content hashes): the folder is moved aside to OUT.old-N (nothing in it is "
        "deleted) and the build takes its place",
    )
    add_release_argument(parser)


# The official format, for the fix part of an error about an annotation file.
_FORMAT_FIX = (
    "Fix: correct the file (the release's format is a JSON list of objects with id, video, "
    "question, choices A-D and answer) or pass the release's annotation folder"
)


def _fail(message: str) -> int:
    # One line, the last one on stderr: the cause, then the fix.
    print(f"vlm4d build-dataset: {message}", file=sys.stderr)
    return 1


def add_release_argument(parser: argparse.ArgumentParser) -> None:
    """--allow-unofficial-annotations, shared by the commands that read annotation files."""
    from vlm4d_tasks.data.release import ALLOW_UNOFFICIAL_ENV

    parser.add_argument(
        "--allow-unofficial-annotations",
        action="store_true",
        help="accept real_mc.json / synthetic_mc.json whose SHA-256 differs from the official "
        f"release (recorded in the outputs; also {ALLOW_UNOFFICIAL_ENV}=1)",
    )


EXIT_BAD_INPUT = 2


def run_dsr_bench(args: argparse.Namespace) -> int:
    """`--benchmark dsr-bench`: one source file (Parquet or TSV) -> a DSR-Bench dataset folder."""
    from vlm4d_tasks.data.dsr_bench import DsrBenchError, build_dsr_repo, load_dsr_bench
    from vlm4d_tasks.data.outdir import OutputFolderError

    def fail(message: str) -> int:
        print(f"vlm4d build-dataset: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT

    if not args.source:
        return fail("--benchmark dsr-bench needs --source FILE. Fix: pass the release's "
                    "benchmark.parquet or VLMEvalKit's DSRBench.tsv")  # fmt: skip
    if args.annotations or args.probe or args.subsets:
        return fail("--annotations, --probe and --subsets are VLM4D's; nothing was written. "
                    "Fix: for DSR-Bench pass only --source (and --videos)")  # fmt: skip
    out = args.out if args.out != "vlm4d" else "dsr_bench"
    try:
        bench = load_dsr_bench(args.source)
    except FileNotFoundError:
        return fail(f"--source {args.source}: no such file; nothing was written. Fix: pass the "
                    "path of benchmark.parquet or DSRBench.tsv")  # fmt: skip
    except (DsrBenchError, ValueError) as exc:
        return fail(f"nothing was written: {exc}")
    try:
        result = build_dsr_repo(bench, out, videos=args.videos, copy_videos=args.copy_videos,
                                force=args.force)  # fmt: skip
    except OutputFolderError as exc:
        return fail(str(exc))
    return _report_built(result, out, f" ({bench.form} source, sha256 {bench.sha256})")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "benchmark", "vlm4d") == "dsr-bench":
        return run_dsr_bench(args)
    if getattr(args, "source", None):
        return _fail("--source is read only with --benchmark dsr-bench; nothing was written. "
                     "Fix: add --benchmark dsr-bench, or pass VLM4D's --annotations DIR")  # fmt: skip
    from vlm4d_tasks.data.annotations import AnnotationError, load_annotations
    from vlm4d_tasks.data.dataset_repo import build_dataset_repo
    from vlm4d_tasks.data.hub import HubUnavailableError
    from vlm4d_tasks.data.outdir import OutputFolderError
    from vlm4d_tasks.validity.baselines import debiased_config

    try:
        allow = True if args.allow_unofficial_annotations else None
        annotations = load_annotations(args.annotations, args.subsets, allow_unofficial=allow)
        if args.probe:
            annotations.extend(load_annotations(args.probe, ["probe"]))
    except (HubUnavailableError, FileNotFoundError, ValueError) as exc:
        message = str(exc)
        if isinstance(exc, AnnotationError) and "Fix:" not in message:
            message = f"{message.rstrip('.')}. {_FORMAT_FIX}"
        return _fail(message)
    if not annotations.records:
        if annotations.files:
            return _fail(
                f"{', '.join(annotations.files)}: no questions (an empty list); nothing was "
                f"written. {_FORMAT_FIX}"
            )
        return _fail(
            f"{args.annotations}: no annotation file (real_mc.json, synthetic_mc.json, "
            "probe_records.jsonl or probe_mc.json, here or in QA/); nothing was written. "
            "Fix: pass the folder that holds the release's real_mc.json and synthetic_mc.json"
        )
    videos = args.videos
    if videos is None and args.annotations and args.subsets == ["probe"]:
        videos = args.annotations
    try:
        result = build_dataset_repo(
            annotations,
            args.out,
            videos=videos,
            copy_videos=args.copy_videos,
            force=args.force,
            debiased=debiased_config(annotations.records),
        )
    except OutputFolderError as exc:
        return _fail(str(exc))
    return _report_built(result, args.out)


def _report_built(result, out: str | Path, source: str = "") -> int:
    """What a build wrote: its warnings, an earlier folder moved aside, the configs and the
    validation report (`dataset_repo.BuildResult`, for VLM4D and DSR-Bench alike)."""
    from vlm4d_tasks.data.dataset_repo import REPORT_MARKDOWN

    for note in result.notes:
        print(f"vlm4d build-dataset: warning: {note}", file=sys.stderr)
    if result.moved_aside is not None:
        print(f"moved the earlier {out} aside to {result.moved_aside} (nothing deleted)")
    print(f"wrote {Path(out)}{source}:")
    for name, rows in result.counts.items():
        print(f"  config {name}: {rows} rows")
    print((Path(out) / REPORT_MARKDOWN).read_text(encoding="utf-8"))
    return 0
