"""Tests of the tap's metrics: contracted names and types, values after real requests, push safety."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from tap_pipedrive.metrics import TapMetrics, endpoint_label
from tap_pipedrive.resilience import ApiGuard, ResiliencePolicy

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"


def contract_tap_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """``pipeboard_tap_*`` rows of the metrics table in docs/contracts.md: name → (type, labels)."""
    rows = {}
    for line in CONTRACTS.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("pipeboard_tap_"):
            bare = re.sub(r"\([^)]*\)", "", cells[2]).replace("—", "")
            labels = frozenset(label.strip() for label in bare.split(",") if label.strip())
            rows[cells[0]] = (cells[1], labels)
    return rows


def exported(metrics: TapMetrics) -> dict[str, tuple[str, frozenset[str]]]:
    found = {}
    for family in metrics.registry.collect():
        name = family.name + "_total" if family.type == "counter" else family.name
        labels = frozenset(
            label for sample in family.samples for label in sample.labels if label not in {"le", "quantile"}
        )
        found[name] = (family.type, labels)
    return found


def value(metrics: TapMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_registry_exports_exactly_the_contracted_tap_metrics_and_process_metrics() -> None:
    metrics = TapMetrics()
    metrics.record_request("/api/v2/deals", 200, 0.1, 10)
    metrics.record_retry("/api/v2/deals", "server_error")
    metrics.record_records("deals")
    metrics.cache_result("hit")
    metrics.record_reconciliation("organizations", "complete")
    metrics.set_deal_history("stages", 3, 1)
    metrics.finish("success")

    contract = contract_tap_metrics()
    found = exported(metrics)

    assert len(contract) == 18
    assert {name for name in found if name.startswith("pipeboard_")} == set(contract)
    for name, (kind, labels) in contract.items():
        assert found[name][0] == kind, name
        assert found[name][1] == labels or not found[name][1], name
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total"} <= set(found)


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/api/v2/deals", "/api/v2/deals"),
        ("/api/v2/deals?cursor=abc&limit=500", "/api/v2/deals"),
        ("/api/v2/deals/42/products", "/api/v2/deals/{id}/products"),
        ("/v1/leads/adf21080-0e10-11eb-879b-05d71fb426ec", "/v1/leads/{id}"),
        ("/v1/goals/8f7e6d5c4b3a29180716253443526170", "/v1/goals/{id}"),
    ],
    ids=["template", "query", "numeric-id", "uuid", "hex-id"],
)
def test_endpoint_labels_are_path_templates(path: str, label: str) -> None:
    assert endpoint_label(path) == label


def test_breaker_opens_are_counted_on_transitions_only() -> None:
    metrics = TapMetrics()

    for state in (True, True, False, True, False):
        metrics.breaker_state(state)

    assert value(metrics, "pipeboard_tap_circuit_breaker_opens_total") == 2
    assert value(metrics, "pipeboard_tap_circuit_breaker_open") == 0


def test_finish_counts_the_run_once_and_stamps_success() -> None:
    metrics = TapMetrics()

    metrics.finish("success")
    metrics.finish("failure")

    assert value(metrics, "pipeboard_tap_runs_total", outcome="success") == 1
    assert value(metrics, "pipeboard_tap_runs_total", outcome="failure") is None
    assert (value(metrics, "pipeboard_tap_last_success_timestamp_seconds") or 0) > 1.7e9
    assert (value(metrics, "pipeboard_tap_sync_duration_seconds") or -1) >= 0


def test_a_failed_run_does_not_stamp_success() -> None:
    metrics = TapMetrics()

    metrics.finish("failure")

    assert value(metrics, "pipeboard_tap_runs_total", outcome="failure") == 1
    assert value(metrics, "pipeboard_tap_last_success_timestamp_seconds") == 0


def test_an_unreachable_pushgateway_is_logged_once_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    metrics = TapMetrics(f"http://user:pw-secret@127.0.0.1:{port}", instance="test")
    caplog.set_level(logging.WARNING, logger="tap_pipedrive.metrics")

    assert metrics.push() is False
    assert metrics.push() is False
    metrics.finish("failure")

    warnings = [record for record in caplog.records if "Pushgateway" in record.getMessage()]
    assert len(warnings) == 1
    assert f"127.0.0.1:{port}" in warnings[0].getMessage()
    assert "pw-secret" not in caplog.text


def test_periodic_push_is_a_no_op_without_a_pushgateway() -> None:
    metrics = TapMetrics()

    metrics.start_periodic_push(every_seconds=0.01)

    assert metrics.push() is False
    metrics.finish("success")


def test_guard_records_requests_tokens_and_rate_limit_headers(make_emulator: Callable[..., Any]) -> None:
    emulator = make_emulator(deals=20, plan="lite", seats=1)
    metrics = TapMetrics()
    guard = ApiGuard(ResiliencePolicy(), metrics, logging.getLogger("tap-metrics-test"))
    session = requests.Session()

    for deal_id in (1, 2, 3):
        request = requests.Request(
            "GET",
            f"{emulator.base_url}/api/v2/deals/{deal_id}/products",
            headers={"x-api-token": emulator.token},
        ).prepare()
        guard.send(session, request, endpoint="/api/v2/deals/{id}/products", token_cost=10)

    log = emulator.request_log
    endpoint = "/api/v2/deals/{id}/products"
    assert value(metrics, "pipeboard_tap_requests_total", endpoint=endpoint, status="200") == 3
    assert value(metrics, "pipeboard_tap_request_duration_seconds_count", endpoint=endpoint) == 3
    assert value(metrics, "pipeboard_tap_tokens_spent_total", endpoint=endpoint) == sum(
        record.token_cost for record in log
    )
    assert value(metrics, "pipeboard_tap_daily_tokens_remaining") == 30_000 - sum(r.token_cost for r in log)
    assert value(metrics, "pipeboard_tap_daily_tokens_limit") == 30_000
    assert value(metrics, "pipeboard_tap_ratelimit_remaining") == 20 - 3
    assert emulator.token.encode() not in b"".join(
        str(sample).encode() for family in metrics.registry.collect() for sample in family.samples
    )


@pytest.mark.parametrize(("plan", "seats"), [("lite", 1), ("premium", 3)])
def test_daily_budget_gauges_follow_the_headers_of_the_last_answer(
    make_emulator: Callable[..., Any], plan: str, seats: int
) -> None:
    emulator = make_emulator(deals=20, plan=plan, seats=seats)
    metrics = TapMetrics()
    guard = ApiGuard(ResiliencePolicy(), metrics, logging.getLogger("tap-metrics-test"))
    session = requests.Session()

    assert value(metrics, "pipeboard_tap_daily_tokens_limit") == 0
    for _ in range(2):
        request = requests.Request(
            "GET",
            f"{emulator.base_url}/api/v2/deals",
            params={"limit": 5},
            headers={"x-api-token": emulator.token},
        ).prepare()
        response = guard.send(session, request, endpoint="/api/v2/deals", token_cost=10)

    limit = int(response.headers["x-daily-ratelimit-token-limit"])
    remaining = int(response.headers["x-daily-ratelimit-token-remaining"])
    assert limit == 30_000 * {"lite": 1, "premium": 5}[plan] * seats
    assert value(metrics, "pipeboard_tap_daily_tokens_limit") == limit
    assert value(metrics, "pipeboard_tap_daily_tokens_remaining") == remaining < limit
