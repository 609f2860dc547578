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

from redis.asyncio import Redis

from gateway.cache.base import Entry
from gateway.cache.encoding import decode, encode

T = TypeVar("T")

POLL_FIRST: Final = 0.002
POLL_MAX: Final = 0.05

# KEYS: lock, entry, count, epoch, then one fence per tag. ARGV: token, lock ms.
# Returns {acquired, entry, count, epoch, fence...}; '' stands for a missing key
# (and for the entry when the lock was not taken).
_ACQUIRE = """
local seen = {}
for i = 3, #KEYS do
  seen[#seen + 1] = redis.call('GET', KEYS[i]) or ''
end
local acquired = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
local entry = ''
if acquired then
  entry = redis.call('GET', KEYS[2]) or ''
end
return {acquired and 1 or 0, entry, unpack(seen)}
"""

# KEYS: entry, lock, count, epoch, then (tag set, tag fence) per tag.
# ARGV: value, entry ms, token, key, then the count, epoch and fences seen.
# Stores only if no fence moved since the lease was taken; files the key under its tags.
_STORE = """
local same = true
for i = 3, 4 do
  if (redis.call('GET', KEYS[i]) or '') ~= ARGV[i + 2] then same = false end
end
local tags = (#KEYS - 4) / 2
for t = 1, tags do
  if (redis.call('GET', KEYS[4 + 2 * t]) or '') ~= ARGV[6 + t] then same = false end
end
if same then
  local px = tonumber(ARGV[2])
  redis.call('SET', KEYS[1], ARGV[1], 'PX', px)
  for t = 1, tags do
    local set = KEYS[3 + 2 * t]
    redis.call('SADD', set, ARGV[4])
    if redis.call('PTTL', set) < px then redis.call('PEXPIRE', set, px) end
  end
end
if redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
end
return same and 1 or 0
"""

# KEYS: lock. ARGV: token, lock ms ('' to delete instead of renewing).
_RENEW_OR_FREE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  return redis.call('DEL', KEYS[1])
end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""

# KEYS: (entry, lock, count) per key. ARGV: count ms.
_INVALIDATE = """
for i = 1, #KEYS, 3 do
  redis.call('UNLINK', KEYS[i], KEYS[i + 1])
  redis.call('INCR', KEYS[i + 2])
  redis.call('PEXPIRE', KEYS[i + 2], ARGV[1])
end
return 1
"""

# KEYS: (tag set, tag fence) per tag. ARGV: fence ms, entry prefix, lock prefix.
# Drops every entry filed under the tags (and its load lock), then moves the
# tags' fences so a load that read the old answer cannot store it.
_INVALIDATE_TAGS = """
for i = 1, #KEYS, 2 do
  for _, key in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    redis.call('UNLINK', ARGV[2] .. key, ARGV[3] .. key)
  end
  redis.call('UNLINK', KEYS[i])
  redis.call('INCR', KEYS[i + 1])
  redis.call('PEXPIRE', KEYS[i + 1], ARGV[1])
end
return 1
"""


class Scripts:
    """The Lua scripts of the backend, registered once (redis-py reloads them after a restart)."""

    def __init__(self, client: Redis) -> None:
        self.acquire = client.register_script(_ACQUIRE)
        self.store = client.register_script(_STORE)
        self.renew_or_free = client.register_script(_RENEW_OR_FREE)
        self.invalidate = client.register_script(_INVALIDATE)
        self.invalidate_tags = client.register_script(_INVALIDATE_TAGS)


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
        self._stop_renewing()
        tag_names = [name for pair in self._tag_keys for name in pair]
        stored = await self._backend.run(
            lambda: self._backend.scripts.store(
                keys=[
                    self._entry_key,
                    self._lock_key,
                    self._count_key,
                    self._epoch_key,
                    *tag_names,
                ],
                args=[value, px, self._token, self._key, *self._fences],
            )
        )
        self._held = False
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
