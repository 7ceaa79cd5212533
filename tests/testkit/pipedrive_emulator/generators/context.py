"""Shared state of one generation run: the seeded RNG, the clock, id pools and timestamp helpers."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache

DAY = 86_400

V2_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
V1_FORMAT = "%Y-%m-%d %H:%M:%S"


@lru_cache(maxsize=65_536)
def format_v2(epoch: int) -> str:
    """RFC 3339 UTC with ``Z`` and second resolution, e.g. ``2026-10-03T12:00:05Z``."""
    return time.strftime(V2_FORMAT, time.gmtime(epoch))


@lru_cache(maxsize=16_384)
def format_v1(epoch: int) -> str:
    """v1 UTC timestamp ``YYYY-MM-DD HH:MM:SS``."""
    return time.strftime(V1_FORMAT, time.gmtime(epoch))


def format_iso_ms(epoch: int) -> str:
    """ISO-8601 with milliseconds and ``Z`` as leads and lead labels use, e.g. ``2020-10-14T11:30:36.551Z``.

    The millisecond part is a fixed function of the second, so ordering by string equals ordering by instant.
    """
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{epoch * 7_919 % 1_000:03d}Z"


def format_date(epoch: int) -> str:
    """``YYYY-MM-DD`` of an epoch second (UTC); one shared string object per day."""
    return _format_day(epoch // DAY)


@lru_cache(maxsize=8_192)
def _format_day(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * DAY))


@lru_cache(maxsize=1_024)
def format_hms(seconds: int) -> str:
    """``HH:MM:SS`` of a number of seconds (one shared string object per value)."""
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@dataclass
class GenContext:
    """Everything the entity generators share while one dataset is built.

    Attributes:
        rng: The only source of randomness (seeded once per dataset).
        now: The clock's current instant, epoch seconds; nothing is generated after it.
        deals: The scale knob.
        bulk_update_time: One instant at which a large share of records were bulk-edited (shared update_time).
        import_time: One instant at which many records were imported (shared add_time == update_time).
        ids: Entity name -> ids generated so far (filled as generators run, in dependency order).
        option_seq: The last option id handed out (custom enum/set options share one sequence).
        field_seq: The last v1 field id handed out.
    """

    rng: random.Random
    now: int
    deals: int
    bulk_update_time: int = 0
    import_time: int = 0
    ids: dict[str, list] = field(default_factory=dict)
    option_seq: int = 100
    field_seq: int = 0

    def __post_init__(self) -> None:
        self.bulk_update_time = self.now - 2 * DAY - 3_600 * 5 - 17
        self.import_time = self.now - 400 * DAY + 3_600 * 9 + 41

    def hash40(self) -> str:
        """A 40-hex custom-field code."""
        return f"{self.rng.getrandbits(160):040x}"

    def uuid(self) -> str:
        """A version-4 UUID string drawn from the seeded RNG."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def next_option_id(self) -> int:
        """The next integer option id (unique across all custom enum/set fields)."""
        self.option_seq += 1
        return self.option_seq

    def next_field_id(self) -> int:
        """The next integer v1 field id."""
        self.field_seq += 1
        return self.field_seq

    def past(self, max_days: float, min_days: float = 0.0) -> int:
        """A uniformly random instant between ``max_days`` and ``min_days`` before now."""
        return self.now - self.rng.randint(int(min_days * DAY), int(max_days * DAY))

    def add_time(self, max_days: float = 730.0) -> int:
        """A record's creation instant: usually spread over two years, 20 % at the shared import instant."""
        if self.rng.random() < 0.2 and self.import_time < self.now:
            return self.import_time
        return self.past(max_days, 0.01)

    def update_time(self, added: int, bulk_share: float = 0.25) -> int:
        """An update instant in [``added``, now]; ``bulk_share`` of records land on the shared bulk instant.

        Records imported at ``import_time`` and never touched keep update_time == add_time (a second group).
        """
        r = self.rng.random()
        if r < bulk_share and added <= self.bulk_update_time:
            return self.bulk_update_time
        if added == self.import_time and r < bulk_share + 0.5:
            return added
        if r > 0.9:
            return added
        return self.rng.randint(added, self.now)

    def pick(self, entity: str) -> int | str:
        """A random existing id of ``entity``."""
        return self.rng.choice(self.ids[entity])

    def maybe(self, entity: str, p_none: float) -> int | str | None:
        """A random id of ``entity``, or None with probability ``p_none``."""
        if self.rng.random() < p_none or not self.ids.get(entity):
            return None
        return self.rng.choice(self.ids[entity])
