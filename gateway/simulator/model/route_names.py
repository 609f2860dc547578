"""The name of every simulated route: the keys of `Simulator.calls`, `last_request`, ....

Login and the Job Segment service keep their first names; every other route is
`<service>.<action>`, the service named by the last word of its base path
(`workflow/contentcreation/email` -> `email`, `entity` -> `entity`):

    <service>.handshake, <service>.version       GET <base>, GET <base>/version
    <family>.all                                 GET entity/<family>: every set (job, data, content)
    <family>.get                                 GET entity/<family>/{id} (its child list)
    <family>.metadata_get|_put, .properties_get|_put, .properties_bulk (PUT <family>/properties)
    <family>.delete                              POST entity/<family>/{id}/delete
    <service>.start[_<variant>]                  the request that starts an operation
    <service>.operations|progress|result|cancel  getOperations, getProgress, getResult, cancel
    filestore.upload[_<kind>], .download, .download_path, .head, .delete[_post], .resources, ...
"""

from __future__ import annotations

from typing import Final

_SERVICES = (
    *("authentication", "contentcreation", "email", "html", "contentitems", "contentsets"),
    *("entity", "datamining", "datarecords", "datasets", "documents", "documentsets"),
    *("jobcreation", "jobs", "jobsets", "outputcreation", "print", "filestore"),
    *("statistics", "converter"),
)
#: The root GET of these entity services is "get all sets", not a handshake (FIDELITY B1).
ALL_SETS: Final = ("contentsets", "datasets", "jobsets")
OPERATION_SERVICES: Final = (
    *("datamining", "contentcreation", "email", "jobcreation"),
    *("outputcreation", "print", "converter"),
)
_OTHER_ROUTES = """
    contentsets.all datasets.all jobsets.all
    jobsets.get jobsets.delete jobsets.metadata_get jobsets.metadata_put
    jobsets.properties_get jobsets.properties_put
    jobs.get jobs.contents jobs.metadata_get jobs.metadata_put
    jobs.properties_get jobs.properties_put jobs.properties_bulk
    documentsets.get documentsets.metadata_get documentsets.metadata_put
    documents.metadata_get documents.metadata_put
    datasets.get datasets.delete datasets.properties_get datasets.properties_put
    datarecords.add datarecords.values_get datarecords.values_put datarecords.values_bulk
    datarecords.values_multi_get datarecords.values_multi_post
    datarecords.properties_get datarecords.properties_put datarecords.properties_bulk
    contentsets.get contentsets.pages contentsets.delete
    contentsets.properties_get contentsets.properties_put
    contentitems.datarecord contentitems.properties_get contentitems.properties_put
    contentitems.properties_bulk
    entity.find statistics.jobset
    filestore.upload filestore.upload_datamining filestore.upload_template
    filestore.upload_jobcreation filestore.upload_outputcreation
    filestore.download filestore.download_path filestore.head filestore.delete
    filestore.delete_post filestore.resources filestore.sync_file filestore.sync_dir
    filestore.runtime_datamining filestore.runtime_jobcreation filestore.report
    datamining.start datamining.start_json datamining.createcontentset
    datamining.pdfvtds datamining.pdfvtcs
    contentcreation.start contentcreation.start_records
    contentcreation.pdfpreviewdirect contentcreation.pdfpreviewdirect_post
    contentcreation.pdfpreview_file contentcreation.pdfpreview_json
    contentcreation.imagepreview contentcreation.imagepreview_json
    email.start email.start_records
    jobcreation.start jobcreation.start_structure jobcreation.start_default
    jobcreation.start_default_set
    outputcreation.start outputcreation.start_json outputcreation.start_jobs
    outputcreation.execute
    print.start print.start_adhoc converter.start
    outputcreation.result_txt outputcreation.managed_result print.result_txt print.managed_result
    html.render html.render_post html.render_json html.resource
    rasterize.render
"""
ROUTES: Final[tuple[str, ...]] = (
    "login",
    "handshake",
    "version",
    "document_sets",
    "metadata_get",
    "metadata_put",
    *(
        f"{service}.{route}"
        for service in _SERVICES
        for route in ("handshake", "version")
        if not (service in ALL_SETS and route == "handshake")
    ),
    *(
        f"{service}.{route}"
        for service in OPERATION_SERVICES
        for route in ("operations", "progress", "result", "cancel")
    ),
    *_OTHER_ROUTES.split(),
)
