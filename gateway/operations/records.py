"""What the gateway remembers of an operation or a file, and the ids as one spelling.

An operation's record names its service, its owner group and every progress
value the gateway saw, in order (`done` last once it finished). A file's
record is its owner group. Ids are stored in one canonical spelling, so a
second spelling OL Connect would resolve to the same thing (`017` for file
17, an upper-case UUID) cannot pass as an id the gateway never saw.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

DONE: Final = "done"
# Distinct progress values kept per operation: 0..100 and `done` fit with room.
MAX_HISTORY: Final = 128
_NUMBER = re.compile(r"\s*\+?0*([0-9]+)\s*")


@dataclass(frozen=True, slots=True)
class OperationRecord:
    """One operation started through the gateway.

    Args:
        service: its service under `/rest/serverengine`, e.g. ``workflow/outputcreation``.
        group: the group of the client that started it.
        history: the progress values seen, each different from the one before.
    """

    service: str
    group: str
    history: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        """True once the gateway has seen OL Connect answer `done`."""
        return bool(self.history) and self.history[-1] == DONE

    def advanced(self, value: str) -> OperationRecord:
        """This record with ``value`` seen next; unchanged when it repeats or after `done`."""
        if self.done or (self.history and self.history[-1] == value):
            return self
        history = (*self.history, value)[-MAX_HISTORY:]
        return OperationRecord(self.service, self.group, history)


def encode(record: OperationRecord) -> str:
    """The record as compact JSON (the Redis script edits the same shape)."""
    return json.dumps(
        {"s": record.service, "g": record.group, "h": list(record.history)},
        separators=(",", ":"),
    )


def decode(raw: str | bytes) -> OperationRecord:
    """A record from `encode`'s JSON; an empty history may come back as ``{}`` from Lua."""
    data = json.loads(raw)
    history = data.get("h") or []
    return OperationRecord(str(data["s"]), str(data["g"]), tuple(str(v) for v in history))


def progress_value(body: bytes) -> str | None:
    """A `getProgress` answer as one value (``"50"``, ``"done"``); None if it is not one."""
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    if text.lower() == DONE:
        return DONE
    if 0 < len(text) <= 16 and text.replace(".", "", 1).isdigit():
        return text
    return None


def operation_key(op_id: str) -> str:
    """An operation id as stored: OL Connect's ids are UUIDs, which ignore letter case."""
    return op_id.strip().lower()


def file_key(file_id: str) -> str:
    """A File Store id or name as stored.

    A number in any spelling OL Connect would parse to it (``017``, ``+17``) is
    that number; a name ignores letter case, as the Windows file system under
    OL Connect does. Folding more than the server does only refuses more.
    """
    number = _NUMBER.fullmatch(file_id)
    if number is not None:
        return str(int(number.group(1)))
    return file_id.strip().casefold()
