"""pipeboard-dbt's own look at the database before dbt starts: can we connect, and which tables are loaded."""

from __future__ import annotations

import psycopg2

from pipeboard_dbt.settings import Connection

CHECK_STATEMENT_TIMEOUT_MS = 30_000


class ConnectionProblemError(RuntimeError):
    """The database cannot be reached or used; the message is one line, without the password."""


def loaded_tables(connection: Connection, schema: str) -> set[str]:
    """Connect as dbt will (timeouts, keepalives) and list the tables in ``schema``.

    Raises:
        ConnectionProblemError: The connection or the query failed.
    """
    try:
        conn = psycopg2.connect(
            host=connection.host,
            port=connection.port,
            user=connection.user,
            password=connection.password,
            dbname=connection.dbname,
            sslmode=connection.sslmode,
            connect_timeout=connection.connect_timeout,
            keepalives=1,
            keepalives_idle=30,
            application_name="pipeboard-dbt",
            options=f"-c statement_timeout={CHECK_STATEMENT_TIMEOUT_MS}",
        )
    except psycopg2.Error as exc:
        raise ConnectionProblemError(
            f"cannot connect to PostgreSQL as {connection.describe()}: {_headline(exc, connection)} "
            "- check DATABASE_URL (or the loader's database settings)"
        ) from None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
            return {row[0] for row in cur.fetchall()}
    except psycopg2.Error as exc:
        raise ConnectionProblemError(
            f"PostgreSQL at {connection.describe()} failed a first query: {_headline(exc, connection)}"
        ) from None
    finally:
        conn.close()


def _headline(exc: psycopg2.Error, connection: Connection) -> str:
    """The libpq message on one line, with the password (should it appear) blanked out."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = " ".join(lines) or type(exc).__name__
    if connection.password:
        text = text.replace(connection.password, "***")
    return text
