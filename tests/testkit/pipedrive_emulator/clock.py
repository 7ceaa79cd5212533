"""The emulator's deterministic clock: UTC, second resolution, moves only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
"""The instant a seed-0 dataset is generated at; other seeds start a whole number of hours later."""


class Clock:
    """A fake UTC clock that only moves forward by explicit ``advance`` calls.

    Args:
        start: The first instant; microseconds are dropped. Defaults to ``EPOCH``.
    """

    def __init__(self, start: datetime = EPOCH) -> None:
        if start.tzinfo is None:
            raise ValueError("Clock start must be timezone-aware (UTC)")
        self._now = start.astimezone(UTC).replace(microsecond=0)

    @classmethod
    def for_seed(cls, seed: int) -> Clock:
        """Return the clock a dataset from ``seed`` starts with (``EPOCH`` + ``seed % 24`` hours)."""
        return cls(EPOCH + timedelta(hours=seed % 24))

    def now(self) -> datetime:
        """Return the current instant (aware UTC datetime, second resolution)."""
        return self._now

    def advance(self, seconds: int) -> datetime:
        """Move the clock forward.

        Args:
            seconds: How far to move; must not be negative.

        Returns:
            The new current instant.
        """
        if seconds < 0:
            raise ValueError(f"Clock cannot go backwards (advance by {seconds} s)")
        self._now += timedelta(seconds=int(seconds))
        return self._now

    def __repr__(self) -> str:
        return f"Clock({self._now.isoformat()})"
