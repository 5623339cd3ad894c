"""`vlm4d_replay`: answers read from official-format response files.

The VLM4D release publishes each model's outputs as a JSON list per subset,
`[{"id", "question", "choices", "response", ...}]`, in folders named `real_mc_*` /
`synthetic_mc_*`. This model answers each question with the `response` recorded for it, keyed
by subset and id (the document's `uid`), so a published run can be scored through lmms-eval
end to end, with the same verdicts as `vlm4d score` on the same file.

Model arguments (lmms-eval's `--model_args`, comma-separated, so one path per argument):
`responses=PATH` a file or a folder (searched recursively for *.json), the subset of each file
taken from its path; or `real=FILE` / `synthetic=FILE` / `probe=FILE` naming the subset.
A question without a recorded response is an error naming it, unless `missing=empty`.

A file's letters mean the options as the file lists them, which may be another order than
the dataset's (a re-lettered or re-shuffled release). As `vlm4d score --annotations` grades
such an entry as asked (`metric.responses.as_asked`), the replay answers with the option the
file's answer chose: its letter under the file's own options (`metric.extract`), then the
dataset's letter for that option text ("Therefore, the final answer is: C"); a text the
dataset does not offer is no answer. Entries whose options match the dataset's are replayed
as recorded. One warning line counts the entries that differ, per kind
(`metric.responses.stale_kinds`). Unlike `vlm4d score`, an entry whose question or ground
truth changed is graded against the dataset's, and a re-lettered answer is decided by the
rules, never by a judge (the judge would read the file's letters against the dataset's options).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lmms_eval.api.model import lmms

from vlm4d_tasks.data.schema import LETTERS, Record, Subset, same_text_key
from vlm4d_tasks.metric.responses import Response, StaleKind


def load_entries(files: dict[str, Subset | None]) -> dict[str, Response]:
    """uid -> recorded entry, from files (path -> subset, None = from the path)."""
    from vlm4d_tasks.metric.responses import ResponseFileError, load_response_file

    by_uid: dict[str, Response] = {}
    origin: dict[str, str] = {}
    for path, subset in files.items():
        file = load_response_file(path, subset)
        for response in file.responses:
            uid = file.uid(response)
            if uid in by_uid:
                raise ResponseFileError(
                    f"{path}: record {response.question_id}: field 'id': {uid} is also in {origin[uid]}"
                )
            by_uid[uid], origin[uid] = response, path
    return by_uid


def load_responses(files: dict[str, Subset | None]) -> dict[str, object]:
    """uid -> recorded response (the model's raw output), from files as `load_entries`."""
    return {uid: entry.response for uid, entry in load_entries(files).items()}


def in_dataset_letters(entry: Response, doc: Record) -> tuple[object, tuple[StaleKind, ...]]:
    """The answer to replay for `doc` and how `entry` differs from it (`stale_kinds`).

    Options in the dataset's order: the recorded response, as is. Otherwise the option the
    response chose under the entry's own options, in the dataset's letter; "" (no answer)
    when it chose none or one the dataset does not offer."""
    from vlm4d_tasks.metric.extract import extract
    from vlm4d_tasks.metric.responses import stale_kinds

    kinds = stale_kinds(entry, doc)
    asked = [same_text_key(o) for o in entry.options]
    if asked == [same_text_key(o) for o in doc.options]:
        return entry.response, kinds
    found = extract(entry.response, entry.options)
    if found.letter is None:
        return "", kinds
    chosen = asked[LETTERS.index(found.letter)]
    letters = [letter for letter, o in zip(LETTERS, doc.options) if same_text_key(o) == chosen]
    return (f"Therefore, the final answer is: {letters[0]}" if letters else ""), kinds


def stale_warning(stale: Mapping[str, tuple[StaleKind, ...]], total: int) -> str | None:
    """One line on the replayed entries whose question differs from the dataset's (None if
    none does): how many, per kind, and what the replay made of them."""
    if not stale:
        return None
    counts = Counter(kind for kinds in stale.values() for kind in kinds)
    by_kind = ", ".join(f"{kind.value} {counts[kind]}" for kind in StaleKind if counts[kind])
    return (
        f"vlm4d_replay: {len(stale)} of {total} replayed entries differ from the dataset's "
        f"questions ({by_kind}); each answer was mapped through the file's own options to the "
        "dataset's letter of the option text it chose (`vlm4d score --annotations` lists them)"
    )


def response_files(
    responses: str | None = None, **by_subset: str | None
) -> dict[str, Subset | None]:
    files: dict[str, Subset | None] = {}
    if responses:
        root = Path(responses)
        if root.is_dir():
            files.update({str(p): None for p in sorted(root.rglob("*.json"))})
        elif root.is_file():
            files[str(root)] = None
        else:
            raise FileNotFoundError(f"vlm4d_replay: responses={responses}: no such file or folder")
    for subset, path in by_subset.items():
        if path:
            if not Path(path).is_file():
                raise FileNotFoundError(f"vlm4d_replay: {subset}={path}: no such file")
            files[str(path)] = Subset(subset)
    if not files:
        raise ValueError("vlm4d_replay needs responses=PATH or real=/synthetic=/probe=FILE")
    return files


class Replay(lmms):
    """Answers each question with the response a file recorded for it."""

    def __init__(
        self,
        responses: str | None = None,
        real: str | None = None,
        synthetic: str | None = None,
        probe: str | None = None,
        missing: str = "error",
        **kwargs,
    ) -> None:
        super().__init__()
        if missing not in ("error", "empty"):
            raise ValueError(f"vlm4d_replay: missing={missing!r}: expected 'error' or 'empty'")
        self.files = response_files(responses, real=real, synthetic=synthetic, probe=probe)
        self.entries = load_entries(self.files)
        self.responses = {uid: entry.response for uid, entry in self.entries.items()}
        self.missing = missing

    def generate_until(self, requests) -> list[str]:
        answers = []
        stale: dict[str, tuple[StaleKind, ...]] = {}
        replayed: set[str] = set()
        for request in requests:
            _context, _gen_kwargs, _doc_to_visual, doc_id, task, split = request.args
            uid = self.task_dict[task][split][doc_id]["uid"]
            if uid not in self.responses:
                if self.missing == "empty":
                    answers.append("")
                    continue
                raise KeyError(
                    f"vlm4d_replay: question {uid} (task {task}) has no response in "
                    f"{sorted(self.files)}; pass missing=empty to count it as no answer"
                )
            doc = Record.from_dict(dict(self.task_dict[task][split][doc_id]))
            response, kinds = in_dataset_letters(self.entries[uid], doc)
            replayed.add(uid)
            if kinds:
                stale[uid] = kinds
            # as `vlm4d score` reads it: no response is an empty answer
            answers.append("" if response is None else str(response))
        warning = stale_warning(stale, len(replayed))
        if warning:
            _logger().warning(warning)
        return answers

    def loglikelihood(self, requests):
        raise NotImplementedError("vlm4d_replay only replays generated answers")

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("vlm4d_replay only replays generated answers")


def _logger() -> Any:
    from loguru import logger  # lmms-eval's logger: the line shows in its output

    return logger
