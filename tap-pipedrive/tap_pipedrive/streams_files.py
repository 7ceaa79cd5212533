"""Filters and files (metadata only: the file contents are never downloaded)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tap_pipedrive import api_facts, deletions, schemas
from tap_pipedrive.client import PipedriveStream, _as_datetime, rfc3339
from tap_pipedrive.records import to_rfc3339

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

NEWEST_FIRST = "update_time DESC, id DESC"
"""``/v1/files`` ``sort`` of an incremental read: it has no ``updated_since``, so the tap reads the newest
first and stops at the bookmark."""


class FiltersStream(PipedriveStream):
    """Saved filters the token's user can see (``/v1/filters``, one response; FULL_TABLE)."""

    name = "filters"
    endpoint = api_facts.FILTERS
    primary_keys = ("id",)
    standard_properties = schemas.FILTERS
    deletion = deletions.INACTIVE
    timestamp_properties = ("add_time", "update_time", "last_used_time")


class FilesStream(PipedriveStream):
    """Files' metadata (``/v1/files``, 100 a page), incremental on ``update_time``.

    ``/v1/files`` has no ``updated_since``: an incremental run asks for the newest first and stops at the
    first file older than the bookmark (one request when nothing changed). A deleted file is
    ``active_flag: false``; Pipedrive purges it 30 days later, which the reconciliation pass finds.
    """

    name = "files"
    endpoint = api_facts.FILES
    primary_keys = ("id",)
    replication_key = "update_time"
    is_sorted = False
    standard_properties = schemas.FILES
    deletion = deletions.INACTIVE

    def read_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """Newest first, down to the bookmark (every file in a reconciliation pass)."""
        read = self.complete_read
        if read is not None and read.from_start:
            start_date = self.config.get("start_date")
            since = rfc3339(_as_datetime(start_date)) if start_date else None
        else:
            start = self.get_starting_timestamp(context)
            since = rfc3339(start) if start is not None else None
        for record in self.client.iterate(self.endpoint, {"sort": NEWEST_FIRST}):
            stamp = to_rfc3339(record.get("update_time"))
            if since is not None and isinstance(stamp, str) and stamp[:19] < since[:19]:
                return
            yield record
