"""Budgets: upstream slots (in all and per client) and the bytes of request bodies held in memory.

A client can take the gateway from everyone else by holding what all share.
These bounds keep each share finite (issue 23, F4 and F5):

- `Slots`: `upstream.max_connections` requests in flight upstream, and at most
  `clients[].max_concurrent` of them per client (default a fair share, a
  quarter of the total). A request waits at most `upstream.timeout` in all for
  its client's share and then for a slot, in arrival order; past it, 503 +
  Retry-After. Other clients' requests keep finding slots.
- `BodyBudget`: `server.max_buffered` bytes of request bodies held before and
  while they go upstream; a request whose body does not fit gets 503 +
  Retry-After at once.

Every refusal is a rate-limited `budget_exceeded` event (`UpstreamEvents`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from typing import Final, NamedTuple

from aiohttp import hdrs

from gateway.errors import RequestTimeout, ServiceUnavailable
from gateway.upstream.events import (
    BODY_STALLED,
    BUFFERED_BYTES,
    CLIENT_SLOTS,
    UPSTREAM_SLOTS,
    UpstreamEvents,
)

RETRY_NOW: Final = {str(hdrs.RETRY_AFTER): "1"}


class UpstreamBusy(ServiceUnavailable):
    """Every upstream slot stayed taken for `upstream.timeout`."""

    message = "upstream busy: too many requests in flight"


class ClientBusy(ServiceUnavailable):
    """The client's own share of upstream slots stayed taken for `upstream.timeout`."""

    message = "too many requests of this client in flight"


class BuffersFull(ServiceUnavailable):
    """`server.max_buffered` bytes of request bodies are already held."""

    message = "gateway busy: too many request bodies in flight"


class Share(NamedTuple):
    """Whose request this is: the client's name and its `max_concurrent` (None: the fair share)."""

    client: str
    limit: int | None


class _Gate:
    """At most `limit` holders at once; waiters get a freed place in arrival order."""

    __slots__ = ("_waiters", "in_use", "limit")

    def __init__(self, limit: int) -> None:
        self.in_use = 0
        self.limit = limit
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def free(self) -> bool:
        """Enter at once if a place is free and nobody waits before us."""
        if self.in_use < self.limit and not self._waiters:
            self.in_use += 1
            return True
        return False

    async def enter(self) -> None:
        """Wait for a place; a place handed over as the wait is cancelled is passed on."""
        if self.free():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # handed a place just as we gave up: the next waiter takes it
            else:
                self._waiters.remove(waiter)
            raise

    def leave(self) -> None:
        self.in_use -= 1
        # Hand freed places straight to the first waiters, so none is overtaken.
        while self._waiters and self.in_use < self.limit:
            self.in_use += 1
            self._waiters.popleft().set_result(None)

    def idle(self) -> bool:
        return self.in_use == 0 and not self._waiters


class Slots:
    """`upstream.max_connections` slots, each client's share of them, and the wait for one.

    Args:
        total: `upstream.max_connections`.
        timeout: `upstream.timeout`: the longest wait, for the share and the slot together.
        fair_share: a client's share when its `max_concurrent` is unset.
        events: where refusals are logged (rate-limited).
    """

    def __init__(
        self, total: int, *, timeout: float, fair_share: int, events: UpstreamEvents
    ) -> None:
        self._all = _Gate(total)
        self._timeout = timeout
        self._fair_share = fair_share
        self._events = events
        self._shares: dict[str, _Gate] = {}  # only clients with requests in flight or waiting
        self.pending = 0  # requests holding a slot or waiting for one (or for their share)

    @property
    def in_use(self) -> int:
        """Slots held now."""
        return self._all.in_use

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot (not those waiting for their client's share)."""
        return self._all.waiting

    def held_by(self, client: str) -> int:
        """Slots (or places in its share) the client holds now."""
        share = self._shares.get(client)
        return 0 if share is None else share.in_use

    @contextlib.asynccontextmanager
    async def hold(self, share: Share | None) -> AsyncIterator[None]:
        """Hold a slot (and a place in the client's share) for the block.

        Raises:
            ClientBusy: the client's share stayed full for `timeout`.
            UpstreamBusy: every slot stayed taken for the rest of `timeout`.
        """
        gate = None if share is None else self._share(share)
        entered = False
        deadline = asyncio.get_running_loop().time() + self._timeout
        self.pending += 1
        try:
            if gate is not None:
                if not gate.free():
                    await self._wait(gate, deadline, ClientBusy, CLIENT_SLOTS, share)
                entered = True
            if not self._all.free():
                await self._wait(self._all, deadline, UpstreamBusy, UPSTREAM_SLOTS, share)
        except BaseException:
            self._done(gate, share, entered=entered)
            raise
        try:
            yield
        finally:
            self._all.leave()
            self._done(gate, share, entered=True)

    def _done(self, gate: _Gate | None, share: Share | None, *, entered: bool) -> None:
        """Leave the client's share (if entered); forget it once nobody holds or waits."""
        self.pending -= 1
        if gate is None or share is None:
            return
        if entered:
            gate.leave()
        if gate.idle():
            self._shares.pop(share.client, None)

    def _share(self, share: Share) -> _Gate:
        limit = share.limit or self._fair_share
        gate = self._shares.get(share.client)
        if gate is None:
            gate = self._shares[share.client] = _Gate(limit)
        gate.limit = limit  # a reload may have changed it
        return gate

    async def _wait(
        self,
        gate: _Gate,
        deadline: float,
        error: type[ServiceUnavailable],
        cause: str,
        share: Share | None,
    ) -> None:
        try:
            async with asyncio.timeout_at(deadline):
                await gate.enter()
        except TimeoutError:
            fields = {} if share is None else {"client": share.client}
            self._events.budget_exceeded(cause, **fields)
            raise error(headers=dict(RETRY_NOW)) from None


class BodyBudget:
    """What request bodies may cost: bytes held in memory, and the client's time.

    Args:
        max_buffered: `server.max_buffered`: bytes of request bodies held at once.
        client_timeout: `server.client_timeout`: the longest a body may go without progress.
        events: where refusals and stalls are logged (rate-limited).
    """

    def __init__(self, *, max_buffered: int, client_timeout: float, events: UpstreamEvents) -> None:
        self.limit = max_buffered
        self.client_timeout = client_timeout
        self.held = 0
        self._events = events

    def take(self, size: int) -> None:
        """Hold `size` more bytes.

        Raises:
            BuffersFull: they do not fit in `max_buffered`.
        """
        if self.held + size > self.limit:
            self._events.budget_exceeded(BUFFERED_BYTES, held=self.held)
            raise BuffersFull(headers=dict(RETRY_NOW))
        self.held += size

    def give(self, size: int) -> None:
        """Bytes taken before are no longer held."""
        self.held -= size

    def stalled(self) -> RequestTimeout:
        """A body made no progress for `client_timeout`: logged, and the 408 to raise."""
        self._events.budget_exceeded(BODY_STALLED)
        return RequestTimeout(parameter="body")
