"""The validator's fast path agrees with jsonschema; errors still come from jsonschema."""

from __future__ import annotations

import decimal
import itertools

import jsonschema
import pytest
from singer_sdk.exceptions import InvalidRecord
from target_pipeboard_postgres.validation import compile_schema
from target_pipeboard_postgres.validator import FastValidator

SCHEMAS = {
    "plain types": {
        "type": "object",
        "properties": {
            "i": {"type": "integer"},
            "n": {"type": ["number", "null"]},
            "s": {"type": ["string", "null"], "format": "date-time"},
            "b": {"type": "boolean"},
            "o": {"type": "object"},
            "a": {"type": ["array", "null"], "items": {"type": "integer"}},
        },
        "required": ["i"],
    },
    "nested and unions": {
        "type": "object",
        "properties": {
            "obj": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
            "any": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "enum": {"type": "string", "enum": ["a", "b"]},
            "weird key'\\\"": {"type": "string"},
        },
    },
    "closed object": {
        "type": "object",
        "properties": {"i": {"type": "integer"}},
        "additionalProperties": False,
    },
}
VALUES = [
    None, True, False, 0, 1, -5, 2**70, 1.0, 1.5, decimal.Decimal("2"), decimal.Decimal("2.5"), "x", "a",
    "2024-01-01", {}, {"x": 1}, {"x": "1"}, [], [1, 2], [1, "2"], ["a"],
]  # fmt: skip


def records(schema: dict) -> list[dict]:
    names = [*schema["properties"], "extra"]
    found = [{}]
    for name, value in itertools.product(names, VALUES):
        found.append({name: value})
        found.append({"i": 1, name: value})
    return found


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_fast_path_accepts_exactly_what_jsonschema_accepts(name):
    schema = SCHEMAS[name]
    fast = compile_schema(schema, schema)
    reference = jsonschema.validators.validator_for(schema)(schema)
    for record in records(schema):
        assert fast(record) == reference.is_valid(record), record


def test_invalid_record_raises_the_jsonschema_message():
    validator = FastValidator(SCHEMAS["plain types"])
    validator.validate({"i": 1, "n": decimal.Decimal("1.5")})
    with pytest.raises(InvalidRecord, match="'x' is not of type 'integer'"):
        validator.validate({"i": "x"})
