"""Pipedrive's own currency conversion, read off the deals summary: one exchange rate per deal currency.

``GET /v1/deals/summary`` totals the deals per currency, each with ``value`` and ``value_converted`` (the
same total converted by Pipedrive). The rate Pipedrive applied is ``value_converted / value``. The response
does not name the currency it converted into: the spec says "the company default currency"; the tap takes
the token user's ``default_currency`` (``/v1/users/me``) unless the summary contradicts it (that currency's
own total does not convert at par), and then the one currency that does convert at par, if exactly one does.

Pure functions: no HTTP, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Context, Decimal, InvalidOperation
from typing import Any

RATE_DIGITS = 12
"""Significant digits kept of a derived rate (the totals it comes from are rounded by Pipedrive anyway)."""

_PAR_ABSOLUTE = Decimal("0.01")
_PAR_RELATIVE = Decimal("0.000001")


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def derived_rate(value: Any, value_converted: Any) -> Decimal | None:
    """The rate Pipedrive converted a currency's total with, or None when it cannot be told.

    Not derivable: a zero total (every deal in the currency is worth 0), a missing or zero converted total
    (Pipedrive has no rate for it, e.g. a custom currency), or totals of opposite signs.
    """
    total, converted = _decimal(value), _decimal(value_converted)
    if total is None or converted is None or total == 0 or converted == 0:
        return None
    rate = Context(prec=RATE_DIGITS).divide(converted, total)
    return rate if rate > 0 else None


def _at_par(group: Mapping[str, Any]) -> bool:
    total, converted = _decimal(group.get("value")), _decimal(group.get("value_converted"))
    if total is None or converted is None or total == 0:
        return False
    difference = abs(converted - total)
    return difference <= _PAR_ABSOLUTE or difference <= abs(total) * _PAR_RELATIVE


def converted_into(values_total: Mapping[str, Any], user_currency: str | None) -> str | None:
    """The currency the summary's converted totals are in.

    Args:
        values_total: The summary's ``values_total`` (currency code → totals).
        user_currency: The token user's ``default_currency``, if known.

    Returns:
        ``user_currency`` unless its own total in the summary does not convert at par; otherwise the one
        currency whose total converts at par; None when that is not exactly one.
    """
    groups = {code: group for code, group in values_total.items() if isinstance(group, Mapping)}
    if user_currency:
        own = groups.get(user_currency)
        if own is None or _at_par(own) or derived_rate(own.get("value"), own.get("value_converted")) is None:
            return user_currency
    at_par = [code for code, group in groups.items() if _at_par(group)]
    return at_par[0] if len(at_par) == 1 else None


def _number(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def rate_rows(summary: Mapping[str, Any], user_currency: str | None, read_at: str) -> list[dict[str, Any]]:
    """One record per currency of a deals summary.

    Args:
        summary: The ``data`` object of ``GET /v1/deals/summary``.
        user_currency: The token user's ``default_currency``, if known.
        read_at: When the summary was read (RFC 3339).

    Returns:
        Records of ``deal_currency_rates``, in currency order: ``currency``, ``target_currency`` (None when
        the summary leaves it unclear), ``rate`` (units of target_currency per unit of currency; None when not
        derivable), ``deals_count``, ``value_total``, ``value_converted_total``, ``weighted_value_total``,
        ``read_at``.
    """
    values_total = summary.get("values_total") or {}
    weighted_total = summary.get("weighted_values_total") or {}
    if not isinstance(values_total, Mapping):
        return []
    target = converted_into(values_total, user_currency)
    rows = []
    for code in sorted(values_total):
        group = values_total[code]
        if not isinstance(group, Mapping):
            continue
        weighted = weighted_total.get(code) if isinstance(weighted_total, Mapping) else None
        count = group.get("count")
        rows.append(
            {
                "currency": str(code),
                "target_currency": target,
                "rate": _number(derived_rate(group.get("value"), group.get("value_converted"))),
                "deals_count": count if isinstance(count, int) and not isinstance(count, bool) else None,
                "value_total": _number(_decimal(group.get("value"))),
                "value_converted_total": _number(_decimal(group.get("value_converted"))),
                "weighted_value_total": _number(
                    _decimal(weighted.get("value")) if isinstance(weighted, Mapping) else None
                ),
                "read_at": read_at,
            }
        )
    return rows
