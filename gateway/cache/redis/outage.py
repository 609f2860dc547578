"""A Redis that failed once is skipped until a background probe gets an answer.

A hanging Redis (stopped, not dead) answers nothing: every call waits out its
timeout. So requests never probe it: after the first failure they skip Redis
at once, and one task, off the request path, asks every retry interval until
Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class Outage:
    """Whether Redis is skipped now, and the probe that ends the skipping.

    Args:
        probe: one round trip to Redis (and whatever must be replayed before it is
            used again); raises while Redis cannot be used.
        interval: seconds between probes.
        timeout: the longest one probe may take.
        on_down: called with the failure that started an outage.
        on_up: called when a probe succeeded and the outage ended.
    """

    def __init__(
        self,
        probe: Callable[[], Awaitable[None]],
        *,
        interval: float,
        timeout: float,
        on_down: Callable[[BaseException], None],
        on_up: Callable[[], None],
    ) -> None:
        self._probe = probe
        self._interval = interval
        self._timeout = timeout
        self._on_down = on_down
        self._on_up = on_up
        self._task: asyncio.Task[None] | None = None
        self.down = False

    def failed(self, exc: BaseException) -> None:
        """Start skipping Redis, and probing it, unless already doing so."""
        if self.down:
            return
        self.down = True
        self._on_down(exc)
        self._task = asyncio.get_running_loop().create_task(self._probe_until_up())

    async def close(self) -> None:
        """Stop probing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _probe_until_up(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                async with asyncio.timeout(self._timeout):
                    await self._probe()
            except Exception:  # noqa: S112 - still down: the next probe tries again
                continue
            self.down = False
            self._on_up()
            return
