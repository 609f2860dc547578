"""Synchronous renders: preview PDFs and images of a template, and rasterized files.

Bitmap and image parameters (JSON Bitmap Parameters / JSON Image Parameters, all optional):
`type` jpg|jpeg|png (default jpg), `pages` a range such as `1,3,6-11` or `*` (default `1`
without `archive`, else every page), `archive` (true: a zip; absent: a zip only when more
than one page is rendered), `dpi` (default 96), `scale` (default 1.0), `quality`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.simulator.model import images
from gateway.simulator.model.data import Properties
from gateway.simulator.model.errors import bad_request

IMAGE_TYPES = ("jpg", "jpeg", "png")


@dataclass(frozen=True)
class Rendered:
    """A synchronous answer: its media type, its bytes, a file name for the attachment."""

    content_type: str
    body: bytes
    filename: str


def page_count(data: bytes) -> int:
    """Pages of a PDF (`/Type /Page` objects) or PostScript (`%%Page:` comments) file; 1 for
    anything else, which renders as one page."""
    pdf = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
    return max(1, pdf, data.count(b"%%Page:"))


def select_pages(spec: str, total: int) -> list[int]:
    """The page numbers a range names (`*` is every page), those past the end dropped."""
    if spec.strip() == "*":
        return list(range(1, total + 1))
    chosen: list[int] = []
    for part in spec.split(","):
        first, dash, last = part.strip().partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise bad_request("pages must be a range such as 1,3,6-11 or *", "pages")
        end = int(last) if dash else int(first)
        chosen += [p for p in range(int(first), end + 1) if 1 <= p <= total and p not in chosen]
    if not chosen:
        raise bad_request("pages selects no page of the file", "pages")
    return chosen


def _number(params: Mapping[str, Any], key: str, default: float) -> float:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise bad_request(f"{key} must be a positive number", key)
    return float(value)


def render_pages(params: object, total: int, stem: str) -> Rendered:
    """Render pages of a `total`-page document as the parameters ask."""
    if not isinstance(params, dict):
        raise bad_request("expected a JSON object of bitmap parameters")
    kind = str(params.get("type", "jpg")).lower()
    if kind not in IMAGE_TYPES:
        raise bad_request("type must be jpg, jpeg or png", "type")
    archive = params.get("archive")
    if archive is not None and not isinstance(archive, bool):
        raise bad_request("archive must be true or false", "archive")
    spec = params.get("pages", "*" if archive else "1")
    if not isinstance(spec, str):
        raise bad_request("pages must be a string", "pages")
    pages = select_pages(spec, total)
    dpi, scale = _number(params, "dpi", 96), _number(params, "scale", 1.0)
    extension = "jpg" if kind == "jpeg" else kind
    rendered = [(p, images.page_image(kind, p, dpi, scale)) for p in pages]
    if archive or (archive is None and len(rendered) > 1):
        entries = [(f"{stem}_{p}.{extension}", body) for p, body in rendered]
        return Rendered(images.ZIP_TYPE, images.archive(entries), f"{stem}.zip")
    media = images.PNG_TYPE if kind == "png" else images.JPEG_TYPE
    return Rendered(media, rendered[0][1], f"{stem}.{extension}")


def preview_pdf(template: str, records: list[Properties]) -> bytes:
    """A PDF-shaped preview of a template merged with records (one page each)."""
    lines = ["%PDF-1.4", f"% OL Connect simulator preview of template {template}"]
    for number, fields in enumerate(records, start=1):
        values = ", ".join(f"{f['name']}={f['value']}" for f in fields)
        lines.append(f"% page {number}: /Type /Page {values}")
    lines.append("%%EOF")
    return ("\n".join(lines) + "\n").encode()


def record_data(data: object) -> list[Properties]:
    """The records of a JSON Record Data List's `data`: one object or a list of them, each
    `{"fields": {name: value}, "schema"?, "tables"?}` or a flat `{name: value}` record (the
    vendor's client sends both). Values become strings, as data fields are."""
    items: list[Any] = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(item, dict) for item in items):
        raise bad_request("data must be a record object or a non-empty list of them", "data")
    rows: list[Properties] = []
    for item in items:
        fields: dict[str, Any] = item["fields"] if isinstance(item.get("fields"), dict) else item
        rows.append(
            [
                {"name": str(name), "value": "" if value is None else str(value)}
                for name, value in fields.items()
                if not isinstance(value, dict | list)
            ]
        )
    return rows
