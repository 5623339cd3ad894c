"""Jinja rendering of the templates shipped in `vlm4d_tasks.templates`.

Templates are read with `importlib.resources`, so they load the same from a checkout, an
editable install or a wheel. `StrictUndefined`: a missing variable is an error, never an
empty string silently pasted into a prompt.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

TEMPLATE_PACKAGE = "vlm4d_tasks.templates"


@functools.lru_cache(maxsize=1)
def environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_source),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _load_source(name: str) -> str:
    try:
        return resources.files(TEMPLATE_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise FileNotFoundError(
            f"template {name!r} not found in package {TEMPLATE_PACKAGE}"
        ) from exc


def template_names() -> list[str]:
    return sorted(
        entry.name
        for entry in resources.files(TEMPLATE_PACKAGE).iterdir()
        if entry.name.endswith(".jinja")
    )


def render(template_name: str, /, **context: Any) -> str:
    return environment().get_template(template_name).render(**context)


def render_string(source: str, /, **context: Any) -> str:
    """Render a template given as text (for user-supplied templates)."""
    return environment().from_string(source).render(**context)
