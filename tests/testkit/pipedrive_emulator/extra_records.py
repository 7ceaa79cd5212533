"""The records added for issue #16's "rest of Pipedrive": installments, variations, call logs, participants,
mail threads, files, filters and activity attendees, generated after (and from) the core dataset."""

from __future__ import annotations

from typing import Any

from .generators import conversations, revenue

ENTITIES = (
    "deal_installments",
    "product_variations",
    "call_logs",
    "deal_participants",
    "mail_threads",
    "files",
    "filters",
)
"""Keys of ``Dataset.records`` this module fills (v2 shapes for the first two, v1 for the rest)."""


def counts(deals: int) -> dict[str, int]:
    """How many call logs, mail threads and files a dataset of ``deals`` deals holds."""
    n = max(0, int(deals))
    return {"call_logs": max(20, n // 5), "mail_threads": max(10, n // 10), "files": max(10, n // 5)}


def add_records(
    records: dict[str, dict[Any, dict]], seed: int, now: int, company: dict, deal_added: list[int]
) -> None:
    """Fill ``records`` with the entities of ``ENTITIES`` and give every activity its ``attendees``.

    Args:
        records: The dataset's records so far (deals, persons, products, activities…), changed in place.
        seed: The dataset's seed (each entity derives its own random source from it).
        now: The clock's instant, epoch seconds.
        company: The ``/v1/users/me`` company facts (``me_user_id``, ``company_id``).
        deal_added: Each deal's add time (epoch), in the order of ``records["deals"]``.
    """
    deals = list(records["deals"].values())
    epoch_of = {deal["id"]: added for deal, added in zip(deals, deal_added, strict=True)}
    users = [uid for uid, user in records["users"].items() if user["active_flag"]]
    me = company["me_user_id"]
    persons = list(records["persons"].values())
    names = {person["id"]: person["name"] for person in persons}
    activities = list(records["activities"].values())
    live_deals = [d for d in deals if not d.get("is_archived") and d.get("status") != "deleted"] or deals
    amounts = counts(len(deals))

    def by_id(rows: list[dict]) -> dict[Any, dict]:
        return {row["id"]: row for row in rows}

    records["deal_installments"] = by_id(revenue.deal_installments(seed, deals, epoch_of))
    records["product_variations"] = by_id(
        revenue.product_variations(seed, list(records["products"].values()))
    )
    records["call_logs"] = by_id(
        conversations.call_logs(seed, amounts["call_logs"], users, me, company["company_id"], activities, now)
    )
    records["deal_participants"] = by_id(
        conversations.deal_participants(seed, deals, list(names), users, epoch_of)
    )
    records["mail_threads"] = by_id(
        conversations.mail_threads(seed, amounts["mail_threads"], users, me, live_deals, persons, now)
    )
    records["files"] = by_id(conversations.files(seed, amounts["files"], users, live_deals, names, now))
    records["filters"] = by_id(conversations.filters(seed, users, now))
    conversations.add_attendees(seed, activities, users, names)
