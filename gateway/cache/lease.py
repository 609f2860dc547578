"""The optional capability of a shared backend: one load per key across every instance.

A backend that several gateway processes share (Redis) can hand out leases.
The service takes one before loading a key: the holder loads and stores,
the others wait for its entry. Writes go through the lease, fenced against
invalidations made anywhere since the lease was taken. Backends private to
one process (memory) do not offer this; the in-process single-flight is all
they need.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from gateway.cache.base import Entry


class Lease(Protocol):
    """The right to load one key for every instance, or a place in line for it."""

    @property
    def held(self) -> bool:
        """True while this lease holds the key's lock (this instance loads)."""

    @property
    def found(self) -> Entry | None:
        """The entry stored when the lease last tried to take the lock, or None."""

    async def wait(self) -> Entry | None:
        """Wait while another instance holds the lock.

        Returns when the lock is free: the entry stored meanwhile (maybe an
        old one), or None. The lease holds the lock afterwards unless waiting
        gave up after its bound; either way the caller may load and ``store``.
        """

    async def store(self, entry: Entry) -> bool:
        """Store ``entry`` and free the lock, unless the key was invalidated or the
        cache cleared, by any instance, since the lease was taken.

        Returns:
            True when the entry was stored.
        """

    async def release(self) -> None:
        """Free the lock if still held and stop renewing it; safe to call twice."""


@runtime_checkable
class LeaseProvider(Protocol):
    """A backend that coordinates loads across instances."""

    async def lease(self, key: str, tags: tuple[str, ...] = ()) -> Lease:
        """Try to take the lock for ``key`` at once; the lease says whether it did.

        Its ``store`` files the entry under ``tags`` and is fenced against their
        invalidation too.
        """
