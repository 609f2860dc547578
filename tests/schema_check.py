"""Holding bodies to /openapi.json: the request and response schemas of the route they belong to.

`request_problems` and `answer_problems` find a body's route in the catalogue (as aiohttp
resolves: the longest literal prefix, then the table's order) and validate it with
`jsonschema` against the schema the document gives that route, `$ref`s resolved in the
document's components. They answer the validation errors (empty: valid) and None when the
document describes no JSON for that route.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from jsonschema import Draft202012Validator

from gateway.catalogue import ROUTES, Route
from gateway.edge import openapi

DOCUMENT: Final = openapi.build()
_COMPONENTS: Final = DOCUMENT["components"]
_PARAMETER: Final = re.compile(r"\{\w+(?::([^}]*))?\}")


def _pattern(template: str) -> re.Pattern[str]:
    """A template as aiohttp matches it: `{x}` one segment, `{x:regex}` the regex."""
    parts, last = ["^"], 0
    for match in _PARAMETER.finditer(template):
        parts += [re.escape(template[last : match.start()]), f"(?:{match.group(1) or '[^/]+'})"]
        last = match.end()
    return re.compile("".join([*parts, re.escape(template[last:]), "$"]))


_TEMPLATES: Final = [(route, _pattern(route.template)) for route in ROUTES]


def route_for(method: str, path: str) -> Route | None:
    """The catalogue route a request lands on (path without its query): as aiohttp resolves,
    the longest literal prefix wins, then the table's order; HEAD lands on its GET."""
    methods = {method, "GET"} if method == "HEAD" else {method}
    matches = [
        route
        for route, pattern in _TEMPLATES
        if route.method in methods and pattern.match(path.split("?")[0])
    ]
    if not matches:
        return None
    return max(matches, key=lambda route: len(route.template.split("{")[0]))


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = DOCUMENT["paths"][openapi._path(route.template)][
        route.method.lower()
    ]
    return operation


def _problems(instance: Any, schema: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator({**schema, "components": _COMPONENTS})
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def request_schema(route: Route) -> dict[str, Any] | None:
    body = _operation(route).get("requestBody", {}).get("content", {})
    schema: dict[str, Any] | None = body.get("application/json", {}).get("schema")
    return schema


def request_problems(method: str, path: str, body: Any) -> list[str] | None:
    """Errors of a JSON request body against its route's request schema."""
    route = route_for(method, path)
    assert route is not None, (method, path)
    schema = request_schema(route)
    return None if schema is None else _problems(body, schema)


def answer_problems(
    method: str, path: str, status: int, content_type: str | None, body: bytes
) -> list[str] | None:
    """Errors of an answer's JSON against what the document says that status answers with
    that label: an OL Connect JSON Error for a 4xx/5xx labelled JSON, the route's structure
    for a success (the email result's JSON labelled text/plain included)."""
    label = (content_type or "").split(";")[0].strip()
    if status >= 400:
        if label != "application/json":
            return None
        return _problems(json.loads(body), {"$ref": "#/components/schemas/JsonError"})
    route = route_for(method, path)
    assert route is not None, (method, path)
    responses = _operation(route)["responses"]
    content = responses.get(str(status), {}).get("content", {})
    schema = content.get(label, {}).get("schema")
    if schema is None or schema == {"type": "string"}:
        return None
    return _problems(json.loads(body), schema)
