"""Query-parameter validation against the spec facts: unknown names, bad types/enums/formats/limits → 400."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pipedrive_emulator.errors import bad_request
from pipedrive_emulator.spec_facts import OperationFacts, ParamFacts

AUTH_PARAM = "api_token"
"""The legacy query-string token: accepted for auth, never validated as a parameter, never logged."""

_INTEGER = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True)
class SortKey:
    """One ``field ASC|DESC`` item of a v1 ``sort`` parameter."""

    field: str
    descending: bool


def validate_query(operation: OperationFacts, query: dict[str, list[str]]) -> dict[str, Any]:
    """Check a request's query parameters against what the spec defines for its operation.

    Args:
        operation: The operation's facts.
        query: Parameter name → values as parsed from the query string (``api_token`` already removed).

    Returns:
        Parameter name → parsed value (int, float, bool, str, datetime, date, list for comma lists,
        list[SortKey] for v1 ``sort``), for the parameters present; ``limit`` always present for paginated
        operations.

    Raises:
        ApiError: 400 for an unknown parameter or an invalid value.
    """
    parsed: dict[str, Any] = {}
    for name, values in query.items():
        param = operation.params.get(name)
        if param is None:
            raise bad_request(f'Unknown query parameter "{name}" for this endpoint.')
        if len(values) > 1 and not param.is_list:
            raise bad_request(f'Query parameter "{name}" may be given only once.')
        parsed[name] = _parse_param(operation, param, values)
    for name, param in operation.params.items():
        if param.required and name not in parsed:
            raise bad_request(f'Query parameter "{name}" is required.')
    if operation.limit_max is not None:
        limit = parsed.setdefault("limit", operation.limit_default)
        if not 1 <= limit <= operation.limit_max:
            raise bad_request(f'"limit" must be between 1 and {operation.limit_max}.')
    if parsed.get("start", 0) < 0:
        raise bad_request('"start" must not be negative.')
    return parsed


def _parse_param(operation: OperationFacts, param: ParamFacts, values: list[str]) -> Any:
    if operation.api == "v1" and param.name == "sort":
        return _parse_v1_sort(param, values[0])
    if param.is_list:
        joined = ",".join(values)
        if param.enum is not None and joined in param.enum:
            return joined.split(",")
        items = [item.strip() for item in joined.split(",")]
        if any(item == "" for item in items):
            raise bad_request(f'Query parameter "{param.name}" has an empty item.')
        if param.max_items is not None and len(items) > param.max_items:
            raise bad_request(f'Query parameter "{param.name}" accepts at most {param.max_items} items.')
        return [_parse_value(param, item) for item in items]
    return _parse_value(param, values[0])


def _parse_value(param: ParamFacts, raw: str) -> Any:
    value: Any
    if param.type == "integer":
        if not _INTEGER.match(raw):
            raise bad_request(f'Query parameter "{param.name}" must be an integer.')
        value = int(raw)
    elif param.type == "number":
        if not _NUMBER.match(raw):
            raise bad_request(f'Query parameter "{param.name}" must be a number.')
        value = float(raw) if "." in raw else int(raw)
    elif param.type == "boolean":
        if raw.lower() not in _BOOLEANS:
            raise bad_request(f'Query parameter "{param.name}" must be a boolean.')
        value = _BOOLEANS[raw.lower()]
    else:
        value = _parse_string(param, raw)
    if param.enum is not None and value not in param.enum:
        allowed = ", ".join(str(option) for option in param.enum)
        raise bad_request(f'Query parameter "{param.name}" must be one of: {allowed}.')
    return value


def _parse_string(param: ParamFacts, raw: str) -> Any:
    if param.format == "date-time":
        return parse_rfc3339(raw, param.name)
    if param.format == "date":
        if not _DATE.match(raw):
            raise bad_request(f'Query parameter "{param.name}" must be a date (YYYY-MM-DD).')
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise bad_request(f'Query parameter "{param.name}" must be a valid date.') from None
    if param.format == "uuid":
        try:
            uuid.UUID(raw)
        except ValueError:
            raise bad_request(f'Query parameter "{param.name}" must be a UUID.') from None
    return raw


def parse_rfc3339(raw: str, name: str) -> datetime:
    """Parse an RFC 3339 timestamp (``2025-01-01T10:20:00Z``, millis and offsets allowed) to aware UTC.

    Raises:
        ApiError: 400 when the value is not RFC 3339.
    """
    if not _RFC3339.match(raw):
        raise bad_request(
            f'Query parameter "{name}" must be an RFC 3339 date-time, e.g. 2025-01-01T10:20:00Z.'
        )
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise bad_request(f'Query parameter "{name}" is not a valid date-time.') from None


def _parse_v1_sort(param: ParamFacts, raw: str) -> list[SortKey]:
    keys = []
    for item in raw.split(","):
        words = item.split()
        if not 1 <= len(words) <= 2 or (len(words) == 2 and words[1].upper() not in ("ASC", "DESC")):
            raise bad_request(f'Query parameter "sort" has an invalid item "{item.strip()}".')
        if param.enum is not None and words[0] not in param.enum:
            raise bad_request(f'Query parameter "sort" cannot sort by "{words[0]}".')
        keys.append(SortKey(field=words[0], descending=len(words) == 2 and words[1].upper() == "DESC"))
    return keys
