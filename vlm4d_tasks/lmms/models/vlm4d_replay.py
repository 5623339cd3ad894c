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
"""

from __future__ import annotations

from pathlib import Path

from lmms_eval.api.model import lmms

from vlm4d_tasks.data.schema import Subset


def load_responses(files: dict[str, Subset | None]) -> dict[str, object]:
    """uid -> recorded response, from files (path -> subset, None = from the path)."""
    from vlm4d_tasks.metric.responses import ResponseFileError, load_response_file

    by_uid: dict[str, object] = {}
    origin: dict[str, str] = {}
    for path, subset in files.items():
        file = load_response_file(path, subset)
        for response in file.responses:
            uid = file.uid(response)
            if uid in by_uid:
                raise ResponseFileError(
                    f"{path}: record {response.question_id}: field 'id': {uid} is also in {origin[uid]}"
                )
            by_uid[uid], origin[uid] = response.response, path
    return by_uid


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
        self.responses = load_responses(self.files)
        self.missing = missing

    def generate_until(self, requests) -> list[str]:
        answers = []
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
            response = self.responses[uid]
            # as `vlm4d score` reads it: no response is an empty answer
            answers.append("" if response is None else str(response))
        return answers

    def loglikelihood(self, requests):
        raise NotImplementedError("vlm4d_replay only replays generated answers")

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("vlm4d_replay only replays generated answers")
