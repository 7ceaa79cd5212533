"""The shared fixtures: fresh databases on the configured server, and the embedded fallback."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pipeboard_testkit.databases import DatabaseServer, connect, server_answers, with_database


def test_with_database_replaces_only_the_database_name():
    url = "postgresql://u:p@db.example:6543/postgres?sslmode=require"
    assert with_database(url, "other") == "postgresql://u:p@db.example:6543/other?sslmode=require"


def test_session_database_is_fresh_and_empty(database_url):
    with connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT current_database()")
        assert cur.fetchone()[0].startswith("pipeboard_test_")


def test_closed_port_does_not_answer():
    assert not server_answers("postgresql://postgres@127.0.0.1:9/postgres")


def test_embedded_server_serves_fresh_databases_when_none_is_running():
    server = DatabaseServer.embedded(Path(tempfile.mkdtemp(prefix="pipeboard-embedded-")))
    try:
        url = server.create_database()
        with connect(url) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id int PRIMARY KEY)")
            cur.execute("INSERT INTO t VALUES (1), (2)")
            cur.execute("SELECT count(*) FROM t")
            assert cur.fetchone()[0] == 2
    finally:
        server.drop_all()
        server.stop()
