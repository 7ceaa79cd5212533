"""Deal-history progress kept in state: whose changes are read, whose wait, and from where a read may stop.

The ``deal_changes`` stream keeps it under ``bookmarks.deal_changes``:

* ``listed_through`` — every deal updated before this instant has been looked at: its changes are read or it
  waits in ``pending``. The next run looks at the deals updated since then (inclusive).
* ``boundary`` — the deals whose ``update_time`` was exactly ``listed_through`` when they were looked at; seen
  again with that same time, they have not moved since.
* ``pending`` — deals whose changes must be read, grouped by where the read may stop: ``"*"`` = read them
  all; a timestamp = the changes older than it are read already.
* ``done`` — deals whose changes are read, grouped by the ``listed_through`` of the run that read them: every
  change older than that instant is read.
* ``reading`` — the deal a spent budget interrupted, with the cursor of its next page.
* ``mode`` — the ``deal_history`` setting of the last run that looked at deals.

Id sets are compact text (``encode_ids``); groups are lists, not objects, so a Meltano merge of a failed
run's state onto the last complete one can only re-add work, never drop any.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MODES = ("stages", "all", "off")
"""Values of the ``deal_history`` setting."""

READ_ALL = "*"
"""``pending`` group key of deals whose every change must be read."""

MAX_GROUPS = 32
"""Most ``done`` (and ``pending``) groups kept; older ones merge into the oldest (that only re-reads more)."""

FORMAT = 1


@dataclass(frozen=True)
class DealMarks:
    """What a deals list says about one deal, in epoch seconds (None when the field is empty)."""

    update_time: int | None
    stage_change_time: int | None
    add_time: int | None

    def marker(self, mode: str) -> int | None:
        """The instant that says the deal moved: its last stage change (``stages``) or update (``all``)."""
        return self.stage_change_time if mode == "stages" else self.update_time

    def ever_changed(self, mode: str) -> bool:
        """Whether a deal never read before has changes worth a request in ``mode``."""
        if self.stage_change_time is not None:
            return True
        if mode != "all" or self.update_time is None:
            return False
        return self.add_time is None or self.update_time > self.add_time


@dataclass
class Reading:
    """A deal whose read stopped between two pages.

    Attributes:
        deal_id: The deal.
        cursor: The ``cursor`` of the next page to ask for.
        since: Where the read may stop (None = read everything).
        started: ``listed_through`` of the run that began the read (the deal's ``done`` group once finished).
        top: The newest change time the read has seen.
        order: Page order seen so far: ``desc`` (newest first), ``asc``, ``mixed`` or None.
        keys: Keys already emitted at the oldest second read so far (repeat counters continue from them).
        moved: The deal moved again after the read began: its newer changes are read next.
    """

    deal_id: int
    cursor: str
    since: int | None
    started: int
    top: int | None = None
    order: str | None = None
    keys: list[str] = field(default_factory=list)
    moved: bool = False


@dataclass(frozen=True)
class Coverage:
    """How much of the history is read: deals with every change read, deals still waiting."""

    mode: str
    complete: int
    pending: int
    listed_through: int | None

    @property
    def needing(self) -> int:
        """Deals whose changes are needed (read or waiting)."""
        return self.complete + self.pending

    @property
    def ratio(self) -> float:
        """Share of the needed deals whose changes are all read (1.0 when none is needed)."""
        return self.complete / self.needing if self.needing else 1.0


# --------------------------------------------------------------------------------------------- encoding


def encode_ids(ids: Iterable[int]) -> str:
    """A set of non-negative ids as compact text: sorted deltas as varints, zlib, url-safe base64."""
    raw = bytearray()
    previous = 0
    for value in sorted(set(ids)):
        if value < 0:
            raise ValueError(f"Deal ids must not be negative, got {value}")
        delta, previous = value - previous, value
        while delta >= 0x80:
            raw.append((delta & 0x7F) | 0x80)
            delta >>= 7
        raw.append(delta)
    return base64.urlsafe_b64encode(zlib.compress(bytes(raw), 9)).decode().rstrip("=") if raw else ""


def decode_ids(text: str) -> list[int]:
    """The ids ``encode_ids`` wrote, ascending.

    Raises:
        ValueError: The text is not an encoded id set.
    """
    if not text:
        return []
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, zlib.error) as exc:
        raise ValueError(f"not an encoded id set: {exc}") from exc
    ids, value, shift, total = [], 0, 0, 0
    for byte in raw:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            total += value
            ids.append(total)
            value, shift = 0, 0
    return ids


def stamp(epoch: int | None) -> str | None:
    """Epoch seconds as RFC 3339 (``2026-11-01T12:00:00Z``)."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_of(text: Any) -> int | None:
    """Epoch seconds of an RFC 3339, v1 (``YYYY-MM-DD HH:MM:SS``) or date-only timestamp (UTC unless it says
    otherwise); None if unreadable."""
    if not isinstance(text, str) or len(text) < 10 or text.startswith("0000"):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() // 1)


# --------------------------------------------------------------------------------------------- progress


class HistoryProgress:
    """The deal-history progress of one run, loaded from state, changed in memory, dumped back."""

    def __init__(self) -> None:
        self.mode: str | None = None
        self.listed_through: int | None = None
        self.boundary: set[int] = set()
        self.pending: dict[int, int | None] = {}
        self.done: dict[int, int] = {}
        self.reading: Reading | None = None

    # ---------------------------------------------------------------------------------- state

    @classmethod
    def load(cls, state: Mapping[str, Any]) -> HistoryProgress:
        """Read the progress from the stream's state (empty progress for an empty state).

        Raises:
            ValueError: The state is not one this tap wrote.
        """
        progress = cls()
        if not state.get("format"):
            return progress
        if state["format"] != FORMAT:
            raise ValueError(f"unknown deal_changes state format {state['format']!r}")
        progress.mode = state.get("mode")
        progress.listed_through = epoch_of(state.get("listed_through"))
        progress.boundary = set(decode_ids(state.get("boundary") or ""))
        for key, ids in state.get("pending") or []:
            since = None if key == READ_ALL else epoch_of(key)
            for deal_id in decode_ids(ids):
                progress.pending[deal_id] = since
        for key, ids in state.get("done") or []:
            through = epoch_of(key) or 0
            for deal_id in decode_ids(ids):
                progress.done[deal_id] = through
        reading = state.get("reading")
        if reading:
            progress.reading = Reading(
                deal_id=int(reading["deal_id"]),
                cursor=str(reading["cursor"]),
                since=epoch_of(reading.get("since")),
                started=epoch_of(reading.get("started")) or 0,
                top=epoch_of(reading.get("top")),
                order=reading.get("order"),
                keys=list(reading.get("keys") or []),
                moved=bool(reading.get("moved")),
            )
            progress.pending.pop(progress.reading.deal_id, None)
            progress.done.pop(progress.reading.deal_id, None)
        for deal_id in progress.pending:
            progress.done.pop(deal_id, None)
        return progress

    def dump(self) -> dict[str, Any]:
        """The progress as the JSON the stream's state holds."""
        self._merge_old_groups()
        pending: dict[int | None, list[int]] = {}
        for deal_id, since in self.pending.items():
            pending.setdefault(since, []).append(deal_id)
        done: dict[int, list[int]] = {}
        for deal_id, through in self.done.items():
            done.setdefault(through, []).append(deal_id)
        reading = self.reading
        return {
            "format": FORMAT,
            "mode": self.mode,
            "listed_through": stamp(self.listed_through),
            "boundary": encode_ids(self.boundary),
            "pending": [
                [READ_ALL if since is None else stamp(since), encode_ids(ids)]
                for since, ids in sorted(
                    pending.items(), key=lambda item: (item[0] is not None, item[0] or 0)
                )
            ],
            "done": [[stamp(through), encode_ids(ids)] for through, ids in sorted(done.items())],
            "reading": None
            if reading is None
            else {
                "deal_id": reading.deal_id,
                "cursor": reading.cursor,
                "since": stamp(reading.since),
                "started": stamp(reading.started),
                "top": stamp(reading.top),
                "order": reading.order,
                "keys": reading.keys,
                "moved": reading.moved,
            },
        }

    def _merge_old_groups(self) -> None:
        """Keep at most MAX_GROUPS ``done`` and ``pending`` groups: the oldest merge into the very oldest."""
        for groups in (self.done, self.pending):
            values = sorted({v for v in groups.values() if v is not None})
            if len(values) <= MAX_GROUPS:
                continue
            oldest, merged = values[0], set(values[: len(values) - MAX_GROUPS + 1])
            for deal_id, value in groups.items():
                if value in merged:
                    groups[deal_id] = oldest

    # ---------------------------------------------------------------------------------- looking at deals

    def look_at(self, deals: Mapping[int, DealMarks], mode: str) -> int:
        """Queue the deals that moved since their changes were read, and those never read that need it.

        Args:
            deals: Every deal updated since ``listed_through`` (or more), with its marks.
            mode: ``stages`` or ``all``.

        Returns:
            How many deals were queued.
        """
        previous, boundary = self.listed_through, self.boundary
        queued = 0
        for deal_id, marks in deals.items():
            marker = marks.marker(mode)
            reading = self.reading
            if reading is not None and deal_id == reading.deal_id:
                if _moved(
                    marker, reading.started, deal_id, boundary if reading.started == previous else None
                ):
                    reading.moved = True
            elif deal_id in self.pending:
                continue
            elif deal_id in self.done:
                through = self.done[deal_id]
                if _moved(marker, through, deal_id, boundary if through == previous else None):
                    del self.done[deal_id]
                    self.pending[deal_id] = through
                    queued += 1
            elif marks.ever_changed(mode):
                self.pending[deal_id] = None
                queued += 1
        times = [m.update_time for m in deals.values() if m.update_time is not None]
        newest = max(times, default=previous)
        if newest is not None and (previous is None or newest > previous):
            self.listed_through = newest
            self.boundary = {i for i, m in deals.items() if m.update_time == newest}
        elif newest is not None:
            self.boundary = boundary | {i for i, m in deals.items() if m.update_time == newest}
        self.mode = mode
        return queued

    # ---------------------------------------------------------------------------------- reading

    def queue(self) -> list[int]:
        """Deals to read, in order: an interrupted read first, then the newest deals (highest ids)."""
        ordered = sorted(self.pending, reverse=True)
        return [self.reading.deal_id, *ordered] if self.reading is not None else ordered

    def since(self, deal_id: int) -> int | None:
        """Where a queued deal's read may stop (None = read every change)."""
        if self.reading is not None and self.reading.deal_id == deal_id:
            return self.reading.since
        return self.pending[deal_id]

    def pause(self, reading: Reading) -> None:
        """Remember a read stopped between two pages."""
        self.pending.pop(reading.deal_id, None)
        self.reading = reading

    def requeue(self, deal_id: int) -> None:
        """Put a deal whose read could not finish back in the queue, as it was before the read."""
        if self.reading is not None and self.reading.deal_id == deal_id:
            self.pending[deal_id] = self.reading.since
            self.reading = None

    def finish(self, deal_id: int, top: int | None) -> None:
        """A deal's changes are read up to now (``top`` = the newest change this run's read saw)."""
        reading = self.reading
        if reading is not None and reading.deal_id == deal_id:
            self.reading = None
            newest = reading.top if reading.top is not None else top
            if reading.moved:
                self.pending[deal_id] = newest if newest is not None else reading.since
            else:
                self.done[deal_id] = reading.started
            return
        self.pending.pop(deal_id, None)
        self.done[deal_id] = self.listed_through or 0

    def forget(self, deal_id: int) -> None:
        """The deal is gone from Pipedrive (its changelog answers 404): nothing more to read."""
        self.pending.pop(deal_id, None)
        self.done.pop(deal_id, None)
        if self.reading is not None and self.reading.deal_id == deal_id:
            self.reading = None

    def coverage(self, mode: str) -> Coverage:
        """Deals with every change read, deals waiting."""
        waiting = len(self.pending) + (1 if self.reading is not None else 0)
        return Coverage(mode, len(self.done), waiting, self.listed_through)


def _moved(marker: int | None, through: int, deal_id: int, boundary: set[int] | None) -> bool:
    """Whether a deal's marker says it moved after its changes were read through ``through``.

    ``boundary`` is given when ``through`` is the last run's ``listed_through``: a marker equal to it is then
    a move made in that same second after the run listed the deal, unless the run saw the deal at that second
    (in ``boundary``). For older groups such a move was already caught by the run after them.
    """
    if marker is None:
        return False
    if marker > through:
        return True
    return marker == through and boundary is not None and deal_id not in boundary
