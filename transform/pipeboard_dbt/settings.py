"""Where pipeboard-dbt finds its database and schemas, and the environment it hands dbt (for profiles.yml)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

DEFAULT_SCHEMA = "pipedrive"
PROJECT_DIR = Path(__file__).resolve().parent.parent
"""transform/: dbt_project.yml and profiles.yml."""

URL_VARIABLES = ("DBT_POSTGRES_DATABASE_URL", "TARGET_PIPEBOARD_POSTGRES_DATABASE_URL", "DATABASE_URL")
"""Where the database URL may come from, first non-empty wins: the utility's own setting, the loader's, the
environment-wide one."""
SCHEMA_VARIABLES = ("DBT_POSTGRES_SOURCE_SCHEMA", "TARGET_PIPEBOARD_POSTGRES_DEFAULT_TARGET_SCHEMA")
TARGET_SCHEMA_VARIABLES = ("DBT_POSTGRES_TARGET_SCHEMA",)
PUSHGATEWAY_VARIABLES = ("DBT_POSTGRES_PUSHGATEWAY_URL", "PIPEBOARD_PUSHGATEWAY_URL")
LOCK_TIMEOUT_VARIABLES = ("DBT_POSTGRES_LOCK_TIMEOUT",)
DEFAULT_LOCK_TIMEOUT = "5min"
"""How long any statement dbt runs may wait for a lock (the swap of a mart waits far less, in retries)."""

_PART_PREFIX = "TARGET_PIPEBOARD_POSTGRES_"
_URL_SCHEMES = ("postgresql", "postgres")
_QUERY_PARAMETERS = ("sslmode", "host", "port", "user", "password", "dbname", "connect_timeout")


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it and never carries the password."""


@dataclass(frozen=True)
class Connection:
    """The parts of a libpq connection, as dbt's profiles.yml needs them."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    sslmode: str = "prefer"
    connect_timeout: int = 10

    def describe(self) -> str:
        """Where this connects, for messages: never the password."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"


@dataclass(frozen=True)
class Settings:
    """What one pipeboard-dbt run needs.

    Attributes:
        connection: The database holding the loaded tables.
        source_schema: Schema the loader wrote the stream tables into.
        target_schema: Schema the marts (main_bi) are built in.
        pushgateway_url: Where to push the run's metrics, or None.
        lock_timeout: Postgres lock_timeout for every statement dbt runs.
    """

    connection: Connection
    source_schema: str = DEFAULT_SCHEMA
    target_schema: str = DEFAULT_SCHEMA
    pushgateway_url: str | None = None
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def _port(value: str, origin: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise SettingsError(f"{origin}: the port {value!r} is not a number") from None
    if not 0 < port < 65536:
        raise SettingsError(f"{origin}: the port {port} is out of range")
    return port


def parse_database_url(url: str, origin: str = "DATABASE_URL") -> Connection:
    """Split a libpq URL (``postgresql://user:password@host:port/dbname?sslmode=…``) into its parts.

    User, password and database name are percent-decoded, so a password holding ``@:/#%`` works when encoded.

    Raises:
        SettingsError: The URL is not a PostgreSQL URL or has a part dbt cannot use; the message names
            ``origin`` and never holds the password.
    """
    try:
        parts = urlsplit(url.strip())
        port_text = parts.port
    except ValueError as exc:
        raise SettingsError(f"{origin} is not a valid URL ({exc}): expected {_example()}") from None
    if parts.scheme not in _URL_SCHEMES:
        raise SettingsError(f"{origin} must start with postgresql:// (expected {_example()})")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - set(_QUERY_PARAMETERS))
    if unknown:
        raise SettingsError(
            f"{origin} has parameters pipeboard-dbt does not pass to dbt: {', '.join(unknown)} "
            f"(supported: {', '.join(_QUERY_PARAMETERS)})"
        )
    host = unquote(parts.hostname or "") or query.get("host") or "localhost"
    port = port_text or (_port(query["port"], origin) if query.get("port") else 5432)
    user = unquote(parts.username or "") or query.get("user") or "postgres"
    password = unquote(parts.password or "") or query.get("password") or ""
    dbname = unquote(parts.path.lstrip("/")) or query.get("dbname") or user
    timeout = query.get("connect_timeout") or "10"
    if not timeout.isdigit():
        raise SettingsError(f"{origin}: connect_timeout must be a whole number of seconds")
    return Connection(host, port, user, password, dbname, query.get("sslmode") or "prefer", int(timeout))


def _example() -> str:
    return "postgresql://user:password@host:5432/database"


def connection_from_parts(env: Mapping[str, str]) -> Connection | None:
    """The loader's TARGET_PIPEBOARD_POSTGRES_HOST/PORT/USER/PASSWORD/DATABASE/SSLMODE, if a host is set."""
    host = env.get(_PART_PREFIX + "HOST", "").strip()
    if not host:
        return None
    port = env.get(_PART_PREFIX + "PORT", "").strip()
    user = env.get(_PART_PREFIX + "USER", "").strip() or "postgres"
    return Connection(
        host=host,
        port=_port(port, _PART_PREFIX + "PORT") if port else 5432,
        user=user,
        password=env.get(_PART_PREFIX + "PASSWORD", ""),
        dbname=env.get(_PART_PREFIX + "DATABASE", "").strip() or "postgres",
        sslmode=env.get(_PART_PREFIX + "SSLMODE", "").strip() or "prefer",
    )


def resolve(env: Mapping[str, str]) -> Settings:
    """Read the settings from the environment Meltano (or the user) gives pipeboard-dbt.

    The database: the first of ``URL_VARIABLES``, else the loader's parts. The source schema: the first of
    ``SCHEMA_VARIABLES``, else ``pipedrive``; the target schema: ``DBT_POSTGRES_TARGET_SCHEMA``, else the
    source schema.

    Raises:
        SettingsError: No database is configured, or its URL is malformed.
    """
    url_origin = next((name for name in URL_VARIABLES if env.get(name, "").strip()), None)
    if url_origin is not None:
        connection = parse_database_url(env[url_origin], url_origin)
    else:
        connection = connection_from_parts(env)
    if connection is None:
        raise SettingsError(
            "no database is configured: set DATABASE_URL (or "
            + ", ".join(URL_VARIABLES[:-1])
            + ", or the loader's TARGET_PIPEBOARD_POSTGRES_HOST and friends)"
        )
    source = _first(env, SCHEMA_VARIABLES) or DEFAULT_SCHEMA
    return Settings(
        connection=connection,
        source_schema=source,
        target_schema=_first(env, TARGET_SCHEMA_VARIABLES) or source,
        pushgateway_url=_first(env, PUSHGATEWAY_VARIABLES),
        lock_timeout=_first(env, LOCK_TIMEOUT_VARIABLES) or DEFAULT_LOCK_TIMEOUT,
    )


def dbt_environment(settings: Settings, env: Mapping[str, str]) -> dict[str, str]:
    """The variables dbt runs with: the connection for profiles.yml, the project, and nothing phoned home."""
    connection = settings.connection
    lock_timeout = f"-c lock_timeout={settings.lock_timeout}"
    options = " ".join(part for part in (env.get("PGOPTIONS", ""), lock_timeout) if part)
    return {
        "DBT_PROJECT_DIR": env.get("DBT_PROJECT_DIR") or str(PROJECT_DIR),
        "DBT_PROFILES_DIR": env.get("DBT_PROFILES_DIR") or str(PROJECT_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
        "PIPEBOARD_DBT_HOST": connection.host,
        "PIPEBOARD_DBT_PORT": str(connection.port),
        "PIPEBOARD_DBT_USER": connection.user,
        "PIPEBOARD_DBT_PASSWORD": connection.password,
        "PIPEBOARD_DBT_DBNAME": connection.dbname,
        "PIPEBOARD_DBT_SSLMODE": connection.sslmode,
        "PIPEBOARD_DBT_CONNECT_TIMEOUT": str(connection.connect_timeout),
        "PIPEBOARD_DBT_SOURCE_SCHEMA": settings.source_schema,
        "PIPEBOARD_DBT_TARGET_SCHEMA": settings.target_schema,
        "PGOPTIONS": options,
    }
