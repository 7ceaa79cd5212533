"""Nothing waits forever: a silent server, a BI session's open read, a stop signal during either."""

from __future__ import annotations

import re
import signal

import psycopg2
from pipeboard_testkit.clusters import SilentListener
from pipeboard_testkit.processes import wait_until
from psycopg2 import sql

SCHEMA = {"id": {"type": "integer"}, "n": {"type": "integer"}}
WIDER = {"id": {"type": "integer"}, "n": {"type": "string"}}


def test_a_server_that_accepts_and_never_answers_fails_within_the_connect_timeout(singer, spawn_target):
    with SilentListener() as listener:
        target = spawn_target(
            {"host": "127.0.0.1", "port": listener.port, "database": "analytics", "connect_timeout": 2}
        )
        target.send([singer.schema("s", SCHEMA), singer.record("s", {"id": 1, "n": 1})])
        target.close_input()
        code = target.wait(timeout=120)  # libpq alone would wait for ever
        assert listener.accepted >= 1
    assert code == 1, target.stderr
    assert "Traceback" not in target.stderr
    last = target.log[-1]
    assert f"Could not connect to Postgres at 127.0.0.1:{listener.port}/analytics" in last
    assert "timeout expired" in last
    assert "(connect_timeout)" in last


def test_a_sigterm_while_the_server_is_silent_ends_the_run_at_once(singer, spawn_target):
    with SilentListener() as listener:
        target = spawn_target(
            {"host": "127.0.0.1", "port": listener.port, "database": "x", "connect_timeout": 3600}
        )
        target.send([singer.schema("s", SCHEMA)])
        assert listener.wait_for_connection(timeout=60)
        target.signal(signal.SIGTERM)
        code = target.wait(timeout=60)  # not the connect timeout's hour
    assert code == 143, target.stderr
    assert target.states == []


def open_read(warehouse) -> tuple[psycopg2.extensions.connection, int]:
    """A BI session that read the table and left its transaction open (it holds ACCESS SHARE)."""
    conn = psycopg2.connect(warehouse.url, application_name="Metabase")
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(warehouse.schema, "s")))
    return conn, pid


def test_alter_table_behind_an_open_read_retries_names_the_reader_then_fails_clearly(
    warehouse, singer, spawn_target
):
    warehouse.load([singer.schema("s", SCHEMA), singer.record("s", {"id": 1, "n": 1})])
    reader, pid = open_read(warehouse)
    try:
        target = spawn_target(warehouse.config(lock_timeout=1, lock_retries=2))
        target.send([singer.schema("s", WIDER), singer.record("s", {"id": 2, "n": "two"})])
        target.send([singer.state({"done": 2})])
        target.close_input()
        code = target.wait(timeout=120)
    finally:
        reader.rollback()
        reader.close()
    assert code == 1, target.stderr
    assert "Traceback" not in target.stderr
    table = f"{warehouse.schema}.s"
    waits = [line for line in target.log if "waited 1 s (lock_timeout)" in line]
    assert len(waits) == 2, target.stderr
    assert f"pid {pid} (user 'postgres', application 'Metabase', idle in transaction" in waits[0]
    assert f"holding AccessShareLock on {table}" in waits[0]
    last = target.log[-1]
    assert re.search(rf"Stream 's'.*gave up after 3 lock waits of 1 s .*pid {pid}\b", last), last
    assert "lock_timeout" in last
    assert "pg_terminate_backend" in last
    assert target.states == []
    assert warehouse.column_types("s")["n"] == "bigint"
    assert warehouse.rows("s", ["id"]) == [(1,)]


def test_alter_table_goes_through_once_the_reader_is_gone(warehouse, singer, spawn_target):
    warehouse.load([singer.schema("s", SCHEMA), singer.record("s", {"id": 1, "n": 1})])
    reader, pid = open_read(warehouse)
    try:
        target = spawn_target(warehouse.config(lock_timeout=1, lock_retries=100))
        target.send([singer.schema("s", WIDER), singer.record("s", {"id": 2, "n": "two"})])
        target.send([singer.state({"done": 2})])
        target.close_input()
        assert target.wait_for_log(rf"waited 1 s \(lock_timeout\) for pid {pid}\b", timeout=120), (
            target.stderr
        )
    finally:
        reader.rollback()
        reader.close()
    assert target.wait(timeout=120) == 0, target.stderr
    assert warehouse.column_types("s")["n"] == "text"
    assert warehouse.rows("s", ["id", "n"]) == [(1, "1"), (2, "two")]
    assert target.states == [{"done": 2}]


def test_a_sigterm_during_a_lock_wait_ends_the_run_with_state_at_the_last_commit(
    warehouse, singer, spawn_target
):
    warehouse.load([singer.schema("s", SCHEMA), singer.record("s", {"id": 1, "n": 1})])
    target = spawn_target(warehouse.config(lock_timeout=3600, batch_size_rows=2))
    target.send(
        [
            singer.schema("s", SCHEMA),
            singer.record("s", {"id": 2, "n": 2}),
            singer.record("s", {"id": 3, "n": 3}),
        ]
    )
    target.send([singer.state({"done": 3})])
    wait_until(lambda: len(warehouse.rows("s", ["id"])) == 3)
    reader, _ = open_read(warehouse)
    try:
        target.send([singer.schema("s", WIDER), singer.record("s", {"id": 4, "n": "four"})])
        wait_until(
            lambda: warehouse.query(
                "SELECT count(*) FROM pg_locks WHERE NOT granted "
                "AND relation = to_regclass(quote_ident(%s) || '.s')",
                (warehouse.schema,),
            )[0][0]
        )
        target.signal(signal.SIGTERM)
        code = target.wait(timeout=60)  # not the lock timeout's hour
    finally:
        reader.rollback()
        reader.close()
    assert code == 143, target.stderr
    assert target.states in ([], [{"done": 3}])
    assert warehouse.rows("s", ["id"]) == [(1,), (2,), (3,)]
    assert warehouse.column_types("s")["n"] == "bigint"
    assert "Traceback" not in target.stderr
