"""The text prompt of a VLM4D question, in the paper's two settings.

VLM4D (ICCV 2025, "Towards Spatiotemporal Awareness in Vision Language Models", Sec. 4)
evaluates every model with a chain-of-thought prompt (the main results: the model reasons, then
ends with "Therefore, the final answer is: X") and with a direct-output prompt (the option
letter only). Both show the question and the lettered options "A: text" one per line. The
wording lives in `vlm4d_tasks/lmms/tasks/prompt_cot.jinja` and `prompt_direct.jinja`, which share
the options block (`prompt_options.jinja`, all beside the task YAMLs).

The styles `official_cot` and `official_direct` are the official evaluation's own prompts
(`MULTI_CHOICE_COT_PROMPT`, `MULTI_CHOICE_DO_PROMPT` of github.com/ShijieZhou-UCLA/VLM4D
`utils/constant.py`, MIT licence), byte for byte: `vlm4d_tasks/lmms/tasks/prompt_official_cot.jinja`,
`prompt_official_direct.jinja`. They are rendered verbatim, leading and trailing newlines
included (the protocol `official`, see `vlm4d_tasks.lmms.protocol`); our own styles are stripped.

`render_prompt` is pure: a record (or a dataset row) in, a string out, no file other than the
packaged templates read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vlm4d_tasks.data.schema import LETTERS, field_of

STYLES: dict[str, str] = {
    "cot": "prompt_cot.jinja",
    "direct": "prompt_direct.jinja",
    "official_cot": "prompt_official_cot.jinja",
    "official_direct": "prompt_official_direct.jinja",
}
DEFAULT_STYLE = "cot"
# Rendered byte for byte: the official layout starts with a newline (and the direct prompt
# ends with one), which is part of what the official models saw.
VERBATIM_STYLES = frozenset({"official_cot", "official_direct"})


def render_prompt(
    record: Any, style: str = DEFAULT_STYLE, pre_prompt: str = "", post_prompt: str = ""
) -> str:
    """The prompt of `record` (a `Record` or a dataset row) in `style` (a key of `STYLES`).

    `pre_prompt` and `post_prompt` are pasted verbatim before and after it (lmms-eval's
    per-model `lmms_eval_specific_kwargs`).
    """
    from vlm4d_tasks.templating import render

    if style not in STYLES:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {sorted(STYLES)}")
    options = list(field_of(record, "options"))
    if len(options) > len(LETTERS):
        uid = field_of(record, "uid") if isinstance(record, Mapping) and "uid" in record else "?"
        raise ValueError(f"record {uid}: field 'options': {len(options)} options, at most 4")
    body = render(
        "vlm4d_tasks.lmms.tasks",  # the templates sit beside the task YAMLs that use them
        STYLES[style],
        question=field_of(record, "question"),
        options=options,
        letters=list(LETTERS[: len(options)]),
    )
    if style not in VERBATIM_STYLES:
        # Templates may end with a newline or not (editors differ); our prompts never do.
        body = body.strip()
    return f"{pre_prompt or ''}{body}{post_prompt or ''}"
