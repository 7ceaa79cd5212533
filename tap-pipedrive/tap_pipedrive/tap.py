"""TapPipedrive: settings, streams in sync order, and the custom-field column registry kept in state."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import click
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities
from singer_sdk.singerlib import Catalog

from tap_pipedrive import api_facts, deletions, schemas, versions
from tap_pipedrive.children import ChildRegistry
from tap_pipedrive.client import PipedriveClient, PipedriveStream
from tap_pipedrive.custom_fields import FieldInfo, assign_columns, build_field_map, custom_properties
from tap_pipedrive.errors import EndpointNotInPlan, PipedriveError
from tap_pipedrive.failures import one_line_errors, outcome_of_partial_run, read_config_files
from tap_pipedrive.history_state import MODES as DEAL_HISTORY_MODES
from tap_pipedrive.streams_currency_rates import DEFAULT_REFRESH_HOURS, DealCurrencyRatesStream
from tap_pipedrive.streams_custom import CustomFieldStream
from tap_pipedrive.streams_deal_products import DealProductsStream
from tap_pipedrive.streams_engagement import CallLogsStream, DealParticipantsStream, MailThreadsStream
from tap_pipedrive.streams_fields import (
    ActivityFieldsStream,
    DealFieldsStream,
    LeadFieldsStream,
    NoteFieldsStream,
    OrganizationFieldsStream,
    PersonFieldsStream,
    ProductFieldsStream,
)
from tap_pipedrive.streams_files import FilesStream, FiltersStream
from tap_pipedrive.streams_history import DealChangesStream, DealHistoryCoverageStream, DealWatch
from tap_pipedrive.streams_org import DEFAULT_REFRESH_HOURS as GOAL_RESULTS_REFRESH_HOURS
from tap_pipedrive.streams_org import REFRESH_SETTING as GOAL_RESULTS_REFRESH_SETTING
from tap_pipedrive.streams_org import (
    GoalResultsStream,
    GoalsStream,
    LeadSourcesStream,
    LegacyTeamsStream,
    PermissionSetAssignmentsStream,
    PermissionSetsStream,
    RoleAssignmentsStream,
    RolesStream,
)
from tap_pipedrive.streams_org_relationships import SETTING as ORG_RELATIONSHIPS_SETTING
from tap_pipedrive.streams_org_relationships import OrganizationRelationshipsStream
from tap_pipedrive.streams_projects import (
    BoardsStream,
    PhasesStream,
    ProjectFieldsStream,
    ProjectsStream,
    TasksStream,
)
from tap_pipedrive.streams_revenue import DealInstallmentsStream, ProductVariationsStream
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
    DealCurrencyRatesStream,
    DealFieldsStream,
    PersonFieldsStream,
    OrganizationFieldsStream,
    ProductFieldsStream,
    ActivityFieldsStream,
    LeadFieldsStream,
    NoteFieldsStream,
    DealInstallmentsStream,
    ProductVariationsStream,
    DealParticipantsStream,
    CallLogsStream,
    MailThreadsStream,
    FiltersStream,
    FilesStream,
    # organisation and targets, post-sale (streams_org*.py, streams_projects.py)
    RolesStream,
    RoleAssignmentsStream,
    PermissionSetsStream,
    PermissionSetAssignmentsStream,
    LegacyTeamsStream,
    GoalsStream,
    GoalResultsStream,
    LeadSourcesStream,
    OrganizationRelationshipsStream,
    BoardsStream,
    PhasesStream,
    ProjectsStream,
    ProjectFieldsStream,
    TasksStream,
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
    "project": (ProjectsStream,),
}


class TapPipedrive(Tap):
    """Singer tap for Pipedrive."""

    name = "tap-pipedrive"
    dynamic_catalog = True
    """Discovery reads the custom fields from Pipedrive, so it validates the settings as a sync does."""

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
        th.Property(
            "activate_version",
            th.BooleanType,
            default=True,
            title="Send ACTIVATE_VERSION",
            description="After each complete read of a stream (full-table streams every run, incremental "
            "ones in the reconciliation pass) send ACTIVATE_VERSION, so the target marks rows no longer in "
            "Pipedrive as deleted. Turn off only for a target that rejects the message.",
        ),
        th.Property(
            "reconcile_interval_hours",
            th.IntegerType,
            default=versions.DEFAULT_INTERVAL_HOURS,
            title="Reconciliation interval (hours)",
            description="How often each incremental stream is re-read whole to find records Pipedrive purged "
            "or deleted without a trace (default 168: weekly; 0: every run). The last pass is kept in state.",
        ),
        th.Property(
            GOAL_RESULTS_REFRESH_SETTING,
            th.IntegerType,
            default=GOAL_RESULTS_REFRESH_HOURS,
            title="Goal results refresh (hours)",
            description="Hours between two reads of a running goal's progress (20 tokens a goal); changed "
            "and new goals are read at once; 0 reads every running goal every run.",
        ),
        th.Property(
            ORG_RELATIONSHIPS_SETTING,
            th.BooleanType,
            default=False,
            title="Read organization relationships",
            description="Read each changed organization's relationships (20 tokens per organization: a first "
            "sync of 2,500 organizations costs 50,000 tokens; afterwards 20 per changed organization).",
        ),
        th.Property(
            "currency_rates_refresh_hours",
            th.IntegerType,
            default=DEFAULT_REFRESH_HOURS,
            title="Currency rates refresh (hours)",
            description="Hours between two reads of Pipedrive's exchange rates (deal_currency_rates, 42 "
            "tokens a read); 0 reads them every run.",
        ),
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
        self.gated_entities: dict[str, str] = {}
        self._complete_reads: versions.CompleteReads | None = None
        self._children: ChildRegistry | None = None
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
            standard = stream_type.declared_properties()
            kept = {name: prop for name, prop in given.items() if name in standard or name in custom}
            for name, prop in deletions.PROPERTIES.items():  # records always carry the deletion mark
                kept.setdefault(name, prop)
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
        """The SDK's checks, with a setting of the wrong type or out of range named with what it may be."""
        ours = _setting_problems(dict(self._config))
        try:
            errors = super()._validate_config(raise_errors=True)
        except ConfigValidationError as exc:
            errors = list(exc.errors)
        errors = [error for error in errors if not any(f"config['{name}']" in error for name in ours)]
        problems = [*ours.values(), *errors]
        if problems and raise_errors:
            raise ConfigValidationError(
                "Invalid tap-pipedrive settings: " + "; ".join(problems), errors=problems
            )
        return problems

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Sync; a failed run ends in one line and exit code 1."""
        with one_line_errors(cls.logger):
            super().invoke(*args, **kwargs)

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> Any:
        """Read the ``--config`` files; one that is missing or not a JSON object ends in one line."""
        with one_line_errors(cls.logger):
            read_config_files(value)
        return super().cb_config(ctx, param, value)

    @classmethod
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """Discover; it reads Pipedrive, so it checks the settings as a sync does and fails the same way.

        (The SDK's own discovery reports invalid settings in a format of its own; this is its flow with the
        sync's checks and one-line failure.)
        """
        if not value:
            return
        given = ctx.params.get("config")
        try:
            with one_line_errors(cls.logger):
                tap = cls(
                    config=getattr(given, "config", {}),
                    parse_env_config=getattr(given, "parse_env", False),
                    validate_config=True,
                    setup_mapper=False,
                )
                tap.run_discovery()
        except SystemExit:
            ctx.close()  # the files click opened for other options (--state), as a normal exit would
            raise
        ctx.exit()

    @property
    def client(self) -> PipedriveClient:
        """The run's Pipedrive client (created on first use).

        Raises:
            ConfigValidationError: No ``api_token`` (discovery too reads Pipedrive: same message as a sync).
        """
        if self._client is None:
            if not self.config.get("api_token"):
                raise ConfigValidationError(
                    "Invalid tap-pipedrive settings", errors=["'api_token' is a required property"]
                )
            self._client = PipedriveClient(dict(self.config), self.logger)
        return self._client

    @property
    def children(self) -> ChildRegistry:
        """The run's per-parent child streams (deal_products…), by parent stream."""
        if self._children is None:
            self._children = ChildRegistry(self.streams)  # type: ignore[arg-type]
        return self._children

    @property
    def complete_reads(self) -> versions.CompleteReads:
        """The run's complete reads: which streams are re-read whole under a table version this run."""
        if self._complete_reads is None:
            self._complete_reads = versions.CompleteReads(
                self.client.started_at,
                activate=bool(self.config.get("activate_version", True)),
                interval_hours=float(
                    self.config.get("reconcile_interval_hours", versions.DEFAULT_INTERVAL_HOURS)
                ),
                metrics=self.client.metrics,
                logger=self.logger,
            )
        return self._complete_reads

    def custom_columns(self, entity: str) -> tuple[dict[str, FieldInfo], dict[str, str]]:
        """Fields of an entity and their column map: stored names (from state) win, new keys get new columns.

        The map is written back into the state of ``<entity>_fields`` so every STATE message carries it.
        """
        if entity not in self._columns:
            try:
                fields = build_field_map(self.client.field_metadata(entity))
            except EndpointNotInPlan as exc:
                self._skip_entity(entity, exc)
                self._columns[entity] = ({}, {})
                return self._columns[entity]
            bookmarks = self.state.setdefault("bookmarks", {})
            holder = bookmarks.setdefault(f"{entity}_fields", {})
            stored = holder.get(COLUMN_MAP_KEY) or {}
            reserved: set[str] = {"custom_fields"}
            for stream_type in _ENTITY_STREAMS[entity]:
                reserved.update(stream_type.declared_properties())
            columns = assign_columns(fields.values(), stored, reserved)
            holder[COLUMN_MAP_KEY] = dict(sorted(columns.items()))
            self._columns[entity] = (fields, columns)
        return self._columns[entity]

    def _skip_entity(self, entity: str, exc: EndpointNotInPlan) -> None:
        """Skip every stream needing ``entity``'s field metadata, which the company may not read; log once."""
        self.gated_entities[entity] = str(exc)
        streams = [s.name for s in STREAM_TYPES if entity in s.field_entities()]
        self.logger.warning(
            "Skipping %s: %s — the company's plan or the token's permissions do not include %s fields",
            ", ".join(streams),
            exc,
            entity,
        )

    def schema_of(self, stream_type: type[PipedriveStream]) -> dict[str, Any]:
        """The stream's schema: standard properties plus, for custom-field streams, every named column."""
        props = stream_type.declared_properties()
        if issubclass(stream_type, CustomFieldStream):
            fields, columns = self.custom_columns(stream_type.field_entity)
            props.update(custom_properties(fields, columns))
        return schemas.object_schema(props, tuple(stream_type.primary_keys or ()))

    def discover_streams(self) -> list[PipedriveStream]:
        """Every stream, in sync order; refused field metadata skips its entity, other errors fail."""
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
            self.client.check_account()
        except PipedriveError as exc:
            self.client.metrics.finish("failure")
            exc.args = (f"{exc}; {outcome_of_partial_run(self.client.records_read)}",)
            raise
        except BaseException:
            self.client.metrics.finish("failure")
            raise
        self.client.metrics.finish("success")
        if self.client.budget_exhausted:
            self.logger.warning("Token budget share spent: this sync stopped early; run again to continue.")


def _is_number(value: object) -> bool:
    """True for a JSON number as config loaders give it (int, float or Decimal), never a bool."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _setting_problems(config: dict[str, Any]) -> dict[str, str]:
    """Each setting of the wrong type or out of range → ``<setting> must be <allowed> (got <value>)``.

    The token is never echoed.
    """
    problems: dict[str, str] = {}

    def got(name: str) -> str:
        return "" if name == "api_token" else f" (got {config[name]!r})"[:60]

    page_size = config.get("page_size", api_facts.MAX_PAGE_SIZE)
    if not _is_integer(page_size) or not 1 <= page_size <= api_facts.MAX_PAGE_SIZE:
        problems["page_size"] = f"page_size must be a whole number from 1 to {api_facts.MAX_PAGE_SIZE}"
    share = config.get("token_budget_share", 1.0)
    if not _is_number(share) or not 0 < share <= 1:
        problems["token_budget_share"] = "token_budget_share must be a number above 0 and at most 1"  # noqa: S105
    interval = config.get("reconcile_interval_hours")
    if interval is not None and (not _is_integer(interval) or interval < 0):
        problems["reconcile_interval_hours"] = (
            "reconcile_interval_hours must be a whole number of hours, 0 or more (0: every run)"
        )
    for name in ("request_timeout", "cache_ttl", "retry_backoff_seconds", "retry_backoff_max_seconds"):
        value = config.get(name)
        if value is not None and (not _is_number(value) or value <= 0):
            problems[name] = f"{name} must be a number above 0 (seconds)"
    goals_refresh = config.get(GOAL_RESULTS_REFRESH_SETTING)
    if goals_refresh is not None and (not _is_integer(goals_refresh) or goals_refresh < 0):
        problems[GOAL_RESULTS_REFRESH_SETTING] = (
            "goal_results_refresh_hours must be a whole number of hours, 0 or more"
        )
    refresh = config.get("currency_rates_refresh_hours")
    if refresh is not None and (not _is_integer(refresh) or refresh < 0):
        problems["currency_rates_refresh_hours"] = (
            "currency_rates_refresh_hours must be a whole number of hours, 0 or more"
        )
    failures = config.get("breaker_failures")
    if failures is not None and (not _is_integer(failures) or failures < 1):
        problems["breaker_failures"] = "breaker_failures must be a whole number of at least 1"
    retries = config.get("max_retries")
    if retries is not None and (not _is_integer(retries) or retries < 0):
        problems["max_retries"] = "max_retries must be a whole number of at least 0"
    for name in ("api_token", "company_domain", "api_url", "redis_url", "pushgateway_url", "start_date"):
        if config.get(name) is not None and not isinstance(config[name], str):
            problems[name] = f"{name} must be text"
    if config.get("deal_history", "stages") not in DEAL_HISTORY_MODES:
        problems["deal_history"] = f"deal_history must be one of {', '.join(DEAL_HISTORY_MODES)}"
    api_url = config.get("api_url")
    if isinstance(api_url, str) and not api_url.startswith(("http://", "https://")):
        problems["api_url"] = "api_url must start with http:// or https://"
    return {name: message + got(name) for name, message in problems.items()}


def _is_integer(value: object) -> bool:
    """True for a JSON integer, never a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


if __name__ == "__main__":
    TapPipedrive.cli()
