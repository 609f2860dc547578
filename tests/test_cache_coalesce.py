"""SingleFlight: one shared call per key, fanned-out results and errors, detaching."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Any

import pytest

from gateway.cache.coalesce import SingleFlight
from gateway.errors import UpstreamError, UpstreamTimeout

WAIT = 5.0  # generous: no test here relies on it elapsing


class GatedCall:
    """A shared call that counts its runs and finishes only when released."""

    def __init__(self, result: str = "value", error: Exception | None = None) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.result = result
        self.error = error

    async def __call__(self) -> str:
        self.calls += 1
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return f"{self.result}-{self.calls}"


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def test_singleflight_hundred_callers_share_one_call() -> None:
    """A hundred concurrent callers cause one call and all get its result."""
    flight: SingleFlight[str] = SingleFlight()
    call = GatedCall()
    tasks = [asyncio.create_task(flight.do("k", call, timeout=WAIT)) for _ in range(100)]
    await _until(lambda: call.calls == 1)
    call.gate.set()
    outcomes = await asyncio.gather(*tasks)
    assert call.calls == 1
    assert {result for result, _ in outcomes} == {"value-1"}
    assert sum(leader for _, leader in outcomes) == 1
    assert not flight.in_flight("k")


async def test_singleflight_keys_are_independent() -> None:
    """Calls for different keys do not share a call."""
    flight: SingleFlight[str] = SingleFlight()
    call = GatedCall()
    call.gate.set()
    results = await asyncio.gather(
        flight.do("a", call, timeout=WAIT), flight.do("b", call, timeout=WAIT)
    )
    assert call.calls == 2
    assert all(leader for _, leader in results)


async def test_singleflight_error_fans_out_and_next_call_retries() -> None:
    """Every waiter gets the same exception, and a later call starts afresh."""
    flight: SingleFlight[str] = SingleFlight()
    boom = UpstreamError(parameter="k")
    call = GatedCall(error=boom)
    tasks = [asyncio.create_task(flight.do("k", call, timeout=WAIT)) for _ in range(10)]
    await _until(lambda: call.calls == 1)
    call.gate.set()
    errors = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(error is boom for error in errors)
    call.error = None
    result, leader = await flight.do("k", call, timeout=WAIT)
    assert (result, leader) == ("value-2", True)


async def test_singleflight_cancelled_waiter_does_not_cancel_call() -> None:
    """Cancelling the caller that started the call leaves it running for the others."""
    flight: SingleFlight[str] = SingleFlight()
    call = GatedCall()
    leader = asyncio.create_task(flight.do("k", call, timeout=WAIT))
    await _until(lambda: call.calls == 1)
    follower = asyncio.create_task(flight.do("k", call, timeout=WAIT))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    call.gate.set()
    assert await follower == ("value-1", False)
    assert call.calls == 1


async def test_singleflight_waiter_timeout_raises_upstream_timeout() -> None:
    """A waiter gives up after its timeout with UpstreamTimeout; the call runs on."""
    flight: SingleFlight[str] = SingleFlight()
    call = GatedCall()
    with pytest.raises(UpstreamTimeout):
        await flight.do("k", call, timeout=0)
    assert flight.in_flight("k")
    joiner = asyncio.create_task(flight.do("k", call, timeout=WAIT))
    call.gate.set()
    assert await joiner == ("value-1", False)
    assert call.calls == 1


async def _abandon_failing_call() -> None:
    flight: SingleFlight[str] = SingleFlight()
    call = GatedCall(error=UpstreamError())
    with pytest.raises(UpstreamTimeout):
        await flight.do("k", call, timeout=0)
    call.gate.set()
    await _until(lambda: not flight.in_flight("k"))


async def test_singleflight_unawaited_failure_leaves_no_warning() -> None:
    """A call that fails after all its waiters left is not reported as never retrieved."""
    loop = asyncio.get_running_loop()
    reports: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reports.append(context))
    try:
        await _abandon_failing_call()
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert reports == []


async def test_singleflight_forget_starts_a_new_call() -> None:
    """After forget, a new caller starts a new call while old waiters get the old result."""
    flight: SingleFlight[str] = SingleFlight()
    old_call = GatedCall("old")
    old = asyncio.create_task(flight.do("k", old_call, timeout=WAIT))
    await _until(lambda: old_call.calls == 1)
    flight.forget("k")
    assert not flight.in_flight("k")
    new_call = GatedCall("new")
    new = asyncio.create_task(flight.do("k", new_call, timeout=WAIT))
    await _until(lambda: new_call.calls == 1)
    old_call.gate.set()
    assert await old == ("old-1", True)
    assert flight.in_flight("k")  # the old call finishing does not drop the new one
    new_call.gate.set()
    assert await new == ("new-1", True)


async def test_singleflight_owns_is_false_once_forgotten() -> None:
    """A running call owns its key until it is forgotten."""
    flight: SingleFlight[bool] = SingleFlight()
    gate = asyncio.Event()
    seen: list[bool] = []

    async def call() -> bool:
        seen.append(flight.owns("k"))
        await gate.wait()
        return flight.owns("k")

    task = asyncio.create_task(flight.do("k", call, timeout=WAIT))
    await _until(lambda: bool(seen))
    assert not flight.owns("k")  # the test task is not the call
    flight.forget_all()
    gate.set()
    assert await task == (False, True)
    assert seen == [True]


async def test_singleflight_close_cancels_running_calls() -> None:
    """close cancels every running call, detached ones too; waiters get UpstreamError."""
    flight: SingleFlight[str] = SingleFlight()
    detached_call, current_call = GatedCall(), GatedCall()
    detached = asyncio.create_task(flight.do("a", detached_call, timeout=WAIT))
    await _until(lambda: detached_call.calls == 1)
    flight.forget("a")
    current = asyncio.create_task(flight.do("b", current_call, timeout=WAIT))
    await _until(lambda: current_call.calls == 1)
    await flight.close()
    for task in (detached, current):
        with pytest.raises(UpstreamError):
            await task
    assert not flight.in_flight("b")
