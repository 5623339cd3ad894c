"""`vlm4d generate-probe`: write the procedural 4D probe subset (videos + annotations), or a
training split of it, in shards if asked (`--shard i/N`, then `--merge`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict

# A training split is sharded over machines (`--shard`); a million clips is far beyond any
# fine-tuning mix the paper describes, so a larger count is a typo, not a plan. numpy's seeds
# are 0..2**32-1.
MAX_SCENES = 1_000_000


def _bounded(low: int, high: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in {low}-{high}")
        return value

    return parse


def _shard(text: str):
    from vlm4d_tasks.probe.generate import Shard

    index, sep, count = text.partition("/")
    try:
        if not sep:
            raise ValueError
        return Shard(int(index), int(count))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not i/N with 0 <= i < N (e.g. 0/2 and 1/2)"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vlm4d_tasks.probe.generate import TRAIN_CLIP, ProbeSettings

    d = ProbeSettings()
    parser.add_argument(
        "--out",
        required=True,
        help="output folder (videos_probe/, probe_mc.json, ...): new, empty or written by an "
        "earlier generate-probe (whose files it replaces, keeping any other)",
    )
    parser.add_argument(
        "--n-scenes",
        type=_bounded(1, MAX_SCENES),
        default=d.n_scenes,
        help=f"number of clips, 1-{MAX_SCENES} (default {d.n_scenes})",
    )
    parser.add_argument(
        "--seed",
        type=_bounded(0, 2**32 - 1),
        default=d.seed,
        help=f"random seed, 0-{2**32 - 1} (default {d.seed})",
    )
    # None: the --config file's clip value if it gives one, else the default.
    t = TRAIN_CLIP
    parser.add_argument(
        "--width", type=int, help=f"frame width, even (default {d.width}; train {t['width']})"
    )
    parser.add_argument(
        "--height", type=int, help=f"frame height, even (default {d.height}; train {t['height']})"
    )
    parser.add_argument(
        "--fps", type=int, help=f"frames per second (default {d.fps}; train {t['fps']})"
    )
    parser.add_argument(
        "--seconds", type=float, help=f"clip length (default {d.seconds}; train {t['seconds']})"
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="generator configuration (YAML): object shapes, colours, textures, floors, palettes, "
        "walls, lighting, camera paths, speeds, occlusion, clip size/fps/length; see "
        "vlm4d_tasks/probe/config.py. Its defaults are the test probe set's; flags given "
        "here win over its clip values",
    )
    parser.add_argument(
        "--split",
        choices=("test", "train"),
        default=d.split,
        help="test: the probe set (default); train: scenes from a disjoint seed space, "
        "checked against the test set (exit 2 on a leak), with free-form answers and "
        "rationales in probe_records.jsonl",
    )
    parser.add_argument(
        "--shard",
        type=_shard,
        help="i/N: render only shard i of N (scene pairs k with k %% N == i) into --out; "
        "combine the N shard folders with --merge",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="DIR",
        help="write into --out the set that the shard folders DIR... (made with --shard) "
        "make together: byte for byte what one unsharded run writes; other settings come "
        "from the shards",
    )
    parser.add_argument(
        "--crf", type=int, default=d.crf, help=f"x264 quality, lower is better (default {d.crf})"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="parallel render processes (default: min(2, CPUs)); output does not depend on it",
    )
    parser.add_argument(
        "--json", help="also write the run summary (counts, timings) to this JSON file"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into an existing folder that generate-probe did not make: the folder is "
        "moved aside to OUT.old-N (nothing in it is deleted) and the probe set takes its place",
    )


def _report_notes(result, out: str) -> None:
    """A run's warnings (stderr) and where an earlier folder went: the same for a merge."""
    for note in result.notes:
        print(f"vlm4d generate-probe: warning: {note}", file=sys.stderr)
    if result.moved_aside is not None:
        print(f"moved the earlier {out} aside to {result.moved_aside} (nothing deleted)")


def _merge(args: argparse.Namespace) -> int:
    from vlm4d_tasks.data.outdir import OutputFolderError
    from vlm4d_tasks.probe.generate import ProbeRunError, merge_shards

    try:
        result = merge_shards(args.merge, args.out, force=args.force)
    except (OutputFolderError, ProbeRunError) as exc:
        print(f"vlm4d generate-probe: {exc}", file=sys.stderr)
        return 2
    _report_notes(result, args.out)
    print(
        f"merged {len(args.merge)} shard(s): {result.n_scenes} clips and {result.n_questions} "
        f"questions to {result.out_dir} ({result.seconds_total:.1f} s)"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.data.outdir import OutputFolderError
    from vlm4d_tasks.probe.generate import TRAIN_CLIP, ProbeRunError, ProbeSettings, generate_probe

    if args.merge:
        if args.shard is not None:
            print(
                "vlm4d generate-probe: --merge combines shards; it takes no --shard. "
                "Fix: drop --shard",
                file=sys.stderr,
            )
            return 2
        return _merge(args)

    jobs = args.jobs if args.jobs is not None else min(2, os.cpu_count() or 1)
    if jobs < 1:
        print(f"vlm4d generate-probe: --jobs must be >= 1, got {jobs}", file=sys.stderr)
        return 2
    from vlm4d_tasks.probe.config import ConfigError, GeneratorConfig, load_config

    generator, clip = GeneratorConfig(), {}
    if args.config:
        try:
            generator, clip = load_config(args.config)
        except ConfigError as exc:
            print(f"vlm4d generate-probe: --config {exc}", file=sys.stderr)
            return 2
    d = TRAIN_CLIP if args.split == "train" else asdict(ProbeSettings())
    size = {
        name: next(v for v in (getattr(args, name), clip.get(name), d[name]) if v is not None)
        for name in ("width", "height", "fps", "seconds")
    }
    settings = ProbeSettings(
        n_scenes=args.n_scenes,
        seed=args.seed,
        jobs=jobs,
        crf=args.crf,
        split=args.split,
        generator=generator,
        **size,
    )
    try:
        settings.check()
    except ValueError as exc:
        print(f"vlm4d generate-probe: {exc}", file=sys.stderr)
        return 2
    try:
        result = generate_probe(
            args.out, settings, progress=not args.quiet, force=args.force, shard=args.shard
        )
    except (OutputFolderError, ProbeRunError) as exc:
        # One line, the last one on stderr: the cause, then the fix.
        print(f"vlm4d generate-probe: {exc}", file=sys.stderr)
        return 2
    _report_notes(result, args.out)
    per_clip = result.mean_seconds_per_clip
    shard = f" (shard {result.shard} of the {settings.split} split)" if result.shard else ""
    print(
        f"wrote {result.n_scenes} clips ({settings.width}x{settings.height}, {settings.fps} fps, "
        f"{result.n_frames} frames) and {result.n_questions} questions to {result.out_dir}{shard}"
    )
    if result.n_skipped:
        print(f"resumed: {result.n_skipped} clip(s) finished by an earlier run were kept")
    if settings.split != "test":
        print("leak check: no trajectory, camera path, scene or question of the test set repeated")
    print(
        f"categories: {result.by_category}; perspectives: {result.by_perspective}; answers: {result.by_letter}"
    )
    print(
        f"time: {result.seconds_total:.1f} s total, {per_clip:.2f} s per clip "
        f"(render + encode, {settings.jobs} process(es))"
    )
    if args.json:
        summary = {
            "settings": settings.to_record() | {"jobs": settings.jobs},
            "n_scenes": result.n_scenes,
            "n_questions": result.n_questions,
            "by_category": result.by_category,
            "by_perspective": result.by_perspective,
            "by_letter": result.by_letter,
            "seconds_total": round(result.seconds_total, 3),
            "seconds_per_clip": [round(s, 3) for s in result.seconds_per_clip],
            "shard": None if result.shard is None else str(result.shard),
            "n_skipped": result.n_skipped,
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=1)
            fh.write("\n")
    return 0
