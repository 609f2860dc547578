"""The gateway's error hierarchy and the OL Connect JSON Error body.

Every error a client can see is a `GatewayError`; one middleware turns it into
`{"error": {"status", "message", "parameter"}}`. Messages are fixed, safe
strings: they never carry a key, password, token, upstream URL or exception text.
"""

from __future__ import annotations

import json
from http import HTTPStatus


def error_body(status: int, message: str, parameter: str = "") -> bytes:
    """Encode the OL Connect JSON Error structure."""
    return json.dumps(
        {"error": {"status": status, "message": message, "parameter": parameter}},
        separators=(",", ":"),
    ).encode()


class GatewayError(Exception):
    """An error with a client-safe status, message and parameter.

    Args:
        message: safe text for the client; defaults to the class's message.
        parameter: the offending input (an id, a header name), never a secret.
        headers: extra response headers (``WWW-Authenticate``, ``Retry-After``).
        reason: for the access line only, why the request was refused
            (``wrong_key``, ``missing_scope:write``…); never sent to the client,
            where it could tell a guesser what it got right.
        client: for the access line only, the configured client the refused
            request named or proved (a known name, never a key).
    """

    status: int = HTTPStatus.INTERNAL_SERVER_ERROR
    message: str = "internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        parameter: str = "",
        headers: dict[str, str] | None = None,
        reason: str = "",
        client: str = "",
    ) -> None:
        self.message = message or type(self).message
        self.parameter = parameter
        self.headers = headers or {}
        self.reason = reason
        self.client = client
        super().__init__(self.message)

    def body(self) -> bytes:
        return error_body(self.status, self.message, self.parameter)


class BadRequest(GatewayError):
    status = HTTPStatus.BAD_REQUEST
    message = "bad request"


class Unauthenticated(GatewayError):
    status = HTTPStatus.UNAUTHORIZED
    message = "authentication required"


class Forbidden(GatewayError):
    status = HTTPStatus.FORBIDDEN
    message = "forbidden"


class NotFound(GatewayError):
    status = HTTPStatus.NOT_FOUND
    message = "not found"


class MethodNotAllowed(GatewayError):
    status = HTTPStatus.METHOD_NOT_ALLOWED
    message = "method not allowed"


class RequestTimeout(GatewayError):
    status = HTTPStatus.REQUEST_TIMEOUT
    message = "request body not received in time"


class PayloadTooLarge(GatewayError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    message = "request body too large"


class ClientGone(GatewayError):
    """The client's request body broke off: it hung up, or its framing broke.

    Status 499 (nginx's "client closed request"): if the client is still there
    to read it, the answer says the request was never whole.
    """

    status = 499
    message = "request body broken off"


class UnsupportedMediaType(GatewayError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    message = "unsupported content encoding"


class RateLimited(GatewayError):
    status = HTTPStatus.TOO_MANY_REQUESTS
    message = "rate limit exceeded"


class UpstreamError(GatewayError):
    """The upstream could not give a usable answer (unreachable, 5xx, garbage)."""

    status = HTTPStatus.BAD_GATEWAY
    message = "upstream unavailable"


class UpstreamAuthError(UpstreamError):
    """The upstream rejected the gateway's own credentials at login."""

    message = "upstream authentication failed"


class CircuitOpen(UpstreamError):
    """The circuit breaker is open: the upstream failed repeatedly and is not asked now."""

    message = "upstream unavailable (circuit open)"


class UpstreamTimeout(GatewayError):
    status = HTTPStatus.GATEWAY_TIMEOUT
    message = "upstream timed out"


class ServiceUnavailable(GatewayError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    message = "service unavailable"
