"""Deal installments and product variations (v2 list-item shapes), consistent with the deals and products.

Each has a random source of its own (``<seed>:<entity>``), so adding them left every other record the seed
always gave unchanged.
"""

from __future__ import annotations

import random

from .context import DAY, format_date

_VARIATION_WORDS = ("Small", "Large", "Annual", "Monthly", "Blue", "Premium", "Starter")
_INSTALLMENT_WORDS = ("Deposit", "Milestone", "Delivery Fee", "Final payment", "Setup fee")


def deal_installments(seed: int, deals: list[dict], epoch_of: dict[int, int]) -> list[dict]:
    """Installments of ~15 % of the live, unarchived deals: 1-4 billing dates after the deal was added, the
    amounts summing to the deal's value (``{id, amount, billing_date, description, deal_id}``)."""
    rng = random.Random(f"{seed}:deal_installments")
    out: list[dict] = []
    for deal in deals:
        if deal.get("is_archived") or deal.get("status") == "deleted" or rng.random() >= 0.15:
            continue
        parts = rng.randint(1, 4)
        value = float(deal.get("value") or 0) or float(rng.randint(100, 10_000))
        first = epoch_of[deal["id"]] + rng.randint(1, 60) * DAY
        for number in range(parts):
            out.append(
                {
                    "id": len(out) + 1,
                    "amount": round(value / parts, 2),
                    "billing_date": format_date(first + number * 30 * DAY),
                    "description": rng.choice(_INSTALLMENT_WORDS),
                    "deal_id": deal["id"],
                }
            )
    return out


def product_variations(seed: int, products: list[dict]) -> list[dict]:
    """Variations of ~30 % of the products (1-3 each), priced in the product's currencies
    (``{id, name, product_id, prices[{product_variation_id, price, currency, cost, direct_cost, notes}]}``).
    """
    rng = random.Random(f"{seed}:product_variations")
    out: list[dict] = []
    for product in products:
        if rng.random() >= 0.3:
            continue
        for word in rng.sample(_VARIATION_WORDS, rng.randint(1, 3)):
            variation_id = len(out) + 1
            prices = [
                {
                    "product_variation_id": variation_id,
                    "price": round(price["price"] * rng.uniform(0.8, 1.5), 2),
                    "currency": price["currency"],
                    "cost": round(price["cost"] * rng.uniform(0.8, 1.2), 2),
                    "direct_cost": price.get("direct_cost"),
                    "notes": rng.choice(("", "variation price")),
                }
                for price in product["prices"]
            ]
            out.append(
                {
                    "id": variation_id,
                    "name": f"{word} {product['name']}",
                    "product_id": product["id"],
                    "prices": prices,
                }
            )
    return out
