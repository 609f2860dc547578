"""Owners and progress in Redis: shared by every gateway on it, kept across restarts.

Keys under the cache's prefix ``p`` (apart from the cache's own letters, so
an admin purge of the cache never drops an owner):

- ``p own:o:<operation id>``  the operation's record (JSON, see `records.encode`),
  expiring `operations.retention` after its last change;
- ``p own:f:<file id>``       the file's owner group, expiring
  `isolation.file_retention` after its last use;
- ``p own:p:<operation id>``  the poll permit: ``SET NX PX poll_interval``. Whoever
  sets it polls OL Connect; the others read the record. Upstream polls of an
  operation are at most one per interval for the whole cluster, without a
  leader to elect or hand over (the cache's lease fences writes of entries,
  which this does not need).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.operations.records import MAX_HISTORY, OperationRecord, decode, encode
from gateway.operations.store import StoreUnavailable

T = TypeVar("T")
# After a failure Redis is not asked for this long (a hung Redis costs one 1 s wait per
# interval, not one per request), as the cache back-end does.
RETRY_INTERVAL: Final = 1.0

# KEYS: the record. ARGV: value, ttl ms, history bound, the value meaning done.
# Appends the value unless it repeats the last or the operation is done; returns the record.
_ADVANCE: Final = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local record = cjson.decode(raw)
local history = record.h
if type(history) ~= 'table' then history = {} end
local last = history[#history]
if last == ARGV[1] or last == ARGV[4] then return raw end
history[#history + 1] = ARGV[1]
while #history > tonumber(ARGV[3]) do table.remove(history, 1) end
record.h = history
local encoded = cjson.encode(record)
redis.call('SET', KEYS[1], encoded, 'PX', ARGV[2])
return encoded
"""


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


class RedisStore:
    """`OwnerStore` on Redis.

    Args:
        client: the Redis client; `close` closes it.
        prefix: the cache's `redis_prefix`.
        timer: monotonic seconds, for the retry interval.
    """

    def __init__(
        self, client: Redis, *, prefix: str, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._timer = timer
        self._down_until = 0.0
        self._prefix = prefix + "own:"
        self._advance = client.register_script(_ADVANCE)

    async def add_operation(self, op_id: str, record: OperationRecord, ttl: float) -> None:
        key = self._prefix + "o:" + op_id
        await self._run(lambda: self._client.set(key, encode(record), px=_ms(ttl)))

    async def operation(self, op_id: str) -> OperationRecord | None:
        raw = await self._run(lambda: self._client.get(self._prefix + "o:" + op_id))
        return None if raw is None else decode(raw)

    async def operations(self, op_ids: Iterable[str]) -> dict[str, OperationRecord]:
        ids = list(op_ids)
        if not ids:
            return {}
        keys = [self._prefix + "o:" + op_id for op_id in ids]
        values = await self._run(lambda: self._client.mget(keys))
        return {op_id: decode(raw) for op_id, raw in zip(ids, values, strict=True) if raw}

    async def advance(self, op_id: str, value: str, ttl: float) -> OperationRecord | None:
        key = self._prefix + "o:" + op_id
        raw = await self._run(
            lambda: self._advance(keys=[key], args=[value, _ms(ttl), MAX_HISTORY, "done"])
        )
        return decode(raw) if raw else None

    async def add_files(self, file_ids: Iterable[str], group: str, ttl: float) -> None:
        keys = [self._prefix + "f:" + file_id for file_id in file_ids]
        if not keys:
            return

        async def write() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(key, group, px=_ms(ttl))
                await pipe.execute()

        await self._run(write)

    async def file_group(self, file_id: str, ttl: float) -> str | None:
        key = self._prefix + "f:" + file_id
        raw = await self._run(lambda: self._client.getex(key, px=_ms(ttl)))
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

    async def poll_permit(self, op_id: str, seconds: float) -> bool:
        key = self._prefix + "p:" + op_id
        return bool(await self._run(lambda: self._client.set(key, b"1", nx=True, px=_ms(seconds))))

    async def close(self) -> None:
        await self._client.aclose()

    async def _run(self, operation: Callable[[], Awaitable[T]]) -> T:
        if self._timer() < self._down_until:
            raise StoreUnavailable("redis failed recently")
        try:
            return await operation()
        except (RedisError, OSError) as exc:
            self._down_until = self._timer() + RETRY_INTERVAL
            raise StoreUnavailable(type(exc).__name__) from None
