"""deal_products: line items of the deals, read 100 deals per request, complete after every run.

Changed deals become pending parents (``children.py``) and their line items are read while deals sync. Then a
fingerprint of every deal's ``products_count`` (``line_items.py``) tells whether line items were added to or
removed from deals that did not change; if so — and weekly in any case — every deal's line items are re-read
under a new table version and ACTIVATE_VERSION marks the removed ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tap_pipedrive import api_facts, schemas
from tap_pipedrive.children import ChildStream, add_pending
from tap_pipedrive.line_items import FINGERPRINT, batches, deals_to_reread, fingerprint, products_count
from tap_pipedrive.versions import RECONCILED_AT, CompleteRead, reconciliation_due

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

COUNT_FIELDS = {"status": api_facts.DEAL_STATUSES, "include_fields": "products_count"}
"""Deal-list parameters of the ``products_count`` scan: every deal, deleted ones included."""


class DealProductsStream(ChildStream):
    """Products attached to deals (``/api/v2/deals/products?deal_ids=``, 100 deals per request)."""

    name = "deal_products"
    endpoint = api_facts.DEAL_PRODUCTS
    primary_keys = ("id",)
    standard_properties = schemas.DEAL_PRODUCTS
    parent_batch_size = api_facts.DEAL_IDS_PER_REQUEST

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._observed: dict[int, int | None] = {}  # deal → products_count the deals stream emitted
        self._read: dict[int, int | None] = {}  # deal → the count observed before its line items were read

    def note_parent(self, record: Mapping[str, Any]) -> None:
        """A deal was emitted: pending unless Pipedrive says it has no line items."""
        count = products_count(record)
        self._observed[record["id"]] = count
        if count != 0:
            add_pending(self.stream_state, [record["id"]])

    def parents_read(self, parent_ids: list[Any]) -> None:
        """Remember at which count each deal's line items were read."""
        for deal_id in parent_ids:
            self._read[deal_id] = self._observed.get(deal_id)

    def read_for_parents(self, parent_ids: list[Any]) -> Iterable[dict[str, Any]]:
        """Line items of up to 100 deals, every page."""
        deal_ids = ",".join(str(deal_id) for deal_id in parent_ids)
        return self.client.iterate(api_facts.DEAL_PRODUCTS, {"deal_ids": deal_ids})

    def _begin_read(self, context: Context | None) -> CompleteRead | None:
        """Every record carries the run's table version; whether the read is complete is decided later."""
        reads = self._tap.complete_reads  # type: ignore[attr-defined]
        self._stream_version = reads.version if reads.activate else None
        return None

    def read_records(self, context: Context | None) -> Iterator[dict[str, Any]]:
        """Pending deals' line items; then every deal's when they may have changed on deals that did not.

        Without the deals stream every deal's line items are read each run, as there are no changed deals to
        follow. With ACTIVATE_VERSION off nothing is read whole otherwise (removals could not be marked).
        """
        yield from self.read_pending()
        if self._stopped:
            return
        reads = self._tap.complete_reads  # type: ignore[attr-defined]
        deals = self._tap.streams.get("deals")  # type: ignore[attr-defined]
        follows_deals = deals is not None and deals.selected
        if follows_deals and not reads.activate:
            return
        counts = dict(self._observed) if follows_deals and self._deals_read_whole() else self._scan()
        state = self.stream_state
        current = fingerprint(counts)
        weekly = reconciliation_due(state, reads.started_at, reads.interval_hours)
        if follows_deals and current == state.get(FINGERPRINT) and not weekly:
            self.logger.info("deal_products: line items unchanged (products_count of %d deals)", len(counts))
            return
        if counts and all(count is None for count in counts.values()):
            self.logger.warning(
                "deal_products: Pipedrive sent no products_count; line items removed from deals that did not "
                "change are found by the reconciliation pass only"
            )
        todo = deals_to_reread(counts, self._read)
        self.logger.info("deal_products: reading the line items of %d more deals", len(todo))
        for batch in batches(todo, self.parent_batch_size):
            yield from self.read_for_parents(batch)
        if not reads.activate:
            return
        self._write_activate_version_message(reads.version)
        state[FINGERPRINT] = current
        if weekly:
            state[RECONCILED_AT] = reads.started_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            self.client.metrics.record_reconciliation(self.name, "complete")
        self.logger.info(
            "deal_products: every deal's line items read; ACTIVATE_VERSION %d sent, the target marks the "
            "line items no longer on their deal as deleted",
            reads.version,
        )

    def _deals_read_whole(self) -> bool:
        """Whether the deals stream read every deal, from the start, in this run."""
        read = self._tap.complete_reads.read_of("deals")  # type: ignore[attr-defined]
        return read is not None and read.from_start and read.done and read.finished == read.partitions

    def _scan(self) -> dict[int, int | None]:
        """Every deal's ``products_count`` from the deal lists (10 tokens per 500 deals, 20 if archived)."""
        counts: dict[int, int | None] = {}
        for endpoint in (api_facts.DEALS, api_facts.DEALS_ARCHIVED):
            for record in self.client.iterate(endpoint, COUNT_FIELDS):
                counts[record["id"]] = products_count(record)
        return counts
