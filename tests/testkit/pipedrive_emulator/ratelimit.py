"""Pipedrive's token-based rate limits: a rolling 2-second request window per token, a daily token budget."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

BURST_WINDOW_S = 2.0
DAILY_TOKENS_PER_SEAT = 30_000

BURST_LIMITS = {"lite": 20, "growth": 40, "premium": 100, "ultimate": 120}
"""API-token requests per rolling 2 s window by plan (pipedrive.readme.io core-api-concepts-rate-limiting)."""

DAILY_MULTIPLIERS = {"lite": 1, "growth": 2, "premium": 5, "ultimate": 7}
"""Daily budget = 30,000 * multiplier * seats tokens."""


def check_plan(plan: str, seats: int) -> str:
    """Normalise and validate a plan name and seat count.

    Raises:
        ValueError: For an unknown plan or fewer than one seat.
    """
    name = plan.lower()
    if name not in BURST_LIMITS:
        raise ValueError(f"Unknown Pipedrive plan {plan!r}; expected one of {', '.join(BURST_LIMITS)}")
    if seats < 1:
        raise ValueError(f"seats must be at least 1, got {seats}")
    return name


@dataclass(frozen=True)
class Decision:
    """The outcome of charging one request.

    Attributes:
        allowed: False when the request must be answered with 429.
        reason: ``burst`` or ``daily`` when refused, else None.
        headers: The rate-limit headers to send with the answer.
        charged: Tokens taken from the daily budget (0 when refused).
        retry_after_s: Seconds until a refused request could succeed (burst) or until the day resets.
    """

    allowed: bool
    reason: str | None
    headers: dict[str, str]
    charged: int
    retry_after_s: int


class RateLimiter:
    """Counts requests and tokens; thread-safe.

    Args:
        plan: lite, growth, premium or ultimate.
        seats: Paid seats (scales the daily budget).
        enforce: When False every request is allowed, but the headers are still computed and sent.
        monotonic: Clock for the burst window (injectable for unit tests).
    """

    def __init__(
        self, plan: str, seats: int, enforce: bool, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self._window: deque[float] = deque()
        self._daily_used = 0
        self._day = _utc_day()
        self.enforce = enforce
        self.plan = check_plan(plan, seats)
        self.seats = seats

    @property
    def burst_limit(self) -> int:
        """Requests allowed per rolling 2-second window."""
        return BURST_LIMITS[self.plan]

    @property
    def daily_limit(self) -> int:
        """Tokens allowed per day."""
        return DAILY_TOKENS_PER_SEAT * DAILY_MULTIPLIERS[self.plan] * self.seats

    @property
    def daily_used(self) -> int:
        """Tokens spent today."""
        return self._daily_used

    def set_plan(self, plan: str, seats: int) -> None:
        """Switch plan and seats; the counters carry on."""
        with self._lock:
            self.plan = check_plan(plan, seats)
            self.seats = seats

    def reset_daily(self) -> None:
        """Start a new day: the full daily budget is available again."""
        with self._lock:
            self._daily_used = 0

    def charge(self, cost: int) -> Decision:
        """Count one request costing ``cost`` tokens and decide whether it may be served.

        A request is refused when the 2-second window is full, or when the day's budget is already spent (the
        last request of a day may overdraw it, so a daily 429 always reports ``remaining: 0``). Refused
        requests are neither counted in the window nor charged.
        """
        with self._lock:
            now = self._monotonic()
            while self._window and self._window[0] <= now - BURST_WINDOW_S:
                self._window.popleft()
            if _utc_day() != self._day:
                self._day, self._daily_used = _utc_day(), 0
            reason = None
            if self.enforce and len(self._window) >= self.burst_limit:
                reason = "burst"
            elif self.enforce and self._daily_used >= self.daily_limit:
                reason = "daily"
            charged = 0
            if reason is None:
                self._window.append(now)
                self._daily_used += cost
                charged = cost
            reset_s = self._seconds_to_reset(now)
            retry_after = reset_s if reason != "daily" else _seconds_to_utc_midnight()
            return Decision(reason is None, reason, self._headers(reset_s), charged, retry_after)

    def peek(self) -> dict[str, str]:
        """The current headers, without counting a request (for answers that are not charged, like 401)."""
        with self._lock:
            now = self._monotonic()
            while self._window and self._window[0] <= now - BURST_WINDOW_S:
                self._window.popleft()
            return self._headers(self._seconds_to_reset(now))

    def spend(self, tokens: int) -> None:
        """Count ``tokens`` as spent today without a request."""
        with self._lock:
            self._daily_used += tokens

    def _headers(self, reset_s: int) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.burst_limit),
            "x-ratelimit-remaining": str(max(0, self.burst_limit - len(self._window))),
            "x-ratelimit-reset": str(reset_s),
            "x-daily-ratelimit-token-limit": str(self.daily_limit),
            "x-daily-ratelimit-token-remaining": str(max(0, self.daily_limit - self._daily_used)),
        }

    def _seconds_to_reset(self, now: float) -> int:
        if not self._window:
            return int(BURST_WINDOW_S)
        return max(1, math.ceil(self._window[0] + BURST_WINDOW_S - now))


def _utc_day() -> int:
    """The current UTC day number; the daily budget resets when it changes (Pipedrive: at server midnight)."""
    return int(time.time() // 86_400)


def _seconds_to_utc_midnight() -> int:
    now = time.time()
    return int(86_400 - now % 86_400) or 1
