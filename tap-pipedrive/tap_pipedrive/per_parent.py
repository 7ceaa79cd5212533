"""Reading per parent record (a role's assignments, a goal's results…) with as few requests as possible.

A stream whose endpoint takes a parent id reads the parents another stream of the run already listed
(``ParentRecords``: filled as that stream emits, trusted only when its read finished), and lists them itself
only when that stream is not selected or stopped early.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from tap_pipedrive.api_facts import CURSOR, OFFSET, Endpoint
from tap_pipedrive.errors import EndpointNotInPlan
from tap_pipedrive.pagination import next_offset

if TYPE_CHECKING:
    from tap_pipedrive.client import PipedriveClient, PipedriveStream


def iterate_at(
    client: PipedriveClient, endpoint: Endpoint, path: str, params: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """Every record of ``endpoint`` at ``path`` (its ``{id}`` filled in), following its pagination."""
    params = dict(params or {})
    if endpoint.pagination in (CURSOR, OFFSET):
        params["limit"] = client.page_size
    cursor: str | None = None
    start = 0
    while True:
        page = dict(params)
        if cursor:
            page["cursor"] = cursor
        if endpoint.pagination == OFFSET and start:
            page["start"] = start
        body = client.get(client.base_url, endpoint, page, path=path)
        data = body.get("data") or []
        rows = data if isinstance(data, list) else [data]
        yield from rows
        extra = body.get("additional_data") or {}
        if endpoint.pagination == CURSOR:
            cursor = extra.get("next_cursor")
            if not cursor:
                return
        elif endpoint.pagination == OFFSET:
            following = next_offset(extra, start, client.page_size, len(rows))
            if following is None:
                return
            start = following
        else:
            return


class ParentRecords:
    """The records parent streams emitted in this run, per stream, and whether each read finished."""

    _by_tap: WeakKeyDictionary[Any, ParentRecords] = WeakKeyDictionary()

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.complete: set[str] = set()

    @classmethod
    def of(cls, tap: Any) -> ParentRecords:
        """The registry of one tap instance (one run)."""
        if tap not in cls._by_tap:
            cls._by_tap[tap] = cls()
        return cls._by_tap[tap]

    def start(self, stream: str) -> None:
        """A parent stream begins its read (a later partition keeps what the earlier ones emitted)."""
        self.records.setdefault(stream, [])
        self.complete.discard(stream)

    def add(self, stream: str, record: dict[str, Any]) -> None:
        """A parent stream emitted ``record``."""
        self.records.setdefault(stream, []).append(record)

    def finish(self, stream: str) -> None:
        """The parent stream read every page of every partition."""
        self.complete.add(stream)

    def read_whole(self, stream: str) -> list[dict[str, Any]] | None:
        """The records of ``stream`` when its read of this run finished, else None."""
        return self.records.get(stream) if stream in self.complete else None


def check_parents_readable(stream: PipedriveStream, parent: Endpoint) -> None:
    """Stop a per-parent stream whose parents' endpoint was refused earlier in the run (already logged).

    Raises:
        EndpointNotInPlan: The parents' endpoint is refused; the stream is skipped without a second warning.
    """
    client = stream.client
    if parent.path not in client.skipped:
        return
    client.skipped.add(stream.endpoint.path)
    stream.logger.info("Skipping stream %s: its parents' endpoint %s is refused", stream.name, parent.path)
    raise EndpointNotInPlan(client.refused.get(parent.path, 403), parent.path)
