"""How the tap talks to Pipedrive: one guarded HTTP client per run and the base stream of every stream."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import requests
from singer_sdk.streams import RESTStream

from tap_pipedrive import api_facts, deletions
from tap_pipedrive.api_facts import CURSOR, OFFSET, Endpoint
from tap_pipedrive.cache import MetadataCache, cache_namespace
from tap_pipedrive.errors import (
    AccountRefused,
    BudgetExhausted,
    EndpointNotInPlan,
    PipedriveError,
    SettingsError,
)
from tap_pipedrive.metrics import TapMetrics
from tap_pipedrive.pagination import CursorPaginator, OffsetPaginator, next_offset, response_body
from tap_pipedrive.records import normalize_timestamps
from tap_pipedrive.resilience import ApiGuard, ResiliencePolicy
from tap_pipedrive.versions import CompleteRead

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context
    from singer_sdk.pagination import BaseAPIPaginator

USER_AGENT = "tap-pipedrive/0.1 (pipeboard)"
ACCOUNT_STATUSES = frozenset({402, 403})
"""Refusals that, on an endpoint every plan includes, mean the whole account (not one endpoint) is refused."""


class PipedriveClient:
    """The run's connection to Pipedrive: session, resilience guard, metrics and metadata cache.

    Args:
        config: The tap's validated config.
        logger: The tap's logger.
    """

    def __init__(self, config: dict[str, Any], logger: logging.Logger) -> None:
        self._token = str(config["api_token"])
        self.logger = logger
        self.page_size = int(config.get("page_size") or api_facts.MAX_PAGE_SIZE)
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.metrics = TapMetrics(config.get("pushgateway_url"))
        policy = ResiliencePolicy(
            max_retries=int(config.get("max_retries", 8)),
            request_timeout=float(config.get("request_timeout", 60)),
            token_budget_share=float(config.get("token_budget_share", 1.0)),
            backoff_base_seconds=float(config.get("retry_backoff_seconds", 1.0)),
            backoff_max_seconds=float(config.get("retry_backoff_max_seconds", 60.0)),
            breaker_fail_max=int(config.get("breaker_failures", 5)),
        )
        self.guard = ApiGuard(policy, self.metrics, logger)
        self.base_url = self._resolve_base_url(config)
        self.cache = MetadataCache(
            config.get("redis_url"),
            int(config.get("cache_ttl", 3600)),
            cache_namespace(self.base_url, config.get("company_domain")),
            self.metrics,
            logger,
        )
        self.skipped: set[str] = set()
        self.refused: dict[str, int] = {}
        """Endpoint path → status (402, 403) of the streams skipped as outside the plan."""
        self.records_read = 0
        self.budget_exhausted = False
        self.started_at = datetime.now(UTC)

    @property
    def auth_headers(self) -> dict[str, str]:
        """The only place the token goes: the ``x-api-token`` header."""
        return {"x-api-token": self._token}

    def _resolve_base_url(self, config: dict[str, Any]) -> str:
        if config.get("api_url"):
            return str(config["api_url"]).rstrip("/")
        domain = config.get("company_domain")
        if not domain:
            try:
                body = self.get(api_facts.DEFAULT_API_HOST, api_facts.USERS_ME, {})
            except EndpointNotInPlan as exc:
                raise self._refusal(exc) from None
            domain = (body.get("data") or {}).get("company_domain")
            if not domain:
                raise SettingsError(
                    "company_domain is not set and /api/v1/users/me did not return one — set "
                    "PIPEDRIVE_COMPANY_DOMAIN / `company_domain` (xyz of xyz.pipedrive.com) or `api_url`"
                )
            self.logger.info("Using company domain %s from /api/v1/users/me", domain)
        return f"https://{domain}.pipedrive.com"

    def send(self, request: requests.PreparedRequest, endpoint: Endpoint) -> requests.Response:
        """Send one prepared request through the resilience guard."""
        return self.guard.send(self.session, request, endpoint=endpoint.path, token_cost=endpoint.token_cost)

    def get(
        self, base_url: str, endpoint: Endpoint, params: dict[str, Any], path: str | None = None
    ) -> dict[str, Any]:
        """GET one page of ``endpoint`` (at ``path`` when its path has an ``{id}``); return its JSON body."""
        url = base_url + (path or endpoint.path)
        request = requests.Request("GET", url, params=params, headers=self.auth_headers)
        response = self.send(self.session.prepare_request(request), endpoint)
        return response_body(response)

    def iterate(
        self, endpoint: Endpoint, params: dict[str, Any] | None = None, path: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record of a list endpoint (at ``path`` when it has an ``{id}``), following its pages."""
        params = dict(params or {})
        page_size = endpoint.page_size(self.page_size)
        if endpoint.pagination in (CURSOR, OFFSET):
            params["limit"] = page_size
        cursor: str | None = None
        start = 0
        while True:
            page_params = dict(params)
            if cursor:
                page_params["cursor"] = cursor
            if endpoint.pagination == OFFSET and start:
                page_params["start"] = start
            body = self.get(self.base_url, endpoint, page_params, path)
            data = body.get("data") or []
            yield from data if isinstance(data, list) else [data]
            extra = body.get("additional_data") or {}
            if endpoint.pagination == CURSOR:
                cursor = extra.get("next_cursor")
                if not cursor:
                    return
            elif endpoint.pagination == OFFSET:
                following = next_offset(extra, start, page_size, len(data))
                if following is None:
                    return
                start = following
            else:
                return

    def field_metadata(self, entity: str) -> list[dict[str, Any]]:
        """The field metadata of an entity, through the cache.

        Raises:
            EndpointNotInPlan: The plan or permissions do not include the fields endpoint (402/403/404).
            BudgetExhausted: The token budget is spent.
            RuntimeError: Any other failure, naming the endpoint (discovery fails loudly).
        """
        endpoint = api_facts.FIELD_ENDPOINTS[entity]
        try:
            return self.cache.get_or_load(("fields", entity), lambda: list(self.iterate(endpoint)))
        except EndpointNotInPlan as exc:
            if self.account_refused(exc):
                raise AccountRefused(exc.status, exc.path, exc.error, exc.error_info) from None
            raise
        except PipedriveError:
            raise
        except Exception as exc:
            raise RuntimeError(f"Could not read {entity} field metadata from {endpoint.path}: {exc}") from exc

    def account_refused(self, exc: EndpointNotInPlan) -> bool:
        """Whether a 402/403 refuses the whole account rather than one endpoint outside the plan.

        Only a refusal before anything of the run was answered can be the account's; then
        ``/api/v1/users/me``, which every plan and user may read (2 tokens), tells the two apart.
        """
        if exc.status not in ACCOUNT_STATUSES or self.guard.answered:
            return False
        try:
            self.get(self.base_url, api_facts.USERS_ME, {})
        except EndpointNotInPlan:
            return True
        return False

    def _refusal(self, exc: EndpointNotInPlan, what: str = "Pipedrive refused the request") -> PipedriveError:
        """What a 402/403/404 on an endpoint every plan includes means.

        A 402, or a 403 before any request of the run was answered, refuses the whole account; a later 403
        or a 404 concerns that endpoint only, which the run cannot do without either.
        """
        if exc.status == 402 or (exc.status in ACCOUNT_STATUSES and not self.guard.answered):
            return AccountRefused(exc.status, exc.path, exc.error, exc.error_info)
        return PipedriveError(f"{what}: {exc}")

    def check_account(self) -> None:
        """After a sync: when every endpoint tried was refused (402/403), the account is, not the endpoints.

        Raises:
            AccountRefused: Nothing was answered and some endpoint was refused.
        """
        if self.refused and not self.guard.answered:
            path, status = next(iter(self.refused.items()))
            raise AccountRefused(status, path)


def rfc3339(moment: datetime) -> str:
    """Format an instant as ``YYYY-MM-DDTHH:MM:SSZ`` (second resolution, rounded down: the filter is ≥)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PipedriveStream(RESTStream[Any]):
    """Base of every Pipedrive stream: URL, auth header, guarded requests, pagination, timestamp shaping."""

    endpoint: Endpoint
    standard_properties: dict[str, Any]
    records_jsonpath = "$.data[*]"
    timestamp_properties: tuple[str, ...] = ("add_time", "update_time")
    deletion: deletions.DeletionSignal = deletions.ABSENCE
    reconcile = True
    """An incremental stream takes part in the reconciliation pass (False: rows of it never vanish)."""
    STATE_MSG_FREQUENCY = 500

    @classmethod
    def field_entities(cls) -> tuple[str, ...]:
        """Entities whose field metadata the stream needs (skipped when that is not readable)."""
        return ()

    @classmethod
    def declared_properties(cls) -> dict[str, Any]:
        """The standard properties plus ``is_deleted`` and ``_sdc_deleted_at`` (docs/contracts.md)."""
        return {**cls.standard_properties, **deletions.PROPERTIES}

    @property
    def client(self) -> PipedriveClient:
        """The run's shared Pipedrive client (owned by the tap)."""
        return self._tap.client  # type: ignore[attr-defined, no-any-return]

    @property
    def url_base(self) -> str:
        """The API host (``api_url`` or the company's Pipedrive host)."""
        return self.client.base_url

    @property
    def path(self) -> str:  # type: ignore[override]
        """The endpoint's path."""
        return self.endpoint.path

    @property
    def http_headers(self) -> dict[str, str]:
        """Auth in the ``x-api-token`` header only."""
        return {**super().http_headers, **self.client.auth_headers}

    def request_decorator(self, func: Any) -> Any:
        """No SDK backoff: retries, pacing and the breaker live in the ApiGuard."""
        return func

    def endpoint_for(self, context: Context | None) -> Endpoint:
        """The endpoint a partition reads (one endpoint unless a stream has several partitions)."""
        return self.endpoint

    def get_url(self, context: Context | None) -> str:
        """URL of the partition's endpoint."""
        return self.url_base + self.endpoint_for(context).path

    def _request(
        self, prepared_request: requests.PreparedRequest, context: Context | None
    ) -> requests.Response:
        return self.client.send(prepared_request, self.endpoint_for(context))

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        """The records of a page (``data`` list; a single object counts as one record)."""
        data = response_body(response).get("data")
        if isinstance(data, list):
            yield from data
        elif isinstance(data, dict):
            yield data

    def get_new_paginator(self) -> BaseAPIPaginator | None:
        """The endpoint's paginator: v2 cursor, v1 offset, or none."""
        if self.endpoint.pagination == CURSOR:
            return CursorPaginator()
        if self.endpoint.pagination == OFFSET:
            return OffsetPaginator(self.endpoint.page_size(self.client.page_size))
        return None

    def get_url_params(self, context: Context | None, next_page_token: Any) -> dict[str, Any]:
        """Only parameters the operation defines: paging, and for incremental streams the sort and window."""
        endpoint = self.endpoint_for(context)
        params: dict[str, Any] = {}
        if endpoint.pagination in (CURSOR, OFFSET):
            params["limit"] = endpoint.page_size(self.client.page_size)
        if endpoint.pagination == CURSOR and next_page_token:
            params["cursor"] = next_page_token
        if endpoint.pagination == OFFSET and next_page_token:
            params["start"] = next_page_token
        if self.replication_key and endpoint.sort == "sort_by":
            params.update(sort_by=self.replication_key, sort_direction="asc")
        elif self.replication_key and endpoint.sort == "sort":
            params["sort"] = f"{self.replication_key} ASC, id ASC"
        if endpoint.option_labels:
            params["include_option_labels"] = "true"
        if endpoint.include_fields:
            params["include_fields"] = ",".join(endpoint.include_fields)
        if self.replication_key and endpoint.updated_since:
            since = self.updated_since(context)
            if since:
                params["updated_since"] = since
        return params

    def updated_since(self, context: Context | None) -> str | None:
        """The bookmark (or ``start_date``) as RFC 3339, or None for a first full run.

        A new reconciliation pass ignores the bookmark: it starts at ``start_date``, the earliest record the
        table can hold (a resumed one carries on from its bookmark).
        """
        read = self.complete_read
        if read is not None and read.from_start:
            start_date = self.config.get("start_date")
            return rfc3339(_as_datetime(start_date)) if start_date else None
        start = self.get_starting_timestamp(context)
        return rfc3339(start) if start is not None else None

    @property
    def complete_read(self) -> CompleteRead | None:
        """This run's complete read of the stream (under a table version), or None (increments)."""
        return self._tap.complete_reads.read_of(self.name)  # type: ignore[attr-defined, no-any-return]

    @property
    def emit_activate_version_messages(self) -> bool:
        """Never the SDK's ACTIVATE_VERSION before a read: ours follows a completed one (``versions.py``)."""
        return False

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any] | None:
        """Timestamps as RFC 3339 (any API version); the deletion mark; every declared property present."""
        normalize_timestamps(row, self.timestamp_properties)
        deletions.mark_deletion(row, self.deletion, rfc3339(self.client.started_at))
        for name in self._declared:
            row.setdefault(name, None)
        return row

    @property
    def _declared(self) -> tuple[str, ...]:
        declared = getattr(self, "_declared_names", None)
        if declared is None:
            declared = tuple(self.schema.get("properties", {}))
            self._declared_names = declared
        return declared

    def read_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The stream's records as the SDK reads them (pages, parse, post_process)."""
        return super().get_records(context)

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Records of the stream; an endpoint outside the plan is skipped, a spent budget stops cleanly.

        A complete read (full-table streams, reconciliation passes) carries its table version on every record
        and ends with ACTIVATE_VERSION once every partition read to its end (``versions.py``).
        """
        unavailable = self._unavailable()
        read = self.complete_read if unavailable else self._begin_read(context)
        count = 0
        completed = False
        try:
            if not unavailable:
                for record in self.read_records(context):
                    count += 1
                    yield record
                completed = True
        except EndpointNotInPlan as exc:
            if self.endpoint.path not in self.client.skipped:
                self.client.skipped.add(self.endpoint.path)
                if exc.status in ACCOUNT_STATUSES:
                    self.client.refused[exc.path] = exc.status
                self.logger.warning("Skipping stream %s: %s", self.name, exc)
        except BudgetExhausted as exc:
            self.client.budget_exhausted = True
            self.logger.warning(
                "Stopping: %s. State is resumable; the next run continues from the last bookmark.", exc
            )
        finally:
            if count:
                self.client.records_read += count
                self.client.metrics.record_records(self.name, count)
        if read is not None:
            self._end_read(read, completed, count)

    def _unavailable(self) -> bool:
        """The budget is spent, the entity's field metadata was refused (logged once, then), or the stream's
        endpoint was refused at an earlier partition (mail threads' folders)."""
        gated = self._tap.gated_entities  # type: ignore[attr-defined]
        return (
            self.client.budget_exhausted
            or self.endpoint.path in self.client.skipped
            or any(entity in gated for entity in self.field_entities())
        )

    def _begin_read(self, context: Context | None) -> CompleteRead | None:
        """Start (or continue, at a later partition) this run's complete read of the stream, if any."""
        if self.replication_key and not self.reconcile:
            return None
        read = self._tap.complete_reads.begin(  # type: ignore[attr-defined]
            self.name,
            self.stream_state,
            incremental=bool(self.replication_key),
            partitions=len(self.partitions or [None]),
            tokens=self.client.guard.tokens_spent,
        )
        if read is not None:
            self._stream_version = read.version
        return read

    def _end_read(self, read: CompleteRead, completed: bool, count: int) -> None:
        """After a partition: once the whole read is complete, ACTIVATE_VERSION (state records the pass)."""
        reads = self._tap.complete_reads  # type: ignore[attr-defined]
        if reads.finish_partition(self.name, self.stream_state, completed=completed, records=count):
            self._write_activate_version_message(read.version)
            reads.log_activation(self.name, self.client.guard.tokens_spent)
        elif not completed:
            reads.log_incomplete(self.name)


def _as_datetime(value: Any) -> datetime:
    """A config date-time (string or datetime) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
