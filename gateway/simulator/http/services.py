"""Login, and every service's handshake and version.

The Authentication service's own handshake and version take credentials like every
other route: OL Connect's reference lists `auth_token` for them and answers 401/403
(“Every route takes, when server security is on, either Basic or auth_token”); only
`login` takes nothing but the Basic credentials it exchanges.
"""

from __future__ import annotations

import secrets
from http import HTTPStatus

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from gateway.simulator.http.answers import text_answer
from gateway.simulator.http.middlewares import (
    GarbledCredentials,
    authentication_required,
    basic_credentials,
)
from gateway.simulator.http.routing import RouteTable, sim_of
from gateway.simulator.model.errors import SimulatorError
from gateway.simulator.model.route_names import ALL_SETS

#: What every `<service>/version` answers: `YYYY.N.P`, the form the vendor's client splits
#: to gate its features (statistics need 2024.1+, document-set levels 2024.2+).
SERVICE_VERSION = "2025.1.0"
#: Service base path (below /rest/serverengine), its `ROUTES` prefix and its internal name.
#: The root GET of the job, data and content set services is "get all" (entity_routes).
SERVICES: tuple[tuple[str, str, str], ...] = (
    ("/authentication", "authentication", "AuthenticationRestService"),
    ("/workflow/contentcreation", "contentcreation", "ContentCreationRestService"),
    ("/workflow/contentcreation/email", "email", "EmailExportRestService"),
    ("/workflow/contentcreation/html", "html", "HTMLMergeRestService"),
    ("/entity/contentitems", "contentitems", "ContentItemEntityRestService"),
    ("/entity", "entity", "EntityRestService"),
    ("/workflow/datamining", "datamining", "DataMiningRestService"),
    ("/entity/datarecords", "datarecords", "DataRecordEntityRestService"),
    ("/entity/documents", "documents", "DocumentEntityRestService"),
    ("/entity/documentsets", "documentsets", "DocumentSetEntityRestService"),
    ("/workflow/jobcreation", "jobcreation", "JobCreationRestService"),
    ("/entity/jobs", "jobs", "JobEntityRestService"),
    ("/workflow/outputcreation", "outputcreation", "OutputCreationRestService"),
    ("/workflow/print", "print", "PrintRestService"),
    ("/filestore", "filestore", "FileStoreRestService"),
    ("/statistics", "statistics", "StatisticsRestService"),
    ("/converter", "converter", "ConversionRestService"),
)

table = RouteTable()


@table.post("/authentication/login", "login")
async def login(request: web.Request) -> web.StreamResponse:
    sim = sim_of(request)
    try:
        credentials = basic_credentials(request)
    except GarbledCredentials:
        credentials = ("", "")  # never matches: refused below like wrong ones
    if credentials is None:
        raise authentication_required()
    if sim.reject_logins or not sim.check_credentials(*credentials):
        # OL Connect answers wrong credentials with 401 (a JSON Error since 2023.2), the
        # only refusal the vendor's client handles on login (FIDELITY B10).
        raise SimulatorError(HTTPStatus.UNAUTHORIZED, "Server authentication has failed")
    headers = {"Token-Expires-In": str(sim.token_expires_in)} if sim.send_token_expiry else None
    return text_answer(sim.issue_token(), headers)


def _text(text: str, *, cookie: bool) -> Handler:
    async def answer(request: web.Request) -> web.StreamResponse:
        response = text_answer(text)
        if cookie:
            # A Java server starts a session on the first request; the gateway must drop it.
            response.headers[hdrs.SET_COOKIE] = (
                f"JSESSIONID={secrets.token_hex(16).upper()}; Path=/; HttpOnly"
            )
        return response

    return answer


# Each root answers with a trailing slash too, as a JAX-RS template does [I]; the C#
# client sends `GET filestore/` before every call (FIDELITY A5).
_SEGMENTS_HANDSHAKE = "Server Engine REST Service available: JobSegmentEntityRestService"
for _path in ("/entity/jobsegments", "/entity/jobsegments/"):
    table.get(_path, "handshake")(_text(_SEGMENTS_HANDSHAKE, cookie=True))
table.get("/entity/jobsegments/version", "version")(_text(SERVICE_VERSION, cookie=False))
for _base, _prefix, _internal in SERVICES:
    _message = f"Server Engine REST Service available: {_internal}"
    for _path in (_base, f"{_base}/"):
        table.get(_path, f"{_prefix}.handshake")(_text(_message, cookie=True))
    table.get(f"{_base}/version", f"{_prefix}.version")(_text(SERVICE_VERSION, cookie=False))
for _family in ALL_SETS:  # their root is "get all" (entity_routes); their version is here
    table.get(f"/entity/{_family}/version", f"{_family}.version")(
        _text(SERVICE_VERSION, cookie=False)
    )
