"""`vlm4d_prior`: the blind option-text prior, a baseline that never sees the video.

Each question's options are scored by how often that option text is the right answer when it
is offered in the questions on the OTHER clips of the same task (leave-one-video-out,
`validity.prior`), and the best-scoring letter is answered in the chain-of-thought format
("Therefore, the final answer is: B"). Nothing is random and no visual input is read, so the
same questions give the same answers in any process. On VLM4D it scores far above chance (see
the validity section of the README): a benchmark number is only meaningful next to this row.
"""

from __future__ import annotations

from lmms_eval.api.model import lmms

from vlm4d_tasks.data.schema import Record


class OptionPrior(lmms):
    """Leave-one-out option-text prior over the task's questions; `variant` as in
    `validity.prior.prior_scores` ("rate" or "smoothed")."""

    def __init__(self, variant: str = "rate", **kwargs) -> None:
        super().__init__()
        from vlm4d_tasks.validity.prior import VARIANTS

        if variant not in VARIANTS:
            raise ValueError(f"vlm4d_prior: variant must be one of {sorted(VARIANTS)}, "
                             f"got {variant!r} (--model_args variant=...)")  # fmt: skip
        self.variant = variant
        self._choices: dict[tuple[str, str], dict[str, str]] = {}

    def _choices_of(self, task: str, split: str) -> dict[str, str]:
        # The pool is the whole task (every document, whichever process answers it), so the
        # answer of a question does not depend on how the requests were split.
        if (task, split) not in self._choices:
            from vlm4d_tasks.validity.prior import prior_choices

            records = [Record.from_dict(dict(doc)) for doc in self.task_dict[task][split]]
            self._choices[task, split] = prior_choices(records, variant=self.variant)
        return self._choices[task, split]

    def generate_until(self, requests) -> list[str]:
        answers = []
        for request in requests:
            _context, _gen_kwargs, _doc_to_visual, doc_id, task, split = request.args
            doc = self.task_dict[task][split][doc_id]
            letter = self._choices_of(task, split)[doc["uid"]]
            answers.append(f"Therefore, the final answer is: {letter}")
        return answers

    def loglikelihood(self, requests):
        raise NotImplementedError("vlm4d_prior only generates answers")

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("vlm4d_prior only generates answers")
