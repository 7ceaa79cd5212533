"""The record fast lane: a RECORD line's bytes → its row, without building the record as a dict.

msgspec decodes the message envelope and, with a struct generated from the stream's schema, the record itself:
it type-checks plain properties in C while decoding, and keeps numbers and JSON objects as their raw text
(exact decimals for free, no re-encoding for ``jsonb``). Each value then goes through the same check and
encode expressions as :mod:`target_pipeboard_postgres.fastpath`, so a row only comes out of this lane when the
general path (dict, validator, encoder) would accept the record; in every other case the reader returns None
and the line takes the SDK's path, which raises or quarantines with its usual messages.
"""

from __future__ import annotations

import datetime
import decimal
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import msgspec

from target_pipeboard_postgres.copy import COPY_ESCAPES, INLINE_ENCODINGS, INT64_MAX, INT64_MIN, beyond_int64
from target_pipeboard_postgres.fastpath import (
    base_namespace,
    is_simple_array,
    present_value_code,
    supported_root,
)
from target_pipeboard_postgres.validation import plain_type_names, type_names


class Envelope(msgspec.Struct):
    """The parts of a Singer message the fast lane needs; the record stays raw JSON."""

    type: str
    stream: str = ""
    record: msgspec.Raw = msgspec.Raw()
    time_extracted: str | None = None
    version: int | None = None


decode_envelope: Callable[[bytes | str], Envelope] = msgspec.json.Decoder(Envelope).decode

RecordReader = Callable[[Envelope], "tuple | None"]
# (envelope, line) → (key, COPY text line or row tuple), or None for the SDK's path.
LineReader = Callable[[Envelope, bytes], "tuple[Any, str | tuple] | None"]

# The SDK's record metadata (Sink._add_sdc_metadata_to_record); only _sdc_deleted_at comes from the record.
SDC_PROPERTIES = (
    "_sdc_extracted_at",
    "_sdc_received_at",
    "_sdc_batched_at",
    "_sdc_deleted_at",
    "_sdc_sequence",
    "_sdc_table_version",
    "_sdc_sync_started_at",
)
_METADATA_VALUES = {
    "_sdc_extracted_at": "env.time_extracted",
    "_sdc_received_at": "now",
    "_sdc_batched_at": "now",
    "_sdc_sequence": "ms",
    "_sdc_table_version": "env.version",
    "_sdc_sync_started_at": "SYNC_STARTED_AT",
}

_NATIVE = {"string": str, "integer": int, "boolean": bool}
_NUMBER_START = frozenset(b"-0123456789")


def _plain_escapes(text: bytes) -> bool:
    """True when JSON text has no ``\\u`` escape Postgres' jsonb refuses (NUL, surrogates)."""
    # bytes.find, not ``in``: CPython 3.11's ``bytes in bytes`` first tries (and fails) an integer reading,
    # which costs a formatted exception on every call.
    return text.find(b"\\") < 0 or (
        text.find(b"\\u0000") < 0 and text.find(b"\\ud") < 0 and text.find(b"\\uD") < 0
    )


class _Clock:
    """``_sdc_received_at``/``_sdc_batched_at`` text of a millisecond (``_sdc_sequence``), made once a tick.

    ``last`` holds ``[ms, text]`` of the latest tick, so generated code reuses it without a call.
    """

    def __init__(self) -> None:
        self.last: list = [None, ""]

    def __call__(self, ms: int) -> str:
        text = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC).isoformat()
        self.last = [ms, text]
        return text


# ``\\uXXXX`` escapes that can give a decoded string a character COPY text escapes, or NUL: ``\\u0000`` to
# ``\\u001f``, ``\\u005c`` (conservatively ``\\u0050`` to ``\\u005f``). Any other backslash escape can too.
_UNSAFE_U_ESCAPES = frozenset({b"000", b"001", b"005"})
_UNCLEAN_ESCAPE = re.compile(rb"\\(?:[^u]|u00[01]|u005)")
_ESCAPES_LOOKED_AT = 16


def valid_utf8(line: bytes) -> bool:
    """Whether a line is valid UTF-8 (raw surrogates are not): else the reader's parser says what is wrong."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def clean_line(line: bytes) -> bool:
    """Whether every string a JSON line decodes to goes into COPY text as it is (nothing to escape, no NUL).

    JSON refuses backslash, tab, newline, carriage return and NUL raw inside strings, so only an escape can
    put one in a decoded string. Raw JSON text kept from such a line (``jsonb`` values) may still hold
    backslashes and whitespace: the line reader escapes those itself.

    Args:
        line: A JSON text (one Singer message).

    Returns:
        True when no backslash escape in it can give a string a backslash, tab, newline, CR or NUL.
    """
    at = line.find(b"\\")
    for _ in range(_ESCAPES_LOOKED_AT):  # the first few escapes one by one, the rest (if any) by regex
        if at < 0:
            return True
        if line[at + 1 : at + 2] != b"u" or line[at + 2 : at + 5] in _UNSAFE_U_ESCAPES:
            return False
        at = line.find(b"\\", at + 6)
    return at < 0 or _UNCLEAN_ESCAPE.search(line, at) is None


def _lane(sub: Any, pg_type: str) -> tuple[str, Any]:
    """How a property is decoded: ``native`` (msgspec type), ``numeric``, ``jsonb``, ``items`` or ``raw``.

    ``items`` is an array whose items only declare plain types: msgspec checks it against ``list[...]`` and
    its raw text goes to the ``jsonb`` column.
    """
    if isinstance(sub, Mapping) and _is_plain_array(sub) and pg_type == "jsonb":
        return "items", _item_type(sub["items"]["type"])
    names = plain_type_names(sub)
    if names is None:
        return "raw", None
    kinds = set(names) - {"null"}
    if len(kinds) == 1 and (kind := next(iter(kinds))) in _NATIVE:
        return "native", _NATIVE[kind]
    if kinds == {"number"} and pg_type == "numeric":
        return "numeric", None
    if kinds and kinds <= {"object", "array"} and pg_type == "jsonb":
        return "jsonb", frozenset(ord("{") if kind == "object" else ord("[") for kind in kinds)
    return "raw", None


_ITEM_TYPES: dict[str, Any] = {"integer": int, "string": str, "boolean": bool, "number": int | float}


def _is_plain_array(sub: Mapping[str, Any]) -> bool:
    """``{"type": "array" (or ["array", "null"]), "items": {"type": <plain types>}}``, nothing else: a
    :func:`~target_pipeboard_postgres.fastpath.is_simple_array` of plain items and no other type."""
    if not is_simple_array(sub):
        return False
    item_names = type_names(sub["items"]["type"])
    return (
        set(type_names(sub["type"])) <= {"array", "null"}
        and bool(item_names)
        and set(item_names) <= {*_ITEM_TYPES, "null"}
    )


def _item_type(declared: str | list[str]) -> Any:
    names = type_names(declared)
    kinds = [_ITEM_TYPES[name] for name in names if name != "null"]
    if not kinds:
        return None
    item: Any = kinds[0]
    for kind in kinds[1:]:
        item = item | kind
    return item | None if "null" in names else item


def _native_encoding(kind: type, pg_type: str, index: int, namespace: dict[str, Any]) -> str:
    """Expression encoding ``v``, a non-null value of exactly ``kind``, as the general encoder would."""
    if kind is str and pg_type == "text":
        return f"(v if '\\x00' not in v else e{index}(v))"
    if kind is int and pg_type in ("bigint", "numeric", "text"):  # msgspec has range-checked bigint values
        return "str(v)"
    if kind is bool and pg_type in ("boolean", "text"):
        return "('true' if v else 'false')"
    inline = INLINE_ENCODINGS.get(pg_type, "{e}(v)").format(e=f"e{index}")
    return f"({inline})"


def compile_record_reader(
    schema: dict[str, Any],
    properties: Sequence[str],
    types: Sequence[str],
    *,
    metadata: bool,
    sync_started_at: Any = None,
) -> RecordReader | None:
    """A generated envelope → row function (the row :func:`compile_row_maker` makes), or None if unsupported.

    Its rows never hold an integer beyond int64 in a ``bigint`` column (such records take the SDK's path,
    where the column is widened), so the sink keeps them without that check.

    Property names enter the source only as ``repr()`` literals; struct fields are renamed to them.

    Args:
        schema: The stream's JSON schema as the sink sees it (metadata properties included).
        properties: Property names, in column order.
        types: The column type of each property.
        metadata: Whether the sink adds the ``_sdc_*`` values (else they are NULL, as the SDK removes them).
        sync_started_at: The sink's ``sync_started_at`` (the ``_sdc_sync_started_at`` value).

    Returns:
        envelope → tuple of text values / None, or None meaning "use the general path".
    """
    namespace = _compile_readers(schema, properties, types, metadata, sync_started_at, None, (), None)
    return None if namespace is None else namespace["read"]


def compile_line_reader(
    schema: dict[str, Any],
    properties: Sequence[str],
    types: Sequence[str],
    *,
    metadata: bool,
    sync_started_at: Any = None,
    key_index: Sequence[int] | None = None,
    non_null_index: Sequence[int] = (),
    stream: str | None = None,
) -> LineReader | None:
    """A generated (envelope, line) → (key, row) function for the sink's batch, or None if unsupported.

    The row is the record's COPY text line when the line is :func:`clean_line` (no tuple, no escaping
    pass), else the tuple :func:`compile_record_reader`'s reader makes. Either holds the same values.
    None (the SDK's path) when that reader would return None, or a key value or a value at
    ``non_null_index`` is NULL.

    With ``stream``, the function also has a ``read_message`` attribute: line → (key, COPY line) for a clean
    RECORD line of that stream, decoding envelope and record in one pass; None means "ask the reader itself"
    (another stream or message, a line that is not clean, anything in doubt), never "the SDK's path".

    Args:
        schema: The stream's JSON schema as the sink sees it (metadata properties included).
        properties: Property names, in column order.
        types: The column type of each property.
        metadata: Whether the sink adds the ``_sdc_*`` values.
        sync_started_at: The sink's ``sync_started_at``.
        key_index: Positions of the key properties when rows are kept by key (the key is their text value,
            a tuple of them when there are several), or None (the key is None).
        non_null_index: Positions whose value must not be NULL (the sink's key properties, even when rows
            are not kept by key: the SDK's path rejects a record without them).
        stream: The stream's name (for ``read_message``).

    Returns:
        The reader, or None meaning "use the general path" for this stream.
    """
    namespace = _compile_readers(
        schema, properties, types, metadata, sync_started_at, key_index, non_null_index, stream
    )
    if namespace is None:
        return None
    read_line = namespace["read_line"]
    read_line.read_message = namespace.get("read_message")
    return read_line


def _compile_readers(
    schema: dict[str, Any],
    properties: Sequence[str],
    types: Sequence[str],
    metadata: bool,
    sync_started_at: Any,
    key_index: Sequence[int] | None,
    non_null_index: Sequence[int],
    stream: str | None,
) -> dict[str, Any] | None:
    """The namespace of the generated ``read`` (row tuple), ``read_line`` (key and row) and, given the
    stream, ``read_message`` (a clean RECORD line of that stream → key and COPY line, one decoding pass)."""
    if not supported_root(schema, properties):
        return None
    sub_schemas = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    namespace = base_namespace()
    namespace.update(
        {
            "UNSET": msgspec.UNSET,
            "GENERIC": msgspec.json.Decoder(float_hook=decimal.Decimal).decode,
            "NUMBER_START": _NUMBER_START,
            "NUMBER_CHARS": frozenset("-0123456789"),
            "PLAIN_ESCAPES": _plain_escapes,
            "CLOCK": _Clock(),
            "ROUND": round,
            "TIME": time.time,
            "SYNC_STARTED_AT": sync_started_at,
            "MIN": INT64_MIN,
            "MAX": INT64_MAX,
            "BEYOND_INT64": beyond_int64,
            "NULL": "\\N",
            "CLEAN": clean_line,
            "UTF8": valid_utf8,
            "ESCAPE": COPY_ESCAPES,
            "BS": "\\",
            "TAB": "\t",
            "CR": "\r",
            "EXTRACTED": {},
        }
    )
    fields: list[tuple] = []
    checked_bigints: list[int] = []  # bigint columns whose values msgspec has not range-checked
    rename: dict[str, str] = {}
    helpers: list[str] = []
    values: list[str] = []  # per column: an expression giving its text or None (the row tuple)
    line_values: list[str] = []  # per column: an expression giving its COPY text in a clean line
    for index, (prop, pg_type) in enumerate(zip(properties, types, strict=True)):
        # Text a clean line's value can still carry that COPY escapes: JSON made from it, raw JSON kept.
        guard = pg_type in ("text", "jsonb")
        if prop in SDC_PROPERTIES and prop != "_sdc_deleted_at":
            if prop in required:
                return None
            present = present_value_code(index, sub_schemas[prop], pg_type, schema, namespace)
            source = _METADATA_VALUES[prop] if metadata else "None"
            values.append(f"((v := {source}), ({present}))[1]")
            line_values.append(
                _metadata_line_value(prop, pg_type, index, values[-1], guard, metadata, helpers, namespace)
            )
            if pg_type == "bigint":
                checked_bigints.append(index)
            continue
        if prop == "_sdc_deleted_at" and not metadata:
            if prop in required:
                return None
            values.append("None")
            line_values.append("NULL")
            continue
        lane, detail = _lane(sub_schemas[prop], pg_type)
        if pg_type == "bigint" and lane != "native":
            checked_bigints.append(index)
        field = f"f{len(fields)}"
        position = len(fields)
        rename[field] = prop
        present = present_value_code(index, sub_schemas[prop], pg_type, schema, namespace)
        declared = sub_schemas[prop].get("type") if isinstance(sub_schemas[prop], Mapping) else None
        nullable = "null" in type_names(declared or ())
        if lane == "native":
            # msgspec checks the exact type (and a bigint column's range); only the encoding is left.
            kind = detail
            if detail is int and pg_type == "bigint":
                kind = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
            encoded = _native_encoding(detail, pg_type, index, namespace)
            # In a clean line a string holds no NUL: text goes as it is.
            line_encoded = "v" if detail is str and pg_type == "text" else encoded
            absent = "None" if nullable else "UNSET"
            if nullable:
                fields.append((field, kind | None) if prop in required else (field, kind | None, None))
            else:
                optional = (field, kind | msgspec.UnsetType, msgspec.UNSET)
                fields.append((field, kind) if prop in required else optional)
            values.append(f"(None if (v := t[{position}]) is {absent} else {encoded})")
            if pg_type == "jsonb":
                line_encoded = _escaped(line_encoded)
            line_values.append(f"(NULL if (v := s.{field}) is {absent} else {line_encoded})")
            continue
        if prop in required:
            fields.append((field, msgspec.Raw))
        else:
            fields.append((field, msgspec.Raw, msgspec.Raw()))
        helpers.append(f"def r{index}(w):\n    v = GENERIC(w)\n    return ({present})")
        if lane == "numeric":
            helpers.append(
                f"def n{index}(w):\n"
                "    s = bytes(w)\n"
                "    if s[0] in NUMBER_START and s.find(b'e') < 0 and s.find(b'E') < 0 and s != b'-0':\n"
                "        return s.decode()\n"
                f"    return r{index}(w)"
            )
            values.append(f"(None if not (w := t[{position}]) else n{index}(w))")
            # Plain decimal text goes as it is; anything else through the row's path.
            helpers.append(f"def q{index}(w):\n    x = r{index}(w)\n    return NULL if x is None else x")
            null_check = "NULL if x == 'null' else " if nullable else ""
            line_values.append(
                f"(NULL if not (w := s.{field}) else x if (x := str(w, 'utf-8'))[0] in NUMBER_CHARS "
                f"and 'e' not in x and 'E' not in x and x != '-0' else {null_check}q{index}(w))"
            )
            continue
        if lane in ("jsonb", "items"):
            if lane == "jsonb":
                namespace[f"o{index}"] = detail
                helpers.append(
                    f"def j{index}(w):\n"
                    "    s = bytes(w)\n"
                    f"    if s[0] in o{index} and PLAIN_ESCAPES(s):\n"
                    "        return s.decode()\n"
                    f"    return r{index}(w)"
                )
                values.append(f"(None if not (w := t[{position}]) else j{index}(w))")
                namespace[f"oc{index}"] = frozenset(chr(code) for code in detail)
                check = f"x[0] in oc{index}"
            else:
                namespace[f"i{index}"] = msgspec.json.Decoder(list[detail]).decode  # type: ignore[valid-type]
                values.append(f"(None if not (w := t[{position}]) else r{index}(w))")
                check = f"(i{index}(w) is not None)"
            # Raw JSON text goes as it is (escaped for COPY where needed); anything else through r{index}.
            null_text = "    if x == 'null':\n        return NULL\n" if nullable else ""
            helpers.append(
                f"def k{index}(w):\n"
                "    x = str(w, 'utf-8')\n"
                f"{null_text}"
                f"    if {check}:\n"
                "        if '\\\\' not in x and '\\t' not in x and '\\r' not in x:\n"
                "            return x\n"
                "        if '\\\\u0000' not in x and '\\\\ud' not in x and '\\\\uD' not in x:\n"
                "            return x.translate(ESCAPE)\n"
                f"    x = r{index}(w)\n"
                "    return NULL if x is None else x.translate(ESCAPE)"
            )
            line_values.append(f"(NULL if not (w := s.{field}) else k{index}(w))")
            continue
        values.append(f"(None if not (w := t[{position}]) else r{index}(w))")
        line_values.append(_line_value(f"(None if not (w := s.{field}) else r{index}(w))", guard))
    try:
        record_type = msgspec.defstruct("PipeboardRecord", fields, kw_only=True, rename=rename)
        namespace["DECODE"] = msgspec.json.Decoder(record_type).decode
        # The envelope's fields as Envelope declares them, the record decoded in the same pass. msgspec does
        # not check the UTF-8 of what it skips: this pass skips nothing (a line with any other key is read by
        # ``read_line``, which checks the whole line's UTF-8 itself).
        strict_record = msgspec.defstruct(
            "PipeboardRecord", fields, kw_only=True, rename=rename, forbid_unknown_fields=True
        )
        message_type = msgspec.defstruct(
            "PipeboardRecordMessage",
            [
                ("type", str),
                ("stream", str),
                ("record", strict_record),
                ("time_extracted", str | None, None),
                ("version", int | None, None),
            ],
            kw_only=True,
            forbid_unknown_fields=True,
        )
        namespace["DECODE_MESSAGE"] = msgspec.json.Decoder(message_type).decode
    except (ValueError, TypeError):  # e.g. a property name msgspec cannot match (quotes, backslashes)
        return None
    namespace["STREAM"] = stream
    namespace["ASTUPLE"] = msgspec.structs.astuple
    uses_clock = metadata and any(
        prop in ("_sdc_received_at", "_sdc_batched_at", "_sdc_sequence") for prop in properties
    )
    clock = (
        [
            "        ms = ROUND(TIME() * 1000)",
            "        now = x[1] if (x := CLOCK.last)[0] == ms else CLOCK(ms)",
        ]
        if uses_clock
        else []
    )
    keys = list(key_index) if key_index is not None else []
    if len(keys) == 1:
        key_row, key_line = f"row[{keys[0]}]", f"a{keys[0]}"
    elif keys:
        key_row = "(" + "".join(f"row[{i}], " for i in keys) + ")"
        key_line = "(" + "".join(f"a{i}, " for i in keys) + ")"
    else:
        key_row = key_line = "None"
    # Values the checks below need, and expressions an f-string cannot hold (a backslash), are named first.
    non_null = sorted({*keys, *non_null_index})  # a NULL here: the SDK's path (it rejects the record)
    named = {
        i for i, value in enumerate(line_values) if i in non_null or i in checked_bigints or "\\" in value
    }
    text = "".join(
        (f"{{a{i}}}" if i in named else f"{{{value}}}") + ("\\t" if i < len(line_values) - 1 else "\\n")
        for i, value in enumerate(line_values)
    )
    # From the record struct ``s`` (and the envelope ``env``) to (key, COPY line), or None.
    copy_line_body = [
        *clock,
        *(f"        a{i} = {line_values[i]}" for i in sorted(named)),
        *(f"        if a{i} is NULL:\n            return None" for i in non_null),
        *(
            f"        if len(a{i}) > 18 and BEYOND_INT64(a{i}):\n            return None"
            for i in checked_bigints
        ),
        f'        return ({key_line}, f"{text}")',
        "    except Exception:",
        "        return None",
    ]
    lines = [
        *helpers,
        "def read(env):",
        "    try:",
        "        t = ASTUPLE(DECODE(env.record))",
        *clock,
        "        row = (",
        *(f"            {value}," for value in values),
        "        )",
        *(
            f"        if (x := row[{i}]) is not None and len(x) > 18 and BEYOND_INT64(x):\n"
            "            return None"
            for i in checked_bigints
        ),
        "        return row",
        "    except Exception:",
        "        return None",
        "def read_line(env, line):",
        # msgspec does not check the UTF-8 of what it skips (keys and properties it does not know): checked
        # here (read_message, the block lane's usual path, skips nothing and needs no such check).
        "    if not line.isascii() and not UTF8(line):",
        "        return None",
        "    if line.find(b'\\\\') >= 0 and not CLEAN(line):",
        "        row = read(env)",
        "        if row is None:\n            return None",
        *(f"        if row[{i}] is None:\n            return None" for i in non_null),
        "        return (" + key_row + ", row)",
        "    try:",
        "        s = DECODE(env.record)",
        *copy_line_body,
    ]
    if stream is not None:
        lines += [
            "def read_message(line):",
            "    if line.find(b'\\\\') >= 0 and not CLEAN(line):",
            "        return None",
            "    try:",
            "        env = DECODE_MESSAGE(line)",
            "        if env.type != 'RECORD' or env.stream != STREAM:",
            "            return None",
            "        s = env.record",
            *copy_line_body,
        ]
    exec(compile("\n".join(lines), "<pipeboard-record-reader>", "exec"), namespace)  # noqa: S102 - names are repr() literals
    return namespace


def _metadata_line_value(
    prop: str,
    pg_type: str,
    index: int,
    row_value: str,
    guard: bool,
    metadata: bool,
    helpers: list[str],
    namespace: dict[str, Any],
) -> str:
    """COPY text of an ``_sdc_*`` value the target makes; values known to fit skip the general check."""
    if not metadata:
        return "NULL"
    if prop in ("_sdc_received_at", "_sdc_batched_at") and pg_type == "timestamptz":
        return "now"  # UTC RFC 3339 text made by the clock
    if prop == "_sdc_sequence" and pg_type in ("bigint", "numeric"):
        return "str(ms)"
    if prop == "_sdc_sync_started_at" and pg_type in ("bigint", "numeric"):
        value = namespace["SYNC_STARTED_AT"]
        if type(value) is int and INT64_MIN <= value <= INT64_MAX:
            return repr(str(value))  # the same for every record
    if prop == "_sdc_table_version" and pg_type in ("bigint", "numeric"):
        return "(NULL if (v := env.version) is None else str(v) if MIN <= v <= MAX else unsure())"
    if prop == "_sdc_extracted_at":
        # The same few time_extracted values come back record after record: checked once each.
        helpers.append(
            f"def x{index}(env):\n"
            f"    text = {_line_value(row_value, guard)}\n"
            "    if len(EXTRACTED) > 64:\n"
            "        EXTRACTED.clear()\n"
            "    EXTRACTED[env.time_extracted] = text\n"
            "    return text"
        )
        return f"(EXTRACTED[v] if (v := env.time_extracted) in EXTRACTED else x{index}(env))"
    return _line_value(row_value, guard)


def _escaped(expression: str) -> str:
    """``expression``'s text, with the characters COPY text escapes escaped (only evaluated when present)."""
    return (
        f"(x if '\\\\' not in (x := {expression}) and '\\t' not in x and '\\r' not in x "
        "else x.translate(ESCAPE))"
    )


def _line_value(expression: str, guard: bool) -> str:
    """COPY text of a row expression's value (``\\N`` for None), escaped if ``guard`` says it may need it."""
    if guard:
        return f"(NULL if (x := {expression}) is None else {_escaped('x')})"
    return f"(NULL if (x := {expression}) is None else x)"
