"""The speed-ups give exactly the results of the general code they shortcut: no database."""

from __future__ import annotations

import datetime
import decimal

import jsonschema
import pytest
import simplejson
from singer_sdk.io_base import SingerReader
from target_pipeboard_postgres.badlines import UnreadableLine
from target_pipeboard_postgres.copy import compile_encoder, encode_record, to_json
from target_pipeboard_postgres.target import FastSingerReader
from target_pipeboard_postgres.validator import FastValidator

LINES = [
    '{"type":"RECORD","stream":"s","record":{"id":1,"v":12.50,"e":1e3,"big":123456789012345678901234567890}}',
    '{"type":"RECORD","stream":"s","record":{"n":-0.0,"z":-0,"s":"\\u00fc\\n\\"","l":[1,2.0,{"a":null}]}}',
    '{"type":"RECORD","stream":"s","record":{"nan":NaN,"inf":Infinity}}',
    '{"type":"STATE","value":{"bookmarks":{"s":{"replication_key_value":"2024-01-01T00:00:00Z"}}}}',
]


def _same(left: object, right: object) -> bool:
    """Equal including the Python types at every depth (1 == 1.0 == Decimal(1) does not count)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_same(left[key], right[key]) for key in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, float) and left != left:
        return right != right
    return left == right and str(left) == str(right)


@pytest.mark.parametrize("line", LINES)
def test_fast_reader_parses_lines_exactly_like_the_sdk_reader(line):
    fast = FastSingerReader().deserialize_json(line)
    assert _same(fast, SingerReader().deserialize_json(line))


def test_fast_reader_says_what_is_wrong_with_a_line_it_cannot_read():
    with pytest.raises(UnreadableLine, match=r"is not JSON .* at position 19 of the line"):
        FastSingerReader().deserialize_json('{"type": "RECORD", ')
    # JSON, but a lone surrogate is no character: UTF-8 and PostgreSQL cannot hold it (the SDK would read it).
    line = '{"type":"RECORD","stream":"s","record":{"lone":"\\ud800"}}'
    assert SingerReader().deserialize_json(line)["record"] == {"lone": "\ud800"}
    with pytest.raises(UnreadableLine, match=r"holds a lone surrogate \(\\ud800\) at position 48"):
        FastSingerReader().deserialize_json(line)


def _reference_json(value: object) -> str | type[Exception]:
    try:
        return simplejson.dumps(
            value, use_decimal=True, ensure_ascii=False, separators=(",", ":"), ignore_nan=False
        )
    except ValueError as exc:
        return type(exc)


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, None, True, False], "ü": 'x\u2028y"\\\n\x1f', "emoji": "😀", "e": {}},
        [{"1": -0.0, "k": 1e300}, {2: "int key", None: "none key", True: "bool key"}],
        {"d": decimal.Decimal("1.10"), "nested": [decimal.Decimal("-1E+3")]},
        {"bad": float("nan")},
        [float("inf")],
    ],
)
def test_jsonb_text_matches_simplejson_for_plain_and_decimal_values(value):
    try:
        ours: str | type[Exception] = to_json(value)
    except ValueError as exc:
        ours = type(exc)
    assert ours == _reference_json(value)


@pytest.mark.parametrize(
    ("value", "pg_type"),
    [
        ("2024-03-01T10:00:00Z", "timestamptz"),
        ("2024-03-01T10:00:00.123+05:30", "timestamptz"),
        ("2024-03-01T10:00:00", "timestamptz"),
        ("2024-03-01", "timestamptz"),
        (datetime.datetime(2024, 3, 1, 10, tzinfo=datetime.UTC), "timestamptz"),
        ("2024-03-01", "date"),
        ("2024-03-01T23:59:59Z", "date"),
        ("2024-W09-5", "date"),
        (datetime.date(2024, 3, 1), "date"),
        (decimal.Decimal("12.50"), "numeric"),
        (decimal.Decimal("1E+5"), "numeric"),
        (decimal.Decimal("NaN"), "numeric"),
        (decimal.Decimal("-Infinity"), "numeric"),
        (7, "numeric"),
        (2.5, "numeric"),
        ("3.25", "numeric"),
    ],
)
def test_generated_encoder_matches_the_general_encoder(value, pg_type):
    encode = compile_encoder(["v", "w"], [pg_type, "text"])
    record = {"v": value, "w": "x"}
    assert encode(record) == encode_record(record, ["v", "w"], [pg_type, "text"])


SCHEMA = {
    "type": "object",
    "properties": {
        "i": {"type": ["integer", "null"]},
        "n": {"type": ["number", "null"]},
        "o": {"type": "object", "properties": {"x": {"type": "integer"}}},
    },
}


@pytest.mark.parametrize(
    "record",
    [
        {"i": 1, "n": decimal.Decimal("1.5")},
        {"i": 1.0, "n": 2},
        {"i": True},
        {"n": False},
        {"i": decimal.Decimal("1")},
        {"i": decimal.Decimal("1.5")},
        {"n": "1"},
        {"o": {"x": 1}},
        {"o": {"x": 1.5}},
        {"o": 3},
    ],
)
def test_fast_validator_agrees_with_jsonschema(record):
    fast = FastValidator(SCHEMA).fast(record)
    assert fast == jsonschema.Draft7Validator(SCHEMA).is_valid(record)
