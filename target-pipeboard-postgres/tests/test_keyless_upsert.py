"""A stream without key properties under ``upsert``: said loudly once per stream, or refused by a setting."""

from __future__ import annotations

import pytest
from target_pipeboard_postgres.errors import KeylessUpsertError

SCHEMA = {"id": {"type": "integer"}, "title": {"type": "string"}}


def keyless(singer, stream: str) -> list[dict]:
    return [
        singer.schema(stream, SCHEMA, key=[]),
        singer.record(stream, {"id": 1, "title": "same"}),
        singer.record(stream, {"id": 2, "title": "other"}),
    ]


def test_the_same_keyless_records_loaded_three_times_warn_once_per_stream_each_run(warehouse, singer, caplog):
    for run in range(3):
        caplog.clear()
        with caplog.at_level("WARNING"):
            warehouse.load([*keyless(singer, "a"), *keyless(singer, "a"), *keyless(singer, "b")])
        warnings = [
            record.getMessage() for record in caplog.records if "has no key properties" in record.getMessage()
        ]
        assert len(warnings) == 2, warnings  # one per stream, though stream a's SCHEMA came twice
        assert warnings[0].startswith("Stream 'a' has no key properties, so under load_method upsert")
        assert "loading a record again adds another row" in warnings[0]
        assert "on_keyless_upsert=fail" in warnings[0]
        assert warehouse.rows("a", ["id"], order="id") == [(1,)] * (2 * (run + 1)) + [(2,)] * (2 * (run + 1))


def test_append_only_and_keyed_streams_are_not_warned_about(warehouse, singer, caplog):
    with caplog.at_level("WARNING"):
        warehouse.load(keyless(singer, "a"), load_method="append-only")
        warehouse.load([singer.schema("k", SCHEMA), singer.record("k", {"id": 1, "title": "x"})])
    assert not [record for record in caplog.records if "no key properties" in record.getMessage()]


def test_on_keyless_upsert_fail_refuses_the_stream_before_loading_anything(warehouse, singer):
    with pytest.raises(
        KeylessUpsertError, match=r"^Stream 'a' has no key properties.*\(on_keyless_upsert is fail\)$"
    ):
        warehouse.load(keyless(singer, "a"), on_keyless_upsert="fail")
    assert "a" not in warehouse.tables()


def test_on_keyless_upsert_fail_is_one_line_and_exit_code_1_from_the_command_line(
    warehouse, singer, spawn_target
):
    target = spawn_target(warehouse.config(on_keyless_upsert="fail"))
    target.send(keyless(singer, "a"))
    target.close_input()
    assert target.wait(timeout=120) == 1
    assert "Traceback" not in target.stderr
    assert target.log[-1].endswith("(on_keyless_upsert is fail)")
