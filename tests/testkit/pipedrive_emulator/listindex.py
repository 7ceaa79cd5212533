"""Lazily built views of the dataset for paging (sorted orders, groupings, memoised lists), dropped on change.

Every view is derived from the dataset as it stands; ``invalidate`` (called whenever the dataset changes)
drops them all, and the next request rebuilds what it needs. Callers hold the emulator's dataset lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from pipedrive_emulator.pagination import full_key

Record = dict[str, Any]


@dataclass(frozen=True)
class SortedView:
    """One collection in ascending (sort value, id) order.

    Attributes:
        keys: The ascending ``full_key`` of every record.
        rows: The records, in the same order as ``keys``.
    """

    keys: list[tuple[Any, ...]]
    rows: list[Record]


class ListIndex:
    """Per-dataset cache of sorted views, groupings and memoised query results.

    Args:
        memo_size: How many memoised query results to keep (least recently used are dropped first).
    """

    def __init__(self, memo_size: int = 16) -> None:
        self.version = 0
        self._memo_size = memo_size
        self._sorted: dict[tuple[str, str], SortedView] = {}
        self._groups: dict[tuple[str, str], dict[Any, list[Record]]] = {}
        self._memo: OrderedDict[Hashable, Any] = OrderedDict()

    def invalidate(self) -> None:
        """Forget every view: the dataset has changed."""
        self.version += 1
        self._sorted.clear()
        self._groups.clear()
        self._memo.clear()

    def sorted_view(self, entity: str, records: Mapping[Any, Record], field: str) -> SortedView:
        """All of ``records`` (the collection ``entity``) ordered by (``field``, id), built on first use.

        Raises:
            TypeError: The records' ``field`` values cannot be ordered against each other.
        """
        view = self._sorted.get((entity, field))
        if view is None:
            keyed = sorted(
                (full_key(record, field), position) for position, record in enumerate(records.values())
            )
            rows = list(records.values())
            view = SortedView([key for key, _ in keyed], [rows[position] for _, position in keyed])
            self._sorted[(entity, field)] = view
        return view

    def grouped(self, entity: str, records: Mapping[Any, Record], field: str) -> dict[Any, list[Record]]:
        """The records of ``entity`` grouped by their ``field`` value (each group in collection order)."""
        groups = self._groups.get((entity, field))
        if groups is None:
            groups = {}
            for record in records.values():
                groups.setdefault(record.get(field), []).append(record)
            self._groups[(entity, field)] = groups
        return groups

    def memo(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """Return the memoised result for ``key``, computing (and keeping) it when absent.

        An exception from ``compute`` propagates and nothing is kept.
        """
        if key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key]
        value = compute()
        self._memo[key] = value
        while len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)
        return value
