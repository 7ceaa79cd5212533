"""Pure record → row conversion: Python values to Postgres text values and COPY text-format lines."""

from __future__ import annotations

import datetime
import decimal
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import simplejson

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Encoder = Callable[[Any], "str | None"]

# NUL is never in a value that gets this far (see unstorable): COPY would refuse it, loudly.
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


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


NUL = "\x00"


def unstorable(value: Any, path: str = "") -> str | None:
    """Where a JSON-like value holds what PostgreSQL's text and jsonb cannot store (NUL), if anywhere.

    The one place that decides it for every lane: the encoders raise with its answer, the fast lanes hand
    any value in doubt to them.

    Args:
        value: A JSON-like value (dict, list, str, number, bool, None).
        path: Where ``value`` is inside the column's value (``""``: it is the column's value).

    Returns:
        None, or a description such as ``the key 'a\\x00' at [2]`` (for the error and the quarantine).
    """
    if isinstance(value, str):
        what = _unstorable_text(value)
        return None if what is None else f"the text at {path} {what}" if path else f"the text {what}"
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (what := _unstorable_text(key)) is not None:
                return f"the key {key!r} at {path} {what}" if path else f"the key {key!r} {what}"
            if (found := unstorable(item, f"{path}.{key}" if path else str(key))) is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if (found := unstorable(item, f"{path}[{index}]")) is not None:
                return found
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _unstorable_text(text: str) -> str | None:
    """What in a string PostgreSQL cannot store: NUL, or a lone surrogate (JSON's ``\\ud800`` escape)."""
    if NUL in text:
        return "contains NUL (\\u0000)"
    if not text.isascii() and (found := _SURROGATE.search(text)) is not None:
        return f"holds a lone surrogate (\\u{ord(found.group()):04x})"
    return None


def _refuse(where: str) -> UnfitValueError:
    return UnfitValueError(
        f"{where}, which PostgreSQL cannot store: the record is rejected rather than stored changed"
    )


def shown(value: Any) -> Any:
    """A copy of a JSON-like value PostgreSQL can store, for ``_pipeboard_rejects`` and error messages.

    NUL and lone surrogates become the six characters of their escape (``\\u0000``, ``\\ud800``), in keys
    too; anything else is kept.

    Args:
        value: A JSON-like value.

    Returns:
        The value, changed only where it held NUL.
    """
    if isinstance(value, str):
        if NUL in value:
            value = value.replace(NUL, "\\u0000")
        if not value.isascii() and _SURROGATE.search(value):
            value = _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", value)
        return value
    if isinstance(value, dict):
        return {shown(key): shown(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [shown(item) for item in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def to_json(value: Any) -> str:
    """JSON text for a ``jsonb`` column: decimals exact, non-ASCII kept as is.

    Args:
        value: Any JSON-like value.

    Returns:
        Compact JSON text.

    Raises:
        UnfitValueError: The value holds NUL (in a key or a string, at any depth), which jsonb cannot store.
    """
    text = _dumps(value)
    # JSON escapes NUL as \u0000 (the text of a backslash before "u0000" also has it: then there is no NUL).
    if "\\u0000" in text and (where := unstorable(value)) is not None:
        raise _refuse(where)
    return text


def to_json_shown(value: Any) -> str:
    """JSON text of :func:`shown` ``(value)``: a record or key as ``_pipeboard_rejects`` and errors show it.

    Args:
        value: Any JSON-like value.

    Returns:
        Compact JSON text jsonb can store.
    """
    text = _dumps(value)
    return _dumps(shown(value)) if "\\u0000" in text or not text.isascii() else text


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
    if isinstance(value, str):
        if NUL in value:
            raise _refuse("the text contains NUL (\\u0000)")
        return str(value)
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
        parsed = parse_date_time(value)
    else:
        raise UnfitValueError(f"{value!r} is not a date-time")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    elif isinstance(value, str) and is_utc_rfc3339(value):
        return value
    return parsed.isoformat()


def parse_date_time(text: str) -> datetime.datetime:
    """The date-time ``text`` is, in whole: ISO 8601 as Python reads it, or RFC 3339's lowercase ``t``/``z``.

    Nothing may follow the value (``2024-01-01garbage`` is no date-time): every lane's date, date-time and
    time values are decided here or by :func:`_date` / :func:`_time`, which read the whole text too.

    Args:
        text: The record's value.

    Returns:
        The parsed value (naive when the text has no offset).

    Raises:
        UnfitValueError: The text is not, in whole, a date-time.
    """
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(text.upper())  # RFC 3339 allows t and z
    except ValueError as exc:
        raise UnfitValueError(f"{text!r} is not an RFC 3339 date-time") from exc


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
            if len(value) <= 10:
                return datetime.date.fromisoformat(value).isoformat()
            # A whole date-time is a date too (its own, local date), as Postgres reads one; nothing else is.
            return parse_date_time(value).date().isoformat()
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


# COPY text goes to libpq in pieces of about this size: libpq's output buffer grows to the largest piece
# it is handed (and keeps that size); a batch's text never exists twice (rows are released once joined).
PIECE_BYTES = 256 << 10


def row_bytes(row: Sequence[str | None] | str) -> int:
    """The memory a batch row takes: its COPY line (``sys.getsizeof``), or its text values and their tuple.

    Args:
        row: A COPY text line, or a tuple of text values / None.

    Returns:
        Bytes (what the batch's byte bound counts).
    """
    if type(row) is str:
        return sys.getsizeof(row)
    return sys.getsizeof(row) + sum([sys.getsizeof(value) for value in row if value is not None])


def copy_pieces(rows: list, piece_bytes: int = PIECE_BYTES) -> list[bytes | str]:
    """The COPY text-format data of a batch's rows, in pieces of whole lines, releasing the rows as it goes.

    Each piece holds whole lines, up to ``piece_bytes`` characters of them (UTF-8 encoded); a longer line is a
    piece of its own, kept as the ``str`` it is (:class:`ChunkReader` encodes it a slice at a time), so the
    batch's text is never held twice: ``rows`` is emptied (its items set to None) piece by piece.

    Args:
        rows: Rows of text values or None, or rows already in COPY text (a line, newline included).
        piece_bytes: The size to aim for per piece.

    Returns:
        The pieces, in row order.
    """
    pieces: list[bytes | str] = []
    start = 0
    count = len(rows)
    while start < count:
        end, size, long_line = start, 0, False
        while end < count:
            row = rows[end]
            if type(row) is not str:
                rows[end] = row = copy_line(row)
            if len(row) >= piece_bytes:  # a long line is a piece of its own, kept as text
                long_line = end == start
                end += long_line
                break
            if size + len(row) > piece_bytes:
                break
            size += len(row)
            end += 1
        pieces.append(rows[start] if long_line else "".join(rows[start:end]).encode("utf-8"))
        rows[start:end] = [None] * (end - start)
        start = end
    rows.clear()
    return pieces


class ChunkReader:
    """A read-only file over COPY text pieces, for ``copy_expert``: at most ``PIECE_BYTES`` per ``read``.

    A ``str`` piece (one long line) is encoded a slice at a time; the pieces themselves are left as they are
    (a retried transaction reads them again).
    """

    def __init__(self, pieces: Sequence[bytes | str], size: int = PIECE_BYTES) -> None:
        """Read ``pieces`` in order.

        Args:
            pieces: The pieces (not modified).
            size: The most one ``read`` returns.
        """
        self._pieces = iter(pieces)
        self._size = size
        self._current: bytes | str = b""
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        """The next slice of text (at most the reader's size), or ``b""`` at the end."""
        while self._offset >= len(self._current):
            piece = next(self._pieces, None)
            if piece is None:
                return b""
            self._current, self._offset = piece, 0
        current, start = self._current, self._offset
        if type(current) is bytes and start == 0 and len(current) <= self._size:
            self._offset = len(current)
            return current
        self._offset = start + self._size
        part = current[start : self._offset]
        return part.encode("utf-8") if type(part) is str else part

    def readline(self, size: int = -1) -> bytes:
        """psycopg2 only calls ``read``; this keeps the file protocol honest."""
        return self.read(size)


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
