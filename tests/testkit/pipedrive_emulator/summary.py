"""``GET /v1/deals/summary``: deal totals per currency, converted with the account's own exchange rates.

The spec (v1.yaml ``getDealsSummary``) describes ``values_total`` and ``weighted_values_total`` as objects
keyed by deal currency, and the converted totals as "converted into the company default currency", with
nothing in the response naming that currency. The emulator converts into the default currency of the user
whose token asks (``/v1/users/me``'s ``default_currency``), which is also the company's here: every generated
user has the same one. What it assumes where the spec is silent:

- deals counted: not archived (the operation's description) and not deleted (``status`` offers only open, won
  and lost); ``status``, ``user_id`` (the owner), ``pipeline_id`` and ``stage_id`` narrow them, ``filter_id``
  is answered like every list's unknown filter;
- a currency without an exchange rate (a custom currency) converts to 0;
- weighted value = value x the deal's probability, else its stage's, else 100 %;
- converted totals are rounded to the target currency's decimal places; the ``*_formatted`` strings put the
  currency's symbol before the amount (``€1,234.50``).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pipedrive_emulator.data import Dataset
from pipedrive_emulator.errors import ApiError

EXCHANGE_RATES_EUR: dict[str, Decimal] = {
    "EUR": Decimal("1"),
    "USD": Decimal("0.92"),
    "GBP": Decimal("1.17"),
    "JPY": Decimal("0.0061"),
    "SEK": Decimal("0.087"),
    "CHF": Decimal("1.04"),
    "PLN": Decimal("0.23"),
}
"""What one unit of each non-custom currency of the account is worth in EUR (custom currencies have none)."""


def exchange_rate(currency: str, target: str) -> Decimal | None:
    """Units of ``target`` one unit of ``currency`` is worth, or None when either has no rate."""
    if currency == target:
        return Decimal(1)
    source_eur, target_eur = EXCHANGE_RATES_EUR.get(currency), EXCHANGE_RATES_EUR.get(target)
    if source_eur is None or target_eur is None:
        return None
    return source_eur / target_eur


def _number(value: Decimal) -> int | float:
    """A JSON number: integral amounts as int, others as float."""
    return int(value) if value == value.to_integral_value() else float(value)


def _formatted(amount: Decimal, currency: dict[str, Any] | None, code: str) -> str:
    decimals = int(currency["decimal_points"]) if currency else 2
    symbol = currency["symbol"] if currency else code + " "
    return f"{symbol}{amount:,.{decimals}f}"


def _rounded(amount: Decimal, currency: dict[str, Any] | None) -> Decimal:
    decimals = int(currency["decimal_points"]) if currency else 2
    return amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _probability(deal: dict[str, Any], stages: dict[Any, dict[str, Any]]) -> Decimal:
    own = deal.get("probability")
    if own is not None:
        return Decimal(str(own))
    stage_probability = (stages.get(deal.get("stage_id")) or {}).get("deal_probability")
    return Decimal(str(stage_probability)) if stage_probability is not None else Decimal(100)


def _selected(ds: Dataset, params: dict[str, Any]) -> Iterable[dict[str, Any]]:
    if "filter_id" in params:
        raise ApiError(404, "Filter not found", "Object was not found.")
    statuses = {params["status"]} if "status" in params else {"open", "won", "lost"}
    for deal in ds.records["deals"].values():
        if deal.get("is_archived") or deal.get("is_deleted") or deal.get("status") not in statuses:
            continue
        if "user_id" in params and deal.get("owner_id") != params["user_id"]:
            continue
        if "pipeline_id" in params and deal.get("pipeline_id") != params["pipeline_id"]:
            continue
        if "stage_id" in params and deal.get("stage_id") != params["stage_id"]:
            continue
        yield deal


def deals_summary(ds: Dataset, params: dict[str, Any]) -> dict[str, Any]:
    """The ``/v1/deals/summary`` answer for the deals ``params`` select (see the module docstring)."""
    me = ds.records["users"][ds.company["me_user_id"]]
    target = str(me.get("default_currency") or "EUR")
    currencies = {row["code"]: row for row in ds.records["currencies"].values()}
    stages = ds.records["stages"]
    totals: dict[str, dict[str, Any]] = {}
    for deal in _selected(ds, params):
        code = str(deal.get("currency") or target)
        value = Decimal(str(deal.get("value") or 0))
        group = totals.setdefault(code, {"value": Decimal(0), "weighted": Decimal(0), "count": 0})
        group["value"] += value
        group["weighted"] += value * _probability(deal, stages) / 100
        group["count"] += 1
    values_total: dict[str, Any] = {}
    weighted_total: dict[str, Any] = {}
    converted_sum = weighted_converted_sum = Decimal(0)
    target_currency = currencies.get(target)
    for code in sorted(totals):
        group, currency = totals[code], currencies.get(code)
        rate = exchange_rate(code, target) if not (currency or {}).get("is_custom_flag") else None
        converted = _rounded(group["value"] * rate, target_currency) if rate is not None else Decimal(0)
        weighted = _rounded(group["weighted"], currency)
        converted_sum += converted
        if rate is not None:
            weighted_converted_sum += group["weighted"] * rate
        values_total[code] = {
            "value": _number(group["value"]),
            "count": group["count"],
            "value_converted": _number(converted),
            "value_formatted": _formatted(group["value"], currency, code),
            "value_converted_formatted": _formatted(converted, target_currency, target),
        }
        weighted_total[code] = {
            "value": _number(weighted),
            "count": group["count"],
            "value_formatted": _formatted(weighted, currency, code),
        }
    weighted_converted = _rounded(weighted_converted_sum, target_currency)
    return {
        "success": True,
        "data": {
            "values_total": values_total,
            "weighted_values_total": weighted_total,
            "total_count": sum(group["count"] for group in totals.values()),
            "total_currency_converted_value": _number(converted_sum),
            "total_weighted_currency_converted_value": _number(weighted_converted),
            "total_currency_converted_value_formatted": _formatted(converted_sum, target_currency, target),
            "total_weighted_currency_converted_value_formatted": _formatted(
                weighted_converted, target_currency, target
            ),
        },
    }
