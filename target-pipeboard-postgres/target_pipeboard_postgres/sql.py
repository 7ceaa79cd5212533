"""Every SQL statement the target runs, composed from psycopg2.sql identifiers (never formatted text)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg2 import extras, sql

PG_TYPES = {
    "bigint": sql.SQL("bigint"),
    "numeric": sql.SQL("numeric"),
    "boolean": sql.SQL("boolean"),
    "text": sql.SQL("text"),
    "timestamptz": sql.SQL("timestamptz"),
    "date": sql.SQL("date"),
    "time": sql.SQL("time"),
    "jsonb": sql.SQL("jsonb"),
}

MAPPING_TABLE = "_pipeboard_identifiers"
REJECTS_TABLE = "_pipeboard_rejects"
LOADS_TABLE = "_pipeboard_loads"


def text_with_parameters(statement: sql.Composable, context: Any) -> str:
    """A statement's text for execution with parameters: ``%`` inside names doubled, placeholders kept.

    psycopg2 %-formats a statement run with parameters (and ``execute_values`` always does), so a ``%`` in a
    quoted name (``"rate %"``, ``"%s"``) must reach it as ``%%``; a ``%`` in our own SQL text is a
    placeholder and stays.

    Args:
        statement: A composed statement.
        context: A connection or cursor (for quoting).

    Returns:
        The text to execute with parameters.
    """
    if isinstance(statement, sql.Composed):
        return "".join(text_with_parameters(part, context) for part in statement.seq)
    text = statement.as_string(context)
    if isinstance(statement, sql.SQL | sql.Placeholder):
        return text
    return text.replace("%", "%%")


def execute(cur: Any, statement: sql.Composable, params: Sequence[Any] | None = None) -> None:
    """Run one statement; with parameters, names holding ``%`` are escaped first.

    Args:
        cur: A psycopg2 cursor.
        statement: The statement.
        params: Its parameters (None: the statement is sent as it is).
    """
    if params is None:
        cur.execute(statement)
    else:
        cur.execute(text_with_parameters(statement, cur), params)


def execute_values(
    cur: Any, statement: sql.Composable, rows: Sequence[Sequence[Any]], *, fetch: bool = False
) -> list[tuple] | None:
    """psycopg2's ``execute_values`` in one page, with names holding ``%`` escaped.

    Args:
        cur: A psycopg2 cursor.
        statement: A statement with one ``%s`` where the VALUES rows go.
        rows: The rows.
        fetch: Return the rows the statement returns.

    Returns:
        The statement's result rows when ``fetch``, else None.
    """
    return extras.execute_values(
        cur, text_with_parameters(statement, cur), rows, page_size=max(1, len(rows)), fetch=fetch
    )


def _type(pg_type: str) -> sql.Composable:
    return PG_TYPES[pg_type]


def _columns(columns: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(column) for column in columns)


def advisory_lock(schema: str, table: str) -> tuple[sql.Composable, tuple[str]]:
    """Transaction-scoped lock serialising loaders of one table.

    Args:
        schema: Target schema.
        table: Target table.

    Returns:
        The statement and its parameters.
    """
    return (
        sql.SQL("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"),
        (f"pipeboard:{schema}.{table}",),
    )


def create_schema(schema: str) -> sql.Composed:
    """``CREATE SCHEMA IF NOT EXISTS``."""
    return sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))


def create_table(
    schema: str, table: str, columns: Sequence[tuple[str, str]], key: Sequence[str]
) -> sql.Composed:
    """``CREATE TABLE`` with typed columns and, when keyed, a primary key.

    Args:
        schema: Target schema.
        table: Table name.
        columns: (column, type) pairs.
        key: Primary key columns (may be empty).

    Returns:
        The statement.
    """
    parts = [sql.SQL("{} {}").format(sql.Identifier(name), _type(pg_type)) for name, pg_type in columns]
    if key:
        parts.append(sql.SQL("PRIMARY KEY ({})").format(_columns(key)))
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(parts)
    )


def add_column(schema: str, table: str, column: str, pg_type: str) -> sql.Composed:
    """``ALTER TABLE … ADD COLUMN IF NOT EXISTS``."""
    return sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
        sql.Identifier(schema, table), sql.Identifier(column), _type(pg_type)
    )


def widen_column(schema: str, table: str, column: str, pg_type: str) -> sql.Composed:
    """``ALTER COLUMN … TYPE`` keeping every value (``to_jsonb`` for jsonb, a cast otherwise).

    Args:
        schema: Target schema.
        table: Table name.
        column: Column to widen.
        pg_type: The wider type.

    Returns:
        The statement.
    """
    if pg_type == "jsonb":
        using = sql.SQL("to_jsonb({})").format(sql.Identifier(column))
    else:
        using = sql.SQL("{}::{}").format(sql.Identifier(column), _type(pg_type))
    return sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}").format(
        sql.Identifier(schema, table), sql.Identifier(column), _type(pg_type), using
    )


def drop_primary_key(schema: str, table: str, constraint: str) -> sql.Composed:
    """Drop the table's primary key constraint (only when the load method allows a key change)."""
    return sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
        sql.Identifier(schema, table), sql.Identifier(constraint)
    )


def add_primary_key(schema: str, table: str, key: Sequence[str]) -> sql.Composed:
    """Add a primary key constraint."""
    return sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(sql.Identifier(schema, table), _columns(key))


def table_columns() -> sql.Composed:
    """Columns and their types of one table (params: schema, table)."""
    return sql.SQL(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
    ).format()


def primary_key() -> sql.Composed:
    """Primary key constraint name and columns, in key order (params: schema, table)."""
    return sql.SQL(
        "SELECT con.conname, a.attname FROM pg_constraint con "
        "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) ON true "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
        "WHERE n.nspname = %s AND c.relname = %s AND con.contype = 'p' ORDER BY k.ord"
    ).format()


def create_staging(staging: str, schema: str, table: str, columns: Sequence[str]) -> sql.Composed:
    """A temporary staging table with exactly the target's column types, dropped at commit.

    Args:
        staging: Staging table name.
        schema: Target schema.
        table: Target table.
        columns: The batch's columns.

    Returns:
        The statement.
    """
    return sql.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
        sql.Identifier(staging), _columns(columns), sql.Identifier(schema, table)
    )


def copy_into(staging: str, columns: Sequence[str]) -> sql.Composed:
    """``COPY staging (cols) FROM STDIN`` in text format."""
    return sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(staging), _columns(columns))


def copy_into_table(schema: str, table: str, columns: Sequence[str]) -> sql.Composed:
    """``COPY schema.table (cols) FROM STDIN`` in text format: rows straight into the target table."""
    return sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(schema, table), _columns(columns))


def has_rows(schema: str, table: str) -> sql.Composed:
    """``SELECT EXISTS (SELECT 1 FROM table)``: whether the table holds any row (reads at most one)."""
    return sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(schema, table))


def savepoint(name: str) -> sql.Composed:
    """``SAVEPOINT name``."""
    return sql.SQL("SAVEPOINT {}").format(sql.Identifier(name))


def rollback_to(name: str) -> sql.Composed:
    """``ROLLBACK TO SAVEPOINT name``."""
    return sql.SQL("ROLLBACK TO SAVEPOINT {}").format(sql.Identifier(name))


def release(name: str) -> sql.Composed:
    """``RELEASE SAVEPOINT name``."""
    return sql.SQL("RELEASE SAVEPOINT {}").format(sql.Identifier(name))


def drop_staging(staging: str) -> sql.Composed:
    """``DROP TABLE IF EXISTS`` for the staging table."""
    return sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(staging))


def _counted(insert: sql.Composable) -> sql.Composed:
    return sql.SQL(
        "WITH m AS ({} RETURNING (xmax = 0) AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM m"
    ).format(insert)


def _on_conflict(columns: Sequence[str], key: Sequence[str]) -> sql.Composed:
    updates = [column for column in columns if column not in key]
    if not key:
        return sql.SQL("")
    if not updates:
        return sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(_columns(key))
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(column), sql.Identifier(column))
        for column in updates
    )
    return sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(_columns(key), assignments)


def merge_from_staging(
    schema: str, table: str, staging: str, columns: Sequence[str], key: Sequence[str]
) -> sql.Composed:
    """One ``INSERT … SELECT … ON CONFLICT … DO UPDATE`` (append without key) → (inserted, updated).

    Args:
        schema: Target schema.
        table: Target table.
        staging: Staging table.
        columns: The batch's columns.
        key: Conflict key (empty: append).

    Returns:
        The statement.
    """
    insert = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}{}").format(
        sql.Identifier(schema, table),
        _columns(columns),
        _columns(columns),
        sql.Identifier(staging),
        _on_conflict(columns, key),
    )
    return _counted(insert)


def insert_values(schema: str, table: str, columns: Sequence[str], key: Sequence[str]) -> sql.Composed:
    """Multi-row ``INSERT … VALUES %s ON CONFLICT …`` for ``execute_values``; returns (inserted, updated).

    Args:
        schema: Target schema.
        table: Target table.
        columns: The batch's columns.
        key: Conflict key (empty: append).

    Returns:
        The statement, with one ``%s`` placeholder for the VALUES list.
    """
    insert = sql.SQL("INSERT INTO {} ({}) VALUES %s{}").format(
        sql.Identifier(schema, table), _columns(columns), _on_conflict(columns, key)
    )
    return _counted(insert)


def delete_soft_deleted(schema: str, table: str) -> sql.Composed:
    """Hard delete: remove rows whose ``_sdc_deleted_at`` is set."""
    return sql.SQL("DELETE FROM {} WHERE {} IS NOT NULL").format(
        sql.Identifier(schema, table), sql.Identifier("_sdc_deleted_at")
    )


def delete_soft_deleted_keys(schema: str, table: str, key_types: Sequence[tuple[str, str]]) -> sql.Composed:
    """Hard delete limited to some keys: rows among them whose ``_sdc_deleted_at`` is set.

    For ``execute_values``: the ``%s`` takes the keys as rows of text values.

    Args:
        schema: Target schema.
        table: Target table.
        key_types: Key column and its column type (one of ours), in key order.

    Returns:
        The statement.
    """
    names = [f"k{i}" for i in range(len(key_types))]
    matches = sql.SQL(" AND ").join(
        sql.SQL("t.{} = d.{}::{}").format(sql.Identifier(column), sql.Identifier(name), _type(pg_type))
        for (column, pg_type), name in zip(key_types, names, strict=True)
    )
    return sql.SQL("DELETE FROM {} AS t USING (VALUES %s) AS d ({}) WHERE {} AND t.{} IS NOT NULL").format(
        sql.Identifier(schema, table),
        sql.SQL(", ").join(sql.Identifier(name) for name in names),
        matches,
        sql.Identifier("_sdc_deleted_at"),
    )


def retire_versions(schema: str, table: str, *, hard_delete: bool) -> sql.Composed:
    """ACTIVATE_VERSION: delete or soft-delete rows of older table versions (param: the new version).

    Args:
        schema: Target schema.
        table: Target table.
        hard_delete: Delete instead of setting ``_sdc_deleted_at``.

    Returns:
        The statement.
    """
    version = sql.Identifier("_sdc_table_version")
    older = sql.SQL("({} IS NULL OR {} < %s)").format(version, version)
    if hard_delete:
        return sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(schema, table), older)
    deleted = sql.Identifier("_sdc_deleted_at")
    return sql.SQL("UPDATE {} SET {} = now() WHERE {} AND {} IS NULL").format(
        sql.Identifier(schema, table), deleted, older, deleted
    )


def create_mapping_table(schema: str) -> sql.Composed:
    """The identifier map: (scope, source name) → Postgres name, stable across runs."""
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (scope text NOT NULL, source_name text NOT NULL, "
        "pg_name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), "
        "PRIMARY KEY (scope, source_name))"
    ).format(sql.Identifier(schema, MAPPING_TABLE))


def select_mapping(schema: str) -> sql.Composed:
    """Stored names of one scope (param: scope)."""
    return sql.SQL("SELECT source_name, pg_name FROM {} WHERE scope = %s").format(
        sql.Identifier(schema, MAPPING_TABLE)
    )


def insert_mapping(schema: str) -> sql.Composed:
    """Record a name (params: scope, source_name, pg_name); an existing entry wins."""
    return sql.SQL(
        "INSERT INTO {} (scope, source_name, pg_name) VALUES %s ON CONFLICT (scope, source_name) DO NOTHING"
    ).format(sql.Identifier(schema, MAPPING_TABLE))


def create_rejects_table(schema: str) -> sql.Composed:
    """Quarantine for records that do not fit their schema."""
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, stream text NOT NULL, "
        "table_name text NOT NULL, record_key text, field text, error text NOT NULL, record jsonb, "
        "rejected_at timestamptz NOT NULL DEFAULT now(), line_number bigint, raw_line bytea)"
    ).format(sql.Identifier(schema, REJECTS_TABLE))


REJECTS_LINE_COLUMNS = ("line_number", "raw_line")
"""Columns added after the rejects table's first version (a table made before gets them)."""


def count_rejects_line_columns() -> sql.Composed:
    """How many of :data:`REJECTS_LINE_COLUMNS` the rejects table has; parameters (schema, table)."""
    return sql.SQL(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "AND column_name IN ({})"
    ).format(sql.SQL(", ").join(sql.Literal(name) for name in REJECTS_LINE_COLUMNS))


def add_rejects_line_columns(schema: str) -> sql.Composed:
    """Give a rejects table made before the input line columns those columns."""
    return sql.SQL(
        "ALTER TABLE {} ADD COLUMN IF NOT EXISTS line_number bigint, ADD COLUMN IF NOT EXISTS raw_line bytea"
    ).format(sql.Identifier(schema, REJECTS_TABLE))


def insert_line_reject(schema: str) -> sql.Composed:
    """One quarantined input line: (stream, table_name, record_key, field, error, record, line_number,
    raw_line)."""
    return sql.SQL(
        "INSERT INTO {} (stream, table_name, record_key, field, error, record, line_number, raw_line) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    ).format(sql.Identifier(schema, REJECTS_TABLE))


def insert_rejects(schema: str) -> sql.Composed:
    """Rows for ``execute_values``: (stream, table_name, record_key, field, error, record)."""
    return sql.SQL("INSERT INTO {} (stream, table_name, record_key, field, error, record) VALUES %s").format(
        sql.Identifier(schema, REJECTS_TABLE)
    )


def create_loads_table(schema: str) -> sql.Composed:
    """The load log: one row per committed batch, for data-freshness dashboards."""
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, stream text NOT NULL, "
        "table_name text NOT NULL, load_method text NOT NULL, rows_inserted bigint NOT NULL, "
        "rows_updated bigint NOT NULL, rows_rejected bigint NOT NULL, started_at timestamptz NOT NULL, "
        "finished_at timestamptz NOT NULL)"
    ).format(sql.Identifier(schema, LOADS_TABLE))


def insert_load(schema: str) -> sql.Composed:
    """Log one batch (params: stream, table, method, inserted, updated, rejected, started_at)."""
    return sql.SQL(
        "INSERT INTO {} (stream, table_name, load_method, rows_inserted, rows_updated, rows_rejected, "
        "started_at, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, clock_timestamp())"
    ).format(sql.Identifier(schema, LOADS_TABLE))
