"""The route catalogue: every OL Connect service and route the gateway knows, as data.

Grouped by service in the order of `shared/OLCONNECT-API.md` §1 (its section
numbers are in the comments; [U] marks a route that document could not confirm).
One line a route, added by the `Table` method that names its action. Scopes
follow from service and method (`scope_for`); cache policies and invalidations
from SPEC §8.5.
"""

from __future__ import annotations

from typing import Final

from gateway.catalogue.model import TTL, CachePolicy, Kind, Owner, Reach, Route, Shape
from gateway.catalogue.table import (
    CHILD_OBJECTS,
    CHILDREN,
    GET,
    HEAD,
    IN_JOB_SETS,
    POST,
    PROPERTIES,
    PUT,
    STATISTICS,
    STATISTICS_SERVICE,
    Service,
    Table,
    metadata,
    operations,
    properties,
)

AUTHENTICATION = Service("authentication", "AuthenticationRestService", forwards_unlisted=False)
CONTENT_CREATION = Service("workflow/contentcreation", "ContentCreationRestService")
EMAIL = Service("workflow/contentcreation/email", "EmailExportRestService")
HTML = Service("workflow/contentcreation/html", "HTMLMergeRestService")
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
# The "Conversion Service" of the reference: one route, no handshake or version documented.
RASTERIZE = Service("workflow/rasterize", "Conversion Service")

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
    RASTERIZE,
)


def _build() -> tuple[Route, ...]:
    routes: list[Route] = []

    # §1.1 Authentication. Login is the gateway's own route (SPEC §5), never forwarded.
    auth = Table(AUTHENTICATION)
    auth.own(POST, "/login", Kind.LOGIN, "Log in: Basic <client name>:<api key>")
    routes += auth.version()

    # §1.2 Content Creation (print). Several operations share `/{templateId}`: the body differs.
    cc = Table(CONTENT_CREATION)
    cc.forward(POST, "/{templateId}/{dataSetId}", Kind.OPERATION, "Create content for a data set")
    cc.forward(POST, "/{templateId}", Kind.OPERATION, "Create content for records or data (JSON)")
    # SPEC §10.2: GETs that change state (a file, a render, an operation, a delete): `unsafe`.
    # The File Store file a PDF preview makes is the caller group's (SPEC §11.1).
    preview = Owner.UPLOAD
    cc.forward(
        GET,
        "/pdfpreviewdirect",
        Kind.SYNC,
        "Preview PDF of a record (creates a file)",
        unsafe=True,
        owner=preview,
    )
    cc.forward(
        POST,
        "/pdfpreviewdirect",
        Kind.SYNC,
        "Preview PDF of a record, runtime parameters",
        owner=preview,
    )
    cc.forward(
        POST,
        "/pdfpreview/{templateId}/{dmConfigId}",
        Kind.SYNC,
        "Preview PDF of a data file",
        owner=preview,
    )
    cc.forward(
        POST, "/pdfpreview/{templateId}", Kind.SYNC, "Preview PDF of JSON data", owner=preview
    )
    cc.forward(POST, "/imagepreview", Kind.SYNC, "Preview image of a record")
    cc.forward(POST, "/imagepreview/{templateId}", Kind.SYNC, "Preview image of JSON data")
    routes += operations(cc, creates=("contentsets",)).version()

    # §1.3 Content Creation (email): re-sending a start may send mail again; never retried.
    email = Table(EMAIL)
    email.forward(POST, "/{templateId}/{dataSetId}", Kind.OPERATION, "Create email for a data set")
    email.forward(POST, "/{templateId}", Kind.OPERATION, "Create email for records or data")
    routes += operations(email, creates=("contentsets",)).version()

    # §1.4 Content Creation (HTML): synchronous renders and template resources.
    html = Table(HTML)
    record = "/{templateId}/{dataRecordId:[0-9]+}"
    html.forward(GET, record, Kind.SYNC, "Render HTML of a record", unsafe=True)
    html.forward(POST, "/{templateId}/{dataRecordId:[0-9]+}", Kind.SYNC, "Render HTML, parameters")
    html.forward(POST, "/{templateId}", Kind.SYNC, "Render HTML of JSON data, or of no data")
    html.forward(GET, "/{templateId}/{relPath:.+}", Kind.READ, "A resource of a template")
    routes += html.version()

    # §1.5 Content Item Entity.
    items = Table(CONTENT_ITEMS)
    items.cached(GET, "/{id}/datarecord", Kind.READ, "Data record of a content item", CHILD_OBJECTS)
    properties(items, "content item")
    items.forward(PUT, "/properties", Kind.WRITE, "Update several items", invalidates=Reach.FAMILY)
    routes += items.version()

    # §1.6 Content Set Entity. Its root GET is "get all" (SPEC §10.1).
    sets = Table(CONTENT_SETS, get_all="content set")
    sets.cached(GET, "/{id}", Kind.READ, "Content items of a content set", CHILD_OBJECTS)
    sets.cached(GET, "/{id}/pages", Kind.READ, "Page details of a content set", CHILD_OBJECTS)
    sets.forward(
        POST,
        "/{id}/delete",
        Kind.DELETE,
        "Mark a content set for deletion",
        invalidates=Reach.FAMILY,
        also=("entity/contentitems",),  # a deleted set takes what is under it along
    )
    routes += properties(sets, "content set").version()

    # §1.7 Entity service: a search that reads through PUT (never cached).
    entity = Table(ENTITY)
    entity.forward(PUT, "/find", Kind.READ, "Find data entities")
    routes += entity.version()

    # §1.8 Data Mapping.
    dm = Table(DATA_MAPPING)
    dm.forward(POST, "/createcontentset/{dataFileId}", Kind.OPERATION, "Create a content set [U]")
    dm.forward(POST, "/pdfvtds/{dataFileId}", Kind.OPERATION, "PDF/VT to data set")
    dm.forward(POST, "/pdfvtcs/{dataFileId}", Kind.OPERATION, "PDF/VT to content set")
    dm.forward(POST, "/{configId}/{dataFileId}", Kind.OPERATION, "Map a data file")
    dm.forward(POST, "/{configId}", Kind.OPERATION, "Map a data file named in JSON")
    routes += operations(dm, creates=("datasets", "contentsets")).version()

    # §1.9 Data Record Entity. `values?id=…&id=…` (composite) and POST values are never cached.
    records = Table(DATA_RECORDS)
    records.forward(
        POST,
        "",
        Kind.WRITE,
        "Add data records",
        invalidates=Reach.FAMILY,
        also=("entity/datasets",),
    )
    records.forward(
        PUT, "", Kind.WRITE, "Update values of several records", invalidates=Reach.FAMILY
    )
    records.forward(GET, "/values", Kind.READ, "Values of several records (repeated id)")
    records.forward(POST, "/values", Kind.READ, "Values of several records (JSON; may stream)")
    records.forward(PUT, "/properties", Kind.WRITE, "Update records", invalidates=Reach.FAMILY)
    records.cached(GET, "/{id}/values", Kind.READ, "Values of a data record", PROPERTIES)
    records.forward(
        PUT, "/{id}/values", Kind.WRITE, "Update values of a record", invalidates=Reach.ENTITY
    )
    routes += properties(records, "data record").version()

    # §1.10 Data Set Entity.
    datasets = Table(DATA_SETS, get_all="data set")
    datasets.cached(GET, "/{id}", Kind.READ, "Data records of a data set", CHILDREN)
    datasets.forward(
        POST,
        "/{id}/delete",
        Kind.DELETE,
        "Mark a data set for deletion",
        invalidates=Reach.FAMILY,
        also=("entity/datarecords",),
    )
    routes += properties(datasets, "data set").version()

    # §1.11 Document Entity.
    routes += metadata(Table(DOCUMENTS), "document").version()

    # §1.12 Document Set Entity.
    docsets = Table(DOCUMENT_SETS)
    docsets.cached(GET, "/{id}", Kind.READ, "Documents of a document set", CHILDREN)
    routes += metadata(docsets, "document set").version()

    # §1.13 Job Creation: three bodies share `/{configId}`.
    jc = Table(JOB_CREATION)
    jc.forward(POST, "", Kind.OPERATION, "Create jobs from a job set structure (JSON)")
    # Without a preset (2024.1): the reference puts the content set in the path, the
    # vendor's client sends it as a JSON Identifier List; both are listed.
    jc.forward(POST, "/default", Kind.OPERATION, "Create jobs without a preset (JSON)")
    jc.forward(POST, "/default/{contentSetId}", Kind.OPERATION, "Create jobs without a preset")
    jc.forward(POST, "/{configId}", Kind.OPERATION, "Create jobs from content sets")
    routes += operations(jc, creates=("jobsets",)).version()

    # §1.14 Job Entity.
    jobs = Table(JOBS)
    jobs.cached(GET, "/{id}", Kind.READ, "Job segments of a job", CHILDREN)
    jobs.cached(GET, "/{id}/contents", Kind.READ, "Content items of a job", CHILD_OBJECTS)
    metadata(jobs, "job")
    properties(jobs, "job")
    jobs.forward(PUT, "/properties", Kind.WRITE, "Update several jobs", invalidates=Reach.FAMILY)
    routes += jobs.version()

    # §1.15 Job Segment Entity: SPEC §5's routes, their behaviour unchanged.
    segments = Table(JOB_SEGMENTS)
    segments.cached(
        GET,
        "/{id}",
        Kind.READ,
        "Document sets of a job segment",
        CachePolicy(TTL.DOCUMENT_SETS, Shape.IDENTIFIERS),
    )
    segments.cached(
        GET,
        "/{id}/metadata",
        Kind.READ,
        "Metadata of a job segment",
        CachePolicy(TTL.METADATA, Shape.NAME_VALUES),
    )
    segments.validated(
        PUT,
        "/{id}/metadata",
        Kind.WRITE,
        "Update metadata of a job segment (validated)",
        invalidates=Reach.ENTITY,
    )
    routes += segments.version()

    # §1.16 Job Set Entity.
    jobsets = Table(JOB_SETS, get_all="job set")
    jobsets.cached(GET, "/{id}", Kind.READ, "Jobs of a job set", CHILDREN)
    jobsets.forward(
        POST,
        "/{id}/delete",
        Kind.DELETE,
        "Mark a job set for deletion",
        invalidates=Reach.FAMILY,
        also=tuple(f"entity/{family}" for family in sorted(IN_JOB_SETS - {"jobsets"})),
    )
    metadata(jobsets, "job set")
    routes += properties(jobsets, "job set").version()

    # §1.17 Output Creation. `{configId}/jobs` before `{configId}/{jobSetId}`, which matches it.
    oc = Table(OUTPUT_CREATION)
    oc.forward(POST, "/{configId}/jobs", Kind.OPERATION, "Create output for jobs (JSON)")
    oc.forward(POST, "/{configId}/{jobSetId}", Kind.OPERATION, "Create output for a job set")
    oc.forward(POST, "/{configId}", Kind.OPERATION, "Create output for a job set named in JSON")
    oc.forward(
        GET,
        "/execute/{args}/{size}",
        Kind.OPERATION,
        "Run a PReS Enhance configuration [U]",
        unsafe=True,
    )
    routes += operations(oc, text_result=True, managed=True).version()

    # §1.18 All-In-One. The ad hoc route takes a data file; in sync mode it answers the output.
    aio = Table(ALL_IN_ONE)
    aio.forward(POST, "/submit", Kind.OPERATION, "Run an all-in-one configuration (JSON)")
    made = ("datasets", "contentsets", "jobsets")
    aio.forward(
        POST,
        "/{dmConfigId}/{templateId}/{jcConfigId}/{ocConfigId}",
        Kind.UPLOAD,
        "Run all-in-one on an uploaded data file (async or sync)",
        lists=made,  # in sync mode the answer is the result
    )
    routes += operations(aio, text_result=True, managed=True, creates=made).version()

    # §1.19 File Store: raw uploads, streamed downloads, and a destructive GET. A file
    # belongs to the group that uploaded it (SPEC §11.1): `owned` routes check it.
    fs = Table(FILE_STORE)
    owned, upload = Owner.FILE, Owner.UPLOAD
    fs.forward(HEAD, "/file/{fileId}", Kind.READ, "Whether a managed file exists", owner=owned)
    fs.forward(
        GET,
        "/file/{fileId}",
        Kind.DOWNLOAD,
        "Download a managed file or directory (zip)",
        owner=owned,
    )
    fs.forward(
        GET,
        "/file/{fileId}/{relPath:.+}",
        Kind.DOWNLOAD,
        "Download a file in a directory",
        owner=owned,
    )
    fs.forward(POST, "/file/{fileId}", Kind.UPLOAD, "Synchronize a file (internal)", owner=owned)
    fs.forward(
        POST, "/dir/{fileId}", Kind.UPLOAD, "Synchronize a directory (internal)", owner=owned
    )
    fs.forward(
        GET,
        "/delete/{fileId}",
        Kind.DELETE,
        "Delete a managed file (a GET)",
        unsafe=True,
        owner=owned,
    )
    fs.forward(
        POST,
        "/delete/{fileId}",
        Kind.DELETE,
        "Delete a managed file (the vendor client's)",
        owner=owned,
    )
    fs.forward(GET, "/resources", Kind.READ, "List persistent resources")
    fs.forward(POST, "/DataFile", Kind.UPLOAD, "Upload a data file", owner=upload)
    fs.forward(
        POST,
        "/DataMiningConfig",
        Kind.UPLOAD,
        "Upload a data mapping configuration",
        owner=upload,
    )
    fs.forward(
        GET, "/DataMiningConfig/runtimeparameters/{fileId}", Kind.READ, "Its runtime parameters"
    )
    fs.forward(POST, "/template", Kind.UPLOAD, "Upload a template (zip)", owner=upload)
    fs.forward(
        POST, "/JobCreationConfig", Kind.UPLOAD, "Upload a job creation preset", owner=upload
    )
    fs.forward(
        GET, "/JobCreationConfig/runtimeparameters/{fileId}", Kind.READ, "Its runtime parameters"
    )
    fs.forward(
        POST,
        "/OutputCreationConfig",
        Kind.UPLOAD,
        "Upload an output creation preset",
        owner=upload,
    )
    fs.forward(
        GET, "/template/report/{fileId}", Kind.READ, "Report of a template (Accept: json/xml)"
    )
    routes += fs.version()

    # §1.20 Statistics [U: handshake and version]. Its answer describes a job set.
    stats = Table(STATISTICS_SVC)
    stats.cached(
        GET,
        "/jobset/{id}",
        Kind.READ,
        "Statistics of a job set (levelMode)",
        STATISTICS,
        family="jobsets",
    )
    routes += stats.version()

    # §1.21 Conversion (2025.2) [U: method and progress routes; unlisted ones are forwarded].
    conversion = Table(CONVERSION)
    conversion.forward(POST, "/pstopdf/{fileId}", Kind.OPERATION, "Convert PostScript to PDF")
    # Its operations are polled like every workflow service's [U]; listed so owners apply.
    routes += operations(conversion).version()

    # Conversion Service (2022.2+): PDF/PS/AFP/PCL to images, answered at once (200, not 202).
    rasterize = Table(RASTERIZE, info=False)
    rasterize.forward(POST, "/{dataFileId}", Kind.SYNC, "Rasterize a file (JSON Bitmap Parameters)")
    routes += rasterize.version()
    return tuple(routes)


ROUTES: Final = _build()
LOGIN: Final = next(route for route in ROUTES if route.kind is Kind.LOGIN)
