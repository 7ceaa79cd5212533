"""Record checks compiled from JSON schemas: a fast path for the common keywords, jsonschema for the rest.

A compiled check only ever says "valid" when jsonschema would; whenever it says "maybe not", the record goes
through the SDK's jsonschema validator (:mod:`target_pipeboard_postgres.validator`), which raises the precise
``InvalidRecord`` message. This module does not import the SDK: the record encoder process uses it too.
"""

from __future__ import annotations

import decimal
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Check = Callable[[Any], bool]

# Assertion keywords the fast path does not implement: a subschema using one is checked by jsonschema.
_SLOW_KEYWORDS = frozenset(
    {
        "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems", "contains",
        "minContains", "maxContains", "minProperties", "maxProperties", "patternProperties",
        "dependencies", "dependentRequired", "dependentSchemas", "propertyNames", "if", "then", "else",
        "allOf", "oneOf", "not", "additionalItems", "prefixItems", "unevaluatedItems",
        "unevaluatedProperties", "$dynamicRef",
    }
)  # fmt: skip


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


_TYPE_CHECKS: dict[str, Check] = {
    "null": lambda value: value is None,
    "boolean": lambda value: isinstance(value, bool),
    "string": lambda value: isinstance(value, str),
    "integer": _is_integer,
    "number": _is_number,
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
}


PYTHON_TYPES: dict[str, type] = {
    "null": type(None),
    "boolean": bool,
    "string": str,
    "object": dict,
    "array": list,
}


def type_names(declared: str | Sequence[str]) -> list[str]:
    """A ``type`` keyword's names as a list (one name, or the names given)."""
    return [declared] if isinstance(declared, str) else list(declared)


def type_check(names: list[str]) -> Check:
    """A predicate for the ``type`` keyword, specialised for speed (``isinstance`` on a tuple when possible).

    Args:
        names: The JSON type names.

    Returns:
        value → bool, matching jsonschema's type semantics (bool is not a number; 1.0 is an integer).
    """
    plain = tuple(PYTHON_TYPES[name] for name in names if name in PYTHON_TYPES)
    if "number" in names:
        return lambda value: isinstance(value, plain) or _is_number(value)
    if "integer" in names:
        return lambda value: isinstance(value, plain) or _is_integer(value)
    unknown = [name for name in names if name not in PYTHON_TYPES]
    if unknown:
        checks = [_TYPE_CHECKS[name] for name in names]
        return lambda value: any(check(value) for check in checks)
    return lambda value: isinstance(value, plain)


def _always(_: Any) -> bool:
    return True


def compile_schema(schema: Mapping[str, Any] | bool, root: Mapping[str, Any]) -> Check:
    """A predicate that is True only for values jsonschema accepts against ``schema``.

    Args:
        schema: A (sub)schema.
        root: The whole schema (subschemas needing jsonschema are checked in its draft).

    Returns:
        value → bool.
    """
    if schema is True or schema == {}:
        return _always
    if schema is False:
        return lambda _: False
    if _SLOW_KEYWORDS & schema.keys():
        import jsonschema  # only here: the record encoder process imports this module without it

        validator = jsonschema.validators.validator_for(root)(
            schema, format_checker=jsonschema.FormatChecker(())
        )
        return validator.is_valid
    checks: list[Check] = []
    declared = schema.get("type")
    if declared is not None:
        checks.append(type_check(type_names(declared)))
    if "anyOf" in schema:
        options = [compile_schema(option, root) for option in schema["anyOf"]]
        checks.append(lambda value: any(option(value) for option in options))
    sub_schemas = schema.get("properties") or {}
    required = list(schema.get("required") or ())
    additional = schema.get("additionalProperties", True)
    extra = compile_schema(additional, root) if additional is not True else None
    if extra is None and (sub_schemas or required):
        checks.append(_generated_object_check(sub_schemas, required, root))
    elif sub_schemas or required or extra is not None:
        properties = {name: compile_schema(sub, root) for name, sub in sub_schemas.items()}
        checks.append(_object_check(properties, required, extra))
    if isinstance(schema.get("items"), Mapping):
        item = compile_schema(schema["items"], root)
        checks.append(lambda value: not isinstance(value, list) or all(item(element) for element in value))
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda value: first(value) and second(value)
    return lambda value: all(check(value) for check in checks)


ANNOTATIONS = frozenset(
    {
        "type", "title", "description", "default", "examples", "format", "$comment", "readOnly", "writeOnly",
        "deprecated", "contentMediaType", "contentEncoding",
    }
)  # fmt: skip


TYPE_EXPRESSION_NAMES: dict[str, Any] = {
    "Number": numbers.Number,
    "EXACT_NUMBERS": frozenset({int, float, decimal.Decimal}),
}
"""The globals the expressions of :func:`type_expression` refer to (besides their ``plain_name``)."""


def plain_type_names(sub: Any) -> list[str] | None:
    """The type names of a subschema that declares a ``type`` and nothing else but annotations, else None.

    Every generated pass (validator, row maker, record reader) checks such a property inline.
    """
    if isinstance(sub, Mapping) and sub.keys() <= ANNOTATIONS and "type" in sub:
        return type_names(sub["type"])
    return None


def plain_type_expression(
    sub: Any, plain_name: str, namespace: dict[str, Any]
) -> tuple[list[str], str] | None:
    """For a subschema :func:`plain_type_names` accepts: its names and the inline test of ``v`` against them.

    Args:
        sub: The subschema.
        plain_name: The global the test refers to (bound in ``namespace`` here).
        namespace: The generated code's globals (they must hold :data:`TYPE_EXPRESSION_NAMES`).

    Returns:
        (type names, Python expression over ``v``), or None when the subschema needs a compiled check.
    """
    names = plain_type_names(sub)
    if names is None or (expression := type_expression(names, plain_name)) is None:
        return None
    namespace[plain_name] = tuple(PYTHON_TYPES[name] for name in names if name in PYTHON_TYPES)
    return names, expression


def type_expression(names: list[str], plain_name: str) -> str | None:
    """Python source testing ``v`` against JSON type names (None when a name is unknown)."""
    if any(name not in _TYPE_CHECKS for name in names):
        return None
    parts = [f"isinstance(v, {plain_name})"]
    # Exact-type shortcuts first (bool is never of these exact types); the general tests follow unchanged.
    if "number" in names:
        parts.insert(0, "type(v) in EXACT_NUMBERS")
    elif "integer" in names:
        parts.insert(0, "type(v) is int")
    if "number" in names:
        parts.append("(isinstance(v, Number) and v is not True and v is not False)")
    elif "integer" in names:
        parts.append("(isinstance(v, int) and v is not True and v is not False)")
        parts.append("(type(v) is float and v.is_integer())")
    return " or ".join(parts)


def _generated_object_check(
    sub_schemas: Mapping[str, Any], required: list[str], root: Mapping[str, Any]
) -> Check:
    """One generated function checking an object's properties inline (no call per property for plain types).

    Property names enter the source only as ``repr()`` string literals; types as names bound in the namespace.
    """
    namespace: dict[str, Any] = {**TYPE_EXPRESSION_NAMES, "MISSING": _MISSING}
    lines = ["def check(r):", "    if not isinstance(r, dict):", "        return True", "    g = r.get"]
    lines.extend(f"    if {name!r} not in r:\n        return False" for name in required)
    for index, (name, sub) in enumerate(sub_schemas.items()):
        plain = plain_type_expression(sub, f"p{index}", namespace)
        expression = plain[1] if plain is not None else None
        if expression is None:
            namespace[f"c{index}"] = compile_schema(sub, root)
            expression = f"c{index}(v)"
        lines.append(f"    v = g({name!r}, MISSING)")
        lines.append(f"    if v is not MISSING and not ({expression}):\n        return False")
    lines.append("    return True")
    exec(compile("\n".join(lines), "<pipeboard-validator>", "exec"), namespace)  # noqa: S102 - names are repr() literals
    return namespace["check"]


_MISSING = object()


def _object_check(properties: dict[str, Check], required: list[str], extra: Check | None) -> Check:
    items = list(properties.items())

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for name in required:
            if name not in value:
                return False
        for name, prop_check in items:
            if name in value and not prop_check(value[name]):
                return False
        if extra is not None:
            return all(extra(item) for key, item in value.items() if key not in properties)
        return True

    return check
