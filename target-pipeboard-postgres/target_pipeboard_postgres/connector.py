"""DDL and schema evolution: JSON schema → Postgres types, widening in place, stable identifier mapping."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg2.extensions import connection as PgConnection  # noqa: N812

from target_pipeboard_postgres import sql as q
from target_pipeboard_postgres.errors import SchemaEvolutionError
from target_pipeboard_postgres.validation import type_names
from target_pipeboard_postgres.views import dependent_views, drop_views, recreate_views

MAX_IDENTIFIER_BYTES = 63
HASH_CHARS = 8

LOGGER = logging.getLogger(__name__)

# What each Postgres type (as format_type prints it) is to us.
_CATALOG_TYPES = {
    "bigint": "bigint",
    "integer": "bigint",
    "smallint": "bigint",
    "numeric": "numeric",
    "double precision": "numeric",
    "real": "numeric",
    "boolean": "boolean",
    "text": "text",
    "timestamp with time zone": "timestamptz",
    "date": "date",
    "time without time zone": "time",
    "jsonb": "jsonb",
    "json": "jsonb",
}


def widen(current: str, new: str) -> str:
    """The narrowest of our column types that holds every value of both.

    bigint → numeric → text; date → timestamptz; jsonb absorbs anything; otherwise text.

    Args:
        current: One type.
        new: Another type.

    Returns:
        The common type.
    """
    if current == new:
        return current
    pair = {current, new}
    if pair == {"bigint", "numeric"}:
        return "numeric"
    if pair == {"date", "timestamptz"}:
        return "timestamptz"
    if "jsonb" in pair:
        return "jsonb"
    return "text"


def _single_type(schema: Mapping[str, Any]) -> set[str]:
    """Postgres types for each non-null alternative of one property schema."""
    found: set[str] = set()
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, ()) or ():
            found |= _single_type(option)
    declared = schema.get("type")
    if declared is None:
        if not found and not schema.get("anyOf") and not schema.get("oneOf"):
            found.add("jsonb")
        return found
    types = type_names(declared)
    for json_type in types:
        if json_type == "null":
            continue
        if json_type == "integer":
            found.add("bigint")
        elif json_type == "number":
            found.add("numeric")
        elif json_type == "boolean":
            found.add("boolean")
        elif json_type in ("object", "array"):
            found.add("jsonb")
        elif json_type == "string":
            fmt = schema.get("format")
            found.add({"date-time": "timestamptz", "date": "date", "time": "time"}.get(fmt, "text"))
        else:
            found.add("jsonb")
    return found


def pg_type_for(schema: Mapping[str, Any]) -> str:
    """Postgres type for one JSON-schema property: nullable unions → the non-null type, mixed → the widest.

    Args:
        schema: The property's JSON schema.

    Returns:
        One of bigint, numeric, boolean, text, timestamptz, date, time, jsonb.
    """
    types = _single_type(schema)
    if not types:
        return "text"
    if "text" in types and len(types) > 1 and "jsonb" not in types:
        return "text"
    result = None
    for pg_type in sorted(types):
        result = pg_type if result is None else widen(result, pg_type)
    return result or "text"


def catalog_type(formatted: str) -> str:
    """Our name for a type as ``format_type`` prints it (unknown types count as text)."""
    base = formatted.split("(")[0].strip()
    return _CATALOG_TYPES.get(base, "text")


def pg_identifier(name: str) -> str:
    """Deterministic Postgres identifier for any source name.

    Names within 63 bytes are kept as they are (quoted by the SQL composer); NULs are removed;
    longer names are cut at a character boundary and end in ``_`` + 8 hex digits of the full
    name's SHA-256, so two long names sharing a prefix stay distinct.

    Args:
        name: Stream or property name.

    Returns:
        A name Postgres stores without truncation.
    """
    clean = name.replace("\x00", "") or "_"
    encoded = clean.encode("utf-8")
    if len(encoded) <= MAX_IDENTIFIER_BYTES:
        return clean
    suffix = "_" + hashlib.sha256(encoded).hexdigest()[:HASH_CHARS]
    head = encoded[: MAX_IDENTIFIER_BYTES - len(suffix)].decode("utf-8", errors="ignore")
    return head + suffix


@dataclass(frozen=True)
class TableState:
    """What a table looks like in the database right now."""

    exists: bool
    columns: dict[str, str]
    key: list[str]
    key_constraint: str | None


class Connector:
    """Reads and changes table structure through one psycopg2 connection (the caller owns transactions)."""

    def __init__(self, conn: PgConnection, schema: str) -> None:
        """Bind to a connection and the target schema.

        Args:
            conn: An open psycopg2 connection.
            schema: The target schema for tables and the target's own bookkeeping tables.
        """
        self.conn = conn
        self.schema = schema
        # (schema, table) of the tables the current transaction locked: whose lock holders to name when a
        # lock wait times out.
        self.involved: list[tuple[str, str]] = []
        # Session-level advisory locks this connection holds (they outlive a rolled-back transaction).
        self.session_locks: set[str] = set()

    def lock(self, table: str) -> None:
        """Take the transaction's advisory lock serialising loaders of ``table`` (and note the table).

        Args:
            table: Table name in the target schema.
        """
        self.involved.append((self.schema, table))
        with self.conn.cursor() as cur:
            q.execute(cur, *q.advisory_lock(self.schema, table))

    def ensure_bookkeeping(self) -> None:
        """Create the schema and the mapping, rejects and load-log tables if missing."""
        self.lock("_pipeboard")
        with self.conn.cursor() as cur:
            cur.execute(q.create_schema(self.schema))
            cur.execute(q.create_mapping_table(self.schema))
            cur.execute(q.create_rejects_table(self.schema))
            q.execute(cur, q.count_rejects_line_columns(), (self.schema, q.REJECTS_TABLE))
            if cur.fetchone()[0] < len(q.REJECTS_LINE_COLUMNS):  # made by an earlier version
                cur.execute(q.add_rejects_line_columns(self.schema))
            cur.execute(q.create_loads_table(self.schema))

    def resolve_names(self, scope: str, names: Sequence[str]) -> dict[str, str]:
        """Map source names to Postgres names, reusing stored ones and recording new ones.

        Args:
            scope: ``"table"`` for stream names, ``"column:<table>"`` for a table's properties.
            names: The source names.

        Returns:
            source name → Postgres name.

        Raises:
            SchemaEvolutionError: Two source names would share one Postgres name.
        """
        with self.conn.cursor() as cur:
            q.execute(cur, q.select_mapping(self.schema), (scope,))
            stored = dict(cur.fetchall())
            mapping = {name: stored.get(name) or pg_identifier(name) for name in names}
            new = [(scope, name, pg) for name, pg in mapping.items() if name not in stored]
            if new:
                q.execute_values(cur, q.insert_mapping(self.schema), new)
        seen: dict[str, str] = {}
        for name, pg in {**stored, **mapping}.items():
            if pg in seen and seen[pg] != name:
                raise SchemaEvolutionError(
                    f"{scope}: names {seen[pg]!r} and {name!r} both map to Postgres name {pg!r}"
                )
            seen[pg] = name
        return mapping

    def table_state(self, table: str) -> TableState:
        """Columns (our type names), key columns and key constraint of a table.

        Args:
            table: Table name in the target schema.

        Returns:
            The table's state; ``exists`` is False when there is no such table.
        """
        with self.conn.cursor() as cur:
            cur.execute(q.table_columns(), (self.schema, table))
            columns = {name: catalog_type(formatted) for name, formatted in cur.fetchall()}
            cur.execute(q.primary_key(), (self.schema, table))
            key_rows = cur.fetchall()
        return TableState(
            exists=bool(columns),
            columns=columns,
            key=[row[1] for row in key_rows],
            key_constraint=key_rows[0][0] if key_rows else None,
        )

    def ensure_table(
        self,
        table: str,
        columns: Mapping[str, str],
        key: Sequence[str] | None,
        *,
        key_change_allowed: bool,
    ) -> tuple[dict[str, str], list[str]]:
        """Create or evolve a table to hold ``columns``: add, widen in place, never drop or narrow.

        Runs inside the caller's transaction, after the caller took the table's advisory lock. Views that
        read the table (and views of those) are dropped and recreated around a widening, which Postgres
        refuses while they exist (see :mod:`~target_pipeboard_postgres.views`).

        Args:
            table: Table name.
            columns: column → wanted type.
            key: Wanted primary key columns (empty: none; None: leave the key as it is).
            key_change_allowed: Whether a different existing key may be replaced (``overwrite``).

        Returns:
            The table's resulting column → type map, and the kinds of changes made
            (``create``, ``add_column``, ``widen``, ``key``), one entry per change.

        Raises:
            SchemaEvolutionError: The key changed and ``key_change_allowed`` is False, or a view on the
                table cannot be recreated after a widening.
        """
        if (self.schema, table) not in self.involved:
            self.involved.append((self.schema, table))
        state = self.table_state(table)
        with self.conn.cursor() as cur:
            if not state.exists:
                cur.execute(q.create_table(self.schema, table, list(columns.items()), key or []))
                LOGGER.info("Created table %s.%s with %d columns", self.schema, table, len(columns))
                return dict(columns), ["create"]
            result = dict(state.columns)
            changes: list[str] = []
            added = [(column, wanted) for column, wanted in columns.items() if column not in state.columns]
            widened = [
                (column, state.columns[column], widen(state.columns[column], wanted))
                for column, wanted in columns.items()
                if column in state.columns and widen(state.columns[column], wanted) != state.columns[column]
            ]
            for column, wanted in added:
                cur.execute(q.add_column(self.schema, table, column, wanted))
                result[column] = wanted
                changes.append("add_column")
                LOGGER.info("Added column %s (%s) to %s.%s", column, wanted, self.schema, table)
            if widened:
                self._widen(cur, table, widened)
                for column, _, target in widened:
                    result[column] = target
                    changes.append("widen")
            if key is not None and key and list(key) != state.key:
                if not key_change_allowed:
                    raise SchemaEvolutionError(
                        f"Table {self.schema}.{table} has primary key {state.key or '(none)'} but the "
                        "stream's "
                        f"key is {list(key)}; set load_method=overwrite (or append-only) to load it"
                    )
                if state.key_constraint:
                    cur.execute(q.drop_primary_key(self.schema, table, state.key_constraint))
                cur.execute(q.add_primary_key(self.schema, table, key))
                changes.append("key")
        return result, changes

    def _widen(self, cur: Any, table: str, widened: Sequence[tuple[str, str, str]]) -> None:
        """Widen columns in place; views reading the table are dropped first and recreated after."""
        names = ", ".join(f"{column} ({current} → {target})" for column, current, target in widened)
        change = f"Widening {self.schema}.{table}: {names}"
        views = dependent_views(cur, self.schema, table)
        if views:
            self.involved.extend((view.schema, view.name) for view in views)
            drop_views(cur, views, change)
        for column, current, target in widened:
            cur.execute(q.widen_column(self.schema, table, column, target))
            LOGGER.info("Widened %s.%s.%s from %s to %s", self.schema, table, column, current, target)
        if views:
            recreate_views(cur, views, change)
            LOGGER.info(
                "Recreated %d view(s) reading %s.%s around the widening: %s",
                len(views),
                self.schema,
                table,
                ", ".join(f"{view.schema}.{view.name}" for view in views),
            )
