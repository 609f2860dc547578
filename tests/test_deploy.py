"""deploy/: every manifest parses and agrees with the code (ports, probes, env, config path).

No container engine runs here, so these tests read the Dockerfile as text and
the Kubernetes, compose and systemd files as data, and feed the configs they
mount to `load_config` with the environment the manifests give the gateway.
"""

from __future__ import annotations

import configparser
import hashlib
import re
import secrets
import shlex
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import hdrs
from yarl import URL

from gateway.app import create_app
from gateway.cli.startup import EXIT_USAGE
from gateway.config.model import (
    CONFIG_ENV_VAR,
    Config,
    ConfigError,
    ServerConfig,
    key_digest,
    load_config,
)

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
DEFAULT_PORT = ServerConfig().port
DEFAULT_SHUTDOWN_TIMEOUT = ServerConfig().shutdown_timeout
CONFIG_DIR = "/etc/olconnect-gateway"
CONFIG_PATH = f"{CONFIG_DIR}/gateway.yaml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")


def console_script() -> str:
    [name] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return str(name)


def get_routes() -> set[str]:
    """The paths the gateway serves without a key (health, readiness, metrics)."""
    config = Config.model_validate(
        {
            "upstream": {"url": "http://127.0.0.1:9340", "username": "u", "password": "p"},
            "clients": [{"name": "c", "key_sha256": "0" * 64}],
        }
    )
    app = create_app(config)
    return {
        route.resource.canonical
        for route in app.router.routes()
        if route.method == hdrs.METH_GET and route.resource is not None
    }


def env_refs(text: str) -> set[str]:
    """Names of the `${VAR}` (without a default) a config needs from the environment."""
    return {m.group(1) for m in _ENV_REF.finditer(text) if m.group(2) is None}


# --- Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [
        line
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile(keyword: str) -> list[str]:
    return [rest for key, rest in dockerfile_instructions() if key == keyword]


def test_dockerfile_slim_base_non_root_user() -> None:
    """Every stage starts from a slim Python image and the final one runs as a non-root uid."""
    bases = dockerfile("FROM")
    assert bases
    assert all(re.match(r"python:3\.\d+-slim\b", base) for base in bases)
    [user] = dockerfile("USER")
    assert user.split(":")[0] not in ("root", "0")
    keywords = [key for key, _ in dockerfile_instructions()]
    assert keywords.index("USER") > max(i for i, key in enumerate(keywords) if key == "FROM")


def test_dockerfile_port_healthcheck_and_signal_match_the_code() -> None:
    """EXPOSE is the default port; HEALTHCHECK runs `healthcheck`, which follows the mounted
    config's address and port (nothing hard-coded); SIGTERM stops it."""
    assert dockerfile("EXPOSE") == [str(DEFAULT_PORT)]
    [check] = dockerfile("HEALTHCHECK")
    options, _, command = check.partition(" CMD ")
    argv = yaml.safe_load(command)
    assert argv[:2] == [console_script(), "healthcheck"]
    assert "--config" not in argv  # the image's OLCG_CONFIG names the mounted file
    assert not re.search(r"127\.0\.0\.1|localhost|:\d{2,5}\b", check)
    timeout = float(argv[argv.index("--timeout") + 1])
    assert timeout < float(re.search(r"--timeout=(\d+)s", options).group(1))  # type: ignore[union-attr]
    assert "/healthz" in get_routes()
    assert dockerfile("STOPSIGNAL") == ["SIGTERM"]


def test_dockerfile_config_from_mount_and_no_secrets_in_image() -> None:
    """OLCG_CONFIG names the mounted config; no credential is baked into the image."""
    env = " ".join(dockerfile("ENV"))
    assert f"{CONFIG_ENV_VAR}={CONFIG_PATH}" in env
    assert "OLCONNECT_" not in env
    assert "PASSWORD" not in (DEPLOY / "Dockerfile").read_text().upper().replace(
        "OLCONNECT_PASSWORD", ""
    )
    [entrypoint] = dockerfile("ENTRYPOINT")
    assert yaml.safe_load(entrypoint) == [console_script()]
    assert yaml.safe_load(dockerfile("CMD")[0]) == ["serve"]


def test_dockerfile_context_keeps_what_the_build_copies() -> None:
    """The build's ignore file lets through every path the Dockerfile copies from the context."""
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    kept = {line.removeprefix("!").rstrip("/") for line in ignore if line.startswith("!")}
    copied = [
        part.rstrip("/")
        for rest in dockerfile("COPY")
        if not rest.startswith("--from")
        for part in rest.split()[:-1]
    ]
    assert copied
    assert set(copied) <= kept
    assert all((ROOT / path).exists() for path in copied)


# --- Kubernetes ------------------------------------------------------------------------------


def kustomization() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    return data


def kubernetes_documents() -> Iterator[dict[str, Any]]:
    """What `kubectl apply -k deploy/kubernetes` applies: the kustomization's resources
    (kustomize is not installed here; it has no patches or generators to run)."""
    for resource in kustomization()["resources"]:
        for document in yaml.safe_load_all((KUBERNETES / resource).read_text()):
            if document:
                yield document


def kubernetes(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in kubernetes_documents() if doc["kind"] == kind]


def containers_of(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def gateway_deployment() -> dict[str, Any]:
    """The Deployment whose pods run the gateway image."""
    [deployment] = [
        d
        for d in kubernetes("Deployment")
        if any(c["image"].startswith("olconnect-gateway") for c in containers_of(d))
    ]
    return deployment


def pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = gateway_deployment()["spec"]["template"]["spec"]
    return spec


def gateway_container() -> dict[str, Any]:
    """The one container running the gateway image (a native sidecar or a plain container)."""
    spec = pod_spec()
    containers: list[dict[str, Any]] = [*spec.get("initContainers", []), *spec["containers"]]
    [container] = [c for c in containers if c["image"].startswith("olconnect-gateway")]
    return container


def secret_value(name: str, key: str) -> str:
    [secret] = [s for s in kubernetes("Secret") if s["metadata"]["name"] == name]
    return str(secret["stringData"][key])


def mounted_config_text() -> str:
    """The gateway.yaml the gateway container mounts, from the ConfigMap its volume names."""
    [mount] = [m for m in gateway_container()["volumeMounts"] if m["mountPath"] == CONFIG_DIR]
    [volume] = [v for v in pod_spec()["volumes"] if v["name"] == mount["name"]]
    name = volume["configMap"]["name"]
    [config_map] = [cm for cm in kubernetes("ConfigMap") if cm["metadata"]["name"] == name]
    return str(config_map["data"]["gateway.yaml"])


# What an operator puts in the Secrets in place of the placeholders: a key from keygen.
OPERATOR_KEY = "olcg_" + secrets.token_urlsafe(32)
OPERATOR_SECRETS = {
    "OLCONNECT_PASSWORD": secrets.token_urlsafe(16),
    "BILLING_APP_KEY_SHA256": key_digest(OPERATOR_KEY),
    "api-key": OPERATOR_KEY,
}


def filled_secret_value(name: str, key: str) -> str:
    """A Secret value once the operator has replaced the example's placeholders."""
    return OPERATOR_SECRETS.get(key, secret_value(name, key))


def container_env(
    container: dict[str, Any], secret: Callable[[str, str], str] = filled_secret_value
) -> dict[str, str]:
    """The container's environment, secretKeyRefs resolved through `secret`."""
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secret(ref["name"], ref["key"])
    return env


def kubernetes_config(tmp_path: Path) -> Config:
    """The mounted config as the gateway loads it, the Secrets filled in by the operator."""
    path = tmp_path / "gateway.yaml"
    path.write_text(mounted_config_text())
    return load_config(path, container_env(gateway_container()))


def test_kubernetes_gateway_is_a_sidecar_next_to_an_app() -> None:
    """The pod runs the gateway (a restartable init container) and at least one app container."""
    spec = pod_spec()
    container = gateway_container()
    if container in spec.get("initContainers", []):
        assert container["restartPolicy"] == "Always"
    apps = [c for c in spec["containers"] if c is not container]
    assert apps


def test_kubernetes_config_mount_passes_load_config(tmp_path: Path) -> None:
    """The ConfigMap's gateway.yaml, with the env the manifest gives, is a valid config."""
    container = gateway_container()
    assert container["args"] == ["serve", "--config", CONFIG_PATH]
    [mount] = container["volumeMounts"]
    assert mount["mountPath"] == CONFIG_DIR
    assert mount.get("readOnly") is True
    assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates (no reload)"
    config = kubernetes_config(tmp_path)
    assert config.server.host == "0.0.0.0"  # noqa: S104 - the kubelet probes the pod IP


def test_kubernetes_env_names_match_the_config(tmp_path: Path) -> None:
    """Every ${VAR} the mounted config needs is set on the gateway container, from a Secret."""
    needed = env_refs(mounted_config_text())
    env = gateway_container()["env"]
    assert needed == {item["name"] for item in env}
    assert all("secretKeyRef" in item["valueFrom"] for item in env)
    assert {"OLCONNECT_USERNAME", "OLCONNECT_PASSWORD"} <= needed


def test_kubernetes_ports_and_probes_match_the_code(tmp_path: Path) -> None:
    """Container port = config port; readiness on /readyz, liveness on /healthz, served routes."""
    config = kubernetes_config(tmp_path)
    container = gateway_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert list(ports.values()) == [config.server.port]
    routes = get_routes()
    probes = {
        kind: container[kind]["httpGet"]
        for kind in ("readinessProbe", "livenessProbe", "startupProbe")
        if kind in container
    }
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert probe["path"] in routes
        port = probe["port"]
        assert ports.get(port, port) == config.server.port
    annotations = gateway_deployment()["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] in routes
    assert int(annotations["prometheus.io/port"]) == config.server.port


def test_kubernetes_app_reaches_the_gateway_with_its_own_key(tmp_path: Path) -> None:
    """Once the operator fills both Secrets from one keygen run, the app's key is the one
    whose digest the gateway knows, and it calls the sidecar on loopback."""
    config = kubernetes_config(tmp_path)
    gateway = gateway_container()
    [app] = [c for c in pod_spec()["containers"] if c is not gateway]
    env = container_env(app)
    assert env["OLCONNECT_BASE_URL"] == f"http://127.0.0.1:{config.server.port}"
    assert env["OLCONNECT_API_KEY"] == OPERATOR_KEY
    digest = hashlib.sha256(env["OLCONNECT_API_KEY"].encode()).hexdigest()
    assert any(digest in client.key_sha256 for client in config.clients)
    assert not {"OLCONNECT_USERNAME", "OLCONNECT_PASSWORD"} & set(env)


def test_kubernetes_example_secrets_as_shipped_start_nothing(tmp_path: Path) -> None:
    """Applied unchanged, the example Secret holds no digest: the gateway refuses to start,
    naming the key, instead of accepting the placeholder key printed next to it."""
    path = tmp_path / "gateway.yaml"
    path.write_text(mounted_config_text())
    with pytest.raises(ConfigError) as refused:
        load_config(path, container_env(gateway_container(), secret_value))
    [problem] = refused.value.problems
    assert problem.startswith("clients.0.key_sha256: ")


def test_kubernetes_configmap_reloads_every_pod() -> None:
    """The reload the ConfigMap documents reaches every pod of the Deployment, not one."""
    comments = "\n".join(
        line.lstrip("# ")
        for line in (KUBERNETES / "configmap.yaml").read_text().splitlines()
        if line.startswith("#")
    )
    deployment = gateway_deployment()
    name = deployment["metadata"]["name"]
    assert f"kubectl exec deploy/{name}" not in comments
    assert f"kubectl rollout restart deployment/{name}" in comments
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    [selector] = re.findall(r"kubectl get pods -l (\S+) -o name", comments)
    key, _, value = selector.partition("=")
    assert labels[key] == value
    assert deployment["spec"]["selector"]["matchLabels"][key] == value
    assert f"-c {gateway_container()['name']} -- sh -c 'kill -HUP 1'" in comments


def test_kubernetes_resources_and_grace_period(tmp_path: Path) -> None:
    """Every container has requests and limits; the grace period exceeds shutdown_timeout."""
    spec = pod_spec()
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"])
        assert "memory" in resources["limits"]
    config = kubernetes_config(tmp_path)
    assert spec["terminationGracePeriodSeconds"] > config.server.shutdown_timeout
    assert spec["securityContext"]["runAsNonRoot"] is True


def test_kubernetes_kustomization_applies_every_manifest() -> None:
    """Every manifest of the directory is a resource of the kustomization (none forgotten,
    none missing), and each document names its kind once."""
    resources = kustomization()["resources"]
    files = sorted(p.name for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(resources) == files
    seen = [(doc["kind"], doc["metadata"]["name"]) for doc in kubernetes_documents()]
    assert len(seen) == len(set(seen))
    assert all(doc.get("apiVersion") for doc in kubernetes_documents())


def service_for(url_host: str, url_port: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Service a URL's host names, and the Deployment whose pods it selects."""
    [service] = [s for s in kubernetes("Service") if s["metadata"]["name"] == url_host]
    [port] = [p for p in service["spec"]["ports"] if p["port"] == url_port]
    selected = [
        d
        for d in kubernetes("Deployment")
        if service["spec"]["selector"].items()
        <= d["spec"]["template"]["metadata"]["labels"].items()
    ]
    [deployment] = selected
    return port, deployment


def test_kubernetes_several_replicas_share_one_redis(tmp_path: Path) -> None:
    """SPEC §12.3: with more than one replica the gateways use the Redis back-end — a Redis
    the example itself deploys, reachable at the configured URL (Service, port, pods,
    probes on that port), and open to the gateway's pods through its NetworkPolicy."""
    config = kubernetes_config(tmp_path)
    replicas = gateway_deployment()["spec"].get("replicas", 1)
    if replicas == 1:
        return  # one gateway: the memory back-end serves nobody stale
    assert config.cache.backend == "redis"
    url = URL(config.cache.redis_url)
    assert url.host is not None
    port, redis = service_for(url.host, url.port or 6379)
    [container] = containers_of(redis)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    target = ports.get(port["targetPort"], port["targetPort"])
    assert target in ports.values()
    for kind in ("readinessProbe", "livenessProbe"):
        probe = container[kind]
        probe_port = probe.get("tcpSocket", {}).get("port", target)
        assert ports.get(probe_port, probe_port) == target
    app_labels = gateway_deployment()["spec"]["template"]["metadata"]["labels"]
    redis_labels = redis["spec"]["template"]["metadata"]["labels"]
    policies = [
        p
        for p in kubernetes("NetworkPolicy")
        if p["spec"]["podSelector"]["matchLabels"].items() <= redis_labels.items()
    ]
    for policy in policies:
        admitted = [
            rule
            for rule in policy["spec"]["ingress"]
            if any(
                peer["podSelector"]["matchLabels"].items() <= app_labels.items()
                for peer in rule["from"]
            )
            and any(p["port"] in (target, port["targetPort"]) for p in rule["ports"])
        ]
        assert admitted, "the NetworkPolicy keeps the gateways from their Redis"
    assert config.cache.redis_prefix != "olcg:"  # its own prefix: the Redis may be shared


def test_kubernetes_every_container_has_resources_and_runs_unprivileged() -> None:
    """Every container of every Deployment has requests and a memory limit, and drops
    privileges."""
    for deployment in kubernetes("Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in containers_of(deployment):
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"])
            assert "memory" in resources["limits"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


# --- systemd ---------------------------------------------------------------------------------


def systemd_unit() -> configparser.RawConfigParser:
    unit = configparser.RawConfigParser(strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read(DEPLOY / "olconnect-gateway.service")
    return unit


def test_systemd_unit_reload_stop_and_config() -> None:
    """ExecReload sends SIGHUP; ExecStart serves the config OLCG_CONFIG names; SIGTERM stops."""
    service = systemd_unit()["Service"]
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    start = shlex.split(service["ExecStart"])
    assert start[0].endswith("/" + console_script())
    assert start[1:] == ["serve", "--config", CONFIG_PATH]
    assert service["Environment"] == f"{CONFIG_ENV_VAR}={CONFIG_PATH}"
    assert service["KillSignal"] == "SIGTERM"
    assert float(service["TimeoutStopSec"]) > DEFAULT_SHUTDOWN_TIMEOUT
    assert service["RestartPreventExitStatus"] == str(EXIT_USAGE)
    assert "OLCONNECT_PASSWORD" not in service.get("Environment", "")


def test_systemd_unit_descriptor_limit_covers_the_default_bounds() -> None:
    """LimitNOFILE leaves room for server.max_connections, the upstream pool and spare."""
    from gateway.config.model import Config
    from gateway.edge.runner_options import descriptors_needed

    defaults = Config.model_validate(
        {
            "upstream": {"url": "http://ol:9340", "username": "u", "password": "p"},
            "clients": [{"name": "a", "key_sha256": "0" * 64}],
        }
    )
    assert int(systemd_unit()["Service"]["LimitNOFILE"]) >= descriptors_needed(defaults)


def test_systemd_unit_bounds_memory() -> None:
    """MemoryMax bounds the whole service."""
    service = systemd_unit()["Service"]
    assert re.fullmatch(r"\d+[KMG]", service["MemoryMax"])
    assert service["MemoryMax"] != "infinity"


def test_systemd_unit_user_is_created_by_systemd() -> None:
    """The unit runs unprivileged as a user systemd itself creates (no `User=` nobody made)."""
    service = systemd_unit()["Service"]
    assert service["DynamicUser"] == "yes"
    assert "User" not in service
    assert "Group" not in service


# --- compose ---------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def test_compose_runs_gateway_simulator_and_redis_building_the_image_once() -> None:
    """compose.yaml defines the three services; only the gateway builds deploy/Dockerfile,
    the simulator runs that image (compose then neither builds it twice nor pulls it)."""
    services = compose()["services"]
    assert set(services) == {"gateway", "simulator", "redis"}
    build = services["gateway"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert [name for name, service in services.items() if "build" in service] == ["gateway"]
    assert services["simulator"]["image"] == services["gateway"]["image"]


def compose_environment(service: dict[str, Any], **given: str) -> dict[str, str]:
    """The service's environment after compose's own `${VAR:?message}` interpolation."""
    env = {}
    for name, value in service["environment"].items():
        required = re.fullmatch(r"\$\{(\w+):\?[^}]*\}", str(value))
        if required is not None:
            assert required.group(1) in given, f"compose would refuse to start without {name}"
            value = given[required.group(1)]
        env[name] = str(value)
    return env


def test_compose_publishes_no_key_and_refuses_to_start_without_one() -> None:
    """The trial key's digest comes from the operator's environment, required by compose."""
    gateway = compose()["services"]["gateway"]
    assert re.fullmatch(
        r"\$\{OLCG_TRIAL_KEY_SHA256:\?.+\}", gateway["environment"]["OLCG_TRIAL_KEY_SHA256"]
    )
    [volume] = gateway["volumes"]
    text = (DEPLOY / volume.split(":")[0]).read_text()
    assert "${OLCG_TRIAL_KEY_SHA256}" in text
    with pytest.raises(AssertionError, match="OLCG_TRIAL_KEY_SHA256"):
        compose_environment(gateway)


def test_compose_gateway_config_passes_load_config_and_points_at_services() -> None:
    """The mounted config is valid with the compose env and names the simulator and Redis."""
    services = compose()["services"]
    gateway = services["gateway"]
    assert gateway["command"] == ["serve", "--config", CONFIG_PATH]
    [volume] = gateway["volumes"]
    source, target, mode = volume.split(":")
    assert (target, mode) == (CONFIG_PATH, "ro")
    trial_key = "olcg_" + secrets.token_urlsafe(32)
    environment = compose_environment(gateway, OLCG_TRIAL_KEY_SHA256=key_digest(trial_key))
    config = load_config(DEPLOY / source, environment)
    assert config.clients[0].key_sha256 == (key_digest(trial_key),)

    assert config.upstream.url == "http://simulator:9340"
    simulator = services["simulator"]["command"]
    assert simulator[simulator.index("--port") + 1] == "9340"
    assert simulator[simulator.index("--username") + 1] == config.upstream.username
    assert simulator[simulator.index("--password") + 1] == (
        config.upstream.password.get_secret_value()
    )
    assert config.cache.backend == "redis"
    assert config.cache.redis_url.startswith("redis://redis:6379/")
    [published] = gateway["ports"]
    assert published.rsplit(":", 1)[1] == str(config.server.port)
    assert published.startswith("127.0.0.1:")


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("*.yaml"))
)
def test_deploy_yaml_files_parse(path: str) -> None:
    """Every YAML file under deploy/ parses."""
    assert list(yaml.safe_load_all((DEPLOY / path).read_text()))


# --- published digests ------------------------------------------------------------------------

_DIGEST = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])")
# A run of characters a key, password or token may hold, between the usual delimiters.
_KEY_LIKE = re.compile(r"[^\s'\"`<>()\[\]{},;|\\]{4,}")


_NOT_THE_REPOSITORY = {".git", "__pycache__", "node_modules", "build", "dist"}


def repository_texts() -> dict[str, str]:
    """Every text file of the checkout by relative path; virtualenvs, caches and VCS data
    (directories starting with a dot, `.ci` excepted) and binary files left out."""
    texts = {}
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if any(
            (part.startswith(".") and part != ".ci")
            or part in _NOT_THE_REPOSITORY
            or part.endswith(".egg-info")
            for part in parts[:-1]
        ):
            continue
        if not path.is_file():
            continue
        try:
            texts["/".join(parts)] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
    return texts


def test_no_published_example_digest_belongs_to_a_printed_key() -> None:
    """No SHA-256 digest in deploy/, config/, README or docs/ is the digest of any key-like
    string anywhere in the repository: an example never ships a usable key."""
    texts = repository_texts()
    candidates = {
        variant
        for text in texts.values()
        for run in _KEY_LIKE.findall(text)
        for variant in (run, run.rstrip(".:…"), run.split("=", 1)[-1], run.split(":", 1)[-1])
    }
    known = {key_digest(candidate): candidate for candidate in candidates}
    published = {
        (name, digest.lower())
        for name, text in texts.items()
        if name.startswith(("deploy/", "config/", "docs/")) or name == "README.md"
        for digest in _DIGEST.findall(text)
    }
    assert len(candidates) > 1000  # the scan saw the repository
    leaked = {name: known[digest] for name, digest in published if digest in known}
    assert leaked == {}, f"example digests of printed keys: {leaked}"
