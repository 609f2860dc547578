"""The Redis cache backend: entries, cross-instance leases and invalidation fences.

Keys under the configured prefix ``p``:

- ``p e:<key>``  the entry: a fixed ``struct`` header, the content type, the body;
  it expires ttl + retention after it was stored (a 404: ttl, no retention);
- ``p l:<key>``  the load lock of a key, ``SET NX PX``, renewed while its holder loads;
- ``p g:<key>``  the key's invalidation count, bumped by every ``delete``;
- ``p t:<tag>``  the keys filed under a tag (SPEC §8.5: an entity, a family);
- ``p f:<tag>``  the tag's invalidation count, bumped by every ``delete_tags``;
  the counts live as long as a load can take (see `fence_ttl_ms`), not longer;
- ``p epoch``    the cache's clear count, bumped by every ``clear``;
- ``p z:…``      the ledger of what is held, within the bounds (`scripts`);
- ``p near``     (a pub/sub channel, not a key) the keys each invalidation dropped.

A lease remembers the counts and the epoch it saw; its write lands only if
all are unchanged (one Lua script), so a load that raced an invalidation on
any instance never writes its old answer back. The tag scripts name entry
keys they compute from a set's members: one Redis, not Redis Cluster.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, Final, TypeVar

import structlog
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.cache.base import CacheStats, Entry
from gateway.cache.encoding import decode
from gateway.cache.redis.lease import RedisLease
from gateway.cache.redis.outage import Outage
from gateway.cache.redis.scripts import Scripts

log = structlog.get_logger(__name__)

T = TypeVar("T")

# `cache.redis_timeout`: the longest one Redis call may take. A hanging Redis costs the
# requests in flight at most this, once; afterwards they skip Redis (see `Outage`).
DEFAULT_TIMEOUT: Final = 0.25
# While Redis is skipped, a background probe asks it this often whether it is back.
RETRY_INTERVAL: Final = 1.0
PROBE_TIMEOUT: Final = 5.0
# Connections to Redis per client (and process); one event loop needs no more to keep
# Redis busy, and a replica count times this stays far below Redis's maxclients.
POOL_SIZE: Final = 16
# An invalidation count must outlive every load that read it before its bump: such a
# load stores only if the count is unchanged, and a count that expired reads as the
# "no count" it started from. A load is at most a wait for the login lock, a login,
# the request, a re-login and one retry, each bounded by upstream.timeout: this many
# timeouts cover it with room for a busy event loop, and a lease whose load took
# longer stores nothing (`RedisLease.store`). Beyond that the key goes, so a PUT to
# a missing id does not leave a key behind for an hour.
FENCE_TIMEOUTS: Final = 10
MIN_FENCE_MS: Final = 30_000
# Deletes that failed are replayed once Redis answers again, up to this many keys;
# beyond it the whole cache is cleared instead.
MAX_PENDING_DELETES: Final = 10_000
# What Redis spends per entry besides its value: the key is held four times (the entry,
# the ledger's hash and sorted set, a tag set) and each of those has its bookkeeping
# (measured with INFO used_memory on Redis 7: 812 bytes for a 137-byte value under a
# 54-byte key, ~ value + 4 x key + 450), so `cache.max_bytes` bounds Redis's real use.
KEY_OVERHEAD: Final = 448

_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


class BackendUnavailable(Exception):
    """Redis failed; it is not asked again until a background probe got an answer."""


def connect(url: str, timeout: float = DEFAULT_TIMEOUT) -> Redis:
    """A client for ``url`` with bounded timeouts, a bounded pool, and one immediate retry
    on a broken connection.

    The retry reconnects once after a pooled connection broke (Redis
    restarted); timeouts are not retried. redis-py's default of ten
    backed-off retries would hold a request for seconds while Redis is down.
    The pool holds `POOL_SIZE` connections and callers wait their turn: a burst of
    a hundred requests on an unbounded pool opened a hundred connections at once,
    and the handshakes alone kept the event loop busy past a 0.25 s timeout.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_SIZE,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )
    return Redis.from_pool(pool)


def _glob_escape(text: str) -> str:
    return "".join("\\" + char if char in "\\*?[]" else char for char in text)


class RedisBackend:
    """Entries in Redis, shared by every gateway using the same URL and prefix.

    Args:
        client: the Redis client; ``close()`` closes it.
        prefix: namespace of every key this backend touches.
        retention: how long an entry is kept after its ttl, so it can still be
            served stale; give it ``max(stale_if_error, stale_while_revalidate)``.
        lock_ttl: lifetime of a load lock; its holder renews it, so this bounds
            how long others wait for a holder that died.
        max_wait: the longest a lease waits for a live holder before loading itself;
            give it ``upstream.timeout``, which also bounds a load (see `fence_ttl_ms`).
        max_entries: the most answers held (by every gateway on this Redis and prefix).
        max_not_found: the most 404s held, apart from the answers.
        max_bytes: the most bytes held, answers and 404s (404s first out).
        timeout: the longest one call may take; after a failure Redis is skipped
            until a background probe succeeds.
        stats: ``evictions`` counts the entries this process's stores pushed out.
        clock: wall clock in seconds, the same one the service stamps entries with.
        timer: monotonic seconds, for bounding waits.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str,
        retention: float,
        lock_ttl: float = 3.0,
        max_wait: float = 10.0,
        max_entries: int = 10_000,
        max_not_found: int = 1000,
        max_bytes: int = 256 * 1024 * 1024,
        timeout: float = DEFAULT_TIMEOUT,
        stats: CacheStats | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._retention = retention
        self._lock_ttl = lock_ttl
        self._max_wait = max_wait
        self._bounds = [max_entries, max_not_found, max_bytes]
        self._timeout = timeout
        self._stats = stats or CacheStats()
        self._clock = clock
        self._timer = timer
        self._scripts = Scripts(client)
        self._fence_ttl_ms = max(MIN_FENCE_MS, math.ceil(FENCE_TIMEOUTS * max_wait * 1000))
        self._epoch_key = prefix + "epoch"
        self._ledger_keys = [prefix + "z:size", prefix + "z:a", prefix + "z:n", prefix + "z:bytes"]
        self.channel = prefix + "near"
        self._outage = Outage(
            self._probe,
            interval=RETRY_INTERVAL,
            timeout=PROBE_TIMEOUT,
            on_down=self._went_down,
            on_up=self._came_back,
        )
        self._pending_deletes: set[str] = set()
        self._pending_tags: set[str] = set()
        self._pending_clear = False

    async def get(self, key: str) -> Entry | None:
        """Return the stored entry, or None; raises while Redis is unreachable."""
        raw = await self._run(lambda: self._client.get(self._prefix + "e:" + key))
        if raw is None:
            return None
        if not isinstance(raw, bytes):  # only with decode_responses, which connect() never sets
            raise TypeError("redis client decodes responses")
        return decode(raw)

    async def set(self, key: str, entry: Entry, tags: tuple[str, ...] = ()) -> None:
        """Store ``entry`` under ``tags``, expiring ttl + retention after ``stored_at``.

        Through a lease taken and used at once (two round trips): the store script
        is the one place that files an entry under its tags. The service stores
        through its own leases; this is for callers without one.
        """
        lease = RedisLease(self, key, token_keys=self._keys(key), tag_keys=self._tag_keys(tags))
        await lease.try_acquire()  # reads the fences; the lock does not matter here
        await lease.store(entry)

    async def delete(self, *keys: str) -> None:
        """Drop these keys and their locks, and fence out loads running for them anywhere."""
        if not keys:
            return
        try:
            await self._run(lambda: self._delete(keys))
        except Exception:
            self._remember_delete(keys)
            raise

    async def delete_tags(self, *tags: str) -> None:
        """Drop every entry filed under ``tags`` and fence out loads running for them anywhere."""
        await self.drop_tags(*tags)

    async def drop_tags(self, *tags: str) -> list[str]:
        """`delete_tags`, returning the cache keys it dropped."""
        if not tags:
            return []
        try:
            return await self._run(lambda: self._delete_tags(tags))
        except Exception:
            self._remember_tags(tags)
            raise

    async def clear(self) -> None:
        """Drop every key under our prefix (SCAN + UNLINK) and fence out running loads."""
        try:
            await self._run(self._clear, bound=PROBE_TIMEOUT)  # SCANs: many round trips
        except Exception:
            self._pending_clear = True
            raise

    async def close(self) -> None:
        """Stop probing; close the client and its connection pool."""
        await self._outage.close()
        await self._client.aclose()

    def entry_count(self) -> int | None:
        """Unknown: counting would need a SCAN of a store other gateways share."""
        return None

    async def lease(self, key: str, tags: tuple[str, ...] = ()) -> RedisLease:
        """Try to take the load lock of ``key`` now; remember its invalidation fences."""
        lease = RedisLease(self, key, token_keys=self._keys(key), tag_keys=self._tag_keys(tags))
        await lease.try_acquire()
        return lease

    # --- used by RedisLease -------------------------------------------------

    @property
    def scripts(self) -> Scripts:
        """The Lua scripts, registered on our client."""
        return self._scripts

    @property
    def lock_ttl_ms(self) -> int:
        """Lifetime of a load lock in milliseconds."""
        return max(1, math.ceil(self._lock_ttl * 1000))

    @property
    def fence_ttl_ms(self) -> int:
        """How long an invalidation count lives after its last bump, in milliseconds."""
        return self._fence_ttl_ms

    @property
    def max_wait(self) -> float:
        """The longest a lease waits for another holder."""
        return self._max_wait

    def ledger(self, key: str, value: bytes, entry: Entry) -> tuple[list[str], list[Any]]:
        """The store script's ledger keys and arguments for ``entry`` stored as ``value``."""
        group = "n" if entry.status == HTTPStatus.NOT_FOUND else "a"
        size = len(value) + 4 * (len(self._prefix) + 2 + len(key)) + KEY_OVERHEAD
        return self._ledger_keys, [size, group, *self._bounds, self._prefix + "e:"]

    def evicted(self, count: int) -> None:
        """Count entries a store pushed out to stay within the bounds."""
        self._stats.evictions += count

    def expiry_ms(self, entry: Entry) -> int:
        """Milliseconds from now until ``entry`` is of no use, even stale (a 404 never is)."""
        retention = 0.0 if entry.status == HTTPStatus.NOT_FOUND else self._retention
        remaining = entry.stored_at + entry.ttl + retention - self._clock()
        return max(1, math.ceil(remaining * 1000))

    def now(self) -> float:
        """Monotonic seconds, for bounding waits."""
        return self._timer()

    async def run(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run a Redis operation through the failure bookkeeping."""
        return await self._run(operation)

    # --- internals ----------------------------------------------------------

    def _keys(self, key: str) -> tuple[str, str, str, str]:
        p = self._prefix
        return p + "e:" + key, p + "l:" + key, p + "g:" + key, self._epoch_key

    def _tag_keys(self, tags: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        p = self._prefix
        return tuple((p + "t:" + tag, p + "f:" + tag) for tag in tags)

    async def _run(self, operation: Callable[[], Awaitable[T]], bound: float = 0.0) -> T:
        if self._outage.down:
            raise BackendUnavailable("redis failed recently")
        try:
            async with asyncio.timeout(bound or self._timeout):
                if self._pending_clear or self._pending_deletes or self._pending_tags:
                    await self._replay()
                return await operation()
        except _REDIS_DOWN as exc:
            self._outage.failed(exc)
            raise

    async def _probe(self) -> None:
        async with asyncio.timeout(self._timeout):
            await self._client.ping()
        await self._replay()  # before any read: deletes that failed must land first

    def _went_down(self, exc: BaseException) -> None:
        log.warning(
            "cache_backend_down", backend="redis", error=type(exc).__name__, retry=RETRY_INTERVAL
        )

    def _came_back(self) -> None:
        log.info("cache_backend_recovered", backend="redis")

    async def _delete(self, keys: tuple[str, ...] | list[str]) -> Any:
        names = [name for key in keys for name in self._keys(key)[:3]]
        return await self._scripts.invalidate(
            keys=[*self._ledger_keys, *names], args=[self._fence_ttl_ms, self.channel, *keys]
        )

    async def _delete_tags(self, tags: tuple[str, ...] | list[str]) -> list[str]:
        names = [name for pair in self._tag_keys(tuple(tags)) for name in pair]
        p = self._prefix
        dropped = await self._scripts.invalidate_tags(
            keys=[*self._ledger_keys, *names],
            args=[self._fence_ttl_ms, p + "e:", p + "l:", self.channel],
        )
        return [key.decode() if isinstance(key, bytes) else str(key) for key in dropped]

    async def _clear(self) -> None:
        await self._client.incr(self._epoch_key)
        pattern = _glob_escape(self._prefix) + "[elgtfz]:*"
        batch: list[bytes] = []
        async for name in self._client.scan_iter(match=pattern, count=1000):
            batch.append(name)
            if len(batch) >= 500:
                await self._client.unlink(*batch)
                batch.clear()
        if batch:
            await self._client.unlink(*batch)
        await self._client.publish(self.channel, "c")

    def _remember_delete(self, keys: tuple[str, ...]) -> None:
        # Redis may come back with the old entries: drop them then, before any read.
        self._pending_deletes.update(keys)
        if len(self._pending_deletes) > MAX_PENDING_DELETES:
            self._pending_deletes.clear()
            self._pending_clear = True

    def _remember_tags(self, tags: tuple[str, ...]) -> None:
        self._pending_tags.update(tags)
        if len(self._pending_tags) > MAX_PENDING_DELETES:
            self._pending_tags.clear()
            self._pending_clear = True

    async def _replay(self) -> None:
        if self._pending_clear:
            await self._clear()
            self._pending_clear = False
            self._pending_deletes.clear()
            self._pending_tags.clear()
            return
        if self._pending_deletes:
            keys = list(self._pending_deletes)
            await self._delete(keys)
            self._pending_deletes.difference_update(keys)
        if self._pending_tags:
            tags = list(self._pending_tags)
            await self._delete_tags(tags)
            self._pending_tags.difference_update(tags)
