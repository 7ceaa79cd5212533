"""The generated passes (row maker, record reader) agree with the general path, and defer whenever unsure."""

from __future__ import annotations

import datetime
import decimal
import json

import jsonschema
import msgspec
import pytest
import simplejson
from singer_sdk.exceptions import InvalidRecord
from target_pipeboard_postgres.connector import pg_type_for
from target_pipeboard_postgres.copy import FieldError, compile_encoder, to_json
from target_pipeboard_postgres.fastpath import compile_row_maker
from target_pipeboard_postgres.fastread import compile_record_reader, decode_envelope
from target_pipeboard_postgres.validation import FastValidator

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": ["string", "null"]},
        "value": {"type": ["number", "null"]},
        "count": {"type": ["integer", "null"]},
        "flag": {"type": ["boolean", "null"]},
        "at": {"type": ["string", "null"], "format": "date-time"},
        "day": {"type": ["string", "null"], "format": "date"},
        "labels": {"type": ["array", "null"], "items": {"type": "integer"}},
        "extra": {"type": ["object", "null"]},
        "nested": {"type": "object", "properties": {"x": {"type": "integer"}}},
        "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "anything": {},
        "short": {"type": "string", "maxLength": 3},
        "strict": {"type": "integer"},
    },
}
PROPERTIES = list(SCHEMA["properties"])
TYPES = [pg_type_for(SCHEMA["properties"][prop]) for prop in PROPERTIES]

PLAIN = {
    "id": 1,
    "title": "Deal\tone — ü",
    "value": decimal.Decimal("12.50"),
    "count": 3,
    "flag": True,
    "at": "2024-03-01T10:00:00+00:00",
    "day": "2024-03-01",
    "labels": [1, 2],
    "extra": {"a": [None, "ü"], "n": decimal.Decimal("1.10")},
    "nested": {"x": 1},
    "either": "s",
    "anything": [1, {"b": 2}],
    "short": "abc",
    "strict": 5,
}


def _general(record: dict) -> tuple | type[Exception]:
    """What the general path makes of a record: its row, or the kind of refusal."""
    try:
        FastValidator(SCHEMA).validate(record)
    except InvalidRecord:
        return InvalidRecord
    try:
        return compile_encoder(PROPERTIES, TYPES)(record)
    except FieldError:
        return FieldError


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"title": None, "value": None, "count": None, "flag": None, "at": None, "day": None},
        {"title": "nul\x00byte", "value": 7, "count": 2.0, "flag": False},
        {"value": 2.5, "at": "2024-03-01T10:00:00", "day": "2024-03-01T23:59:59Z"},
        {"value": decimal.Decimal("NaN"), "at": "2024-03-01T10:00:00.5+05:30", "day": "2024-W09-5"},
        {"at": datetime.datetime(2024, 3, 1, tzinfo=datetime.UTC), "day": datetime.date(2024, 3, 1)},
        {"at": "not a time"},
        {"day": "2024-02-30"},
        {"count": 1.5},
        {"count": True},
        {"value": "12"},
        {"flag": "true"},
        {"title": 5},
        {"labels": [1, "2"]},
        {"labels": [1, True]},
        {"labels": [1, 2.0]},
        {"labels": [1, decimal.Decimal("2.5")]},
        {"labels": []},
        {"labels": None, "extra": None},
        {"labels": (1, 2)},
        {"extra": [1]},
        {"nested": {"x": "1"}},
        {"nested": None},
        {"either": 1.5},
        {"short": "abcd"},
        {"id": None},
        {"unknown_property": object()},
    ],
)
def test_row_maker_agrees_with_the_general_path(change):
    record = {**PLAIN, **change}
    made = compile_row_maker(SCHEMA, PROPERTIES, TYPES)(record)
    general = _general(record)
    if isinstance(general, type):  # refused by the general path: the merged pass must defer to it
        assert made is None
    else:  # these accepted records are all within the merged pass's reach
        assert made == general
        assert jsonschema.Draft7Validator(SCHEMA).is_valid(record)


@pytest.mark.parametrize("missing", PROPERTIES)
def test_absent_properties_agree_with_the_general_path(missing):
    record = {key: value for key, value in PLAIN.items() if key != missing}
    made = compile_row_maker(SCHEMA, PROPERTIES, TYPES)(record)
    assert made is not None
    assert made == _general(record)


def test_plain_records_take_the_merged_pass():
    assert compile_row_maker(SCHEMA, PROPERTIES, TYPES)(PLAIN) == _general(PLAIN)


def test_required_properties_defer_to_the_general_path_when_absent():
    schema = {**SCHEMA, "required": ["id"]}
    make = compile_row_maker(schema, PROPERTIES, TYPES)
    assert make({key: value for key, value in PLAIN.items() if key != "id"}) is None
    assert make(PLAIN) == _general(PLAIN)


@pytest.mark.parametrize(
    "schema",
    [
        {**SCHEMA, "additionalProperties": False},
        {**SCHEMA, "minProperties": 1},
        {**SCHEMA, "$defs": {"t": {"type": "string"}}},
        {"type": "object", "properties": {"a": {"$ref": "#/definitions/t"}}, "definitions": {"t": {}}},
    ],
)
def test_unsupported_root_schemas_use_the_general_path(schema):
    assert compile_row_maker(schema, list(schema["properties"]), ["text"] * len(schema["properties"])) is None


def _circular() -> list:
    value: list = []
    value.append(value)
    return value


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, None, True], "ü": 'x\u2028y"\\\n\x1f', "k": {2: "int", None: "none", True: "bool"}},
        "top-level text",
        -0.0,
        [decimal.Decimal("1.10"), datetime.date(2024, 3, 1)],
        float("nan"),
        _circular(),
    ],
)
def test_jsonb_text_matches_the_stdlib_encoder_then_simplejson(value):
    def reference(item: object) -> str:
        try:
            return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(item)
        except (TypeError, ValueError, RecursionError):
            return simplejson.dumps(
                item,
                use_decimal=True,
                ensure_ascii=False,
                separators=(",", ":"),
                default=str,
                ignore_nan=False,
            )

    try:
        expected: str | type[Exception] = reference(value)
    except ValueError as exc:
        expected = type(exc)
    try:
        ours: str | type[Exception] = to_json(value)
    except ValueError as exc:
        ours = type(exc)
    assert ours == expected


# --- the record reader (fast lane): JSON lines in, rows holding the same values out ---

JSON_CHANGES = [
    {},
    {"title": None, "value": None, "count": None, "flag": None, "at": None, "day": None, "extra": None},
    {"title": "nul\x00byte", "value": 7, "count": 2.0, "flag": False},
    {"value": decimal.Decimal("1E+5"), "count": 2**63, "at": "2024-03-01T10:00:00.123456+00:00"},
    {"value": -0, "count": -(2**63), "at": "2024-03-01T10:00:00+05:30", "day": "2024-W09-5"},
    {"count": 2**64, "at": "2024-03-01T10:00:00", "day": "2024-03-01T23:59:59Z"},
    {"value": decimal.Decimal("-0.000"), "at": "2024-03-01 10:00:00.5Z"},
    {"at": "not a time"},
    {"day": "2024-02-30"},
    {"count": 1.5},
    {"count": True},
    {"value": "12"},
    {"value": True},
    {"flag": "true"},
    {"flag": 1},
    {"title": 5},
    {"labels": [1, "2"]},
    {"labels": [1, 2.0]},
    {"labels": []},
    {"extra": [1]},
    {"extra": {"k\x00": "v\x00"}},
    {"extra": {"emoji": "\U0001f600"}},
    {"nested": {"x": "1"}},
    {"nested": None},
    {"either": 1.5},
    {"short": "abcd"},
    {"strict": None},
    {"id": None},
    {"unknown_property": {"deep": [1, 2, 3]}},
]


def _line(record: dict, *, ensure_ascii: bool = False) -> str:
    message = {"type": "RECORD", "stream": "s", "record": record, "time_extracted": "2024-03-01T10:00:00Z"}
    return simplejson.dumps(message, use_decimal=True, ensure_ascii=ensure_ascii)


_DECODE = msgspec.json.Decoder(float_hook=decimal.Decimal).decode


def _same_value(pg_type: str, fast: str | None, general: str | None) -> bool:
    """Whether Postgres stores the same value from both texts."""
    if fast is None or general is None:
        return fast is general
    if pg_type == "jsonb":
        return json.loads(fast, parse_float=decimal.Decimal) == json.loads(
            general, parse_float=decimal.Decimal
        )
    if pg_type == "numeric":
        return decimal.Decimal(fast) == decimal.Decimal(general)
    if pg_type == "timestamptz":
        return datetime.datetime.fromisoformat(fast) == datetime.datetime.fromisoformat(general)
    return fast == general


@pytest.mark.parametrize("ensure_ascii", [False, True], ids=["utf8", "ascii-escaped"])
@pytest.mark.parametrize("change", JSON_CHANGES, ids=lambda change: repr(change)[:40])
def test_reader_rows_hold_the_general_paths_values_or_defer(change, ensure_ascii):
    record = {**PLAIN, **change}
    line = _line(record, ensure_ascii=ensure_ascii)
    read = compile_record_reader(SCHEMA, PROPERTIES, TYPES, metadata=False)
    assert read is not None
    row = read(decode_envelope(line))
    general = _general(_DECODE(line)["record"])
    if isinstance(general, type):  # refused by the general path: the fast lane must leave it to that path
        assert row is None
        return
    if row is None:  # deferring is always allowed; the plain shapes must not defer
        assert change not in ({}, JSON_CHANGES[1])
        return
    assert len(row) == len(general)
    for prop, pg_type, fast, slow in zip(PROPERTIES, TYPES, row, general, strict=True):
        assert _same_value(pg_type, fast, slow), (prop, fast, slow)


def test_plain_records_take_the_lane():
    read = compile_record_reader(SCHEMA, PROPERTIES, TYPES, metadata=False)
    assert read is not None
    assert read(decode_envelope(_line(PLAIN))) is not None
    assert read(decode_envelope(_line({**PLAIN, **JSON_CHANGES[1]}))) is not None


def test_duplicate_keys_keep_the_last_value_like_the_sdk():
    line = _line(PLAIN).replace('"count": 3', '"count": 3, "count": 9')
    read = compile_record_reader(SCHEMA, PROPERTIES, TYPES, metadata=False)
    assert read is not None
    row = read(decode_envelope(line))
    assert row is not None
    assert (
        row[PROPERTIES.index("count")] == "9" == _general(_DECODE(line)["record"])[PROPERTIES.index("count")]  # type: ignore[index]
    )


def test_required_properties_defer_when_absent():
    schema = {**SCHEMA, "required": ["id", "title"]}
    read = compile_record_reader(schema, PROPERTIES, TYPES, metadata=False)
    assert read is not None
    assert read(decode_envelope(_line({k: v for k, v in PLAIN.items() if k != "title"}))) is None
    assert read(decode_envelope(_line(PLAIN))) is not None


def test_names_msgspec_cannot_match_leave_the_stream_to_the_sdk_path():
    schema = {
        "type": "object",
        "properties": {'quo"te': {"type": "string"}, "back\\slash": {"type": "string"}},
    }
    assert compile_record_reader(schema, list(schema["properties"]), ["text", "text"], metadata=False) is None


@pytest.mark.parametrize("prop", ["count", "strict", "either"])
def test_integers_beyond_int64_leave_the_lane_so_the_column_can_widen(prop):
    types = [("bigint" if p == prop else t) for p, t in zip(PROPERTIES, TYPES, strict=True)]
    read = compile_record_reader(SCHEMA, PROPERTIES, types, metadata=False)
    assert read is not None
    assert read(decode_envelope(_line({**PLAIN, prop: 2**63 - 1}))) is not None
    assert read(decode_envelope(_line({**PLAIN, prop: 2**63}))) is None
