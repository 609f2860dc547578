"""A hanging Redis (F8): a redis-server stopped with SIGSTOP answers nothing. Requests keep
being answered from the upstream; only those in flight at the first timeout wait on it,
once; after that no request asks Redis until a background probe finds it back."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from conftest import MakeGateway, key_header
from processes import poll
from redis_fixtures import MakeRedisServer, RedisServer

METADATA = "/rest/serverengine/entity/jobsegments/{}/metadata"
# Longer than the 0.25 s default so that a wait on Redis stands out from the stalls of a
# loaded test machine (a third of a second was seen): the logic does not depend on it.
REDIS_TIMEOUT = 1.0
# A RESP command's name: an array head, then its first bulk string.
_COMMAND = re.compile(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n")
# What redis-py sends to open a connection, and the probe's PING.
_HANDSHAKE = frozenset({"HELLO", "CLIENT", "AUTH", "SELECT", "PING"})


class CountingProxy:
    """A TCP proxy in front of Redis that counts the commands sent through it, by name."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.commands: Counter[str] = Counter()
        self.server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def close(self) -> None:
        for task in self._pipes:
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        for task in (
            asyncio.create_task(self._pipe(reader, up_writer, count=True)),
            asyncio.create_task(self._pipe(up_reader, writer, count=False)),
        ):
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, count: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if count:
                    self.commands.update(name.upper().decode() for name in _COMMAND.findall(data))
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    def sent(self) -> int:
        """Commands that read or write the cache sent so far (not connecting, not probing)."""
        return sum(n for name, n in self.commands.items() if name not in _HANDSHAKE)

    def probes(self) -> int:
        """Connection handshakes and PINGs sent so far."""
        return sum(n for name, n in self.commands.items() if name in _HANDSHAKE)


@pytest.fixture
async def redis_and_proxy(
    make_redis_server: MakeRedisServer,
) -> AsyncIterator[tuple[RedisServer, CountingProxy, str]]:
    redis = make_redis_server()
    proxy = CountingProxy(redis.port)
    url = await proxy.start()
    try:
        yield redis, proxy, url
    finally:
        if redis.process is not None:
            redis.process.send_signal(signal.SIGCONT)
        await proxy.close()


async def test_hanging_redis_is_waited_on_once_then_skipped_until_it_answers(
    make_gateway: MakeGateway, redis_and_proxy: tuple[RedisServer, CountingProxy, str]
) -> None:
    redis, proxy, url = redis_and_proxy
    gateway = await make_gateway(
        cache={
            "backend": "redis",
            "redis_url": url,
            "redis_prefix": "hang:",
            "near_ttl": 0,
            "redis_timeout": REDIS_TIMEOUT,
        }
    )

    async def read(segment: int) -> tuple[int, str, float]:
        started = time.monotonic()
        async with gateway.get(METADATA.format(segment), headers=key_header("reader")) as answer:
            await answer.read()
            return answer.status, answer.headers.get("X-Cache", "-"), time.monotonic() - started

    assert (await read(1))[:2] == (200, "MISS")
    assert (await read(1))[:2] == (200, "HIT")
    assert redis.process is not None
    redis.process.send_signal(signal.SIGSTOP)
    stopped = time.monotonic()

    # Ten requests in flight when Redis stops answering: each waits one redis_timeout.
    burst = await asyncio.gather(*(read(segment) for segment in range(1, 11)))
    after_burst, probes = proxy.sent(), proxy.probes()
    # Then more than a retry interval of traffic: no request asks Redis any more.
    later: list[tuple[int, str, float]] = []
    while time.monotonic() - stopped < REDIS_TIMEOUT + 2.5:  # two probe intervals and more
        later.append(await read(len(later) % 20 + 1))

    assert {status for status, _, _ in burst + later} == {200}
    assert {outcome for _, outcome, _ in later} == {"MISS"}  # from the upstream
    assert len(later) > 20
    # Counted, with generous bounds: a wait on Redis is a redis_timeout, nothing else here is.
    waited_long = [seconds for _, _, seconds in burst if seconds >= 3 * REDIS_TIMEOUT]
    assert waited_long == [], "a request waited on Redis more than once"
    waited_later = [seconds for _, _, seconds in later if seconds >= REDIS_TIMEOUT]
    assert waited_later == [], "requests after the first timeout waited on Redis"
    assert proxy.sent() == after_burst, f"requests asked the hung Redis: {proxy.commands}"
    assert proxy.probes() > probes  # the background probe, about once a second

    redis.process.send_signal(signal.SIGCONT)

    async def cached_again() -> bool | None:
        await read(30)
        return True if (await read(30))[1] == "HIT" else None

    await poll(cached_again, 10, "the cache to be used again", interval=0.05)
