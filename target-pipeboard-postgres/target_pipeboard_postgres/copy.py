"""Pure record → row conversion: Python values to Postgres text values and COPY text-format lines."""

from __future__ import annotations

import datetime
import decimal
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import simplejson

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Encoder = Callable[[Any], "str | None"]

COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": ""})


def beyond_int64(text: str) -> bool:
    """Whether a ``bigint`` value's text (a plain integer) is beyond int64: its column must become numeric.

    Text of at most 18 characters always fits; callers on hot paths test ``len(text) > 18`` first.

    Args:
        text: Integer text, as the encoders make it.

    Returns:
        True when Postgres' ``bigint`` cannot hold it.
    """
    return len(text) > 18 and not INT64_MIN <= int(text) <= INT64_MAX


class UnfitValueError(ValueError):
    """A value that does not fit its column type."""


def strip_nul(value: Any) -> Any:
    """Remove ``\\u0000`` from every string (keys included) at any depth of a JSON-like value.

    Args:
        value: A JSON-like value (dict, list, str, number, bool, None).

    Returns:
        The same value without NUL characters; unchanged objects are returned as they are.
    """
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {strip_nul(key): strip_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strip_nul(item) for item in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def to_json(value: Any) -> str:
    """JSON text for a ``jsonb`` column: NUL-free, decimals exact, non-ASCII kept as is.

    Args:
        value: Any JSON-like value.

    Returns:
        Compact JSON text.
    """
    text = _dumps(value)
    # JSON escapes NUL as \u0000, which jsonb rejects; strip only when one is there (the rare case).
    return _dumps(strip_nul(value)) if "\\u0000" in text else text


def _plain_json_refusal(value: Any) -> Any:
    raise TypeError(type(value).__name__)


# The C-accelerated stdlib encoder gives the same text as simplejson for plain JSON values (str, int, float,
# bool, None, dict, list); anything else (Decimal, dates, ...) makes it refuse and simplejson takes over.
if json.encoder.c_make_encoder is not None:
    # The C encoder JSONEncoder.encode would build on every call, built once (no circular-reference markers:
    # a cycle ends in RecursionError, which sends the value to simplejson like any refusal).
    _plain_chunks = json.encoder.c_make_encoder(
        None, _plain_json_refusal, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )

    def _plain_dumps(value: Any) -> str:
        return "".join(_plain_chunks(value, 0))

else:  # pragma: no cover - CPython always has the C encoder
    _plain_dumps = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_plain_json_refusal
    ).encode


def _dumps(value: Any) -> str:
    try:
        return _plain_dumps(value)
    except (TypeError, ValueError, RecursionError):
        pass
    return simplejson.dumps(
        value,
        use_decimal=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=_json_default,
        ignore_nan=False,
    )


def _text(value: Any) -> str:
    if type(value) is str:
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict | list):
        return to_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return _decimal_text(value)
    return str(value)


def _decimal_text(value: decimal.Decimal) -> str:
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "Infinity" if value > 0 else "-Infinity"
    return format(value, "f")


def _bigint(value: Any) -> str:
    if type(value) is int:
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | decimal.Decimal | float | str):
        raise UnfitValueError(f"{value!r} is not an integer")
    if isinstance(value, int):
        return str(value)
    try:
        number = decimal.Decimal(value)
    except decimal.InvalidOperation as exc:
        raise UnfitValueError(f"{value!r} is not an integer") from exc
    if not number.is_finite() or number != number.to_integral_value():
        raise UnfitValueError(f"{value!r} is not an integer")
    return str(int(number))


def _numeric(value: Any) -> str:
    if isinstance(value, bool):
        raise UnfitValueError(f"{value!r} is not a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return _decimal_text(value)
    if isinstance(value, float):
        return repr(value) if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, str):
        try:
            return _decimal_text(decimal.Decimal(value))
        except decimal.InvalidOperation as exc:
            raise UnfitValueError(f"{value!r} is not a number") from exc
    raise UnfitValueError(f"{value!r} is not a number")


def _boolean(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower()
    raise UnfitValueError(f"{value!r} is not a boolean")


def _timestamptz(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        parsed = value
    elif isinstance(value, datetime.date):
        parsed = datetime.datetime.combine(value, datetime.time())
    elif isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value)
        except ValueError as exc:
            raise UnfitValueError(f"{value!r} is not an RFC 3339 date-time") from exc
    else:
        raise UnfitValueError(f"{value!r} is not a date-time")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    elif isinstance(value, str) and is_utc_rfc3339(value):
        return value
    return parsed.isoformat()


def is_utc_rfc3339(text: str) -> bool:
    """Whether date-time text Python parsed is RFC 3339 in UTC with at most microseconds.

    Such text goes to Postgres as is (it reads the same instant); the generated encoders inline this test.

    Args:
        text: Text ``datetime.fromisoformat`` accepted.

    Returns:
        True for ``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+00:00)``.
    """
    n = len(text)
    if n < 20 or text[4] != "-" or text[7] != "-" or text[10] != "T" or text[13] != ":" or text[16] != ":":
        return False
    if n == 20:
        return text[19] == "Z"
    if n == 25 and text[19:] == "+00:00":
        return True
    return 21 < n <= 32 and text[19] == "." and ((text[-1] == "Z" and n <= 27) or text[-6:] == "+00:00")


def _date(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value[:10] if len(value) > 10 else value).isoformat()
        except ValueError as exc:
            raise UnfitValueError(f"{value!r} is not a date") from exc
    raise UnfitValueError(f"{value!r} is not a date")


def _time(value: Any) -> str:
    if isinstance(value, datetime.time):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return datetime.time.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise UnfitValueError(f"{value!r} is not a time") from exc
    raise UnfitValueError(f"{value!r} is not a time")


ENCODERS: dict[str, Encoder] = {
    "bigint": _bigint,
    "numeric": _numeric,
    "boolean": _boolean,
    "text": _text,
    "timestamptz": _timestamptz,
    "date": _date,
    "time": _time,
    "jsonb": to_json,
}


def encoder_for(pg_type: str) -> Encoder:
    """The function turning a Python value into the Postgres text input for ``pg_type``.

    Args:
        pg_type: One of the column types (bigint, numeric, boolean, text, timestamptz, date, time, jsonb).

    Returns:
        A function value → text; it raises ``ValueError`` when the value does not fit.
    """
    return ENCODERS[pg_type]


def encode_value(value: Any, pg_type: str) -> str | None:
    """Postgres text input for one value (``None`` stays ``None``, i.e. SQL NULL).

    Args:
        value: The record's value.
        pg_type: The column type.

    Returns:
        The text form Postgres parses into ``pg_type``, or None.

    Raises:
        ValueError: The value does not fit the type.
    """
    if value is None:
        return None
    return ENCODERS[pg_type](value)


def encode_record(record: dict[str, Any], properties: Sequence[str], types: Sequence[str]) -> tuple:
    """Encode the record's values for the given properties, in order.

    Args:
        record: The Singer record.
        properties: Property names, in column order.
        types: The column type of each property.

    Returns:
        A tuple of text values / None, one per property.

    Raises:
        FieldError: A value does not fit its column; names the property.
    """
    get = record.get
    encoders = [ENCODERS[pg_type] for pg_type in types]
    try:
        return tuple(
            None if (value := get(prop)) is None else encode(value)
            for prop, encode in zip(properties, encoders, strict=True)
        )
    except ValueError:
        for prop, encode in zip(properties, encoders, strict=True):
            value = get(prop)
            try:
                _ = None if value is None else encode(value)
            except ValueError as exc:
                raise FieldError(prop, str(exc)) from exc
        raise


# Inline fast paths of the generated encoder: the common Python type of each column type, no call needed.
INLINE_ENCODINGS = {
    "text": "v if type(v) is str and '\\x00' not in v else {e}(v)",
    "bigint": "str(v) if type(v) is int else {e}(v)",
    "numeric": (
        "str(v) if type(v) is int else format(v, 'f') if type(v) is Decimal and v.is_finite() else {e}(v)"
    ),
    "boolean": "('true' if v else 'false') if type(v) is bool else {e}(v)",
    # Text Python parsed that is RFC 3339 in UTC (``Z`` or ``+00:00``, at most microseconds) passes as is:
    # Postgres reads the same instant from it. Anything else is re-printed from the parsed value.
    "timestamptz": (
        "((v if (n := len(v)) >= 20 and v[10] == 'T' and v[4] == '-' and v[7] == '-' and v[13] == ':' "
        "and v[16] == ':' and (n == 20 and v[19] == 'Z' or n == 25 and v[19:] == '+00:00' or 21 < n <= 32 "
        "and v[19] == '.' and (v[-1] == 'Z' and n <= 27 or v[-6:] == '+00:00')) else p.isoformat()) "
        "if (p := DATETIME_FROM_ISO(v)).tzinfo is not None else {e}(v)) if type(v) is str else {e}(v)"
    ),
    "date": (
        "(v if v[4] == '-' and v[7] == '-' else d.isoformat()) if type(v) is str and len(v) == 10 "
        "and (d := DATE_FROM_ISO(v)) else {e}(v)"
    ),
}


def compile_encoder(properties: Sequence[str], types: Sequence[str]) -> Callable[[dict[str, Any]], tuple]:
    """A generated function doing what :func:`encode_record` does for fixed columns, without a call per value.

    Property names enter the source only as ``repr()`` literals; encoders are bound by index.

    Args:
        properties: Property names, in column order.
        types: The column type of each property.

    Returns:
        record → tuple of text values / None; raises :class:`FieldError` naming the field on a bad value.
    """
    namespace: dict[str, Any] = {
        "encode_record": encode_record,
        "PROPERTIES": tuple(properties),
        "TYPES": tuple(types),
        "Decimal": decimal.Decimal,
        "DATETIME_FROM_ISO": datetime.datetime.fromisoformat,
        "DATE_FROM_ISO": datetime.date.fromisoformat,
    }
    body = []
    for index, (prop, pg_type) in enumerate(zip(properties, types, strict=True)):
        name = f"e{index}"
        namespace[name] = ENCODERS[pg_type]
        inline = INLINE_ENCODINGS.get(pg_type, "{e}(v)").format(e=name)
        body.append(f"            None if (v := g({prop!r})) is None else ({inline}),")
    # One tuple display: no list, no append call per value.
    source = "\n".join(
        [
            "def encode(record):",
            "    g = record.get",
            "    try:",
            "        return (",
            *body,
            "        )",
            "    except ValueError:",
            "        return encode_record(record, PROPERTIES, TYPES)",
        ]
    )
    exec(compile(source, "<pipeboard-encoder>", "exec"), namespace)  # noqa: S102 - names are repr() literals
    return namespace["encode"]


def _numeric_key(text: str) -> Any:
    # Decimals equal as numbers hash alike (1, 1.0, 1E+0, -0 and 0); NaN, never equal to itself in Python,
    # is one value in Postgres.
    number = decimal.Decimal(text)
    return "NaN" if number.is_nan() else number


_KEY_VALUES: dict[str, Callable[[str], Any]] = {
    "numeric": _numeric_key,
    "timestamptz": datetime.datetime.fromisoformat,  # one instant at any offset
}


def key_identity(types: Sequence[str]) -> Callable[[Any], Any] | None:
    """The value that makes two rows' keys the same key in Postgres, for key columns whose text may differ.

    A batch keeps one row per key (the last); rows whose key texts differ but whose keys Postgres finds equal
    (``1`` and ``1.0`` in a numeric column, one instant at two offsets in a timestamptz column) must be one
    row too, or the batch's upsert fails ("cannot affect row a second time").

    Args:
        types: The column type of each key column, in key order.

    Returns:
        key (text, or a tuple of texts for several columns) → a value equal for equal keys, or None when equal
        keys always have equal texts (integer, text, date, boolean keys).
    """
    parts = [_KEY_VALUES.get(pg_type) for pg_type in types]
    if not any(parts):
        return None
    if len(parts) == 1:
        only = parts[0]
        return lambda key: None if key is None else only(key)
    return lambda key: tuple(
        value if part is None or value is None else part(value)
        for part, value in zip(parts, key, strict=True)
    )


class FieldError(ValueError):
    """A record's field whose value does not fit the column."""

    def __init__(self, field: str, reason: str) -> None:
        """Keep the field name and the reason.

        Args:
            field: The property name.
            reason: Why the value does not fit.
        """
        super().__init__(f"field {field!r}: {reason}")
        self.field = field
        self.reason = reason


def copy_line(values: Iterable[str | None]) -> str:
    """One COPY text-format line (tab separated, ``\\N`` for NULL, backslash escapes, newline-terminated).

    Args:
        values: Text values or None.

    Returns:
        The line, ending in ``\\n``.
    """
    row = tuple(values)
    nulls = row.count(None)
    line = "\t".join(["\\N" if value is None else value for value in row])
    # Fast path: nothing to escape when the only backslashes are the NULL markers and tabs only separate.
    if (
        line.count("\\") != nulls
        or line.count("\t") != len(row) - 1
        or "\n" in line
        or "\r" in line
        or "\x00" in line
    ):
        line = "\t".join("\\N" if value is None else value.translate(COPY_ESCAPES) for value in row)
    return line + "\n"


def copy_chunks(rows: Sequence[Sequence[str | None] | str], rows_per_chunk: int = 500) -> list[bytes]:
    """The COPY text-format data of many rows, UTF-8 encoded, in pieces of ``rows_per_chunk`` lines.

    Args:
        rows: Rows of text values or None, or rows already in COPY text (a line, newline included).
        rows_per_chunk: Lines per piece (pieces keep memory flat: no one copy of the whole batch).

    Returns:
        The pieces, in row order.
    """
    return [
        "".join(
            [row if type(row) is str else copy_line(row) for row in rows[start : start + rows_per_chunk]]
        ).encode("utf-8")
        for start in range(0, len(rows), rows_per_chunk)
    ]


_COPY_UNESCAPES = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
_COPY_ESCAPE_SEQUENCE = re.compile(r"\\[\\tnr]")


def parse_copy_line(line: str) -> tuple[str | None, ...]:
    """The values of one COPY text-format line :func:`copy_line` wrote (the inverse of it).

    Args:
        line: The line, with or without its newline.

    Returns:
        Text values, None for ``\\N``.
    """
    fields = line.removesuffix("\n").split("\t")
    return tuple(
        None
        if field == "\\N"
        else _COPY_ESCAPE_SEQUENCE.sub(lambda match: _COPY_UNESCAPES[match.group()], field)
        if "\\" in field
        else field
        for field in fields
    )
