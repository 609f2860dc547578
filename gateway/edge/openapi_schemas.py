"""The JSON bodies of /openapi.json: OL Connect's structures, the gateway's own, and which route
takes or answers which.

OL Connect's JSON structures are data, in `olconnect_schemas.json` (each schema names its
sources in `x-source`). `BODIES` attaches them to catalogue routes by (method, path below
/rest/serverengine): the catalogue says how the gateway serves a route, this map what the
bodies look like, so the schemas can change without touching the routing table, and a test
checks that every key is a catalogue route.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from gateway.catalogue import BASE
from gateway.edge.openapi_parts import JSON, TEXT

_VENDOR: Final[dict[str, Any]] = json.loads(
    resources.files("gateway.edge").joinpath("olconnect_schemas.json").read_text("utf-8")
)["components"]["schemas"]

_NAME_VALUE: Final = {
    "type": "object",
    "required": ["name", "value"],
    "properties": {"name": {"type": "string"}, "value": {"type": "string"}},
}
#: The gateway's own bodies: its JSON Error (it always names `parameter`), the validated
#: job-segment write (SPEC §5) and its health answers.
OWN_SCHEMAS: Final[dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "message", "parameter"],
                "properties": {
                    "status": {"type": "integer"},
                    "message": {"type": "string"},
                    "parameter": {"type": "string"},
                },
            }
        },
    },
    "Update": {
        "type": "object",
        "required": ["id", "properties"],
        "properties": {
            "id": {"type": "integer", "format": "int64", "minimum": 1},
            "properties": {"type": "array", "items": _NAME_VALUE},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
    },
    "Readiness": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}, "reason": {"type": "string"}},
    },
}
SCHEMAS: Final[dict[str, Any]] = {**_VENDOR, **OWN_SCHEMAS}


@dataclass(frozen=True, slots=True)
class Bodies:
    """The JSON a route takes and answers.

    Args:
        request: the structures its request body may be (one of them); empty: no JSON body.
        optional: the route also takes no body at all.
        response: the structures its success answer may be; empty: not JSON.
        label: the media type OL Connect labels that answer with (the email result's JSON is
            labelled text/plain).
        text: the answer may be plain text instead (an id), the reference's other form.
    """

    request: tuple[str, ...] = ()
    optional: bool = False
    response: tuple[str, ...] = ()
    label: str = JSON
    text: bool = False


def ref(names: tuple[str, ...]) -> dict[str, Any]:
    """A schema that is one of `names`."""
    refs = [{"$ref": f"#/components/schemas/{name}"} for name in names]
    return refs[0] if len(refs) == 1 else {"anyOf": refs}


def _takes(*names: str, optional: bool = False) -> Bodies:
    return Bodies(request=names, optional=optional)


def _answers(*names: str, label: str = JSON, text: bool = False) -> Bodies:
    return Bodies(response=names, label=label, text=text)


_VALUES = ("RecordContentList", "RecordContentListExplicitTypes", "RecordContentListSimplified")
_LISTS = tuple(name.replace("List", "Lists", 1) for name in _VALUES)
_NAME_VALUES = _answers("NameValueListPropertiesOnly")
_UPDATE = _takes("NameValueList")
_OPERATIONS = _answers("OperationsList")
_WORKFLOWS = ("datamining", "contentcreation", "contentcreation/email", "jobcreation")


def _build() -> dict[tuple[str, str], Bodies]:
    wf, cc, e = "workflow", "workflow/contentcreation", "entity"
    bodies: dict[tuple[str, str], Bodies] = {
        ("POST", f"{cc}/{{templateId}}/{{dataSetId}}"): _takes("Parameters", optional=True),
        ("POST", f"{cc}/{{templateId}}"): _takes(
            "IdentifierListWithRuntimeParameters", "RecordDataList"
        ),
        ("POST", f"{cc}/pdfpreviewdirect"): _takes("Parameters", optional=True),
        ("POST", f"{cc}/pdfpreview/{{templateId}}"): _takes("RecordDataList"),
        ("POST", f"{cc}/imagepreview"): _takes("ImageParameters", optional=True),
        ("POST", f"{cc}/imagepreview/{{templateId}}"): _takes("RecordDataListWithImageParameters"),
        ("POST", f"{cc}/email/{{templateId}}/{{dataSetId}}"): _takes(
            "EmailParameters", optional=True
        ),
        ("POST", f"{cc}/email/{{templateId}}"): _takes(
            "IdentifierListWithEmailParameters", "RecordDataListWithEmailParameters"
        ),
        ("POST", f"{cc}/email/getResult/{{operationId}}"): _answers("EmailOutputList", label=TEXT),
        ("POST", f"{cc}/html/{{templateId}}/{{dataRecordId:[0-9]+}}"): _takes(
            "HtmlParameters", optional=True
        ),
        ("POST", f"{cc}/html/{{templateId}}"): _takes("RecordDataList", optional=True),
        ("POST", f"{wf}/datamining/createcontentset/{{dataFileId}}"): _takes(
            "IdentifierForContentCreation"
        ),
        ("POST", f"{wf}/datamining/{{configId}}/{{dataFileId}}"): _takes(
            "Parameters", optional=True
        ),
        ("POST", f"{wf}/datamining/{{configId}}"): _takes("IdentifierManagedFile"),
        ("POST", f"{wf}/datamining/getResult/{{operationId}}"): _answers(
            "DataMappingValidationResult", text=True
        ),
        ("POST", f"{wf}/jobcreation"): _takes("JobSetStructure"),
        ("POST", f"{wf}/jobcreation/default"): _takes("IdentifierListWithRuntimeParameters"),
        ("POST", f"{wf}/jobcreation/{{configId}}"): _takes(
            "IdentifierListWithRuntimeParameters", optional=True
        ),
        ("POST", f"{wf}/outputcreation/{{configId}}/jobs"): _takes(
            "IdentifierListWithOutputParameters"
        ),
        ("POST", f"{wf}/outputcreation/{{configId}}"): _takes("IdentifierWithOutputParameters"),
        ("POST", f"{wf}/print/submit"): _takes("AllInOneConfiguration"),
        ("POST", f"{wf}/rasterize/{{dataFileId}}"): _takes("BitmapParameters", optional=True),
        ("PUT", f"{e}/find"): Bodies(
            request=("SearchParameters",), response=("IdentifierListsWithSortKey",)
        ),
        ("POST", f"{e}/datarecords"): _takes("NewRecordLists", "NewRecordList"),
        ("PUT", f"{e}/datarecords"): _takes("RecordContentListsFieldsOnly"),
        ("PUT", f"{e}/datarecords/{{id}}/values"): _takes("RecordContentListFieldsOnly"),
        ("GET", f"{e}/datarecords/{{id}}/values"): _answers(*_VALUES),
        ("GET", f"{e}/datarecords/values"): _answers(*_LISTS),
        ("POST", f"{e}/datarecords/values"): Bodies(
            request=("DataRecordIdentifierListWithParameters",), response=_LISTS
        ),
        ("GET", f"{e}/contentitems/{{id}}/datarecord"): _answers("DataRecordIdentifier"),
        ("GET", f"{e}/contentsets/{{id}}"): _answers("ContentItemIdentifierList"),
        ("GET", f"{e}/contentsets/{{id}}/pages"): _answers("PageDetailsSummary", "PageDetailsList"),
        ("GET", f"{e}/jobs/{{id}}/contents"): _answers("ContentItemIdentifierList"),
        ("GET", "statistics/jobset/{id}"): _answers("JobSetStatistics"),
        ("GET", "filestore/resources"): _answers("FileResourceList"),
        ("GET", "filestore/template/report/{fileId}"): _answers("TemplateReport"),
        ("GET", "filestore/DataMiningConfig/runtimeparameters/{fileId}"): _answers(
            "RuntimeParameterDefinitions"
        ),
        ("GET", "filestore/JobCreationConfig/runtimeparameters/{fileId}"): _answers(
            "RuntimeParameterDefinitions"
        ),
    }
    for family in ("contentsets", "datasets", "jobsets"):  # "get all" (FIDELITY B1)
        bodies[("GET", f"{e}/{family}")] = _answers("IdentifierList")
    for family in ("datasets", "documentsets", "jobs", "jobsegments", "jobsets"):
        bodies[("GET", f"{e}/{family}/{{id}}")] = _answers("IdentifierList")
    for family in ("contentitems", "contentsets", "datarecords", "datasets", "jobs", "jobsets"):
        bodies[("GET", f"{e}/{family}/{{id}}/properties")] = _NAME_VALUES
        bodies[("PUT", f"{e}/{family}/{{id}}/properties")] = _UPDATE
    for family in ("documents", "documentsets", "jobs", "jobsegments", "jobsets"):
        bodies[("GET", f"{e}/{family}/{{id}}/metadata")] = _NAME_VALUES
        if family != "jobsegments":  # its PUT is the validated write: the gateway's `Update`
            bodies[("PUT", f"{e}/{family}/{{id}}/metadata")] = _UPDATE
    for family in ("contentitems", "datarecords", "jobs"):
        bodies[("PUT", f"{e}/{family}/properties")] = _takes("NameValueLists")
    for service in (*(f"{wf}/{s}" for s in _WORKFLOWS), f"{wf}/outputcreation", f"{wf}/print"):
        bodies[("GET", f"{service}/getOperations")] = _OPERATIONS
    for service in ("outputcreation", "print"):
        bodies[("POST", f"{wf}/{service}/getManagedResult/{{operationId}}")] = _answers(
            "ManagedFileResult", text=True
        )
    return {(method, f"{BASE}/{path}"): body for (method, path), body in bodies.items()}


#: (method, full catalogue template) → the JSON it takes and answers.
BODIES: Final = _build()
