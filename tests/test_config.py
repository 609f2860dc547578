"""Config loading: `${VAR}` expansion, YAML, validation by key path, defaults, immutability."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pydantic
import pytest
import yaml
from docpages import doc_section

from gateway.config.model import (
    CacheConfig,
    CacheTTLConfig,
    ClientConfig,
    Config,
    ConfigError,
    IsolationConfig,
    LoggingConfig,
    OperationsConfig,
    ServerConfig,
    UpstreamConfig,
    key_digest,
    load_config,
    parse_config,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = REPO / "config" / "gateway.yaml"
DIGEST_A = key_digest("key-a")
DIGEST_B = key_digest("key-b")
PASSWORD = "s3cret-Pa55word"


# The minimal config as text, ending inside its one client so a test can append client keys.
MINIMAL_YAML = f"""\
upstream:
  url: http://127.0.0.1:9340
  username: ol-admin
  password: {PASSWORD}
clients:
  - name: billing
    key_sha256: {DIGEST_A}
"""


def minimal(**overrides: Any) -> dict[str, Any]:
    """The smallest valid config as data, with top-level sections replaced by `overrides`."""
    data: dict[str, Any] = {
        "upstream": {"url": "http://127.0.0.1:9340", "username": "ol-admin", "password": PASSWORD},
        "clients": [{"name": "billing", "key_sha256": DIGEST_A}],
    }
    data.update(overrides)
    return data


def dump(data: dict[str, Any]) -> str:
    """YAML text of `data`."""
    return yaml.safe_dump(data, sort_keys=False)


def problems_of(text: str, environ: dict[str, str] | None = None) -> list[str]:
    """The problem lines `parse_config` reports for `text` (fails if it passes)."""
    with pytest.raises(ConfigError) as excinfo:
        parse_config(text, environ or {})
    return excinfo.value.problems


def upstream(**fields: Any) -> dict[str, Any]:
    """The minimal upstream section with `fields` changed."""
    return {**minimal()["upstream"], **fields}


def client(**fields: Any) -> dict[str, Any]:
    """One client entry with `fields` changed."""
    return {"name": "billing", "key_sha256": DIGEST_A, **fields}


# (id, config data, key path that must start the one problem line)
PROBLEMS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown top-level key", minimal(bogus=1), "bogus"),
    ("unknown nested key", minimal(upstream=upstream(passwd="x")), "upstream.passwd"),
    ("unknown deep key", minimal(cache={"ttl": {"documents": 1}}), "cache.ttl.documents"),
    ("unknown client key", minimal(clients=[client(key="k")]), "clients.0.key"),
    ("port as string", minimal(server={"port": "80"}), "server.port"),
    ("port out of range", minimal(server={"port": 70000}), "server.port"),
    ("port as bool", minimal(server={"port": True}), "server.port"),
    ("duration as string", minimal(server={"session_ttl": "10"}), "server.session_ttl"),
    ("zero duration", minimal(server={"session_ttl": 0}), "server.session_ttl"),
    ("negative duration", minimal(upstream=upstream(timeout=-1)), "upstream.timeout"),
    ("zero token ttl", minimal(upstream=upstream(token_ttl=0)), "upstream.token_ttl"),
    ("negative window", minimal(cache={"stale_if_error": -1}), "cache.stale_if_error"),
    ("zero cache ttl", minimal(cache={"ttl": {"metadata": 0}}), "cache.ttl.metadata"),
    ("zero size", minimal(cache={"max_entries": 0}), "cache.max_entries"),
    ("zero pool", minimal(upstream=upstream(max_connections=0)), "upstream.max_connections"),
    ("zero rate limit", minimal(clients=[client(rate_limit=0)]), "clients.0.rate_limit"),
    ("url without scheme", minimal(upstream=upstream(url="olconnect:9340")), "upstream.url"),
    ("url with ftp scheme", minimal(upstream=upstream(url="ftp://host/")), "upstream.url"),
    ("url without host", minimal(upstream=upstream(url="http://")), "upstream.url"),
    ("url with path only", minimal(upstream=upstream(url="http:///rest")), "upstream.url"),
    (
        "url with credentials",
        minimal(upstream=upstream(url="http://ol-admin:hunter2@host:9340")),
        "upstream.url",
    ),
    ("empty password", minimal(upstream=upstream(password="")), "upstream.password"),
    (
        "missing password",
        minimal(upstream={"url": "http://h", "username": "u"}),
        "upstream.password",
    ),
    ("bad redis url", minimal(cache={"redis_url": "http://h"}), "cache.redis_url"),
    ("unknown backend", minimal(cache={"backend": "memcached"}), "cache.backend"),
    ("unknown log level", minimal(logging={"level": "INFO"}), "logging.level"),
    ("section not a mapping", minimal(server=None), "server"),
    ("no clients key", {"upstream": minimal()["upstream"]}, "clients"),
    ("empty clients list", minimal(clients=[]), "clients"),
    ("clients not a list", minimal(clients={"billing": DIGEST_A}), "clients"),
    ("client not a mapping", minimal(clients=["billing"]), "clients.0"),
    ("client name with colon", minimal(clients=[client(name="a:b")]), "clients.0.name"),
    (
        "duplicate client names",
        minimal(clients=[client(), client(key_sha256=DIGEST_B)]),
        "clients.1.name",
    ),
    (
        "duplicate digests",
        minimal(clients=[client(), client(name="other")]),
        "clients.1.key_sha256",
    ),
    (
        "duplicate digest inside a list",
        minimal(clients=[client(), client(name="other", key_sha256=[DIGEST_B, DIGEST_A.upper()])]),
        "clients.1.key_sha256",
    ),
    ("digest not hex", minimal(clients=[client(key_sha256="z" * 64)]), "clients.0.key_sha256"),
    ("digest too short", minimal(clients=[client(key_sha256="ab")]), "clients.0.key_sha256"),
    (
        "digest list with bad item",
        minimal(clients=[client(key_sha256=[DIGEST_A, "nope"])]),
        "clients.0.key_sha256",
    ),
    ("empty digest list", minimal(clients=[client(key_sha256=[])]), "clients.0.key_sha256"),
    ("unknown scope", minimal(clients=[client(scopes=["read", "fly"])]), "clients.0.scopes.1"),
    ("empty scopes", minimal(clients=[client(scopes=[])]), "clients.0.scopes"),
    ("scopes not a list", minimal(clients=[client(scopes="read")]), "clients.0.scopes"),
    ("group with colon", minimal(clients=[client(group="a:b")]), "clients.0.group"),
    ("empty group", minimal(clients=[client(group="")]), "clients.0.group"),
    (
        "poll interval too short",
        minimal(operations={"poll_interval": 0.001}),
        "operations.poll_interval",
    ),
    (
        "unknown_ids not a choice",
        minimal(isolation={"unknown_ids": "ask"}),
        "isolation.unknown_ids",
    ),
    ("isolation not a bool", minimal(isolation={"enabled": "yes"}), "isolation.enabled"),
]


@pytest.mark.parametrize(
    ("data", "key_path"), [case[1:] for case in PROBLEMS], ids=[case[0] for case in PROBLEMS]
)
def test_parse_config_reports_one_line_per_problem(data: dict[str, Any], key_path: str) -> None:
    """Each kind of problem yields exactly one line, starting with its dotted key path."""
    problems = problems_of(dump(data))

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{key_path}: "), problems


@pytest.mark.parametrize(
    "value",
    [
        "2027-06-30T00:00:00",  # no time zone
        "2027-06-30",  # a date, not a timestamp
        "'2027-06-30T00:00:00'",  # quoted, still no time zone
        "next tuesday",
        "20270630",  # a number would silently mean a second in 1970
    ],
)
def test_parse_config_rejects_expires_at_without_zone_or_not_a_timestamp(value: str) -> None:
    """`expires_at` must be an ISO 8601 timestamp with a time zone, else one line names it."""
    text = MINIMAL_YAML + f"    expires_at: {value}\n"

    assert problems_of(text) == [
        "clients.0.expires_at: must be an ISO 8601 timestamp with a time zone"
    ]


@pytest.mark.parametrize(
    "value", ["2027-06-30T00:00:00Z", "'2027-06-30T00:00:00+02:00'", "2027-06-30 00:00:00 -05:00"]
)
def test_parse_config_accepts_expires_at_with_zone(value: str) -> None:
    """An `expires_at` with a time zone, plain or quoted, is kept as an aware datetime."""
    config = parse_config(MINIMAL_YAML + f"    expires_at: {value}\n", {})

    expires_at = config.clients[0].expires_at
    assert expires_at is not None
    assert expires_at.utcoffset() is not None


def test_parse_config_reports_unset_variable_by_key_path() -> None:
    """A `${VAR}` that is unset and has no default is one line naming the key and the variable."""
    text = dump(minimal(upstream=upstream(password="${OLCONNECT_PASSWORD}")))

    problems = problems_of(text)

    assert len(problems) == 1
    assert problems[0].startswith("upstream.password: ")
    assert "OLCONNECT_PASSWORD" in problems[0]


def test_parse_config_reports_unset_variable_inside_a_list() -> None:
    """The key path of an unset variable inside the clients list includes the index."""
    text = dump(minimal(clients=[client(), client(name="x", key_sha256="${NEW_DIGEST}")]))

    problems = problems_of(text)

    assert [line.split(":", 1)[0] for line in problems] == ["clients.1.key_sha256"]


def test_parse_config_reports_yaml_syntax_error_with_line() -> None:
    """A YAML syntax error is one `config:` line giving the line number."""
    text = "upstream:\n  url: http://h\n  username: [unclosed\nclients: []\n"

    problems = problems_of(text)

    assert len(problems) == 1
    assert problems[0].startswith("config: YAML syntax error at line ")
    assert "line 4" in problems[0]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "just text\n", "42\n"])
def test_parse_config_rejects_a_file_that_is_not_a_mapping(text: str) -> None:
    """An empty file, a list or a scalar is one line saying a mapping is needed."""
    assert problems_of(text) == ["config: the file must hold a YAML mapping"]


def test_parse_config_reports_a_key_given_twice() -> None:
    """A key repeated in one mapping is an error, not a silent last-one-wins."""
    text = dump(minimal()) + "logging:\n  level: info\nlogging:\n  level: debug\n"

    problems = problems_of(text)

    assert len(problems) == 1
    assert problems[0].startswith("logging: duplicate key")


def test_parse_config_reports_every_problem_at_once() -> None:
    """Problems in several sections are all reported together, one line each."""
    data = minimal(
        server={"port": "80", "extra": 1},
        upstream=upstream(url="ftp://h", password="${UNSET_PW}"),
        cache={"ttl": {"metadata": 0}},
        clients=[
            client(scopes=["fly"]),
            client(key_sha256="bad"),
            client(name="other", expires_at="2027-01-01T00:00:00"),
        ],
    )

    problems = problems_of(dump(data))

    assert sorted(line.split(":", 1)[0] for line in problems) == sorted(
        [
            "server.port",
            "server.extra",
            "upstream.url",
            "upstream.password",
            "cache.ttl.metadata",
            "clients.0.scopes.0",
            "clients.1.name",
            "clients.1.key_sha256",
            "clients.2.key_sha256",
            "clients.2.expires_at",
        ]
    )


def test_config_error_message_joins_problem_lines() -> None:
    """`str(ConfigError)` is its problem lines joined by newlines."""
    error = ConfigError(["a: x", "b: y"])

    assert str(error) == "a: x\nb: y"


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    """A valid file is read and validated."""
    path = tmp_path / "gateway.yaml"
    path.write_text(dump(minimal()), encoding="utf-8")

    config = load_config(path, environ={})

    assert config.clients[0].name == "billing"


def test_load_config_uses_the_process_environment_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `environ`, `${VAR}` comes from `os.environ`."""
    monkeypatch.setenv("OLCG_TEST_PASSWORD", "from-env")
    path = tmp_path / "gateway.yaml"
    path.write_text(dump(minimal(upstream=upstream(password="${OLCG_TEST_PASSWORD}"))))

    config = load_config(path)

    assert config.upstream.password.get_secret_value() == "from-env"


@pytest.mark.parametrize(
    ("name", "reason"),
    [("missing.yaml", "No such file or directory"), ("", "Is a directory")],
    ids=["missing", "directory"],
)
def test_load_config_reports_an_unreadable_file(tmp_path: Path, name: str, reason: str) -> None:
    """A missing file or a directory is one `config:` line naming the path and the reason."""
    path = tmp_path / name

    with pytest.raises(ConfigError) as excinfo:
        load_config(path, environ={})

    assert excinfo.value.problems == [f"config: cannot read {path}: {reason}"]


def test_load_config_reports_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are one `config:` line, not a decode traceback."""
    path = tmp_path / "gateway.yaml"
    path.write_bytes(b"server:\n  host: \xff\xfe\n")

    with pytest.raises(ConfigError) as excinfo:
        load_config(path, environ={})

    assert excinfo.value.problems == [f"config: cannot read {path}: not UTF-8 text"]


# (id, template, environment, expected value)
INTERPOLATIONS: list[tuple[str, str, dict[str, str], str]] = [
    ("set", "${PW}", {"PW": "hunter2"}, "hunter2"),
    ("default unused", "${PW:-fallback}", {"PW": "hunter2"}, "hunter2"),
    ("default used", "${PW:-fallback}", {}, "fallback"),
    ("empty default", "x${PW:-}y", {}, "xy"),
    ("set but empty beats default", "a${PW:-fallback}", {"PW": ""}, "a"),
    ("inside a longer string", "pre-${A}-mid-${B}-post", {"A": "1", "B": "2"}, "pre-1-mid-2-post"),
    ("hash and colon", "${PW}", {"PW": "a#b: c #d"}, "a#b: c #d"),
    ("quotes", "${PW}", {"PW": 'it\'s "quoted"'}, 'it\'s "quoted"'),
    ("flow syntax", "${PW}", {"PW": "[a, {b: c}]"}, "[a, {b: c}]"),
    ("anchor and alias signs", "${PW}", {"PW": "&a *b !tag |"}, "&a *b !tag |"),
    ("number-looking secret", "${PW}", {"PW": "123456"}, "123456"),
    ("octal-looking secret", "${PW}", {"PW": "0o17"}, "0o17"),
    ("bool-looking secret", "${PW}", {"PW": "yes"}, "yes"),
    ("null-looking secret", "${PW}", {"PW": "null"}, "null"),
    ("variable syntax in a value", "${PW}", {"PW": "${OTHER}"}, "${OTHER}"),
]


@pytest.mark.parametrize(
    ("template", "environ", "expected"),
    [case[1:] for case in INTERPOLATIONS],
    ids=[case[0] for case in INTERPOLATIONS],
)
def test_parse_config_interpolates_environment(
    template: str, environ: dict[str, str], expected: str
) -> None:
    """`${VAR}` and `${VAR:-default}` expand in place and the secret survives verbatim."""
    text = dump(minimal(upstream=upstream(password="__PW__"))).replace("__PW__", template)

    config = parse_config(text, environ)

    assert config.upstream.password.get_secret_value() == expected


def test_parse_config_interpolated_number_is_typed() -> None:
    """`port: ${PORT}` yields an int, and a duration variable a number."""
    text = dump(minimal()) + "server:\n  port: ${PORT}\n  session_ttl: ${TTL:-1.5}\n"

    config = parse_config(text, {"PORT": "8081"})

    assert config.server.port == 8081
    assert isinstance(config.server.port, int)
    assert config.server.session_ttl == 1.5


def test_parse_config_quoted_variable_stays_a_string() -> None:
    """A quoted `"${PORT}"` is text, so a port given that way is a type error."""
    text = dump(minimal()) + 'server:\n  port: "${PORT}"\n'

    assert problems_of(text, {"PORT": "8081"}) == ["server.port: must be a valid integer"]


def test_parse_config_number_variable_for_a_text_key_keeps_its_digits() -> None:
    """A numeric username from the environment is kept as the exact text, not a number."""
    text = dump(minimal(upstream=upstream(username="${USER_ID}")))

    config = parse_config(text, {"USER_ID": "0x1F"})

    assert config.upstream.username == "0x1F"


def test_parse_config_empty_variable_for_optional_number_means_absent() -> None:
    """An empty `${VAR:-}` for an optional key reads as YAML null, i.e. not set."""
    text = MINIMAL_YAML + "    rate_limit: ${RATE:-}\n"

    assert parse_config(text, {}).clients[0].rate_limit is None
    assert parse_config(text, {"RATE": "25"}).clients[0].rate_limit == 25


def test_parse_config_fills_every_default() -> None:
    """A minimal config gets exactly the defaults of SPEC §4 for every other key."""
    config = parse_config(dump(minimal()), {})

    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8080
    assert config.server.session_ttl == 3600
    assert config.server.shutdown_timeout == 10
    assert config.upstream.url == "http://127.0.0.1:9340"
    assert config.upstream.token_ttl == 3600
    assert config.upstream.refresh_before == 60
    assert config.upstream.timeout == 10
    assert config.upstream.max_connections == 100
    assert config.cache.backend == "memory"
    assert config.cache.redis_url == "redis://127.0.0.1:6379/0"
    assert config.cache.redis_prefix == "olcg:"
    assert config.cache.max_entries == 10000
    assert config.cache.ttl.document_sets == 300
    assert config.cache.ttl.metadata == 60
    assert config.cache.ttl.not_found == 5
    assert config.cache.stale_if_error == 300
    assert config.cache.stale_while_revalidate == 0
    (only,) = config.clients
    assert only.expires_at is None
    assert only.scopes == ("read",)
    assert only.rate_limit is None
    assert config.logging.level == "info"
    assert config.logging.format == "json"


def test_parse_config_strips_trailing_slash_from_upstream_url() -> None:
    """The upstream URL is stored without a trailing slash, so paths join cleanly."""
    config = parse_config(dump(minimal(upstream=upstream(url="https://ol.example:9340/"))), {})

    assert config.upstream.url == "https://ol.example:9340"


@pytest.mark.parametrize(
    ("target", "field"),
    [
        ("config", "server"),
        ("server", "port"),
        ("upstream", "password"),
        ("ttl", "metadata"),
        ("client", "scopes"),
        ("logging", "level"),
    ],
)
def test_config_is_immutable(target: str, field: str) -> None:
    """Assigning to any field of the parsed config raises."""
    config = parse_config(dump(minimal()), {})
    objects: dict[str, Any] = {
        "config": config,
        "server": config.server,
        "upstream": config.upstream,
        "ttl": config.cache.ttl,
        "client": config.clients[0],
        "logging": config.logging,
    }

    with pytest.raises(pydantic.ValidationError):
        setattr(objects[target], field, None)


def test_config_collections_are_tuples() -> None:
    """Clients, scopes and digests are tuples, so they cannot be changed in place either."""
    config = parse_config(dump(minimal(clients=[client(scopes=["read", "write"])])), {})

    assert isinstance(config.clients, tuple)
    assert isinstance(config.clients[0].scopes, tuple)
    assert isinstance(config.clients[0].key_sha256, tuple)


@pytest.mark.parametrize("render", [repr, str], ids=["repr", "str"])
def test_config_text_never_shows_the_password(render: Any) -> None:
    """Neither `repr` nor `str` of the config or its upstream section contains the password."""
    config = parse_config(dump(minimal()), {})

    assert PASSWORD not in render(config)
    assert PASSWORD not in render(config.upstream)
    assert config.upstream.password.get_secret_value() == PASSWORD


def test_parse_config_keeps_a_digest_list_as_a_tuple() -> None:
    """A `key_sha256` list (rotation with overlap) is kept in order as a tuple."""
    config = parse_config(dump(minimal(clients=[client(key_sha256=[DIGEST_A, DIGEST_B])])), {})

    assert config.clients[0].key_sha256 == (DIGEST_A, DIGEST_B)


@pytest.mark.parametrize("value", [DIGEST_A.upper(), [DIGEST_A.upper()]], ids=["single", "list"])
def test_parse_config_normalises_upper_case_digest(value: str | list[str]) -> None:
    """Upper-case hex is accepted and stored in lower case."""
    config = parse_config(dump(minimal(clients=[client(key_sha256=value)])), {})

    assert config.clients[0].key_sha256 == (DIGEST_A,)


def test_client_group_defaults_to_nothing_and_takes_star() -> None:
    """`group` is optional (the client's name applies) and `"*"` is a group name."""
    config = parse_config(
        dump(minimal(clients=[client(), client(name="ops", key_sha256=DIGEST_B, group="*")])), {}
    )
    assert [c.group for c in config.clients] == [None, "*"]


def test_key_digest_is_hex_sha256() -> None:
    """`key_digest` is the lower-case hex SHA-256 of the UTF-8 key."""
    assert key_digest("abc") == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_example_config_passes_and_holds_every_default() -> None:
    """`config/gateway.yaml` validates with its variables set and spells out the code defaults."""
    environ = {"OLCONNECT_USERNAME": "ol-admin", "OLCONNECT_PASSWORD": "secret"}

    config = load_config(EXAMPLE_CONFIG, environ)

    assert config.upstream.username == "ol-admin"
    assert config.upstream.password.get_secret_value() == "secret"
    assert config.server == ServerConfig()
    assert config.upstream == UpstreamConfig(
        url="http://127.0.0.1:9340", username="ol-admin", password=pydantic.SecretStr("secret")
    )
    assert config.cache == CacheConfig()
    assert config.cache.ttl == CacheTTLConfig()
    assert config.logging == LoggingConfig()
    assert config.operations == OperationsConfig()
    assert config.isolation == IsolationConfig()
    assert len(config.clients) == 1


def config_keys(model: type[pydantic.BaseModel], prefix: str = "") -> Iterator[str]:
    """Every key path the config models define; list items appear as `clients[].name`."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
            yield from config_keys(annotation, f"{prefix}{name}.")
            continue
        yield f"{prefix}{name}"
        for item in get_args(annotation):
            if isinstance(item, type) and issubclass(item, pydantic.BaseModel):
                yield from config_keys(item, f"{prefix}{name}[].")


def test_config_keys_cover_the_models() -> None:
    """The key walk used below sees nested sections and the client list."""
    keys = set(config_keys(Config))

    assert {"server.port", "cache.ttl.not_found", "clients", "clients[].key_sha256"} <= keys


def test_example_config_spells_out_every_key() -> None:
    """`config/gateway.yaml` shows every key the code accepts (optional client keys commented)."""
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")

    def present(key: str) -> bool:
        if key.startswith("clients[]."):
            return f"{key.removeprefix('clients[].')}:" in text
        node: Any = data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    missing = [key for key in config_keys(Config) if not present(key)]
    assert missing == [], f"config/gateway.yaml lacks {missing}"


def test_operations_doc_documents_every_key() -> None:
    """docs/operations.md's configuration reference has a row for every key the code accepts."""
    text = doc_section("operations", "## Configuration reference")

    missing = [key for key in config_keys(Config) if f"| `{key}` |" not in text]
    assert missing == [], f"docs/operations.md configuration reference lacks {missing}"


def test_example_config_keeps_secrets_in_variables() -> None:
    """The example config names its upstream credentials only through `${VAR}`."""
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")

    assert "${OLCONNECT_USERNAME}" in text
    assert "${OLCONNECT_PASSWORD}" in text
    assert problems_of(text) == [
        "upstream.username: environment variable OLCONNECT_USERNAME is not set and has no default",
        "upstream.password: environment variable OLCONNECT_PASSWORD is not set and has no default",
    ]


def test_config_model_equals_by_value() -> None:
    """Two parses of the same text are equal, so reload can compare configs."""
    assert parse_config(dump(minimal()), {}) == parse_config(dump(minimal()), {})
    assert isinstance(parse_config(dump(minimal()), {}), Config)


def test_parse_config_url_credentials_are_not_echoed() -> None:
    """A URL holding credentials is refused without repeating them in the problem line."""
    data = minimal(upstream=upstream(url="http://ol-admin:hunter2@host:9340"))
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data), {})
    assert "hunter2" not in str(caught.value)
    assert caught.value.problems == [
        "upstream.url: must not hold credentials: use upstream.username and .password"
    ]


# (id, config data, the exact problem line): what would have broken `serve` later.
EXACT_PROBLEMS: list[tuple[str, dict[str, Any], str]] = [
    (
        "url with a space",
        minimal(upstream=upstream(url="http://exa mple.com")),
        "upstream.url: must not contain spaces or control characters",
    ),
    (
        "url port too big",
        minimal(upstream=upstream(url="http://example.com:99999")),
        "upstream.url: port must be 1-65535",
    ),
    (
        "url port zero",
        minimal(upstream=upstream(url="http://example.com:0")),
        "upstream.url: port must be 1-65535",
    ),
    (
        "url host with a bad character",
        minimal(upstream=upstream(url="http://ex$ample.com")),
        "upstream.url: host 'ex$ample.com' is not a valid host name or address",
    ),
    ("port too big", minimal(server={"port": 99999}), "server.port: must be 1-65535"),
    ("port zero", minimal(server={"port": 0}), "server.port: must be 1-65535"),
]


@pytest.mark.parametrize(
    ("data", "line"), [case[1:] for case in EXACT_PROBLEMS], ids=[c[0] for c in EXACT_PROBLEMS]
)
def test_parse_config_names_what_would_break_serve(data: dict[str, Any], line: str) -> None:
    """URLs with spaces or bad ports and out-of-range ports get a clear message."""
    assert problems_of(dump(data)) == [line]


def test_parse_config_accepts_ipv6_and_idna_upstream_hosts() -> None:
    """A bracketed IPv6 address and an internationalised name are valid upstream hosts."""
    for url in ("http://[::1]:9340", "https://bücher.example"):
        assert parse_config(dump(minimal(upstream=upstream(url=url))), {}).upstream.url == url


def number_keys(model: type[pydantic.BaseModel], prefix: str = "") -> Iterator[str]:
    """Every key path whose value is a float (durations, windows, rate limits)."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
            yield from number_keys(annotation, f"{prefix}{name}.")
        elif annotation is float or any(
            float in (arg, *get_args(arg)) for arg in get_args(annotation)
        ):
            yield f"{prefix}{name}"
    if model is Config:
        yield from number_keys(ClientConfig, "clients.0.")


def with_value(key: str, value: str) -> str:
    """The minimal config's YAML with `key` (a dotted path) set to the YAML scalar `value`."""
    data = minimal()
    node: Any = data
    *parents, last = key.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[last] = "@VALUE@"
    return dump(data).replace("'@VALUE@'", value)


NUMBER_KEYS = sorted(set(number_keys(Config)))


def test_number_keys_cover_every_duration() -> None:
    """The walk below sees nested durations and the clients' rate limit."""
    assert {"upstream.timeout", "cache.ttl.metadata", "clients.0.rate_limit"} <= set(NUMBER_KEYS)


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN", ".Inf"])
@pytest.mark.parametrize("key", NUMBER_KEYS)
def test_parse_config_refuses_non_finite_numbers(key: str, value: str) -> None:
    """YAML's infinities and NaN are refused for every duration and number."""
    assert problems_of(with_value(key, value)) == [f"{key}: must be a finite number"]


@pytest.mark.parametrize(
    "value",
    ["${OLCONNECT_PASSWORD", "pre${OLCONNECT_PASSWORD", "${1BAD}", "${OK}${NOT", "${}"],
)
def test_parse_config_unbalanced_variable_reference_is_an_error(value: str) -> None:
    """A `${` that does not form `${NAME}` is an error naming the key, never a literal value."""
    text = MINIMAL_YAML.replace(f"password: {PASSWORD}", f"password: {value}")
    environ = {"OLCONNECT_PASSWORD": "pw", "OK": "ok"}
    assert problems_of(text, environ) == [
        "upstream.password: unbalanced '${': write ${NAME} or ${NAME:-default}"
    ]


BILLION_LAUGHS = "".join(
    f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9) if n else ', '.join(['lol'] * 9)}]\n"
    for n in range(9)
)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: &a [*a]\n", "config: YAML alias refers to a collection that contains it (line 1)"),
        ("a: &a {b: [1, *a]}\n", "config: YAML alias refers to a collection that contains it"),
        (BILLION_LAUGHS, "config: YAML aliases expand the file beyond 100000 nodes"),
        ("a: " + "[" * 100 + "]" * 100 + "\n", "config: YAML nested deeper than 64 levels"),
        ("a: " + "[" * 500 + "]" * 500 + "\n", "config: YAML nested deeper than 64 levels"),
    ],
    ids=["recursive-list", "recursive-map", "billion-laughs", "deep", "very-deep"],
)
def test_parse_config_refuses_alias_bombs_and_deep_nesting(text: str, line: str) -> None:
    """Self-referencing aliases, exponential aliases and deep nesting are one problem line."""
    [problem] = problems_of(text)
    assert problem.startswith(line)


def test_parse_config_keeps_ordinary_aliases() -> None:
    """Anchors and aliases that expand to a small document still work."""
    text = MINIMAL_YAML + "    scopes: &rw [read, write]\n"
    text += f"  - name: other\n    key_sha256: {DIGEST_B}\n    scopes: *rw\n"
    config = parse_config(text, {})
    assert config.clients[1].scopes == ("read", "write")
