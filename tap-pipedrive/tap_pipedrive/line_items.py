"""Whether deal_products must be re-read whole: a fingerprint of every deal's ``products_count``.

Pipedrive documents nothing that changes on a deal when one of its line items is removed (its ``update_time``
is not documented to move), so an incremental read of deals cannot see it; the deal's ``products_count``
(``include_fields=products_count``, free on the deal lists) does change. When the fingerprint of all counts
differs from the one kept in state, deal_products is re-read for every deal that has line items, under a new
table version, and ACTIVATE_VERSION marks the removed ones. Pure functions only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

FINGERPRINT = "line_items_fingerprint"
"""Key, in deal_products' state, of the fingerprint of the counts its last complete read matched."""


def products_count(record: Mapping[str, Any]) -> int | None:
    """A deal record's ``products_count`` (None when absent or not a count)."""
    value = record.get("products_count")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def fingerprint(counts: Mapping[int, int | None]) -> str:
    """A digest of which deals have how many line items (deals with none, or unknown, leave it unchanged)."""
    digest = hashlib.sha256()
    for deal_id in sorted(deal_id for deal_id, count in counts.items() if count):
        digest.update(f"{deal_id}:{counts[deal_id]};".encode())
    return digest.hexdigest()[:32]


def deals_to_reread(counts: Mapping[int, int | None], read: Mapping[int, int | None]) -> list[int]:
    """Deals whose line items a complete read must still fetch.

    Args:
        counts: Every deal's ``products_count`` as observed now.
        read: Deals whose line items this run already read → the count observed before that read.

    Returns:
        Sorted ids of deals with line items (or an unknown count) not already read at the same count.
    """
    return sorted(
        deal_id
        for deal_id, count in counts.items()
        if (count is None or count > 0)
        and not (count is not None and deal_id in read and read[deal_id] == count)
    )


def batches(ids: list[Any], size: int) -> Iterator[list[Any]]:
    """``ids`` in consecutive batches of at most ``size``."""
    for begin in range(0, len(ids), size):
        yield ids[begin : begin + size]
