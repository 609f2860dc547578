"""nginx as the C reference: a caching proxy for job segments and a pass-through for the rest.

One process, one worker, the same API-key ``map`` as the gateway's check, and
the upstream token obtained once up front and sent as OL Connect's
``auth_token`` — what an operator would write to put nginx where the gateway
sits. Job-segment reads are cached (``proxy_cache``, ``proxy_cache_lock``);
every other ``/rest/serverengine/`` route is passed through unbuffered both
ways (``proxy_buffering off``, ``proxy_request_buffering off``), as the gateway
streams.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.targets.procs import API_KEY, HOST, SEGMENTS, Fleet, Proc, free_port

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy_temp;
    fastcgi_temp_path {dir}/fastcgi_temp;
    uwsgi_temp_path {dir}/uwsgi_temp;
    scgi_temp_path {dir}/scgi_temp;
    proxy_cache_path {dir}/cache levels=1:2 keys_zone=olc:64m max_size=1g inactive=1h
                     use_temp_path=off;
    # The API-key check: a map from the presented key to a client name.
    map $http_x_api_key $bench_client {{ default ""; "{key}" "bench"; }}
    map $http_cache_control $bypass {{ default 0; "~*no-cache" 1; }}
    upstream olconnect {{ server {upstream}; keepalive 64; }}
    server {{
        listen {host}:{port} backlog=4096;
        location = /healthz {{ return 200 "ok"; }}
        location {segments}/ {{
            if ($bench_client = "") {{ return 403; }}
            proxy_pass http://olconnect;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-API-Key "";
            proxy_set_header auth_token "{token}";
            proxy_cache olc;
            proxy_cache_key $uri;
            proxy_cache_valid 200 300s;
            proxy_cache_valid 404 5s;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 10s;
            proxy_cache_bypass $bypass;
            add_header X-Cache $upstream_cache_status;
        }}
        # Every other OL Connect route: the gateway's pass-through, in nginx. The
        # request URI goes upstream as received (proxy_pass without a URI part).
        location /rest/serverengine/ {{
            if ($bench_client = "") {{ return 403; }}
            proxy_pass http://olconnect;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-API-Key "";
            proxy_set_header Authorization "";
            proxy_set_header auth_token "{token}";
            proxy_buffering off;
            proxy_request_buffering off;
            # Unbuffered, nginx moves an answer at most proxy_buffer_size at a time and a
            # request body client_body_buffer_size at a time (defaults: a page, 16k);
            # 256k, the simulator's chunk, doubled its download rate here.
            client_body_buffer_size 256k;
            proxy_buffer_size 256k;
            proxy_buffers 4 256k;
            proxy_busy_buffers_size 512k;
            proxy_read_timeout 30s;
            client_max_body_size 1g;
        }}
    }}
}}
"""


def start_nginx(fleet: Fleet, nginx: str, sim: Proc, token: str) -> Proc:
    """nginx, one process, in front of the simulator with a pre-obtained token."""
    port = free_port()
    conf = fleet.workdir / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            dir=fleet.workdir,
            key=API_KEY,
            upstream=f"{HOST}:{sim.port}",
            host=HOST,
            port=port,
            segments=SEGMENTS,
            token=token,
        )
    )
    argv = [nginx, "-p", str(fleet.workdir), "-c", str(conf), "-e", str(fleet.workdir / "e.log")]
    return fleet.start("nginx", argv, port)


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
