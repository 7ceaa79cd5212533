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
from target_pipeboard_postgres.copy import FieldError, compile_encoder, parse_copy_line, to_json
from target_pipeboard_postgres.fastpath import compile_row_maker
from target_pipeboard_postgres.fastread import (
    clean_line,
    compile_line_reader,
    compile_record_reader,
    decode_envelope,
)
from target_pipeboard_postgres.validator import FastValidator

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
    read_line = compile_line_reader(SCHEMA, PROPERTIES, types, metadata=False)
    assert read is not None
    assert read_line is not None
    for title in ("tab\there", "clean"):  # the row reader, and the line reader's own pass
        for fits, value in ((True, 2**63 - 1), (True, -(2**63)), (False, 2**63), (False, -(2**63) - 1)):
            text = _line({**PLAIN, "title": title, prop: value})
            assert (read(decode_envelope(text)) is not None) is fits, (title, value)
            assert (read_line(decode_envelope(text), text.encode()) is not None) is fits, (title, value)


# --- the line reader: clean lines become COPY text at once, others the row above ---

LINE_CHANGES = [
    *JSON_CHANGES,
    {"title": "tab\there"},
    {"title": "new\nline"},
    {"title": "cr\rhere"},
    {"title": "back\\slash"},
    {"title": "\\N"},
    {"title": 'quote" and slash/'},
    {"title": "\u0085 and \u2028 and \U0001f600"},
    {"extra": {"q": 'a"b', "t": "x\ty", "b": "\\"}},
    {"extra": {"u": "\u2014"}},
    {"labels": None},
    {"labels": [1, None]},
    {"labels": [2**70, -3]},
    {"labels": [True]},
    {"anything": "tab\tin json"},
]
CLEAN_TITLE = {"title": "Deal one — ü"}


@pytest.mark.parametrize("ensure_ascii", [False, True], ids=["utf8", "ascii-escaped"])
@pytest.mark.parametrize("change", LINE_CHANGES, ids=lambda change: repr(change)[:40])
def test_line_reader_rows_hold_the_general_paths_values_or_defer(change, ensure_ascii):
    record = {**PLAIN, **CLEAN_TITLE, **change}
    text = _line(record, ensure_ascii=ensure_ascii)
    read = compile_line_reader(SCHEMA, PROPERTIES, TYPES, metadata=False, key_index=[0])
    assert read is not None
    taken = read(decode_envelope(text), text.encode())
    general = _general(_DECODE(text)["record"])
    if isinstance(general, type):
        assert taken is None
        return
    if taken is None:  # deferring is always allowed; the plain shapes must not defer
        assert change not in ({}, JSON_CHANGES[1], LINE_CHANGES[-2])
        return
    key, row = taken
    if isinstance(row, str):  # one COPY line: every special character escaped
        assert row.endswith("\n")
        assert row.count("\n") == 1
        assert row.count("\t") == len(PROPERTIES) - 1
        values = parse_copy_line(row)
    else:
        values = row
    assert key == general[0]
    assert len(values) == len(general)
    for prop, pg_type, fast, slow in zip(PROPERTIES, TYPES, values, general, strict=True):
        assert _same_value(pg_type, fast, slow), (prop, fast, slow)


@pytest.mark.parametrize("ensure_ascii", [False, True], ids=["utf8", "ascii-escaped"])
@pytest.mark.parametrize("change", LINE_CHANGES, ids=lambda change: repr(change)[:40])
def test_one_pass_message_reader_gives_the_line_readers_row_or_asks_it(change, ensure_ascii):
    read = compile_line_reader(SCHEMA, PROPERTIES, TYPES, metadata=False, key_index=[0], stream="s")
    assert read is not None
    text = _line({**PLAIN, **CLEAN_TITLE, **change}, ensure_ascii=ensure_ascii)
    line = text.encode()
    whole = read.read_message(line)  # type: ignore[attr-defined]
    taken = read(decode_envelope(line), line)
    if whole is not None:  # it only ever answers what the line reader answers
        assert whole == taken
    known = set(change) <= set(PROPERTIES)
    if taken is not None and isinstance(taken[1], str) and known:  # it answers for every clean line taken
        assert whole == taken
    if not known:  # a key it does not know (whose UTF-8 msgspec would not check): the line reader's
        assert whole is None


def test_one_pass_message_reader_leaves_other_lines_to_the_line_reader():
    read = compile_line_reader(SCHEMA, PROPERTIES, TYPES, metadata=False, key_index=[0], stream="s")
    assert read is not None
    read_message = read.read_message  # type: ignore[attr-defined]
    record = {**PLAIN, **CLEAN_TITLE}
    assert read_message(_line(record).encode()) is not None
    other_stream = _line(record).replace('"stream": "s"', '"stream": "t"')
    assert '"stream": "t"' in other_stream
    not_clean = _line({**record, "title": "a\tb"})
    state = json.dumps({"type": "STATE", "value": {"bookmarks": {}}})
    not_a_record = simplejson.dumps({"type": "SCHEMA", "stream": "s", "record": record}, use_decimal=True)
    for line in (other_stream, not_clean, state, not_a_record, "[]", "{", ""):
        assert read_message(line.encode()) is None, line
    assert compile_line_reader(SCHEMA, PROPERTIES, TYPES, metadata=False).read_message is None  # type: ignore[union-attr]


@pytest.mark.parametrize("ensure_ascii", [False, True], ids=["utf8", "ascii-escaped"])
def test_clean_lines_become_copy_lines_and_the_others_rows(ensure_ascii):
    read = compile_line_reader(SCHEMA, PROPERTIES, TYPES, metadata=False, key_index=[0])
    assert read is not None
    clean = _line({**PLAIN, **CLEAN_TITLE}, ensure_ascii=ensure_ascii)
    taken = read(decode_envelope(clean), clean.encode())
    assert taken is not None
    assert taken[0] == "1"
    assert isinstance(taken[1], str)
    assert parse_copy_line(taken[1])[1] == "Deal one — ü"
    with_tab = _line({**PLAIN, "title": "a\tb"}, ensure_ascii=ensure_ascii)
    taken = read(decode_envelope(with_tab), with_tab.encode())
    assert taken is not None
    row_reader = compile_record_reader(SCHEMA, PROPERTIES, TYPES, metadata=False)
    assert row_reader is not None
    assert taken[1] == row_reader(decode_envelope(with_tab))


def test_line_reader_keys_rows_by_their_key_values():
    read = compile_line_reader(SCHEMA, PROPERTIES, TYPES, metadata=False, key_index=[0, 1])
    assert read is not None
    text = _line({**PLAIN, **CLEAN_TITLE})
    assert read(decode_envelope(text), text.encode())[0] == ("1", "Deal one — ü")  # type: ignore[index]
    unkeyed = compile_line_reader(SCHEMA, PROPERTIES, TYPES, metadata=False)
    assert unkeyed is not None
    assert unkeyed(decode_envelope(text), text.encode())[0] is None  # type: ignore[index]
    null_key = _line({**PLAIN, **CLEAN_TITLE, "title": None})
    assert read(decode_envelope(null_key), null_key.encode()) is None  # the SDK's path names the null key


def test_line_reader_metadata_columns_hold_the_sdks_values():
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "_sdc_extracted_at": {"type": ["null", "string"], "format": "date-time"},
            "_sdc_received_at": {"type": ["null", "string"], "format": "date-time"},
            "_sdc_batched_at": {"type": ["null", "string"], "format": "date-time"},
            "_sdc_deleted_at": {"type": ["null", "string"], "format": "date-time"},
            "_sdc_sequence": {"type": ["null", "integer"]},
            "_sdc_table_version": {"type": ["null", "integer"]},
            "_sdc_sync_started_at": {"type": ["null", "integer"]},
        },
    }
    properties = list(schema["properties"])
    types = [pg_type_for(schema["properties"][prop]) for prop in properties]
    read = compile_line_reader(schema, properties, types, metadata=True, sync_started_at=1700000000000)
    assert read is not None
    text = json.dumps(
        {
            "type": "RECORD",
            "stream": "s",
            "record": {"id": 1},
            "time_extracted": "2024-03-01T10:00:00+05:30",
            "version": 42,
        }
    )
    before = datetime.datetime.now(datetime.UTC)
    taken = read(decode_envelope(text), text.encode())
    after = datetime.datetime.now(datetime.UTC)
    assert taken is not None
    assert isinstance(taken[1], str)
    values = dict(zip(properties, parse_copy_line(taken[1]), strict=True))
    assert datetime.datetime.fromisoformat(values["_sdc_extracted_at"]) == datetime.datetime.fromisoformat(
        "2024-03-01T10:00:00+05:30"
    )
    tick = datetime.timedelta(milliseconds=1)  # the millisecond of _sdc_sequence, rounded as the SDK does
    for prop in ("_sdc_received_at", "_sdc_batched_at"):
        assert before - tick <= datetime.datetime.fromisoformat(values[prop]) <= after + tick
    assert values["_sdc_deleted_at"] is None
    assert abs(int(values["_sdc_sequence"]) - before.timestamp() * 1000) < 60_000
    assert values["_sdc_table_version"] == "42"
    assert values["_sdc_sync_started_at"] == "1700000000000"
    # The same time_extracted again (the cached check) still refuses what the SDK's path refuses.
    bad = text.replace("+05:30", "+99:99")
    assert read(decode_envelope(bad), bad.encode()) is None


_SPECIALS = ("\\", "\t", "\n", "\r", "\x00")


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (*_strings(key), *_strings(item))]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        (b'{"a": "plain", "n": 1}', True),
        (b'{"a": "\\u2014 dash"}', True),
        (b'{"a": "\\ud83d\\ude00"}', True),
        (b'{"a": "\\t"}', False),
        (b'{"a": "\\n"}', False),
        (b'{"a": "\\r"}', False),
        (b'{"a": "\\\\"}', False),
        (b'{"a": "\\/"}', False),
        (b'{"a": "\\""}', False),
        (b'{"a": "\\u0009"}', False),
        (b'{"a": "\\u0000"}', False),
        (b'{"a": "\\u001F"}', False),
        (b'{"a": "\\u005c"}', False),
        (b'{"a": "\\u005C"}', False),
        (b'{"a": "\\\\u2014"}', False),
        (b'{"a": "' + b"\\u2014" * 40 + b'"}', True),
        (b'{"a": "' + b"\\u2014" * 40 + b'\\n"}', False),
        (b'{"a": "' + b"\\u2014" * 40 + b'\\u000a"}', False),
    ],
)
def test_clean_line_refuses_every_escape_copy_text_must_escape(text, clean):
    assert clean_line(text) is clean
    specials = [s for s in _strings(json.loads(text)) if any(c in s for c in _SPECIALS)]
    if clean:
        assert specials == []


def test_raw_json_whitespace_in_a_clean_line_is_escaped_for_copy():
    read = compile_line_reader(SCHEMA, PROPERTIES, TYPES, metadata=False, key_index=[0])
    assert read is not None
    text = _line({**PLAIN, **CLEAN_TITLE}).replace('"extra": {', '"extra": {\t\r ')
    assert '{\t\r "a"' in text
    taken = read(decode_envelope(text), text.encode())
    assert taken is not None
    assert isinstance(taken[1], str)
    assert taken[1].count("\t") == len(PROPERTIES) - 1
    extra = parse_copy_line(taken[1])[PROPERTIES.index("extra")]
    assert extra is not None
    assert json.loads(extra) == {"a": [None, "ü"], "n": 1.10}
