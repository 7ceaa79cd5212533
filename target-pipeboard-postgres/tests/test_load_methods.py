"""Load methods, quarantine, idempotent reloads, deletes and ACTIVATE_VERSION."""

from __future__ import annotations

import contextlib
import io
import json
import logging

import psycopg2
import pytest
from target_pipeboard_postgres.target import TargetPipeboardPostgres

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


def test_activate_version_says_how_many_rows_it_marked_deleted(warehouse, singer, caplog):
    def version(v: int, ids: range) -> list[dict]:
        records = (singer.record("gone", {"id": i, "name": f"v{v}"}, version=v) for i in ids)
        return [
            singer.schema("gone", SCHEMA),
            *records,
            {"type": "ACTIVATE_VERSION", "stream": "gone", "version": v},
        ]

    warehouse.load(version(1, range(5)))
    with caplog.at_level(logging.INFO):
        warehouse.load(version(2, range(3)))
    assert "gone: 2 rows no longer in the source, marked deleted (ACTIVATE_VERSION 2)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        warehouse.load(version(3, range(3)))
    assert "gone: 0 rows no longer in the source, marked deleted (ACTIVATE_VERSION 3)" in caplog.text


def test_bad_settings_raise_naming_the_setting(warehouse):
    from singer_sdk.exceptions import ConfigValidationError
    from target_pipeboard_postgres.target import TargetPipeboardPostgres

    with pytest.raises(ConfigValidationError):
        TargetPipeboardPostgres(config=warehouse.config(load_method="merge"), validate_config=True)
    with pytest.raises(ConfigValidationError, match="database_url"):
        TargetPipeboardPostgres(config={"default_target_schema": "x"}, validate_config=True)


def _load_log(warehouse) -> list[tuple]:
    return warehouse.query(
        f'SELECT rows_inserted, rows_updated FROM "{warehouse.schema}"._pipeboard_loads ORDER BY finished_at'
    )


def test_rows_new_to_the_table_go_straight_in_until_a_key_is_already_there(warehouse, singer, caplog):
    """COPY into the table itself while keys are new; a key already there undoes that batch's COPY only."""
    schema = singer.schema("s", {"id": {"type": "integer"}, "title": {"type": "string"}})
    first = [schema, *(singer.record("s", {"id": i, "title": f"a{i}"}) for i in range(60))]
    # The third batch repeats keys of the first: its straight COPY is undone and it merges; so does the rest.
    first += [singer.record("s", {"id": i, "title": f"b{i}"}) for i in range(10, 40)]
    first += [singer.record("s", {"id": i, "title": f"c{i}"}) for i in range(55, 75)]
    settings = {"batch_size_rows": 30, "staging_threshold": 5, "add_record_metadata": False}
    with caplog.at_level("INFO"):
        warehouse.load(first, **settings)
    assert _load_log(warehouse) == [(30, 0), (30, 0), (0, 30), (15, 5)]
    assert sum("already holds keys of this batch" in message for message in caplog.messages) == 1
    expected = {i: f"a{i}" for i in range(60)}
    expected.update({i: f"b{i}" for i in range(10, 40)})
    expected.update({i: f"c{i}" for i in range(55, 75)})
    assert dict(warehouse.rows("s", ["id", "title"])) == expected
    assert len(warehouse.rows("s", "id")) == 75

    # A table holding rows at a run's start is merged into from the start (no COPY that could collide).
    caplog.clear()
    again = [schema, *(singer.record("s", {"id": i, "title": f"d{i}"}) for i in range(50, 80))]
    with caplog.at_level("INFO"):
        warehouse.load(again, **settings)
    assert _load_log(warehouse)[-1] == (5, 25)
    assert not any("already holds keys" in message for message in caplog.messages)
    assert dict(warehouse.rows("s", ["id", "title"]))[79] == "d79"


def test_a_key_another_loader_wrote_between_batches_is_merged_not_duplicated(warehouse, singer, database_url):
    schema = singer.schema("s", {"id": {"type": "integer"}, "title": {"type": "string"}})
    messages = [schema, *(singer.record("s", {"id": i, "title": f"ours {i}"}) for i in range(40))]
    settings = warehouse.config(batch_size_rows=20, staging_threshold=5, add_record_metadata=False)

    class AnotherLoaderBetweenBatches(TargetPipeboardPostgres):
        def drain_one(self, sink) -> None:
            super().drain_one(sink)
            if self._loader is not None:
                self._loader.wait()  # the first batch is committed: now the other loader writes id 30
                with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
                    table = f'"{warehouse.schema}".s'
                    cur.execute(
                        f"INSERT INTO {table} (id, title) VALUES (30, 'theirs') ON CONFLICT DO NOTHING"
                    )
                conn.close()

    target = AnotherLoaderBetweenBatches(config=settings)
    with contextlib.redirect_stdout(io.StringIO()):
        target.listen(io.BytesIO("".join(json.dumps(m) + "\n" for m in messages).encode()))
    assert warehouse.rows("s", ["id", "title"], order="id") == [(i, f"ours {i}") for i in range(40)]
    assert _load_log(warehouse) == [(20, 0), (19, 1)]
