"""Killed mid-load (the target, or Postgres): STATE never ahead of committed rows; a rerun completes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
from pipeboard_testkit.clusters import ThrowawayCluster
from pipeboard_testkit.processes import wait_until
from psycopg2 import sql

RECORDS = 60_000
STATE_EVERY = 1_000


def write_input(path: Path) -> None:
    schema = {
        "type": "SCHEMA",
        "stream": "big",
        "key_properties": ["id"],
        "schema": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "title": {"type": "string"},
                "value": {"type": "number"},
                "update_time": {"type": "string", "format": "date-time"},
                "custom": {"type": "object"},
            },
        },
    }
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(schema) + "\n")
        for i in range(RECORDS):
            record = {
                "id": i,
                "title": f"deal {i}",
                "value": i / 4,
                "update_time": "2024-01-01T00:00:00Z",
                "custom": {"n": i},
            }
            out.write(json.dumps({"type": "RECORD", "stream": "big", "record": record}) + "\n")
            if i % STATE_EVERY == STATE_EVERY - 1:
                out.write(
                    json.dumps({"type": "STATE", "value": {"bookmarks": {"big": {"last_id": i}}}}) + "\n"
                )


def start_target(config: Path, data: Path) -> subprocess.Popen:
    executable = Path(sys.executable).parent / "target-pipeboard-postgres"
    return subprocess.Popen(
        [str(executable), "--config", str(config), "--input", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_sigkill_mid_load_then_rerun_loads_exactly_and_state_never_ran_ahead(warehouse, tmp_path):
    data = tmp_path / "big.singer"
    write_input(data)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(warehouse.config(batch_size_rows=2_500)), encoding="utf-8")

    def committed_up_to(last_id: int) -> int:
        return warehouse.query(f'SELECT count(*) FROM "{warehouse.schema}".big WHERE id <= %s', (last_id,))[
            0
        ][0]

    process = start_target(config, data)
    printed: list[int] = []
    try:
        for line in process.stdout:
            last_id = json.loads(line)["bookmarks"]["big"]["last_id"]
            printed.append(last_id)
            # every row up to the bookmark must already be committed when the STATE line appears
            assert committed_up_to(last_id) == last_id + 1
            if len(printed) == 3:
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert len(printed) == 3
    assert printed == sorted(printed)
    loaded_at_kill = warehouse.query(f'SELECT count(*) FROM "{warehouse.schema}".big')[0][0]
    assert committed_up_to(printed[-1]) == printed[-1] + 1
    assert loaded_at_kill < RECORDS, "the kill came after the load finished; the test did not test anything"

    rerun = start_target(config, data)
    out, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0
    assert json.loads(out.splitlines()[-1]) == {"bookmarks": {"big": {"last_id": RECORDS - 1}}}
    count, distinct, total = warehouse.query(
        f'SELECT count(*), count(DISTINCT id), sum(value) FROM "{warehouse.schema}".big'
    )[0]
    assert count == distinct == RECORDS
    assert total == sum(i / 4 for i in range(RECORDS))


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """Whether a process exists and has not exited (a zombie waiting to be reaped has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_sigkill_mid_load_leaves_no_encoder_process_behind(warehouse, tmp_path):
    """The encoder process ends on its own when the target is killed (its input pipe closes)."""
    data = tmp_path / "padded.singer"
    padding = "x" * 600
    with data.open("w", encoding="utf-8") as out:
        out.write(
            json.dumps(
                {
                    "type": "SCHEMA",
                    "stream": "p",
                    "key_properties": ["id"],
                    "schema": {
                        "type": "object",
                        "properties": {"id": {"type": "integer"}, "pad": {"type": "string"}},
                    },
                }
            )
            + "\n"
        )
        for i in range(60_000):
            out.write(
                json.dumps({"type": "RECORD", "stream": "p", "record": {"id": i, "pad": padding}}) + "\n"
            )
            if i % 1000 == 999:
                out.write(json.dumps({"type": "STATE", "value": {"last_id": i}}) + "\n")
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(warehouse.config(batch_size_rows=2_000, encoder_processes=1)), encoding="utf-8"
    )
    executable = Path(sys.executable).parent / "target-pipeboard-postgres"
    with data.open("rb") as stdin:
        process = subprocess.Popen(
            [str(executable), "--config", str(config)],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    encoders: list[int] = []
    try:
        assert process.stdout is not None
        for _line in process.stdout:  # a STATE line each committed batch: look for the encoder meanwhile
            encoders = _children(process.pid)
            if encoders:
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait()
    assert encoders, "no encoder process started before the load ended; the test did not test anything"
    assert process.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 120  # the child exits on the closed pipe at once; this only bounds a hang
    while any(Path(f"/proc/{pid}").exists() for pid in encoders) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in encoders), (
        "the encoder process outlived its target"
    )
    assert warehouse.query(f'SELECT count(*) FROM "{warehouse.schema}".p')[0][0] < 60_000


def test_a_postgres_crash_mid_batch_is_reported_as_itself_naming_stream_and_table(singer, spawn_target):
    """The headline is the crash (not the rollback's `connection already closed`); STATE stays behind."""
    with ThrowawayCluster() as cluster:
        schema = "pipedrive"
        config = {"database_url": cluster.url, "default_target_schema": schema, "batch_size_rows": 50}
        columns = {"id": {"type": "integer"}, "title": {"type": "string"}}
        target = spawn_target(config)
        target.send([singer.schema("deals", columns)])
        target.send([singer.record("deals", {"id": i, "title": "a"}) for i in range(50)])
        target.send([singer.state({"done": 49})])
        conn = psycopg2.connect(cluster.url)
        try:
            wait_until(lambda: _count(conn, schema) == 50)
            # A session holds the table: the next batch waits for it, in flight, when the server crashes.
            with conn.cursor() as cur:
                cur.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(sql.Identifier(schema, "deals")))
            target.send([singer.record("deals", {"id": i, "title": "b"}) for i in range(50, 100)])
            target.send([singer.state({"done": 99})])
            target.close_input()
            wait_until(lambda: _waiting(cluster.url))
            cluster.crash()
            code = target.wait(timeout=120)
        finally:
            conn.close()
        assert code == 1, target.stderr
        assert "Traceback" not in target.stderr
        last = target.log[-1]
        assert f"Stream 'deals' (table {schema}.deals)" in last
        assert "connection already closed" not in last
        assert re.search(r"terminating connection|server closed the connection", last), last
        assert target.states in ([], [{"done": 49}])
        cluster.start()
        assert _count(psycopg2.connect(cluster.url), schema) == 50


def _count(conn: psycopg2.extensions.connection, schema: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(quote_ident(%s) || '.deals') IS NOT NULL", (schema,))
        if not cur.fetchone()[0]:
            conn.rollback()
            return 0
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "deals")))
        count = cur.fetchone()[0]
    conn.rollback()
    return count


def _waiting(url: str) -> bool:
    """Whether a backend waits for a lock (the target's second batch)."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        waiting = cur.fetchone()[0] > 0
    conn.close()
    return waiting
