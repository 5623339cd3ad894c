"""The VLM4D metric: answer extraction, the LLM judge (client, cache, prompts), grading modes,
accuracy and breakdowns, response files, and the score document's reports.

`pipeline` is the one path from responses to a score document, used by `vlm4d score`, the
lmms-eval metric and the probe diagnosis alike."""
