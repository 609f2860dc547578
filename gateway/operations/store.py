"""Where owners and progress live: the protocol, and the store of one process.

Three stores implement `OwnerStore`: `MemoryStore` (one process, the memory
cache back-end), `SqliteStore` (the workers of one `serve --workers N` on the
memory back-end share a file) and `RedisStore` (every gateway on one Redis).
Each keeps records for a time-to-live given on every write; a file's owner
lives on while it is used (each lookup renews it).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Protocol

from gateway.operations.records import OperationRecord


class StoreUnavailable(Exception):
    """The shared store did not answer (Redis down): owners cannot be checked now."""


class OwnerStore(Protocol):
    """Records of operations and files, keyed by their canonical ids (`records`)."""

    async def add_operation(self, op_id: str, record: OperationRecord, ttl: float) -> None:
        """Remember an operation started through the gateway."""

    async def operation(self, op_id: str) -> OperationRecord | None:
        """The operation's record, or None."""

    async def operations(self, op_ids: Iterable[str]) -> dict[str, OperationRecord]:
        """The records of those operations the store knows."""

    async def advance(self, op_id: str, value: str, ttl: float) -> OperationRecord | None:
        """Append a progress value unless it repeats the last (atomically); None: unknown."""

    async def add_files(self, file_ids: Iterable[str], group: str, ttl: float) -> None:
        """Remember the owner group of files."""

    async def file_group(self, file_id: str, ttl: float) -> str | None:
        """The file's owner group, renewing its record for ``ttl``; None: unknown."""

    async def poll_permit(self, op_id: str, seconds: float) -> bool:
        """True if no one holding the store polled this operation in the last ``seconds``."""

    async def close(self) -> None:
        """Release connections."""


class _Expiring:
    """A dict whose entries expire; oldest-first order makes sweeping cheap."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, object]] = OrderedDict()

    def get(self, key: str) -> object | None:
        found = self._items.get(key)
        if found is None:
            return None
        if found[0] <= self._clock():
            del self._items[key]
            return None
        return found[1]

    def put(self, key: str, value: object, ttl: float) -> None:
        # Every kind of record has one ttl, so re-appending keeps expiry order.
        self._items[key] = (self._clock() + ttl, value)
        self._items.move_to_end(key)
        self._sweep()

    def __len__(self) -> int:
        return len(self._items)

    def _sweep(self) -> None:
        now = self._clock()
        while self._items:
            key, (expires, _) = next(iter(self._items.items()))
            if expires > now:
                return
            del self._items[key]


class MemoryStore:
    """Records in this process only (the memory back-end, one process).

    Args:
        clock: monotonic seconds for expiry.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._operations = _Expiring(clock)
        self._files = _Expiring(clock)

    async def add_operation(self, op_id: str, record: OperationRecord, ttl: float) -> None:
        self._operations.put(op_id, record, ttl)

    async def operation(self, op_id: str) -> OperationRecord | None:
        found = self._operations.get(op_id)
        return found if isinstance(found, OperationRecord) else None

    async def operations(self, op_ids: Iterable[str]) -> dict[str, OperationRecord]:
        found = {op_id: self._operations.get(op_id) for op_id in op_ids}
        return {k: v for k, v in found.items() if isinstance(v, OperationRecord)}

    async def advance(self, op_id: str, value: str, ttl: float) -> OperationRecord | None:
        record = await self.operation(op_id)
        if record is None:
            return None
        advanced = record.advanced(value)
        if advanced is not record:
            self._operations.put(op_id, advanced, ttl)
        return advanced

    async def add_files(self, file_ids: Iterable[str], group: str, ttl: float) -> None:
        for file_id in file_ids:
            self._files.put(file_id, group, ttl)

    async def file_group(self, file_id: str, ttl: float) -> str | None:
        group = self._files.get(file_id)
        if not isinstance(group, str):
            return None
        self._files.put(file_id, group, ttl)
        return group

    async def poll_permit(self, op_id: str, seconds: float) -> bool:
        return True  # one process: its own poller paces itself

    async def close(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._operations) + len(self._files)
