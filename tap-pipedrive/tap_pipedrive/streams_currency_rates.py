"""deal_currency_rates: the exchange rates Pipedrive converts deal values with, read off the deals summary."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
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

DEFAULT_REFRESH_HOURS = 6
"""Hours between two reads of the rates unless ``currency_rates_refresh_hours`` says otherwise."""

READ_AT_KEY = "read_at"
"""Key, in the stream's state, of when the rates were last read (RFC 3339)."""


def due(last_read: Any, refresh_hours: float, now: datetime) -> bool:
    """Whether to read the rates again: never read, refresh 0, or last read ``refresh_hours`` ago or more."""
    if refresh_hours <= 0 or not isinstance(last_read, str):
        return True
    try:
        read = datetime.fromisoformat(last_read.replace("Z", "+00:00"))
    except ValueError:
        return True
    if read.tzinfo is None:
        read = read.replace(tzinfo=UTC)
    return not read <= now < read + timedelta(hours=refresh_hours)


class DealCurrencyRatesStream(PipedriveStream):
    """One row per deal currency: the rate Pipedrive converted its total with (FULL_TABLE, key ``currency``).

    Two requests per read: ``/v1/users/me`` (2 tokens: the currency converted into is the user's default one)
    and ``/v1/deals/summary`` (40 tokens), at most every ``currency_rates_refresh_hours`` (the time of the
    last read is kept in the stream's state); in between, a run emits nothing and the loaded rows stay. The
    summary counts deals that are neither archived nor deleted, so a currency only such deals use has no row.
    """

    name = "deal_currency_rates"
    endpoint = api_facts.DEALS_SUMMARY
    primary_keys = ("currency",)
    standard_properties = DEAL_CURRENCY_RATES
    timestamp_properties = ()

    def read_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The summary's currencies with their derived rates, when a read is due."""
        refresh = float(self.config.get("currency_rates_refresh_hours", DEFAULT_REFRESH_HOURS))
        last_read = self.stream_state.get(READ_AT_KEY)
        if not due(last_read, refresh, datetime.now(UTC)):
            self.logger.info(
                "deal_currency_rates: last read at %s; the next read is due %s h after it "
                "(currency_rates_refresh_hours)",
                last_read,
                refresh,
            )
            return
        me = self.client.get(self.url_base, api_facts.USERS_ME, {}).get("data") or {}
        user_currency = me.get("default_currency") if isinstance(me, dict) else None
        summary = self.client.get(self.url_base, self.endpoint, {}).get("data") or {}
        read_at = rfc3339(datetime.now(UTC))
        rows = rate_rows(summary, user_currency, read_at)
        if rows and rows[0]["target_currency"] is None:
            self.logger.warning(
                "deal_currency_rates: the deals summary does not tell which currency Pipedrive converted "
                "into (your default currency %s does not convert at par); rates are emitted without "
                "target_currency and the transform will not use them",
                user_currency,
            )
        yield from rows
        self.stream_state[READ_AT_KEY] = read_at
