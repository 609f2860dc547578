"""Replaying the calls of real OL Connect clients (tests/real_clients.yaml) through the gateway.

A `World` fills each call's placeholders the way an integrator's session would have them:
entity ids of the simulator's derived data, artefact names, files uploaded through the
gateway, and operations started by the client's own start call (`operation.from`).
"""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import yaml
from aiohttp.test_utils import TestClient
from conftest import KEYS
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

BASE: Final = "/rest/serverengine"
ROWS: Final[list[dict[str, Any]]] = yaml.safe_load(
    (Path(__file__).parent / "real_clients.yaml").read_text(encoding="utf-8")
)
BY_ID: Final = {row["id"]: row for row in ROWS}
#: The key both clients send as their token: an admin-like client holding every scope.
CLIENT, KEY = "admin", KEYS["admin"]
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
#: Entities of the simulator's derived data (100 segments): data set 2 holds records 5..8,
#: content set 2 items 5..8, job set 2 jobs 3, 4; job 3 segments 5, 6; segment 5 document
#: sets 51..53; document set 51 documents 511, 512.
ENTITIES: Final = {
    "dataSetId": 2,
    "dataRecordId": 5,
    "contentSetId": 2,
    "contentItemId": 5,
    "jobSetId": 2,
    "jobId": 3,
    "jobSegmentId": 5,
    "documentSetId": 51,
    "documentId": 511,
}
NAMES: Final = {
    "templateId": "letter.OL-template",
    "configId": "cfg.OL-datamapper",
    "jobPresetId": "jobs.OL-jobpreset",
    "outputPresetId": "print.OL-outputpreset",
    "section": "Section 1",
    "relPath": "images/logo.png",
    "filename": "customers.csv",
}


def _template() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", "<html></html>")
        archive.writestr("images/logo.png", b"\x89PNG logo")
    return buffer.getvalue()


CONTENT: Final = {
    "csv": b"name,amount\nalice,10\nbob,20\n",
    "pdf": b"%PDF-1.4\n1 0 obj /Type /Page\n2 0 obj /Type /Page\n%%EOF\n",
    "zip": _template(),
    "xml": b"<preset/>",
    "cfg": b"<datamapper/>",
}
#: Files a call names by id: what they hold and the File Store route they are uploaded to.
FILES: Final = {
    "dataFileId": ("csv", "DataFile", "in.csv"),
    "pdfFileId": ("pdf", "DataFile", "doc.pdf"),
    "spareFileId": ("csv", "DataFile", "spare.csv"),
}
_OPERATION_ROUTE = re.compile(
    r"^(.*)/(getProgress|getResult|getResultTxt|getManagedResult|cancel)/"
)


@dataclass
class Answer:
    """What came back: status, headers, body."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Sent:
    """The request as it went out: for the request-body schema check."""

    method: str
    path: str
    body: Any


class World:
    """One session's placeholders, made through `gateway` as they are first needed."""

    def __init__(self, gateway: TestClient[Any, Any]) -> None:
        self.gateway = gateway
        self.values: dict[str, Any] = {}
        self.sent: list[tuple[Sent, Answer]] = []

    async def value(self, name: str, row: dict[str, Any]) -> Any:
        if name == "operationId":
            name = f"operationId of {row['id']}"  # one operation per row, polled again
            if name not in self.values:
                self.values[name] = await self._operation(row)
            return self.values[name]
        if name not in self.values:
            self.values[name] = await self._make(name)
        return self.values[name]

    async def _make(self, name: str) -> Any:
        if name in ENTITIES:
            return ENTITIES[name]
        if name == "templateId" or name == "relPath":
            await self._upload("zip", "template", NAMES["templateId"])
        if name in NAMES:
            return NAMES[name]
        if name in FILES:
            kind, route, filename = FILES[name]
            return await self._upload(kind, route, filename)
        raise KeyError(f"no value for placeholder {name}")

    async def _upload(self, kind: str, route: str, filename: str) -> int:
        path = f"{BASE}/filestore/{route}?filename={filename}"
        async with self.gateway.post(path, data=CONTENT[kind], headers={"auth_token": KEY}) as a:
            assert a.status == 200, await a.text()
            return int(await a.text())

    async def _operation(self, row: dict[str, Any]) -> str:
        """Start the operation `row` works on with the client's own start call; for a row that
        reads a result, poll it to `done` first."""
        spec = row["operation"]
        started = await self.call(BY_ID[spec["from"]])
        assert started.status == 202, (spec, started.status, started.text)
        op_id = started.headers["operationId"]
        if spec["state"] == "done":
            base = _OPERATION_ROUTE.match(row["path"])
            assert base is not None, row["path"]
            for _ in range(20):
                path = f"{BASE}{base.group(1)}/getProgress/{op_id}"
                async with self.gateway.get(path, headers={"auth_token": KEY}) as a:
                    if a.status == 200 and await a.text() == "done":
                        break
            else:
                raise AssertionError(f"{spec['from']} never finished")
        return op_id

    async def fill(self, text: str, row: dict[str, Any], *, safe: str | None) -> str:
        """Placeholders filled; percent-encoded but for `safe` (None: as they are)."""
        parts, last = [], 0
        for match in _PLACEHOLDER.finditer(text):
            value = str(await self.value(match.group(1), row))
            parts += [text[last : match.start()], value if safe is None else quote(value, safe)]
            last = match.end()
        return "".join(parts) + text[last:]

    async def body(self, value: Any, row: dict[str, Any]) -> Any:
        """A JSON body with its placeholders: ids as numbers or strings as the client writes
        them (`ids`), names always as strings."""
        if isinstance(value, dict):
            return {k: await self.body(v, row) for k, v in value.items()}
        if isinstance(value, list):
            return [await self.body(v, row) for v in value]
        if isinstance(value, str):
            whole = _PLACEHOLDER.fullmatch(value)
            if whole is not None:
                filled = await self.value(whole.group(1), row)
                as_text = row.get("ids", "number" if row["client"] == "V" else "string")
                return filled if isinstance(filled, int) and as_text == "number" else str(filled)
            return await self.fill(value, row, safe=None)
        return value

    async def call(self, row: dict[str, Any]) -> Answer:
        """Make the call as the client makes it; remember its JSON body and the answer."""
        # A path segment at a time (V escapes each, R's values need none); a query value whole.
        path = await self.fill(row["path"], row, safe="/")
        query = await self.fill(row.get("query", ""), row, safe="")
        headers: dict[str, str] = {}
        for name, value in row.get("headers", {}).items():
            if name == "Authorization" and value == "basic":
                credentials = base64.b64encode(f"{CLIENT}:{KEY}".encode()).decode()
                headers[name] = f"Basic {credentials}"
            else:
                headers[name] = value
        if "Authorization" not in headers:
            headers["auth_token"] = KEY
        data: Any = None
        sent_body: Any = None
        if isinstance(row.get("body"), str) and row["body"].startswith("FILE:"):
            content = CONTENT[row["body"][5:]]
            data = _chunked(content) if row["client"] == "V" else content  # V streams
        elif "body" in row:
            sent_body = await self.body(row["body"], row)
            data = json.dumps(sent_body).encode()
        url = URL(BASE + path + (f"?{query}" if query else ""), encoded=True)
        async with self.gateway.request(
            row["method"],
            url,
            data=data,
            headers=headers,
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
        ) as answer:
            result = Answer(
                answer.status,
                CIMultiDictProxy(CIMultiDict(answer.headers)),
                await answer.read(),
            )
        self.sent.append((Sent(row["method"], BASE + path, sent_body), result))
        return result


async def _chunked(content: bytes) -> AsyncIterator[bytes]:
    yield content
