"""Revenue streams: deal installments and product variations (v2), read for the deals and products that
change.

Product prices as Pipedrive gives them are the ``prices`` of each product (and of each variation), already in
the ``products`` and ``product_variations`` records; the transform lists them per currency
(``stg_pipedrive__product_prices``), so they cost no request of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tap_pipedrive import api_facts, schemas
from tap_pipedrive.child_versions import VersionedChildStream, per_parent


class DealInstallmentsStream(VersionedChildStream):
    """Installments of the deals (``/api/v2/deals/installments?deal_ids=``, 100 deals a request; Growth+).

    Read for every deal the deals stream emits; installments removed from a deal are marked after the next
    run that reads every deal (first sync, reconciliation pass). A Lite plan answers 403: skipped, logged
    once.
    """

    name = "deal_installments"
    endpoint = api_facts.DEAL_INSTALLMENTS
    primary_keys = ("id",)
    standard_properties = schemas.DEAL_INSTALLMENTS
    parent_batch_size = api_facts.DEAL_IDS_PER_REQUEST
    timestamp_properties = ()

    def read_for_parents(self, parent_ids: list[Any]) -> Iterable[dict[str, Any]]:
        """Installments of up to 100 deals, every page."""
        deal_ids = ",".join(str(deal_id) for deal_id in parent_ids)
        return self.client.iterate(self.endpoint, {"deal_ids": deal_ids})


class ProductVariationsStream(VersionedChildStream):
    """Variations of the products (``/api/v2/products/{id}/variations``, 10 tokens per product read).

    Read for every product the products stream emits (a product's variations have no timestamps of their
    own); removed variations are marked after a run that reads every product.
    """

    name = "product_variations"
    endpoint = api_facts.PRODUCT_VARIATIONS
    primary_keys = ("id",)
    standard_properties = schemas.PRODUCT_VARIATIONS
    parent_stream = "products"
    parent_batch_size = 1
    """One request per parent: a run the token share stops never asks for a parent twice."""
    timestamp_properties = ()

    def read_for_parents(self, parent_ids: list[Any]) -> Iterable[dict[str, Any]]:
        """Each product's variations, every page (a product purged meanwhile has none)."""
        return per_parent(self, self.endpoint, parent_ids)
