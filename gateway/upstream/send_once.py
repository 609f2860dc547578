"""Requests that must not be sent twice: a GET that changes state in OL Connect (SPEC §10.2).

aiohttp resends an idempotent request (GET, PUT, DELETE) once when its pooled
connection breaks before the answer. OL Connect's GETs that delete or render
may already have run by then, so for them that break is final: `SEND_ONCE`,
a client middleware, turns it into `NotResent` before aiohttp can retry.
"""

from __future__ import annotations

import errno
from typing import Final

import aiohttp


class NotResent(aiohttp.ClientConnectionError):
    """The connection broke under a request that must not be sent twice (SPEC §10.2)."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        # `connection_cause` names it as it would have named the original: a reset.
        self.errno = getattr(original, "errno", None) or errno.ECONNRESET


async def _send_once(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """A client middleware: a connection that breaks before the answer is final."""
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # never connected: nothing was sent, and aiohttp does not resend it
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        raise NotResent(exc) from exc


SEND_ONCE: Final = (_send_once,)
