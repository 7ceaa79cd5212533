"""Every stream of singer-sdk's target test suite, loaded into Postgres and checked row by row."""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path

import pytest
import singer_sdk
from singer_sdk.exceptions import RecordsWithoutSchemaException
from target_pipeboard_postgres.sinks import RecordRejectedError


def sdk_file(name: str) -> Path:
    return Path(singer_sdk.__file__).parent / "testing" / "target_test_streams" / f"{name}.singer"


def test_array_data_loads_arrays_as_jsonb(warehouse):
    warehouse.load(sdk_file("array_data"))
    assert warehouse.rows("test_array_data", ["id", "fruits"]) == [
        (1, ["apple", "orange", "pear"]),
        (2, ["banana", "apple"]),
        (3, ["pear"]),
        (4, ["orange", "banana", "apple", "pear"]),
    ]
    assert warehouse.column_types("test_array_data")["fruits"] == "jsonb"


def test_camelcase_names_are_kept_exactly(warehouse):
    warehouse.load(sdk_file("camelcase"))
    assert warehouse.rows("TestCamelcase", ["Id", "clientName"]) == [
        ("1", "Gitter Windows Desktop App"),
        ("2", "Gitter iOS App"),
    ]


def test_camelcase_complex_schema_creates_the_table_with_mixed_unions_as_text(warehouse):
    warehouse.load(sdk_file("camelcase_complex_schema"))
    types = warehouse.column_types("ForecastingTypeToCategory")
    assert types["Id"] == "text"
    assert types["IsDeleted"] == "boolean"
    # anyOf [date-time string, plain string]: only text holds both
    assert types["CreatedDate"] == "text"
    assert warehouse.rows("ForecastingTypeToCategory") == []


def test_duplicate_records_collapse_to_the_last_one(warehouse):
    run = warehouse.load(sdk_file("duplicate_records"))
    assert warehouse.rows("test_duplicate_records", ["id", "metric"]) == [(1, 100), (2, 20)]
    assert run.states[-1] == {"test_duplicate_records": 2}


def test_encoded_strings_round_trip_and_nul_is_refused(warehouse):
    warehouse.load(sdk_file("encoded_string_data"), on_invalid_record="quarantine")
    info = dict(warehouse.rows("test_strings", ["id", "info"]))
    assert info[2] == "απλή συμβολοσειρά"
    assert info[3] == "简单的字串"
    assert info[5] == 'quoted "string"'
    assert info[6] == 'various " \\ / \n escape sequences'
    assert info[10] == "Double quoting: \\u0000 \\u0041 \\u0001"
    objects = dict(warehouse.rows("test_strings_in_objects", ["id", "info"]))
    assert objects[6] == {"name": "escape sequences", "value": 'various " \\ / \n escape sequences'}
    arrays = dict(warehouse.rows("test_strings_in_arrays", ["id", "strings"]))
    assert arrays[4] == ["m", "ā", "ƙ"]
    # NUL cannot be stored: those records are quarantined, not loaded without it.
    assert 11 not in info
    assert 11 not in objects
    assert 6 not in arrays
    rejected = warehouse.query(
        f'SELECT stream, record_key, field FROM "{warehouse.schema}"._pipeboard_rejects ORDER BY 1'
    )
    assert rejected == [
        ("test_strings", '{"id":11}', "info"),
        ("test_strings_in_arrays", '{"id":6}', "strings"),
        ("test_strings_in_objects", '{"id":11}', "info"),
    ]


def test_invalid_schema_fails_naming_the_missing_properties(warehouse):
    with pytest.raises(Exception, match="properties"):
        warehouse.load(sdk_file("invalid_schema"))


def test_multiple_state_messages_are_emitted_in_order_after_the_data(warehouse):
    run = warehouse.load(sdk_file("multiple_state_messages"))
    assert run.states[-1] == {"test_multiple_state_messages_a": 5, "test_multiple_state_messages_b": 6}
    assert [state["test_multiple_state_messages_a"] for state in run.states] == sorted(
        state["test_multiple_state_messages_a"] for state in run.states
    )
    assert warehouse.rows("test_multiple_state_messages_a", ["id", "metric"]) == [
        (i, i * 100) for i in range(1, 7)
    ]
    assert warehouse.rows("test_multiple_state_messages_b", ["id", "metric"]) == [
        (i, i * 110) for i in range(1, 7)
    ]


def test_streams_without_keys_append_every_record(warehouse):
    warehouse.load(sdk_file("no_primary_keys"))
    assert warehouse.rows("test_no_pk", ["id", "metric"], order="metric") == [(1, 11), (2, 22), (3, 33)]
    warehouse.load(sdk_file("no_primary_keys_append"))
    assert [row[1] for row in warehouse.rows("test_no_pk", ["id", "metric"], order="metric")] == [
        11,
        22,
        33,
        101,
        202,
        303,
        404,
        505,
    ]


def test_optional_attributes_become_nulls(warehouse):
    warehouse.load(sdk_file("optional_attributes"))
    assert warehouse.rows("test_optional_attributes", ["id", "optional"]) == [
        (1, "This is optional"),
        (2, None),
        (3, "Also optional"),
        (4, None),
    ]


def test_pk_updates_inside_the_schema_are_not_message_keys_so_rows_append(warehouse):
    warehouse.load(sdk_file("pk_updates"))
    assert warehouse.rows("example_stream", ["id", "name", "email"]) == [
        (1, "Alice", "alice@example.com"),
        (2, "Bob", "bob@example.com"),
    ]


def test_record_before_schema_fails_clearly(warehouse):
    with pytest.raises(RecordsWithoutSchemaException, match="test_record_before_schema"):
        warehouse.load(sdk_file("record_before_schema"))


def test_record_missing_fields_loads_nulls(warehouse):
    warehouse.load(sdk_file("record_missing_fields"))
    assert warehouse.rows("record_missing_fields", ["id", "optional"]) == [(1, "now you see me"), (2, None)]


def test_record_missing_key_property_fails_naming_stream_and_key(warehouse):
    with pytest.raises(RecordRejectedError, match=r"test_record_missing_key_property.*field 'id'"):
        warehouse.load(sdk_file("record_missing_key_property"))
    assert warehouse.rows("test_record_missing_key_property") == []


def test_record_missing_required_property_fails_naming_the_field(warehouse):
    with pytest.raises(RecordRejectedError, match=r"test_record_missing_required_property.*field 'id'"):
        warehouse.load(sdk_file("record_missing_required_property"))


def test_objects_with_and_without_properties_load_as_jsonb(warehouse):
    warehouse.load(sdk_file("schema_no_properties"))
    assert warehouse.rows("test_object_schema_with_properties", ["object_store"]) == [
        ({"id": 1, "metric": 187},),
        ({"id": 2, "metric": 203},),
    ]
    assert warehouse.rows("test_object_schema_no_properties", ["object_store"]) == [
        ({"id": 1, "metric": 1},),
        ({"id": 2, "metric": 2},),
    ]


def test_schema_updates_add_columns_and_keep_earlier_rows(warehouse):
    warehouse.load(sdk_file("schema_updates"))
    rows = warehouse.rows("test_schema_updates", ["id", "a1", "a2", "a3", "a4", "a5", "a6"])
    assert rows[0] == (1, decimal.Decimal(101), "string1", None, None, None, None)
    assert rows[1] == (2, decimal.Decimal(102), "string2", True, None, None, None)
    assert rows[5] == (
        6,
        decimal.Decimal(106),
        "string6",
        True,
        {"id": 4, "value": 444},
        ["banana", "orange"],
        341,
    )
    assert len(rows) == 6


def test_special_characters_in_stream_and_attribute_names(warehouse):
    warehouse.load(sdk_file("special_chars_in_attributes"))
    rows = warehouse.rows(
        "test:SpecialChars!in?attributes", ["_id", "d", "_sdc_extracted_at", "_sdc_table_version"]
    )
    assert rows == [
        (
            "a2e98886",
            {"env": "prod", "agent:type": "desktop", "agent:os:version": "10.13.1"},
            datetime.datetime(2018, 11, 2, 22, 57, 4, 841020, tzinfo=datetime.UTC),
            1541199424491,
        )
    ]


def test_user_location_upserts_update_and_insert(warehouse):
    warehouse.load(sdk_file("user_location_data"))
    warehouse.load(sdk_file("user_location_upsert_data"))
    assert warehouse.rows("test_users", ["id", "name"]) == [
        (1, "Johny"),
        (2, "George"),
        (3, "Jacob"),
        (4, "Josh"),
        (5, "Jim"),
        (8, "Thomas"),
        (12, "Paul"),
        (13, "Mary"),
    ]
    assert warehouse.rows("test_locations", ["id", "name"]) == [
        (1, "Philly"),
        (2, "NY"),
        (3, "San Francisco"),
        (6, "Colorado"),
        (8, "Boston"),
    ]
    in_location = dict(
        (row[0], row[1:]) for row in warehouse.rows("test_user_in_location", ["id", "user_id", "info"])
    )
    assert set(in_location) == {1, 2, 3, 6, 14}
    assert in_location[14] == (4, {"weather": "cloudy", "mood": "ok"})
    loads = warehouse.query(
        f'SELECT sum(rows_inserted), sum(rows_updated) FROM "{warehouse.schema}"._pipeboard_loads '
        "WHERE stream = 'test_users'"
    )
    assert loads == [(8, 3)]
