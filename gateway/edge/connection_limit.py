"""`server.max_connections`: a connection over the limit gets a 503 at once, not a hang (F7).

Each open connection holds a file descriptor and a little memory; slow
clients that never finish a request head (the slow-header attack) would
otherwise take every descriptor the process has, and then the listening
socket's ``accept()`` fails over and over (EMFILE) while nobody gets an
answer. Over the limit, `RefusedConnection` takes the connection instead of
aiohttp's request handler: it writes one fixed answer — 503, a JSON Error,
``Retry-After: 1``, ``Connection: close`` — without reading the request,
half-closes, and closes once the client has hung up or `LINGER` seconds
have passed. It costs one small object and holds its descriptor for at most
`LINGER` seconds.
"""

from __future__ import annotations

import asyncio
import secrets
from http import HTTPStatus
from typing import Final

from gateway.errors import error_body

# How long a refused connection stays open for its client to read the answer. Closing
# at once, while the client's request is still unread, could send a reset that
# destroys the answer before the client reads it.
LINGER: Final = 2.0
MESSAGE: Final = "gateway busy: too many connections"


def refusal(server_name: str) -> bytes:
    """The whole HTTP answer a refused connection gets (a fresh X-Request-ID each time)."""
    status = HTTPStatus.SERVICE_UNAVAILABLE
    body = error_body(status, MESSAGE)
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n"
        f"Server: {server_name}\r\n"
        f"X-Request-ID: {secrets.token_hex(16)}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


class RefusedConnection(asyncio.Protocol):
    """A connection over `server.max_connections`: answered 503 at once, then closed.

    Args:
        answer: the bytes to send (`refusal`).
        linger: seconds to wait for the client to hang up before closing.
    """

    def __init__(self, answer: bytes, linger: float = LINGER) -> None:
        self._answer = answer
        self._linger = linger
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):  # a listening TCP socket's are
            transport.close()
            return
        self._transport = transport
        transport.write(self._answer)
        if transport.can_write_eof():
            transport.write_eof()  # the client reads the answer, then its end
        self._timer = asyncio.get_running_loop().call_later(self._linger, transport.close)

    def data_received(self, data: bytes) -> None:
        """The request itself is never read: the answer does not depend on it."""

    def eof_received(self) -> bool:
        if self._transport is not None:
            self._transport.close()
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._transport = None
