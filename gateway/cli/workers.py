"""`serve --workers N`: N gateway processes sharing one port, under a small supervisor.

Each worker is a full `serve` bound with SO_REUSEPORT; the kernel spreads
new connections over them. The parent only supervises: it tells every worker
to stop (SIGTERM) on SIGTERM or SIGINT and forwards SIGHUP, waits for them,
and exits 0 once a signal has stopped them all. Each worker sits in its own
process group, so a Ctrl-C in a terminal reaches it once, through the parent.
A stop while workers are still starting starts no more, and every worker is
gone within `server.shutdown_timeout` (plus `KILL_GRACE` for one that is
draining requests); a worker still there then is killed. A worker that dies
on its own takes the others down with it (exit 1): a supervisor such as
systemd restarts the whole set. A worker whose parent dies stops by itself.

`--workers` is bounded: at most `MAX_PER_CPU` per CPU the process may use
(`auto` is one per CPU). With the memory backend each worker has its own
cache; with Redis they share one. /metrics answers for all of them
(`gateway.edge.worker_metrics`). Owners of operations and files are always
shared (SPEC §11.2): through Redis, or with the memory back-end through a
SQLite file in a private directory the parent makes and removes
(`gateway.operations.sqlite_store`).
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

import structlog

from gateway.access.sessions import new_secret
from gateway.cli.startup import EXIT_USAGE, load_or_exit
from gateway.telemetry.aggregate import WorkerSet
from gateway.telemetry.context import bind_process
from gateway.telemetry.log import configure_logging

log = structlog.get_logger("gateway.workers")

MAX_PER_CPU = 4
KILL_GRACE = 2.0  # seconds past shutdown_timeout for a draining worker to close
STOPS = (signal.SIGTERM, signal.SIGINT)
# Blocked in a worker from its fork until it can ignore them: a Ctrl-C meant for the
# parent, or a SIGHUP, must not end a worker in the middle of its imports with a
# traceback. SIGTERM stays deliverable: its default action ends a starting worker at once.
_HELD = {signal.SIGINT, signal.SIGHUP}
_POLL = 0.25  # seconds between checks of the stop deadline


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _stop_with_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()  # returns once the parent is gone
        os.kill(os.getpid(), signal.SIGTERM)


def _worker(
    config_path: str, session_secret: bytes, owners_path: str | None, workers: WorkerSet
) -> None:
    """One worker process: `serve` on a shared port until signalled."""
    os.setpgrp()  # terminal signals go to the parent only; it forwards them once
    for signum in _HELD:  # `serve` installs its own handlers once its loop runs
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    threading.Thread(target=_stop_with_parent, name="parent-watch", daemon=True).start()
    bind_process(pid=os.getpid(), worker=workers.index)
    from gateway.cli.serve import serve

    try:
        code = serve(
            config_path,
            reuse_port=True,
            session_secret=session_secret,
            owners_path=owners_path,
            workers=workers,
        )
    except OSError as exc:  # e.g. the port is taken: one line, no traceback
        print(f"olconnect-gateway: error: {exc.strerror or exc}", file=sys.stderr)
        code = EXIT_USAGE
    sys.exit(code)


def _socket_base() -> tuple[str, str | None]:
    """Where the workers answer each other, and a directory to remove afterwards (or None).

    On Linux an abstract socket name: no file, so a read-only root file system is no
    obstacle. Elsewhere a private temporary directory.
    """
    if sys.platform == "linux":
        return f"\0olconnect-gateway-{os.getpid()}-{secrets.token_hex(8)}", None
    directory = tempfile.mkdtemp(prefix="olcg-workers-")
    return os.path.join(directory, "worker"), directory


def supervise(config_path: str, workers: int) -> int:
    """Run `workers` gateway processes from the config at `config_path` until signalled.

    Returns:
        0 when a signal stopped every worker and all exited cleanly, else the
        first failing worker's exit status (1 when it had none).
    """
    config = load_or_exit(config_path)  # exit 2 here, not once per worker
    configure_logging(config.logging.level, config.logging.format)
    context = multiprocessing.get_context("spawn")
    # One signing secret for the set: a session token from one worker works on all.
    session_secret = new_secret()
    # Owners shared by the set; mkdtemp makes the directory readable by us alone.
    owners_dir = None if config.cache.backend == "redis" else tempfile.mkdtemp(prefix="olcg-")
    owners_path = None if owners_dir is None else str(Path(owners_dir) / "owners.sqlite3")
    address, directory = _socket_base()
    supervisor = _Supervisor(
        [
            context.Process(
                target=_worker,
                args=(config_path, session_secret, owners_path, WorkerSet(n, workers, address)),
                name=f"olcg-worker-{n}",
            )
            for n in range(workers)
        ],
        stop_within=config.server.shutdown_timeout,
    )
    for signum in (*STOPS, signal.SIGHUP):
        signal.signal(signum, supervisor.forward)
    try:
        return supervisor.run()
    finally:
        for private in (owners_dir, directory):
            if private is not None:
                shutil.rmtree(private, ignore_errors=True)


class _Supervisor:
    """Starts the workers, forwards signals to them, and waits for them all.

    Args:
        processes: the workers, not started yet.
        stop_within: `server.shutdown_timeout`: how long a stop may take.
    """

    def __init__(self, processes: list[BaseProcess], *, stop_within: float) -> None:
        self.processes = processes
        self.stop_within = stop_within
        self.stop_at: float | None = None  # monotonic time of the first stop signal

    def forward(self, signum: int, _frame: FrameType | None = None) -> None:
        """Send SIGHUP on to every running worker; on SIGTERM or SIGINT, stop them all."""
        if signum != signal.SIGHUP:
            signum = signal.SIGTERM  # a worker that is still importing ends at once
            if self.stop_at is None:
                self.stop_at = time.monotonic()
        for process in self.processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signum)

    def run(self) -> int:
        started = self._start()
        log.info("gateway_workers_started", workers=len(started), pids=[p.pid for p in started])
        if self.stop_at is not None:  # signalled while workers were starting
            self.forward(signal.SIGTERM)
        status = 0
        running = list(started)
        while running:
            wait([process.sentinel for process in running], self._wait_time())
            if self.stop_at is not None and self._wait_time() == 0:
                status = status or self._kill(running)
            for process in [p for p in running if p.exitcode is not None]:
                running.remove(process)
                status = self._judge(process, status)
        log.info("gateway_workers_stopped", status=status)
        return status

    def _start(self) -> list[BaseProcess]:
        started = []
        for process in self.processes:
            if self.stop_at is not None:
                break  # a stop during start-up starts no more workers
            old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
            try:
                process.start()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
            started.append(process)
        return started

    def _wait_time(self) -> float:
        if self.stop_at is None:
            return _POLL
        deadline = self.stop_at + self.stop_within + KILL_GRACE
        return max(0.0, min(_POLL, deadline - time.monotonic()))

    def _kill(self, running: list[BaseProcess]) -> int:
        """SIGKILL the workers still there after the stop deadline; 1 if there were any."""
        stuck = [p for p in running if p.exitcode is None and p.pid is not None]
        for process in stuck:
            os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
        if stuck:
            log.error("gateway_workers_killed", pids=[p.pid for p in stuck])
        for process in stuck:
            process.join()
        return 1 if stuck else 0

    def _judge(self, process: BaseProcess, status: int) -> int:
        """The set's exit status once `process` has exited."""
        code = process.exitcode or 0
        if self.stop_at is None:
            log.error("gateway_worker_died", pid=process.pid, exitcode=process.exitcode)
            self.forward(signal.SIGTERM)
            return status or (code if code > 0 else 1)
        # Stopping: ended by our SIGTERM before `serve` took it over is a clean stop.
        if code > 0 and status == 0:
            return code
        return status
