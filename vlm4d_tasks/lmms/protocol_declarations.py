"""The protocol declarations: `protocols.json` beside this module, read and checked.

One declaration per protocol (prompt, frames, resolution, decoding, scorer), each setting with
the repository, file and line it was read from. Loaded lazily, once, by `declarations()`, and
checked on load (`DeclarationError` names the file, the protocol and the field). The protocols
themselves and the task names they make are `lmms.protocol`; what a run applied of them is
`lmms.protocol_run`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

DECLARATIONS_FILE = "protocols.json"


SECTIONS: tuple[str, ...] = ("prompt", "frames", "resolution", "decoding", "scorer")


# Every decoding block names all of these; null means the protocol leaves it to the backend.
DECODING_KEYS: tuple[str, ...] = (
    "do_sample", "temperature", "top_p", "top_k", "max_new_tokens", "seed",
)  # fmt: skip


SOURCE_KEYS: tuple[str, ...] = ("repo", "file", "line", "quote")


_PLACEHOLDER = re.compile(r"\{(question|A|B|C|D)\}")


class DeclarationError(ValueError):
    """A protocol declaration that does not have the shape `Declaration` expects."""


@dataclass(frozen=True)
class Declaration:
    """One protocol as data. Each section is a mapping with its `sources`; see protocols.json."""

    name: str
    aliases: tuple[str, ...]
    summary: str
    prompt: Mapping[str, Any]
    frames: Mapping[str, Any]
    resolution: Mapping[str, Any]
    decoding: Mapping[str, Any]
    scorer: Mapping[str, Any]
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The declaration as stored (JSON-ready)."""
        import copy

        out = {section: copy.deepcopy(dict(getattr(self, section))) for section in SECTIONS}
        out.update(
            name=self.name,
            aliases=list(self.aliases),
            summary=self.summary,
            models=copy.deepcopy({k: dict(v) for k, v in self.models.items()}),
        )
        return out

    def model_settings(self, model: str | None) -> tuple[str, Mapping[str, Any]] | None:
        """The per-model settings (key, settings) that `model` names, or None.

        `model` is a hub id or a path (`Qwen/Qwen2.5-VL-7B-Instruct`, `/models/Qwen2.5-VL-7B-Instruct`),
        a published file name (`Qwen2.5-VL-7B-Instruct_1fps`) or the bare model name; case is
        ignored. The match is exact on the last path component: `Qwen2.5-VL-7B` does not name
        `Qwen2.5-VL-72B-Instruct`.
        """
        if not model:
            return None
        wanted = PurePath(str(model).strip().rstrip("/")).name.removesuffix(".json").lower()
        for key in sorted(self.models):
            settings = self.models[key]
            names = {key.lower(), key.rsplit("_", 1)[0].lower()}
            names.add(PurePath(str(settings.get("model_id", ""))).name.lower())
            if wanted in names:
                return key, settings
        return None

    def render_prompt(self, record: Any, style: str = "direct") -> str:
        """The prompt of `record` (a `Record` or a dataset row) for a `format`-style template.

        One pass over the template: the question and option texts are pasted as they are, so
        braces in them are never read as placeholders.
        """
        if self.prompt.get("style") != "format":
            raise ValueError(
                f"protocol {self.name}: its prompts are task templates "
                f"({', '.join(sorted(self.prompt['templates'].values()))}); render them through "
                "vlm4d_tasks.lmms.prompts.render_prompt"
            )
        template = self.prompt["templates"][style]
        question = record["question"] if isinstance(record, Mapping) else record.question
        options = record["options"] if isinstance(record, Mapping) else record.options
        values = {"question": str(question)}
        values.update({letter: str(text) for letter, text in zip("ABCD", options, strict=False)})
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)

    def applied(self, model: str | None = None) -> dict[str, Any]:
        """What a run under this protocol applies (for its metadata), per-model settings first."""
        matched = self.model_settings(model)
        settings = matched[1] if matched else {}

        def plain(section: Mapping[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in sorted(section.items()) if k != "sources"}

        return {
            "name": self.name,
            "model": model,
            "model_settings": matched[0] if matched else None,
            "prompt": plain(self.prompt),
            "frames": plain(settings.get("frames", self.frames)),
            "resolution": plain(self.resolution),
            "decoding": plain(settings.get("decoding", self.decoding)),
            "scorer": plain(self.scorer),
        }


def _require(cond: bool, where: str, problem: str) -> None:
    if not cond:
        raise DeclarationError(f"{where}: {problem}")


def _check_sources(sources: Any, where: str) -> None:
    _require(isinstance(sources, list), where, "`sources` must be a list")
    for i, source in enumerate(sources):
        at = f"{where}.sources[{i}]"
        _require(isinstance(source, dict), at, "must be an object")
        missing = [key for key in SOURCE_KEYS if key not in source]
        _require(not missing, at, f"missing {', '.join(missing)}")
        _require(isinstance(source["line"], int) and source["line"] > 0, at, "line must be >= 1")
        _require(bool(source["file"]) and bool(source["repo"]), at, "repo and file must be set")


def _check_section(section: Any, where: str, *, decoding: bool = False) -> None:
    _require(isinstance(section, dict), where, "must be an object")
    _check_sources(section.get("sources"), where)
    if decoding:
        missing = [key for key in DECODING_KEYS if key not in section]
        _require(not missing, where, f"missing {', '.join(missing)} (null = backend default)")
        sample = section["do_sample"]
        _require(sample in (True, False, None), where, "do_sample must be true, false or null")


def check_declarations(doc: Any, origin: str = DECLARATIONS_FILE) -> dict[str, Declaration]:
    """The declarations of a parsed protocols file; a wrong shape raises DeclarationError
    naming the file, the protocol and the field."""
    _require(isinstance(doc, dict), origin, "must be a JSON object")
    _require(doc.get("format_version") == 1, origin, "format_version must be 1")
    protocols = doc.get("protocols")
    _require(isinstance(protocols, dict) and bool(protocols), origin, "no `protocols` object")
    out: dict[str, Declaration] = {}
    seen: dict[str, str] = {}
    for name, raw in protocols.items():
        where = f"{origin}: protocol {name!r}"
        _require(isinstance(raw, dict), where, "must be an object")
        _require(raw.get("name") == name, where, "`name` must equal its key")
        for section in SECTIONS:
            _require(section in raw, where, f"missing section `{section}`")
            _check_section(raw[section], f"{where} {section}", decoding=section == "decoding")
        templates = raw["prompt"].get("templates")
        _require(isinstance(templates, dict) and bool(templates), f"{where} prompt", "no templates")
        models = raw.get("models", {})
        _require(isinstance(models, dict), where, "`models` must be an object")
        for key, settings in models.items():
            at = f"{where} model {key!r}"
            _require(isinstance(settings, dict), at, "must be an object")
            _require(bool(settings.get("model_id")), at, "missing model_id")
            _check_section(settings.get("frames"), f"{at} frames")
            _check_section(settings.get("decoding"), f"{at} decoding", decoding=True)
        aliases = tuple(raw.get("aliases", ()))
        for label in (name, *aliases):
            _require(label not in seen, where, f"name {label!r} already used by {seen.get(label)}")
            seen[label] = name
        out[name] = Declaration(
            name=name,
            aliases=aliases,
            summary=str(raw.get("summary", "")),
            models=models,
            **{section: raw[section] for section in SECTIONS},
        )
    return out


def load_declarations(path: str | PurePath | None = None) -> dict[str, Declaration]:
    """The declarations of `path`, or of the shipped `protocols.json` (None)."""
    if path is None:
        from importlib import resources

        origin = f"vlm4d_tasks/lmms/{DECLARATIONS_FILE}"
        text = resources.files("vlm4d_tasks.lmms").joinpath(DECLARATIONS_FILE).read_text("utf-8")
    else:
        from vlm4d_tasks.data.files import read_regular_text

        origin = str(path)
        text = read_regular_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeclarationError(f"{origin}: not JSON ({exc})") from None
    return check_declarations(doc, origin)


def declarations() -> dict[str, Declaration]:
    """The shipped declarations, loaded once."""
    return dict(_shipped())


@functools.lru_cache(maxsize=1)
def _shipped() -> tuple[tuple[str, Declaration], ...]:
    return tuple(sorted(load_declarations().items()))


def declaration(name: str) -> Declaration:
    """The shipped declaration of protocol `name` or one of its aliases (`greedy` = `default`)."""
    for decl in declarations().values():
        if name == decl.name or name in decl.aliases:
            return decl
    known = sorted(n for d in declarations().values() for n in (d.name, *d.aliases))
    raise ValueError(f"unknown protocol {name!r}; expected one of {', '.join(known)}")
