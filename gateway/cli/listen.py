"""Can `server.host` be listened on? A warning from check-config, one line from serve.

`check-config` runs where the config is written, which may not be where it is
served (a laptop, a CI job), so a host it cannot resolve or bind is a warning
there; `serve` then fails with a message naming the key instead of a bare
"Name or service not known".
"""

from __future__ import annotations

import errno
import socket


class ListenError(OSError):
    """`serve` could not listen; `strerror` is one line naming the config key."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EINVAL, message)


def host_problem(host: str) -> str | None:
    """Why `host` cannot be listened on from this machine, or None.

    Binds a throw-away socket to every address `host` resolves to, on port 0:
    the configured port may be taken by the gateway this config is meant for.
    """
    try:
        addresses = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a valid host name"
        return f"server.host: {host!r} does not resolve ({reason})"
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            try:
                probe.bind((address[0], 0, *address[2:]))
            except OSError as exc:
                return f"server.host: cannot listen on {address[0]} ({exc.strerror})"
    return None


def listen_error(exc: OSError, host: str, port: int) -> ListenError:
    """A one-line `ListenError` naming the config key behind a failed bind."""
    if isinstance(exc, socket.gaierror):
        return ListenError(f"server.host: {host!r} does not resolve ({exc.strerror})")
    if exc.errno == errno.EADDRINUSE:
        return ListenError(f"server.port: {port} is already in use on {host}")
    if exc.errno == errno.EACCES:
        return ListenError(f"server.port: {port} on {host} needs privileges this user lacks")
    if exc.errno == errno.EADDRNOTAVAIL:
        return ListenError(f"server.host: {host} is not an address of this machine")
    return ListenError(f"server.host: cannot listen on {host}:{port} ({exc.strerror or exc})")
