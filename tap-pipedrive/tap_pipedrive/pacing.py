"""Request pacing under Pipedrive's burst limit, and this run's share of the company's daily token budget."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from tap_pipedrive.errors import BudgetExhausted
from tap_pipedrive.retry import header_int

BURST_WINDOW_SECONDS = 2.0
"""Pipedrive counts requests per token over a rolling 2-second window (the headers do not say so)."""


class BurstPacer:
    """Keeps the request rate just under the burst limit the ``x-ratelimit-*`` headers announce; thread-safe.

    Three rules decide when the next request may go out:

    * at most ``limit - margin`` requests (fewer when the server counts requests this process did not send)
      in any ``window + slack`` seconds of send times;
    * requests are spread at least ``(window + slack) / limit`` apart, so a window never fills in one burst;
    * when the last answer said the window is full (``x-ratelimit-remaining: 0``, e.g. on a 429), wait until
      that answer's ``x-ratelimit-reset``.

    Until the first answer announces a limit, requests are not held back.

    Args:
        margin: Requests per window kept unused below the limit.
        window: The burst window, seconds.
        slack: Extra seconds added to the window against clock and network skew.
        clock: Monotonic clock (injectable for tests).
        sleep: Sleep function (injectable for tests).
    """

    def __init__(
        self,
        margin: int = 2,
        window: float = BURST_WINDOW_SECONDS,
        slack: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if margin < 0:
            raise ValueError(f"burst_margin must not be negative, got {margin}")
        self._lock = threading.Lock()
        self._margin = margin
        self._span = window + slack
        self._clock = clock
        self._sleep = sleep
        self._slots: deque[float] = deque()
        self._limit: int | None = None
        self._foreign = 0
        self._observed_at = -math.inf
        self._remaining: int | None = None
        self._reset_at = -math.inf

    @property
    def limit(self) -> int | None:
        """The burst limit last announced by the server, or None before the first answer."""
        return self._limit

    @property
    def remaining(self) -> int | None:
        """``x-ratelimit-remaining`` of the last answer, or None."""
        return self._remaining

    def allowed_per_window(self) -> int | None:
        """Requests this process may send per window now, or None while the limit is unknown."""
        with self._lock:
            return self._allowed(self._clock())

    def _allowed(self, now: float) -> int | None:
        if self._limit is None:
            return None
        foreign = self._foreign if now < self._observed_at + self._span else 0
        return max(1, self._limit - self._margin - foreign)

    def reserve(self) -> float:
        """Book the next send slot.

        Returns:
            Seconds to wait before sending (0 when the request may go now).
        """
        with self._lock:
            now = self._clock()
            slot = now
            allowed = self._allowed(now)
            if allowed is not None and self._limit is not None:
                self._forget_before(now - self._span)
                if self._slots:
                    slot = max(slot, self._slots[-1] + self._span / self._limit)
                if len(self._slots) >= allowed:
                    slot = max(slot, self._slots[-allowed] + self._span)
                if self._remaining == 0:
                    slot = max(slot, self._reset_at)
            self._slots.append(slot)
            if self._limit is not None:
                while len(self._slots) > self._limit:
                    self._slots.popleft()
            return slot - now

    def acquire(self) -> float:
        """Wait for the next send slot (sleeping outside the lock).

        Returns:
            Seconds waited.
        """
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)
        return max(0.0, delay)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from the ``x-ratelimit-limit/remaining/reset`` headers of an answer (keys lower-case)."""
        limit = header_int(headers, "x-ratelimit-limit")
        remaining = header_int(headers, "x-ratelimit-remaining")
        reset = header_int(headers, "x-ratelimit-reset")
        if limit is None and remaining is None:
            return
        with self._lock:
            now = self._clock()
            if limit is not None and limit > 0:
                self._limit = limit
            self._remaining = remaining
            self._observed_at = now
            self._reset_at = now + (reset if reset is not None else BURST_WINDOW_SECONDS)
            if self._limit is not None and remaining is not None:
                ours = sum(1 for slot in self._slots if now - self._span < slot <= now)
                self._foreign = max(0, self._limit - remaining - ours)

    def _forget_before(self, cutoff: float) -> None:
        while self._slots and self._slots[0] <= cutoff:
            self._slots.popleft()


class TokenBudget:
    """Tokens this run may spend: ``share`` times the company's daily budget (``x-daily-ratelimit-token-*``).

    Thread-safe. Tokens are reserved before a request goes out and refunded when it never reached the API.

    Args:
        share: Fraction of the daily budget this run may spend, in (0, 1].
    """

    def __init__(self, share: float) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"token_budget_share must be within (0, 1], got {share}")
        self._lock = threading.Lock()
        self._share = share
        self._spent = 0
        self._daily_limit: int | None = None
        self._daily_remaining: int | None = None

    @property
    def spent(self) -> int:
        """Tokens this run has spent (an upper bound of what Pipedrive charged)."""
        return self._spent

    @property
    def daily_limit(self) -> int | None:
        """The company's daily token budget, once an answer has announced it."""
        return self._daily_limit

    @property
    def daily_remaining(self) -> int | None:
        """Tokens left today according to the last answer that said so."""
        return self._daily_remaining

    @property
    def allowance(self) -> int | None:
        """Tokens this run may spend in all, or None while the daily budget is unknown."""
        if self._daily_limit is None:
            return None
        return math.floor(self._share * self._daily_limit)

    def reserve(self, cost: int) -> None:
        """Count ``cost`` tokens as spent, unless that would overspend.

        Raises:
            BudgetExhausted: The run's share would be exceeded, or the company has no tokens left today.
        """
        with self._lock:
            if self._daily_remaining is not None and self._daily_remaining <= 0:
                raise BudgetExhausted(
                    "Pipedrive's daily API token budget is spent (0 tokens remaining); stopping cleanly — "
                    "the next run resumes from the last state after the daily reset"
                )
            allowance = self.allowance
            if allowance is not None and self._spent + cost > allowance:
                raise BudgetExhausted(
                    f"This run's token budget is spent: {self._spent} of {allowance} tokens "
                    f"(token_budget_share {self._share:g} of the daily {self._daily_limit}); the next "
                    f"request would cost {cost}. Stopping cleanly — the next run resumes from the last state"
                )
            self._spent += cost

    def refund(self, cost: int) -> None:
        """Give back tokens reserved for a request that never reached the API."""
        with self._lock:
            self._spent = max(0, self._spent - cost)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn the daily budget and what is left of it from an answer's headers (keys lower-case)."""
        limit = header_int(headers, "x-daily-ratelimit-token-limit")
        remaining = header_int(headers, "x-daily-ratelimit-token-remaining")
        with self._lock:
            if limit is not None and limit > 0:
                self._daily_limit = limit
            if remaining is not None:
                self._daily_remaining = remaining
