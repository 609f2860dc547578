"""What every log line carries: the process's fields (a worker's pid) and the request's."""

from __future__ import annotations

from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

REQUEST_EVENT = "request"  # the access event: one per request

# The request being served, one dict in one ContextVar: a request sets it once and
# auth adds the client, where structlog's contextvars helpers would clear and set
# a ContextVar per key on every request. Tasks started by a request inherit it.
_request_context: ContextVar[dict[str, Any] | None] = ContextVar("olcg_request", default=None)
# Fields of the whole process (a worker's pid), on every line.
_process_context: dict[str, Any] = {}


def bind_process(**fields: Any) -> None:
    """Add ``fields`` to every line this process logs from now on."""
    _process_context.update(fields)


def start_request(**fields: Any) -> None:
    """Begin a request's context with ``fields``; it replaces the previous request's."""
    _request_context.set(fields)


def bind_request(**fields: Any) -> None:
    """Add ``fields`` to every line logged for the current request."""
    context = _request_context.get()
    if context is not None:
        context.update(fields)


def merge_context(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: process and request fields first; the event's own win."""
    request = _request_context.get()
    if not request and not _process_context:
        return event_dict
    return {**_process_context, **(request or {}), **event_dict}


def current_fields() -> dict[str, Any]:
    """The process's and the current request's fields, the request's winning."""
    return {**_process_context, **(_request_context.get() or {})}


def forget_process_context() -> None:
    """Drop every field bound with `bind_process` (tests)."""
    _process_context.clear()
