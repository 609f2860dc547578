"""`getProgress` with `Prefer: wait=N`: one answer when the operation is done, gone, or N s passed;
and the app lifecycle of the owners and watchers it waits with (`operations_ctx`).

The request joins the operation's watch (`gateway.operations.watch`) instead
of polling OL Connect itself: however many clients wait, the gateway polls
once per `operations.poll_interval`. `Prefer` is read as RFC 7240 §4.3 says: a
preference the gateway does not understand (a malformed or zero ``wait``) is
ignored — no wait, never a 400.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Final

from aiohttp import web

from gateway.errors import UpstreamError, UpstreamTimeout
from gateway.operations.records import DONE, OperationRecord
from gateway.operations.watch import Watch, running
from gateway.state import CONFIG, METRICS, OWNERS, UPSTREAM, WATCHERS

_PLAIN = "text/plain"
MAX_WAIT: Final = 60  # seconds (SPEC §11.3); a longer wait is cut to this
PREFERENCE_APPLIED: Final = "Preference-Applied"


def requested_wait(values: Iterable[str]) -> int | None:
    """The seconds of the first ``wait`` preference in the ``Prefer`` header values, capped
    at `MAX_WAIT`; None when there is none, or it is not a whole number above 0."""
    for value in values:
        for preference in value.split(","):
            token = preference.split(";", 1)[0]
            name, sep, raw = token.partition("=")
            if name.strip().lower() != "wait":
                continue
            seconds = raw.strip().strip('"') if sep else ""
            if not seconds.isascii() or not seconds.isdigit() or len(seconds) > 9:
                return None
            return min(int(seconds), MAX_WAIT) or None
    return None


def applied(seconds: int) -> dict[str, str]:
    """The answer header saying the wait was honoured."""
    return {PREFERENCE_APPLIED: f"wait={seconds}"}


async def waited_progress(
    request: web.Request,
    op_id: str,
    service: str,
    record: OperationRecord | None,
    seconds: int,
) -> web.Response:
    """Answer ``getProgress`` as soon as the operation is done or gone, else after ``seconds``
    with the latest progress; `Preference-Applied` says the wait was honoured.

    Args:
        request: the client's request (its owner check passed).
        op_id: the operation id from the path.
        service: the service whose getProgress is polled.
        record: what the gateway remembers of the operation, if anything.
        seconds: the wait, already capped.
    """
    headers = applied(seconds)
    if record is not None and record.done:
        return web.Response(body=DONE.encode(), content_type=_PLAIN, headers=headers)
    deadline = asyncio.get_running_loop().time() + seconds
    async with request.app[WATCHERS].watching(op_id, service, record) as watch:
        while not watch.finished:
            if not await watch.next_change(deadline):
                break  # the deadline passed: answer the latest progress
        return _answer(watch, headers)


def _answer(watch: Watch, headers: dict[str, str]) -> web.Response:
    """The answer of a wait that ended: done, gone, the latest progress, or the last failure."""
    if watch.done:
        return web.Response(body=DONE.encode(), content_type=_PLAIN, headers=headers)
    gone = watch.gone
    if gone is not None:
        if not gone.content_type:
            raise UpstreamError()
        return web.Response(
            status=gone.status,
            body=gone.body,
            headers={"Content-Type": gone.content_type, **headers},
        )
    if watch.history:
        return web.Response(body=watch.history[-1].encode(), content_type=_PLAIN, headers=headers)
    raise watch.error or UpstreamTimeout()


def operations_ctx(owners_path: str | None) -> Callable[[web.Application], AsyncIterator[None]]:
    """The app's owners and watchers (`app[OWNERS]`, `app[WATCHERS]`) for its lifetime.

    Args:
        owners_path: the file `serve --workers` share on the memory back-end, if any.
    """

    async def operations(app: web.Application) -> AsyncIterator[None]:
        upstream = lambda: app[UPSTREAM]  # noqa: E731 - made later, by the upstream's ctx
        async with running(app[CONFIG], owners_path, upstream, app[METRICS]) as (owners, watch):
            app[OWNERS], app[WATCHERS] = owners, watch
            yield

    return operations
