"""Streams only Pipedrive API v1 serves: users, activity types, leads, lead labels, notes, currencies."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tap_pipedrive import api_facts, deletions, schemas
from tap_pipedrive.api_facts import Endpoint
from tap_pipedrive.client import PipedriveStream, rfc3339
from tap_pipedrive.streams_custom import CustomFieldStream
from tap_pipedrive.streams_org import ParentStream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class UsersStream(ParentStream):
    """Users of the company (one response, FULL_TABLE); kept for the role and permission-set assignments."""

    name = "users"
    endpoint = api_facts.USERS
    primary_keys = ("id",)
    standard_properties = schemas.USERS
    deletion = deletions.USER_DELETED
    timestamp_properties = ("last_login", "created", "modified")


class ActivityTypesStream(PipedriveStream):
    """Activity types (``key_string`` is an activity's ``type``)."""

    name = "activity_types"
    endpoint = api_facts.ACTIVITY_TYPES
    primary_keys = ("id",)
    standard_properties = schemas.ACTIVITY_TYPES
    deletion = deletions.INACTIVE


class LeadLabelsStream(PipedriveStream):
    """Lead labels."""

    name = "lead_labels"
    endpoint = api_facts.LEAD_LABELS
    primary_keys = ("id",)
    standard_properties = schemas.LEAD_LABELS


class CurrenciesStream(PipedriveStream):
    """Currencies."""

    name = "currencies"
    endpoint = api_facts.CURRENCIES
    primary_keys = ("id",)
    standard_properties = schemas.CURRENCIES
    timestamp_properties = ()


class NotesStream(PipedriveStream):
    """Notes (v1 only), incremental on ``update_time``."""

    name = "notes"
    endpoint = api_facts.NOTES
    primary_keys = ("id",)
    replication_key = "update_time"
    is_sorted = True
    standard_properties = schemas.NOTES
    deletion = deletions.INACTIVE


class LeadsStream(CustomFieldStream):
    """Leads (carrying the deal custom fields), then archived leads (``is_archived``).

    ``/v1/leads/archived`` has no ``updated_since``: its partition is read whole and filtered by bookmark.
    """

    name = "leads"
    endpoint = api_facts.LEADS
    primary_keys = ("id",)
    replication_key = "update_time"
    is_sorted = True
    field_entity = "deal"
    v1_custom_values = True
    standard_properties = schemas.LEADS

    @property
    def partitions(self) -> list[dict[str, Any]]:
        """Open leads, then archived leads."""
        return [{"is_archived": False}, {"is_archived": True}]

    def endpoint_for(self, context: Context | None) -> Endpoint:
        """The list endpoint of a partition."""
        return api_facts.LEADS_ARCHIVED if context and context.get("is_archived") else api_facts.LEADS

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        """Value object split into value + currency; archived rows older than the bookmark dropped."""
        value = row.get("value")
        row["value"] = value.get("amount") if isinstance(value, dict) else value
        row["currency"] = value.get("currency") if isinstance(value, dict) else None
        read = self.complete_read
        if context and context.get("is_archived"):
            row["is_archived"] = True
            start: datetime | None = (
                None if read and read.from_start else self.get_starting_timestamp(context)
            )
            stamp = row.get("update_time")
            if start is not None and isinstance(stamp, str) and stamp[:19] < rfc3339(start)[:19]:
                return None
        return super().post_process(row, context)
