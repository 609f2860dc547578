"""`demo`: the simulator and the gateway in front of it, and lines to paste that work as printed.

The job-segment lines show the cache; the whole-API block runs OL Connect's
document flow — upload, data mapping, content, job and output creation,
download — through the gateway with the demo key alone. A test runs that
block in bash against a real demo.
"""

from __future__ import annotations

import asyncio
import secrets
import socket

from gateway.app import create_app
from gateway.catalogue.model import Scope
from gateway.cli.startup import start, until_signalled, use_uvloop
from gateway.config.model import Config, key_digest
from gateway.edge.runner_options import runner_options
from gateway.simulator import SERVER_OPTIONS, Simulator, create_simulator_app
from gateway.telemetry.log import configure_logging
from gateway.telemetry.redaction import register_secret

DEMO_USER = "ol-admin"

WHOLE_API_HEADER = "The whole API, upload to download (paste into bash):"

# The flow, with `$G` the gateway's /rest/serverengine and `$H` the key header. `op`
# starts an operation and prints its operationId; `done_` waits for it: `Prefer: wait`
# has the gateway answer once the operation is done (or after 60 s), so no sleep loop.
_FLOW = r"""G={base}/rest/serverengine; H="X-API-Key: $KEY"
op() {{ curl -s -D - -o /dev/null -X POST -H "$H" -H 'Content-Type: application/json' ${{2:+-d "$2"}} "$G/workflow/$1" | tr -d '\r' | sed -n 's/^operationId: //Ip'; }}
done_() {{ until [ "$(curl -s -H "$H" -H 'Prefer: wait=60' "$G/workflow/$1/getProgress/$2")" = done ]; do :; done; }}
result() {{ done_ "$1" "$2"; curl -s -X POST -H "$H" "$G/workflow/$1/getResult/$2"; }}
FILE=$(printf 'name,amount\nalice,10\nbob,20\n' | curl -s -H "$H" --data-binary @- "$G/filestore/DataFile?filename=customers.csv&persistent=false")
DATASET=$(result datamining "$(op datamining/customers.OL-datamapper/$FILE)")
CONTENTSET=$(result contentcreation "$(op contentcreation/letter.OL-template/$DATASET)")
JOBSET=$(result jobcreation "$(op jobcreation/jobs.OL-jobpreset "{{\"identifiers\": [$CONTENTSET]}}")")
OP=$(op outputcreation/print.OL-outputpreset/$JOBSET); done_ outputcreation $OP
OUTPUT=$(curl -s -X POST -H "$H" "$G/workflow/outputcreation/getManagedResult/$OP" | sed -n 's/.*"identifier": *\([0-9]*\).*/\1/p')
curl -s -H "$H" -OJ "$G/filestore/file/$OUTPUT" && ls jobset-$JOBSET.pdf
curl -s -H "$H" "$G/entity/jobsets/$JOBSET"; echo"""


def banner(base: str, key: str, sim_port: int) -> str:
    """The demo's banner for a gateway at ``base`` with the demo ``key``."""
    segments = f"{base}/rest/serverengine/entity/jobsegments"
    header = '-H "X-API-Key: $KEY"'
    lines = [
        f"olconnect-gateway demo: gateway on {base}, OL Connect simulator on port {sim_port}",
        f"Demo API key (scopes read, write, run, files, admin): {key}",
        "",
        "In your shell first (the lines below use it):",
        f"  export KEY={key}",
        "",
        "Try (Ctrl-C stops both):",
        f"  curl -i {header} {segments}",
        f"  curl -i {header} {segments}/version",
        f"  curl -i {header} {segments}/42",
        f"  curl -i {header} {segments}/42/metadata",
        f"  curl -i {header} -X PUT -H 'Content-Type: application/json' "
        f"""-d '{{"id": 42, "properties": [{{"name": "customer", "value": "ACME"}}]}}' """
        f"{segments}/42/metadata",
        f'  curl -i -X POST -u "demo:$KEY" {base}/rest/serverengine/authentication/login',
        f"  curl -i {header} -X DELETE {base}/admin/cache/jobsegments/42",
        f"  curl -i {header} -X DELETE {base}/admin/cache",
        f"  curl -i {base}/healthz",
        f"  curl -i {base}/readyz",
        f"  curl -s {base}/metrics",
        "",
        WHOLE_API_HEADER,
        *("  " + line for line in _FLOW.format(base=base).splitlines()),
    ]
    return "\n".join(lines)


def demo(port: int) -> int:
    """Run the simulator on a free loopback port and the gateway on `port` in front of it."""
    configure_logging("info", "console")
    use_uvloop()
    asyncio.run(_demo(port))
    return 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _demo(port: int) -> None:
    password = secrets.token_urlsafe(16)
    sim_port = _free_port()
    sim_runner = await start(
        create_simulator_app(Simulator(username=DEMO_USER, password=password)),
        "127.0.0.1",
        sim_port,
        shutdown_timeout=1,
        gateway=False,
        **SERVER_OPTIONS,
    )
    key = "olcg_demo_" + secrets.token_urlsafe(24)
    register_secret(key)  # printed once in the banner, never in a log line
    config = Config.model_validate(
        {
            "server": {"port": port},
            "upstream": {
                "url": f"http://127.0.0.1:{sim_port}",
                "username": DEMO_USER,
                "password": password,
            },
            "clients": [
                {
                    "name": "demo",
                    "key_sha256": key_digest(key),
                    "scopes": list(Scope),  # every scope: the demo runs the whole flow
                }
            ],
            "logging": {"format": "console"},
            # The simulator is local and counts progress by polls: waits end sooner.
            "operations": {"poll_interval": 0.1},
        }
    )
    try:
        gateway_runner = await start(
            create_app(config),
            "127.0.0.1",
            port,
            5,
            max_connections=config.server.max_connections,
            **runner_options(config.server),
        )
    except BaseException:
        await sim_runner.cleanup()
        raise
    print(banner(f"http://127.0.0.1:{port}", key, sim_port), flush=True)
    try:
        await until_signalled()
    finally:
        await gateway_runner.cleanup()
        await sim_runner.cleanup()
    print("demo stopped", flush=True)
