"""Tests of burst pacing and the token budget: arithmetic with a fake clock, then against the emulator."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests
from tap_pipedrive.errors import BudgetExhausted
from tap_pipedrive.metrics import TapMetrics
from tap_pipedrive.pacing import BurstPacer, TokenBudget
from tap_pipedrive.resilience import ApiGuard, ResiliencePolicy

LITE_LIMIT = 20
WINDOW = 2.0
PIPELINES = "/api/v2/pipelines"
PIPELINES_COST = 5


class FakeClock:
    """A monotonic clock that only moves when the pacer sleeps or the test advances it."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def rate_headers(limit: int, remaining: int, reset: int = 2) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(reset),
    }


def make_pacer(clock: FakeClock, margin: int = 2, slack: float = 0.0) -> BurstPacer:
    return BurstPacer(margin=margin, window=WINDOW, slack=slack, clock=clock, sleep=clock.sleep)


# --- BurstPacer arithmetic --------------------------------------------------------------------------------


def test_pacer_does_not_hold_back_before_the_limit_is_known() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock)

    waits = [pacer.acquire() for _ in range(50)]

    assert waits == [0.0] * 50
    assert pacer.limit is None


def test_pacer_spreads_requests_and_keeps_limit_minus_margin_per_window() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock, margin=2)
    pacer.observe(rate_headers(LITE_LIMIT, LITE_LIMIT - 1))

    sent = []
    for _ in range(100):
        pacer.acquire()
        sent.append(clock.now)

    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) == pytest.approx(WINDOW / LITE_LIMIT)
    for i in range(len(sent) - 18):
        assert sent[i + 18] - sent[i] >= WINDOW - 1e-9, "19 requests inside one window"
    assert 99 / (sent[-1] - sent[0]) == pytest.approx(18 / WINDOW, rel=0.05)


def test_pacer_waits_for_the_reset_when_the_server_reports_a_full_window() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock)
    pacer.observe(rate_headers(LITE_LIMIT, 0, reset=2))

    waited = pacer.acquire()

    assert waited == pytest.approx(2.0)


def test_pacer_leaves_room_for_requests_it_did_not_send() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock, margin=2)
    pacer.acquire()
    # The server counts 11 requests in the window, only one of them ours: another client shares the token.
    pacer.observe(rate_headers(LITE_LIMIT, LITE_LIMIT - 11))

    assert pacer.allowed_per_window() == LITE_LIMIT - 2 - 10

    clock.sleep(WINDOW + 0.01)
    assert pacer.allowed_per_window() == LITE_LIMIT - 2


def test_pacer_gives_each_thread_its_own_slot() -> None:
    clock = FakeClock()
    pacer = make_pacer(clock, margin=2)
    pacer.observe(rate_headers(LITE_LIMIT, LITE_LIMIT))
    delays: list[float] = []
    lock = threading.Lock()

    def reserve_many() -> None:
        for _ in range(10):
            delay = pacer.reserve()
            with lock:
                delays.append(delay)

    threads = [threading.Thread(target=reserve_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    slots = sorted(clock.now + delay for delay in delays)
    assert len(set(slots)) == 40
    for i in range(len(slots) - 18):
        assert slots[i + 18] - slots[i] >= WINDOW - 1e-9


def test_pacer_rejects_a_negative_margin() -> None:
    with pytest.raises(ValueError, match="burst_margin"):
        BurstPacer(margin=-1)


# --- TokenBudget arithmetic -------------------------------------------------------------------------------


def daily_headers(limit: int, remaining: int) -> dict[str, str]:
    return {"x-daily-ratelimit-token-limit": str(limit), "x-daily-ratelimit-token-remaining": str(remaining)}


def test_budget_allows_the_share_of_the_daily_limit_and_not_one_token_more() -> None:
    budget = TokenBudget(share=0.01)
    budget.observe(daily_headers(30_000, 29_000))

    assert budget.allowance == 300
    for _ in range(30):
        budget.reserve(10)
    with pytest.raises(BudgetExhausted, match="300 of 300 tokens"):
        budget.reserve(10)
    assert budget.spent == 300


def test_budget_refund_returns_tokens_of_requests_that_never_reached_the_api() -> None:
    budget = TokenBudget(share=0.001)
    budget.observe(daily_headers(30_000, 30_000))
    budget.reserve(20)
    budget.refund(20)
    budget.reserve(30)

    assert budget.spent == 30


def test_budget_is_not_enforced_while_pipedrive_sends_no_daily_headers() -> None:
    budget = TokenBudget(share=0.001)
    budget.observe({"x-ratelimit-limit": "20"})
    for _ in range(100):
        budget.reserve(20)

    assert budget.allowance is None
    assert budget.spent == 2000


def test_budget_stops_when_the_company_has_no_tokens_left() -> None:
    budget = TokenBudget(share=1.0)
    budget.observe(daily_headers(30_000, 0))

    with pytest.raises(BudgetExhausted, match="0 tokens remaining"):
        budget.reserve(1)


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5], ids=["zero", "negative", "above-one"])
def test_budget_rejects_a_share_outside_zero_to_one(share: float) -> None:
    with pytest.raises(ValueError, match="token_budget_share"):
        TokenBudget(share)


# --- against the emulator ---------------------------------------------------------------------------------


def pipelines_request(emulator: Any) -> requests.PreparedRequest:
    return requests.Request(
        "GET", emulator.base_url + PIPELINES, headers={"x-api-token": emulator.token}
    ).prepare()


def lite_emulator(make_emulator: Callable[..., Any]) -> Any:
    emulator = make_emulator(deals=20, plan="lite", seats=1, rate_limits=True)
    return emulator


def test_sequential_sync_under_the_lite_burst_limit_sees_no_429_at_80_percent_of_the_rate(
    make_emulator: Callable[..., Any], pacer_waits: list[float], most_waits_at: Callable[..., float]
) -> None:
    emulator = lite_emulator(make_emulator)
    guard = ApiGuard(ResiliencePolicy(), TapMetrics(), logging.getLogger("test"))
    session = requests.Session()

    for _ in range(110):
        guard.send(session, pipelines_request(emulator), endpoint=PIPELINES, token_cost=PIPELINES_COST)

    # One request at a time, each booked no earlier than the last answer: at most limit - margin requests
    # reach the emulator in any window, on any machine, so none is refused.
    assert [record.status for record in emulator.request_log] == [200] * 110
    assert sum(pacer_waits) <= most_waits_at(0.8, LITE_LIMIT, WINDOW, 110), "paced below 80 % of the limit"
    assert sum(pacer_waits) > 0, "the pacer never held a request back: the test did not reach the limit"


def test_threads_sharing_one_guard_stay_under_the_lite_burst_limit(make_emulator: Callable[..., Any]) -> None:
    emulator = lite_emulator(make_emulator)
    # With a margin of as many requests as threads, the requests still in flight when a window opens fit in
    # the margin: the emulator can never count more than its limit, however the threads are scheduled.
    guard = ApiGuard(ResiliencePolicy(burst_margin=3), TapMetrics(), logging.getLogger("test"))
    errors: list[BaseException] = []

    def worker() -> None:
        session = requests.Session()
        try:
            for _ in range(20):
                guard.send(
                    session, pipelines_request(emulator), endpoint=PIPELINES, token_cost=PIPELINES_COST
                )
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [record.status for record in emulator.request_log] == [200] * 60


def test_budget_share_stops_the_run_before_it_overspends(make_emulator: Callable[..., Any]) -> None:
    emulator = lite_emulator(make_emulator)
    emulator.set_rate_limits(False)
    share = 0.002  # of Lite x 1 seat = 30,000 tokens/day: 60 tokens, twelve pipeline pages
    guard = ApiGuard(ResiliencePolicy(token_budget_share=share), TapMetrics(), logging.getLogger("test"))
    session = requests.Session()
    sent = 0

    def sync_until_stopped() -> None:
        nonlocal sent
        for _ in range(100):
            guard.send(session, pipelines_request(emulator), endpoint=PIPELINES, token_cost=PIPELINES_COST)
            sent += 1

    with pytest.raises(BudgetExhausted, match="token budget is spent: 60 of 60 tokens"):
        sync_until_stopped()

    charged = sum(record.token_cost for record in emulator.request_log)
    assert charged <= share * 30_000
    assert charged == guard.tokens_spent == 60
    assert sent == len(emulator.request_log) == 12


def test_daily_budget_429_stops_at_once_and_sends_nothing_more(make_emulator: Callable[..., Any]) -> None:
    emulator = lite_emulator(make_emulator)
    emulator.spend_daily_tokens(30_000)
    guard = ApiGuard(ResiliencePolicy(backoff_base_seconds=0.01), TapMetrics(), logging.getLogger("test"))
    session = requests.Session()

    with pytest.raises(BudgetExhausted, match="daily API token budget is spent"):
        guard.send(session, pipelines_request(emulator), endpoint=PIPELINES, token_cost=PIPELINES_COST)
    with pytest.raises(BudgetExhausted):
        guard.send(session, pipelines_request(emulator), endpoint=PIPELINES, token_cost=PIPELINES_COST)

    assert [record.status for record in emulator.request_log] == [429]
