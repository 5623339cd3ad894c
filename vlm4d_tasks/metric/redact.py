"""Redaction of the judge's secrets: API keys (given in code or read from the judge's key
variables, the secret ones of `vlm4d_tasks.settings`), URL credentials (user, password) and every URL query value in written, decoded and
re-encoded forms, Bearer/Basic tokens and sk-... keys, so that no message, log line, output or
cache row holds one (`redact`, `redact_data`), and an endpoint named without them
(`public_url`). One step for every message and file of the judge and score path.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import threading
import urllib.parse
from collections.abc import Sequence
from typing import Any

from vlm4d_tasks.settings import secret_values

REDACTED = "[REDACTED]"
# Literal keys shorter than this are not hidden: local servers take "EMPTY" or "none", and
# replacing every such word would garble each message without protecting anything. (URL
# credentials of any length are still cut out of URLs by the patterns and `public_url`.)
MIN_SECRET_LENGTH = 8
_SECRET_NAMES = (
    r"api[_-]?key|apikey|key|token|access[_-]?token|auth|secret|client[_-]?secret|password"
    r"|passwd|pass|sig|signature|code"
)
# What follows "://" in running text, up to whitespace, a quote or an angle bracket: a URL
# without its scheme (which holds no secret). Found by its literal "://" and matched whole (no
# backtracking into it), then cleaned by `_hide_url`, so that redaction stays linear and fast
# whatever the text holds (a response file's texts pass through it too).
_URL = re.compile(r"://([^\s\"'<>]*)")
_QUERY_VALUE = re.compile(r"([?#&;](?:[^=&;#?]*=)?)[^&;#?]+")  # a name (or none), its value
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # key-like query parameters outside a full URL: "GET /v1?api_key=...", &token=..., &sig=...
    (re.compile(rf"([?&;](?:{_SECRET_NAMES})=)[^&#;\s\"'<>]+", re.I), rf"\1{REDACTED}"),
    # an Authorization header value, echoed: "Bearer <token>", "Basic <base64>"
    (re.compile(r"(\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9._~+/=-]{4,}", re.I), rf"\1{REDACTED}"),
    # OpenAI-style keys anywhere: sk-..., sk-proj-...
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), REDACTED),
    # "api_key": "...", password=... in an echoed configuration
    (
        re.compile(
            r"""(\b(?:api[_-]?key|apikey|access[_-]?token|client[_-]?secret|password|secret)"""
            r"""["']?\s*[:=]\s*["']?)[^\s"',;&}]{4,}""",
            re.I,
        ),
        rf"\1{REDACTED}",
    ),
)
_registered: set[str] = set()
_registered_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret (an API key given in code or read from a variable named on the
    command line, a judge URL's credentials) so that `redact` hides it from then on, in this
    process, as given and in its percent-encoded and percent-decoded forms."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _registered_lock:
            _registered.add(value)


def host_ok(host: str) -> bool:
    """A host the HTTP stack can look up: every label 1-63 characters (the socket layer's
    IDNA encoding raises on "a..b" from a worker thread, a traceback), and a non-ASCII name
    that IDNA 2008 encodes, as the HTTP client will ("１２７.０.０.１" in full-width digits
    is not one)."""
    if ":" in host:  # an IPv6 literal: urlsplit checked it
        return True
    try:
        host.encode("idna")
    except UnicodeError:
        return False
    if host.isascii():
        return True
    try:
        import idna
    except ImportError:
        return False
    try:
        idna.encode(host)
    except idna.IDNAError:
        return False
    return True


def url_secrets(url: str) -> list[str]:
    """Every credential a judge URL carries, as written and percent-decoded: its userinfo
    (user, password, both, and the Basic token made of them) and every query and fragment
    value, whatever its name.

    Read by hand, not with urlsplit: a password with an unencoded "/", "?" or "#" moves
    urlsplit's idea of the host into the password, and the rest of the password into the path.
    Here the userinfo is everything between "://" and the LAST "@"."""
    text = url.strip()
    rest = text.partition("://")[2] or text
    userinfo, at, after = rest.rpartition("@")
    found: set[str] = set()
    if at:
        user, _, password = userinfo.partition(":")
        plain = [urllib.parse.unquote(user), urllib.parse.unquote(password)]
        basic = base64.b64encode(f"{plain[0]}:{plain[1]}".encode()).decode("ascii")
        found.update((userinfo, user, password, *plain, f"{plain[0]}:{plain[1]}", basic))
    else:
        after = rest
    for mark in "?#":
        if mark in after:
            after = after[after.index(mark) :]
            break
    else:
        after = ""
    for piece in re.split(r"[?#&;]", after):
        value = piece.partition("=")[2] if "=" in piece else piece
        found.update((value, urllib.parse.unquote(value), urllib.parse.unquote_plus(value)))
    return sorted(s for s in found if s)


def _forms(secret: str) -> set[str]:
    """The ways an echo may spell a secret: as given, percent-encoded (strictly, as a form,
    or keeping "/"), percent-decoded, and escaped in a JSON string."""
    out = {secret, urllib.parse.unquote(secret), urllib.parse.unquote_plus(secret)}
    for s in list(out):
        out.update(
            (
                urllib.parse.quote(s, safe=""),
                urllib.parse.quote_plus(s, safe=""),
                urllib.parse.quote(s),
                json.dumps(s)[1:-1],
                json.dumps(s, ensure_ascii=False)[1:-1],
            )
        )
    return out


@functools.lru_cache(maxsize=64)
def _expanded(secrets: frozenset[str]) -> tuple[str, ...]:
    found: set[str] = set()
    for secret in secrets:
        found.update(_forms(secret))
    # longest first: a secret that contains another is replaced whole
    return tuple(sorted((s for s in found if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True))


def _literal_secrets() -> tuple[str, ...]:
    with _registered_lock:
        found = set(_registered)
    # read at each call, as declared (`settings.secret_values`): a key set later is hidden too
    found.update(secret_values())
    found.discard("")
    return _expanded(frozenset(found))


def _hide_url(match: re.Match[str]) -> str:
    """A URL without its userinfo (everything up to its LAST "@", so that a password with an
    unencoded "/", "?" or "#" goes whole) and without any query or fragment value, whatever
    its name: https://u:p@host/v1?api-version=1&sig=x -> https://[REDACTED]@host/v1?
    api-version=[REDACTED]&sig=[REDACTED]."""
    userinfo, at, rest = match.group(1).rpartition("@")
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=-1)
    if cut >= 0:
        rest = rest[:cut] + _QUERY_VALUE.sub(rf"\1{REDACTED}", rest[cut:])
    return "://" + (f"{REDACTED}@" if at else "") + rest


def _redact_with(text: object, secrets: Sequence[str]) -> str:
    out = str(text)
    for secret in secrets:
        if secret in out:
            out = out.replace(secret, REDACTED)
    out = _URL.sub(_hide_url, out)
    for pattern, replacement in _SECRET_PATTERNS:
        out = pattern.sub(replacement, out)
    return out


def redact(text: object) -> str:
    """`text` with every secret replaced by [REDACTED]: the judge's API keys (from its
    variables and every key it was given), its URLs' credentials and query values (each in
    its encoded and decoded forms), Bearer/Basic tokens, sk-... keys, and in any URL the
    userinfo and every query value. The one redaction step for every message, log line,
    exception text and file of the judge and score path."""
    return _redact_with(text, _literal_secrets())


def redact_data(data: Any) -> Any:
    """`redact` applied to every string (keys and values) of a JSON-like structure.

    The secrets are read once per call and each distinct string is redacted once: a score
    document repeats its option texts, videos and keys tens of thousands of times (the 44
    runs of the development sample: 365,000 strings, 15 s when each was redacted anew)."""
    secrets = _literal_secrets()
    done: dict[str, str] = {}

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            out = done.get(value)
            if out is None:
                out = done[value] = _redact_with(value, secrets)
            return out
        if isinstance(value, dict):
            return {walk(k): walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        return value

    return walk(data)


def public_url(url: str) -> str:
    """`url` without credentials: no userinfo, no query (any value may be a token, whatever
    its name: api_token, subscription-key, X-Amz-Signature...), no fragment, no trailing
    slash. Used to name and key an endpoint: a rotated token is the same judge."""
    parts = urllib.parse.urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def shown_url(url: str) -> str:
    """`url` as an error message may show it: `redact`, and a userinfo without a scheme in
    front ("alice:pw@host") cut too (redact only knows URLs by their scheme)."""
    text = url.strip()
    if "://" not in text and "@" in text:
        text = f"{REDACTED}@{text.rpartition('@')[2]}"
    return redact(text)
