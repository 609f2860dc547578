"""The gateway's own routes under the OL Connect paths: login, and the admin cache purges."""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from aiohttp import web

from gateway.access.clients import read_credential
from gateway.catalogue.tags import purge_tags
from gateway.engines.cached_read import NOUNS, path_entity
from gateway.errors import Forbidden, MethodNotAllowed, NotFound, Unauthenticated
from gateway.state import AUTHENTICATOR, CACHE, FACTS, LOGIN_GUARD

ADMIN_CACHE: Final = "/admin/cache"
ADMIN_SEGMENT: Final = ADMIN_CACHE + "/jobsegments/{id}"  # SPEC §5
ADMIN_ENTITY: Final = ADMIN_CACHE + "/entity/{family}/{id}"
# After a write OL Connect made itself (a Workflow task, a DataMapper script): one entity,
# or a whole family, e.g. DELETE /admin/cache/datarecords/42 or /admin/cache/datarecords.
ADMIN_FAMILY_ENTITY: Final = ADMIN_CACHE + "/{family}/{id}"
ADMIN_FAMILY: Final = ADMIN_CACHE + "/{family}"


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


async def _purge(request: web.Request, family: str, *, one: bool = True) -> web.Response:
    if family not in NOUNS:
        raise NotFound("no such entity family", parameter=family[:64])
    entity = path_entity(request, NOUNS[family]) if one else None
    await request.app[CACHE].invalidate_tags(*purge_tags(family, entity))
    return web.Response(status=HTTPStatus.NO_CONTENT)


async def purge_segment(request: web.Request) -> web.Response:
    """DELETE /admin/cache/jobsegments/{id}: drop every cached read of one job segment."""
    return await _purge(request, "jobsegments")


async def purge_entity(request: web.Request) -> web.Response:
    """DELETE /admin/cache/{family}/{id} (or …/entity/{family}/{id}): drop every cached read
    of one entity, the job-set statistics above it, and for a set its family's get-all list."""
    return await _purge(request, request.match_info["family"])


async def purge_family(request: web.Request) -> web.Response:
    """DELETE /admin/cache/{family}: drop every cached read of a whole entity family."""
    return await _purge(request, request.match_info["family"], one=False)
