"""Persistent cache of LLM-judge replies (SQLite, stdlib).

Keyed by (judge model, sha256 of the full prompt): the prompt already contains the question,
the options, the model's response and the ground truth, so a rerun with the same inputs and
the same judge makes no repeated call. Each result is written (and committed) as it arrives,
in WAL mode with a busy timeout, so an interrupted run resumes where it stopped and several
processes may share one cache file. Only successful judgments are stored: an answer that
stayed unresolved is asked again on the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "VLM4D_CACHE_DIR"
CACHE_FILE = "judge.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS judgments (
    model TEXT NOT NULL,
    prompt_sha256 TEXT NOT NULL,
    raw_reply TEXT NOT NULL,
    verdict_json TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (model, prompt_sha256)
)
"""


def default_cache_path() -> Path:
    """`$VLM4D_CACHE_DIR/judge.sqlite`, else `~/.cache/vlm4d/judge.sqlite` (read when called)."""
    root = os.environ.get(CACHE_ENV)
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


class JudgeCache:
    """A thread-safe handle on the cache file; one connection, guarded by a lock."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)

    def get(self, model: str, prompt: str) -> CachedJudgment | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT raw_reply, verdict_json, prompt_tokens, completion_tokens, total_tokens"
                " FROM judgments WHERE model = ? AND prompt_sha256 = ?",
                (model, prompt_sha256(prompt)),
            ).fetchone()
        if row is None:
            return None
        return CachedJudgment(row[0], json.loads(row[1]), row[2], row[3], row[4])

    def put(self, model: str, prompt: str, judgment: CachedJudgment) -> None:
        with self._lock:
            # autocommit mode (isolation_level=None): the row is durable once this returns,
            # so a killed run loses at most the requests still in flight.
            self._conn.execute(
                "INSERT OR REPLACE INTO judgments VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
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
            return self._conn.execute("SELECT COUNT(*) FROM judgments").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> JudgeCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
