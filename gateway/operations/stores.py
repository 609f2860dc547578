"""The owner store that fits the configured cache back-end (SPEC §10.4, §11.2).

- ``cache.backend: redis``: `RedisStore` on the cache's Redis and prefix — every
  worker and replica shares it, and it outlives restarts;
- memory, under ``serve --workers N``: `SqliteStore` on the file the supervisor
  made for the set (owners hold across workers, on one host);
- memory, one process: `MemoryStore`.
"""

from __future__ import annotations

from gateway.config.model import Config
from gateway.operations.store import MemoryStore, OwnerStore


def make_store(config: Config, owners_path: str | None) -> OwnerStore:
    """The store for ``config``; ``owners_path`` is the workers' shared file, if any."""
    if config.cache.backend == "redis":
        # Imported here: redis is an optional extra, needed only for this back-end.
        from gateway.cache.redis.backend import connect
        from gateway.operations.redis_store import RedisStore

        return RedisStore(connect(config.cache.redis_url), prefix=config.cache.redis_prefix)
    if owners_path is not None:
        from gateway.operations.sqlite_store import SqliteStore

        return SqliteStore(owners_path)
    return MemoryStore()
