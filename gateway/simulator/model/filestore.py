"""The simulated File Store: uploads spooled to disk, never held in memory, found by id or name."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: Bytes handed to the disk (or the client) at a time.
CHUNK = 256 * 1024
_PERIOD = 251  # a prime, so the pattern does not line up with any power-of-two chunk
_BLOCK = bytes(i % _PERIOD for i in range(_PERIOD * (CHUNK // _PERIOD + 2)))


class FileKind(enum.StrEnum):
    """What a managed file is; `resources?type=` filters on these names."""

    DATA_FILE = "DATA_FILE"
    DATA_MAPPING_CONFIG = "DATA_MAPPING_CONFIG"
    TEMPLATE = "TEMPLATE"
    JOB_CREATION_CONFIG = "JOB_CREATION_CONFIG"
    OUTPUT_CREATION_CONFIG = "OUTPUT_CREATION_CONFIG"
    OUTPUT = "OUTPUT"
    """A file an operation produced (output, preview, conversion)."""
    GENERIC = "GENERIC"
    """A file stored by id through the internal synchronisation routes."""
    GENERATED = "GENERATED"
    """A test file of a deterministic pattern, made on the fly and never stored."""


#: OL Connect's managed file types, the names `resources?type=` takes: the reference lists
#: GENERIC and DATA_FILE, the vendor's client CONTENT_CREATION_CONFIG and WEAVER_CONFIG too.
RESOURCE_TYPES = (
    "GENERIC",
    "DATA_FILE",
    "TEMPLATE",
    "DATA_MAPPING_CONFIG",
    "CONTENT_CREATION_CONFIG",
    "JOB_CREATION_CONFIG",
    "OUTPUT_CREATION_CONFIG",
    "WEAVER_CONFIG",
)
#: What `resources` lists without `type`: the artefacts an operation is configured with.
DEFAULT_RESOURCE_TYPES = (
    "TEMPLATE",
    "DATA_MAPPING_CONFIG",
    "JOB_CREATION_CONFIG",
    "OUTPUT_CREATION_CONFIG",
)


@dataclass(frozen=True)
class StoredFile:
    """One managed file. `path` is None for a generated file."""

    file_id: int
    name: str
    kind: FileKind
    persistent: bool
    size: int
    path: Path | None

    @property
    def resource_type(self) -> str:
        """Its OL Connect managed file type (outputs and test files are GENERIC)."""
        return self.kind.value if self.kind.value in RESOURCE_TYPES else "GENERIC"


class EmptyUpload(ValueError):
    """An upload without a single byte (OL Connect answers it 400)."""


def pattern_bytes(offset: int, length: int) -> bytes:
    """`length` bytes of the generated-file pattern from `offset` (byte i is i mod 251)."""
    out = bytearray()
    while length > 0:
        take = min(length, CHUNK)
        start = (offset + len(out)) % _PERIOD
        out += _BLOCK[start : start + take]
        length -= take
    return bytes(out)


class FileStore:
    """Managed files by id (1, 2, ...) and by name (the newest upload of a name wins).

    Args:
        spool_dir: where uploads go; None makes a private temporary directory on the
            first upload, removed again by `clear()`.
    """

    def __init__(self, spool_dir: Path | None = None) -> None:
        self._spool_dir = spool_dir
        self._own_dir: Path | None = None
        self._files: dict[int, StoredFile] = {}
        self._by_name: dict[str, int] = {}
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._files)

    def _directory(self) -> Path:
        if self._spool_dir is not None:
            self._spool_dir.mkdir(parents=True, exist_ok=True)
            return self._spool_dir
        if self._own_dir is None:
            self._own_dir = Path(tempfile.mkdtemp(prefix="olcg-sim-spool-"))
        return self._own_dir

    @property
    def next_id(self) -> int:
        """The id the next new file gets."""
        return self._next_id

    def _allocate(self) -> int:
        file_id, self._next_id = self._next_id, self._next_id + 1
        return file_id

    def _register(self, stored: StoredFile) -> StoredFile:
        self._files[stored.file_id] = stored
        self._by_name[stored.name] = stored.file_id
        return stored

    async def receive(
        self, chunks: AsyncIterable[bytes], name: str | None, kind: FileKind, persistent: bool
    ) -> StoredFile:
        """Spool a streamed body to disk and register it once complete.

        Raises:
            EmptyUpload: the body had no bytes (nothing is kept).
        """
        file_id = self._allocate()
        path = self._directory() / f"{file_id}.bin"
        size = 0
        handle: BinaryIO = await asyncio.to_thread(path.open, "wb")
        try:
            pending = bytearray()
            async for chunk in chunks:
                pending += chunk
                size += len(chunk)
                if len(pending) >= CHUNK:
                    await asyncio.to_thread(handle.write, bytes(pending))
                    pending.clear()
            await asyncio.to_thread(handle.write, bytes(pending))
        except BaseException:
            handle.close()
            path.unlink(missing_ok=True)
            raise
        handle.close()
        if size == 0:
            path.unlink(missing_ok=True)
            raise EmptyUpload
        return self._register(
            StoredFile(file_id, name or f"{kind.lower()}-{file_id}", kind, persistent, size, path)
        )

    async def store_at(
        self, file_id: int, chunks: AsyncIterable[bytes], name: str | None = None
    ) -> StoredFile:
        """`POST filestore/file/{id}`: the body becomes file `file_id`, new or replaced.

        Raises:
            EmptyUpload: the body had no bytes (the old file stays).
        """
        old = self._files.get(file_id)
        kind = old.kind if old is not None else FileKind.GENERIC
        fresh = await self.receive(chunks, name, kind, persistent=True)
        del self._files[fresh.file_id]
        self._by_name.pop(fresh.name, None)
        if old is not None:
            self.delete(old)
        name = name or (old.name if old is not None else str(file_id))
        self._next_id = max(self._next_id, file_id + 1)
        return self._register(dataclasses.replace(fresh, file_id=file_id, name=name))

    async def add(self, name: str, kind: FileKind, data: bytes) -> StoredFile:
        """Store a small file an operation produced."""

        async def one() -> AsyncIterator[bytes]:
            yield data

        return await self.receive(one(), name, kind, persistent=False)

    def generate(self, name: str, size: int) -> StoredFile:
        """Register a file of `size` pattern bytes that is made while it is read."""
        if size < 0:
            raise ValueError("size must be >= 0")
        return self._register(
            StoredFile(self._allocate(), name, FileKind.GENERATED, False, size, None)
        )

    def find(self, file_id: str) -> StoredFile | None:
        """A file by its id (decimal) or, failing that, by its name."""
        if file_id.isascii() and file_id.isdigit() and int(file_id) in self._files:
            return self._files[int(file_id)]
        by_name = self._by_name.get(file_id)
        return None if by_name is None else self._files.get(by_name)

    def delete(self, stored: StoredFile) -> None:
        """Forget a file and remove its spool file."""
        self._files.pop(stored.file_id, None)
        if self._by_name.get(stored.name) == stored.file_id:
            del self._by_name[stored.name]
        if stored.path is not None:
            stored.path.unlink(missing_ok=True)

    def resources(self, types: Iterable[str] = DEFAULT_RESOURCE_TYPES) -> list[StoredFile]:
        """Persistent files of some `RESOURCE_TYPES`."""
        wanted = set(types)
        return [f for f in self._files.values() if f.persistent and f.resource_type in wanted]

    def clear(self) -> None:
        """Delete every spool file (and the private spool directory)."""
        for stored in list(self._files.values()):
            self.delete(stored)
        self._by_name.clear()
        self._next_id = 1
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    async def read(self, stored: StoredFile, chunk: int = CHUNK) -> AsyncGenerator[bytes, None]:
        """The file's bytes, `chunk` at a time, read off the loop's thread."""
        if stored.path is None:
            for offset in range(0, stored.size, chunk):
                yield pattern_bytes(offset, min(chunk, stored.size - offset))
            return
        handle: BinaryIO = await asyncio.to_thread(stored.path.open, "rb")
        with contextlib.closing(handle):
            while data := await asyncio.to_thread(handle.read, chunk):
                yield data

    async def head(self, stored: StoredFile, limit: int) -> bytes:
        """Up to `limit` bytes from the start of the file."""
        out = bytearray()
        async with contextlib.aclosing(self.read(stored, min(limit, CHUNK))) as chunks:
            async for data in chunks:
                out += data
                if len(out) >= limit:
                    break
        return bytes(out[:limit])
