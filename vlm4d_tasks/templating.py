"""Jinja rendering of the templates that live beside the code that uses them.

Each sub-package keeps its templates in its own folder: the prompts beside the task YAMLs
(`vlm4d_tasks.lmms.tasks`), the judge prompts beside the judge (`vlm4d_tasks.metric`), the
dataset card beside the dataset builder (`vlm4d_tasks.data`), the probe's question wordings
beside the probe (`vlm4d_tasks.probe`). They are read with `importlib.resources`, so they load
the same from a checkout, an editable install or a wheel. `StrictUndefined`: a missing variable
is an error, never an empty string silently pasted into a prompt.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any


@functools.cache
def environment(package: str):
    """One Jinja environment per package: `{% from "x.jinja" import ... %}` finds its siblings."""
    import jinja2

    def load(name: str) -> str:
        try:
            return resources.files(package).joinpath(name).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"template {name!r} not found in package {package}") from exc

    return jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def template_names(package: str) -> list[str]:
    return sorted(
        entry.name for entry in resources.files(package).iterdir() if entry.name.endswith(".jinja")
    )


def render(package: str, template_name: str, /, **context: Any) -> str:
    """Render `template_name` from the folder of `package` (e.g. "vlm4d_tasks.metric")."""
    return environment(package).get_template(template_name).render(**context)
