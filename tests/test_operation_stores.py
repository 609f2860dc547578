"""The owner stores behind one contract: memory, a SQLite file two workers share, Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import FakeClock
from redis_fixtures import RedisServer

from gateway.cache.redis.backend import connect
from gateway.engines.waiting import requested_wait
from gateway.operations.records import (
    MAX_HISTORY,
    OperationRecord,
    decode,
    encode,
    file_key,
    operation_key,
    progress_value,
)
from gateway.operations.redis_store import RedisStore
from gateway.operations.sqlite_store import SqliteStore
from gateway.operations.store import MemoryStore, OwnerStore

# Two handles on one store: two workers' views (the memory store has but one process).
Pair = tuple[OwnerStore, OwnerStore]


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer, redis_prefix: str
) -> AsyncIterator[Pair]:
    """Two handles on one store of each kind."""
    kind = request.param
    pair: Pair
    if kind == "memory":
        store = MemoryStore()
        pair = (store, store)
    elif kind == "sqlite":
        pair = (SqliteStore(tmp_path / "o.db"), SqliteStore(tmp_path / "o.db"))
    else:
        pair = (
            RedisStore(connect(redis_server.url), prefix=redis_prefix),
            RedisStore(connect(redis_server.url), prefix=redis_prefix),
        )
    yield pair
    for handle in {id(s): s for s in pair}.values():
        await handle.close()


async def test_store_keeps_an_operation_and_its_progress_in_order(stores: Pair) -> None:
    """Progress appends only changes, stops at done, and one worker sees what the other wrote."""
    one, other = stores
    await one.add_operation("op", OperationRecord("workflow/datamining", "team-a"), 60)
    for value in ("0", "0", "50", "50", "done", "100"):
        await other.advance("op", value, 60)
    record = await one.operation("op")
    assert record == OperationRecord("workflow/datamining", "team-a", ("0", "50", "done"))
    assert record.done
    assert await one.advance("unknown", "0", 60) is None
    assert await other.operations(["op", "unknown"]) == {"op": record}


async def test_store_keeps_file_owners(stores: Pair) -> None:
    """File owners are shared; an unknown file has none."""
    one, other = stores
    await one.add_files(["17", "in.csv"], "team-a", 60)
    assert await other.file_group("17", 60) == "team-a"
    assert await other.file_group("in.csv", 60) == "team-a"
    assert await other.file_group("18", 60) is None


async def test_store_poll_permit_is_one_per_interval_for_everyone_sharing_it(
    stores: Pair,
) -> None:
    """Within an interval one holder gets the permit; the memory store (one process, whose
    poller paces itself) always grants it."""
    one, other = stores
    first = await one.poll_permit("op", 30)
    second = await other.poll_permit("op", 30)
    if isinstance(one, MemoryStore):
        assert (first, second) == (True, True)
    else:
        assert (first, second) == (True, False)
        assert await other.poll_permit("another op", 30)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_records_expire_and_file_owners_live_while_used(kind: str, tmp_path: Path) -> None:
    """An operation is forgotten `ttl` after its last change; a file `ttl` after its last use."""
    clock = FakeClock(1_000_000.0)
    store: OwnerStore = (
        SqliteStore(tmp_path / "o.db", clock=clock)
        if kind == "sqlite"
        else MemoryStore(clock=clock)
    )
    await store.add_operation("op", OperationRecord("s", "g"), 10)
    await store.add_files(["17"], "g", 10)
    clock.advance(8)
    await store.advance("op", "50", 10)  # renews the operation
    assert await store.file_group("17", 10) == "g"  # renews the file
    clock.advance(8)
    assert await store.operation("op") is not None
    assert await store.file_group("17", 10) == "g"
    clock.advance(11)
    assert await store.operation("op") is None
    assert await store.file_group("17", 10) is None
    await store.close()


async def test_redis_records_expire(redis_server: RedisServer, redis_prefix: str) -> None:
    """Redis holds each record for its ttl (milliseconds here), then forgets it."""
    store = RedisStore(connect(redis_server.url), prefix=redis_prefix)
    await store.add_files(["1"], "g", 0.05)  # first: it expires before the operation
    await store.add_operation("op", OperationRecord("s", "g"), 0.05)
    assert await store.operation("op") is not None
    for _ in range(500):
        if await store.operation("op") is None:
            break
        await asyncio.sleep(0.005)
    else:
        raise AssertionError("the operation was never forgotten")
    assert await store.file_group("1", 0.05) is None  # unused as long: gone too
    await store.close()


def test_history_is_bounded_and_survives_encoding() -> None:
    """Only the last MAX_HISTORY values are kept; Lua's empty table `{}` reads as no history."""
    record = OperationRecord("s", "g")
    for value in range(MAX_HISTORY + 10):
        record = record.advanced(str(value))
    assert len(record.history) == MAX_HISTORY
    assert record.history[-1] == str(MAX_HISTORY + 9)
    assert decode(encode(record)) == record
    assert decode('{"s":"s","g":"g","h":{}}') == OperationRecord("s", "g")


@pytest.mark.parametrize(
    ("raw", "key"),
    [("17", "17"), ("017", "17"), ("+17", "17"), (" 17 ", "17"), ("In.CSV", "in.csv")],
)
def test_file_ids_have_one_spelling(raw: str, key: str) -> None:
    """Every spelling OL Connect would resolve to one file is one key."""
    assert file_key(raw) == key


def test_operation_ids_ignore_letter_case() -> None:
    """UUIDs parse the same in either case."""
    assert operation_key("ABC-Def") == operation_key("abc-def")


@pytest.mark.parametrize(
    ("body", "value"),
    [(b"50", "50"), (b" done\n", "done"), (b"DONE", "done"), (b"12.5", "12.5"), (b"<html>", None)],
)
def test_progress_values(body: bytes, value: str | None) -> None:
    """A getProgress answer is a number or `done`; anything else is no progress value."""
    assert progress_value(body) == value


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        (["wait=10"], 10),
        (["respond-async, wait=5"], 5),
        (["handling=lenient", "wait=3"], 3),
        (["wait=61"], 60),
        (["wait=0"], None),
        (["wait=1e3"], None),
        (["wait=٣"], None),  # a digit, but not ASCII
        ([], None),
    ],
)
def test_prefer_wait_is_read_as_rfc_7240_says(headers: list[str], seconds: int | None) -> None:
    """The first `wait` preference, capped at 60 s; anything else is no wait."""
    assert requested_wait(headers) == seconds
