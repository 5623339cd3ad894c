"""Reading a judge's reply: the verdict (chosen option, correct) out of the JSON or text an
LLM answers with, in one linear pass whatever the reply holds (`<think>` blocks stripped,
JSON objects found by a brace scan without recursion, nested blocks past `MAX_JSON_DEPTH`
skipped), so a hostile reply costs time in its length only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from vlm4d_tasks.data.official import NO_VALID_ANSWER, option_label
from vlm4d_tasks.data.schema import LETTERS, same_text_key
from vlm4d_tasks.metric.redact import redact


class MalformedReply(ValueError):
    """A judge reply with no usable verdict (counts as a failed call: retried)."""


# --- reply parsing -------------------------------------------------------------------------


@dataclass(frozen=True)
class JudgeReply:
    letter: str | None  # None = "No Valid Answer"
    extracted_answer: str  # normalized: "C: right" / "No Valid Answer"
    judge_correct: bool | None  # what the judge said; correctness is recomputed from `letter`


_THINK_TAG = re.compile(r"<(/?)think>", re.I)
# JSON nested deeper than this is no verdict ({"extracted_answer": ..., "correct": ...} is one
# level; a wrapper or two around it is fine). Deeper spans are skipped unparsed: json's
# decoder recurses per level, and '{"a":' * 2000 would raise RecursionError.
MAX_JSON_DEPTH = 32
_FENCE = re.compile(r"```(?:json|JSON)?")
_NO_VALID = re.compile(r"no\s+valid\s+answer", re.I)
_LEADING_LETTER = re.compile(r"^\s*[\"'(\[*]*\s*([A-D])\s*(?:[\])*\"']*\s*(?:[:.)\-]|$))")
_KEYED_ANSWER = re.compile(r"extracted[_ ]answer[\"']?\s*[:=]\s*[\"']?([^\"'\n}]+)", re.I)
_KEYED_CORRECT = re.compile(r"correct[\"']?\s*[:=]\s*[\"']?(true|false|yes|no)\b", re.I)
_ANSWER_KEYS = ("extracted_answer", "extractedanswer", "extracted answer", "answer")


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "yes", "false", "no"}:
        return value.strip().lower() in {"true", "yes"}
    return None


def _strip_think(text: str) -> str:
    """`text` without its <think>...</think> blocks (any case): each from an opening tag to
    the first closing tag after it; an opening tag never closed stays, with what follows.

    One pass over the tags: the regex `<think>.*?</think>` rescans the rest of the text from
    every unclosed opening tag (quadratic: a 280 KB reply of opening tags took 37 s)."""
    out: list[str] = []
    kept, opened = 0, -1  # kept: where the text not yet copied starts; opened: an open tag
    for tag in _THINK_TAG.finditer(text):
        if not tag.group(1):
            if opened < 0:
                opened = tag.start()
        elif opened >= 0:
            out.append(text[kept:opened])
            kept, opened = tag.end(), -1
    out.append(text[kept:])
    return "".join(out)


_JSON_MARK = re.compile(r'\{+|[}"\\]')  # a run of "{" is one match: pushed at once


def _brace_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each balanced {...} span of `text` not inside another one, in order,
    leaving out spans nested deeper than MAX_JSON_DEPTH. Quotes count inside braces only (a
    JSON string may hold a brace; prose around it may hold a lone quote).

    One pass over the braces, quotes and backslashes: linear. (Trying json's raw_decode at
    every "{", as before, rescanned the rest of the text each time: quadratic.)"""
    spans: list[tuple[int, int]] = []
    starts: list[int] = []  # positions of the "{" not yet closed
    deepest: list[int] = []  # per open "{": the deepest level reached inside it
    in_string, escaped_at = False, -1  # escaped_at: the position a backslash escapes
    for match in _JSON_MARK.finditer(text):
        at = match.start()
        char = text[at]
        if in_string:
            if char == "{" or at == escaped_at:
                continue  # text, or an escaped quote or backslash
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == "{":
            level, end = len(starts), match.end()
            starts.extend(range(at, end))
            deepest.extend(range(level + 1, level + 1 + end - at))
        elif char == '"':
            in_string = bool(starts)
        elif starts:  # "}"
            start, inner = starts.pop(), deepest.pop()
            if deepest and deepest[-1] < inner:
                deepest[-1] = inner
            while spans and spans[-1][0] > start:
                spans.pop()  # inside this one: parsed with it
            if inner - len(starts) <= MAX_JSON_DEPTH:
                spans.append((start, at + 1))
            if not starts:
                in_string = False
    return spans


def _json_objects_last_first(text: str) -> Iterator[dict]:
    """Every JSON object in `text`, nested ones included, the last to start first. Lazy: the
    spans are parsed from the end, and the caller stops at the first verdict (a reply of
    140,000 "{}" before its verdict parses one span, not 140,000)."""
    for start, end in reversed(_brace_spans(text)):
        try:
            obj = json.loads(text[start:end])
        except (ValueError, RecursionError):
            continue
        found: list[dict] = []
        stack = [obj]  # depth-first, outer before inner, without recursion
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                found.append(value)
                stack.extend(reversed(list(value.values())))
            elif isinstance(value, list):
                stack.extend(reversed(value))
        yield from reversed(found)


def _letter_of(extracted: str, options: Sequence[str]) -> str | None:
    """Letter named by an extraction string; raises MalformedReply when it names none."""
    text = extracted.strip()
    if _NO_VALID.search(text):
        return None
    match = _LEADING_LETTER.match(text)
    if match:
        return match.group(1)
    key = same_text_key(text.strip(" .\"'"))
    hits = [L for L, o in zip(LETTERS, options) if same_text_key(o) == key]
    if len(hits) == 1:
        return hits[0]
    # redacted before it is cut: a secret cut in two would pass redaction half by half
    shown = repr(redact(text)[:200]) + (
        f" (... {len(text):,} characters)" if len(text) > 200 else ""
    )
    raise MalformedReply(f"extracted answer {shown} names no option")


def parse_reply(content: object, options: Sequence[str]) -> JudgeReply:
    """The verdict in a judge reply: JSON (possibly fenced or followed by text), a
    python-ish `extracted_answer: ...` line, or a bare "B: left" / "No Valid Answer"."""
    if not isinstance(content, str) or not content.strip():
        raise MalformedReply("empty reply")
    text = _FENCE.sub("", _strip_think(content)).strip()
    extracted: str | None = None
    judge_correct: bool | None = None
    for obj in _json_objects_last_first(text):  # the last object is the final answer
        lowered = {str(k).strip().lower(): v for k, v in obj.items()}
        value = next((lowered[k] for k in _ANSWER_KEYS if k in lowered), None)
        if value is None:
            continue
        extracted = NO_VALID_ANSWER if value == "" else str(value)
        judge_correct = _as_bool(lowered.get("correct"))
        break
    if extracted is None:
        keyed = _KEYED_ANSWER.search(text)
        if keyed:
            extracted = keyed.group(1)
            flag = _KEYED_CORRECT.search(text)
            judge_correct = _as_bool(flag.group(1)) if flag else None
        else:
            first_line = text.splitlines()[0] if text else ""
            extracted = first_line
    letter = _letter_of(extracted, options)
    return JudgeReply(letter, option_label(letter, options), judge_correct)
