"""Waiting on operations: one poller per operation, however many clients wait (SPEC §11.3).

A `Watch` holds what this process knows of one operation: the progress values
in order, or how it ended. Waiters cost one `asyncio.Event` wait each, on the
request they already are: no task per waiter. One task per watched operation
polls OL Connect every `operations.poll_interval` while anyone waits — when
the store grants it the poll permit (Redis: one poll per interval for the
whole cluster); otherwise it reads what the permit holder stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final
from urllib.parse import quote

import structlog
from aiohttp import hdrs

from gateway.catalogue import BASE
from gateway.config.model import Config
from gateway.errors import GatewayError, UpstreamError
from gateway.operations.owners import Owners, make_store
from gateway.operations.records import DONE, OperationRecord, operation_key, progress_value
from gateway.operations.store import StoreUnavailable
from gateway.telemetry.metrics import Metrics
from gateway.upstream.client import UpstreamClient, UpstreamResponse

log = structlog.get_logger("gateway.operations")

Fetch = Callable[[str, str], Awaitable[UpstreamResponse]]
# A progress answer is a number or `done`; anything longer is not one.
PROGRESS_MAX_BODY: Final = 4096


@contextlib.asynccontextmanager
async def running(
    config: Config,
    owners_path: str | None,
    upstream: Callable[[], UpstreamClient],
    metrics: Metrics,
) -> AsyncIterator[tuple[Owners, Watchers]]:
    """The owners (on the store that fits ``config``) and the watchers of one app, for its
    lifetime; the pollers stop and the store closes on the way out.

    Args:
        config: the gateway's config.
        owners_path: the file `serve --workers` shares on the memory back-end, if any.
        upstream: the app's upstream client (made by another lifecycle, so read late).
        metrics: where polls and watched operations are counted.
    """

    async def fetch(service: str, op_id: str) -> UpstreamResponse:
        return await upstream().request(
            hdrs.METH_GET,
            f"{BASE}/{service}/getProgress/{quote(op_id, safe='')}",
            route=f"{BASE}/{service}/getProgress/{{operationId}}",
            headers={hdrs.ACCEPT: "text/plain"},
            max_body=PROGRESS_MAX_BODY,
        )

    owners = Owners(make_store(config, owners_path), config)
    watchers = Watchers(owners, fetch, interval=config.operations.poll_interval, metrics=metrics)
    try:
        yield owners, watchers
    finally:
        await watchers.close()
        await owners.store.close()


@dataclass(frozen=True, slots=True)
class Gone:
    """OL Connect's answer when it no longer knew an operation the gateway had not seen finish."""

    status: int
    content_type: str
    body: bytes


class Watch:
    """One operation waited on in this process.

    Args:
        op_id: the operation id as the first waiter spelled it.
        service: its service, whose ``getProgress`` is polled.
        history: the progress values already known (from the store).
    """

    __slots__ = ("_changed", "error", "gone", "history", "op_id", "service", "task", "waiters")

    def __init__(self, op_id: str, service: str, history: Iterable[str] = ()) -> None:
        self.op_id = op_id
        self.service = service
        self.history: list[str] = list(history)
        self.gone: Gone | None = None
        self.error: GatewayError | None = None
        self.waiters = 0
        self.task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def done(self) -> bool:
        return bool(self.history) and self.history[-1] == DONE

    @property
    def finished(self) -> bool:
        """Done, or gone: nothing will change any more."""
        return self.done or self.gone is not None

    def learn(self, history: Iterable[str]) -> None:
        """Take a longer history (from a poll or the store) and wake the waiters."""
        known = list(history)
        # Never back to a shorter history (an older read of the store); an equal length
        # that differs is a history at its bound that moved on.
        if known != self.history and len(known) >= len(self.history) and not self.done:
            self.history = known
            self._notify()

    def end(self, gone: Gone) -> None:
        self.gone = gone
        self._notify()

    async def next_change(self, deadline: float) -> bool:
        """Wait for the next change until ``deadline`` (loop time); False if it passed."""
        event = self._changed  # taken before any await: no change can slip between
        try:
            async with asyncio.timeout_at(deadline):
                await event.wait()
        except TimeoutError:
            return False
        return True

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()


class Watchers:
    """Every watched operation of this process, each with its one poller.

    Args:
        owners: the records (progress is written there, and read from there).
        fetch: one upstream ``getProgress`` of (service, operation id).
        interval: `operations.poll_interval`.
        metrics: counts polls; reports how many operations are watched.
    """

    def __init__(self, owners: Owners, fetch: Fetch, *, interval: float, metrics: Metrics) -> None:
        self._owners = owners
        self._fetch = fetch
        self._interval = interval
        self._metrics = metrics
        self._watches: dict[str, Watch] = {}
        metrics.operations_watched.set_function(lambda: len(self._watches))

    def __len__(self) -> int:
        return len(self._watches)

    @contextlib.asynccontextmanager
    async def watching(
        self, op_id: str, service: str, record: OperationRecord | None = None
    ) -> AsyncIterator[Watch]:
        """Join (or start) the watch of an operation while the block runs."""
        key = operation_key(op_id)
        watch = self._watches.get(key)
        if watch is None:
            watch = Watch(op_id, service, record.history if record is not None else ())
            if not watch.finished:
                self._watches[key] = watch
                watch.task = asyncio.create_task(self._run(key, watch), name=f"watch-{key}")
        elif record is not None:
            watch.learn(record.history)
        watch.waiters += 1
        try:
            yield watch
        finally:
            watch.waiters -= 1

    async def close(self) -> None:
        """Stop every poller."""
        tasks = [w.task for w in self._watches.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._watches.clear()

    async def _run(self, key: str, watch: Watch) -> None:
        """Poll while anyone waits; stay one more interval after, so a waiter who comes
        back at once does not cause an early poll, and late waiters of a finished
        operation get its end without one."""
        idle = False
        try:
            while True:
                if watch.waiters and not watch.finished:
                    await self._tick(key, watch)
                elif idle or watch.finished:
                    if watch.finished:
                        await asyncio.sleep(self._interval)
                    return
                idle = not watch.waiters
                await asyncio.sleep(self._interval)
        except Exception:  # a poller must never die silently with waiters on it
            log.exception("operation_watch_failed", service=watch.service)
            watch.end(Gone(HTTPStatus.BAD_GATEWAY, "", b""))
        finally:
            if self._watches.get(key) is watch:
                del self._watches[key]

    async def _tick(self, key: str, watch: Watch) -> None:
        try:
            permitted = await self._owners.store.poll_permit(key, self._interval)
        except StoreUnavailable:
            permitted = True  # the cluster's pacing is lost for now; ours still holds
        if not permitted:
            try:
                record = await self._owners.store.operation(key)
            except StoreUnavailable:
                return
            if record is not None:
                watch.learn(record.history)
            return
        self._metrics.operation_polls.inc()
        try:
            answer = await self._fetch(watch.service, watch.op_id)
        except GatewayError as exc:
            watch.error = exc  # waiters keep waiting: the next poll may work
            return
        watch.error = None
        value = progress_value(answer.body) if answer.status == HTTPStatus.OK else None
        if value is not None:
            record = await self._owners.advance(watch.op_id, value)
            if record is not None:
                watch.learn(record.history)
            else:  # an operation the gateway never saw: this process remembers alone
                watch.learn(OperationRecord("", "", tuple(watch.history)).advanced(value).history)
        elif answer.status == HTTPStatus.OK:
            watch.error = UpstreamError("unexpected getProgress answer")
        elif answer.status == HTTPStatus.NOT_FOUND and await self._seen_done(key, watch):
            return
        else:
            watch.end(Gone(answer.status, answer.content_type, answer.body))

    async def _seen_done(self, key: str, watch: Watch) -> bool:
        """Whether any gateway on the store saw the operation finish (SPEC §10.4)."""
        try:
            record = await self._owners.store.operation(key)
        except StoreUnavailable:
            return False
        if record is None or not record.done:
            return False
        watch.learn(record.history)
        return True
