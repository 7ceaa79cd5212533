"""deal_currency_rates: rates derived from the deals summary (pure), and the stream against the emulator."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pipedrive_emulator.summary import exchange_rate
from singer_sdk.exceptions import ConfigValidationError
from tap_pipedrive.currency_rates import converted_into, derived_rate, rate_rows
from tap_pipedrive.streams_currency_rates import due
from tap_pipedrive.tap import TapPipedrive


def group(value: Any, converted: Any, count: int = 1) -> dict[str, Any]:
    return {"value": value, "count": count, "value_converted": converted}


@pytest.mark.parametrize(
    ("value", "converted", "expected"),
    [
        (10, 11.1, Decimal("1.11")),
        (3, 1, Decimal("0.333333333333")),
        ("2018577.87", "12313.33", Decimal("0.00610000247352")),
        (0, 0, None),
        (0, 5, None),
        (500, 0, None),
        (500, None, None),
        (None, 5, None),
        (10, -11, None),
        (True, 1, None),
        ("n/a", 1, None),
    ],
    ids=[
        "plain",
        "twelve-digits",
        "strings",
        "zero-total",
        "zero-total-converted",
        "not-converted-custom-currency",
        "converted-missing",
        "value-missing",
        "opposite-signs",
        "boolean",
        "not-a-number",
    ],
)
def test_derived_rate_is_converted_over_value_or_none_when_it_cannot_be_told(value, converted, expected):
    assert derived_rate(value, converted) == expected


def test_the_users_currency_is_the_target_unless_its_own_total_does_not_convert_at_par():
    summary = {"EUR": group(10, 11.1), "USD": group(30, 30)}
    assert converted_into(summary, "USD") == "USD"
    assert converted_into({"EUR": group(10, 11.1)}, "USD") == "USD"  # no USD deals: nothing contradicts it
    assert converted_into({"USD": group(0, 0)}, "USD") == "USD"  # a zero total says nothing either
    assert converted_into(summary, "EUR") == "USD"  # EUR converts at 1.11: the one at par is the target
    assert converted_into(summary, None) == "USD"
    assert converted_into({"EUR": group(10, 11.1), "GBP": group(5, 6)}, "EUR") is None
    assert converted_into({"EUR": group(10, 10), "CHF": group(7, 7), "USD": group(1, 2)}, "USD") is None


def test_a_rounded_converted_total_still_counts_as_at_par():
    assert converted_into({"JPY": group(1_000_000, 1_000_000.004), "EUR": group(5, 800)}, "JPY") == "JPY"
    assert converted_into({"CHF": group(1_000, 990), "EUR": group(1_000, 1_000)}, "CHF") == "EUR"


def test_rate_rows_give_one_record_per_currency_with_its_totals():
    summary = {
        "values_total": {
            "USD": {**group(30, 30, 3), "value_formatted": "US$30"},
            "EUR": group(10, 11.1, 2),
            "PTS": group(500, 0, 1),
            "XXX": group(0, 0, 4),
        },
        "weighted_values_total": {"EUR": {"value": 5, "count": 2}, "USD": {"value": 12.5, "count": 3}},
        "total_count": 10,
    }

    rows = rate_rows(summary, "USD", "2026-01-02T03:04:05Z")

    assert rows == [
        {
            "currency": "EUR",
            "target_currency": "USD",
            "rate": 1.11,
            "deals_count": 2,
            "value_total": 10.0,
            "value_converted_total": 11.1,
            "weighted_value_total": 5.0,
            "read_at": "2026-01-02T03:04:05Z",
        },
        {
            "currency": "PTS",
            "target_currency": "USD",
            "rate": None,
            "deals_count": 1,
            "value_total": 500.0,
            "value_converted_total": 0.0,
            "weighted_value_total": None,
            "read_at": "2026-01-02T03:04:05Z",
        },
        {
            "currency": "USD",
            "target_currency": "USD",
            "rate": 1.0,
            "deals_count": 3,
            "value_total": 30.0,
            "value_converted_total": 30.0,
            "weighted_value_total": 12.5,
            "read_at": "2026-01-02T03:04:05Z",
        },
        {
            "currency": "XXX",
            "target_currency": "USD",
            "rate": None,
            "deals_count": 4,
            "value_total": 0.0,
            "value_converted_total": 0.0,
            "weighted_value_total": None,
            "read_at": "2026-01-02T03:04:05Z",
        },
    ]
    assert rate_rows({"values_total": {}, "total_count": 0}, "USD", "2026-01-02T03:04:05Z") == []
    assert rate_rows({"values_total": None}, "USD", "2026-01-02T03:04:05Z") == []


def _only(catalog: dict[str, Any], stream: str) -> dict[str, Any]:
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] == stream
    return catalog


def test_the_stream_emits_pipedrives_rate_per_currency_for_two_requests(
    make_emulator, run_tap, tap_config
) -> None:
    emulator = make_emulator(deals=200, seed=8, rate_limits=False)
    config = tap_config(emulator)
    catalog = _only(TapPipedrive(config=config).catalog_dict, "deal_currency_rates")
    emulator.clear_log()

    out = run_tap(config, catalog=catalog)

    read = [(r.path, r.token_cost) for r in emulator.request_log if not r.path.endswith("Fields")]
    assert read == [  # discovery's field metadata aside
        ("/api/v1/users/me", 2),
        ("/api/v1/deals/summary", 40),
    ]
    rows = {row["currency"]: row for row in out.records["deal_currency_rates"]}
    counted = [d for d in emulator.records("deals") if not d["is_archived"] and not d["is_deleted"]]
    assert set(rows) == {d["currency"] for d in counted}
    for code, row in rows.items():
        mine = [d for d in counted if d["currency"] == code]
        assert row["target_currency"] == "EUR"  # the token user's default currency
        assert row["deals_count"] == len(mine)
        assert row["value_total"] == pytest.approx(sum(float(d["value"]) for d in mine))
        assert row["rate"] == pytest.approx(float(exchange_rate(code, "EUR")), rel=1e-6)
        assert row["read_at"].endswith("Z")
    assert out.schemas["deal_currency_rates"]["required"] == ["currency"]


NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last_read", "hours", "expected"),
    [
        (None, 6, True),
        ("2026-05-01T07:00:00Z", 6, False),
        ("2026-05-01T06:00:00Z", 6, True),
        ("2026-05-01T11:59:00Z", 0, True),
        ("2026-05-02T00:00:00Z", 6, True),
        ("yesterday", 6, True),
        ("2026-05-01T11:00:00", 6, False),
    ],
    ids=[
        "never-read",
        "read-5h-ago",
        "read-6h-ago",
        "refresh-0",
        "read-in-the-future",
        "garbled",
        "naive-utc",
    ],
)
def test_a_read_is_due_when_never_read_or_the_refresh_interval_has_passed(last_read, hours, expected):
    assert due(last_read, hours, NOW) is expected


def test_rates_are_read_again_only_after_the_refresh_interval(make_emulator, run_tap, tap_config) -> None:
    emulator = make_emulator(deals=60, seed=8, rate_limits=False)
    config = tap_config(emulator)
    catalog = _only(TapPipedrive(config=config).catalog_dict, "deal_currency_rates")
    first = run_tap(config, catalog=catalog)
    read_at = first.records["deal_currency_rates"][0]["read_at"]
    assert first.state["bookmarks"]["deal_currency_rates"]["read_at"] == read_at
    emulator.clear_log()

    second = run_tap(config, state=first.state, catalog=catalog)

    assert "deal_currency_rates" not in second.records
    assert not [r for r in emulator.request_log if r.path == "/api/v1/deals/summary"]
    assert second.state["bookmarks"]["deal_currency_rates"]["read_at"] == read_at

    every_run = run_tap(
        tap_config(emulator, currency_rates_refresh_hours=0), state=first.state, catalog=catalog
    )

    assert len(every_run.records["deal_currency_rates"]) == len(first.records["deal_currency_rates"])
    assert len([r for r in emulator.request_log if r.path == "/api/v1/deals/summary"]) == 1


def test_a_negative_refresh_interval_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigValidationError, match="currency_rates_refresh_hours"):
        TapPipedrive(config={"api_token": "f" * 40, "currency_rates_refresh_hours": -1})
