"""Hostile stream/property names and hostile values, loaded into Postgres and read back."""

from __future__ import annotations

import datetime
import decimal

from target_pipeboard_postgres.connector import pg_identifier

LONG_PREFIX = "a_very_long_custom_field_name_that_pipedrive_users_like_to_type_"
HOSTILE = {
    "id": {"type": "integer"},
    'quo"te': {"type": "string"},
    "with space": {"type": "string"},
    "dot.ted": {"type": "string"},
    "ünïcödé 名前": {"type": "string"},
    "select": {"type": "string"},
    "Order": {"type": "string"},
    LONG_PREFIX + "first": {"type": "string"},
    LONG_PREFIX + "second": {"type": "string"},
}


def hostile_record(i: int) -> dict:
    return {name: (i if name == "id" else f"{name[:5]}-{i}") for name in HOSTILE}


def test_hostile_names_load_into_distinct_columns_stable_across_runs(warehouse, singer):
    stream = 'Deals "2024"; DROP TABLE x; -- ' + "ü" * 40
    warehouse.load([singer.schema(stream, HOSTILE), singer.record(stream, hostile_record(1))])
    table = pg_identifier(stream)
    assert len(table.encode()) <= 63
    assert warehouse.tables() >= {table, "_pipeboard_identifiers"}
    columns = set(warehouse.column_types(table))
    long_columns = {pg_identifier(LONG_PREFIX + "first"), pg_identifier(LONG_PREFIX + "second")}
    assert len(long_columns) == 2
    assert {'quo"te', "with space", "dot.ted", "ünïcödé 名前", "select", "Order"} | long_columns <= columns
    warehouse.load([singer.schema(stream, HOSTILE), singer.record(stream, hostile_record(2))])
    names = [pg_identifier(name) for name in HOSTILE]
    assert warehouse.rows(table, names) == [
        tuple(hostile_record(1).values()),
        tuple(hostile_record(2).values()),
    ]
    mapping = dict(
        warehouse.query(
            f'SELECT source_name, pg_name FROM "{warehouse.schema}"._pipeboard_identifiers WHERE scope = %s',
            (f"column:{table}",),
        )
    )
    assert mapping[LONG_PREFIX + "first"] != mapping[LONG_PREFIX + "second"]
    assert len(mapping) == len(HOSTILE) + 7  # plus the _sdc_* metadata columns


def test_hostile_values_round_trip(warehouse, singer):
    schema = {
        "id": {"type": "integer"},
        "big": {"type": "integer"},
        "exact": {"type": "number"},
        "at": {"type": "string", "format": "date-time"},
        "text": {"type": "string"},
        "doc": {"type": "object"},
    }
    # written as raw JSON so the decimals are exact in the input, too
    lines = "\n".join(
        [
            '{"type":"SCHEMA","stream":"v","key_properties":["id"],"schema":{"type":"object","properties":'
            '{"id":{"type":"integer"},"big":{"type":"integer"},"exact":{"type":"number"},'
            '"at":{"type":"string","format":"date-time"},"text":{"type":"string"},"doc":{"type":"object"}}}}',
            '{"type":"RECORD","stream":"v","record":{"id":1,"big":123456789012345678901234567890,'
            '"exact":0.1000000000000000000000000001,"at":"2024-03-10T23:30:00-08:00",'
            '"text":"nul\\\\u0000here\\ttab\\nnewline\\\\back","doc":{"k\\\\u0000ey":["a",{"deep":"x\\\\u0000y"}],'
            '"money":12345678901234567890.12}}}',
            '{"type":"RECORD","stream":"v","record":{"id":2,"big":-9223372036854775808,"exact":1e-30,'
            '"at":"2024-03-11T07:30:00Z","text":"","doc":{}}}',
        ]
    )
    assert set(schema) == {"id", "big", "exact", "at", "text", "doc"}
    warehouse.load(lines + "\n")
    rows = warehouse.rows("v", ["id", "big", "exact", "at", "text"])
    assert rows[0] == (
        1,
        decimal.Decimal(123456789012345678901234567890),
        decimal.Decimal("0.1000000000000000000000000001"),
        datetime.datetime(2024, 3, 11, 7, 30, tzinfo=datetime.UTC),
        "nul\\u0000here\ttab\nnewline\\back",
    )
    assert rows[1] == (
        2,
        decimal.Decimal(-9223372036854775808),
        decimal.Decimal("1E-30"),
        datetime.datetime(2024, 3, 11, 7, 30, tzinfo=datetime.UTC),
        "",
    )
    doc = warehouse.query(f'SELECT doc::text FROM "{warehouse.schema}".v WHERE id = 1')[0][0]
    assert doc == '{"money": 12345678901234567890.12, "k\\\\u0000ey": ["a", {"deep": "x\\\\u0000y"}]}'
