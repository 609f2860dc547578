"""One normalisation of a request's path, done once (SPEC §10.6): what OL Connect would read.

OL Connect runs in a Java servlet container, which decodes a path its own way:
``..;`` is ``..`` on Tomcat, ``%u002e`` is ``.`` on Jetty, an overlong
``%c0%ae`` is ``.`` to a lenient decoder, ``%252e`` becomes ``.`` on a second
decode. A path the gateway read one way and OL Connect another would be
scoped on one service and run on another. So a path is decoded here once,
the way a servlet container would, and anything a container could read
differently is refused with 400 before routing, scopes or the cache see it:

* a dot segment in any spelling (``.``, ``..``, ``%2e``, ``%252e``, ``%u002e``,
  ``%c0%ae``; any segment made only of dots and spaces, which Windows reads as
  a dot segment too), an empty segment (``//``);
* ``;`` anywhere in the path, raw or encoded (path parameters: ``..;/``, ``.;x/``);
* an encoded ``/`` or ``\\`` (once or twice encoded) and a raw ``\\``;
* ``%`` that is not followed by two hex digits (``%u…``), a ``%`` left after
  decoding (a double encoding), bytes that are not UTF-8 (overlong forms included);
* any other character outside the allow-list below, and a ``_method`` query
  parameter (a method override some servlet filters honour).

Allowed in a decoded segment — RFC 3986 ``pchar`` minus what OL Connect paths
never use: ASCII letters and digits, ``-._~``, ``!$&'()*+,=:@`` (the
sub-delims without ``;``), the space (file and template names), and non-ASCII
letters, digits and marks (Unicode categories L, N, M: ``Rechnung_März``).

A single trailing slash is dropped (JAX-RS matches a template with or without
one: ``GET filestore/`` is the handshake the C# client sends), so such a path
is routed, scoped, cached and forwarded as the path without it. The path goes
upstream as the client spelled it, minus that slash: it decodes to exactly
the path routing and scopes read. The query string goes as it came.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote_plus, unquote_to_bytes

from aiohttp import web

from gateway.errors import BadRequest

# Unreserved and sub-delims without ";", plus ":" and "@" (RFC 3986 pchar, "%" apart).
_ASCII_SAFE: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@"
)
# What a decoded segment may hold beyond the raw set: a space (encoded as %20).
_DECODED_ASCII: Final = _ASCII_SAFE | {" "}
_PLAIN_PATH: Final = re.compile(r"(?:/[A-Za-z0-9\-_~!$&'()*+,=:@.]+)+")
_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ABSOLUTE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*")
_LETTERS: Final = ("L", "M", "N")
METHOD_OVERRIDE_PARAMETER: Final = "_method"


class PathRefused(BadRequest):
    """A path a servlet container could read otherwise than the gateway: never forwarded."""

    message = "path refused"


@dataclass(frozen=True, slots=True)
class RequestPath:
    """A request's path, normalised once.

    Args:
        raw: the path to forward: the client's spelling, a trailing slash dropped.
        decoded: what it means, the way OL Connect decodes it: routing and scopes read this.
        query: the raw query string byte for byte; None when the target had no ``?``.
    """

    raw: str
    decoded: str
    query: str | None

    @property
    def target(self) -> str:
        """Path and query for the upstream request line."""
        return self.raw if self.query is None else f"{self.raw}?{self.query}"


def _refuse(reason: str) -> PathRefused:
    return PathRefused(f"path refused: {reason}", parameter="path")


def _origin_form(target: str) -> str:
    """The path and query of a request target; an absolute-form one loses its origin.

    The absolute form is cut here, from the raw text: yarl would resolve its dot
    segments before anything could refuse them.
    """
    if target.startswith("/"):
        return target
    absolute = _ABSOLUTE.match(target)
    if absolute is None:
        raise _refuse("not a path")
    rest = target[absolute.end() :]
    return rest if rest.startswith("/") else "/" + rest


def _decode_segment(raw: str) -> str:
    """One raw segment, percent-decoded as UTF-8, or refused."""
    if "%" not in raw:
        for char in raw:
            if char not in _ASCII_SAFE:
                raise _refuse("a character outside the allowed set")
        decoded = raw
    else:
        if _ESCAPE.search(raw):
            raise _refuse("a % that is not a %XX escape")
        for char in raw:
            if char != "%" and char not in _ASCII_SAFE:
                raise _refuse("a character outside the allowed set")
        try:
            decoded = unquote_to_bytes(raw).decode("utf-8")  # strict: overlong forms refused
        except UnicodeDecodeError:
            raise _refuse("bytes that are not UTF-8") from None
        for char in decoded:
            if char in _DECODED_ASCII:
                continue
            if char.isascii() or not unicodedata.category(char).startswith(_LETTERS):
                # "/", "\", ";", "%" (a double encoding), controls, symbols, lookalikes
                raise _refuse("an encoded character outside the allowed set")
    if not decoded.strip(". "):
        raise _refuse("a dot segment" if decoded else "an empty segment")
    return decoded


def _check_query(query: str) -> None:
    if "%" not in query and "method" not in query.lower():
        return  # the common case: no parameter can spell _method
    for pair in re.split("[&;]", query):
        name = unquote_plus(pair.partition("=")[0])
        if name.strip().lower() == METHOD_OVERRIDE_PARAMETER:
            raise _refuse("a _method query parameter (method override)")


def parse(target: str) -> RequestPath:
    """Normalise a raw request target (origin or absolute form).

    Raises:
        PathRefused: the path is ambiguous to a servlet container (see the module text).
    """
    path, question, query = _origin_form(target).partition("?")
    if question:
        _check_query(query)
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    if _PLAIN_PATH.fullmatch(path) and "/." not in path:
        # The common case: nothing to decode, no dot that could start a dot segment.
        return RequestPath(path, path, query if question else None)
    segments = path.split("/")[1:]
    if segments == [""]:
        return RequestPath("/", "/", query if question else None)
    decoded = "/" + "/".join(_decode_segment(segment) for segment in segments)
    return RequestPath(path, decoded, query if question else None)


REQUEST_PATH: Final = web.RequestKey("request_path", RequestPath)


def request_path(request: web.Request) -> RequestPath:
    """The request's normalised path, parsed on first use and kept on the request.

    Raises:
        PathRefused: as `parse`.
    """
    known = request.get(REQUEST_PATH)
    if known is None:
        known = request[REQUEST_PATH] = parse(request.raw_path)
    return known
