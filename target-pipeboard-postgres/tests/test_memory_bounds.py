"""Memory bounded by bytes, not rows: batches, the block lane's queue, encoder frames, COPY pieces.

No timing and no RSS thresholds: these tests check the design (where batches end, what the lane holds, what
is framed to an encoder process) against the rows that reach Postgres.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

import pytest
from target_pipeboard_postgres import blocklane
from target_pipeboard_postgres import target as target_module
from target_pipeboard_postgres.copy import copy_line, row_bytes
from target_pipeboard_postgres.target import TargetPipeboardPostgres, lane_bytes

BOUND = 64 << 10  # the smallest batch_size_bytes allowed
TEXT = "x" * 600
FIRST_ID = 1000  # ids of four digits: every row has the same size


def batch_rows(warehouse) -> list[int]:
    """Rows written per batch, in commit order (one ``_pipeboard_loads`` row per batch)."""
    return [
        row[0]
        for row in warehouse.query(
            f'SELECT rows_inserted + rows_updated FROM "{warehouse.schema}"._pipeboard_loads ORDER BY id'
        )
    ]


def records(singer, count: int, text: str = TEXT, start: int = FIRST_ID) -> list[dict]:
    return [singer.record("s", {"id": i, "t": text}) for i in range(start, start + count)]


def schema(singer) -> dict:
    return singer.schema("s", {"id": {"type": "integer"}, "t": {"type": ["string", "null"]}})


def rows_per_batch(row_size: int, bound: int = BOUND) -> int:
    """Rows a batch takes: the row that reaches the bound is its last."""
    return -(-bound // row_size)


@pytest.mark.parametrize(
    ("lane", "load"),
    [
        ("sdk", {"fast_lane": False, "text_input": True}),
        ("per-line", {"text_input": True}),
        ("block", {"encoder_processes": 0}),
        ("block+encoder", {"encoder_processes": 1}),
    ],
)
def test_a_batch_is_written_when_its_rows_reach_batch_size_bytes(warehouse, singer, monkeypatch, lane, load):
    monkeypatch.setattr(target_module, "ENCODER_START_BYTES", 0)
    count = 700
    run = warehouse.load(
        [schema(singer), *records(singer, count), singer.state({"n": count})],
        batch_size_bytes=BOUND,
        add_record_metadata=False,
        staging_threshold=10,
        **load,
    )
    # The SDK's path keeps a row as a tuple of text values, the fast lanes as its COPY line.
    row = (str(FIRST_ID), TEXT)
    size = row_bytes(row if lane == "sdk" else copy_line(row))
    per_batch = rows_per_batch(size)
    assert 50 < per_batch < count // 3
    expected = [per_batch] * (count // per_batch) + ([count % per_batch] if count % per_batch else [])
    assert batch_rows(warehouse) == expected
    assert warehouse.rows("s", ["id", "t"]) == [(i, TEXT) for i in range(FIRST_ID, FIRST_ID + count)]
    assert run.states[-1] == {"n": count}
    if lane.startswith("block"):
        assert run.fast_lane_records == count
        assert run.block_lane is not None
        assert (run.block_lane.encoded_elsewhere > 0) == (lane == "block+encoder")


def test_whichever_bound_comes_first_ends_the_batch(warehouse, singer):
    # 40 rows take far less than batch_size_bytes: batch_size_rows ends each batch.
    warehouse.load([schema(singer), *records(singer, 100)], batch_size_rows=40, batch_size_bytes=16 << 20)
    assert batch_rows(warehouse) == [40, 40, 20]


def test_the_bytes_of_rows_replaced_by_the_same_key_still_count(warehouse, singer):
    # The same 10 keys over and over: the batch keeps 10 rows but is written when the rows it took reach
    # the bound (the memory they took until replaced is not known without a cost per row).
    messages = [schema(singer)]
    messages += [singer.record("s", {"id": FIRST_ID + i % 10, "t": TEXT}) for i in range(400)]
    warehouse.load(messages, batch_size_bytes=BOUND, add_record_metadata=False, encoder_processes=0)
    loads = batch_rows(warehouse)
    assert len(loads) == -(-400 // rows_per_batch(row_bytes(copy_line((str(FIRST_ID), TEXT)))))
    assert all(rows == 10 for rows in loads)


@pytest.mark.parametrize("path", ["fast", "sdk"])
def test_a_record_larger_than_the_bound_is_a_batch_of_its_own(warehouse, singer, path):
    big = "é" * (200 << 10)
    messages = [schema(singer), *records(singer, 10)]
    messages += [singer.record("s", {"id": 5000, "t": big}), singer.state({"after": "big"})]
    messages += records(singer, 10, start=6000)
    # Flattening configured: the fast lanes leave every record to the SDK's path (the block lane reads).
    settings = {"flattening_enabled": True, "flattening_max_depth": 1} if path == "sdk" else {}
    run = warehouse.load(
        messages, batch_size_bytes=BOUND, add_record_metadata=False, encoder_processes=0, **settings
    )
    assert batch_rows(warehouse) == [10, 1, 10]
    assert run.block_lane is not None
    assert run.block_lane.long_lines == 1
    assert (run.fast_lane_records == 20 + 1) == (path == "fast")
    assert run.states == [{"after": "big"}]
    assert warehouse.query(f'SELECT t = %s FROM "{warehouse.schema}".s WHERE id = 5000', (big,)) == [(True,)]
    assert len(warehouse.rows("s", "id")) == 21


def test_the_block_lane_never_holds_more_than_its_bound_nor_frames_more_than_two_blocks(
    warehouse, singer, monkeypatch
):
    monkeypatch.setattr(target_module, "ENCODER_START_BYTES", 0)
    framed: list[int] = []
    submit = blocklane.EncoderProcess.submit

    def counting_submit(self, block: bytes, epoch: int):
        framed.append(len(block))
        return submit(self, block, epoch)

    monkeypatch.setattr(blocklane.EncoderProcess, "submit", counting_submit)
    messages = [schema(singer), *records(singer, 3000)]
    # Lines a little longer than a block (encoded here, not framed), and one longer than the lane's bound.
    messages += records(singer, 3, text="y" * (20 << 10), start=7000)
    messages += records(singer, 1, text="z" * (100 << 10), start=8000)
    messages += records(singer, 1000, start=9000)
    batch_bytes = 256 << 10
    run = warehouse.load(messages, batch_size_bytes=batch_bytes, encoder_processes=1)

    lane = run.block_lane
    assert lane is not None
    assert lane.max_bytes == lane_bytes(batch_bytes) == 64 << 10
    assert lane.block_bytes == 8 << 10
    assert 0 < lane.peak_held <= lane.max_bytes
    assert lane.held == 0
    assert lane.long_lines == 1
    assert framed
    assert max(framed) <= 2 * lane.block_bytes
    assert lane.encoded_elsewhere == len(framed) > 10
    assert len(warehouse.rows("s", "id")) == 3000 + 3 + 1 + 1000


def test_the_lane_bound_follows_batch_size_bytes_within_limits():
    assert lane_bytes(64 << 10) == 64 << 10
    assert lane_bytes(16 << 20) == 4 << 20
    assert lane_bytes(1 << 30) == 6 << 20


def test_a_long_line_is_read_as_a_block_of_its_own_and_announced_before_it_is_whole():
    lines = [b"a\n", b"b" * 5000 + b"\n", b"c\n", b"d" * 300 + b"\n"]
    announced: list[int] = []
    source = io.BytesIO(b"".join(lines))
    blocks = []
    for block in blocklane.read_blocks(source, 1024, 2048, lambda: announced.append(len(blocks))):
        blocks.append(block)
    assert b"".join(blocks) == b"".join(lines)
    assert lines[1] in blocks  # alone, not with the lines around it
    assert announced == [1]  # once, while the long line was read (after the block before it)


def write_huge_input(path: Path, count: int, size: int) -> list[str]:
    """``count`` records of ``size`` bytes (text and an integer array), a STATE after each; their digests."""
    digests = []
    with path.open("w", encoding="utf-8") as out:
        properties = {
            "id": {"type": "integer"},
            "body": {"type": ["string", "null"]},
            "items": {"type": ["array", "null"], "items": {"type": "integer"}},
        }
        out.write(json.dumps({"type": "SCHEMA", "stream": "huge", "schema": {"properties": properties},
                              "key_properties": ["id"]}) + "\n")  # fmt: skip
        numbers = ",".join(str(1_000_000 + n) for n in range(size // 2 // 8))
        for n in range(count):
            body = f"record {n} ü " * (size // 2 // 12)
            digests.append(hashlib.md5(body.encode()).hexdigest())  # noqa: S324 - a checksum
            record = f'{{"id":{n + 1},"body":"{body}","items":[{numbers}]}}'
            out.write(f'{{"type":"RECORD","stream":"huge","record":{record}}}\n')
            out.write(json.dumps({"type": "STATE", "value": {"done": n + 1}}) + "\n")
    return digests


def test_three_50_mb_records_load_each_as_a_batch_of_one(warehouse, tmp_path):
    path = tmp_path / "huge.singer"
    digests = write_huge_input(path, 3, 50 << 20)
    target = TargetPipeboardPostgres(config=warehouse.config(), validate_config=True)
    out = io.StringIO()
    with path.open("rb") as source, contextlib.redirect_stdout(out):
        target.listen(source)

    assert [json.loads(line) for line in out.getvalue().splitlines()] == [{"done": n} for n in (1, 2, 3)]
    assert batch_rows(warehouse) == [1, 1, 1]
    lane = target.block_lane_used
    assert lane is not None
    assert lane.long_lines == 3
    assert lane.peak_held <= lane.max_bytes  # the long lines were never queued
    stored = warehouse.query(
        "SELECT id, md5(body), jsonb_array_length(items), items->>0, items->>-1 "
        f'FROM "{warehouse.schema}".huge ORDER BY id'
    )
    count = (50 << 20) // 2 // 8
    assert stored == [(n + 1, digests[n], count, "1000000", str(1_000_000 + count - 1)) for n in range(3)]


def test_a_bad_batch_size_bytes_is_refused_in_one_line(warehouse):
    for value in (0, 1000, "16MB", True):
        with pytest.raises(Exception, match=r"batch_size_bytes must be a whole number of at least 65536"):
            TargetPipeboardPostgres(config=warehouse.config(batch_size_bytes=value), validate_config=True)
