"""Pure parts of the connector: JSON schema → Postgres types, widening, identifier mapping."""

from __future__ import annotations

import pytest
from target_pipeboard_postgres.connector import catalog_type, pg_identifier, pg_type_for, widen


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "integer"}, "bigint"),
        ({"type": ["null", "integer"]}, "bigint"),
        ({"type": "number"}, "numeric"),
        ({"type": ["integer", "number"]}, "numeric"),
        ({"type": "boolean"}, "boolean"),
        ({"type": "string"}, "text"),
        ({"type": ["string", "null"], "format": "date-time"}, "timestamptz"),
        ({"type": "string", "format": "date"}, "date"),
        ({"type": "string", "format": "time"}, "time"),
        ({"type": "object", "properties": {}}, "jsonb"),
        ({"type": "array", "items": {"type": "string"}}, "jsonb"),
        ({}, "jsonb"),
        ({"anyOf": [{"type": "string", "format": "date-time"}, {"type": ["string", "null"]}]}, "text"),
        (
            {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]},
            "timestamptz",
        ),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "bigint"),
        ({"type": ["integer", "string"]}, "text"),
        ({"type": ["boolean", "integer"]}, "text"),
        ({"type": ["object", "string"]}, "jsonb"),
    ],
    ids=lambda v: str(v)[:50],
)
def test_pg_type_for_maps_json_schema(schema, expected):
    assert pg_type_for(schema) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("bigint", "numeric", "numeric"),
        ("numeric", "bigint", "numeric"),
        ("numeric", "text", "text"),
        ("bigint", "text", "text"),
        ("date", "timestamptz", "timestamptz"),
        ("boolean", "bigint", "text"),
        ("text", "jsonb", "jsonb"),
        ("timestamptz", "date", "timestamptz"),
        ("text", "text", "text"),
    ],
)
def test_widen_never_narrows(a, b, expected):
    assert widen(a, b) == expected


def test_catalog_type_reads_format_type_output():
    assert catalog_type("timestamp with time zone") == "timestamptz"
    assert catalog_type("numeric(10,2)") == "numeric"
    assert catalog_type("character varying(20)") == "text"


def test_short_and_hostile_names_are_kept_verbatim():
    for name in ['we"ird', "with space", "a.b", "ünïcödé", "select", "Mixed Case"]:
        assert pg_identifier(name) == name


def test_long_names_fit_63_bytes_and_stay_distinct_and_deterministic():
    prefix = "custom_field_" + "x" * 60
    first, second = pg_identifier(prefix + "_one"), pg_identifier(prefix + "_two")
    assert first != second
    assert len(first.encode()) <= 63
    assert len(second.encode()) <= 63
    assert pg_identifier(prefix + "_one") == first


def test_long_unicode_names_are_cut_at_a_character_boundary():
    name = "é" * 40
    mapped = pg_identifier(name)
    assert len(mapped.encode()) <= 63
    mapped.encode("utf-8").decode("utf-8")
    assert mapped.startswith("é" * 10)


def test_nul_is_removed_from_names():
    assert pg_identifier("a\x00b") == "ab"
