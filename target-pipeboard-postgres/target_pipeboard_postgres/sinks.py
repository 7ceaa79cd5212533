"""The per-stream sink: records → encoded rows → one transaction per batch (DDL, staging COPY, merge, log)."""

from __future__ import annotations

import copy
import datetime
import operator
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg2.errors
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.sinks import Sink
from singer_sdk.sinks.core import BaseJSONSchemaValidator
from typing_extensions import override

from target_pipeboard_postgres import sql as q
from target_pipeboard_postgres.blocklane import ReaderSpec
from target_pipeboard_postgres.connector import Connector, pg_type_for
from target_pipeboard_postgres.copy import (
    ChunkReader,
    FieldError,
    beyond_int64,
    compile_encoder,
    copy_pieces,
    key_identity,
    parse_copy_line,
    row_bytes,
    to_json_shown,
)
from target_pipeboard_postgres.errors import PipeboardError, SchemaEvolutionError
from target_pipeboard_postgres.fastpath import RowMaker, compile_row_maker
from target_pipeboard_postgres.fastread import Envelope, LineReader, compile_line_reader
from target_pipeboard_postgres.overwrite import shadow_name, start_shadow
from target_pipeboard_postgres.validator import FastValidator

if TYPE_CHECKING:
    from target_pipeboard_postgres.target import TargetPipeboardPostgres

UPSERT = "upsert"
APPEND_ONLY = "append-only"
OVERWRITE = "overwrite"
DEFAULT_STAGING_THRESHOLD = 1000
DEFAULT_BATCH_SIZE_BYTES = 16 << 20
"""``batch_size_bytes``: a batch is written once its rows take this much memory (or ``batch_size_rows``)."""
INSERT_MAX_BYTES = 1 << 20
"""A batch whose rows take this much is written by COPY, however few they are (not a multi-row INSERT)."""


def field_of(error: BaseException | None) -> str:
    """The record field a jsonschema validation error is about (``(record)`` when it is the whole record).

    Args:
        error: The ``jsonschema.ValidationError`` behind the SDK's ``InvalidRecord``, if any.

    Returns:
        A dotted path such as ``d.agent:type``, or the missing property of a ``required`` error.
    """
    path = [str(part) for part in getattr(error, "absolute_path", ()) or ()]
    if getattr(error, "validator", None) == "required":
        match = re.match(r"'(.+)' is a required property", str(getattr(error, "message", "")))
        if match:
            path.append(match.group(1))
    return ".".join(path) or "(record)"


@dataclass(frozen=True)
class Batch:
    """A batch handed to the loader's thread: rows for a multi-row INSERT, or their COPY text (pieces)."""

    count: int
    rows: list[tuple]
    copy_data: list[bytes | str]
    rejects: list[tuple]
    needs_numeric: frozenset[int]
    deleted_keys: list[tuple] = field(default_factory=list)


@dataclass(frozen=True)
class Written:
    """What a batch's transaction did (applied to the sink once it is committed)."""

    inserted: int
    updated: int
    changes: list[str]
    keys_new: bool | None
    purged: bool
    shadow_started: bool


class RecordRejectedError(PipeboardError):
    """A record that does not fit its schema while ``on_invalid_record`` is ``fail`` (one line, exit 1)."""


_STRAIGHT_IN = "pipeboard_straight_in"


class PostgresSink(Sink):
    """Loads one stream into one table, batch by batch."""

    MAX_SIZE_DEFAULT = 10_000

    @override
    def __init__(
        self,
        target: TargetPipeboardPostgres,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        self._target = target
        super().__init__(target, stream_name, schema, key_properties)
        self.load_method: str = self.config.get("load_method") or UPSERT
        self.staging_threshold: int = int(self.config.get("staging_threshold") or DEFAULT_STAGING_THRESHOLD)
        self.quarantine = self.config.get("on_invalid_record", "fail") == "quarantine"
        # A batch is written when it holds batch_size_rows rows or its rows take batch_size_bytes (a row
        # larger than that is a batch of its own); rows replaced by a later one of the same key still count.
        self.max_bytes: int = int(self.config.get("batch_size_bytes") or DEFAULT_BATCH_SIZE_BYTES)
        self.batch_bytes = 0
        self._pending_reject: tuple[str, str] | None = None
        # A row is a tuple of text values, or (from the record fast lane) its COPY text line.
        self._keyed_rows: dict[Any, tuple | str] = {}
        self._rows: list[tuple | str] = []
        self._rejects: list[tuple] = []
        self._needs_numeric: set[int] = set()
        self._row_maker: RowMaker | None = None
        self._same_key: Callable[[Any], Any] | None = None
        self._read_line: LineReader | None = None
        self._purged = False
        # Whether this run's rows can go straight into the table (see copy_straight_in); None: not yet known.
        self._keys_new: bool | None = None
        self._made: tuple[dict, tuple] | None = None

    # --- set-up: names and column types, known before the first record ---

    @override
    def setup(self) -> None:
        properties = list(self.schema.get("properties", {}))
        missing = [prop for prop in self.key_properties if prop not in properties]
        if missing:
            raise SchemaEvolutionError(
                f"Stream {self.stream_name!r}: key properties {missing} are not in the schema's properties"
            )
        self._target.check_key(self)
        for name in (self.stream_name, *properties):
            if "\x00" in name:  # a name the target could only store changed
                raise SchemaEvolutionError(
                    f"Stream {self.stream_name!r}: the name {name!r} contains NUL (\\u0000), which "
                    "PostgreSQL cannot store; rename it in the tap's schema (or with a stream map)"
                )
        self.properties = properties
        wanted = [pg_type_for(self.schema["properties"][prop]) for prop in properties]
        loader = self._target.loader
        changes = loader.call(
            lambda: loader.transact(
                f"Stream {self.stream_name!r}", lambda: self._set_up_table(loader.connector, wanted)
            )
        )
        for kind in changes:
            loader.metrics.schema_changes.labels(table=self.table, kind=kind).inc()
        # Under overwrite the run's rows go to a shadow table that replaces the table at the end.
        self.write_table = shadow_name(self.table) if self.load_method == OVERWRITE else self.table
        types = self.types
        self._key_index = [properties.index(prop) for prop in self.key_properties]
        self._bigint_index = [i for i, pg_type in enumerate(types) if pg_type == "bigint"]
        self._encode = compile_encoder(self.properties, self.types)
        # Validation and encoding in one pass when validating (records it is unsure of take the general path).
        if self._validator is not None:
            self._row_maker = compile_row_maker(self.schema, self.properties, self.types)
        # Rows are kept by key (the last one wins) unless appending; None means "every record is a row".
        self._key_of: Callable[[tuple], Any] | None = (
            operator.itemgetter(*self._key_index)
            if self.key_columns and self.load_method != APPEND_ONLY
            else None
        )
        # Keys Postgres finds equal whatever their text (numeric, timestamptz) are compared by value.
        self._same_key = (
            key_identity([self.types[i] for i in self._key_index]) if self._key_of is not None else None
        )
        # The record fast lane: a RECORD line's bytes straight to its key and COPY line (the target falls
        # back to the SDK's path when it returns None).
        spec: ReaderSpec = {
            "schema": self.schema,
            "properties": self.properties,
            "types": self.types,
            "metadata": self.include_sdc_metadata_properties,
            "sync_started_at": self.sync_started_at,
            "key_index": self._key_index if self._key_of is not None else None,
            # A record whose key property is null or missing is the SDK's path's to reject (any load method).
            "non_null_index": self._key_index,
            "stream": self.stream_name,
        }
        self._read_line = compile_line_reader(**spec)
        # What an encoder process compiles the same reader from (see blocklane).
        self.reader_spec: ReaderSpec | None = copy.deepcopy(spec) if self._read_line is not None else None

    def describe(self) -> str:
        """``Stream 'deals' (table pipedrive.deals)``, for messages."""
        return f"Stream {self.stream_name!r} (table {self._target.loader.schema}.{self.table})"

    def _set_up_table(self, connector: Connector, wanted: list[str]) -> list[str]:
        """Names, and the table made to hold every column the SCHEMA declares (records or not).

        Runs in one transaction on the loader's thread (again after a lock wait: it only sets names).

        Returns:
            The kinds of schema changes made.
        """
        connector.ensure_bookkeeping()
        self.table = connector.resolve_names("table", [self.stream_name])[self.stream_name]
        names = connector.resolve_names(f"column:{self.table}", self.properties)
        self.columns = [names[prop] for prop in self.properties]
        self.key_columns = [names[prop] for prop in self.key_properties]
        connector.lock(self.table)
        exists = connector.table_state(self.table).exists
        key = self.key_columns if self.load_method != APPEND_ONLY else []
        # The key of an existing table is checked when a batch comes (overwrite may change it).
        result, changes = connector.ensure_table(
            self.table,
            dict(zip(self.columns, wanted, strict=True)),
            key if not exists else None,
            key_change_allowed=False,
        )
        self.types = [result[column] for column in self.columns]
        return changes

    @property
    def line_reader(self) -> LineReader | None:
        """The record fast lane's line reader: (envelope, line) → (key, row), or None for the SDK's path."""
        return self._read_line

    @property
    @override
    def is_full(self) -> bool:
        return self.current_size >= self.max_size or self.batch_bytes >= self.max_bytes

    @override
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        return FastValidator(self.schema) if self.validate_schema else None

    @property
    @override
    def include_sdc_metadata_properties(self) -> bool:
        return bool(self.config.get("add_record_metadata", True))

    # --- record intake: validate, encode, deduplicate ---

    def _record_key(self, record: dict[str, Any]) -> str:
        return (
            to_json_shown({prop: record.get(prop) for prop in self.key_properties})
            if self.key_properties
            else "-"
        )

    def _invalid(self, record: dict[str, Any], field: str, reason: str) -> None:
        if not self.quarantine:
            raise RecordRejectedError(
                f"Stream {self.stream_name!r}: record with key {self._record_key(record)} does not fit its "
                f"schema at field {field!r}: {reason}"
            )
        self._pending_reject = (field, reason)

    @override
    def _validate_and_parse(self, record: dict) -> dict:
        self._pending_reject = None
        self._made = None
        if self._row_maker is not None:
            values = self._row_maker(record)
            if values is not None:
                self._made = (record, values)
                return record
        if self._validator is not None:
            try:
                self._validator.validate(record)
            except InvalidRecord as exc:
                self._invalid(record, field_of(exc.__cause__), exc.error_message)
        return record

    @override
    def _singer_validate_message(self, record: dict) -> None:
        if self._pending_reject is not None:
            return
        for prop in self.key_properties:
            if record.get(prop) is None:
                self._invalid(record, prop, "key property is missing or null")
                return

    def take_fast(self, envelope: Envelope, line: bytes) -> bool:
        """Take a RECORD message through the fast lane, if its record is plainly valid.

        Args:
            envelope: The decoded message, its record still raw JSON.
            line: The message's line (bytes).

        Returns:
            False (and nothing done) when the record needs the general path: it may be invalid, or is beyond
            the lane's reach; True when its row is kept for the batch and tallied (the caller updates the
            record-count metric).
        """
        if self._read_line is None:
            return False
        taken = self._read_line(envelope, line)
        if taken is None:
            return False
        self._put(*taken)  # the reader has range-checked its bigint values and refused NULL keys
        self.tally_record_read()
        return True

    @override
    def process_record(self, record: dict, context: dict) -> None:
        made, self._made = self._made, None
        if self._pending_reject is None and made is not None and made[0] is record:
            self._keep(made[1])
            return
        if self._pending_reject is None:
            try:
                values = self._encode(record)
            except FieldError as exc:
                self._invalid(record, exc.field, exc.reason)
            else:
                self._keep(values)
                return
        field, reason = self._pending_reject or ("", "")
        self._pending_reject = None
        reject = (
            self.stream_name,
            self.table,
            self._record_key(record),
            field,
            reason,
            to_json_shown(record),
        )
        self.batch_bytes += row_bytes(reject)
        self._rejects.append(reject)

    def _keep(self, values: tuple) -> None:
        for i in self._bigint_index:
            value = values[i]
            # bigint text is always a plain integer: beyond int64, the column must become numeric.
            if value is not None and beyond_int64(value):
                self._needs_numeric.add(i)
        self._store(values)

    def _store(self, values: tuple) -> None:
        """Add a row to the batch, under its key when rows are kept by key."""
        self._put(None if self._key_of is None else self._key_of(values), values)

    def put_rows(self, keys: list, rows: list, size: int) -> None:
        """Add rows the line reader made (a segment of the block lane) and tally them as records read.

        Args:
            keys: Each row's key, as the line reader gives it.
            rows: COPY lines or row tuples.
            size: Their bytes (:func:`~target_pipeboard_postgres.copy.row_bytes` summed).
        """
        self.batch_bytes += size
        if self._key_of is None:
            self._rows.extend(rows)
        else:
            kept = self._keyed_rows
            before = len(kept)
            if self._same_key is not None:
                keys = [self._same_key(key) for key in keys]
            kept.update(zip(keys, rows, strict=True))
            merged = len(rows) - (len(kept) - before)
            if merged:
                self.tally_duplicate_merged(merged)
        self.tally_record_read(len(rows))

    def _put(self, key: Any, row: tuple | str) -> None:
        """Add a row (or its COPY line); under a key, it replaces the batch's earlier row for that key."""
        self.batch_bytes += row_bytes(row)
        if self._key_of is None:
            self._rows.append(row)
            return
        if self._same_key is not None:
            key = self._same_key(key)
        if key in self._keyed_rows:
            self.tally_duplicate_merged()
        self._keyed_rows[key] = row

    # --- the batch: one transaction ---

    @override
    def process_batch(self, context: dict) -> None:
        rows = list(self._keyed_rows.values()) if self._key_of is not None else self._rows
        rejects = self._rejects
        if not rows and not rejects:
            return
        self._keyed_rows = {}
        self._rows = []
        self._rejects = []
        size, self.batch_bytes = self.batch_bytes, 0
        # COPY text is made here: the loader's thread then mostly waits on Postgres (and rarely on the GIL).
        # The rows are released as their text is joined: the batch is never held twice. A few large rows go
        # by COPY too: a multi-row INSERT would hold them again as one statement (and libpq's buffer keep it).
        staged = len(rows) >= self.staging_threshold or size >= INSERT_MAX_BYTES
        count = len(rows)
        deleted_keys = self.deleted_keys(rows)
        batch = Batch(
            count=count,
            rows=[] if staged else [parse_copy_line(row) if type(row) is str else row for row in rows],
            copy_data=copy_pieces(rows) if staged else [],
            rejects=rejects,
            needs_numeric=frozenset(self._needs_numeric),
            deleted_keys=deleted_keys,
        )
        del rows
        # Written on the loader's thread while the next batch is read; STATE waits for its commit.
        self._target.loader.submit(lambda: self.write_batch(batch))

    def write_batch(self, batch: Batch) -> None:
        """One transaction: lock, create or evolve the table, write the rows, deletes, rejects and the log.

        Runs on the loader's thread; a lock wait that times out retries the whole transaction.

        Args:
            batch: The batch's rows (or their COPY text), rejects and column needs.
        """
        rejects = batch.rejects
        loader = self._target.loader
        started_at = datetime.datetime.now(datetime.UTC)
        began = time.monotonic()
        written = loader.transact(
            self.describe(), lambda: self._write_once(loader.connector, batch, started_at)
        )
        self._keys_new = written.keys_new
        self._purged = self._purged or written.purged
        if written.shadow_started:
            self._target.shadow_started(self.stream_name, self.table, self.write_table)
        metrics = loader.metrics
        for kind in written.changes:
            metrics.schema_changes.labels(table=self.table, kind=kind).inc()
        metrics.rows_loaded.labels(table=self.table, operation="insert").inc(written.inserted)
        metrics.rows_loaded.labels(table=self.table, operation="update").inc(written.updated)
        metrics.batch_rows.labels(table=self.table).observe(batch.count)
        metrics.batch_duration.labels(table=self.table).observe(time.monotonic() - began)
        if rejects:
            metrics.rejects.labels(table=self.table).inc(len(rejects))
        metrics.push_periodically()
        self.logger.info(
            "Loaded %d rows into %s.%s (%d inserted, %d updated, %d rejected)",
            batch.count,
            loader.schema,
            self.table,
            written.inserted,
            written.updated,
            len(rejects),
        )

    def _write_once(self, connector: Connector, batch: Batch, started_at: datetime.datetime) -> Written:
        """The batch's statements (one attempt); the sink's own state changes only once it commits."""
        keys_new, purged = self._keys_new, self._purged
        shadow_started = self.load_method == OVERWRITE and self.stream_name not in self._target.shadows
        try:
            changes = self.prepare_table(connector, batch.needs_numeric, start_shadow_table=shadow_started)
            inserted, updated = self.write_rows(connector.conn, batch)
            purging = self.apply_deletes(connector.conn, batch)
            self.write_rejects_and_log(connector.conn, batch.rejects, inserted, updated, started_at)
            return Written(inserted, updated, changes, self._keys_new, purging, shadow_started)
        finally:
            self._keys_new, self._purged = keys_new, purged

    def prepare_table(
        self,
        connector: Connector,
        needs_numeric: frozenset[int] = frozenset(),
        *,
        start_shadow_table: bool = False,
    ) -> list[str]:
        """Lock the table, start ``overwrite``'s shadow table, then create or evolve it (same transaction).

        Args:
            connector: The DDL helper on the load connection.
            needs_numeric: Indexes of bigint properties that must widen to numeric.
            start_shadow_table: Whether this batch begins the run's shadow table (``overwrite``).

        Returns:
            The kinds of schema changes made.

        Raises:
            SchemaEvolutionError: The table cannot take this stream's rows.
        """
        connector.lock(self.table)
        if start_shadow_table:
            start_shadow(connector, self.table, self.write_table)
        wanted = {
            column: ("numeric" if i in needs_numeric else pg_type)
            for i, (column, pg_type) in enumerate(zip(self.columns, self.types, strict=True))
        }
        key = self.key_columns if self.load_method != APPEND_ONLY else []
        result, changes = connector.ensure_table(
            self.write_table, wanted, key, key_change_allowed=self.load_method == OVERWRITE
        )
        for column, pg_type in zip(self.columns, self.types, strict=True):
            if (result[column] == "jsonb") != (pg_type == "jsonb"):
                raise SchemaEvolutionError(
                    f"Column {self.table}.{column} changed to {result[column]} during the load; "
                    "rerun the target"
                )
        return changes

    def write_rows(self, conn: Any, batch: Batch) -> tuple[int, int]:
        """Write the batch: multi-row INSERT below ``staging_threshold``, staging COPY + merge above it.

        Args:
            conn: The load connection (inside the batch transaction).
            batch: Encoded rows (or their COPY text), one per record, already deduplicated by key.

        Returns:
            Rows inserted and rows updated.
        """
        if not batch.count:
            return 0, 0
        key = self.key_columns if self._key_of is not None else []
        schema = self._target.loader.schema
        with conn.cursor() as cur:
            if batch.rows:
                statement = q.insert_values(schema, self.write_table, self.columns, key)
                result = q.execute_values(cur, statement, batch.rows, fetch=True)
                assert result is not None
                return int(result[0][0]), int(result[0][1])
            if self.copy_straight_in(cur, schema, batch, key):
                return batch.count, 0
            staging = self.create_staging(cur, schema)
            self.copy_rows(cur, staging, batch.copy_data)
            counts = self.merge_from_staging(cur, schema, staging, key)
            self.drop_staging(cur, staging)
            return counts

    def copy_straight_in(self, cur: Any, schema: str, batch: Batch, key: Sequence[str]) -> bool:
        """COPY the batch into the table itself when every row is new: no staging table, no merge.

        Rows are new when there is no key (appending), or while this run's keys have never met a row
        already there: the table was empty at the run's first staged batch (a first load, an overwrite) and
        no batch since found a key taken (e.g. by another loader). Then the COPY runs under a savepoint; a
        key already in the table undoes it (the unique violation) and this batch and the rest of the run
        merge through staging. A batch's own keys are distinct (deduplicated while reading).

        Returns:
            True when the rows are in (all inserted), False when the batch must merge through staging.
        """
        if not key:
            cur.copy_expert(
                q.copy_into_table(schema, self.write_table, self.columns), ChunkReader(batch.copy_data)
            )
            return True
        if self._keys_new is None:
            cur.execute(q.has_rows(schema, self.write_table))
            self._keys_new = not cur.fetchone()[0]
        if not self._keys_new:
            return False
        cur.execute(q.savepoint(_STRAIGHT_IN))
        try:
            cur.copy_expert(
                q.copy_into_table(schema, self.write_table, self.columns), ChunkReader(batch.copy_data)
            )
        except psycopg2.errors.UniqueViolation:
            cur.execute(q.rollback_to(_STRAIGHT_IN))
            self._keys_new = False
            self.logger.info("Table %s already holds keys of this batch: merging through staging", self.table)
            return False
        cur.execute(q.release(_STRAIGHT_IN))
        return True

    def create_staging(self, cur: Any, schema: str) -> str:
        """A temporary table shaped like the target's batch columns."""
        staging = f"_pipeboard_stage_{uuid.uuid4().hex[:12]}"
        cur.execute(q.create_staging(staging, schema, self.write_table, self.columns))
        return staging

    def copy_rows(self, cur: Any, staging: str, data: list[bytes]) -> None:
        """COPY the batch's text, piece by piece, into staging."""
        cur.copy_expert(q.copy_into(staging, self.columns), ChunkReader(data))

    def merge_from_staging(self, cur: Any, schema: str, staging: str, key: Sequence[str]) -> tuple[int, int]:
        """One ``INSERT … SELECT … ON CONFLICT … DO UPDATE`` from staging into the table."""
        cur.execute(q.merge_from_staging(schema, self.write_table, staging, self.columns, key))
        inserted, updated = cur.fetchone()
        return int(inserted), int(updated)

    def drop_staging(self, cur: Any, staging: str) -> None:
        """Drop the staging table now (it would also go at commit)."""
        cur.execute(q.drop_staging(staging))

    def deleted_keys(self, rows: list[tuple | str]) -> list[tuple]:
        """Keys of the batch's rows marked deleted, when ``hard_delete`` removes them by key."""
        if not (self.config.get("hard_delete") and self._key_of is not None):
            return []
        if "_sdc_deleted_at" not in self.properties:
            return []
        deleted = self.properties.index("_sdc_deleted_at")
        values = (parse_copy_line(row) if type(row) is str else row for row in rows)
        return [tuple(row[i] for i in self._key_index) for row in values if row[deleted] is not None]

    def apply_deletes(self, conn: Any, batch: Batch) -> bool:
        """With ``hard_delete``, remove rows the source marked deleted (``_sdc_deleted_at``).

        The run's first batch removes every such row of the table (including rows soft-deleted before
        ``hard_delete`` was set); later batches only look at their own keys, so a batch never scans the table.

        Returns:
            Whether the whole table was purged (the sink notes it once the batch commits).
        """
        if not (self.config.get("hard_delete") and "_sdc_deleted_at" in self.columns):
            return False
        schema = self._target.loader.schema
        with conn.cursor() as cur:
            if self._key_of is None or not self._purged:
                cur.execute(q.delete_soft_deleted(schema, self.write_table))
                return True
            if batch.deleted_keys:
                key_types = [
                    (column, "numeric" if i in batch.needs_numeric else self.types[i])
                    for column, i in zip(self.key_columns, self._key_index, strict=True)
                ]
                q.execute_values(
                    cur, q.delete_soft_deleted_keys(schema, self.write_table, key_types), batch.deleted_keys
                )
        return False

    def write_rejects_and_log(
        self, conn: Any, rejects: list[tuple], inserted: int, updated: int, started_at: datetime.datetime
    ) -> None:
        """Quarantine rejected records and log the batch in ``_pipeboard_loads``."""
        schema = self._target.loader.schema
        with conn.cursor() as cur:
            if rejects:
                q.execute_values(cur, q.insert_rejects(schema), rejects)
            q.execute(
                cur,
                q.insert_load(schema),
                (self.stream_name, self.table, self.load_method, inserted, updated, len(rejects), started_at),
            )

    # --- full-table versions ---

    @override
    def activate_version(self, new_version: int) -> None:
        self._target.drain_one(self)
        loader = self._target.loader
        loader.wait()
        # Under overwrite, the rows of this run are in the shadow table (when a batch came).
        table = self.write_table if self.stream_name in self._target.shadows else self.table
        retired = loader.call(
            lambda: loader.transact(
                self.describe(), lambda: self._retire_versions(loader.connector, table, new_version)
            )
        )
        if retired is None:
            self.logger.warning(
                "ACTIVATE_VERSION for %s ignored: the table has no _sdc_table_version/_sdc_deleted_at "
                "columns (enable add_record_metadata)",
                self.table,
            )
            return
        loader.metrics.rows_retired.labels(table=self.table).inc(retired)
        self.logger.info(
            "%s: %d rows no longer in the source, %s (ACTIVATE_VERSION %s)",
            self.stream_name,
            retired,
            "deleted" if self.config.get("hard_delete") else "marked deleted",
            new_version,
        )

    def _retire_versions(self, connector: Connector, table: str, new_version: int) -> int | None:
        """Retire rows of older versions (one attempt); None when the table keeps no versions."""
        state = connector.table_state(table)
        if "_sdc_table_version" not in state.columns or "_sdc_deleted_at" not in state.columns:
            return None
        connector.lock(self.table)
        with connector.conn.cursor() as cur:
            q.execute(
                cur,
                q.retire_versions(connector.schema, table, hard_delete=bool(self.config.get("hard_delete"))),
                (new_version,),
            )
            return cur.rowcount
