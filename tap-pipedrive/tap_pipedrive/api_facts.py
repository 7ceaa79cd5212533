"""Static Pipedrive API facts per endpoint: path, version, pagination style, token cost (token-costs.csv)."""

from __future__ import annotations

from dataclasses import dataclass

CURSOR = "cursor"
OFFSET = "offset"
SINGLE = "none"


@dataclass(frozen=True)
class Endpoint:
    """One list endpoint the tap reads.

    Attributes:
        path: URL path below the API host, e.g. ``/api/v2/deals``.
        version: ``v1`` or ``v2``.
        pagination: ``cursor`` (v2), ``offset`` (v1 start/limit) or ``none`` (one response).
        token_cost: Pipedrive's ``x-token-cost`` for one request (token-costs.csv).
        updated_since: The operation accepts ``updated_since``.
        sort: How to ask for ascending update order: ``sort_by`` (v2), ``sort`` (v1) or None.
        option_labels: The operation accepts ``include_option_labels`` (enum/set values come with their
            current label, so options added since the metadata was cached are labelled too).
        include_fields: Optional fields asked for with ``include_fields`` (the request costs the same).
        max_limit: Largest ``limit`` the operation accepts (500, but ``/v1/files`` 100, ``/v1/callLogs`` 50).
    """

    path: str
    version: str
    pagination: str
    token_cost: int
    updated_since: bool = False
    sort: str | None = None
    option_labels: bool = False
    include_fields: tuple[str, ...] = ()
    max_limit: int = 500

    def page_size(self, wanted: int) -> int:
        """The ``limit`` to send for a wanted page size: never above what the operation accepts."""
        return min(wanted, self.max_limit)


DEAL_INCLUDE_FIELDS = (
    "email_messages_count",
    "notes_count",
    "activities_count",
    "done_activities_count",
    "undone_activities_count",
    "products_count",
    "source_lead_id",
    "participants_count",
)
"""Optional deal fields the tap asks for: the counts main_bi reports and the lead a deal came from."""

DEALS = Endpoint(
    "/api/v2/deals",
    "v2",
    CURSOR,
    10,
    updated_since=True,
    sort="sort_by",
    option_labels=True,
    include_fields=DEAL_INCLUDE_FIELDS,
)
DEALS_ARCHIVED = Endpoint(
    "/api/v2/deals/archived",
    "v2",
    CURSOR,
    20,
    updated_since=True,
    sort="sort_by",
    include_fields=DEAL_INCLUDE_FIELDS,
)
PERSONS = Endpoint(
    "/api/v2/persons", "v2", CURSOR, 10, updated_since=True, sort="sort_by", option_labels=True
)
ORGANIZATIONS = Endpoint(
    "/api/v2/organizations", "v2", CURSOR, 10, updated_since=True, sort="sort_by", option_labels=True
)
ACTIVITIES = Endpoint(
    "/api/v2/activities", "v2", CURSOR, 10, updated_since=True, sort="sort_by", include_fields=("attendees",)
)
"""``attendees`` (meeting invitees) come only when asked for with ``include_fields``."""
PRODUCTS = Endpoint("/api/v2/products", "v2", CURSOR, 10, updated_since=True, sort="sort_by")
PIPELINES = Endpoint("/api/v2/pipelines", "v2", CURSOR, 5)
STAGES = Endpoint("/api/v2/stages", "v2", CURSOR, 5)
DEAL_PRODUCTS = Endpoint("/api/v2/deals/products", "v2", CURSOR, 10)
USERS = Endpoint("/api/v1/users", "v1", SINGLE, 20)
USERS_ME = Endpoint("/api/v1/users/me", "v1", SINGLE, 2)
ACTIVITY_TYPES = Endpoint("/api/v1/activityTypes", "v1", SINGLE, 20)
LEADS = Endpoint("/api/v1/leads", "v1", OFFSET, 20, updated_since=True, sort="sort")
LEADS_ARCHIVED = Endpoint("/api/v1/leads/archived", "v1", OFFSET, 40, sort="sort")
LEAD_LABELS = Endpoint("/api/v1/leadLabels", "v1", SINGLE, 10)
NOTES = Endpoint("/api/v1/notes", "v1", OFFSET, 20, updated_since=True, sort="sort")
CURRENCIES = Endpoint("/api/v1/currencies", "v1", SINGLE, 20)
DEALS_SUMMARY = Endpoint("/api/v1/deals/summary", "v1", SINGLE, 40)
DEAL_CHANGELOG = Endpoint("/api/v1/deals/{id}/changelog", "v1", CURSOR, 20)
DEAL_FLOW = Endpoint("/api/v1/deals/{id}/flow", "v1", OFFSET, 40)
"""Not read by the tap: what other connectors read a deal's history from (twice the changelog's cost)."""

DEAL_FIELDS = Endpoint("/api/v2/dealFields", "v2", CURSOR, 10)
PERSON_FIELDS = Endpoint("/api/v2/personFields", "v2", CURSOR, 10)
ORGANIZATION_FIELDS = Endpoint("/api/v2/organizationFields", "v2", CURSOR, 10)
PRODUCT_FIELDS = Endpoint("/api/v2/productFields", "v2", CURSOR, 10)
ACTIVITY_FIELDS = Endpoint("/api/v2/activityFields", "v2", CURSOR, 10)
LEAD_FIELDS = Endpoint("/api/v1/leadFields", "v1", OFFSET, 20)
NOTE_FIELDS = Endpoint("/api/v1/noteFields", "v1", SINGLE, 20)

DEAL_INSTALLMENTS = Endpoint("/api/v2/deals/installments", "v2", CURSOR, 10)
"""Installments of up to ``DEAL_IDS_PER_REQUEST`` deals (``deal_ids``); Growth plans and above."""
PRODUCT_VARIATIONS = Endpoint("/api/v2/products/{id}/variations", "v2", CURSOR, 10)
DEAL_PARTICIPANTS = Endpoint("/api/v1/deals/{id}/participants", "v1", OFFSET, 10)
CALL_LOGS = Endpoint("/api/v1/callLogs", "v1", OFFSET, 20, max_limit=50)
"""Only the API token's own user's call logs ("all call logs assigned to a particular user")."""
MAIL_THREADS = Endpoint("/api/v1/mailbox/mailThreads", "v1", OFFSET, 20)
"""Only the API token's own user's mailbox, one ``folder`` per request."""
FILES = Endpoint("/api/v1/files", "v1", OFFSET, 20, sort="sort", max_limit=100)
FILTERS = Endpoint("/api/v1/filters", "v1", SINGLE, 20)

FIELD_ENDPOINTS: dict[str, Endpoint] = {
    "deal": DEAL_FIELDS,
    "person": PERSON_FIELDS,
    "organization": ORGANIZATION_FIELDS,
    "product": PRODUCT_FIELDS,
    "activity": ACTIVITY_FIELDS,
    "lead": LEAD_FIELDS,
    "note": NOTE_FIELDS,
}
"""Field-metadata endpoint per entity. Leads carry the deal custom fields; notes have none of their own."""

MAX_PAGE_SIZE = 500
"""Largest ``limit`` every list endpoint the tap reads accepts."""

DEAL_IDS_PER_REQUEST = 100
"""Most ids ``/api/v2/deals/products?deal_ids=`` accepts in one request."""

DEAL_STATUSES = "open,won,lost,deleted"
"""``status`` value that lists deleted deals too (the default excludes them)."""

DEFAULT_API_HOST = "https://api.pipedrive.com"
"""Host used only to look up the company domain when neither ``api_url`` nor ``company_domain`` is set."""

# Organisation and targets, post-sale (streams_org.py, streams_projects.py); costs from token-costs.csv.
ROLES = Endpoint("/api/v1/roles", "v1", OFFSET, 20)
ROLE_ASSIGNMENTS = Endpoint("/api/v1/roles/{id}/assignments", "v1", OFFSET, 10)
PERMISSION_SETS = Endpoint("/api/v1/permissionSets", "v1", SINGLE, 20)
PERMISSION_SET_ASSIGNMENTS = Endpoint("/api/v1/permissionSets/{id}/assignments", "v1", OFFSET, 20)
LEGACY_TEAMS = Endpoint("/api/v1/legacyTeams", "v1", SINGLE, 20)
GOALS = Endpoint("/api/v1/goals/find", "v1", SINGLE, 20)
GOAL_RESULTS = Endpoint("/api/v1/goals/{id}/results", "v1", SINGLE, 20)
LEAD_SOURCES = Endpoint("/api/v1/leadSources", "v1", SINGLE, 2)
ORGANIZATION_RELATIONSHIPS = Endpoint("/api/v1/organizationRelationships", "v1", SINGLE, 20)
PROJECTS = Endpoint("/api/v2/projects", "v2", CURSOR, 10)
PROJECTS_ARCHIVED = Endpoint("/api/v2/projects/archived", "v2", CURSOR, 10)
PROJECT_FIELDS = Endpoint("/api/v2/projectFields", "v2", CURSOR, 10)
TASKS = Endpoint("/api/v2/tasks", "v2", CURSOR, 10)
BOARDS = Endpoint("/api/v2/boards", "v2", SINGLE, 10)
PHASES = Endpoint("/api/v2/phases", "v2", SINGLE, 10)
FIELD_ENDPOINTS["project"] = PROJECT_FIELDS
GOAL_ASSIGNEE_TYPES = ("person", "company", "team")
"""``/v1/goals/find`` returns only the caller's goals unless a filter such as ``assignee.type`` is given: one
request per assignee type and ``is_active`` value (6 x 20 tokens) lists everyone's."""
