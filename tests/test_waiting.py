"""Waiting instead of polling (SPEC §11.3) and finished operations that stay finished (§10.4)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import MakeGatewayFor, MakeSimulator
from operations_support import BASE, WF, as_, group_clients, start, upload

from gateway.simulator import Simulator
from gateway.simulator.model.state import Fault
from gateway.state import METRICS

Client = TestClient[Any, Any]
DM = "workflow/datamining"
INTERVAL = 0.05


async def gateway_with(
    make_simulator: MakeSimulator,
    make_gateway_for: MakeGatewayFor,
    steps: tuple[int, ...],
    interval: float = INTERVAL,
) -> tuple[Client, Simulator]:
    sim = make_simulator(progress_steps=steps)
    gateway = await make_gateway_for(
        sim, clients=group_clients(), operations={"poll_interval": interval}
    )
    return gateway, sim


async def started(gateway: Client, who: str = "a1") -> str:
    return await start(gateway, who, f"{WF}/datamining/c/{await upload(gateway, who)}")


async def progress(gateway: Client, op_id: str, who: str = "a1", **headers: str) -> Any:
    async with gateway.get(f"{BASE}/{DM}/getProgress/{op_id}", headers=as_(who, **headers)) as a:
        return a.status, a.headers.get("Preference-Applied"), a.content_type, await a.text()


@pytest.fixture
async def running(
    make_simulator: MakeSimulator, make_gateway_for: MakeGatewayFor
) -> tuple[Client, Simulator]:
    """A gateway whose operations need many polls (they never finish within a test)."""
    return await gateway_with(make_simulator, make_gateway_for, tuple(range(1, 1000)))


async def test_wait_returns_as_soon_as_the_operation_is_done(
    make_simulator: MakeSimulator, make_gateway_for: MakeGatewayFor
) -> None:
    """`Prefer: wait=30` answers `done` once OL Connect says so, with Preference-Applied."""
    gateway, sim = await gateway_with(make_simulator, make_gateway_for, (0, 50, 100))
    op_id = await started(gateway)
    began = time.monotonic()
    assert await progress(gateway, op_id, Prefer="wait=30") == (
        200,
        "wait=30",
        "text/plain",
        "done",
    )
    assert time.monotonic() - began < 10
    assert sim.calls["datamining.progress"] == 4  # 0, 50, 100, done: one poll each


async def test_wait_answers_the_latest_progress_at_its_deadline(
    running: tuple[Client, Simulator],
) -> None:
    """An operation still running after N s: the answer is the latest progress it reached."""
    gateway, sim = running
    op_id = await started(gateway)
    began = time.monotonic()
    status, applied, _, value = await progress(gateway, op_id, Prefer="respond-async, wait=1")
    assert time.monotonic() - began >= 1
    assert (status, applied) == (200, "wait=1")
    assert value == str(sim.calls["datamining.progress"])  # steps 1, 2, 3...: the last poll's


@pytest.mark.parametrize(
    ("prefer", "applied"),
    [("wait=600", "wait=60"), ('wait="5"', "wait=5"), ("WAIT=2; x=y", "wait=2")],
)
async def test_wait_is_capped_and_read_as_rfc_7240_says(
    make_simulator: MakeSimulator, make_gateway_for: MakeGatewayFor, prefer: str, applied: str
) -> None:
    """A longer wait is cut to 60 s; quoted values and parameters are understood."""
    gateway, _ = await gateway_with(make_simulator, make_gateway_for, ())
    op_id = await started(gateway)
    assert await progress(gateway, op_id, Prefer=prefer) == (200, applied, "text/plain", "done")


@pytest.mark.parametrize("prefer", ["wait=abc", "wait=0", "wait=-3", "wait", "return=minimal"])
async def test_a_wait_not_understood_is_ignored(
    running: tuple[Client, Simulator], prefer: str
) -> None:
    """RFC 7240: a preference the gateway does not understand is ignored: a plain poll."""
    gateway, sim = running
    op_id = await started(gateway)
    assert await progress(gateway, op_id, Prefer=prefer) == (200, None, "text/plain", "1")
    assert sim.calls["datamining.progress"] == 1


async def test_fifty_waiters_cause_one_upstream_poll_per_interval(
    make_simulator: MakeSimulator, make_gateway_for: MakeGatewayFor
) -> None:
    """50 clients waiting on one operation: OL Connect is polled at most once per interval,
    and every waiter gets an answer."""
    interval = 0.2
    gateway, sim = await gateway_with(
        make_simulator, make_gateway_for, tuple(range(1, 1000)), interval
    )
    op_id = await started(gateway)
    began = time.monotonic()
    answers = await asyncio.gather(*(progress(gateway, op_id, Prefer="wait=1") for _ in range(50)))
    elapsed = time.monotonic() - began
    polls = sim.calls["datamining.progress"]
    assert 1 <= polls <= elapsed / interval + 1
    assert {(status, applied) for status, applied, _, _ in answers} == {(200, "wait=1")}
    counted = gateway.app[METRICS].registry.get_sample_value("olcg_operation_polls_total")
    assert counted == polls


async def test_watched_operations_are_a_gauge(running: tuple[Client, Simulator]) -> None:
    """`olcg_operations_watched` counts the operations with waiters, and drops back to 0."""
    gateway, _ = running
    registry = gateway.app[METRICS].registry
    waits = [
        asyncio.create_task(progress(gateway, await started(gateway), Prefer="wait=1"))
        for _ in range(2)
    ]
    await until_value(lambda: registry.get_sample_value("olcg_operations_watched"), 2)
    await asyncio.gather(*waits)
    await until_value(lambda: registry.get_sample_value("olcg_operations_watched"), 0)


async def until_value(read: Any, wanted: float) -> None:
    for _ in range(400):
        if read() == wanted:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never {wanted}: {read()}")


async def test_events_stream_every_change_then_done_with_result_links(
    make_simulator: MakeSimulator, make_gateway_for: MakeGatewayFor
) -> None:
    """SSE: one `progress` event per value OL Connect answered, then `done` naming the
    result routes, which work; a client reconnecting with Last-Event-ID gets the rest."""
    gateway, _ = await gateway_with(make_simulator, make_gateway_for, (0, 25, 50, 75, 100))
    op_id = await started(gateway)
    async with gateway.get(f"/operations/{op_id}/events", headers=as_("a2")) as answer:
        assert answer.status == 200
        assert answer.content_type == "text/event-stream"
        events = parse_events(await answer.text())
    assert [(e["id"], e["event"], e["data"]) for e in events[:-1]] == [
        (str(n), "progress", value) for n, value in enumerate(["0", "25", "50", "75", "100"], 1)
    ]
    done = events[-1]
    assert (done["id"], done["event"]) == ("6", "done")
    links = json.loads(done["data"])
    assert links == {"getResult": f"{BASE}/{DM}/getResult/{op_id}"}
    async with gateway.post(links["getResult"], headers=as_("a1")) as result:
        assert result.status == 200
        assert (await result.text()).isdigit()
    again = {"Last-Event-ID": "4"}
    async with gateway.get(f"/operations/{op_id}/events", headers=as_("a1", **again)) as answer:
        assert [e["event"] for e in parse_events(await answer.text())] == ["progress", "done"]


def parse_events(text: str) -> list[dict[str, str]]:
    """Server-Sent Events as dicts of their fields (comments skipped)."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
        )
        if fields:
            events.append(fields)
    return events


async def test_events_of_an_operation_the_gateway_never_started_are_404(
    running: tuple[Client, Simulator],
) -> None:
    """The stream needs the operation's service, which only a start through the gateway names."""
    gateway, _ = running
    async with gateway.get("/operations/nope/events", headers=as_("ops")) as answer:
        assert answer.status == 404


async def test_a_finished_operation_stays_finished(
    make_simulator: MakeSimulator, make_gateway_for: MakeGatewayFor
) -> None:
    """OL Connect forgets an operation once it said `done` (404 after); the gateway, having
    seen `done`, answers `done` — by plain polls and by waits (without asking again)."""
    gateway, sim = await gateway_with(make_simulator, make_gateway_for, (0, 50))
    op_id = await started(gateway)
    seen = [(await progress(gateway, op_id))[3] for _ in range(3)]
    assert seen == ["0", "50", "done"]
    assert await progress(gateway, op_id) == (200, None, "text/plain", "done")
    assert sim.calls["datamining.progress"] == 4  # the 4th was OL Connect's 404
    assert await progress(gateway, op_id, Prefer="wait=5") == (200, "wait=5", "text/plain", "done")
    assert sim.calls["datamining.progress"] == 4


async def test_an_operation_gone_before_done_is_passed_on(
    running: tuple[Client, Simulator],
) -> None:
    """Cancelled (OL Connect forgets it) before it was seen done: its 404 passes back, for
    plain polls and for waits alike."""
    gateway, _ = running
    op_id = await started(gateway)
    async with gateway.post(f"{BASE}/{DM}/cancel/{op_id}", headers=as_("a1")) as answer:
        assert answer.status == 204
    assert (await progress(gateway, op_id))[0] == 404
    status, applied, content_type, _ = await progress(gateway, op_id, Prefer="wait=5")
    assert (status, applied, content_type) == (404, "wait=5", "application/json")


async def test_a_wait_while_ol_connect_fails_answers_the_failure_at_its_deadline(
    make_simulator: MakeSimulator, make_gateway_for: MakeGatewayFor
) -> None:
    """Polls that fail do not end a wait (the next may work); at the deadline, with no
    progress known, the failure is the answer; once OL Connect answers, progress is.
    (The breaker is set not to open here: its own tests show it does.)"""
    sim = make_simulator(progress_steps=tuple(range(1, 1000)))
    gateway = await make_gateway_for(
        sim,
        clients=group_clients(),
        operations={"poll_interval": INTERVAL},
        upstream={"breaker_failures": 1000},
    )
    op_id = await started(gateway)
    sim.fault = Fault.STATUS_500
    status, _, content_type, _ = await progress(gateway, op_id, Prefer="wait=1")
    assert (status, content_type) == (502, "application/json")
    assert sim.calls["datamining.progress"] >= 2  # it kept trying within the wait
    sim.fault = None
    status, applied, _, value = await progress(gateway, op_id, Prefer="wait=1")
    assert (status, applied) == (200, "wait=1")
    assert value.isdigit()
