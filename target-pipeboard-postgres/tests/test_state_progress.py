"""STATE comes out as soon as every record before it is committed — on every lane — and never before."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import psycopg2
import pytest
from psycopg2 import sql
from target_pipeboard_postgres import blocklane
from target_pipeboard_postgres import target as target_module
from target_pipeboard_postgres.target import TargetPipeboardPostgres

RECORDS = 3000
BATCH = 200
STATE_EVERY = 30  # 100 STATE messages, several per batch


class CheckingStdout(io.StringIO):
    """Standard output that, the moment a STATE line is written, counts the rows committed in the table."""

    def __init__(self, url: str, schema: str, tables: list[str]) -> None:
        super().__init__()
        self.conn = psycopg2.connect(url)
        self.conn.autocommit = True  # each count sees what is committed at that moment
        self.schema = schema
        self.tables = tables
        self.seen: list[tuple[int, int]] = []  # (records the STATE covers, rows committed when it came out)

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                covered = json.loads(line)["n"]
                committed = 0
                with self.conn.cursor() as cur:
                    for table in self.tables:
                        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{self.schema}"."{table}"',))
                        if cur.fetchone()[0]:
                            cur.execute(
                                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(self.schema, table))
                            )
                            committed += cur.fetchone()[0]
                self.seen.append((covered, committed))
        return super().write(text)


def _schema(stream: str) -> str:
    properties = {"id": {"type": "integer"}, "title": {"type": "string"}}
    message = {
        "type": "SCHEMA",
        "stream": stream,
        "key_properties": ["id"],
        "schema": {"properties": properties},
    }
    return json.dumps(message)


def _input(streams: list[tuple[str, int]]) -> bytes:
    """Each stream's records in turn (as a tap reads one stream after another), STATE every few records."""
    lines = [_schema(stream) for stream, _ in streams]
    read = 0
    for stream, count in streams:
        for i in range(count):
            lines.append(
                json.dumps(
                    {"type": "RECORD", "stream": stream, "record": {"id": i, "title": f"{stream} {i}"}}
                )
            )
            read += 1
            if read % STATE_EVERY == 0:
                lines.append(json.dumps({"type": "STATE", "value": {"n": read}}))
    lines.append(json.dumps({"type": "STATE", "value": {"n": read}}))
    return ("\n".join(lines) + "\n").encode()


def _load(warehouse, monkeypatch, lane: str, streams: list[tuple[str, int]], **settings: Any):
    monkeypatch.setattr(blocklane, "BLOCK_BYTES", 4096)  # many blocks, sent to the encoder process
    monkeypatch.setattr(target_module, "ENCODER_START_BYTES", 0)
    how = dict(LANES[lane])
    text = how.pop("text", False)
    fast_lane = how.pop("fast_lane", True)
    config = warehouse.config(batch_size_rows=BATCH, **settings, **how)
    target = TargetPipeboardPostgres(config=config, validate_config=True)
    if not fast_lane:
        target.message_reader.fast_handler = None
    data = _input(streams)
    out = CheckingStdout(warehouse.url, warehouse.schema, [stream for stream, _ in streams])
    try:
        with contextlib.redirect_stdout(out):
            target.listen(io.StringIO(data.decode()) if text else io.BytesIO(data))
    finally:
        out.conn.close()
    if lane == "encoder":
        assert target.block_lane_used is not None
        assert target.block_lane_used.encoded_elsewhere > 10
    if lane != "sdk":
        assert target.fast_lane_records > sum(count for _, count in streams) // 2
    # Never ahead: when a STATE line came out, every record it covers was committed.
    assert all(committed >= n for n, committed in out.seen), out.seen
    covered = [n for n, _ in out.seen]
    assert covered == sorted(covered)
    assert covered[-1] == sum(count for _, count in streams)
    return covered


LANES: dict[str, dict[str, Any]] = {
    "sdk": {"fast_lane": False, "text": True},
    "per-line": {"text": True},
    "block": {"encoder_processes": 0},
    "encoder": {"encoder_processes": 1},
}


@pytest.mark.parametrize("staging_threshold", [1, 1_000_000], ids=["copy", "insert"])
@pytest.mark.parametrize("lane", list(LANES))
def test_each_batch_commit_lets_the_state_before_it_out_and_no_state_is_ahead(
    warehouse, monkeypatch, lane, staging_threshold
):
    covered = _load(warehouse, monkeypatch, lane, [("s", RECORDS)], staging_threshold=staging_threshold)
    # As soon as its records are committed: each batch's commit lets the latest STATE it completes out.
    batches = RECORDS // BATCH
    assert len(covered) >= batches, covered
    for batch in range(1, batches + 1):
        last_before = batch * BATCH // STATE_EVERY * STATE_EVERY  # the last STATE this batch completes
        assert last_before in covered, (batch, covered)
    assert warehouse.query(
        sql.SQL("SELECT count(*), min(id), max(id) FROM {}").format(sql.Identifier(warehouse.schema, "s"))
    ) == [(RECORDS, 0, RECORDS - 1)]


@pytest.mark.parametrize("lane", list(LANES))
def test_a_stream_read_before_does_not_hold_state_back_until_the_end(warehouse, monkeypatch, lane):
    # 'first' ends with a part of a batch; 'second' is read after it (a tap reads its streams in turn).
    covered = _load(warehouse, monkeypatch, lane, [("first", 50), ("second", RECORDS)], staging_threshold=1)
    quiet_at = 50 + target_module.IDLE_AFTER_RECORDS  # 'first' counts as quiet from here (STATE by STATE)
    # From then on, every batch of 'second' lets the STATE before it out, as with one stream.
    for end in range(BATCH, RECORDS + 1, BATCH):
        if 50 + end > quiet_at + STATE_EVERY:
            assert (50 + end) // STATE_EVERY * STATE_EVERY in covered, (end, covered)
    assert warehouse.rows("first", "id") == [(i,) for i in range(50)]
    assert len(warehouse.rows("second", "id")) == RECORDS
