"""What crosses the gateway each way (SPEC §8.2): the request target, headers, upstream URLs.

Requests lose every client credential and the hop-by-hop headers, and gain
the gateway's own token (added by `UpstreamClient`). Answers lose the
hop-by-hop headers and what would expose or confuse the upstream session
(`WWW-Authenticate`, `Set-Cookie`, `Token-Expires-In`); a `Link` or
`Location` URL naming `upstream.url` becomes an origin-relative path, so a
client keeps talking to the gateway.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote

from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

# RFC 9110 §7.6.1, plus the legacy names proxies still see.
HOP_BY_HOP: Final = frozenset(
    name.lower()
    for name in (
        hdrs.CONNECTION,
        "Keep-Alive",
        hdrs.PROXY_AUTHENTICATE,
        hdrs.PROXY_AUTHORIZATION,
        hdrs.TE,
        "Trailer",
        hdrs.TRANSFER_ENCODING,
        hdrs.UPGRADE,
        "Proxy-Connection",
    )
)
# SECURITY: no client credential ever reaches OL Connect.
CLIENT_CREDENTIALS: Final = frozenset(
    name.lower() for name in (hdrs.AUTHORIZATION, "auth_token", "X-API-Key", hdrs.COOKIE)
)
# Set again by aiohttp for the upstream connection (Host, length) or meaningless there.
_REQUEST_OWN: Final = frozenset(
    name.lower() for name in (hdrs.HOST, hdrs.CONTENT_LENGTH, hdrs.EXPECT)
)
_DROPPED_ANSWER: Final = frozenset(
    name.lower()
    for name in (
        hdrs.WWW_AUTHENTICATE,  # a browser would pop up a login for OL Connect
        hdrs.SET_COOKIE,  # the upstream session is the gateway's, never a client's
        "Token-Expires-In",
        hdrs.CONTENT_LENGTH,  # set from the answer's length by the forwarder
        hdrs.DATE,
        hdrs.SERVER,
        "X-Request-ID",  # ours is set on every answer
    )
)
_REQUEST_DROPPED: Final = HOP_BY_HOP | CLIENT_CREDENTIALS | _REQUEST_OWN
_ANSWER_DROPPED: Final = HOP_BY_HOP | _DROPPED_ANSWER
_LINK_URL: Final = re.compile(r"<([^>]*)>")


def _connection_listed(headers: CIMultiDictProxy[str]) -> set[str]:
    """Header names a Connection header declares hop-by-hop for this connection."""
    return {
        token.strip().lower()
        for value in headers.getall(hdrs.CONNECTION, ())
        for token in value.split(",")
        if token.strip()
    }


def _kept(headers: CIMultiDictProxy[str], drop: frozenset[str]) -> CIMultiDict[str]:
    if hdrs.CONNECTION in headers:
        drop = drop | _connection_listed(headers)
    kept: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() not in drop:
            kept.add(name, value)
    return kept


def request_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The client's end-to-end headers, without credentials, for the upstream request.

    Without a client ``Accept-Encoding`` the upstream is asked for ``identity``
    (aiohttp would otherwise ask for gzip on the client's behalf).
    """
    kept = _kept(headers, _REQUEST_DROPPED)
    kept.setdefault(hdrs.ACCEPT_ENCODING, "identity")
    return kept


class AnswerHeaders:
    """Filters and rewrites the headers of upstream answers for one upstream base URL.

    Args:
        upstream_url: `upstream.url` (no trailing slash); URLs under it are rewritten.
    """

    def __init__(self, upstream_url: str) -> None:
        base = URL(upstream_url)
        self._origin = (base.scheme.lower(), (base.host or "").lower(), base.port)
        self._base_path = base.path.rstrip("/")

    def filter(self, headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
        """The answer's end-to-end headers, with upstream URLs made origin-relative."""
        kept = _kept(headers, _ANSWER_DROPPED)
        if hdrs.LOCATION in kept:
            kept[hdrs.LOCATION] = self.relative(kept[hdrs.LOCATION])
        if hdrs.LINK in kept:
            links = [self._rewrite_links(value) for value in kept.getall(hdrs.LINK)]
            del kept[hdrs.LINK]
            for value in links:
                kept.add(hdrs.LINK, value)
        return kept

    def relative(self, url: str) -> str:
        """``url`` as an origin-relative path when it points under `upstream.url`, else as is."""
        try:
            # encoded=True: the path and query stay byte for byte (yarl would requote
            # them: %2F → /, a different URL for the server that made it).
            target = URL(url, encoded=True)
        except ValueError:
            return url
        if not target.absolute:
            return url
        origin = (target.scheme.lower(), (target.host or "").lower(), target.port)
        if origin != self._origin:
            return url
        raw_path = target.raw_path
        if self._base_path and not raw_path.startswith(self._base_path + "/"):
            return url
        relative = raw_path[len(self._base_path) :] or "/"
        if target.raw_query_string:
            relative += "?" + target.raw_query_string
        if target.raw_fragment:
            relative += "#" + target.raw_fragment
        return relative

    def _rewrite_links(self, value: str) -> str:
        return _LINK_URL.sub(lambda match: f"<{self.relative(match.group(1))}>", value)


def request_target(request: web.Request) -> str:
    """The path and query the client sent, byte for byte, always origin-form.

    A request line may carry an absolute URL (``GET http://host/rest/…``, RFC 9112
    §3.2.2): only its path and query go upstream, never its host.
    """
    raw = request.raw_path
    return raw if raw.startswith("/") else request.rel_url.raw_path_qs


def safe_path(raw_path: str) -> bool:
    """No dot segments, empty segments, or encoded slashes and backslashes, raw or decoded."""
    path = raw_path.partition("?")[0]
    for segment in path.split("/")[1:]:
        decoded = unquote(segment)
        if decoded in ("", ".", "..") or "/" in decoded or "\\" in decoded or "\x00" in decoded:
            return False
    return True
