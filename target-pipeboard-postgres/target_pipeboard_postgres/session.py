"""The load connection's settings: where to connect, how long to wait for it, and the session's timeouts."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

import psycopg2
from psycopg2.extensions import connection as PgConnection  # noqa: N812
from psycopg2.extensions import parse_dsn
from singer_sdk.exceptions import ConfigValidationError

from target_pipeboard_postgres.errors import ConnectError, SetupError, describe_connection_error, one_line

DEFAULT_CONNECT_TIMEOUT = 10
DEFAULT_LOCK_TIMEOUT = 5
DEFAULT_LOCK_RETRIES = 5
DEFAULT_STATEMENT_TIMEOUT = 0
DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT = 60
# A peer that stops answering is found out in about a minute (30 s idle, then 3 probes 10 s apart), not
# after the operating system's default of two hours. A database_url may set its own values.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


@dataclass(frozen=True)
class SessionSettings:
    """How long the target waits for the database: seconds (0: no limit of the target's own)."""

    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    lock_timeout: int = DEFAULT_LOCK_TIMEOUT
    lock_retries: int = DEFAULT_LOCK_RETRIES
    statement_timeout: int = DEFAULT_STATEMENT_TIMEOUT
    idle_in_transaction_timeout: int = DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> SessionSettings:
        """The settings, checked.

        Args:
            config: The target's settings.

        Returns:
            The session settings (defaults where unset).

        Raises:
            ConfigValidationError: A value is not a whole number in its range.
        """
        values: dict[str, int] = {}
        for name, default in (
            ("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
            ("lock_timeout", DEFAULT_LOCK_TIMEOUT),
            ("lock_retries", DEFAULT_LOCK_RETRIES),
            ("statement_timeout", DEFAULT_STATEMENT_TIMEOUT),
            ("idle_in_transaction_timeout", DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT),
        ):
            raw = config.get(name)
            try:
                value = default if raw is None else int(raw)
            except (TypeError, ValueError):
                raise ConfigValidationError(
                    f"{name} must be a whole number of seconds, not {raw!r}"
                ) from None
            if value < 0:
                raise ConfigValidationError(f"{name} must be 0 or more, not {value}")
            values[name] = value
        if values["connect_timeout"] == 0:
            raise ConfigValidationError("connect_timeout must be at least 1 second")
        return cls(**values)


def connection_kwargs(config: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """psycopg2.connect() arguments from the settings: ``database_url`` or the separate parts.

    Args:
        config: The target's settings.

    Returns:
        Keyword arguments for ``psycopg2.connect``.

    Raises:
        ConfigValidationError: Neither a URL nor a host/database pair is set.
    """
    if config.get("database_url"):
        return {"dsn": config["database_url"]}
    if not config.get("host") or not config.get("database"):
        raise ConfigValidationError(
            "Set either `database_url` or both `host` and `database` (plus user/password/port/sslmode)"
        )
    parts = {
        "host": config.get("host"),
        "port": config.get("port"),
        "user": config.get("user"),
        "password": config.get("password"),
        "dbname": config.get("database"),
        "sslmode": config.get("sslmode"),
    }
    return {key: value for key, value in parts.items() if value is not None}


def _given(kwargs: t.Mapping[str, t.Any]) -> dict[str, str]:
    """The libpq parameters a URL or the parts set (without the password)."""
    given = dict(kwargs)
    dsn = given.pop("dsn", None)
    if dsn:
        try:
            given = {**parse_dsn(dsn), **given}
        except psycopg2.ProgrammingError as exc:
            raise SetupError(describe_connection_error(exc, kwargs)) from None
    given.pop("password", None)
    return {key: str(value) for key, value in given.items()}


def connect_kwargs(config: t.Mapping[str, t.Any], settings: SessionSettings) -> dict[str, t.Any]:
    """Connection arguments with the connect timeout and TCP keepalives, unless the URL sets its own.

    Args:
        config: The target's settings.
        settings: The session settings.

    Returns:
        Keyword arguments for ``psycopg2.connect``.
    """
    kwargs = connection_kwargs(config)
    given = _given(kwargs)
    defaults: dict[str, t.Any] = {"connect_timeout": settings.connect_timeout, **KEEPALIVES}
    return {**kwargs, **{key: value for key, value in defaults.items() if key not in given}}


def describe_server(config: t.Mapping[str, t.Any]) -> str:
    """Where the target connects, for messages: ``host:port/database as user`` (never the password).

    Args:
        config: The target's settings.

    Returns:
        A short description.
    """
    given = _given(connection_kwargs(config))
    host = given.get("host") or given.get("hostaddr") or "the local socket"
    port = given.get("port") or "5432"
    where = f"{host}:{port}" if given.get("host") or given.get("hostaddr") else host
    database = given.get("dbname") or given.get("user") or "?"
    user = given.get("user")
    return f"{where}/{database}" + (f" as {user}" if user else "")


def session_parameters(settings: SessionSettings) -> list[tuple[str, str]]:
    """The session settings the load connection sets (``set_config`` name and value).

    ``statement_timeout`` and ``idle_in_transaction_timeout`` are left to the server when 0.
    """
    parameters = [("TimeZone", "UTC"), ("lock_timeout", f"{settings.lock_timeout}s")]
    if settings.statement_timeout:
        parameters.append(("statement_timeout", f"{settings.statement_timeout}s"))
    if settings.idle_in_transaction_timeout:
        parameters.append(("idle_in_transaction_session_timeout", f"{settings.idle_in_transaction_timeout}s"))
    return parameters


def connect(config: t.Mapping[str, t.Any], settings: SessionSettings, application_name: str) -> PgConnection:
    """Open the load connection and set its session (UTC, timeouts).

    Args:
        config: The target's settings.
        settings: The session settings.
        application_name: Shown in ``pg_stat_activity``.

    Returns:
        The connection (no transaction open).

    Raises:
        ConnectError: The server could not be reached or refused the connection.
    """
    kwargs = connect_kwargs(config, settings)
    try:
        conn = psycopg2.connect(**kwargs, application_name=application_name)
    except (psycopg2.OperationalError, psycopg2.ProgrammingError) as exc:
        if "timeout expired" in str(exc):
            raise ConnectError(
                f"Could not connect to Postgres at {describe_server(config)}: timeout expired, no answer "
                f"within {settings.connect_timeout} s (connect_timeout) — check the address and that the "
                "server answers"
            ) from None
        raise ConnectError(describe_connection_error(exc, kwargs)) from None
    try:
        parameters = session_parameters(settings)
        with conn.cursor() as cur:
            cur.execute(
                "SELECT " + ", ".join(["set_config(%s, %s, false)"] * len(parameters)),
                [part for parameter in parameters for part in parameter],
            )
        conn.commit()
    except psycopg2.Error as exc:
        conn.close()
        raise ConnectError(
            f"Postgres at {describe_server(config)} refused the session settings: {one_line(exc)}"
        ) from None
    return conn
