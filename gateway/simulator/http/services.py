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

from gateway.simulator.http.answers import json_answer, text_answer
from gateway.simulator.http.middlewares import authentication_required, basic_credentials
from gateway.simulator.http.routing import RouteTable, sim_of
from gateway.simulator.model.entities import DELETABLE_FAMILIES, Family
from gateway.simulator.model.errors import SimulatorError

SERVICE_VERSION = "2025.1.0"
#: The Job Segment service keeps the handshake text it had before the others existed.
JOB_SEGMENT_HANDSHAKE = "Job Segment Service available"
#: Service base path (below /rest/serverengine), its `ROUTES` prefix and its internal name.
SERVICES: tuple[tuple[str, str, str], ...] = (
    ("/authentication", "authentication", "AuthenticationRestService"),
    ("/workflow/contentcreation", "contentcreation", "ContentCreationRestService"),
    ("/workflow/contentcreation/email", "email", "EmailExportRestService"),
    ("/workflow/contentcreation/html", "html", "HTMLMergeRestService"),
    ("/entity/contentitems", "contentitems", "ContentItemEntityRestService"),
    ("/entity/contentsets", "contentsets", "ContentSetEntityRestService"),
    ("/entity", "entity", "EntityRestService"),
    ("/workflow/datamining", "datamining", "DataMiningRestService"),
    ("/entity/datarecords", "datarecords", "DataRecordEntityRestService"),
    ("/entity/datasets", "datasets", "DataSetEntityRestService"),
    ("/entity/documents", "documents", "DocumentEntityRestService"),
    ("/entity/documentsets", "documentsets", "DocumentSetEntityRestService"),
    ("/workflow/jobcreation", "jobcreation", "JobCreationRestService"),
    ("/entity/jobs", "jobs", "JobEntityRestService"),
    ("/entity/jobsets", "jobsets", "JobSetEntityRestService"),
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
    credentials = basic_credentials(request)
    if credentials is None:
        raise authentication_required()
    if sim.reject_logins or not sim.check_credentials(*credentials):
        raise SimulatorError(HTTPStatus.FORBIDDEN, "invalid credentials")
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


def _all_sets(family: Family) -> Handler:
    """A set service's root: "get all", the JSON Identifier List of its sets (FIDELITY B1)."""

    async def answer(request: web.Request) -> web.StreamResponse:
        return json_answer({"identifiers": sim_of(request).entities.all_ids(family)})

    return answer


table.get("/entity/jobsegments", "handshake")(_text(JOB_SEGMENT_HANDSHAKE, cookie=True))
table.get("/entity/jobsegments/version", "version")(_text(SERVICE_VERSION, cookie=False))
for _base, _prefix, _internal in SERVICES:
    _message = f"Server Engine REST Service available: {_internal}"
    _sets = next((f for f in DELETABLE_FAMILIES if _prefix == f.value), None)
    _root = _text(_message, cookie=True) if _sets is None else _all_sets(_sets)
    table.get(_base, f"{_prefix}.handshake")(_root)
    table.get(f"{_base}/version", f"{_prefix}.version")(_text(SERVICE_VERSION, cookie=False))
