"""Who may use an operation or a file: the owner rules of SPEC §11.1 over an `OwnerStore`,
and the store that fits the configured cache back-end (`make_store`).

A client of another group is answered 404 (never 403: no oracle of what
exists) before anything is forwarded. An id the gateway never saw follows
`isolation.unknown_ids`; a client of group ``*`` sees everything. Recording
never fails a request whose work OL Connect already did: an operation that
started while the store was down is logged and then treated as unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog
from aiohttp import hdrs

from gateway.access.clients import Client
from gateway.config.model import Config
from gateway.errors import NotFound, ServiceUnavailable
from gateway.operations.records import OperationRecord, file_key, operation_key
from gateway.operations.store import MemoryStore, OwnerStore, StoreUnavailable

log = structlog.get_logger("gateway.owners")

NO_OPERATION = "no such operation"
NO_FILE = "no such managed file"


def make_store(config: Config, owners_path: str | None) -> OwnerStore:
    """The store for ``config`` (SPEC §10.4, §11.2).

    ``cache.backend: redis``: `RedisStore` on the cache's Redis and prefix, shared by
    every worker and replica and kept across restarts. Memory under ``serve --workers``
    (``owners_path`` set): `SqliteStore` on the file the supervisor made for the set.
    Memory, one process: `MemoryStore`.
    """
    if config.cache.backend == "redis":
        # Imported here: redis is an optional extra, needed only for this back-end.
        from gateway.cache.redis.backend import connect
        from gateway.operations.redis_store import RedisStore

        return RedisStore(connect(config.cache.redis_url), prefix=config.cache.redis_prefix)
    if owners_path is not None:
        from gateway.operations.sqlite_store import SqliteStore

        return SqliteStore(owners_path)
    return MemoryStore()


class OwnersUnavailable(ServiceUnavailable):
    """The shared store of owners did not answer: nothing is forwarded unchecked."""

    message = "owners of operations and files cannot be checked now; retry"


class Owners:
    """The owner rules, on a store.

    Args:
        store: where records live.
        config: `isolation.*` and `operations.retention`.
    """

    def __init__(self, store: OwnerStore, config: Config) -> None:
        self.store = store
        self.enabled = config.isolation.enabled
        self.deny_unknown = config.isolation.unknown_ids == "deny"
        self.operation_ttl = config.operations.retention
        self.file_ttl = config.isolation.file_retention

    async def operation(self, client: Client | None, op_id: str) -> OperationRecord | None:
        """The operation's record if ``client`` may use it; None when unknown and allowed.

        Raises:
            NotFound: another group's, or unknown under `unknown_ids: deny`.
            OwnersUnavailable: the store did not answer.
        """
        try:
            record = await self.store.operation(operation_key(op_id))
        except StoreUnavailable:
            if not self.enabled:
                return None  # only progress memory is lost
            raise OwnersUnavailable(headers={hdrs.RETRY_AFTER: "1"}) from None
        if self._refused(client, None if record is None else record.group):
            raise NotFound(NO_OPERATION, parameter=op_id[:128])
        return record

    async def file(self, client: Client | None, file_id: str) -> str | None:
        """The file's owner group if ``client`` may use the file; None when unknown and allowed.

        Raises:
            NotFound, OwnersUnavailable: as for `operation`.
        """
        if not self.enabled:
            return None
        group = await self._file_group(file_id)
        if self._refused(client, group):
            raise NotFound(NO_FILE, parameter=file_id[:128])
        return group

    async def started(self, client: Client | None, op_id: str, service: str) -> None:
        """Remember an operation a client just started (the ``operationId`` of a 202)."""
        group = client.group if client is not None else ""
        record = OperationRecord(service, group)
        try:
            await self.store.add_operation(operation_key(op_id), record, self.operation_ttl)
        except StoreUnavailable:
            log.warning("owner_not_recorded", kind="operation", service=service)

    async def owned_files(self, group: str, file_ids: Iterable[str]) -> None:
        """Remember that these files (ids, or names they can be fetched by) belong to ``group``."""
        keys = {file_key(file_id) for file_id in file_ids if file_id.strip()}
        if not self.enabled or not keys:
            return
        try:
            await self.store.add_files(keys, group, self.file_ttl)
        except StoreUnavailable:
            log.warning("owner_not_recorded", kind="file", count=len(keys))

    async def advance(self, op_id: str, value: str) -> OperationRecord | None:
        """Note a progress value OL Connect answered; the record after it (None: unknown)."""
        try:
            return await self.store.advance(operation_key(op_id), value, self.operation_ttl)
        except StoreUnavailable:
            return None  # progress memory only: the answer itself is right

    async def seen_done(self, op_id: str) -> bool:
        """Whether the gateway (any on the store) saw this operation answer `done`."""
        try:
            record = await self.store.operation(operation_key(op_id))
        except StoreUnavailable:
            return False
        return record is not None and record.done

    async def visible(self, client: Client | None, items: list[Any]) -> list[Any]:
        """The entries of a JSON Operations List that ``client``'s group owns.

        Only the group's own: an operation the gateway never saw is listed to
        nobody but ``*``, whatever `unknown_ids` says (a list is no place to
        guess whose it is).
        """
        if not self.enabled or client is None or client.sees_all:
            return items
        ids = [
            operation_key(str(item["id"]))
            for item in items
            if isinstance(item, dict) and "id" in item
        ]
        try:
            records = await self.store.operations(ids)
        except StoreUnavailable:
            raise OwnersUnavailable(headers={hdrs.RETRY_AFTER: "1"}) from None
        return [
            item
            for item in items
            if isinstance(item, dict)
            and "id" in item
            and (found := records.get(operation_key(str(item["id"])))) is not None
            and found.group == client.group
        ]

    async def segments(self, client: Client | None, *, files: bool, segments: list[str]) -> None:
        """For routes the catalogue does not list: 404 if a path segment names another
        group's operation (or file, when ``files``). Unknown ids pass: which segment is
        an id cannot be told on a route the gateway does not know."""
        if not self.enabled or client is None or client.sees_all or not segments:
            return
        for segment in segments:
            if files:
                group = await self._file_group(segment)
            else:
                record = await self._operation(segment)
                group = None if record is None else record.group
            if group is not None and group != client.group:
                raise NotFound(NO_FILE if files else NO_OPERATION, parameter=segment[:128])

    def _refused(self, client: Client | None, group: str | None) -> bool:
        """Whether ``client`` may not use what ``group`` owns (None: an unknown id)."""
        if not self.enabled or client is None or client.sees_all:
            return False
        return self.deny_unknown if group is None else group != client.group

    async def _file_group(self, segment: str) -> str | None:
        try:
            return await self.store.file_group(file_key(segment), self.file_ttl)
        except StoreUnavailable:
            raise OwnersUnavailable(headers={hdrs.RETRY_AFTER: "1"}) from None

    async def _operation(self, segment: str) -> OperationRecord | None:
        try:
            return await self.store.operation(operation_key(segment))
        except StoreUnavailable:
            raise OwnersUnavailable(headers={hdrs.RETRY_AFTER: "1"}) from None
