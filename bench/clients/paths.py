"""Request paths for each scenario, shared by the wrk Lua scripts and the Python loader."""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterator

SEGMENT_PREFIX = "/rest/serverengine/entity/jobsegments/"
ZIPF_S = 1.0  # classic Zipf: the k-th most popular id is asked 1/k as often as the first


def zipf_cdf(n: int, s: float = ZIPF_S) -> list[float]:
    """Cumulative popularity of ids 1..n (id k has weight 1/k^s)."""
    weights = list(itertools.accumulate(1 / k**s for k in range(1, n + 1)))
    total = weights[-1]
    return [w / total for w in weights]


def path_stream(mode: str, seed: int = 1) -> Iterator[str]:
    """Endless paths for `mode`.

    Modes: ``fixed:<path>``; ``zipf:<first>:<n>`` (ids first..first+n-1, Zipf
    popularity); ``uniform:<first>:<n>``; ``seq:<first>:<n>`` (each id once, in order,
    then stops).
    """
    kind, _, rest = mode.partition(":")
    rng = random.Random(seed)  # noqa: S311 - load shape, not security
    if kind == "fixed":
        return itertools.repeat(rest)
    first, n = (int(part) for part in rest.split(":"))
    if kind == "seq":
        return (f"{SEGMENT_PREFIX}{first + i}" for i in range(n))
    if kind == "uniform":
        return (f"{SEGMENT_PREFIX}{first + rng.randrange(n)}" for _ in itertools.count())
    if kind == "zipf":
        cdf = zipf_cdf(n)
        return (
            f"{SEGMENT_PREFIX}{first + min(bisect.bisect_left(cdf, rng.random()), n - 1)}"
            for _ in itertools.count()
        )
    raise ValueError(f"unknown path mode {mode!r}")


def wrk_script(
    mode: str, *, delay_ms: int = 0, seed: int = 1, method: str = "GET", body: str = ""
) -> str:
    """A wrk Lua script producing the same requests as `path_stream` (and an optional delay).

    Args:
        method: the request method; `body` (with its Content-Type sent as a header
            by the caller) goes with every request when not empty.
    """
    kind, _, rest = mode.partition(":")
    lines = [f"math.randomseed({seed})", f'wrk.method = "{method}"']
    if body:
        if "]==]" in body:
            raise ValueError("the body cannot go into a Lua long string")
        lines.append(f"wrk.body = [==[{body}]==]")
    if kind == "fixed":
        # wrk.init (after this script loads) adds Host and builds the request from wrk.path.
        lines.append(f'wrk.path = "{rest}"')
    elif kind in ("zipf", "uniform"):
        first, n = (int(part) for part in rest.split(":"))
        lines.append(f'local base, first, n = "{SEGMENT_PREFIX}", {first}, {n}')
        if kind == "uniform":
            lines.append("local pick = function() return math.random(0, n - 1) end")
        else:
            lines += [
                f"local s, cdf, total = {ZIPF_S}, {{}}, 0",
                "for k = 1, n do total = total + 1 / k ^ s; cdf[k] = total end",
                "for k = 1, n do cdf[k] = cdf[k] / total end",
                "local pick = function()",
                "  local r, lo, hi = math.random(), 1, n",
                "  while lo < hi do",
                "    local mid = math.floor((lo + hi) / 2)",
                "    if cdf[mid] < r then lo = mid + 1 else hi = mid end",
                "  end",
                "  return lo - 1",
                "end",
            ]
        lines.append("request = function() return wrk.format(nil, base .. (first + pick())) end")
    else:
        raise ValueError(f"wrk cannot run path mode {mode!r}")
    if delay_ms:
        lines.append(f"delay = function() return {delay_ms} end")
    return "\n".join(lines) + "\n"
