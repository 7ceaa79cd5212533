"""Bad input through every lane that turns a record into a row, and both load paths: nothing changed silently.

Each case is loaded the SDK's way (no fast lane), through the per-line fast lane (both reading line by line),
through the block lane encoding every block in this process, and through the block lane with an encoder
process; each of them once with multi-row INSERTs (batches below ``staging_threshold``) and once with staging
COPY. Every one of the eight loads must leave the same tables, rejects and STATE — the expected ones.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from target_pipeboard_postgres import blocklane
from target_pipeboard_postgres import target as target_module
from target_pipeboard_postgres.blocklane import BlockLane
from target_pipeboard_postgres.errors import SchemaEvolutionError, UnreadableInputError
from target_pipeboard_postgres.sinks import RecordRejectedError
from target_pipeboard_postgres.target import TargetPipeboardPostgres

# lane → target settings
LANES: dict[str, dict[str, Any]] = {
    "sdk": {},  # every line the SDK's way (no fast lane), read line by line
    "per-line": {},  # each RECORD line through the per-record fast lane, read line by line
    "block": {"encoder_processes": 0},  # the block lane, every block encoded in this process
    "encoder": {"encoder_processes": 1},  # the block lane, blocks encoded in an encoder process
}
# How a run fails on bad input under on_invalid_record: fail.
FAILURES = (RecordRejectedError, UnreadableInputError)
# load path → staging_threshold
LOAD_PATHS = {"insert": 1_000_000, "copy": 1}


@dataclass
class Run:
    states: list[dict]
    fast_lane_records: int
    block_lane: BlockLane | None


def as_bytes(messages: list[dict | bytes]) -> bytes:
    """Messages as input lines (bytes are lines already, kept byte for byte)."""
    return b"".join(m if isinstance(m, bytes) else json.dumps(m).encode() + b"\n" for m in messages)


def run_lane(warehouse, data: bytes, lane: str, **settings: Any) -> Run:
    """Run the target in-process on ``data`` through one lane (bytes in, as standard input gives them)."""
    target = TargetPipeboardPostgres(config=warehouse.config(**LANES[lane], **settings), validate_config=True)
    source: Any = io.BytesIO(data)
    if lane == "sdk":
        target.message_reader.fast_handler = None
    elif lane == "per-line":  # an iterable of lines, not a binary file: read line by line
        source = iter(data.splitlines(keepends=True))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        target.listen(source)
    states = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return Run(states, target.fast_lane_records, target.block_lane_used)


def _fresh(warehouse) -> None:
    warehouse.query(f'DROP SCHEMA IF EXISTS "{warehouse.schema}" CASCADE; SELECT 1')


def load_every_way(warehouse, monkeypatch, messages: list, read, **settings: Any) -> dict[str, Any]:
    """Load ``messages`` each way (fresh schema each time); ``read(warehouse, run)`` → what each left.

    Returns:
        ``"lane/path"`` → what ``read`` returned.
    """
    # Small blocks and encoder processes from the first byte: blocks really go to the encoder process.
    monkeypatch.setattr(blocklane, "BLOCK_BYTES", 2048)
    monkeypatch.setattr(target_module, "ENCODER_START_BYTES", 0)
    data = as_bytes(messages)
    found = {}
    for lane in LANES:
        for path, threshold in LOAD_PATHS.items():
            _fresh(warehouse)
            run = run_lane(warehouse, data, lane, staging_threshold=threshold, **settings)
            if lane == "encoder":
                assert run.block_lane is not None
                assert run.block_lane.encoded_elsewhere > 0
            if lane != "sdk":
                assert run.fast_lane_records > 0  # the filler records took the lane
            found[f"{lane}/{path}"] = read(warehouse, run)
    return found


def fail_every_way(warehouse, monkeypatch, messages: list, **settings: Any) -> dict[str, str]:
    """Load ``messages`` each way under ``on_invalid_record: fail``: each way's error text."""
    monkeypatch.setattr(blocklane, "BLOCK_BYTES", 2048)
    monkeypatch.setattr(target_module, "ENCODER_START_BYTES", 0)
    data = as_bytes(messages)
    found = {}
    for lane in LANES:
        for path, threshold in LOAD_PATHS.items():
            _fresh(warehouse)
            with pytest.raises(FAILURES) as caught:
                run_lane(warehouse, data, lane, staging_threshold=threshold, **settings)
            found[f"{lane}/{path}"] = str(caught.value)
    return found


def filler(singer, stream: str, start: int, count: int = 60) -> list[dict]:
    """Plain records the fast lanes take (enough to fill blocks that go to the encoder process)."""
    return [
        singer.record(stream, {"id": i, "note": f"filler record number {i}"})
        for i in range(start, start + count)
    ]


def rejects(warehouse) -> list[tuple]:
    """(stream, record key, field, error) of every quarantined record."""
    return warehouse.query(
        f'SELECT stream, record_key, field, error FROM "{warehouse.schema}"._pipeboard_rejects ORDER BY 2, 3'
    )


# --- 11. a date, date-time or time is accepted only when the whole value is one ---

WHEN = {
    "id": {"type": "integer"},
    "note": {"type": ["string", "null"]},
    "d": {"type": ["string", "null"], "format": "date"},
    "dt": {"type": ["string", "null"], "format": "date-time"},
    "t": {"type": ["string", "null"], "format": "time"},
}
# Odd but valid ISO 8601 / RFC 3339 forms, and what Postgres must hold (UTC; dates as dates).
WHEN_VALID = [
    ({"d": "2024-01-02"}, ("2024-01-02", None, None)),
    ({"d": "20240103"}, ("2024-01-03", None, None)),
    ({"d": "2024-01-04T23:30:00-05:00"}, ("2024-01-04", None, None)),  # a date-time: its own date
    ({"dt": "2024-01-05t10:00:00z"}, (None, "2024-01-05 10:00:00+00", None)),  # RFC 3339 allows t and z
    ({"dt": "2024-01-06 10:00:00+05:30"}, (None, "2024-01-06 04:30:00+00", None)),
    ({"dt": "20240107T100000Z"}, (None, "2024-01-07 10:00:00+00", None)),
    ({"dt": "2024-01-08"}, (None, "2024-01-08 00:00:00+00", None)),
    ({"t": "10:11:12"}, (None, None, "10:11:12")),
    ({"t": "10:11"}, (None, None, "10:11:00")),
    ({"t": "10:11:12.5"}, (None, None, "10:11:12.5")),
]
WHEN_GARBAGE = [
    {"d": "2024-01-01garbage!!"},
    {"d": "2024-01-01T10:00:00Zjunk"},
    {"d": "2024-01-01 "},
    {"dt": "2024-01-01garbage!!"},
    {"dt": "2024-01-01T10:00:00Z!!"},
    {"t": "10:00:00garbage"},
]


def _when_messages(singer) -> list[dict]:
    messages = [singer.schema("when", WHEN), *filler(singer, "when", 1000)]
    for i, (values, _) in enumerate(WHEN_VALID):
        messages.append(singer.record("when", {"id": i, **values}))
    for i, values in enumerate(WHEN_GARBAGE, start=100):
        messages.append(singer.record("when", {"id": i, **values}))
    messages += [*filler(singer, "when", 2000), singer.state({"done": True})]
    return messages


def _when_contents(warehouse, run) -> tuple:
    rows = warehouse.query(
        f'SELECT id, d::text, dt::text, t::text FROM "{warehouse.schema}".when WHERE id < 1000 ORDER BY id'
    )
    return rows, rejects(warehouse), run.states


def test_a_date_or_time_with_anything_after_it_is_rejected_on_every_lane(warehouse, singer, monkeypatch):
    found = load_every_way(
        warehouse, monkeypatch, _when_messages(singer), _when_contents, on_invalid_record="quarantine"
    )
    expected_rows = [(i, *stored) for i, (_, stored) in enumerate(WHEN_VALID)]
    expected_rejects = sorted(
        ("when", json.dumps({"id": i}, separators=(",", ":")), *next(iter(values.items())))
        for i, values in enumerate(WHEN_GARBAGE, start=100)
    )
    for way, (rows, rejected, states) in found.items():
        assert rows == expected_rows, way
        assert [(stream, key, field) for stream, key, field, _ in rejected] == [
            r[:3] for r in expected_rejects
        ]
        for (*_, error), (*_, value) in zip(rejected, expected_rejects, strict=True):
            assert repr(value) in error, (way, error)
        assert states == [{"done": True}], way


def test_a_date_with_anything_after_it_fails_the_run_naming_stream_key_and_field(
    warehouse, singer, monkeypatch
):
    messages = [
        singer.schema("when", WHEN),
        *filler(singer, "when", 1000),
        singer.record("when", {"id": 7, "d": "2024-01-01garbage!!"}),
        *filler(singer, "when", 2000),
    ]
    for way, error in fail_every_way(warehouse, monkeypatch, messages).items():
        assert "'when'" in error, (way, error)
        assert '{"id":7}' in error, (way, error)
        assert "'d'" in error, (way, error)
        assert "2024-01-01garbage!!" in error, (way, error)


# --- 3. NUL (\u0000), which PostgreSQL's text and jsonb cannot store: rejected, never stripped ---

NUL_SCHEMA = {
    "id": {"type": "integer"},
    "note": {"type": ["string", "null"]},
    "doc": {"type": ["object", "null"]},
    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
    "any": {},
}
# id → (record values, field named, where the NUL is)
NUL_RECORDS = {
    1: ({"doc": {"a\u0000": 1, "a": 2}}, "doc", "the key 'a\\x00'"),
    2: ({"note": "x\u0000y"}, "note", "the text"),
    3: ({"doc": {"k": [{"deep\u0000": 1}]}}, "doc", "the key 'deep\\x00' at k[0]"),
    4: ({"doc": {"k": ["v\u0000"]}}, "doc", "the text at k[0]"),
    5: ({"tags": ["ok", "a\u0000"]}, "tags", "the text at [1]"),
    6: ({"any": {"z": "z\u0000"}}, "any", "the text at z"),
    7: ({"note": "tab\there\u0000", "doc": {"b\u0000": None}}, "note", "the text"),
}
# A backslash before "u0000" is text like any other: stored as it is.
NUL_LOOKALIKES = {
    20: {"note": "back\\u0000slash", "doc": {"lit\\u0000": "\\u0000"}, "tags": ["\\u0000"], "any": "\\u0000"},
}


def _nul_messages(singer) -> list[dict]:
    messages = [singer.schema("docs", NUL_SCHEMA), *filler(singer, "docs", 1000)]
    for i, (values, _, _) in NUL_RECORDS.items():
        messages.append(singer.record("docs", {"id": i, **values}))
        messages.append(singer.state({"after": i}))
    for i, values in NUL_LOOKALIKES.items():
        messages.append(singer.record("docs", {"id": i, **values}))
    messages += [*filler(singer, "docs", 2000), singer.state({"done": True})]
    return messages


def _nul_contents(warehouse, run) -> tuple:
    rows = warehouse.query(
        f'SELECT id, note, doc, tags, "any" FROM "{warehouse.schema}".docs WHERE id < 1000 ORDER BY id'
    )
    quarantined = warehouse.query(
        f'SELECT record_key, field, error, record FROM "{warehouse.schema}"._pipeboard_rejects ORDER BY id'
    )
    return rows, quarantined, run.states[-1]


def test_nul_anywhere_in_a_value_quarantines_the_record_on_every_lane(warehouse, singer, monkeypatch):
    found = load_every_way(
        warehouse, monkeypatch, _nul_messages(singer), _nul_contents, on_invalid_record="quarantine"
    )
    lookalike = NUL_LOOKALIKES[20]
    for way, (rows, quarantined, last_state) in found.items():
        assert rows == [(20, lookalike["note"], lookalike["doc"], lookalike["tags"], lookalike["any"])], way
        assert [(key, field) for key, field, _, _ in quarantined] == [
            (f'{{"id":{i}}}', field) for i, (_, field, _) in NUL_RECORDS.items()
        ], way
        for (_, _, error, record), (i, (values, _, where)) in zip(
            quarantined, NUL_RECORDS.items(), strict=True
        ):
            assert error.startswith(f"{where} contains NUL"), (way, error)
            # The quarantined copy shows each NUL as the text \u0000 (jsonb cannot hold the character).
            shown = json.loads(json.dumps({"id": i, **values}).replace("\\u0000", "\\\\u0000"))
            assert {key: record[key] for key in shown} == shown, way
        assert last_state == {"done": True}, way


def test_nul_in_a_property_name_fails_the_run_naming_it(warehouse, singer, monkeypatch):
    monkeypatch.setattr(target_module, "ENCODER_START_BYTES", 0)
    properties = {**NUL_SCHEMA, "a\u0000": {"type": "integer"}, "a": {"type": "integer"}}
    data = as_bytes(
        [singer.schema("docs", properties), singer.record("docs", {"id": 1, "a\u0000": 1, "a": 2})]
    )
    for lane in LANES:
        _fresh(warehouse)
        with pytest.raises(SchemaEvolutionError, match=r"Stream 'docs': the name 'a\\x00' contains NUL"):
            run_lane(warehouse, data, lane)


def test_nul_in_a_nested_key_fails_the_run_naming_stream_key_and_field(warehouse, singer, monkeypatch):
    messages = [
        singer.schema("docs", NUL_SCHEMA),
        *filler(singer, "docs", 1000),
        singer.record("docs", {"id": 3, "doc": {"k": [{"deep\u0000": 1}]}}),
        *filler(singer, "docs", 2000),
    ]
    for way, error in fail_every_way(warehouse, monkeypatch, messages).items():
        assert "Stream 'docs'" in error, (way, error)
        assert '{"id":3}' in error, (way, error)
        assert "field 'doc'" in error, (way, error)
        assert "the key 'deep\\x00' at k[0] contains NUL" in error, (way, error)


# --- 10. lines that are not messages the target can read: quarantined raw, or named by line and byte ---

LINE_SCHEMA = {
    "id": {"type": "integer"},
    "note": {"type": ["string", "null"]},
    "doc": {"type": ["object", "null"]},
}
DEEP = b"[" * 5000 + b"]" * 5000


def _record_line(record: bytes) -> bytes:
    return b'{"type": "RECORD", "stream": "lines", "record": ' + record + b"}\n"


# kind → (line, stream it names, record key, field, words of the error)
BAD_LINES: dict[str, tuple[bytes, str, str | None, str | None, str]] = {
    "invalid UTF-8": (
        _record_line(b'{"id": 1, "note": "a\xffb"}'),
        "lines",
        None,
        None,
        "is not valid UTF-8",
    ),
    "raw surrogate": (
        _record_line(b'{"id": 2, "note": "a\xed\xa0\x80b"}'),
        "lines",
        None,
        None,
        "is not valid UTF-8",
    ),
    "invalid UTF-8 in a property not in the schema": (
        _record_line(b'{"id": 7, "other": "a\xc3("}'),
        "lines",
        None,
        None,
        "is not valid UTF-8",
    ),
    "invalid UTF-8 beside the record": (
        b'{"type": "RECORD", "stream": "lines", "note": "\xe2\x82", "record": {"id": 9}}\n',
        "lines",
        None,
        None,
        "is not valid UTF-8",
    ),
    "lone surrogate in a property not in the schema": (
        _record_line(b'{"id": 8, "other": ["\\udfff"]}'),
        "lines",
        '{"id":8}',
        "other",
        "the text at [0] holds a lone surrogate (\\udfff)",
    ),
    "lone surrogate escape": (
        _record_line(b'{"id": 3, "note": "a\\ud800b"}'),
        "lines",
        '{"id":3}',
        "note",
        "the text holds a lone surrogate (\\ud800)",
    ),
    "lone surrogate in a nested key": (
        _record_line(b'{"id": 4, "doc": {"ok": {"k\\udc00": 1}}}'),
        "lines",
        '{"id":4}',
        "doc",
        "the key 'k\\udc00' at ok holds a lone surrogate (\\udc00)",
    ),
    "5,000-deep array": (
        _record_line(b'{"id": 6, "doc": {"a": ' + DEEP + b"}}"),
        "lines",
        None,
        None,
        "nested too deeply",
    ),
    "not JSON": (b"Traceback (most recent call last): oops\n", "", None, None, "is not JSON"),
}


def _lines_input(singer) -> tuple[bytes, dict[str, int]]:
    """The bad lines among good ones, STATE, a surrogate pair (an emoji: fine) and blank lines."""
    messages: list = [singer.schema("lines", LINE_SCHEMA), *filler(singer, "lines", 1000)]
    for i, (line, *_) in enumerate(BAD_LINES.values()):
        messages += [line, singer.state({"after": i})]
    messages += [
        _record_line(b'{"id": 5, "note": "\\ud83d\\ude00 pair"}'),
        b"\n",
        b"   \r\n",
        *filler(singer, "lines", 2000),
        singer.state({"done": True}),
    ]
    data = as_bytes(messages)
    numbers = {
        kind: data.split(b"\n").index(line.rstrip(b"\n")) + 1 for kind, (line, *_) in BAD_LINES.items()
    }
    return data, numbers


def _lines_contents(warehouse, run) -> tuple:
    rows = warehouse.query(f'SELECT id, note FROM "{warehouse.schema}".lines WHERE id < 1000 ORDER BY id')
    quarantined = warehouse.query(
        f"SELECT stream, table_name, record_key, field, error, line_number, raw_line, record "
        f'FROM "{warehouse.schema}"._pipeboard_rejects ORDER BY line_number'
    )
    count = warehouse.query(f'SELECT count(*) FROM "{warehouse.schema}".lines')[0][0]
    return rows, quarantined, count, run.states[-1]


def test_unreadable_lines_are_quarantined_raw_with_their_line_and_the_rest_loads(
    warehouse, singer, monkeypatch
):
    data, numbers = _lines_input(singer)
    monkeypatch.setattr(blocklane, "BLOCK_BYTES", 2048)
    monkeypatch.setattr(target_module, "ENCODER_START_BYTES", 0)
    found = {}
    for lane in LANES:
        for path, threshold in LOAD_PATHS.items():
            _fresh(warehouse)
            run = run_lane(warehouse, data, lane, staging_threshold=threshold, on_invalid_record="quarantine")
            found[f"{lane}/{path}"] = _lines_contents(warehouse, run)
    for way, (rows, quarantined, count, last_state) in found.items():
        assert rows == [(5, "\U0001f600 pair")], way
        assert count == 1 + 2 * 60, way  # the emoji record and every filler: blank lines are skipped
        assert last_state == {"done": True}, way
        assert len(quarantined) == len(BAD_LINES), (way, quarantined)
        for kind, reject in zip(BAD_LINES, quarantined, strict=True):
            line, stream, key, field, words = BAD_LINES[kind]
            assert reject[:4] == (stream, "lines" if stream else "", key, field), (way, kind, reject[:4])
            assert words in reject[4], (way, kind, reject[4])
            assert f"input line {numbers[kind]} " in reject[4], (way, kind, reject[4])
            assert reject[5] == numbers[kind], (way, kind)
            assert bytes(reject[6]) == line.rstrip(b"\n"), (way, kind)  # the line, raw
        # A record that is JSON keeps its key and values in the quarantine (the surrogate as its escape).
        assert quarantined[5][7] == {"id": 3, "note": "a\\ud800b"}, way


@pytest.mark.parametrize("kind", list(BAD_LINES))
def test_an_unreadable_line_fails_the_run_naming_stream_line_and_byte(warehouse, singer, monkeypatch, kind):
    line, stream, key, field, words = BAD_LINES[kind]
    head = as_bytes([singer.schema("lines", LINE_SCHEMA), *filler(singer, "lines", 1000)])
    messages = [head, line, *filler(singer, "lines", 2000)]
    number = head.count(b"\n") + 1
    # Where in the line the problem is (none for the depth).
    starts = {
        "invalid UTF-8": b"\xff",
        "invalid UTF-8 in a property not in the schema": b"\xc3",
        "invalid UTF-8 beside the record": b"\xe2",
        "lone surrogate in a property not in the schema": b"\\udfff",
        "raw surrogate": b"\xed",
        "lone surrogate escape": b"\\ud800",
        "lone surrogate in a nested key": b"\\udc00",
        "not JSON": b"T",
    }
    position = line.index(starts[kind]) if kind in starts else None
    for way, error in fail_every_way(warehouse, monkeypatch, messages).items():
        assert error.startswith(f"Stream {stream!r}: " if stream else "input line"), (way, error)
        assert f"input line {number} " in error, (way, error)
        if position is not None:
            assert f"(byte {len(head) + position} of the input)" in error, (way, error)
        assert words in error, (way, error)
        if key is not None:
            assert f"record with key {key}" in error, (way, error)
            assert f"field {field!r}" in error, (way, error)
        assert "on_invalid_record: quarantine" in error, (way, error)


def test_blank_lines_are_skipped_under_fail_too(warehouse, singer, monkeypatch):
    messages = [singer.schema("lines", LINE_SCHEMA), b"\n", *filler(singer, "lines", 1000), b" \t\r\n", b"\n"]
    messages += [*filler(singer, "lines", 2000), b"\n", singer.state({"done": True})]

    def read(warehouse, run) -> tuple:
        return warehouse.query(f'SELECT count(*) FROM "{warehouse.schema}".lines')[0][0], run.states

    for way, (count, states) in load_every_way(warehouse, monkeypatch, messages, read).items():
        assert (count, states) == (120, [{"done": True}]), way


def test_a_rejects_table_made_by_an_earlier_version_gets_the_line_columns(warehouse, singer):
    schema = warehouse.schema
    warehouse.query(
        f'CREATE SCHEMA "{schema}"; CREATE TABLE "{schema}"._pipeboard_rejects (id bigserial PRIMARY KEY, '
        "stream text NOT NULL, table_name text NOT NULL, record_key text, field text, error text NOT NULL, "
        "record jsonb, rejected_at timestamptz NOT NULL DEFAULT now()); SELECT 1"
    )
    data = as_bytes([singer.schema("lines", LINE_SCHEMA), b"not a message\n", *filler(singer, "lines", 0, 3)])
    run_lane(warehouse, data, "block", on_invalid_record="quarantine")
    assert warehouse.query(f'SELECT line_number, raw_line::text FROM "{schema}"._pipeboard_rejects') == [
        (2, "\\x6e6f742061206d657373616765")
    ]


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (
            _record_line(b'{"id": 1, "doc": {"a\\u0000": 1, "a": 2}}'),
            "Stream 'lines': record with key {\"id\":1} does not fit its schema at field 'doc': the key "
            "'a\\x00' contains NUL",
        ),
        (_record_line(b'{"id": 1, "note": "\xff"}'), "Stream 'lines': input line 2 (byte "),
    ],
    ids=["NUL", "invalid UTF-8"],
)
def test_a_run_failing_on_bad_input_says_so_in_one_line(warehouse, singer, tmp_path, bad, expected):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(warehouse.config()))
    data = as_bytes([singer.schema("lines", LINE_SCHEMA), bad, *filler(singer, "lines", 0, 3)])
    result = subprocess.run(
        [str(Path(sys.executable).parent / "target-pipeboard-postgres"), "--config", str(config)],
        input=data,
        capture_output=True,
        timeout=120,
        check=False,
    )
    stderr = result.stderr.decode()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert [line for line in lines if "| ERROR" in line] == [lines[-1]], stderr
    assert expected in lines[-1], lines[-1]
    assert result.stdout == b""  # no STATE: nothing was committed past the bad line
