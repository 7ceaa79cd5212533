"""The API facts the emulator enforces, extracted from Pipedrive's OpenAPI documents into ``spec_facts.json``.

The emulator must run without the spec files (we may not vendor them), so this module both *generates* the
compact ``spec_facts.json`` next to it from a spec directory and *loads* it at runtime:

    python -m pipedrive_emulator.spec_facts /path/to/shared/pipedrive-api [--output FILE]

Per served operation it records the query parameters the spec defines (type, enum, format, whether the value
is a comma list and how many items it may hold, default, required), the ``x-token-cost``, the pagination style
and the shape of ``additional_data`` in the 200 response.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

FACTS_PATH = Path(__file__).with_name("spec_facts.json")

SERVED_OPERATIONS: tuple[tuple[str, str], ...] = (
    ("v2", "/deals"),
    ("v2", "/deals/archived"),
    ("v2", "/persons"),
    ("v2", "/organizations"),
    ("v2", "/activities"),
    ("v2", "/products"),
    ("v2", "/pipelines"),
    ("v2", "/stages"),
    ("v2", "/deals/products"),
    ("v2", "/deals/{id}/products"),
    ("v2", "/dealFields"),
    ("v2", "/personFields"),
    ("v2", "/organizationFields"),
    ("v2", "/productFields"),
    ("v2", "/activityFields"),
    ("v1", "/users"),
    ("v1", "/users/me"),
    ("v1", "/deals/summary"),
    ("v1", "/activityTypes"),
    ("v1", "/leads"),
    ("v1", "/leads/archived"),
    ("v1", "/leadLabels"),
    ("v1", "/notes"),
    ("v1", "/currencies"),
    ("v1", "/leadFields"),
    ("v1", "/noteFields"),
    ("v1", "/deals/{id}/changelog"),
    ("v1", "/pipelines/{id}/movement_statistics"),
    ("v2", "/deals/installments"),
    ("v2", "/products/{id}/variations"),
    ("v1", "/callLogs"),
    ("v1", "/deals/{id}/participants"),
    ("v1", "/mailbox/mailThreads"),
    ("v1", "/files"),
    ("v1", "/filters"),
    # organisation and targets, post-sale (routes_org.py)
    ("v1", "/roles"),
    ("v1", "/roles/{id}/assignments"),
    ("v1", "/permissionSets"),
    ("v1", "/permissionSets/{id}/assignments"),
    ("v1", "/legacyTeams"),
    ("v1", "/goals/find"),
    ("v1", "/goals/{id}/results"),
    ("v1", "/leadSources"),
    ("v1", "/organizationRelationships"),
    ("v2", "/projects"),
    ("v2", "/projects/archived"),
    ("v2", "/tasks"),
    ("v2", "/boards"),
    ("v2", "/phases"),
    ("v2", "/projectFields"),
)
"""(api, path as written in the spec) of every GET operation the emulator serves."""

V1_DOCUMENTED_LIMIT_MAX = 500
"""v1 offset lists cap ``limit`` at 500 (pipedrive.readme.io core-api-concepts-pagination)."""

SPEC_FILES = {"v1": "v1.yaml", "v2": "v2.yaml"}
_MAX_ITEMS = re.compile(r"(?:up to|maximum of)\s+(\d+)\s+(?:\w+\s+)?(?:ids|keys)\b", re.IGNORECASE)
_LIMIT_MAX = re.compile(r"(?:maximum value of|upper limit is)\s+(\d+)", re.IGNORECASE)
_LIMIT_DEFAULT = re.compile(r"If not provided,\s+(\d+)\s+items", re.IGNORECASE)
_DATE_TIME_HINTS = ("RFC3339", "RFC 3339", "ISO 8601", "ISO-8601")


@dataclass(frozen=True)
class ParamFacts:
    """What the spec allows for one query parameter.

    Attributes:
        name: The parameter name.
        type: JSON-schema type of one value: string, integer, number, boolean.
        enum: Allowed values, or None for any.
        format: ``date-time``, ``date``, ``uuid`` or None.
        is_list: The value is a comma-separated list (or a repeated parameter).
        max_items: Most items a list may hold, when the spec says.
        required: The operation fails without it.
        default: The spec's default, if any.
    """

    name: str
    type: str
    enum: tuple[Any, ...] | None = None
    format: str | None = None
    is_list: bool = False
    max_items: int | None = None
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class OperationFacts:
    """What the spec says about one served GET operation.

    Attributes:
        api: ``v1`` or ``v2``.
        path: The path as the spec writes it (without the version prefix), e.g. ``/deals/{id}/products``.
        operation_id: The spec's ``operationId``.
        token_cost: The ``x-token-cost`` charged per request.
        pagination: ``cursor``, ``offset`` or ``none``.
        additional_data: Shape of ``additional_data`` in the 200 response: ``next_cursor``, ``pagination``
            (v1 wrapper), ``flat`` (``start``/``limit``/``more_items_in_collection`` directly) or ``none``.
        limit_default: Page size when ``limit`` is omitted.
        limit_max: Largest ``limit`` accepted.
        params: Query parameters by name.
    """

    api: str
    path: str
    operation_id: str
    token_cost: int
    pagination: str
    additional_data: str
    limit_default: int | None
    limit_max: int | None
    params: dict[str, ParamFacts] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- generation


def _resolver(spec: dict[str, Any]) -> Any:
    def resolve(node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            parts = node["$ref"].lstrip("#/").split("/")
            target: Any = spec
            for part in parts:
                target = target[part]
            node = target
        return node

    return resolve


def _additional_data_shape(schema: Any, resolve: Any) -> str:
    """Find ``additional_data`` in a 200 response schema (through allOf) and name its shape."""
    schema = resolve(schema)
    if not isinstance(schema, dict):
        return "none"
    candidates = [schema, *(resolve(part) for part in schema.get("allOf", []))]
    for candidate in candidates:
        additional = resolve(candidate.get("properties", {}).get("additional_data"))
        if not isinstance(additional, dict):
            continue
        properties = {
            name
            for part in [additional, *(resolve(p) for p in additional.get("allOf", []))]
            for name in resolve(part).get("properties", {})
        }
        if "next_cursor" in properties:
            return "next_cursor"
        if "pagination" in properties:
            return "pagination"
        if {"start", "limit"} <= properties:
            return "flat"
    return "none"


def _param_facts(param: dict[str, Any], resolve: Any) -> ParamFacts:
    schema = resolve(param.get("schema", {}))
    description = param.get("description", "")
    value_type = schema.get("type", "string")
    is_list = value_type == "array" or "comma separated" in description.lower()
    if value_type == "array":
        value_type = resolve(schema.get("items", {})).get("type", "string")
    value_format = schema.get("format")
    if value_format is None and any(hint in description for hint in _DATE_TIME_HINTS):
        value_format = "date-time"
    max_items = None
    if is_list and (match := _MAX_ITEMS.search(description)):
        max_items = int(match.group(1))
    enum = schema.get("enum") or resolve(schema.get("items", {})).get("enum")
    return ParamFacts(
        name=param["name"],
        type=value_type,
        enum=tuple(enum) if enum else None,
        format=value_format,
        is_list=is_list,
        max_items=max_items,
        required=bool(param.get("required", False)),
        default=schema.get("default"),
    )


def extract_operation(spec: dict[str, Any], api: str, path: str) -> OperationFacts:
    """Extract the facts of one GET operation from a loaded spec document.

    Args:
        spec: The parsed OpenAPI document.
        api: ``v1`` or ``v2``.
        path: The operation's path key in the document.

    Returns:
        The operation's facts.
    """
    resolve = _resolver(spec)
    path_item = spec["paths"][path]
    operation = path_item["get"]
    params: dict[str, ParamFacts] = {}
    limit_default: int | None = None
    limit_max: int | None = None
    for raw in [*path_item.get("parameters", []), *operation.get("parameters", [])]:
        raw = resolve(raw)
        if raw.get("in") != "query":
            continue
        facts = _param_facts(raw, resolve)
        params[facts.name] = facts
        if facts.name == "limit":
            description = raw.get("description", "")
            default_match = _LIMIT_DEFAULT.search(description)
            max_match = _LIMIT_MAX.search(description)
            limit_default = int(default_match.group(1)) if default_match else 100
            limit_max = int(max_match.group(1)) if max_match else V1_DOCUMENTED_LIMIT_MAX
    if "cursor" in params:
        pagination = "cursor"
    elif "start" in params:
        pagination = "offset"
    else:
        pagination = "none"
    response = resolve(operation["responses"]["200"])
    schema = response["content"]["application/json"]["schema"]
    return OperationFacts(
        api=api,
        path=path,
        operation_id=operation["operationId"],
        token_cost=int(operation["x-token-cost"]),
        pagination=pagination,
        additional_data=_additional_data_shape(schema, resolve),
        limit_default=limit_default,
        limit_max=limit_max,
        params=params,
    )


def generate_facts(spec_dir: Path) -> dict[str, Any]:
    """Build the JSON document of facts for every served operation.

    Args:
        spec_dir: Directory holding ``v1.yaml`` and ``v2.yaml``.

    Returns:
        The JSON-ready document written to ``spec_facts.json``.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    specs = {
        api: yaml.load((spec_dir / name).read_bytes(), Loader=loader)  # noqa: S506 - CSafeLoader/SafeLoader
        for api, name in SPEC_FILES.items()
    }
    operations = {}
    for api, path in SERVED_OPERATIONS:
        facts = extract_operation(specs[api], api, path)
        entry = {
            "operation_id": facts.operation_id,
            "token_cost": facts.token_cost,
            "pagination": facts.pagination,
            "additional_data": facts.additional_data,
            "limit_default": facts.limit_default,
            "limit_max": facts.limit_max,
            "params": {
                name: {key: value for key, value in _param_json(param).items() if value not in (None, False)}
                for name, param in facts.params.items()
            },
        }
        operations[f"{api} {path}"] = entry
    return {
        "generated_from": {api: specs[api]["info"]["version"] for api in SPEC_FILES},
        "operations": operations,
    }


def _param_json(param: ParamFacts) -> dict[str, Any]:
    return {
        "type": param.type,
        "enum": list(param.enum) if param.enum else None,
        "format": param.format,
        "is_list": param.is_list,
        "max_items": param.max_items,
        "required": param.required,
        "default": param.default,
    }


def render_facts(document: dict[str, Any]) -> str:
    """Serialise a facts document exactly as it is committed."""
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


# --------------------------------------------------------------------------------------------- loading


@cache
def load_operations() -> dict[tuple[str, str], OperationFacts]:
    """Load the committed ``spec_facts.json``.

    Returns:
        Facts keyed by (api, spec path), e.g. ``("v2", "/deals")``.
    """
    document = json.loads(FACTS_PATH.read_text(encoding="utf-8"))
    operations: dict[tuple[str, str], OperationFacts] = {}
    for key, entry in document["operations"].items():
        api, path = key.split(" ", 1)
        params = {
            name: ParamFacts(
                name=name,
                type=raw["type"],
                enum=tuple(raw["enum"]) if "enum" in raw else None,
                format=raw.get("format"),
                is_list=raw.get("is_list", False),
                max_items=raw.get("max_items"),
                required=raw.get("required", False),
                default=raw.get("default"),
            )
            for name, raw in entry["params"].items()
        }
        operations[(api, path)] = OperationFacts(
            api=api,
            path=path,
            operation_id=entry["operation_id"],
            token_cost=entry["token_cost"],
            pagination=entry["pagination"],
            additional_data=entry["additional_data"],
            limit_default=entry.get("limit_default"),
            limit_max=entry.get("limit_max"),
            params=params,
        )
    return operations


def main(argv: list[str] | None = None) -> int:
    """Regenerate ``spec_facts.json`` from a directory of Pipedrive spec files."""
    parser = argparse.ArgumentParser(prog="python -m pipedrive_emulator.spec_facts", description=__doc__)
    parser.add_argument("spec_dir", type=Path, help="directory with v1.yaml and v2.yaml")
    parser.add_argument(
        "--output", type=Path, default=FACTS_PATH, help="where to write (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    args.output.write_text(render_facts(generate_facts(args.spec_dir)), encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
