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
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from target_pipeboard_postgres.copy import INLINE_ENCODINGS, INT64_MAX, INT64_MIN
from target_pipeboard_postgres.fastpath import base_namespace, present_value_code, supported_root
from target_pipeboard_postgres.validation import ANNOTATIONS


class Envelope(msgspec.Struct):
    """The parts of a Singer message the fast lane needs; the record stays raw JSON."""

    type: str
    stream: str = ""
    record: msgspec.Raw = msgspec.Raw()
    time_extracted: str | None = None
    version: int | None = None


decode_envelope: Callable[[bytes | str], Envelope] = msgspec.json.Decoder(Envelope).decode

RecordReader = Callable[[Envelope], "tuple | None"]

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
    "_sdc_sequence": "ROUND(TIME() * 1000)",
    "_sdc_table_version": "env.version",
    "_sdc_sync_started_at": "SYNC_STARTED_AT",
}

_NATIVE = {"string": str, "integer": int, "boolean": bool}
_NUMBER_START = frozenset(b"-0123456789")


def _plain_escapes(text: bytes) -> bool:
    """True when JSON text has no ``\\u`` escape Postgres' jsonb refuses (NUL, surrogates)."""
    return b"\\u0000" not in text and b"\\ud" not in text and b"\\uD" not in text


def _now_iso() -> str:
    return datetime.datetime.now(tz=datetime.UTC).isoformat()


def _lane(sub: Any, pg_type: str) -> tuple[str, Any]:
    """How a property is decoded: ``native`` (msgspec type), ``numeric``/``jsonb`` (raw text) or ``raw``."""
    if not (isinstance(sub, Mapping) and sub.keys() <= ANNOTATIONS and "type" in sub):
        return "raw", None
    names = [sub["type"]] if isinstance(sub["type"], str) else list(sub["type"])
    kinds = set(names) - {"null"}
    if len(kinds) == 1 and (kind := next(iter(kinds))) in _NATIVE:
        return "native", _NATIVE[kind]
    if kinds == {"number"} and pg_type == "numeric":
        return "numeric", None
    if kinds and kinds <= {"object", "array"} and pg_type == "jsonb":
        return "jsonb", frozenset(ord("{") if kind == "object" else ord("[") for kind in kinds)
    return "raw", None


def _native_encoding(kind: type, pg_type: str, index: int, namespace: dict[str, Any]) -> str:
    """Expression encoding ``v``, a non-null value of exactly ``kind``, as the general encoder would."""
    if kind is str and pg_type == "text":
        return f"(v if '\\x00' not in v else e{index}(v))"
    if kind is int and pg_type == "bigint":  # beyond int64 the column must widen: the SDK's path sees to that
        return f"(str(v) if v <= {INT64_MAX} else unsure())"
    if kind is int and pg_type in ("numeric", "text"):
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
            "PLAIN_ESCAPES": _plain_escapes,
            "NOW_ISO": _now_iso,
            "ROUND": round,
            "TIME": time.time,
            "SYNC_STARTED_AT": sync_started_at,
            "MIN": INT64_MIN,
            "MAX": INT64_MAX,
        }
    )
    fields: list[tuple] = []
    checked_bigints: list[int] = []  # bigint columns whose values the native lane has not range-checked
    rename: dict[str, str] = {}
    helpers: list[str] = []
    values: list[str] = []
    for index, (prop, pg_type) in enumerate(zip(properties, types, strict=True)):
        if prop in SDC_PROPERTIES and prop != "_sdc_deleted_at":
            if prop in required:
                return None
            present = present_value_code(index, sub_schemas[prop], pg_type, schema, namespace)
            source = _METADATA_VALUES[prop] if metadata else "None"
            values.append(f"((v := {source}), ({present}))[1]")
            if pg_type == "bigint":
                checked_bigints.append(index)
            continue
        if prop == "_sdc_deleted_at" and not metadata:
            if prop in required:
                return None
            values.append("None")
            continue
        lane, detail = _lane(sub_schemas[prop], pg_type)
        if pg_type == "bigint" and lane != "native":
            checked_bigints.append(index)
        field = f"f{len(fields)}"
        position = len(fields)
        rename[field] = prop
        present = present_value_code(index, sub_schemas[prop], pg_type, schema, namespace)
        if lane == "native":
            declared = sub_schemas[prop]["type"]
            nullable = "null" in ([declared] if isinstance(declared, str) else declared)
            # msgspec has checked the exact type already; only the encoding is left.
            encoded = _native_encoding(detail, pg_type, index, namespace)
            if nullable:
                fields.append((field, detail | None) if prop in required else (field, detail | None, None))
                values.append(f"(None if (v := t[{position}]) is None else {encoded})")
            else:
                optional = (field, detail | msgspec.UnsetType, msgspec.UNSET)
                fields.append((field, detail) if prop in required else optional)
                values.append(f"(None if (v := t[{position}]) is UNSET else {encoded})")
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
                "    if s[0] in NUMBER_START and b'e' not in s and b'E' not in s and s != b'-0':\n"
                "        return s.decode()\n"
                f"    return r{index}(w)"
            )
            values.append(f"(None if not (w := t[{position}]) else n{index}(w))")
        elif lane == "jsonb":
            namespace[f"o{index}"] = detail
            helpers.append(
                f"def j{index}(w):\n"
                "    s = bytes(w)\n"
                f"    if s[0] in o{index} and (b'\\\\u' not in s or PLAIN_ESCAPES(s)):\n"
                "        return s.decode()\n"
                f"    return r{index}(w)"
            )
            values.append(f"(None if not (w := t[{position}]) else j{index}(w))")
        else:
            values.append(f"(None if not (w := t[{position}]) else r{index}(w))")
    try:
        record_type = msgspec.defstruct("PipeboardRecord", fields, kw_only=True, rename=rename)
        namespace["DECODE"] = msgspec.json.Decoder(record_type).decode
    except (ValueError, TypeError):  # e.g. a property name msgspec cannot match (quotes, backslashes)
        return None
    namespace["ASTUPLE"] = msgspec.structs.astuple
    uses_now = metadata and any(prop in ("_sdc_received_at", "_sdc_batched_at") for prop in properties)
    lines = [
        *helpers,
        "def read(env):",
        "    try:",
        "        t = ASTUPLE(DECODE(env.record))",
        *(["        now = NOW_ISO()"] if uses_now else []),
        "        row = (",
        *(f"            {value}," for value in values),
        "        )",
        *(
            f"        if (x := row[{i}]) is not None and len(x) > 18 and not MIN <= int(x) <= MAX:\n"
            "            return None"
            for i in checked_bigints
        ),
        "        return row",
        "    except Exception:",
        "        return None",
    ]
    exec(compile("\n".join(lines), "<pipeboard-record-reader>", "exec"), namespace)  # noqa: S102 - names are repr() literals
    return namespace["read"]
