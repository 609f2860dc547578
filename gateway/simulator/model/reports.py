"""What the File Store says about a stored template: its report, its resources.

OL Connect's report of a template is "untyped JSON: a value is either a string or an
array" (`GET filestore/template/report/{id}`), or the same as XML; `filter` keeps one tag.
The simulated report describes one print context with one Letter section, plus the name,
size and members of the uploaded file. Template resources (`html/{templateId}/{relPath}`)
are the members of the uploaded template when it is a zip, as a real `.OL-template` is.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any, Final
from xml.etree import ElementTree

#: The `filter` values (tag names, case-sensitive) the vendor's client knows.
FILTERS: Final = (
    "sections",
    "media",
    "scripts",
    "datamodel",
    "properties",
    "locale",
    "images",
    "masters",
    "contexts",
)


def members(data: bytes) -> list[str]:
    """The file names inside a zip, or none when `data` is not one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [info.filename for info in archive.infolist() if not info.is_dir()]
    except zipfile.BadZipFile:
        return []


def member(data: bytes, name: str) -> bytes | None:
    """One member of a zip, None when absent or `data` is not a zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.read(name)
    except (zipfile.BadZipFile, KeyError):
        return None


def report(name: str, size: int, data: bytes, tag: str | None) -> dict[str, Any]:
    """The report of a template file (`tag`: one of `FILTERS`, or None for all of it)."""
    images = [m for m in members(data) if m.lower().endswith((".png", ".jpg", ".jpeg", ".svg"))]
    manifest: dict[str, Any] = {
        "contexts": ["PRINT"],
        "sections": [{"name": "Section 1", "context": "PRINT", "media": "Plain Letter Paper"}],
        "media": [{"name": "Plain Letter Paper", "width": "8.5in", "height": "11in"}],
        "masters": [{"name": "Master Page 1"}],
        "scripts": [],
        "datamodel": [{"name": "customer", "type": "string"}, {"name": "amount", "type": "string"}],
        "properties": [{"name": "file", "value": name}, {"name": "size", "value": str(size)}],
        "locale": "en-US",
        "images": images,
    }
    if tag is not None:
        return {"template": {"manifest": {tag: manifest[tag]}}}
    return {
        "properties": {
            "application": "OL Connect simulator",
            "author": "simulator",
            "file": name,
        },
        "template": {"manifest": manifest},
    }


def as_xml(value: dict[str, Any]) -> bytes:
    """The report as XML: an element per key, `item` elements for array entries."""
    root = ElementTree.Element("report")
    _fill(root, value)
    xml: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml


def _fill(element: ElementTree.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(ElementTree.SubElement(element, key), item)
    elif isinstance(value, list):
        for item in value:
            _fill(ElementTree.SubElement(element, "item"), item)
    else:
        element.text = "" if value is None else str(value)
