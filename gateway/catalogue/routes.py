"""The route catalogue: every OL Connect service and route the gateway knows, as data.

Grouped by service in the order of `shared/OLCONNECT-API.md` §1 (its section
numbers are in the comments; [U] marks a route that document could not confirm).
One line a route. Scopes follow from service and method (`scope_for`); cache
policies and invalidations from SPEC §8.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from aiohttp import hdrs

from gateway.catalogue.model import (
    BASE,
    TTL,
    CachePolicy,
    Invalidation,
    Kind,
    Reach,
    Route,
    Shape,
    entity_family,
    scope_for,
)

GET, PUT, POST, HEAD = hdrs.METH_GET, hdrs.METH_PUT, hdrs.METH_POST, hdrs.METH_HEAD


@dataclass(frozen=True, slots=True)
class Service:
    """One OL Connect service.

    Args:
        base: its path under `/rest/serverengine`, e.g. ``entity/jobs``.
        name: OL Connect's internal name, as its handshake says it.
        forwards_unlisted: requests for routes the catalogue does not list are still
            forwarded (a newer OL Connect may add some). Not for ``entity``, whose path
            is the parent of the entity services, nor for ``authentication``.
    """

    base: str
    name: str
    forwards_unlisted: bool = True

    @property
    def path(self) -> str:
        return f"{BASE}/{self.base}"


SERVICE_INFO: Final = CachePolicy(TTL.SERVICE_INFO, Shape.TEXT)
CHILDREN: Final = CachePolicy(TTL.CHILDREN, Shape.IDENTIFIERS)
CHILD_OBJECTS: Final = CachePolicy(TTL.CHILDREN, Shape.JSON)
PROPERTIES: Final = CachePolicy(TTL.PROPERTIES, Shape.JSON)
STATISTICS: Final = CachePolicy(TTL.STATISTICS, Shape.JSON)
ROOT_LIST: Final = CachePolicy(TTL.SERVICE_INFO, Shape.HANDSHAKE_OR_LIST)

STATISTICS_SERVICE: Final = "statistics"
# Writes anywhere in the job-set hierarchy change what the job-set statistics report.
JOB_SET_STATISTICS: Final = (STATISTICS_SERVICE,)
IN_JOB_SETS: Final = frozenset({"jobsets", "jobs", "jobsegments", "documentsets", "documents"})


class _Table:
    """Collects the routes of one service; `route` fills in what follows from the service."""

    def __init__(self, service: Service, *, handshake: CachePolicy = SERVICE_INFO) -> None:
        self.service = service
        self.routes: list[Route] = []
        self.route(GET, "", Kind.HANDSHAKE, "Service handshake", cache=handshake)

    def route(
        self,
        method: str,
        rel: str,
        kind: Kind,
        summary: str,
        *,
        cache: CachePolicy | None = None,
        invalidates: Reach | None = None,
        also: tuple[str, ...] = (),
        validated: bool = False,
        family: str | None = None,
    ) -> _Table:
        base = self.service.base
        template = f"{BASE}/{base}{rel}"
        family = family or entity_family(base)
        if invalidates is not None and family in IN_JOB_SETS:
            also = (*also, *JOB_SET_STATISTICS)
        self.routes.append(
            Route(
                service=base,
                method=method,
                template=template,
                kind=kind,
                scope=None if kind is Kind.LOGIN else scope_for(base, method, template),
                summary=summary,
                cache=cache,
                invalidates=None if invalidates is None else Invalidation(invalidates, also),
                validated=validated,
                family=family,
            )
        )
        return self

    def version(self) -> list[Route]:
        """Close the table with the service's version route; return every route."""
        self.route(GET, "/version", Kind.VERSION, "Service version", cache=SERVICE_INFO)
        return self.routes


def _operations(table: _Table, *, text_result: bool = False, managed: bool = False) -> _Table:
    """The polling, result and cancel routes every workflow service shares."""
    table.route(GET, "/getOperations", Kind.POLL, "List running operations")
    table.route(GET, "/getProgress/{operationId}", Kind.POLL, "Progress: 0..100, then done")
    table.route(POST, "/getResult/{operationId}", Kind.RESULT, "Result of a finished operation")
    if text_result:
        table.route(POST, "/getResultTxt/{operationId}", Kind.RESULT, "Result as text")
    if managed:
        table.route(
            POST, "/getManagedResult/{operationId}", Kind.RESULT, "Result as a File Store id"
        )
    return table.route(POST, "/cancel/{operationId}", Kind.CANCEL, "Cancel an operation")


def _metadata(table: _Table, name: str) -> _Table:
    table.route(GET, "/{id}/metadata", Kind.READ, f"Metadata of a {name}", cache=PROPERTIES)
    return table.route(
        PUT, "/{id}/metadata", Kind.WRITE, f"Update metadata of a {name}", invalidates=Reach.ENTITY
    )


def _properties(table: _Table, name: str) -> _Table:
    table.route(GET, "/{id}/properties", Kind.READ, f"Properties of a {name}", cache=PROPERTIES)
    return table.route(
        PUT,
        "/{id}/properties",
        Kind.WRITE,
        f"Update properties of a {name}",
        invalidates=Reach.ENTITY,
    )


AUTHENTICATION = Service("authentication", "AuthenticationRestService", forwards_unlisted=False)
CONTENT_CREATION = Service("workflow/contentcreation", "ContentCreationRestService")
EMAIL = Service("workflow/contentcreation/email", "EmailExportRestService")
HTML = Service("workflow/contentcreation/html", "HTMLContentCreationRestService")
CONTENT_ITEMS = Service("entity/contentitems", "ContentItemEntityRestService")
CONTENT_SETS = Service("entity/contentsets", "ContentSetEntityRestService")
ENTITY = Service("entity", "EntityRestService", forwards_unlisted=False)
DATA_MAPPING = Service("workflow/datamining", "DataMiningRestService")
DATA_RECORDS = Service("entity/datarecords", "DataRecordEntityRestService")
DATA_SETS = Service("entity/datasets", "DataSetEntityRestService")
DOCUMENTS = Service("entity/documents", "DocumentEntityRestService")
DOCUMENT_SETS = Service("entity/documentsets", "DocumentSetEntityRestService")
JOB_CREATION = Service("workflow/jobcreation", "JobCreationRestService")
JOBS = Service("entity/jobs", "JobEntityRestService")
JOB_SEGMENTS = Service("entity/jobsegments", "JobSegmentEntityRestService")
JOB_SETS = Service("entity/jobsets", "JobSetEntityRestService")
OUTPUT_CREATION = Service("workflow/outputcreation", "OutputCreationRestService")
ALL_IN_ONE = Service("workflow/print", "PrintRestService")
FILE_STORE = Service("filestore", "FileStoreRestService")
STATISTICS_SVC = Service(STATISTICS_SERVICE, "StatisticsRestService")
CONVERSION = Service("converter", "ConversionRestService")

SERVICES: Final = (
    AUTHENTICATION,
    CONTENT_CREATION,
    EMAIL,
    HTML,
    CONTENT_ITEMS,
    CONTENT_SETS,
    ENTITY,
    DATA_MAPPING,
    DATA_RECORDS,
    DATA_SETS,
    DOCUMENTS,
    DOCUMENT_SETS,
    JOB_CREATION,
    JOBS,
    JOB_SEGMENTS,
    JOB_SETS,
    OUTPUT_CREATION,
    ALL_IN_ONE,
    FILE_STORE,
    STATISTICS_SVC,
    CONVERSION,
)


def _build() -> tuple[Route, ...]:
    routes: list[Route] = []

    # §1.1 Authentication. Login is the gateway's own route (SPEC §5), never forwarded.
    auth = _Table(AUTHENTICATION)
    auth.route(POST, "/login", Kind.LOGIN, "Log in: Basic <client name>:<api key>")
    routes += auth.version()

    # §1.2 Content Creation (print). Several operations share `/{templateId}`: the body differs.
    cc = _Table(CONTENT_CREATION)
    cc.route(POST, "/{templateId}/{dataSetId}", Kind.OPERATION, "Create content for a data set")
    cc.route(POST, "/{templateId}", Kind.OPERATION, "Create content for records or data (JSON)")
    cc.route(GET, "/pdfpreviewdirect", Kind.SYNC, "Preview PDF of a record (creates a file)")
    cc.route(POST, "/pdfpreviewdirect", Kind.SYNC, "Preview PDF of a record, runtime parameters")
    cc.route(POST, "/pdfpreview/{templateId}/{dmConfigId}", Kind.SYNC, "Preview PDF of a data file")
    cc.route(POST, "/pdfpreview/{templateId}", Kind.SYNC, "Preview PDF of JSON data")
    cc.route(POST, "/imagepreview", Kind.SYNC, "Preview image of a record")
    cc.route(POST, "/imagepreview/{templateId}", Kind.SYNC, "Preview image of JSON data")
    routes += _operations(cc).version()

    # §1.3 Content Creation (email): re-sending a start may send mail again; never retried.
    email = _Table(EMAIL)
    email.route(POST, "/{templateId}/{dataSetId}", Kind.OPERATION, "Create email for a data set")
    email.route(POST, "/{templateId}", Kind.OPERATION, "Create email for records or data")
    routes += _operations(email).version()

    # §1.4 Content Creation (HTML): synchronous renders and template resources.
    html = _Table(HTML)
    html.route(GET, "/{templateId}/{dataRecordId:[0-9]+}", Kind.SYNC, "Render HTML of a record")
    html.route(POST, "/{templateId}/{dataRecordId:[0-9]+}", Kind.SYNC, "Render HTML, parameters")
    html.route(POST, "/{templateId}", Kind.SYNC, "Render HTML of JSON data, or of no data")
    html.route(GET, "/{templateId}/{relPath:.+}", Kind.READ, "A resource of a template")
    routes += html.version()

    # §1.5 Content Item Entity.
    items = _Table(CONTENT_ITEMS)
    items.route(
        GET, "/{id}/datarecord", Kind.READ, "Data record of a content item", cache=CHILD_OBJECTS
    )
    _properties(items, "content item")
    items.route(PUT, "/properties", Kind.WRITE, "Update several items", invalidates=Reach.FAMILY)
    routes += items.version()

    # §1.6 Content Set Entity. Its root GET is both the handshake and "get all" [U].
    sets = _Table(CONTENT_SETS, handshake=ROOT_LIST)
    sets.route(GET, "/{id}", Kind.READ, "Content items of a content set", cache=CHILD_OBJECTS)
    sets.route(GET, "/{id}/pages", Kind.READ, "Page details of a content set", cache=CHILD_OBJECTS)
    sets.route(
        POST,
        "/{id}/delete",
        Kind.DELETE,
        "Mark a content set for deletion",
        invalidates=Reach.FAMILY,
        also=("entity/contentitems",),  # a deleted set takes what is under it along
    )
    routes += _properties(sets, "content set").version()

    # §1.7 Entity service: a search that reads through PUT (never cached).
    entity = _Table(ENTITY)
    entity.route(PUT, "/find", Kind.READ, "Find data entities")
    routes += entity.version()

    # §1.8 Data Mapping.
    dm = _Table(DATA_MAPPING)
    dm.route(POST, "/createcontentset/{dataFileId}", Kind.OPERATION, "Create a content set [U]")
    dm.route(POST, "/pdfvtds/{dataFileId}", Kind.OPERATION, "PDF/VT to data set")
    dm.route(POST, "/pdfvtcs/{dataFileId}", Kind.OPERATION, "PDF/VT to content set")
    dm.route(POST, "/{configId}/{dataFileId}", Kind.OPERATION, "Map a data file")
    dm.route(POST, "/{configId}", Kind.OPERATION, "Map a data file named in JSON")
    routes += _operations(dm).version()

    # §1.9 Data Record Entity. `values?id=…&id=…` (composite) and POST values are never cached.
    records = _Table(DATA_RECORDS)
    records.route(
        POST,
        "",
        Kind.WRITE,
        "Add data records",
        invalidates=Reach.FAMILY,
        also=("entity/datasets",),
    )
    records.route(PUT, "", Kind.WRITE, "Update values of several records", invalidates=Reach.FAMILY)
    records.route(GET, "/values", Kind.READ, "Values of several records (repeated id)")
    records.route(POST, "/values", Kind.READ, "Values of several records (JSON; may stream)")
    records.route(PUT, "/properties", Kind.WRITE, "Update records", invalidates=Reach.FAMILY)
    records.route(GET, "/{id}/values", Kind.READ, "Values of a data record", cache=PROPERTIES)
    records.route(
        PUT, "/{id}/values", Kind.WRITE, "Update values of a record", invalidates=Reach.ENTITY
    )
    routes += _properties(records, "data record").version()

    # §1.10 Data Set Entity.
    datasets = _Table(DATA_SETS, handshake=ROOT_LIST)
    datasets.route(GET, "/{id}", Kind.READ, "Data records of a data set", cache=CHILDREN)
    datasets.route(
        POST,
        "/{id}/delete",
        Kind.DELETE,
        "Mark a data set for deletion",
        invalidates=Reach.FAMILY,
        also=("entity/datarecords",),
    )
    routes += _properties(datasets, "data set").version()

    # §1.11 Document Entity.
    routes += _metadata(_Table(DOCUMENTS), "document").version()

    # §1.12 Document Set Entity.
    docsets = _Table(DOCUMENT_SETS)
    docsets.route(GET, "/{id}", Kind.READ, "Documents of a document set", cache=CHILDREN)
    routes += _metadata(docsets, "document set").version()

    # §1.13 Job Creation: three bodies share `/{configId}`.
    jc = _Table(JOB_CREATION)
    jc.route(POST, "", Kind.OPERATION, "Create jobs from a job set structure (JSON)")
    jc.route(POST, "/{configId}", Kind.OPERATION, "Create jobs from content sets")
    routes += _operations(jc).version()

    # §1.14 Job Entity.
    jobs = _Table(JOBS)
    jobs.route(GET, "/{id}", Kind.READ, "Job segments of a job", cache=CHILDREN)
    jobs.route(GET, "/{id}/contents", Kind.READ, "Content items of a job", cache=CHILD_OBJECTS)
    _metadata(jobs, "job")
    _properties(jobs, "job")
    jobs.route(PUT, "/properties", Kind.WRITE, "Update several jobs", invalidates=Reach.FAMILY)
    routes += jobs.version()

    # §1.15 Job Segment Entity: SPEC §5's routes, their behaviour unchanged.
    segments = _Table(JOB_SEGMENTS)
    segments.route(
        GET,
        "/{id}",
        Kind.READ,
        "Document sets of a job segment",
        cache=CachePolicy(TTL.DOCUMENT_SETS, Shape.IDENTIFIERS),
    )
    segments.route(
        GET,
        "/{id}/metadata",
        Kind.READ,
        "Metadata of a job segment",
        cache=CachePolicy(TTL.METADATA, Shape.NAME_VALUES),
    )
    segments.route(
        PUT,
        "/{id}/metadata",
        Kind.WRITE,
        "Update metadata of a job segment (validated)",
        invalidates=Reach.ENTITY,
        validated=True,
    )
    routes += segments.version()

    # §1.16 Job Set Entity.
    jobsets = _Table(JOB_SETS, handshake=ROOT_LIST)
    jobsets.route(GET, "/{id}", Kind.READ, "Jobs of a job set", cache=CHILDREN)
    jobsets.route(
        POST,
        "/{id}/delete",
        Kind.DELETE,
        "Mark a job set for deletion",
        invalidates=Reach.FAMILY,
        also=tuple(f"entity/{family}" for family in sorted(IN_JOB_SETS - {"jobsets"})),
    )
    _metadata(jobsets, "job set")
    routes += _properties(jobsets, "job set").version()

    # §1.17 Output Creation. `{configId}/jobs` before `{configId}/{jobSetId}`, which matches it.
    oc = _Table(OUTPUT_CREATION)
    oc.route(POST, "/{configId}/jobs", Kind.OPERATION, "Create output for jobs (JSON)")
    oc.route(POST, "/{configId}/{jobSetId}", Kind.OPERATION, "Create output for a job set")
    oc.route(POST, "/{configId}", Kind.OPERATION, "Create output for a job set named in JSON")
    oc.route(GET, "/execute/{args}/{size}", Kind.OPERATION, "Run a PReS Enhance configuration [U]")
    routes += _operations(oc, text_result=True, managed=True).version()

    # §1.18 All-In-One. The ad hoc route takes a data file; in sync mode it answers the output.
    aio = _Table(ALL_IN_ONE)
    aio.route(POST, "/submit", Kind.OPERATION, "Run an all-in-one configuration (JSON)")
    aio.route(
        POST,
        "/{dmConfigId}/{templateId}/{jcConfigId}/{ocConfigId}",
        Kind.UPLOAD,
        "Run all-in-one on an uploaded data file (async or sync)",
    )
    routes += _operations(aio, text_result=True, managed=True).version()

    # §1.19 File Store: raw uploads, streamed downloads, and a destructive GET.
    fs = _Table(FILE_STORE)
    fs.route(HEAD, "/file/{fileId}", Kind.READ, "Whether a managed file exists")
    fs.route(GET, "/file/{fileId}", Kind.DOWNLOAD, "Download a managed file or directory (zip)")
    fs.route(GET, "/file/{fileId}/{relPath:.+}", Kind.DOWNLOAD, "Download a file in a directory")
    fs.route(POST, "/file/{fileId}", Kind.UPLOAD, "Synchronize a file (internal)")
    fs.route(POST, "/dir/{fileId}", Kind.UPLOAD, "Synchronize a directory (internal)")
    fs.route(GET, "/delete/{fileId}", Kind.DELETE, "Delete a managed file (a GET)")
    fs.route(GET, "/resources", Kind.READ, "List persistent resources")
    fs.route(POST, "/DataFile", Kind.UPLOAD, "Upload a data file")
    fs.route(POST, "/DataMiningConfig", Kind.UPLOAD, "Upload a data mapping configuration")
    fs.route(
        GET, "/DataMiningConfig/runtimeparameters/{fileId}", Kind.READ, "Its runtime parameters"
    )
    fs.route(POST, "/template", Kind.UPLOAD, "Upload a template (zip)")
    fs.route(POST, "/JobCreationConfig", Kind.UPLOAD, "Upload a job creation preset")
    fs.route(
        GET, "/JobCreationConfig/runtimeparameters/{fileId}", Kind.READ, "Its runtime parameters"
    )
    fs.route(POST, "/OutputCreationConfig", Kind.UPLOAD, "Upload an output creation preset")
    fs.route(GET, "/template/report/{fileId}", Kind.READ, "Report of a template (Accept: json/xml)")
    routes += fs.version()

    # §1.20 Statistics [U: handshake and version]. Its answer describes a job set.
    stats = _Table(STATISTICS_SVC)
    stats.route(
        GET,
        "/jobset/{id}",
        Kind.READ,
        "Statistics of a job set (levelMode)",
        cache=STATISTICS,
        family="jobsets",
    )
    routes += stats.version()

    # §1.21 Conversion (2025.2) [U: method and progress routes; unlisted ones are forwarded].
    conversion = _Table(CONVERSION)
    conversion.route(POST, "/pstopdf/{fileId}", Kind.OPERATION, "Convert PostScript to PDF")
    routes += conversion.version()
    return tuple(routes)


ROUTES: Final = _build()
LOGIN: Final = next(route for route in ROUTES if route.kind is Kind.LOGIN)
