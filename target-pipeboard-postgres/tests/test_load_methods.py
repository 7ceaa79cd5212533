"""Load methods, quarantine, idempotent reloads, deletes and ACTIVATE_VERSION."""

from __future__ import annotations

import pytest

SCHEMA = {"id": {"type": "integer"}, "name": {"type": "string"}, "amount": {"type": "integer"}}


def batch(singer, records: list[dict], stream: str = "s") -> list[dict]:
    return [singer.schema(stream, SCHEMA), *(singer.record(stream, record) for record in records)]


def test_quarantine_keeps_bad_records_with_their_error_and_loads_the_rest(warehouse, singer):
    messages = batch(
        singer,
        [
            {"id": 1, "name": "ok", "amount": 1},
            {"id": 2, "name": "bad", "amount": "lots"},
            {"name": "no key", "amount": 3},
            {"id": 4, "name": "ok too", "amount": 4},
        ],
    )
    warehouse.load(messages, on_invalid_record="quarantine")
    assert warehouse.rows("s", ["id", "name", "amount"]) == [(1, "ok", 1), (4, "ok too", 4)]
    rejects = warehouse.query(
        "SELECT stream, record_key, field, error, record->>'name' "
        f'FROM "{warehouse.schema}"._pipeboard_rejects '
        "ORDER BY id"
    )
    assert rejects[0][:3] == ("s", '{"id":2}', "amount")
    assert "'lots' is not of type 'integer'" in rejects[0][3]
    assert rejects[0][4] == "bad"
    assert rejects[1][2] == "id"
    assert rejects[1][4] == "no key"
    assert len(rejects) == 2
    logged = warehouse.query(
        f'SELECT sum(rows_inserted), sum(rows_rejected) FROM "{warehouse.schema}"._pipeboard_loads'
    )
    assert logged == [(2, 2)]


def test_fail_names_stream_key_and_field(warehouse, singer):
    from target_pipeboard_postgres.sinks import RecordRejectedError

    with pytest.raises(
        RecordRejectedError, match=r"Stream 's': record with key \{\"id\":2\}.*field 'amount'"
    ):
        warehouse.load(
            batch(singer, [{"id": 1, "name": "a", "amount": 1}, {"id": 2, "name": "b", "amount": "x"}])
        )


def test_unparseable_timestamp_is_rejected_naming_the_field(warehouse, singer):
    messages = [
        singer.schema("t", {"id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}}),
        singer.record("t", {"id": 1, "at": "2024-01-01T00:00:00Z"}),
        singer.record("t", {"id": 2, "at": "the day after tomorrow"}),
    ]
    warehouse.load(messages, on_invalid_record="quarantine")
    assert [row[0] for row in warehouse.rows("t", ["id"])] == [1]
    assert warehouse.query(f'SELECT field FROM "{warehouse.schema}"._pipeboard_rejects') == [("at",)]


@pytest.mark.parametrize("staging_threshold", [1, 1000], ids=["staging-copy", "multi-row-insert"])
def test_same_input_twice_leaves_identical_tables(warehouse, singer, staging_threshold):
    records = [{"id": i % 7, "name": f"n{i}", "amount": i} for i in range(30)]
    settings = {"staging_threshold": staging_threshold, "add_record_metadata": False, "batch_size_rows": 8}
    warehouse.load(batch(singer, records), **settings)
    first = warehouse.rows("s")
    warehouse.load(batch(singer, records), **settings)
    assert warehouse.rows("s") == first
    last = {i % 7: i for i in range(30)}
    assert first == [(key, f"n{last[key]}", last[key]) for key in range(7)]


def test_append_only_keeps_every_record(warehouse, singer):
    records = [{"id": 1, "name": "a", "amount": 1}, {"id": 1, "name": "b", "amount": 2}]
    warehouse.load(batch(singer, records), load_method="append-only")
    warehouse.load(batch(singer, records), load_method="append-only")
    assert warehouse.rows("s", ["id", "name"], order="name") == [(1, "a"), (1, "a"), (1, "b"), (1, "b")]


def test_overwrite_replaces_the_table_contents(warehouse, singer):
    warehouse.load(batch(singer, [{"id": i, "name": "old", "amount": i} for i in range(5)]))
    warehouse.load(
        batch(singer, [{"id": i, "name": "new", "amount": i} for i in range(3, 9)]),
        load_method="overwrite",
        batch_size_rows=2,
    )
    assert warehouse.rows("s", ["id", "name"]) == [(i, "new") for i in range(3, 9)]


def test_sdc_deleted_at_soft_deletes_or_hard_deletes(warehouse, singer):
    records = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    deleted = {"id": 2, "name": "b", "_sdc_deleted_at": "2024-01-01T00:00:00Z"}
    warehouse.load(batch(singer, [*records, deleted]))
    assert [
        row[0]
        for row in warehouse.query(f'SELECT id FROM "{warehouse.schema}".s WHERE _sdc_deleted_at IS NOT NULL')
    ] == [2]
    warehouse.load(batch(singer, [deleted]), hard_delete=True)
    assert warehouse.rows("s", ["id"]) == [(1,)]


@pytest.mark.parametrize("staging_threshold", [1, 1000], ids=["staging-copy", "multi-row-insert"])
def test_hard_delete_after_the_first_batch_removes_exactly_the_deleted_keys(
    warehouse, singer, staging_threshold
):
    at = "2024-01-01T00:00:00Z"
    warehouse.load(batch(singer, [{"id": i, "name": "a"} for i in range(10)]))
    # A row soft-deleted by an earlier run: the first hard-delete batch of a run purges it.
    warehouse.load(batch(singer, [{"id": 9, "name": "a", "_sdc_deleted_at": at}]))
    messages = batch(singer, [{"id": 20 + i, "name": "b"} for i in range(4)])  # first batch: purge
    messages += [
        singer.record("s", {"id": 3, "name": "gone", "_sdc_deleted_at": at}),
        singer.record("s", {"id": 4, "name": "kept"}),
        singer.record("s", {"id": 21, "name": "gone too", "_sdc_deleted_at": at}),
        singer.record("s", {"id": 22, "name": "b2"}),
    ]
    warehouse.load(messages, hard_delete=True, batch_size_rows=4, staging_threshold=staging_threshold)
    assert warehouse.rows("s", ["id", "name"]) == [
        *[(i, "a") for i in (0, 1, 2)],
        (4, "kept"),
        *[(i, "a") for i in (5, 6, 7, 8)],
        (20, "b"),
        (22, "b2"),
        (23, "b"),
    ]
    soft = f'SELECT count(*) FROM "{warehouse.schema}".s WHERE _sdc_deleted_at IS NOT NULL'
    assert warehouse.query(soft) == [(0,)]


def test_activate_version_retires_rows_of_older_versions(warehouse, singer):
    def version(v: int, ids: range) -> list[dict]:
        return [
            singer.schema("full", SCHEMA),
            {"type": "ACTIVATE_VERSION", "stream": "full", "version": v},
            *(singer.record("full", {"id": i, "name": f"v{v}"}, version=v) for i in ids),
            {"type": "ACTIVATE_VERSION", "stream": "full", "version": v},
        ]

    warehouse.load(version(1, range(5)))
    warehouse.load(version(2, range(3)))
    assert warehouse.query(
        f'SELECT id, name, _sdc_deleted_at IS NOT NULL FROM "{warehouse.schema}".full ORDER BY id'
    ) == [(0, "v2", False), (1, "v2", False), (2, "v2", False), (3, "v1", True), (4, "v1", True)]
    warehouse.load(version(3, range(2)), hard_delete=True)
    assert warehouse.rows("full", ["id", "name"]) == [(0, "v3"), (1, "v3")]


def test_bad_settings_raise_naming_the_setting(warehouse):
    from singer_sdk.exceptions import ConfigValidationError
    from target_pipeboard_postgres.target import TargetPipeboardPostgres

    with pytest.raises(ConfigValidationError):
        TargetPipeboardPostgres(config=warehouse.config(load_method="merge"), validate_config=True)
    with pytest.raises(ConfigValidationError, match="database_url"):
        TargetPipeboardPostgres(config={"default_target_schema": "x"}, validate_config=True)
