"""Standard record shaping: RFC 3339 timestamps, persons' primary email/phone, flat address components."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tap_pipedrive.custom_fields import ADDRESS_COMPONENTS

_V1_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})$")


def to_rfc3339(value: Any) -> Any:
    """Turn a Pipedrive timestamp into RFC 3339: v1 ``2019-11-28 16:19:50`` → ``2019-11-28T16:19:50Z``.

    RFC 3339 input is returned unchanged; the ``0000-00-00 00:00:00`` placeholder and empty text become None.
    """
    if not isinstance(value, str):
        return value
    if value == "" or value.startswith("0000-00-00"):
        return None
    match = _V1_TIMESTAMP.match(value)
    if match:
        return f"{match.group(1)}T{match.group(2)}Z"
    return value


def normalize_timestamps(record: dict[str, Any], names: tuple[str, ...]) -> None:
    """Rewrite the named timestamp properties of ``record`` in place as RFC 3339."""
    for name in names:
        if name in record:
            record[name] = to_rfc3339(record[name])


def primary_value(items: Any) -> str | None:
    """The ``value`` of the item flagged ``primary`` (else the first item) of an emails/phones list."""
    if not isinstance(items, list) or not items:
        return None
    chosen = next((item for item in items if isinstance(item, dict) and item.get("primary")), items[0])
    value = chosen.get("value") if isinstance(chosen, dict) else chosen
    return str(value) if value not in (None, "") else None


def flatten_address(record: dict[str, Any], prefix: str = "address") -> None:
    """Replace an address object with its text in ``<prefix>`` and parts in ``<prefix>_<component>``.

    A v1 record that already has the flat form keeps it.
    """
    value = record.get(prefix)
    parts: Mapping[str, Any] = value if isinstance(value, dict) else {}
    if isinstance(value, dict) or value is None:
        record[prefix] = parts.get("value") or parts.get("formatted_address")
    for part in ADDRESS_COMPONENTS:
        key = f"{prefix}_{part}"
        if key not in record or isinstance(value, dict):
            record[key] = parts.get(part) or None
