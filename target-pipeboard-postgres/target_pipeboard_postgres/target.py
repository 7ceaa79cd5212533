"""TargetPipeboardPostgres: settings, the load connection, and STATE emitted only after committed data."""

from __future__ import annotations

import copy
import decimal
import typing as t
from dataclasses import dataclass

import psycopg2
from psycopg2.extensions import connection as PgConnection  # noqa: N812
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.io_base import SingerReader
from singer_sdk.sinks import Sink
from singer_sdk.target_base import Target
from typing_extensions import override

from target_pipeboard_postgres.connector import Connector
from target_pipeboard_postgres.metrics import TargetMetrics
from target_pipeboard_postgres.sinks import APPEND_ONLY, OVERWRITE, UPSERT, PostgresSink

try:  # optional speed-up: msgspec parses Singer lines about twice as fast as the stdlib
    import msgspec.json
except ImportError:  # pragma: no cover - depends on the installation
    msgspec = None

LOAD_METHODS = (UPSERT, APPEND_ONLY, OVERWRITE)
INVALID_RECORD_POLICIES = ("fail", "quarantine")


class FastSingerReader(SingerReader):
    """The SDK's reader with msgspec parsing; lines msgspec refuses go through the SDK's own parser.

    Results are the same as the SDK's (numbers with a fraction or exponent become ``Decimal``); the stdlib
    fallback keeps its leniencies (``NaN`` literals, lone surrogates) and its error for invalid lines.
    """

    _decode = msgspec.json.Decoder(float_hook=decimal.Decimal).decode if msgspec is not None else None

    @override
    def deserialize_json(self, line: str) -> dict:
        if self._decode is not None:
            try:
                return self._decode(line)
            except msgspec.DecodeError:
                pass
        return super().deserialize_json(line)


@dataclass
class Loader:
    """The one connection all sinks load through (sinks drain one at a time), its DDL helper and metrics."""

    conn: PgConnection
    connector: Connector
    metrics: TargetMetrics


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


class TargetPipeboardPostgres(Target):
    """Singer target loading PostgreSQL 14+ through staging COPY and one upsert per batch."""

    name = "target-pipeboard-postgres"
    default_sink_class = PostgresSink
    message_reader_class = FastSingerReader
    capabilities: t.ClassVar[list] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.ACTIVATE_VERSION,
        TargetCapabilities.HARD_DELETE,
        TargetCapabilities.VALIDATE_RECORDS,
        TargetCapabilities.TARGET_SCHEMA,
    ]

    config_jsonschema = th.PropertiesList(
        th.Property(
            "database_url",
            th.StringType,
            secret=True,
            title="Database URL",
            description="libpq URL, e.g. postgresql://user:password@host:5432/db (or host/port/... below).",
        ),
        th.Property("host", th.StringType, description="Postgres host (when no database_url)."),
        th.Property("port", th.IntegerType, default=5432, description="Postgres port."),
        th.Property("user", th.StringType, description="Postgres user."),
        th.Property("password", th.StringType, secret=True, description="Postgres password."),
        th.Property("database", th.StringType, description="Database name."),
        th.Property(
            "sslmode", th.StringType, description="libpq sslmode (disable, require, verify-full, ...)."
        ),
        th.Property(
            "default_target_schema",
            th.StringType,
            default="public",
            description="Schema holding the stream tables and the target's _pipeboard_* tables.",
        ),
        th.Property(
            "load_method",
            th.StringType,
            default=UPSERT,
            allowed_values=list(LOAD_METHODS),
            description="upsert (by key), append-only (every record a row) or overwrite (replace the table).",
        ),
        th.Property("batch_size_rows", th.IntegerType, default=10_000, description="Records per batch."),
        th.Property(
            "staging_threshold",
            th.IntegerType,
            default=1000,
            description="Batches below this use a multi-row INSERT; larger ones a staging table and COPY.",
        ),
        th.Property(
            "hard_delete", th.BooleanType, default=False, description="Delete rows with _sdc_deleted_at."
        ),
        th.Property(
            "add_record_metadata",
            th.BooleanType,
            default=True,
            description="Add the _sdc_* metadata columns.",
        ),
        th.Property(
            "on_invalid_record",
            th.StringType,
            default="fail",
            allowed_values=list(INVALID_RECORD_POLICIES),
            description="fail the run, or quarantine the record in _pipeboard_rejects and load the rest.",
        ),
        th.Property(
            "pushgateway_url", th.StringType, description="Prometheus Pushgateway to push metrics to."
        ),
        th.Property("validate_records", th.BooleanType, default=True, description="Validate records."),
    ).to_dict()

    @override
    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._check_settings()
        self.max_parallelism = 1
        self.overwritten: set[str] = set()
        self.metrics = TargetMetrics(self.config.get("pushgateway_url"))
        self._loader: Loader | None = None
        self._emitted_state: dict | None = None
        self._state_pending = False

    def _check_settings(self) -> None:
        connection_kwargs(self.config)
        if self.config.get("load_method", UPSERT) not in LOAD_METHODS:
            raise ConfigValidationError(f"load_method must be one of {', '.join(LOAD_METHODS)}")
        if self.config.get("on_invalid_record", "fail") not in INVALID_RECORD_POLICIES:
            raise ConfigValidationError("on_invalid_record must be `fail` or `quarantine`")
        for setting in ("batch_size_rows", "staging_threshold"):
            value = self.config.get(setting)
            if value is not None and int(value) < 1:
                raise ConfigValidationError(f"{setting} must be a positive integer")

    @property
    def loader(self) -> Loader:
        """The load connection, opened on first use (UTC session time zone)."""
        if self._loader is None:
            conn = psycopg2.connect(**connection_kwargs(self.config), application_name=self.name)
            with conn.cursor() as cur:
                cur.execute("SET TIME ZONE 'UTC'")
            conn.commit()
            schema = self.config.get("default_target_schema") or "public"
            self._loader = Loader(conn=conn, connector=Connector(conn, schema), metrics=self.metrics)
        return self._loader

    # --- sinks: a replaced sink (new schema or key) is drained before its successor sees a record ---

    @override
    def get_sink(
        self,
        stream_name: str,
        *,
        record: dict | None = None,
        schema: dict | None = None,
        key_properties: t.Sequence[str] | None = None,
    ) -> Sink:
        existing = self._sinks_active.get(stream_name)
        if (
            schema is not None
            and existing is not None
            and (existing.original_schema != schema or existing.key_properties != (key_properties or []))
        ):
            self.drain_one(existing)
        return super().get_sink(stream_name, record=record, schema=schema, key_properties=key_properties)

    # --- STATE: written only when every record received before it is committed ---

    @override
    def _process_state_message(self, message_dict: dict) -> None:
        super()._process_state_message(message_dict)
        self._state_pending = self._latest_state != self._emitted_state
        self._emit_state_if_committed()

    @override
    def _process_record_message(self, message_dict: dict) -> None:
        super()._process_record_message(message_dict)
        if self._state_pending:
            self._emit_state_if_committed()

    def _emit_state_if_committed(self) -> None:
        sinks = [*self._sinks_active.values(), *self._sinks_to_clear]
        if self._latest_state and all(sink.current_size == 0 for sink in sinks):
            self._write_state_message(copy.deepcopy(self._latest_state))

    @override
    def _write_state_message(self, state: dict) -> None:
        if state == self._emitted_state:
            return
        super()._write_state_message(state)
        self._emitted_state = state
        self._state_pending = False

    # --- run outcome ---

    @override
    def listen(self, file_input: t.IO[str] | None = None) -> None:
        try:
            super().listen(file_input)
        except BaseException:
            self.metrics.finish(success=False)
            self._close()
            raise
        self.metrics.finish(success=True)
        self._close()

    def _close(self) -> None:
        if self._loader is not None:
            self._loader.conn.close()
            self._loader = None
