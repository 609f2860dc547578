"""A lean blocking HTTP/1.1 client for large bodies: one download or one upload per connection.

The client must cost far less than what it measures: a download is read with
`readinto` into one reused 1 MiB buffer and thrown away; an upload goes out
with `socket.sendfile` (zero-copy from the page cache) under a Content-Length.
Bodies must be sized (Content-Length), as every target here sends them.
"""

from __future__ import annotations

import io
import socket
import time
from dataclasses import dataclass
from pathlib import Path

BUFFER = 1024 * 1024
TIMEOUT = 60.0


@dataclass(frozen=True)
class Transfer:
    """One finished transfer: status, body bytes moved, seconds, and a small answer's text."""

    status: int
    size: int
    seconds: float
    answer: str = ""


def download(host: str, port: int, path: str, headers: dict[str, str]) -> Transfer:
    """GET `path` and count its body; the clock runs from the first byte sent to the last read."""
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        sock.sendall(_head("GET", host, port, path, headers))
        with io.BufferedReader(sock.makefile("rb", buffering=0), BUFFER) as stream:
            status, length = _answer_head(stream)
            size = _drain(stream, length)
        return Transfer(status, size, time.perf_counter() - started)


def upload(host: str, port: int, path: str, headers: dict[str, str], source: Path) -> Transfer:
    """POST the file `source` to `path`; the clock runs until the answer is read."""
    size = source.stat().st_size
    sized = {**headers, "Content-Length": str(size)}
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        sock.sendall(_head("POST", host, port, path, sized))
        with source.open("rb") as body:
            sent = sock.sendfile(body)
        with io.BufferedReader(sock.makefile("rb", buffering=0), BUFFER) as stream:
            status, length = _answer_head(stream)
            answer = stream.read(length).decode(errors="replace") if length < BUFFER else ""
        return Transfer(status, sent, time.perf_counter() - started, answer.strip())


def write_source(path: Path, size: int) -> None:
    """A file of `size` bytes to upload (a repeating pattern; nothing compresses it away)."""
    block = bytes(range(256)) * (BUFFER // 256)
    with path.open("wb") as out:
        left = size
        while left > 0:
            out.write(block[: min(left, BUFFER)])
            left -= BUFFER


def _head(method: str, host: str, port: int, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _answer_head(stream: io.BufferedReader[socket.SocketIO]) -> tuple[int, int]:
    """The status and Content-Length of an answer; fails on a body without a length."""
    status_line = stream.readline()
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise RuntimeError(f"not an HTTP answer: {status_line[:80]!r}")
    length: int | None = None
    while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise RuntimeError("the answer has no Content-Length")
    return int(parts[1]), length


def _drain(stream: io.BufferedReader[socket.SocketIO], length: int) -> int:
    buffer = bytearray(BUFFER)
    view = memoryview(buffer)
    size = 0
    while size < length:
        n = stream.readinto(view[: min(BUFFER, length - size)])
        if not n:
            break
        size += n
    return size
