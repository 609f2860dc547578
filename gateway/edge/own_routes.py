"""The gateway's own routes under the OL Connect paths: login, and the admin cache purges."""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from aiohttp import web

from gateway.access.clients import read_credential
from gateway.catalogue.tags import entity_tag
from gateway.engines.cached_read import NOUNS, path_entity
from gateway.errors import Forbidden, MethodNotAllowed, NotFound, Unauthenticated
from gateway.state import AUTHENTICATOR, CACHE, FACTS, LOGIN_GUARD

ADMIN_CACHE: Final = "/admin/cache"
ADMIN_SEGMENT: Final = ADMIN_CACHE + "/jobsegments/{id}"
ADMIN_ENTITY: Final = ADMIN_CACHE + "/entity/{family}/{id}"


async def login(request: web.Request) -> web.Response:
    """POST …/authentication/login: Basic ``name:key`` → a gateway session token."""
    authenticator = request.app[AUTHENTICATOR]
    try:
        # Failures are counted per name and address; too many and the route answers 429.
        token = await request.app[LOGIN_GUARD].login(request, authenticator)
    except Forbidden as refused:
        # SPEC §5: a wrong name or key is 401 here, without WWW-Authenticate: OL Connect's
        # own client reads any other answer to a login as a server fault.
        raise Unauthenticated(
            refused.message, reason=refused.reason, client=refused.client
        ) from None
    # A public route, so no middleware named the client; its access line should.
    credential = read_credential(request.headers)  # well-formed: the login succeeded
    if credential is not None and credential.name is not None:
        request[FACTS].client = authenticator.registry.by_name(credential.name)
    return web.Response(
        text=token,
        content_type="text/plain",
        headers={"Token-Expires-In": str(int(authenticator.sessions.ttl))},
    )


async def login_other_method(request: web.Request) -> web.Response:
    """Any other method on the login path: 405 (the login is never forwarded upstream)."""
    raise MethodNotAllowed(parameter=request.method, headers={"Allow": "POST"})


async def purge_cache(request: web.Request) -> web.Response:
    """DELETE /admin/cache: drop every cached entry."""
    await request.app[CACHE].clear()
    return web.Response(status=HTTPStatus.NO_CONTENT)


async def purge_segment(request: web.Request) -> web.Response:
    """DELETE /admin/cache/jobsegments/{id}: drop every cached read of one job segment."""
    segment = path_entity(request, "job segment")
    await request.app[CACHE].invalidate_tags(entity_tag("jobsegments", segment))
    return web.Response(status=HTTPStatus.NO_CONTENT)


async def purge_entity(request: web.Request) -> web.Response:
    """DELETE /admin/cache/entity/{family}/{id}: drop every cached read of one entity."""
    family = request.match_info["family"]
    if family not in NOUNS:
        raise NotFound("no such entity family", parameter=family[:64])
    entity = path_entity(request, NOUNS[family])
    await request.app[CACHE].invalidate_tags(entity_tag(family, entity))
    return web.Response(status=HTTPStatus.NO_CONTENT)
