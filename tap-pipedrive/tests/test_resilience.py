"""Tests of classification, retry waits, the circuit breaker and ApiGuard against the Pipedrive emulator."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import pytest
import requests
from pipedrive_emulator import FaultProfile
from prometheus_client import generate_latest
from tap_pipedrive.errors import (
    BudgetExhausted,
    CircuitOpen,
    EndpointNotInPlan,
    PipedriveAPIError,
    RetriesExhausted,
    TokenRejected,
    TransientError,
)
from tap_pipedrive.metrics import TapMetrics
from tap_pipedrive.resilience import ApiGuard, ResiliencePolicy
from tap_pipedrive.retry import HintedBackoff, check_response, retry_after_seconds, wait_hint
from tenacity import RetryCallState, Retrying

DEALS = "/api/v2/deals"
OK_BODY = b'{"success":true,"data":[],"additional_data":{"next_cursor":null}}'
ERROR_BODY = json.dumps(
    {"success": False, "error": "Entity was not found", "error_info": "Object was not found.", "data": None}
).encode()

FAST = {"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05}
"""Policy waits short enough for tests (server hints still count)."""


# --- classification ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (429, ERROR_BODY, "rate_limited"),
        (500, ERROR_BODY, "server_error"),
        (502, b"<html>Bad gateway</html>", "server_error"),
        (503, b"", "server_error"),
        (520, b"", "server_error"),
        (524, b"<html>A timeout occurred</html>", "server_error"),
        (200, b"", "empty_body"),
        (200, b"   ", "empty_body"),
        (200, OK_BODY[: len(OK_BODY) // 2], "invalid_json"),
        (200, b"null", "unsuccessful"),
        (200, b'{"success":false,"error":"Try again"}', "unsuccessful"),
        (200, b'{"data":[]}', "unsuccessful"),
    ],
    ids=[
        "429",
        "500",
        "502-html",
        "503-empty",
        "cloudflare-520",
        "cloudflare-524",
        "empty-200",
        "blank-200",
        "truncated-json",
        "null-body",
        "success-false",
        "no-success-key",
    ],
)
def test_retriable_answers_raise_transient_errors(status: int, body: bytes, reason: str) -> None:
    with pytest.raises(TransientError) as raised:
        check_response(status, {}, body, DEALS)

    assert raised.value.reason == reason
    assert DEALS in str(raised.value)


@pytest.mark.parametrize("status", [402, 403, 404])
def test_plan_and_permission_answers_mean_endpoint_not_in_plan(status: int) -> None:
    with pytest.raises(EndpointNotInPlan) as raised:
        check_response(status, {}, ERROR_BODY, "/api/v2/deals/archived")

    assert raised.value.status == status
    assert str(raised.value) == (
        f"Pipedrive answered HTTP {status} on /api/v2/deals/archived: Entity was not found "
        "(Object was not found.)"
    )


@pytest.mark.parametrize("status", [400, 405, 410, 415, 422])
def test_other_client_errors_fail_with_path_and_pipedrive_error(status: int) -> None:
    body = json.dumps(
        {"success": False, "error": '"limit" is too big', "error_info": "See the docs."}
    ).encode()

    with pytest.raises(PipedriveAPIError) as raised:
        check_response(status, {}, body, DEALS)

    assert (
        str(raised.value)
        == f'Pipedrive answered HTTP {status} on {DEALS}: "limit" is too big (See the docs.)'
    )
    assert (raised.value.error, raised.value.error_info) == ('"limit" is too big', "See the docs.")


def test_a_cloudflare_html_403_is_still_endpoint_not_in_plan() -> None:
    with pytest.raises(EndpointNotInPlan, match=r"^Pipedrive answered HTTP 403 on /v1/users$"):
        check_response(403, {}, b"<html>Access denied</html>", "/v1/users")


def test_429_with_no_daily_tokens_left_is_budget_exhaustion_not_a_retry() -> None:
    headers = {"x-daily-ratelimit-token-remaining": "0", "x-ratelimit-reset": "1"}

    with pytest.raises(BudgetExhausted, match="daily API token budget is spent"):
        check_response(429, headers, ERROR_BODY, DEALS)


def test_a_usable_answer_returns_its_envelope() -> None:
    assert check_response(200, {}, OK_BODY, DEALS)["additional_data"] == {"next_cursor": None}


# --- waits ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (429, {"x-ratelimit-reset": "2"}, 2.0),
        (429, {"retry-after": "7", "x-ratelimit-reset": "2"}, 7.0),
        (429, {"retry-after": "1", "x-ratelimit-reset": "3"}, 3.0),
        (429, {}, 2.0),
        (503, {"retry-after": "4", "x-ratelimit-reset": "2"}, 4.0),
        (500, {"x-ratelimit-reset": "2"}, 0.0),
    ],
    ids=["429-reset", "429-retry-after-wins", "429-reset-wins", "429-bare", "503-retry-after", "500-no-hint"],
)
def test_wait_hint_takes_the_longest_the_server_asks_for(
    status: int, headers: dict[str, str], expected: float
) -> None:
    assert wait_hint(status, headers) == expected


def test_retry_after_accepts_an_http_date() -> None:
    now = time.time()

    assert retry_after_seconds(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def retry_state(attempt: int, failure: BaseException) -> RetryCallState:
    state = RetryCallState(retry_object=Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    try:
        raise failure
    except BaseException:
        state.set_exception(sys.exc_info())  # type: ignore[arg-type]
    return state


def test_backoff_grows_exponentially_within_jitter_and_cap() -> None:
    wait = HintedBackoff(base=1.0, maximum=10.0, max_hint=120.0)
    plain = TransientError("server_error", "HTTP 500")

    for attempt, floor in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)]:
        assert floor <= wait(retry_state(attempt, plain)) <= min(floor + 1.0, 10.0)
    assert wait(retry_state(9, plain)) == 10.0


def test_backoff_never_undercuts_the_server_hint_but_caps_an_absurd_one() -> None:
    wait = HintedBackoff(base=0.01, maximum=0.05, max_hint=30.0)

    assert wait(retry_state(1, TransientError("rate_limited", "429", wait_hint=2.0))) == 2.0
    assert wait(retry_state(1, TransientError("rate_limited", "429", wait_hint=86_400.0))) == 30.0


def test_policy_rejects_invalid_settings() -> None:
    with pytest.raises(ValueError, match="token_budget_share"):
        ResiliencePolicy(token_budget_share=0)
    with pytest.raises(ValueError, match="breaker_fail_max"):
        ResiliencePolicy(breaker_fail_max=0)


# --- against the emulator ---------------------------------------------------------------------------------


def make_guard(**policy: Any) -> tuple[ApiGuard, TapMetrics]:
    metrics = TapMetrics()
    return ApiGuard(ResiliencePolicy(**{**FAST, **policy}), metrics, logging.getLogger("tap-test")), metrics


def get(
    guard: ApiGuard,
    emulator: Any,
    path: str,
    params: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    request = requests.Request(
        "GET",
        emulator.base_url + path,
        params=params,
        headers={"x-api-token": token or emulator.token},
    ).prepare()
    return guard.send(requests.Session(), request, endpoint=path, token_cost=10).json()


def all_deal_pages(guard: ApiGuard, emulator: Any) -> list[dict[str, Any]]:
    pages, cursor = [], None
    while True:
        params = {"limit": 25, **({"cursor": cursor} if cursor else {})}
        page = get(guard, emulator, DEALS, params)
        pages.append(page)
        cursor = page["additional_data"]["next_cursor"]
        if cursor is None:
            return pages


def sample(metrics: TapMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_flaky_api_every_call_eventually_returns_the_correct_json(
    make_emulator: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emulator = make_emulator(deals=200, faults="flaky")
    guard, metrics = make_guard(max_server_wait_seconds=0.2)

    flaky_pages = all_deal_pages(guard, emulator)
    flaky_users = get(guard, emulator, "/v1/users")
    faulted = [record for record in emulator.request_log if record.fault is not None]
    emulator.set_faults(None)
    clean_guard, _ = make_guard()

    assert flaky_pages == all_deal_pages(clean_guard, emulator)
    assert flaky_users == get(clean_guard, emulator, "/v1/users")
    assert len({record.fault for record in faulted}) >= 3, faulted
    retries = sum(
        sample(metrics, "pipeboard_tap_retries_total", endpoint=endpoint, reason=reason)
        for endpoint in (DEALS, "/v1/users")
        for reason in ("rate_limited", "server_error", "connection_error", "empty_body", "invalid_json")
    )
    assert retries == len(faulted)
    assert emulator.token not in caplog.text
    assert emulator.token.encode() not in generate_latest(metrics.registry)


def test_a_retried_then_successful_request_does_not_open_the_breaker(
    make_emulator: Callable[..., Any],
) -> None:
    twice = FaultProfile("flaky", rate=1.0, kinds=("503",), max_consecutive=2)
    emulator = make_emulator(deals=30, faults=twice)
    guard, metrics = make_guard(breaker_fail_max=3)

    for limit in (1, 2, 3, 4, 5):
        assert get(guard, emulator, DEALS, {"limit": limit})["success"] is True

    assert [record.status for record in emulator.request_log] == [503, 503, 200] * 5
    assert sample(metrics, "pipeboard_tap_circuit_breaker_opens_total") == 0
    assert sample(metrics, "pipeboard_tap_circuit_breaker_open") == 0


def test_api_down_opens_the_breaker_and_later_calls_fail_fast(make_emulator: Callable[..., Any]) -> None:
    emulator = make_emulator(deals=30, faults="down")
    guard, metrics = make_guard(breaker_fail_max=3, max_retries=8)

    with pytest.raises(CircuitOpen) as first:
        get(guard, emulator, DEALS)
    with pytest.raises(CircuitOpen) as second:
        get(guard, emulator, "/api/v2/persons")

    assert str(first.value) == (
        "Pipedrive API failing: 3 consecutive failed attempts on /api/v2/deals (last: HTTP 503 on "
        "/api/v2/deals: Service Unavailable); stopping the sync instead of hammering a failing API"
    )
    assert str(second.value).startswith(
        "Pipedrive API failing: 3 consecutive failed attempts on /api/v2/deals"
    )
    assert "instead of calling /api/v2/persons while the circuit is open" in str(second.value)
    assert [record.status for record in emulator.request_log] == [503, 503, 503]
    assert sample(metrics, "pipeboard_tap_circuit_breaker_open") == 1
    assert sample(metrics, "pipeboard_tap_circuit_breaker_opens_total") == 1
    assert emulator.token not in str(first.value) + str(second.value)


def test_breaker_half_opens_after_the_reset_timeout_and_closes_on_success(
    make_emulator: Callable[..., Any],
) -> None:
    emulator = make_emulator(deals=30, faults="down")
    guard, metrics = make_guard(breaker_fail_max=2, breaker_reset_seconds=0.3)
    with pytest.raises(CircuitOpen):
        get(guard, emulator, DEALS)

    emulator.set_faults(None)
    time.sleep(0.4)

    assert get(guard, emulator, DEALS)["success"] is True
    assert [record.status for record in emulator.request_log] == [503, 503, 200]
    assert sample(metrics, "pipeboard_tap_circuit_breaker_open") == 0


def test_persistent_failure_ends_in_retries_exhausted_with_the_last_cause(
    make_emulator: Callable[..., Any],
) -> None:
    always = FaultProfile("flaky", rate=1.0, kinds=("500",), max_consecutive=100)
    emulator = make_emulator(deals=30, faults=always)
    guard, metrics = make_guard(max_retries=2, breaker_fail_max=50)

    with pytest.raises(RetriesExhausted) as raised:
        get(guard, emulator, DEALS, {"limit": 5})

    assert str(raised.value) == (
        "Pipedrive request to /api/v2/deals still failing after 3 attempts (max_retries=2); "
        "last error: HTTP 500 on /api/v2/deals: Internal Server Error"
    )
    assert isinstance(raised.value.__cause__, TransientError)
    assert len(emulator.request_log) == 3
    assert sample(metrics, "pipeboard_tap_retries_total", endpoint=DEALS, reason="server_error") == 2


def test_a_429_waits_at_least_what_the_server_asked(make_emulator: Callable[..., Any]) -> None:
    once = FaultProfile("flaky", rate=1.0, kinds=("429",), max_consecutive=1)
    emulator = make_emulator(deals=30, faults=once, retry_after=True)
    guard, metrics = make_guard()

    assert get(guard, emulator, DEALS, {"limit": 3})["success"] is True

    rate_limited, retried = emulator.request_log
    assert (rate_limited.status, retried.status) == (429, 200)
    assert retried.at - rate_limited.at >= 2.0  # the emulator's Retry-After: 2
    assert sample(metrics, "pipeboard_tap_rate_limited_total", endpoint=DEALS) == 1


def test_a_read_timeout_is_retried(make_emulator: Callable[..., Any]) -> None:
    # The first answer stalls until the emulator stops: only the client's timeout can end that attempt.
    stall_once = FaultProfile("slow", rate=1.0, slow_delay_s=600.0, max_consecutive=1)
    emulator = make_emulator(deals=30, faults=stall_once)
    guard, metrics = make_guard(request_timeout=2.0)

    assert get(guard, emulator, DEALS, {"limit": 3})["success"] is True
    timeouts = sample(metrics, "pipeboard_tap_requests_total", endpoint=DEALS, status="timeout")
    assert timeouts >= 1  # the stalled attempt (a busy machine may time out more)
    assert sample(metrics, "pipeboard_tap_retries_total", endpoint=DEALS, reason="timeout") == timeouts
    assert sample(metrics, "pipeboard_tap_requests_total", endpoint=DEALS, status="200") == 1


def test_a_client_error_fails_at_once_with_the_path_and_pipedrive_message(
    make_emulator: Callable[..., Any],
) -> None:
    emulator = make_emulator(deals=30)
    guard, _ = make_guard()

    with pytest.raises(PipedriveAPIError) as raised:
        get(guard, emulator, DEALS, {"limit": 1000, "updated_since": "2020-01-01T00:00:00Z"})

    assert raised.value.status == 400
    assert raised.value.path == DEALS
    assert str(raised.value).startswith(f"Pipedrive answered HTTP 400 on {DEALS}: ")
    assert raised.value.error
    assert "updated_since" not in str(raised.value)
    assert len(emulator.request_log) == 1


def test_a_wrong_token_fails_without_showing_either_token(make_emulator: Callable[..., Any]) -> None:
    emulator = make_emulator(deals=30)
    guard, _ = make_guard()
    wrong = "f" * 40

    with pytest.raises(TokenRejected) as raised:
        get(guard, emulator, DEALS, token=wrong)

    assert (
        str(raised.value)
        == "Pipedrive rejected the API token (HTTP 401) — check PIPEDRIVE_API_TOKEN / `api_token`"
    )
    assert (raised.value.status, raised.value.path) == (401, DEALS)
    assert wrong not in str(raised.value)
    assert emulator.token not in str(raised.value)


def test_an_unknown_endpoint_is_not_in_plan(make_emulator: Callable[..., Any]) -> None:
    emulator = make_emulator(deals=30)
    guard, _ = make_guard()

    with pytest.raises(EndpointNotInPlan, match="HTTP 404 on /api/v2/projectTemplates"):
        get(guard, emulator, "/api/v2/projectTemplates")


def test_a_connection_reset_is_retried_and_its_tokens_counted(make_emulator: Callable[..., Any]) -> None:
    reset_once = FaultProfile("flaky", rate=1.0, kinds=("reset",), max_consecutive=1)
    emulator = make_emulator(deals=30, faults=reset_once)
    guard, metrics = make_guard()

    assert get(guard, emulator, DEALS, {"limit": 3})["success"] is True

    assert [record.status for record in emulator.request_log] == [0, 200]
    assert sample(metrics, "pipeboard_tap_retries_total", endpoint=DEALS, reason="connection_error") == 1
    assert guard.tokens_spent == sum(record.token_cost for record in emulator.request_log) == 20
