"""Single-flight: concurrent calls for one key share one execution."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from gateway.errors import UpstreamError, UpstreamTimeout

T = TypeVar("T")


async def _call(fn: Callable[[], Awaitable[T]]) -> T:
    # fn() is only called inside the task, so a task cancelled before it
    # starts leaves no un-awaited coroutine behind.
    return await fn()


class SingleFlight(Generic[T]):
    """Run at most one call per key at a time and hand its outcome to every caller.

    The shared call runs as its own task: a caller that is cancelled or gives
    up waiting never cancels it for the others. Nothing is remembered once the
    call is done; the next caller starts afresh.
    """

    def __init__(self) -> None:
        self._calls: dict[str, asyncio.Task[T]] = {}
        self._running: set[asyncio.Task[T]] = set()

    # The timeout bounds only this caller's wait while the shared call runs on,
    # so it is a parameter and answers UpstreamTimeout rather than cancelling.
    async def do(
        self,
        key: str,
        fn: Callable[[], Awaitable[T]],
        *,
        timeout: float,  # noqa: ASYNC109
    ) -> tuple[T, bool]:
        """Join the call running for ``key``, or start ``fn`` as that call.

        Args:
            key: what the call is for.
            fn: the work to share, called only when no call for ``key`` runs.
            timeout: the longest this caller waits; the call itself goes on.

        Returns:
            The call's result and whether this caller started it.

        Raises:
            UpstreamTimeout: the call did not finish within ``timeout``.
            UpstreamError: the call was cancelled by ``close()``.
            Exception: whatever the call raised, the same object for every caller.
        """
        task = self._calls.get(key)
        leader = task is None or task.done()
        if task is None or task.done():
            task = asyncio.create_task(_call(fn))
            self._calls[key] = task
            self._running.add(task)
            task.add_done_callback(self._finished(key))
        if not task.done():
            done, _ = await asyncio.wait((task,), timeout=timeout)
            if not done:
                raise UpstreamTimeout(parameter=key)
        if task.cancelled():
            raise UpstreamError("cache is shutting down", parameter=key)
        return task.result(), leader

    def _finished(self, key: str) -> Callable[[asyncio.Task[T]], None]:
        def done(task: asyncio.Task[T]) -> None:
            self._running.discard(task)
            if self._calls.get(key) is task:
                del self._calls[key]
            if not task.cancelled():
                # Mark the exception retrieved: with no waiter left (all timed
                # out or were cancelled) asyncio would otherwise warn about it.
                task.exception()

        return done

    def owns(self, key: str) -> bool:
        """True when the running task is the current call for ``key``.

        A call uses this before publishing its result: after ``forget`` it is
        detached and must not write back.
        """
        task = self._calls.get(key)
        return task is not None and task is asyncio.current_task()

    def forget(self, key: str) -> None:
        """Detach the call for ``key``: it runs on, later callers start a new one."""
        self._calls.pop(key, None)

    def forget_all(self) -> None:
        """Detach every call."""
        self._calls.clear()

    def in_flight(self, key: str) -> bool:
        """True while a call that new callers would join runs for ``key``."""
        task = self._calls.get(key)
        return task is not None and not task.done()

    async def close(self) -> None:
        """Cancel and await every call still running, detached ones included."""
        self._calls.clear()
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
