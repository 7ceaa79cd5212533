"""What a user can get wrong about the target's database and settings, each said in one line.

A run that cannot start — a malformed URL, no server on the port, a missing database or role, a wrong
password, a setting of the wrong type, a config file that is not JSON — ends in one ERROR line saying what is
wrong and what to do, and exit code 1: no traceback, and never the password. A run that fails later (a batch,
a lock held through every retry, a table change the target will not make) ends the same way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2.extensions import parse_dsn
from singer_sdk.exceptions import ConfigValidationError

NAME = "target-pipeboard-postgres"
URL_SETTING = "DATABASE_URL / `database_url`"
PARTS_SETTING = "`host`/`port`/`user`/`password`/`database`"
URL_SHAPE = "postgresql://user:password@host:5432/database; percent-encode @ : / # in the password"

_CREDENTIALS_IN_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/@\s]*)@", re.IGNORECASE)
_PASSWORD_PAIR = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_MALFORMED = (
    "invalid dsn",
    "invalid uri",
    "invalid integer value",
    "invalid port",
    'missing "="',
    "invalid percent-encoded",
    "invalid connection option",
    "invalid sslmode value",
)
"""libpq's words for a connection string it cannot parse."""
_MISSING_DATABASE = re.compile(r'database "(.*?)" does not exist')
_MISSING_ROLE = re.compile(r'role "(.*?)" does not exist')
_FOR_USER = re.compile(r'for user "(.*?)"')


class PipeboardError(Exception):
    """A failure the target reports as one line (no traceback) before exiting with code 1."""


class ConnectError(PipeboardError):
    """The database could not be reached (address, credentials, ``connect_timeout``)."""


class BatchFailedError(PipeboardError):
    """A transaction of one stream failed; its message starts with the stream and table."""


class LockWaitError(PipeboardError):
    """A lock stayed held by another session through every retry (``lock_timeout``, ``lock_retries``)."""


class SchemaEvolutionError(PipeboardError):
    """A table change the target will not or cannot make (a changed key under ``upsert``, a view in the
    way)."""


class KeylessUpsertError(PipeboardError):
    """A stream without key properties under ``upsert`` while ``on_keyless_upsert`` is ``fail``."""


class UnreadableInputError(PipeboardError):
    """An input line that is not a Singer message the target can read, while ``on_invalid_record`` is
    ``fail``; the message names the stream (when the line names one), the line number and byte position."""


class SetupError(PipeboardError):
    """The run cannot start; the message says what is wrong and what to do (logged as one line, exit 1)."""


def one_line(error: BaseException) -> str:
    """An exception's message on one line (Postgres messages carry DETAIL/HINT lines and tabs).

    Args:
        error: Any exception.

    Returns:
        Its message, lines joined with ``; `` (the class name when it has none).
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return "; ".join(lines) or type(error).__name__


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` without passwords: the given secrets, a URL's user-info password, any ``password=…`` pair.

    Args:
        text: A message that may echo a connection string.
        secrets: Values never to show (the configured password, the whole URL).

    Returns:
        The text with each secret replaced by ``***``.
    """
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")

    def userinfo(match: re.Match[str]) -> str:
        user = match.group("userinfo").split(":", 1)[0]
        return f"{match.group('scheme')}{user}:***@" if ":" in match.group("userinfo") else match.group(0)

    text = _CREDENTIALS_IN_URL.sub(userinfo, text)
    return _PASSWORD_PAIR.sub(r"\1***", text)


def connection_parameters(kwargs: Mapping[str, Any]) -> dict[str, str]:
    """What a connection would use: the URL's (or the parts') host, port, user and database.

    Args:
        kwargs: ``psycopg2.connect`` arguments (``dsn`` or separate parts).

    Returns:
        libpq keyword → value (empty when the URL does not parse).
    """
    params: dict[str, str] = {}
    if kwargs.get("dsn"):
        with contextlib.suppress(psycopg2.Error):
            params.update(parse_dsn(str(kwargs["dsn"])))
    for key in ("host", "port", "user", "password", "dbname", "sslmode"):
        if kwargs.get(key) is not None:
            params[key] = str(kwargs[key])
    return params


def destination(params: Mapping[str, str]) -> str:
    """``user@host:port/database`` as libpq resolves the defaults it can name; never the password."""
    host = params.get("host") or params.get("hostaddr") or "the local socket"
    port = params.get("port") or "5432"
    where = f"{host}:{port}" if host != "the local socket" else f"{host} (port {port})"
    user = params.get("user")
    database = params.get("dbname") or user
    who = f"{user}@" if user else ""
    return f"{who}{where}/{database}" if database else f"{who}{where}"


def describe_connection_error(error: psycopg2.Error, kwargs: Mapping[str, Any]) -> str:
    """One line on why a connection failed and what to fix, naming the server but never the password.

    Args:
        error: What ``psycopg2.connect`` raised.
        kwargs: The arguments it was given.

    Returns:
        ``what is wrong — what to do``.
    """
    params = connection_parameters(kwargs)
    secrets = [params.get("password", ""), str(kwargs.get("password") or ""), str(kwargs.get("dsn") or "")]
    detail = scrub(" ".join(str(error).split()), secrets)
    lowered = detail.lower()
    setting = URL_SETTING if kwargs.get("dsn") else PARTS_SETTING
    where = destination(params)
    host = params.get("host") or "the local socket"
    port = params.get("port") or "5432"
    if isinstance(error, psycopg2.ProgrammingError) or any(marker in lowered for marker in _MALFORMED):
        return f"The database URL is not valid ({_first_clause(detail)}) — check {setting} ({URL_SHAPE})"
    if "could not translate host name" in lowered or "name or service not known" in lowered:
        return f"PostgreSQL host {host!r} was not found (DNS) — check the host in {setting}"
    if "connection refused" in lowered or ("no such file or directory" in lowered and "socket" in lowered):
        return (
            f"No PostgreSQL server answers at {host}:{port} (connection refused) — start it, or fix the "
            f"host and port in {setting}"
        )
    if missing := _MISSING_DATABASE.search(detail):
        name = missing.group(1)
        return (
            f"Database {name!r} does not exist on {host}:{port} — create it (CREATE DATABASE) or fix the "
            f"database name in {setting}"
        )
    if missing := _MISSING_ROLE.search(detail):
        name = missing.group(1)
        return (
            f"PostgreSQL role {name!r} does not exist on {host}:{port} — create it or fix the user in "
            f"{setting}"
        )
    if "password authentication failed" in lowered:
        rejected = _FOR_USER.search(detail)
        name = rejected.group(1) if rejected else params.get("user", "?")
        return (
            f"PostgreSQL rejected user {name!r} on {host}:{port} (password authentication failed: the "
            f"password is wrong or the role does not exist) — check the user and password in {setting}"
        )
    if "no password supplied" in lowered:
        return (
            f"PostgreSQL at {host}:{port} asks {where} for a password and none was given — add it to "
            f"{setting}"
        )
    if "no pg_hba.conf entry" in lowered:
        return (
            f"PostgreSQL at {host}:{port} does not accept {where} from this machine (no pg_hba.conf entry) — "
            "allow it in pg_hba.conf, or connect with SSL if the entry requires it (`sslmode`)"
        )
    if "timeout expired" in lowered or "timed out" in lowered:
        return f"PostgreSQL at {host}:{port} did not answer in time — check that it is up and reachable"
    return f"Cannot connect to PostgreSQL at {where}: {_first_clause(detail)} — check {setting}"


def describe_permission_error(error: psycopg2.Error, kwargs: Mapping[str, Any], schema: str) -> str:
    """One line for a role that may connect but not create the target's schema or tables."""
    params = connection_parameters(kwargs)
    user = params.get("user", "this role")
    database = params.get("dbname") or user
    detail = scrub(_first_clause(" ".join(str(error).split())), [params.get("password", "")])
    return (
        f"PostgreSQL role {user!r} may not create the schema {schema!r} and its tables in database "
        f"{database!r} ({detail}) — GRANT CREATE ON DATABASE to it, or create the schema for it, or use the "
        "loader's own role (not a read-only BI role)"
    )


def _first_clause(detail: str) -> str:
    """libpq's reason without its ``connection to server at … failed:`` preamble."""
    reason = detail.split(" failed: ", 1)[-1] if "failed: " in detail else detail
    return reason.strip().rstrip(".") or detail


# ------------------------------------------------------------------------------------------------ settings


def setting_problems(
    config: Mapping[str, Any], schema: Mapping[str, Any], ranges: Mapping[str, tuple[int | None, int | None]]
) -> dict[str, str]:
    """Each setting of the wrong type or out of range, with what it may be.

    Args:
        config: The settings as given.
        schema: The target's config JSON schema (types, ``enum``, ``secret``).
        ranges: Setting → inclusive (low, high) bounds of an integer (None: open), e.g.
            ``{"port": (1, 65535)}``.

    Returns:
        setting → ``"<setting> must be <allowed> (got <value>)"`` (secret values are never echoed).
    """
    problems: dict[str, str] = {}
    properties = schema.get("properties", {})
    for name, value in config.items():
        spec = properties.get(name)
        if spec is None or value is None:
            continue
        types = spec.get("type", [])
        types = [types] if isinstance(types, str) else list(types)
        allowed = _allowed(name, types, spec, ranges)
        if not _fits(value, types, spec, ranges.get(name)):
            shown = "" if spec.get("secret") else _shown(value)
            problems[name] = f"{name} must be {allowed}{shown}"
    return problems


def _allowed(
    name: str, types: list[str], spec: Mapping[str, Any], ranges: Mapping[str, tuple[int | None, int | None]]
) -> str:
    if spec.get("enum"):
        return "one of " + ", ".join(str(option) for option in spec["enum"] if option is not None)
    if "integer" in types:
        low, high = ranges.get(name, (None, None))
        if low is not None and high is not None:
            return f"a whole number from {low} to {high}"
        if low is not None:
            return f"a whole number of at least {low}"
        return "a whole number"
    if "boolean" in types:
        return "true or false"
    if "number" in types:
        return "a number"
    return "text"


def _fits(
    value: Any, types: list[str], spec: Mapping[str, Any], bounds: tuple[int | None, int | None] | None
) -> bool:
    if spec.get("enum") and value not in spec["enum"]:
        return False
    if "integer" in types:
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        low, high = bounds or (None, None)
        return (low is None or value >= low) and (high is None or value <= high)
    if "boolean" in types:
        return isinstance(value, bool)
    if "number" in types:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if "string" in types:
        return isinstance(value, str)
    return True


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return f" (got {text[:40]})"


def read_config_files(paths: Sequence[str]) -> None:
    """Check that each ``--config`` file exists and holds a JSON object.

    Args:
        paths: The ``--config`` values (``ENV`` means environment variables and is skipped).

    Raises:
        SetupError: A file is missing, unreadable or not a JSON object (the message names the file).
    """
    for given in paths:
        if given == "ENV":
            continue
        path = Path(given)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SetupError(
                f"Cannot read the config file {given} ({exc.strerror or exc}) — pass an existing JSON file "
                "to --config"
            ) from None
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise SetupError(
                f"The config file {given} is not valid JSON ({exc.msg} at line {exc.lineno} column "
                f"{exc.colno}) — it must be one JSON object of settings"
            ) from None
        if not isinstance(value, dict):
            raise SetupError(
                f"The config file {given} must hold one JSON object of settings, not a {type(value).__name__}"
            )


@contextlib.contextmanager
def one_line_errors(logger: logging.Logger) -> Iterator[None]:
    """Turn a run's setup failure into one ERROR line and exit code 1 (no traceback).

    Args:
        logger: The plugin's logger.

    Raises:
        SystemExit: With code 1, after logging the line.
    """
    try:
        yield
    except PipeboardError as exc:
        logger.error("%s", exc)  # the line is the whole report
        raise SystemExit(1) from None
    except ConfigValidationError as exc:
        problems = list(exc.errors or []) or [str(exc)]
        logger.error("Invalid %s settings: %s", NAME, "; ".join(problems))
        raise SystemExit(1) from None
