"""The simulator's one error type: an OL Connect JSON Error, raised by the model or a handler."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus


class SimulatorError(Exception):
    """An OL Connect JSON Error answer, raised anywhere below the middlewares."""

    def __init__(
        self,
        status: int,
        message: str,
        parameter: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.parameter = parameter
        self.headers = dict(headers or {})


def not_found(what: str, parameter: object) -> SimulatorError:
    """The 404 of an unknown entity, file or operation, naming the id as given."""
    return SimulatorError(HTTPStatus.NOT_FOUND, f"{what} not found", str(parameter))


def bad_request(message: str, parameter: str = "") -> SimulatorError:
    """A 400 for input OL Connect would refuse."""
    return SimulatorError(HTTPStatus.BAD_REQUEST, message, parameter)
