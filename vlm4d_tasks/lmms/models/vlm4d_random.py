"""`vlm4d_random`: the chance baseline of a four-way multiple-choice benchmark.

Each question gets a letter drawn uniformly from A-D by a hash of (seed, question uid), so the
answer of a question does not depend on batch size, process count or order: the same seed
gives the same answers everywhere. It answers in the chain-of-thought format the VLM4D prompt
asks for, "Therefore, the final answer is: B". Expected accuracy: 25%.
"""

from __future__ import annotations

from lmms_eval.api.model import lmms

# The rule lives with the score document's random row (`validity.baselines`), so both agree.
from vlm4d_tasks.validity.baselines import random_letter as choose


class RandomChoice(lmms):
    """Seeded uniform answers; `touch_visuals` resolves each document's visual input first."""

    def __init__(self, seed: int | str = 0, touch_visuals: bool | str = True, **kwargs) -> None:
        super().__init__()
        self.seed = int(seed)
        self.touch_visuals = str(touch_visuals).lower() not in ("false", "0", "no")

    def _doc(self, task: str, split: str, doc_id: int):
        return self.task_dict[task][split][doc_id]

    def generate_until(self, requests) -> list[str]:
        answers = []
        for request in requests:
            context, _gen_kwargs, doc_to_visual, doc_id, task, split = request.args
            doc = self._doc(task, split, doc_id)
            if self.touch_visuals and doc_to_visual is not None:
                # Resolves the video (or decodes the frames): a missing file fails here, by name.
                doc_to_visual(doc)
            key = doc["uid"] if isinstance(doc, dict) and "uid" in doc else context
            answers.append(f"Therefore, the final answer is: {choose(self.seed, key)}")
        return answers

    def loglikelihood(self, requests):
        raise NotImplementedError("vlm4d_random only generates answers")

    def generate_until_multi_round(self, requests):
        raise NotImplementedError("vlm4d_random only generates answers")
