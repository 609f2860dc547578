"""Leases on Redis: one load per key across instances, with fenced writes.

The holder of a key's lock (``SET NX PX``) loads it and renews the lock
while it does; the others poll, with a growing interval, until the lock is
free, then take it themselves and read what the holder stored. A holder
that dies stops renewing: its lock expires after the backend's ``lock_ttl``
and a waiter takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, TypeVar

from gateway.cache.base import Entry
from gateway.cache.encoding import decode, encode
from gateway.cache.redis.scripts import Scripts

T = TypeVar("T")

POLL_FIRST: Final = 0.002
POLL_MAX: Final = 0.05


class LeaseHost(Protocol):
    """What a lease needs of the Redis backend it belongs to (`RedisBackend` is one)."""

    @property
    def scripts(self) -> Scripts: ...
    @property
    def lock_ttl_ms(self) -> int: ...
    @property
    def fence_ttl_ms(self) -> int: ...
    @property
    def max_wait(self) -> float: ...
    def expiry_ms(self, entry: Entry) -> int: ...
    def ledger(self, key: str, value: bytes, entry: Entry) -> tuple[list[str], list[Any]]: ...
    def evicted(self, count: int) -> None: ...
    def now(self) -> float: ...
    async def run(self, operation: Callable[[], Awaitable[T]]) -> T: ...


class RedisLease:
    """A ``Lease`` on one key of a Redis backend.

    Args:
        backend: the backend whose keys and scripts the lease uses.
        key: the cache key.
        token_keys: the entry, lock, count and epoch names of ``key``.
        tag_keys: the (set, fence) names of each tag the entry is filed under.
    """

    def __init__(
        self,
        backend: LeaseHost,
        key: str,
        *,
        token_keys: tuple[str, str, str, str],
        tag_keys: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._backend = backend
        self._key = key
        self._entry_key, self._lock_key, self._count_key, self._epoch_key = token_keys
        self._tag_keys = tag_keys
        self._token = secrets.token_hex(8)
        self._fences: list[Any] = []  # count, epoch, then one per tag, as last seen
        self._fences_read_at = 0.0  # monotonic: when they were seen
        self._held = False
        self._found: Entry | None = None
        self._renewer: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        """True while this lease holds the key's lock."""
        return self._held

    @property
    def found(self) -> Entry | None:
        """The entry stored when the lock was taken, or None."""
        return self._found

    async def try_acquire(self) -> None:
        """Take the lock if it is free; note the fence, and the entry stored then."""
        fences = [self._count_key, self._epoch_key, *(fence for _, fence in self._tag_keys)]
        reply: list[Any] = await self._backend.run(
            lambda: self._backend.scripts.acquire(
                keys=[self._lock_key, self._entry_key, *fences],
                args=[self._token, self._backend.lock_ttl_ms],
            )
        )
        self._fences = reply[2:]
        self._fences_read_at = self._backend.now()
        if reply[0] != 1:
            return
        self._held = True
        self._renewer = asyncio.create_task(self._renew())
        self._found = decode(reply[1]) if reply[1] else None

    async def wait(self) -> Entry | None:
        """Poll until the lock is free, then take it and return what was stored."""
        give_up = self._backend.now() + self._backend.max_wait
        delay = POLL_FIRST
        while not self._held:
            if self._backend.now() >= give_up:
                return None  # load unlocked; the write is still fenced
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX)
            await self.try_acquire()
            if self._held:
                return self._found
        return None

    async def store(self, entry: Entry) -> bool:
        """Write ``entry`` if no instance invalidated the key meanwhile; free the lock.

        A load slower than a fence's lifetime stores nothing: a fence bumped during
        it may have expired since, and would no longer stop the write.
        """
        if self._backend.now() - self._fences_read_at >= self._backend.fence_ttl_ms / 1000:
            await self.release()
            return False
        value = encode(entry)
        px = self._backend.expiry_ms(entry)
        ledger_keys, ledger_args = self._backend.ledger(self._key, value, entry)
        self._stop_renewing()
        tag_names = [name for pair in self._tag_keys for name in pair]
        stored, evicted = await self._backend.run(
            lambda: self._backend.scripts.store(
                keys=[
                    self._entry_key,
                    self._lock_key,
                    self._count_key,
                    self._epoch_key,
                    *ledger_keys,
                    *tag_names,
                ],
                args=[value, px, self._token, self._key, *ledger_args, *self._fences],
            )
        )
        self._held = False
        if evicted:
            self._backend.evicted(int(evicted))
        return bool(stored == 1)

    async def release(self) -> None:
        """Free the lock if it is still ours."""
        self._stop_renewing()
        if not self._held:
            return
        self._held = False
        await self._backend.run(
            lambda: self._backend.scripts.renew_or_free(
                keys=[self._lock_key], args=[self._token, ""]
            )
        )

    def _stop_renewing(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            self._renewer = None

    async def _renew(self) -> None:
        ttl_ms = self._backend.lock_ttl_ms
        while True:
            await asyncio.sleep(ttl_ms / 3000)
            with contextlib.suppress(Exception):
                renewed = await self._backend.scripts.renew_or_free(
                    keys=[self._lock_key], args=[self._token, ttl_ms]
                )
                if renewed == 1:
                    continue
            return  # lost the lock: the write is still fenced, so nothing breaks
