"""Tests of the emulator's rate limits: burst 429s for a careless client, none for one that obeys the headers,
daily budget exhaustion, headers when limits are off, and the RateLimiter itself on a fake clock."""

from __future__ import annotations

import pytest
import requests
from pipedrive_emulator.ratelimit import RateLimiter

HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-daily-ratelimit-token-limit",
    "x-daily-ratelimit-token-remaining",
)


def session_for(emulator) -> requests.Session:
    session = requests.Session()
    session.headers["x-api-token"] = emulator.token
    return session


def frozen(emu) -> FakeClock:
    """Put the emulator's limiter on a clock only the test moves: no window rolls, however slow the box."""
    clock = FakeClock()
    emu.limiter = RateLimiter(
        emu.limiter.plan, emu.limiter.seats, enforce=emu.limiter.enforce, monotonic=clock
    )
    return clock


def test_a_client_ignoring_the_headers_on_lite_gets_429s(make_emulator):
    emu = make_emulator(deals=20, plan="lite", seats=1, rate_limits=True)
    frozen(emu)
    with session_for(emu) as session:
        responses = [session.get(emu.base_url + "/api/v2/pipelines", timeout=10) for _ in range(60)]
    statuses = [r.status_code for r in responses]
    assert statuses == [200] * 20 + [429] * 40
    refused = next(r for r in responses if r.status_code == 429)
    body = refused.json()
    assert body["success"] is False
    assert body["data"] is None
    assert body["additional_data"] is None
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-daily-ratelimit-token-remaining"] != "0"
    assert "retry-after" not in refused.headers
    assert all(name in r.headers for r in responses for name in HEADERS)
    assert [r.token_cost for r in emu.request_log if r.status == 429] == [0] * statuses.count(429)


def test_a_client_obeying_remaining_and_reset_gets_no_429_on_lite(make_emulator):
    emu = make_emulator(deals=20, plan="lite", seats=1, rate_limits=True)
    clock = frozen(emu)
    statuses = []
    waits = 0
    with session_for(emu) as session:
        for _ in range(45):
            response = session.get(emu.base_url + "/api/v2/stages", timeout=10)
            statuses.append(response.status_code)
            if int(response.headers["x-ratelimit-remaining"]) == 0:
                clock.now += int(response.headers["x-ratelimit-reset"])  # the client's wait, on the clock
                waits += 1
    assert statuses == [200] * 45
    assert waits == 2  # after the 20th and the 40th request
    assert [r.status for r in emu.request_log] == [200] * 45


def test_daily_budget_exhaustion_answers_429_with_zero_daily_tokens_remaining(make_emulator):
    emu = make_emulator(deals=20, plan="lite", seats=1, rate_limits=True, retry_after=True)
    with session_for(emu) as session:
        first = session.get(emu.base_url + "/api/v2/deals", timeout=10)
        assert first.headers["x-daily-ratelimit-token-limit"] == "30000"
        assert first.headers["x-daily-ratelimit-token-remaining"] == str(30_000 - 10)
        emu.spend_daily_tokens(30_000 - 10 - 5)
        last = session.get(emu.base_url + "/api/v2/deals", timeout=10)
        refused = session.get(emu.base_url + "/api/v2/deals", timeout=10)
    assert last.status_code == 200
    assert refused.status_code == 429
    assert refused.headers["x-daily-ratelimit-token-remaining"] == "0"
    assert int(refused.headers["retry-after"]) > 0
    assert refused.json()["success"] is False


def test_with_rate_limits_off_headers_are_sent_but_nothing_is_refused(make_emulator):
    emu = make_emulator(deals=20, plan="lite", seats=1, rate_limits=False)
    with session_for(emu) as session:
        responses = [session.get(emu.base_url + "/api/v2/pipelines", timeout=10) for _ in range(40)]
    assert {r.status_code for r in responses} == {200}
    assert all(name in r.headers for r in responses for name in HEADERS)
    assert responses[-1].headers["x-daily-ratelimit-token-remaining"] == str(30_000 - 40 * 5)


def test_switching_plan_and_limits_at_runtime(make_emulator):
    emu = make_emulator(deals=20, plan="ultimate", seats=5)
    with session_for(emu) as session:
        assert (
            session.get(emu.base_url + "/api/v2/pipelines", timeout=10).headers["x-ratelimit-limit"] == "120"
        )
        emu.set_plan("premium", seats=3)
        response = session.get(emu.base_url + "/api/v2/pipelines", timeout=10)
    assert response.headers["x-ratelimit-limit"] == "100"
    assert response.headers["x-daily-ratelimit-token-limit"] == str(30_000 * 5 * 3)


# --- the limiter on a fake clock ----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("plan", "burst"), [("lite", 20), ("growth", 40), ("premium", 100), ("ultimate", 120)]
)
def test_the_burst_window_admits_the_plans_requests_per_two_seconds_then_rolls(plan, burst):
    clock = FakeClock()
    limiter = RateLimiter(plan, seats=1, enforce=True, monotonic=clock)
    assert all(limiter.charge(1).allowed for _ in range(burst))
    refused = limiter.charge(1)
    assert (refused.allowed, refused.reason, refused.charged) == (False, "burst", 0)
    assert refused.headers["x-ratelimit-reset"] == "2"
    clock.now += 1.0
    assert not limiter.charge(1).allowed
    clock.now += 1.0
    assert limiter.charge(1).allowed


def test_the_daily_budget_is_thirty_thousand_times_multiplier_times_seats():
    assert RateLimiter("lite", 1, True).daily_limit == 30_000
    assert RateLimiter("growth", 5, True).daily_limit == 300_000
    assert RateLimiter("premium", 2, True).daily_limit == 300_000
    assert RateLimiter("ultimate", 3, True).daily_limit == 630_000
    with pytest.raises(ValueError, match="plan"):
        RateLimiter("enterprise", 1, True)
