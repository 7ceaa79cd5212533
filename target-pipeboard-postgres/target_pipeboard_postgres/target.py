"""TargetPipeboardPostgres: settings, the load connection, and STATE emitted only after committed data."""

from __future__ import annotations

import codecs
import collections
import contextlib
import copy
import gc
import io
import json
import os
import sys
import typing as t
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from types import FrameType

import msgspec
from psycopg2.errors import InsufficientPrivilege
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.io_base import SingerMessageType, SingerReader
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.sinks import Sink
from singer_sdk.target_base import Target
from typing_extensions import override

from target_pipeboard_postgres import sql as q
from target_pipeboard_postgres.badlines import TOO_DEEP, UnreadableLine, line_bytes, parse_line, stream_named
from target_pipeboard_postgres.blocklane import BlockLane, ReaderSpec
from target_pipeboard_postgres.copy import row_bytes, to_json_shown
from target_pipeboard_postgres.errors import (
    KeylessUpsertError,
    PipeboardError,
    SetupError,
    UnreadableInputError,
    describe_permission_error,
    one_line,
    one_line_errors,
    read_config_files,
    setting_problems,
)
from target_pipeboard_postgres.fastread import Envelope, LineReader, decode_envelope
from target_pipeboard_postgres.loader import Loader
from target_pipeboard_postgres.metrics import TargetMetrics
from target_pipeboard_postgres.overwrite import clean_leftover_shadows, swap
from target_pipeboard_postgres.session import SessionSettings, connection_kwargs
from target_pipeboard_postgres.sinks import (
    APPEND_ONLY,
    DEFAULT_BATCH_SIZE_BYTES,
    OVERWRITE,
    UPSERT,
    PostgresSink,
)
from target_pipeboard_postgres.stopping import StopAwareInput, StopRequested, StopSignals, signal_name

__all__ = ["TargetPipeboardPostgres", "connection_kwargs", "throughput_tuning"]

LOAD_METHODS = (UPSERT, APPEND_ONLY, OVERWRITE)
GC_THRESHOLD_RECORDS = 50000
SWITCH_INTERVAL_SECONDS = 0.0005
FAST_CHECK_EVERY = 256
INVALID_RECORD_POLICIES = ("fail", "quarantine")
KEYLESS_UPSERT_POLICIES = ("warn", "fail")
# Input read before encoder processes start: a small load never pays for one.
ENCODER_START_BYTES = 8 << 20
MAX_ENCODER_PROCESSES = 16
# A stream a STATE waits on is drained once this many records of other streams came after its last one.
IDLE_AFTER_RECORDS = 1000
MIN_BATCH_SIZE_BYTES = 64 << 10
DEFAULT_SCHEMA = "pipedrive"
"""The default schema: the one the transform reads (its default source schema) and the demo shows."""
SETTING_RANGES: dict[str, tuple[int | None, int | None]] = {
    "port": (1, 65535),
    "batch_size_rows": (1, None),
    "batch_size_bytes": (MIN_BATCH_SIZE_BYTES, None),
    "staging_threshold": (1, None),
    "encoder_processes": (0, MAX_ENCODER_PROCESSES),
}
"""Inclusive bounds of the integer settings (None: open)."""


# (envelope, the line as bytes) → whether the record was taken.
FastHandler = Callable[[Envelope, bytes], bool]


class LaneTarget(t.Protocol):
    """The target as the reader's block lane needs it."""

    def block_lane(self, process_line: Callable[[bytes], None]) -> BlockLane: ...

    def interruptible(self, source: t.BinaryIO) -> t.BinaryIO: ...


class FastSingerReader(SingerReader):
    """The SDK's reader with msgspec parsing, and fast lanes for RECORD messages.

    Binary input (standard input, as a target runs) goes through the block lane
    (:mod:`~target_pipeboard_postgres.blocklane`): blocks of lines are encoded in encoder processes or here,
    segments of taken records go to their sinks whole, and every other line comes back here in input order.
    Per line, a RECORD line whose stream has a fast handler (``fast_handler(stream)``) goes to it with the
    record still raw; when the handler declines (returns False), the line takes the SDK's path like any
    other. Parsing gives the same results as the SDK's (numbers with a fraction or exponent become
    ``Decimal``); lines msgspec refuses are read by ``json.loads`` (its leniencies) from strict UTF-8 (see
    :mod:`~target_pipeboard_postgres.badlines`). Blank lines are skipped; a line that is not a message goes
    to ``on_unreadable`` with its number and byte offset (``position``), which quarantines it or fails.
    """

    def __init__(self) -> None:
        """Start with no fast lane (the target sets ``fast_handler`` and ``lane_target``)."""
        super().__init__()
        self.fast_handler: Callable[[str], FastHandler | None] | None = None
        self.lane_target: LaneTarget | None = None
        self._stats: dict[str, int] = defaultdict(int)
        self._callbacks: dict[str, t.Callable[[dict], None]] = {}
        self._fast_records = 0
        # What to do with a line that is not a message (the target quarantines it or fails); None: raise.
        self.on_unreadable: Callable[[bytes | str, UnreadableLine, tuple[int, int]], None] | None = None
        # (line number, byte offset in the input) of the line being handled.
        self.position: Callable[[], tuple[int, int]] = lambda: (0, 0)
        self.blank_lines = 0

    @property
    def default_input(self) -> t.IO:  # type: ignore[override]
        """Standard input as bytes when available (msgspec reads UTF-8 bytes directly)."""
        return getattr(sys.stdin, "buffer", sys.stdin)

    @override
    def deserialize_json(self, line: str | bytes) -> dict:  # type: ignore[override]
        return parse_line(line)

    @override
    def process_lines(
        self, file_input: t.IO | None, callbacks: dict[str, t.Callable[[dict], None]]
    ) -> t.Counter[str]:
        source = file_input or self.default_input
        self._stats = defaultdict(int)
        self._callbacks = callbacks
        self._fast_records = 0
        binary = _binary_source(source)
        if self.fast_handler is not None and self.lane_target is not None and binary is not None:
            lane = self.lane_target.block_lane(self.process_line)
            self.position = lane.position
            lane.run(self.lane_target.interruptible(binary))
            self._fast_records += lane.records_taken
        else:
            process_line = self.process_line
            number = offset = 0
            self.position = lambda: (number, offset)
            for line in source:
                number += 1
                process_line(line)
                offset += len(line) if type(line) is bytes else len(line.encode("utf-8", "surrogatepass"))
        if self._fast_records:
            self._stats[SingerMessageType.RECORD] += self._fast_records
        return t.Counter(**self._stats)

    def process_line(self, line: str | bytes) -> None:
        """One line: the per-record fast lane when its stream has one that takes it, else the SDK's path.

        Args:
            line: One Singer message.
        """
        self._current_message = line
        if line[:1] in _BLANK_STARTS and not line.strip():  # not a message: nothing to load or lose
            self.blank_lines += 1
            return
        lookup = self.fast_handler
        if lookup is not None:
            try:
                envelope = decode_envelope(line)
            except (msgspec.DecodeError, RecursionError):
                envelope = None
            if (
                envelope is not None
                and envelope.type == "RECORD"
                and (handler := lookup(envelope.stream)) is not None
                and handler(envelope, line if type(line) is bytes else line.encode())
            ):
                self._fast_records += 1
                self._current_message = None  # a long line is not kept past its record
                return
        try:
            message = self.deserialize_json(line)
            message_type = message["type"]
            if callback := self._callbacks.get(message_type):
                callback(message)
            else:
                self._process_unknown_message(message)
        except UnreadableLine as problem:
            self._unreadable(line, problem)
            return
        except RecursionError:  # read, but too deep for what follows (validation, JSON text)
            self._unreadable(line, UnreadableLine(TOO_DEEP))
            return
        self._stats[message_type] += 1

    def _unreadable(self, line: bytes | str, problem: UnreadableLine) -> None:
        if self.on_unreadable is None:
            raise problem
        self.on_unreadable(line, problem, self.position())


_BLANK_STARTS = frozenset({b"", b" ", b"\t", b"\r", b"\n", "", " ", "\t", "\r", "\n"})


def _state_number(value: object) -> float | int:
    """A STATE value json cannot write: a Decimal, as the number it was read from (int when integral)."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value() and "." not in str(value) and "E" not in str(value).upper():
            return int(value)
        return float(value)
    raise TypeError(f"{type(value).__name__} in a STATE message cannot be written as JSON")


def lane_bytes(batch_bytes: int) -> int:
    """The input the block lane may hold at once (blocks read and not yet handed over): a quarter of a batch.

    Args:
        batch_bytes: ``batch_size_bytes``.

    Returns:
        Bytes, between 64 KiB and 6 MiB (twelve blocks of 512 KiB, where more brings no speed).
    """
    return min(6 << 20, max(64 << 10, batch_bytes // 4))


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the platform tells it)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def _binary_source(source: t.IO) -> t.BinaryIO | None:
    """``source`` as bytes: itself when binary, the file under a UTF-8 text file, else None (read as text).

    A text file not yet read (``--input``) is read through its binary buffer: Singer messages are UTF-8.
    """
    if isinstance(source, io.BufferedIOBase | io.RawIOBase):
        return t.cast(t.BinaryIO, source)
    if isinstance(source, io.TextIOWrapper) and codecs.lookup(source.encoding).name == "utf-8":
        return t.cast(t.BinaryIO, source.buffer)
    return None


@contextlib.contextmanager
def throughput_tuning() -> t.Iterator[None]:
    """Interpreter settings for a long load, restored afterwards.

    The reading thread allocates millions of short-lived objects (few of them cyclic), so the collector's
    youngest generation runs far less often; and the loader's thread gets the GIL back sooner after each
    Postgres call, so a batch is not kept waiting behind the reading thread.
    """
    thresholds = gc.get_threshold()
    interval = sys.getswitchinterval()
    gc.set_threshold(GC_THRESHOLD_RECORDS, *thresholds[1:])
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(interval)


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
            default=DEFAULT_SCHEMA,
            description=(
                "Schema holding the stream tables and the target's _pipeboard_* tables (the transform's "
                "default source schema)."
            ),
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
            "batch_size_bytes",
            th.IntegerType,
            default=DEFAULT_BATCH_SIZE_BYTES,
            description=(
                "Memory a batch's rows may take before it is written (whichever of this and batch_size_rows "
                "comes first; a larger record is a batch of its own). Also bounds the input the block lane "
                "holds (a quarter of it): the target's memory is about twice this plus ~70 MB."
            ),
        ),
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
        th.Property(
            "on_keyless_upsert",
            th.StringType,
            default="warn",
            allowed_values=list(KEYLESS_UPSERT_POLICIES),
            description=(
                "A stream without key properties under load_method upsert can only be appended to, so "
                "loading a record again adds a row: warn (once per stream, and append) or fail the run."
            ),
        ),
        th.Property(
            "connect_timeout",
            th.IntegerType,
            default=SessionSettings.connect_timeout,
            description="Seconds to wait for Postgres to accept the connection (unless database_url has it).",
        ),
        th.Property(
            "lock_timeout",
            th.IntegerType,
            default=SessionSettings.lock_timeout,
            description=(
                "Seconds any statement may wait for a lock (e.g. ALTER TABLE behind a BI session's open "
                "read) before the transaction is rolled back, the holders logged, and retried; 0: no limit."
            ),
        ),
        th.Property(
            "lock_retries",
            th.IntegerType,
            default=SessionSettings.lock_retries,
            description="Retries after a lock wait timed out; then the run fails naming who holds the lock.",
        ),
        th.Property(
            "statement_timeout",
            th.IntegerType,
            default=SessionSettings.statement_timeout,
            description="Seconds a statement may run (0: the server's setting; widening rewrites a table).",
        ),
        th.Property(
            "idle_in_transaction_timeout",
            th.IntegerType,
            default=SessionSettings.idle_in_transaction_timeout,
            description=(
                "Seconds the server keeps a transaction of the target open while the target sends nothing "
                "(a frozen target then releases its locks); 0: the server's setting."
            ),
        ),
        th.Property(
            "encoder_processes",
            th.IntegerType,
            description=(
                "Extra processes turning records into COPY text once the input passes 8 MiB (0: none). "
                "Default: 1 on a machine with two or more CPUs, else 0."
            ),
        ),
    ).to_dict()

    @override
    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._check_settings()
        self.max_parallelism = 1
        self.metrics = TargetMetrics(self.config.get("pushgateway_url"))
        self._loader: Loader | None = None
        self._emitted_state: dict | None = None
        # STATE messages not written yet, oldest first, each with what must be drained before it: (sink,
        # records the sink had read when the STATE came) for every sink then holding records not yet drained.
        self._states_waiting: collections.deque[tuple[dict, list[tuple[Sink, int]]]] = collections.deque()
        self._states_handed = 0  # STATE messages waiting for the batch in flight to commit
        # id(sink) → (its records read, the target's records read) when a STATE last saw its count change.
        self._records_at_state: dict[int, tuple[int, int]] = {}
        # Whether a STATE waits for a drain, or for a commit (records then check on the loader).
        self._state_pending = False
        self._fast_handlers: dict[str, FastHandler | None] = {}
        self._fast_count_flushes: list[Callable[[], None]] = []
        self.fast_lane_records = 0
        self._readers_changed = True
        self.block_lane_used: BlockLane | None = None
        # overwrite: stream → (table, shadow table) of the shadows begun, swapped in when the input ends.
        self.shadows: dict[str, tuple[str, str]] = {}
        # Under overwrite, STATE waits for the swap: the rows it covers are in no table readers see before.
        self._state_held = self.config.get("load_method", UPSERT) == OVERWRITE
        self._ending = False
        self._keyless_warned: set[str] = set()
        if isinstance(self.message_reader, FastSingerReader):
            self.message_reader.fast_handler = self._fast_handler
            self.message_reader.lane_target = self
            self.message_reader.on_unreadable = self._unreadable_line

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The SDK's checks, with a setting of the wrong type or out of range named with what it may be."""
        ours = setting_problems(self._config, self.config_jsonschema, SETTING_RANGES)
        try:
            errors = super()._validate_config(raise_errors=True)
        except ConfigValidationError as exc:
            errors = list(exc.errors)
        errors = [error for error in errors if not any(f"config['{name}']" in error for name in ours)]
        problems = [*ours.values(), *errors]
        if problems and raise_errors:
            raise ConfigValidationError(
                "Invalid target-pipeboard-postgres settings: " + "; ".join(problems), errors=problems
            )
        return problems

    @classmethod
    @override
    def cb_config(cls, ctx: t.Any, param: t.Any, value: tuple[str, ...]) -> t.Any:
        """Read the ``--config`` files; one that is missing or not a JSON object ends in one line."""
        with one_line_errors(cls.logger):
            read_config_files(value)
        return super().cb_config(ctx, param, value)

    def _check_settings(self) -> None:
        connection_kwargs(self.config)
        if self.config.get("load_method", UPSERT) not in LOAD_METHODS:
            raise ConfigValidationError(f"load_method must be one of {', '.join(LOAD_METHODS)}")
        if self.config.get("on_invalid_record", "fail") not in INVALID_RECORD_POLICIES:
            raise ConfigValidationError("on_invalid_record must be `fail` or `quarantine`")
        for setting in ("batch_size_rows", "batch_size_bytes", "staging_threshold"):
            value = self.config.get(setting)
            if value is not None and int(value) < 1:
                raise ConfigValidationError(f"{setting} must be a positive integer")
        processes = self.config.get("encoder_processes")
        if processes is not None and not 0 <= int(processes) <= MAX_ENCODER_PROCESSES:
            raise ConfigValidationError(f"encoder_processes must be between 0 and {MAX_ENCODER_PROCESSES}")
        if self.config.get("on_keyless_upsert", "warn") not in KEYLESS_UPSERT_POLICIES:
            raise ConfigValidationError("on_keyless_upsert must be `warn` or `fail`")
        SessionSettings.from_config(self.config)

    # --- stop signals (see stopping.py): installed here, where the SDK installs its own ---

    @override
    def _setup_signal_handlers(self) -> None:
        self._signals = StopSignals(self._on_stop_signal)
        self._signals.install()

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        self._signals._handle(signum, frame)  # the SDK's entry point, kept for callers of it

    def _on_stop_signal(self, signum: int) -> None:
        """In the signal handler: cut short what the database is doing for the target."""
        loader = getattr(self, "_loader", None)
        if loader is not None:
            loader.interrupt()

    @property
    def loader(self) -> Loader:
        """The load connection and its thread, opened on first use; leftover overwrite tables dropped."""
        if self._loader is None:
            self._loader = loader = Loader(self.config, self.metrics, self.name)
            if self._signals.received is not None:
                loader.interrupt()
            loader.open()
            dropped = loader.call(
                lambda: loader.transact(
                    "Dropping shadow tables of interrupted overwrites",
                    lambda: clean_leftover_shadows(loader.connector),
                )
            )
            for shadow in dropped:
                self.logger.info(
                    "Dropped %s.%s, left by an overwrite that did not finish", loader.schema, shadow
                )
        return self._loader

    def check_key(self, sink: PostgresSink) -> None:
        """Under ``upsert``, a stream without key properties is said so once (or fails the run).

        Args:
            sink: The stream's new sink.

        Raises:
            KeylessUpsertError: ``on_keyless_upsert`` is ``fail``.
        """
        if sink.key_properties or sink.load_method != UPSERT:
            return
        problem = (
            f"Stream {sink.stream_name!r} has no key properties, so under load_method upsert its records can "
            "only be appended: loading a record again adds another row"
        )
        remedy = (
            "give the stream key properties (the tap's catalog, or stream maps' __key_properties__), or set "
            "load_method append-only (appending is meant) or overwrite (the table is replaced each run)"
        )
        if self.config.get("on_keyless_upsert", "warn") == "fail":
            raise KeylessUpsertError(f"{problem}; {remedy} (on_keyless_upsert is fail)")
        if sink.stream_name not in self._keyless_warned:
            self._keyless_warned.add(sink.stream_name)
            self.logger.warning(
                "%s. To fix it, %s; on_keyless_upsert=fail refuses such streams", problem, remedy
            )

    def _unreadable_line(self, line: bytes | str, problem: UnreadableLine, position: tuple[int, int]) -> None:
        """A line that is not a message: quarantined (raw, with its number) or the run fails naming it.

        Args:
            line: The line as read.
            problem: What is wrong with it (and the message, when it is JSON).
            position: The line's number and the byte offset of its start in the input.

        Raises:
            UnreadableInputError: Under ``on_invalid_record: fail``.
        """
        number, offset = position
        message = problem.message or {}
        stream = message.get("stream") if isinstance(message.get("stream"), str) else stream_named(line)
        sink = self._sinks_active.get(stream) if stream is not None else None
        record = message.get("record") if isinstance(message.get("record"), dict) else None
        key = sink._record_key(record) if isinstance(sink, PostgresSink) and record is not None else None
        at = offset + (problem.position or 0)
        where = f"input line {number} (byte {at} of the input)"
        about = f"Stream {stream!r}: " if stream is not None else ""
        if problem.field is not None:  # JSON, but a value no text can hold
            error = f"{about}record with key {key} on {where} does not fit at field {problem.field!r}: "
            error += problem.reason
        else:
            error = f"{about}{where} {problem.reason}"
        if self.config.get("on_invalid_record", "fail") != "quarantine":
            raise UnreadableInputError(
                f"{error} — fix the tap's output, or set on_invalid_record: quarantine to keep such lines in "
                "_pipeboard_rejects and load the rest"
            )
        loader = self.loader
        table = sink.table if isinstance(sink, PostgresSink) else ""
        row = (
            stream or "",
            table,
            key,
            problem.field,
            error,
            None if record is None else to_json_shown(record),
            number,
            line_bytes(line),
        )

        def quarantine() -> None:
            with loader.connector.conn.cursor() as cur:
                q.execute(cur, q.insert_line_reject(loader.schema), row)

        loader.call(lambda: loader.transact(f"Quarantining {where}", quarantine))
        loader.metrics.rejects.labels(table=table).inc()
        self.logger.warning("%s: quarantined in %s._pipeboard_rejects", error, loader.schema)

    def shadow_started(self, stream: str, table: str, shadow: str) -> None:
        """Note an overwrite's shadow table, committed with its first batch (swapped in at the end).

        Args:
            stream: The stream.
            table: The table it replaces.
            shadow: The shadow table.
        """
        self.shadows[stream] = (table, shadow)

    def _swap_shadows(self) -> None:
        """Replace each overwritten table by its shadow, one transaction each (the input has ended)."""
        loader = self.loader
        for stream, (table, shadow) in list(self.shadows.items()):
            what = f"Stream {stream!r} (table {loader.schema}.{table})"
            loader.call(
                lambda t=table, sh=shadow, w=what: loader.transact(w, lambda: swap(loader.connector, t, sh))
            )
            del self.shadows[stream]
            self.logger.info(
                "Replaced %s.%s with this run's rows (load_method overwrite)", loader.schema, table
            )

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

    # --- the record fast lane (see FastSingerReader) ---

    def _fast_handler(self, stream_name: str) -> FastHandler | None:
        """The fast lane for a stream's records, when nothing between message and sink changes them."""
        try:
            return self._fast_handlers[stream_name]
        except KeyError:
            pass
        handler = None
        maps = self.mapper.stream_maps.get(stream_name) or []
        sink = self._sinks_active.get(stream_name)
        if (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
            and maps[0].stream_alias == stream_name
            and isinstance(sink, PostgresSink)
        ):
            handler = self._take_fast_for(sink)
        self._fast_handlers[stream_name] = handler
        return handler

    def _take_fast_for(self, sink: PostgresSink) -> FastHandler:
        """The fast lane into one sink: what the SDK does per record, with its periodic checks batched."""
        counter = sink.record_counter_metric
        taken = 0

        def take(envelope: Envelope, line: bytes) -> bool:
            nonlocal taken
            if not sink.take_fast(envelope, line):
                return False
            taken += 1
            self.fast_lane_records += 1
            if sink.is_full:
                self.logger.info("Target sink for '%s' is full. Draining...", sink.stream_name)
                self.drain_one(sink)
            if not taken % FAST_CHECK_EVERY:
                counter.increment(FAST_CHECK_EVERY)
                self._handle_max_record_age()
                self._after_record()
            elif self._state_pending:
                self._after_record()
            return True

        def flush_count() -> None:
            counter.increment(taken % FAST_CHECK_EVERY)

        self._fast_count_flushes.append(flush_count)
        return take

    @override
    def _process_schema_message(self, message_dict: dict) -> None:
        super()._process_schema_message(message_dict)
        self._forget_fast_handlers()
        self._readers_changed = True

    # --- the block lane (see FastSingerReader and blocklane): segments of taken records, whole ---

    def block_lane(self, process_line: Callable[[bytes], None]) -> BlockLane:
        """The block lane reading this run's input, with the configured encoder processes.

        Args:
            process_line: The reader's per-line handling (for every line not taken in a segment).

        Returns:
            The lane (also kept as ``block_lane_used``).
        """
        processes = self.config.get("encoder_processes")
        if processes is None:
            processes = 1 if _usable_cpus() >= 2 else 0
        batch_bytes = int(self.config.get("batch_size_bytes") or DEFAULT_BATCH_SIZE_BYTES)
        self.block_lane_used = BlockLane(
            self, process_line, int(processes), ENCODER_START_BYTES, lane_bytes(batch_bytes)
        )
        return self.block_lane_used

    def make_room(self) -> None:
        """Before a record larger than the block lane's bound: every batch written and committed.

        Its memory is then the only large thing held (not also a batch being filled and one in flight).
        """
        for sink in list(self._sinks_active.values()):
            self.drain_one(sink)
        if self._loader is not None:
            self._loader.wait()

    def interruptible(self, source: t.BinaryIO) -> t.BinaryIO:
        """The input as the block lane should read it: a pipe so that a stop signal ends a waiting read.

        Args:
            source: The binary input.

        Returns:
            ``source``, or a :class:`~target_pipeboard_postgres.stopping.StopAwareInput` over its pipe.
        """
        if StopAwareInput.wanted(source, self._signals):
            return t.cast(t.BinaryIO, StopAwareInput(source.fileno(), self._signals))
        return source

    def line_readers(self) -> dict[str, tuple[LineReader, ReaderSpec]]:
        """The line reader and its spec of each stream whose records may take the fast lane now.

        Returns:
            stream → (reader, spec), for the active sinks with a fast handler and a reader.
        """
        readers = {}
        for stream, sink in self._sinks_active.items():
            if (
                self._fast_handler(stream) is not None
                and isinstance(sink, PostgresSink)
                and sink.line_reader is not None
                and sink.reader_spec is not None
            ):
                readers[stream] = (sink.line_reader, sink.reader_spec)
        return readers

    def readers_may_have_changed(self) -> bool:
        """Whether a SCHEMA message came since the last call (sinks, and so readers, may differ).

        Returns:
            True once per change.
        """
        changed, self._readers_changed = self._readers_changed, False
        return changed

    def take_segment(self, stream: str, keys: list, rows: list) -> None:
        """Put rows the stream's line reader made into its batches: what the per-record lane does, in bulk.

        A full batch is drained at the same record as one record at a time would; the periodic checks (record
        age, pending STATE) run once per segment.

        Args:
            stream: The stream (its sink is active and on the fast lane).
            keys: Each row's key (None when rows are not kept by key).
            rows: COPY lines or row tuples.
        """
        sink = self._sinks_active[stream]
        assert isinstance(sink, PostgresSink)
        sizes = [row_bytes(row) for row in rows]
        start, count = 0, len(rows)
        while start < count:
            last = min(count, start + max(1, sink.max_size - sink.current_size))
            room = sink.max_bytes - sink.batch_bytes
            end, size = start, 0
            # The row that reaches batch_size_bytes is the batch's last (a batch holds at least one row).
            while end < last and (size < room or end == start):
                size += sizes[end]
                end += 1
            sink.put_rows(keys[start:end], rows[start:end], size)
            if sink.is_full:
                self.logger.info("Target sink for '%s' is full. Draining...", sink.stream_name)
                self.drain_one(sink)
            start = end
        sink.record_counter_metric.increment(count)
        self.fast_lane_records += count
        self._handle_max_record_age()
        self._after_record()

    def _forget_fast_handlers(self) -> None:
        for flush in self._fast_count_flushes:
            flush()
        self._fast_count_flushes = []
        self._fast_handlers = {}

    # --- STATE: written as soon as every record received before it is committed, never before ---

    @override
    def _process_state_message(self, message_dict: dict) -> None:
        super()._process_state_message(message_dict)
        if self._state_held:  # written once the overwrite's swap is committed
            return
        state = self._latest_state
        last = self._states_waiting[-1][0] if self._states_waiting else self._emitted_state
        if not state or state == last:
            return
        sinks = [*self._sinks_active.values(), *self._sinks_to_clear]
        # Records read before this STATE and not yet drained: it waits for the batches that will hold them.
        needs = [(sink, sink._total_records_read) for sink in sinks if sink.current_size]
        self._states_waiting.append((copy.deepcopy(state), needs))
        self._state_pending = True
        self._drain_idle(sinks)
        self._emit_states_drained()

    def _drain_idle(self, sinks: list[Sink]) -> None:
        """Drain the sinks a STATE waits on whose streams have gone quiet (a tap reading one stream after
        another): their last records would otherwise hold every later STATE back until the input ends.

        A stream is quiet when the target read ``IDLE_AFTER_RECORDS`` records of other streams since, as
        seen from one STATE to the next; so a quiet stream costs one small batch, and streams read together
        (deals and their products) never drain each other early.
        """
        seen = self._records_at_state
        read = sum(sink._total_records_read for sink in sinks)
        needs = {id(sink) for sink, _ in self._states_waiting[0][1]} if self._states_waiting else set()
        for sink in sinks:
            total = sink._total_records_read
            last_total, quiet_since = seen.get(id(sink), (-1, read))
            if total != last_total:
                seen[id(sink)] = (total, read)
            elif id(sink) in needs and sink.current_size and read - quiet_since >= IDLE_AFTER_RECORDS:
                self.logger.info(
                    "Stream %r has gone quiet: draining its %d records so that STATE can follow",
                    sink.stream_name,
                    sink.current_size,
                )
                self.drain_one(sink)

    @override
    def _process_record_message(self, message_dict: dict) -> None:
        super()._process_record_message(message_dict)
        self._after_record()

    def _after_record(self) -> None:
        if self._loader is not None:
            self._loader.poll()  # a committed batch's STATE is written here

    @override
    def drain_one(self, sink: Sink) -> None:  # type: ignore[misc]
        super().drain_one(sink)
        if self._states_waiting:
            self._emit_states_drained()

    def _emit_states_drained(self) -> None:
        """Hand the latest STATE whose records are all drained to the loader: written once they commit.

        A STATE's needs only grow with its place in the input, so the waiting ones are ready oldest first;
        of those ready at once only the latest is written (it covers the others).
        """
        ready = None
        waiting = self._states_waiting
        while waiting and all(
            sink._total_records_read - sink.current_size >= read for sink, read in waiting[0][1]
        ):
            ready = waiting.popleft()[0]
        if ready is None:
            return
        if self._loader is None:
            self._write_state_message(ready)
        else:  # every record before it is committed or in the batch in flight
            self._states_handed += 1
            self._loader.after_commit(lambda: self._write_state_message(ready, handed=True))

    @override
    def _write_state_message(self, state: dict, *, handed: bool = False) -> None:
        if self._loader is not None:
            self._loader.wait()
        self._states_handed -= handed
        if state == self._latest_state:  # e.g. the end of the input: every record is committed
            self._states_waiting.clear()
        self._state_pending = bool(self._states_waiting) or self._states_handed > 0
        if state == self._emitted_state or self._state_held:
            return
        # The reader parses numbers as Decimal: write them back as the numbers they were (the SDK's json.dumps
        # would fail on a bookmark holding a float).
        state_json = json.dumps(state, default=_state_number)
        self.logger.debug("Emitting completed target state %s", state_json)
        sys.stdout.write(f"{state_json}\n")
        sys.stdout.flush()
        self._emitted_state = state

    @override
    def process_endofpipe(self) -> None:
        self._forget_fast_handlers()
        super().process_endofpipe()
        self.logger.info("%d records took the fast lane (the others the SDK's path)", self.fast_lane_records)
        blank = getattr(self.message_reader, "blank_lines", 0)
        if blank:
            self.logger.info("Skipped %d blank input lines (no message in them)", blank)
        if self.block_lane_used is not None:
            lane = self.block_lane_used
            self.logger.info(
                "Input blocks encoded: %d in encoder processes, %d in this one",
                lane.encoded_elsewhere,
                lane.encoded_here,
            )

    @override
    def drain_all(self, *, is_endofpipe: bool = False) -> None:
        self._ending = is_endofpipe
        super().drain_all(is_endofpipe=is_endofpipe)

    @override
    def _drain_all(self, sink_list: t.Iterable[Sink], parallelism: int) -> None:
        super()._drain_all(sink_list, parallelism)
        if self._loader is not None:
            self._loader.wait()
        sinks = [*self._sinks_active.values(), *self._sinks_to_clear]
        if self._ending and all(sink.current_size == 0 for sink in sinks):
            # Every row is committed: overwritten tables are swapped in before the last STATE is written.
            if self.shadows:
                self._swap_shadows()
            self._state_held = False

    # --- run outcome ---

    def check_destination(self) -> None:
        """Connect and create the schema and bookkeeping tables, before reading a single message.

        A pipeline whose loader cannot connect, or may not create its tables, stops here: the tap upstream has
        not been read (``pipeboard-preflight target-pipeboard-postgres`` runs just this, see the README).

        Raises:
            SetupError: The database cannot be reached, or the role may not create the schema.
        """
        loader = self.loader
        try:
            loader.call(
                lambda: loader.transact(
                    f"Creating schema {loader.schema} and the bookkeeping tables",
                    loader.connector.ensure_bookkeeping,
                )
            )
        except PipeboardError as exc:
            if not isinstance(exc.__cause__, InsufficientPrivilege):
                raise
            kwargs = connection_kwargs(self.config)
            raise SetupError(describe_permission_error(exc.__cause__, kwargs, loader.schema)) from None
        self.logger.info("Connected to the database; loading into schema %s", loader.schema)

    @override
    def listen(self, file_input: t.IO[str] | None = None) -> None:
        signals = self._signals
        signals.install(wake_reads=True)
        try:
            self.logger.info(
                "Reading Singer messages; SIGTERM or SIGINT stops the run at once (exit code 143 or 130) "
                "with STATE at the last committed batch"
            )
            self.check_destination()
            with throughput_tuning():
                super().listen(file_input)
                if self._loader is not None:
                    self._loader.wait()
            signals.raising = False  # finished: a signal now changes nothing
        except StopRequested as stop:
            signals.raising = False
            self._stopped(stop)
            self.metrics.finish(success=False)
            self._close()
            raise
        except BaseException:
            signals.raising = False  # failing anyway: a signal only cuts the clean-up short
            self.metrics.finish(success=False)
            self._close()
            raise
        finally:
            signals.restore()
        self.metrics.finish(success=True)
        self._close()

    def _stopped(self, stop: StopRequested) -> None:
        """After a stop signal: the work in flight is cancelled (a batch that committed meanwhile gets its
        STATE), nothing else is written."""
        idle = True
        if self._loader is not None:
            idle = self._loader.abort()
        self.logger.warning(
            "Stopped by %s before the end of the input: STATE is at the last committed batch; rerun to "
            "resume (exit code %d)%s",
            signal_name(stop.signum),
            stop.exit_code,
            ""
            if idle
            else "; the database did not answer the cancel request in time, the process exits anyway",
        )

    def _close(self) -> None:
        if self._loader is None:
            return
        loader, self._loader = self._loader, None
        try:
            if not loader.stopping.is_set():
                loader.wait()
        except Exception as exc:  # the run is failing already; this batch's error is secondary
            self.logger.error("The batch being written when the run failed did not commit: %s", one_line(exc))
        finally:
            loader.close()

    @classmethod
    @override
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:  # type: ignore[override]
        """Run the target; a stop signal exits 128 + its number, a :class:`PipeboardError` (settings,
        connection, a batch, a lock) ends in one line and exit code 1."""
        try:
            with one_line_errors(cls.logger):
                super().invoke(*args, **kwargs)
        except StopRequested as stop:
            sys.exit(stop.exit_code)
