"""The integrator's client: one code path, pointed at OL Connect or at the gateway.

Each task is one run of an app: it logs in as it starts (`POST
…/authentication/login` with Basic credentials — OL Connect's own account
directly, a gateway client name and API key through the gateway), sends
``auth_token`` on every call, and on a 401 (token expired) logs in again and
retries the call once, as OL Connect's clients do. Every request's latency is
recorded, logins included; an unexpected status or a failed connection is an error.

Run as its own process by `bench.scenarios.integrator` (so the harness's own work never
delays a request): ``python -m bench.clients.replay --base URL --tasks N --job-sets J
--apps A`` with ``{"name": …, "secret": …}`` on stdin; prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDictProxy

from bench.clients.day import Kind, Task, tasks
from bench.clients.pyload import percentile

BASE = "/rest/serverengine"
LOGIN = f"{BASE}/authentication/login"
ENTITY = f"{BASE}/entity"
OUTPUT = f"{BASE}/workflow/outputcreation"
POLL_PAUSE = 0.02  # seconds between progress polls
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([a-z]+)"?')


class CallFailed(Exception):
    """An answer other than the one expected (the task stops; the error is counted)."""


@dataclass
class Tally:
    """What the replay measured: per-request latencies (s) and errors."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    relogins: int = 0
    reads: set[str] = field(default_factory=set)  # distinct entity paths read


class App:
    """One integrator app talking to `base` with the account `name`/`secret`."""

    def __init__(
        self, session: aiohttp.ClientSession, base: str, name: str, secret: str, tally: Tally
    ) -> None:
        self._session = session
        self._base = base
        self._basic = {hdrs.AUTHORIZATION: aiohttp.encode_basic_auth(name, secret)}
        self._tally = tally
        self._token = ""

    async def login(self) -> None:
        status, _, body = await self._timed("POST", LOGIN, headers=self._basic)
        if status != HTTPStatus.OK:
            raise CallFailed(f"login answered {status}")
        self._token = body.decode().strip()

    async def call(
        self, method: str, path: str, expect: int = HTTPStatus.OK, body: Any = None
    ) -> tuple[CIMultiDictProxy[str], bytes]:
        """Send one call with the token; on 401 log in again and send it once more."""
        for attempt in (1, 2):
            headers = {"auth_token": self._token}
            status, answer_headers, answer = await self._timed(
                method, path, headers=headers, json=body
            )
            if status == HTTPStatus.UNAUTHORIZED and attempt == 1:
                self._tally.relogins += 1
                await self.login()
                continue
            if status != expect:
                raise CallFailed(f"{method} {path} answered {status}")
            return answer_headers, answer
        raise AssertionError("unreachable")

    async def read(self, path: str) -> Any:
        self._tally.reads.add(path)
        return json.loads((await self.call("GET", path))[1])

    async def _timed(
        self, method: str, path: str, **options: Any
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        started = time.perf_counter()
        async with self._session.request(method, urljoin(self._base, path), **options) as answer:
            body = await answer.read()
        self._tally.latencies.append(time.perf_counter() - started)
        return answer.status, answer.headers, body

    async def run(self, task: Task) -> None:
        """Do one task from the start: log in, then its calls."""
        await self.login()
        if task.kind is Kind.WALK:
            await self._walk(task)
        elif task.kind is Kind.INSPECT:
            await self.read(f"{ENTITY}/jobsets/{task.job_set}/metadata")
            await self.read(f"{ENTITY}/jobs/{task.job}/properties")
            await self.read(f"{ENTITY}/jobsegments/{task.segment}/metadata")
            await self.read(f"{ENTITY}/documents/{task.document}/metadata")
        elif task.kind is Kind.UPDATE:
            path = f"{ENTITY}/jobs/{task.job}/properties"
            await self.read(path)
            value = [{"name": "checked", "value": f"task-{task.number}"}]
            await self.call("PUT", path, body={"id": task.job, "properties": value})
            await self.read(path)
        else:
            await self._operation(task)

    async def _walk(self, task: Task) -> None:
        jobs = (await self.read(f"{ENTITY}/jobsets/{task.job_set}"))["identifiers"]
        for job in jobs:
            segments = (await self.read(f"{ENTITY}/jobs/{job}"))["identifiers"]
            for segment in segments:
                sets = (await self.read(f"{ENTITY}/jobsegments/{segment}"))["identifiers"]
                documents = (await self.read(f"{ENTITY}/documentsets/{sets[0]}"))["identifiers"]
                for document in documents:
                    await self.read(f"{ENTITY}/documents/{document}/metadata")

    async def _operation(self, task: Task) -> None:
        headers, _ = await self.call(
            "POST", f"{OUTPUT}/bench/{task.job_set}", expect=HTTPStatus.ACCEPTED
        )
        links = {rel: url for url, rel in _LINK.findall(headers.get("Link", ""))}
        if "progress" not in links or "result" not in links:
            raise CallFailed("the operation's answer has no progress and result Links")
        for _ in range(100):
            if (await self.call("GET", links["progress"]))[1] == b"done":
                break
            await asyncio.sleep(POLL_PAUSE)
        else:
            raise CallFailed("the operation never reached done")
        await self.call("POST", links["result"])


async def replay(
    base: str, name: str, secret: str, day: list[Task], apps: int
) -> tuple[Tally, float]:
    """Run `day` with `apps` apps at once (each takes the next task when done); seconds taken."""
    tally = Tally()
    queue = list(reversed(day))
    timeout = aiohttp.ClientTimeout(total=60)

    async def app() -> None:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            client = App(session, base, name, secret, tally)
            while queue:
                try:
                    await client.run(queue.pop())
                except (CallFailed, aiohttp.ClientError, TimeoutError, ValueError, KeyError):
                    tally.errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(app() for _ in range(apps)))
    return tally, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--base", required=True, help="http://host:port of OL Connect or the gateway"
    )
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--job-sets", type=int, required=True)
    parser.add_argument("--apps", type=int, default=16)
    args = parser.parse_args()
    account = json.loads(sys.stdin.read())  # not on the command line: ps would show it
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    day = tasks(args.tasks, args.job_sets)
    tally, seconds = asyncio.run(
        replay(args.base, account["name"], account["secret"], day, args.apps)
    )
    latencies = sorted(tally.latencies)
    summary = {
        "requests": len(latencies),
        "errors": tally.errors,
        "relogins": tally.relogins,
        "distinct_reads": len(tally.reads),
        "seconds": seconds,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
