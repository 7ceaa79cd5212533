"""Bad input through every lane that turns a record into a row, and both load paths: nothing changed silently.

Each case is loaded the SDK's way (text input, no fast lane), through the per-line fast lane (text input),
through the block lane encoding every block in this process, and through the block lane with an encoder
process; each of them once with multi-row INSERTs (batches below ``staging_threshold``) and once with staging
COPY. Every one of the eight loads must leave the same tables, rejects and STATE — the expected ones.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from target_pipeboard_postgres import blocklane
from target_pipeboard_postgres import target as target_module
from target_pipeboard_postgres.sinks import RecordRejectedError

# lane → how Warehouse.load runs it
LANES: dict[str, dict[str, Any]] = {
    "sdk": {"fast_lane": False, "text_input": True},
    "per-line": {"text_input": True},
    "block": {"encoder_processes": 0},
    "encoder": {"encoder_processes": 1},
}
# How a run fails on bad input under on_invalid_record: fail.
FAILURES = (RecordRejectedError,)
# load path → staging_threshold
LOAD_PATHS = {"insert": 1_000_000, "copy": 1}


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
    found = {}
    for lane, how in LANES.items():
        for path, threshold in LOAD_PATHS.items():
            _fresh(warehouse)
            run = warehouse.load(messages, staging_threshold=threshold, **how, **settings)
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
    found = {}
    for lane, how in LANES.items():
        for path, threshold in LOAD_PATHS.items():
            _fresh(warehouse)
            with pytest.raises(FAILURES) as caught:
                warehouse.load(messages, staging_threshold=threshold, **how, **settings)
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
