"""Persistent cache of LLM-judge replies (SQLite, stdlib).

Keyed by (endpoint, judge model, sha256 of the full prompt). The endpoint is the judge's base
URL without credentials or query (`JudgeSettings.endpoint`; no token is ever stored, and the
replies are stored redacted): two servers that serve the same model name
(a local vLLM and a hosted API, two quantizations) are two judges and never share verdicts.
The prompt already contains the question, the options, the model's response and the ground
truth, so a rerun with the same inputs and the same judge makes no repeated call. Each result
is written (and committed) as it arrives, in WAL mode with a busy timeout, so an interrupted
run resumes where it stopped and several processes may share one cache file. Only successful
judgments are stored: an answer that stayed unresolved is asked again on the next run.

Rows of caches written before the endpoint was part of the key (table `judgments`) are not
read: which endpoint made them is unknown. A cache that cannot be used raises
`JudgeCacheError`, which names the file and the fix; it never passes a bad row off as a
verdict. A path that is not a vlm4d judge cache (a directory, a FIFO, a text file, any other
file that is not SQLite, another program's SQLite database) is checked read-only before
anything is written and left exactly as it is: the message asks for another path, never to
delete it (it may be anyone's file). An empty file is taken as a new cache.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from vlm4d_tasks.settings import CACHE_DIR, JUDGE_CACHE, Settings

CACHE_ENV = CACHE_DIR.name
CACHE_FILE = "judge.sqlite"
TABLE = "judgments_by_endpoint"
_LETTERS = ("A", "B", "C", "D")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    endpoint TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_sha256 TEXT NOT NULL,
    raw_reply TEXT NOT NULL,
    verdict_json TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (endpoint, model, prompt_sha256)
)
"""


class JudgeCacheError(RuntimeError):
    """The cache file cannot be used; the message names it and says how to fix it."""


def default_cache_path(cache_dir: str | None = None) -> Path:
    """`cache_dir/judge.sqlite` (default: `$VLM4D_CACHE_DIR` of `Settings.from_environ()`, read
    when called), else `~/.cache/vlm4d/judge.sqlite`."""
    root = Settings.from_environ().cache_dir if cache_dir is None else cache_dir
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "vlm4d"
    return base / CACHE_FILE


def prompt_sha256(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedJudgment:
    raw_reply: str
    verdict: dict
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


SQLITE_HEADER = b"SQLite format 3\x00"
_OLD_TABLE = "judgments"  # caches written before the endpoint was part of the key


def _fix(path: Path) -> str:
    """The fix for a vlm4d judge cache of ours that is damaged."""
    return (
        f"fix: delete {path} (it holds only cached judge verdicts: they are asked again) or "
        f"point {CACHE_ENV} (or --judge-cache) at another place"
    )


def _not_a_cache(path: Path, why: str) -> JudgeCacheError:
    """A path that is not a vlm4d judge cache: nothing says the file is ours to delete."""
    return JudgeCacheError(
        f"judge cache {path}: {why}, not a vlm4d judge cache; it is left as it is; fix: pass "
        f"another path with --judge-cache (or {JUDGE_CACHE.name}), or point {CACHE_ENV} at "
        "another folder"
    )


def _check_existing(path: Path) -> None:
    """Raise unless `path` is absent, empty, or a SQLite file that is a vlm4d judge cache (or
    holds no table yet). Reads only: a file of anyone else is left byte for byte as it was
    (sqlite would otherwise write its table and WAL mode into another program's database)."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return  # a new cache (a folder in the way is reported when it is made)
    except OSError as exc:
        raise _not_a_cache(path, f"cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise _not_a_cache(path, "is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise _not_a_cache(path, "is not a regular file (a FIFO, a device or a socket)")
    if info.st_size == 0:
        return
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise _not_a_cache(path, f"cannot be read ({exc.strerror or exc})") from None
    if header != SQLITE_HEADER:
        raise _not_a_cache(path, "is not a SQLite file")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise _not_a_cache(path, f"is not a readable SQLite database ({exc})") from None
    if tables and not tables & {TABLE, _OLD_TABLE}:
        names = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise _not_a_cache(path, f"is a SQLite database of something else (tables: {names})")


def check_verdict(verdict: object) -> str | None:
    """What is wrong with a stored verdict, or None when it is usable."""
    if not isinstance(verdict, dict):
        return f"expected an object, got {verdict!r}"
    letter = verdict.get("letter")
    if letter is not None and letter not in _LETTERS:
        return f"'letter' is {letter!r}, not A-D or null"
    if not isinstance(verdict.get("extracted_answer"), str):
        return f"'extracted_answer' is {verdict.get('extracted_answer')!r}, not text"
    if not isinstance(verdict.get("judge_correct"), (bool, type(None))):
        return f"'judge_correct' is {verdict.get('judge_correct')!r}, not true/false/null"
    return None


class JudgeCache:
    """A thread-safe handle on the cache file; one connection, guarded by a lock."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self._lock = threading.Lock()
        _check_existing(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JudgeCacheError(
                f"judge cache {self.path}: cannot create its folder ({exc.strerror or exc}); "
                f"fix: point {CACHE_ENV} (or --judge-cache) at a writable place"
            ) from None
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)
            columns = [row[1] for row in self._conn.execute(f"PRAGMA table_info({TABLE})")]
        except sqlite3.Error as exc:
            self._close_quietly()
            raise JudgeCacheError(
                f"judge cache {self.path}: not a usable SQLite file ({exc}); {_fix(self.path)}"
            ) from None
        expected = ["endpoint", "model", "prompt_sha256", "raw_reply", "verdict_json",
                    "prompt_tokens", "completion_tokens", "total_tokens"]  # fmt: skip
        if columns != expected:
            self._close_quietly()
            raise JudgeCacheError(
                f"judge cache {self.path}: table {TABLE} has columns {columns}, expected "
                f"{expected}; {_fix(self.path)}"
            )

    def _close_quietly(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass

    def _execute(self, action: str, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise JudgeCacheError(
                f"judge cache {self.path}: cannot {action} ({exc}); {_fix(self.path)}"
            ) from None

    def get(self, endpoint: str, model: str, prompt: str) -> CachedJudgment | None:
        digest = prompt_sha256(prompt)
        with self._lock:
            row = self._execute(
                "read a verdict",
                "SELECT raw_reply, verdict_json, prompt_tokens, completion_tokens, total_tokens"
                f" FROM {TABLE} WHERE endpoint = ? AND model = ? AND prompt_sha256 = ?",
                (endpoint, model, digest),
            ).fetchone()
        if row is None:
            return None
        where = (
            f"judge cache {self.path}: row (endpoint {endpoint}, model {model}, prompt {digest})"
        )
        try:
            verdict = json.loads(row[1])
        except (TypeError, ValueError) as exc:
            raise JudgeCacheError(
                f"{where}: field 'verdict_json' is not JSON ({exc}); {_fix(self.path)}"
            ) from None
        problem = check_verdict(verdict)
        if problem is None and not isinstance(row[0], str):
            problem = f"'raw_reply' is {row[0]!r}, not text"
        if problem is None and not all(isinstance(n, int) and n >= 0 for n in row[2:]):
            problem = f"token counts {list(row[2:])} are not whole numbers"
        if problem is not None:
            raise JudgeCacheError(f"{where}: {problem}; {_fix(self.path)}")
        return CachedJudgment(row[0], verdict, row[2], row[3], row[4])

    def put(self, endpoint: str, model: str, prompt: str, judgment: CachedJudgment) -> None:
        with self._lock:
            # autocommit mode (isolation_level=None): the row is durable once this returns,
            # so a killed run loses at most the requests still in flight.
            self._execute(
                "store a verdict",
                f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    endpoint,
                    model,
                    prompt_sha256(prompt),
                    judgment.raw_reply,
                    json.dumps(judgment.verdict, sort_keys=True),
                    judgment.prompt_tokens,
                    judgment.completion_tokens,
                    judgment.total_tokens,
                ),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._execute("count verdicts", f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._close_quietly()

    def __enter__(self) -> JudgeCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
