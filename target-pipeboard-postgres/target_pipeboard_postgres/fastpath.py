"""The merged fast path: one generated pass per stream that validates a record and encodes its row at once.

It only ever returns a row when the general path (``FastValidator`` then the compiled encoder) would accept
the record and produce that same row; in every other case it returns None and the record takes the general
path, which raises or quarantines with its usual messages.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from target_pipeboard_postgres.copy import ENCODERS, INLINE_ENCODINGS
from target_pipeboard_postgres.validation import (
    ANNOTATIONS,
    TYPE_EXPRESSION_NAMES,
    compile_schema,
    plain_type_expression,
    type_names,
)

RowMaker = Callable[[dict[str, Any]], "tuple | None"]

# Root keywords the merged pass understands; any other keyword leaves validation to the general path.
_ROOT_KEYWORDS = ANNOTATIONS | {"properties", "required", "$schema", "$id", "additionalProperties"}


class _Unsure(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside the generated pass: this record needs the general path."""


def _unsure() -> None:
    raise _Unsure


_EXACT_TYPES: dict[str, tuple[type, ...]] = {
    "null": (type(None),),
    "boolean": (bool,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float, decimal.Decimal),
    "object": (dict,),
    "array": (list,),
}


def _exact_types(declared: str | list[str] | None) -> frozenset[type]:
    """Python types whose every instance fits the JSON type names (no subclasses; empty when unknown)."""
    if declared is None:
        return frozenset()
    names = [declared] if isinstance(declared, str) else declared
    if any(name not in _EXACT_TYPES for name in names):
        return frozenset()
    return frozenset(kind for name in names for kind in _EXACT_TYPES[name])


def is_simple_array(sub: Any) -> bool:
    """An ``array`` property whose items only declare a type (``items: {"type": ...}``).

    The row maker checks such arrays inline; the record reader takes those of them whose items are plain.
    """
    if not isinstance(sub, Mapping) or not sub.keys() <= ANNOTATIONS | {"items"} or "type" not in sub:
        return False
    items = sub.get("items")
    return (
        "array" in type_names(sub["type"])
        and isinstance(items, Mapping)
        and items.keys() <= ANNOTATIONS
        and "type" in items
    )


def supported_root(schema: Mapping[str, Any], properties: Sequence[str]) -> bool:
    """Whether a stream's root schema is within the generated passes' reach (else the general path)."""
    declared = schema.get("type", "object")
    root_types = type_names(declared)
    return (
        schema.keys() <= _ROOT_KEYWORDS
        and "object" in root_types
        and schema.get("additionalProperties", True) is True
        and "$ref" not in repr(schema)
        and list(schema.get("properties") or {}) == list(properties)
    )


def compile_row_maker(
    schema: dict[str, Any], properties: Sequence[str], types: Sequence[str]
) -> RowMaker | None:
    """A generated record → row function that also validates, or None when the schema's shape is unsupported.

    Property names enter the source only as ``repr()`` literals; types and helpers are bound in the namespace.

    Args:
        schema: The stream's JSON schema (as the validator sees it).
        properties: Property names, in column order (the schema's properties).
        types: The column type of each property.

    Returns:
        record → tuple of text values / None (exactly the compiled encoder's row), or None meaning "use the
        general path"; None instead of a function when the root schema is beyond this pass.
    """
    if not supported_root(schema, properties):
        return None
    namespace = base_namespace()
    namespace["MISSING"] = _MISSING
    sub_schemas = schema.get("properties") or {}
    lines = ["def make(r):", "    g = r.get"]
    lines.extend(f"    if {name!r} not in r:\n        return None" for name in schema.get("required") or ())
    lines.extend(["    try:", "        return ("])
    for index, (prop, pg_type) in enumerate(zip(properties, types, strict=True)):
        present = present_value_code(index, sub_schemas[prop], pg_type, schema, namespace)
        lines.append(f"            None if (v := g({prop!r}, MISSING)) is MISSING else ({present}),")
    lines.extend(["        )", "    except Exception:", "        return None"])
    exec(compile("\n".join(lines), "<pipeboard-row-maker>", "exec"), namespace)  # noqa: S102 - names are repr() literals
    return namespace["make"]


def base_namespace() -> dict[str, Any]:
    """The helpers every generated pass refers to by name."""
    return {
        **TYPE_EXPRESSION_NAMES,
        "Decimal": decimal.Decimal,
        "DATETIME_FROM_ISO": datetime.datetime.fromisoformat,
        "DATE_FROM_ISO": datetime.date.fromisoformat,
        "unsure": _unsure,
        "Unsure": _Unsure,
    }


def present_value_code(index: int, sub: Any, pg_type: str, root: Mapping[str, Any], namespace: dict) -> str:
    """Python expression turning ``v`` (a property's value, present in the record) into its row text.

    The expression checks ``v`` against the property's schema and calls ``unsure()`` when it cannot vouch
    for it; helpers it needs are added to ``namespace`` under names suffixed with ``index``.

    Args:
        index: The property's position (keeps helper names unique).
        sub: The property's subschema.
        pg_type: The column type.
        root: The whole schema (for subschemas checked by the compiled validator).
        namespace: The generated code's globals.

    Returns:
        An expression over ``v``.
    """
    encoder = f"e{index}"
    namespace[encoder] = ENCODERS[pg_type]
    check = None
    names: list[str] = []
    if (plain := plain_type_expression(sub, f"p{index}", namespace)) is not None:
        names, check = plain
    elif is_simple_array(sub):
        namespace[f"c{index}"] = compile_schema(sub, root)
        namespace[f"a{index}"] = _exact_types(sub["items"].get("type"))
        names = type_names(sub["type"])
        check = f"(type(v) is list and {{type(x) for x in v}} <= a{index}) or c{index}(v)"
    if check is None:
        namespace[f"c{index}"] = compile_schema(sub, root)
        return f"unsure() if not c{index}(v) else None if v is None else {encoder}(v)"
    inline = INLINE_ENCODINGS.get(pg_type, "{e}(v)").format(e=encoder)
    encoded = f"({inline}) if ({check}) else unsure()"
    return f"None if v is None else {encoded}" if "null" in names else encoded


_MISSING = object()
