"""Seeded fault injection: which request gets a 5xx, a reset, a cut body, an empty 200, a 429 or a delay."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

FAULT_KINDS = ("500", "502", "503", "reset", "truncated", "empty", "429")
"""What ``flaky`` draws from: status codes, a closed socket, a cut JSON body, a 200 with no body."""


@dataclass(frozen=True)
class FaultProfile:
    """How the emulator misbehaves.

    Attributes:
        name: ``flaky``, ``slow`` or ``down``.
        rate: Fraction of requests hit (``down`` hits all).
        kinds: Faults ``flaky`` chooses among.
        slow_delay_s: How long ``slow`` stalls an answer (beyond a typical 30 s client timeout by default).
        max_consecutive: A repeat of the same request is hit at most this many times in a row, so a client
            that retries always gets the correct answer eventually (``down`` ignores it).
    """

    name: str
    rate: float = 0.3
    kinds: tuple[str, ...] = FAULT_KINDS
    slow_delay_s: float = 35.0
    max_consecutive: int = 2

    def __post_init__(self) -> None:
        if self.name not in ("flaky", "slow", "down"):
            raise ValueError(f"Unknown fault profile {self.name!r}; expected flaky, slow or down")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"Fault rate must be within [0, 1], got {self.rate}")
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"Unknown fault kinds: {', '.join(sorted(unknown))}")


PROFILES = {
    "flaky": FaultProfile("flaky"),
    "slow": FaultProfile("slow", rate=0.5),
    "down": FaultProfile("down"),
}


def resolve_profile(profile: str | FaultProfile | None) -> FaultProfile | None:
    """Turn a profile name (or None, or a ready profile) into a FaultProfile.

    Raises:
        ValueError: For an unknown profile name.
    """
    if profile is None or isinstance(profile, FaultProfile):
        return profile
    if profile not in PROFILES:
        raise ValueError(f"Unknown fault profile {profile!r}; expected one of {', '.join(PROFILES)}")
    return PROFILES[profile]


@dataclass(frozen=True)
class Fault:
    """One injected fault: ``kind`` is a FAULT_KINDS entry or ``slow``; ``delay_s`` is set for ``slow``."""

    kind: str
    delay_s: float = 0.0


class FaultInjector:
    """Draws faults from a seeded ``random.Random``; thread-safe.

    Args:
        profile: The active profile, or None for no faults.
        seed: Seed of the random draws.
    """

    def __init__(self, profile: FaultProfile | None, seed: int) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._streaks: dict[str, int] = {}
        self.profile = profile

    def set_profile(self, profile: FaultProfile | None) -> None:
        """Switch profile; streak counters start over."""
        with self._lock:
            self.profile = profile
            self._streaks.clear()

    def draw(self, request_key: str) -> Fault | None:
        """Decide the fault, if any, for one request.

        Args:
            request_key: Identifies "the same request" (method, path and query) for the retry guarantee.

        Returns:
            The fault to inject, or None to answer correctly.
        """
        with self._lock:
            profile = self.profile
            if profile is None:
                return None
            if profile.name == "down":
                return Fault("503")
            streak = self._streaks.get(request_key, 0)
            hit = streak < profile.max_consecutive and self._random.random() < profile.rate
            if not hit:
                self._streaks.pop(request_key, None)
                return None
            self._streaks[request_key] = streak + 1
            if profile.name == "slow":
                return Fault("slow", delay_s=profile.slow_delay_s)
            return Fault(self._random.choice(profile.kinds))
