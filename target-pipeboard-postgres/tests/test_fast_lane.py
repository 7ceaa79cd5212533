"""The record fast lane gives the SDK path's tables, and defers whenever it cannot vouch for a record."""

from __future__ import annotations

import contextlib
import decimal
import io
import json

import psycopg2
import pytest
import simplejson
from psycopg2 import sql
from target_pipeboard_postgres.errors import BatchFailedError
from target_pipeboard_postgres.target import TargetPipeboardPostgres

PROPERTIES = {
    "id": {"type": "integer"},
    "title": {"type": ["string", "null"]},
    "value": {"type": ["number", "null"]},
    "count": {"type": ["integer", "null"]},
    "at": {"type": ["string", "null"], "format": "date-time"},
    "labels": {"type": ["array", "null"], "items": {"type": "integer"}},
    "extra": {"type": ["object", "null"]},
    "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
}
BASE = {
    "title": "Deal\tone — ü \\ back",
    "value": decimal.Decimal("12.50"),
    "count": 3,
    "at": "2024-03-01T10:00:00.5Z",
    "labels": [1, 2],
    "extra": {"a": [None, "ü"], "n": decimal.Decimal("1.10")},
    "either": 7,
}
VARIANTS = [
    {},
    {key: None for key in ("title", "value", "count", "at", "labels", "extra")},
    {
        "title": "nul\x00byte",
        "value": decimal.Decimal("1E+5"),
        "count": 2**63,
        "at": "2024-03-01T10:00:00+05:30",
    },
    {"count": 2**64, "at": "2024-03-01 10:00:00", "extra": {"k\x00": "\U0001f600"}},
    {"at": "not a time"},
    {"count": 1.5},
    {"value": "12"},
    {"title": 5},
    {"labels": [1, "2"]},
    {"either": 1.5},
    {"id": None},
    {"unknown_property": {"deep": [1, 2, 3]}},
    # Lines with no escape COPY text must escape: the lane writes their COPY line directly.
    {"title": "Deal one — dash", "extra": {"dash": "—", "n": 1}},
    {"title": "plain", "labels": [5, 6, 7], "extra": {"t": [1, {"b": True}]}},
    {"title": "\\N", "extra": {"q": 'say "hi"'}},
]


def _hostile_messages(singer) -> list[dict]:
    messages = [singer.schema("s", PROPERTIES)]
    for i, change in enumerate(VARIANTS * 3):
        record = {"id": i % 20, **BASE, **change}
        messages.append(singer.record("s", record, time_extracted="2024-03-01T10:00:00Z"))
        if i % 7 == 0:
            messages.append(singer.state({"bookmarks": {"s": {"n": i}}}))
    messages.append(singer.record("s", {"id": 3, "title": "updated", "_sdc_deleted_at": None}))
    return messages


def _table(warehouse) -> list[tuple]:
    columns = [
        column
        for column in warehouse.column_types("s")
        if column not in ("_sdc_received_at", "_sdc_batched_at", "_sdc_sequence", "_sdc_sync_started_at")
    ]
    return warehouse.rows("s", sorted(columns), order="id")


@pytest.mark.parametrize("staging_threshold", [1, 1000], ids=["staging-copy", "multi-row-insert"])
def test_fast_lane_and_sdk_path_leave_identical_tables_and_rejects(
    warehouse, singer, database_url, staging_threshold
):
    messages = _hostile_messages(singer)
    text = "".join(simplejson.dumps(m, use_decimal=True) + "\n" for m in messages)
    settings = {
        "on_invalid_record": "quarantine",
        "staging_threshold": staging_threshold,
        "batch_size_rows": 5,
    }
    fast = warehouse.load(text, **settings)
    fast_table = _table(warehouse)
    fast_rejects = warehouse.query(
        sql.SQL("SELECT record_key, field FROM {} ORDER BY record_key").format(
            sql.Identifier(warehouse.schema, "_pipeboard_rejects")
        )
    )
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(warehouse.schema)))
    conn.close()
    slow = warehouse.load(text, fast_lane=False, **settings)

    records = sum(1 for message in messages if message["type"] == "RECORD")
    assert 0 < fast.fast_lane_records < records  # both lanes within one run
    assert slow.fast_lane_records == 0
    assert fast.states == slow.states
    assert fast.states[-1] == {"bookmarks": {"s": {"n": 42}}}
    assert fast_table == _table(warehouse)
    # Nine variants do not fit the schema (two of them hold NUL, which Postgres cannot store), each sent
    # three times.
    assert len(fast_rejects) == 3 * 9
    assert fast_rejects == warehouse.query(
        sql.SQL("SELECT record_key, field FROM {} ORDER BY record_key").format(
            sql.Identifier(warehouse.schema, "_pipeboard_rejects")
        )
    )
    assert {field.split(".")[0] for _, field in fast_rejects} >= {
        "at",
        "count",
        "value",
        "title",
        "labels",
        "id",
        "extra",
    }


def test_stream_maps_keep_records_off_the_fast_lane(warehouse, singer):
    messages = [
        singer.schema("s", {"id": {"type": "integer"}, "title": {"type": "string"}}),
        *(singer.record("s", {"id": i, "title": f"t{i}"}) for i in range(20)),
    ]
    run = warehouse.load(messages, stream_maps={"s": {"shout": "title.upper()"}})
    assert run.fast_lane_records == 0
    assert warehouse.rows("s", ["id", "title", "shout"])[:2] == [(0, "t0", "T0"), (1, "t1", "T1")]


def test_a_batch_failing_on_the_loader_thread_fails_the_run_and_stops_state(warehouse, singer, database_url):
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(warehouse.schema)))
        cur.execute(
            sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY CHECK (id < 100), title text)").format(
                sql.Identifier(warehouse.schema, "s")
            )
        )
    conn.close()
    messages = [singer.schema("s", {"id": {"type": "integer"}, "title": {"type": "string"}})]
    for start in range(0, 300, 50):
        messages.extend(singer.record("s", {"id": i, "title": "x"}) for i in range(start, start + 50))
        messages.append(singer.state({"done": start + 50}))
    target = TargetPipeboardPostgres(
        config=warehouse.config(batch_size_rows=50, staging_threshold=10, add_record_metadata=False)
    )
    out = io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        pytest.raises(BatchFailedError, match=r"^Stream 's' \(table ") as failure,
    ):
        target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)))
    assert isinstance(failure.value.__cause__, psycopg2.errors.CheckViolation)
    states = [json.loads(line)["done"] for line in out.getvalue().splitlines()]
    assert target.fast_lane_records >= 150  # the failing batch was written while later records were read
    assert warehouse.rows("s", "id") == [(i,) for i in range(100)]
    assert states == [50, 100]  # never a STATE past the committed rows
