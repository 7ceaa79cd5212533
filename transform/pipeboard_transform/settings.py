"""The transform's settings, read from the command line and the same environment the loader uses."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

DEFAULT_SCHEMA = "pipedrive"
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"

URL_VARIABLES = ("PIPEBOARD_TRANSFORM_DATABASE_URL", "TARGET_PIPEBOARD_POSTGRES_DATABASE_URL", "DATABASE_URL")
"""Where the database URL may come from, first non-empty wins: the utility's own setting, the loader's, the
environment-wide one."""

SCHEMA_VARIABLES = ("PIPEBOARD_TRANSFORM_SOURCE_SCHEMA", "TARGET_PIPEBOARD_POSTGRES_DEFAULT_TARGET_SCHEMA")
PUSHGATEWAY_VARIABLES = ("PIPEBOARD_TRANSFORM_PUSHGATEWAY_URL", "PIPEBOARD_PUSHGATEWAY_URL")

_PART_PREFIX = "TARGET_PIPEBOARD_POSTGRES_"
_PARTS = ("HOST", "PORT", "USER", "PASSWORD", "DATABASE", "SSLMODE")


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it."""


@dataclass(frozen=True)
class TransformSettings:
    """What one transform run needs.

    Attributes:
        database_url: libpq URL of the database holding the loaded tables.
        source_schema: Schema the loader wrote the stream tables into.
        target_schema: Schema the table models (``main_bi``) are built in.
        models_dir: Folder holding the ``*.sql`` models and ``sources.yml``.
        pushgateway_url: Pushgateway to push the run's metrics to, or None.
    """

    database_url: str
    source_schema: str = DEFAULT_SCHEMA
    target_schema: str = DEFAULT_SCHEMA
    models_dir: Path = DEFAULT_MODELS_DIR
    pushgateway_url: str | None = None


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def url_from_parts(env: Mapping[str, str]) -> str | None:
    """Build a URL from the loader's host/port/user/password/database/sslmode variables, if a host is set."""
    parts = {part: env.get(_PART_PREFIX + part, "").strip() for part in _PARTS}
    if not parts["HOST"]:
        return None
    user = quote(parts["USER"] or "postgres", safe="")
    password = ":" + quote(parts["PASSWORD"], safe="") if parts["PASSWORD"] else ""
    port = ":" + parts["PORT"] if parts["PORT"] else ""
    database = quote(parts["DATABASE"] or "postgres", safe="")
    query = "?" + urlencode({"sslmode": parts["SSLMODE"]}) if parts["SSLMODE"] else ""
    return f"postgresql://{user}{password}@{parts['HOST']}{port}/{database}{query}"


def resolve(
    env: Mapping[str, str],
    *,
    database_url: str | None = None,
    source_schema: str | None = None,
    target_schema: str | None = None,
    models_dir: str | Path | None = None,
    pushgateway_url: str | None = None,
) -> TransformSettings:
    """Combine explicit values (the command line) with the environment.

    Args:
        env: The process environment (``os.environ``).
        database_url: Explicit database URL; else the first of ``URL_VARIABLES``, else the loader's parts.
        source_schema: Explicit source schema; else ``SCHEMA_VARIABLES``, else ``pipedrive``.
        target_schema: Explicit schema for table models; else ``PIPEBOARD_TRANSFORM_TARGET_SCHEMA``, else the
            source schema.
        models_dir: Explicit models folder; else ``PIPEBOARD_TRANSFORM_MODELS_DIR``, else
            ``transform/models``.
        pushgateway_url: Explicit Pushgateway URL; else ``PUSHGATEWAY_VARIABLES``, else none.

    Raises:
        SettingsError: No database URL can be found, or the models folder does not exist.
    """
    url = database_url or _first(env, URL_VARIABLES) or url_from_parts(env)
    if not url:
        raise SettingsError(
            "database_url is not set: pass --database-url or set one of "
            + ", ".join(URL_VARIABLES)
            + " (or TARGET_PIPEBOARD_POSTGRES_HOST and friends)"
        )
    source = source_schema or _first(env, SCHEMA_VARIABLES) or DEFAULT_SCHEMA
    target = target_schema or _first(env, ("PIPEBOARD_TRANSFORM_TARGET_SCHEMA",)) or source
    folder = Path(models_dir or _first(env, ("PIPEBOARD_TRANSFORM_MODELS_DIR",)) or DEFAULT_MODELS_DIR)
    if not folder.is_dir():
        raise SettingsError(f"models_dir {str(folder)!r} is not a folder")
    gateway = pushgateway_url or _first(env, PUSHGATEWAY_VARIABLES)
    return TransformSettings(url, source, target, folder, gateway)


def from_environment() -> TransformSettings:
    """Settings from ``os.environ`` alone."""
    return resolve(os.environ)
