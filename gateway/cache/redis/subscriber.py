"""Invalidations announced by other processes, applied to this process's near cache.

Why pub/sub and not RESP3 client-side tracking: the scripts that drop entries
already know which keys they dropped and publish them on one channel under
the prefix, which works with any Redis the back-end supports and through
proxies that pass pub/sub; redis-py's client-side caching exists for its
synchronous client only. Tracking would also report keys Redis evicts or
expires, which the near cache does not need: such an entry is not wrong.

Messages: ``c`` (the cache was cleared) or ``k`` and the dropped keys, one per
line. A message is a hint that shortens staleness; the bound is the near
cache's ttl, which holds even while no message can arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.cache.near import NearCache

log = structlog.get_logger(__name__)

RESUBSCRIBE_INTERVAL: Final = 1.0


def apply(near: NearCache, data: bytes) -> None:
    """Drop what one message names from ``near``; anything unreadable drops everything."""
    if data.startswith(b"k\n"):
        try:
            near.drop(data[2:].decode().split("\n"))
        except UnicodeDecodeError:
            near.clear()
        return
    near.clear()


class Invalidations:
    """A task subscribed to ``channel``, dropping the keys other processes invalidated.

    Args:
        url: the Redis URL; the subscription has its own connection, without a read timeout.
        channel: the back-end's near-cache channel.
        near: the cache to drop from.
        timeout: the bound on connecting.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str,
        near: NearCache,
        timeout: float,
    ) -> None:
        self._url = url
        self._channel = channel
        self._near = near
        self._timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.subscribed = asyncio.Event()

    def start(self) -> None:
        """Subscribe in the background, resubscribing after every failure."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Unsubscribe and stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (RedisError, OSError) as exc:
                if not self._failing:  # once per outage: it is retried every interval
                    log.warning(
                        "near_cache_unsubscribed", error=type(exc).__name__, bound="cache.near_ttl"
                    )
                self._failing = True
            self.subscribed.clear()
            self._near.clear()  # messages may have been missed meanwhile
            await asyncio.sleep(RESUBSCRIBE_INTERVAL)

    async def _listen(self) -> None:
        client = Redis.from_url(
            self._url,
            socket_connect_timeout=self._timeout,
            # Failures end the subscription here, where the near cache is cleared.
            retry=Retry(NoBackoff(), 0),
        )
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            message: dict[str, Any]
            async for message in pubsub.listen():
                if message["type"] == "subscribe":
                    self._near.clear()  # anything kept before may have missed a message
                    self.subscribed.set()
                    if self._failing:
                        log.info("near_cache_resubscribed")
                    self._failing = False
                elif message["type"] == "message":
                    apply(self._near, message["data"])
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await client.aclose()
