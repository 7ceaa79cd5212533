"""A stop signal (SIGTERM, SIGINT) ends the run, STATE never ahead of committed rows, exit 128+signal."""

from __future__ import annotations

import signal

import psycopg2
import pytest
from pipeboard_testkit.processes import wait_until
from psycopg2 import sql

SCHEMA = {"id": {"type": "integer"}, "title": {"type": "string"}}


def blocked_writers(warehouse, table: str = "s") -> list[int]:
    """Backends waiting for a lock on the table (the target's batch, held up by a test session)."""
    rows = warehouse.query(
        "SELECT pid FROM pg_locks WHERE NOT granted "
        "AND relation = to_regclass(quote_ident(%s) || '.' || quote_ident(%s))",
        (warehouse.schema, table),
    )
    return [row[0] for row in rows]


def holding(warehouse, statement: str):
    """An open transaction of another session that ran ``statement`` (e.g. took a lock)."""
    conn = psycopg2.connect(warehouse.url)
    cur = conn.cursor()
    cur.execute(sql.SQL(statement).format(table=sql.Identifier(warehouse.schema, "s")))
    return conn


@pytest.mark.parametrize(
    ("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_a_stop_signal_while_the_last_batch_is_written_never_writes_its_state(
    warehouse, singer, spawn_target, signum, exit_code
):
    warehouse.load([singer.schema("s", SCHEMA), singer.record("s", {"id": 0, "title": "first run"})])
    # A session holds the table in SHARE mode: the next batch's rows wait for it, in flight.
    holder = holding(warehouse, "LOCK TABLE {table} IN SHARE MODE")
    try:
        target = spawn_target(warehouse.config(lock_timeout=60, add_record_metadata=False))
        target.send(
            [singer.schema("s", SCHEMA), *(singer.record("s", {"id": i, "title": "x"}) for i in range(1, 51))]
        )
        target.send([singer.state({"done": 50})])
        target.close_input()  # the target now waits for that batch, then would write the STATE
        wait_until(lambda: blocked_writers(warehouse), timeout=60)
        target.signal(signum)
        code = target.wait(timeout=60)
        if code is None:  # it did not stop: make the batch fail, as a crash would, to see what it printed
            with holder.cursor() as cur:
                for pid in blocked_writers(warehouse):
                    cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
            code = target.wait(timeout=60)
    finally:
        holder.rollback()
        holder.close()
    assert target.states == [], "a STATE was written for rows that were never committed"
    assert warehouse.rows("s", ["id"]) == [(0,)]
    assert code == exit_code, target.stderr
    assert "Traceback" not in target.stderr
    assert f"Stopped by {signal.Signals(signum).name}" in target.stderr


def test_a_sigterm_while_a_batch_waits_for_a_lock_ends_the_run_promptly(warehouse, singer, spawn_target):
    warehouse.load(
        [singer.schema("s", SCHEMA), *(singer.record("s", {"id": i, "title": "a"}) for i in range(5))]
    )
    target = spawn_target(
        warehouse.config(
            lock_timeout=3600, batch_size_rows=10, staging_threshold=1, add_record_metadata=False
        )
    )
    target.send([singer.schema("s", SCHEMA)])
    target.send(
        [singer.record("s", {"id": i, "title": "b"}) for i in range(10)] + [singer.state({"done": 9})]
    )
    wait_until(
        lambda: warehouse.query(
            sql.SQL("SELECT count(*) = 10 FROM {} WHERE title = 'b'").format(
                sql.Identifier(warehouse.schema, "s")
            )
        )[0][0]
    )
    holder = holding(warehouse, "LOCK TABLE {table} IN SHARE MODE")
    try:
        target.send([singer.record("s", {"id": i, "title": "c"}) for i in range(10, 20)])
        target.send([singer.state({"done": 19})])
        wait_until(lambda: blocked_writers(warehouse), timeout=60)
        target.signal(signal.SIGTERM)
        code = target.wait(timeout=60)  # far less than the lock timeout: the wait itself was cut short
    finally:
        holder.rollback()
        holder.close()
    assert code == 143, target.stderr
    assert target.states == [{"done": 9}]
    assert warehouse.rows("s", ["id", "title"]) == [(i, "b") for i in range(10)]
    assert "Traceback" not in target.stderr
