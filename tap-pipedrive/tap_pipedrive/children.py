"""Streams read per parent record (deal_products, deal_changes, deal participants…): pending parents in state.

A parent stream's bookmark must never move past a parent whose children were not read. So every parent id
a child has to read goes into the child's state (``bookmarks.<child>.pending_parent_ids``) when the parent
record is emitted — before any STATE that covers it — and leaves it only after the child's records for it
were written. A run that stops in between leaves the ids in the STATE it emitted last; the next run reads
them.

While the parent syncs, a child reads a batch as soon as ``parent_batch_size`` ids are pending (state stays
small, records flow early); at its own turn it reads whatever is left, including ids an earlier run left.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.errors import BudgetExhausted, EndpointNotInPlan

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_pipedrive.versions import CompleteRead

PENDING = "pending_parent_ids"
"""Key, in a child stream's state, of the parent ids it still has to read (sorted)."""


def _order(value: Any) -> tuple[bool, Any]:
    return (isinstance(value, str), value)


def pending_ids(child_state: Mapping[str, Any]) -> list[Any]:
    """The parent ids a child still has to read, in order."""
    return list(child_state.get(PENDING) or ())


def add_pending(child_state: dict[str, Any], ids: Iterable[Any]) -> None:
    """Add parent ids to a child's pending list (each once, kept sorted)."""
    merged = set(child_state.get(PENDING) or ()) | set(ids)
    child_state[PENDING] = sorted(merged, key=_order)


def remove_pending(child_state: dict[str, Any], ids: Iterable[Any]) -> None:
    """Take parent ids off a child's pending list once their records are written."""
    done = set(ids)
    child_state[PENDING] = [rid for rid in child_state.get(PENDING) or () if rid not in done]


class ChildStream(PipedriveStream):
    """A stream read per record of ``parent_stream`` (a per-deal child of ``deals`` by default).

    Subclasses set ``parent_stream`` and ``parent_batch_size`` and implement ``read_for_parents``; they may
    override ``wants_parent`` to skip parents that cannot have children.
    """

    parent_stream: str = "deals"
    parent_batch_size: int = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stopped = False  # a refused endpoint or a spent budget: no more reading this run
        self._schema_written = False

    def read_for_parents(self, parent_ids: list[Any]) -> Iterable[dict[str, Any]]:
        """The raw records of these parents (at most ``parent_batch_size``), as the API returns them."""
        raise NotImplementedError

    def wants_parent(self, record: Mapping[str, Any]) -> bool:
        """Whether this parent record may have children to read (default: every parent)."""
        return True

    def _begin_read(self, context: Context | None) -> CompleteRead | None:
        """Never a complete read by default: a child reads only some parents' records in a run.

        A subclass that can prove a run read every parent (deal_products) sets the table version here and
        sends ACTIVATE_VERSION itself; this runs before the first record, drained or not.
        """
        return None

    # ------------------------------------------------------------------------------------ parent side

    def note_parent(self, record: Mapping[str, Any]) -> None:
        """The parent emits ``record``: its id becomes pending (in state, before any STATE covering it)."""
        if self.wants_parent(record):
            add_pending(self.stream_state, [record["id"]])

    def drain_ready(self) -> None:
        """While the parent syncs: read every full batch of pending parents and write their records now."""
        if self._stopped:
            return
        while len(self.stream_state.get(PENDING) or ()) >= self.parent_batch_size:
            if not self._write_batch(pending_ids(self.stream_state)[: self.parent_batch_size]):
                return

    def _write_batch(self, batch: list[Any]) -> bool:
        """Read one batch and write its records (SCHEMA first); False when the child must stop reading."""
        if not self._schema_written:
            self._begin_read(None)
            self._write_schema_message()
            self._schema_written = True
        count = 0
        try:
            for raw in self.read_for_parents(batch):
                record = self.post_process(raw, None)
                if record is not None:
                    self._write_record_message(record)
                    count += 1
        except EndpointNotInPlan as exc:
            self._stop_reading(exc)
            return False
        except BudgetExhausted as exc:
            self.client.budget_exhausted = True
            self._stopped = True
            self.logger.warning("Stopping %s: %s; its pending parents wait in state", self.name, exc)
            return False
        finally:
            if count:
                self.client.metrics.record_records(self.name, count)
        self.parents_read(batch)
        remove_pending(self.stream_state, batch)
        return True

    def _stop_reading(self, exc: EndpointNotInPlan) -> None:
        """The plan will not let this child read any parent: stop, keep nothing pending, say so once."""
        self._stopped = True
        self.stream_state[PENDING] = []
        if self.endpoint.path not in self.client.skipped:
            self.client.skipped.add(self.endpoint.path)
            self.logger.warning("Skipping stream %s: %s", self.name, exc)

    def parents_read(self, parent_ids: list[Any]) -> None:
        """Hook: these parents' records were just written (subclasses track what the run read)."""

    # ------------------------------------------------------------------------------------ own turn

    def read_pending(self) -> Iterator[dict[str, Any]]:
        """At the child's own turn: the records of every parent still pending, batch by batch.

        A batch leaves the pending list once the SDK has written its records (the generator resumes only
        then), so a STATE written meanwhile still names it.
        """
        while not self._stopped:
            batch = pending_ids(self.stream_state)[: self.parent_batch_size]
            if not batch:
                return
            try:
                yield from self.read_for_parents(batch)
            except EndpointNotInPlan:
                self._stopped = True
                self.stream_state[PENDING] = []
                raise
            self.parents_read(batch)
            remove_pending(self.stream_state, batch)

    def read_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The records of the pending parents (subclasses add what else their turn reads)."""
        return self.read_pending()


class ChildRegistry:
    """The run's child streams by parent, so a parent stream can note its records and drain full batches.

    Args:
        streams: The tap's streams by name (the instances that sync).
    """

    def __init__(self, streams: Mapping[str, PipedriveStream]) -> None:
        self._streams = streams
        self._children: dict[str, list[ChildStream]] = {}

    def children_of(self, parent: str) -> list[ChildStream]:
        """Selected child streams of ``parent``."""
        if parent not in self._children:
            self._children[parent] = [
                stream
                for stream in self._streams.values()
                if isinstance(stream, ChildStream) and stream.parent_stream == parent and stream.selected
            ]
        return self._children[parent]

    def note(self, parent: str, record: Mapping[str, Any]) -> None:
        """``parent`` emits ``record``: each selected child marks it pending."""
        for child in self.children_of(parent):
            child.note_parent(record)

    def drain_ready(self, parent: str) -> None:
        """Let each selected child of ``parent`` read its full batches now."""
        for child in self.children_of(parent):
            child.drain_ready()
