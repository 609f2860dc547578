"""CacheService: answer from the cache, load through single-flight, fall back to stale."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from http import HTTPStatus

from gateway.cache.base import CacheBackend, CacheStats, Entry, Freshness, classify
from gateway.cache.coalesce import SingleFlight
from gateway.cache.failures import BackendFailures
from gateway.cache.lease import Lease, LeaseProvider
from gateway.cache.results import (
    CacheOutcome,
    CacheResult,
    Loaded,
    Loader,
    as_loaded,
    from_entry,
)
from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.telemetry.throttle import RepeatedWarnings

# Failures of the upstream itself; an expired entry may stand in for them.
# Anything else is a bug or a cancellation and propagates untouched.
_STALE_IF = (UpstreamError, UpstreamTimeout)


class CacheService:
    """The one entry point handlers use to read cached upstream answers.

    Args:
        backend: where entries live; ``close()`` closes it too.
        not_found_ttl: fresh lifetime of a stored 404 (0: 404s are not stored).
        stale_if_error: how long after expiry an entry may stand in for a
            failed load.
        stale_while_revalidate: how long after expiry an entry is served at once
            while one background load refreshes it (0: off).
        wait_timeout: the longest a caller waits for a shared load; the load
            itself runs on and still stores its answer.
        stats: the counters to bump.
        clock: wall clock in seconds; entries are stamped with it.
        timer: monotonic seconds, for spacing backend-failure warnings.

    A backend that is a ``LeaseProvider`` (shared by several instances) also
    coordinates loads across instances; others load once per process.
    """

    def __init__(
        self,
        backend: CacheBackend,
        *,
        not_found_ttl: float,
        stale_if_error: float,
        stale_while_revalidate: float,
        wait_timeout: float,
        stats: CacheStats,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
        warnings: RepeatedWarnings | None = None,
    ) -> None:
        self._backend = backend
        self._leases = backend if isinstance(backend, LeaseProvider) else None
        self._not_found_ttl = not_found_ttl
        self._stale_if_error = stale_if_error
        self._stale_while_revalidate = stale_while_revalidate
        self._wait_timeout = wait_timeout
        self._stats = stats
        self._clock = clock
        self._failures = BackendFailures(stats, timer)
        # Stale answers and failed refreshes come once per request in an outage.
        self._warnings = warnings or RepeatedWarnings(clock=timer)
        self._flight: SingleFlight[Loaded] = SingleFlight()
        # The tags of every key whose load runs, so a tag's invalidation can detach it.
        self._loading_tags: dict[str, tuple[str, ...]] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}

    async def get(
        self,
        key: str,
        *,
        ttl: float,
        load: Loader,
        bypass: bool = False,
        tags: tuple[str, ...] = (),
    ) -> CacheResult:
        """Answer for ``key`` from the cache, or from ``load`` (shared by concurrent callers).

        Args:
            key: the cache key, e.g. ``GET /rest/serverengine/entity/jobs/5``.
            ttl: fresh lifetime of a 200 answer stored now.
            load: performs the upstream request; raises ``UpstreamError`` or
                ``UpstreamTimeout`` when the upstream cannot answer.
            bypass: skip the stored entry (client ``no-cache``), load and store.
            tags: what the entry is stored under; `invalidate_tags` drops it by them.

        Raises:
            UpstreamError, UpstreamTimeout: the load failed and no stored entry
                may stand in for it.
        """
        if bypass:
            return await self._load_shared(key, ttl, load, CacheOutcome.BYPASS, None, tags)
        entry = await self._read(key)
        if entry is not None:
            now = self._clock()
            freshness = self._classify(entry, now)
            if freshness is Freshness.FRESH:
                self._stats.hits += 1
                return from_entry(entry, CacheOutcome.HIT, now)
            if freshness is Freshness.STALE_REVALIDATE:
                self._revalidate(key, ttl, load, tags)
                self._stats.stale += 1
                return from_entry(entry, CacheOutcome.STALE, now)
            if freshness is Freshness.EXPIRED:
                entry = None
        return await self._load_shared(key, ttl, load, CacheOutcome.MISS, entry, tags)

    async def invalidate_tags(self, *tags: str) -> None:
        """Drop every entry stored under ``tags``; loads running for them will not write back."""
        wanted = set(tags)
        for key, key_tags in list(self._loading_tags.items()):
            if wanted.intersection(key_tags):
                self._flight.forget(key)
        try:
            await self._backend.delete_tags(*tags)
        except Exception as exc:
            self._failures.record("delete_tags", ",".join(tags), exc)

    async def invalidate(self, *keys: str) -> None:
        """Drop ``keys`` now; loads already running for them will not write back."""
        for key in keys:
            self._flight.forget(key)
        try:
            await self._backend.delete(*keys)
        except Exception as exc:
            self._failures.record("delete", ",".join(keys), exc)

    async def clear(self) -> None:
        """Drop every entry; loads already running will not write back."""
        self._flight.forget_all()
        try:
            await self._backend.clear()
        except Exception as exc:
            self._failures.record("clear", "*", exc)

    async def close(self) -> None:
        """Cancel and await background refreshes and loads, then close the backend."""
        refreshes = list(self._refreshing.values())
        for task in refreshes:
            task.cancel()
        await asyncio.gather(*refreshes, return_exceptions=True)
        await self._flight.close()
        await self._backend.close()

    async def _load_shared(
        self,
        key: str,
        ttl: float,
        load: Loader,
        outcome: CacheOutcome,
        entry: Entry | None,
        tags: tuple[str, ...],
    ) -> CacheResult:
        if self._flight.in_flight(key):
            self._stats.coalesced += 1
        try:
            (fetched, stored), _ = await self._flight.do(
                key,
                partial(
                    self._load_and_store,
                    key,
                    ttl,
                    load,
                    tags,
                    reuse=outcome is not CacheOutcome.BYPASS,
                ),
                timeout=self._wait_timeout,
            )
        except _STALE_IF as exc:
            if outcome is CacheOutcome.BYPASS:
                entry = await self._read(key)
            result = self._fallback(key, entry, exc)
            if result is None:
                self._stats.errors += 1
                raise
            return result
        except Exception:
            self._stats.errors += 1
            raise
        if outcome is CacheOutcome.MISS:
            self._stats.misses += 1
        else:
            self._stats.bypass += 1
        if stored is None:
            return CacheResult(
                fetched.status, fetched.content_type, fetched.body, outcome, 0, 0, False
            )
        return CacheResult(
            fetched.status, fetched.content_type, fetched.body, outcome, 0, int(stored.ttl), True
        )

    def _classify(self, entry: Entry, now: float) -> Freshness:
        if entry.status == HTTPStatus.NOT_FOUND:
            # A negative entry lives cache.ttl.not_found, no more: never served stale.
            return classify(entry, now, stale_while_revalidate=0, stale_if_error=0)
        return classify(
            entry,
            now,
            stale_while_revalidate=self._stale_while_revalidate,
            stale_if_error=self._stale_if_error,
        )

    def _fallback(self, key: str, entry: Entry | None, exc: Exception) -> CacheResult | None:
        """Serve ``entry`` in place of a failed load when it is still usable."""
        if entry is None:
            return None
        now = self._clock()
        freshness = self._classify(entry, now)
        if freshness is Freshness.EXPIRED:
            return None
        if freshness is Freshness.FRESH:
            # Only a bypass gets here: the client asked for a reload, but a
            # fresh stored answer beats a 502.
            self._stats.hits += 1
            error = type(exc).__name__
            self._warnings.warning("cache_bypass_failed", error, key=key, error=error)
            return from_entry(entry, CacheOutcome.HIT, now)
        self._stats.stale += 1
        error = type(exc).__name__
        self._warnings.warning("cache_stale_served", error, key=key, error=error)
        return from_entry(entry, CacheOutcome.STALE, now)

    async def _load_and_store(
        self, key: str, ttl: float, load: Loader, tags: tuple[str, ...], *, reuse: bool = True
    ) -> Loaded:
        """The shared call: load once, store a 200 or 404 unless invalidated meanwhile.

        ``reuse``: with a shared backend, a fresh entry another instance stored
        since this caller's read is answered instead of loading (not for a bypass).
        """
        self._loading_tags[key] = tags
        try:
            if self._leases is not None:
                return await self._load_leased(self._leases, key, ttl, load, tags, reuse)
            return await self._load_then_store(key, ttl, load, None, tags)
        finally:
            # A detached load must not unregister the newer one that replaced it.
            if self._flight.owns(key) or not self._flight.in_flight(key):
                self._loading_tags.pop(key, None)

    async def _load_leased(
        self,
        leases: LeaseProvider,
        key: str,
        ttl: float,
        load: Loader,
        tags: tuple[str, ...],
        reuse: bool,
    ) -> Loaded:
        """Load once across instances: hold the key's lease, or wait for its holder."""
        try:
            lease = await leases.lease(key, tags)
        except Exception as exc:
            # Without a lease a write is unfenced: load, answer, store nothing.
            self._failures.record("lease", key, exc)
            return await load(), None
        try:
            # A read that missed may have raced a load that finished meanwhile (here or
            # elsewhere): the entry found on taking the lock is newer than that read.
            if lease.held:
                shared = as_loaded(lease.found, self._clock()) if reuse else None
            else:
                shared = await self._wait_for_holder(key, lease)
            if shared is not None:
                self._stats.coalesced += 1
                return shared
            return await self._load_then_store(key, ttl, load, lease, tags)
        finally:
            try:
                await lease.release()
            except Exception as exc:
                self._failures.record("release", key, exc)

    async def _wait_for_holder(self, key: str, lease: Lease) -> Loaded | None:
        """The entry another instance loaded while we waited, if it is fresh."""
        try:
            entry = await lease.wait()
        except Exception as exc:
            self._failures.record("wait", key, exc)
            return None
        return as_loaded(entry, self._clock())

    async def _load_then_store(
        self, key: str, ttl: float, load: Loader, lease: Lease | None, tags: tuple[str, ...]
    ) -> Loaded:
        fetched = await load()
        if not fetched.store:
            return fetched, None
        if fetched.status == HTTPStatus.OK:
            lifetime = ttl if fetched.ttl is None else fetched.ttl
        elif fetched.status == HTTPStatus.NOT_FOUND:
            lifetime = self._not_found_ttl
        else:
            return fetched, None
        if lifetime <= 0 or not self._flight.owns(key):
            return fetched, None
        entry = Entry(fetched.status, fetched.content_type, fetched.body, self._clock(), lifetime)
        try:
            if lease is None:
                await self._backend.set(key, entry, tags)
            elif not await lease.store(entry):
                return fetched, None  # invalidated by some instance during the load
        except Exception as exc:
            self._failures.record("set", key, exc)
            return fetched, None
        if not self._flight.owns(key):
            # Invalidated while the write was on its way (a remote backend):
            # take the old answer back out rather than serve it until it expires.
            try:
                await self._backend.delete(key)
            except Exception as exc:
                self._failures.record("delete", key, exc)
            return fetched, None
        self._stats.stores += 1
        return fetched, entry

    def _revalidate(self, key: str, ttl: float, load: Loader, tags: tuple[str, ...]) -> None:
        running = self._refreshing.get(key)
        if running is not None and not running.done():
            return
        task = asyncio.create_task(self._refresh(key, ttl, load, tags))
        self._refreshing[key] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._refreshing.get(key) is finished:
                del self._refreshing[key]

        task.add_done_callback(done)

    async def _refresh(self, key: str, ttl: float, load: Loader, tags: tuple[str, ...]) -> None:
        try:
            await self._flight.do(
                key,
                partial(self._load_and_store, key, ttl, load, tags),
                timeout=self._wait_timeout,
            )
        except Exception as exc:
            # Nobody awaits this task: the failure is logged, never raised.
            error = type(exc).__name__
            self._warnings.warning("cache_refresh_failed", error, key=key, error=error)

    async def _read(self, key: str) -> Entry | None:
        try:
            return await self._backend.get(key)
        except Exception as exc:
            # The cache only saves upstream calls: a broken backend degrades
            # to misses instead of failing requests.
            self._failures.record("get", key, exc)
            return None
