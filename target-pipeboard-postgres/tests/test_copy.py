"""Pure record → COPY row shaping: no database."""

from __future__ import annotations

import datetime
import decimal
import functools
import json

import pytest
from target_pipeboard_postgres.copy import (
    ChunkReader,
    FieldError,
    UnfitValueError,
    compile_encoder,
    copy_line,
    copy_pieces,
    encode_record,
    encode_value,
    parse_copy_line,
    shown,
    to_json,
    to_json_shown,
    unstorable,
)


def test_unstorable_finds_nul_and_lone_surrogates_in_strings_and_keys_at_any_depth():
    assert unstorable({"a": ["x", {"deep": "yz", "n": 1}], "ok": None, "pair": "\U0001f600"}) is None
    assert (
        unstorable({"a": ["x", {"deep": "y\x00z", "n": 1}]}) == "the text at a[1].deep contains NUL (\\u0000)"
    )
    assert unstorable({"a": [{"k\x00": 1}]}) == "the key 'k\\x00' at a[0] contains NUL (\\u0000)"
    assert unstorable({"a\x00b": 1, "ab": 2}) == "the key 'a\\x00b' contains NUL (\\u0000)"
    assert unstorable("x\x00") == "the text contains NUL (\\u0000)"
    assert unstorable(["\ud800"]) == "the text at [0] holds a lone surrogate (\\ud800)"
    assert shown({"k\udc00": "\ud800"}) == {"k\\udc00": "\\ud800"}


def test_nul_is_refused_never_stripped_and_shown_as_text_in_quarantine():
    for value in ({"a\x00": 1, "a": 2}, ["x\x00"], "x\x00"):
        with pytest.raises(UnfitValueError, match="contains NUL"):
            to_json(value)
    assert to_json({"lit\\u0000": "\\u0000"}) == '{"lit\\\\u0000":"\\\\u0000"}'  # a backslash, no NUL
    assert shown({"a\x00": ["x\x00"], "a": 2}) == {"a\\u0000": ["x\\u0000"], "a": 2}
    assert to_json_shown({"a\x00": 1, "a": 2}) == '{"a\\\\u0000":1,"a":2}'


def test_jsonb_text_keeps_exact_decimals():
    text = to_json({"v": decimal.Decimal("12345678901234567890.123456789"), "s": "ab", "u": "ünï"})
    assert text == '{"v":12345678901234567890.123456789,"s":"ab","u":"ünï"}'
    assert json.loads(text, parse_float=decimal.Decimal)["v"] == decimal.Decimal(
        "12345678901234567890.123456789"
    )


@pytest.mark.parametrize(
    ("value", "pg_type", "expected"),
    [
        (2**70, "bigint", str(2**70)),
        (2**70, "numeric", "1180591620717411303424"),
        (decimal.Decimal("0.1"), "numeric", "0.1"),
        (decimal.Decimal("1E+3"), "numeric", "1000"),
        (decimal.Decimal("-0.000000000000000000001"), "numeric", "-0.000000000000000000001"),
        (1.5, "numeric", "1.5"),
        (True, "boolean", "true"),
        ("2024-05-06T07:08:09+02:00", "timestamptz", "2024-05-06T07:08:09+02:00"),
        ("2024-05-06T07:08:09Z", "timestamptz", "2024-05-06T07:08:09Z"),
        ("2024-05-06 07:08:09", "timestamptz", "2024-05-06T07:08:09+00:00"),
        (
            datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
            "timestamptz",
            "2024-05-06T07:08:09-05:00",
        ),
        ("2024-05-06", "date", "2024-05-06"),
        ("07:08:09", "time", "07:08:09"),
        ({"a": [1, "x"]}, "jsonb", '{"a":[1,"x"]}'),
        ("plain", "jsonb", '"plain"'),
        ({"a": 1}, "text", '{"a":1}'),
        ("tab\there", "text", "tab\there"),
        (12, "text", "12"),
    ],
    ids=lambda v: repr(v)[:30],
)
def test_encode_value_gives_postgres_input_text(value, pg_type, expected):
    assert encode_value(value, pg_type) == expected


@pytest.mark.parametrize(
    ("value", "pg_type"),
    [
        ("abc", "bigint"),
        (1.5, "bigint"),
        (True, "bigint"),
        ("x", "numeric"),
        ("yes", "boolean"),
        ("not a date", "timestamptz"),
        ("2024-13-01", "date"),
        ("25:00", "time"),
        ("x\x00", "text"),
        ({"a\x00": 1}, "jsonb"),
        ({"a\x00": 1}, "text"),
        ("2024-01-01garbage!!", "date"),
        ("2024-01-01T10:00:00Zjunk", "timestamptz"),
    ],
)
def test_encode_value_rejects_values_that_do_not_fit(value, pg_type):
    with pytest.raises(ValueError, match=r"is not|contains NUL"):
        encode_value(value, pg_type)


def test_none_is_sql_null_for_every_type():
    for pg_type in ("bigint", "numeric", "boolean", "text", "timestamptz", "date", "time", "jsonb"):
        assert encode_value(None, pg_type) is None


def test_encode_record_orders_values_and_names_the_bad_field():
    record = {"id": 1, "when": "2024-01-01T00:00:00Z", "extra": "ignored"}
    assert encode_record(record, ["id", "when", "missing"], ["bigint", "timestamptz", "text"]) == (
        "1",
        "2024-01-01T00:00:00Z",
        None,
    )
    with pytest.raises(FieldError, match="field 'when'") as caught:
        encode_record({"id": 1, "when": "yesterday"}, ["id", "when"], ["bigint", "timestamptz"])
    assert caught.value.field == "when"


def test_copy_line_escapes_text_format_specials_and_marks_nulls():
    line = copy_line(["a\tb", "c\nd", "back\\slash", None, "cr\r", ""])
    assert line == "a\\tb\tc\\nd\tback\\\\slash\t\\N\tcr\\r\t\n"


@pytest.mark.parametrize(
    "row",
    [
        ("a\tb", "c\nd", "back\\slash", None, "cr\r", ""),
        ("\\N", "\\t", "\\\\", "tail\\"),
        (None,),
        ("",),
        ("ü — \U0001f600",),
    ],
)
def test_parse_copy_line_reads_back_what_copy_line_wrote(row):
    assert parse_copy_line(copy_line(row)) == row
    assert parse_copy_line(copy_line(row).removesuffix("\n")) == row


def test_copy_pieces_hold_whole_lines_in_order_and_release_the_rows():
    rows = [(str(i), None if i % 3 else "t\tab") for i in range(1203)]
    expected = "".join(copy_line(row) for row in rows)
    work = list(rows)
    pieces = copy_pieces(work, piece_bytes=1000)
    assert work == []  # released as they were joined
    assert len(pieces) > 5
    assert all(type(piece) is bytes and piece.endswith(b"\n") for piece in pieces)
    assert all(len(piece) <= 1000 for piece in pieces)  # ASCII: characters are bytes
    assert b"".join(pieces).decode() == expected
    assert copy_pieces([]) == []
    # Rows already in COPY text (the record fast lane's) go as they are, among the others.
    mixed = [copy_line(row) if i % 2 else row for i, row in enumerate(rows)]
    assert copy_pieces(mixed, piece_bytes=1000) == pieces


def test_a_line_longer_than_a_piece_is_a_piece_of_its_own_kept_as_text():
    long_line = copy_line(("1", "ü" * 5000))
    rows = [copy_line(("0", "a")), long_line, copy_line(("2", "b"))]
    pieces = copy_pieces(list(rows), piece_bytes=1000)
    assert pieces == [rows[0].encode(), long_line, rows[2].encode()]
    assert pieces[1] is long_line  # no second copy of it


def test_chunk_reader_hands_over_at_most_its_size_per_read_and_can_be_read_again():
    long_line = copy_line(("1", "ü—" * 3000))
    pieces = copy_pieces([copy_line((str(i), "x" * 50)) for i in range(100)] + [long_line], piece_bytes=2000)
    expected = b"".join(piece.encode() if type(piece) is str else piece for piece in pieces)
    for _ in range(2):  # a retried transaction reads the same pieces again
        reader = ChunkReader(pieces, size=1000)
        parts = list(iter(functools.partial(reader.read, 8192), b""))
        assert b"".join(parts) == expected
        assert max(len(part) for part in parts) <= 3 * 1000  # at most 1000 characters of UTF-8
        assert reader.read() == b""


def test_generated_encoder_matches_encode_record_and_names_the_bad_field():
    properties = ["id", "t", "n", "b", "at", "d", "doc", "quote'name"]
    types = ["bigint", "text", "numeric", "boolean", "timestamptz", "date", "jsonb", "text"]
    encode = compile_encoder(properties, types)
    samples = [
        {"id": 1, "t": "x\ty", "n": decimal.Decimal("1.50"), "b": False, "at": "2024-01-01T00:00:00+05:00",
         "d": "2024-02-03", "doc": {"k": ["v\n"]}, "quote'name": 7},
        {"id": 2**70, "t": None, "n": 3, "b": True, "doc": [], "quote'name": "q"},
        {},
    ]  # fmt: skip
    for record in samples:
        assert encode(record) == encode_record(record, properties, types)
    with pytest.raises(FieldError, match="field 'n'"):
        encode({"id": 1, "n": "many"})
    with pytest.raises(FieldError, match="field 'doc': the text at k\\[0\\] contains NUL"):
        encode({"id": 1, "doc": {"k": ["v\x00"]}})
