"""The route catalogue: held against the research (docs/OLCONNECT-API.md), and its own rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import hdrs
from docpages import doc_section

from gateway.catalogue import (
    BASE,
    ROUTES,
    SERVICES,
    TTL,
    Action,
    CachePolicy,
    Invalidation,
    Kind,
    Reach,
    Route,
    Scope,
    Shape,
    scope_for,
)
from gateway.catalogue.tags import read_tags, unlisted_invalidation, write_tags

RESEARCH = Path(__file__).parent.parent / "docs" / "OLCONNECT-API.md"
_PARAMETER = re.compile(r"\{[^}]*\}")
_METHODS = re.compile(r"\b(GET|PUT|POST|HEAD|DELETE)\b")
_PROSE_ROUTE = re.compile(r"\b((?:GET|PUT|POST|HEAD)(?:/(?:GET|PUT|POST))?)\*{0,2} `(/[^`]+)`")


def shape(path: str) -> str:
    """A path with every parameter (regex ones included) as ``{}``."""
    return _PARAMETER.sub("{}", path)


def documented_routes() -> set[tuple[str, str]]:
    """(method, path shape) of every route OLCONNECT-API.md §1 lists, tables and prose."""
    text = RESEARCH.read_text(encoding="utf-8")
    sections = text[text.index("## 1. Services") : text.index("## 2. Cacheability")]
    found: set[tuple[str, str]] = set()
    for section in re.split(r"\n### ", sections)[1:]:
        heading = section.splitlines()[0]
        base_match = re.search(r"`(/rest/serverengine/[^`]*)`", heading)
        if base_match is None:
            continue  # "Not part of this API", the summary
        base = base_match.group(1)
        pairs: list[tuple[str, str]] = []
        for line in section.splitlines():
            cells = [cell.strip() for cell in line.split("|")]
            if len(cells) > 3 and _METHODS.search(cells[1]) and "`" in cells[2]:
                methods = _METHODS.findall(cells[1])
                paths = re.findall(r"`(/[^`]+)`", cells[2])
                pairs += [(methods[min(i, len(methods) - 1)], p) for i, p in enumerate(paths)]
        for match in _PROSE_ROUTE.finditer(section):
            pairs += [(method, match.group(2)) for method in match.group(1).split("/")]
        for method, path in pairs:
            found.add((method, shape(_absolute(base, shape(path).split("?")[0].split(" ")[0]))))
    return found


def _absolute(base: str, path: str) -> str:
    """Resolve how the research writes paths: relative to the service, to /rest/serverengine,
    or the service's own base (``/…/email``, ``/jobcreation``)."""
    if path.startswith(BASE):
        return path
    if path.startswith("/…") or path == "/" + base.rsplit("/", 1)[1]:
        return base
    top = path.split("/")[1]
    if top in ("entity", "workflow", "filestore", "statistics", "converter", "authentication"):
        return BASE + path
    return base + path


def test_catalogue_every_route_names_one_action_that_fits_it() -> None:
    """Cached reads are GETs with a policy, the login alone is the gateway's, the rest forward."""
    actions = {route.action for route in ROUTES}
    assert actions == set(Action)
    for route in ROUTES:
        assert (route.action is Action.CACHED_READ) == (route.cache is not None), route.template
        assert (route.action is Action.OWN) == (route.kind is Kind.LOGIN), route.template
    validated = [route.template for route in ROUTES if route.action is Action.VALIDATED_WRITE]
    assert validated == [f"{BASE}/entity/jobsegments/{{id}}/metadata"]


@pytest.mark.parametrize(
    ("action", "method", "cache", "invalidates"),
    [
        (Action.CACHED_READ, hdrs.METH_GET, None, None),  # a cached read without a policy
        (Action.CACHED_READ, hdrs.METH_PUT, CachePolicy(TTL.METADATA, Shape.JSON), None),
        (Action.FORWARD, hdrs.METH_GET, CachePolicy(TTL.METADATA, Shape.JSON), None),
        (Action.VALIDATED_WRITE, hdrs.METH_PUT, None, None),  # a validated write drops nothing
        (Action.OWN, hdrs.METH_POST, None, None),  # only the login is the gateway's own
    ],
)
def test_catalogue_route_refuses_an_action_its_fields_contradict(
    action: Action, method: str, cache: CachePolicy | None, invalidates: Invalidation | None
) -> None:
    """A table line whose fields contradict its action fails when the table is built."""
    with pytest.raises(ValueError, match="entity/jobs"):
        Route(
            service="entity/jobs",
            method=method,
            template=f"{BASE}/entity/jobs/{{id}}",
            kind=Kind.READ,
            action=action,
            scopes=frozenset({Scope.READ}),
            summary="test",
            cache=cache,
            invalidates=invalidates,
        )


def test_catalogue_lists_every_documented_route() -> None:
    """Every route of docs/OLCONNECT-API.md §1 is in the catalogue: none can go missing."""
    documented = documented_routes()
    assert len(documented) > 120  # the parser really read the tables
    listed = {(route.method, shape(route.template)) for route in ROUTES}
    assert documented - listed == set()


def test_catalogue_every_route_is_documented() -> None:
    """And back: every route of the catalogue but the handshakes and versions (written as
    prose there) is in docs/OLCONNECT-API.md §1, the new ones of SPEC 10.5 included."""
    documented = documented_routes()
    for route in ROUTES:
        if route.kind not in (Kind.HANDSHAKE, Kind.VERSION):
            assert (route.method, shape(route.template)) in documented, route.template
    for new in (
        ("POST", f"{BASE}/workflow/rasterize/{{}}"),
        ("POST", f"{BASE}/filestore/delete/{{}}"),
        ("POST", f"{BASE}/workflow/jobcreation/default"),
        ("POST", f"{BASE}/workflow/jobcreation/default/{{}}"),
    ):
        assert new in documented


def test_catalogue_templates_are_unique_and_under_their_service() -> None:
    """One entry per (method, template); each template sits under its service's base."""
    keys = [(route.method, route.template) for route in ROUTES]
    assert len(keys) == len(set(keys))
    bases = {service.base for service in SERVICES}
    for route in ROUTES:
        assert route.service in bases
        assert route.template.startswith(f"{BASE}/{route.service}")


SET_SERVICES = ("entity/jobsets", "entity/datasets", "entity/contentsets")


def test_catalogue_every_service_has_handshake_and_version_cached() -> None:
    """Each of the 21 services has its handshake (the set services: their get-all list,
    SPEC §10.1) and version, cached for service_info (the lists: all_sets); the Conversion
    Service (`workflow/rasterize`), documented with one route only, has neither."""
    assert len(SERVICES) == 22
    for service in SERVICES:
        if service.base == "workflow/rasterize":
            assert not [
                r for r in ROUTES if r.method == hdrs.METH_GET and r.service == service.base
            ]
            continue
        get_all = service.base in SET_SERVICES
        for path, kind, ttl in (
            (service.path, Kind.READ if get_all else Kind.HANDSHAKE, TTL.ALL_SETS),
            (service.path + "/version", Kind.VERSION, TTL.SERVICE_INFO),
        ):
            [route] = [r for r in ROUTES if r.template == path and r.method == hdrs.METH_GET]
            assert route.kind is kind
            assert route.cache is not None
            assert route.cache.ttl is (ttl if get_all else TTL.SERVICE_INFO)
            assert route.scopes is not None
            assert Scope.READ in route.scopes


NEVER_CACHED = ("workflow/", "converter", "filestore", "authentication")


def test_catalogue_never_caches_what_spec_8_5_forbids() -> None:
    """No non-GET is cacheable, nor anything of workflow/converter/filestore but handshakes
    and versions, nor the login."""
    for route in ROUTES:
        if route.cache is None:
            continue
        assert route.method == hdrs.METH_GET, route.template
        if route.service.startswith(NEVER_CACHED):
            assert route.kind in (Kind.HANDSHAKE, Kind.VERSION), route.template


def test_catalogue_scopes_follow_spec_8_3() -> None:
    """Every entry's scope is what its service and method give it (§8.3), login none."""
    for route in ROUTES:
        if route.kind is Kind.LOGIN:
            assert route.scopes is None
        else:
            assert route.scopes == scope_for(route.service, route.method, route.template)


def test_catalogue_every_entity_write_invalidates() -> None:
    """Every non-read under entity/<family> drops something; reads drop nothing."""
    for route in ROUTES:
        if route.family is None or route.service == "statistics":
            continue
        is_read = route.scopes == frozenset({Scope.READ})
        assert (route.invalidates is None) == is_read, route.template


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("PUT", f"{BASE}/entity/jobs/7/somethingnew", ("e:jobs:7", "s:statistics")),
        ("DELETE", f"{BASE}/entity/jobs/7", ("s:entity/jobs", "s:statistics")),
        ("POST", f"{BASE}/entity/datasets/7/delete", ("s:entity/datasets",)),
        ("PATCH", f"{BASE}/entity/contentitems/bulk", ("s:entity/contentitems",)),
        ("GET", f"{BASE}/entity/jobs/7/somethingnew", None),
        ("POST", f"{BASE}/entity/datarecords/values", None),
    ],
)
def test_unlisted_entity_writes_invalidate_by_their_path(
    method: str, path: str, expected: tuple[str, ...] | None
) -> None:
    """A write the catalogue does not list drops its entity, or its family when it names none."""
    service = "/".join(path.removeprefix(BASE + "/").split("/")[:2])
    invalidation = unlisted_invalidation(service, method, path)
    if expected is None:
        assert invalidation is None
        return
    assert invalidation is not None
    raw_id = path.removeprefix(f"{BASE}/{service}/").split("/")[0]
    family = service.split("/")[1]
    assert write_tags(service, family, invalidation, raw_id) == expected


def test_reads_and_writes_meet_on_tags() -> None:
    """A job-set property write drops that job set's reads and its statistics; a job-set
    delete drops every job set's reads."""
    by = {(r.method, r.template): r for r in ROUTES}
    stats = by[("GET", f"{BASE}/statistics/jobset/{{id}}")]
    props = by[("GET", f"{BASE}/entity/jobsets/{{id}}/properties")]
    write = by[("PUT", f"{BASE}/entity/jobsets/{{id}}/properties")]
    delete = by[("POST", f"{BASE}/entity/jobsets/{{id}}/delete")]
    assert write.invalidates is not None
    assert delete.invalidates is not None
    assert write.invalidates.reach is Reach.ENTITY
    dropped = set(write_tags(write.service, write.family, write.invalidates, "3"))
    assert dropped & set(read_tags(props, 3))
    assert dropped & set(read_tags(stats, 3))
    assert not dropped & set(read_tags(props, 4))
    dropped = set(write_tags(delete.service, delete.family, delete.invalidates, "3"))
    assert dropped & set(read_tags(props, 4))
    assert dropped & set(read_tags(stats, 4))


def test_caching_doc_table_names_every_cached_read() -> None:
    """docs/caching.md → Cached reads lists every cacheable entity and statistics route."""
    table = doc_section("caching", "## Cached reads")
    for route in ROUTES:
        if route.cache is not None and route.kind not in (Kind.HANDSHAKE, Kind.VERSION):
            assert f"`{route.template.removeprefix(BASE + '/')}" in table, route.template


# Catalogue routes the §1 tables of docs/OLCONNECT-API.md do not list: handshakes and
# versions the tables leave out.
UNTABULATED = {
    ("GET", f"{BASE}/converter"),
    ("GET", f"{BASE}/converter/version"),
    ("GET", f"{BASE}/entity"),
    ("GET", f"{BASE}/entity/contentitems"),
    ("GET", f"{BASE}/entity/documents"),
    ("GET", f"{BASE}/entity/documentsets"),
    ("GET", f"{BASE}/entity/jobs"),
    ("GET", f"{BASE}/entity/jobsegments"),
    ("GET", f"{BASE}/statistics"),
    ("GET", f"{BASE}/statistics/version"),
    ("GET", f"{BASE}/workflow/jobcreation"),
}


def test_catalogue_lists_only_documented_routes_and_the_known_others() -> None:
    """The other way round: every catalogue route is in the documented tables, but for a
    known few — a mistyped path or method shows up as a new difference."""
    listed = {(route.method, shape(route.template)) for route in ROUTES}
    assert listed - documented_routes() == UNTABULATED
