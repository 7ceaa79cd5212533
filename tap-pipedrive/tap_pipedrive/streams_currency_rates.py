"""deal_currency_rates: the exchange rates Pipedrive converts deal values with, read off the deals summary."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tap_pipedrive import api_facts, schemas
from tap_pipedrive.client import PipedriveStream, rfc3339
from tap_pipedrive.currency_rates import rate_rows

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

DEAL_CURRENCY_RATES = schemas.properties(
    "currency:str target_currency:str rate:num deals_count:int value_total:num value_converted_total:num "
    "weighted_value_total:num read_at:dt"
)


class DealCurrencyRatesStream(PipedriveStream):
    """One row per deal currency: the rate Pipedrive converted its total with (FULL_TABLE, key ``currency``).

    Two requests per run: ``/v1/users/me`` (2 tokens: the currency converted into is the user's default one)
    and ``/v1/deals/summary`` (40 tokens). The summary counts deals that are neither archived nor deleted, so
    a currency only such deals use has no row.
    """

    name = "deal_currency_rates"
    endpoint = api_facts.DEALS_SUMMARY
    primary_keys = ("currency",)
    standard_properties = DEAL_CURRENCY_RATES
    timestamp_properties = ()

    def read_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The summary's currencies with their derived rates."""
        me = self.client.get(self.url_base, api_facts.USERS_ME, {}).get("data") or {}
        user_currency = me.get("default_currency") if isinstance(me, dict) else None
        summary = self.client.get(self.url_base, self.endpoint, {}).get("data") or {}
        rows = rate_rows(summary, user_currency, rfc3339(datetime.now(UTC)))
        if rows and rows[0]["target_currency"] is None:
            self.logger.warning(
                "deal_currency_rates: the deals summary does not tell which currency Pipedrive converted "
                "into (your default currency %s does not convert at par); rates are emitted without "
                "target_currency and the transform will not use them",
                user_currency,
            )
        yield from rows
