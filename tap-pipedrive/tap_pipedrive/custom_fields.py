"""Custom fields as named columns: field metadata → column names, JSON-schema properties and flat values.

Pure functions only (no HTTP, no globals), so every rule here is unit-tested without I/O.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1)."""

ADDRESS_COMPONENTS = (
    "street_number",
    "route",
    "subpremise",
    "sublocality",
    "locality",
    "admin_area_level_1",
    "admin_area_level_2",
    "country",
    "postal_code",
    "formatted_address",
)
"""Parts of an address value, each flattened into ``<column>_<component>``."""

_LONGEST_SUFFIX = max(len("_" + part) for part in ADDRESS_COMPONENTS)
_BASE_MAX = MAX_IDENTIFIER_BYTES - _LONGEST_SUFFIX
_HASH_KEY = re.compile(r"^[0-9a-f]{40}$")
_TEXT_TYPES = frozenset({"varchar", "varchar_auto", "varchar_options", "text", "phone"})
_ID_TYPES = frozenset({"user", "org", "people", "deal", "lead", "stage", "activity", "project"})
_STRING_IDS = frozenset({"lead"})

Json = dict[str, Any]

SQL_RESERVED = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "column",
        "constraint",
        "create",
        "current_catalog",
        "current_date",
        "current_role",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "from",
        "grant",
        "group",
        "having",
        "in",
        "initially",
        "intersect",
        "into",
        "lateral",
        "leading",
        "limit",
        "localtime",
        "localtimestamp",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "placing",
        "primary",
        "references",
        "returning",
        "select",
        "session_user",
        "some",
        "symmetric",
        "table",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "when",
        "where",
        "window",
        "with",
    ]
)
"""PostgreSQL reserved key words: a slug equal to one gets ``_field`` appended so it needs no quoting."""


@dataclass(frozen=True)
class FieldInfo:
    """What the tap needs to know about one field.

    Attributes:
        code: Pipedrive's key for the field (``field_code`` in v2, ``key`` in v1).
        name: The field's current display name.
        field_type: Pipedrive's ``field_type``.
        is_custom: A field the company created (its values need flattening).
        options: (option id as text, label) pairs for enum/set fields.
    """

    code: str
    name: str
    field_type: str
    is_custom: bool
    options: tuple[tuple[str, str], ...] = ()

    def label_of(self, option_id: Any) -> str | None:
        """The label of an option id (int or text), or the id as text when the option is unknown."""
        if option_id is None or option_id == "":
            return None
        if isinstance(option_id, dict):
            if option_id.get("label") is not None:
                return str(option_id["label"])
            option_id = option_id.get("id")
        key = str(option_id)
        for candidate, label in self.options:
            if candidate == key:
                return label
        return key


def normalize_field(item: Mapping[str, Any]) -> FieldInfo:
    """Read one field-metadata item, v2 (``field_code``) or v1 (``key``) shape.

    A v1 field counts as custom when ``edit_flag`` is set and its key is a 40-hex hash (notes' built-in
    flags are editable but not custom).
    """
    if "field_code" in item:
        code = str(item["field_code"])
        name = str(item.get("field_name") or code)
        is_custom = bool(item.get("is_custom_field"))
    else:
        code = str(item["key"])
        name = str(item.get("name") or code)
        is_custom = bool(item.get("edit_flag")) and bool(_HASH_KEY.match(code))
    options = tuple(
        (str(option.get("id")), str(option.get("label")))
        for option in item.get("options") or ()
        if isinstance(option, dict)
    )
    return FieldInfo(code, name, str(item.get("field_type") or "varchar"), is_custom, options)


def build_field_map(items: Iterable[Mapping[str, Any]]) -> dict[str, FieldInfo]:
    """Index field-metadata items by their key (field_code)."""
    fields = (normalize_field(item) for item in items)
    return {field.code: field for field in fields}


def slugify(name: str) -> str:
    """A readable, lower-case ASCII identifier from a field name: ``"Größe (EUR)"`` → ``"grosse_eur"``.

    Digits cannot start the result (``f_`` is prefixed); the result may be empty when the name has no
    Latin letters or digits at all.
    """
    text = name.replace("ß", "ss").replace("ẞ", "SS")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    if text and text[0].isdigit():
        text = "f_" + text
    if text in SQL_RESERVED:
        text += "_field"
    return text


def column_suffixes(field_type: str) -> tuple[str, ...]:
    """Suffixes of the extra columns a field type adds next to its main column."""
    if field_type == "monetary":
        return ("_currency",)
    if field_type in ("daterange", "timerange"):
        return ("_until",)
    if field_type == "address":
        return tuple("_" + part for part in ADDRESS_COMPONENTS)
    return ()


def _columns_of(base: str, field_type: str) -> list[str]:
    return [base, *(base + suffix for suffix in column_suffixes(field_type))]


def assign_columns(
    fields: Iterable[FieldInfo], stored: Mapping[str, str], reserved: Iterable[str]
) -> dict[str, str]:
    """Choose the column of every custom field: the stored name wins for known keys, new keys get new names.

    New fields are named in ``code`` order (deterministic); a name whose columns would collide with a
    reserved (standard) property, or with a column already taken, gets ``_2``, ``_3``… appended.
    Every column (with its longest suffix) fits in 63 bytes.

    Args:
        fields: All fields of the entity (non-custom ones are ignored).
        stored: key → column from a previous run (kept in state); kept even for fields that disappeared,
            so a key that comes back gets its old column.
        reserved: Standard property names of the stream.

    Returns:
        key → column for the stored keys and every current custom field.
    """
    columns = dict(stored)
    custom = {field.code: field for field in fields if field.is_custom}
    taken = set(reserved)
    for code, column in columns.items():
        field_type = custom[code].field_type if code in custom else ""
        taken.update(_columns_of(column, field_type))
    for code in sorted(custom):
        if code in columns:
            continue
        field = custom[code]
        base = slugify(field.name)[:_BASE_MAX].rstrip("_") or f"field_{code[:8]}"
        candidate, number = base, 1
        while any(column in taken for column in _columns_of(candidate, field.field_type)):
            number += 1
            tail = f"_{number}"
            candidate = base[: _BASE_MAX - len(tail)].rstrip("_") + tail
        columns[code] = candidate
        taken.update(_columns_of(candidate, field.field_type))
    return columns


def _nullable(kind: str, fmt: str | None = None) -> Json:
    schema: Json = {"type": [kind, "null"]}
    if fmt:
        schema["format"] = fmt
    return schema


def value_schema(field_type: str) -> Json:
    """JSON schema of a field type's main column."""
    if field_type in ("double", "monetary"):
        return _nullable("number")
    if field_type == "int":
        return _nullable("integer")
    if field_type == "boolean":
        return _nullable("boolean")
    if field_type in ("date", "daterange"):
        return _nullable("string", "date")
    if field_type == "set":
        return {"type": ["array", "null"], "items": {"type": "string"}}
    if field_type in _ID_TYPES:
        return _nullable("string") if field_type in _STRING_IDS else _nullable("integer")
    return _nullable("string")


def custom_properties(fields: Mapping[str, FieldInfo], columns: Mapping[str, str]) -> dict[str, Json]:
    """JSON-schema properties for every custom-field column (main column plus composite parts)."""
    properties: dict[str, Json] = {}
    for code in sorted(columns, key=lambda key: columns[key]):
        field = fields.get(code)
        field_type = field.field_type if field is not None else "varchar"
        column = columns[code]
        properties[column] = value_schema(field_type)
        if field_type == "monetary":
            properties[column + "_currency"] = _nullable("string")
        elif field_type == "daterange":
            properties[column + "_until"] = _nullable("string", "date")
        elif field_type == "timerange":
            properties[column + "_until"] = _nullable("string")
        elif field_type == "address":
            for part in ADDRESS_COMPONENTS:
                properties[f"{column}_{part}"] = _nullable("string")
    return properties


def _number(value: Any) -> float | int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        number = float(str(value))
    except ValueError:
        return None
    return int(number) if number.is_integer() and "." not in str(value) else number


def _identifier(value: Any, as_text: bool) -> Any:
    if isinstance(value, dict):
        value = value.get("value", value.get("id"))
    if value is None or value == "":
        return None
    if as_text:
        return str(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _set_labels(field: FieldInfo, value: Any) -> list[str] | None:
    if value is None or value == "":
        return None
    items = (
        value.split(",") if isinstance(value, str) else list(value) if isinstance(value, list) else [value]
    )
    labels = [field.label_of(item.strip() if isinstance(item, str) else item) for item in items]
    return [label for label in labels if label is not None]


def shape_value(field: FieldInfo, column: str, value: Any, siblings: Mapping[str, Any]) -> Json:
    """Flatten one custom-field value into its columns.

    Args:
        field: The field's metadata.
        column: Its main column.
        value: The v2 value (composites are objects) or the v1 top-level value.
        siblings: v1 composite parts by suffix without the underscore (``currency``, ``until``, ``route``…);
            empty for v2.

    Returns:
        column → value for the main column and every composite part.
    """
    kind = field.field_type
    parts = value if isinstance(value, dict) else {}
    main = parts.get("value") if isinstance(value, dict) else value
    if kind == "monetary":
        return {column: _number(main), column + "_currency": parts.get("currency", siblings.get("currency"))}
    if kind in ("daterange", "timerange"):
        return {column: _text(main), column + "_until": _text(parts.get("until", siblings.get("until")))}
    if kind == "address":
        shaped = {column: _text(main)}
        for part in ADDRESS_COMPONENTS:
            shaped[f"{column}_{part}"] = _text(parts.get(part, siblings.get(part)))
        return shaped
    if kind == "enum":
        return {column: field.label_of(value)}
    if kind == "set":
        return {column: _set_labels(field, value)}
    if kind in ("double", "int"):
        number = _number(main)
        return {column: int(number) if kind == "int" and number is not None else number}
    if kind == "boolean":
        return {column: None if main is None else bool(main)}
    if kind in _ID_TYPES:
        return {column: _identifier(value, kind in _STRING_IDS)}
    if kind in ("date", "time"):
        return {column: _text(main) or None}
    if kind in _TEXT_TYPES:
        return {column: _text(main)}
    return {column: _text(value)}


def flatten_custom_fields(
    values: Mapping[str, Any],
    fields: Mapping[str, FieldInfo],
    columns: Mapping[str, str],
    *,
    v1_siblings: bool = False,
) -> Json:
    """All custom-field columns of one record.

    Args:
        values: v2: the record's ``custom_fields`` object; v1: the record itself (hash keys at top level).
        fields: key → FieldInfo of the entity.
        columns: key → column (from ``assign_columns``).
        v1_siblings: Read composite parts from ``<key>_<suffix>`` siblings (v1 shape).

    Returns:
        column → value for every column of every field still in the metadata (None when unset).
    """
    flat: Json = {}
    for code, column in columns.items():
        field = fields.get(code)
        if field is None or not field.is_custom:
            continue
        siblings: Mapping[str, Any] = {}
        if v1_siblings:
            names = [suffix[1:] for suffix in column_suffixes(field.field_type)]
            siblings = {name: values.get(f"{code}_{name}") for name in names}
        flat.update(shape_value(field, column, values.get(code), siblings))
    return flat
