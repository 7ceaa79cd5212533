"""Schema evolution across runs: types widen in place, new properties add columns, nothing is lost."""

from __future__ import annotations

import datetime
import decimal

import pytest
from target_pipeboard_postgres.connector import SchemaEvolutionError


def test_integer_then_number_then_string_keeps_every_value(warehouse, singer):
    warehouse.load(
        [
            singer.schema("s", {"id": {"type": "integer"}, "v": {"type": "integer"}}),
            singer.record("s", {"id": 1, "v": 42}),
        ]
    )
    assert warehouse.column_types("s")["v"] == "bigint"
    warehouse.load(
        [
            singer.schema("s", {"id": {"type": "integer"}, "v": {"type": "number"}}),
            singer.record("s", {"id": 2, "v": 2.5}),
        ]
    )
    assert warehouse.column_types("s")["v"] == "numeric"
    assert warehouse.rows("s", ["id", "v"]) == [(1, decimal.Decimal(42)), (2, decimal.Decimal("2.5"))]
    warehouse.load(
        [
            singer.schema("s", {"id": {"type": "integer"}, "v": {"type": "string"}}),
            singer.record("s", {"id": 3, "v": "forty"}),
        ]
    )
    assert warehouse.column_types("s")["v"] == "text"
    assert warehouse.rows("s", ["id", "v"]) == [(1, "42"), (2, "2.5"), (3, "forty")]
    # an older, narrower schema later does not narrow the column
    warehouse.load(
        [
            singer.schema("s", {"id": {"type": "integer"}, "v": {"type": "integer"}}),
            singer.record("s", {"id": 4, "v": 7}),
        ]
    )
    assert warehouse.column_types("s")["v"] == "text"
    assert warehouse.rows("s", ["id", "v"]) == [(1, "42"), (2, "2.5"), (3, "forty"), (4, "7")]


def test_type_change_within_one_run_loads_both_batches(warehouse, singer):
    warehouse.load(
        [
            singer.schema("s", {"id": {"type": "integer"}, "v": {"type": "integer"}}),
            singer.record("s", {"id": 1, "v": 1}),
            singer.schema("s", {"id": {"type": "integer"}, "v": {"type": "object"}}),
            singer.record("s", {"id": 2, "v": {"a": 1}}),
        ]
    )
    assert warehouse.column_types("s")["v"] == "jsonb"
    assert warehouse.rows("s", ["id", "v"]) == [(1, 1), (2, {"a": 1})]


def test_date_widens_to_timestamptz(warehouse, singer):
    warehouse.load(
        [
            singer.schema("s", {"id": {"type": "integer"}, "d": {"type": "string", "format": "date"}}),
            singer.record("s", {"id": 1, "d": "2024-02-03"}),
        ]
    )
    assert warehouse.column_types("s")["d"] == "date"
    warehouse.load(
        [
            singer.schema("s", {"id": {"type": "integer"}, "d": {"type": "string", "format": "date-time"}}),
            singer.record("s", {"id": 2, "d": "2024-02-03T04:05:06+01:00"}),
        ]
    )
    assert warehouse.column_types("s")["d"] == "timestamp with time zone"
    assert warehouse.rows("s", ["id", "d"]) == [
        (1, datetime.datetime(2024, 2, 3, tzinfo=datetime.UTC)),
        (2, datetime.datetime(2024, 2, 3, 3, 5, 6, tzinfo=datetime.UTC)),
    ]


def test_new_property_adds_a_column_and_missing_property_keeps_its_column(warehouse, singer):
    warehouse.load(
        [
            singer.schema("s", {"id": {"type": "integer"}, "a": {"type": "string"}}),
            singer.record("s", {"id": 1, "a": "x"}),
        ]
    )
    warehouse.load(
        [
            singer.schema("s", {"id": {"type": "integer"}, "b": {"type": "boolean"}}),
            singer.record("s", {"id": 2, "b": True}),
            singer.record("s", {"id": 1, "b": False}),
        ]
    )
    assert {"id", "a", "b"} <= set(warehouse.column_types("s"))
    # the upsert touches only the batch's columns: row 1 keeps its "a"
    assert warehouse.rows("s", ["id", "a", "b"]) == [(1, "x", False), (2, None, True)]


@pytest.mark.parametrize("big", [2**80, 2**63, -(2**63) - 1, -(2**80)])
def test_integers_beyond_int64_widen_the_column_to_numeric(warehouse, singer, big):
    warehouse.load(
        [
            singer.schema("s", {"id": {"type": "integer"}, "n": {"type": "integer"}}),
            singer.record("s", {"id": 1, "n": 5}),
            singer.record("s", {"id": 2, "n": big}),
        ]
    )
    assert warehouse.column_types("s")["n"] == "numeric"
    assert warehouse.rows("s", ["id", "n"]) == [(1, 5), (2, big)]


def test_changed_key_is_a_clear_error_under_upsert(warehouse, singer):
    warehouse.load(
        [
            singer.schema("s", {"id": {"type": "integer"}, "e": {"type": "string"}}),
            singer.record("s", {"id": 1, "e": "a"}),
        ]
    )
    with pytest.raises(SchemaEvolutionError, match=r"primary key \['id'\].*key is \['e'\]"):
        warehouse.load(
            [
                singer.schema("s", {"id": {"type": "integer"}, "e": {"type": "string"}}, key=["e"]),
                singer.record("s", {"id": 2, "e": "b"}),
            ]
        )
    assert warehouse.rows("s", ["id", "e"]) == [(1, "a")]


def test_overwrite_allows_a_changed_key(warehouse, singer):
    warehouse.load(
        [
            singer.schema("s", {"id": {"type": "integer"}, "e": {"type": "string"}}),
            singer.record("s", {"id": 1, "e": "a"}),
        ]
    )
    warehouse.load(
        [
            singer.schema("s", {"id": {"type": "integer"}, "e": {"type": "string"}}, key=["e"]),
            singer.record("s", {"id": 2, "e": "b"}),
            singer.record("s", {"id": 3, "e": "b"}),
        ],
        load_method="overwrite",
    )
    assert warehouse.rows("s", ["id", "e"]) == [(3, "b")]


@pytest.mark.parametrize("load_method", ["upsert", "append-only", "overwrite"])
def test_a_schema_with_no_records_after_it_still_adds_every_column_it_declares(
    warehouse, singer, load_method
):
    first = {"id": {"type": "integer"}, "v": {"type": "integer"}}
    warehouse.load(
        [singer.schema("s", first), singer.record("s", {"id": 1, "v": 1})], load_method=load_method
    )
    later = {**first, "v": {"type": "number"}, "added": {"type": "string", "format": "date-time"}, "x": {}}
    run = warehouse.load(
        [
            singer.schema("s", later),
            singer.schema("fresh", {"id": {"type": "integer"}}),
            singer.state({"at": 1}),
        ],
        load_method=load_method,
    )
    types = warehouse.column_types("s")
    assert (types["v"], types["added"], types["x"]) == ("numeric", "timestamp with time zone", "jsonb")
    assert warehouse.rows("s", ["id", "v"]) == [(1, decimal.Decimal(1))]  # no records: nothing replaced
    assert set(warehouse.column_types("fresh")) >= {"id", "_sdc_extracted_at"}
    assert run.states == [{"at": 1}]
