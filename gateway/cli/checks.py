"""`check-config`'s warnings: a valid config that will not do what its writer expects.

Warnings, not errors: the file may be checked on another machine than the one
that serves it, and each of these still starts. `serve` logs the same
findings where it can (`config_file_permissions`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from gateway.cli.listen import host_problem
from gateway.config.filecheck import exposure
from gateway.config.model import Config


def config_warnings(
    path: str,
    config: Config,
    *,
    workers: int = 1,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[str]:
    """One line per warning about the config at `path`, each naming its key path.

    Args:
        path: the file (its permissions are checked).
        config: the file, validated.
        workers: the `--workers` it is meant for.
        now: aware UTC now, for the clients' `expires_at`.
    """
    warnings = []
    problem = host_problem(config.server.host)
    if problem is not None:
        warnings.append(problem)
    found = exposure(path)
    if found is not None:
        warnings.append(found.describe(path))
    today = now()
    for index, client in enumerate(config.clients):
        if client.expires_at is not None and client.expires_at <= today:
            warnings.append(
                f"clients.{index}.expires_at: {client.name} expired at "
                f"{client.expires_at.isoformat()}: every key of it is refused"
            )
    if workers > 1 and config.cache.backend == "memory":
        warnings.append(
            f"cache.backend: memory with {workers} workers: each worker caches on its own, "
            "so a write through one leaves the others' entries until their TTL; "
            "use cache.backend: redis"
        )
    return warnings
