"""TapPipedrive: settings, streams in sync order, and the custom-field column registry kept in state."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities
from singer_sdk.singerlib import Catalog

from tap_pipedrive import api_facts, schemas
from tap_pipedrive.client import PipedriveClient, PipedriveStream
from tap_pipedrive.custom_fields import FieldInfo, assign_columns, build_field_map, custom_properties
from tap_pipedrive.history_state import MODES as DEAL_HISTORY_MODES
from tap_pipedrive.streams_custom import CustomFieldStream
from tap_pipedrive.streams_fields import (
    ActivityFieldsStream,
    DealFieldsStream,
    LeadFieldsStream,
    NoteFieldsStream,
    OrganizationFieldsStream,
    PersonFieldsStream,
    ProductFieldsStream,
)
from tap_pipedrive.streams_history import DealChangesStream, DealHistoryCoverageStream, DealWatch
from tap_pipedrive.streams_v1 import (
    ActivityTypesStream,
    CurrenciesStream,
    LeadLabelsStream,
    LeadsStream,
    NotesStream,
    UsersStream,
)
from tap_pipedrive.streams_v2 import (
    ActivitiesStream,
    DealProductsStream,
    DealsStream,
    OrganizationsStream,
    PersonsStream,
    PipelinesStream,
    ProductsStream,
    StagesStream,
)

STREAM_TYPES: tuple[type[PipedriveStream], ...] = (
    UsersStream,
    PipelinesStream,
    StagesStream,
    OrganizationsStream,
    PersonsStream,
    DealsStream,
    ActivitiesStream,
    ActivityTypesStream,
    ProductsStream,
    DealProductsStream,
    LeadsStream,
    LeadLabelsStream,
    NotesStream,
    CurrenciesStream,
    DealFieldsStream,
    PersonFieldsStream,
    OrganizationFieldsStream,
    ProductFieldsStream,
    ActivityFieldsStream,
    LeadFieldsStream,
    NoteFieldsStream,
    DealChangesStream,
    DealHistoryCoverageStream,
)
"""Every stream, in sync order (docs/contracts.md): deals before deal_products; the deal history last, so
its backfill spends only the token share the other streams left."""

COLUMN_MAP_KEY = "column_names"
"""Key, in the state of ``<entity>_fields``, of the custom-field key → column map."""

_ENTITY_STREAMS: dict[str, tuple[type[CustomFieldStream], ...]] = {
    "deal": (DealsStream, LeadsStream),
    "person": (PersonsStream,),
    "organization": (OrganizationsStream,),
    "product": (ProductsStream,),
    "activity": (ActivitiesStream,),
}


class TapPipedrive(Tap):
    """Singer tap for Pipedrive."""

    name = "tap-pipedrive"

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_token",
            th.StringType,
            required=True,
            secret=True,
            title="API token",
            description="Pipedrive personal API token (sent only in the x-api-token header).",
        ),
        th.Property(
            "company_domain",
            th.StringType,
            title="Company domain",
            description="Company sub-domain (xyz of xyz.pipedrive.com); from /api/v1/users/me when absent.",
        ),
        th.Property(
            "api_url",
            th.StringType,
            title="API base URL",
            description="Base URL override (default https://{company_domain}.pipedrive.com).",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start date",
            description="Earliest update_time to read on the first run of incremental streams.",
        ),
        th.Property(
            "page_size",
            th.IntegerType,
            default=api_facts.MAX_PAGE_SIZE,
            title="Page size",
            description="Records per request (1-500).",
        ),
        th.Property("request_timeout", th.NumberType, default=60, description="Seconds per request attempt."),
        th.Property("max_retries", th.IntegerType, default=8, description="Retries of one failing request."),
        th.Property(
            "retry_backoff_seconds",
            th.NumberType,
            default=1.0,
            description="First retry wait (doubles per retry, with jitter); waits Pipedrive asks for win.",
        ),
        th.Property(
            "retry_backoff_max_seconds",
            th.NumberType,
            default=60.0,
            description="Longest wait between two retries of one request.",
        ),
        th.Property(
            "breaker_failures",
            th.IntegerType,
            default=5,
            description="Consecutive failed attempts that open the circuit breaker and stop the run.",
        ),
        th.Property(
            "token_budget_share",
            th.NumberType,
            default=1.0,
            description="Fraction (0-1] of the company's daily API token budget this tap may spend.",
        ),
        th.Property(
            "deal_history",
            th.StringType,
            default="stages",
            allowed_values=list(DEAL_HISTORY_MODES),
            title="Deal history",
            description=(
                "Which deals' field changes deal_changes reads: stages (deals whose stage changed since "
                "their changes were last read), all (deals updated since), off."
            ),
        ),
        th.Property("redis_url", th.StringType, description="Redis URL for the metadata cache (optional)."),
        th.Property("cache_ttl", th.IntegerType, default=3600, description="Metadata cache TTL in seconds."),
        th.Property("pushgateway_url", th.StringType, description="Prometheus Pushgateway URL (optional)."),
    ).to_dict()

    capabilities: tuple[CapabilitiesEnum, ...] = (  # type: ignore[assignment]
        PluginCapabilities.ABOUT,
        TapCapabilities.CATALOG,
        TapCapabilities.DISCOVER,
        TapCapabilities.STATE,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    )

    def __init__(self, *, setup_mapper: bool = True, **kwargs: Any) -> None:
        self._client: PipedriveClient | None = None
        self._columns: dict[str, tuple[dict[str, FieldInfo], dict[str, str]]] = {}
        self.seen_deal_ids: list[int] = []
        self.deal_watch = DealWatch()
        super().__init__(setup_mapper=False, **kwargs)
        if self._input_catalog is not None:
            self._input_catalog = self._reconcile_catalog(self._input_catalog)
            self._catalog = None
        if setup_mapper:
            self.setup_mapper()

    def _reconcile_catalog(self, catalog: Catalog) -> Catalog:
        """Make a given catalog's custom columns the ones the records carry (stored names win).

        A catalog discovered without state (as Meltano does) names a renamed field by its new slug; the
        column map kept in state decides, so the stale name is replaced by the stored one and new fields are
        added (selected).
        """
        data = catalog.to_dict()
        by_name = {stream_type.name: stream_type for stream_type in STREAM_TYPES}
        for entry in data.get("streams", []):
            stream_type = by_name.get(entry.get("tap_stream_id"))
            if stream_type is None or not issubclass(stream_type, CustomFieldStream):
                continue
            fields, columns = self.custom_columns(stream_type.field_entity)
            custom = custom_properties(fields, columns)
            given = entry["schema"].get("properties") or {}
            kept = {
                name: prop
                for name, prop in given.items()
                if name in stream_type.standard_properties or name in custom
            }
            for name, prop in custom.items():
                kept.setdefault(name, prop)
            entry["schema"]["properties"] = kept
            metadata = [
                item
                for item in entry.get("metadata", [])
                if len(item["breadcrumb"]) < 2 or item["breadcrumb"][1] in kept
            ]
            described = {tuple(item["breadcrumb"]) for item in metadata}
            metadata.extend(
                {"breadcrumb": ["properties", name], "metadata": {"inclusion": "available", "selected": True}}
                for name in kept
                if ("properties", name) not in described
            )
            entry["metadata"] = metadata
        return Catalog.from_dict(data)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        errors = super()._validate_config(raise_errors=raise_errors)
        problems = _setting_problems(dict(self._config))
        if problems and raise_errors:
            raise ConfigValidationError(
                "Invalid tap-pipedrive settings: " + "; ".join(problems), errors=problems
            )
        return errors + problems

    @property
    def client(self) -> PipedriveClient:
        """The run's Pipedrive client (created on first use)."""
        if self._client is None:
            self._client = PipedriveClient(dict(self.config), self.logger)
        return self._client

    def custom_columns(self, entity: str) -> tuple[dict[str, FieldInfo], dict[str, str]]:
        """Fields of an entity and their column map: stored names (from state) win, new keys get new columns.

        The map is written back into the state of ``<entity>_fields`` so every STATE message carries it.
        """
        if entity not in self._columns:
            fields = build_field_map(self.client.field_metadata(entity))
            bookmarks = self.state.setdefault("bookmarks", {})
            holder = bookmarks.setdefault(f"{entity}_fields", {})
            stored = holder.get(COLUMN_MAP_KEY) or {}
            reserved: set[str] = {"custom_fields"}
            for stream_type in _ENTITY_STREAMS[entity]:
                reserved.update(stream_type.standard_properties)
            columns = assign_columns(fields.values(), stored, reserved)
            holder[COLUMN_MAP_KEY] = dict(sorted(columns.items()))
            self._columns[entity] = (fields, columns)
        return self._columns[entity]

    def schema_of(self, stream_type: type[PipedriveStream]) -> dict[str, Any]:
        """The stream's schema: standard properties plus, for custom-field streams, every named column."""
        props = dict(stream_type.standard_properties)  # type: ignore[attr-defined]
        if issubclass(stream_type, CustomFieldStream):
            fields, columns = self.custom_columns(stream_type.field_entity)
            props.update(custom_properties(fields, columns))
        return schemas.object_schema(props, tuple(stream_type.primary_keys or ()))

    def discover_streams(self) -> list[PipedriveStream]:
        """Every stream, in sync order; reading field metadata fails discovery loudly."""
        return [stream_type(tap=self, schema=self.schema_of(stream_type)) for stream_type in STREAM_TYPES]

    def load_streams(self) -> list[PipedriveStream]:
        """The streams in sync order (the SDK would sort them by name; deal_products must follow deals)."""
        return self.discover_streams()

    def sync_all(self) -> None:
        """Sync, then finish the run's metrics (pushed when a Pushgateway is configured)."""
        self.client.cache.announce()
        self.client.metrics.start_periodic_push()
        try:
            super().sync_all()
        except BaseException:
            self.client.metrics.finish("failure")
            raise
        self.client.metrics.finish("success")
        if self.client.budget_exhausted:
            self.logger.warning("Token budget share spent: this sync stopped early; run again to continue.")


def _is_number(value: object) -> bool:
    """True for a JSON number as config loaders give it (int, float or Decimal), never a bool."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _setting_problems(config: dict[str, Any]) -> list[str]:
    problems = []
    page_size = config.get("page_size", api_facts.MAX_PAGE_SIZE)
    if not isinstance(page_size, int) or not 1 <= page_size <= api_facts.MAX_PAGE_SIZE:
        problems.append(f"page_size must be an integer from 1 to {api_facts.MAX_PAGE_SIZE}")
    share = config.get("token_budget_share", 1.0)
    if not _is_number(share) or not 0 < share <= 1:
        problems.append("token_budget_share must be a number in (0, 1]")
    for name in ("request_timeout", "cache_ttl", "retry_backoff_seconds", "retry_backoff_max_seconds"):
        value = config.get(name)
        if value is not None and (not _is_number(value) or value <= 0):
            problems.append(f"{name} must be a positive number")
    failures = config.get("breaker_failures")
    if failures is not None and (not isinstance(failures, int) or failures < 1):
        problems.append("breaker_failures must be a positive integer")
    retries = config.get("max_retries")
    if retries is not None and (not isinstance(retries, int) or retries < 0):
        problems.append("max_retries must be a non-negative integer")
    if config.get("deal_history", "stages") not in DEAL_HISTORY_MODES:
        problems.append(f"deal_history must be one of {', '.join(DEAL_HISTORY_MODES)}")
    api_url = config.get("api_url")
    if api_url is not None and not str(api_url).startswith(("http://", "https://")):
        problems.append("api_url must start with http:// or https://")
    return problems


if __name__ == "__main__":
    TapPipedrive.cli()
