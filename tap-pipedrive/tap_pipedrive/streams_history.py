"""Deal history: ``deal_changes`` (every field change of a deal, from its changelog) and its coverage.

Which deals are read is the ``deal_history`` setting: ``stages`` (deals whose ``stage_change_time`` moved
since their changes were last read; a deal never moved out of its first stage costs nothing), ``all`` (deals
whose ``update_time`` moved) or ``off``. The deals to look at come from the ``deals`` stream of the same run
when it listed every deal updated since the last look; otherwise the stream lists them itself. Progress is
per deal and lives in state (``history_state``); reads go newest deal first and stop cleanly when the run's
token share is spent, the next run carrying on — mid-deal, from the cursor of the next page.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tap_pipedrive import api_facts, schemas
from tap_pipedrive.client import PipedriveStream
from tap_pipedrive.errors import BudgetExhausted, EndpointNotInPlan, PipedriveAPIError
from tap_pipedrive.history_read import ChangeShaper, PageJudge
from tap_pipedrive.history_state import Coverage, DealMarks, HistoryProgress, Reading, epoch_of, stamp

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

DEFAULT_MODE = "stages"


class DealWatch:
    """What the ``deals`` stream saw in this run (each deal's marks), and the coverage measured after."""

    def __init__(self) -> None:
        self.seen: dict[int, DealMarks] = {}
        self.coverage: Coverage | None = None

    def observe(self, deal: Mapping[str, Any]) -> None:
        """Remember a deal record's times (the latest version wins when a deal is listed twice)."""
        marks = marks_of(deal)
        known = self.seen.get(deal["id"])
        if known is None or (marks.update_time or 0) >= (known.update_time or 0):
            self.seen[deal["id"]] = marks


def marks_of(deal: Mapping[str, Any]) -> DealMarks:
    """The times of a deal record that decide whether its changes are read."""
    return DealMarks(
        update_time=epoch_of(deal.get("update_time")),
        stage_change_time=epoch_of(deal.get("stage_change_time")),
        add_time=epoch_of(deal.get("add_time")),
    )


def deals_listed_from(state: Mapping[str, Any], start_date: Any) -> int | None:
    """Where this run's ``deals`` stream starts listing, from the state before it runs: the older of its two
    partitions' bookmarks (``start_date`` for a partition without one). None = from the very beginning."""
    entry = (state.get("bookmarks") or {}).get("deals") or {}
    marks = {
        bool((p.get("context") or {}).get("is_archived")): p.get("replication_key_value")
        for p in entry.get("partitions") or []
    }
    starts = []
    for archived in (False, True):
        start = epoch_of(marks.get(archived)) or epoch_of(start_date)
        if start is None:
            return None
        starts.append(start)
    return min(starts)


def coverage_record(coverage: Coverage, mode: str) -> dict[str, Any]:
    """The ``deal_history_coverage`` row (coverage null and never complete while ``deal_history`` is off)."""
    active = mode != "off"
    return {
        "stream": "deal_changes",
        "mode": mode,
        "deals_needing_history": coverage.needing,
        "deals_complete": coverage.complete,
        "deals_pending": coverage.pending,
        "coverage": round(coverage.ratio, 6) if active else None,
        "is_complete": active and coverage.pending == 0,
        "listed_through": stamp(coverage.listed_through),
    }


class DealChangesStream(PipedriveStream):
    """Every field change of the deals ``deal_history`` selects (``/api/v1/deals/{id}/changelog``)."""

    name = "deal_changes"
    endpoint = api_facts.DEAL_CHANGELOG
    primary_keys = ("deal_id", "time", "field_key", "change_hash")
    standard_properties = schemas.DEAL_CHANGES
    timestamp_properties = ("time",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deals_from = deals_listed_from(self._tap.state, self.config.get("start_date"))
        self._requests = 0

    @property
    def emit_activate_version_messages(self) -> bool:
        """Never: each run adds changes; an activated version would drop the ones earlier runs read."""
        return False

    @property
    def mode(self) -> str:
        """The ``deal_history`` setting."""
        return str(self.config.get("deal_history") or DEFAULT_MODE)

    @property
    def watch(self) -> DealWatch:
        """The run's record of the deals stream (owned by the tap)."""
        return self._tap.deal_watch  # type: ignore[attr-defined, no-any-return]

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The changes of every queued deal, newest deal first, until done or the token share is spent."""
        mode = self.mode
        if mode == "off":
            self.logger.info("deal_history is off: no deal changes are read")
            return
        if self.client.budget_exhausted:
            self.logger.warning("Deal history not read in this run: the token share is spent")
            return
        progress = HistoryProgress.load(self.stream_state)
        count = 0
        try:
            queued = progress.look_at(self._deals_to_look_at(progress, mode), mode)
            self._save(progress)
            queue = progress.queue()
            self.logger.info(
                "Deal history (deal_history=%s): %d deals newly queued, %d to read, newest first",
                mode,
                queued,
                len(queue),
            )
            every = max(20, len(queue) // 40)
            for position, deal_id in enumerate(queue, start=1):
                for record in self._read_deal(progress, deal_id):
                    count += 1
                    yield record
                if position % every == 0:
                    self._save(progress)
        except BudgetExhausted as exc:
            self.client.budget_exhausted = True
            self.logger.warning(
                "Stopping the deal history: %s. The next run carries on where this one stopped.", exc
            )
        except EndpointNotInPlan as exc:
            self.logger.warning("Skipping stream %s: %s", self.name, exc)
        finally:
            self._save(progress)
            self._report(progress.coverage(mode), count)

    def _deals_to_look_at(self, progress: HistoryProgress, mode: str) -> dict[int, DealMarks]:
        """Every deal updated since the last look (all deals when ``all`` follows ``stages``)."""
        upgrade = progress.mode == "stages" and mode == "all"
        since = progress.listed_through
        if upgrade or since is None:
            since = epoch_of(self.config.get("start_date"))
        if not upgrade and self._deals_stream_covers(since):
            return dict(self.watch.seen)
        return self._list_deals(since)

    def _deals_stream_covers(self, since: int | None) -> bool:
        """Whether this run's ``deals`` stream listed every deal updated since ``since``."""
        deals = self._tap.streams.get("deals")  # type: ignore[attr-defined]
        if deals is None or not deals.selected:
            return False
        if {api_facts.DEALS.path, api_facts.DEALS_ARCHIVED.path} & self.client.skipped:
            return False
        return self._deals_from is None or (since is not None and self._deals_from <= since)

    def _list_deals(self, since: int | None) -> dict[int, DealMarks]:
        """List the deals updated since ``since`` (live, deleted and archived) for their times."""
        params: dict[str, Any] = {
            "status": api_facts.DEAL_STATUSES,
            "sort_by": "update_time",
            "sort_direction": "asc",
        }
        if since is not None:
            params["updated_since"] = stamp(since)
        seen = DealWatch()
        for endpoint in (api_facts.DEALS, api_facts.DEALS_ARCHIVED):
            try:
                for deal in self.client.iterate(endpoint, params):
                    seen.observe(deal)
            except EndpointNotInPlan as exc:
                if endpoint is api_facts.DEALS:
                    raise
                self.logger.warning("Archived deals left out of the deal history: %s", exc)
        self.logger.info(
            "Listed %d deals updated since %s for the deal history", len(seen.seen), stamp(since)
        )
        return seen.seen

    def _read_deal(self, progress: HistoryProgress, deal_id: int) -> Generator[dict[str, Any], None, None]:
        """Read one deal's new changes, page by page; record where it stopped if the budget runs out."""
        paused = (
            progress.reading if progress.reading is not None and progress.reading.deal_id == deal_id else None
        )
        since = progress.since(deal_id)
        started = paused.started if paused is not None else progress.listed_through or 0
        cursor = paused.cursor if paused is not None else None
        judge = PageJudge(since, paused.order if paused is not None else None)
        shaper = ChangeShaper(deal_id, paused.keys if paused is not None else ())
        top = paused.top if paused is not None else None
        asked: set[str | None] = set()
        path = self.endpoint.path.replace("{id}", str(deal_id))
        while True:
            params: dict[str, Any] = {"limit": self.client.page_size}
            if cursor:
                params["cursor"] = cursor
            try:
                body = self.client.get(self.url_base, self.endpoint, params, path=path)
            except BudgetExhausted:
                if cursor:
                    moved = paused.moved if paused is not None else False
                    progress.pause(
                        Reading(
                            deal_id,
                            cursor,
                            since,
                            started,
                            top,
                            judge.order,
                            shaper.keys_at_last_second,
                            moved,
                        )
                    )
                raise
            except PipedriveAPIError as exc:
                if exc.status != 400 or cursor is None:
                    raise
                if paused is None or cursor != paused.cursor:
                    self.logger.warning(
                        "Deal %d: the changelog refused the cursor it had just given (%s); the deal stays "
                        "queued for the next run",
                        deal_id,
                        exc,
                    )
                    progress.requeue(deal_id)
                    return
                self.logger.warning(
                    "Deal %d: the saved changelog cursor is no longer accepted (%s); reading it again from "
                    "its newest change",
                    deal_id,
                    exc,
                )
                progress.requeue(deal_id)
                paused, cursor, top, started = None, None, None, progress.listed_through or 0
                judge, shaper = PageJudge(since), ChangeShaper(deal_id)
                continue
            except EndpointNotInPlan as exc:
                if exc.status != 404:
                    raise
                self.logger.info(
                    "Deal %d is gone from Pipedrive (404 on its changelog); nothing to read", deal_id
                )
                progress.forget(deal_id)
                return
            self._requests += 1
            entries = [e for e in body.get("data") or [] if isinstance(e, dict)]
            times = [epoch_of(e.get("time")) for e in entries]
            top = max([t for t in (top, *times) if t is not None], default=None)
            keep, over = judge.judge(times)
            for entry, wanted in zip(entries, keep, strict=True):
                if wanted:
                    yield shaper.record(entry)
            following = (body.get("additional_data") or {}).get("next_cursor")
            if over or not following:
                break
            if following == cursor or following in asked:
                self.logger.warning(
                    "Deal %d: the changelog returned a cursor it already gave; the deal stays queued", deal_id
                )
                progress.requeue(deal_id)
                return
            asked.add(cursor)
            cursor = following
        progress.finish(deal_id, top)

    def _save(self, progress: HistoryProgress) -> None:
        """Put the progress into the stream's state and emit a STATE message (only finished reads count)."""
        self.stream_state.update(progress.dump())
        self._tap.state_writer.write_state(self.tap_state)  # type: ignore[attr-defined]

    def _report(self, coverage: Coverage, records: int) -> None:
        """Log, measure and hand over the coverage (the ``deal_history_coverage`` stream emits it)."""
        self.watch.coverage = coverage
        self.client.metrics.set_deal_history(coverage.mode, coverage.complete, coverage.pending)
        if records:
            self.client.metrics.record_records(self.name, records)
        self.logger.info(
            "Deal history (deal_history=%s): %d of %d deals have every change read (%.1f %%), %d waiting; "
            "%d changes from %d changelog requests in this run",
            coverage.mode,
            coverage.complete,
            coverage.needing,
            100 * coverage.ratio,
            coverage.pending,
            records,
            self._requests,
        )


class DealHistoryCoverageStream(PipedriveStream):
    """One row saying how complete ``deal_changes`` is, so nobody takes a partial history for a whole one."""

    name = "deal_history_coverage"
    endpoint = api_facts.DEAL_CHANGELOG
    primary_keys = ("stream",)
    standard_properties = schemas.DEAL_HISTORY_COVERAGE
    timestamp_properties = ("listed_through",)

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """The coverage this run measured (from state when ``deal_changes`` did not run)."""
        mode = str(self.config.get("deal_history") or DEFAULT_MODE)
        coverage = self._tap.deal_watch.coverage  # type: ignore[attr-defined]
        if coverage is None:
            state = (self._tap.state.get("bookmarks") or {}).get(DealChangesStream.name) or {}
            coverage = HistoryProgress.load(state).coverage(mode)
        self.client.metrics.record_records(self.name)
        yield coverage_record(coverage, mode)
