"""The `olconnect-gateway` command line: serve, demo, simulator, keygen, check-config, healthcheck.

Every command exits 2 with a one-line message on bad arguments or bad config,
never a traceback (`healthcheck` exits 1 instead: Docker reserves 2).
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from gateway import __version__
from gateway.catalogue.model import Scope
from gateway.cli.checks import config_warnings
from gateway.cli.healthcheck import UNHEALTHY, healthcheck
from gateway.cli.startup import EXIT_USAGE, config_path, load_or_exit
from gateway.cli.workers import MAX_PER_CPU, supervise, usable_cpus
from gateway.config.model import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_PATH,
    ClientConfig,
    key_digest,
)

SCOPES = tuple(scope.value for scope in Scope)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2 (or `usage_exit`)."""

    def __init__(self, *args: Any, usage_exit: int = EXIT_USAGE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.usage_exit = usage_exit

    def error(self, message: str) -> NoReturn:
        self.exit(self.usage_exit, f"{self.prog}: error: {message}\n")


_CONFIG_HELP = f"config file (default ${CONFIG_ENV_VAR} or {DEFAULT_CONFIG_PATH})"


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="olconnect-gateway", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=_config_arg, help=_CONFIG_HELP)
    serve.add_argument("--workers", type=_workers, default=1, help=_WORKERS_HELP)

    demo = commands.add_parser("demo", help="run the gateway in front of the embedded simulator")
    demo.add_argument("--port", type=_port, default=8080, help="gateway port (default 8080)")

    sim = commands.add_parser("simulator", help="run the OL Connect simulator alone")
    sim.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--port", type=_port, default=9340, help="port to listen on (default 9340)")
    sim.add_argument("--username", default="ol-admin", help="the account (default ol-admin)")
    sim.add_argument("--password", default="secret", help="its password (default secret)")
    sim.add_argument(
        "--token-ttl", type=_positive, default=3600.0, help="token lifetime, s (default 3600)"
    )
    sim.add_argument(
        "--segments",
        type=_count,
        default=1000,
        help="job segments 1..N, and the job sets, data and content sets derived (default 1000)",
    )
    sim.add_argument(
        "--seed", help="YAML or JSON file with extra or replaced segments (default none)"
    )
    sim.add_argument(
        "--spool-dir",
        help="directory for File Store uploads, emptied on exit (default a private temp dir)",
    )
    sim.add_argument(
        "--progress-steps",
        type=_steps,
        default=(0, 50, 100),
        help="what getProgress polls answer before done, e.g. 0,50,100 (the default)",
    )
    sim.add_argument(
        "--no-token-expiry-header",
        action="store_true",
        help="omit Token-Expires-In, like OL Connect before 2021.2 (default: send it)",
    )
    sim.add_argument(
        "--keep-finished-operations",
        action="store_true",
        help="getProgress keeps answering done; OL Connect answers 404 once it said done "
        "(default: forget them, as OL Connect does)",
    )
    sim.add_argument(
        "--auth-errors",
        choices=("current", "legacy"),
        default="current",
        help="refused credentials: 401 JSON Error (2023.2+, the default) or the older "
        "401 expired / 403 invalid split (legacy)",
    )
    sim.add_argument(
        "--managed-result",
        choices=("json", "text"),
        default="json",
        help="getManagedResult answers {identifier, files} JSON (default, as 2024.2 servers "
        "do) or the Managed File ID as text (the 2020.2-2023.2 reference)",
    )
    sim.add_argument(
        "--expose-controls",
        action="store_true",
        help="enable the /_sim fault controls, tests only (default: off)",
    )

    keygen = commands.add_parser("keygen", help="print a new API key and its clients: entry")
    keygen.add_argument("--name", default="client", help="client name (default client)")
    keygen.add_argument("--scopes", type=_scopes, default=("read",), help="e.g. read,write")

    check = commands.add_parser("check-config", help="validate a config file")
    check.add_argument("--config", type=_config_arg, help=_CONFIG_HELP)
    check.add_argument(
        "--workers", type=_workers, default=1, help="check it for `serve --workers N` too"
    )

    health = commands.add_parser(
        "healthcheck",
        help="GET /healthz where the config says the gateway listens; exit 0 healthy, 1 not",
        # Docker reserves exit 2 for a health check: bad arguments are "not healthy" too.
        usage_exit=UNHEALTHY,
    )
    health.add_argument("--config", type=_config_arg, help=_CONFIG_HELP)
    health.add_argument(
        "--timeout", type=_positive, default=2.0, help="seconds to wait (default 2)"
    )
    return parser


def _config_arg(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    # Not 0 either: the banner and the printed curl lines name the port.
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port (1-65535): {text!r}")
    return port


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return int(text)


_WORKERS_HELP = (
    f"processes sharing the port (SO_REUSEPORT): a number up to {MAX_PER_CPU} per usable CPU, "
    "or auto (one per usable CPU); default 1"
)


def _workers(text: str) -> int:
    cpus = usable_cpus()
    if text == "auto":
        return cpus
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer or auto: {text!r}")
    if int(text) > MAX_PER_CPU * cpus:
        raise argparse.ArgumentTypeError(
            f"{text} is more than {MAX_PER_CPU} per usable CPU "
            f"({MAX_PER_CPU * cpus} for {cpus} CPUs here; `auto` gives {cpus})"
        )
    return int(text)


def _steps(text: str) -> tuple[int, ...]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not all(part.isdecimal() and int(part) <= 100 for part in parts):
        raise argparse.ArgumentTypeError(f"not a comma list of percentages: {text!r}")
    return tuple(int(part) for part in parts)


def _scopes(text: str) -> tuple[str, ...]:
    scopes = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if not scopes or unknown:
        raise argparse.ArgumentTypeError(f"scopes must be a comma list of {', '.join(SCOPES)}")
    return scopes


def _keygen(name: str, scopes: tuple[str, ...]) -> int:
    try:
        ClientConfig.model_validate({"name": name, "key_sha256": "0" * 64})
    except ValueError:
        print(
            "olconnect-gateway: error: --name must not be empty or hold ':' or whitespace",
            file=sys.stderr,
        )
        return EXIT_USAGE
    # SECURITY: 32 random bytes, URL-safe; only the digest goes into the config.
    key = "olcg_" + secrets.token_urlsafe(32)
    print(f"API key for {name} (shown once; give it to the client, store it nowhere else):")
    print(f"  {key}")
    print()
    print("clients:")
    print(f"  - name: {name}")
    print(f"    key_sha256: {key_digest(key)}")
    print(f"    scopes: [{', '.join(scopes)}]")
    return 0


def _check_config(path: str, workers: int) -> int:
    config = load_or_exit(path)
    for warning in config_warnings(path, config, workers=workers):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{path}: OK")
    return 0


def _simulator(args: argparse.Namespace) -> int:
    from aiohttp import web

    from gateway.simulator import (
        SERVER_OPTIONS,
        AuthErrors,
        ManagedResult,
        Simulator,
        create_simulator_app,
        load_seed,
    )

    seed = None
    if args.seed:
        try:
            seed = load_seed(args.seed)
        except (OSError, ValueError) as exc:
            print(f"olconnect-gateway: error: --seed: {exc}", file=sys.stderr)
            return EXIT_USAGE
    sim = Simulator(
        username=args.username,
        password=args.password,
        token_ttl=args.token_ttl,
        send_token_expiry=not args.no_token_expiry_header,
        segments=args.segments,
        seed=seed,
        spool_dir=args.spool_dir,
        progress_steps=args.progress_steps,
        keep_finished_operations=args.keep_finished_operations,
        auth_errors=AuthErrors(args.auth_errors),
        managed_result=ManagedResult(args.managed_result),
    )
    app = create_simulator_app(sim, expose_controls=args.expose_controls)
    banner = f"OL Connect simulator on http://{args.host}:{args.port} (user {args.username})"
    # run_app calls `print` once the socket is bound, so a busy port prints only the error.
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=lambda _default: print(banner, flush=True),
        access_log=None,
        **SERVER_OPTIONS,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "keygen":
            return _keygen(args.name, args.scopes)
        if args.command == "check-config":
            return _check_config(config_path(args.config), args.workers)
        if args.command == "simulator":
            return _simulator(args)
        if args.command == "healthcheck":
            return healthcheck(config_path(args.config), args.timeout)
        if args.command == "serve":
            if args.workers > 1:
                return supervise(config_path(args.config), args.workers)
            from gateway.cli.serve import serve

            return serve(config_path(args.config))
        from gateway.cli.demo import demo

        return demo(args.port)
    except KeyboardInterrupt:
        return 0
    except OSError as exc:  # e.g. the port is taken: one line, no traceback
        print(f"olconnect-gateway: error: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
