"""Baseline lmms-eval models that need no weights, registered as a plugin.

* `vlm4d_random`: a seeded uniform choice per question (about 25% on a four-way benchmark),
  answered in the chain-of-thought format ("Therefore, the final answer is: B").
* `vlm4d_replay`: replays an official-format response file (`[{id, response, ...}]`, the
  layout of the VLM4D release's model outputs), so published outputs can be scored through
  lmms-eval end to end.
* `vlm4d_prior`: the blind option-text prior (estimated on the task's questions on other clips);
  it never reads the video, and it scores far above chance on VLM4D.

lmms-eval 0.7.3 finds them through the `lmms_eval.models` entry-point group (`manifests`
below, declared in setup.cfg). Importing this package does no work.
"""

from __future__ import annotations

# model name -> class, in the module of the same name
AVAILABLE_MODELS: dict[str, str] = {
    "vlm4d_random": "RandomChoice",
    "vlm4d_replay": "Replay",
    "vlm4d_prior": "OptionPrior",
}


# The models that never call a request's `doc_to_visual` (replay answers from a file, the
# prior from the option texts): `vlm4d eval`'s preflight looks for no video for them, so
# published answers can be replayed, and the prior run, without the release's videos.
# (`vlm4d_random` resolves each visual input by default, as a real model would.)
VIDEO_FREE_MODELS: frozenset[str] = frozenset({"vlm4d_replay", "vlm4d_prior"})


def manifests() -> list:
    """The entry point's payload: one `ModelManifest` per model (lmms-eval imported lazily)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return [
        ModelManifest(model_id=name, simple_class_path=f"{__name__}.{name}.{cls}")
        for name, cls in AVAILABLE_MODELS.items()
    ]
