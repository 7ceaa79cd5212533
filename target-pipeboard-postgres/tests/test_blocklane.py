"""The block lane: blocks of lines keep every line in order, encoder processes give the lines' own rows."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import sys
import threading
import time

import msgspec
import pytest
from target_pipeboard_postgres import blocklane
from target_pipeboard_postgres import target as target_module
from target_pipeboard_postgres.blocklane import (
    EncoderProcess,
    EncoderProcessError,
    encode_block,
    read_blocks,
)
from target_pipeboard_postgres.connector import pg_type_for
from target_pipeboard_postgres.fastread import compile_line_reader, decode_envelope
from target_pipeboard_postgres.target import TargetPipeboardPostgres

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": ["string", "null"]},
        "value": {"type": ["number", "null"]},
        "at": {"type": ["string", "null"], "format": "date-time"},
        "extra": {"type": ["object", "null"]},
    },
}
PROPERTIES = list(SCHEMA["properties"])
SPEC = {
    "schema": SCHEMA,
    "properties": PROPERTIES,
    "types": [pg_type_for(SCHEMA["properties"][prop]) for prop in PROPERTIES],
    "metadata": False,
    "sync_started_at": None,
    "key_index": [0],
    "stream": "s",
}


def _record(stream: str, record: dict) -> bytes:
    return json.dumps({"type": "RECORD", "stream": stream, "record": record}).encode() + b"\n"


def _mixed_lines() -> list[bytes]:
    """Records the reader takes, around every kind of line it must hand back."""
    return [
        _record("s", {"id": 1, "title": "one", "value": 1.5, "at": "2024-01-01T00:00:00Z"}),
        _record("s", {"id": 2, "title": "tab\there", "extra": {"k": [1, "ü"]}}),
        b'{"type": "STATE", "value": {"n": 2}}\n',
        _record("s", {"id": 3, "title": 5}),  # does not fit: the SDK's path must see it
        _record("s", {"id": 4, "title": None}),
        _record("other", {"id": 5}),  # no reader for this stream
        b"not json at all\n",
        b"\n",
        _record("s", {"id": 6, "at": "2024-02-30T00:00:00Z"}),  # no such day: deferred
        _record("s", {"id": 7, "title": "seven"}),
        b'{"type": "SCHEMA", "stream": "s", "schema": {"type": "object"}, "key_properties": []}\n',
        _record("s", {"id": 8, "title": "after the schema"}),  # the readers may have changed: handed back
        b'{"type": "STATE", "value": {"n": 8}}\n',
        _record("s", {"id": 9}).rstrip(b"\n"),  # the input's last line, without a newline
    ]


def test_encode_block_keeps_every_line_in_order_and_takes_only_what_the_reader_takes():
    reader = compile_line_reader(**SPEC)
    assert reader is not None
    lines = _mixed_lines()
    items = encode_block(b"".join(lines), {"s": reader})

    # Replayed in order: a taken record is its reader's (key, row); any other line is itself, byte for byte.
    replay: list = []
    for item in items:
        if item[0] == "F":
            assert item[1] == "s"
            replay.extend(("taken", key, row) for key, row in zip(item[2], item[3], strict=True))
        else:
            replay.extend(("line", line) for line in item[1])
    expected: list = []
    schema_seen = False
    for line in lines:
        envelope = None
        with contextlib.suppress(msgspec.DecodeError):  # not a message: handed back
            envelope = decode_envelope(line)
        taken = None
        if not schema_seen and envelope is not None and envelope.type == "RECORD" and envelope.stream == "s":
            taken = reader(envelope, line)
        schema_seen = schema_seen or (envelope is not None and envelope.type == "SCHEMA")
        expected.append(("taken", *taken) if taken is not None else ("line", line))
    assert replay == expected
    assert [entry[1] for entry in replay if entry[0] == "taken"] == ["1", "2", "4", "7"]
    assert b"".join(entry[1] for entry in replay if entry[0] == "line") == b"".join(
        line for line, entry in zip(lines, expected, strict=True) if entry[0] == "line"
    )


def test_one_pass_reading_of_a_segments_lines_changes_no_item():
    one_pass = compile_line_reader(**SPEC)
    per_line = compile_line_reader(**{**SPEC, "stream": None})
    assert one_pass is not None
    assert per_line is not None
    assert one_pass.read_message is not None  # type: ignore[attr-defined]
    lines = _mixed_lines()
    runs = [_record("s", {"id": i, "title": f"t{i}", "extra": {"i": i}}) for i in range(50)]
    block = b"".join([*runs[:20], lines[2], *runs[20:], *lines])
    assert encode_block(block, {"s": one_pass}) == encode_block(block, {"s": per_line})


def test_encode_block_without_readers_hands_every_line_back():
    lines = _mixed_lines()
    items = encode_block(b"".join(lines), {})
    assert [line for item in items for line in item[1]] == lines
    assert all(item[0] == "O" for item in items)


@pytest.mark.parametrize("trailing_newline", [True, False])
def test_read_blocks_cuts_only_between_lines_and_loses_nothing(trailing_newline):
    rng = random.Random(3)
    lines = [b"x" * rng.choice([0, 1, 50, 300, 5000]) + b"\n" for _ in range(400)]
    data = b"".join(lines) if trailing_newline else b"".join(lines).rstrip(b"\n")
    blocks = list(read_blocks(io.BytesIO(data), size=1024))
    assert b"".join(blocks) == data
    assert all(block.endswith(b"\n") for block in blocks[:-1])
    # A block holds more than ``size`` only when it holds a line longer than that.
    assert all(len(block) <= 1024 or max(map(len, block.split(b"\n"))) >= 1024 for block in blocks)
    assert len(blocks) > 50


def test_read_blocks_does_not_wait_for_a_full_block_from_a_slow_pipe():
    read_end, write_end = os.pipe()
    release = threading.Event()

    def produce() -> None:
        with os.fdopen(write_end, "wb") as out:
            out.write(b'{"first": 1}\n{"second": 2}\n')
            out.flush()
            release.wait(10)
            out.write(b'{"third": 3}\n')

    producer = threading.Thread(target=produce)
    producer.start()
    with os.fdopen(read_end, "rb") as source:
        blocks = read_blocks(source, size=1 << 20)
        first = next(blocks)  # would hang until ``release`` if the reader waited for a full block
        release.set()
        rest = list(blocks)
    producer.join()
    assert first == b'{"first": 1}\n{"second": 2}\n'
    assert rest == [b'{"third": 3}\n']


def test_an_encoder_process_encodes_blocks_as_this_process_does():
    reader = compile_line_reader(**SPEC)
    assert reader is not None
    blocks = [b"".join(_mixed_lines()[:9]), b"".join(_mixed_lines())]
    process = EncoderProcess()
    try:
        process.install(1, {"s": SPEC})
        tickets = [process.submit(block, 1) for block in blocks]
        results = [ticket.result() for ticket in tickets]
        process.install(2, {})
        without = process.submit(blocks[0], 2).result()
    finally:
        process.close()
    for block, result in zip(blocks, results, strict=True):
        assert result == encode_block(block, {"s": reader})
        assert any(item[0] == "F" for item in result)
    assert without == encode_block(blocks[0], {})


def test_an_encoder_process_that_fails_fails_its_blocks_with_the_reason():
    process = EncoderProcess()
    try:
        process.install(1, {"s": {**SPEC, "no_such_argument": 1}})
        ticket = process.submit(b"".join(_mixed_lines()), 1)
        with pytest.raises(EncoderProcessError, match="no_such_argument"):
            ticket.result()
    finally:
        process.close()


def test_an_encoder_process_killed_fails_its_waiting_blocks():
    process = EncoderProcess()
    try:
        process.install(1, {"s": SPEC})
        os.kill(process._process.pid, signal.SIGKILL)
        ticket = process.submit(b"".join(_mixed_lines()), 1)
        with pytest.raises(EncoderProcessError, match="encoder process"):
            ticket.result()
    finally:
        process.close()


# --- through the target: the block lane and its encoder process against the SDK's own path ---

MIX_PROPERTIES = {
    "id": {"type": "integer"},
    "title": {"type": ["string", "null"]},
    "value": {"type": ["number", "null"]},
    "at": {"type": ["string", "null"], "format": "date-time"},
    "labels": {"type": ["array", "null"], "items": {"type": "integer"}},
    "extra": {"type": ["object", "null"]},
}
MIX_CHANGES = [
    {},
    {"title": "tab\tand \\ backslash", "extra": {"k\\u0000": "no nul: a backslash"}},
    {"value": 2**70, "at": "2024-03-01T10:00:00+05:30"},
    {"title": 5},  # does not fit: quarantined
    {"at": "2024-02-30T00:00:00Z"},  # no such day: quarantined
    {"labels": [1, "2"]},  # does not fit: quarantined
    {"title": None, "labels": None},
]


def _mix(singer) -> list[dict]:
    """Two streams interleaved, STATE throughout, and a SCHEMA change of one stream midway."""
    messages = [singer.schema("s", MIX_PROPERTIES), singer.schema("t", {"id": {"type": "integer"}})]
    for i in range(600):
        change = MIX_CHANGES[i % len(MIX_CHANGES)]
        record = {"id": i % 250, "title": f"deal {i}", "value": i / 4, "at": "2024-01-01T00:00:00Z"}
        if i >= 300:
            record["added"] = f"new {i}"
        messages.append(singer.record("s", {**record, **change}, time_extracted="2024-03-01T10:00:00Z"))
        if i % 9 == 0:
            messages.append(singer.record("t", {"id": i}))
        if i % 40 == 0:
            messages.append(singer.state({"bookmarks": {"s": {"n": i}}}))
        if i == 299:
            messages.append(singer.schema("s", {**MIX_PROPERTIES, "added": {"type": ["string", "null"]}}))
    return messages


def _contents(warehouse) -> dict:
    varying = ("_sdc_received_at", "_sdc_batched_at", "_sdc_sequence", "_sdc_sync_started_at")
    tables = {}
    for table in ("s", "t"):
        columns = sorted(c for c in warehouse.column_types(table) if c not in varying)
        tables[table] = warehouse.rows(table, columns, order="id")
    tables["rejects"] = warehouse.query(
        f'SELECT stream, record_key, field FROM "{warehouse.schema}"._pipeboard_rejects ORDER BY 1, 2, 3'
    )
    return tables


@pytest.mark.parametrize("processes", [0, 1, 2])
def test_block_lane_and_encoder_processes_leave_the_sdk_paths_tables_rejects_and_state(
    warehouse, singer, monkeypatch, processes
):
    messages = _mix(singer)
    settings = {"on_invalid_record": "quarantine", "batch_size_rows": 37, "staging_threshold": 20}
    reference = warehouse.load(messages, fast_lane=False, text_input=True, **settings)
    expected = _contents(warehouse)
    warehouse.query(f'DROP SCHEMA "{warehouse.schema}" CASCADE; SELECT 1')

    # Tiny blocks, encoder processes from the first byte: many blocks in flight across the SCHEMA change.
    monkeypatch.setattr(blocklane, "BLOCK_BYTES", 2048)
    monkeypatch.setattr(target_module, "ENCODER_START_BYTES", 0)
    run = warehouse.load(messages, encoder_processes=processes, **settings)

    assert run.block_lane is not None
    if processes:
        assert run.block_lane.encoded_elsewhere > 10
    else:
        assert run.block_lane.encoded_elsewhere == 0
    assert run.block_lane.encoded_here > 0
    assert run.block_lane.epoch >= 2  # the readers changed with the SCHEMA message midway
    assert reference.fast_lane_records == 0
    assert run.fast_lane_records > 400
    assert run.states == reference.states
    assert run.states[-1] == {"bookmarks": {"s": {"n": 560}}}
    assert _contents(warehouse) == expected
    # Three of the seven changes do not fit (quarantined, each with its record's key and field).
    assert len(expected["rejects"]) == sum(1 for i in range(600) if i % len(MIX_CHANGES) in (3, 4, 5))
    assert len(expected["s"]) > 200
    assert warehouse.rows("s", ["id", "added"], order="id")[-1] == (249, "new 499")  # i = 249, 499


def test_an_encoder_process_dying_fails_the_run_and_state_stays_behind_committed_rows(
    warehouse, singer, monkeypatch
):
    monkeypatch.setattr(blocklane, "BLOCK_BYTES", 1024)
    monkeypatch.setattr(target_module, "ENCODER_START_BYTES", 0)
    messages = [singer.schema("s", {"id": {"type": "integer"}, "title": {"type": "string"}})]
    for start in range(0, 3000, 100):
        messages.extend(singer.record("s", {"id": i, "title": f"t{i}"}) for i in range(start, start + 100))
        messages.append(singer.state({"done": start + 100}))

    class KillsItsEncoder(TargetPipeboardPostgres):
        def take_segment(self, stream: str, keys: list, rows: list) -> None:
            super().take_segment(stream, keys, rows)
            lane = self.block_lane_used
            if self.fast_lane_records >= 1000 and lane is not None and lane.workers:
                os.kill(lane.workers[0]._process.pid, signal.SIGKILL)

    target = KillsItsEncoder(config=warehouse.config(batch_size_rows=200, encoder_processes=1))
    out = io.StringIO()
    data = "".join(json.dumps(message) + "\n" for message in messages).encode()
    with (
        contextlib.redirect_stdout(out),
        pytest.raises(EncoderProcessError, match=r"encoder process ended \(exit code -9\)"),
    ):
        target.listen(io.BytesIO(data))
    states = [json.loads(line)["done"] for line in out.getvalue().splitlines()]
    committed = warehouse.rows("s", "id")
    assert 1000 <= len(committed) < 3000
    assert committed == [(i,) for i in range(len(committed))]  # whole batches, in order
    assert states
    assert states[-1] <= len(committed)  # never a STATE past the committed rows


def test_without_an_encoder_process_every_block_is_encoded_here(warehouse, singer, monkeypatch, caplog):
    monkeypatch.setattr(blocklane, "BLOCK_BYTES", 1024)
    monkeypatch.setattr(target_module, "ENCODER_START_BYTES", 0)
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")  # the process cannot start
    messages = [singer.schema("s", {"id": {"type": "integer"}, "title": {"type": "string"}})]
    messages += [singer.record("s", {"id": i, "title": f"t{i}"}) for i in range(500)]
    with caplog.at_level("WARNING"):
        run = warehouse.load(messages, encoder_processes=1)
    assert any("Could not start an encoder process" in message for message in caplog.messages)
    assert run.block_lane is not None
    assert run.block_lane.encoded_elsewhere == 0
    assert run.block_lane.encoded_here > 10
    assert warehouse.rows("s", ["id", "title"], order="id") == [(i, f"t{i}") for i in range(500)]


def test_a_slow_producers_small_blocks_are_encoded_here_not_sent(warehouse, singer, monkeypatch):
    monkeypatch.setattr(target_module, "ENCODER_START_BYTES", 0)
    messages = [singer.schema("s", {"id": {"type": "integer"}, "title": {"type": "string"}})]
    messages += [singer.record("s", {"id": i, "title": f"t{i}"}) for i in range(60)]
    bursts = [messages[start : start + 5] for start in range(0, len(messages), 5)]
    target = TargetPipeboardPostgres(config=warehouse.config(encoder_processes=1))
    read_end, write_end = os.pipe()
    stuck: list[str] = []

    def produce() -> None:  # a few lines at a time, as a tap waiting on its API would
        written = 0
        with os.fdopen(write_end, "wb") as out:
            for burst in bursts:
                out.write("".join(json.dumps(m) + "\n" for m in burst).encode())  # < PIPE_BUF: one write
                out.flush()
                written += sum(1 for m in burst if m["type"] == "RECORD")
                # The next burst only once the target has taken this one: each burst is a block of its own.
                deadline = time.monotonic() + 60  # a guard against hanging, not a timing assertion
                while target.fast_lane_records < written:
                    if time.monotonic() > deadline:
                        stuck.append(f"the target took {target.fast_lane_records} of {written} records")
                        return
                    time.sleep(0.001)

    producer = threading.Thread(target=produce)
    producer.start()
    with os.fdopen(read_end, "rb") as source, contextlib.redirect_stdout(io.StringIO()):
        target.listen(source)
    producer.join()
    assert not stuck
    lane = target.block_lane_used
    assert lane is not None
    assert lane.encoded_here == len(bursts)  # one block per burst, each too small to send
    assert lane.encoded_elsewhere == 0
    assert warehouse.rows("s", ["id", "title"], order="id") == [(i, f"t{i}") for i in range(60)]
