"""The Redis back-end with a near cache in front: hot answers without a round trip.

Reads try the near cache, then Redis, and keep what Redis answered for
``cache.near_ttl``. Stores go to Redis through fenced leases, and are kept
near only once Redis took them. Invalidations drop the near copies in this
process before and after Redis dropped the entries, so no read running
meanwhile keeps the old answer (`NearCache.version`); the scripts publish the
dropped keys and every other process drops them too (`Invalidations`).
"""

from __future__ import annotations

from gateway.cache.base import Entry
from gateway.cache.near import NearCache
from gateway.cache.redis.backend import RedisBackend
from gateway.cache.redis.lease import RedisLease
from gateway.cache.redis.subscriber import Invalidations


class NearLease:
    """A `RedisLease` whose successful store is also kept near."""

    def __init__(self, lease: RedisLease, near: NearCache, key: str, *, since: float, version: int):
        self._lease = lease
        self._near = near
        self._key = key
        self._since = since
        self._version = version

    @property
    def held(self) -> bool:
        """True while this lease holds the key's lock."""
        return self._lease.held

    @property
    def found(self) -> Entry | None:
        """The entry stored when the lock was taken, or None."""
        return self._lease.found

    async def wait(self) -> Entry | None:
        """Wait for the holder; what it stored, or None."""
        return await self._lease.wait()

    async def store(self, entry: Entry) -> bool:
        """Store in Redis unless fenced; keep it near too if nothing was invalidated since."""
        stored = await self._lease.store(entry)
        if stored:
            self._near.put(self._key, entry, since=self._since, version=self._version)
        return stored

    async def release(self) -> None:
        """Free the lock if still held."""
        await self._lease.release()


class NearBackend:
    """A `RedisBackend` with this process's `NearCache` in front of it.

    Args:
        shared: the Redis back-end; ``close()`` closes it.
        near: the near cache.
        invalidations: the subscription that applies other processes' invalidations.
    """

    def __init__(self, shared: RedisBackend, near: NearCache, invalidations: Invalidations) -> None:
        self._shared = shared
        self._near = near
        self._invalidations = invalidations
        self._started = False

    async def get(self, key: str) -> Entry | None:
        """The near copy, else Redis's entry (then kept near); raises while Redis is unreachable."""
        entry = self._near.get(key)
        if entry is not None:
            return entry
        self._start()
        since, version = self._near.now(), self._near.version
        entry = await self._shared.get(key)
        if entry is not None:
            self._near.put(key, entry, since=since, version=version)
        return entry

    def _start(self) -> None:
        # Here, not in __init__: the subscription is a task, and needs the running loop.
        if not self._started:
            self._started = True
            self._invalidations.start()

    async def set(self, key: str, entry: Entry, tags: tuple[str, ...] = ()) -> None:
        """Store in Redis; the next read keeps it near."""
        self._near.drop((key,))
        await self._shared.set(key, entry, tags)

    async def delete(self, *keys: str) -> None:
        """Drop ``keys`` here, in Redis, and (by its message) in every other process."""
        self._near.drop(keys)
        try:
            await self._shared.delete(*keys)
        finally:
            self._near.drop(keys)  # a read that began meanwhile may have seen the old entry

    async def delete_tags(self, *tags: str) -> None:
        """Drop every entry filed under ``tags``, here, in Redis and in every other process."""
        self._near.fence()
        try:
            dropped = await self._shared.drop_tags(*tags)
        except Exception:
            self._near.clear()  # which keys the tags hold is unknown: drop every copy
            raise
        self._near.drop(dropped)

    async def clear(self) -> None:
        """Drop everything, here, in Redis and in every other process."""
        self._near.clear()
        try:
            await self._shared.clear()
        finally:
            self._near.clear()

    async def close(self) -> None:
        """Unsubscribe, then close the Redis back-end."""
        await self._invalidations.close()
        await self._shared.close()

    def entry_count(self) -> int | None:
        """Unknown: the entries live in Redis (see `RedisBackend.entry_count`)."""
        return None

    async def lease(self, key: str, tags: tuple[str, ...] = ()) -> NearLease:
        """A Redis lease whose store is kept near if nothing was invalidated meanwhile."""
        self._start()
        since, version = self._near.now(), self._near.version
        lease = await self._shared.lease(key, tags)
        return NearLease(lease, self._near, key, since=since, version=version)
