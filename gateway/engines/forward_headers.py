"""What crosses the gateway each way (SPEC §8.2, §10.7): headers, and upstream URLs in them.

Requests lose every client credential, the hop-by-hop headers, method
overrides and forwarding headers, and gain the gateway's own token (added by
`UpstreamClient`). Answers lose the hop-by-hop headers and every
credential-named header (`auth_token`, `Authorization`, `Set-Cookie`,
`WWW-Authenticate`, `Token-Expires-In`, …); a `Link` or `Location` URL naming
`upstream.url` becomes an origin-relative path, so a client keeps talking to
the gateway. Everything else passes both ways (`trace_id` up,
`OL-Original-Filename`, `operationId`, `X-*-ID` down).
"""

from __future__ import annotations

import re
from typing import Final

from aiohttp import hdrs
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
# SECURITY (issue 23): a servlet filter honouring these would run another method, or read
# another path or origin, than the one the gateway decided the scope on. The gateway is
# the client OL Connect sees; it vouches for no forwarding chain.
METHOD_OVERRIDES: Final = frozenset(
    name.lower() for name in ("X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override")
)
FORWARDING: Final = frozenset(
    name.lower()
    for name in (
        hdrs.FORWARDED,
        "X-Original-URL",
        "X-Rewrite-URL",
        "X-Original-Host",
        "X-Host",
        "X-Real-IP",
    )
)
_FORWARDING_PREFIX: Final = "x-forwarded-"  # -For, -Host, -Proto, -Port, -Prefix, -Server
# SECURITY: no credential, session or challenge of the upstream ever reaches a client.
ANSWER_CREDENTIALS: Final = frozenset(
    name.lower()
    for name in (
        hdrs.WWW_AUTHENTICATE,  # a browser would pop up a login for OL Connect
        hdrs.SET_COOKIE,  # the upstream session is the gateway's, never a client's
        "Set-Cookie2",
        "Token-Expires-In",
        "auth_token",
        hdrs.AUTHORIZATION,
        hdrs.PROXY_AUTHENTICATE,
        hdrs.PROXY_AUTHORIZATION,
        "X-API-Key",
        hdrs.COOKIE,
    )
)
_DROPPED_ANSWER: Final = frozenset(
    name.lower()
    for name in (
        hdrs.CONTENT_LENGTH,  # set from the answer's length by the forwarder
        hdrs.DATE,
        hdrs.SERVER,
        "X-Request-ID",  # ours is set on every answer
    )
)
_REQUEST_DROPPED: Final = (
    HOP_BY_HOP | CLIENT_CREDENTIALS | _REQUEST_OWN | METHOD_OVERRIDES | FORWARDING
)
_ANSWER_DROPPED: Final = HOP_BY_HOP | ANSWER_CREDENTIALS | _DROPPED_ANSWER
_LINK_URL: Final = re.compile(r"<([^>]*)>")


def _connection_listed(headers: CIMultiDictProxy[str]) -> set[str]:
    """Header names a Connection header declares hop-by-hop for this connection."""
    return {
        token.strip().lower()
        for value in headers.getall(hdrs.CONNECTION, ())
        for token in value.split(",")
        if token.strip()
    }


def _kept(
    headers: CIMultiDictProxy[str], drop: frozenset[str], prefix: str | None = None
) -> CIMultiDict[str]:
    """The headers not in ``drop`` (nor starting with ``prefix``), Connection-listed ones out."""
    if hdrs.CONNECTION in headers:
        drop = drop | _connection_listed(headers)
    kept: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lower = name.lower()
        if lower not in drop and (prefix is None or not lower.startswith(prefix)):
            kept.add(name, value)
    return kept


def request_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The client's end-to-end headers, without credentials, for the upstream request.

    Without a client ``Accept-Encoding`` the upstream is asked for ``identity``
    (aiohttp would otherwise ask for gzip on the client's behalf).
    """
    kept = _kept(headers, _REQUEST_DROPPED, _FORWARDING_PREFIX)
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
