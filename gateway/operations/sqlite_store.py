"""Owners shared by the workers of one `serve --workers N` on the memory back-end: one SQLite file.

The supervisor makes a private directory (mode 0700) and gives every worker
the same file in it; it goes when the supervisor exits, so a restart forgets
owners (SPEC §11.2 allows that for the memory back-end). Why a file and not
signed ids: an id handed to a client must stay the id OL Connect knows, in
paths, in all-in-one bodies and in `getManagedResult` answers; a store keeps
ids as they are. Why SQLite and not a socket owned by the supervisor: it
needs no process of its own to keep alive, and WAL mode lets readers run
beside the one writer.

Each statement is a lookup or a write of one short row by primary key
(microseconds, no fsync: durability is not wanted here), so it runs on the
event loop rather than paying for a thread hop.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final

from gateway.operations.records import OperationRecord, decode, encode

BUSY_MS: Final = 2000  # a writer holds the lock for microseconds; this is a crash margin
SWEEP_EVERY: Final = 1000  # writes between two deletes of expired rows

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
  key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_expiry ON records (expires);
"""
_PUT = "INSERT OR REPLACE INTO records (key, value, expires) VALUES (?, ?, ?)"
_GET = "SELECT value FROM records WHERE key = ? AND expires > ?"
_PERMIT = """
INSERT INTO records (key, value, expires) VALUES (?, '', ?)
ON CONFLICT (key) DO UPDATE SET expires = excluded.expires WHERE records.expires <= ?
"""


class SqliteStore:
    """`OwnerStore` on a SQLite file that every worker on the host opens.

    Args:
        path: the shared database file (created if missing).
        clock: wall-clock seconds: the workers compare expiry times.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._db = sqlite3.connect(path, timeout=BUSY_MS / 1000, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.executescript(_SCHEMA)
        self._writes = 0

    async def add_operation(self, op_id: str, record: OperationRecord, ttl: float) -> None:
        self._put("o:" + op_id, encode(record), ttl)

    async def operation(self, op_id: str) -> OperationRecord | None:
        raw = self._get("o:" + op_id)
        return None if raw is None else decode(raw)

    async def operations(self, op_ids: Iterable[str]) -> dict[str, OperationRecord]:
        found = {op_id: self._get("o:" + op_id) for op_id in op_ids}
        return {op_id: decode(raw) for op_id, raw in found.items() if raw is not None}

    async def advance(self, op_id: str, value: str, ttl: float) -> OperationRecord | None:
        # One transaction: two workers polling at once cannot lose a value.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            raw = self._get("o:" + op_id)
            if raw is None:
                return None
            record = decode(raw)
            advanced = record.advanced(value)
            if advanced is not record:
                self._put("o:" + op_id, encode(advanced), ttl)
            return advanced
        finally:
            self._db.execute("COMMIT")

    async def add_files(self, file_ids: Iterable[str], group: str, ttl: float) -> None:
        for file_id in file_ids:
            self._put("f:" + file_id, group, ttl)

    async def file_group(self, file_id: str, ttl: float) -> str | None:
        group = self._get("f:" + file_id)
        if group is not None:
            self._put("f:" + file_id, group, ttl)
        return group

    async def poll_permit(self, op_id: str, seconds: float) -> bool:
        now = self._clock()
        cursor = self._db.execute(_PERMIT, ("p:" + op_id, now + seconds, now))
        return cursor.rowcount == 1

    async def close(self) -> None:
        self._db.close()

    def _get(self, key: str) -> str | None:
        row = self._db.execute(_GET, (key, self._clock())).fetchone()
        return None if row is None else str(row[0])

    def _put(self, key: str, value: str, ttl: float) -> None:
        now = self._clock()
        self._db.execute(_PUT, (key, value, now + ttl))
        self._writes += 1
        if self._writes % SWEEP_EVERY == 0:
            self._db.execute("DELETE FROM records WHERE expires <= ?", (now,))
