"""Complete reads under a table version: which streams re-read everything this run, and ACTIVATE_VERSION.

The Singer way to say "rows not in this read no longer exist": every record of a complete read carries the
same table version, and an ``ACTIVATE_VERSION`` message after the last one tells the target to mark (or, under
``hard_delete``, delete) rows of older versions. Full-table streams are complete every run. Incremental
streams are re-read whole by the reconciliation pass when it is due: ``reconcile_interval_hours`` after the
start of the stream's last completed pass (``reconciled_at`` in its state), or at once when it never had one.

A pass is resumable: while it runs, the stream's state holds it (``reconciliation``: its version and start),
its bookmarks restart from the beginning and move forward with its records; a run that stops early leaves
both, and the next run carries on from the bookmark under the same version. ACTIVATE_VERSION goes out only
when every partition read to its end: a skipped endpoint, a spent budget or an error never marks anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tap_pipedrive.metrics import TapMetrics

RECONCILED_AT = "reconciled_at"
"""Key, in an incremental stream's state, of the start of its last completed pass (RFC 3339)."""

PASS = "reconciliation"  # noqa: S105 — a state key, not a password
"""Key, in an incremental stream's state, of its pass in progress: ``{"version": int, "started_at": str}``."""

DEFAULT_INTERVAL_HOURS = 168
"""Default ``reconcile_interval_hours``: once a week."""


def table_version(moment: datetime) -> int:
    """The table version of a read started at ``moment``: Unix milliseconds (they grow run after run)."""
    return int(moment.timestamp() * 1000)


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reconciliation_due(stream_state: Mapping[str, Any], now: datetime, interval_hours: float) -> bool:
    """Whether an incremental stream needs a new reconciliation pass.

    Args:
        stream_state: The stream's entry in the tap state (may be empty).
        now: The run's start.
        interval_hours: ``reconcile_interval_hours`` (0: every run).

    Returns:
        True when the stream never completed a pass (or its ``reconciled_at`` is unreadable), or its last pass
        started at least ``interval_hours`` before ``now``.
    """
    last = _parse(stream_state.get(RECONCILED_AT))
    return last is None or now - last >= timedelta(hours=interval_hours)


def pass_in_progress(stream_state: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stream's unfinished pass (``version``, ``started_at``), or None."""
    ongoing = stream_state.get(PASS)
    if not isinstance(ongoing, dict):
        return None
    version, started = ongoing.get("version"), ongoing.get("started_at")
    if isinstance(version, int) and not isinstance(version, bool) and _parse(started) is not None:
        return ongoing
    return None


def forget_bookmarks(stream_state: dict[str, Any]) -> None:
    """Drop the stream's bookmarks (its own and every partition's): a new pass reads from the beginning."""
    stream_state.pop("replication_key_value", None)
    for partition in stream_state.get("partitions") or ():
        if isinstance(partition, dict):
            partition.pop("replication_key_value", None)


@dataclass
class CompleteRead:
    """One stream's complete read in this run.

    Attributes:
        version: The table version every record of the read carries.
        partitions: How many partitions the read has (each must finish).
        reconciling: An incremental stream's pass (False: a full-table stream, complete every run).
        from_start: The read starts at the beginning (False: it resumes an interrupted pass at its bookmark).
        started_at: When the pass began (RFC 3339; becomes ``reconciled_at``).
        finished: Partitions that read to their end.
        records: Records read in this run.
        tokens_at_start: The run's token count when the read began (for the log line).
        done: Every partition finished, or one stopped early (then no ACTIVATE_VERSION this run).
    """

    version: int
    partitions: int
    reconciling: bool
    from_start: bool
    started_at: str
    finished: int = 0
    records: int = 0
    tokens_at_start: int = 0
    done: bool = False


class CompleteReads:
    """The run's complete reads, per stream: started or resumed, tracked partition by partition, activated.

    Args:
        started_at: The run's start (the table version and the reconciliation clock).
        activate: ``activate_version``: send ACTIVATE_VERSION at all (off: every stream reads increments).
        interval_hours: ``reconcile_interval_hours``.
        metrics: The run's metrics (``pipeboard_tap_reconciliations_total``).
        logger: The tap's logger.
    """

    def __init__(
        self,
        started_at: datetime,
        *,
        activate: bool,
        interval_hours: float,
        metrics: TapMetrics,
        logger: logging.Logger,
    ) -> None:
        self.started_at = started_at
        self.version = table_version(started_at)
        self.activate = activate
        self.interval_hours = interval_hours
        self._metrics = metrics
        self._logger = logger
        self._reads: dict[str, CompleteRead] = {}

    def read_of(self, stream: str) -> CompleteRead | None:
        """The stream's complete read in this run, or None when it reads increments."""
        return self._reads.get(stream)

    def begin(
        self,
        stream: str,
        stream_state: dict[str, Any],
        *,
        incremental: bool,
        partitions: int,
        tokens: int,
    ) -> CompleteRead | None:
        """Decide, at a stream's first partition, whether this run reads it whole under a table version.

        A new pass writes itself into ``stream_state`` and drops the stream's bookmarks; a pass in progress
        is resumed as it stands.

        Args:
            stream: Stream name.
            stream_state: Its (writable) entry in the tap state.
            incremental: Whether the stream is incremental (else full-table: complete every run).
            partitions: Number of partitions the stream reads.
            tokens: Tokens the run has spent so far.

        Returns:
            The complete read, or None when the stream reads increments this run.
        """
        if stream in self._reads:
            return self._reads[stream]
        if not self.activate:
            return None
        parts = max(1, partitions)
        if not incremental:
            read = CompleteRead(
                self.version, parts, False, True, _iso(self.started_at), tokens_at_start=tokens
            )
        elif (ongoing := pass_in_progress(stream_state)) is not None:
            read = CompleteRead(
                ongoing["version"], parts, True, False, ongoing["started_at"], tokens_at_start=tokens
            )
            self._logger.info(
                "%s: resuming the reconciliation pass begun %s (table version %d) from its bookmark",
                stream,
                read.started_at,
                read.version,
            )
        elif reconciliation_due(stream_state, self.started_at, self.interval_hours):
            read = CompleteRead(
                self.version, parts, True, True, _iso(self.started_at), tokens_at_start=tokens
            )
            stream_state[PASS] = {"version": read.version, "started_at": read.started_at}
            forget_bookmarks(stream_state)
            self._logger.info(
                "%s: reconciliation pass, reading every record under table version %d", stream, read.version
            )
        else:
            return None
        self._reads[stream] = read
        return read

    def finish_partition(
        self, stream: str, stream_state: dict[str, Any], *, completed: bool, records: int
    ) -> bool:
        """Record one partition's end; True when the whole read is now complete (send ACTIVATE_VERSION then).

        A completed pass moves from ``reconciliation`` to ``reconciled_at`` in ``stream_state``.
        """
        read = self._reads.get(stream)
        if read is None or read.done:
            return False
        read.records += records
        if not completed:
            read.done = True
            if read.reconciling:
                self._metrics.record_reconciliation(stream, "incomplete")
            return False
        read.finished += 1
        if read.finished < read.partitions:
            return False
        read.done = True
        if read.reconciling:
            stream_state.pop(PASS, None)
            stream_state[RECONCILED_AT] = read.started_at
            self._metrics.record_reconciliation(stream, "complete")
        return True

    def log_activation(self, stream: str, tokens: int) -> None:
        """Say what a completed pass read, and what the target does about the rest."""
        read = self._reads[stream]
        if not read.reconciling:
            return
        self._logger.info(
            "%s: reconciliation read %d records that still exist in Pipedrive (%d tokens this run); "
            "ACTIVATE_VERSION %d sent, the target marks the rows no longer in Pipedrive as deleted",
            stream,
            read.records,
            tokens - read.tokens_at_start,
            read.version,
        )

    def log_incomplete(self, stream: str) -> None:
        """Say that a pass stopped early: nothing is marked, and the next run carries on."""
        read = self._reads.get(stream)
        if read is not None and read.reconciling:
            self._logger.warning(
                "%s: reconciliation pass stopped early; nothing is marked deleted, the next run goes on",
                stream,
            )
