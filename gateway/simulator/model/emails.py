"""Email content creation: a content set of email items and the JSON Email Output List.

OL Connect's email `getResult` is a JSON Email Output List labelled `text/plain`
(FIDELITY B6): `{"messages": [{subject, to, body, folder, attachments, ...}], "contentSet",
"errors"}`. `body` names an HTML file in the output folder, `folder` is the Managed File ID
of that folder; the simulator stores it as a zip of the bodies (and of the PDF attachments
`attachPdfPage` asks for). It never sends mail: with an SMTP `host` OL Connect sends the
messages and answers a report whose format is not documented [U]; the simulator answers the
same list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.simulator.model import images, records
from gateway.simulator.model.data import Properties
from gateway.simulator.model.entities import Entities
from gateway.simulator.model.filestore import FileKind, FileStore
from gateway.simulator.model.operations import Result, Work
from gateway.simulator.model.previews import preview_pdf
from gateway.simulator.model.workflows import content_records, render_html

#: The record fields an address is taken from, first match wins.
ADDRESS_FIELDS = ("email", "Email", "EmailAddress", "to")


def address(fields: Properties, record: int) -> str:
    """The recipient of a record: its email field, else a made-up address."""
    for name in ADDRESS_FIELDS:
        for item in fields:
            if item["name"] == name and "@" in item["value"]:
                return item["value"]
    return f"customer-{record}@example.com"


def email_creation(
    entities: Entities,
    files: FileStore,
    template: str,
    options: Mapping[str, Any],
    *,
    data_set: int | None = None,
    record_ids: list[int] | None = None,
    rows: list[Properties] | None = None,
) -> Work:
    """A new email content set, one message per record; the result is its Output List."""

    async def work() -> Result:
        ids = content_records(
            entities, data_set=data_set, record_ids=record_ids or [], rows=rows or []
        )
        content_set = entities.create_content_set(ids)
        entities.email_sets.add(content_set)
        folder: list[tuple[str, bytes]] = []
        messages: list[dict[str, Any]] = []
        for number, record in enumerate(ids, start=1):
            fields = records.fields(entities, record)
            stem = f"email{number:04}"
            folder.append(
                (f"{stem}.html", render_html(template, f"Record {record}", fields).encode())
            )
            message: dict[str, Any] = {
                "subject": f"{template}: record {record}",
                "to": address(fields, record),
                "body": f"{stem}.html",
                "attachments": [],
            }
            if isinstance(options.get("sender"), str):
                message["from"] = options["sender"]
            if options.get("attachPdfPage") is True:
                folder.append((f"{stem}.pdf", preview_pdf(template, [fields])))
                message["attachments"].append({"name": f"{stem}.pdf", "disposition": "attachment"})
            if options.get("eml") is True:
                message["eml"] = f"{stem}.eml"
            messages.append(message)
        stored = await files.add(f"email-{content_set}", FileKind.OUTPUT, images.archive(folder))
        for message in messages:
            message["folder"] = stored.file_id
        output = {"messages": messages, "contentSet": content_set, "errors": []}
        return Result(json.dumps(output))  # labelled text/plain, as OL Connect labels it

    return work
