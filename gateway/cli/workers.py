"""`serve --workers N`: N gateway processes sharing one port, under a small supervisor.

Each worker is a full `serve` bound with SO_REUSEPORT; the kernel spreads
new connections over them. The parent only supervises: it forwards SIGTERM,
SIGINT and SIGHUP to every worker (each worker sits in its own process group,
so a Ctrl-C in a terminal reaches it once, through the parent), waits for
them, and exits 0 once a signal has stopped them all. A worker that dies on
its own takes the others down with it (exit 1): a supervisor such as systemd
restarts the whole set. A worker whose parent dies stops by itself.

With the memory backend each worker has its own cache; with Redis they share one.
Owners of operations and files are always shared (SPEC §11.2): through Redis,
or with the memory back-end through a SQLite file in a private directory the
parent makes and removes (`gateway.operations.sqlite_store`).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

import structlog

from gateway.access.sessions import new_secret
from gateway.cli.startup import EXIT_USAGE, load_or_exit
from gateway.telemetry.context import bind_process
from gateway.telemetry.log import configure_logging

log = structlog.get_logger("gateway.workers")

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _stop_with_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()  # returns once the parent is gone
        os.kill(os.getpid(), signal.SIGTERM)


def _worker(config_path: str, session_secret: bytes, owners_path: str | None) -> None:
    """One worker process: `serve` on a shared port until signalled."""
    os.setpgrp()  # terminal signals go to the parent only; it forwards them once
    threading.Thread(target=_stop_with_parent, name="parent-watch", daemon=True).start()
    bind_process(pid=os.getpid())
    from gateway.cli.serve import serve

    try:
        code = serve(
            config_path,
            reuse_port=True,
            session_secret=session_secret,
            owners_path=owners_path,
        )
    except OSError as exc:  # e.g. the port is taken: one line, no traceback
        print(f"olconnect-gateway: error: {exc.strerror or exc}", file=sys.stderr)
        code = EXIT_USAGE
    sys.exit(code)


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
    supervisor = _Supervisor(
        [
            context.Process(
                target=_worker,
                args=(config_path, session_secret, owners_path),
                name=f"olcg-worker-{n}",
            )
            for n in range(workers)
        ]
    )
    for signum in FORWARDED:
        signal.signal(signum, supervisor.forward)
    try:
        return supervisor.run()
    finally:
        if owners_dir is not None:
            shutil.rmtree(owners_dir, ignore_errors=True)


class _Supervisor:
    """Starts the workers, forwards signals to them, and waits for them all."""

    def __init__(self, processes: list[BaseProcess]) -> None:
        self.processes = processes
        self.stopping = False

    def forward(self, signum: int, _frame: FrameType | None = None) -> None:
        """Send `signum` to every running worker; anything but SIGHUP means stop."""
        if signum != signal.SIGHUP:
            self.stopping = True
        for process in self.processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, signum)

    def run(self) -> int:
        for process in self.processes:
            process.start()
        pids = [process.pid for process in self.processes]
        log.info("gateway_workers_started", workers=len(pids), pids=pids)
        if self.stopping:  # signalled while the later workers were starting
            self.forward(signal.SIGTERM)
        status = 0
        running = list(self.processes)
        while running:
            wait([process.sentinel for process in running])
            for process in [p for p in running if p.exitcode is not None]:
                running.remove(process)
                code = process.exitcode or 0
                if code != 0 and status == 0:
                    status = code if code > 0 else 1  # negative: killed by a signal
                if not self.stopping:
                    log.error("gateway_worker_died", pid=process.pid, exitcode=process.exitcode)
                    status = status or 1
                    self.forward(signal.SIGTERM)
        log.info("gateway_workers_stopped", status=status)
        return status
