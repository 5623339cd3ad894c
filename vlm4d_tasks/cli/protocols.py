"""`vlm4d protocols`: the evaluation protocols, one line each, or `--json` whole.

The declarations are `vlm4d_tasks/lmms/protocols.json` (checked on load by
`vlm4d_tasks.lmms.protocol_declarations.load_declarations`): each setting with the repository, file and line
it was read from. `--json` prints them sorted, so two runs give the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="one protocol (or alias) only")
    parser.add_argument("--json", action="store_true", help="print the declarations whole")


def _line(decl) -> str:
    d = decl.decoding
    sampling = "greedy" if d["do_sample"] is False else "sampling" if d["do_sample"] else "backend"
    parts = [
        f"decoding {sampling}",
        f"temperature {_v(d['temperature'])}",
        f"max_new_tokens {_v(d['max_new_tokens'])}",
        f"frames {_frames(decl.frames)}",
        f"scorer {decl.scorer.get('name')}",
    ]
    if decl.models:
        parts.append(f"{len(decl.models)} per-model settings")
    alias = f" (alias {', '.join(decl.aliases)})" if decl.aliases else ""
    return f"{decl.name}{alias}: {'; '.join(parts)} - {decl.summary}"


def _frames(frames) -> str:
    if frames.get("rule") != "per_task":
        return str(frames.get("rule"))
    # each task fixes its own: name them all, so that one line says which task samples what
    from vlm4d_tasks.lmms.protocol_run import per_task_frames_key

    parts = [
        f"{task} {'the model' if want.get('rule') == 'model' else per_task_frames_key(want)}"
        for task, want in sorted(frames.get("tasks", {}).items())
    ]
    return f"per task ({', '.join(parts)})"


def _v(value) -> str:
    return "backend default" if value is None else str(value)


def run(args: argparse.Namespace) -> int:
    from vlm4d_tasks.lmms.protocol_declarations import DeclarationError, declaration, declarations

    try:
        chosen = [declaration(args.name)] if args.name else list(declarations().values())
    except (ValueError, DeclarationError) as exc:
        print(f"vlm4d protocols: {exc}", file=sys.stderr)
        print("fix: name a protocol `vlm4d protocols` lists", file=sys.stderr)
        return 2
    if args.json:
        doc = {decl.name: decl.to_dict() for decl in chosen}
        print(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False))
        return 0
    for decl in sorted(chosen, key=lambda d: d.name):
        print(_line(decl))
    return 0
