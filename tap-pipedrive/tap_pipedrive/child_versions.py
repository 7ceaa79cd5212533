"""Per-parent child streams whose removed records are marked when their parent is read whole.

Pipedrive signals nothing when an installment, a participant or a product variation is removed: the record is
just no longer listed. A child reads its parents' records whenever the parent record changed
(``children.py``); in a run where the parent stream reads every record from the start (its first sync, or its
reconciliation pass, ``versions.py``) the child has then read every parent's records too, so it ends with
ACTIVATE_VERSION and the target marks the rest. Every record carries the run's table version.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from tap_pipedrive.api_facts import Endpoint
from tap_pipedrive.children import ChildStream
from tap_pipedrive.errors import EndpointNotInPlan

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_pipedrive.versions import CompleteRead

GONE = 404
"""A parent's own list answering 404: the parent was purged between its listing and this read."""


class VersionedChildStream(ChildStream):
    """A child stream that sends ACTIVATE_VERSION after a run in which its parent stream was read whole."""

    def _begin_read(self, context: Context | None) -> CompleteRead | None:
        """Every record carries the run's table version; whether the read is complete is known at the end."""
        reads = self._tap.complete_reads  # type: ignore[attr-defined]
        self._stream_version = reads.version if reads.activate else None
        return None

    def parent_read_whole(self) -> bool:
        """Whether the parent stream read every record, from the start, to its end in this run."""
        read = self._tap.complete_reads.read_of(self.parent_stream)  # type: ignore[attr-defined]
        return read is not None and read.from_start and read.done and read.finished == read.partitions

    def read_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """The pending parents' records; ACTIVATE_VERSION when every parent's were read this run."""
        parent = self._tap.streams.get(self.parent_stream)  # type: ignore[attr-defined]
        if parent is None or not parent.selected:
            self.logger.warning(
                "%s is read for the %s that change: select %s too, or nothing is read",
                self.name,
                self.parent_stream,
                self.parent_stream,
            )
        yield from self.read_pending()
        reads = self._tap.complete_reads  # type: ignore[attr-defined]
        if self._stopped or not reads.activate or not self.parent_read_whole():
            return
        self._write_activate_version_message(reads.version)
        self.logger.info(
            "%s: every %s read whole this run; ACTIVATE_VERSION %d sent, the target marks the records no "
            "longer in Pipedrive as deleted",
            self.name,
            self.parent_stream,
            reads.version,
        )


def per_parent(stream: ChildStream, endpoint: Endpoint, parent_ids: list[Any]) -> Iterable[dict[str, Any]]:
    """Every record of ``endpoint`` (a path with ``{id}``) for each parent; a parent gone (404) is skipped."""
    for parent_id in parent_ids:
        path = endpoint.path.replace("{id}", str(int(parent_id)))
        try:
            yield from stream.client.iterate(endpoint, {}, path=path)
        except EndpointNotInPlan as exc:
            if exc.status != GONE:
                raise
            stream.logger.info("%s: %s %s is gone", stream.name, stream.parent_stream, parent_id)
