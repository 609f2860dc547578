"""Long-running operations: ids, progress counted by polls (not by time), one result each."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.simulator.model.errors import SimulatorError
from gateway.simulator.model.filestore import StoredFile

#: Progress values answered by successive `getProgress` polls before `done`.
DEFAULT_PROGRESS_STEPS = (0, 50, 100)


class OperationType(enum.StrEnum):
    """The `type` of an operation in a JSON Operations List."""

    DATA_MINING = "DataMiningRestService"
    CONTENT_CREATION = "ContentCreationRestService"
    EMAIL = "EmailExportRestService"
    JOB_CREATION = "JobCreationRestService"
    OUTPUT_CREATION = "OutputCreationRestService"
    PRINT = "PrintRestService"
    CONVERSION = "ConversionRestService"


@dataclass(frozen=True)
class Result:
    """What an operation produced.

    Attributes:
        text: the text/plain answer of `getResult` (new ids) or of `getResultTxt` (paths).
        file: an output file; `getResult` then streams it and `getManagedResult` names it.
        headers: extra answer headers (`X-Data-Set-ID`, `X-Result-Type`, ...).
        content_type: the media type `text` is labelled with.
    """

    text: str
    file: StoredFile | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "text/plain"


Work = Callable[[], Awaitable[Result]]


@dataclass
class Operation:
    """One started operation of a service (`service` is its path, e.g. `workflow/datamining`)."""

    op_id: str
    service: str
    kind: OperationType
    sub_task: str
    start_time_ms: int
    work: Work
    polls: int = 0
    details: Mapping[str, str] = field(default_factory=dict)
    """Extra keys of its JSON Operations List entry (`template`)."""
    finished: bool = False
    """`getProgress` has answered `done` once."""
    result: Result | None = None
    error: SimulatorError | None = None
    """What `getResult` answers when the work failed (a mapping that cannot run)."""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Operations:
    """Every operation of one simulator, across services.

    Args:
        steps: progress values answered by the first polls; the next poll answers `done`
            and the operation is complete once all of them were answered.
        wall: epoch seconds, for `startTime` only.
        keep_finished: `getProgress` answers `done` for ever; OL Connect forgets a finished
            operation instead, so its `getProgress` answers 404 after `done` (its result
            stays available).
    """

    def __init__(
        self,
        steps: Sequence[int] = DEFAULT_PROGRESS_STEPS,
        wall: Callable[[], float] = time.time,
        *,
        keep_finished: bool = False,
    ) -> None:
        self.steps = tuple(steps)
        self.keep_finished = keep_finished
        self._wall = wall
        self._operations: dict[str, Operation] = {}
        self._counter = 0

    def start(
        self,
        service: str,
        kind: OperationType,
        work: Work,
        sub_task: str = "",
        details: Mapping[str, str] | None = None,
    ) -> Operation:
        """Register a new operation; its work runs when it completes."""
        self._counter += 1
        op_id = str(uuid.UUID(int=self._counter))
        operation = Operation(
            op_id,
            service,
            kind,
            sub_task or kind.name.replace("_", " ").title(),
            int(self._wall() * 1000),
            work,
            details=dict(details or {}),
        )
        self._operations[op_id] = operation
        return operation

    def get(self, service: str, op_id: str) -> Operation | None:
        """The operation of `service` with that id, if any (another service's is not found)."""
        operation = self._operations.get(op_id)
        return operation if operation is not None and operation.service == service else None

    def done(self, operation: Operation) -> bool:
        """Whether every progress step has been answered."""
        return operation.polls >= len(self.steps)

    def progress(self, operation: Operation) -> int:
        """The progress percentage a listing shows now."""
        if self.done(operation):
            return 100
        return self.steps[operation.polls - 1] if operation.polls else 0

    async def poll(self, operation: Operation) -> str | None:
        """Answer one `getProgress`: the next step, `done` (running the work once), or None
        once `done` was answered: the operation is gone from the list of active ones."""
        if not self.done(operation):
            value = self.steps[operation.polls]
            operation.polls += 1
            return str(value)
        if operation.finished and not self.keep_finished:
            return None
        with contextlib.suppress(SimulatorError):  # a failed operation is done too
            await self.finish(operation)
        operation.finished = True
        return "done"

    async def finish(self, operation: Operation) -> Result:
        """Run the work of a complete operation once and keep its result (or its error,
        raised again on every call)."""
        async with operation.lock:
            if operation.result is None and operation.error is None:
                try:
                    operation.result = await operation.work()
                except SimulatorError as exc:
                    operation.error = exc
            if operation.error is not None:
                error = operation.error
                raise SimulatorError(error.status, error.message, error.parameter, error.headers)
            assert operation.result is not None  # noqa: S101 - set above when no error
            return operation.result

    def running(self, service: str) -> list[dict[str, Any]]:
        """The JSON Operations List of a service: its operations not yet complete."""
        return [
            {
                "id": op.op_id,
                "type": op.kind.value,
                "subTask": op.sub_task,
                "startTime": op.start_time_ms,
                "progress": self.progress(op),
                **op.details,
            }
            for op in self._operations.values()
            if op.service == service and not self.done(op)
        ]

    def cancel(self, operation: Operation) -> None:
        """Forget an operation; its id is unknown from now on."""
        self._operations.pop(operation.op_id, None)

    def clear(self) -> None:
        """Forget every operation (ids start again at 1)."""
        self._operations.clear()
        self._counter = 0
