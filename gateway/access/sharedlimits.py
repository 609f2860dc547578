"""Rate limits and login failure counts shared through Redis by every gateway on it.

With ``cache.backend: redis``, a client's ``rate_limit`` and the login route's
failure counts hold across all workers and replicas on that Redis (same URL and
prefix), each decided by one Lua script in one round trip, on Redis's clock:

- ``p rl:<client>``  the client's GCRA "theoretical arrival time" in microseconds
  (the same limit as `gateway.access.ratelimit`: ``rate`` per second, bursts of
  ``max(1, 2·rate)``), expiring once the client's bucket would be full again;
- ``p lf:<name or address digest>``  its last failed logins, newest first, each
  ``<ms>|<address digest>``, expiring a window after the last one.

If Redis cannot be reached the limits fall back to counting in this process
(`RateLimiter`, `FailureLog`), logged once when that starts and once when Redis
answers again; Redis is retried at most once per `RETRY_INTERVAL`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.access.loginguard import MIN_ADDRESSES, FailureLog
from gateway.access.ratelimit import BURST_FACTOR, RateLimiter

log = structlog.get_logger("gateway.limits")

T = TypeVar("T")
RETRY_INTERVAL: Final = 1.0

# KEYS: the client's key. ARGV: emission interval (µs), burst tolerance (µs).
# Returns 0 when allowed, else the µs until the next request would be.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat + interval - tonumber(ARGV[2]) - now
if wait > 0 then
  return math.ceil(wait)
end
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval),
  'PX', math.ceil((tat + interval - now) / 1000) + 1)
return 0
"""

# KEYS: the address's failure list, then the name's (optional). ARGV: limit, window (ms),
# addresses that lock a name. Returns the ms until the address may try (that name) again.
_BLOCKED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local function at(item) return tonumber(string.match(item, '^%d+')) end
local wait = 0
local oldest = redis.call('LINDEX', KEYS[1], limit - 1)
if oldest then wait = at(oldest) + window - now end
if KEYS[2] then
  local items = redis.call('LRANGE', KEYS[2], 0, limit - 1)
  local seen, addresses = {}, 0
  for _, item in ipairs(items) do
    local address = string.match(item, '|(.*)$') or ''
    if not seen[address] then
      seen[address] = true
      addresses = addresses + 1
    end
  end
  if #items >= limit and addresses >= tonumber(ARGV[3]) then
    wait = math.max(wait, at(items[limit]) + window - now)
  end
end
return wait
"""

# KEYS: failure lists. ARGV: limit, window (ms), the failing address's digest.
_RECORD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, key in ipairs(KEYS) do
  redis.call('LPUSH', key, now .. '|' .. ARGV[3])
  redis.call('LTRIM', key, 0, tonumber(ARGV[1]) - 1)
  redis.call('PEXPIRE', key, ARGV[2])
end
return 1
"""


class SharedLimits:
    """Rate limits and login failures in Redis, with a per-process fallback.

    Args:
        client: the Redis client; ``close()`` closes it.
        prefix: namespace of every key (``cache.redis_prefix``).
        limiter: the in-process limiter used while Redis is unreachable.
        failures: the in-process failure log used while Redis is unreachable.
        timer: monotonic seconds, for the retry interval.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str,
        limiter: RateLimiter,
        failures: FailureLog,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._limiter = limiter
        self._failures = failures
        self._timer = timer
        self._gcra = client.register_script(_GCRA)
        self._blocked = client.register_script(_BLOCKED)
        self._record = client.register_script(_RECORD)
        self._down = False
        self._retry_at = 0.0

    async def acquire(self, client: str, rate: float) -> float:
        """Take one request of `client`'s limit; 0 when allowed, else the seconds to wait."""
        interval = 1_000_000 / rate
        tolerance = max(1.0, rate * BURST_FACTOR) * interval

        async def shared() -> float:
            wait = await self._gcra(
                keys=[self._prefix + "rl:" + client], args=[interval, tolerance]
            )
            return int(wait) / 1_000_000

        return await self._run(shared, lambda: self._limiter.acquire(client, rate))

    async def blocked(self, address: str, name: str | None) -> float:
        """Seconds until ``address`` may try to log in (as ``name``) again (`FailureLog`)."""
        keys = self._names(address, name)

        async def shared() -> float:
            wait = await self._blocked(keys=keys, args=[*self._window_args(), MIN_ADDRESSES])
            return max(0, int(wait)) / 1000

        return await self._run(shared, lambda: self._failures.blocked_now(address, name))

    async def record(self, address: str, name: str | None) -> None:
        """Count one failed login of ``address`` (trying ``name``)."""
        keys = self._names(address, name)

        async def shared() -> None:
            await self._record(keys=keys, args=[*self._window_args(), address])

        await self._run(shared, lambda: self._failures.record_now(address, name))

    async def close(self) -> None:
        """Close the Redis client."""
        await self._client.aclose()

    def _names(self, address: str, name: str | None) -> list[str]:
        keys = [address] if name is None else [address, name]
        return [self._prefix + "lf:" + key for key in keys]

    def _window_args(self) -> list[int]:
        return [self._failures.limit, math.ceil(self._failures.window * 1000)]

    async def _run(self, shared: Callable[[], Awaitable[T]], local: Callable[[], T]) -> T:
        if self._down and self._timer() < self._retry_at:
            return local()
        try:
            result = await shared()
        except (RedisError, OSError) as exc:
            self._retry_at = self._timer() + RETRY_INTERVAL
            if not self._down:
                self._down = True
                log.warning(
                    "shared_limits_unavailable", fallback="per-process", error=type(exc).__name__
                )
            return local()
        if self._down:
            self._down = False
            log.info("shared_limits_recovered")
        return result
