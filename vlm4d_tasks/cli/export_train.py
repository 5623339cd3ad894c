"""`vlm4d export-train`: a probe folder -> supervised fine-tuning data (LLaMA-Factory, LLaVA-Video
or a Hugging Face dataset), in one answer form, optionally mixed with stated proportions."""

from __future__ import annotations

import argparse
import sys

# The project's prompt for each answer form: the lmms-eval `direct` prompt asks for the letter
# (mc), `cot` for reasoning that ends with the letter (cot); free-form has no benchmark prompt.
PROMPT_STYLES = {"mc": "direct", "cot": "cot", "free": "free_form"}


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**32:  # numpy's seeds
        raise argparse.ArgumentTypeError(f"{value} is not in 0-{2**32 - 1}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="source",
        metavar="DIR",
        required=True,
        help="a folder written by `vlm4d generate-probe` (best with --split train)",
    )
    parser.add_argument(
        "--format",
        required=True,
        choices=["llamafactory", "llava", "hf"],
        help="llamafactory: ShareGPT video JSON + dataset_info.json; llava: LLaVA-Video JSON; "
        "hf: Parquet + dataset card that datasets.load_dataset reads",
    )
    parser.add_argument(
        "--out",
        metavar="OUT",
        required=True,
        help="output folder: new, empty or written by an earlier export-train; it gets the "
        "selected videos too (linked; --copy-videos copies), so it stands on its own",
    )
    parser.add_argument(
        "--answer",
        choices=list(PROMPT_STYLES),
        default="mc",
        help="mc: the option letter (direct prompt); free: a short sentence (question without "
        "options); cot: the generator's rationale (chain-of-thought prompt). Default mc",
    )
    parser.add_argument(
        "--mix",
        metavar="SPEC",
        default=None,
        help="proportions of one field, e.g. category=translational:0.5,rotational:0.3,"
        "counting:0.2 (fields: category, perspective, camera_motion); values not named are "
        "left out",
    )
    parser.add_argument(
        "--size",
        type=_count,
        default=None,
        help="examples in all (default: with --mix the largest the mix allows, else all)",
    )
    parser.add_argument("--seed", type=_seed, default=0, help="seed of the draw (default 0)")
    parser.add_argument(
        "--copy-videos", action="store_true", help="copy the videos instead of linking them"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into an existing folder that export-train did not make: it is moved aside "
        "to OUT.old-N (nothing in it is deleted)",
    )


def _fail(message: str) -> int:
    # One line, the last one on stderr: the cause, then the fix.
    print(f"vlm4d export-train: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from functools import partial

    from vlm4d_tasks.data.outdir import OutputFolderError
    from vlm4d_tasks.lmms.prompts import render_prompt
    from vlm4d_tasks.probe.export import ExportError, export_train, free_form_prompt, parse_mix

    style = PROMPT_STYLES[args.answer]
    prompt = free_form_prompt if args.answer == "free" else partial(render_prompt, style=style)
    try:
        mix = parse_mix(args.mix) if args.mix is not None else None
        result = export_train(
            args.source,
            args.out,
            args.format,
            args.answer,
            prompt,
            prompt_style=style,
            mix=mix,
            seed=args.seed,
            size=args.size,
            copy_videos=args.copy_videos,
            force=args.force,
        )
    except (ExportError, OutputFolderError) as exc:
        return _fail(str(exc))
    for note in result.notes:
        print(f"vlm4d export-train: warning: {note}", file=sys.stderr)
    if result.moved_aside is not None:
        print(f"moved the earlier {args.out} aside to {result.moved_aside} (nothing deleted)")
    s = result.summary
    print(
        f"wrote {s['examples']} {s['format']} examples ({s['answer_form']} answers, "
        f"{s['videos']} videos) to {result.out}: {', '.join(result.files)}"
    )
    print(
        f"categories: {s['by_category']}; perspectives: {s['by_perspective']}; "
        f"camera motions: {s['by_camera_motion']}"
    )
    if s["mix"]:
        m = s["mix"]
        shares = ", ".join(
            f"{v} {m['counts'][v]} ({m['achieved'][v]:.4f} of {m['requested'][v]:.4f} asked)"
            for v in m["requested"]
        )
        print(f"mix by {m['key']}: {shares}")
    if s["free_form_fallbacks"]:
        print(
            f"vlm4d export-train: warning: {s['free_form_fallbacks']} of {s['examples']} "
            "free-form answers are the option text (their records have no answer_free_form). "
            "Fix: export a folder made with `vlm4d generate-probe --split train`",
            file=sys.stderr,
        )
    if "test" in s["splits"]:
        print(
            "vlm4d export-train: warning: these are the test probe questions (the folder has "
            "no train split); a model trained on them must not be evaluated on the probe set. "
            "Fix: export a folder made with `vlm4d generate-probe --split train`",
            file=sys.stderr,
        )
    return 0
