"""Streams read from Pipedrive API v2 (cursor-paged): deals, persons, organizations, activities…"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tap_pipedrive import api_facts, deletions, schemas
from tap_pipedrive.api_facts import Endpoint
from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.records import flatten_address, primary_value
from tap_pipedrive.streams_custom import CustomFieldStream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class PipelinesStream(PipedriveStream):
    """Pipelines (small, FULL_TABLE)."""

    name = "pipelines"
    endpoint = api_facts.PIPELINES
    primary_keys = ("id",)
    standard_properties = schemas.PIPELINES
    deletion = deletions.IS_DELETED


class StagesStream(PipedriveStream):
    """Stages of every pipeline (small, FULL_TABLE)."""

    name = "stages"
    endpoint = api_facts.STAGES
    primary_keys = ("id",)
    standard_properties = schemas.STAGES
    deletion = deletions.IS_DELETED


class OrganizationsStream(CustomFieldStream):
    """Organizations, address components flattened into ``address_<component>``."""

    name = "organizations"
    endpoint = api_facts.ORGANIZATIONS
    primary_keys = ("id",)
    replication_key = "update_time"
    is_sorted = True
    field_entity = "organization"
    standard_properties = schemas.ORGANIZATIONS
    deletion = deletions.IS_DELETED

    def read_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The organizations; after each one, child streams read their full batches of pending ones."""
        children = self._tap.children  # type: ignore[attr-defined]
        for record in super().read_records(context):
            yield record
            children.drain_ready(self.name)

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        """Address object → text plus components; the organization becomes pending for its child streams."""
        flatten_address(row)
        self._tap.children.note(self.name, row)  # type: ignore[attr-defined]
        return super().post_process(row, context)


class PersonsStream(CustomFieldStream):
    """Persons, with ``primary_email``/``primary_phone`` next to all their emails and phones."""

    name = "persons"
    endpoint = api_facts.PERSONS
    primary_keys = ("id",)
    replication_key = "update_time"
    is_sorted = True
    field_entity = "person"
    standard_properties = schemas.PERSONS
    deletion = deletions.IS_DELETED

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        """Primary email and phone picked out of the lists."""
        row["primary_email"] = primary_value(row.get("emails"))
        row["primary_phone"] = primary_value(row.get("phones"))
        return super().post_process(row, context)


class DealsStream(CustomFieldStream):
    """Deals: open, won, lost and deleted (``is_deleted``), then the archived ones (``is_archived``).

    Two partitions, each with its own bookmark: ``/api/v2/deals`` and ``/api/v2/deals/archived``.
    """

    name = "deals"
    endpoint = api_facts.DEALS
    primary_keys = ("id",)
    replication_key = "update_time"
    is_sorted = True
    field_entity = "deal"
    standard_properties = schemas.DEALS
    deletion = deletions.DEAL_STATUS
    timestamp_properties = (
        "add_time",
        "update_time",
        "stage_change_time",
        "archive_time",
        "close_time",
        "won_time",
        "lost_time",
    )

    @property
    def partitions(self) -> list[dict[str, Any]]:
        """Live (incl. deleted) deals, then archived deals."""
        return [{"is_archived": False}, {"is_archived": True}]

    def endpoint_for(self, context: Context | None) -> Endpoint:
        """The list endpoint of a partition."""
        return api_facts.DEALS_ARCHIVED if context and context.get("is_archived") else api_facts.DEALS

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        """Deleted deals are listed only when ``status`` names them (the counts of ``include_fields`` are the
        endpoint's, at no extra cost)."""
        params = super().get_url_params(context, next_page_token)
        params["status"] = api_facts.DEAL_STATUSES
        return params

    def read_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The deals; after each one, child streams read their full batches of pending deals."""
        children = self._tap.children  # type: ignore[attr-defined]
        for record in super().read_records(context):
            yield record
            children.drain_ready(self.name)

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        """Mark archived rows; the deal becomes pending for its child streams (kept in state)."""
        if context and context.get("is_archived"):
            row["is_archived"] = True
        self._tap.children.note(self.name, row)  # type: ignore[attr-defined]
        self._tap.deal_watch.observe(row)  # type: ignore[attr-defined]
        return super().post_process(row, context)


class ActivitiesStream(CustomFieldStream):
    """Activities."""

    name = "activities"
    endpoint = api_facts.ACTIVITIES
    primary_keys = ("id",)
    replication_key = "update_time"
    is_sorted = True
    field_entity = "activity"
    standard_properties = schemas.ACTIVITIES
    deletion = deletions.IS_DELETED
    timestamp_properties = ("add_time", "update_time", "marked_as_done_time")


class ProductsStream(CustomFieldStream):
    """Products."""

    name = "products"
    endpoint = api_facts.PRODUCTS
    primary_keys = ("id",)
    replication_key = "update_time"
    is_sorted = True
    field_entity = "product"
    standard_properties = schemas.PRODUCTS
    deletion = deletions.IS_DELETED

    def read_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The products; after each one, child streams (variations) read their full batches."""
        children = self._tap.children  # type: ignore[attr-defined]
        for record in super().read_records(context):
            yield record
            children.drain_ready(self.name)

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        """The product becomes pending for its child streams (kept in state)."""
        self._tap.children.note(self.name, row)  # type: ignore[attr-defined]
        return super().post_process(row, context)
